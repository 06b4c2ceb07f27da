"""Someone's own recordings made into a corpus fastpitch trains on (`fastpitch finetune`'s first stage).

Recordings made at home come at any sample rate, in stereo, with a second of room noise before and after the
speech and at whatever level the microphone gave. Fine-tuning on a few minutes of them learns all of that, so
every usable clip is checked (`check_dataset`: the bad ones are reported and skipped), mixed to mono, resampled,
trimmed to the speech and brought to one loudness, then written in the LJSpeech layout with a held-out split.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from fastpitch.atomic import atomic_write, atomic_write_text
from fastpitch.audio import load_audio
from fastpitch.config import AudioConfig
from fastpitch.data.datasets import METADATA, Issue, Limits, check_dataset

log = logging.getLogger(__name__)

REPORT = "corpus-report.json"
TARGET_DBFS = -20.0  # speech level after normalisation (RMS of the frames with speech)
PEAK = 0.95  # the normalised audio never exceeds this
SPEECH_DB = -40.0  # a 10 ms frame this far below the loudest frame is silence
MARGIN_SECONDS = 0.1  # silence kept before and after the speech


@dataclass
class CorpusReport:
    """What became of the recordings: the clips kept, the ones skipped and why, and the splits."""

    source: str
    total: int
    seconds: float = 0.0  # of the kept clips, after trimming
    train: list[str] = field(default_factory=list)
    test: list[str] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    signature: str = ""  # of the source's files when it was made (`source_signature`)

    @property
    def skipped(self) -> list[Issue]:
        return [i for i in self.issues if i.skip]

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "clips": self.total,
            "kept": len(self.train) + len(self.test),
            "skipped": len({i.id for i in self.skipped}),
            "seconds": round(self.seconds, 2),
            "train": self.train,
            "test": self.test,
            "issues": [i.to_dict() for i in self.issues],
            "signature": self.signature,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CorpusReport:
        issues = [Issue(**i) for i in data["issues"]]
        return cls(
            data["source"], data["clips"], data["seconds"], data["train"], data["test"], issues,
            data.get("signature", ""),
        )  # fmt: skip


def _frame_rms(wav: np.ndarray, frame: int) -> np.ndarray:
    n = max(1, -(-len(wav) // frame))
    frames = np.pad(wav, (0, n * frame - len(wav))).reshape(n, frame)
    return np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))


def trim_silence(wav: np.ndarray, sample_rate: int, margin: float = MARGIN_SECONDS) -> np.ndarray:
    """The audio from the first to the last 10 ms frame within `SPEECH_DB` of the loudest, plus `margin`."""
    frame = max(1, sample_rate // 100)
    rms = _frame_rms(wav, frame)
    loud = np.flatnonzero(rms > rms.max() * 10 ** (SPEECH_DB / 20))
    if len(loud) == 0:
        return wav
    pad = int(margin * sample_rate)
    start = max(0, loud[0] * frame - pad)
    end = min(len(wav), (loud[-1] + 1) * frame + pad)
    return wav[start:end]


def normalize_loudness(wav: np.ndarray, sample_rate: int) -> np.ndarray:
    """Scale the speech to `TARGET_DBFS` RMS (measured where there is speech), never above `PEAK`."""
    rms = _frame_rms(wav, max(1, sample_rate // 100))
    speech = rms[rms > rms.max() * 10 ** (SPEECH_DB / 20)]
    level = float(np.sqrt(np.mean(speech**2))) if len(speech) else 0.0
    peak = float(np.abs(wav).max())
    if level <= 0 or peak <= 0:
        return wav
    gain = min(10 ** (TARGET_DBFS / 20) / level, PEAK / peak)
    return (wav * gain).astype(np.float32)


def held_out_count(n_clips: int) -> int:
    """Clips kept out of training for the evaluation: about 8 %, at least one, at most 16; none under 4 clips."""
    if n_clips < 4:
        return 0
    return int(min(16, max(1, round(0.08 * n_clips))))


def make_corpus(
    source: str | Path,
    out: str | Path,
    audio_cfg: AudioConfig,
    limits: Limits,
    frontend: Any = None,
    seed: int = 0,
) -> CorpusReport:
    """Check `source` (any dataset `scan_dataset` reads), clean the usable clips into `out` (LJSpeech layout,
    `splits/train.txt` and the held-out `splits/test.txt`, also used as `val`) and return the report.

    Finished work is kept: a rerun reuses the report written at the end (`corpus-report.json`) while the source's
    files are as they were; a clip added, removed or edited since (a transcript written after a refusal) makes
    the corpus again.
    """
    out = Path(out)
    signature = source_signature(Path(source))
    if (out / REPORT).is_file():
        done = CorpusReport.from_dict(json.loads((out / REPORT).read_text()))
        if done.signature == signature:
            return done
        log.info("%s changed since its corpus was made: making it again", source)
        shutil.rmtree(out)
    checked = check_dataset(source, audio_cfg, frontend, limits)
    report = CorpusReport(str(source), checked.total, issues=list(checked.issues), signature=signature)
    rows, kept = [], []
    out.mkdir(parents=True, exist_ok=True)
    for utt in checked.utterances:
        wav, sr = load_audio(utt.audio_path, audio_cfg.sample_rate)
        wav = normalize_loudness(trim_silence(wav, sr), sr)
        seconds = len(wav) / sr
        if seconds < limits.min_seconds:
            report.issues.append(
                Issue(utt.id, "too_short", f"{seconds:.2f} s of speech after trimming the silence around it")
            )
            continue
        target = out / "wavs" / f"{utt.id}.wav"
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(
            target, lambda tmp, wav=wav, sr=sr: sf.write(str(tmp), wav, sr, format="WAV", subtype="PCM_16")
        )
        text = utt.text.replace("|", " ")
        rows.append(f"{utt.id}|{text}|{text}")
        kept.append(utt.id)
        report.seconds += seconds
    order = list(kept)
    random.Random(seed).shuffle(order)
    test = set(order[: held_out_count(len(order))])
    report.test = [i for i in kept if i in test]
    report.train = [i for i in kept if i not in test]
    atomic_write_text(out / METADATA, "".join(row + "\n" for row in rows))
    write_splits(out, report.train, report.test)
    for issue in report.skipped:
        log.warning("%s: %s (skipped)", issue.id, issue.message)
    atomic_write_text(out / REPORT, json.dumps(report.to_dict(), indent=1))
    return report


def source_signature(source: Path) -> str:
    """A digest of the names, sizes and modification times of the files a dataset is made of (a folder's,
    or a filelist's own), to tell a rerun on the same recordings from one on changed ones."""
    files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
    digest = hashlib.sha256()
    for path in files:
        try:
            st = path.stat()
        except OSError:
            continue
        digest.update(
            f"{path.relative_to(source) if source.is_dir() else path.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode()
        )
    return digest.hexdigest()[:16]


def write_splits(root: Path, train: list[str], test: list[str]) -> None:
    """`splits/train.txt`, and the held-out clips as both `test` (evaluation) and `val` (validation losses)."""
    (root / "splits").mkdir(parents=True, exist_ok=True)
    for name, ids in (("train", train), ("test", test), ("val", test)):
        atomic_write_text(root / "splits" / f"{name}.txt", "".join(i + "\n" for i in ids))
