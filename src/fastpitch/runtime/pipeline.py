"""Text in, audio out, for text of any length: the part of synthesis that does not care where the models run.

Text is split into paragraphs and sentences (`TextFrontend.split_sentences`), each turned into symbols; a
sentence longer than `max_symbols` is cut at its last pause or word boundary before the limit, so the
attention cost per piece is bounded and the total cost grows linearly with the text. Pieces are sorted by
length and run through the acoustic model in bounded batches, vocoded one by one (no padding wasted), and
joined with silences whose length follows the punctuation (a comma is shorter than a full stop, a paragraph
longer). `fastpitch.Synthesizer` (PyTorch) and `fastpitch.runtime.OnnxSynthesizer` (ONNX Runtime) subclass
`SpeechEngine` and supply only `_acoustic` and `_vocode`. Nothing here imports torch.

Markup (SSML, `{ARPAbet}`; `fastpitch.text.markup`) arrives as utterances whose symbols carry styles: they
become per-symbol pace, pitch shift, range and energy arrays that both backends hand to the model, which
scales durations and pitch per symbol before the length regulator. Timestamps (`SynthesisResult.words`,
`.phones`, `.marks`) are read off the durations the model used, the joining silences included, so both
backends report the same times.
"""

from __future__ import annotations

import abc
import difflib
import itertools
import math
import numbers
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from fastpitch.audio import LOG_CLAMP
from fastpitch.errors import FastPitchError, missing_dependency
from fastpitch.runtime.harmonic_phase import pitch_track
from fastpitch.runtime.postfilter import sharpen
from fastpitch.runtime.prosody import (
    Prosody,
    ProsodyError,
    SentenceProsody,
    SymbolProsody,
    float32_value,
    symbol_table_id,
)
from fastpitch.text import LexiconSource, Style, TextError, TextFrontend, Utterance, Written
from fastpitch.text.markup import has_braces, is_ssml
from fastpitch.text.pronounce import LEXICON_FILE
from fastpitch.text.symbols import PAD, PAUSES, WORD_BOUNDARY
from fastpitch.text.written import written_groups
from fastpitch.voice import MAX_POSTFILTER, Voice

# Silence after a piece, in seconds at pace 1.0, by the punctuation that ends it.
PAUSE_SECONDS: dict[str, float] = {
    ".": 0.30,
    "!": 0.30,
    "?": 0.30,
    ";": 0.22,
    ":": 0.22,
    ",": 0.12,
    "-": 0.12,
}
SENTENCE_PAUSE = 0.25  # a sentence without final punctuation
WORD_PAUSE = 0.05  # a long sentence cut at a word boundary
PARAGRAPH_PAUSE = 0.60
SILENT_SYMBOLS = frozenset((PAD, WORD_BOUNDARY, *PAUSES))
SILENT_PEAK = 1e-3  # a recording whose samples all stay below this (-60 dBFS) holds no speech
SILENCE_DBFS = -50.0  # a frame whose RMS is below this is silence (timestamps and breaks)
_PARAGRAPHS = re.compile(r"\n\s*\n")
_CLOSERS = "\"'”’)]}»"


class SynthesisError(FastPitchError, ValueError):
    """Text or settings that cannot be spoken, or a model that produced unusable output."""


@dataclass(frozen=True)
class Controls:
    """How to speak: pace (2.0 = twice as fast), pitch shift in semitones, pitch range (0 = monotone) and energy."""

    pace: float = 1.0
    pitch_shift: float = 0.0
    pitch_range: float = 1.0
    energy: float = 1.0

    def __post_init__(self) -> None:
        limits = {
            "pace": (0.1, 10.0),
            "pitch_shift": (-24.0, 24.0),
            "pitch_range": (0.0, 10.0),
            "energy": (0.0, 10.0),
        }
        for name, (low, high) in limits.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise SynthesisError(f"{name} must be a number between {low:g} and {high:g}, got {value!r}")
            value = float(value)  # numpy's numbers too
            object.__setattr__(self, name, value)
            if not math.isfinite(value) or not low <= value <= high:
                raise SynthesisError(f"{name} must be a number between {low:g} and {high:g}, got {value!r}")
        if self.energy == 0:  # the model scales log energy: nothing is silence, so it would be NaN
            raise SynthesisError("energy must be above 0 (0.5 is half as loud), got 0")


@dataclass
class SymbolControls:
    """Controls per symbol for a padded batch, each (B, N) float32: what the acoustic model takes."""

    pace: np.ndarray
    pitch_shift: np.ndarray
    pitch_range: np.ndarray
    energy: np.ndarray

    @classmethod
    def uniform(cls, controls: Controls, shape: tuple[int, int]) -> SymbolControls:
        return cls(
            *(
                np.full(shape, value, np.float32)
                for value in (controls.pace, controls.pitch_shift, controls.pitch_range, controls.energy)
            )
        )

    def scalar(self) -> Controls | None:
        """The same controls as scalars when every symbol has the same ones (None otherwise)."""
        values = []
        for a in (self.pace, self.pitch_shift, self.pitch_range, self.energy):
            if a.size and not (a == a.flat[0]).all():
                return None
            values.append(float(a.flat[0]) if a.size else 1.0)
        return Controls(*values)


@dataclass
class GivenValues:
    """Values a prosody document fixes for a padded batch, each (B, N) float32, NaN where the model predicts:
    durations in frames, pitch in Hz, energy as the model's log energy."""

    durations: np.ndarray
    pitch: np.ndarray
    energy: np.ndarray

    @classmethod
    def empty(cls, shape: tuple[int, int]) -> GivenValues:
        return cls(*(np.full(shape, np.nan, np.float32) for _ in range(3)))


def symbol_controls(controls: Controls | SymbolControls, shape: tuple[int, int]) -> SymbolControls:
    """Per-symbol arrays of `shape` from scalar controls (or the arrays themselves)."""
    return controls if isinstance(controls, SymbolControls) else SymbolControls.uniform(controls, shape)


@dataclass(frozen=True)
class Timestamp:
    """A word, phone or mark and where it lies in the output audio, in seconds (a mark has start == end)."""

    text: str
    start: float
    end: float

    def to_dict(self) -> dict[str, float | str | None]:
        return {"text": self.text, "start": round(self.start, 4), "end": round(self.end, 4)}


@dataclass(frozen=True)
class WordTime(Timestamp):
    """A spoken word's `Timestamp`, with what it reads as written: "3/4/2025." on "March", the first of the
    words read from that text, and None on the others ("fourth", "twenty", ...), so that a subtitle shows each
    written stretch once."""

    written: str | None = None

    def to_dict(self) -> dict[str, float | str | None]:
        return {**super().to_dict(), "written": self.written}


@dataclass
class Piece:
    """A stretch of text the acoustic model speaks in one go: a sentence, or part of a long one."""

    source: int  # index of the input text (batched synthesis)
    sentence: str
    symbols: list[str]
    ids: list[int]
    pause: float  # seconds of silence after it at pace 1.0 (at any pace when `fixed`)
    words: list[tuple[str, int, int]] = field(default_factory=list)  # word, its symbols' [start, end)
    marks: list[tuple[str, int]] = field(default_factory=list)  # name, index of the symbol it precedes
    styles: list[Style] | None = None  # per symbol, from markup
    speaker: int | None = None  # from markup; None: the caller's
    fixed: bool = False  # the pause is a <break>: its length does not follow the pace
    trim_lead: bool = False  # follows a <break>: its leading silence is cut, so the break is what was asked
    given: SentenceProsody | None = None  # values from a prosody document
    lead: float = 0.0  # seconds of silence before it (a <break> before the first word), at any pace
    lead_marks: list[tuple[str, float]] = field(default_factory=list)  # marks in it: name, seconds into it
    written: list[Written] = field(default_factory=list)  # per word: what it reads as written (`WordTime`)


@dataclass
class AcousticOutput:
    """What the acoustic model says about one piece, trimmed to its own length."""

    mel: np.ndarray  # (n_mels, T) log mel
    durations: np.ndarray  # (N,) frames per input symbol
    pitch: np.ndarray  # (N,) Hz per input symbol, after shift and range
    words: list[tuple[int, int]] | None = None  # each word's frames as heard (`word_bounds`)
    energy: np.ndarray | None = None  # (N,) log energy per input symbol (None: the voice has no energy)
    model_durations: np.ndarray | None = None  # the durations the model used, where a break trimmed them
    speaker: int = 0  # the speaker id it was spoken as (`SpeechEngine._checked_acoustic` sets it)

    @classmethod
    def unbatch(
        cls,
        mel: np.ndarray,
        mel_lens: np.ndarray,
        durations: np.ndarray,
        pitch: np.ndarray,
        energy: np.ndarray | None,
        lens: Sequence[int],
    ) -> list[AcousticOutput]:
        """One output per piece from a padded batch (mel (B, n_mels, T), the rest (B, N)), each trimmed to its
        own `mel_lens` frames and `lens` symbols: what both engines' acoustic models return."""
        return [
            cls(
                mel[i, :, : mel_lens[i]],
                durations[i, :n],
                pitch[i, :n],
                energy=None if energy is None else energy[i, :n],
            )
            for i, n in enumerate(lens)
        ]


@dataclass
class SynthesisResult:
    """Audio plus what produced it: the mel, the pitch contour, and every symbol with its duration.

    Pauses between pieces appear as the symbol `" "` with their length in frames, so `durations.sum()` equals
    the number of mel frames and `audio` holds `hop_length` samples per frame.
    """

    audio: np.ndarray  # (samples,) float32
    sample_rate: int
    hop_length: int
    mel: np.ndarray  # (n_mels, T) log mel
    pitch: np.ndarray  # (T,) Hz per frame, 0 where unvoiced or silent
    durations: np.ndarray  # (S,) frames per symbol
    symbols: list[str]
    sentences: list[str] = field(default_factory=list)
    words: list[Timestamp] = field(default_factory=list)
    phones: list[Timestamp] = field(default_factory=list)
    marks: list[Timestamp] = field(default_factory=list)
    prosody: Prosody | None = None  # every symbol's duration, pitch and energy, to edit and replay

    @property
    def seconds(self) -> float:
        return len(self.audio) / self.sample_rate

    def timestamps(self, phones: bool = False) -> dict:
        """Words and marks (and phones) as a JSON-ready dict."""
        out: dict = {
            "duration": round(self.seconds, 4),
            "words": [w.to_dict() for w in self.words],
            "marks": [m.to_dict() for m in self.marks],
        }
        if phones:
            out["phones"] = [p.to_dict() for p in self.phones]
        return out


@dataclass
class StreamChunk:
    """One chunk of `SpeechEngine.stream_detailed`: audio, where it starts in the whole stream, and the
    words, phones and marks it holds, timed from the start of the stream."""

    audio: np.ndarray
    start: float
    words: list[Timestamp]
    phones: list[Timestamp]
    marks: list[Timestamp]


def pause_after(sentence: str) -> float:
    """Seconds of silence after a sentence, judged by its last punctuation mark."""
    end = sentence.rstrip().rstrip(_CLOSERS)
    return PAUSE_SECONDS.get(end[-1:], SENTENCE_PAUSE) if end else SENTENCE_PAUSE


def split_symbols(symbols: list[str], max_symbols: int) -> list[tuple[list[str], float]]:
    """Cut a symbol sequence into pieces of at most `max_symbols`, preferring pauses, then word boundaries."""
    return [(symbols[a:b], pause) for a, b, pause in split_points(symbols, max_symbols)]


def split_points(symbols: list[str], max_symbols: int) -> list[tuple[int, int, float]]:
    """`split_symbols` as (start, end, pause) ranges: a word boundary where a piece is cut belongs to none."""
    pieces: list[tuple[int, int, float]] = []
    start, n = 0, len(symbols)
    while n - start > max_symbols:
        head = symbols[start : start + max_symbols]
        cut = max((i for i, s in enumerate(head) if s in PAUSE_SECONDS), default=-1)
        if cut > 0:
            pieces.append((start, start + cut + 1, PAUSE_SECONDS[head[cut]]))
            start += cut + 1
            continue
        cut = max((i for i, s in enumerate(head) if s == WORD_BOUNDARY), default=-1)
        if cut > 0:
            pieces.append((start, start + cut, WORD_PAUSE))
            start += cut + 1
        else:
            pieces.append((start, start + max_symbols, 0.0))
            start += max_symbols
    pieces.append((start, n, 0.0))
    return pieces


def voice_frontend(voice: Voice, lexicon: LexiconSource | None = None) -> TextFrontend:
    """The text frontend for a voice: its symbol table, its own `lexicon.txt` if it has one, then the user's."""
    own = Path(voice.path) / LEXICON_FILE
    return TextFrontend(voice.text, lexicon, own if own.is_file() else None)


def loud_frames(audio: np.ndarray, hop_length: int, n_frames: int) -> np.ndarray:
    """Whether each frame's RMS reaches `SILENCE_DBFS`: an absolute level, so that a piece, a stream chunk
    and the whole text agree."""
    frames = np.zeros((n_frames, hop_length), np.float64)
    usable = min(len(audio) // hop_length, n_frames)
    frames[:usable] = audio[: usable * hop_length].reshape(usable, hop_length)
    rms = np.sqrt((frames**2).mean(axis=1))
    return rms >= 10.0 ** (SILENCE_DBFS / 20.0)


def word_bounds(
    loud: np.ndarray, durations: np.ndarray, words: list[tuple[str, int, int]]
) -> list[tuple[int, int]]:
    """Each word's (start, end) frames as heard. A word starts where its first symbol does (the durations
    follow the aligner's boundaries), but the decoder lets its decay spill into the silent symbols after it
    (a release after a stop, a vowel dying away into a pause) and may leave a final closure silent: where
    silence follows a word, its end moves to its last loud frame before that silence; between words spoken
    without a pause the symbols' edge stands. `loud` is `loud_frames` of the piece's audio."""
    n_frames = len(loud)
    if not words or n_frames == 0:
        return []
    quiet = np.flatnonzero(~loud)
    edges = np.concatenate([[0], np.cumsum(durations)]).astype(int)
    bounds = []
    for k, (_, a, b) in enumerate(words):
        start, end = int(edges[a]), int(edges[b])
        high = int(edges[words[k + 1][1]]) if k + 1 < len(words) else n_frames
        after = quiet[(quiet >= end) & (quiet < high)]
        if after.size or k + 1 == len(words):
            end = int(after[0]) if after.size else high
        own = np.flatnonzero(loud[start:end])
        if own.size:
            end = start + int(own[-1]) + 1
        bounds.append((start, max(end, start)))
    return bounds


def symbol_difference(expected: list[str], found: list[str]) -> str:
    """The first place where a document's symbols differ from the text's, in words."""
    for op, a, _, c, _ in difflib.SequenceMatcher(None, expected, found, autojunk=False).get_opcodes():
        if op == "delete":
            return f"symbol {c + 1} of the text ({expected[a]!r}) is missing from the document"
        if op == "insert":
            return (
                f"symbol {c + 1} of the document ({found[c]!r}) is extra: the text has no such symbol there"
            )
        if op == "replace":
            return f"symbol {c + 1} is {found[c]!r} in the document but {expected[a]!r} in the text"
    return "the symbols differ from the text's"


def given_values(pieces: Sequence[Piece]) -> GivenValues | None:
    """The (B, N) values the pieces' prosody documents give (NaN: predict), or None if none gives any."""
    if all(p.given is None for p in pieces):
        return None
    given = GivenValues.empty((len(pieces), max(len(p.ids) for p in pieces)))
    for row, piece in enumerate(pieces):
        if piece.given is None:
            continue
        n = len(piece.given.symbols)
        for name in ("frames", "pitch", "energy"):
            target = given.durations if name == "frames" else getattr(given, name)
            values = [getattr(sp, name) for sp in piece.given.symbols]
            target[row, :n] = [np.nan if v is None else v for v in values]
    return given


def pad_ids(ids: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Symbol-id sequences as a zero-padded int64 batch (B, N) and their lengths (B,)."""
    lens = np.array([len(x) for x in ids], dtype=np.int64)
    batch = np.zeros((len(ids), int(lens.max())), dtype=np.int64)
    for row, x in zip(batch, ids, strict=True):
        row[: len(x)] = x
    return batch, lens


def check_threads(threads: int | None) -> None:
    """None (the engine's choice) or a whole number of threads, 1 or more."""
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, numbers.Integral) or threads < 1
    ):
        raise SynthesisError(f"threads must be a whole number, 1 or more (or None), not {threads!r}")


def check_postfilter(strength: float) -> float:
    """The mel post-filter's strength (`runtime.postfilter`) as a float from 0 (off) to MAX_POSTFILTER."""
    if (
        isinstance(strength, bool)
        or not isinstance(strength, numbers.Real)
        or not 0 <= strength <= MAX_POSTFILTER
    ):
        raise SynthesisError(
            f"postfilter must be a number from 0 (off) to {MAX_POSTFILTER}, not {strength!r}"
        )
    return float(strength)


def speakable(symbols: Iterable[str]) -> bool:
    """True if any symbol makes a sound (not padding, a word boundary or punctuation)."""
    return any(s not in SILENT_SYMBOLS for s in symbols)


class SpeechEngine(abc.ABC):
    """Sentence splitting, batching, pauses, markup, timestamps and streaming over an acoustic model and a vocoder.

    Subclasses set `frontend`, `sample_rate`, `hop_length`, `speakers` (and `pitch_means`, each speaker's mean
    pitch in Hz, for SSML pitches in Hz) and implement `_acoustic` and `_vocode`. `max_chars` bounds the text
    accepted (None: no limit), `max_symbols` the length of one piece and `batch_size` / `batch_symbols` the
    acoustic model's batches. Every entry point takes `ssml`: True reads the text as SSML, False as plain
    text (with `{ARPAbet}`), None (the default) as SSML when it starts with `<speak`.
    """

    frontend: object
    sample_rate: int
    hop_length: int
    n_mels: int
    speakers: list[str]
    pitch_means: list[float] | None = None
    max_chars: int | None = None
    # the mel post-filter's strength per speaker id (`runtime.postfilter`)
    postfilter: list[float] | None = None
    max_symbols: int = 300
    batch_size: int = 16
    batch_symbols: int = 4000

    def _use_voice(
        self,
        voice: Voice,
        max_chars: int | None,
        lexicon: LexiconSource | None,
        postfilter: float | None,
    ) -> None:
        """What every backend takes from its voice: the frontend, rates, speakers and their mean pitch, and the
        post-filter (the voice's own strengths unless `postfilter` gives one for every speaker)."""
        self.frontend = voice_frontend(voice, lexicon)
        self.pitch_means = [float(voice.pitch.get(s, {}).get("mean", 0.0)) for s in voice.speakers]
        self.sample_rate = voice.audio.sample_rate
        self.hop_length = voice.audio.hop_length
        self.n_mels = voice.audio.n_mels
        self.speakers = list(voice.speakers)
        self.max_chars = max_chars
        if postfilter is None:
            self.postfilter = [voice.postfilter_of(s) for s in voice.speakers]
        else:
            self.postfilter = [check_postfilter(postfilter)] * len(voice.speakers)

    # ---- what a backend provides -----------------------------------------------------------------------------

    @abc.abstractmethod
    def _acoustic(
        self,
        ids: list[list[int]],
        speaker: int | Sequence[int],
        controls: Controls | SymbolControls,
        given: GivenValues | None = None,
    ) -> list[AcousticOutput]:
        """Mel, durations, pitch and energy for each symbol-id sequence; `speaker` is one for all or one per
        sequence, `controls` scalars or (B, N) arrays over the padded batch (`symbol_controls`), `given` the
        values a prosody document fixes (None: predict everything)."""

    @abc.abstractmethod
    def _vocode(self, mel: np.ndarray, f0: np.ndarray | None = None) -> np.ndarray:
        """Float32 audio for one (n_mels, T) log mel; `f0` (T,), the sonorants' pitch per frame
        (`harmonic_phase.pitch_track`), sets an iSTFT vocoder's phase (`harmonic_phase.lock_to_pitch`)."""

    # ---- public API ------------------------------------------------------------------------------------------

    def synthesize(
        self,
        text: str | None = None,
        speaker: str | int | None = None,
        pace: float = 1.0,
        pitch_shift: float = 0.0,
        pitch_range: float = 1.0,
        energy: float = 1.0,
        ssml: bool | None = None,
        prosody: Prosody | dict | None = None,
    ) -> tuple[np.ndarray, int]:
        """Float32 audio (nominally within [-1, 1]) and its sample rate, for text of any length, or for a
        prosody document (`analyze`, possibly edited: its text, speaker and settings, every value it gives)."""
        if prosody is not None:
            result = self.synthesize_detailed(
                text, speaker, pace, pitch_shift, pitch_range, energy, ssml, prosody=prosody
            )
            return result.audio, self.sample_rate
        controls = Controls(pace, pitch_shift, pitch_range, energy)
        result = self._synthesize_all([self._text(text)], self.speaker_id(speaker), controls, False, ssml)[0]
        return result.audio, self.sample_rate

    def analyze(
        self,
        text: str,
        speaker: str | int | None = None,
        pace: float = 1.0,
        pitch_shift: float = 0.0,
        pitch_range: float = 1.0,
        energy: float = 1.0,
        ssml: bool | None = None,
    ) -> Prosody:
        """How the voice says `text`: every symbol's duration, pitch and energy, to edit and pass back to
        `synthesize(prosody=...)`, which then gives the same audio as `synthesize(text, ...)` unless edited."""
        prosody = self.synthesize_detailed(
            text, speaker, pace, pitch_shift, pitch_range, energy, ssml
        ).prosody
        assert prosody is not None
        return prosody

    def synthesize_batch(
        self,
        texts: Sequence[str],
        speaker: str | int | None = None,
        pace: float = 1.0,
        pitch_shift: float = 0.0,
        pitch_range: float = 1.0,
        energy: float = 1.0,
        ssml: bool | None = None,
    ) -> list[np.ndarray]:
        """Audio for each text, sharing the acoustic model's batches across texts (all at `self.sample_rate`)."""
        controls = Controls(pace, pitch_shift, pitch_range, energy)
        results = self._synthesize_all(list(texts), self.speaker_id(speaker), controls, False, ssml)
        return [r.audio for r in results]

    def like(
        self,
        text: str,
        audio: np.ndarray,
        sample_rate: int,
        speaker: str | int | None = None,
        ssml: bool | None = None,
        passes: int = 3,
    ) -> Prosody:
        """The prosody of `text` said like `audio`, a recording of it (any voice): its durations and its
        melody moved into this voice's pitch (`fastpitch.runtime.transfer`); pass it to
        `synthesize(prosody=...)`. Raises `TransferError` when the recording cannot be aligned to the text."""
        from fastpitch.audio import extract_f0, load_pyworld, mel_spectrogram_numpy, resample
        from fastpitch.runtime import transfer

        try:  # before any work: pyworld tracks the recording's pitch, scipy resamples it
            load_pyworld()
            if sample_rate != self.voice.audio.sample_rate:  # type: ignore[attr-defined]
                import scipy.signal  # noqa: F401
        except ModuleNotFoundError as e:
            raise missing_dependency(e, "speaking like a recording") or e from None

        cfg = self.voice.audio  # type: ignore[attr-defined]
        if (
            isinstance(sample_rate, bool)
            or not isinstance(sample_rate, numbers.Integral)
            or not sample_rate > 0
        ):
            raise SynthesisError(f"sample_rate must be a positive whole number of Hz, got {sample_rate!r}")
        if audio is None or isinstance(audio, (str, bytes)):
            raise SynthesisError(f"audio must be an array of samples, got {type(audio).__name__}")
        wav = np.asarray(audio, np.float32).reshape(-1)
        if not np.isfinite(wav).all():
            raise transfer.TransferError("the recording holds NaN or infinite samples")
        if sample_rate != cfg.sample_rate:
            wav = resample(wav, sample_rate, cfg.sample_rate).astype(np.float32)
        if not np.any(np.abs(wav) > SILENT_PEAK):
            raise transfer.TransferError("the recording is silent: there is nothing to align to the text")
        recording = mel_spectrogram_numpy(wav, cfg)
        if recording.shape[1] < 2:
            raise transfer.TransferError("the recording is too short to align")
        result = self.synthesize_detailed(text, speaker, ssml=ssml)
        doc = result.prosody
        assert doc is not None
        predicted = int(transfer.symbol_frames(doc).sum())
        if predicted != result.mel.shape[1]:
            raise transfer.TransferError("speaking like a recording does not take texts with SSML breaks")
        transfer.check_lengths(predicted, recording.shape[1], cfg.hop_length / cfg.sample_rate)
        wanted = doc.speaker
        # Whether the recording says the text is judged on the whole of both (the pauses cut below would
        # change the distance the refusal threshold was measured with).
        result, cost = self._closest_reading(text, recording, ssml, result)
        doc = result.prosody
        assert doc is not None
        quiet = transfer.quiet_frames(recording)
        silent, stops = transfer.silent_symbols(doc), transfer.stop_symbols(doc)
        for left in range(max(passes, 1), 0, -1):
            before = transfer.symbol_frames(doc)
            frames, _ = transfer.aligned_frames(result.mel, recording, before, silent, quiet, stops)
            transfer.check_alignment(doc, frames, cost)
            doc = transfer.with_frames(doc, frames)
            if left == 1 or np.array_equal(frames, before):  # settled: reading with them aligns to them again
                break
            # The voice's reading with these durations, closer to the recording, to align again.
            result = self.synthesize_detailed(prosody=doc)
        f0, voiced = extract_f0(wav, cfg)
        doc = replace(doc, speaker=wanted)
        return transfer.with_melody(doc, f0, voiced, self.mean_pitch(self.speaker_id(doc.speaker)))

    def _closest_reading(
        self, text: str, recording: np.ndarray, ssml: bool | None, reading: SynthesisResult
    ) -> tuple[SynthesisResult, float]:
        """The voice's reading of `text` by whichever of its speakers aligns best with the recording's mel
        (`reading`, the wanted speaker's, unless another's matches strictly better), and its alignment's
        distance. `like` reads the timing off it: speakers split a word's frames among its symbols each in the
        way their training durations taught them, and the one who sounds most like the recording also splits
        them most like it."""
        from fastpitch.runtime import transfer

        def cost(result: SynthesisResult) -> float:
            assert result.prosody is not None
            return transfer.aligned_frames(result.mel, recording, transfer.symbol_frames(result.prosody))[1]

        assert reading.prosody is not None
        wanted = self.speaker_id(reading.prosody.speaker)
        best, best_cost = reading, cost(reading)
        for other in range(len(self.speakers)):
            if other != wanted:
                candidate = self.synthesize_detailed(text, other, ssml=ssml)
                candidate_cost = cost(candidate)
                if candidate_cost < best_cost:
                    best, best_cost = candidate, candidate_cost
        return best, best_cost

    def synthesize_detailed(
        self,
        text: str | None = None,
        speaker: str | int | None = None,
        pace: float = 1.0,
        pitch_shift: float = 0.0,
        pitch_range: float = 1.0,
        energy: float = 1.0,
        ssml: bool | None = None,
        prosody: Prosody | dict | None = None,
    ) -> SynthesisResult:
        """Audio with its mel, per-frame pitch contour (Hz), symbols and their durations, the timestamps
        of every word, phone and SSML mark, and the prosody document; from text or from a prosody document."""
        if prosody is not None:
            if text is not None:
                raise SynthesisError(
                    "give either text or a prosody document (which holds its text), not both"
                )
            given = {
                name: value
                for name, value, default in (
                    ("speaker", speaker, None),
                    ("pace", pace, 1.0),
                    ("pitch_shift", pitch_shift, 0.0),
                    ("pitch_range", pitch_range, 1.0),
                    ("energy", energy, 1.0),
                    ("ssml", ssml, None),
                )
                if value != default
            }
            if given:
                raise SynthesisError(
                    f"a prosody document holds its own speaker and settings; set {', '.join(given)} in the "
                    "document (its `speaker` and `settings`), not beside it"
                )
            doc = prosody if isinstance(prosody, Prosody) else Prosody.from_dict(prosody)
            pieces = self._document_pieces(doc)
            controls = Controls(**doc.settings)
            speaker_id = self.speaker_id(doc.speaker)
            return self._run_pieces(pieces, [doc.text], speaker_id, controls, True, doc.ssml)[0]
        controls = Controls(pace, pitch_shift, pitch_range, energy)
        return self._synthesize_all([self._text(text)], self.speaker_id(speaker), controls, True, ssml)[0]

    def stream(
        self,
        text: str,
        speaker: str | int | None = None,
        pace: float = 1.0,
        pitch_shift: float = 0.0,
        pitch_range: float = 1.0,
        energy: float = 1.0,
        ssml: bool | None = None,
    ) -> Iterator[np.ndarray]:
        """Audio chunks in order, one per sentence (with its following pause); the first as soon as it is ready.

        The first sentence is synthesized alone so that it comes out quickly; later ones go in batches of
        consecutive sentences. Joined, the chunks are the audio `synthesize` returns.
        """
        controls = Controls(pace, pitch_shift, pitch_range, energy)
        for chunk in self._stream(text, self.speaker_id(speaker), controls, ssml, timed=False):
            yield chunk.audio

    def stream_detailed(
        self,
        text: str,
        speaker: str | int | None = None,
        pace: float = 1.0,
        pitch_shift: float = 0.0,
        pitch_range: float = 1.0,
        energy: float = 1.0,
        ssml: bool | None = None,
    ) -> Iterator[StreamChunk]:
        """`stream`, each chunk with its own words, phones and marks (times from the start of the stream)."""
        controls = Controls(pace, pitch_shift, pitch_range, energy)
        return self._stream(text, self.speaker_id(speaker), controls, ssml, timed=True)

    def _stream(
        self, text: str, speaker_id: int, controls: Controls, ssml: bool | None, timed: bool
    ) -> Iterator[StreamChunk]:
        """The chunks of `stream_detailed`; `timed=False` (plain `stream`) skips working out the timestamps."""
        pieces = self._speakable_pieces(self._plan([text], ssml), [text])
        batch: list[Piece] = list(itertools.islice(pieces, 1))
        start = 0  # frames so far
        while batch:
            outputs = self._run_acoustic(batch, speaker_id, controls)
            for piece, out in zip(batch, outputs, strict=True):
                out, audio = self._vocoded(piece, out, timed)
                lead, gap = self._frames(piece.lead), self._gap_frames(piece, out, controls)
                words, phones, marks = self._times(piece, out, start + lead) if timed else ([], [], [])
                marks = self._lead_marks(piece, start) + marks if timed else marks
                yield StreamChunk(
                    self._between_silences(lead, audio, gap),
                    start * self.hop_length / self.sample_rate,
                    words,
                    phones,
                    marks,
                )
                start += lead + int(out.durations.sum()) + gap
            batch = list(itertools.islice(pieces, self.batch_size))

    def stream_text(
        self,
        pieces: Iterable[str],
        speaker: str | int | None = None,
        pace: float = 1.0,
        pitch_shift: float = 0.0,
        pitch_range: float = 1.0,
        energy: float = 1.0,
        ssml: bool | None = None,
    ) -> Iterator[np.ndarray]:
        """Audio for text that arrives in pieces (a reply still being written): each sentence is spoken as soon as
        the text after it shows that it is complete, the rest once `pieces` ends. Inline `{ARPAbet}` works as in
        `synthesize`. An SSML document (`ssml=True`, or None and the text starts with `<`) only parses whole: it
        is gathered to its end, then spoken as `stream` speaks it.

        A sentence's pause is sent just before the next sentence (a following lone "..." may lengthen it), so
        joined, the chunks are the audio `synthesize` returns for the joined text, to within rounding (each
        sentence runs alone here, not in a batch).
        """
        try:
            pieces = iter([pieces] if isinstance(pieces, str) else pieces)
        except TypeError:
            raise SynthesisError(f"pieces must be strings in order, got {type(pieces).__name__}") from None
        head: list[str] = []
        if ssml is not False:  # markup starts with "<": hold the text until its first other character shows
            for text in pieces:
                head.append(text)
                if not isinstance(text, str) or text.strip():
                    break
            first = head[-1] if head and isinstance(head[-1], str) else ""
            if ssml or first.lstrip().startswith("<"):
                whole = "".join(self._arriving([*head, *pieces]))
                yield from self.stream(whole, speaker, pace, pitch_shift, pitch_range, energy, ssml)
                return
        controls = Controls(pace, pitch_shift, pitch_range, energy)
        speaker_id = self.speaker_id(speaker)
        gap: float | None = None  # the pause owed after the last spoken piece
        for piece in self._plan_arriving(itertools.chain(head, pieces)):
            if not speakable(piece.symbols):
                gap = None if gap is None else max(gap, piece.pause)
                continue
            (out,) = self._checked_acoustic([piece.ids], speaker_id, controls)
            audio = self._checked_vocode(piece, out)
            if gap:
                yield np.zeros(self._silence_frames(gap, controls) * self.hop_length, np.float32)
            yield audio
            gap = piece.pause
        if gap is None:
            raise SynthesisError("nothing to say: the text has no letters, digits or words")
        if gap:
            yield np.zeros(self._silence_frames(gap, controls) * self.hop_length, np.float32)

    def _text(self, text: str | None) -> str:
        if text is None:
            raise SynthesisError("no text to speak (give text, or a prosody document)")
        return text

    def _document(
        self,
        text: str,
        ssml: bool,
        speaker: int,
        controls: Controls,
        pieces: list[Piece],
        outputs: list[AcousticOutput],
    ) -> Prosody:
        """The prosody document of one text's synthesized pieces: the values the model used, exactly."""
        sentences = []
        for piece, out in zip(pieces, outputs, strict=True):
            durations = out.durations if out.model_durations is None else out.model_durations
            word_of: list[int | None] = [None] * len(piece.symbols)
            for k, (_, a, b) in enumerate(piece.words):
                word_of[a:b] = [k] * (b - a)
            symbols = [
                SymbolProsody(
                    symbol,
                    word_of[i],
                    int(durations[i]),
                    None if symbol in SILENT_SYMBOLS else float32_value(out.pitch[i]),
                    None if out.energy is None else float32_value(out.energy[i]),
                )
                for i, symbol in enumerate(piece.symbols)
            ]
            words = [w for w, _, _ in piece.words]
            sentences.append(
                SentenceProsody(piece.sentence, words, symbols, self._gap_frames(piece, out, controls))
            )
        table = self.frontend.symbols  # type: ignore[attr-defined]
        return Prosody(
            text=text,
            voice=str(getattr(getattr(self, "voice", None), "name", "")),
            symbol_table=symbol_table_id(table.version, list(table.symbols)),
            sample_rate=self.sample_rate,
            hop_length=self.hop_length,
            sentences=sentences,
            speaker=self.speakers[speaker],
            ssml=ssml,
            settings={
                "pace": controls.pace,
                "pitch_shift": controls.pitch_shift,
                "pitch_range": controls.pitch_range,
                "energy": controls.energy,
            },
        )

    def _document_pieces(self, doc: Prosody) -> list[Piece]:
        """The pieces of a prosody document's text, each carrying its sentence's values; refused where the
        document was made for another symbol table or frame rate, or its symbols are not the text's."""
        table = self.frontend.symbols  # type: ignore[attr-defined]
        own = symbol_table_id(table.version, list(table.symbols))
        if doc.symbol_table != own:
            raise ProsodyError(
                f"the prosody document was made for symbol table {doc.symbol_table!r} (voice {doc.voice!r}); "
                f"this voice uses {own!r}"
            )
        if (doc.sample_rate, doc.hop_length) != (self.sample_rate, self.hop_length):
            raise ProsodyError(
                f"the prosody document counts frames of {doc.hop_length} samples at {doc.sample_rate} Hz; "
                f"this voice's are {self.hop_length} at {self.sample_rate} Hz"
            )
        for k, sentence in enumerate(doc.sentences, 1):
            for i, sp in enumerate(sentence.symbols, 1):
                if sp.symbol not in table:
                    raise ProsodyError(
                        f"sentence {k}, symbol {i}: 'symbol' {sp.symbol!r} is not in this voice's symbol table"
                    )
        pieces = list(self._speakable_pieces(self._plan([doc.text], doc.ssml), [doc.text]))
        if len(pieces) != len(doc.sentences):
            raise ProsodyError(
                f"the prosody document has {len(doc.sentences)} sentences but its text makes {len(pieces)}: "
                "sentences are missing or extra"
            )
        for k, (piece, sentence) in enumerate(zip(pieces, doc.sentences, strict=True), 1):
            symbols = [sp.symbol for sp in sentence.symbols]
            if symbols != piece.symbols:
                raise ProsodyError(
                    f"sentence {k}: {symbol_difference(piece.symbols, symbols)} (a document made with a "
                    "lexicon replays with the same lexicon)"
                )
            piece.given = sentence
        return pieces

    def speaker_id(self, speaker: str | int | None) -> int:
        """The index of a speaker given by name or index; None is the first speaker."""
        if speaker is None:
            return 0
        if isinstance(speaker, str) and speaker in self.speakers:
            return self.speakers.index(speaker)
        if isinstance(speaker, str) and speaker.strip().lstrip("-").isdigit():
            speaker = int(speaker)
        if (
            isinstance(speaker, numbers.Integral)
            and not isinstance(speaker, bool)
            and 0 <= speaker < len(self.speakers)
        ):
            return int(speaker)  # numpy's integers too
        raise SynthesisError(
            f"unknown speaker {speaker!r}; this voice has {len(self.speakers)}: "
            + ", ".join(f"{i}={name}" for i, name in enumerate(self.speakers))
        )

    # ---- internals -------------------------------------------------------------------------------------------

    def _plan(self, texts: list[str], ssml: bool | None = None) -> Iterator[Piece]:
        """Pieces of every text in order, lazily: paragraphs, then sentences, then bounded symbol runs."""
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise SynthesisError(f"text must be a string, got {type(text).__name__}")
            if self.max_chars is not None and len(text) > self.max_chars:
                raise SynthesisError(
                    f"text is {len(text):,} characters long; this synthesizer accepts at most {self.max_chars:,}"
                )
            markup = is_ssml(text) if ssml is None else ssml
            if markup or has_braces(text):
                yield from self._markup_pieces(index, text, markup)
                continue
            paragraphs = [p for p in _PARAGRAPHS.split(text) if p.strip()]
            for n, paragraph in enumerate(paragraphs):
                sentences = [s for s in self.frontend.split_sentences(paragraph) if s.strip()]
                for m, sentence in enumerate(sentences):
                    if m < len(sentences) - 1:
                        pause = pause_after(sentence)
                    else:
                        pause = PARAGRAPH_PAUSE if n < len(paragraphs) - 1 else 0.0
                    yield from self._sentence_pieces(index, sentence, pause)

    def _plan_arriving(self, texts: Iterable[str]) -> Iterator[Piece]:
        """`_plan` of the joined texts, each sentence as soon as the text after it shows that it has ended.

        A sentence ends where the frontend's splitter finds another one starting after it, so only the current
        paragraph is kept and split again as text arrives; a paragraph ends where one with words follows it.
        """
        paragraph = ""  # the unfinished paragraph
        done = 0  # how many of its sentences are planned
        for text in self._arriving(texts):
            paragraph += text
            *finished, paragraph = _PARAGRAPHS.split(paragraph)
            if finished and not paragraph.strip():  # a trailing blank line: the next paragraph has not begun
                paragraph = finished.pop() + "\n\n"
            for ended in finished:
                if ended.strip():
                    yield from self._sentences_from(ended, done, PARAGRAPH_PAUSE, last=True)
                    done = 0
            if paragraph.strip():
                sentences = self.frontend.split_sentences(paragraph)
                yield from self._sentences_from(paragraph, done, 0.0, last=False, sentences=sentences)
                done = max(done, len(sentences) - 1)
        if paragraph.strip():
            yield from self._sentences_from(paragraph, done, 0.0, last=True)

    def _arriving(self, texts: Iterable[str]) -> Iterator[str]:
        """The pieces of an arriving text, each checked to be a string and the whole not over `max_chars`."""
        total = 0
        for text in texts:
            if not isinstance(text, str):
                raise SynthesisError(f"text must be a string, got {type(text).__name__}")
            total += len(text)
            if self.max_chars is not None and total > self.max_chars:
                raise SynthesisError(
                    f"text is over {self.max_chars:,} characters long; this synthesizer accepts at most {self.max_chars:,}"
                )
            yield text

    def _sentences_from(
        self, paragraph: str, start: int, final_pause: float, last: bool, sentences: list[str] | None = None
    ) -> Iterator[Piece]:
        """The pieces of a paragraph's sentences from `start` on; unless `last`, all but its final sentence."""
        sentences = [s for s in sentences or self.frontend.split_sentences(paragraph) if s.strip()]
        end = len(sentences) if last else len(sentences) - 1
        for m in range(start, end):
            pause = pause_after(sentences[m]) if m < len(sentences) - 1 else final_pause
            if has_braces(sentences[m]):  # inline {ARPAbet}: the markup path, its pause the sentence's
                *parts, final = self._markup_pieces(0, sentences[m], False)
                final.pause = pause
                yield from (*parts, final)
            else:
                yield from self._sentence_pieces(0, sentences[m], pause)

    def _sentence_pieces(self, source: int, sentence: str, pause: float) -> Iterator[Piece]:
        """One sentence as pieces of at most `max_symbols`; the last one is followed by `pause`."""
        words: list[tuple[str, int, int]] = []
        try:
            symbols = self.frontend.to_symbols(sentence, words)
        except TextError:  # lone punctuation or unreadable characters: a pause, not an error
            symbols = []
        piece = Piece(source, sentence, symbols, [], pause, words)
        piece.written = written_groups(sentence, [w for w, _, _ in words])
        yield from self._cut(piece)

    def _markup_pieces(self, source: int, text: str, ssml: bool) -> Iterator[Piece]:
        """A markup document's utterances as pieces, with their styles, speakers, marks and breaks."""
        utterances: list[Utterance] = self.frontend.utterances(text, ssml)
        # every <voice name> is checked before the first piece: a stream must not fail after its audio began
        speakers = [None if utt.speaker is None else self.speaker_id(utt.speaker) for utt in utterances]
        for k, (utt, speaker) in enumerate(zip(utterances, speakers, strict=True)):
            fixed = utt.end == "break"
            if fixed:
                pause = utt.seconds
            elif utt.end == "paragraph":
                pause = PARAGRAPH_PAUSE
            elif utt.end == "sentence":
                last = next((s for s in reversed(utt.symbols) if s != WORD_BOUNDARY), "")
                pause = PAUSE_SECONDS.get(last, SENTENCE_PAUSE)
            else:
                pause = 0.0
            piece = Piece(
                source, utt.text, utt.symbols, [], pause, utt.words, utt.marks, utt.styles, speaker, fixed
            )
            piece.trim_lead = utt.lead > 0 or (k > 0 and utterances[k - 1].end == "break")
            piece.lead, piece.lead_marks, piece.written = utt.lead, utt.lead_marks, utt.written
            yield from self._cut(piece)

    def _cut(self, piece: Piece) -> Iterator[Piece]:
        """A piece as pieces of at most `max_symbols` symbols, each with its own words, marks and styles."""
        symbols = piece.symbols
        edges = self.frontend.edge_boundaries and len(symbols) >= 2
        if len(symbols) <= self.max_symbols:
            piece.ids = self.frontend.symbols.encode(symbols)
            yield piece
            return
        inner = symbols[1:-1] if edges else symbols
        offset = 1 if edges else 0
        parts = split_points(inner, self.max_symbols - 2 * offset)
        taken = -1  # marks up to this index went to earlier pieces
        for k, (a, b, part_pause) in enumerate(parts):
            last = k == len(parts) - 1
            start, end = a + offset, b + offset
            part = symbols[start:end]
            shift = -start
            if edges:  # every piece is an utterance of its own, with the edges the model was trained on
                part = [WORD_BOUNDARY, *part, WORD_BOUNDARY]
                shift += 1
            styles = None
            if piece.styles is not None:
                own = piece.styles[start:end]
                styles = [own[0], *own, own[-1]] if edges else own
            kept = [k for k, (_, i, j) in enumerate(piece.words) if start <= i and j <= end]
            words = [(w, i + shift, j + shift) for w, i, j in (piece.words[k] for k in kept)]
            marks = [
                (name, min(max(i + shift, 0), len(part)))
                for name, i in piece.marks
                if taken < i and (i < end or last)
            ]
            taken = end - 1
            yield Piece(
                piece.source,
                piece.sentence,
                part,
                self.frontend.symbols.encode(part),
                piece.pause if last else part_pause,
                words,
                marks,
                styles,
                piece.speaker,
                piece.fixed and last,
                piece.trim_lead and k == 0,
                lead=piece.lead if k == 0 else 0.0,
                lead_marks=piece.lead_marks if k == 0 else [],
                written=[piece.written[i] for i in kept] if piece.written else [],
            )

    def _speakable_pieces(self, pieces: Iterable[Piece], texts: list[str]) -> Iterator[Piece]:
        """Drop pieces with nothing to say (lone punctuation), keeping their pause; fail if a text has none.

        Each piece is held back until the next one arrives, so a dropped piece's pause can still join it.
        """
        pending: Piece | None = None
        spoke = [False] * len(texts)
        for piece in pieces:
            if not speakable(piece.symbols):
                if pending is not None and pending.source == piece.source:
                    pending.pause = max(pending.pause, piece.pause)
                continue
            if pending is not None:
                yield pending
            pending, spoke[piece.source] = piece, True
        if pending is not None:
            yield pending
        for text, ok in zip(texts, spoke, strict=True):
            if not ok:
                shown = text if len(text) <= 40 else text[:37] + "..."
                raise SynthesisError(f"nothing to say in {shown!r}: the text has no letters, digits or words")

    def _synthesize_all(
        self,
        texts: list[str],
        speaker: int,
        controls: Controls,
        detailed: bool,
        ssml: bool | None = None,
    ) -> list[SynthesisResult]:
        """Plan every piece, run them sorted by length in bounded batches, and join each text's pieces."""
        pieces = list(self._speakable_pieces(self._plan(texts, ssml), texts))
        return self._run_pieces(pieces, texts, speaker, controls, detailed, ssml)

    def _run_pieces(
        self,
        pieces: list[Piece],
        texts: list[str],
        speaker: int,
        controls: Controls,
        detailed: bool,
        ssml: bool | None,
    ) -> list[SynthesisResult]:
        """Run planned pieces sorted by length in bounded batches and join each text's pieces; with `detailed`,
        each result carries its prosody document."""
        audios: list[np.ndarray] = [np.empty(0, np.float32)] * len(pieces)
        outputs: list[AcousticOutput | None] = [None] * len(pieces)
        order = sorted(range(len(pieces)), key=lambda i: len(pieces[i].ids))
        for batch in self._batches(order, [len(p.ids) for p in pieces]):
            outs = self._run_acoustic([pieces[i] for i in batch], speaker, controls)
            for i, out in zip(batch, outs, strict=True):
                out, audios[i] = self._vocoded(pieces[i], out, detailed)
                # Only the durations are needed (for the pauses) unless the caller wants the details.
                outputs[i] = (
                    out
                    if detailed
                    else AcousticOutput(
                        out.mel[:, :0], out.durations, out.pitch[:0], out.words, speaker=out.speaker
                    )
                )
        by_text: list[list[int]] = [[] for _ in texts]
        for i, piece in enumerate(pieces):
            by_text[piece.source].append(i)
        results = []
        for text, mine in zip(texts, by_text, strict=True):
            own = [pieces[i] for i in mine]
            outs: list[AcousticOutput] = [outputs[i] for i in mine]  # type: ignore[misc]
            result = self._join(own, [audios[i] for i in mine], outs, controls, detailed)
            if detailed:
                markup = is_ssml(text) if ssml is None else bool(ssml)
                result.prosody = self._document(text, markup, speaker, controls, own, outs)
            results.append(result)
        return results

    def _batches(self, order: list[int], lengths: list[int]) -> Iterator[list[int]]:
        """Consecutive runs of `order` (ascending length) within `batch_size` and `batch_symbols` padded symbols."""
        batch: list[int] = []
        for i in order:
            if batch and (
                len(batch) >= self.batch_size or (len(batch) + 1) * lengths[i] > self.batch_symbols
            ):
                yield batch
                batch = []
            batch.append(i)
        if batch:
            yield batch

    def _run_acoustic(self, pieces: list[Piece], speaker: int, controls: Controls) -> list[AcousticOutput]:
        """The acoustic model on pieces: the caller's controls, or per-symbol ones where markup set styles,
        and the values of a prosody document where one is given."""
        speakers = [speaker if p.speaker is None else p.speaker for p in pieces]
        ids = [p.ids for p in pieces]
        one_speaker: int | list[int] = speakers[0] if len(set(speakers)) == 1 else speakers
        given = given_values(pieces)
        if all(p.styles is None for p in pieces):
            return self._checked_acoustic(ids, one_speaker, controls, given)
        shape = (len(pieces), max(len(x) for x in ids))
        arrays = SymbolControls.uniform(controls, shape)
        for row, (piece, spk) in enumerate(zip(pieces, speakers, strict=True)):
            if piece.styles is None:
                continue
            mean = self.mean_pitch(spk)
            n = len(piece.styles)
            arrays.pace[row, :n] = [controls.pace * s.pace for s in piece.styles]
            arrays.pitch_shift[row, :n] = [controls.pitch_shift + s.semitones(mean) for s in piece.styles]
            arrays.pitch_range[row, :n] = [controls.pitch_range * s.pitch_range for s in piece.styles]
            arrays.energy[row, :n] = [controls.energy * s.energy for s in piece.styles]
        np.clip(arrays.pace, 0.05, 20.0, out=arrays.pace)
        np.clip(arrays.pitch_shift, -36.0, 36.0, out=arrays.pitch_shift)
        np.clip(arrays.pitch_range, 0.0, 20.0, out=arrays.pitch_range)
        np.clip(arrays.energy, 0.01, 20.0, out=arrays.energy)
        return self._checked_acoustic(ids, one_speaker, arrays, given)

    def mean_pitch(self, speaker: int) -> float:
        """A speaker's mean pitch in Hz (200 where the voice does not say)."""
        means = self.pitch_means
        return float(means[speaker]) if means and 0 <= speaker < len(means) and means[speaker] > 0 else 200.0

    def _checked_acoustic(
        self,
        ids: list[list[int]],
        speaker: int | Sequence[int],
        controls: Controls | SymbolControls,
        given: GivenValues | None = None,
    ) -> list[AcousticOutput]:
        outputs = self._acoustic(ids, speaker, controls, given)
        for out, spk in zip(outputs, np.broadcast_to(np.asarray(speaker), (len(outputs),)), strict=True):
            if not np.isfinite(out.mel).all():
                raise SynthesisError(
                    "the acoustic model produced NaN or infinite values in the mel: its weights are broken "
                    "(a diverged or corrupt checkpoint?)"
                )
            out.speaker = int(spk)
        return outputs

    def _checked_vocode(self, piece: Piece, out: AcousticOutput) -> np.ndarray:
        """A piece's audio from its post-filtered mel; its pitch sets the vocoder's phase (`harmonic_phase`:
        every harmonic below `LOCK_BELOW_HZ`, the fundamental above)."""
        if out.mel.shape[-1] == 0:
            return np.empty(0, np.float32)
        f0 = pitch_track(piece.symbols, out.durations, out.pitch)
        mel = sharpen(out.mel, self.postfilter[out.speaker]) if self.postfilter else out.mel
        audio = np.asarray(self._vocode(mel, f0), dtype=np.float32).reshape(-1)
        if not np.isfinite(audio).all():
            raise SynthesisError("the vocoder produced NaN or infinite audio: its weights are broken")
        return audio

    def _vocoded(
        self, piece: Piece, out: AcousticOutput, timed: bool = True
    ) -> tuple[AcousticOutput, np.ndarray]:
        """A piece's audio, with its leading silent symbols cut (durations zeroed) when it follows a break,
        and its words' frames as heard unless neither `timed` nor a break needs them."""
        audio = self._checked_vocode(piece, out)
        if not (timed or piece.fixed or piece.trim_lead):
            return out, audio
        loud = loud_frames(audio, self.hop_length, int(out.durations.sum()))
        out.words = word_bounds(loud, out.durations, piece.words)
        if not piece.trim_lead or not piece.words:
            return out, audio
        first = piece.words[0][1]
        # Up to the first word's start, and never into sound that comes before it.
        lead = min(int(out.durations[:first].sum()), int(np.argmax(loud)) if loud.any() else 0)
        if lead == 0:
            return out, audio
        durations = out.durations.copy()
        ends = np.cumsum(durations[:first])
        durations[:first] = np.diff(np.concatenate([[0], np.maximum(ends - lead, 0)]))
        heard = [(max(a - lead, 0), max(b - lead, 0)) for a, b in out.words]
        trimmed = AcousticOutput(out.mel[:, lead:], durations, out.pitch, heard, out.energy, out.durations)
        return trimmed, audio[lead * self.hop_length :]

    def _frames(self, seconds: float) -> int:
        return round(seconds * self.sample_rate / self.hop_length)

    def _between_silences(self, lead: int, audio: np.ndarray, gap: int) -> np.ndarray:
        """A piece's audio with `lead` frames of silence before it (a <break> before the first word, as long as
        it asks at any pace; the piece's own leading silence is cut, `trim_lead`) and `gap` frames after."""
        return np.concatenate(
            [np.zeros(lead * self.hop_length, np.float32), audio, np.zeros(gap * self.hop_length, np.float32)]
        )

    def _lead_marks(self, piece: Piece, frame: int) -> list[Timestamp]:
        """The marks written among a piece's leading breaks, its silence starting at `frame`."""
        marks = []
        for name, seconds in piece.lead_marks:
            t = (frame + self._frames(seconds)) * self.hop_length / self.sample_rate
            marks.append(Timestamp(name, t, t))
        return marks

    def _silence_frames(self, pause: float, controls: Controls) -> int:
        return self._frames(pause / controls.pace)

    def _gap_frames(self, piece: Piece, out: AcousticOutput, controls: Controls) -> int:
        """Frames of silence after a piece. A <break> is measured from the end of the last word: the silent
        symbols the model ends the piece with count towards it."""
        if piece.given is not None and piece.given.pause_frames is not None:
            return piece.given.pause_frames
        if not piece.fixed:
            return self._silence_frames(piece.pause, controls)
        wanted = self._frames(piece.pause)
        total = int(out.durations.sum())
        end = out.words[-1][1] if out.words else total
        return max(0, wanted - (total - end))

    def _times(
        self, piece: Piece, out: AcousticOutput, offset: int
    ) -> tuple[list[Timestamp], list[Timestamp], list[Timestamp]]:
        """Words (as heard: `word_bounds`), phones and marks of one piece whose first frame is frame
        `offset` of the output."""
        seconds = self.hop_length / self.sample_rate
        edges = np.concatenate([[0], np.cumsum(out.durations)]) + offset
        times = (edges * seconds).tolist()
        heard = out.words
        if heard is None:
            heard = [(int(edges[a]) - offset, int(edges[b]) - offset) for _, a, b in piece.words]
        written = piece.written or [(w, k) for k, (w, _, _) in enumerate(piece.words)]
        words: list[Timestamp] = []
        group = None
        for (w, a, b), (start, end), (text, g) in zip(piece.words, heard, written, strict=True):
            if b > a:
                words.append(
                    WordTime(
                        w, (start + offset) * seconds, (end + offset) * seconds, None if g == group else text
                    )
                )
                group = g
        phones = [
            Timestamp(s, times[i], times[i + 1])
            for i, s in enumerate(piece.symbols)
            if s not in SILENT_SYMBOLS
        ]
        marks = [Timestamp(name, times[i], times[i]) for name, i in piece.marks]
        return words, phones, marks

    def _join(
        self,
        pieces: list[Piece],
        audios: list[np.ndarray],
        outputs: list[AcousticOutput],
        controls: Controls,
        detailed: bool = True,
    ) -> SynthesisResult:
        """One text's pieces joined by their pauses; mel, pitch, symbols and timestamps when `detailed`."""
        gaps = [self._gap_frames(p, out, controls) for p, out in zip(pieces, outputs, strict=True)]
        leads = [self._frames(p.lead) for p in pieces]
        audio = np.concatenate(
            [self._between_silences(*parts) for parts in zip(leads, audios, gaps, strict=True)]
        )
        if audio.size == 0:
            raise SynthesisError(
                "the voice produced no audio for this text (every duration was predicted as zero)"
            )
        sentences = list(dict.fromkeys(p.sentence for p in pieces))
        empty = np.empty(0, np.float32)
        if not detailed:
            return SynthesisResult(
                audio, self.sample_rate, self.hop_length, empty, empty, empty, [], sentences
            )
        mels, pitches, durations, symbols = [], [], [], []
        words: list[Timestamp] = []
        phones: list[Timestamp] = []
        marks: list[Timestamp] = []
        start = 0
        silence = math.log(LOG_CLAMP)
        for piece, out, lead, gap in zip(pieces, outputs, leads, gaps, strict=True):
            pitch = np.where([s in SILENT_SYMBOLS for s in piece.symbols], 0.0, out.pitch).astype(np.float32)
            mels += [
                np.full((out.mel.shape[0], lead), silence, np.float32),
                out.mel,
                np.full((out.mel.shape[0], gap), silence, np.float32),
            ]
            pitches += [
                np.zeros(lead, np.float32),
                np.repeat(pitch, out.durations),
                np.zeros(gap, np.float32),
            ]
            durations += [
                np.array([lead] if lead else [], np.int64),
                out.durations.astype(np.int64),
                np.array([gap] if gap else [], np.int64),
            ]
            symbols += [*([" "] if lead else []), *piece.symbols, *([" "] if gap else [])]
            marks += self._lead_marks(piece, start)
            start += lead
            w, p, m = self._times(piece, out, start)
            words += w
            phones += p
            marks += m
            start += int(out.durations.sum()) + gap
        return SynthesisResult(
            audio=audio,
            sample_rate=self.sample_rate,
            hop_length=self.hop_length,
            mel=np.concatenate(mels, axis=1),
            pitch=np.concatenate(pitches),
            durations=np.concatenate(durations),
            symbols=symbols,
            sentences=sentences,
            words=words,
            phones=phones,
            marks=marks,
        )
