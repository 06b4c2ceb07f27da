"""`fastpitch bench synth`: where synthesis time goes, torch eager vs ONNX Runtime, against this machine's floor.

For one utterance of about `seconds` of audio it times the text frontend, the acoustic model and the vocoder
(best of `repeats`, after a warm-up), end to end, and the time to first audio when streaming a 20-sentence
text. Each model's FLOPs are counted (`torch.utils.flop_counter`) on that very utterance and a large fp32
matmul is timed in the same run, so `floor_ms` (FLOPs / matmul rate) says how fast the model could be here
and `vs_floor` how far each engine is from it. Without a trained voice, an untrained stand-in of `preset`
with uniform durations is timed: speed does not depend on the weights.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch

from fastpitch.config import preset as config_preset
from fastpitch.cpu import describe_cpu
from fastpitch.export import export_voice
from fastpitch.runtime import OnnxSynthesizer
from fastpitch.runtime.pipeline import Controls
from fastpitch.synthesis import Synthesizer
from fastpitch.text import get_symbol_table
from fastpitch.voice import DEFAULT_VOICE, VOICE_JSON, Voice, read_voice
from fastpitch.voice_create import save_voice

TEXT = (
    "The old lighthouse keeper climbed the winding stairs every evening, trimmed the wick, and watched the "
    "ships pass safely through the narrow channel, long after the harbour lights below had gone dark."
)
STREAM_TEXT = " ".join(
    f"This is sentence number {n} of the streaming test, and it is of ordinary length." for n in range(1, 21)
)
FRAMES_PER_SYMBOL = 6.0  # the stand-in voice's uniform duration (about 70 ms, as in read English)


def _interleaved(calls: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Best wall time of each call over `repeats` rounds, after one warm-up round. The calls take turns, so
    load from other processes on a shared machine hits every one of them alike."""
    for fn in calls.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, fn in calls.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: min(t) for name, t in times.items()}


def matmul_gflops(threads: int, size: int = 1024, repeats: int = 10) -> float:
    """This machine's fp32 matmul rate on `threads` threads (GFLOP/s), the floor every model is held to."""
    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    seconds = _interleaved({"mm": lambda: torch.mm(a, b)}, repeats)["mm"]
    return 2 * size**3 / seconds / 1e9


def count_flops(fn: Callable[[], Any]) -> int:
    """FLOPs of matrix products, convolutions and attention in one call of `fn`."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        fn()
    return int(counter.get_total_flops())


def standin_voice(out_dir: Path, preset: str, vocoder: str) -> Voice:
    """An untrained voice of `preset` (uniform durations, 200 Hz pitch) with an untrained `vocoder`."""
    from fastpitch.models import FastPitch

    cfg = config_preset(preset)
    cfg.text.symbols = list(get_symbol_table(cfg.text.symbol_set).symbols)
    cfg.model.n_symbols = len(cfg.text.symbols)
    torch.manual_seed(0)
    model = FastPitch(cfg.model, aligner=False).eval()
    with torch.no_grad():
        model.duration_predictor.proj.weight.zero_()
        model.duration_predictor.proj.bias.fill_(float(np.log1p(FRAMES_PER_SYMBOL)))
    model.set_pitch_stats(200.0, 40.0)
    vocoder_type, vocoder_config, vocoder_state = "griffin-lim", {}, None
    if vocoder != "griffin-lim":
        import dataclasses

        from fastpitch.vocoders.neural import build_generator, named_config

        vocoder_type, generator_cfg = named_config(vocoder, cfg.audio)
        generator = build_generator(vocoder_type, generator_cfg).remove_weight_norm()
        vocoder_config, vocoder_state = dataclasses.asdict(generator_cfg), generator.state_dict()
    return save_voice(
        out_dir,
        name=f"untrained-{preset}-{vocoder}",
        audio=cfg.audio,
        text=cfg.text,
        model=cfg.model,
        acoustic_state=model.inference_state_dict(),
        speakers=["default"],
        vocoder_type=vocoder_type,
        vocoder_config=vocoder_config,
        vocoder_state=vocoder_state,
        fp16=False,
    )


def bench_synth(
    voice: str | Path | None = None,
    preset: str = "default",
    vocoder: str = "istft",
    seconds: float = 10.0,
    threads: int = 2,
    repeats: int = 3,
    stand_in: bool = False,
) -> dict[str, Any]:
    """Run the benchmark (see the module docstring) and return its results as a JSON-able dict; `stand_in`
    times an untrained `preset` voice even when the default voice is installed."""
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(prefix="fastpitch-bench-") as tmp:
        if voice is None and not stand_in and (DEFAULT_VOICE / VOICE_JSON).is_file():
            voice = DEFAULT_VOICE
        meta = read_voice(voice) if voice is not None else standin_voice(Path(tmp) / "voice", preset, vocoder)
        if not meta.has_onnx:
            meta = export_voice(meta.path, Path(tmp) / "exported")
        rate_before = matmul_gflops(threads)
        start = time.perf_counter()
        engines: dict[str, Any] = {"torch": Synthesizer.load(meta.path, threads=threads)}
        load_s = {"torch": time.perf_counter() - start}
        start = time.perf_counter()
        engines["onnx"] = OnnxSynthesizer(meta, threads=threads)
        load_s["onnx"] = time.perf_counter() - start
        torch.set_num_threads(threads)

        frontend = engines["torch"].frontend
        ids = frontend.encode(TEXT)
        frontend_s = _interleaved({"frontend": lambda: frontend.encode(TEXT)}, repeats)["frontend"]
        # One pace for both engines that makes the utterance `seconds` long.
        natural = engines["torch"]._acoustic([ids], 0, Controls())[0].mel.shape[1]
        target = seconds * meta.audio.sample_rate / meta.audio.hop_length
        controls = Controls(pace=float(np.clip(natural / target, 0.1, 10.0)))
        mel = engines["torch"]._acoustic([ids], 0, controls)[0].mel
        audio_s = mel.shape[1] * meta.audio.hop_length / meta.audio.sample_rate

        acoustic = _interleaved(
            {n: lambda e=e: e._acoustic([ids], 0, controls) for n, e in engines.items()}, repeats
        )
        vocoder_s = _interleaved({n: lambda e=e: e._vocode(mel) for n, e in engines.items()}, repeats)
        end_to_end = _interleaved(
            {n: lambda e=e: e.synthesize(TEXT, pace=controls.pace) for n, e in engines.items()}, repeats
        )
        first_audio = _interleaved(
            {n: lambda e=e: next(iter(e.stream(STREAM_TEXT))) for n, e in engines.items()}, repeats
        )
        rate = max(rate_before, matmul_gflops(threads))
        acoustic_flops = count_flops(lambda: engines["torch"]._acoustic([ids], 0, controls))
        vocoder_flops = (
            count_flops(lambda: engines["torch"]._vocode(mel)) if meta.vocoder_type != "griffin-lim" else None
        )

    def model_entry(times: dict[str, float], flops: int | None) -> dict[str, Any]:
        floor = flops / (rate * 1e9) if flops else None
        entry: dict[str, Any] = {"gflops": round(flops / 1e9, 3) if flops else None}
        entry["floor_ms"] = round(floor * 1e3, 2) if floor else None
        for name, t in times.items():
            entry[f"{name}_ms"] = round(t * 1e3, 2)
            entry[f"{name}_vs_floor"] = round(t / floor, 2) if floor else None
        entry["best_vs_floor"] = round(min(times.values()) / floor, 2) if floor else None
        return entry

    best_e2e = min(end_to_end.values())

    return {
        "benchmark": "synth",
        "voice": meta.name,
        "trained": meta.provenance.get("acoustic") is not None,
        "vocoder_type": meta.vocoder_type,
        "threads": threads,
        "repeats": repeats,
        "audio_seconds": round(audio_s, 3),
        "symbols": len(ids),
        "mel_frames": mel.shape[1],
        "pace": round(controls.pace, 4),
        "matmul_gflops_per_s": round(rate, 2),
        "frontend_ms": round(frontend_s * 1e3, 3),
        "load_ms": {name: round(t * 1e3, 1) for name, t in load_s.items()},
        "acoustic": model_entry(acoustic, acoustic_flops),
        "vocoder": model_entry(vocoder_s, vocoder_flops),
        "end_to_end": {
            name: {"ms": round(t * 1e3, 2), "rtf": round(t / audio_s, 4), "x_realtime": round(audio_s / t, 1)}
            for name, t in end_to_end.items()
        },
        "stream_first_audio_ms": {name: round(t * 1e3, 1) for name, t in first_audio.items()},
        "stream_sentences": 20,
        "goals": {
            "acoustic_within_1.3x_floor": bool(acoustic_flops)
            and min(acoustic.values()) <= 1.3 * acoustic_flops / (rate * 1e9),
            "end_to_end_40x_realtime": audio_s / best_e2e >= 40,
            "stream_first_audio_under_300ms": min(first_audio.values()) < 0.3,
        },
        "cpu": describe_cpu(),
        "cpu_count": os.cpu_count(),
        "load_average": round(os.getloadavg()[0], 2),
        "torch": torch.__version__,
        "onnxruntime": ort.__version__,
    }
