"""The offer of a real model in place of the bundled demo (``chat.demo``):
what is offered and when, and the download against the hub stand-in with
progress, a stop and a resume."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from assistant.chat.demo import first_start_offer, model_offer, take_offer
from assistant.errors import Cancelled
from assistant.llm import fit
from assistant.llm.recommend import CATALOGUE
from assistant.runtime import Runtime
from tests.hub_standin import HostedFile


@pytest.fixture
def roomy(monkeypatch: pytest.MonkeyPatch) -> None:
    free = fit.FreeMemory(ram=32 * 10**9)
    monkeypatch.setattr(fit, "free_memory", lambda: free)


@pytest.fixture
def offered_repo(hub, model_files: dict[str, Path], roomy):
    """The suggested model's repository on the stand-in (the bundled GGUF's
    bytes under the name a Q4_K_M of it would have)."""
    offer = model_offer(Runtime())
    assert offer is not None
    repo, _ = offer.ref.split(":")
    hub.add(repo, {"model-Q4_K_M.gguf": HostedFile(model_files["whole"])})
    return offer


def test_the_demo_model_gets_an_offer_and_another_model_none(isolated_home, roomy, tmp_path):
    offer = model_offer(Runtime())
    assert offer is not None and offer.ref in {r.ref for r in CATALOGUE}
    assert "tiny demo" in offer.sentence and offer.name in offer.sentence
    assert model_offer(Runtime(model_path=str(tmp_path / "own.gguf"))) is None


def test_nothing_fits_no_offer(isolated_home, monkeypatch):
    free = fit.FreeMemory(ram=300 * 10**6)
    monkeypatch.setattr(fit, "free_memory", lambda: free)
    assert model_offer(Runtime()) is None


def test_taking_it_downloads_with_progress_and_makes_it_the_model(
    isolated_home, offered_repo, model_files
):
    rt = Runtime()
    seen = []
    path = take_offer(rt, offered_repo, seen.append)
    assert path.read_bytes() == model_files["whole"].read_bytes()
    assert seen and seen[-1].done == seen[-1].total == path.stat().st_size
    after = Runtime()  # a new start reads config.toml
    assert after.current_spec().model_path == path
    assert model_offer(after) is None and first_start_offer(Runtime()) is None


def offered_repo_digest(model_files: dict[str, Path]) -> str:
    return HostedFile(model_files["whole"]).sha256


def test_a_stopped_download_resumes_where_it_stopped(isolated_home, offered_repo, hub, model_files):
    rt = Runtime()
    cancel = threading.Event()
    size = model_files["whole"].stat().st_size

    def stop_halfway(p) -> None:
        if p.done >= size // 2:
            cancel.set()

    with pytest.raises(Cancelled):
        take_offer(rt, offered_repo, stop_halfway, cancel)
    assert Runtime().current_spec().model_path is None  # still the demo, nothing half-used
    seen = []
    path = take_offer(Runtime(), offered_repo, seen.append)
    assert seen[0].done >= size // 4  # what came before the stop was kept
    assert path.read_bytes() == model_files["whole"].read_bytes()
    digest = offered_repo_digest(model_files)
    assert hub.served(digest) < 1.6 * size  # not fetched twice


def test_not_now_is_remembered_at_start_only(isolated_home, roomy):
    from assistant.chat.demo import dismiss_offer

    rt = Runtime()
    assert first_start_offer(rt) is not None
    dismiss_offer(rt)
    assert first_start_offer(Runtime()) is None
    assert model_offer(Runtime()) is not None  # the model picker still offers it
