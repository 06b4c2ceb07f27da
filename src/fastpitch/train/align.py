"""The learned aligner for a model that has none, and transcripts that do not match their audio.

A voice ships without its aligner (`FastPitch.inference_state_dict`), yet fine-tuning with learned durations
needs one: started from scratch inside the full training step, it would feed the decoder random durations for
its first hundred steps. `train_aligner` first trains the aligner alone (`FastPitch.align`: the symbol
embedding and the mel in, no encoder or decoder), everything else frozen, a few seconds a hundred steps.

A clip whose transcript says something else (a re-take, a wrong file, a line read twice) cannot be aligned:
the aligner explains its audio hardly better than the alignment prior alone does. Once the aligner has learned
from the whole set, that gain is each clip's score (`alignment_scores`); a clip far above the others is flagged
(`outliers`). The majority decides what "far" is, so the scores are
compared robustly (median and median absolute deviation), not against a fixed threshold.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from fastpitch import checkpoint as ckpt_io
from fastpitch.data.datasets import make_frontend
from fastpitch.data.features import FeatureCache
from fastpitch.data.loader import TTSDataset, collate
from fastpitch.models.aligner import beta_binomial_log_prior, forward_sum_loss
from fastpitch.train.acoustic import EpochBatches
from fastpitch.train.data import TrainData
from fastpitch.train.distributed import Distributed
from fastpitch.train.runner import seed_everything

log = logging.getLogger(__name__)

MIN_CLIPS = 6  # fewer clips give no majority to compare with
OUTLIER_MADS = 3.0  # robust z-score above which a clip is flagged (docs/finetune.md: matching clips reach 2)
MIN_GAIN_SHARE = 0.25  # ... whose gain over the prior is also under this share of the median gain
# nats per frame: an aligner that beats the prior by less on a typical clip cannot judge
MAX_MEDIAN_GAIN = -0.01


def _model_with_aligner(ck: ckpt_io.Checkpoint) -> torch.nn.Module:
    """The checkpoint's model, with an aligner (its own if it has one, else a fresh one)."""
    from fastpitch.models import FastPitch

    model = FastPitch(ck.config.model, aligner=True)
    state = model.state_dict()
    state.update({k: v for k, v in ck.model.items() if k in state and v.shape == state[k].shape})
    ckpt_io.load_weights(model, state, ck.path or "checkpoint")
    return model


def train_aligner(
    init: Path,
    features: Path,
    dataset: Path,
    out_dir: Path,
    steps: int,
    learning_rate: float = 1e-3,
    batch_frames: int = 6000,
    on_step: Callable[[int, int], None] | None = None,
    deadline: float | None = None,
) -> Path:
    """Train the aligner of `init`'s model on `dataset`'s training split, all else frozen; returns the checkpoint
    (the whole model, aligner included) written to `out_dir`, from which `fastpitch train --init-from` goes on.

    `deadline` (time.monotonic()) ends it early, after at least one step.
    """
    ck = ckpt_io.load_checkpoint(init, with_optimizer=False)
    cfg = copy.deepcopy(ck.config)
    cfg.model.learn_alignment = True
    cfg.train.batch_frames, cfg.train.num_workers = batch_frames, 0
    seed_everything(cfg.train.seed)
    model = _model_with_aligner(ck)
    model.requires_grad_(False)
    model.aligner.requires_grad_(True)
    model.train()
    data = TrainData(cfg, features, dataset, Distributed(), strict_audio=True)
    stream = iter(data.loader(EpochBatches(data.train_sampler, 0, 0)))
    optimizer = torch.optim.Adam(model.aligner.parameters(), lr=learning_rate)
    step, loss = 0, float("nan")
    while step < steps and not (step > 0 and deadline is not None and time.monotonic() >= deadline):
        batch = next(stream)
        value = forward_sum_loss(model.align(batch), batch["text_lens"], batch["mel_lens"])
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
        step, loss = step + 1, float(value.detach())
        if on_step is not None:
            on_step(step, steps)
    log.info("aligner trained %d steps, forward-sum loss %.3f", step, loss)
    provenance = {"init_from": str(init), "aligner_steps": step, "aligner_loss": loss}
    saved = ckpt_io.Checkpoint(config=cfg, step=step, model=model.state_dict(), provenance=provenance)
    return ckpt_io.save_checkpoint(out_dir, saved, keep_last=1)


@torch.no_grad()
def alignment_scores(checkpoint: Path, features: Path, ids: list[str]) -> dict[str, float]:
    """How little the aligner of `checkpoint` explains each utterance in `ids` beyond the prior: the forward-sum
    loss per mel frame under the aligner minus the same under the beta-binomial prior alone (lower is better).

    The raw loss would not do: it grows with the number of symbols (a softmax over more of them), so a wrong
    but short transcript can score better than a right long one. The prior shares that dependence, and the
    difference keeps only what the audio says about the text.
    """
    ck = ckpt_io.load_checkpoint(checkpoint, with_optimizer=False)
    model = _model_with_aligner(ck).eval()
    cache = FeatureCache(features, ck.config.audio)
    dataset = TTSDataset(cache, make_frontend(ck.config.text), ids=[i for i in ids if i in cache])
    scores = {}
    for k in range(len(dataset)):
        batch = collate([dataset[k]])
        text_lens, mel_lens = batch["text_lens"], batch["mel_lens"]
        n, t = int(text_lens[0]), int(mel_lens[0])
        prior = beta_binomial_log_prior(text_lens, mel_lens) - math.log(n)  # uniform scores, then the prior
        gain = forward_sum_loss(model.align(batch), text_lens, mel_lens) - forward_sum_loss(
            prior, text_lens, mel_lens
        )
        scores[batch["ids"][0]] = float(gain) * n / t  # the loss is per symbol; per frame compares clips
    return scores


def outliers(scores: dict[str, float]) -> list[str]:
    """The ids whose score stands far above the rest: more than `OUTLIER_MADS` robust deviations above the median,
    and a gain under `MIN_GAIN_SHARE` of the typical one. None when there are too few clips to compare, or when
    the aligner does not beat the prior on a typical clip (it has not learned enough to judge)."""
    if len(scores) < MIN_CLIPS:
        return []
    values = np.array(list(scores.values()))
    median = float(np.median(values))
    if median > MAX_MEDIAN_GAIN:
        return []
    mad = float(np.median(np.abs(values - median))) * 1.4826 or 1e-6
    return sorted(
        uid for uid, s in scores.items() if (s - median) / mad > OUTLIER_MADS and s > MIN_GAIN_SHARE * median
    )
