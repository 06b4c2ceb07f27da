"""Monotonic alignment search compiled with numba: the loops of `fastpitch.models.aligner.mas`, which documents
what they compute. Kept in its own module so that importing the model (to synthesize) does not import numba.

Faster than the numpy version it replaced, which stepped one frame at a time over the whole batch: for 24
utterances of 600 frames and 100 symbols, 2.2 ms against 4.4 ms, and against 11.6 ms with skippable boundaries.
"""

from __future__ import annotations

from collections.abc import Callable

import numba
import numpy as np


def _compiled(fn: Callable) -> Callable:
    """numba's compiled fn, cached on disk where numba finds a writable place; compiled in each process where it
    finds none (a read-only install and home), instead of failing to import."""
    try:
        return numba.njit(cache=True)(fn)
    except RuntimeError:
        return numba.njit(fn)


@_compiled
def mas_batch(log_attn, text_lens, mel_lens, skippable):
    b_size, n_max = log_attn.shape[0], log_attn.shape[2]
    durations = np.zeros((b_size, n_max), dtype=np.int64)
    for b in range(b_size):
        mas_one(log_attn[b], text_lens[b], mel_lens[b], skippable[b], durations[b])
    return durations


@_compiled
def mas_one(log_attn, n_len, t_len, skippable, out):
    """One utterance: the forward pass keeps, per frame and symbol, how far back the best way in came from
    (0 stay, 1 from the previous symbol, 2 over a skippable one); the backtrack counts frames per symbol."""
    if t_len <= 0 or n_len <= 0:
        return
    neg_inf = -np.inf
    score = np.full(n_len, neg_inf, dtype=log_attn.dtype)
    score[0] = log_attn[0, 0]
    back = np.zeros((t_len, n_len), dtype=np.int8)
    for t in range(1, t_len):
        for j in range(n_len - 1, -1, -1):  # right to left: score[j - 1], score[j - 2] are still frame t - 1
            best = score[j]
            step = 0
            if j >= 1 and score[j - 1] >= best:  # ties move on
                best = score[j - 1]
                step = 1
            if j >= 2 and skippable[j - 1] and score[j - 2] > neg_inf and score[j - 2] >= best:
                best = score[j - 2]  # ties jump, only from a reachable state
                step = 2
            score[j] = best + log_attn[t, j]
            back[t, j] = step
    j = n_len - 1
    for t in range(t_len - 1, -1, -1):
        out[j] += 1
        if t > 0 and j > 0:
            j -= back[t, j]
