"""`fastpitch bench train`: how fast training runs, against what the hardware can do in the same run.

For each (device, config): mel frames per second of full training steps (forward, loss, backward, clip,
optimiser, EMA) on synthetic speech-shaped batches, peak memory, the model's analytic FLOPs per frame
(`fastpitch.models.count_flops_per_frame`), the FLOP/s that makes, and that as a fraction of the FLOP/s of the
model's largest matrix product (the decoder's conv feed-forward as one GEMM: frames x (kernel*d) x d_inner)
timed in the same process. One step is profiled with torch.profiler: time per phase and the top operators.
Batches are the preset's own size (`train.batch_frames`) unless told otherwise.

Each measurement runs in a fresh process so that peak memory (RSS on CPU) belongs to that config alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

import torch

from fastpitch.config import Config, preset
from fastpitch.cpu import describe_cpu

FRAMES_PER_SYMBOL = 6.0  # LJSpeech-like phoneme rate (~70 ms per symbol)
UTTERANCE_FRAMES = 600  # ~7 s, LJSpeech's mean
PHASES = ("forward", "loss", "backward", "optimizer", "ema", "MAS")


def synthetic_batch(cfg: Config, batch_frames: int, seed: int = 0) -> dict[str, Any]:
    """A collate-shaped batch of utterances around 600 frames with 6 frames per symbol."""
    g = torch.Generator().manual_seed(seed)
    b = max(1, batch_frames // UTTERANCE_FRAMES)
    mel_lens = torch.randint(int(UTTERANCE_FRAMES * 0.9), UTTERANCE_FRAMES + 1, (b,), generator=g)
    mel_lens[0] = UTTERANCE_FRAMES
    text_lens = (mel_lens.float() / FRAMES_PER_SYMBOL).long()
    t, n = int(mel_lens.max()), int(text_lens.max())
    frame_mask = torch.arange(t)[None] < mel_lens[:, None]
    text = torch.randint(1, cfg.model.n_symbols, (b, n), generator=g) * (
        torch.arange(n)[None] < text_lens[:, None]
    )
    voiced = (torch.rand(b, t, generator=g) > 0.4) & frame_mask
    batch = {
        "ids": [f"synthetic-{i}" for i in range(b)],
        "text": text,
        "text_lens": text_lens,
        "mel": torch.randn(b, cfg.audio.n_mels, t, generator=g) * frame_mask[:, None],
        "mel_lens": mel_lens,
        "pitch": torch.randn(b, t, generator=g) * voiced,
        "voiced": voiced,
        "energy": torch.randn(b, t, generator=g) * frame_mask,
        "speaker": torch.zeros(b, dtype=torch.long),
    }
    if cfg.train.durations == "external":
        base = torch.full((b, n), int(FRAMES_PER_SYMBOL)) * (torch.arange(n)[None] < text_lens[:, None])
        base[torch.arange(b), text_lens - 1] += mel_lens - base.sum(1)
        batch["durations"] = base
    return batch


def _bench_config(cfg: Config) -> Config:
    from fastpitch.text.symbols import get_symbol_table

    cfg.text.symbols = list(get_symbol_table(cfg.text.symbol_set).symbols)
    cfg.model.n_symbols = len(cfg.text.symbols)
    cfg.model.learn_alignment = cfg.train.durations == "learned"
    return cfg


def matmul_flops_per_s(
    m: int, k: int, n: int, device: torch.device, dtype: torch.dtype, seconds: float
) -> tuple[float, float]:
    """Sustained FLOP/s of an (m, k) @ (k, n) product on `device`: per wall second and per CPU second."""
    a = torch.randn(m, k, device=device, dtype=dtype)
    b = torch.randn(k, n, device=device, dtype=dtype)
    out = torch.empty(m, n, device=device, dtype=dtype)
    torch.mm(a, b, out=out)
    _sync(device)
    reps, start, cpu_start = 0, time.perf_counter(), time.process_time()
    while True:
        torch.mm(a, b, out=out)
        reps += 1
        if reps % 4 == 0:
            _sync(device)
            if time.perf_counter() - start > seconds:
                break
    flops = 2.0 * m * k * n * reps
    return flops / (time.perf_counter() - start), flops / max(time.process_time() - cpu_start, 1e-9)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _measure(preset_name: str, device_name: str, steps: int, batch_frames: int | None, profile: bool) -> str:
    """One (config, device) measurement; runs in its own process and returns JSON."""
    from fastpitch.allocator import reuse_freed_memory
    from fastpitch.train import Engine

    reuse_freed_memory()  # a fresh process: `fastpitch` set this in its parent only
    device = torch.device(device_name)
    cfg = _bench_config(preset(preset_name, ["train.amp=bf16"] if device.type == "cuda" else []))
    torch.manual_seed(0)
    engine = Engine(cfg, device)
    engine.raw_model.set_pitch_stats(150.0, 30.0)
    batch = synthetic_batch(cfg, batch_frames or cfg.train.batch_frames)
    with _labelled_mas():
        return json.dumps(_timed_run(preset_name, engine, batch, device, steps, profile))


@contextlib.contextmanager
def _labelled_mas() -> Iterator[None]:
    """Label monotonic alignment search (numpy, invisible to the profiler otherwise) as "MAS" in profiles."""
    from fastpitch.models import fastpitch as fastpitch_module

    mas = fastpitch_module.hard_durations

    def labelled(*args: Any, **kwargs: Any) -> torch.Tensor:
        with torch.profiler.record_function("MAS"):
            return mas(*args, **kwargs)

    fastpitch_module.hard_durations = labelled
    try:
        yield
    finally:
        fastpitch_module.hard_durations = mas


def _timed_run(
    preset_name: str, engine: Any, batch: dict[str, Any], device: torch.device, steps: int, profile: bool
) -> dict[str, Any]:
    from fastpitch.models import count_flops_per_frame

    cfg = engine.cfg
    frames = int(batch["mel_lens"].sum())
    for _ in range(2):  # warm-up: allocator, kernels, autotuning
        engine.train_step([batch])
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(steps):
        engine.train_step([batch])
    _sync(device)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    fps = frames * steps / elapsed

    m = cfg.model
    flops_frame = count_flops_per_frame(m, FRAMES_PER_SYMBOL, UTTERANCE_FRAMES, training=True)
    padded_frames = batch["mel"].shape[0] * batch["mel"].shape[2]
    dtype = engine.amp_dtype or torch.float32
    gemm = (
        padded_frames,
        m.out_fft_conv1d_kernel_size * m.symbols_embedding_dim,
        m.out_fft_conv1d_filter_size,
    )
    matmul, matmul_cpu = matmul_flops_per_s(*gemm, device, dtype, seconds=min(3.0, max(1.0, elapsed / steps)))
    achieved = flops_frame * fps
    achieved_cpu = flops_frame * frames * steps / max(cpu, 1e-9)
    result: dict[str, Any] = {
        "preset": preset_name,
        "device": str(device),
        "dtype": str(dtype).replace("torch.", ""),
        "parameters": sum(p.numel() for p in engine.raw_model.parameters()),
        "batch_utterances": len(batch["ids"]),
        "batch_frames": frames,
        "learned_alignment": m.learn_alignment,
        "optimizer": cfg.train.optimizer,
        "steps": steps,
        "seconds_per_step": elapsed / steps,
        # CPU time of all threads: well under wall time x threads means the run waited on other load
        "cpu_seconds_per_step": cpu / steps,
        "frames_per_s": fps,
        "flops_per_frame": flops_frame,
        "achieved_flops_per_s": achieved,
        "matmul_shape": list(gemm),
        "matmul_flops_per_s": matmul,
        "fraction_of_matmul": achieved / matmul,
    }
    if device.type == "cuda":
        result["peak_memory_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        # the same ratio per CPU second: steadier than wall time when other work shares the machine
        result["fraction_of_matmul_cpu_time"] = achieved_cpu / matmul_cpu
    if profile:
        result["profile"] = _profile(engine, batch, device)
    return result


def _profile(engine: Any, batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Where one training step's time goes: phases (forward, backward, …) and the top operators by self time."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    start = time.perf_counter()
    with profile(activities=activities) as prof:
        engine.train_step([batch])
        _sync(device)
    wall = time.perf_counter() - start
    events = prof.key_averages()
    time_attr = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    phases: dict[str, float] = {}
    for e in events:  # on CUDA each phase also appears as a GPU annotation with no CPU time: keep the larger
        if e.key in PHASES:
            phases[e.key] = max(phases.get(e.key, 0.0), e.cpu_time_total / 1e6)
    # On CUDA the kernels alone: an operator's self device time repeats that of the kernels it launched.
    ops = sorted(
        (
            e
            for e in events
            if e.key not in PHASES
            and not e.key.startswith("ProfilerStep")
            and (device.type != "cuda" or e.device_type == DeviceType.CUDA)
        ),
        key=lambda e: getattr(e, time_attr),
        reverse=True,
    )
    total_self = sum(getattr(e, time_attr) for e in ops) or 1.0
    report: dict[str, Any] = {"step_seconds_profiled": wall}
    if device.type == "cuda":  # the share of the step the GPU computed; the rest it waited for the CPU
        report["device_busy_fraction"] = total_self / 1e6 / wall
    return {
        **report,
        "phase_seconds": phases,
        "top_ops": [
            {"op": e.key, "share": getattr(e, time_attr) / total_self, "calls": e.count} for e in ops[:12]
        ],
    }


def bench_train(
    presets: list[str],
    devices: list[str],
    steps: int = 4,
    batch_frames: int | None = None,
    profile: bool = True,
) -> dict[str, Any]:
    """Measure every (device, preset) pair, each in a fresh process; returns the JSON-able report. Batches hold
    `batch_frames` mel frames, by default each preset's own `train.batch_frames` (16,000 for NVIDIA's config):
    the optimiser's fixed cost per step weighs as it does in training."""
    runs = []
    ctx = get_context("spawn")
    for device in devices:
        for name in presets:
            with ProcessPoolExecutor(1, mp_context=ctx) as pool:
                runs.append(
                    json.loads(pool.submit(_measure, name, device, steps, batch_frames, profile).result())
                )
    return {
        "benchmark": "train",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "load_average_1min": os.getloadavg()[0],  # other work on the machine slows every number below
        "machine": describe_cpu(),
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "note": "synthetic batches of ~600-frame utterances, 6 frames per symbol; matmul = the decoder's conv "
        "feed-forward as one GEMM, timed in the same process",
        "runs": runs,
    }
