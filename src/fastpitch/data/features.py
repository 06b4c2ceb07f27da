"""`fastpitch prepare`: audio → training targets (log-mel, F0, voiced flag, energy), cached on disk.

The cache lives in `OUT/<hash>/`, where the hash covers the audio config and the feature definitions, so a
changed setting never reuses stale features. Inside:

    config.json           the audio config and feature version the hash stands for
    mel/ID.npy            (n_mels, T) float32 log-mel      \
    f0/ID.npy             (T,) float32 Hz, 0 = unvoiced     |  plain .npy files: they memory-map
    voiced/ID.npy         (T,) bool                         |
    energy/ID.npy         (T,) float32 log frame energy    /
    meta/ID.json          per-utterance record, written last: its presence marks the utterance finished
    manifest.json         utterances (text, speaker, n_frames), speakers, what was skipped and why
    stats.json            pitch mean/std per speaker over voiced frames (Hz), energy mean/std

Every file is written to a temporary name and renamed, so an interrupted run leaves no half-written file,
and a rerun skips the utterances whose record matches the current audio file (size and mtime). `shard=(k, n)`
processes a stable 1/n of the utterances so that several machines can share a corpus; each run rewrites the
manifest and stats from all finished records, and marks the manifest complete once nothing is pending.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import zlib
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np

from fastpitch import audio
from fastpitch.atomic import atomic_write
from fastpitch.config import AudioConfig
from fastpitch.data.datasets import (
    DatasetError,
    Issue,
    Limits,
    Utterance,
    inspect_audio,
    make_frontend,
    read_split,
    scan_dataset,
    text_issue,
)
from fastpitch.errors import FastPitchError, missing_dependency

log = logging.getLogger(__name__)

FEATURES = ("mel", "f0", "voiced", "energy")
# Bump when an extractor changes what it computes: the hash changes and old caches are not reused.
FEATURE_VERSION = 1
CHUNK = 4  # utterances per task sent to a worker process


class CacheError(FastPitchError):
    """A features folder that is missing, incomplete or made for other settings."""


def feature_spec(cfg: AudioConfig) -> dict[str, Any]:
    """Everything that determines the cached arrays; its hash names the cache folder."""
    return {
        "audio": dataclasses.asdict(cfg),
        "feature_version": FEATURE_VERSION,
        "f0": f"dio+stonemask speed={audio.DIO_SPEED}",
        "energy": "log L2 norm of the magnitude frame",
    }


def config_hash(cfg: AudioConfig) -> str:
    text = json.dumps(feature_spec(cfg), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def in_shard(uid: str, shard: tuple[int, int] | None) -> bool:
    """Stable assignment of an utterance to shard k of n (by a hash of its id, not its position)."""
    if shard is None:
        return True
    k, n = shard
    return zlib.crc32(uid.encode()) % n == k


def parse_shard(text: str) -> tuple[int, int]:
    """'K/N' (0 <= K < N) → (K, N)."""
    k, sep, n = text.partition("/")
    try:
        shard = (int(k), int(n))
    except ValueError:
        shard = (-1, 0)
    if not sep or not 0 <= shard[0] < shard[1]:
        raise FastPitchError(f"--shard expects K/N with 0 <= K < N, got {text!r}")
    return shard


def _signature(path: Path) -> list[int] | None:
    """Size and mtime of the audio file: a record is reused only while these are unchanged."""
    try:
        st = Path(path).stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def _write_atomic(path: Path, write: Any) -> None:
    """Atomic without fsync: a cache that a rerun redoes need not survive a power cut, only a kill."""

    def to_file(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            write(f)

    atomic_write(path, to_file, durable=False)


def _save_json(path: Path, data: Any) -> None:
    _write_atomic(path, lambda f: f.write((json.dumps(data, indent=1) + "\n").encode()))


def extract(wav: np.ndarray, cfg: AudioConfig) -> dict[str, np.ndarray]:
    """All features of one mono waveform at `cfg.sample_rate`, frame-aligned to the mel."""
    mel = audio.mel_spectrogram_np(wav, cfg)
    f0, voiced = audio.extract_f0(wav, cfg)
    energy = audio.frame_energy(wav, cfg)
    return {"mel": mel.astype(np.float32), "f0": f0, "voiced": voiced, "energy": energy.astype(np.float32)}


def _process(utt: Utterance, cfg: AudioConfig, limits: Limits, root: Path) -> dict[str, Any]:
    """Extract and store one utterance; returns its record (also written to meta/ID.json)."""
    record: dict[str, Any] = {"id": utt.id, "source": _signature(utt.audio_path)}
    try:
        wav, sr, issues = inspect_audio(utt, cfg, limits)
        if wav is not None:
            wav = audio.resample(wav, sr, cfg.sample_rate)
            feats = extract(wav, cfg)
            for name in FEATURES:
                arr = np.ascontiguousarray(feats[name])
                _write_atomic(root / name / f"{utt.id}.npy", lambda f, a=arr: np.save(f, a))
            f0 = feats["f0"][feats["voiced"]].astype(np.float64)
            energy = feats["energy"].astype(np.float64)
            record.update(
                n_frames=int(feats["mel"].shape[1]),
                seconds=round(len(wav) / cfg.sample_rate, 4),
                f0_sum=float(f0.sum()),
                f0_sq=float((f0**2).sum()),
                n_voiced=len(f0),
                energy_sum=float(energy.sum()),
                energy_sq=float((energy**2).sum()),
            )
    except (ImportError, MemoryError):  # the machine's problem, not the file's: stop, record nothing
        raise
    except Exception as e:  # one bad file must not stop a corpus: record it and go on
        issues = [Issue(utt.id, "feature_error", f"feature extraction failed: {type(e).__name__}: {e}")]
    record["issues"] = [i.to_dict() for i in issues]
    record["ok"] = "n_frames" in record
    _save_json(root / "meta" / f"{utt.id}.json", record)
    return record


def _process_chunk(chunk: list[Utterance], cfg: AudioConfig, limits: Limits, root: Path) -> list[dict]:
    return [_process(u, cfg, limits, root) for u in chunk]


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


def _read_record(root: Path, utt: Utterance) -> dict[str, Any] | None:
    """The finished record of `utt` if it is still valid for the current audio file."""
    try:
        record = json.loads((root / "meta" / f"{utt.id}.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if record.get("source") != _signature(utt.audio_path):
        return None
    if record.get("ok") and not all((root / name / f"{utt.id}.npy").is_file() for name in FEATURES):
        return None
    return record


def prepare(
    dataset: str | Path | list[Utterance],
    out_dir: str | Path,
    cfg: AudioConfig | None = None,
    workers: int = 1,
    shard: tuple[int, int] | None = None,
    frontend: Any = None,
    limits: Limits | None = None,
    progress: bool = False,
) -> Path:
    """Compute (or finish computing) the features of `dataset` under `out_dir/<hash>/`; returns that folder.

    `dataset` is a path `read_dataset` understands or a list of utterances. Utterances whose text yields no
    symbols (checked with `frontend`, default: the project's frontend) or whose audio fails the checks are
    skipped and listed in the manifest with the reason.
    """
    cfg = cfg or AudioConfig()
    limits = limits or Limits()
    try:  # before any file: a missing package is the install's problem, not every utterance's
        import torch  # noqa: F401  (the mel)

        audio.load_pyworld()  # the pitch
    except ModuleNotFoundError as e:
        raise missing_dependency(e, "preparing features") or e from None
    if isinstance(dataset, (str, Path)):
        utterances, issues = scan_dataset(dataset)
        dataset_name = str(Path(dataset).resolve())
    else:
        utterances, issues, dataset_name = list(dataset), [], ""
    if not utterances:
        raise DatasetError(f"dataset {dataset_name or '(list)'} holds no usable utterances")
    root = Path(out_dir) / config_hash(cfg)
    for name in (*FEATURES, "meta"):
        (root / name).mkdir(parents=True, exist_ok=True)
    _save_json(root / "config.json", feature_spec(cfg))
    if shard is None:
        for tmp in root.glob("*/.*.tmp"):
            tmp.unlink(missing_ok=True)

    frontend = frontend if frontend is not None else make_frontend()
    text_skips: dict[str, Issue] = {}
    for utt in utterances:
        problem = text_issue(utt, frontend)
        if problem is not None:
            text_skips[utt.id] = problem
    todo = [
        u
        for u in utterances
        if u.id not in text_skips and in_shard(u.id, shard) and _read_record(root, u) is None
    ]
    log.info("%d utterances, %d to process in %s", len(utterances), len(todo), root)
    for _ in _run(todo, cfg, limits, root, workers, progress):
        pass
    manifest = write_manifest(root, utterances, issues, text_skips, dataset_name, cfg)
    if manifest["pending"]:
        log.info("%d utterances pending in other shards", manifest["pending"])
    return root


def _run(
    todo: list[Utterance], cfg: AudioConfig, limits: Limits, root: Path, workers: int, progress: bool
) -> Iterator[dict[str, Any]]:
    """Process `todo` in this process (workers <= 1) or a process pool, with an optional progress bar."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn("features"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not progress,
        transient=True,
    )
    with bar:
        task = bar.add_task("prepare", total=len(todo))
        if workers <= 1 or len(todo) <= CHUNK:
            for utt in todo:
                yield _process(utt, cfg, limits, root)
                bar.advance(task)
            return
        import multiprocessing

        chunks = [todo[i : i + CHUNK] for i in range(0, len(todo), CHUNK)]
        ctx = multiprocessing.get_context("spawn")  # torch is unsafe to fork once its thread pools exist
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker) as pool:
            futures = [pool.submit(_process_chunk, c, cfg, limits, root) for c in chunks]
            for future in as_completed(futures):
                records = future.result()
                yield from records
                bar.advance(task, len(records))


def write_manifest(
    root: Path,
    utterances: list[Utterance],
    issues: list[Issue],
    text_skips: dict[str, Issue],
    dataset_name: str,
    cfg: AudioConfig,
) -> dict[str, Any]:
    """Rebuild manifest.json and stats.json from every finished record in `root`."""
    entries, skipped, warnings = (
        [],
        [i.to_dict() for i in issues if i.skip],
        [i.to_dict() for i in issues if not i.skip],
    )
    pending = 0
    pitch: dict[str, np.ndarray] = {}
    energy = np.zeros(3)
    for utt in utterances:
        if utt.id in text_skips:
            skipped.append(text_skips[utt.id].to_dict())
            continue
        record = _read_record(root, utt)
        if record is None:
            pending += 1
            continue
        for issue in record["issues"]:
            (skipped if issue["skip"] else warnings).append(issue)
        if not record["ok"]:
            continue
        entries.append(
            {
                "id": utt.id,
                "text": utt.text,
                "speaker": utt.speaker,
                "n_frames": record["n_frames"],
                "seconds": record["seconds"],
                "audio_path": str(Path(utt.audio_path).resolve()),
            }
        )
        acc = pitch.setdefault(utt.speaker, np.zeros(3))
        acc += (record["n_voiced"], record["f0_sum"], record["f0_sq"])
        energy += (record["n_frames"], record["energy_sum"], record["energy_sq"])
    speakers = sorted({e["speaker"] for e in entries})
    manifest = {
        "dataset": dataset_name,
        "config_hash": root.name,
        "audio": dataclasses.asdict(cfg),
        "complete": pending == 0,
        "pending": pending,
        "speakers": speakers,
        "seconds": round(sum(e["seconds"] for e in entries), 2),
        "utterances": entries,
        "skipped": skipped,
        "warnings": warnings,
    }
    total = sum(pitch.values(), np.zeros(3))
    stats = {
        "speakers": speakers,
        "pitch": {s: _mean_std(pitch[s]) for s in speakers},
        "pitch_all": _mean_std(total),
        "energy": _mean_std(energy),
    }
    _save_json(root / "stats.json", stats)
    _save_json(root / "manifest.json", manifest)
    return manifest


def _mean_std(acc: np.ndarray) -> dict[str, float]:
    """Mean and standard deviation from (count, sum, sum of squares); std is at least 1e-3 to divide by."""
    n, s, sq = (float(v) for v in acc)
    if n == 0:
        return {"mean": 0.0, "std": 1.0, "count": 0}
    mean = s / n
    std = float(np.sqrt(max(sq / n - mean**2, 0.0)))
    return {"mean": mean, "std": max(std, 1e-3), "count": int(n)}


class FeatureCache:
    """Read access to a prepared features folder: ids, per-utterance arrays (memory-mapped) and stats.

    `path` is the `OUT/<hash>` folder `prepare` returned, or `OUT` itself: then `audio_cfg` picks the
    folder by hash, or the single prepared folder in it is used.
    """

    def __init__(self, path: str | Path, audio_cfg: AudioConfig | None = None, partial: bool = False):
        self.root = _find_root(Path(path), audio_cfg)
        self.manifest: dict[str, Any] = json.loads((self.root / "manifest.json").read_text())
        if not self.manifest["complete"] and not partial:
            raise CacheError(
                f"features in {self.root} are incomplete ({self.manifest['pending']} utterances pending); "
                "run `fastpitch prepare` again to finish them"
            )
        self.stats: dict[str, Any] = json.loads((self.root / "stats.json").read_text())
        self.audio = AudioConfig(**self.manifest["audio"])
        self.speakers: list[str] = list(self.manifest["speakers"])
        self.utterances: dict[str, dict[str, Any]] = {u["id"]: u for u in self.manifest["utterances"]}
        self.ids: list[str] = list(self.utterances)

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, uid: object) -> bool:
        return uid in self.utterances

    def load(self, uid: str, mmap: bool = True) -> dict[str, np.ndarray]:
        """mel (n_mels, T), f0 (T,) Hz with 0 = unvoiced, voiced (T,) bool, energy (T,)."""
        if uid not in self.utterances:
            raise CacheError(f"utterance {uid!r} is not in the features cache {self.root}")
        mode = "r" if mmap else None
        return {name: np.load(self.root / name / f"{uid}.npy", mmap_mode=mode) for name in FEATURES}

    def n_frames(self, uid: str) -> int:
        return int(self.utterances[uid]["n_frames"])

    def speaker_index(self, uid: str) -> int:
        return self.speakers.index(self.utterances[uid]["speaker"])

    def pitch_stats(self, speaker: str) -> tuple[float, float]:
        """Mean and std (Hz) of F0 over the voiced frames of `speaker`."""
        s = self.stats["pitch"][speaker]
        return float(s["mean"]), float(s["std"])

    def pooled_pitch_stats(self) -> tuple[float, float]:
        """Mean and std (Hz) of F0 over the voiced frames of every speaker together."""
        s = self.stats["pitch_all"]
        return float(s["mean"]), float(s["std"])

    @property
    def dataset(self) -> str:
        return str(self.manifest.get("dataset", ""))

    def split(self, name: str) -> list[str]:
        """Ids of the dataset's `splits/<name>.txt` (train, val, test) that this cache holds."""
        if not self.dataset:
            raise CacheError("this features cache does not record its dataset, so it has no splits")
        dataset = Path(self.dataset)
        return [i for i in read_split(dataset if dataset.is_dir() else dataset.parent, name) if i in self]


def _other_configs(path: Path, wanted: AudioConfig) -> str:
    """What the features in `path` were made with instead of `wanted`, for the error that they do not fit."""
    differences = []
    for manifest in sorted(path.glob("*/manifest.json")):
        try:
            have = json.loads(manifest.read_text())["audio"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        changed = [
            f"{k}={v!r} (wanted {getattr(wanted, k)!r})"
            for k, v in have.items()
            if getattr(wanted, k, v) != v
        ]
        differences.append(", ".join(changed) or "the same settings")
    if not differences:
        return "; run `fastpitch prepare` first"
    return (
        f": they were prepared with audio {'; '.join(differences)}. Prepare them again with this model's "
        "audio settings (`fastpitch prepare ... --set audio.X=...`)"
    )


def _find_root(path: Path, audio_cfg: AudioConfig | None) -> Path:
    if (path / "manifest.json").is_file():
        return path
    if not path.is_dir():
        raise CacheError(f"features folder not found: {path}")
    if audio_cfg is not None:
        root = path / config_hash(audio_cfg)
        if not (root / "manifest.json").is_file():
            raise CacheError(f"no features for this audio config in {path}{_other_configs(path, audio_cfg)}")
        return root
    found = sorted(p.parent for p in path.glob("*/manifest.json"))
    if len(found) != 1:
        what = "none" if not found else ", ".join(p.name for p in found)
        raise CacheError(f"{path} should hold exactly one prepared features folder, found {what}")
    return found[0]
