"""Will a model fit? Memory estimate, free memory, and the default context.

The estimate is what llama.cpp keeps resident: the weights (tensor bytes), the
KV cache for the chosen context (f16 K and V on every attention layer, as the
app loads models with a full-size sliding-window cache) and a working set for
the compute graph of one 512-token batch. It is compared with the memory the
OS reports as available (``psutil``), and with free VRAM when llama.cpp was
built with GPU offload and the driver reports it (``nvidia-smi``).

Decision: a model "fits" when the estimate is at most ``USABLE_SHARE`` of what
is free, so the rest of the machine keeps some room; the default context is
the largest of the trained length and its halvings (down to 2,048 tokens)
that fits that way. One whose estimate is more than all that is free ("too
big") is refused before loading (``refusal``), with the sentence saying what
would fit: llama.cpp would allocate its KV cache, touch it, and be killed.

"Free" is the least of what the OS reports as available and the room left
under a memory limit on this process: ``ulimit -v`` (RLIMIT_AS, against the
address space already mapped) and a container's cgroup limit (v2
``memory.max``, v1 ``memory.limit_in_bytes``, less what the group uses, its
inactive page cache counted as free). psutil alone reports the host's memory
inside a container.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from assistant.llm.gguf_meta import GGUFInfo

USABLE_SHARE = 0.85
MIN_CONTEXT = 2048
BATCH = 64  # the app's llama.cpp batch and micro-batch (llama.EVAL_BATCH: see there)
RUNTIME_BYTES = 48 * 2**20  # llama.cpp's own buffers, the repacked weights, the output row
# Bits per weight of common quants (llama-like models), smallest first, for suggestions.
QUANT_BITS: tuple[tuple[str, float], ...] = (
    ("IQ2_XS", 2.4),
    ("Q2_K", 3.0),
    ("Q3_K_S", 3.5),
    ("Q3_K_M", 3.9),
    ("IQ4_XS", 4.3),
    ("Q4_K_M", 4.9),
    ("Q5_K_M", 5.7),
    ("Q6_K", 6.6),
    ("Q8_0", 8.5),
)


def gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


@dataclass(frozen=True)
class MemoryEstimate:
    weights: int
    kv_cache: int
    compute: int
    n_ctx: int

    @property
    def total(self) -> int:
        return self.weights + self.kv_cache + self.compute


@dataclass(frozen=True)
class FreeMemory:
    ram: int  # bytes the OS can give without swapping
    vram: int | None = None  # free bytes on the GPU, when known
    gpu_build: bool = False

    def usable(self, on_gpu: bool) -> tuple[int, str]:
        if on_gpu and self.vram is not None:
            return int(self.vram * USABLE_SHARE), "VRAM"
        return int(self.ram * USABLE_SHARE), "RAM"

    def plus(self, freed: int) -> FreeMemory:
        """What is free once ``freed`` bytes are given back (a model switched out)."""
        return FreeMemory(self.ram + freed, self.vram, self.gpu_build)


@dataclass(frozen=True)
class Fit:
    estimate: MemoryEstimate
    usable: int
    where: str  # "RAM" or "VRAM"

    @property
    def fits(self) -> bool:
        return self.estimate.total <= self.usable

    @property
    def label(self) -> str:
        """``fits``, ``tight`` (within the last 15% of free memory) or ``too big``."""
        if self.fits:
            return "fits"
        if self.estimate.total <= self.usable / USABLE_SHARE:
            return "tight"
        return "too big"

    def describe(self) -> str:
        return (
            f"{self.label}: about {gb(self.estimate.total)} at {self.estimate.n_ctx} tokens "
            f"of {gb(self.usable / USABLE_SHARE)} free {self.where}"
        )


def estimate(info: GGUFInfo, n_ctx: int) -> MemoryEstimate:
    compute = RUNTIME_BYTES + BATCH * (info.embedding_length + info.feed_forward_length) * 16
    return MemoryEstimate(
        weights=info.tensor_bytes,
        kv_cache=info.kv_bytes_per_token * n_ctx,
        compute=compute,
        n_ctx=n_ctx,
    )


def free_memory() -> FreeMemory:
    import psutil

    from assistant.llm.llama import gpu_offload_supported

    gpu = gpu_offload_supported()
    ram = int(psutil.virtual_memory().available)
    for room in (_rlimit_room(), cgroup_room()):
        if room is not None:
            ram = max(0, min(ram, room))
    return FreeMemory(ram, _free_vram() if gpu else None, gpu)


# a limit this large is no limit (cgroup v1 writes "unlimited" as 2**63 rounded to a page)
_NO_LIMIT = 1 << 60


def _rlimit_room() -> int | None:
    """Address space left under ``ulimit -v`` (None: no such limit)."""
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY or soft >= _NO_LIMIT:
        return None
    import psutil

    return int(soft) - int(psutil.Process().memory_info().vms)


def cgroup_room(
    root: Path = Path("/sys/fs/cgroup"), membership: Path = Path("/proc/self/cgroup")
) -> int | None:
    """Memory left under this process's cgroup limit (None: no limit found).
    Looked for in the process's own group, then at the root of the mount (a
    container sees its own group there)."""
    try:
        lines = membership.read_text(encoding="ascii").splitlines()
    except OSError:
        lines = []
    v2 = next((line[3:] for line in lines if line.startswith("0::")), None)
    v1 = next(
        (line.split(":", 2)[2] for line in lines if ":memory:" in line or ":memory," in line), None
    )
    candidates = []
    for path in filter(None, [v2, "/"]):
        group = root / path.lstrip("/")
        candidates.append((group / "memory.max", group / "memory.current", "inactive_file"))
    for path in filter(None, [v1, "/"]):
        group = root / "memory" / path.lstrip("/")
        candidates.append(
            (
                group / "memory.limit_in_bytes",
                group / "memory.usage_in_bytes",
                "total_inactive_file",
            )
        )
    for limit_file, usage_file, inactive_key in candidates:
        try:
            limit_text = limit_file.read_text(encoding="ascii").strip()
            usage = int(usage_file.read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            continue
        if limit_text == "max" or not limit_text.isdigit() or int(limit_text) >= _NO_LIMIT:
            continue  # this level has no limit; a lower one may
        inactive = 0
        try:
            for line in (limit_file.parent / "memory.stat").read_text("ascii").splitlines():
                key, _, value = line.partition(" ")
                if key == inactive_key:
                    inactive = int(value)
        except (OSError, ValueError):
            pass
        return int(limit_text) - usage + inactive
    return None


def _free_vram() -> int | None:
    """Free memory of the first NVIDIA GPU, if its driver tool answers (else None)."""
    tool = shutil.which("nvidia-smi")
    if tool is None:
        return None
    try:
        out = subprocess.run(
            [tool, "--query-gpu=memory.free", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout
        return int(out.split()[0]) * 2**20
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def check_fit(info: GGUFInfo, n_ctx: int, free: FreeMemory, on_gpu: bool = False) -> Fit:
    usable, where = free.usable(on_gpu)
    return Fit(estimate(info, n_ctx), usable, where)


def context_choices(trained: int) -> list[int]:
    """The trained length and its halvings down to ``MIN_CONTEXT``, largest first."""
    choices = [trained]
    n = 1 << (max(trained - 1, 1)).bit_length() - 1  # the power of two below trained
    while n >= MIN_CONTEXT:
        if n < trained:
            choices.append(n)
        n //= 2
    return choices


def default_context(info: GGUFInfo, free: FreeMemory, on_gpu: bool = False) -> int:
    """The largest context that fits, up to the trained length; the smallest
    choice when none does (the load then warns)."""
    choices = context_choices(max(info.trained_context, 256))
    for n_ctx in choices:
        if check_fit(info, n_ctx, free, on_gpu).fits:
            return n_ctx
    return min(choices[-1], info.trained_context)


def refusal(
    info: GGUFInfo,
    n_ctx: int,
    free: FreeMemory,
    *,
    on_gpu: bool = False,
    label: str | None = None,
    context_fixed: bool = False,
) -> str | None:
    """The sentence refusing to load at ``n_ctx`` when the estimate is more
    than all that is free ("too big"), naming what would fit; None otherwise
    (a "tight" fit loads, with ``advice`` as a warning)."""
    if check_fit(info, n_ctx, free, on_gpu).label != "too big":
        return None
    text = advice(info, n_ctx, free, on_gpu=on_gpu, label=label, context_fixed=context_fixed)
    return f"Not loaded: {text}" if text else None


def download_fits(file_bytes: int, usable: int) -> bool:
    """Before a download only the file's size is known: it fits when the
    weights plus a fifth (at least 256 MB) for a modest context and the
    compute buffers fit in ``usable`` bytes."""
    return file_bytes + max(file_bytes // 5, 256 * 2**20) <= usable


def quant_for_bits(bits: float) -> str | None:
    """The largest common quant of at most ``bits`` bits per weight."""
    fitting = [name for name, b in QUANT_BITS if b <= bits]
    return fitting[-1] if fitting else None


def advice(
    info: GGUFInfo,
    n_ctx: int,
    free: FreeMemory,
    *,
    on_gpu: bool = False,
    label: str | None = None,
    context_fixed: bool = False,
) -> str | None:
    """One sentence when the model will not fit at ``n_ctx``, saying what
    would: a smaller context, or a smaller quant. None when it fits."""
    fit = check_fit(info, n_ctx, free, on_gpu)
    if fit.fits:
        return None
    name = label or info.name
    head = (
        f"{name} needs about {gb(fit.estimate.total)} at a context of {n_ctx} tokens "
        f"but {gb(fit.usable / USABLE_SHARE)} of {fit.where} is free"
    )
    smaller = [c for c in context_choices(info.trained_context) if c < n_ctx]
    fitting = next((c for c in smaller if check_fit(info, c, free, on_gpu).fits), None)
    if fitting is not None:
        how = "set n_ctx" if not context_fixed else "lower n_ctx"
        return f"{head}: a context of {fitting} tokens would fit ({how} = {fitting})."
    base = estimate(info, min(n_ctx, MIN_CONTEXT))
    room = fit.usable - base.kv_cache - base.compute
    bits = room * 8 / info.parameters if info.parameters else 0.0
    quant = quant_for_bits(bits)
    if quant is None:
        return f"{head}, even at {MIN_CONTEXT} tokens of context and in its smallest quants."
    return (
        f"{head}, even at {MIN_CONTEXT} tokens of context: a smaller quant such as {quant} "
        f"(about {bits:.1f} bits per weight) would fit."
    )
