"""The FastPitch acoustic model, its learned aligner and its loss."""

from __future__ import annotations

from fastpitch.models.fastpitch import FastPitch
from fastpitch.models.flops import count_flops_per_frame
from fastpitch.models.loss import FastPitchLoss

__all__ = ["FastPitch", "FastPitchLoss", "count_flops_per_frame"]
