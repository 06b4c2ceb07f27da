"""The voices a server speaks with: loaded once at start-up, shared by every request, chosen by name only.

A request names a voice from this set and never a path, so nothing a client sends reaches the file system.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fastpitch.errors import FastPitchError
from fastpitch.runtime.pipeline import StreamChunk, SynthesisResult
from fastpitch.runtime.prosody import Prosody
from fastpitch.server.errors import ApiError

log = logging.getLogger("fastpitch.server")


@dataclass(frozen=True)
class Controls:
    """What a request may change about the speech; ranges are checked by the request schemas."""

    speaker: str | None = None
    pace: float = 1.0
    pitch_shift: float = 0.0
    pitch_range: float = 1.0
    energy: float = 1.0
    ssml: bool | None = None


class Voice:
    """One loaded voice and the ways the server asks it to speak."""

    def __init__(self, name: str, path: str | Path | None) -> None:
        from fastpitch.synthesis import Synthesizer

        self.name = name
        self.path = path
        self.synthesizer = Synthesizer.load(path)
        self.sample_rate: int = int(self.synthesizer.sample_rate)
        self.speakers: list[str] = list(self.synthesizer.speakers)
        self.description: str = self.synthesizer.voice.description
        # The first sentence pays for lazy set-up (pronunciation dictionary, kernels, and the number reader, whose
        # import took 16 s on a loaded CPU): pay it before serving, or the first request with a digit waits for it.
        self.synthesizer.synthesize("Ready 1.")

    def check_speaker(self, speaker: str | None) -> None:
        """A speaker by name (or index) that this voice has; anything else is the client's mistake (400)."""
        if speaker is None:
            return
        try:
            self.synthesizer.speaker_id(speaker)
        except FastPitchError:
            choices = ", ".join(self.speakers)
            raise ApiError(
                400, f"voice {self.name!r} has no speaker {speaker!r}; speakers: {choices}", "speaker"
            ) from None

    def _kwargs(self, controls: Controls) -> dict:
        return {
            "speaker": controls.speaker,
            "pace": controls.pace,
            "pitch_shift": controls.pitch_shift,
            "pitch_range": controls.pitch_range,
            "energy": controls.energy,
            "ssml": controls.ssml,
        }

    def synthesize(self, text: str, controls: Controls) -> tuple[np.ndarray, int]:
        return self.synthesizer.synthesize(text, **self._kwargs(controls))

    def analyze(self, text: str, controls: Controls) -> SynthesisResult:
        """Audio with the mel (n_mels, T) and the per-frame pitch in Hz (0 = unvoiced) the page plots."""
        return self.synthesizer.synthesize_detailed(text, **self._kwargs(controls))

    def replay(self, prosody: Prosody | dict) -> SynthesisResult:
        """Speak a prosody document (`analyze(...).prosody`, maybe edited)."""
        return self.synthesizer.synthesize_detailed(prosody=prosody)

    def like(
        self, text: str, audio: np.ndarray, sample_rate: int, speaker: str | None, ssml: bool | None
    ) -> SynthesisResult:
        """Speak `text` with the timing and melody of `audio`, a recording of it."""
        doc = self.synthesizer.like(text, audio, sample_rate, speaker, ssml)
        return self.synthesizer.synthesize_detailed(prosody=doc)

    def stream(self, text: str, controls: Controls) -> Iterator[np.ndarray]:
        """Audio chunks, one per sentence, each as soon as it is ready."""
        return iter(self.synthesizer.stream(text, **self._kwargs(controls)))

    def stream_detailed(self, text: str, controls: Controls) -> Iterator[StreamChunk]:
        """`stream` with each chunk's words, phones and marks."""
        return iter(self.synthesizer.stream_detailed(text, **self._kwargs(controls)))

    def stream_text(self, pieces: Iterable[str], controls: Controls) -> Iterator[np.ndarray]:
        """Audio for text that arrives in pieces, each sentence as soon as the text after it shows it has ended."""
        return iter(self.synthesizer.stream_text(pieces, **self._kwargs(controls)))

    def describe(self) -> dict:
        return {"name": self.name, "speakers": self.speakers, "sample_rate": self.sample_rate}


class VoiceSet:
    """Name → loaded voice; the first one is the default."""

    def __init__(self, voices: dict[str, str | Path | None]) -> None:
        if not voices:
            raise ValueError("a server needs at least one voice")
        self.voices: dict[str, Voice] = {}
        for name, path in voices.items():
            log.info("loading voice %r from %s", name, path or "the default voice")
            self.voices[name] = Voice(name, path)
        self.default = next(iter(self.voices))

    def add(self, name: str, path: str | Path) -> Voice:
        """Load one more voice while serving (a fine-tuning job's result); it is listed and used from now on."""
        voice = Voice(name, path)
        self.voices = {
            **self.voices,
            name: voice,
        }  # a new dict: requests iterating the old one are not disturbed
        return voice

    def get(self, name: str | None) -> Voice:
        if name is None or name == "":
            return self.voices[self.default]
        voice = self.voices.get(name)
        if voice is None:
            raise ApiError(400, f"unknown voice {name!r}; voices: {', '.join(self.voices)}", "voice")
        return voice

    def __iter__(self) -> Iterator[Voice]:
        return iter(self.voices.values())

    def __len__(self) -> int:
        return len(self.voices)
