"""Hub pulls against the stand-in on loopback (HF_ENDPOINT): listing, the
quant chosen by fit, split files, the cache layout (a second pull fetches
nothing), resume after a killed download, and every refusal in one sentence."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assistant.errors import ModelError
from assistant.llm.gguf_meta import describe
from assistant.llm.hub import Hub, parse_ref, quant_of
from tests.models.conftest import hub_storage


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_refs_and_quant_names():
    assert parse_ref("me/x-GGUF") == parse_ref("hf.co/me/x-GGUF")
    r = parse_ref("me/x-GGUF:q4_k_m")
    assert r is not None and (r.repo_id, r.quant) == ("me/x-GGUF", "Q4_K_M")
    r = parse_ref("me/x-GGUF/sub/file-Q8_0.gguf")
    assert r is not None and r.filename == "sub/file-Q8_0.gguf"
    r = parse_ref("me/x-GGUF@dev:Q2_K")
    assert r is not None and (r.revision, r.quant) == ("dev", "Q2_K")
    for not_a_ref in ("https://example.org/m.gguf", "./m.gguf", "/tmp/m.gguf", "qwen", "a/b/c.txt"):
        assert parse_ref(not_a_ref) is None, not_a_ref
    assert quant_of("Llama-3.2-3B-Instruct-Q4_K_M.gguf") == "Q4_K_M"
    assert quant_of("qwen2.5-1.5b-instruct-iq4_xs.gguf") == "IQ4_XS"
    assert quant_of("Q8_0/model-Q8_0-00001-of-00003.gguf") == "Q8_0"
    assert quant_of("model-UD-Q4_K_XL.gguf") == "Q4_K_XL"
    assert quant_of("model.f16.gguf") == "F16"


def test_listing_groups_quants_and_splits(hub):
    commit, variants = Hub(timeout=5).listing(parse_ref("me/gemma-GGUF"))
    assert commit == hub.repos["me/gemma-GGUF"].commit
    assert [v.label for v in variants] == ["Q2_K", "Q4_K_M", "Q8_0"]  # smallest first
    split = variants[-1]
    assert len(split.files) == 3 and all(f.sha256 for f in split.files)
    assert split.size == sum(f.size for f in split.files)
    assert not any("mmproj" in f.path for v in variants for f in v.files)


def test_quant_choice_by_fit(hub):
    h = Hub(timeout=5)
    _, variants = h.listing(parse_ref("me/gemma-GGUF"))
    ref = parse_ref("me/gemma-GGUF")
    assert h.choose(ref, variants, 10 * 2**30).label == "Q8_0"  # plenty: the largest
    assert h.choose(ref, variants, 300 * 2**20).label == "Q2_K"  # 253 MB + room does not fit
    with pytest.raises(ModelError) as err:
        h.choose(ref, variants, 2**20)
    assert "None of the 3 files" in str(err.value) and "me/gemma-GGUF:Q2_K" in str(err.value)
    assert h.choose(parse_ref("me/gemma-GGUF:q4_k_m"), variants, 2**20).label == "Q4_K_M"
    with pytest.raises(ModelError) as err:
        h.choose(parse_ref("me/gemma-GGUF:Q5_K_S"), variants, None)
    assert "has no Q5_K_S file; it has Q2_K, Q4_K_M, Q8_0." in str(err.value)


def test_pull_into_the_hub_cache_and_again_instantly(hub, model_files):
    ref = parse_ref("me/gemma-GGUF:Q4_K_M")
    seen = []
    result = Hub(timeout=5).pull(ref, progress=seen.append)
    storage = hub_storage("me/gemma-GGUF")
    commit = hub.repos["me/gemma-GGUF"].commit
    assert result.path == storage / "snapshots" / commit / "gemma-3-270m-Q4_K_M.gguf"
    assert result.path.is_symlink()  # the hub's layout: snapshots link to blobs/<sha256>
    digest = sha(model_files["whole"])
    assert result.path.resolve() == storage / "blobs" / digest
    assert (storage / "refs" / "main").read_text() == commit
    assert result.fetched_bytes == model_files["whole"].stat().st_size
    assert seen and seen[-1].done == seen[-1].total == result.fetched_bytes
    assert not list((storage / "blobs").glob("*.incomplete"))

    bodies = sum(1 for r in hub.stats.requests if "/cdn/" in r and r.startswith("GET"))
    start = time.perf_counter()
    again = Hub(timeout=5).pull(ref)
    took = time.perf_counter() - start
    assert again.path == result.path and again.fetched_bytes == 0
    assert sum(1 for r in hub.stats.requests if "/cdn/" in r and r.startswith("GET")) == bodies
    assert took < 2.0  # a listing and a HEAD; the benchmark prints the real figure


def test_split_model_is_fetched_whole_and_loads(hub, model_files):
    result = Hub(timeout=5).pull(parse_ref("me/gemma-GGUF:Q8_0"))
    assert result.path.name == "gemma-3-270m-Q8_0-00001-of-00003.gguf"
    folder = result.path.parent
    assert sorted(p.name for p in folder.iterdir()) == [
        f"gemma-3-270m-Q8_0-{n:05d}-of-00003.gguf" for n in (1, 2, 3)
    ]
    info = describe(result.path)
    assert info.parts == 3 and info.architecture == "gemma3"
    assert info.tensor_bytes == describe(model_files["whole"]).tensor_bytes

    from assistant.domain import ChatTurn, GenerationOptions, Role
    from assistant.llm.base import TextPiece
    from assistant.llm.llama import LlamaCppModel

    model = LlamaCppModel(result.path, n_ctx=512, n_threads=2, seed=1)
    text = "".join(
        e.text
        for e in model.stream(
            [ChatTurn(Role.USER, "What is the capital of France?")],
            GenerationOptions(max_tokens=12, temperature=0.0, seed=1),
        )
        if isinstance(e, TextPiece)
    )
    model.close()
    assert text.strip()


def test_resume_after_a_killed_pull_fetches_at_most_one_chunk(hub, model_files, isolated_home):
    """Killed mid-download: the resume asks only for the missing bytes, and
    what is fetched again is less than one download piece. The stand-in stops
    sending at a point inside a piece and the kill comes once the client has
    written all it can, so no byte is still in the sockets."""
    from assistant.llm.hub import DOWNLOAD_PIECE

    digest = sha(model_files["whole"])
    size = model_files["whole"].stat().st_size
    part = hub_storage("me/gemma-GGUF") / "blobs" / f"{digest}.incomplete"
    pause_at = 60 * DOWNLOAD_PIECE + DOWNLOAD_PIECE // 3  # a third into a piece
    hub.pause_at = pause_at
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant", "models", "pull", "me/gemma-GGUF:Q4_K_M"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=os.environ.copy(),
    )
    assert hub.paused.wait(60), "the pull never reached the pause"
    last, steady_since = -1, time.monotonic()
    while time.monotonic() - steady_since < 0.5:  # the client has written what it got
        now = part.stat().st_size if part.exists() else 0
        if now != last:
            last, steady_since = now, time.monotonic()
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    # the killed pull's connection stays paused (released at the end): woken
    # now, it would hand one more block to the dead socket and count it served
    hub.pause_at = None
    try:
        kept = part.stat().st_size
        served_before = hub.served(digest)
        assert kept == 60 * DOWNLOAD_PIECE  # whole pieces only

        result = Hub(timeout=5).pull(parse_ref("me/gemma-GGUF:Q4_K_M"))
        assert sha(result.path) == digest
        assert hub.stats.ranges[-1] == f"bytes={kept}-"  # asked only for what was missing
        fetched_again = pause_at - kept  # received before the kill, not yet written
        assert 0 < fetched_again < DOWNLOAD_PIECE
        assert hub.served(digest) - served_before == size - kept
    finally:
        hub.release.set()


def test_wrong_checksum_is_refused_and_deleted(hub):
    with pytest.raises(ModelError) as err:
        Hub(timeout=5).pull(parse_ref("me/broken-GGUF:Q4_K_M"))
    text = str(err.value)
    assert "does not match the hub's checksum" in text and "deleted" in text
    storage = hub_storage("me/broken-GGUF")
    assert not [p for p in (storage / "blobs").iterdir()]  # nothing kept, nothing renamed
    assert not (storage / "snapshots").exists() or not any((storage / "snapshots").rglob("*.gguf"))


@pytest.mark.parametrize(
    ("quant", "expected"),
    [("Q5_0", "cut short: it ends at 1.0 MB, inside its header"), ("Q6_K", "only 4 bytes")],
)
def test_truncated_gguf_is_refused(hub, quant, expected):
    with pytest.raises(ModelError) as err:
        Hub(timeout=5).pull(parse_ref(f"me/broken-GGUF:{quant}"))
    assert "not a usable GGUF file" in str(err.value) and expected in str(err.value)
    assert not any(hub_storage("me/broken-GGUF").rglob(f"*{quant}*.gguf"))


def test_a_download_that_ends_early_is_kept_for_resuming(hub, model_files):
    from huggingface_hub import constants

    with pytest.raises(ModelError) as err:
        Hub(timeout=5).pull(parse_ref("me/broken-GGUF:Q3_K_M"))
    assert str(err.value).endswith("run the same command again to resume.")
    digest = sha(model_files["whole"])
    part = hub_storage("me/broken-GGUF") / "blobs" / f"{digest}.incomplete"
    kept = part.stat().st_size  # whole chunks, as written before the cut
    assert kept == 25_000_000 // constants.DOWNLOAD_CHUNK_SIZE * constants.DOWNLOAD_CHUNK_SIZE
    assert not (hub_storage("me/broken-GGUF") / "blobs" / digest).exists()
    hub.repos["me/broken-GGUF"].files["short-Q3_K_M.gguf"].serve_bytes = None
    result = Hub(timeout=5).pull(parse_ref("me/broken-GGUF:Q3_K_M"))
    assert sha(result.path) == digest and hub.stats.ranges[-1] == f"bytes={kept}-"


def test_gated_repository_needs_a_granted_token(hub, monkeypatch):
    with pytest.raises(ModelError) as err:
        Hub(timeout=5).pull(parse_ref("me/gated-GGUF"))
    assert str(err.value) == (
        "me/gated-GGUF is gated: accept its conditions on its hub page, and set HF_TOKEN "
        "to a token of an account that accepted them."
    )
    monkeypatch.setenv("HF_TOKEN", "someone-else")
    with pytest.raises(ModelError) as err:
        Hub(timeout=5).pull(parse_ref("me/gated-GGUF"))
    assert "has not been granted access yet" in str(err.value)
    monkeypatch.setenv("HF_TOKEN", hub.token)
    assert Hub(timeout=5).pull(parse_ref("me/gated-GGUF")).path.is_file()


def test_missing_failing_and_slow_hubs_are_one_sentence(hub):
    cases = {
        "me/nothing-here": "There is no model repository me/nothing-here on the hub "
        "(if it is private, set HF_TOKEN).",
        "me/fails-GGUF": f"The hub at {hub.endpoint} answered 500 for me/fails-GGUF; "
        "try again later.",
        "me/slow-GGUF": f"The hub at {hub.endpoint} did not answer within 1 s; try again later.",
    }
    for repo, sentence in cases.items():
        with pytest.raises(ModelError) as err:
            Hub(timeout=1).pull(parse_ref(repo))
        assert str(err.value) == sentence


def test_unreachable_and_offline(hub, monkeypatch, model_files):
    Hub(timeout=5).pull(parse_ref("me/gemma-GGUF:Q2_K"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = Hub(timeout=5).pull(parse_ref("me/gemma-GGUF:Q2_K"))  # from the cache
    assert result.fetched_bytes == 0 and "HF_HUB_OFFLINE is set" in result.notices[0]
    with pytest.raises(ModelError) as err:
        Hub(timeout=5).pull(parse_ref("me/gemma-GGUF:Q8_0"))  # not in the cache
    assert "has no Q8_0 file" in str(err.value) or "HF_HUB_OFFLINE" in str(err.value)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(ModelError) as err:
        Hub(timeout=2).pull(parse_ref("me/other-GGUF"))
    assert "Cannot reach the hub at http://127.0.0.1:9" in str(err.value)


def test_search(hub):
    found = Hub(timeout=5).search("gemma")
    assert [r.repo_id for r in found] == ["me/gemma-GGUF"] and found[0].downloads == 500
