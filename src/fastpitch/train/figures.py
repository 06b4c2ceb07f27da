"""Validation images for TensorBoard: mel, pitch and alignment of the first validation utterance.

Figures are built with matplotlib's object API on the Agg canvas (no pyplot state, no display needed).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy()


def _figure(rows: int, height: float = 2.4) -> tuple[Figure, Any]:
    fig = Figure(figsize=(10, height * rows), tight_layout=True)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(rows, 1, squeeze=False)[:, 0]


def mel_figure(target: np.ndarray, predicted: np.ndarray) -> Figure:
    """Target above prediction, both (n_mels, T), on one colour scale."""
    fig, axes = _figure(2)
    lo, hi = float(target.min()), float(target.max())
    for ax, mel, title in zip(axes, (target, predicted), ("target mel", "predicted mel"), strict=True):
        im = ax.imshow(mel, aspect="auto", origin="lower", interpolation="none", vmin=lo, vmax=hi)
        ax.set_title(title)
        fig.colorbar(im, ax=ax)
    return fig


def pitch_figure(
    frame_pitch: np.ndarray, target: np.ndarray, predicted: np.ndarray, durations: np.ndarray
) -> Figure:
    """Normalised pitch per frame with the per-symbol target and prediction spread over their frames."""
    fig, axes = _figure(1, height=3.0)
    ax = axes[0]
    voiced = np.where(frame_pitch != 0, frame_pitch, np.nan)
    ax.plot(voiced, ".", markersize=2, color="0.6", label="frames (voiced)")
    ax.step(np.arange(int(durations.sum())), np.repeat(target, durations), where="post", label="target")
    ax.step(np.arange(int(durations.sum())), np.repeat(predicted, durations), where="post", label="predicted")
    ax.set_xlabel("frame")
    ax.set_ylabel("normalised pitch")
    ax.legend(loc="upper right")
    return fig


def alignment_figure(soft: np.ndarray, hard: np.ndarray | None) -> Figure:
    """Soft alignment (symbols x frames) with the MAS path drawn over it."""
    fig, axes = _figure(1, height=3.5)
    ax = axes[0]
    ax.imshow(soft.T, aspect="auto", origin="lower", interpolation="none")
    if hard is not None:
        frames, symbols = np.nonzero(hard)
        ax.step(frames, symbols, where="post", color="red", linewidth=0.8, label="MAS")
        ax.legend(loc="upper left")
    ax.set_xlabel("mel frame")
    ax.set_ylabel("symbol")
    return fig


def validation_figures(batch: dict[str, Any], outputs: dict[str, Any]) -> list[tuple[str, Figure]]:
    """(tag, figure) pairs for the first utterance of a validation batch and the model's training outputs."""
    n_frames, n_text = int(batch["mel_lens"][0]), int(batch["text_lens"][0])
    figs = [("mel", mel_figure(_np(batch["mel"][0, :, :n_frames]), _np(outputs["mel_out"][0, :, :n_frames])))]
    durations = _np(outputs["dur_tgt"][0, :n_text]).astype(np.int64)
    figs.append(
        (
            "pitch",
            pitch_figure(
                _np(batch["pitch"][0, :n_frames]),
                _np(outputs["pitch_tgt"][0, :n_text]),
                _np(outputs["pitch_pred"][0, :n_text]),
                durations,
            ),
        )
    )
    if outputs.get("attn_soft") is not None:
        hard = outputs.get("attn_hard")
        figs.append(
            (
                "alignment",
                alignment_figure(
                    _np(outputs["attn_soft"][0, :n_frames, :n_text]),
                    _np(hard[0, :n_frames, :n_text]) if hard is not None else None,
                ),
            )
        )
    return figs
