"""Synthesize an LJSpeech-format speech corpus offline with Debian's TTS engines and a neural teacher.

Festival voices (the HTS voice `cmu_us_slt_arctic_hts`, the diphone voices `kal_diphone` and `ked_diphone`),
espeak-ng's English voices and hibari-tts's `heart` (`fastpitch.data.teacher`, the optional `hibari` extra)
read sentences chosen by `fastpitch.data.sentences`. Festival also tells when each phone starts and ends: its
utterance's Segment relation holds the phones it actually synthesized, with end times, and each segment's
syllable carries the lexical stress. Those become `timings/ID.json` (ARPAbet, silence
= "SIL"), the reference that the learned aligner is scored against. espeak-ng's command line reports no
timings (only its in-process library does, and that is GPL-3.0 code we do not load), so espeak-ng utterances
come without a timings file, and so do hibari's: the learned aligner needs none, and festival's timings keep
scoring it.

Layout written under the output directory:
  wavs/ID.wav            22,050 Hz mono 16-bit PCM
  metadata.csv           id|raw text|normalized text (what the engine was given)
  speakers.csv           id|speaker, when several voices are used
  splits/{train,val,test}.txt   ids; held-out sentences are held out for every voice
  timings/ID.json        festival voices only
  corpus.json            the settings (a resumed run must use the same ones) and a summary
  SENTENCES_LICENSE.txt  the sentence source's license and notice (a list's: the one given with it, if any)
  TEACHER_NOTICE.txt     hibari voices only: the license chain of their audio
Work is split in chunks over threads that each drive an engine process (hibari: an engine of their own);
finished utterances are kept, so an interrupted run resumes where it stopped. Files are written under a
temporary name and renamed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from fastpitch import __version__
from fastpitch.atomic import atomic_write_json, atomic_write_text
from fastpitch.audio import load_audio, save_audio
from fastpitch.config import AudioConfig, TextConfig
from fastpitch.data.sentences import (
    ARPABET,
    SOURCE_NAME,
    WORDNET_DIR,
    WORDNET_LICENSE,
    Frontend,
    choose_sentences,
    diphone_coverage,
    split_indices,
)
from fastpitch.data.teacher import HibariReader, check_hibari_voice, teacher_notice
from fastpitch.errors import FastPitchError
from fastpitch.text.symbols import VOWELS

log = logging.getLogger(__name__)

SAMPLE_RATE = AudioConfig().sample_rate
MAX_PEAK = 0.99
DEFAULT_VOICES = ("festival:cmu_us_slt_arctic_hts",)
ENGINES = ("festival", "espeak-ng", "hibari")
FESTIVAL_ALL_PACKAGES = "festival festvox-us-slt-hts festvox-kallpc16k festvox-kdlpc16k"
# Debian package and short speaker name of each festival voice we know; other installed voices work too.
FESTIVAL_VOICES = {
    "cmu_us_slt_arctic_hts": ("festvox-us-slt-hts", "slt"),
    "kal_diphone": ("festvox-kallpc16k", "kal"),
    "ked_diphone": ("festvox-kdlpc16k", "ked"),
}
FESTIVAL_ALIASES = {"kdl_diphone": "ked_diphone", "slt": "cmu_us_slt_arctic_hts", "kal": "kal_diphone"}

# Festival's US phone set ("radio", cmulex) to ARPAbet; the rest are ARPAbet in lower case already.
# Syllabic consonants become two phones sharing the segment's time.
FESTIVAL_PHONES: dict[str, tuple[str, ...]] = {
    "pau": ("SIL",),
    "h#": ("SIL",),
    "brth": ("SIL",),
    "ax": ("AH0",),
    "axr": ("ER0",),
    "ix": ("IH0",),
    "dx": ("T",),
    "nx": ("N",),
    "el": ("AH0", "L"),
    "em": ("AH0", "M"),
    "en": ("AH0", "N"),
}

# One festival process reads a chunk: synthesize each sentence, save its wave, print its segments and words.
_FESTIVAL_PRELUDE = """
(define (fastpitch_utt id text wavpath)
  (unwind-protect
    (let ((utt (utt.synth (eval (list 'Utterance 'Text text)))))
      (utt.save.wave utt wavpath 'riff)
      (format t "UTT %s\\n" id)
      (mapcar
        (lambda (seg)
          (format t "SEG %f %s %s\\n" (item.feat seg "end") (item.feat seg "R:SylStructure.parent.stress")
                  (item.name seg)))
        (utt.relation.items utt 'Segment))
      (mapcar
        (lambda (word)
          (format t "WORD %f %f %s\\n" (item.feat word "word_start") (item.feat word "word_end") (item.name word)))
        (utt.relation.items utt 'Word))
      (format t "END %s\\n" id))
    (format t "FAIL %s\\n" id)))
"""


@dataclass(frozen=True)
class Voice:
    """An engine and one of its voices, written `engine:name` on the command line."""

    engine: str
    name: str

    @classmethod
    def parse(cls, spec: str) -> Voice:
        engine, sep, name = spec.strip().partition(":")
        engine = {"espeak": "espeak-ng"}.get(engine, engine)
        if not sep or not name or engine not in ENGINES:
            raise FastPitchError(
                f"voice {spec!r} should look like festival:cmu_us_slt_arctic_hts, espeak-ng:en-us or hibari:heart"
            )
        if engine == "festival":
            name = FESTIVAL_ALIASES.get(name, name)
        return cls(engine, name)

    @property
    def speaker(self) -> str:
        """A short speaker name, also the prefix of the voice's utterance ids."""
        if self.engine == "festival":
            return FESTIVAL_VOICES.get(self.name, ("", self.name))[1]
        if self.engine == "hibari":
            return "hibari-" + re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")
        return "espeak-" + re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")

    @property
    def has_timings(self) -> bool:
        return self.engine == "festival"

    def __str__(self) -> str:
        return f"{self.engine}:{self.name}"


def check_voices(voices: Sequence[Voice]) -> None:
    """Fail early, naming the Debian package (or the Python extra) to install, when an engine or voice is missing."""
    festival = [v for v in voices if v.engine == "festival"]
    if festival:
        packages = " ".join(dict.fromkeys(["festival", *(_festival_package(v.name) for v in festival)]))
        if shutil.which("festival") is None:
            raise FastPitchError(f"festival is not installed: apt-get install {packages}")
        out = subprocess.run(
            ["festival", "--pipe"], input="(print (voice.list))\n", capture_output=True, text=True, timeout=60
        )
        installed = set(re.findall(r"[\w-]+", out.stdout))
        for v in festival:
            if v.name not in installed:
                raise FastPitchError(
                    f"festival voice {v.name} is not installed: apt-get install {_festival_package(v.name)}"
                )
    for v in voices:
        if v.engine != "espeak-ng":
            continue
        if shutil.which("espeak-ng") is None:
            raise FastPitchError("espeak-ng is not installed: apt-get install espeak-ng")
        out = subprocess.run(
            ["espeak-ng", "-q", "-v", v.name, "a"], capture_output=True, text=True, timeout=60
        )
        if out.returncode != 0:
            raise FastPitchError(
                f"espeak-ng has no voice {v.name!r} (`espeak-ng --voices=en` lists the English ones)"
            )
    for v in voices:
        if v.engine == "hibari":
            check_hibari_voice(v.name)


def _festival_package(name: str) -> str:
    return FESTIVAL_VOICES[name][0] if name in FESTIVAL_VOICES else f"a festvox package with {name}"


def festival_to_arpabet(phone: str, stress: str) -> tuple[str, ...]:
    """ARPAbet names of a festival segment; vowels take their syllable's stress digit."""
    if phone in FESTIVAL_PHONES:
        return FESTIVAL_PHONES[phone]
    name = phone.upper()
    if name not in ARPABET:
        raise FastPitchError(f"festival produced the phone {phone!r}, which has no ARPAbet equivalent")
    if name not in VOWELS:
        return (name,)
    return (name + (stress if stress in ("0", "1", "2") else "0"),)


def festival_timings(
    segments: Sequence[tuple[float, str, str]], words: Sequence[tuple[float, float, str]], duration: float
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Phones and words in seconds from festival's (end, stress, phone) segments, fitted to the audio length.

    Festival's last segment ends within a few milliseconds of its audio (exactly, for HTS voices); the last
    phone is stretched or clipped so the phones tile [0, duration] without gaps, and adjacent silences merge.
    """
    phones: list[list[Any]] = []
    start = 0.0
    for end, stress, name in segments:
        parts = festival_to_arpabet(name, stress)
        step = (end - start) / len(parts)
        for k, part in enumerate(parts):
            phones.append([part, start + k * step, start + (k + 1) * step])
        start = max(start, end)
    merged: list[list[Any]] = []
    for p in phones:
        if p[2] - p[1] > 1e-9 and p[1] < duration:
            if merged and merged[-1][0] == "SIL" and p[0] == "SIL":
                merged[-1][2] = p[2]
            else:
                merged.append(p)
    if not merged or (merged[-1][0] != "SIL" and merged[-1][2] < duration - 0.001):
        merged.append(["SIL", merged[-1][2] if merged else 0.0, duration])
    merged[-1][2] = duration
    phone_list = [{"phone": n, "start": round(s, 5), "end": round(min(e, duration), 5)} for n, s, e in merged]
    word_list = [
        {"word": w.lower(), "start": round(s, 5), "end": round(min(e, duration), 5)}
        for s, e, w in words
        if s < duration
    ]
    return phone_list, word_list


@dataclass
class _Job:
    id: str
    text: str  # what the engine reads: the normalized text


def _escape_scheme(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _parse_festival(stdout: str) -> dict[str, tuple[list, list]]:
    """Segments and words of each utterance festival finished (`UTT` … `END` blocks)."""
    done: dict[str, tuple[list, list]] = {}
    current: tuple[str, list, list] | None = None
    for line in stdout.splitlines():
        tag, _, rest = line.partition(" ")
        if tag == "UTT":
            current = (rest.strip(), [], [])
        elif tag == "SEG" and current:
            end, stress, name = rest.split(" ", 2)
            current[1].append((float(end), stress, name.strip()))
        elif tag == "WORD" and current:
            start, end, word = rest.split(" ", 2)
            current[2].append((float(start), float(end), word.strip()))
        elif tag == "END" and current and rest.strip() == current[0]:
            done[current[0]] = (current[1], current[2])
            current = None
    return done


def _write_utterance(out_dir: Path, job: _Job, wav: np.ndarray, voice: Voice, timings: tuple | None) -> None:
    """Write an utterance already at 22,050 Hz (and its timings) atomically, timings first."""
    peak = float(np.abs(wav).max(initial=0.0))
    if peak > MAX_PEAK:  # resampling can overshoot a full-scale engine wave; never let a sample clip
        wav = wav * (MAX_PEAK / peak)
    duration = len(wav) / SAMPLE_RATE
    partial = out_dir / ".partial"
    if timings is not None:
        phones, words = festival_timings(timings[0], timings[1], duration)
        record = {
            "id": job.id,
            "engine": voice.engine,
            "voice": voice.name,
            "sample_rate": SAMPLE_RATE,
            "phones": phones,
            "words": words,
        }
        tmp = partial / f"{job.id}.json"
        tmp.write_text(json.dumps(record) + "\n")
        os.replace(tmp, out_dir / "timings" / f"{job.id}.json")
    tmp = save_audio(partial / f"{job.id}.wav", wav, SAMPLE_RATE)
    os.replace(tmp, out_dir / "wavs" / f"{job.id}.wav")


def _run_festival(voice: Voice, jobs: Sequence[_Job], out_dir: Path) -> list[str]:
    """Synthesize a chunk in one festival process; returns the ids that failed."""
    with tempfile.TemporaryDirectory(prefix="fastpitch-festival-") as tmp:
        lines = [f"(voice_{voice.name})", _FESTIVAL_PRELUDE]
        for k, job in enumerate(jobs):
            lines.append(f'(fastpitch_utt "{job.id}" "{_escape_scheme(job.text)}" "{tmp}/{k}.wav")')
        script = Path(tmp) / "chunk.scm"
        script.write_text("\n".join(lines) + "\n")
        out = subprocess.run(
            ["festival", "--batch", str(script)],
            capture_output=True,
            text=True,
            timeout=120 + 30 * len(jobs),
        )
        results = _parse_festival(out.stdout)
        failed = []
        for k, job in enumerate(jobs):
            wav = Path(tmp) / f"{k}.wav"
            try:
                if job.id not in results or not wav.is_file():
                    raise FastPitchError(out.stderr.strip()[-300:] or "no output")
                _write_utterance(out_dir, job, load_audio(wav, SAMPLE_RATE)[0], voice, results[job.id])
            except FastPitchError as e:
                failed.append(job.id)
                log.warning("festival failed on %s: %s", job.id, e)
    return failed


def _run_espeak(voice: Voice, jobs: Sequence[_Job], out_dir: Path) -> list[str]:
    """Synthesize a chunk with espeak-ng, one process per sentence (it starts in milliseconds)."""
    failed = []
    with tempfile.TemporaryDirectory(prefix="fastpitch-espeak-") as tmp:
        for job in jobs:
            wav = Path(tmp) / "out.wav"
            out = subprocess.run(
                ["espeak-ng", "-v", voice.name, "-w", str(wav), "--stdin"],
                input=job.text,
                capture_output=True,
                text=True,
                timeout=120,
            )
            if out.returncode == 0 and wav.is_file():
                _write_utterance(out_dir, job, load_audio(wav, SAMPLE_RATE)[0], voice, None)
            else:
                failed.append(job.id)
                log.warning("espeak-ng failed on %s: %s", job.id, out.stderr.strip()[-300:])
    return failed


def _run_hibari(reader: HibariReader, voice: Voice, jobs: Sequence[_Job], out_dir: Path) -> list[str]:
    """Synthesize a chunk with hibari in this thread; a sentence it fails on is reported and skipped."""
    failed = []
    for job in jobs:
        try:
            wav = reader.read(job.text, job.id)
        except Exception as e:  # a third-party engine may raise anything on one odd sentence: skip it, go on
            failed.append(job.id)
            log.warning("hibari failed on %s (%r): %s", job.id, job.text, e)
            continue
        _write_utterance(out_dir, job, wav, voice, None)
    return failed


def _is_done(out_dir: Path, voice: Voice, utt_id: str) -> bool:
    wav_done = (out_dir / "wavs" / f"{utt_id}.wav").is_file()
    return wav_done and (not voice.has_timings or (out_dir / "timings" / f"{utt_id}.json").is_file())


@dataclass
class CorpusSummary:
    """What `synthesize_corpus` made: also saved in corpus.json."""

    out_dir: str
    utterances: int
    hours: float
    sentences: int
    diphones: int
    failed: list[str] = field(default_factory=list)


def synthesize_corpus(
    out_dir: str | Path,
    voices: Sequence[str] = DEFAULT_VOICES,
    count: int | None = None,
    seed: int = 0,
    workers: int | None = None,
    test_count: int = 100,
    val_count: int = 50,
    generated_fraction: float = 0.05,
    chunk_size: int = 16,
    frontend: Frontend | None = None,
    wordnet_dir: str | Path = WORDNET_DIR,
    on_progress: Callable[[int, int], None] | None = None,
    sentences: Sequence[str] | None = None,
    sentences_license: str | None = None,
) -> CorpusSummary:
    """Make (or finish) a corpus of `count` sentences read by each voice; see the module docstring.

    `frontend` is the text frontend (`normalize`, `to_symbols`, `lexicon`); the default is
    `TextFrontend(TextConfig())`. `sentences` (the first `count` of them; all by default) replace the choice of
    `count` (default 2000) from WordNet, in their order: the first `test_count` are the test split, the next
    `val_count` validation, and `seed` is not used. The choice depends on the frontend's phones, so a recipe that
    must give the same split whatever fastpitch's version keeps its list (`read_sentences`);
    `sentences_license`, the list's license and notice, goes into the corpus as SENTENCES_LICENSE.txt.
    `on_progress(done, total)` is called as utterances finish.
    """
    out_dir = Path(out_dir)
    parsed = list(dict.fromkeys(Voice.parse(v) for v in voices))
    if not parsed:
        raise FastPitchError("no voices given")
    check_voices(parsed)
    if count is None:
        count = len(sentences) if sentences is not None else 2000
    if count < 1:
        raise FastPitchError(f"the sentence count must be at least 1, got {count}")
    settings = {
        "count": count,
        "seed": seed,
        "voices": [str(v) for v in parsed],
        "test_count": test_count,
        "val_count": val_count,
        "generated_fraction": generated_fraction,
        "source": SOURCE_NAME,
    }
    if sentences is not None:
        if count > len(sentences):
            raise FastPitchError(f"asked for {count} sentences, but the list holds {len(sentences)}")
        sentences = list(sentences[:count])
        digest = hashlib.sha256("\n".join(sentences).encode()).hexdigest()[:16]
        settings.update(seed=None, generated_fraction=None, source=f"a list of sentences (sha256 {digest})")
    _check_settings(out_dir, settings)
    if frontend is None:
        from fastpitch.text import TextFrontend

        frontend = TextFrontend(TextConfig())
    if sentences is None:
        sentences = choose_sentences(count, frontend, seed, generated_fraction, wordnet_dir)
    else:
        _check_readable(sentences, frontend)
    splits = split_indices(len(sentences), test_count, val_count)
    normalized = [" ".join(frontend.normalize(s).replace("|", " ").split()) for s in sentences]

    for sub in ("wavs", "timings", "splits", ".partial"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    if settings["source"] == SOURCE_NAME or sentences_license is not None:
        (out_dir / "SENTENCES_LICENSE.txt").write_text(sentences_license or WORDNET_LICENSE)
    if any(v.engine == "hibari" for v in parsed):
        (out_dir / "TEACHER_NOTICE.txt").write_text(teacher_notice())
    atomic_write_json(out_dir / "corpus.json", {"settings": settings, "complete": False})

    def utt_id(voice: Voice, i: int) -> str:
        return f"{voice.speaker}-{i + 1:05d}"

    total = len(parsed) * len(sentences)
    chunks = []
    for voice in parsed:
        todo = [
            _Job(utt_id(voice, i), text)
            for i, text in enumerate(normalized)
            if not _is_done(out_dir, voice, utt_id(voice, i))
        ]
        chunks += [(voice, todo[k : k + chunk_size]) for k in range(0, len(todo), chunk_size)]
    done = total - sum(len(jobs) for _, jobs in chunks)
    if on_progress:
        on_progress(done, total)
    readers = {v: HibariReader(v.name, SAMPLE_RATE) for v in parsed if v.engine == "hibari"}

    def run_chunk(voice: Voice, jobs: list[_Job]) -> list[str]:
        if voice.engine == "hibari":
            return _run_hibari(readers[voice], voice, jobs, out_dir)
        return (_run_festival if voice.engine == "festival" else _run_espeak)(voice, jobs, out_dir)

    failed: list[str] = []
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        futures = {pool.submit(run_chunk, v, jobs): len(jobs) for v, jobs in chunks}
        for future in as_completed(futures):
            failed += future.result()
            done += futures[future]
            if on_progress:
                on_progress(done, total)
    shutil.rmtree(out_dir / ".partial", ignore_errors=True)

    rows, speakers, seconds = [], [], 0.0
    split_ids: dict[str, list[str]] = {name: [] for name in splits}
    index_split = {i: name for name, idx in splits.items() for i in idx}
    for voice in parsed:
        for i, (raw, norm) in enumerate(zip(sentences, normalized, strict=True)):
            uid = utt_id(voice, i)
            if not _is_done(out_dir, voice, uid):
                continue
            rows.append(f"{uid}|{raw}|{norm}")
            speakers.append(f"{uid}|{voice.speaker}")
            split_ids[index_split[i]].append(uid)
            seconds += sf.info(str(out_dir / "wavs" / f"{uid}.wav")).duration
    _write_text(out_dir / "metadata.csv", rows)
    if len(parsed) > 1:
        _write_text(out_dir / "speakers.csv", speakers)
    for name, ids in split_ids.items():
        _write_text(out_dir / "splits" / f"{name}.txt", ids)
    summary = CorpusSummary(
        out_dir=str(out_dir),
        utterances=len(rows),
        hours=round(seconds / 3600, 3),
        sentences=len(sentences),
        diphones=diphone_coverage(sentences, frontend.to_symbols),
        failed=sorted(failed),
    )
    atomic_write_json(
        out_dir / "corpus.json",
        {
            "settings": settings,
            "complete": not failed,
            "summary": asdict(summary),
            "sample_rate": SAMPLE_RATE,
            "timings": [str(v) for v in parsed if v.has_timings],
            "fastpitch_version": __version__,
        },
    )
    return summary


def read_sentences(path: str | Path) -> list[str]:
    """The sentences of a text file, one per non-blank line (UTF-8), for `synthesize_corpus(sentences=...)`;
    a repeated sentence is refused, as a corpus holds each once."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise FastPitchError(f"cannot read the sentences in {path}: {e}") from None
    sentences, first = [], {}
    for number, line in enumerate(lines, 1):
        text = " ".join(line.split())
        if not text:
            continue
        if text in first:
            raise FastPitchError(f"{path}: line {number} repeats line {first[text]} ({text!r})")
        if "|" in text:
            raise FastPitchError(f"{path}: line {number} holds a '|', which separates metadata.csv's fields")
        first[text] = number
        sentences.append(text)
    if not sentences:
        raise FastPitchError(f"{path} holds no sentences")
    return sentences


def _check_readable(sentences: Sequence[str], frontend: Frontend) -> None:
    """Refuse, before any audio is made, a listed sentence the frontend finds nothing to read in (the corpus's
    summary reads every one of them once they are spoken)."""
    for number, text in enumerate(sentences, 1):
        try:
            frontend.to_symbols(text)
        except FastPitchError as e:
            raise FastPitchError(f"sentence {number} of the list, {text!r}, cannot be read: {e}") from None


def _check_settings(out_dir: Path, settings: dict[str, Any]) -> None:
    """A resumed corpus must be made with the settings it was started with, or its files would not match."""
    path = out_dir / "corpus.json"
    if not path.is_file():
        return
    try:
        previous = json.loads(path.read_text()).get("settings")
    except (json.JSONDecodeError, AttributeError):
        raise FastPitchError(f"{path} is unreadable; remove it or choose another output directory") from None
    if previous != settings:
        changed = sorted(k for k in settings if previous is None or previous.get(k) != settings[k])
        raise FastPitchError(
            f"{out_dir} holds a corpus made with other settings ({', '.join(changed)} differ); "
            "use the same settings to resume, or another directory"
        )


def _write_text(path: Path, lines: Sequence[str]) -> None:
    atomic_write_text(path, "".join(line + "\n" for line in lines))
