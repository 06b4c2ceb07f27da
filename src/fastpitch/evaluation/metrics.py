"""The numbers of `fastpitch eval`: DTW, mel-cepstral distortion, F0 errors, word error rate, duration error.

Every metric is a plain function of arrays, so that it can be checked on synthetic cases and reused.

- **MCD-DTW** (dB): both signals are resampled to 16 kHz (Nyquist 8 kHz = the mel's fmax, so a vocoder is not
  judged on a band the model never describes), analysed by WORLD (dio + stonemask + CheapTrick, 5 ms frames),
  and each spectral envelope becomes a 24th-order mel-cepstrum: the log amplitude on the all-pass warped
  frequency axis (alpha 0.41 at 16 kHz), c_k = 2 x real cepstrum for k >= 1, as SPTK's `mcep` defines it.
  Frames are aligned by DTW on c_1..c_24 (Euclidean cost) and
  MCD = mean over the path of 10 / ln 10 * sqrt(2 * sum_{k=1..24} (c_k - c'_k)^2); c_0 (loudness) is left out.
- **F0**: RMSE in cents (1200 * log2(f / f_ref)) and Pearson correlation of log-F0 over the frames voiced in
  both contours, and the voiced/unvoiced error rate over all frames, along a DTW path.
- **WER**: word edit distance (jiwer) over the corpus, after lower-casing and keeping only words.
- **Durations**: mean absolute error per spoken symbol, in milliseconds.
- **Frame-rate hum**: how strongly the 1-4 kHz envelope beats at the vocoder's frame rate (86 Hz at hop 256), as
  a multiple of its modulation at neighbouring rates: about 1 or less for recordings, far above for an iSTFT
  vocoder whose frames do not agree on their phases (a low voice then sounds, and tracks, at the frame rate).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Sequence

import numpy as np

from fastpitch.audio import load_pyworld, resample
from fastpitch.dtw import dtw

MCD_SAMPLE_RATE = 16000
MCD_ORDER = 24
MCD_FRAME_MS = 5.0
MCD_CONSTANT = 10.0 / math.log(10.0) * math.sqrt(2.0)
# ARPAbet consonants spoken without voicing: a pitch predicted on them is not heard as pitch.
VOICELESS = frozenset({"P", "T", "K", "F", "TH", "S", "SH", "CH", "HH"})


# ------------------------------------------------------------------------------------------------ DTW


# ------------------------------------------------------------------------------------------ cepstra, MCD


@functools.lru_cache(maxsize=8)
def all_pass_alpha(sample_rate: int) -> float:
    """The all-pass warping constant whose frequency warp best fits the mel scale at `sample_rate`
    (0.41 at 16 kHz, 0.455 at 22.05 kHz: SPTK's usual values)."""
    freqs = np.linspace(0.0, sample_rate / 2, 1000)
    mel = np.log1p(freqs / 1000.0)
    mel /= mel[-1]
    omega = np.linspace(0.0, np.pi, 1000)
    alphas = np.arange(0.0, 1.0, 0.001)[:, None]
    warped = (omega + 2 * np.arctan(alphas * np.sin(omega) / (1 - alphas * np.cos(omega)))) / np.pi
    return round(float(alphas[np.argmin(((warped - mel) ** 2).mean(axis=1)), 0]), 3)


def envelope_to_mcep(envelope: np.ndarray, alpha: float, order: int = MCD_ORDER) -> np.ndarray:
    """Mel-cepstra (T, order + 1) of power spectral envelopes (T, F) over [0, Nyquist].

    The log amplitude is resampled on the warped axis beta (omega = beta - 2 atan(alpha sin beta /
    (1 + alpha cos beta)) inverts the all-pass warp), and its cosine series gives c_0..c_order in SPTK's scaling.
    """
    n_bins = envelope.shape[1]
    beta = np.linspace(0.0, np.pi, n_bins)
    omega = beta - 2 * np.arctan(alpha * np.sin(beta) / (1 + alpha * np.cos(beta)))
    position = omega / np.pi * (n_bins - 1)  # fractional bin of each warped frequency
    low = np.clip(np.floor(position).astype(np.int64), 0, n_bins - 2)
    frac = position - low
    log_amp = 0.5 * np.log(np.maximum(envelope, 1e-30))
    warped = log_amp[:, low] * (1 - frac) + log_amp[:, low + 1] * frac
    ceps = np.fft.irfft(warped, axis=1)[:, : order + 1]
    ceps[:, 1:] *= 2.0
    return ceps


def mel_cepstrum(wav: np.ndarray, sample_rate: int, order: int = MCD_ORDER) -> np.ndarray:
    """WORLD mel-cepstra (T, order + 1) of audio, analysed at 16 kHz with 5 ms frames (see the module doc)."""
    pw = load_pyworld()
    x = np.ascontiguousarray(resample(np.asarray(wav, np.float32), sample_rate, MCD_SAMPLE_RATE), np.float64)
    if len(x) < MCD_SAMPLE_RATE * MCD_FRAME_MS / 1000:
        raise ValueError("audio too short for mel-cepstral analysis")
    f0, times = pw.dio(x, MCD_SAMPLE_RATE, frame_period=MCD_FRAME_MS)
    f0 = pw.stonemask(x, f0, times, MCD_SAMPLE_RATE)
    envelope = pw.cheaptrick(x, f0, times, MCD_SAMPLE_RATE)
    return envelope_to_mcep(envelope, all_pass_alpha(MCD_SAMPLE_RATE), order)


def mcd(ceps_a: np.ndarray, ceps_b: np.ndarray) -> np.ndarray:
    """Per-frame mel-cepstral distortion in dB of equal-length cepstra (T, D) that exclude c_0."""
    return MCD_CONSTANT * np.sqrt(((np.asarray(ceps_a) - np.asarray(ceps_b)) ** 2).sum(axis=-1))


def mcd_dtw(ceps_a: np.ndarray, ceps_b: np.ndarray) -> float:
    """MCD-DTW in dB between mel-cepstra (T, order + 1) that include c_0, which is dropped here."""
    path, _ = dtw(ceps_a[:, 1:], ceps_b[:, 1:])
    return float(mcd(ceps_a[path[:, 0], 1:], ceps_b[path[:, 1], 1:]).mean())


def mel_to_cepstrum(mel: np.ndarray, order: int = MCD_ORDER) -> np.ndarray:
    """Cepstra c_1..c_order (T, order) of a log-mel (n_mels, T) by an orthonormal DCT-II, rescaled to the
    cosine-series convention of `envelope_to_mcep`; used to align two mels of the same definition by DTW."""
    from scipy.fft import dct

    n_mels = mel.shape[0]
    return (
        dct(np.asarray(mel, np.float64), type=2, norm="ortho", axis=0)[1 : order + 1] * math.sqrt(2 / n_mels)
    ).T


# -------------------------------------------------------------------------------------------------- F0


def cents(f0: np.ndarray, f0_ref: np.ndarray) -> np.ndarray:
    """Interval from f0_ref to f0 in cents (100 per semitone); both positive."""
    return 1200.0 * np.log2(np.asarray(f0, np.float64) / np.asarray(f0_ref, np.float64))


def predicted_voicing(symbols: Sequence[str], durations: np.ndarray, frame_pitch: np.ndarray) -> np.ndarray:
    """Per-frame voicing implied by a synthesized contour: frames with a pitch (not pauses, boundaries or
    punctuation) that do not belong to a voiceless consonant. FastPitch predicts one pitch per symbol,
    voiceless ones included, so this is the only voicing decision its output makes."""
    voiceless = np.array([s.rstrip("012") in VOICELESS for s in symbols], dtype=bool)
    per_frame = np.repeat(voiceless, np.asarray(durations, np.int64))
    n = len(frame_pitch)
    per_frame = np.pad(per_frame[:n], (0, max(0, n - len(per_frame))))
    return (np.asarray(frame_pitch) > 0) & ~per_frame


def f0_along_path(
    path: np.ndarray, f0: np.ndarray, voiced: np.ndarray, f0_ref: np.ndarray, voiced_ref: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Both contours and voicing flags sampled along a DTW path (K, 2) of (frame, reference frame) pairs."""
    i = np.clip(path[:, 0], 0, len(f0) - 1)
    j = np.clip(path[:, 1], 0, len(f0_ref) - 1)
    return (
        np.asarray(f0, np.float64)[i],
        np.asarray(voiced, bool)[i],
        np.asarray(f0_ref, np.float64)[j],
        np.asarray(voiced_ref, bool)[j],
    )


def f0_scores(
    f0: np.ndarray, voiced: np.ndarray, f0_ref: np.ndarray, voiced_ref: np.ndarray
) -> dict[str, float | int | None]:
    """F0 RMSE (cents) and log-F0 correlation over frames voiced in both, and the V/UV error over all frames,
    of frame-paired contours (e.g. from `f0_along_path`)."""
    voiced = np.asarray(voiced, bool) & (np.asarray(f0) > 0)
    voiced_ref = np.asarray(voiced_ref, bool) & (np.asarray(f0_ref) > 0)
    both = voiced & voiced_ref
    n = int(both.sum())
    rmse = corr = None
    if n:
        rmse = float(np.sqrt(np.mean(cents(f0[both], f0_ref[both]) ** 2)))
    if n >= 3:
        a, b = np.log(f0[both]), np.log(f0_ref[both])
        if a.std() > 0 and b.std() > 0:
            corr = float(np.corrcoef(a, b)[0, 1])
    return {
        "rmse_cents": rmse,
        "correlation": corr,
        "vuv_error": float((voiced != voiced_ref).mean()) if len(voiced) else None,
        "voiced_frames": n,
        "frames": len(voiced),
    }


def median_f0(
    f0: np.ndarray, voiced: np.ndarray, f0_ref: np.ndarray, voiced_ref: np.ndarray
) -> dict[str, float | None]:
    """Median F0 (Hz) of each side's voiced frames: where a voice sits in pitch, whatever its contour."""

    def median(values: np.ndarray, flags: np.ndarray) -> float | None:
        values = np.asarray(values)[np.asarray(flags, bool) & (np.asarray(values) > 0)]
        return float(np.median(values)) if len(values) else None

    return {"synthesized": median(f0, voiced), "reference": median(f0_ref, voiced_ref)}


# ------------------------------------------------------------------------------------------------ WER

_NOT_WORD = re.compile(r"[^a-z']+")


def normalize_words(text: str) -> str:
    """Lower case, words only: anything but letters and apostrophes separates words; lone apostrophes and the
    recognizer's fillers ("<sil>", "[noise]") go."""
    text = re.sub(r"<[^>]*>|\[[^\]]*\]|\([^)]*\)", " ", text.lower())
    words = (w.strip("'") for w in _NOT_WORD.sub(" ", text).split())
    return " ".join(w for w in words if w)


def word_errors(references: Sequence[str], hypotheses: Sequence[str]) -> dict[str, float | int]:
    """Corpus word error rate (total edits / total reference words) and its parts, after `normalize_words`."""
    return total_word_errors(utterance_word_errors(references, hypotheses))


def utterance_word_errors(references: Sequence[str], hypotheses: Sequence[str]) -> np.ndarray:
    """Each utterance's substitutions, deletions, insertions and reference words (N, 4), after
    `normalize_words`; an utterance without reference words counts zeros: it is left out of the rate."""
    import jiwer

    counts = np.zeros((len(references), 4), np.int64)
    for k, (ref, hyp) in enumerate(zip(references, hypotheses, strict=True)):
        ref, hyp = normalize_words(ref), normalize_words(hyp)
        if ref:
            out = jiwer.process_words(ref, hyp)
            counts[k] = (
                out.substitutions,
                out.deletions,
                out.insertions,
                out.hits + out.substitutions + out.deletions,
            )
    return counts


def total_word_errors(counts: np.ndarray) -> dict[str, float | int]:
    """`word_errors` of the utterances whose `utterance_word_errors` are `counts`."""
    substitutions, deletions, insertions, words = (int(v) for v in counts.sum(axis=0))
    if words == 0:
        raise ValueError("no reference words to score")
    return {
        "wer": (substitutions + deletions + insertions) / words,
        "substitutions": substitutions,
        "deletions": deletions,
        "insertions": insertions,
        "words": words,
    }


def bootstrap_interval(
    statistic: Callable[[np.ndarray], float],
    n_items: int,
    level: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of `statistic(indices)` over `n_items` utterances drawn with replacement:
    how far a set-level figure could move with another draw of as many sentences. Systems compared on the same
    utterances take the same draw (paired), so what they share cancels. None for fewer than two utterances."""
    if n_items < 2:
        return None
    draws = np.random.default_rng(seed).integers(n_items, size=(resamples, n_items))
    values = np.array([statistic(d) for d in draws], dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return None
    tail = 50.0 * (1.0 - level)
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return float(low), float(high)


# ------------------------------------------------------------------------------------------- durations


def duration_errors_ms(
    predicted: np.ndarray, reference: np.ndarray, spoken: np.ndarray, frame_ms: float
) -> np.ndarray:
    """Absolute duration error in ms of each spoken symbol (frame durations per symbol, same length)."""
    predicted, reference = np.asarray(predicted, np.int64), np.asarray(reference, np.int64)
    if predicted.shape != reference.shape:
        raise ValueError(f"duration sequences differ in length: {predicted.shape} vs {reference.shape}")
    return np.abs(predicted - reference)[np.asarray(spoken, bool)] * frame_ms


# ------------------------------------------------------------------------------------------ frame-rate hum

HUM_BAND_HZ = (1000.0, 4000.0)  # where the harmonics are too close for one beat to hide among them
HUM_REFERENCE_HZ = (60.0, 300.0)  # the modulation rates the frame rate is compared with
HUM_WIDTH_HZ = 3.0


def frame_rate_hum(wav: np.ndarray, sample_rate: int, hop_length: int) -> float:
    """The 1-4 kHz envelope's modulation power within 1.5 Hz of `sample_rate / hop_length`, over the mean power
    of a 3 Hz band between 60 and 300 Hz: 1 when the frame rate is not special, 0 for a clip too short to say."""
    from scipy import signal

    x = np.asarray(wav, np.float64).reshape(-1)
    if len(x) < sample_rate // 2 or not np.any(x):
        return 0.0
    sos = signal.butter(4, HUM_BAND_HZ, btype="band", fs=sample_rate, output="sos")
    envelope = np.abs(signal.hilbert(signal.sosfiltfilt(sos, x)))
    power = np.abs(np.fft.rfft((envelope - envelope.mean()) * np.hanning(len(envelope)))) ** 2
    freqs = np.fft.rfftfreq(len(envelope), 1.0 / sample_rate)
    rate = sample_rate / hop_length
    peak = power[np.abs(freqs - rate) <= HUM_WIDTH_HZ / 2].sum()
    lo, hi = HUM_REFERENCE_HZ
    around = power[(freqs >= lo) & (freqs <= hi)].mean() * HUM_WIDTH_HZ / (freqs[1] - freqs[0])
    return float(peak / around) if around > 0 else 0.0
