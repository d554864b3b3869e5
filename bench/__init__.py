"""Benchmarks that print ratios measured side by side in one run (see README.md)."""

from __future__ import annotations

import platform

_WANTED = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8")


def cpu_flags() -> str:
    """The CPU model and the SIMD flags that decide int8/fp32 speed, for every figure."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name") and ":" in line:
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and ":" in line:
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    have = [f for f in _WANTED if f in flags]
    return f"{model}; {', '.join(have) or 'no AVX2'}"
