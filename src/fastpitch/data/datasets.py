"""Dataset readers (LJSpeech layout and plain filelists) and the validation pass that guards training.

Real data is messy: a corpus downloaded or recorded by hand has missing files, truncated WAVs, stereo or
44.1 kHz recordings, silent takes, empty lines and stray control characters in its metadata. Readers report
what they could not use instead of crashing, and `check_dataset` inspects every file so that `fastpitch data
check` can say what `fastpitch prepare` will skip and why before any time is spent on features.
"""

from __future__ import annotations

import collections
import re
import struct
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from fastpitch.audio import AUDIO_FORMATS
from fastpitch.config import AudioConfig, TextConfig
from fastpitch.errors import FastPitchError

DEFAULT_SPEAKER = "default"
METADATA = "metadata.csv"
SPEAKERS = "speakers.csv"
SAFE_ID = re.compile(r"^[^/\\\x00]+$")


class DatasetError(FastPitchError, ValueError):
    """A dataset that cannot be read at all (no metadata, unknown layout); single bad lines are Issues."""


@dataclass
class Utterance:
    """One recording and its transcript; `speaker` is a name (DEFAULT_SPEAKER for single-voice data)."""

    id: str
    audio_path: Path
    text: str
    speaker: str = DEFAULT_SPEAKER


@dataclass
class Issue:
    """Something wrong with one line or one utterance; `skip` means the utterance cannot be used."""

    id: str
    kind: str
    message: str
    skip: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Limits:
    """Thresholds of the validation pass; audio outside them is skipped."""

    min_seconds: float = 0.3
    max_seconds: float = 30.0
    silence_peak: float = 10 ** (-60 / 20)  # -60 dBFS: nothing but noise floor
    clip_level: float = 0.999
    max_clipped_fraction: float = 0.001  # share of samples sitting at full scale in runs of 3 or more

    def __post_init__(self) -> None:
        if not 0 <= self.min_seconds < self.max_seconds:
            raise DatasetError(
                f"the clip length limits keep nothing: at least {self.min_seconds:g} s and at most "
                f"{self.max_seconds:g} s (the minimum must be 0 or more and below the maximum)"
            )


# ---------------------------------------------------------------------------------------------- readers


def read_dataset(path: str | Path, split: str | None = None) -> list[Utterance]:
    """The usable utterances of an LJSpeech directory or a filelist; bad lines are logged and dropped."""
    utterances, issues = scan_dataset(path, split=split)
    if issues:
        import logging

        log = logging.getLogger(__name__)
        for issue in issues:
            log.warning("%s: %s (%s)", issue.id, issue.message, "skipped" if issue.skip else "kept")
    return utterances


def scan_dataset(path: str | Path, split: str | None = None) -> tuple[list[Utterance], list[Issue]]:
    """Read the metadata (not the audio): utterances plus the issues found in the metadata itself.

    `path` is an LJSpeech directory (holding metadata.csv), a metadata.csv file, a filelist of
    `audio_path|text[|speaker]` lines, or a folder of clips with a transcript beside each (`a.wav` + `a.txt`). `split` keeps only the ids in `DIR/splits/<split>.txt`.
    """
    path = Path(path)
    if path.is_dir():
        if (path / METADATA).is_file():
            utterances, issues = _read_ljspeech(path)
        elif clip_files(path):
            utterances, issues = _read_clip_folder(path)
        else:
            raise DatasetError(
                f"{path} holds neither {METADATA} (the LJSpeech layout) nor audio clips with a transcript "
                "beside each (clip.wav + clip.txt)"
            )
        root = path
    elif path.is_file():
        if path.name == METADATA:
            utterances, issues = _read_ljspeech(path.parent)
        else:
            utterances, issues = _read_filelist(path)
        root = path.parent
    else:
        raise DatasetError(f"dataset not found: {path}")
    if split is not None:
        keep = set(read_split(root, split))
        utterances = [u for u in utterances if u.id in keep]
    return utterances, issues


def read_split(root: str | Path, name: str) -> list[str]:
    """Ids listed in `root/splits/<name>.txt`, one per line."""
    path = Path(root) / "splits" / f"{name}.txt"
    if not path.is_file():
        raise DatasetError(f"split {name!r} not found: {path}")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _lines(path: Path) -> Iterable[tuple[int, str, list[Issue]]]:
    """Lines of a text file with odd characters cleaned; each comes with the issues found on it. UTF-8 is
    expected; a file in UTF-16 (with its byte-order mark) or Windows-1252, as editors on Windows save text, is
    read as what it is and reported, rather than losing its accented letters."""
    raw, encoding = decode_text(path.read_bytes())
    if encoding != "utf-8":
        yield 0, "", [Issue(path.name, "encoding", f"not UTF-8: read as {encoding}", skip=False)]
    for number, line in enumerate(raw.lstrip("\ufeff").splitlines(), start=1):
        where = f"{path.name}:{number}"
        if not line.strip():
            yield number, "", [Issue(where, "empty_line", "empty line", skip=False)]
            continue
        cleaned, odd = clean_text(line)
        issues = []
        if odd:
            shown = ", ".join(sorted({f"U+{ord(c):04X}" for c in odd}))
            issues.append(Issue(where, "odd_chars", f"removed odd characters {shown}", skip=False))
        yield number, cleaned, issues


def decode_text(data: bytes) -> tuple[str, str]:
    """`data` as text and the encoding it was read in: UTF-16 by its byte-order mark; UTF-8 where it holds
    UTF-8 (a stray bad byte comes out as U+FFFD, which `clean_text` reports); else Windows-1252, where no
    non-ASCII byte made a UTF-8 character."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace"), "UTF-16"
    text = data.decode("utf-8", errors="replace")
    if "\ufffd" not in text or any(ord(c) > 127 and c != "\ufffd" for c in text):
        return text, "utf-8"
    return data.decode("cp1252", errors="replace"), "Windows-1252"


def clean_text(text: str) -> tuple[str, str]:
    """Drop control, format, private-use and undecodable characters; return the text and what was dropped.

    The field separator `|` and ordinary whitespace survive, so a line keeps its fields.
    """
    odd = []
    out = []
    for c in text:
        if c == "\t":
            out.append(" ")
        elif c == "\ufffd" or unicodedata.category(c) in ("Cc", "Cf", "Co", "Cs", "Cn"):
            odd.append(c)
        else:
            out.append(c)
    return re.sub(r"\s+", " ", "".join(out)).strip(), "".join(odd)


def _read_ljspeech(root: Path) -> tuple[list[Utterance], list[Issue]]:
    issues: list[Issue] = []
    speakers: dict[str, str] = {}
    if (root / SPEAKERS).is_file():
        for number, line, line_issues in _lines(root / SPEAKERS):
            issues += line_issues
            if not line:
                continue
            uid, sep, name = (s.strip() for s in line.partition("|"))
            if not sep or not uid or not name:
                issues.append(Issue(f"{SPEAKERS}:{number}", "bad_line", "expected id|speaker", skip=False))
            elif (uid, name) != ("id", "speaker"):
                speakers[uid] = name
    rows = []
    for number, line, line_issues in _lines(root / METADATA):
        issues += line_issues
        if not line:
            continue
        fields = [f.strip() for f in line.split("|")]
        where = f"{METADATA}:{number}"
        if len(fields) < 2 or not fields[0]:
            issues.append(Issue(where, "bad_line", "expected id|text|normalized text"))
            continue
        text = fields[2] if len(fields) > 2 and fields[2] else fields[1]
        rows.append((where, fields[0], root / "wavs" / f"{fields[0]}.wav", text, speakers.get(fields[0])))
    return _make_utterances(rows, issues)


def clip_files(root: Path) -> list[Path]:
    """The audio files directly inside `root`, in name order."""
    return sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_FORMATS)


def _read_clip_folder(root: Path) -> tuple[list[Utterance], list[Issue]]:
    """A folder of recordings, each with its transcript in a text file of the same name (`clip.wav` + `clip.txt`):
    how people record themselves. A clip without a transcript is reported and skipped."""
    issues: list[Issue] = []
    rows = []
    for audio in clip_files(root):
        transcript = audio.with_suffix(".txt")
        if not transcript.is_file():
            issues.append(Issue(audio.stem, "no_text", f"no transcript: {transcript.name} is missing"))
            continue
        lines = list(_lines(transcript))
        issues += [issue for _, _, found in lines for issue in found if issue.kind != "empty_line"]
        text = " ".join(line for _, line, _ in lines if line)
        rows.append((transcript.name, audio.stem, audio, text, None))
    return _make_utterances(rows, issues)


def _read_filelist(path: Path) -> tuple[list[Utterance], list[Issue]]:
    issues: list[Issue] = []
    rows = []
    for number, line, line_issues in _lines(path):
        issues += line_issues
        if not line:
            continue
        fields = [f.strip() for f in line.split("|")]
        where = f"{path.name}:{number}"
        if len(fields) not in (2, 3) or not fields[0]:
            issues.append(Issue(where, "bad_line", "expected audio_path|text[|speaker]"))
            continue
        audio = Path(fields[0]).expanduser()
        if not audio.is_absolute():
            audio = path.parent / audio
        speaker = fields[2] if len(fields) == 3 and fields[2] else None
        rows.append((where, audio.stem, audio, fields[1], speaker))
    return _make_utterances(rows, issues)


def _make_utterances(
    rows: list[tuple[str, str, Path, str, str | None]], issues: list[Issue]
) -> tuple[list[Utterance], list[Issue]]:
    seen: set[str] = set()
    utterances = []
    for where, uid, audio, text, speaker in rows:
        if not SAFE_ID.match(uid) or uid.startswith("."):
            issues.append(Issue(where, "bad_id", f"id {uid!r} cannot name a file"))
        elif uid in seen:
            issues.append(Issue(uid, "duplicate_id", f"id {uid!r} appears more than once ({where})"))
        elif not text:
            issues.append(Issue(uid, "no_text", f"no transcript ({where})"))
        else:
            seen.add(uid)
            utterances.append(Utterance(uid, audio, text, speaker or DEFAULT_SPEAKER))
    return utterances, issues


# ------------------------------------------------------------------------------------------- validation


def inspect_audio(
    utt: Utterance, cfg: AudioConfig, limits: Limits
) -> tuple[np.ndarray | None, int, list[Issue]]:
    """Read one utterance's audio as mono float32 at its own rate, with the issues found.

    Returns (None, 0, issues) when the file must be skipped; resampling is left to the caller so that a
    check does not pay for it.
    """
    path, uid = Path(utt.audio_path), utt.id
    if not path.is_file():
        return None, 0, [Issue(uid, "missing", f"audio file not found: {path}")]
    if path.suffix.lower() not in AUDIO_FORMATS:
        return None, 0, [Issue(uid, "unreadable", f"unsupported audio format {path.suffix!r}: {path}")]
    try:
        info = sf.info(str(path))
        wav, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError, ValueError) as e:
        return None, 0, [Issue(uid, "unreadable", f"cannot read {path.name}: {str(e).splitlines()[0]}")]
    if len(wav) == 0:
        return None, 0, [Issue(uid, "empty_audio", f"zero-length audio: {path.name}")]
    missing = _missing_wav_bytes(path)
    if missing:
        return (
            None,
            0,
            [Issue(uid, "corrupt", f"truncated WAV, {missing} bytes of audio missing: {path.name}")],
        )
    if not np.isfinite(wav).all():
        return None, 0, [Issue(uid, "corrupt", f"audio holds NaN or infinite samples: {path.name}")]
    issues = []
    if info.channels > 1:
        issues.append(Issue(uid, "stereo", f"{info.channels} channels, mixed down to mono", skip=False))
        wav = wav.mean(axis=1, keepdims=True)
    wav = wav[:, 0]
    if sr != cfg.sample_rate:
        issues.append(Issue(uid, "resample", f"{sr} Hz, resampled to {cfg.sample_rate} Hz", skip=False))
    seconds = len(wav) / sr
    peak = float(np.abs(wav).max())
    if seconds < limits.min_seconds:
        issues.append(Issue(uid, "too_short", f"{seconds:.2f} s is shorter than {limits.min_seconds} s"))
    elif seconds > limits.max_seconds:
        issues.append(Issue(uid, "too_long", f"{seconds:.1f} s is longer than {limits.max_seconds} s"))
    if peak < limits.silence_peak:
        issues.append(Issue(uid, "silent", f"silent audio (peak {20 * np.log10(max(peak, 1e-12)):.0f} dBFS)"))
    clipped = clipped_fraction(wav, limits.clip_level)
    if clipped > limits.max_clipped_fraction:
        issues.append(Issue(uid, "clipped", f"{100 * clipped:.2f}% of samples clipped"))
    if any(i.skip for i in issues):
        return None, 0, issues
    return wav, sr, issues


def clipped_fraction(wav: np.ndarray, level: float = 0.999) -> float:
    """Share of samples at full scale in runs of three or more (a lone full-scale peak is not clipping)."""
    hot = np.abs(wav) >= level
    if not hot.any():
        return 0.0
    runs = hot[:-2] & hot[1:-1] & hot[2:]
    flagged = np.zeros_like(hot)
    for k in range(3):
        flagged[k : len(runs) + k] |= runs
    return float(flagged.mean())


def _missing_wav_bytes(path: Path) -> int:
    """Bytes a RIFF/WAVE file's data chunk declares beyond the end of the file (0 for other formats)."""
    if path.suffix.lower() != ".wav":
        return 0
    size = path.stat().st_size
    with path.open("rb") as f:
        header = f.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return 0
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk, length = struct.unpack("<4sI", f.read(8))
            if chunk == b"data":
                return max(0, pos + 8 + length - size) if length != 0xFFFFFFFF else 0
            pos += 8 + length + (length & 1)
    return 0


def text_issue(utt: Utterance, frontend: Any) -> Issue | None:
    """An Issue when the frontend turns the transcript into no spoken symbol (or fails on it)."""
    try:
        symbols = frontend.to_symbols(utt.text)
    except FastPitchError as e:
        return Issue(utt.id, "no_symbols", f"text yields no symbols: {e}")
    except Exception as e:  # a frontend bug on one odd line must not stop a whole corpus
        return Issue(utt.id, "text_error", f"text frontend failed: {type(e).__name__}: {e}")
    if not any(any(c.isalnum() for c in s) for s in symbols):
        return Issue(utt.id, "no_symbols", f"text yields no spoken symbols: {utt.text!r}")
    return None


def make_frontend(text_cfg: TextConfig | None = None) -> Any:
    """The project's text frontend (imported here so that reading metadata does not need it)."""
    from fastpitch.text import TextFrontend

    return TextFrontend(text_cfg or TextConfig())


@dataclass
class DatasetReport:
    """What `check_dataset` found: the usable utterances, every issue, and totals for the summary."""

    dataset: str
    total: int
    utterances: list[Utterance] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    seconds: float = 0.0
    sample_rates: dict[int, int] = field(default_factory=dict)
    speakers: dict[str, int] = field(default_factory=dict)

    @property
    def skipped(self) -> list[Issue]:
        return [i for i in self.issues if i.skip]

    def counts(self) -> dict[str, int]:
        return dict(collections.Counter(i.kind for i in self.issues))

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "utterances": self.total,
            "usable": len(self.utterances),
            "skipped": len({i.id for i in self.skipped}),
            "seconds": round(self.seconds, 2),
            "hours": round(self.seconds / 3600, 3),
            "sample_rates": {str(k): v for k, v in sorted(self.sample_rates.items())},
            "speakers": self.speakers,
            "issue_counts": self.counts(),
            "issues": [i.to_dict() for i in self.issues],
        }


def check_dataset(
    path: str | Path,
    audio_cfg: AudioConfig | None = None,
    frontend: Any = None,
    limits: Limits | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> DatasetReport:
    """Inspect the metadata, every audio file and every transcript; never raises on a bad utterance.

    `frontend` (a `TextFrontend`) checks that each text yields symbols; None uses the default frontend.
    `progress(done, total)` is called after each utterance.
    """
    audio_cfg = audio_cfg or AudioConfig()
    limits = limits or Limits()
    frontend = frontend if frontend is not None else make_frontend()
    utterances, issues = scan_dataset(path)
    report = DatasetReport(dataset=str(path), total=len(utterances), issues=list(issues))
    rates: collections.Counter[int] = collections.Counter()
    speakers: collections.Counter[str] = collections.Counter()
    for n, utt in enumerate(utterances, start=1):
        problem = text_issue(utt, frontend)
        wav, sr, audio_issues = inspect_audio(utt, audio_cfg, limits)
        report.issues += audio_issues
        if problem is not None:
            report.issues.append(problem)
        if wav is not None and problem is None:
            report.utterances.append(utt)
            report.seconds += len(wav) / sr
            rates[sr] += 1
            speakers[utt.speaker] += 1
        if progress is not None:
            progress(n, len(utterances))
    report.sample_rates = dict(rates)
    report.speakers = dict(speakers)
    return report
