from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from assistant.domain import Role
from assistant.errors import TemplateError, WritingError
from assistant.writing.templates import bundled_root, load_library

REPO = Path(__file__).resolve().parents[2]
EXPECTED = {
    "summarise", "rewrite", "proofread", "translate", "tone", "shorten", "expand",
    "continue", "title", "outline", "explain", "reply",
}  # fmt: skip
# Bundled templates whose answer replaces the input (diff, --in-place).
EDITS = {"proofread", "rewrite", "translate", "tone", "shorten", "expand"}


def test_every_bundled_template_loads_and_renders(tmp_path):
    library = load_library(tmp_path / "none")
    assert EXPECTED <= set(library.templates)
    assert {"editor", "translator", "coder", "tutor"} <= set(library.personas)
    for template in library.templates.values():
        persona = library.persona(template.persona) if template.persona else None
        turns = template.render("The quick brown fox.", {}, persona)
        assert turns[-1].role == Role.USER
        assert "The quick brown fox." in turns[-1].content
        assert "{{" not in "".join(t.content for t in turns), template.name
        if persona:
            assert turns[0].role == Role.SYSTEM and persona.system in turns[0].content


def test_every_bundled_template_says_what_its_result_is(tmp_path):
    import yaml

    library = load_library(tmp_path / "none")
    for entry in bundled_root().iterdir():
        if not entry.name.endswith(".md"):
            continue
        front = yaml.safe_load(entry.read_text(encoding="utf-8").split("---\n")[1])
        assert front.get("result") in ("edit", "new"), f"{entry.name} has no explicit result"
        template = library.templates[front["name"]]
        assert template.result == front["result"]
        assert template.edits_text == (template.name in EDITS), template.name
        if template.edits_text:
            assert template.long_text == "chunks", template.name
    assert {t.name for t in library.templates.values() if t.edits_text} == EDITS


def test_variables_defaults_values_and_aliases(tmp_path):
    library = load_library(tmp_path)
    translate = library.template("tr")
    assert translate.name == "translate"
    assert "into German" in translate.render("Hi.", {"language": "de"})[-1].content
    assert "into Klingon" in translate.render("Hi.", {"language": "Klingon"})[-1].content
    summary = library.template("summarize").render("Hi.", {"length": "bullets"})[-1].content
    assert "bullet points" in summary
    tone = library.template("tone")
    assert {"formal", "casual", "friendly", "confident", "concise"} <= set(
        tone.variables["tone"].choices
    )
    with pytest.raises(WritingError, match="no variable 'colour'"):
        tone.render("Hi.", {"colour": "red"})
    with pytest.raises(WritingError, match="no writing action called 'poem'"):
        library.template("poem")


BAD_TEMPLATES = {
    "unknown-key.md": ("---\nname: x\ncolour: red\n---\nFix {{ text }}\n", "unknown key 'colour'"),
    "undeclared.md": (
        "---\nname: y\n---\nTranslate into {{ language }}: {{ text }}\n",
        "declares no variable 'language'",
    ),
    "no-text.md": ("---\nname: z\n---\nWrite a poem.\n", "never uses '{{ text }}'"),
    "bad-yaml.md": ("---\nname: [unclosed\n---\n{{ text }}\n", "invalid YAML"),
    "no-front.md": ("Just {{ text }}\n", "must start with a '---' front matter"),
    "open-front.md": ("---\nname: w\n{{ text }}\n", "no closing '---'"),
    "bad-temp.yaml": ("name: v\ntemperature: hot\ntemplate: '{{ text }}'\n", "must be a number"),
    "no-template.yaml": ("name: u\n", "'template' key is missing"),
    "bad-arg.md": ("---\nargument: lang\n---\n{{ text }}\n", "not a variable"),
}


@pytest.mark.parametrize("filename", sorted(BAD_TEMPLATES))
def test_bad_template_names_the_file_and_the_problem(tmp_path, filename):
    body, problem = BAD_TEMPLATES[filename]
    (tmp_path / filename).write_text(body)
    with pytest.raises(TemplateError) as exc:
        load_library(tmp_path)
    message = str(exc.value)
    assert filename in message and problem in message


def test_bad_persona_names_the_file(tmp_path):
    (tmp_path / "personas").mkdir()
    (tmp_path / "personas" / "pirate.md").write_text("---\nname: pirate\n---\n\n")
    with pytest.raises(TemplateError, match=r"pirate\.md.*empty"):
        load_library(tmp_path)


def test_user_templates_override_bundled_ones_and_add_new(tmp_path):
    (tmp_path / "proofread.md").write_text(
        "---\ndescription: Mine\n---\nCheck this please:\n{{ text }}\n"
    )
    (tmp_path / "haiku.yaml").write_text(
        "name: haiku\ndescription: A haiku about the text\n"
        "variables:\n  season: winter\n"
        "template: 'Write a {{ season }} haiku about: {{ text }}'\n"
    )
    (tmp_path / "personas").mkdir()
    (tmp_path / "personas" / "editor.md").write_text("---\n---\nYou edit like a pirate.\n")
    library = load_library(tmp_path)
    proofread = library.template("proofread")
    assert proofread.description == "Mine"
    assert str(tmp_path) in proofread.source
    assert (
        library.template("haiku")
        .render("snow", {})[-1]
        .content.startswith("Write a winter haiku about: snow")
    )
    assert library.persona("editor").system == "You edit like a pirate."
    assert len(library.templates) == len(load_library(tmp_path / "none").templates) + 1


def test_default_user_folder_is_in_the_config_dir(isolated_home):
    from assistant.paths import app_paths

    folder = app_paths().user_prompts
    folder.mkdir(parents=True)
    (folder / "shout.md").write_text("---\n---\nSay loudly: {{ text }}\n")
    assert "shout" in load_library().templates


def test_templates_ship_inside_a_built_wheel(tmp_path):
    """A non-editable install finds the templates: they are inside the wheel.
    Built from a copy of the sources so the build leaves nothing in the tree."""
    source = tmp_path / "src"
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    for name in ("assistant", "prompts", "data"):
        shutil.copytree(REPO / name, source / name, ignore=skip)
    for name in ("pyproject.toml", "setup.py", "README.md"):
        if (REPO / name).exists():
            shutil.copy2(REPO / name, source / name)
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(wheels), str(source)],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )  # fmt: skip
    wheel = next(wheels.glob("assistant-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in EXPECTED:
        assert f"assistant/bundled_prompts/{template}.md" in names
    assert "assistant/bundled_prompts/personas/editor.md" in names
    assert "assistant/writing/templates.py" in names
