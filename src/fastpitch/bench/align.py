"""The learned aligner's quality (`fastpitch bench align` with a corpus): its boundary error against reference
timings (mean absolute error, share of boundaries off by more than 50 ms), after training for a few minutes or
from a checkpoint, beside the MAS speed of `fastpitch.models.bench`.

It spans data, models and training, so it lives here rather than in any of them.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from fastpitch.config import Config, preset
from fastpitch.errors import FastPitchError
from fastpitch.models.aligner import (
    beta_binomial_log_prior,
    binarization_loss,
    durations_to_alignment,
    forward_sum_loss,
    mas,
)
from fastpitch.models.bench import bench_mas, machine
from fastpitch.models.fastpitch import FastPitch
from fastpitch.models.layers import mask_from_lens
from fastpitch.train import RunOptions, Trainer

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------------ aligner quality


def aligner_outputs(model: FastPitch, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """The aligner alone on a batch: (attn_logprob, attn_soft), each (B, T, N)."""
    text, text_lens, mel, mel_lens = batch["text"], batch["text_lens"], batch["mel"], batch["mel_lens"]
    text_mask = mask_from_lens(text_lens, text.size(1))
    mel_mask = mask_from_lens(mel_lens, mel.size(2))
    prior = beta_binomial_log_prior(text_lens, mel_lens, text.size(1), mel.size(2))
    return model.aligner(mel, model.embedding(text), text_mask, mel_mask, prior)


def score_aligner(
    model: FastPitch, cfg: Config, features: Path, timings: Path, ids: Sequence[str] | None, batch_frames: int
) -> dict[str, Any]:
    """Boundary error of the model's MAS durations against the reference timings on utterances `ids`.

    The prior-only alignment (MAS over the beta-binomial prior, no learning) is scored on the same
    boundaries, as the floor any learned aligner must beat.
    """
    from fastpitch.data.datasets import make_frontend
    from fastpitch.data.loader import LengthBucketSampler, TTSDataset, collate
    from fastpitch.data.timings import score_boundaries

    if model.aligner is None:
        raise FastPitchError("the model has no aligner (trained with external durations)")
    model.set_boundary_cost(cfg.text.symbols, cfg.train.mas_boundary_cost)
    data = TTSDataset(features, make_frontend(cfg.text), durations="external", timings_dir=timings, ids=ids)
    sampler = LengthBucketSampler(data.lengths, batch_frames, shuffle=False)
    learned, prior_only, reference = [], [], []
    model.eval()
    with torch.no_grad():
        for indices in sampler:
            batch = collate([data[i] for i in indices])
            ref = batch.pop("durations")
            logprob, _ = aligner_outputs(model, batch)
            durations = model.mas_durations(logprob, batch["text"], batch["text_lens"], batch["mel_lens"])
            lp = beta_binomial_log_prior(batch["text_lens"], batch["mel_lens"]).numpy()
            flat = mas(lp, batch["text_lens"].numpy(), batch["mel_lens"].numpy())
            for i, n in enumerate(batch["text_lens"].tolist()):
                learned.append(durations[i, :n].numpy())
                prior_only.append(flat[i, :n])
                reference.append(ref[i, :n].numpy())
    return {
        "utterances": len(reference),
        "learned": score_boundaries(learned, reference, cfg.audio),
        "prior_only": score_boundaries(prior_only, reference, cfg.audio),
    }


def train_for(
    cfg: Config, features: Path, dataset: Path | None, minutes: float
) -> tuple[FastPitch, Config, dict[str, Any]]:
    """Train FastPitch with the learned aligner for `minutes` through fastpitch.train's public API.

    Returns the model, the config the trainer settled (symbol table, speakers) and a summary of the run.
    """
    cfg.train.durations = "learned"
    with tempfile.TemporaryDirectory() as out_dir:
        opts = RunOptions(
            features=features, out_dir=Path(out_dir), dataset=dataset, progress=False, device="cpu"
        )
        trainer = Trainer(cfg, opts)
        engine, sampler = trainer.engine, trainer.data.train_sampler
        loader = trainer.data.loader(sampler)
        deadline = time.monotonic() + minutes * 60.0
        epoch, stats = 0, {}
        while time.monotonic() < deadline:
            sampler.set_epoch(epoch)
            for batch in loader:
                stats = engine.train_step([batch])
                if engine.step % 50 == 0:
                    log.info("step %d: %s", engine.step, {k: round(float(v), 3) for k, v in stats.items()})
                if time.monotonic() >= deadline:
                    break
            epoch += 1
    summary = {"steps": engine.step, "epochs": epoch, "minutes": minutes}
    summary.update({k: round(float(v), 4) for k, v in stats.items() if k in ("mel", "attn", "kl", "total")})
    return engine.raw_model, trainer.cfg, summary


def train_aligner_only(
    cfg: Config, features: Path, minutes: float, lr: float = 1e-3, log_every: int = 50
) -> tuple[FastPitch, Config, dict[str, Any]]:
    """Train only the symbol embedding and the aligner (forward-sum, then binarization) for `minutes`.

    The aligner is a few percent of a FastPitch step, so this reaches its plateau in minutes on a CPU where
    joint training would take hours; its boundary error is what joint training starts from.
    """
    from fastpitch.data.datasets import make_frontend
    from fastpitch.data.features import FeatureCache
    from fastpitch.data.loader import LengthBucketSampler, TTSDataset, collate
    from fastpitch.text import get_symbol_table

    cfg.text.symbols = cfg.text.symbols or list(get_symbol_table(cfg.text.symbol_set).symbols)
    cfg.model.n_symbols, cfg.model.learn_alignment = len(cfg.text.symbols), True
    cache = FeatureCache(features)
    cfg.audio = cache.audio
    data = TTSDataset(cache, make_frontend(cfg.text), ids=_train_ids(cache))
    sampler = LengthBucketSampler(data.lengths, cfg.train.batch_frames, seed=cfg.train.seed)
    torch.manual_seed(cfg.train.seed)
    model = FastPitch(cfg.model)
    model.set_boundary_cost(cfg.text.symbols, cfg.train.mas_boundary_cost)
    params = [*model.embedding.parameters(), *model.aligner.parameters()]
    opt = torch.optim.Adam(params, lr=lr)
    tc, step, epoch, terms = cfg.train, 0, 0, {}
    deadline = time.monotonic() + minutes * 60.0
    while time.monotonic() < deadline:
        sampler.set_epoch(epoch)
        for indices in sampler:
            batch = collate([data[i] for i in indices])
            logprob, soft = aligner_outputs(model, batch)
            loss = terms["attn"] = forward_sum_loss(logprob, batch["text_lens"], batch["mel_lens"])
            if step >= tc.binarization_start_step:
                durations = model.mas_durations(  # plain MAS, as in joint training (see FastPitch.forward)
                    logprob, batch["text"], batch["text_lens"], batch["mel_lens"], boundary_cost=False
                )
                hard = durations_to_alignment(durations, batch["mel"].size(2))
                terms["kl"] = binarization_loss(hard, soft)
                ramp = min(
                    (step - tc.binarization_start_step + 1) / max(tc.binarization_warmup_steps, 1), 1.0
                )
                loss = loss + ramp * tc.kl_loss_weight * terms["kl"]
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, tc.grad_clip)
            opt.step()
            step += 1
            if step % log_every == 0:
                log.info("aligner step %d: %s", step, {k: round(v.item(), 3) for k, v in terms.items()})
            if time.monotonic() >= deadline:
                break
        epoch += 1
    summary = {"aligner_only": True, "steps": step, "epochs": epoch, "minutes": minutes, "lr": lr}
    summary.update({k: round(v.item(), 4) for k, v in terms.items()})
    return model, cfg, summary


def _train_ids(cache: Any) -> list[str]:
    from fastpitch.data.datasets import read_split

    root = Path(cache.dataset) if cache.dataset else None
    if (
        root is not None
        and (root if root.is_dir() else root.parent).joinpath("splits", "train.txt").is_file()
    ):
        root = root if root.is_dir() else root.parent
        return [i for i in read_split(root, "train") if i in cache]
    return list(cache.ids)


def bench_align(
    features: Path | None = None,
    timings: Path | None = None,
    checkpoint: Path | None = None,
    train_minutes: float | None = None,
    preset_name: str = "small",
    overrides: Sequence[str] = (),
    max_utterances: int = 200,
    aligner_only: bool = False,
    mas_shapes: Sequence[tuple[int, int, int]] = ((1, 50, 300), (16, 100, 600), (16, 200, 1200)),
) -> dict[str, Any]:
    """MAS speed always; aligner quality when a corpus (`features` + `timings`) and a model source are given."""
    result: dict[str, Any] = {"machine": machine(), "mas": bench_mas(mas_shapes)}
    if features is None:
        return result
    if timings is None:
        raise FastPitchError("--features needs --timings (the corpus's timings/ folder or MFA TextGrids)")
    if (checkpoint is None) == (train_minutes is None):
        raise FastPitchError("give either --checkpoint or --train-minutes to score the aligner")
    from fastpitch.config import apply_overrides
    from fastpitch.data.features import FeatureCache

    if checkpoint is not None:
        from fastpitch.checkpoint import load_checkpoint, load_weights

        ck = load_checkpoint(checkpoint, with_optimizer=False)
        cfg = apply_overrides(ck.config, list(overrides))  # e.g. another train.mas_boundary_cost
        model = FastPitch(cfg.model)
        load_weights(model, ck.model, checkpoint)
        result["model"] = {"checkpoint": str(checkpoint), "step": ck.step}
    else:
        cfg = apply_overrides(preset(preset_name), list(overrides))
        if aligner_only:
            model, cfg, summary = train_aligner_only(cfg, features, float(train_minutes))
        else:
            model, cfg, summary = train_for(cfg, features, None, float(train_minutes))
        result["model"] = {"preset": preset_name, "overrides": list(overrides), **summary}
    ids = _eval_ids(FeatureCache(features), timings, max_utterances)
    result["quality"] = score_aligner(model, cfg, features, timings, ids, cfg.train.batch_frames)
    result["quality"]["goal"] = {"mean_ms": 20.0, "frac_over_50ms": 0.05}
    return result


def _eval_ids(cache: Any, timings: Path, limit: int) -> list[str]:
    """Validation (else test, else all) utterances of the corpus that have timings, at most `limit`."""
    from fastpitch.data.datasets import read_split
    from fastpitch.data.timings import TimingsError, find_timings

    root = Path(cache.dataset) if cache.dataset else None
    ids = list(cache.ids)
    if root is not None:
        root = root if root.is_dir() else root.parent
        for split in ("val", "test"):
            if (root / "splits" / f"{split}.txt").is_file():
                ids = [i for i in read_split(root, split) if i in cache]
                break
    found = []
    for uid in ids:
        try:
            find_timings(timings, uid)
        except TimingsError:
            continue
        found.append(uid)
    if not found:
        raise FastPitchError(f"no utterance of the features has timings in {timings}")
    return found[:limit]
