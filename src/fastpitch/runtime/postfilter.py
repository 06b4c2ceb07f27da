"""The mel post-filter: the acoustic model's spectral envelope sharpened before the vocoder renders it.

FastPitch learns its mel by mean squared error, so it predicts the average of what the speaker might say: its
formant peaks are lower and its valleys shallower than a recording's (over-smoothing). The vocoder learned from
recordings' mels and renders the smooth ones muffled. HTS voices, festival's among them, answer this with a
post-filter on each frame's mel-cepstrum (Yoshimura et al., 1999; SPTK's `mcpf`): the coefficients above c1 are
scaled by 1 + beta, which deepens the envelope's peaks and valleys while c0 and c1 keep its level and tilt, and
the frame's energy is then restored. Here the cepstrum is the orthonormal DCT of the log-mel frame, so the whole
filter is one (n_mels, n_mels) matrix, and the energy is the frame's summed linear mel power.

It works frame by frame (streaming and batching see the same audio) and costs a small matrix product per piece
(about 0.1 ms for 4 s of speech).
Measured on the shipped voice (its model card): beta 0.4 lifts heart's DNSMOS P.808 by 0.13 on 20 held-out
sentences and 0.15 on 100; past about 0.8 it starts to cost intelligibility. Recordings' mels are not smooth, so the
filter is for predicted mels only: vocoder resynthesis and training never see it.
"""

from __future__ import annotations

import functools

import numpy as np

from fastpitch.audio import LOG_CLAMP

KEPT = 2  # c0 (level) and c1 (tilt) pass unchanged


@functools.lru_cache(maxsize=8)
def _matrix(n_mels: int, beta: float) -> np.ndarray:
    """DCT-II (orthonormal), the coefficients from c2 up scaled by 1 + beta, inverse DCT: one matrix."""
    k = np.arange(n_mels)[:, None]
    n = np.arange(n_mels)[None, :]
    dct = np.sqrt(2.0 / n_mels) * np.cos(np.pi * k * (2 * n + 1) / (2 * n_mels))
    dct[0] /= np.sqrt(2.0)
    gain = np.ones(n_mels)
    gain[KEPT:] += beta
    return (dct.T * gain) @ dct


def _log_power(mel: np.ndarray) -> np.ndarray:
    """Each frame's log of its summed linear mel power (a log-sum-exp over the bins)."""
    peak = mel.max(axis=0)
    return peak + np.log(np.exp(mel - peak).sum(axis=0))


def sharpen(mel: np.ndarray, beta: float) -> np.ndarray:
    """The (n_mels, T) log mel with each frame's envelope sharpened by `beta` (0 returns it unchanged) and its
    energy kept; values stay at or above the mel's floor, log(LOG_CLAMP)."""
    if beta == 0.0 or mel.shape[-1] == 0:
        return mel
    # numpy's own loop, not BLAS: OpenBLAS's threads spin against the models' own (at two threads the whole
    # synthesis ran at half speed), and limiting them is process-wide, which concurrent requests would race on.
    out = np.einsum("ij,jt->it", _matrix(mel.shape[0], float(beta)).astype(mel.dtype), mel)
    out -= (_log_power(out) - _log_power(mel))[None, :]
    return np.maximum(out, np.log(LOG_CLAMP)).astype(mel.dtype, copy=False)
