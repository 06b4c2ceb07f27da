"""What the training loop needs from the data pipeline: train/val datasets, the DDP-aware sampler, loaders.

Splits come from the dataset's `splits/{train,val}.txt` when it has them; otherwise a stable ~2% of the
utterances (chosen by a hash of the id, so the choice never changes between runs) is held out for validation.
"""

from __future__ import annotations

import logging
import zlib
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from fastpitch.config import Config
from fastpitch.data.datasets import make_frontend, read_split
from fastpitch.data.features import FeatureCache
from fastpitch.data.loader import LengthBucketSampler, TTSDataset, collate
from fastpitch.errors import FastPitchError
from fastpitch.train.distributed import Distributed

log = logging.getLogger(__name__)

MIN_FOR_HOLDOUT = 20  # below this many utterances (and no splits), every one trains and nothing validates


class TrainData:
    """Datasets, sampler and loaders of one run. A fresh run takes its audio config (and its model's mel bins)
    from the features; a resumed or fine-tuned one (`strict_audio`) must find features made with the model's
    audio config."""

    def __init__(
        self,
        cfg: Config,
        features: str | Path,
        dataset: str | Path | None,
        dist: Distributed,
        strict_audio: bool = False,
        pin_memory: bool = False,
        timings: str | Path | None = None,
    ) -> None:
        self.cfg, self.dist, self.pin_memory = cfg, dist, pin_memory
        self.cache = FeatureCache(features, audio_cfg=cfg.audio if strict_audio else None)
        if self.cache.audio != cfg.audio:
            if strict_audio:
                raise FastPitchError(
                    f"the features in {self.cache.root} were made with another audio config than the model's; "
                    "run `fastpitch prepare` with the model's audio settings"
                )
            cfg.audio = self.cache.audio
        cfg.model.n_mels = cfg.audio.n_mels  # the model reads and writes the features' mels
        frontend = make_frontend(cfg.text)
        if list(frontend.symbols.symbols) != list(cfg.text.symbols):
            raise FastPitchError("the text frontend's symbol table differs from the model's (text.symbols)")

        root = (
            Path(dataset)
            if dataset is not None
            else (Path(self.cache.dataset) if self.cache.dataset else None)
        )
        if root is not None and root.is_file():
            root = root.parent
        train_ids, val_ids = self._splits(root)
        self.root = root
        if timings is not None and cfg.train.durations != "external":
            raise FastPitchError(
                f"a timings folder ({timings}) gives external durations: train with --durations external"
            )
        if cfg.train.durations == "external" and timings is None and root is not None:
            timings = root / "timings"
        self.timings = (
            timings  # external durations' folder (None: learned, or timings/ beside the cache's dataset)
        )
        durations = cfg.train.durations
        self.train_set = TTSDataset(
            self.cache, frontend, durations=durations, timings_dir=timings, ids=train_ids
        )
        self.val_set = (
            TTSDataset(self.cache, frontend, durations=durations, timings_dir=timings, ids=val_ids)
            if val_ids
            else None
        )
        tc = cfg.train
        self.train_sampler = LengthBucketSampler(
            self.train_set.lengths,
            tc.batch_frames,
            seed=tc.seed,
            shuffle=True,
            num_replicas=dist.world_size,
            rank=dist.rank,
        )
        self.val_loader = None
        if self.val_set is not None:
            val_sampler = LengthBucketSampler(
                self.val_set.lengths,
                tc.batch_frames,
                shuffle=False,
                num_replicas=dist.world_size,
                rank=dist.rank,
            )
            self.val_loader = DataLoader(self.val_set, batch_sampler=val_sampler, collate_fn=collate)
        log.info(
            "%d training and %d validation utterances, %d speaker(s)",
            len(self.train_set),
            len(self.val_set) if self.val_set is not None else 0,
            self.n_speakers,
        )

    def _splits(self, root: Path | None) -> tuple[list[str], list[str]]:
        ids = list(self.cache.ids)
        if root is not None and (root / "splits" / "train.txt").is_file():
            train = [i for i in read_split(root, "train") if i in self.cache]
            val = (
                [i for i in read_split(root, "val") if i in self.cache]
                if (root / "splits" / "val.txt").is_file()
                else []
            )
            if not train:
                raise FastPitchError(
                    f"none of the ids in {root / 'splits' / 'train.txt'} are in the features"
                )
            return train, val
        if len(ids) < MIN_FOR_HOLDOUT:
            log.warning("only %d utterances and no splits/: training on all of them, no validation", len(ids))
            return ids, []
        val = [i for i in ids if zlib.crc32(i.encode()) % 50 == 0] or ids[:1]
        held = set(val)
        return [i for i in ids if i not in held], val

    @property
    def n_speakers(self) -> int:
        return max(1, len(self.cache.speakers))

    def pitch_stats(self) -> tuple[list[float], list[float]]:
        """Each speaker's F0 mean and std in Hz, in speaker-index order."""
        stats = [self.cache.pitch_stats(s) for s in self.cache.speakers] or [(0.0, 1.0)]
        return [m for m, _ in stats], [s for _, s in stats]

    def loader(self, batch_sampler: Any) -> DataLoader:
        """Training loader over `batch_sampler`; its own generator keeps the global RNG out of data loading."""
        tc = self.cfg.train
        return DataLoader(
            self.train_set,
            batch_sampler=batch_sampler,
            collate_fn=collate,
            num_workers=tc.num_workers,
            pin_memory=self.pin_memory,
            generator=torch.Generator().manual_seed(tc.seed),
        )
