"""Document layouts: what a model without a chat template is shown for a
writing action (the template's ``document`` key), and the stops that end it."""

from __future__ import annotations

import pytest

from assistant.errors import TemplateError
from assistant.writing.actions import ActionDone, ActionRunner
from assistant.writing.templates import document_stops, load_library, parse_template
from tests.fakes import FakeModel

TEMPLATE = """---
name: gist
variables:
  size:
    default: short
examples:
  - text: An example text that must never reach a base model.
    output: An example answer.
document:
  en: |
    Text:
    {{ text }}

    Gist ({{ size }}):
  zh: |
    文本：
    {{ text }}

    要点：
---
Give the gist of the text below ({{ size }}).

Text:
{{ text }}
"""


def run(model: FakeModel, text: str, folder) -> tuple[str, FakeModel]:
    library = load_library(folder)
    template = parse_template(TEMPLATE, "gist.md", "gist")
    events = list(ActionRunner(model, library).run(template, text))
    assert isinstance(events[-1], ActionDone)
    return events[-1].text, model


def test_a_base_model_gets_the_document_in_the_texts_language(tmp_path):
    model = FakeModel()
    model.base_model = True
    model.enqueue("Cats sleep a lot.")
    run(model, "Cats sleep for most of the day and hunt at night.", tmp_path)
    (turn,) = model.history[0]  # no system prompt, no worked example
    assert turn.content == "Text:\nCats sleep for most of the day and hunt at night."
    assert turn.cue == "Gist (short):"
    assert "\nText:" in model.options[0].stop and "\nGist (short):" in model.options[0].stop

    model = FakeModel()
    model.base_model = True
    model.enqueue("猫睡得多。")
    run(model, "猫一天中大部分时间都在睡觉，夜里才出去捕猎。", tmp_path)
    (turn,) = model.history[0]
    assert turn.content.startswith("文本：\n猫一天") and turn.cue == "要点："
    assert "\n要点：" in model.options[0].stop


def test_a_model_with_a_chat_template_keeps_the_instruction_and_examples(tmp_path):
    model = FakeModel()
    model.enqueue("Cats sleep a lot.")
    run(model, "Cats sleep for most of the day and hunt at night.", tmp_path)
    turns = model.history[0]
    assert any("must never reach a base model" in t.content for t in turns)
    assert turns[-1].content.startswith("Give the gist") and not turns[-1].cue


def test_a_language_without_a_layout_falls_back_to_english():
    template = parse_template(TEMPLATE, "gist.md", "gist")
    turn = template.render_document("Le chat dort.", "fr")
    assert turn is not None and turn.cue == "Gist (short):"
    assert document_stops(template, "fr") == (
        "\nText:",
        "\nText：",
        "\nGist (short):",
        "\nGist (short)：",
    )


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ("  en: |\n    Summary:\n", "never uses '{{ text }}'"),
        ("  en: |\n    {{ text }}\n    {{ tone }}:\n", "declares no variable 'tone'"),
        ("  en: '{{ text }}'\n", "needs a last line of its own"),
    ],
)
def test_bad_document_layouts_name_the_file_and_the_problem(document, problem):
    raw = f"---\nname: bad\ndocument:\n{document}---\nDo it.\n\n{{{{ text }}}}\n"
    with pytest.raises(TemplateError, match="bad.md") as info:
        parse_template(raw, "bad.md", "bad")
    assert problem in str(info.value)


def test_the_bundled_actions_have_layouts_for_a_base_model(tmp_path):
    library = load_library(tmp_path)
    for name in ("summarise", "translate", "proofread"):
        template = library.template(name)
        assert template.document.get("en"), name
        turn = template.render_document("Some text.", "en")
        assert turn is not None and turn.cue and "Some text." in turn.content


def test_translation_shows_a_sample_pair_in_the_same_two_languages(tmp_path):
    template = load_library(tmp_path).template("translate")
    turn = template.render_document("我明天八点去车站接你。", "zh", {"language": "en"})
    assert turn is not None and turn.cue == "English:"
    example, asked = turn.content.split("\n\n")
    assert (
        example == f"Chinese: {template.samples['Chinese']}\nEnglish: {template.samples['English']}"
    )
    assert asked == "Chinese: 我明天八点去车站接你。"
    # no sample sentence in that language: the pair alone
    turn = template.render_document("Hello there.", "en", {"language": "Swahili"})
    assert turn is not None and turn.content == "English: Hello there." and turn.cue == "Swahili:"
