"""Notes you can use whole: ``@path`` in a message and ``ask --file``; inline
when the documents fit, map-reduce over parts with a citation per part."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.chat.attachments import complete_path, mention, mentioned_files
from assistant.chat.events import ReplyDone, ReplyProgress, ReplyStarted
from assistant.cli import main
from tests.fakes import FakeModel


@pytest.fixture
def docs(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.md").write_text("# Plan A\n\nThe ferry leaves at nine.\n")
    (tmp_path / "b.md").write_text("# Plan B\n\nThe train leaves at ten.\n")
    (tmp_path / "my report.txt").write_text("Quarterly figures rose by four percent.\n")
    (tmp_path / "sub").mkdir()
    return tmp_path


def test_mentions_name_files_and_leave_other_words(docs):
    found = mentioned_files(
        'compare @a.md and @b.md, then @"my report.txt"; mail ana@example.org or @nobody'
    )
    assert [(label, p.name) for label, p in found] == [
        ("a.md", "a.md"),
        ("b.md", "b.md"),
        ("my report.txt", "my report.txt"),
    ]
    assert mention("my report.txt") == '@"my report.txt"' and mention("a.md") == "@a.md"


def test_path_completion(docs):
    assert complete_path("") == ["@a.md", "@b.md", '@"my report.txt"', "@sub/"]
    assert complete_path("s") == ["@sub/"]
    assert complete_path("my") == ['@"my report.txt"']
    assert complete_path("nothing/") == []


def test_documents_that_fit_go_in_whole(docs, service, fake_model, repo):
    fake_model.enqueue("The ferry is earlier [1].")
    events = list(service.send(None, "compare @a.md and @b.md"))
    started = next(e for e in events if isinstance(e, ReplyStarted))
    prompt = fake_model.history[-1][-1].content
    assert "The ferry leaves at nine." in prompt and "The train leaves at ten." in prompt
    assert prompt.count("<<<DOCUMENT") == 2 and prompt.endswith("Request: compare @a.md and @b.md")
    assert [(c.n, c.location) for c in started.citations] == [(1, "a.md:1-3"), (2, "b.md:1-3")]
    assert started.citations[0].abs_path == str(docs / "a.md")
    assert repo.messages(1)[0].content == "compare @a.md and @b.md"  # stored as typed
    done = events[-1]
    assert isinstance(done, ReplyDone) and done.message.citations[0].path == "a.md"


def test_long_documents_are_read_part_by_part_with_citations(docs, repo):
    from assistant.chat.service import ChatService

    lines = [f"Line {i}: the lighthouse keeper logged the weather." for i in range(1, 121)]
    lines[99] = "Line 100: the lamp was replaced on the fifth of May."
    (docs / "log.txt").write_text("\n".join(lines) + "\n")
    model = FakeModel(context_size=400)
    service = ChatService(repo, model, flush_interval=0.0)
    parts_seen: list[tuple[int, int]] = []
    # every part answers "nothing": the last call says no part holds anything
    for _ in range(40):
        model.enqueue("nothing")
    events = []
    stream = service.send(None, "when was the lamp replaced? @log.txt")
    for event in stream:
        events.append(event)
        if isinstance(event, ReplyProgress):
            parts_seen.append((event.part, event.parts))
    maps = [h[-1].content for h in model.history[:-1]]
    assert len(maps) == parts_seen[-1][1] > 1  # one call per part
    assert all("Write down briefly everything" in m for m in maps)
    assert [p for p, _ in parts_seen] == list(range(1, len(maps) + 1))
    reduce_prompt = model.history[-1][-1].content
    assert reduce_prompt.startswith("I attached documents and they were read part by part")
    assert "no part holds anything" in reduce_prompt


def test_map_notes_are_cited_by_part(docs, repo):
    from assistant.chat.service import ChatService

    lines = [f"Entry {i}: calm sea and a light westerly breeze." for i in range(1, 81)]
    (docs / "log.txt").write_text("\n".join(lines) + "\n")
    model = FakeModel(context_size=300)
    service = ChatService(repo, model, flush_interval=0.0)
    for n in range(1, 30):
        model.enqueue(f"Part note {n}: calm seas.")
    events = list(service.send(None, "summarise @log.txt"))
    started = next(e for e in events if isinstance(e, ReplyStarted))
    assert len(started.citations) > 1
    spans = [(c.start_line, c.end_line) for c in started.citations]
    assert spans[0][0] == 1 and spans[-1][1] == 80
    assert all(a <= b for a, b in spans)
    assert all(spans[i][1] + 1 == spans[i + 1][0] for i in range(len(spans) - 1))  # no gaps
    reduce_prompt = model.history[-1][-1].content
    assert "[1] log.txt:1-" in reduce_prompt and "Part note 1" in reduce_prompt


def test_a_bad_attachment_is_one_sentence(docs, service):
    (docs / "bin.txt").write_bytes(b"\x00\x01\x02 binary")
    from assistant.errors import UsageError

    with pytest.raises(UsageError, match="@bin.txt cannot be used: binary file"):
        list(service.send(None, "read @bin.txt"))


def test_ask_file_option(docs, monkeypatch, capsys):
    monkeypatch.setattr("assistant.cli.chat.read_stdin_if_piped", lambda: "")
    model = FakeModel(context_size=4096)
    monkeypatch.setattr("assistant.runtime.Runtime.load_model", lambda self: model)
    model.enqueue("Ferry first [1], train second [2].")
    code = main(["ask", "--file", "a.md", "--file", "b.md", "Which leaves first?"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Ferry first" in out and "Sources:" in out and "[2]" in out
    prompt = model.history[-1][-1].content
    assert "The ferry leaves at nine." in prompt and "The train leaves at ten." in prompt
    assert main(["ask", "--file", "missing.md", "hi"]) == 2
    assert "There is no file at missing.md." in capsys.readouterr().err
