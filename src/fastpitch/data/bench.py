"""`fastpitch bench prepare`: feature throughput on this machine, and our F0 against librosa's pYIN.

Measured side by side in one run on the same files: WORLD dio + stonemask (what `prepare` uses), WORLD
harvest, and pYIN twice — as NVIDIA's FastPitch calls it (C2..C7, 1024-sample frames) and over our own
F0 range. Gross pitch error (> 20 % deviation) and voicing decision error are taken against the NVIDIA-style
pYIN on the same frame centres. pYIN is timed after a warm-up call, so numba's compilation is not counted.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from fastpitch import audio
from fastpitch.config import AudioConfig
from fastpitch.data.datasets import Utterance, make_frontend, read_dataset, text_issue
from fastpitch.data.features import prepare
from fastpitch.errors import FastPitchError

DEFAULT_CORPUS = Path("data/slt")
SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "He verified that the valves were closed before the test began.",
    "On March third, nineteen ninety, she paid forty dollars for the old map.",
    "Would you like another cup of tea, or shall we go for a walk?",
    "The committee postponed its decision until next week.",
    "Bright sunlight streamed through the tall windows of the library.",
)


def festival_corpus(out_dir: Path, voice: str = "cmu_us_slt_arctic_hts") -> Path:
    """A few festival utterances in LJSpeech layout, for when no synthetic corpus exists yet."""
    if shutil.which("text2wave") is None:
        raise FastPitchError("no corpus given and festival's text2wave is missing (apt-get install festival)")
    (out_dir / "wavs").mkdir(parents=True, exist_ok=True)
    rows = []
    for i, sentence in enumerate(SENTENCES):
        uid = f"bench-{i:03d}"
        txt = out_dir / f"{uid}.txt"
        txt.write_text(sentence + "\n")
        raw = out_dir / f"{uid}.raw.wav"
        subprocess.run(
            ["text2wave", "-eval", f"(voice_{voice})", str(txt), "-o", str(raw)],
            check=True,
            capture_output=True,
            timeout=120,
        )
        wav, _ = audio.load_audio(raw, AudioConfig().sample_rate)
        audio.save_audio(out_dir / "wavs" / f"{uid}.wav", wav, AudioConfig().sample_rate)
        raw.unlink()
        txt.unlink()
        rows.append(f"{uid}|{sentence}|{sentence}")
    (out_dir / "metadata.csv").write_text("\n".join(rows) + "\n")
    return out_dir


def pitch_agreement(f0: np.ndarray, ref: np.ndarray, threshold: float = 0.2) -> dict[str, float]:
    """Gross pitch error on frames voiced in both, and voicing decision error, of `f0` against `ref`."""
    both = (f0 > 0) & (ref > 0)
    rel = np.abs(f0[both] - ref[both]) / ref[both]
    return {
        "gpe": float((rel > threshold).mean()) if both.any() else 0.0,
        "vde": float(((f0 > 0) != (ref > 0)).mean()),
        "median_rel_error": float(np.median(rel)) if both.any() else 0.0,
        "frames_voiced_in_both": int(both.sum()),
    }


def _pyin(wav: np.ndarray, cfg: AudioConfig, fmin: float, fmax: float) -> np.ndarray:
    """pYIN on the mel frame centres (the hop / 2 shift as in `audio.extract_f0`), 0 where unvoiced."""
    import librosa

    hop = cfg.hop_length
    f0, voiced, _ = librosa.pyin(
        wav[hop // 2 :], fmin=fmin, fmax=fmax, sr=cfg.sample_rate, frame_length=cfg.win_length, hop_length=hop
    )
    out = np.zeros(audio.n_frames(len(wav), cfg), np.float32)
    f0 = np.where(voiced, np.nan_to_num(f0), 0.0)[: len(out)]
    out[: len(f0)] = f0
    return out


def _timed(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def compare_f0(utterances: list[Utterance], cfg: AudioConfig) -> dict[str, Any]:
    """Per-second-of-audio cost of each extractor and agreement with NVIDIA-style pYIN."""
    import librosa
    import torch

    c2, c7 = float(librosa.note_to_hz("C2")), float(librosa.note_to_hz("C7"))
    runs = {
        "mel": lambda w: audio.mel_spectrogram_np(w, cfg),
        "energy": lambda w: audio.frame_energy(w, cfg),
        "dio": lambda w: audio.extract_f0(w, cfg, "dio")[0],
        "harvest": lambda w: audio.extract_f0(w, cfg, "harvest")[0],
        "pyin_nvidia": lambda w: _pyin(w, cfg, c2, c7),
        "pyin_our_range": lambda w: _pyin(w, cfg, cfg.f0_min, cfg.f0_max),
    }
    cost = dict.fromkeys(runs, 0.0)
    f0s: dict[str, list[np.ndarray]] = {"dio": [], "harvest": [], "pyin_nvidia": [], "pyin_our_range": []}
    seconds = 0.0
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # every extractor on one core, as in a prepare worker
    try:
        warm = np.random.default_rng(0).standard_normal(cfg.sample_rate).astype(np.float32) * 0.1
        for fn in runs.values():
            fn(warm)  # numba compiles pYIN, torch and WORLD allocate: not part of the per-file cost
        for utt in utterances:
            wav, _ = audio.load_audio(utt.audio_path, cfg.sample_rate)
            seconds += len(wav) / cfg.sample_rate
            for name, fn in runs.items():
                result, elapsed = _timed(lambda f=fn, w=wav: f(w))
                cost[name] += elapsed
                if name in f0s:
                    f0s[name].append(result)
    finally:
        torch.set_num_threads(threads)
    ref = np.concatenate(f0s["pyin_nvidia"])
    ms = {name: 1000 * t / seconds for name, t in cost.items()}
    return {
        "files": len(utterances),
        "audio_seconds": round(seconds, 2),
        "ms_per_audio_second": {k: round(v, 2) for k, v in ms.items()},
        "dio_speedup_vs_pyin_nvidia": round(ms["pyin_nvidia"] / ms["dio"], 1),
        "dio_speedup_vs_pyin_our_range": round(ms["pyin_our_range"] / ms["dio"], 1),
        "vs_pyin_nvidia": {
            name: pitch_agreement(np.concatenate(f0s[name]), ref)
            for name in ("dio", "harvest", "pyin_our_range")
        },
    }


def bench_prepare(
    dataset: Path | None = None, n_prepare: int = 200, n_f0: int = 20, workers: int = 2
) -> dict[str, Any]:
    """Run the benchmark; the synthetic corpus at data/slt is used when present, else a few festival files.

    The text frontend's one-time start (lexicon, number-reading library) is timed apart from the feature
    run, so that the 2,000-utterance projection is that start plus 2,000 utterances at the measured rate.
    """
    cfg = AudioConfig()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="fastpitch-bench-") as tmp:
        if dataset is None:
            dataset = DEFAULT_CORPUS if (DEFAULT_CORPUS / "metadata.csv").is_file() else None
        if dataset is None:
            dataset = festival_corpus(Path(tmp) / "corpus")
        utterances = read_dataset(dataset)
        if not utterances:
            raise FastPitchError(f"no usable utterances in {dataset}")
        subset = utterances[:n_prepare]
        frontend, frontend_start = _timed(lambda: make_frontend())
        _, first_text = _timed(lambda: text_issue(subset[0], frontend))
        root, wall = _timed(
            lambda: prepare(subset, Path(tmp) / "features", cfg, workers=workers, frontend=frontend)
        )
        manifest = json.loads((root / "manifest.json").read_text())
        f0 = compare_f0(utterances[:n_f0], cfg)
    audio_seconds = manifest["seconds"]
    done = max(1, len(manifest["utterances"]))
    fixed = frontend_start + first_text
    projected = fixed + 2000 / done * wall
    return {
        "benchmark": "prepare",
        "dataset": str(dataset),
        "cpu_cores": os.cpu_count(),
        "load_average_before": round(load_before, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
        "prepare": {
            "workers": workers,
            "utterances": len(manifest["utterances"]),
            "skipped": len(manifest["skipped"]),
            "audio_seconds": audio_seconds,
            "wall_seconds": round(wall, 2),
            "audio_seconds_per_wall_second": round(audio_seconds / wall, 1),
            "text_frontend_start_seconds": round(fixed, 2),
            "projected_2000_utterances_seconds": round(projected, 1),
        },
        "f0": f0,
        "goals": {
            "speedup_vs_pyin_at_least_100x": f0["dio_speedup_vs_pyin_nvidia"] >= 100,
            "gpe_vs_pyin_at_most_5_percent": f0["vs_pyin_nvidia"]["dio"]["gpe"] <= 0.05,
            "prepare_2000_under_5_minutes": projected < 300,
        },
    }
