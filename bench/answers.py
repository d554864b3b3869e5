"""What the user reads from the model, measured: grounded answers, closed-book
replies and writing actions, on the bundled model or any other.

    python -m bench.answers [--model PATH | --engine NAME] [--temperature T]
                            [--keep DIR] [--sets grounded,closed,writing] [--quiet]

The sets are in ``bench/answer_sets.py`` (written for this project). Every
question goes through the code the commands use: a ``Runtime`` built from the
settings as ``assistant`` builds it, a new conversation per question, and
``ChatSession.send`` with the notes switch on for the grounded set (what
``assistant ask --notes`` runs after parsing its options); the writing actions
go through the runner ``assistant write`` uses. Sampling is the app's own
default for the model unless ``--temperature`` is given; the seed is fixed.

Rates printed (the issue's aims in brackets):

- grounded right-and-cited: the reply holds the planted fact and the reply's
  sources mark the fact's file as the one the answer came from (>= 90%
  English, >= 80% Chinese);
- closed book: echo (the reply repeats the question or any instruction of
  our prompts; aim 0), empty, wrong language; and how many hold the expected
  answer where one is known (reported only);
- questions in Chinese answered in Chinese (>= 90%);
- writing: summaries holding text of a template example (leak, aim 0),
  translations in the target language (>= 95%), proofreads that drop a
  sentence (aim 0).

Failed cases are listed after the figures (``--quiet`` leaves them out).
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import cpu_flags
from bench.answer_sets import (
    CLOSED_BOOK,
    GROUNDED,
    PROOFREADS,
    SUMMARIES,
    TRANSLATIONS,
    Fact,
    Prompt,
    write_notes,
)

SEED = 1234
COLLECTION = "bench"
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_PUNCT = re.compile(r"[\W_]+", re.UNICODE)
# A run this long copied from an instruction of our prompts is an echo, not a
# coincidence: words for Latin text, characters for Chinese. A reply that
# repeats the question itself must copy most of it in one run (an answer that
# restates part of the question, "The largest planet in the solar system
# is...", is not an echo).
ECHO_WORDS = 8
ECHO_CHARS = 12
QUESTION_SHARE = 0.8


# ------------------------------------------------------------------ scoring
def normalise(text: str) -> str:
    """Case, width and spacing folded; thousands separators kept as written."""
    text = unicodedata.normalize("NFKC", text).lower()
    return re.sub(r"\s+", " ", text).strip()


def holds(reply: str, answers: Iterable[str]) -> bool:
    got = normalise(reply)
    squeezed = got.replace(" ", "")
    return any(normalise(a) in got or normalise(a).replace(" ", "") in squeezed for a in answers)


def _units(text: str) -> list[str]:
    """Words of Latin text, characters of Chinese text, punctuation dropped."""
    text = normalise(text)
    if HAN.search(text):
        return [c for c in text if not _PUNCT.fullmatch(c)]
    return [w for w in _PUNCT.split(text) if w]


def shared_run(reply: str, source: str) -> int:
    """Length of the longest run of units (words, or Chinese characters) that
    ``reply`` copies from ``source``."""
    a, b = _units(reply), _units(source)
    if not a or not b:
        return 0
    best = 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0] * (len(b) + 1)
        for j, y in enumerate(b, 1):
            if x == y:
                cur[j] = prev[j - 1] + 1
                if cur[j] > best:
                    best = cur[j]
        prev = cur
    return best


def copies(reply: str, source: str) -> bool:
    """True when ``reply`` copies a long run of an instruction ``source``
    (or all of a short one)."""
    units = _units(source)
    cjk = bool(HAN.search(source))
    if len(units) < (4 if cjk else 3):  # too short to tell a copy from an answer
        return False
    return shared_run(reply, source) >= min(len(units), ECHO_CHARS if cjk else ECHO_WORDS)


def repeats_question(reply: str, question: str) -> bool:
    """True when ``reply`` repeats most of the question in one run."""
    units = _units(question)
    if len(units) < 3:
        return False
    return shared_run(reply, question) >= QUESTION_SHARE * len(units)


def reply_language_ok(reply: str, lang: str) -> bool:
    from assistant.language import detect

    if not re.search(r"[^\W\d_]", reply):  # digits and signs only: any language
        return True
    if lang == "zh":
        return bool(HAN.search(reply)) and detect(reply) == "zh"
    got = detect(reply)
    return got in (lang, "und")


def instruction_texts(rt: Any) -> list[str]:
    """Every instruction our prompts can put in front of the model: the
    system prompt, grounding's wording, and each template's request and
    examples (cut at their placeholders)."""
    from assistant.notes import grounding

    texts = [rt.settings.system_prompt, grounding.INSTRUCTIONS]
    texts += list(getattr(grounding, "ECHO_SOURCES", ()))
    library = rt.library()
    for template in list(library.templates.values()) + list(library.compose.values()):
        texts += [p for p in re.split(r"\{\{[^}]*\}\}", template.body) if p.strip()]
        if template.system:
            texts.append(template.system)
        for example in template.examples:
            texts += [example.text, example.output]
    for persona in library.personas.values():
        texts.append(persona.system)
    from assistant.llm import prompting

    texts += list(getattr(prompting, "ECHO_SOURCES", ()))
    return [t for t in texts if t and t.strip()]


def example_texts(rt: Any) -> list[str]:
    """Text of every worked example the writing templates (and the
    transcript's priming) show the model: none of it may reach a result."""
    out: list[str] = []
    for template in rt.library().templates.values():
        for example in template.examples:
            out += [example.text, example.output]
    from assistant.llm import prompting

    out += list(getattr(prompting, "ECHO_SOURCES", ()))
    return [t for t in out if t.strip()]


_SENTENCE = re.compile(r"[^.!?。！？]+[.!?。！？]?")


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.findall(text) if len(_units(s)) >= 2]


def dropped_sentences(original: str, result: str) -> list[str]:
    """Sentences of ``original`` with no counterpart in ``result`` (a
    proofread changes a few words of a sentence, never all of them)."""
    from difflib import SequenceMatcher

    out = sentences(result)
    lost = []
    for s in sentences(original):
        best = max(
            (SequenceMatcher(None, normalise(s), normalise(o)).ratio() for o in out), default=0.0
        )
        if best < 0.6:
            lost.append(s)
    return lost


# ------------------------------------------------------------------ running
@dataclass
class Case:
    kind: str
    lang: str
    prompt: str
    reply: str
    ok: bool
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _consume(events: Iterable[Any]) -> tuple[str, tuple[Any, ...], Any]:
    from assistant.chat.events import ReplyDone, ReplyStarted

    started, done = None, None
    for event in events:
        if isinstance(event, ReplyStarted):
            started = event
        elif isinstance(event, ReplyDone):
            done = event
    assert started is not None and done is not None
    # the stored reply's sources carry the marks of those its answer used
    citations = tuple(getattr(done.message, "citations", ()) or started.citations)
    return done.message.content, citations, done


def ask(rt: Any, question: str, notes: bool) -> tuple[str, tuple[Any, ...], Any]:
    """One question in a new conversation, as ``assistant ask [--notes]``."""
    session = rt.session()
    if notes:
        session.set_notes(True)
    return _consume(session.send(question, threading.Event()))


def answered_from(citations: Sequence[Any], reply: str) -> list[Any]:
    """The sources the reply's answer came from, as the app marks them."""
    used = [c for c in citations if getattr(c, "used", False)]
    if used:
        return used
    marks = {int(n) for n in re.findall(r"\[(\d+)\]", reply)}
    return [c for c in citations if c.n in marks]


def memory_list(rt: Any) -> list[Any]:
    try:
        return list(rt.memory.list_memories())
    except AttributeError:  # a version of the app without memories
        return []


def run_grounded(rt: Any, facts: Sequence[Fact], log: Callable[[str], None]) -> list[Case]:
    cases = []
    for fact in facts:
        start = time.perf_counter()
        reply, citations, _done = ask(rt, fact.question, notes=True)
        problems = []
        if not holds(reply, fact.answers):
            problems.append("fact missing")
        sources = [c.path for c in citations]
        if fact.path not in sources:
            problems.append("file not retrieved")
        elif fact.path not in [c.path for c in answered_from(citations, reply)]:
            problems.append("file not cited")
        if not reply_language_ok(reply, fact.lang):
            problems.append("wrong language")
        case = Case(
            "grounded",
            fact.lang,
            fact.question,
            reply,
            not problems,
            problems,
            time.perf_counter() - start,
        )
        cases.append(case)
        log(f"  grounded {'ok  ' if case.ok else 'FAIL'} {fact.question} -> {reply[:70]!r}")
    return cases


def plant_memories(rt: Any, n: int) -> list[str]:
    """Keep the first ``n`` of bench.memory's memories (facts about the
    user, none of them an answer here): what a reply is given of them must
    not make it worse."""
    if n <= 0:
        return []
    from bench.memory_data import TARGETS

    texts = [text for text, _question in TARGETS[:n]]
    for text in texts:
        rt.memory.add(text)
    return texts


def run_closed(rt: Any, prompts: Sequence[Prompt], log: Callable[[str], None]) -> list[Case]:
    # a memory said back is an echo like an instruction said back
    instructions = instruction_texts(rt) + [m.text for m in memory_list(rt)]
    cases = []
    for p in prompts:
        start = time.perf_counter()
        reply, _, _ = ask(rt, p.text, notes=False)
        problems = []
        if not reply.strip():
            problems.append("empty")
        elif any(copies(reply, s) for s in instructions) or (
            # the question said back; an answer that holds the fact may
            # repeat its words ("The largest planet ... is Jupiter.")
            repeats_question(reply, p.text) and not (p.answers and holds(reply, p.answers))
        ):
            problems.append("echo")
        if reply.strip() and not reply_language_ok(reply, p.lang):
            problems.append("wrong language")
        if p.answers and not holds(reply, p.answers):
            problems.append("wrong answer")
        ok = not [x for x in problems if x != "wrong answer"]
        cases.append(
            Case("closed", p.lang, p.text, reply, ok, problems, time.perf_counter() - start)
        )
        log(f"  closed {'ok  ' if ok else 'FAIL'} {p.text} -> {reply[:70]!r}")
    return cases


def _run_action(rt: Any, name: str, text: str, variables: dict[str, str] | None = None) -> str:
    from assistant.writing.actions import ActionDone

    runner = rt.action_runner()
    template = rt.library().template(name)
    result = ""
    for event in runner.run(template, text, variables, None, threading.Event()):
        if isinstance(event, ActionDone):
            result = event.text
    return result


def run_writing(rt: Any, log: Callable[[str], None]) -> list[Case]:
    from assistant.language import LANGUAGE_NAMES, detect

    examples = example_texts(rt)
    cases = []
    for t in SUMMARIES:
        start = time.perf_counter()
        out = _run_action(rt, "summarise", t.text)
        problems = []
        if not out.strip():
            problems.append("empty")
        if any(copies(out, e) for e in examples):
            problems.append("leak")
        if out.strip() and not reply_language_ok(out, t.lang):
            problems.append("wrong language")
        cases.append(
            Case(
                "summary",
                t.lang,
                t.text[:60],
                out,
                not problems,
                problems,
                time.perf_counter() - start,
            )
        )
        log(f"  summary {'ok  ' if not problems else 'FAIL'} -> {out[:70]!r}")
    samples = list(getattr(rt.library().template("translate"), "samples", {}).values())
    for t in TRANSLATIONS:
        start = time.perf_counter()
        out = _run_action(rt, "translate", t.text, {"language": LANGUAGE_NAMES[t.target]})
        got = detect(out)
        problems = []
        if t.target == "zh":
            if not (HAN.search(out) and got == "zh"):
                problems.append(f"not in {t.target} ({got})")
        elif got != t.target:
            problems.append(f"not in {t.target} ({got})")
        if any(copies(out, s) for s in samples):
            problems.append("copied the sample sentence")
        cases.append(
            Case(
                "translation",
                t.target,
                t.text[:60],
                out,
                not problems,
                problems,
                time.perf_counter() - start,
            )
        )
        log(f"  translate->{t.target} {'ok  ' if not problems else 'FAIL'} -> {out[:70]!r}")
    for t in PROOFREADS:
        start = time.perf_counter()
        out = _run_action(rt, "proofread", t.text)
        lost = dropped_sentences(t.text, out)
        problems = [f"dropped: {s}" for s in lost]
        cases.append(
            Case(
                "proofread",
                t.lang,
                t.text[:60],
                out,
                not problems,
                problems,
                time.perf_counter() - start,
            )
        )
        log(f"  proofread {'ok  ' if not problems else 'FAIL'} -> {out[:70]!r}")
    return cases


def prepare_notes(rt: Any, folder: Path, log: Callable[[str], None]) -> float:
    """Write the notes and index them (once per home); seconds spent."""
    start = time.perf_counter()
    notes = rt.notes
    if not any(c.name == COLLECTION for c in notes.collections()):
        n = write_notes(folder)
        notes.add_collection(folder, COLLECTION)
        log(f"  wrote {n} notes into {folder}")
    report = notes.sync()
    log(f"  sync: {report.chunks_embedded} passages embedded")
    return time.perf_counter() - start


def runtime(home: Path, overrides: dict[str, Any]) -> Any:
    os.environ["ASSISTANT_HOME"] = str(home)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from assistant.runtime import Runtime

    return Runtime(**overrides)


# ------------------------------------------------------------------ report
def rate(cases: Sequence[Case], pred: Callable[[Case], bool]) -> str:
    n = sum(1 for c in cases if pred(c))
    return f"{n}/{len(cases)} ({100 * n / len(cases):.0f}%)" if cases else "0/0"


@dataclass
class Summary:
    grounded_en: float = 0.0
    grounded_zh: float = 0.0
    echo: float = 0.0
    empty: float = 0.0
    wrong_language: float = 0.0
    zh_in_zh: float = 0.0
    leak: float = 0.0
    translated: float = 0.0
    dropped: float = 0.0


def share(cases: Sequence[Case], pred: Callable[[Case], bool]) -> float:
    return sum(1 for c in cases if pred(c)) / len(cases) if cases else 0.0


def summarise(cases: Sequence[Case]) -> Summary:
    g_en = [c for c in cases if c.kind == "grounded" and c.lang == "en"]
    g_zh = [c for c in cases if c.kind == "grounded" and c.lang == "zh"]
    closed = [c for c in cases if c.kind == "closed"]
    zh_q = [c for c in cases if c.kind in ("grounded", "closed") and c.lang == "zh"]
    return Summary(
        grounded_en=share(g_en, lambda c: c.ok),
        grounded_zh=share(g_zh, lambda c: c.ok),
        echo=share(closed, lambda c: "echo" in c.problems),
        empty=share(closed, lambda c: "empty" in c.problems),
        wrong_language=share(closed, lambda c: "wrong language" in c.problems),
        zh_in_zh=share(zh_q, lambda c: "wrong language" not in c.problems and bool(c.reply)),
        leak=share([c for c in cases if c.kind == "summary"], lambda c: "leak" in c.problems),
        translated=share([c for c in cases if c.kind == "translation"], lambda c: c.ok),
        dropped=share([c for c in cases if c.kind == "proofread"], lambda c: not c.ok),
    )


def report(cases: Sequence[Case], label: str, quiet: bool) -> None:
    def of(kind: str, lang: str | None = None) -> list[Case]:
        return [c for c in cases if c.kind == kind and (lang is None or c.lang == lang)]

    for lang in ("en", "zh"):
        g = of("grounded", lang)
        if g:
            print(
                f"answers: grounded {lang}: right and cited {rate(g, lambda c: c.ok)}  "
                f"fact held {rate(g, lambda c: 'fact missing' not in c.problems)}  "
                f"file cited {rate(g, lambda c: not {'file not cited', 'file not retrieved'} & set(c.problems))}  "  # noqa: E501
                f"retrieved {rate(g, lambda c: 'file not retrieved' not in c.problems)}"
            )
    closed = of("closed")
    if closed:
        known = [
            c
            for c in closed
            if any(p == "wrong answer" for p in c.problems)
            or c.prompt in {p.text for p in CLOSED_BOOK if p.answers}
        ]
        print(
            f"answers: closed book: echo {rate(closed, lambda c: 'echo' in c.problems)}  "
            f"empty {rate(closed, lambda c: 'empty' in c.problems)}  "
            f"wrong language {rate(closed, lambda c: 'wrong language' in c.problems)}  "
            f"right where known {rate(known, lambda c: 'wrong answer' not in c.problems)}"
        )
    zh_q = [c for c in cases if c.kind in ("grounded", "closed") and c.lang == "zh"]
    if zh_q:
        print(
            "answers: Chinese questions answered in Chinese "
            f"{rate(zh_q, lambda c: 'wrong language' not in c.problems and bool(c.reply))}"
        )
    if of("summary"):
        s = of("summary")
        print(
            f"answers: summaries: leak {rate(s, lambda c: 'leak' in c.problems)}  "
            f"wrong language {rate(s, lambda c: 'wrong language' in c.problems)}  "
            f"empty {rate(s, lambda c: 'empty' in c.problems)}"
        )
    if of("translation"):
        done = rate(of("translation"), lambda c: c.ok)
        print(f"answers: translations in the target language {done}")
    if of("proofread"):
        print(
            f"answers: proofreads that drop a sentence {rate(of('proofread'), lambda c: not c.ok)}"
        )  # noqa: E501
    total = sum(c.seconds for c in cases)
    print(f"answers: {len(cases)} cases in {total:.0f} s ({label})")
    if quiet:
        return
    failed = [c for c in cases if not c.ok or (c.kind == "closed" and c.problems)]
    if failed:
        print("failed cases:")
        for c in failed:
            reply = c.reply.replace("\n", " ⏎ ")
            print(f"  [{c.kind} {c.lang}] {', '.join(c.problems)}: {c.prompt!r} -> {reply[:160]!r}")


def main(argv: Sequence[str] | None = None) -> Summary:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a GGUF file or model name (default: the bundled model)")
    parser.add_argument("--engine", help="a named engine from config.toml")
    parser.add_argument("--temperature", type=float, help="default: the app's for the model")
    parser.add_argument(
        "--threads", type=int, help="llama.cpp threads (1 on a machine busy with other work)"
    )
    parser.add_argument("--keep", metavar="DIR", help="keep (and reuse) the home and notes here")
    parser.add_argument("--sets", default="grounded,closed,writing")
    parser.add_argument("--limit", type=int, help="at most N cases of each set (a quick look)")
    parser.add_argument("--quiet", action="store_true", help="no failed cases, no progress")
    parser.add_argument("--verbose", action="store_true", help="every case as it is answered")
    parser.add_argument(
        "--memories",
        type=int,
        default=0,
        metavar="N",
        help="keep N memories about the user first (bench.memory's): every reply may get them",
    )
    args = parser.parse_args(argv)

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-answers-"))
    work.mkdir(parents=True, exist_ok=True)
    overrides: dict[str, Any] = {"seed": SEED}
    if args.model:
        overrides["model_path"] = args.model
    if args.engine:
        overrides["engine"] = args.engine
    if args.temperature is not None:
        overrides["temperature"] = args.temperature
    if args.threads:
        overrides["n_threads"] = args.threads
    rt = runtime(work / "home", overrides)
    log: Callable[[str], None] = print if args.verbose else (lambda _s: None)
    sets = {s.strip() for s in args.sets.split(",")}
    limit = args.limit

    def cut(items: Sequence[Any]) -> Sequence[Any]:
        if not limit:
            return items
        en = [i for i in items if i.lang == "en"][:limit]
        zh = [i for i in items if i.lang == "zh"][: max(1, limit // 2)]
        return en + zh

    print(f"answers: CPU {cpu_flags()}; {os.cpu_count()} cores")
    model = rt.model_handle.get()
    options = rt.generation_options()
    try:  # the model's own defaults, where this version of the app has them
        from assistant.llm.base import with_model_defaults

        options = with_model_defaults(options, model)
    except ImportError:
        pass
    label = (
        f"{model.name}, {getattr(getattr(model, 'formatter', None), 'name', 'remote')}, "
        f"temperature {options.temperature} top_p {options.top_p} seed {SEED}"
    )
    print(f"answers: model {label}")
    planted = plant_memories(rt, args.memories)
    if planted:
        print(f"answers: {len(planted)} memories kept, memory on")
    cases: list[Case] = []
    if "grounded" in sets:
        took = prepare_notes(rt, work / "notes", log)
        print(f"answers: notes ready in {took:.0f} s")
        cases += run_grounded(rt, cut(GROUNDED), log)
    if "closed" in sets:
        cases += run_closed(rt, cut(CLOSED_BOOK), log)
    if "writing" in sets:
        cases += run_writing(rt, log)
    report(cases, label, args.quiet)
    return summarise(cases)


if __name__ == "__main__":
    main()
