"""Phase from the pitch: the iSTFT vocoder's frame-rate hum kept from taking over the voice's pitch.

The iSTFT vocoder predicts every frame's phase from the mel around it. Over a steady vowel its frames come out
with nearly the same phase, and overlap-added they repeat every hop: a hum at the frame rate (22,050 / 256 =
86 Hz) that takes over the pitch of a voice within an octave of it (README, "The iSTFT vocoder's frame-rate
hum"). The acoustic model has said what the pitch is, so each harmonic can be made to turn at its own frequency
instead: every bin of a voiced frame belongs to the harmonic nearest to it; the harmonic's centre bin advances
by 2 pi h f0 hop / sr per frame, and the bins around it keep the network's phase differences to it (a phase
vocoder's identity phase locking, Laroche & Dolson 1999, with the pitch given rather than estimated).

How many harmonics are locked follows the voice (measured on the shipped voice, README). Below
`LOCK_BELOW_HZ` (kal, and any voice shifted down there) all of them: the hum there is the voice's pitch, and
locking it lifted kal's DNSMOS P.808. Above it (heart and slt, 170-240 Hz) locking every harmonic cost DNSMOS
(one pitch per symbol misses the melody inside the symbol, which their teachers have), but the fundamental alone
(the bins below 1.5 f0) is enough to stop the hum pulling heart's pitch towards 2 x 86 Hz (a semitone low, so
`--pitch-shift 4` read x1.33) at no measurable DNSMOS P.808: the upper harmonics keep the network's phases.
Only sonorants are locked: the noise of fricatives and bursts must not be turned into harmonics.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fastpitch.text.symbols import VOWELS

# kal (103-110 Hz) shifted up by as much as 6 semitones stays below it; heart and slt speak at 169-239 Hz
# (their sentence medians on the held-out set).
LOCK_BELOW_HZ = 150.0
FUNDAMENTAL_ONLY = 1  # harmonics locked above LOCK_BELOW_HZ
SONORANTS = frozenset((*VOWELS, "M", "N", "NG", "L", "R", "W", "Y"))


def pitch_track(symbols: Sequence[str], durations: np.ndarray, pitch: np.ndarray) -> np.ndarray | None:
    """Per-frame pitch in Hz over the sonorant symbols (0 elsewhere), from each symbol's pitch and duration;
    None when no sonorant frame has a pitch."""
    sonorant = np.array([s.rstrip("012") in SONORANTS for s in symbols], dtype=bool)
    hz = np.where(sonorant, np.asarray(pitch, np.float64), 0.0)
    track = np.repeat(hz, np.asarray(durations, np.int64))
    return track if (track > 0).any() else None


def locked_harmonics(f0: np.ndarray) -> int | None:
    """How many harmonics a piece with the pitch track `f0` gets locked: None (all) for a low voice, whose
    median over the voiced frames is below `LOCK_BELOW_HZ`, else `FUNDAMENTAL_ONLY`."""
    voiced = np.asarray(f0)[np.asarray(f0) > 0]
    return None if voiced.size and np.median(voiced) < LOCK_BELOW_HZ else FUNDAMENTAL_ONLY


def lock_to_pitch(spectrum: np.ndarray, f0: np.ndarray, sample_rate: int, n_fft: int, hop: int) -> np.ndarray:
    """The iSTFT vocoder's spectrum (T, n_fft // 2 + 1, 2: real, imaginary) with the phases of the frames where
    `f0` (T,) is a pitch (above one bin, below Nyquist) turned at its harmonics' frequencies, as many harmonics
    as `locked_harmonics` says (the bins above them keep the network's phases); the other frames as they were."""
    spec = np.ascontiguousarray(spectrum, dtype=np.float32).view(np.complex64)[..., 0]
    n_frames, n_bins = spec.shape
    if len(f0) != n_frames:
        raise ValueError(f"the pitch track has {len(f0)} frames, the spectrum {n_frames}")
    bin_hz = sample_rate / n_fft
    f0 = np.asarray(f0, np.float64)
    f0 = np.where((f0 >= bin_hz) & (f0 < sample_rate / 2), f0, 0.0)
    voiced = np.flatnonzero(f0 > 0)
    if voiced.size == 0:
        return spectrum
    fv = f0[voiced][:, None]
    harmonics = locked_harmonics(f0)
    # Only the bins that some locked harmonic owns are computed (the fundamental alone: a dozen or two of 513).
    n_harmonics = int(np.ceil(sample_rate / 2 / fv.min())) + 1 if harmonics is None else harmonics
    width = n_bins if harmonics is None else min(n_bins, int(np.ceil((harmonics + 0.5) * fv.max() / bin_hz)))
    bins_hz = np.arange(width) * bin_hz
    # One phase track for the piece: the fundamental's phase at each frame's centre, integrated over the voiced
    # frames (the trapezoid between neighbours); harmonic h turns h times as fast. A frame's bin k holds a
    # component's centre phase less pi k (its time origin is the frame's first sample, n_fft / 2 earlier), so
    # the target follows a harmonic from bin to bin as the pitch moves.
    step = f0 * (2.0 * np.pi * hop / sample_rate)
    phase = (np.cumsum(step) - 0.5 * step)[voiced][:, None]  # float64: no wrapping needed
    h = np.arange(1, n_harmonics + 1)
    centre = np.clip(np.round(h * fv / bin_hz).astype(np.int64), 0, width - 1)
    rows = voiced[:, None]
    own = spec[rows, centre]
    rotation = np.exp(1j * (h * phase - np.pi * centre)) * np.conj(own) / np.maximum(np.abs(own), 1e-12)
    # Every bin of a voiced frame belongs to the harmonic nearest to it and is turned as its centre is, so the
    # bins keep the network's phase differences to the centre.
    owner = np.minimum(np.maximum(1.0, np.round(bins_hz / fv)), n_harmonics).astype(np.int64) - 1
    turn = rotation.astype(np.complex64)[np.arange(len(voiced))[:, None], owner]
    if harmonics is not None:
        turn[bins_hz[None, :] >= (harmonics + 0.5) * fv] = 1.0
    out = spec.copy()
    out[voiced, :width] = spec[voiced, :width] * turn
    return out[..., None].view(np.float32)
