"""A short, curated list of chat models to pull instead of the bundled demo.

The bundled Gemma 3 270M is a *base* model: it has never been taught to
chat, so it is a demo of the app, not an assistant. These are instruction
models under open licences (Apache-2.0) with official or well-known GGUF
repositories on the Hugging Face hub, best first. ``recommend`` keeps the
ones whose memory need (weights, the KV cache of an 8,192-token context and
llama.cpp's buffers, worked out from each model's layer and head counts)
fits in the memory free now, in VRAM with a GPU build.

The list is data: when newer models are better, it is changed here and
nowhere else.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from assistant.llm.fit import FreeMemory

CONTEXT = 8192  # the context the memory figures are for
_BUFFERS = 300_000_000  # llama.cpp's compute buffers and runtime, roughly


def _kv(layers: int, kv_heads: int, head_dim: int) -> int:
    """f16 K and V for ``CONTEXT`` tokens."""
    return layers * kv_heads * head_dim * 2 * 2 * CONTEXT


@dataclass(frozen=True)
class Recommendation:
    ref: str  # what `assistant models pull` takes
    name: str
    parameters: str
    file_bytes: int  # the Q4_K_M file(s)
    memory_bytes: int  # to run with an 8,192-token context
    licence: str
    languages: str
    why: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _r(ref: str, name: str, params: str, file_gb: float, kv: int, licence: str,
       languages: str, why: str) -> Recommendation:  # fmt: skip
    size = int(file_gb * 1e9)
    return Recommendation(ref, name, params, size, size + kv + _BUFFERS, licence, languages, why)


CATALOGUE: tuple[Recommendation, ...] = (
    _r(
        "Qwen/Qwen2.5-14B-Instruct-GGUF:Q4_K_M",
        "Qwen2.5 14B Instruct",
        "14.8B",
        8.99,
        _kv(48, 8, 128),
        "Apache-2.0",
        "29 languages, Chinese included",
        "the best answers and writing of this list, for a machine with room to spare",
    ),
    _r(
        "Qwen/Qwen2.5-7B-Instruct-GGUF:Q4_K_M",
        "Qwen2.5 7B Instruct",
        "7.6B",
        4.68,
        _kv(28, 4, 128),
        "Apache-2.0",
        "29 languages, Chinese included",
        "strong all-round chat, grounded answers and writing at a speed a CPU can serve",
    ),
    _r(
        "unsloth/Qwen3-4B-Instruct-2507-GGUF:Q4_K_M",
        "Qwen3 4B Instruct 2507",
        "4.0B",
        2.50,
        _kv(36, 8, 128),
        "Apache-2.0",
        "100+ languages, Chinese included",
        "the best small model here: answers directly (no thinking phase), calls tools",
    ),
    _r(
        "Qwen/Qwen2.5-1.5B-Instruct-GGUF:Q4_K_M",
        "Qwen2.5 1.5B Instruct",
        "1.5B",
        1.12,
        _kv(28, 2, 128),
        "Apache-2.0",
        "29 languages, Chinese included",
        "quick on any laptop; good for short answers and notes, weaker at long writing",
    ),
    _r(
        "HuggingFaceTB/SmolLM2-1.7B-Instruct-GGUF:Q4_K_M",
        "SmolLM2 1.7B Instruct",
        "1.7B",
        1.06,
        _kv(24, 32, 64),
        "Apache-2.0",
        "English",
        "a small, fully open model (open data too), English only",
    ),
    _r(
        "Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M",
        "Qwen2.5 0.5B Instruct",
        "0.5B",
        0.49,
        _kv(24, 2, 64),
        "Apache-2.0",
        "29 languages, Chinese included",
        "the smallest that follows instructions: still far better than the bundled demo",
    ),
)


def recommend(free: FreeMemory, on_gpu: bool = False) -> tuple[list[Recommendation], int, str]:
    """The catalogue's models that fit in the memory free now, best first;
    with the usable bytes and where ("RAM" or "VRAM")."""
    usable, where = free.usable(on_gpu)
    return [r for r in CATALOGUE if r.memory_bytes <= usable], usable, where


# Without a GPU, a reply is paced by how fast the CPU reads the weights: about
# 2.5 GB of them per token is where a few cores fall below reading speed.
CPU_COMFORT_BYTES = 2_600_000_000


def suggested(fitting: list[Recommendation], on_gpu: bool) -> Recommendation | None:
    """The one to offer first: the best that fits, and without a GPU the best
    a CPU answers at reading speed (the bigger ones stay on the list)."""
    if on_gpu:
        return fitting[0] if fitting else None
    quick = [r for r in fitting if r.file_bytes <= CPU_COMFORT_BYTES]
    return quick[0] if quick else (fitting[-1] if fitting else None)


@dataclass(frozen=True)
class MachineFit:
    """The catalogue against this machine now: what fits, the usable bytes
    and where, and the one to suggest first."""

    fitting: list[Recommendation]
    usable: int
    where: str
    on_gpu: bool
    pick: Recommendation | None


def for_this_machine() -> MachineFit:
    """``recommend`` and ``suggested`` for the memory free now (VRAM with a
    GPU build that offloads)."""
    from assistant.llm import fit
    from assistant.llm.llama import gpu_offload_supported

    free = fit.free_memory()
    on_gpu = free.gpu_build and gpu_offload_supported()
    fitting, usable, where = recommend(free, on_gpu)
    return MachineFit(fitting, usable, where, on_gpu, suggested(fitting, on_gpu))
