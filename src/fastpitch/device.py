"""Choosing the torch device a command runs on (training, benchmarks), with a clear error for a missing GPU."""

from __future__ import annotations

import torch

from fastpitch.errors import FastPitchError


def pick_device(name: str | None) -> torch.device:
    """`name` (cpu | cuda | cuda:N) checked against what this machine has; None picks CUDA when available."""
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise FastPitchError("--device cuda was asked for but no CUDA device is available")
    if device.type not in ("cpu", "cuda"):
        raise FastPitchError(f"unsupported device {name!r}; use cpu or cuda")
    return device
