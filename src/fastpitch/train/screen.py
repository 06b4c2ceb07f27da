"""Transcripts that do not match their audio, found by how badly the learned aligner explains them.

A clip whose transcript says something else (a re-take, a wrong file, a line read twice) cannot be aligned:
every monotonic path from the text through the mel costs more than on the clips that match. After the aligner
has learned from the whole set, the forward-sum loss of each clip, per mel frame, is its score; a clip far
above the others is flagged. The majority decides what "far" is, so the scores are compared robustly (median
and median absolute deviation), not against a fixed threshold.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from fastpitch import checkpoint as ckpt_io
from fastpitch.data.datasets import make_frontend
from fastpitch.data.features import FeatureCache
from fastpitch.data.loader import TTSDataset, collate
from fastpitch.models.aligner import forward_sum_loss

MIN_CLIPS = 5  # fewer clips give no majority to compare with
OUTLIER_MADS = 5.0  # robust z-score above which a clip is flagged
MIN_RATIO = 1.3  # ... and at least this many times the median score


@torch.no_grad()
def alignment_scores(checkpoint: Path, features: Path, ids: list[str]) -> dict[str, float]:
    """Forward-sum loss per mel frame of each utterance in `ids`, under the aligner of `checkpoint`."""
    from fastpitch.models import FastPitch

    ck = ckpt_io.load_checkpoint(checkpoint, with_optimizer=False)
    cfg = ck.config
    model = FastPitch(cfg.model)
    ckpt_io.load_weights(model, ck.ema if ck.ema is not None else ck.model, checkpoint)
    model.eval()
    cache = FeatureCache(features, cfg.audio)
    dataset = TTSDataset(cache, make_frontend(cfg.text), ids=[i for i in ids if i in cache])
    scores = {}
    for k in range(len(dataset)):
        item = dataset[k]
        batch = collate([item])
        outputs = model(batch)
        per_symbol = forward_sum_loss(outputs["attn_logprob"], batch["text_lens"], batch["mel_lens"])
        per_frame = float(per_symbol) * int(batch["text_lens"][0]) / int(batch["mel_lens"][0])
        scores[item["id"]] = per_frame
    return scores


def outliers(scores: dict[str, float]) -> list[str]:
    """The ids whose score stands far above the rest (none when there are too few clips to compare)."""
    if len(scores) < MIN_CLIPS:
        return []
    values = np.array(list(scores.values()))
    median = float(np.median(values))
    mad = float(np.median(np.abs(values - median))) * 1.4826 or 1e-6
    return sorted(
        uid for uid, s in scores.items() if (s - median) / mad > OUTLIER_MADS and s > median * MIN_RATIO
    )
