"""Phase from the pitch, for low voices: the iSTFT vocoder's frame-rate hum removed where it does the most harm.

The iSTFT vocoder predicts every frame's phase from the mel around it. Over a steady vowel its frames come out
with nearly the same phase, and overlap-added they repeat every hop: a hum at the frame rate (22,050 / 256 =
86 Hz) that takes over the pitch of a voice within an octave of it (README, "The iSTFT vocoder's frame-rate
hum"). The acoustic model has said what the pitch is, so each harmonic can be made to turn at its own frequency
instead: every bin of a voiced frame belongs to the harmonic nearest to it; the harmonic's centre bin advances
by 2 pi h f0 hop / sr per frame, and the bins around it keep the network's phase differences to it (a phase
vocoder's identity phase locking, Laroche & Dolson 1999, with the pitch given rather than estimated).

Measured on the shipped voice (README): it removes kal's hum (100 Hz) and lifts its DNSMOS, while on heart and
slt (170-190 Hz), whose hum is milder, it cost DNSMOS; so a piece gets it only when the median pitch of its
voiced frames is below `LOCK_BELOW_HZ`. Only sonorants are locked: the noise of fricatives and bursts must not
be turned into harmonics.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fastpitch.text.symbols import VOWELS

LOCK_BELOW_HZ = 130.0  # 1.5 x the hum's 86 Hz: kal (100 Hz) and kdl (fine-tuning's test speaker) are below it
SONORANTS = frozenset((*VOWELS, "M", "N", "NG", "L", "R", "W", "Y"))


def pitch_track(symbols: Sequence[str], durations: np.ndarray, pitch: np.ndarray) -> np.ndarray | None:
    """Per-frame pitch in Hz over the sonorant symbols (0 elsewhere), from each symbol's pitch and duration;
    None when the piece is not a low voice's (the median over those frames is not below `LOCK_BELOW_HZ`)."""
    sonorant = np.array([s.rstrip("012") in SONORANTS for s in symbols], dtype=bool)
    hz = np.where(sonorant, np.asarray(pitch, np.float64), 0.0)
    track = np.repeat(hz, np.asarray(durations, np.int64))
    voiced = track[track > 0]
    if voiced.size == 0 or np.median(voiced) >= LOCK_BELOW_HZ:
        return None
    return track


def lock_to_pitch(spectrum: np.ndarray, f0: np.ndarray, sample_rate: int, n_fft: int, hop: int) -> np.ndarray:
    """The iSTFT vocoder's spectrum (T, n_fft // 2 + 1, 2: real, imaginary) with the phases of the frames where
    `f0` (T,) is above 0 turned at its harmonics' frequencies; the other frames as they were."""
    spec = np.ascontiguousarray(spectrum, dtype=np.float32).view(np.complex64)[..., 0]
    n_frames, n_bins = spec.shape
    if len(f0) != n_frames:
        raise ValueError(f"the pitch track has {len(f0)} frames, the spectrum {n_frames}")
    voiced = np.asarray(f0) > 0
    if not voiced.any():
        return spectrum
    bin_hz = sample_rate / n_fft
    f = np.where(voiced, f0, 1.0)[:, None]
    harmonic = (
        np.maximum(1.0, np.round(np.arange(n_bins) * bin_hz / f)) * f
    )  # Hz of the harmonic owning a bin
    centre = np.clip(np.round(harmonic / bin_hz).astype(np.int64), 0, n_bins - 1)
    advance = np.remainder(2.0 * np.pi * harmonic * hop / sample_rate, 2.0 * np.pi)
    rows = np.arange(n_frames)[:, None]
    turned = np.cumsum(advance, axis=0)[rows, centre]  # each bin's integrated phase, read at its centre bin
    own = spec[rows, centre]
    rotation = np.exp(1j * turned) * np.conj(own) / np.maximum(np.abs(own), 1e-12)
    locked = np.where(voiced[:, None], spec * rotation, spec).astype(np.complex64)
    return locked[..., None].view(np.float32)
