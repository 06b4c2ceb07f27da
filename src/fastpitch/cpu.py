"""What a benchmark says about the CPU it ran on.

Ratios between engines depend on the vector instructions: ONNX Runtime's int8 products run natively with AVX-512
VNNI and are emulated with AVX2 (fastpitch against hibari-tts measured 0.86x on a 2-core AVX2 machine and 1.04x on
a 2-core AVX-512 VNNI one), so every speed figure carries the model and the extensions beside it.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

# The extensions that decide how fast the models' products run, widest first (x86, then Arm).
SIMD = ("amx_int8", "avx512_vnni", "avx_vnni", "avx512f", "avx2", "fma", "asimddp", "asimd")
CPUINFO = Path("/proc/cpuinfo")


def describe_cpu(cpuinfo: Path = CPUINFO) -> dict[str, Any]:
    """{"model": its name, "simd": the extensions of SIMD it has, "machine": the architecture}; the model and
    extensions come from /proc/cpuinfo (Linux) and are the bare `platform` names elsewhere."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware", "cpu model") and value.strip():
            model = value.strip()
        elif key in ("flags", "features"):
            flags |= set(value.split())
    return {"model": model, "simd": [f for f in SIMD if f in flags], "machine": platform.machine()}
