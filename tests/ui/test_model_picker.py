"""Switching models mid-conversation in the running app, with two real GGUFs:
the bundled one and a copy with other metadata written with the ``gguf``
package. The picker (Ctrl+L) lists both with size, quant and fit; the copy
loads in a worker; the next reply is written by it and its header says so."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from assistant.domain import Role
from assistant.runtime import Runtime
from assistant.ui.app import AssistantApp
from assistant.ui.model_picker import ModelPickerScreen
from assistant.ui.panels import StatusLine
from tests.ui.helpers import settle

SIZE = (120, 34)


@pytest.fixture(scope="session")
def relabelled_gguf(bundled_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.models.conftest import write_relabelled_copy

    folder = tmp_path_factory.mktemp("relabelled")
    return write_relabelled_copy(bundled_gguf, folder / "gemma-copy.gguf", "Gemma copy")


async def ask(pilot, text: str) -> None:
    for char in text:
        await pilot.press("space" if char == " " else char)
    await pilot.press("enter")
    await settle(pilot)


def header(view) -> str:
    from assistant.ui.widgets import MessageHead

    return view.query_one(MessageHead).who


async def test_switch_models_mid_conversation(home_with_model, relabelled_gguf, monkeypatch):
    monkeypatch.setenv("ASSISTANT_N_THREADS", "2")
    monkeypatch.setenv("ASSISTANT_MAX_TOKENS", "12")
    monkeypatch.setenv("ASSISTANT_SEED", "7")
    monkeypatch.setenv("ASSISTANT_N_CTX", "2048")
    copy = home_with_model / "cache" / "models" / "gemma-copy.gguf"
    os.link(relabelled_gguf, copy)
    app = AssistantApp(Runtime(), sync_notes=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await ask(pilot, "What is the capital of France?")
        first = app.runtime.repo.messages(app.chat.controller.conversation_id)[-1]
        assert first.model == "gemma-3-270m-q4_k_m.gguf"

        await pilot.press("ctrl+l")
        await settle(pilot)
        picker = app.screen
        assert isinstance(picker, ModelPickerScreen)
        lines = {e.label: e for e in picker.entries if e.offer is None}
        assert set(lines) == {"bundled", "gemma-copy.gguf"}
        assert lines["bundled"].current and not lines["gemma-copy.gguf"].current
        for entry in lines.values():  # size, quant, parameters, context, fit
            assert "MB  Q4_K_M  268M  ctx 2048  fits" in entry.detail
        index = picker.entries.index(lines["gemma-copy.gguf"])
        picker.query_one("#models-list").highlighted = index
        await pilot.press("enter")
        await settle(pilot)  # the copy loads in its worker

        assert not isinstance(app.screen, ModelPickerScreen)
        loaded = app.runtime.model_handle.loaded
        assert loaded is not None and loaded.name == "gemma-copy.gguf"
        assert loaded.info.name == "Gemma copy"  # other metadata: really the copy
        assert "gemma-copy.gguf" in str(app.query_one(StatusLine).render())

        conversation = app.chat.controller.conversation_id
        await ask(pilot, "And of Italy?")
        assert app.chat.controller.conversation_id == conversation  # the conversation carried on
        rows = app.runtime.repo.messages(conversation)
        assert [m.role for m in rows] == [Role.USER, Role.ASSISTANT] * 2
        assert [m.model for m in rows if m.role == Role.ASSISTANT] == [
            "gemma-3-270m-q4_k_m.gguf",
            "gemma-copy.gguf",
        ]
        assert rows[-1].content.strip()
        replies = [v for v in app.chat.chat_view.views if v.role == Role.ASSISTANT]
        assert header(replies[0]) == "Assistant · gemma-3-270m-q4_k_m.gguf"
        assert header(replies[-1]) == "Assistant · gemma-copy.gguf"
        assert app.runtime.repo.get_conversation(conversation).model == "gemma-copy.gguf"


async def test_the_demo_model_is_said_and_a_real_one_downloaded_from_the_picker(
    home_with_model,
    hub,
    model_files,
    monkeypatch,
):
    """First start on the bundled model: a notice says it is a tiny demo and
    where the download is; Ctrl+L lists the recommended model first; Enter
    downloads it from the hub (here the stand-in, serving the bundled GGUF's
    bytes under that name) with progress in the status line, Esc stops it,
    choosing it again resumes, and the app goes on with the new model."""
    from assistant.chat.demo import model_offer
    from assistant.llm import fit
    from tests.hub_standin import HostedFile

    free = fit.FreeMemory(ram=32 * 10**9)
    monkeypatch.setattr(fit, "free_memory", lambda: free)
    monkeypatch.setenv("ASSISTANT_N_CTX", "2048")
    offer = model_offer(Runtime())
    assert offer is not None
    repo_id, _ = offer.ref.split(":")
    hosted = HostedFile(model_files["whole"])
    hub.add(repo_id, {"model-Q4_K_M.gguf": hosted})
    hub.pause_at = hosted.size // 2  # the body stops there until released

    app = AssistantApp(Runtime(), sync_notes=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        said = [n.message for n in app._notifications]
        assert any("tiny demo" in m and "Ctrl+L" in m for m in said), said

        await pilot.press("ctrl+l")
        await settle(pilot)
        picker = app.screen
        assert isinstance(picker, ModelPickerScreen)
        first = picker.entries[0]
        assert first.offer == offer and first.label == f"⤓ Download {offer.name}"
        assert "tiny demo" in first.detail
        # the model in use is highlighted (Enter alone downloads nothing): go up to it
        picker.query_one("#models-list").highlighted = 0
        await pilot.press("enter")
        controller = app.chat.controller
        assert await asyncio.to_thread(hub.paused.wait, 60)  # halfway
        await pilot.pause()  # (not settle: it would wait for the download's worker)
        assert f"downloading {offer.name}" in str(app.query_one(StatusLine).render())
        await pilot.press("escape")  # stops the download (no reply is being written)
        hub.release.set()  # the next bytes reach the client, which stops there
        await settle(pilot)
        assert not controller.downloading
        assert any("choose it again" in n.message for n in app._notifications)
        assert app.runtime.model_handle.loaded.name == "gemma-3-270m-q4_k_m.gguf"

        hub.pause_at = None
        served_before = hub.served(hosted.sha256)
        await pilot.press("ctrl+l")
        await settle(pilot)
        app.screen.query_one("#models-list").highlighted = 0
        await pilot.press("enter")
        await settle(pilot)
        # resumed: the bytes already here were not fetched again
        assert hub.served(hosted.sha256) - served_before < hosted.size
        loaded = app.runtime.model_handle.loaded
        assert loaded is not None and loaded.name == "model-Q4_K_M.gguf"
        assert "model-Q4_K_M.gguf" in str(app.query_one(StatusLine).render())
    assert Runtime().current_spec().model_path is not None  # the model in use from now on
