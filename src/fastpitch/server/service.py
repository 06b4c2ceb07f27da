"""What every speech endpoint does once its request is parsed: check it, wait for a worker, synthesize, encode.

Whole responses are made in one worker job (synthesis and encoding). Streamed responses (HTTP and Wyoming alike)
run the voice's sentence generator to its end in one worker thread (torch's grad mode is per thread, so a generator
must not hop between threads) and hand each sentence to the event loop through a queue as soon as it is ready
(`WorkerStream`). The service knows no protocol: its errors are `ApiError`s, which each front end renders its way.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
from fastapi.responses import JSONResponse, Response, StreamingResponse

from fastpitch.audio import AudioError
from fastpitch.errors import FastPitchError, MissingDependency
from fastpitch.runtime.pipeline import StreamChunk, SynthesisError, SynthesisResult
from fastpitch.runtime.prosody import ProsodyError
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
from fastpitch.server.finetune import FinetuneJobs
from fastpitch.server.limits import Busy, Limiter, Slot
from fastpitch.server.voices import Controls, Voice, VoiceSet
from fastpitch.text import TextError
from fastpitch.text.markup import MarkupError
from fastpitch.text.pronounce import PronunciationError

log = logging.getLogger("fastpitch.server")
T = TypeVar("T")
_END = object()


@dataclass(frozen=True)
class Settings:
    max_concurrency: int = 2
    queue_size: int = 16
    timeout_s: float = 60.0
    max_chars: int = 5000
    max_upload_bytes: int = 512 << 20  # a fine-tuning job's zip of clips


class Service:
    """The loaded voices, the worker pool and the limits, shared by all requests."""

    def __init__(self, voices: VoiceSet, settings: Settings, finetune: FinetuneJobs | None = None) -> None:
        self.voices = voices
        self.settings = settings
        self.limiter = Limiter(settings.max_concurrency, settings.queue_size)
        self.finetune = finetune  # fine-tuning jobs, when the server was started with --finetune-dir

    # --- checks that need no worker -------------------------------------------------------------------------
    def check_text(self, text: str, param: str) -> None:
        self.check_length(len(text), param)

    def check_length(self, chars: int, param: str) -> None:
        """413 beyond the server's text limit; streamed text is checked as its pieces add up."""
        if chars > self.settings.max_chars:
            raise ApiError(
                413,
                f"{param} is {chars} characters; this server takes at most {self.settings.max_chars}",
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

    async def analysis(self, voice: Voice, make: Callable[[], SynthesisResult]) -> dict:
        """What the page shows of `make()`'s result: audio, mel, pitch, words and the prosody document."""

        def job() -> dict:
            result = make()
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
                "prosody": result.prosody.to_dict() if result.prosody is not None else None,
            }

        return await self.run(job)

    async def open_stream(
        self, make: Callable[[], Iterable[T]], waiting: Callable[[], bool] | None = None
    ) -> WorkerStream[T]:
        """Wait for a worker, then run `make()` and iterate it there; `ApiError` 503 or 504 if none comes free.
        `waiting` tells when the work waits for input that arrives over time (`WorkerStream`)."""
        slot = await self._acquire(time.monotonic() + self.settings.timeout_s)
        return WorkerStream(slot, make, self.settings.timeout_s, waiting)

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

        def chunks() -> Iterable[bytes]:
            if timestamps == "none":
                for chunk in voice.stream(text, controls):
                    yield to_pcm16(convert_rate(chunk, voice.sample_rate, fmt, out_rate)[0])
                return
            for chunk in voice.stream_detailed(text, controls):
                samples, rate = convert_rate(chunk.audio, voice.sample_rate, fmt, out_rate)
                yield timed_chunk(chunk, samples, rate, fmt, timestamps == "phone")

        stream = await self.open_stream(chunks)
        try:
            first = await stream.next()  # errors in the text or settings show up here
        except BaseException:
            stream.close()
            raise
        rate = output_rate(voice.sample_rate, fmt, out_rate)

        async def body() -> AsyncIterator[bytes]:
            try:
                if fmt == "wav" and timestamps == "none":
                    yield streaming_wav_header(rate)
                if first is not None:
                    yield first
                    async for chunk in stream:
                        yield chunk
            except ApiError as e:
                log.warning("stream stopped: %s", e.message)
                raise
            finally:
                stream.close()

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


class WorkerStream(Generic[T]):
    """The items of `make()`, made in one worker thread and handed to the event loop as each is ready.

    It holds its worker slot until the thread is done. `close()` (always call it) asks the thread to stop before
    its next item, since a sentence being synthesized cannot be interrupted, and frees the slot once it has:
    a client that goes away stops the work instead of leaving it running. Errors come out as `ApiError`s: 504
    when an item takes longer than `timeout_s`, the synthesis errors of `synthesis_error` otherwise.
    """

    def __init__(
        self,
        slot: Slot,
        make: Callable[[], Iterable[T]],
        timeout_s: float,
        waiting: Callable[[], bool] | None = None,
    ) -> None:
        self._slot = slot
        self._timeout_s = timeout_s
        self._waiting = waiting  # whether the work waits for its input (which times out on its own)
        self._loop = asyncio.get_running_loop()
        self._items: asyncio.Queue = asyncio.Queue()
        self._stop = threading.Event()
        self._started = False
        self._ended = False
        slot.start(self._produce, make)

    def _put(self, item: object) -> None:
        self._loop.call_soon_threadsafe(self._items.put_nowait, item)

    def _produce(self, make: Callable[[], Iterable[T]]) -> None:
        try:
            for item in make():
                if self._stop.is_set():
                    return
                self._put(item)
        except BaseException as e:
            self._put(e)
        finally:
            self._put(_END)

    async def next(self) -> T | None:
        """The next item, or None at the end; `ApiError` if the work failed or took too long. Time the work
        spends waiting for its input (`waiting`) does not count: that input has its own timeout."""
        if self._ended:
            return None
        getter = asyncio.ensure_future(self._items.get())
        try:
            while not (await asyncio.wait({getter}, timeout=self._timeout_s))[0]:
                if self._waiting is None or not self._waiting():
                    self.close()
                    what = "a sentence" if self._started else "the first sentence"
                    raise ApiError(504, f"{what} took longer than {self._timeout_s:g} s")
        finally:
            getter.cancel()  # no-op once it has its item; a pending get takes none
        item = getter.result()
        if item is _END:
            self._ended = True
            return None
        if isinstance(item, BaseException):
            self._ended = True
            if isinstance(item, ApiError):
                raise item
            if isinstance(item, Exception):
                raise synthesis_error(item) from None
            raise item
        self._started = True
        return item

    def __aiter__(self) -> WorkerStream[T]:
        return self

    async def __anext__(self) -> T:
        item = await self.next()
        if item is None:
            raise StopAsyncIteration
        return item

    def close(self) -> None:
        self._stop.set()
        self._slot.release()


def synthesis_error(e: Exception) -> ApiError:
    """Text or settings that cannot be spoken are the request's fault (422). Anything else (a missing model file,
    a bug) is the server's: logged here with its traceback, answered as a plain 500 that reveals no paths."""
    if isinstance(e, (TextError, SynthesisError, MarkupError, PronunciationError, ProsodyError, AudioError)):
        return ApiError(422, str(e))
    if isinstance(e, MissingDependency):  # this server's install lacks an extra (pyworld for /api/like)
        return ApiError(501, str(e))
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
