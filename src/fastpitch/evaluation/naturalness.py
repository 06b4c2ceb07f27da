"""Naturalness scores of `fastpitch eval`: DNSMOS through speechmos (MIT; its ONNX models ship in the wheel).

DNSMOS predicts the mean opinion score listeners would give a clip. It was built to rate noise suppression, so
for TTS it is a rough judge, read side by side: the voice against its reference recordings and against their
vocoder resynthesis, in the same run. Four numbers per clip:

- `p808_mos`: ITU-T P.808 overall quality (one network on a log-mel);
- `sig_mos`, `bak_mos`, `ovrl_mos`: ITU-T P.835 speech signal, background noise and overall quality.

Audio is resampled to 16 kHz. The models see 9.01 s windows, 1 s apart, whose scores are averaged. DNSMOS's
reference code doubles a shorter clip until it fills a window, which gives a 3 s clip twelve windows of the same
looped sound; here such a clip is looped to 10 s instead, one window, five times faster on two cores. On ten
corpus clips (festival slt and hibari) that moved P.808 by 0.018 and OVRL by 0.028 per clip on average, and their
means over the ten by less than 0.005.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fastpitch.audio import resample
from fastpitch.errors import FastPitchError

DNSMOS_SAMPLE_RATE = 16000
DNSMOS_KEYS = ("p808_mos", "ovrl_mos", "sig_mos", "bak_mos")
MIN_SECONDS = 0.1
LOOP_SECONDS = 10.0  # the shortest length that speechmos scores as one window


def _dnsmos_module() -> Any:
    try:
        from speechmos import dnsmos
    except ImportError:
        raise FastPitchError(
            'DNSMOS needs speechmos: pip install "fastpitch[eval]" (or evaluate with --no-mos)'
        ) from None
    return dnsmos


def check_dnsmos() -> None:
    """Fail before a long evaluation starts when speechmos is missing."""
    _dnsmos_module()


def dnsmos(wav: np.ndarray, sample_rate: int) -> dict[str, float]:
    """DNSMOS P.808, OVRL, SIG and BAK of one clip (1 = bad .. 5 = excellent)."""
    x = resample(np.asarray(wav, np.float32).reshape(-1), sample_rate, DNSMOS_SAMPLE_RATE)
    if len(x) < MIN_SECONDS * DNSMOS_SAMPLE_RATE or not np.abs(x).max(initial=0.0) > 0:
        raise ValueError(f"DNSMOS needs at least {MIN_SECONDS} s of audio that is not silence")
    n = int(LOOP_SECONDS * DNSMOS_SAMPLE_RATE)
    if len(x) < n:
        x = np.tile(x, -(-n // len(x)))[:n]
    out = _dnsmos_module().run(np.clip(x, -1.0, 1.0), DNSMOS_SAMPLE_RATE)
    return {key: float(out[key]) for key in DNSMOS_KEYS}


def mean_scores(scores: Sequence[dict[str, float]]) -> dict[str, float] | None:
    """Each DNSMOS figure averaged over clips; None for no clips."""
    if not scores:
        return None
    return {key: float(np.mean([s[key] for s in scores])) for key in DNSMOS_KEYS}
