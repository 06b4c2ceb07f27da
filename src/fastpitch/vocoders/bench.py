"""`fastpitch bench vocoder`: real-time factor of every vocoder on the same mel, measured side by side.

Speed does not depend on the weights, so untrained generators are timed (weight norm removed, as at inference).
Runs are interleaved round-robin, so that load from other processes on a shared machine hits every vocoder
alike, and the best of the repeats is reported together with the median.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

import numpy as np
import torch

from fastpitch.config import AudioConfig
from fastpitch.cpu import describe_cpu
from fastpitch.vocoders.griffin_lim import GriffinLim
from fastpitch.vocoders.neural import NeuralVocoder, build_generator, named_config

BENCH_VOCODERS = ("griffin-lim", "hifigan-v1", "hifigan-v3", "istft")


def _vocoder(name: str, audio_cfg: AudioConfig) -> Any:
    if name == "griffin-lim":
        return GriffinLim(audio_cfg)
    arch, cfg = named_config(name, audio_cfg)
    return NeuralVocoder(build_generator(arch, cfg), arch, audio_cfg, "untrained")


def bench_vocoders(
    seconds: float = 10.0,
    threads: tuple[int, ...] = (2, 1),
    repeats: int = 3,
    names: tuple[str, ...] = BENCH_VOCODERS,
) -> dict[str, Any]:
    """Per thread count: seconds per call, real-time factor (time / audio duration), speed-up over real time.

    One thread is measured beside two because on a shared, oversubscribed CPU every parallel region of a
    two-thread run waits for a descheduled thread; the one-thread figures show what the models cost themselves.
    """
    audio_cfg = AudioConfig()
    torch.manual_seed(0)
    frames = round(seconds * audio_cfg.sample_rate / audio_cfg.hop_length)
    mel = torch.randn(1, audio_cfg.n_mels, frames) - 5.0
    duration = frames * audio_cfg.hop_length / audio_cfg.sample_rate
    vocoders = {name: _vocoder(name, audio_cfg) for name in names}
    load_before = os.getloadavg()[0]
    before = torch.get_num_threads()
    try:
        by_threads = {str(n): _measure(vocoders, mel, duration, n, repeats) for n in threads}
    finally:
        torch.set_num_threads(before)
    return {
        "benchmark": "vocoder",
        "audio_seconds": round(duration, 3),
        "repeats": repeats,
        "cpu": describe_cpu(),
        "cpu_count": os.cpu_count(),
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "numpy": np.__version__,
        "torch": torch.__version__,
        "threads": by_threads,
    }


def _measure(
    vocoders: dict[str, Any], mel: torch.Tensor, duration: float, threads: int, repeats: int
) -> dict:
    torch.set_num_threads(threads)
    times: dict[str, list[float]] = {name: [] for name in vocoders}
    for vocoder in vocoders.values():  # warm-up: allocator, thread pool, FFT plans
        vocoder(mel)
    for _ in range(repeats):
        for name, vocoder in vocoders.items():
            start = time.perf_counter()
            vocoder(mel)
            times[name].append(time.perf_counter() - start)
    results = {}
    for name, vocoder in vocoders.items():
        best = min(times[name])
        params = sum(p.numel() for p in vocoder.model.parameters()) if hasattr(vocoder, "model") else 0
        results[name] = {
            "seconds": round(best, 4),
            "median_seconds": round(statistics.median(times[name]), 4),
            "rtf": round(best / duration, 5),
            "x_realtime": round(duration / best, 1),
            "params": params,
        }
    speedups = {}
    if "istft" in results:
        for other in ("hifigan-v1", "hifigan-v3", "griffin-lim"):
            if other in results:
                speedups[f"istft_vs_{other}"] = round(
                    results[other]["seconds"] / results["istft"]["seconds"], 2
                )
    return {"vocoders": results, "speedups": speedups}
