"""Model files for the model tests: the bundled GGUF whole and split in three,
a tiny GGUF written with the ``gguf`` package, a copy with other metadata,
and files that are cut short."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tests.hub_standin import HostedFile, HubStandIn, write_split


def write_tiny_gguf(path: Path, name: str = "tiny", n_floats: int = 262_144) -> Path:
    """A small but whole GGUF (a llama-like header and two float tensors)."""
    from gguf import GGUFWriter

    writer = GGUFWriter(path, "llama")
    writer.add_name(name)
    writer.add_context_length(2048)
    writer.add_block_count(1)
    writer.add_embedding_length(64)
    writer.add_feed_forward_length(128)
    writer.add_head_count(4)
    writer.add_head_count_kv(4)
    writer.add_tensor("token_embd.weight", np.ones(n_floats, dtype=np.float32).reshape(-1, 64))
    writer.add_tensor("output_norm.weight", np.ones(64, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def write_relabelled_copy(
    source: Path, target: Path, name: str, chat_template: str | None = None
) -> Path:
    """A copy of a GGUF with different metadata (``general.name``, a
    ``general.description`` and, when given, ``tokenizer.chat_template``),
    written with the ``gguf`` package: every other key and every tensor copied
    as read."""
    from gguf import GGUFValueType, GGUFWriter

    from assistant.llm.gguf_meta import _reader_class

    class FullReader(_reader_class()):  # type: ignore[misc]
        """Keeps string arrays (the vocabulary) so they can be written back."""

        def _get_field_parts(self, orig_offs: int, raw_type: int):  # type: ignore[no-untyped-def]
            from gguf import GGUFReader

            return GGUFReader._get_field_parts(self, orig_offs, raw_type)

    reader = FullReader(source)
    arch = str(reader.fields["general.architecture"].contents())
    writer = GGUFWriter(target, arch)
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key in ("general.architecture", "general.name"):
            continue
        vtype = field.types[0]
        if vtype == GGUFValueType.ARRAY:
            writer.add_key_value(key, field.contents(), vtype, sub_type=field.types[-1])
        else:
            writer.add_key_value(key, field.contents(), vtype)
    writer.add_name(name)
    writer.add_description("A relabelled copy for the switching test.")
    if chat_template is not None:
        writer.add_chat_template(chat_template)
    for t in reader.tensors:  # quantized data comes as bytes, shaped as the writer wants
        writer.add_tensor(t.name, t.data, raw_dtype=t.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return target


@pytest.fixture(scope="session")
def model_files(bundled_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("hub-files")
    split_dir = base / "split"
    split_dir.mkdir()
    parts = write_split(bundled_gguf, split_dir, 3)
    cut = base / "cut.gguf"
    with open(bundled_gguf, "rb") as src:
        cut.write_bytes(src.read(1_000_000))
    four = base / "four.gguf"
    four.write_bytes(b"GGUF")
    files = {
        "whole": bundled_gguf,
        "tiny": write_tiny_gguf(base / "tiny.gguf"),
        "cut": cut,
        "four": four,
    }
    files.update({f"part{n}": p for n, p in enumerate(parts, start=1)})
    return files


@pytest.fixture
def hub(model_files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The stand-in with the test repositories, HF_ENDPOINT pointing at it and
    HF_HOME in the test's folder."""
    with HubStandIn() as standin:
        f = model_files
        standin.add(
            "me/gemma-GGUF",
            {
                "gemma-3-270m-Q4_K_M.gguf": HostedFile(f["whole"]),
                "tiny-Q2_K.gguf": HostedFile(f["tiny"]),
                "mmproj-F16.gguf": HostedFile(f["tiny"]),
                **{
                    f"Q8_0/gemma-3-270m-Q8_0-{n:05d}-of-00003.gguf": HostedFile(f[f"part{n}"])
                    for n in (1, 2, 3)
                },
            },
            downloads=500,
        )
        standin.add("me/gated-GGUF", {"tiny-Q4_0.gguf": HostedFile(f["tiny"])}, gated=True)
        standin.add("me/fails-GGUF", {"tiny-Q4_0.gguf": HostedFile(f["tiny"])}, status=500)
        standin.add("me/slow-GGUF", {"tiny-Q4_0.gguf": HostedFile(f["tiny"])}, hang=4.0)
        standin.add(
            "me/broken-GGUF",
            {
                "corrupt-Q4_K_M.gguf": HostedFile(f["whole"], corrupt_at=5_000_000),
                "cut-Q5_0.gguf": HostedFile(f["cut"]),
                "four-Q6_K.gguf": HostedFile(f["four"]),
                "short-Q3_K_M.gguf": HostedFile(f["whole"], serve_bytes=25_000_000),
            },
        )
        monkeypatch.setenv("HF_ENDPOINT", standin.endpoint)
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
        for key in ("HF_HUB_OFFLINE", "HF_TOKEN", "HF_HUB_CACHE", "XDG_CACHE_HOME"):
            monkeypatch.delenv(key, raising=False)
        monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
        yield standin


def hub_storage(repo_id: str) -> Path:
    return Path(os.environ["HF_HOME"]) / "hub" / ("models--" + repo_id.replace("/", "--"))
