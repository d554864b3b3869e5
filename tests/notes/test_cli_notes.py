"""The `assistant notes` commands and `ask --notes`, through the real entry point."""

from __future__ import annotations

import io
import json
import sys

import pytest

from assistant.cli import main
from tests.fakes import FakeModel
from tests.notes.conftest import write


@pytest.fixture(autouse=True)
def shared_embedder(monkeypatch, embedder):
    """CLI commands build their own NotesService; give them the session's model."""
    from assistant.notes import service

    real_init = service.NotesService.__init__

    def init(self, *args, **kwargs):
        kwargs["embedder"] = embedder
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(service.NotesService, "__init__", init)


def run(args, capsys, monkeypatch=None, stdin=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(args)
    cap = capsys.readouterr()
    return code, cap.out, cap.err


@pytest.fixture
def synced(folder, capsys):
    write(
        folder, "birds.md", "# Birds\n\n## Herons\n\nHerons nest in the alder carr by the lake.\n"
    )
    write(folder, "tools.txt", "Tools\n\nThe torque wrench is calibrated every spring.\n")
    code, out, err = run(["notes", "add", str(folder), "--name", "mine"], capsys)
    assert code == 0 and "mine" in out
    code, out, err = run(["notes", "sync"], capsys)
    assert code == 0 and "2 added" in out
    return folder


def test_add_list_status_remove(synced, capsys):
    code, out, _ = run(["notes", "list", "--json"], capsys)
    (coll,) = json.loads(out)
    assert coll["name"] == "mine" and coll["files"] == 2 and coll["chunks"] == 2
    code, out, _ = run(["notes", "status", "--json"], capsys)
    st = json.loads(out)
    assert st["chunks"] == st["vectors"] == 2 and st["index_bytes"] > 0
    assert "onnx" in st["embedding_model"] or "torch" in st["embedding_model"]
    assert st["last_sync"]
    code, out, _ = run(["notes", "status"], capsys)
    assert "Chunks: 2" in out
    code, out, _ = run(["notes", "remove", "mine"], capsys)
    assert code == 0
    code, out, _ = run(["notes", "list", "--json"], capsys)
    assert json.loads(out) == []


def test_search_text_and_json(synced, capsys):
    code, out, _ = run(["notes", "search", "where", "do", "herons", "nest"], capsys)
    assert code == 0
    assert "mine/birds.md:5" in out and "Birds > Herons" in out and "**Herons**" in out
    code, out, _ = run(["notes", "search", "--json", "torque wrench"], capsys)
    first = json.loads(out.splitlines()[0])
    hit = first["hits"][0]
    assert first["query"] == "torque wrench" and hit["path"] == "tools.txt"
    assert hit["lines"] == [3, 3] and {"keyword_rank", "vector_rank", "score"} <= set(hit)


def test_batch_queries_keep_input_order(synced, capsys, monkeypatch, tmp_path):
    stdin = "torque wrench calibration\nherons nesting\n\nwrench\n"
    code, out, _ = run(["notes", "search", "--json", "-"], capsys, monkeypatch, stdin)
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["query"] for r in rows] == ["torque wrench calibration", "herons nesting", "wrench"]
    assert [r["hits"][0]["path"] for r in rows] == ["tools.txt", "birds.md", "tools.txt"]
    qfile = tmp_path / "q.txt"
    qfile.write_text("herons\ntorque\n")
    code, out, _ = run(["notes", "search", "--json", "--queries", str(qfile), "-k", "1"], capsys)
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["hits"][0]["path"] for r in rows] == ["birds.md", "tools.txt"]
    assert all(len(r["hits"]) == 1 for r in rows)


def test_user_errors_are_one_sentence(synced, capsys, tmp_path):
    cases = [
        (["notes", "add", str(tmp_path / "missing")], "There is no folder"),
        (["notes", "add", str(synced)], "already registered"),
        (["notes", "remove", "nope"], "no collection named 'nope'"),
        (["notes", "search", "x", "--collection", "nope"], "no collection named 'nope'"),
        (["notes", "search", "--queries", str(tmp_path / "none.txt")], "Could not read queries"),
        (["notes", "search", "x", "-k", "0"], "-k must be at least 1"),
    ]
    for args, words in cases:
        code, out, err = run(args, capsys)
        assert code == 2, args
        assert words in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1


def test_samples_offered_when_nothing_registered(capsys):
    code, out, err = run(["notes", "search", "--json", "sourdough starter feeding ratio"], capsys)
    assert code == 0 and "sample notes" in err
    hit = json.loads(out)["hits"][0]
    assert hit["collection"] == "samples" and hit["path"] == "sourdough.md"
    code, out, err = run(["notes", "search", "--json", "docx release moved to Tuesday"], capsys)
    assert json.loads(out)["hits"][0]["path"] == "meeting-notes.docx"
    run(["notes", "remove", "samples"], capsys)
    code, out, err = run(["notes", "list", "--json"], capsys)
    assert json.loads(out) == []
    code, out, err = run(["notes", "search", "anything"], capsys)
    assert code == 0 and "sample notes" not in err  # declined: not offered again


@pytest.fixture
def fake_runtime_model(monkeypatch):
    model = FakeModel(context_size=4096)
    monkeypatch.setattr("assistant.runtime.Runtime.load_model", lambda self: model)
    return model


def test_ask_with_notes_prints_and_stores_sources(synced, capsys, monkeypatch, fake_runtime_model):
    fake_runtime_model.enqueue(["Herons nest in the alder carr [1]."])
    code, out, err = run(["ask", "--notes", "Where do herons nest?"], capsys, monkeypatch, stdin="")
    assert code == 0
    # the passage the answer comes from is marked (its [1] and its words)
    assert "Sources (→ the answer comes from):" in out
    assert "→ [1] mine/birds.md:5 — Birds > Herons" in out
    prompt = fake_runtime_model.history[0][-1].content
    assert "<<<PASSAGE 1 | birds.md:5" in prompt and "alder carr" in prompt
    assert prompt.rstrip().endswith("Question: Where do herons nest?")

    fake_runtime_model.enqueue(["The wrench [1]."])
    code, out, _ = run(
        ["ask", "--notes", "--json", "torque wrench calibration"], capsys, monkeypatch, stdin=""
    )
    data = json.loads(out)
    assert data["sources"][0]["path"] == "tools.txt" and data["sources"][0]["start_line"] == 3
    code, out, _ = run(["history", "show", "--json", str(data["conversation_id"])], capsys)
    reply = json.loads(out)["messages"][-1]
    assert reply["sources"][0]["location"] == "tools.txt:3"  # the word `ask --json` uses
    user = json.loads(out)["messages"][0]
    assert user["content"] == "torque wrench calibration"  # the stored question is untouched
    assert json.loads(out)["use_notes"] is True  # remembered, as the app's switch is

    # continuing that conversation without --notes still answers from the notes
    fake_runtime_model.enqueue(["Yearly [1]."])
    code, out, _ = run(
        [
            "ask",
            "-c",
            str(data["conversation_id"]),
            "--json",
            "how often is the torque wrench calibrated",
        ],
        capsys,
        monkeypatch,
        stdin="",
    )
    assert code == 0 and json.loads(out)["sources"][0]["path"] == "tools.txt"
    assert "<<<PASSAGE 1 | tools.txt:3" in fake_runtime_model.history[-1][-1].content

    # a conversation without the switch is not grounded
    fake_runtime_model.enqueue(["No idea."])
    code, out, _ = run(
        ["ask", "--json", "torque wrench calibration"], capsys, monkeypatch, stdin=""
    )
    assert "sources" not in json.loads(out)
    assert fake_runtime_model.history[-1][-1].content == "torque wrench calibration"


def test_help_stays_light():
    import subprocess

    code = (
        "import contextlib, io, sys\nfrom assistant.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()): main(['notes', 'search', '--help'])\n"
        "print(','.join(m for m in ('torch','faiss','sqlalchemy','numpy','onnxruntime',"
        "'sentence_transformers','assistant.notes.service') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
