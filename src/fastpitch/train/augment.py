"""Pitch-shift augmentation of training batches, in the mel domain.

A voice taught by a TTS teacher hears a melody that its text predicts, so its decoder learns the melody from
the text and barely listens to the pitch embedding: `--pitch-shift` then moves the pitch by a fraction of what
it asks (+4 semitones gave x1.15 instead of x1.26). Shifting some utterances by a random interval, their pitch
targets with them, makes the pitch input the only way to know where the harmonics are.

The shift scales the mel's frequency axis by the pitch ratio (each band reads the band at its frequency divided
by the ratio), as resampling audio would: harmonics and formants move together. It costs a matrix product per
utterance and needs no audio, so it runs on each batch as it is drawn, with the process's seeded generator
(resumed runs draw the same shifts). The vocoder must then render such mels: the iSTFT vocoder trained on the
natural corpus's own mels moved F0 x1.19-1.21 for a warp of x1.26 (heart, slt) and not at all for kal at
86 Hz, whose harmonics the 80 bands barely resolve; `train-vocoder` has the matching augmentation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from fastpitch.audio import mel_centers
from fastpitch.config import AudioConfig


def warp_matrix(centers: np.ndarray, ratio: float) -> torch.Tensor:
    """(n_mels, n_mels) linear interpolation that moves every band's content up by `ratio` in frequency:
    output band m reads the input at frequency centers[m] / ratio (the edge bands where that is outside)."""
    n = len(centers)
    position = np.interp(centers / ratio, centers, np.arange(n, dtype=np.float64))
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, n - 1)
    frac = position - low
    matrix = np.zeros((n, n), dtype=np.float32)
    matrix[np.arange(n), low] += 1.0 - frac
    matrix[np.arange(n), high] += frac
    return torch.from_numpy(matrix)


class PitchShiftAugment:
    """Shifts each utterance of a batch with probability `probability` by a uniform interval of at most
    `semitones`: its log-mel along the frequency axis and its (per-speaker normalised) pitch by that ratio."""

    def __init__(
        self,
        audio: AudioConfig,
        probability: float,
        semitones: float,
        pitch_mean: torch.Tensor,
        pitch_std: torch.Tensor,
    ) -> None:
        self.centers = mel_centers(audio)
        self.probability, self.semitones = probability, semitones
        self.pitch_mean, self.pitch_std = pitch_mean.detach().cpu(), pitch_std.detach().cpu()

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        if self.probability <= 0 or self.semitones <= 0:
            return batch
        n = batch["mel"].size(0)
        chosen = torch.rand(n) < self.probability
        if not bool(chosen.any()):
            return batch
        shifts = (torch.rand(n) * 2 - 1) * self.semitones
        mel, pitch = batch["mel"].clone(), batch["pitch"].clone()
        speakers = torch.as_tensor(batch["speaker"]).flatten().expand(n)
        for b in torch.nonzero(chosen).flatten().tolist():
            ratio = 2.0 ** (float(shifts[b]) / 12.0)
            mel[b] = warp_matrix(self.centers, ratio).to(mel) @ mel[b]
            mean, std = self.pitch_mean[speakers[b]], self.pitch_std[speakers[b]]
            voiced = batch["voiced"][b]
            hz = pitch[b] * std + mean
            pitch[b] = torch.where(voiced, (hz * ratio - mean) / std, pitch[b])
        return {**batch, "mel": mel, "pitch": pitch}
