"""Phone timings from a trained model's learned aligner, beside a corpus's own: every utterance timed.

A corpus made by several teachers may have timings for some speakers only (festival's, with the audio) and
none for others (hibari-tts). Trained with the learned aligner, a model splits a word's frames among its
symbols its own way, which can be 25 ms a phone from the recordings' timings; trained on the timings
(`--durations external`), it splits them as the recordings do, and a prosody transfer (`like`) that reads a
recording's timing through it gets the recording's durations. This writes one timings folder for the
training and validation utterances: the corpus's own file where it has one (copied), else the durations the
checkpoint's learned aligner gives it (MAS over the EMA aligner's attention, as training computes them) as
phones and silences (`data.timings.phones_from_durations`), so `train --durations external --timings OUT` trains
on timings throughout. Resumable: files already in the folder are kept, and a folder another checkpoint filled
is refused (its manifest).
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from fastpitch import checkpoint as ckpt_io
from fastpitch.atomic import atomic_write_text
from fastpitch.data.loader import collate
from fastpitch.data.timings import TIMINGS_SUFFIXES, TimingsError, find_timings, phones_from_durations
from fastpitch.errors import FastPitchError
from fastpitch.train.gta import batches, claim, load_trained
from fastpitch.train.runner import to_device

log = logging.getLogger(__name__)

ENGINE = "fastpitch-aligner"  # the `engine` of the timings this writes
# Which checkpoint the folder's timings come from; no utterance id starts with ".".
MANIFEST = ".timings.json"


@dataclass
class TimingsResult:
    """What `write_timings` did: files copied from the corpus, written from the aligner, already there."""

    out_dir: Path
    copied: int  # the corpus's own timings
    aligned: int  # the aligner's
    kept: int  # already in out_dir


def _done(out_dir: Path, uid: str) -> bool:
    """Whether `out_dir` already holds the utterance's timings (a resumed run keeps them)."""
    return any((out_dir / f"{uid}{suffix}").is_file() for suffix in TIMINGS_SUFFIXES)


@torch.no_grad()
def write_timings(
    checkpoint: str | Path,
    features: str | Path,
    out: str | Path,
    dataset: str | Path | None = None,
    batch_frames: int | None = None,
    device: str | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> TimingsResult:
    """Write `out/ID.json` (or the corpus's `ID.TextGrid`) for every training and validation utterance of
    `features`; `on_batch(done, total)` follows the progress in utterances."""
    if ckpt_io.read_config(ckpt_io.resolve(checkpoint)).train.durations != "learned":
        raise FastPitchError(
            f"{checkpoint} was trained without the learned aligner: it has none to time with"
        )
    trained = load_trained(checkpoint, features, dataset, device)
    data, model, cfg = trained.data, trained.model, trained.checkpoint.config
    own = data.root / "timings" if data.root is not None else None
    out_dir = Path(out)
    if own is not None and out_dir.resolve() == own.resolve():
        raise FastPitchError(f"--out {out_dir} is the corpus's own timings folder: give a new one")
    made_by = {"checkpoint": str(trained.source.resolve()), "step": trained.checkpoint.step}
    claim(out_dir, made_by, "timings", MANIFEST)

    sets = [s for s in (data.train_set, data.val_set) if s is not None]
    total = sum(len(s.ids) for s in sets)
    kept = copied = aligned = 0
    todo = []
    for subset in sets:
        indices = []
        for i, uid in enumerate(subset.ids):
            if _done(out_dir, uid):
                kept += 1
                continue
            try:
                path = find_timings(own, uid) if own is not None else None
            except TimingsError:
                path = None
            if path is None:
                indices.append(i)
            else:
                shutil.copyfile(path, out_dir / path.name)
                copied += 1
        todo.append((subset, indices))
    done = kept + copied
    if on_batch is not None:
        on_batch(done, total)

    budget = batch_frames or cfg.train.batch_frames
    for subset, indices in todo:
        for chosen in batches(subset.lengths, indices, budget):
            batch = to_device(collate([subset[i] for i in chosen]), trained.device)
            durations = model(batch)["dur_tgt"].long().cpu().numpy()
            for b, i in enumerate(chosen):
                uid, symbols = subset.ids[i], subset.symbols[i]
                phones = phones_from_durations(symbols, durations[b, : len(symbols)], cfg.audio)
                record = {
                    "id": uid,
                    "engine": ENGINE,
                    **made_by,
                    "sample_rate": cfg.audio.sample_rate,
                    "phones": [asdict(p) for p in phones],
                }
                atomic_write_text(out_dir / f"{uid}.json", json.dumps(record) + "\n")
            aligned += len(chosen)
            done += len(chosen)
            if on_batch is not None:
                on_batch(done, total)
    log.info("%d timings copied and %d aligned into %s; %d were there", copied, aligned, out_dir, kept)
    return TimingsResult(out_dir, copied, aligned, kept)
