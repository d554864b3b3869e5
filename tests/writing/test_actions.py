from __future__ import annotations

import threading

import pytest

from assistant.errors import WritingError
from assistant.llm.base import TextPiece
from assistant.writing.actions import ActionDone, ActionProgress, ActionRunner
from assistant.writing.chunking import split_into_chunks, stitch
from assistant.writing.templates import load_library
from tests.fakes import FakeModel
from tests.writing.helpers import EchoModel, request_text


def words(text: str) -> int:
    return len(text.split())


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    return load_library(tmp_path_factory.mktemp("no-user-prompts"))


def long_text(paragraphs: int = 60, words_each: int = 40) -> str:
    return "\n\n".join(
        f"P{i:03d} " + " ".join(f"w{i}x{j}" for j in range(words_each - 1))
        for i in range(paragraphs)
    )


def run(runner: ActionRunner, template, text: str, **kw):
    events = list(runner.run(template, text, **kw))
    done = events[-1]
    assert isinstance(done, ActionDone)
    streamed = "".join(e.text for e in events if isinstance(e, TextPiece))
    return events, done, streamed


def test_chunks_rebuild_the_original_exactly():
    text = "  Intro line.\n\nSecond para. Has two sentences!  \n \n\nThird " + "word " * 50
    lead, chunks = split_into_chunks(text, 12, words)
    assert len(chunks) > 3
    assert all(c.tokens <= 12 for c in chunks)
    assert stitch(lead, [(c.text, c.separator) for c in chunks]) == text


def test_a_huge_word_is_cut_by_characters():
    text = "x" * 500
    _, chunks = split_into_chunks(text, 10, lambda s: len(s) // 10 + 1)
    assert "".join(c.text for c in chunks) == text
    assert all(len(c.text) // 10 + 1 <= 10 for c in chunks)


def test_proofread_of_text_many_times_the_context_goes_chunk_by_chunk(library):
    model = EchoModel(context_size=512)
    text = long_text()
    assert words(text) > 4 * model.context_size
    runner = ActionRunner(model, library)
    events, done, streamed = run(runner, library.template("proofread"), text)
    assert streamed == done.text == text.upper()  # stitched in order, spacing kept
    progress = [e for e in events if isinstance(e, ActionProgress)]
    assert done.parts == len(progress) == len(model.history) > 4
    assert [p.part for p in progress] == list(range(1, done.parts + 1))
    sent = [request_text(turns) for turns in model.history]
    assert "".join(sent).replace("\n", "") == text.replace("\n", "")
    for turns in model.history:  # every prompt fit (FakeModel raises otherwise)
        assert model.count_tokens(turns) < model.context_size
        assert request_text(turns).startswith("P")  # chunks break at paragraphs
    assert done.finish_reason == "stop" and not done.empty_parts


def test_summary_of_text_many_times_the_context_maps_then_reduces(library):
    model = EchoModel(context_size=512, transform=lambda t: t.split()[0])
    text = long_text()
    runner = ActionRunner(model, library)
    events, done, streamed = run(runner, library.template("summarise"), text)
    condense = [e for e in events if isinstance(e, ActionProgress) and e.phase == "condense"]
    assert len(condense) > 3
    # the map step saw every paragraph, in order
    firsts = [request_text(t).split()[0] for t in model.history[: len(condense)]]
    assert firsts == sorted(firsts)
    final_input = request_text(model.history[-1])
    assert final_input.split()[0] == "P000" and len(final_input.split()) == len(condense)
    assert streamed == done.text == "P000"
    assert done.finish_reason == "stop"


@pytest.mark.parametrize("name", ["title", "outline", "explain", "reply", "continue", "translate"])
def test_every_strategy_handles_long_text_without_context_error(library, name):
    model = EchoModel(context_size=400, transform=lambda t: " ".join(t.split()[:3]))
    _, done, streamed = run(ActionRunner(model, library), library.template(name), long_text())
    assert streamed.strip() and done.finish_reason in ("stop", "length")


def test_continue_keeps_the_end_of_a_long_text(library):
    model = EchoModel(context_size=400, transform=lambda t: t.split()[-1])
    _, done, _ = run(ActionRunner(model, library), library.template("continue"), long_text())
    assert done.text == "w59x38"


def test_empty_answer_for_a_part_keeps_the_original_part(library):
    model = FakeModel(context_size=512)
    text = "First paragraph here.\n\nSecond paragraph here."
    model.enqueue([])
    runner = ActionRunner(model, library, max_chunk_tokens=5)
    model.enqueue("SECOND")
    _, done, streamed = run(runner, library.template("proofread"), text)
    assert done.text == streamed == "First paragraph here.\n\nSECOND"
    assert done.empty_parts == (1,)


def test_leading_label_and_trailing_space_are_dropped(library):
    model = FakeModel()
    model.enqueue(["Corrected text:", "\nAll ", "good.  \n"])
    _, done, _ = run(ActionRunner(model, library), library.template("proofread"), "all god.")
    assert done.text == "All good."


def test_cancel_stops_between_parts(library):
    model = EchoModel(context_size=512)
    cancel = threading.Event()
    runner = ActionRunner(model, library)
    seen = 0
    events = runner.run(library.template("proofread"), long_text(), cancel=cancel)
    for event in events:
        if isinstance(event, ActionProgress):
            seen += 1
            if seen == 2:
                cancel.set()
        if isinstance(event, ActionDone):
            done = event
    assert done.finish_reason == "cancelled"
    assert len(model.history) == 2


def test_options_come_from_template_unless_overridden(library):
    model = FakeModel()
    ActionRunner(model, library).run(library.template("title"), "Some text.").__next__()
    list(ActionRunner(model, library).run(library.template("title"), "Some text."))
    assert model.options[-1].temperature == library.template("title").temperature
    assert model.options[-1].max_tokens == 32 and "\n" in model.options[-1].stop
    list(ActionRunner(model, library, temperature=0.0, max_tokens=5).run(
        library.template("title"), "Some text."))  # fmt: skip
    assert model.options[-1].temperature == 0.0 and model.options[-1].max_tokens == 5


def test_empty_text_and_tiny_context_are_clear_errors(library):
    runner = ActionRunner(FakeModel(), library)
    with pytest.raises(WritingError, match="no text"):
        list(runner.run(library.template("proofread"), "  \n"))
    tiny = ActionRunner(FakeModel(context_size=60), library)
    with pytest.raises(WritingError, match="context window"):
        list(tiny.run(library.template("proofread"), "Hello."))
