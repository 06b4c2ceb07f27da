"""Request bodies and query strings, with their ranges, as the OpenAPI schema shows them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from fastpitch.server import voices

# OpenAI's built-in voice names: unmodified OpenAI clients send one of these, and get this server's default voice.
OPENAI_VOICES = frozenset(
    (
        "alloy",
        "ash",
        "ballad",
        "cedar",
        "coral",
        "echo",
        "fable",
        "marin",
        "nova",
        "onyx",
        "sage",
        "shimmer",
        "verse",
    )
)


MAX_RECORDING_BASE64 = 16 * 1024 * 1024  # about 12 MB of audio: minutes of speech as WAV
MAX_PROSODY_BYTES = 8 * 1024 * 1024  # a prosody document of tens of thousands of symbols


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("text is empty")
    return text


class Controls(BaseModel):
    """How to speak: the FastPitch controls beyond the text."""

    model_config = ConfigDict(allow_inf_nan=False)

    speaker: str | None = Field(None, max_length=200, description="Speaker of a multi-speaker voice.")
    pitch_shift: float = Field(0.0, ge=-24.0, le=24.0, description="Pitch shift in semitones.")
    pitch_range: float = Field(
        1.0,
        ge=0.0,
        le=4.0,
        description="Scale of pitch movement around the mean: 0 monotone, 1 as predicted.",
    )
    energy: float = Field(1.0, gt=0.0, le=4.0, description="Loudness scale of the predicted energy.")
    ssml: bool | None = Field(
        None,
        description="Read the text as SSML (see docs/ssml.md); default: when it starts with `<speak`. "
        "Plain text may hold `{ARPAbet}` pronunciations either way.",
    )

    def controls(self, pace: float) -> voices.Controls:
        return voices.Controls(self.speaker, pace, self.pitch_shift, self.pitch_range, self.energy, self.ssml)


TIMESTAMPS_HELP = (
    "`word` (or `phone`, which adds every phone) answers JSON instead of audio bytes: "
    "{audio_base64, format, sample_rate, duration, words: [{text, start, end, written}], marks, phones}, times in "
    "seconds; with `stream`, newline-delimited JSON, one object per sentence: {start, sample_rate, audio_base64 "
    "(a WAV, or raw PCM for `pcm`), words, marks, phones}, its times from the start of the stream."
)
Timestamps = Literal["none", "word", "phone"]


class SpeechRequest(Controls):
    """OpenAI's `POST /v1/audio/speech` body, plus the FastPitch controls; unknown fields are ignored."""

    model: str = Field("fastpitch", max_length=200, description="Accepted for compatibility and ignored.")
    input: str = Field(description="The text to speak.")
    voice: str | None = Field(
        None, max_length=200, description="A loaded voice; OpenAI's voice names mean the default voice."
    )
    response_format: str | None = Field(
        None,
        description="wav, flac, pcm (16-bit, 24 kHz as OpenAI's), mp3, opus; default mp3 where available "
        "(wav when streamed).",
    )
    speed: float = Field(1.0, ge=0.25, le=4.0, description="Speaking rate: 2 is twice as fast.")
    stream: bool = Field(False, description="Send audio sentence by sentence as it is made (wav, pcm).")
    stream_format: Literal["audio"] = Field(
        "audio",
        description="OpenAI's: the audio bytes. Its server-sent events (`sse`) are not offered (422).",
    )
    timestamps: Timestamps = Field("none", description=TIMESTAMPS_HELP)

    _check_input = field_validator("input")(_not_blank)


class SpeakRequest(Controls):
    """The native request: text, voice and every control by its own name."""

    model_config = ConfigDict(allow_inf_nan=False, extra="forbid")

    text: str = Field(description="The text to speak.")
    voice: str | None = Field(None, max_length=200, description="A loaded voice; default: the first one.")
    pace: float = Field(1.0, ge=0.25, le=4.0, description="Speaking rate: 2 is twice as fast.")

    _check_text = field_validator("text")(_not_blank)


class ProsodyRequest(BaseModel):
    """`POST /api/prosody`: a prosody document to speak (docs/prosody.md)."""

    model_config = ConfigDict(allow_inf_nan=False, extra="forbid")

    voice: str | None = Field(None, max_length=200, description="A loaded voice; default: the first one.")
    prosody: dict = Field(description="A prosody document, as /api/synthesize returns it (maybe edited).")


class LikeRequest(BaseModel):
    """`POST /api/like`: say `text` like a recording of it. The recording gives the durations and the melody, so
    the controls that would set them (pace, pitch shift and range) have no place here; a field outside this
    schema is a 422."""

    model_config = ConfigDict(allow_inf_nan=False, extra="forbid")

    text: str = Field(description="The recording's transcript.")
    voice: str | None = Field(None, max_length=200, description="A loaded voice; default: the first one.")
    speaker: str | None = Field(None, max_length=200, description="Speaker of a multi-speaker voice.")
    ssml: bool | None = Field(
        None, description="Read the text as SSML; default: when it starts with `<speak`."
    )
    audio_base64: str = Field(
        max_length=MAX_RECORDING_BASE64, description="The recording: a WAV, FLAC or OGG file, base64."
    )

    _check_text = field_validator("text")(_not_blank)


class TtsQuery(SpeakRequest):
    """`GET /api/tts` query parameters."""

    format: str = Field("wav", description="wav, flac, pcm, mp3 or opus (where this server has the codec).")
    stream: bool = Field(False, description="Send audio sentence by sentence as it is made (wav, pcm).")
    timestamps: Timestamps = Field("none", description=TIMESTAMPS_HELP)
