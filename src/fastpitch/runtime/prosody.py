"""Prosody documents: how a text is said, symbol by symbol, as JSON a person or a program can edit.

    doc = tts.analyze("Hello there.")           # what the voice would do
    doc.sentences[0].symbols[3].frames *= 2      # stretch one symbol
    audio, sr = tts.synthesize(prosody=doc)      # every value given is used, only the gaps are predicted

A document holds the text it was made from, the voice's symbol table, the speaker and the global settings, and
per sentence (a piece the acoustic model speaks in one go) every symbol with its word, duration in frames (and
ms), pitch in Hz and energy (the model's log frame energy). `None` (JSON null) means "predict": a pitch left
out is predicted for the new timing. The format is described in docs/prosody.md. Checking a document against a
voice (its symbols against the text's) is the pipeline's job (`SpeechEngine.synthesize`); this module reads,
writes and checks the values themselves, naming the sentence, symbol and field of anything wrong.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastpitch.errors import FastPitchError

FORMAT = "fastpitch-prosody"
VERSION = 1
MAX_SECONDS = 10.0  # one symbol longer than this is a mistake, not a pause
PITCH_HZ = (20.0, 2000.0)
ENERGY_RANGE = (-30.0, 30.0)  # log frame energy; the shipped voice speaks within about -5..5
DEFAULT_SETTINGS = {"pace": 1.0, "pitch_shift": 0.0, "pitch_range": 1.0, "energy": 1.0}
SETTINGS = tuple(DEFAULT_SETTINGS)


class ProsodyError(FastPitchError, ValueError):
    """A prosody document that cannot be read or does not fit the voice and text it is used with."""


@dataclass
class SymbolProsody:
    """One symbol: its word (an index into the sentence's words; None for boundaries and punctuation), its
    duration in frames, pitch in Hz and energy; None where the model is to predict the value."""

    symbol: str
    word: int | None = None
    frames: int | None = None
    pitch: float | None = None
    energy: float | None = None


@dataclass
class SentenceProsody:
    """A piece of the text that the model speaks in one go, and the silence after it in frames (None: as
    the text's punctuation asks)."""

    text: str
    words: list[str]
    symbols: list[SymbolProsody]
    pause_frames: int | None = None


@dataclass
class Prosody:
    """A whole text's prosody; see the module docstring."""

    text: str
    voice: str
    symbol_table: str
    sample_rate: int
    hop_length: int
    sentences: list[SentenceProsody]
    speaker: str | None = None
    ssml: bool = False
    settings: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_SETTINGS))

    @property
    def frame_ms(self) -> float:
        return 1000.0 * self.hop_length / self.sample_rate

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (docs/prosody.md): durations in frames and in ms, values rounded to what float32 holds."""
        ms = self.frame_ms
        return {
            "format": FORMAT,
            "version": VERSION,
            "voice": self.voice,
            "symbol_table": self.symbol_table,
            "speaker": self.speaker,
            "sample_rate": self.sample_rate,
            "hop_length": self.hop_length,
            "settings": dict(self.settings),
            "ssml": self.ssml,
            "text": self.text,
            "sentences": [
                {
                    "text": s.text,
                    "words": list(s.words),
                    "pause_frames": s.pause_frames,
                    "symbols": [
                        {
                            "symbol": p.symbol,
                            "word": p.word,
                            "frames": p.frames,
                            "ms": None if p.frames is None else round(p.frames * ms, 3),
                            "pitch": p.pitch,
                            "energy": p.energy,
                        }
                        for p in s.symbols
                    ],
                }
                for s in self.sentences
            ],
        }

    def to_json(self) -> str:
        """`to_dict` as JSON text with one line per symbol: long enough to read, short enough to edit."""

        def dump(value: Any) -> str:
            return json.dumps(value, ensure_ascii=False, allow_nan=False)

        data = self.to_dict()
        head = [f" {dump(k)}: {dump(v)}" for k, v in data.items() if k != "sentences"]
        sentences = []
        for sentence in data["sentences"]:
            fields = [f"   {dump(k)}: {dump(v)}" for k, v in sentence.items() if k != "symbols"]
            symbols = ",\n".join(f"    {dump(symbol)}" for symbol in sentence["symbols"])
            sentences.append("  {\n" + ",\n".join([*fields, f'   "symbols": [\n{symbols}\n   ]']) + "\n  }")
        body = ",\n".join(sentences)
        return "{\n" + ",\n".join([*head, f' "sentences": [\n{body}\n ]']) + "\n}"

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.to_json() + "\n", encoding="utf-8")
        return path

    @classmethod
    def from_dict(cls, data: Any) -> Prosody:
        """A document from its JSON form, every value checked; errors name the sentence, symbol and field."""
        if not isinstance(data, dict):
            raise ProsodyError(f"a prosody document is a JSON object, got {type(data).__name__}")
        if data.get("format") != FORMAT:
            raise ProsodyError(f"not a prosody document: 'format' is {data.get('format')!r}, not {FORMAT!r}")
        if data.get("version") != VERSION:
            hint = f": write it as the number {VERSION}" if data.get("version") == str(VERSION) else ""
            raise ProsodyError(
                f"prosody document version {data.get('version')!r} is not one this fastpitch reads "
                f"(it reads version {VERSION}){hint}"
            )
        sample_rate = _integer(data, "sample_rate", "the document", 1, 10**6)
        hop_length = _integer(data, "hop_length", "the document", 1, 10**5)
        frame_ms = 1000.0 * hop_length / sample_rate
        settings = data.get("settings") or {}
        if not isinstance(settings, dict) or set(settings) - set(SETTINGS):
            raise ProsodyError(f"'settings' must be an object with some of {', '.join(SETTINGS)}")
        sentences = data.get("sentences")
        if not isinstance(sentences, list) or not sentences:
            raise ProsodyError("'sentences' must be a non-empty list")
        speaker = data.get("speaker")
        return cls(
            text=_string(data, "text", "the document"),
            voice=str(data.get("voice", "")),
            symbol_table=_string(data, "symbol_table", "the document"),
            sample_rate=sample_rate,
            hop_length=hop_length,
            sentences=[_sentence(s, k, frame_ms, sample_rate) for k, s in enumerate(sentences, 1)],
            speaker=None if speaker is None else str(speaker),
            ssml=_boolean(data, "ssml", "the document"),
            settings=DEFAULT_SETTINGS | {k: _number(settings, k, "'settings'") for k in settings},
        )

    @classmethod
    def from_json(cls, text: str) -> Prosody:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ProsodyError(f"the prosody document is not valid JSON: {e}") from None
        return cls.from_dict(data)

    @classmethod
    def load(cls, path: str | Path) -> Prosody:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ProsodyError(f"cannot read prosody document {path}: {e}") from None
        return cls.from_json(text)


def symbol_table_id(version: str, symbols: list[str]) -> str:
    """A name for a symbol table that changes with any of its symbols: `version:hash`."""
    digest = hashlib.sha256(json.dumps(list(symbols)).encode()).hexdigest()[:12]
    return f"{version}:{digest}"


def float32_value(value: float) -> float:
    """`value` as the shortest decimal that float32 reads back to the same number: short JSON, exact replay."""
    import numpy as np

    return float(str(np.float32(value)))


def _sentence(data: Any, k: int, frame_ms: float, sample_rate: int) -> SentenceProsody:
    where = f"sentence {k}"
    if not isinstance(data, dict):
        raise ProsodyError(f"{where} must be an object")
    words = data.get("words", [])
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise ProsodyError(f"{where}: 'words' must be a list of strings")
    symbols = data.get("symbols")
    if not isinstance(symbols, list) or not symbols:
        raise ProsodyError(f"{where}: 'symbols' must be a non-empty list")
    max_frames = int(MAX_SECONDS * 1000.0 / frame_ms)
    pause = data.get("pause_frames")
    if pause is not None:
        pause = _integer(data, "pause_frames", where, 0, max_frames)
    return SentenceProsody(
        text=str(data.get("text", "")),
        words=list(words),
        symbols=[
            _symbol(s, f"{where}, symbol {i}", frame_ms, max_frames, len(words))
            for i, s in enumerate(symbols, 1)
        ],
        pause_frames=pause,
    )


def _symbol(data: Any, where: str, frame_ms: float, max_frames: int, n_words: int) -> SymbolProsody:
    if not isinstance(data, dict):
        raise ProsodyError(f"{where} must be an object")
    symbol = _string(data, "symbol", where)
    where = f"{where} {symbol!r}"
    word = data.get("word")
    if word is not None and (not isinstance(word, int) or isinstance(word, bool) or not 0 <= word < n_words):
        raise ProsodyError(f"{where}: 'word' must be null or a word index below {n_words}, got {word!r}")
    frames = data.get("frames")
    ms = data.get("ms")
    if frames is not None:
        frames = _integer(data, "frames", where, 0, max_frames, f" ({MAX_SECONDS:g} s)")
        if ms is not None and abs(_number(data, "ms", where) - frames * frame_ms) > frame_ms / 2:
            raise ProsodyError(
                f"{where}: 'frames' ({frames}) and 'ms' ({ms}) disagree (a frame is {frame_ms:.2f} ms); "
                "change one and remove the other"
            )
    elif ms is not None:
        value = _number(data, "ms", where)
        if not 0 <= value <= MAX_SECONDS * 1000:
            raise ProsodyError(f"{where}: 'ms' must be between 0 and {MAX_SECONDS * 1000:g}, got {value!r}")
        frames = round(value / frame_ms)
    pitch = _optional_in(data, "pitch", where, PITCH_HZ, " Hz")
    energy = _optional_in(data, "energy", where, ENERGY_RANGE, " (log energy)")
    return SymbolProsody(symbol, word, frames, pitch, energy)


def _optional_in(
    data: dict[str, Any], key: str, where: str, bounds: tuple[float, float], unit: str
) -> float | None:
    """`data[key]`: null, or a number within `bounds`."""
    if data.get(key) is None:
        return None
    value = _number(data, key, where)
    if not bounds[0] <= value <= bounds[1]:
        raise ProsodyError(
            f"{where}: '{key}' must be null or between {bounds[0]:g} and {bounds[1]:g}{unit}, got {value!r}"
        )
    return value


def _boolean(data: dict, key: str, where: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise ProsodyError(f"{where}: '{key}' must be true or false, got {value!r}")
    return value


def _string(data: dict, key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise ProsodyError(f"{where}: '{key}' must be a string, got {value!r}")
    return value


def _number(data: dict, key: str, where: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ProsodyError(f"{where}: '{key}' must be a finite number, got {value!r}")
    return float(value)


def _integer(data: dict, key: str, where: str, low: int, high: int, unit: str = "") -> int:
    value = data.get(key)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProsodyError(f"{where}: '{key}' must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise ProsodyError(f"{where}: '{key}' must be between {low} and {high}{unit}, got {value}")
    return value
