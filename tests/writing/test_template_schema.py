"""Front matter checked by the pydantic models: every problem is one sentence that
starts with the file, never pydantic's own text; ``result`` drives ``edits_text``."""

from __future__ import annotations

import pytest

from assistant.errors import TemplateError
from assistant.writing.templates import load_library, parse_persona, parse_template

SOURCE = "my prompts/x.md"

# front matter (between the '---' lines) -> words the sentence must contain
BAD_FRONT_MATTER = {
    "unknown top-level key": (
        "colour: red\n",
        "unknown key 'colour' in the template (allowed: aliases, argument,",
    ),
    "unknown key in a variable": (
        "variables:\n  tone:\n    default: formal\n    colour: red\n",
        "unknown key 'colour' in variable 'tone' (allowed: default, description, "
        "suggestions, values)",
    ),
    "unknown key in an example": (
        "examples:\n  - text: a\n    output: b\n    note: c\n",
        "unknown key 'note' in example 1 (allowed: output, text, variables)",
    ),
    "unknown key wins over a wrong type": ("temperature: hot\ncolour: red\n", "'colour'"),
    "example without output": ("examples:\n  - text: a\n", "'output' key is missing in example 1"),
    "example that is not a mapping": ("examples:\n  - just text\n", "example 1 must have"),
    "examples not a list": ("examples: {text: a}\n", "'examples' must be a list"),
    "name not text": ("name: [a, b]\n", "'name' must be text"),
    "yes read as a boolean": ("description: yes\n", "'description' must be text (put it in quotes"),
    "aliases not a list": ("aliases: fix\n", "'aliases' must be a list"),
    "alias not text": ("aliases: [[a]]\n", "'aliases' item 1 must be text"),
    "empty stop string": ("stop: ['\\n', '']\n", "'stop' item 2 must not be empty"),
    "temperature a word": (
        "temperature: hot\n",
        "'temperature' must be a number between 0.0 and 5.0",
    ),
    "temperature too high": (
        "temperature: 9\n",
        "'temperature' must be a number between 0.0 and 5.0",
    ),
    "temperature a boolean": ("temperature: true\n", "'temperature' must be a number"),
    "temperature quoted": ("temperature: '0.5'\n", "'temperature' must be a number"),
    "max_tokens not whole": ("max_tokens: 2.5\n", "'max_tokens' must be a whole number between 1"),
    "max_tokens zero": ("max_tokens: 0\n", "'max_tokens' must be a whole number between 1"),
    "output_ratio too small": (
        "output_ratio: 0.01\n",
        "'output_ratio' must be a number between 0.05",
    ),
    "bad result": ("result: change\n", "'result' must be 'edit' or 'new', not 'change'"),
    "result not text": ("result: 1\n", "'result' must be 'edit' or 'new'"),
    "bad long_text": ("long_text: all\n", "'long_text' must be 'chunks', 'map_reduce' or 'tail'"),
    "edit that only sees a summary": (
        "result: edit\nlong_text: map_reduce\n",
        "'result: edit' needs 'long_text: chunks'",
    ),
    "variables a list": ("variables: [a, b]\n", "'variables' must map each variable name"),
    "variable spec a list": (
        "variables:\n  tone: [a]\n",
        "variable 'tone' must be a default value",
    ),
    "values a list": (
        "variables:\n  tone:\n    values: [a]\n",
        "'values' of variable 'tone' must be key: value pairs",
    ),
    "suggestion not text": (
        "variables:\n  tone:\n    suggestions: [[a]]\n",
        "'suggestions' item 1 of variable 'tone' must be text",
    ),
    "non-text key": ("1: one\n", "the key 1 in the template is not a name"),
    "bad variable name": ("variables:\n  my-tone: formal\n", "'my-tone' is not a valid variable"),
    "example sets an undeclared variable": (
        "examples:\n  - text: a\n    output: b\n    variables: {tone: x}\n",
        "example 1 sets unknown variable 'tone'",
    ),
}


def assert_one_sentence(message: str, source: str, words: str) -> None:
    assert message.startswith(f"{source}: "), message
    assert words in message, message
    assert "\n" not in message and message.endswith("."), message
    assert "pydantic" not in message.lower() and "Input should" not in message, message


@pytest.mark.parametrize("case", sorted(BAD_FRONT_MATTER))
def test_bad_front_matter_is_one_sentence_naming_the_file(case):
    front, words = BAD_FRONT_MATTER[case]
    with pytest.raises(TemplateError) as exc:
        parse_template(f"---\n{front}---\nFix this:\n{{{{ text }}}}\n", SOURCE, "x")
    assert_one_sentence(str(exc.value), SOURCE, words)
    assert exc.value.__context__ is None  # no ValidationError travels with it


@pytest.mark.parametrize(
    "raw, words",
    [
        ("name: y\n", "the 'template' key is missing"),
        ("name: y\ntemplat: '{{ text }}'\n", "unknown key 'templat' in the template"),
        ("template: '{{ text }}'\nmax_tokens: many\n", "'max_tokens' must be a whole number"),
    ],
)
def test_bad_yaml_template_is_one_sentence(raw, words):
    source = "my prompts/y.yaml"
    with pytest.raises(TemplateError) as exc:
        parse_template(raw, source, "y")
    assert_one_sentence(str(exc.value), source, words)


@pytest.mark.parametrize(
    "filename, raw, words",
    [
        ("pirate.md", "---\nrole: pirate\n---\nArr.\n", "unknown key 'role' in the persona"),
        ("pirate.md", "---\ndescription: [a]\n---\nArr.\n", "'description' must be text"),
        ("pirate.yaml", "name: pirate\n", "the 'system' key is missing"),
    ],
)
def test_bad_persona_is_one_sentence(filename, raw, words):
    source = f"my prompts/personas/{filename}"
    with pytest.raises(TemplateError) as exc:
        parse_persona(raw, source, "pirate")
    assert_one_sentence(str(exc.value), source, words)


def test_a_bad_user_file_is_reported_by_load_library_with_its_path(tmp_path):
    (tmp_path / "haiku.md").write_text("---\nresult: poem\n---\nA haiku about {{ text }}\n")
    (problem,) = load_library(tmp_path).problems
    assert_one_sentence(problem, str(tmp_path / "haiku.md"), "'result' must be")


@pytest.mark.parametrize(
    "front, result, edits",
    [("result: edit\n", "edit", True), ("result: new\n", "new", False), ("", "new", False)],
)
def test_result_drives_edits_text(front, result, edits):
    template = parse_template(f"---\n{front}---\nFix {{{{ text }}}}\n", SOURCE, "x")
    assert (template.result, template.edits_text) == (result, edits)


def test_edits_text_no_longer_follows_long_text():
    """Before ``result`` existed, ``long_text: chunks`` (the default) meant an edit."""
    chunked_new = parse_template("---\nlong_text: chunks\n---\n{{ text }}\n", SOURCE, "x")
    assert chunked_new.long_text == "chunks" and not chunked_new.edits_text
    whole_new = parse_template("---\nresult: new\nlong_text: tail\n---\n{{ text }}\n", SOURCE, "x")
    assert whole_new.long_text == "tail" and not whole_new.edits_text


def test_a_user_file_without_result_never_edits_in_place(tmp_path):
    (tmp_path / "proofread.md").write_text("---\n---\nFix this:\n{{ text }}\n")
    (tmp_path / "polish.yaml").write_text("result: edit\ntemplate: 'Polish: {{ text }}'\n")
    library = load_library(tmp_path)
    assert not library.template("proofread").edits_text
    assert library.template("polish").edits_text
