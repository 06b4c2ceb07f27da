"""PNG figures of one evaluated utterance: mels, pitch contours, and the symbol-to-frame alignment.

matplotlib's object API on the Agg canvas: no pyplot state and no display, so it runs on servers and in tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

MAX_SYMBOL_LABELS = 90  # more tick labels than this are unreadable


def _figure(rows: int, height: float) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, height * rows), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(rows, 1, squeeze=False)[:, 0]


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    return path


def mel_figure(reference: np.ndarray, synthesized: np.ndarray, frame_s: float, path: Path) -> Path:
    """Reference mel above the synthesized one (both (n_mels, T) log mel) on one colour scale and time axis."""
    fig, axes = _figure(2, 2.6)
    lo, hi = float(reference.min()), float(reference.max())
    longest = max(reference.shape[1], synthesized.shape[1]) * frame_s
    for ax, mel, title in zip(
        axes, (reference, synthesized), ("reference mel", "synthesized mel"), strict=True
    ):
        extent = (0.0, mel.shape[1] * frame_s, 0, mel.shape[0])
        im = ax.imshow(
            mel, aspect="auto", origin="lower", interpolation="none", vmin=lo, vmax=hi, extent=extent
        )
        ax.set_xlim(0, longest)
        ax.set_title(title)
        ax.set_ylabel("mel bin")
        fig.colorbar(im, ax=ax, label="log amplitude")
    axes[-1].set_xlabel("time (s)")
    return _save(fig, path)


def pitch_figure(
    reference_hz: np.ndarray,
    predicted_hz_on_reference: np.ndarray,
    frame_s: float,
    path: Path,
    title: str = "",
) -> Path:
    """The reference F0 (frames, 0 = unvoiced) and the model's predicted contour warped onto the reference's
    time axis by DTW (0 = unvoiced), as compared by the F0 metrics."""
    fig, axes = _figure(1, 3.2)
    ax = axes[0]
    t = np.arange(len(reference_hz)) * frame_s
    ax.plot(
        t, np.where(reference_hz > 0, reference_hz, np.nan), ".", ms=3, color="0.35", label="reference F0"
    )
    ax.plot(
        t,
        np.where(predicted_hz_on_reference > 0, predicted_hz_on_reference, np.nan),
        "-",
        lw=1.6,
        color="tab:red",
        label="predicted pitch (after DTW)",
    )
    ax.set_xlabel("reference time (s)")
    ax.set_ylabel("F0 (Hz)")
    ax.set_title(title or "pitch contours")
    ax.legend(loc="upper right")
    return _save(fig, path)


def alignment_figure(
    symbols: Sequence[str],
    predicted: np.ndarray,
    reference: np.ndarray | None,
    path: Path,
) -> Path:
    """Which symbol each frame speaks: the model's predicted durations as a hard alignment (symbols x frames),
    with the reference's durations (its phone timings mapped onto the same symbols) drawn over it."""
    predicted = np.asarray(predicted, np.int64)
    n_frames = int(predicted.sum())
    if reference is not None:
        n_frames = max(n_frames, int(np.asarray(reference).sum()))
    fig, axes = _figure(1, max(3.0, min(9.0, 0.09 * len(symbols) + 1.5)))
    ax = axes[0]
    image = np.zeros((len(symbols), max(n_frames, 1)))
    owner = np.repeat(np.arange(len(symbols)), predicted)
    image[owner, np.arange(len(owner))] = 1.0
    ax.imshow(image, aspect="auto", origin="lower", interpolation="none", cmap="Greys")
    ax.plot([], [], color="black", lw=4, label="predicted durations")
    if reference is not None:
        ends = np.cumsum(np.asarray(reference, np.int64))
        starts = ends - np.asarray(reference, np.int64)
        ax.hlines(np.arange(len(symbols)), starts, ends, color="tab:red", lw=1.5, label="reference timings")
    if len(symbols) <= MAX_SYMBOL_LABELS:
        ax.set_yticks(np.arange(len(symbols)))
        ax.set_yticklabels([s if s.strip() else "␣" for s in symbols], fontsize=6)
    ax.set_xlabel("mel frame")
    ax.set_ylabel("symbol")
    ax.set_title("alignment: symbols to frames")
    ax.legend(loc="upper left", fontsize=8)
    return _save(fig, path)
