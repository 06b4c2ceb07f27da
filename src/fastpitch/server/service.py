"""What every speech endpoint does once its request is parsed: check it, wait for a worker, synthesize, encode.

Whole responses are made in one worker job (synthesis and encoding). Streamed responses run the voice's sentence
generator to its end in one worker thread (torch's grad mode is per thread, so a generator must not hop between
threads) and hand each sentence to the event loop through a queue as soon as it is ready.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from fastapi.responses import JSONResponse, Response, StreamingResponse

from fastpitch.errors import FastPitchError
from fastpitch.runtime.pipeline import StreamChunk, SynthesisError
from fastpitch.server.encoding import (
    STREAMABLE,
    available_formats,
    convert_rate,
    encode,
    media_type,
    output_rate,
    streaming_wav_header,
    to_pcm16,
)
from fastpitch.server.errors import ApiError
from fastpitch.server.limits import Busy, Limiter, Slot
from fastpitch.server.voices import Controls, Voice, VoiceSet
from fastpitch.text import TextError
from fastpitch.text.lexicon import PronunciationError
from fastpitch.text.markup import MarkupError

log = logging.getLogger("fastpitch.server")
T = TypeVar("T")
_END = object()


@dataclass(frozen=True)
class Settings:
    max_concurrency: int = 2
    queue_size: int = 16
    timeout_s: float = 60.0
    max_chars: int = 5000


class Service:
    """The loaded voices, the worker pool and the limits, shared by all requests."""

    def __init__(self, voices: VoiceSet, settings: Settings) -> None:
        self.voices = voices
        self.settings = settings
        self.limiter = Limiter(settings.max_concurrency, settings.queue_size)

    # --- checks that need no worker -------------------------------------------------------------------------
    def check_text(self, text: str, param: str) -> None:
        if len(text) > self.settings.max_chars:
            raise ApiError(
                413,
                f"{param} is {len(text)} characters; this server takes at most {self.settings.max_chars}",
                param,
            )

    def check_format(self, fmt: str, stream: bool, param: str) -> None:
        if fmt not in available_formats():
            raise ApiError(
                400,
                f"{param} {fmt!r} is not available on this server; choose one of {', '.join(available_formats())}",
                param,
            )
        if stream and fmt not in STREAMABLE:
            raise ApiError(400, f"streaming sends {' or '.join(STREAMABLE)}, not {fmt!r}", param)

    # --- running work in the pool ---------------------------------------------------------------------------
    async def _acquire(self, deadline: float) -> Slot:
        try:
            return await self.limiter.acquire(timeout=deadline - time.monotonic())
        except Busy as e:
            raise ApiError(
                503, "the server is busy; try again shortly", headers={"Retry-After": str(e.retry_after)}
            ) from None
        except asyncio.TimeoutError:
            raise ApiError(504, f"no worker became free within {self.settings.timeout_s:g} s") from None

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in a worker, within the request timeout; synthesis errors become 422."""
        deadline = time.monotonic() + self.settings.timeout_s
        async with await self._acquire(deadline) as slot:
            try:
                return await slot.run(fn, *args, timeout=deadline - time.monotonic())
            except asyncio.TimeoutError:
                raise ApiError(504, f"synthesis took longer than {self.settings.timeout_s:g} s") from None
            except Exception as e:
                raise synthesis_error(e) from None

    # --- responses ------------------------------------------------------------------------------------------
    async def audio_response(
        self, voice: Voice, text: str, controls: Controls, fmt: str, out_rate: int | None = None
    ) -> Response:
        def job() -> tuple[bytes, int]:
            audio, sample_rate = voice.synthesize(text, controls)
            return encode(audio, sample_rate, fmt, out_rate)

        body, rate = await self.run(job)
        headers = {
            "X-Sample-Rate": str(rate),
            "Content-Disposition": f'inline; filename="speech.{fmt}"',
            "Cache-Control": "no-store",
        }
        return Response(body, media_type=media_type(fmt, rate), headers=headers)

    async def timestamped_response(
        self, voice: Voice, text: str, controls: Controls, fmt: str, phones: bool, out_rate: int | None = None
    ) -> JSONResponse:
        """The audio (base64, in `fmt`) with the words' and marks' times (and the phones' with `phones`)."""

        def job() -> dict:
            result = voice.analyze(text, controls)
            body, rate = encode(result.audio, result.sample_rate, fmt, out_rate)
            return {
                "voice": voice.name,
                "format": fmt,
                "sample_rate": rate,
                "audio_base64": base64.b64encode(body).decode("ascii"),
                **result.timestamps(phones),
            }

        return JSONResponse(await self.run(job), headers={"Cache-Control": "no-store"})

    async def analysis(self, voice: Voice, text: str, controls: Controls) -> dict:
        def job() -> dict:
            result = voice.analyze(text, controls)
            wav, _ = encode(result.audio, result.sample_rate, "wav")
            return {
                "voice": voice.name,
                "sample_rate": result.sample_rate,
                "duration_s": round(len(result.audio) / result.sample_rate, 3),
                "audio_wav_base64": base64.b64encode(wav).decode("ascii"),
                "frame_rate": result.sample_rate / result.hop_length,
                "mel": pack_mel(result.mel),
                "pitch_hz": [round(float(f), 1) for f in result.pitch],
                "words": [w.to_dict() for w in result.words],
                "marks": [m.to_dict() for m in result.marks],
            }

        return await self.run(job)

    async def stream_response(
        self,
        voice: Voice,
        text: str,
        controls: Controls,
        fmt: str,
        out_rate: int | None = None,
        timestamps: str = "none",
    ) -> StreamingResponse:
        """Chunked audio, one sentence at a time; errors before the first sentence still get a status code.
        With `timestamps`, newline-delimited JSON: each sentence's audio (base64 PCM or WAV) with its times."""
        timeout = self.settings.timeout_s
        slot = await self._acquire(time.monotonic() + timeout)
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()

        def produce() -> None:
            try:
                for chunk in voice.stream_detailed(text, controls):
                    if stop.is_set():
                        return
                    samples, rate = convert_rate(chunk.audio, voice.sample_rate, fmt, out_rate)
                    if timestamps == "none":
                        data = to_pcm16(samples)
                    else:
                        data = timed_chunk(chunk, samples, rate, fmt, timestamps == "phone")
                    loop.call_soon_threadsafe(chunks.put_nowait, data)
            except BaseException as e:
                loop.call_soon_threadsafe(chunks.put_nowait, e)
            finally:
                loop.call_soon_threadsafe(chunks.put_nowait, _END)

        async def next_chunk() -> Any:
            item = await asyncio.wait_for(chunks.get(), timeout)
            if isinstance(item, BaseException):
                raise item
            return item

        slot.start(produce)
        try:
            first = await next_chunk()
        except BaseException as e:
            stop.set()
            slot.release()
            if isinstance(e, asyncio.TimeoutError):
                raise ApiError(504, f"the first sentence took longer than {timeout:g} s") from None
            if isinstance(e, Exception):
                raise synthesis_error(e) from None
            raise
        rate = output_rate(voice.sample_rate, fmt, out_rate)

        async def body() -> AsyncIterator[bytes]:
            try:
                if fmt == "wav" and timestamps == "none":
                    yield streaming_wav_header(rate)
                chunk = first
                while chunk is not _END:
                    yield chunk
                    chunk = await next_chunk()
            except asyncio.TimeoutError:
                log.warning("stream stopped: a sentence took longer than %g s", timeout)
                raise
            finally:
                stop.set()
                slot.release()

        headers = {"X-Sample-Rate": str(rate), "Cache-Control": "no-store"}
        kind = media_type(fmt, rate) if timestamps == "none" else "application/x-ndjson"
        return StreamingResponse(body(), media_type=kind, headers=headers)

    def health(self) -> dict:
        return {
            "status": "ok",
            "voices": [v.name for v in self.voices],
            "running": self.limiter.running,
            "waiting": self.limiter.waiting,
            "max_concurrency": self.settings.max_concurrency,
            "queue_size": self.settings.queue_size,
        }

    def shutdown(self) -> None:
        self.limiter.shutdown()


def synthesis_error(e: Exception) -> ApiError:
    """Text or settings that cannot be spoken are the request's fault (422). Anything else (a missing model file,
    a bug) is the server's: logged here with its traceback, answered as a plain 500 that reveals no paths."""
    if isinstance(e, (TextError, SynthesisError, MarkupError, PronunciationError)):
        return ApiError(422, str(e))
    log.error("synthesis failed: %s", e, exc_info=not isinstance(e, FastPitchError))
    return ApiError(500, "internal error while synthesizing (see the server log)")


def timed_chunk(chunk: StreamChunk, samples: np.ndarray, rate: int, fmt: str, phones: bool) -> bytes:
    """One line of a timestamped stream: the chunk's audio (a whole WAV, or raw PCM) and its times."""
    audio = encode(samples, rate, "wav")[0] if fmt == "wav" else to_pcm16(samples)
    line = {
        "start": round(chunk.start, 4),
        "sample_rate": rate,
        "audio_base64": base64.b64encode(audio).decode("ascii"),
        "words": [w.to_dict() for w in chunk.words],
        "marks": [m.to_dict() for m in chunk.marks],
    }
    if phones:
        line["phones"] = [p.to_dict() for p in chunk.phones]
    return (json.dumps(line) + "\n").encode()


def pack_mel(mel: np.ndarray) -> dict:
    """A log mel as 8-bit levels between its min and max, base64: a tenth of the JSON size, plenty for a plot."""
    mel = np.asarray(mel, dtype=np.float32)
    lo, hi = (float(mel.min()), float(mel.max())) if mel.size else (0.0, 0.0)
    levels = np.round((mel - lo) / max(hi - lo, 1e-6) * 255).astype(np.uint8)
    return {
        "n_mels": int(mel.shape[0]),
        "n_frames": int(mel.shape[1]),
        "min": lo,
        "max": hi,
        "levels_base64": base64.b64encode(np.ascontiguousarray(levels).tobytes()).decode("ascii"),
    }
