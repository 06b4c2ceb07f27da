"""Dynamic time warping of two feature sequences: numpy only, so that the torch-free runtime (prosody transfer,
`fastpitch.runtime.transfer`) and the evaluation (`fastpitch.evaluation.metrics`) share it."""

from __future__ import annotations

import numpy as np


def dtw(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Dynamic time warping of feature sequences x (N, D) and y (M, D) with Euclidean frame cost.

    Returns the path as (K, 2) index pairs from (0, 0) to (N-1, M-1) with steps (1,0), (0,1), (1,1), and the
    mean frame cost along it. Each row is a few numpy operations: the horizontal moves within a row are a
    running minimum of (best from the row above - cumulative cost), so there is no Python loop over columns.
    """
    x, y = np.atleast_2d(np.asarray(x, np.float64)), np.atleast_2d(np.asarray(y, np.float64))
    if len(x) == 0 or len(y) == 0:
        raise ValueError("DTW needs two non-empty sequences")
    cost = np.sqrt(np.maximum(((x**2).sum(1)[:, None] + (y**2).sum(1)[None] - 2 * x @ y.T), 0.0))
    n, m = cost.shape
    total = np.empty((n, m))
    total[0] = np.cumsum(cost[0])
    for i in range(1, n):
        above = np.minimum(total[i - 1], np.concatenate([[np.inf], total[i - 1, :-1]]))
        run = np.cumsum(cost[i])
        total[i] = np.minimum.accumulate(cost[i] + above - run) + run
    path = [(n - 1, m - 1)]
    i, j = n - 1, m - 1
    while i > 0 or j > 0:
        if i == 0:
            j -= 1
        elif j == 0:
            i -= 1
        else:
            step = int(np.argmin((total[i - 1, j - 1], total[i - 1, j], total[i, j - 1])))
            i, j = (i - 1, j - 1) if step == 0 else (i - 1, j) if step == 1 else (i, j - 1)
        path.append((i, j))
    path_arr = np.array(path[::-1], dtype=np.int64)
    return path_arr, float(cost[path_arr[:, 0], path_arr[:, 1]].mean())
