"""Vocoder training data: random (audio, mel) segments of a dataset, aligned frame for frame.

Mels come from the audio itself (exactly the mels of the whole utterance: each segment is read with two hops of
context), from a features cache, or, for fine-tuning, from `.npy` mels that a FastPitch predicted with
ground-truth durations.

Pitch-shift augmentation (`pitch_augment`) resamples a share of the segments by a random interval, harmonics and
formants together, and takes their mels from the resampled audio: the vocoder then renders the shifted mels a
FastPitch trained with `fastpitch.train.augment` draws when asked for another pitch.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch
from scipy.signal import resample_poly

from fastpitch.audio import LOG_CLAMP, load_audio, mel_spectrogram, n_frames
from fastpitch.config import AudioConfig
from fastpitch.data.datasets import read_dataset
from fastpitch.errors import FastPitchError

log = logging.getLogger(__name__)

CONTEXT_HOPS = 2  # audio read around each segment so that its mel equals the whole utterance's mel there


@dataclass
class Utterance:
    id: str
    path: Path
    n_samples: int
    sample_rate: int


class SegmentSampler:
    """Random (audio, mel) segments: audio (B, S * hop), mel (B, n_mels, S), aligned frame for frame."""

    def __init__(
        self,
        items: list[Utterance],
        audio_cfg: AudioConfig,
        segment_frames: int,
        mel_dir: Path | None = None,
        features: Any = None,
        seed: int = 0,
        pitch_augment: float = 0.0,
        semitones: float = 4.0,
    ) -> None:
        self.items, self.cfg, self.frames = items, audio_cfg, segment_frames
        self.mel_dir, self.features = mel_dir, features
        self.rng = np.random.default_rng(seed)
        self.pitch_augment, self.semitones = pitch_augment, semitones

    def utterance_mel(self, item: Utterance) -> np.ndarray | None:
        """The given mel of an utterance (fine-tuning or features), None when mels come from the audio."""
        if self.mel_dir is not None:
            mel = np.load(self.mel_dir / f"{item.id}.npy", mmap_mode="r")
        elif self.features is not None:
            mel = self.features.load(item.id)["mel"]
        else:
            return None
        if mel.ndim != 2 or mel.shape[0] != self.cfg.n_mels:
            raise FastPitchError(
                f"mel of {item.id} has shape {mel.shape}; expected ({self.cfg.n_mels}, frames)"
            )
        return mel

    def read(self, item: Utterance, start: int, stop: int) -> np.ndarray:
        """Samples [start, stop) of an utterance, zeros outside it, at the configured sample rate."""
        lo, hi = max(start, 0), min(stop, item.n_samples)
        if item.sample_rate == self.cfg.sample_rate:
            wav, _ = sf.read(str(item.path), start=lo, stop=max(hi, lo), dtype="float32", always_2d=True)
            wav = wav.mean(axis=1)
        else:
            wav = load_audio(item.path, self.cfg.sample_rate)[0][lo:hi]
        out = np.zeros(stop - start, dtype=np.float32)
        out[lo - start : lo - start + len(wav)] = wav
        return out

    def shifted(self, item: Utterance, start: int, n: int, ratio: Fraction) -> np.ndarray:
        """`n` samples from `start` of an utterance played `ratio` times faster: its pitch times `ratio`."""
        wav = self.read(item, start, start + math.ceil(n * ratio) + 1)
        return resample_poly(wav, ratio.denominator, ratio.numerator)[:n].astype(np.float32)

    def sample(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        hop, size = self.cfg.hop_length, self.frames
        ctx = CONTEXT_HOPS * hop
        audio, mels = [], []
        own: dict[int, np.ndarray] = {}  # batch index -> audio with context, for mels made here
        for b, index in enumerate(self.rng.integers(len(self.items), size=batch_size)):
            item = self.items[index]
            given = self.utterance_mel(item)
            total = (
                n_frames(item.n_samples, self.cfg)
                if given is None
                else min(given.shape[1], item.n_samples // hop)
            )
            first = int(self.rng.integers(max(total - size, 0) + 1))
            mel = None
            if self.pitch_augment > 0 and self.rng.random() < self.pitch_augment:
                semitones = self.rng.uniform(-self.semitones, self.semitones)
                ratio = Fraction(2.0 ** (semitones / 12.0)).limit_denominator(64)
                own[b] = self.shifted(item, first * hop - ctx, size * hop + 2 * ctx, ratio)
                audio.append(own[b][ctx : ctx + size * hop])
            elif given is None:  # two hops of context each side: this segment's mel frames, exactly
                own[b] = self.read(item, first * hop - ctx, (first + size) * hop + ctx)
                audio.append(self.read(item, first * hop, (first + size) * hop))
            else:
                mel = np.full((self.cfg.n_mels, size), math.log(LOG_CLAMP), dtype=np.float32)
                part = given[:, first : first + size]
                mel[:, : part.shape[1]] = part
                audio.append(self.read(item, first * hop, (first + size) * hop))
            mels.append(mel)
        if own:
            made = mel_spectrogram(torch.from_numpy(np.stack(list(own.values()))), self.cfg)
            for b, m in zip(own, made[:, :, CONTEXT_HOPS : CONTEXT_HOPS + size].numpy(), strict=True):
                mels[b] = m
        return torch.from_numpy(np.stack(audio)), torch.from_numpy(np.stack(mels))


def dataset_items(dataset: str | Path, split: str | None, audio_cfg: AudioConfig) -> list[Utterance]:
    """Utterances of `dataset` (LJSpeech directory or filelist) with their lengths at `audio_cfg`'s rate."""
    dataset = Path(dataset)
    root = dataset if dataset.is_dir() else dataset.parent
    use_split = split if split is not None and (root / "splits" / f"{split}.txt").is_file() else None
    items = []
    for utt in read_dataset(dataset, split=use_split):
        try:
            info = sf.info(str(utt.audio_path))
        except (sf.LibsndfileError, RuntimeError):
            log.warning("%s: cannot read %s, skipped", utt.id, utt.audio_path)
            continue
        n = round(info.frames * audio_cfg.sample_rate / info.samplerate)
        items.append(Utterance(utt.id, Path(utt.audio_path), n, info.samplerate))
    return items


def with_mels(items: list[Utterance], mel_dir: Path | None, features: Any, n_mels: int) -> list[Utterance]:
    """Keep the utterances that have a given mel (when mels are given); say how many were dropped. Mel files
    of the wrong shape are refused now, from their headers, not when training first draws them."""
    if mel_dir is None and features is None:
        return items
    kept = (
        [i for i in items if (mel_dir / f"{i.id}.npy").is_file()]
        if mel_dir
        else [i for i in items if i.id in features]
    )
    if len(kept) < len(items):
        log.warning("%d of %d utterances have no mel and are skipped", len(items) - len(kept), len(items))
    for item in kept if mel_dir else ():
        path = mel_dir / f"{item.id}.npy"
        try:
            mel = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as e:
            raise FastPitchError(f"{path} is not a readable .npy mel: {e}") from None
        if mel.ndim != 2 or mel.shape[0] != n_mels or mel.dtype.kind != "f":
            raise FastPitchError(
                f"{path} holds a {mel.dtype} array of shape {mel.shape}; a mel is float ({n_mels}, frames)"
            )
    return kept
