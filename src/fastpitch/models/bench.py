"""Acoustic-model speed: `fastpitch bench model` and the MAS half of `fastpitch bench align`.

* model: `FastPitch.infer` alone (no vocoder) for each config, batch size and text length, eager and
  `torch.compile`d, with durations fixed at 6 frames per symbol so that every run makes the same mel length.
* MAS: the compiled MAS against a plain Python loop on the same inputs (and that both agree), the cost of
  the beta-binomial prior. The aligner's quality, which needs training, is `fastpitch.bench.align`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from fastpitch.config import preset
from fastpitch.cpu import describe_cpu
from fastpitch.models.aligner import (
    beta_binomial_log_prior,
    mas,
)
from fastpitch.models.fastpitch import FastPitch

log = logging.getLogger(__name__)

FRAMES_PER_SYMBOL = 6  # LJSpeech-like phoneme rate: ~70 ms per symbol
N_SYMBOLS = 100  # symbol-table size for synthetic text (speed does not depend on it)


def machine() -> dict[str, Any]:
    """What the numbers were measured on: they move a lot with the load of a shared machine."""
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0],
        "processor": describe_cpu(),
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def _synced(fn: Callable[..., Any], device: torch.device) -> Callable[..., Any]:
    """fn, waiting for the GPU to finish before returning, so that wall-clock timing covers the work."""
    if device.type != "cuda":
        return fn

    def call(*args: Any, **kwargs: Any) -> Any:
        out = fn(*args, **kwargs)
        torch.cuda.synchronize(device)
        return out

    return call


def _best_time(
    fn: Callable[..., Any], *args: Any, repeats: int = 5, budget_s: float = 10.0, **kwargs: Any
) -> float:
    """Fastest of up to `repeats` calls of fn(*args, **kwargs) after one warm-up; stops once `budget_s` is spent."""
    fn(*args, **kwargs)
    best, start = float("inf"), time.perf_counter()
    for _ in range(repeats):
        t = time.perf_counter()
        fn(*args, **kwargs)
        best = min(best, time.perf_counter() - t)
        if time.perf_counter() - start > budget_s:
            break
    return best


# ------------------------------------------------------------------------------------------------ MAS


def mas_reference(log_attn: np.ndarray) -> np.ndarray:
    """MAS for one utterance (T, N) in plain Python loops: the baseline the compiled `mas` must match."""
    rows = np.asarray(log_attn, dtype=np.float64).tolist()
    t_len, n_len = len(rows), len(rows[0])
    neg = float("-inf")
    score = [neg] * n_len
    score[0] = rows[0][0]
    moved = [[False] * n_len]
    for t in range(1, t_len):
        row, new, came = rows[t], [0.0] * n_len, [False] * n_len
        for j in range(n_len):
            stay = score[j]
            move = score[j - 1] if j > 0 else neg
            if move >= stay:
                new[j], came[j] = move + row[j], True
            else:
                new[j] = stay + row[j]
        score = new
        moved.append(came)
    durations = [0] * n_len
    j = n_len - 1
    for t in range(t_len - 1, -1, -1):
        durations[j] += 1
        if t > 0 and moved[t][j]:
            j = max(j - 1, 0)
    return np.array(durations, dtype=np.int64)


def random_alignment(
    batch_size: int, n_symbols: int, n_frames: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log soft alignments (B, T, N) shaped like real ones (a noisy diagonal band) with varied lengths."""
    rng = np.random.default_rng(seed)
    text_lens = rng.integers(n_symbols // 2, n_symbols + 1, batch_size)
    mel_lens = np.maximum(text_lens * FRAMES_PER_SYMBOL * rng.uniform(0.7, 1.0, batch_size), text_lens)
    mel_lens = np.minimum(mel_lens.astype(np.int64), n_frames)
    text_lens[0], mel_lens[0] = n_symbols, n_frames
    prior = beta_binomial_log_prior(torch.from_numpy(text_lens), torch.from_numpy(mel_lens)).numpy()
    logits = prior.astype(np.float64) + rng.normal(0.0, 2.0, prior.shape)
    logits -= np.logaddexp.reduce(logits, axis=-1, keepdims=True)
    return logits, text_lens, mel_lens


def bench_mas(
    shapes: Sequence[tuple[int, int, int]] = ((1, 50, 300), (16, 100, 600), (16, 200, 1200)),
    repeats: int = 5,
) -> list[dict[str, Any]]:
    """Compiled MAS vs the plain loop per (batch, symbols, frames); also the prior's cost."""
    rows = []
    for b, n, t in shapes:
        log_attn, text_lens, mel_lens = random_alignment(b, n, t)
        fast = _best_time(mas, log_attn, text_lens, mel_lens, repeats=repeats)
        start = time.perf_counter()
        reference = [mas_reference(log_attn[i, : mel_lens[i], : text_lens[i]]) for i in range(b)]
        loop = time.perf_counter() - start
        got = mas(log_attn, text_lens, mel_lens)
        agree = all(np.array_equal(got[i, : text_lens[i]], reference[i]) for i in range(b))
        tl_t, ml_t = torch.from_numpy(text_lens), torch.from_numpy(mel_lens)
        prior = _best_time(beta_binomial_log_prior, tl_t, ml_t, repeats=repeats)
        rows.append(
            {
                "batch": b,
                "symbols": n,
                "frames": t,
                "compiled_ms": round(fast * 1e3, 2),
                "python_loop_ms": round(loop * 1e3, 1),
                "speedup": round(loop / fast, 1),
                "identical_paths": agree,
                "durations_sum_to_mel_lens": bool((got.sum(1) == mel_lens).all()),
                "prior_ms": round(prior * 1e3, 2),
            }
        )
        log.info("MAS %s", rows[-1])
    return rows


# ------------------------------------------------------------------------------------------------ model


def bench_model(
    presets: Sequence[str] = ("default", "small"),
    batch_sizes: Sequence[int] = (1, 16),
    symbol_counts: Sequence[int] = (50, 200),
    compile: bool = True,
    repeats: int = 5,
    budget_s: float = 20.0,
    device: str = "cpu",
) -> dict[str, Any]:
    """Inference time of the acoustic model alone, eager and compiled (compile time reported apart), in fp32."""
    timing = {"repeats": repeats, "budget_s": budget_s}
    dev = torch.device(device)
    results: dict[str, Any] = {
        "machine": machine(),
        "device": str(dev),
        "frames_per_symbol": FRAMES_PER_SYMBOL,
        "configs": [],
    }
    for name in presets:
        cfg = preset(name, [f"model.n_symbols={N_SYMBOLS}"])
        torch.manual_seed(0)
        model = FastPitch(cfg.model, aligner=False).eval().to(dev)
        model.set_pitch_stats(150.0, 30.0)
        params = sum(p.numel() for p in model.parameters())
        infer = _synced(model.infer, dev)
        compiled = _synced(torch.compile(model.infer, dynamic=True), dev) if compile else None
        for b in batch_sizes:
            for n in symbol_counts:
                text = torch.randint(1, N_SYMBOLS, (b, n)).to(dev)
                lens = torch.full((b,), n, device=dev)
                durations = torch.full((b, n), float(FRAMES_PER_SYMBOL), device=dev)
                row: dict[str, Any] = {"preset": name, "params": params, "batch": b, "symbols": n}
                row["frames"] = n * FRAMES_PER_SYMBOL
                audio_s = b * row["frames"] * cfg.audio.hop_length / cfg.audio.sample_rate
                with torch.inference_mode():
                    eager = _best_time(infer, text, lens, durations=durations, **timing)
                    row["eager_ms"] = round(eager * 1e3, 1)
                    row["eager_x_realtime"] = round(audio_s / eager, 1)
                    if compiled is not None:
                        start = time.perf_counter()
                        compiled(text, lens, durations=durations)
                        row["compile_s"] = round(time.perf_counter() - start, 1)
                        fast = _best_time(compiled, text, lens, durations=durations, **timing)
                        row["compiled_ms"] = round(fast * 1e3, 1)
                        row["compiled_x_realtime"] = round(audio_s / fast, 1)
                        row["compile_speedup"] = round(eager / fast, 2)
                results["configs"].append(row)
                log.info("model %s", row)
    return results
