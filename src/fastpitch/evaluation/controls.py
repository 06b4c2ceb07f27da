"""Do the controls do what they say? Measured on the audio, not on the model's inputs.

`--pitch-shift 4` promises a median F0 2^(4/12) times higher, `--pace 0.5` twice the length. A model obeys its
pitch input only over the range of pitch it was trained on (a voice taught by one speaker's narrow melody
saturates a few semitones out), so the response is measured per speaker with a pitch tracker (WORLD dio, the
one the features use) over a sweep of shifts, and the pace response from the audio's length.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fastpitch.audio import extract_f0
from fastpitch.config import AudioConfig
from fastpitch.evaluation.metrics import bootstrap_interval

SHIFTS = (-12.0, -8.0, -4.0, -2.0, 2.0, 4.0, 8.0, 12.0)
PACES = (0.5, 2.0)
PITCH_TARGET = (4.0, 0.03)  # shift in semitones, tolerance on the F0 ratio
PACE_TARGET = (0.5, 0.05)  # pace, tolerance on the length ratio


def voiced_f0(clips: Sequence[np.ndarray], cfg: AudioConfig) -> list[np.ndarray]:
    """Each clip's F0 (Hz) over its voiced frames."""
    return [f0[f0 > 0] for f0, _ in (extract_f0(np.asarray(c, np.float64), cfg) for c in clips)]


def _pooled_median(f0s: Sequence[np.ndarray]) -> float:
    """The median F0 (Hz) over the voiced frames of all clips; 0 when nothing is voiced."""
    pooled = np.concatenate(f0s) if len(f0s) else np.zeros(0)
    return float(np.median(pooled)) if pooled.size else 0.0


def _ratio_interval(shifted: list[np.ndarray], plain: list[np.ndarray]) -> tuple[float, float] | None:
    """95 % bootstrap interval of the pooled-median ratio over the sentences (each draw takes a sentence's
    shifted and plain clips together): how much the sweep's few sentences decide the ratio."""

    def ratio(draw: np.ndarray) -> float:
        base = _pooled_median([plain[i] for i in draw])
        return _pooled_median([shifted[i] for i in draw]) / base if base > 0 else float("nan")

    return bootstrap_interval(ratio, len(plain), resamples=1000)


def control_response(
    tts: Any,
    sentences: Sequence[str],
    speakers: Sequence[int] | None = None,
    shifts: Sequence[float] = SHIFTS,
    paces: Sequence[float] = PACES,
) -> dict[str, Any]:
    """Per speaker of `tts` (a `SpeechEngine`): the F0 ratio and semitones measured for each pitch shift, the
    length ratio for each pace, and whether the targets (`PITCH_TARGET`, `PACE_TARGET`) are met."""
    cfg = tts.voice.audio
    result: dict[str, Any] = {}
    for speaker in range(len(tts.speakers)) if speakers is None else speakers:

        def speak(speaker: int = speaker, **controls: float) -> list[np.ndarray]:
            return [tts.synthesize(s, speaker=speaker, **controls)[0] for s in sentences]

        plain = speak()
        plain_f0 = voiced_f0(plain, cfg)
        base_f0, base_len = _pooled_median(plain_f0), sum(len(c) for c in plain)
        pitch = []
        for shift in shifts:
            shifted_f0 = voiced_f0(speak(pitch_shift=shift), cfg)
            f0 = _pooled_median(shifted_f0)
            ratio = f0 / base_f0 if base_f0 > 0 and f0 > 0 else None
            pitch.append(
                {
                    "shift": shift,
                    "ratio": ratio,
                    "ratio_95": None if ratio is None else _ratio_interval(shifted_f0, plain_f0),
                    "wanted": 2.0 ** (shift / 12.0),
                    "semitones": None if ratio is None else 12.0 * float(np.log2(ratio)),
                }
            )
        pace = [
            {"pace": p, "length_ratio": sum(len(c) for c in speak(pace=p)) / base_len, "wanted": 1.0 / p}
            for p in paces
        ]
        result[tts.speakers[speaker]] = {
            "median_f0_hz": base_f0,
            "pitch": pitch,
            "pace": pace,
            "pitch_target_met": _met(pitch, "shift", PITCH_TARGET, "ratio"),
            "pace_target_met": _met(pace, "pace", PACE_TARGET, "length_ratio"),
        }
    return {"sentences": len(sentences), "speakers": result}


def _met(rows: list[dict[str, Any]], key: str, target: tuple[float, float], measured: str) -> bool | None:
    """Whether the row at the target setting is within its relative tolerance; None where it was not measured."""
    setting, tolerance = target
    for row in rows:
        if row[key] == setting:
            value = row[measured]
            return value is not None and abs(value / row["wanted"] - 1.0) <= tolerance
    return None
