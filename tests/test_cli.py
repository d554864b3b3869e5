from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from assistant import __version__
from assistant.cli import main
from assistant.domain import MessageStatus
from tests.fakes import FakeModel


@pytest.fixture
def fake_runtime_model(monkeypatch):
    model = FakeModel()
    monkeypatch.setattr("assistant.runtime.Runtime.load_model", lambda self: model)
    return model


def run_cli(args, capsys, stdin: str | None = None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(args)
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def test_version(capsys):
    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out


def test_ask_streams_and_stores(fake_runtime_model, capsys, monkeypatch):
    fake_runtime_model.enqueue(["Forty", "-two."])
    code, out, err = run_cli(
        ["ask", "What is the answer?"], capsys, stdin="", monkeypatch=monkeypatch
    )
    assert code == 0
    assert out == "Forty-two.\n"
    code, out, _ = run_cli(["history", "list", "--json"], capsys)
    convs = json.loads(out)
    assert convs[0]["title"] == "What is the answer?" and convs[0]["message_count"] == 2


def test_ask_appends_piped_stdin(fake_runtime_model, capsys, monkeypatch):
    code, _, _ = run_cli(
        ["ask", "Summarise:"], capsys, stdin="line one\nline two\n", monkeypatch=monkeypatch
    )
    assert code == 0
    assert fake_runtime_model.history[0][-1].content == "Summarise:\n\nline one\nline two"


def test_ask_json_and_continue(fake_runtime_model, capsys, monkeypatch):
    fake_runtime_model.enqueue("one")
    code, out, _ = run_cli(["ask", "--json", "first"], capsys, stdin="", monkeypatch=monkeypatch)
    data = json.loads(out)
    assert code == 0
    assert data["text"] == "one" and data["status"] == "complete"
    assert {
        "model",
        "prompt_tokens",
        "completion_tokens",
        "time_to_first_token_ms",
        "generation_ms",
        "conversation_id",
    } <= set(data)
    fake_runtime_model.enqueue("two")
    code, out, _ = run_cli(
        ["ask", "--json", "-c", str(data["conversation_id"]), "second"],
        capsys,
        stdin="",
        monkeypatch=monkeypatch,
    )
    again = json.loads(out)
    assert again["conversation_id"] == data["conversation_id"]
    assert [t.content for t in fake_runtime_model.history[-1]][-3:] == ["first", "one", "second"]


def test_ask_nothing_is_an_error(capsys, monkeypatch):
    code, out, err = run_cli(["ask"], capsys, stdin="", monkeypatch=monkeypatch)
    assert code == 2
    assert err.strip().startswith("assistant: Nothing to ask")
    assert "Traceback" not in err


def test_continue_unknown_conversation(fake_runtime_model, capsys, monkeypatch):
    code, _, err = run_cli(["ask", "-c", "42", "hi"], capsys, stdin="", monkeypatch=monkeypatch)
    assert code == 2 and "no conversation 42" in err


def test_ask_output_has_no_control_bytes(fake_runtime_model, capsys, monkeypatch):
    fake_runtime_model.enqueue(["safe ", "\x1b]52;c;ZXZpbA==\x07", " \x1b[2J\r done"])
    code, out, _ = run_cli(["ask", "x"], capsys, stdin="", monkeypatch=monkeypatch)
    assert code == 0
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out
    assert "^[]52;c;ZXZpbA==^G" in out


def test_history_show_export_delete(fake_runtime_model, capsys, monkeypatch, tmp_path):
    fake_runtime_model.enqueue("**bold** reply")
    run_cli(["ask", "Export me"], capsys, stdin="", monkeypatch=monkeypatch)
    code, out, _ = run_cli(["history", "show", "1", "--json"], capsys)
    shown = json.loads(out)
    assert [m["role"] for m in shown["messages"]] == ["user", "assistant"]
    code, out, _ = run_cli(["history", "export", "1", "--format", "md"], capsys)
    assert out.startswith("# Export me") and "## You" in out and "**bold** reply" in out
    target = tmp_path / "conv.json"
    code, _, _ = run_cli(["history", "export", "1", "--format", "json", "-o", str(target)], capsys)
    assert json.loads(target.read_text())["messages"][1]["content"] == "**bold** reply"
    code, out, _ = run_cli(["history", "search", "export"], capsys)
    assert "Export me" in out
    code, _, err = run_cli(["history", "delete", "--yes", "1"], capsys)
    assert code == 0
    code, _, err = run_cli(["history", "show", "1"], capsys)
    assert code == 2 and "no conversation 1" in err


def test_bad_id_is_usage_error(capsys):
    assert main(["history", "show", "abc"]) == 2
    assert "is not a conversation id" in capsys.readouterr().err


def test_ctrl_c_keeps_partial_reply(monkeypatch, capsys):
    import os
    import signal
    import threading

    model = FakeModel(delay=0.05)
    model.enqueue([f"w{i} " for i in range(200)])
    monkeypatch.setattr("assistant.runtime.Runtime.load_model", lambda self: model)

    def interrupt():
        model.started.wait(5)
        import time

        time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    code, out, err = run_cli(["ask", "go"], capsys, stdin="", monkeypatch=monkeypatch)
    assert code == 130
    assert "partial reply is kept" in err
    from assistant.runtime import Runtime

    msgs = Runtime().repo.messages(1)
    assert msgs[1].status == MessageStatus.STOPPED
    assert msgs[1].content.startswith("w0 w1")
    assert out.startswith(msgs[1].content.strip()[:5])


@pytest.mark.parametrize(
    ("content", "phrase"),
    [
        (None, "Model file not found"),
        (b"not a model at all", "is not a GGUF model file"),
        (b"GGUF\x03\x00\x00\x00" + b"\x00" * 20, "holds no tensors: it is not a model"),
    ],
)
def test_bad_model_file_one_sentence_exit_2(tmp_path, content, phrase):
    path = tmp_path / "model.gguf"
    if content is not None:
        path.write_bytes(content)
    proc = subprocess.run(
        [sys.executable, "-m", "assistant", "ask", "--model", str(path), "hello"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert proc.returncode == 2
    assert phrase in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_truncated_gguf_is_refused(tmp_path, bundled_gguf):
    cut = tmp_path / "cut.gguf"
    with open(bundled_gguf, "rb") as src:
        cut.write_bytes(src.read(5_000_000))
    proc = subprocess.run(
        [sys.executable, "-m", "assistant", "ask", "--model", str(cut), "hello"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "cut.gguf is cut short: it ends at 5.0 MB, inside its header" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_setting_is_one_sentence(monkeypatch, capsys):
    monkeypatch.setenv("ASSISTANT_N_CTX", "lots")
    code, _, err = run_cli(["history", "list"], capsys)
    assert code == 2 and "n_ctx" in err and "Traceback" not in err


def test_settings_precedence(isolated_home, monkeypatch):
    from assistant.config import load_settings
    from assistant.paths import app_paths

    cfg = app_paths().config_file
    cfg.parent.mkdir(parents=True)
    cfg.write_text("temperature = 0.2\nmax_tokens = 99\nn_ctx = 1024\n")
    monkeypatch.setenv("ASSISTANT_MAX_TOKENS", "77")
    s = load_settings(n_ctx=2048)
    assert s.temperature == 0.2  # file
    assert s.max_tokens == 77  # env beats file
    assert s.n_ctx == 2048  # command line beats everything


def test_doctor_reports(home_with_model, capsys):
    code, out, _ = run_cli(["doctor", "--json"], capsys)
    report = json.loads(out)
    assert code == 0
    assert report["gpu_offload"].startswith(("available", "not available"))
    assert report["model"]["size_mb"] > 100
    assert report["database"]["integrity"] == "ok"
    assert report["threads"] >= 1


def test_file_may_follow_options(fake_runtime_model, capsys, tmp_path):
    target = tmp_path / "t.txt"
    target.write_text("Helo wrld.\n")
    fake_runtime_model.enqueue("Hello world.")
    code, out, err = run_cli(["write", "proofread", "--diff", str(target)], capsys)
    assert code == 0, err
    assert f"--- {target}" in out and "+Hello world." in out
    assert main(["write", "proofread", "--diff", str(target), "extra.txt"]) == 2
