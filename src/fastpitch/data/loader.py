"""The PyTorch side of the data: a Dataset over the feature cache, a length-bucketed batch sampler, collate.

Batches are made by total mel frames (`batch_frames`, padding included) rather than by a fixed count, so a
batch of short sentences holds many and a batch of long ones few, and memory stays flat. The sampler is a
pure function of (seed, epoch, rank): resuming a run or adding DDP ranks changes nothing else, and every
rank gets the same number of batches so that no rank waits on a collective that others never reach.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from fastpitch.data.features import FeatureCache
from fastpitch.data.timings import TimingsError, find_timings, load_durations
from fastpitch.errors import FastPitchError

log = logging.getLogger(__name__)

DURATIONS = ("learned", "external")


class TTSDataset(Dataset):
    """Utterances of a feature cache as tensors: symbol ids, mel, normalised pitch, energy, speaker.

    `durations="external"` adds per-symbol frame durations from `timings_dir` (default: the `timings/`
    folder beside the dataset the cache was made from). Utterances whose text the frontend rejects, or that
    have no timings when they are needed, are left out with a warning.
    """

    def __init__(
        self,
        cache: FeatureCache | str | Path,
        frontend: Any,
        durations: str = "learned",
        timings_dir: str | Path | None = None,
        ids: Sequence[str] | None = None,
    ):
        if durations not in DURATIONS:
            raise FastPitchError(f"durations must be one of {', '.join(DURATIONS)}, got {durations!r}")
        self.cache = cache if isinstance(cache, FeatureCache) else FeatureCache(cache)
        self.frontend = frontend
        self.durations = durations
        wanted = list(self.cache.ids if ids is None else ids)
        missing = [i for i in wanted if i not in self.cache]
        if missing:
            log.warning(
                "%d utterances are not in the feature cache (skipped by prepare?): %s",
                len(missing),
                missing[:5],
            )
        self.timings_dir = None
        if durations == "external":
            self.timings_dir = (
                Path(timings_dir) if timings_dir is not None else default_timings_dir(self.cache)
            )
        self.ids: list[str] = []
        self.symbols: list[list[str]] = []
        for uid in wanted:
            if uid not in self.cache:
                continue
            try:
                symbols = list(frontend.to_symbols(self.cache.utterances[uid]["text"]))
                if self.timings_dir is not None:
                    find_timings(self.timings_dir, uid)
            except FastPitchError as e:
                log.warning("%s left out: %s", uid, e)
                continue
            self.ids.append(uid)
            self.symbols.append(symbols)
        if not self.ids:
            raise FastPitchError(f"no usable utterances in the feature cache {self.cache.root}")
        self.lengths = [self.cache.n_frames(uid) for uid in self.ids]
        self._duration_memo: dict[int, np.ndarray] = {}
        self.text_lengths = [len(s) for s in self.symbols]

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        uid, symbols, cache = self.ids[index], self.symbols[index], self.cache
        feats = cache.load(uid)
        speaker = cache.utterances[uid]["speaker"]
        mean, std = cache.pitch_stats(speaker)
        voiced = np.array(feats["voiced"], dtype=bool)
        pitch = np.where(voiced, (np.asarray(feats["f0"], np.float32) - mean) / std, 0.0).astype(np.float32)
        item = {
            "id": uid,
            "text": torch.tensor(self.frontend.symbols.encode(symbols), dtype=torch.long),
            "mel": torch.from_numpy(np.array(feats["mel"], dtype=np.float32)),
            "pitch": torch.from_numpy(pitch),
            "voiced": torch.from_numpy(voiced),
            "energy": torch.from_numpy(np.array(feats["energy"], dtype=np.float32)),
            "speaker": cache.speakers.index(speaker),
        }
        if self.timings_dir is not None:
            item["durations"] = torch.from_numpy(self._durations(index).copy())
        return item

    def _durations(self, index: int) -> np.ndarray:
        """Reference durations of one utterance, computed once per process (the alignment is a small DP)."""
        if index not in self._duration_memo:
            uid = self.ids[index]
            try:
                path = find_timings(self.timings_dir, uid)
                self._duration_memo[index] = load_durations(
                    path, self.symbols[index], self.lengths[index], self.cache.audio
                )
            except TimingsError as e:
                raise FastPitchError(f"{uid}: {e}") from None
        return self._duration_memo[index]


def default_timings_dir(cache: FeatureCache) -> Path:
    """`timings/` beside the dataset the cache was prepared from (LJSpeech dir or filelist)."""
    dataset = Path(cache.dataset) if cache.dataset else None
    if dataset is None:
        raise FastPitchError("the feature cache does not record its dataset; pass timings_dir")
    return (dataset if dataset.is_dir() else dataset.parent) / "timings"


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Pad a list of dataset items into the batch dict every model and loss reads (0 = padding)."""
    n_max = max(len(it["text"]) for it in items)
    t_max = max(it["mel"].shape[1] for it in items)
    b, n_mels = len(items), items[0]["mel"].shape[0]
    batch: dict[str, Any] = {
        "ids": [it["id"] for it in items],
        "text": torch.zeros(b, n_max, dtype=torch.long),
        "text_lens": torch.tensor([len(it["text"]) for it in items], dtype=torch.long),
        "mel": torch.zeros(b, n_mels, t_max),
        "mel_lens": torch.tensor([it["mel"].shape[1] for it in items], dtype=torch.long),
        "pitch": torch.zeros(b, t_max),
        "voiced": torch.zeros(b, t_max, dtype=torch.bool),
        "energy": torch.zeros(b, t_max),
        "speaker": torch.tensor([it["speaker"] for it in items], dtype=torch.long),
    }
    has_durations = "durations" in items[0]
    if has_durations:
        batch["durations"] = torch.zeros(b, n_max, dtype=torch.long)
    for i, it in enumerate(items):
        n, t = len(it["text"]), it["mel"].shape[1]
        batch["text"][i, :n] = it["text"]
        batch["mel"][i, :, :t] = it["mel"]
        for key in ("pitch", "voiced", "energy"):
            batch[key][i, :t] = it[key]
        if has_durations:
            batch["durations"][i, :n] = it["durations"]
    return batch


def lengths_to_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """Bool (B, max_len), True on real positions."""
    max_len = int(lengths.max()) if max_len is None else max_len
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


class LengthBucketSampler(Sampler[list[int]]):
    """Batches of similar-length utterances holding at most `batch_frames` padded mel frames each.

    Each epoch: shuffle (seed, epoch), cut into buckets of about `bucket_batches` batches, sort each bucket
    by length, pack greedily, shuffle the batch order. Under DDP the batch list is padded by repetition to a
    multiple of `num_replicas` and rank r takes every num_replicas-th batch from r on.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_frames: int,
        seed: int = 0,
        shuffle: bool = True,
        num_replicas: int = 1,
        rank: int = 0,
        bucket_batches: int = 32,
    ):
        if not 0 <= rank < num_replicas:
            raise FastPitchError(f"rank {rank} is outside 0..{num_replicas - 1}")
        self.lengths = np.asarray(lengths, dtype=np.int64)
        if len(self.lengths) == 0:
            raise FastPitchError("no utterances to sample from")
        longest = int(self.lengths.max())
        if longest > batch_frames:
            log.warning(
                "the longest utterance (%d frames) exceeds batch_frames=%d: it goes alone",
                longest,
                batch_frames,
            )
        self.batch_frames = batch_frames
        self.seed, self.shuffle = seed, shuffle
        self.num_replicas, self.rank = num_replicas, rank
        self.bucket_batches = bucket_batches
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        batches = self._all_batches(epoch)
        per_rank = math.ceil(len(batches) / self.num_replicas)
        padded = [batches[i % len(batches)] for i in range(per_rank * self.num_replicas)]
        self._batches = padded[self.rank :: self.num_replicas]

    def _all_batches(self, epoch: int) -> list[list[int]]:
        rng = np.random.default_rng([self.seed, epoch])
        n = len(self.lengths)
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        per_batch = max(1, self.batch_frames // max(1, int(self.lengths.mean())))
        bucket = per_batch * self.bucket_batches if self.shuffle else n
        batches: list[list[int]] = []
        for start in range(0, n, bucket):
            chunk = order[start : start + bucket]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            current: list[int] = []
            longest = 0
            for idx in chunk.tolist():
                longest_if = max(longest, int(self.lengths[idx]))
                if current and longest_if * (len(current) + 1) > self.batch_frames:
                    batches.append(current)
                    current, longest_if = [], int(self.lengths[idx])
                current.append(idx)
                longest = longest_if
            if current:
                batches.append(current)
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter([list(b) for b in self._batches])

    def __len__(self) -> int:
        return len(self._batches)


def make_dataloader(
    dataset: TTSDataset,
    batch_frames: int,
    seed: int = 0,
    shuffle: bool = True,
    num_workers: int = 0,
    num_replicas: int = 1,
    rank: int = 0,
) -> DataLoader:
    """A DataLoader with the bucketed sampler and `collate`; call `loader.batch_sampler.set_epoch(e)`."""
    sampler = LengthBucketSampler(
        dataset.lengths, batch_frames, seed=seed, shuffle=shuffle, num_replicas=num_replicas, rank=rank
    )
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=collate,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
    )
