"""Ground-truth-aligned (GTA) mels: what a trained FastPitch says for each training utterance when it is given
that utterance's real durations, pitch and energy; `train-vocoder --finetune-mels` fine-tunes a vocoder on them.

A vocoder trained on mels computed from audio meets different mels at synthesis time: the acoustic model's,
smoother and slightly off. Fine-tuned on the acoustic model's own mels, paired frame for frame with the
recordings, it learns to render what it will be given (HiFi-GAN's fine-tuning step; NVIDIA FastPitch's
`--save-mels`). The durations are the ones training used, the aligner's (`learned`) or the dataset's timings
(`external`), so frame i of a mel is frame i of its recording. The weights are the EMA weights a voice ships.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fastpitch import checkpoint as ckpt_io
from fastpitch.atomic import atomic_write, atomic_write_text
from fastpitch.data.loader import TTSDataset, collate
from fastpitch.device import pick_device
from fastpitch.errors import FastPitchError
from fastpitch.train.acoustic import build_model
from fastpitch.train.data import TrainData
from fastpitch.train.distributed import Distributed
from fastpitch.train.runner import to_device

log = logging.getLogger(__name__)


@dataclass
class GtaResult:
    out_dir: Path
    written: int
    skipped: int  # already in out_dir (a resumed run)
    mel_l1: float | None  # mean |predicted - recorded| log-mel over the frames written; None if none were


def batches(lengths: list[int], indices: list[int], batch_frames: int) -> Iterator[list[int]]:
    """`indices` by length, grouped so that a batch's padded size (count x longest) stays within `batch_frames`."""
    batch: list[int] = []
    for i in sorted(indices, key=lengths.__getitem__):
        if batch and lengths[i] * (len(batch) + 1) > batch_frames:
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


@dataclass
class Trained:
    """A checkpoint's EMA model in eval mode, beside the training data it was trained on."""

    source: Path
    checkpoint: ckpt_io.Checkpoint
    data: TrainData
    model: torch.nn.Module
    device: torch.device


def load_trained(
    checkpoint: str | Path, features: str | Path, dataset: str | Path | None, device: str | None
) -> Trained:
    """The model of `checkpoint` (the EMA weights a voice ships) and its training and validation utterances,
    checked to be the features it was trained on; the passes over a training set after training share it."""
    source = ckpt_io.resolve(checkpoint)
    ckpt = ckpt_io.load_checkpoint(source, with_optimizer=False)
    cfg = ckpt.config
    # A model trained on a timings folder (`train --timings`) is read with the durations it was trained on.
    timings = ckpt.provenance.get("timings") if cfg.train.durations == "external" else None
    data = TrainData(cfg, features, dataset, Distributed(), strict_audio=True, timings=timings)
    if data.n_speakers != max(cfg.model.n_speakers, 1):
        raise FastPitchError(
            f"the features hold {data.n_speakers} speaker(s), the model {cfg.model.n_speakers}: "
            "use the features the model was trained on"
        )
    if cfg.train.durations == "learned" and not cfg.model.learn_alignment:
        raise FastPitchError(f"{checkpoint} has no aligner to find the durations with")
    dev = pick_device(device)
    model = build_model(cfg)
    model.load_state_dict(ckpt.ema if ckpt.ema is not None else ckpt.model)
    model.to(dev).eval()
    return Trained(source, ckpt, data, model, dev)


@torch.no_grad()
def predict_mels(
    checkpoint: str | Path,
    features: str | Path,
    out: str | Path,
    dataset: str | Path | None = None,
    batch_frames: int | None = None,
    device: str | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> GtaResult:
    """Write `out/ID.npy` (n_mels, frames) for the training and validation utterances of `features`.

    Utterances already in `out` are skipped, so an interrupted run resumes; each file is written atomically.
    `on_batch(done, total)` follows the progress in utterances.
    """
    trained = load_trained(checkpoint, features, dataset, device)
    source, ckpt, data, model, dev = (
        trained.source,
        trained.checkpoint,
        trained.data,
        trained.model,
        trained.device,
    )
    cfg = ckpt.config

    out_dir = Path(out)
    claim(out_dir, {"checkpoint": str(source.resolve()), "step": ckpt.step})
    sets = [s for s in (data.train_set, data.val_set) if s is not None]
    todo = [(s, [i for i, uid in enumerate(s.ids) if not (out_dir / f"{uid}.npy").is_file()]) for s in sets]
    total = sum(len(s.ids) for s in sets)
    pending = sum(len(indices) for _, indices in todo)
    budget = batch_frames or cfg.train.batch_frames
    done, error, frames = total - pending, 0.0, 0
    for subset, indices in todo:
        for chosen in batches(subset.lengths, indices, budget):
            error_sum, n = _write_batch(model, subset, chosen, out_dir, dev)
            error, frames, done = error + error_sum, frames + n, done + len(chosen)
            if on_batch is not None:
                on_batch(done, total)
    n_mels = cfg.audio.n_mels
    mel_l1 = error / (frames * n_mels) if frames else None
    log.info("%d mels written to %s, %d were there already", pending, out_dir, total - pending)
    return GtaResult(out_dir, pending, total - pending, mel_l1)


MANIFEST = "gta.json"


def claim(out_dir: Path, made_by: dict[str, Any], what: str = "mels", manifest: str = MANIFEST) -> None:
    """Record which checkpoint the files in `out_dir` come from, and refuse to mix another's in: the files of an
    earlier model would otherwise be kept as done (and a vocoder fine-tuned on them, or a model trained)."""
    path = out_dir / manifest
    if path.is_file():
        before = json.loads(path.read_text())
        if before != made_by:
            raise FastPitchError(
                f"{out_dir} holds the {what} of {before.get('checkpoint')} (step {before.get('step')}), not of "
                f"{made_by['checkpoint']} (step {made_by['step']}): give another --out, or delete it"
            )
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    if any(p.name != manifest for p in out_dir.iterdir()):
        raise FastPitchError(
            f"{out_dir} holds {what} of an unknown checkpoint (no {manifest}): give another --out, or delete it"
        )
    atomic_write_text(path, json.dumps(made_by, indent=1))


def _write_batch(
    model: torch.nn.Module, subset: TTSDataset, chosen: list[int], out_dir: Path, dev: torch.device
) -> tuple[float, int]:
    """Predict and save one batch; returns the summed |error| and the frames written."""
    batch = to_device(collate([subset[i] for i in chosen]), dev)
    mel_out = model(batch)["mel_out"].float()
    error, frames = 0.0, 0
    for b, uid in enumerate(batch["ids"]):
        t = int(batch["mel_lens"][b])
        mel = mel_out[b, :, :t]
        error += float((mel - batch["mel"][b, :, :t]).abs().sum())
        frames += t
        array = np.ascontiguousarray(mel.cpu().numpy(), dtype=np.float32)
        atomic_write(out_dir / f"{uid}.npy", lambda tmp, a=array: _save(tmp, a), durable=False)
    return error, frames


def _save(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:  # a file object: np.save would add ".npy" to the temp name
        np.save(f, array)
