"""Audio as HTTP bodies: whole files (wav, flac, mp3, opus, raw pcm) and the pieces of a streamed response.

libsndfile writes every container we serve; MP3 and Opus only in builds that have the codecs (libsndfile ≥ 1.1
with LAME/mpg123 and libopus), so which formats exist is probed once at import, not assumed.
"""

from __future__ import annotations

import functools
import io
import struct
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from fastpitch.audio import resample


@dataclass(frozen=True)
class AudioFormat:
    name: str
    container: str  # libsndfile format, "" for headerless PCM
    subtype: str
    media_type: str
    sample_rates: tuple[int, ...] = ()  # rates the codec accepts; empty = any


FORMATS: dict[str, AudioFormat] = {
    f.name: f
    for f in (
        AudioFormat("wav", "WAV", "PCM_16", "audio/wav"),
        AudioFormat("flac", "FLAC", "PCM_16", "audio/flac"),
        AudioFormat("pcm", "", "PCM_16", "audio/pcm"),
        AudioFormat("mp3", "MP3", "MPEG_LAYER_III", "audio/mpeg"),
        AudioFormat("opus", "OGG", "OPUS", "audio/ogg", sample_rates=(48000, 24000, 16000, 12000, 8000)),
    )
}
STREAMABLE = ("wav", "pcm")
RAW_RATE = 8000  # headerless PCM has no rate field, but libsndfile wants one


def _can_write(fmt: AudioFormat) -> bool:
    if not fmt.container:
        return True
    try:
        rate = fmt.sample_rates[0] if fmt.sample_rates else 22050
        sf.write(
            io.BytesIO(),
            np.zeros(rate // 10, dtype=np.float32),
            rate,
            format=fmt.container,
            subtype=fmt.subtype,
        )
    except (sf.LibsndfileError, ValueError, TypeError, RuntimeError):
        return False
    return True


@functools.cache
def available_formats() -> tuple[str, ...]:
    """The formats this machine's libsndfile can actually write, in `FORMATS` order."""
    return tuple(name for name, fmt in FORMATS.items() if _can_write(fmt))


def to_pcm16(audio: np.ndarray) -> bytes:
    """Float audio in [-1, 1] as 16-bit signed little-endian samples, converted by libsndfile as every file
    (`encode`, `fastpitch say`) is: streamed audio is then the very samples of the file, not off by one."""
    clipped = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    if clipped.size == 0:
        return b""
    buf = io.BytesIO()
    sf.write(buf, clipped, RAW_RATE, format="RAW", subtype="PCM_16", endian="LITTLE")
    return buf.getvalue()


def encode(audio: np.ndarray, sample_rate: int, fmt: str, out_rate: int | None = None) -> tuple[bytes, int]:
    """The whole clip in `fmt` at `out_rate` (default: as is, or the nearest rate the codec takes).

    Returns the bytes and the sample rate they are in.
    """
    audio, sample_rate = convert_rate(audio, sample_rate, fmt, out_rate)
    spec = FORMATS[fmt]
    if not spec.container:
        return to_pcm16(audio), sample_rate
    buf = io.BytesIO()
    clipped = np.clip(audio, -1.0, 1.0)
    sf.write(buf, clipped, sample_rate, format=spec.container, subtype=spec.subtype)
    return buf.getvalue(), sample_rate


def convert_rate(
    audio: np.ndarray, sample_rate: int, fmt: str, out_rate: int | None = None
) -> tuple[np.ndarray, int]:
    """Resample to `out_rate`, or to a rate the codec accepts (Opus: 48 kHz) when it does not take this one."""
    audio = np.asarray(audio, dtype=np.float32)
    target = output_rate(sample_rate, fmt, out_rate)
    if target != sample_rate:
        audio = resample(audio, sample_rate, target)
    return audio, target


def output_rate(sample_rate: int, fmt: str, out_rate: int | None = None) -> int:
    """The rate audio is sent at: `out_rate` if given, else as made, unless the codec does not take it."""
    rates = FORMATS[fmt].sample_rates
    target = out_rate or sample_rate
    return rates[0] if rates and target not in rates else target


def media_type(fmt: str, sample_rate: int) -> str:
    """The Content-Type; raw PCM says its rate, channels and sample layout since nothing else does. Not RFC
    2586's audio/L16, which is big-endian: these samples are little-endian, as OpenAI's clients read them."""
    if fmt == "pcm":
        return f"audio/pcm; rate={sample_rate}; channels=1; bits=16; endian=little"
    return FORMATS[fmt].media_type


def streaming_wav_header(sample_rate: int) -> bytes:
    """A 16-bit mono WAV header whose sizes are left at the maximum: the length is not known when it is sent.

    Browsers, ffmpeg, sox and libsndfile play such a file up to wherever the data actually ends.
    """
    unknown = 0xFFFFFFFF
    return (
        b"RIFF"
        + struct.pack("<I", unknown)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", unknown)
    )
