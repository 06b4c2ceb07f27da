"""Text in, audio out, for text of any length: the part of synthesis that does not care where the models run.

Text is split into paragraphs and sentences (`TextFrontend.split_sentences`), each turned into symbols; a
sentence longer than `max_symbols` is cut at its last pause or word boundary before the limit, so the
attention cost per piece is bounded and the total cost grows linearly with the text. Pieces are sorted by
length and run through the acoustic model in bounded batches, vocoded one by one (no padding wasted), and
joined with silences whose length follows the punctuation (a comma is shorter than a full stop, a paragraph
longer). `fastpitch.Synthesizer` (PyTorch) and `fastpitch.runtime.OnnxSynthesizer` (ONNX Runtime) subclass
`SpeechEngine` and supply only `_acoustic` and `_vocode`. Nothing here imports torch.
"""

from __future__ import annotations

import abc
import itertools
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from fastpitch.audio import LOG_CLAMP
from fastpitch.errors import FastPitchError
from fastpitch.text import TextError
from fastpitch.text.symbols import PAD, PAUSES, WORD_BOUNDARY

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
            if not isinstance(value, (int, float)) or not math.isfinite(value) or not low <= value <= high:
                raise SynthesisError(f"{name} must be a number between {low:g} and {high:g}, got {value!r}")


@dataclass
class Piece:
    """A stretch of text the acoustic model speaks in one go: a sentence, or part of a long one."""

    source: int  # index of the input text (batched synthesis)
    sentence: str
    symbols: list[str]
    ids: list[int]
    pause: float  # seconds of silence after it at pace 1.0


@dataclass
class AcousticOutput:
    """What the acoustic model says about one piece, trimmed to its own length."""

    mel: np.ndarray  # (n_mels, T) log mel
    durations: np.ndarray  # (N,) frames per input symbol
    pitch: np.ndarray  # (N,) Hz per input symbol, after shift and range


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

    @property
    def seconds(self) -> float:
        return len(self.audio) / self.sample_rate


def pause_after(sentence: str) -> float:
    """Seconds of silence after a sentence, judged by its last punctuation mark."""
    end = sentence.rstrip().rstrip(_CLOSERS)
    return PAUSE_SECONDS.get(end[-1:], SENTENCE_PAUSE) if end else SENTENCE_PAUSE


def split_symbols(symbols: list[str], max_symbols: int) -> list[tuple[list[str], float]]:
    """Cut a symbol sequence into pieces of at most `max_symbols`, preferring pauses, then word boundaries."""
    pieces: list[tuple[list[str], float]] = []
    rest = symbols
    while len(rest) > max_symbols:
        head = rest[:max_symbols]
        cut = max((i for i, s in enumerate(head) if s in PAUSE_SECONDS), default=-1)
        if cut > 0:
            pieces.append((head[: cut + 1], PAUSE_SECONDS[head[cut]]))
            rest = rest[cut + 1 :]
            continue
        cut = max((i for i, s in enumerate(head) if s == WORD_BOUNDARY), default=-1)
        if cut > 0:
            pieces.append((head[:cut], WORD_PAUSE))
            rest = rest[cut + 1 :]
        else:
            pieces.append((head, 0.0))
            rest = rest[max_symbols:]
    pieces.append((rest, 0.0))
    return pieces


def pad_ids(ids: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Symbol-id sequences as a zero-padded int64 batch (B, N) and their lengths (B,)."""
    lens = np.array([len(x) for x in ids], dtype=np.int64)
    batch = np.zeros((len(ids), int(lens.max())), dtype=np.int64)
    for row, x in zip(batch, ids, strict=True):
        row[: len(x)] = x
    return batch, lens


def speakable(symbols: Iterable[str]) -> bool:
    """True if any symbol makes a sound (not padding, a word boundary or punctuation)."""
    return any(s not in SILENT_SYMBOLS for s in symbols)


class SpeechEngine(abc.ABC):
    """Sentence splitting, batching, pauses and streaming over an acoustic model and a vocoder.

    Subclasses set `frontend`, `sample_rate`, `hop_length`, `speakers` and implement `_acoustic` and `_vocode`.
    `max_chars` bounds the text accepted (None: no limit), `max_symbols` the length of one piece and
    `batch_size` / `batch_symbols` the acoustic model's batches.
    """

    frontend: object
    sample_rate: int
    hop_length: int
    n_mels: int
    speakers: list[str]
    max_chars: int | None = None
    max_symbols: int = 300
    batch_size: int = 16
    batch_symbols: int = 4000

    # ---- what a backend provides -----------------------------------------------------------------------------

    @abc.abstractmethod
    def _acoustic(self, ids: list[list[int]], speaker: int, controls: Controls) -> list[AcousticOutput]:
        """Mel, durations and pitch for each symbol-id sequence."""

    @abc.abstractmethod
    def _vocode(self, mel: np.ndarray) -> np.ndarray:
        """Float32 audio for one (n_mels, T) log mel."""

    # ---- public API ------------------------------------------------------------------------------------------

    def synthesize(
        self,
        text: str,
        speaker: str | int | None = None,
        pace: float = 1.0,
        pitch_shift: float = 0.0,
        pitch_range: float = 1.0,
        energy: float = 1.0,
    ) -> tuple[np.ndarray, int]:
        """Float32 audio (nominally within [-1, 1]) and its sample rate, for text of any length."""
        controls = Controls(pace, pitch_shift, pitch_range, energy)
        result = self._synthesize_all([text], self.speaker_id(speaker), controls, detailed=False)[0]
        return result.audio, self.sample_rate

    def synthesize_batch(
        self,
        texts: Sequence[str],
        speaker: str | int | None = None,
        pace: float = 1.0,
        pitch_shift: float = 0.0,
        pitch_range: float = 1.0,
        energy: float = 1.0,
    ) -> list[np.ndarray]:
        """Audio for each text, sharing the acoustic model's batches across texts (all at `self.sample_rate`)."""
        controls = Controls(pace, pitch_shift, pitch_range, energy)
        results = self._synthesize_all(list(texts), self.speaker_id(speaker), controls, detailed=False)
        return [r.audio for r in results]

    def synthesize_detailed(
        self,
        text: str,
        speaker: str | int | None = None,
        pace: float = 1.0,
        pitch_shift: float = 0.0,
        pitch_range: float = 1.0,
        energy: float = 1.0,
    ) -> SynthesisResult:
        """Audio with its mel, per-frame pitch contour (Hz), symbols and their durations."""
        controls = Controls(pace, pitch_shift, pitch_range, energy)
        return self._synthesize_all([text], self.speaker_id(speaker), controls, detailed=True)[0]

    def stream(
        self,
        text: str,
        speaker: str | int | None = None,
        pace: float = 1.0,
        pitch_shift: float = 0.0,
        pitch_range: float = 1.0,
        energy: float = 1.0,
    ) -> Iterator[np.ndarray]:
        """Audio chunks in order, one per sentence (with its following pause); the first as soon as it is ready.

        The first sentence is synthesized alone so that it comes out quickly; later ones go in batches of
        consecutive sentences. Joined, the chunks are the audio `synthesize` returns.
        """
        controls = Controls(pace, pitch_shift, pitch_range, energy)
        speaker_id = self.speaker_id(speaker)
        pieces = self._speakable_pieces(self._plan([text]), [text])
        batch: list[Piece] = list(itertools.islice(pieces, 1))
        while batch:
            outputs = self._checked_acoustic([p.ids for p in batch], speaker_id, controls)
            for piece, out in zip(batch, outputs, strict=True):
                gap = self._silence_frames(piece.pause, controls) * self.hop_length
                yield np.concatenate([self._checked_vocode(out.mel), np.zeros(gap, np.float32)])
            batch = list(itertools.islice(pieces, self.batch_size))

    def stream_text(
        self,
        pieces: Iterable[str],
        speaker: str | int | None = None,
        pace: float = 1.0,
        pitch_shift: float = 0.0,
        pitch_range: float = 1.0,
        energy: float = 1.0,
    ) -> Iterator[np.ndarray]:
        """Audio for text that arrives in pieces (a reply still being written): each sentence is spoken as soon as
        the text after it shows that it is complete, the rest once `pieces` ends.

        A sentence's pause is sent just before the next sentence (a following lone "..." may lengthen it), so
        joined, the chunks are the audio `synthesize` returns for the joined text, to within rounding (each
        sentence runs alone here, not in a batch).
        """
        controls = Controls(pace, pitch_shift, pitch_range, energy)
        speaker_id = self.speaker_id(speaker)
        gap: float | None = None  # the pause owed after the last spoken piece
        for piece in self._plan_arriving(pieces):
            if not speakable(piece.symbols):
                gap = None if gap is None else max(gap, piece.pause)
                continue
            (out,) = self._checked_acoustic([piece.ids], speaker_id, controls)
            audio = self._checked_vocode(out.mel)
            if gap:
                yield np.zeros(self._silence_frames(gap, controls) * self.hop_length, np.float32)
            yield audio
            gap = piece.pause
        if gap is None:
            raise SynthesisError("nothing to say: the text has no letters, digits or words")
        if gap:
            yield np.zeros(self._silence_frames(gap, controls) * self.hop_length, np.float32)

    def speaker_id(self, speaker: str | int | None) -> int:
        """The index of a speaker given by name or index; None is the first speaker."""
        if speaker is None:
            return 0
        if isinstance(speaker, str) and speaker in self.speakers:
            return self.speakers.index(speaker)
        if isinstance(speaker, str) and speaker.strip().lstrip("-").isdigit():
            speaker = int(speaker)
        if isinstance(speaker, int) and not isinstance(speaker, bool) and 0 <= speaker < len(self.speakers):
            return speaker
        raise SynthesisError(
            f"unknown speaker {speaker!r}; this voice has {len(self.speakers)}: "
            + ", ".join(f"{i}={name}" for i, name in enumerate(self.speakers))
        )

    # ---- internals -------------------------------------------------------------------------------------------

    def _plan(self, texts: list[str]) -> Iterator[Piece]:
        """Pieces of every text in order, lazily: paragraphs, then sentences, then bounded symbol runs."""
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise SynthesisError(f"text must be a string, got {type(text).__name__}")
            if self.max_chars is not None and len(text) > self.max_chars:
                raise SynthesisError(
                    f"text is {len(text):,} characters long; this synthesizer accepts at most {self.max_chars:,}"
                )
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
        total = 0  # characters seen
        for text in texts:
            if not isinstance(text, str):
                raise SynthesisError(f"text must be a string, got {type(text).__name__}")
            total += len(text)
            if self.max_chars is not None and total > self.max_chars:
                raise SynthesisError(
                    f"text is over {self.max_chars:,} characters long; this synthesizer accepts at most {self.max_chars:,}"
                )
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

    def _sentences_from(
        self, paragraph: str, start: int, final_pause: float, last: bool, sentences: list[str] | None = None
    ) -> Iterator[Piece]:
        """The pieces of a paragraph's sentences from `start` on; unless `last`, all but its final sentence."""
        sentences = [s for s in sentences or self.frontend.split_sentences(paragraph) if s.strip()]
        end = len(sentences) if last else len(sentences) - 1
        for m in range(start, end):
            pause = pause_after(sentences[m]) if m < len(sentences) - 1 else final_pause
            yield from self._sentence_pieces(0, sentences[m], pause)

    def _sentence_pieces(self, source: int, sentence: str, pause: float) -> Iterator[Piece]:
        """One sentence as pieces of at most `max_symbols`; the last one is followed by `pause`."""
        try:
            symbols = self.frontend.to_symbols(sentence)
        except TextError:  # lone punctuation or unreadable characters: a pause, not an error
            symbols = []
        edges = self.frontend.edge_boundaries and len(symbols) >= 2
        parts = (
            split_symbols(symbols[1:-1], self.max_symbols - 2)
            if edges
            else split_symbols(symbols, self.max_symbols)
        )
        for k, (part, part_pause) in enumerate(parts):
            last = k == len(parts) - 1
            if edges:  # every piece is an utterance of its own, with the edges the model was trained on
                part = [WORD_BOUNDARY, *part, WORD_BOUNDARY]
            yield Piece(
                source, sentence, part, self.frontend.symbols.encode(part), pause if last else part_pause
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
        self, texts: list[str], speaker: int, controls: Controls, detailed: bool
    ) -> list[SynthesisResult]:
        """Plan every piece, run them sorted by length in bounded batches, and join each text's pieces."""
        pieces = list(self._speakable_pieces(self._plan(texts), texts))
        audios: list[np.ndarray] = [np.empty(0, np.float32)] * len(pieces)
        outputs: list[AcousticOutput | None] = [None] * len(pieces)
        order = sorted(range(len(pieces)), key=lambda i: len(pieces[i].ids))
        for batch in self._batches(order, [len(p.ids) for p in pieces]):
            outs = self._checked_acoustic([pieces[i].ids for i in batch], speaker, controls)
            for i, out in zip(batch, outs, strict=True):
                audios[i] = self._checked_vocode(out.mel)
                outputs[i] = out if detailed else None
        by_text: list[list[int]] = [[] for _ in texts]
        for i, piece in enumerate(pieces):
            by_text[piece.source].append(i)
        return [
            self._join(
                [pieces[i] for i in mine], [audios[i] for i in mine], [outputs[i] for i in mine], controls
            )
            for mine in by_text
        ]

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

    def _checked_acoustic(
        self, ids: list[list[int]], speaker: int, controls: Controls
    ) -> list[AcousticOutput]:
        outputs = self._acoustic(ids, speaker, controls)
        for out in outputs:
            if not np.isfinite(out.mel).all():
                raise SynthesisError(
                    "the acoustic model produced NaN or infinite values in the mel: its weights are broken "
                    "(a diverged or corrupt checkpoint?)"
                )
        return outputs

    def _checked_vocode(self, mel: np.ndarray) -> np.ndarray:
        if mel.shape[-1] == 0:
            return np.empty(0, np.float32)
        audio = np.asarray(self._vocode(mel), dtype=np.float32).reshape(-1)
        if not np.isfinite(audio).all():
            raise SynthesisError("the vocoder produced NaN or infinite audio: its weights are broken")
        return audio

    def _silence_frames(self, pause: float, controls: Controls) -> int:
        return round(pause / controls.pace * self.sample_rate / self.hop_length)

    def _join(
        self,
        pieces: list[Piece],
        audios: list[np.ndarray],
        outputs: list[AcousticOutput | None],
        controls: Controls,
    ) -> SynthesisResult:
        """One text's pieces joined by their pauses; mel, pitch and symbols too when the outputs were kept."""
        gaps = [self._silence_frames(p.pause, controls) for p in pieces]
        chunks = []
        for audio, gap in zip(audios, gaps, strict=True):
            chunks += [audio, np.zeros(gap * self.hop_length, np.float32)]
        audio = np.concatenate(chunks)
        if audio.size == 0:
            raise SynthesisError(
                "the voice produced no audio for this text (every duration was predicted as zero)"
            )
        sentences = list(dict.fromkeys(p.sentence for p in pieces))
        empty = np.empty(0, np.float32)
        if any(out is None for out in outputs):
            return SynthesisResult(
                audio, self.sample_rate, self.hop_length, empty, empty, empty, [], sentences
            )
        mels, pitches, durations, symbols = [], [], [], []
        for piece, out, gap in zip(pieces, outputs, gaps, strict=True):
            pitch = np.where([s in SILENT_SYMBOLS for s in piece.symbols], 0.0, out.pitch).astype(np.float32)
            mels += [out.mel, np.full((out.mel.shape[0], gap), math.log(LOG_CLAMP), np.float32)]
            pitches += [np.repeat(pitch, out.durations), np.zeros(gap, np.float32)]
            durations += [out.durations.astype(np.int64), np.array([gap] if gap else [], np.int64)]
            symbols += [*piece.symbols, *([" "] if gap else [])]
        return SynthesisResult(
            audio=audio,
            sample_rate=self.sample_rate,
            hop_length=self.hop_length,
            mel=np.concatenate(mels, axis=1),
            pitch=np.concatenate(pitches),
            durations=np.concatenate(durations),
            symbols=symbols,
            sentences=sentences,
        )
