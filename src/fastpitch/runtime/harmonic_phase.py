"""Phase from the pitch, for low voices: the iSTFT vocoder's frame-rate hum removed where it does the most harm.

The iSTFT vocoder predicts every frame's phase from the mel around it. Over a steady vowel its frames come out
with nearly the same phase, and overlap-added they repeat every hop: a hum at the frame rate (22,050 / 256 =
86 Hz) that takes over the pitch of a voice within an octave of it (README, "The iSTFT vocoder's frame-rate
hum"). The acoustic model has said what the pitch is, so each harmonic can be made to turn at its own frequency
instead: every bin of a voiced frame belongs to the harmonic nearest to it; the harmonic's centre bin advances
by 2 pi h f0 hop / sr per frame, and the bins around it keep the network's phase differences to it (a phase
vocoder's identity phase locking, Laroche & Dolson 1999, with the pitch given rather than estimated).

Measured on the shipped voice (README): it removes kal's hum (100 Hz) and lifts its DNSMOS P.808, while on heart
and slt (170-240 Hz) it cost DNSMOS and left heart's hum as it was: one pitch per symbol misses the melody inside
the symbol, which their teachers have and kal's diphones hardly do. So a piece gets it only when the median
pitch of its voiced frames is below `LOCK_BELOW_HZ`. Only sonorants are locked: the noise of fricatives and
bursts must not be turned into harmonics.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fastpitch.text.symbols import VOWELS

# kal (103-110 Hz) shifted up by as much as 6 semitones stays below it; heart and slt speak at 169-239 Hz
# (their sentence medians on the held-out set).
LOCK_BELOW_HZ = 150.0
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
    f0 = np.asarray(f0, np.float64)
    voiced = np.flatnonzero(f0 > 0)
    if voiced.size == 0:
        return spectrum
    bin_hz = sample_rate / n_fft
    bins_hz = np.arange(n_bins) * bin_hz
    # Every bin's phase advance per frame at the harmonic nearest to it (at the bin's own frequency where
    # unvoiced), integrated over the frames.
    f = np.where(f0 > 0, f0, 1.0)[:, None]
    advance = np.maximum(1.0, np.round(bins_hz / f)) * f * (2.0 * np.pi * hop / sample_rate)
    turned = np.cumsum(advance, axis=0)  # float64: a minute of frames stays within 1e-9 radians, no wrapping
    # Per voiced frame and harmonic: the rotation that gives the harmonic's centre bin its integrated phase...
    fv = f0[voiced][:, None]
    n_harmonics = int(np.ceil(sample_rate / 2 / fv.min())) + 1
    centre = np.clip(np.round(np.arange(1, n_harmonics + 1) * fv / bin_hz).astype(np.int64), 0, n_bins - 1)
    rows = voiced[:, None]
    own = spec[rows, centre]
    rotation = np.exp(1j * turned[rows, centre]) * np.conj(own) / np.maximum(np.abs(own), 1e-12)
    # ... given to every bin of the harmonic, so the bins keep the network's phase differences to its centre.
    owner = np.minimum(np.maximum(1.0, np.round(bins_hz / fv)), n_harmonics).astype(np.int64) - 1
    out = spec.copy()
    out[voiced] = spec[voiced] * rotation.astype(np.complex64)[np.arange(len(voiced))[:, None], owner]
    return out[..., None].view(np.float32)
