"""Compose on the scripted fake: templates, outline -> sections -> stitch,
length held within the tolerance, citations, language, words."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest

from assistant.domain import Citation, OutlineSection, Role
from assistant.errors import WritingError
from assistant.language import answer_language
from assistant.llm.base import TextPiece
from assistant.writing.compose import (
    MATERIAL_STOPS,
    TOLERANCE,
    CitationFilter,
    ComposeDone,
    Composer,
    SectionDone,
    SectionStarted,
    SourcePassage,
    count_words,
    format_outline,
    parse_length,
    parse_outline,
)
from assistant.writing.templates import load_library
from tests.writing.compose_helpers import WriterModel, is_outline, request

LIBRARY = load_library(Path("/nonexistent-user-prompts"))
KINDS = {
    "article", "story", "poem", "product", "social", "email", "report", "speech",
    "lesson-plan", "cover-letter", "minutes",
}  # fmt: skip
STANDARD = {"topic", "audience", "length", "style", "language", "keywords", "brief"}
LABEL = re.compile(r"^([A-Z][A-Za-z ]{0,30}):", re.MULTILINE)


def run(composer: Composer, job, outline=None, cancel=None):
    plan = composer.plan(job) if outline is None else None
    sections = outline if outline is not None else plan.outline
    events = list(composer.write(job, sections, cancel))
    return plan, events


# ----------------------------------------------------------------- templates
def test_every_compose_template_renders_and_validates():
    assert KINDS <= set(LIBRARY.compose)
    assert not KINDS & set(LIBRARY.templates), "compose kinds are not writing actions"
    for name, template in LIBRARY.compose.items():
        assert template.result == "new" and not template.edits_text, name
        assert STANDARD <= set(template.variables), name
        values = template.resolve_values({"language": "English"})  # every default is usable
        assert int(values["length"]) >= 10
        assert template.compose is not None and template.compose.noun, name
        assert template.compose.sections, f"{name} has no fallback section titles"
        assert template.examples, f"{name} shows the model no example"
        for example in template.examples:
            assert STANDARD <= set(example.variables), f"{name}: an example leaves a default"
        turns = template.render("", {"topic": "owls", "language": "French"})
        assert turns[-1].role == Role.USER
        text = "\n".join(t.content for t in turns)
        assert "{{" not in text and "owls" in turns[-1].content
        assert "French" in turns[-1].content, f"{name} does not tell the model the language"


@pytest.mark.parametrize(
    "template",
    [*LIBRARY.compose.values(), *LIBRARY.compose_stages.values()],
    ids=lambda t: t.source,
)
def test_every_label_a_prompt_uses_is_a_stop_string(template):
    """Each prompt's own stops, and those the pipeline adds for the material it writes in."""
    body = template.body + "\n" + "\n".join(e.text for e in template.examples)
    stops = template.stop + MATERIAL_STOPS
    for label in set(LABEL.findall(body)):
        assert f"\n{label}:" in stops, f"{template.source}: '{label}:' is no stop string"


def test_the_stages_exist_and_render():
    assert {"outline", "section"} <= set(LIBRARY.compose_stages)
    outline = LIBRARY.compose_stage("outline")
    turns = outline.render("", {"noun": "a report", "sections": "4", "topic": "owls"})
    assert turns[-1].content.startswith("Plan a report") and "4 parts" in turns[-1].content
    section = LIBRARY.compose_stage("section")
    last = section.render("", {"step": "more", "words": "120"})[-1].content
    assert "about 120 words (go on with this part)" in last


def assert_skipped(library, message: str) -> None:
    """A broken user template is left out, named in the library's problems."""
    assert any(re.search(message, p) and "skipped" in p for p in library.problems), library.problems


def test_a_compose_template_may_not_edit(tmp_path):
    folder = tmp_path / "prompts" / "compose"
    folder.mkdir(parents=True)
    (folder / "limerick.md").write_text(
        "---\nresult: edit\nvariables:\n  length: '50'\n---\nWrite a limerick. {{ text }}\n"
    )
    library = load_library(tmp_path / "prompts")
    assert_skipped(library, "limerick.md: a compose template writes new text")
    assert "limerick" not in library.compose and "article" in library.compose
    (folder / "limerick.md").write_text(
        "---\nresult: new\ncompose:\n  noun: a limerick\n  headings: maybe\n---\n{{ text }}\n"
    )
    assert_skipped(
        load_library(tmp_path / "prompts"), "'headings' of 'compose' must be true or false"
    )
    (folder / "limerick.md").write_text("---\nresult: new\n---\nWrite a limerick. {{ text }}\n")
    assert_skipped(load_library(tmp_path / "prompts"), "needs a 'length' variable")


def test_compose_settings_outside_the_compose_folder_are_refused(tmp_path):
    (tmp_path / "x.md").write_text("---\ncompose:\n  noun: a thing\n---\n{{ text }}\n")
    assert_skipped(load_library(tmp_path), "x.md: 'compose' belongs to templates in the compose")


def test_a_user_compose_template_adds_a_kind(tmp_path):
    folder = tmp_path / "compose"
    folder.mkdir()
    (folder / "haiku.md").write_text(
        "---\nresult: new\naliases: [hk]\nvariables:\n  length: '17'\n  topic: frogs\n"
        "---\nWrite a haiku about {{ topic }}. {{ text }}\n"
    )
    library = load_library(tmp_path)
    assert library.compose_template("hk").name == "haiku"
    composer = Composer(WriterModel(words_per_call=17), library)
    job = composer.prepare("haiku", {"topic": "rain"})
    assert job.words == 17 and job.noun == "a haiku"
    _, events = run(composer, job)
    assert events[-1].words == 17


# -------------------------------------------------- outline -> sections -> stitch
def test_outline_then_sections_in_order_then_stitched():
    model = WriterModel(words_per_call=400, titles=["Why walk", "Health", "Money", "Start"])
    composer = Composer(model, LIBRARY, max_tokens=300)  # 200 words a reply, 160 a section
    job = composer.prepare("article", {"topic": "walking to work", "length": "640"})
    plan, events = run(composer, job)
    assert plan.planned_by == "model"
    assert [s.title for s in plan.outline] == ["Why walk", "Health", "Money", "Start"]
    assert sum(s.words for s in plan.outline) == 640
    outline_call = model.history[0]
    assert is_outline(outline_call) and "in 4 parts" in request(outline_call)

    started = [e for e in events if isinstance(e, SectionStarted)]
    assert [e.index for e in started] == [1, 2, 3, 4]
    assert [e.title for e in started] == ["Why walk", "Health", "Money", "Start"]
    assert [e.index for e in events if isinstance(e, SectionDone)] == [1, 2, 3, 4]
    section_calls = [h for h in model.history[1:]]
    assert len(section_calls) == 4
    for n, call in enumerate(section_calls, 1):
        prompt = request(call)
        assert "Outline: 1. Why walk; 2. Health; 3. Money; 4. Start" in prompt
        assert f"(part {n} of 4 of a blog article about walking to work)" in prompt
        # the kind's own worked example shows the style
        assert call[-2].role == Role.ASSISTANT and "tomatoes" in call[-2].content
    done = events[-1]
    assert isinstance(done, ComposeDone)
    # each call after the first is given the previous section's last paragraph
    for n in range(2, 5):
        previous_section = done.text.split("## ")[n - 1]
        last_paragraph = previous_section.strip().split("\n\n")[-1]
        assert f"Go on from: {last_paragraph}" in request(section_calls[n - 1])
    assert "So far: Why walk: w1x0 w1x1" in request(section_calls[1])
    assert "Go on from: (this is the beginning)" in request(section_calls[0])
    # stitched in order, with headings, and what streamed is the whole text
    streamed = "".join(e.text for e in events if isinstance(e, TextPiece))
    assert streamed == done.text
    headings = re.findall(r"^## (.+)$", done.text, re.MULTILINE)
    assert headings == ["Why walk", "Health", "Money", "Start"]
    order = [int(m) for m in re.findall(r"\bw(\d+)x0\b", done.text, re.IGNORECASE)]
    assert order == sorted(order) == [1, 2, 3, 4]
    assert done.finish_reason == "stop" and done.sections_done == 4
    assert abs(done.words / 640 - 1) <= TOLERANCE


@pytest.mark.parametrize("per_call", [25, 70, 180, 900])
@pytest.mark.parametrize("length", [900, 2000])
def test_requested_length_is_honoured_whatever_the_model_writes_per_call(per_call, length):
    model = WriterModel(words_per_call=per_call, titles=[f"Part {c}" for c in "ABCDEFGHIJ"])
    composer = Composer(model, LIBRARY)
    job = composer.prepare("report", {"topic": "bins", "length": str(length)})
    plan, events = run(composer, job)
    done = events[-1]
    assert len(plan.outline) > 1
    assert done.within_tolerance, (done.words, length)
    assert done.words == count_words(
        "\n".join(p for p in done.text.split("\n") if not p.startswith("## "))
    )


def test_a_section_that_falls_short_is_made_up_by_the_next_ones():
    class StubbornModel(WriterModel):
        """Writes 30 words for part 1, then next to nothing for it."""

        part_one_calls = 0

        def stream(self, turns, options, cancel=None):
            self.in_part_one = "(part 1 of" in request(turns)
            self.part_one_calls += self.in_part_one
            return super().stream(turns, options, cancel)

        def text_for(self, call: int) -> list[str]:
            if self.in_part_one:
                words = super().text_for(call)
                return words[:30] if self.part_one_calls == 1 else [" Short."]
            return super().text_for(call)

    model = StubbornModel(words_per_call=300, titles=["One", "Two", "Three"])
    composer = Composer(model, LIBRARY, max_tokens=300)
    job = composer.prepare("report", {"topic": "bins", "length": "480"})
    plan, events = run(composer, job)
    started = [e for e in events if isinstance(e, SectionStarted)]
    assert [s.words for s in plan.outline] == [160, 160, 160]
    assert started[0].words == 160 and started[1].words > 160 and started[2].words > 160
    assert events[-1].within_tolerance, events[-1].words


def test_a_piece_that_fits_one_reply_is_written_by_its_own_template():
    model = WriterModel(words_per_call=60)
    composer = Composer(model, LIBRARY)
    job = composer.prepare("email", {"topic": "the picnic", "length": "60"})
    plan, events = run(composer, job)
    assert plan.planned_by == "single" and len(model.history) == 1
    assert request(model.history[0]).startswith("Write an email in English.")
    assert "## " not in events[-1].text and events[-1].words == 60


def test_a_short_reply_is_continued_from_where_it_stops():
    model = WriterModel(words_per_call=30)
    composer = Composer(model, LIBRARY)
    job = composer.prepare("email", {"topic": "the picnic", "length": "100"})
    _, events = run(composer, job)
    assert len(model.history) >= 3
    second = request(model.history[1])
    assert "about 100 words (go on with this part)" in second
    assert "w1x29." in second  # the text so far is what it goes on from
    assert abs(events[-1].words / 100 - 1) <= TOLERANCE
    # calls on one section differ only from "Go on from:": the model's cache keeps the rest
    third = request(model.history[2])
    assert second.split("Go on from:")[0] == third.split("Go on from:")[0]
    assert second != third


def test_words_copied_from_the_example_are_never_shown():
    model = WriterModel(words_per_call=50)
    example = LIBRARY.compose_template("email").examples[0].output
    model.before = [w + " " for w in example.split()[:20]]  # a short quote, then its own
    composer = Composer(model, LIBRARY)
    job = composer.prepare("email", {"topic": "the picnic", "length": "50"})
    _, events = run(composer, job)
    done = events[-1]
    assert "project meeting" not in done.text.lower()
    assert done.text.startswith("w1x0")  # the rest of the same call is kept
    assert len(model.history) == 1


def test_a_call_that_copies_its_example_at_length_is_asked_again_without_it():
    model = WriterModel(words_per_call=50)
    example = LIBRARY.compose_template("email").examples[0].output
    model.before = [w + " " for w in example.split()]
    composer = Composer(model, LIBRARY)
    job = composer.prepare("email", {"topic": "the picnic", "length": "50"})
    _, events = run(composer, job)
    done = events[-1]
    assert "project meeting" not in done.text.lower()
    assert done.text.startswith("w2x0")
    retry = model.history[1]
    assert [t.role for t in retry] == [Role.USER]  # no worked example the second time


def test_a_model_that_loops_is_stopped_before_the_repeat_is_shown():
    class LoopingModel(WriterModel):
        def text_for(self, call: int) -> list[str]:
            first = [f" loop{i}" if i % 6 else f" loop{i}." for i in range(1, 31)]
            return [*first, *first, *first]

    model = LoopingModel()
    composer = Composer(model, LIBRARY)
    job = composer.prepare("story", {"topic": "x", "length": "200"})
    _, events = run(composer, job)
    text = events[-1].text
    assert text.count("loop1 ") + text.count("loop1.") == 1, text
    assert "loop30" in text  # what came before the repeat is kept
    words = text.split()
    grams = [" ".join(words[i : i + 8]) for i in range(len(words) - 7)]
    assert len(grams) == len(set(grams))


def test_a_heading_the_model_repeats_is_not_doubled():
    model = WriterModel(words_per_call=300, titles=["Alpha", "Beta"])
    model.before = ["## Alpha\n", "\n"]
    composer = Composer(model, LIBRARY, max_tokens=200)
    job = composer.prepare("article", {"topic": "x", "length": "400"})
    _, events = run(composer, job)
    assert events[-1].text.count("Alpha") == 1


def test_cancel_during_a_section_keeps_what_was_written():
    model = WriterModel(words_per_call=200, delay=0.002)
    composer = Composer(model, LIBRARY)
    job = composer.prepare("story", {"topic": "a fox", "length": "2000"})
    plan = composer.plan(job)
    cancel = threading.Event()
    seen: list[str] = []
    events = []
    for event in composer.write(job, plan.outline, cancel):
        events.append(event)
        if isinstance(event, TextPiece):
            seen.append(event.text)
            if len(seen) == 600:
                cancel.set()
    done = events[-1]
    assert done.finish_reason == "cancelled"
    assert done.text == "".join(seen) and 0 < done.sections_done < len(plan.outline)
    assert sum(isinstance(e, SectionStarted) for e in events) == done.sections_done + 1


def test_an_unreadable_outline_falls_back_to_the_templates_titles():
    model = WriterModel(words_per_call=200, titles=[])
    composer = Composer(model, LIBRARY)
    job = composer.prepare("lesson-plan", {"topic": "owls", "length": "1500"})
    plan = composer.plan(job)
    # the outline prompt names the parts such a piece usually has
    usual = "Usual parts: Objectives; Introduction; Activities; Exercises; Answers"
    assert usual in request(model.history[0])
    assert plan.planned_by == "template"
    assert [s.title for s in plan.outline] == list(LIBRARY.compose["lesson-plan"].compose.sections)
    assert sum(s.words for s in plan.outline) == 1500


def test_titles_copied_from_the_outline_examples_do_not_count():
    model = WriterModel(titles=["The storm", "A bottle on the rocks", "Harvest time"])
    composer = Composer(model, LIBRARY)
    job = composer.prepare("story", {"topic": "owls", "length": "2000"})
    assert composer.plan(job).planned_by == "template"


# ---------------------------------------------------------------- outlines
def test_outline_text_round_trip_and_edits():
    sections = (OutlineSection("Why", 300), OutlineSection("How", 500))
    assert parse_outline(format_outline(sections), 999) == sections
    edited = parse_outline("1. Why (200 words)\n2. How\n- Then what\n", 1000)
    assert edited == (
        OutlineSection("Why", 200),
        OutlineSection("How", 400),
        OutlineSection("Then what", 400),
    )
    assert parse_outline("Intro\nBody\n", 100) == (
        OutlineSection("Intro", 50),
        OutlineSection("Body", 50),
    )
    with pytest.raises(WritingError, match="outline is empty"):
        parse_outline("\n  \n", 100)
    with pytest.raises(WritingError, match="asks for 5 words"):
        parse_outline("1. Tiny (5 words)", 100)


def test_length_words_and_language():
    assert parse_length("2,000 words") == 2000 and parse_length("800") == 800
    for bad in ("lots", "5", "999999"):
        with pytest.raises(WritingError, match="not a number of words"):
            parse_length(bad)
    assert count_words("Hello, world [1]. It's 2024 — fine.") == 5
    assert count_words("我喜欢走路上班。") == 7
    assert answer_language("les avantages de la marche pour aller au travail") == "French"
    assert answer_language("步行上班的好处") == "Chinese"
    assert answer_language("die Vorteile und der Nutzen des Gehens") == "German"
    assert answer_language("walking") is None


def test_language_from_the_option_or_from_the_brief():
    model = WriterModel(words_per_call=50)
    composer = Composer(model, LIBRARY)
    job = composer.prepare("poem", {"topic": "la pluie sur la ville", "length": "50"})
    assert job.language == "French"
    job = composer.prepare("poem", {"topic": "雨中的城市", "length": "50"})
    assert job.language == "Chinese"
    job = composer.prepare("poem", {"topic": "rain", "language": "de", "length": "50"})
    assert job.language == "German"
    run(composer, job)
    assert request(model.history[-1]).startswith("Write a poem in German.")
    assert composer.prepare("poem", {"topic": "rain"}).language == "English"


def test_bad_requests_fail_before_any_call():
    model = WriterModel()
    composer = Composer(model, LIBRARY)
    with pytest.raises(WritingError, match="no kind of piece called 'sonnet'"):
        composer.prepare("sonnet")
    with pytest.raises(WritingError, match="has no variable 'colour'"):
        composer.prepare("poem", {"colour": "red"})
    with pytest.raises(WritingError, match="context window .* too small"):
        Composer(WriterModel(context_size=200), LIBRARY).prepare("article", {"length": "3000"})
    assert model.history == []


# --------------------------------------------------------------- citations
def passage(n: int, text: str) -> SourcePassage:
    return SourcePassage(Citation(n, "notes", f"n{n}.md", f"/x/n{n}.md", 1, 2), text)


def test_citation_filter_keeps_only_given_passages():
    f = CitationFilter({1, 2})
    pieces = ["Owls hunt at night [", "1]. They nest [3] in barns [2, 7", "] and [1-3]. End [4"]
    out = "".join(f.feed(p) for p in pieces) + f.finish()
    assert out == "Owls hunt at night [1]. They nest in barns [2] and [1, 2]. End"
    assert f.cited == [1, 2]


def test_grounded_piece_cites_only_what_it_was_given_and_lists_it():
    model = WriterModel(words_per_call=40)
    model.after = " As noted [1], and [9] too."
    composer = Composer(model, LIBRARY)
    sources = [passage(1, "Owls hunt at night."), passage(2, "Barn owls nest in barns.")]
    job = composer.prepare(
        "article", {"topic": "owls", "length": "45"}, sources=sources, source="notes: owls"
    )
    assert [p.n for p in job.sources] == [1, 2]
    prompt_material = job.material_block()
    assert "<<<PASSAGE 1 | notes/n1.md:1-2>>>" in prompt_material and "cite them" in prompt_material
    _, events = run(composer, job)
    done = events[-1]
    assert "[9]" not in done.text and "As noted [1], and too." in done.text
    assert done.text.rstrip().endswith("Sources:\n[1] notes/n1.md:1-2\n[2] notes/n2.md:1-2")
    assert done.cited == (1,)
    assert "<<<PASSAGE 2" in request(model.history[0])


def test_passages_that_do_not_fit_are_left_out_and_said_so():
    composer = Composer(WriterModel(context_size=1400), LIBRARY)
    sources = [passage(n, " ".join(["fact"] * 300)) for n in range(1, 6)]
    job = composer.prepare("article", {"length": "100"}, sources=sources)
    assert 0 < len(job.sources) < 5 and "did not fit" in job.notices[0]
    assert [p.n for p in job.sources] == list(range(1, len(job.sources) + 1))


def test_long_material_is_cut_to_fit_and_said_so():
    composer = Composer(WriterModel(context_size=1400), LIBRARY)
    material = "\n\n".join(" ".join([f"m{i}"] * 100) for i in range(20))
    job = composer.prepare("minutes", {"length": "80"}, material=material)
    assert "the first" in job.notices[0] and "of its 2,000 words are used" in job.notices[0]
    assert job.material.startswith("m0 m0") and "m19" not in job.material
