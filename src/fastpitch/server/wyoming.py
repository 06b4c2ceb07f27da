"""`fastpitch serve --wyoming URI`: speech for Home Assistant over the Wyoming protocol, beside or instead of HTTP.

Home Assistant's Wyoming integration talks to a text-to-speech program in events, one request per connection:

    describe                          → info: the program, every voice, its language and speakers
    synthesize                        → audio-start, audio-chunk … (sentence by sentence, each as soon as it is
                                        ready), audio-stop
    synthesize-start, synthesize-chunk …, synthesize-stop
                                      → audio-start, audio-chunk … (each sentence once the text after it shows
                                        that it has ended), audio-stop, synthesize-stopped

Inside a text stream, a `synthesize` carries the whole text again for servers that cannot stream text: it is
ignored. The voices, the limits (text length, concurrency, queue, timeout) and the worker pool are the HTTP
server's `Service`, shared when both run in one process. A failure is an `error` event whose code is the HTTP
API's error type (`invalid_request_error`, `request_too_large`, `server_busy`, `timeout`, `server_error`);
the connection is closed after it, so that a client waiting for audio hears of it at once. A client that goes
away stops its synthesis before the next sentence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import signal
import socket
import stat
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Attribution, Describe, Info, TtsProgram, TtsVoice, TtsVoiceSpeaker
from wyoming.server import AsyncEventHandler
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeStopped,
    SynthesizeVoice,
)

from fastpitch import __version__
from fastpitch.errors import FastPitchError
from fastpitch.server.encoding import to_pcm16
from fastpitch.server.errors import ERROR_TYPES, ApiError
from fastpitch.server.listen import listen_tcp
from fastpitch.server.service import Service, WorkerStream
from fastpitch.server.voices import Controls, Voice, VoiceSet

log = logging.getLogger("fastpitch.server")

# The text frontend (CMUdict, English normalization) speaks American English whatever the voice.
LANGUAGE = "en_US"
HOMEPAGE = "https://github.com/fastpitch/fastpitch"
SAMPLES_PER_CHUNK = 1024  # wyoming-piper's chunk size: ~46 ms at 22,050 Hz
SAMPLE_WIDTH = 2  # bytes: 16-bit PCM
_END = object()


def describe(voices: VoiceSet) -> Info:
    """The `info` answer: one program, every loaded voice; speakers are listed for multi-speaker voices, as
    wyoming-piper does, since Home Assistant offers a speaker choice wherever a voice lists any."""
    attribution = Attribution(name="fastpitch", url=HOMEPAGE)
    return Info(
        tts=[
            TtsProgram(
                name="fastpitch",
                description="FastPitch text-to-speech",
                attribution=attribution,
                installed=True,
                version=__version__,
                voices=[_describe_voice(v, attribution) for v in voices],
                supports_synthesize_streaming=True,
            )
        ]
    )


def _describe_voice(voice: Voice, attribution: Attribution) -> TtsVoice:
    speakers = [TtsVoiceSpeaker(name=s) for s in voice.speakers] if len(voice.speakers) > 1 else None
    return TtsVoice(
        name=voice.name,
        description=voice.description or voice.name,
        attribution=attribution,
        installed=True,
        version=None,
        languages=[LANGUAGE],
        speakers=speakers,
    )


def error_event(error: ApiError) -> Event:
    return Error(text=error.message, code=ERROR_TYPES.get(error.status, "server_error")).event()


class TextFeed:
    """The text of a streaming request, passed from the event loop to the worker thread that speaks it.

    Iterating (in the worker) blocks until more text, the end, a failure or `cancel()` arrives, and gives up
    after `timeout_s` without any, so that a client that stops sending cannot hold a worker forever.
    """

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.chars = 0
        self.waiting = False  # the worker waits for text (the stream's sentence timeout then does not run)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()

    def put(self, text: str) -> None:
        self.chars += len(text)
        self._queue.put(text)

    def end(self) -> None:
        self._queue.put(_END)

    def fail(self, error: Exception) -> None:
        """Stop the synthesis with `error`, which the stream then raises."""
        self._queue.put(error)

    def cancel(self) -> None:
        self._queue.put(ConnectionAbortedError("the client went away"))

    def __iter__(self) -> Iterator[str]:
        while True:
            self.waiting = True
            try:
                item = self._queue.get(timeout=self.timeout_s)
            except queue.Empty:
                raise ApiError(504, f"no text arrived for {self.timeout_s:g} s") from None
            finally:
                self.waiting = False
            if item is _END:
                return
            if isinstance(item, Exception):
                raise item
            yield item


def _read(kind: Any, event: Event, needs_text: bool = True) -> tuple[Any, ApiError | None]:
    """The request an event holds, or the 400 to answer a malformed one with (the wyoming package's parsers
    take whatever JSON a client sent, so `text` may be missing or not a string)."""
    data = event.data or {}
    if needs_text and not isinstance(data.get("text"), str):
        return None, ApiError(400, f"{event.type} needs `text`, a string", "text")
    if not isinstance(data.get("voice") or {}, dict):
        return None, ApiError(
            400, f"{event.type}: `voice` must be an object with `name` and `speaker`", "voice"
        )
    try:
        return kind.from_event(event), None
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        return None, ApiError(400, f"malformed {event.type} event: {e}", "data")


class SpeechHandler(AsyncEventHandler):
    """One client connection: answers its events in order, speaking in a task so that a disconnect is seen."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: WyomingServer
    ) -> None:
        super().__init__(reader, writer)
        self.service = server.service
        self.info = server.info
        self.jobs: list[asyncio.Task] = []  # requests being answered, in order: each waits for the one before
        self._feed: TextFeed | None = None  # the text of a streaming request, while it arrives

    async def handle_event(self, event: Event) -> bool:
        if Describe.is_type(event.type):
            self._then(lambda: self.write_event(self.info.event()))
        elif Synthesize.is_type(event.type):
            if self._feed is None:  # inside a stream it repeats the streamed text for other servers: skip it
                request, error = _read(Synthesize, event)
                if error is not None:
                    self._then(lambda: self._fail(error))
                else:
                    self._then(lambda: self._speak(request.text, request.voice))
        elif SynthesizeStart.is_type(event.type):
            start, error = _read(SynthesizeStart, event, needs_text=False)
            feed = self._feed = TextFeed(self.service.settings.timeout_s)
            if error is not None:
                feed.fail(error)
            self._then(lambda: self._speak_stream(start.voice if start else None, feed))
        elif SynthesizeChunk.is_type(event.type) and self._feed is not None:
            chunk, error = _read(SynthesizeChunk, event)
            if error is not None:
                self._feed.fail(error)
            else:
                self._add_text(self._feed, chunk.text)
        elif SynthesizeStop.is_type(event.type) and self._feed is not None:
            self._feed.end()
            self._feed = None
        return True

    def _add_text(self, feed: TextFeed, text: str) -> None:
        try:
            self.service.check_length(feed.chars + len(text), "text")
        except ApiError as e:
            feed.fail(e)
            return
        feed.put(text)

    def _then(self, request: Callable[[], Awaitable[None]]) -> None:
        """Answer `request` once the one before it is answered."""
        self.jobs = [job for job in self.jobs if not job.done()]
        previous = self.jobs[-1] if self.jobs else None

        async def run() -> None:
            if previous is not None:
                await asyncio.wait({previous})
            await request()

        self.jobs.append(asyncio.create_task(run()))

    async def disconnect(self) -> None:
        """The client has gone (or the server is stopping): stop its work before the next sentence."""
        if self._feed is not None:
            self._feed.cancel()
        for job in self.jobs:
            job.cancel()
        await asyncio.gather(*self.jobs, return_exceptions=True)

    def _choose(self, requested: SynthesizeVoice | None) -> tuple[Voice, Controls]:
        """The voice and speaker a request names; `ApiError` 400 naming the choices for one this server lacks."""
        voice = self.service.voices.get(requested.name if requested else None)
        speaker = requested.speaker if requested else None
        voice.check_speaker(speaker)
        return voice, Controls(speaker=speaker)

    async def _speak(self, text: str, requested: SynthesizeVoice | None) -> None:
        try:
            voice, controls = self._choose(requested)
            self.service.check_text(text, "text")
            stream = await self.service.open_stream(lambda: map(to_pcm16, voice.stream(text, controls)))
            await self._send_audio(stream, voice)
        except ApiError as e:
            await self._fail(e)
        except ConnectionError:
            log.debug("wyoming client went away during synthesis")

    async def _speak_stream(self, requested: SynthesizeVoice | None, feed: TextFeed) -> None:
        try:
            voice, controls = self._choose(requested)
            stream = await self.service.open_stream(
                lambda: map(to_pcm16, voice.stream_text(feed, controls)), waiting=lambda: feed.waiting
            )
            await self._send_audio(stream, voice)
            await self.write_event(SynthesizeStopped().event())
        except ApiError as e:
            await self._fail(e)
        except ConnectionError:
            log.debug("wyoming client went away during synthesis")
        finally:
            feed.cancel()  # wakes the worker if it still waits for text that will not come

    async def _send_audio(self, stream: WorkerStream[bytes], voice: Voice) -> None:
        """audio-start before the first sentence, its chunks as each sentence is ready, audio-stop at the end."""
        rate, bytes_per_chunk = voice.sample_rate, SAMPLES_PER_CHUNK * SAMPLE_WIDTH
        try:
            started = False
            async for pcm in stream:
                if not started:
                    await self.write_event(AudioStart(rate=rate, width=SAMPLE_WIDTH, channels=1).event())
                    started = True
                for i in range(0, len(pcm), bytes_per_chunk):
                    chunk = AudioChunk(
                        rate=rate, width=SAMPLE_WIDTH, channels=1, audio=pcm[i : i + bytes_per_chunk]
                    )
                    await self.write_event(chunk.event())
            await self.write_event(AudioStop().event())
        finally:
            stream.close()

    async def _fail(self, error: ApiError) -> None:
        """Send the error and close the connection: Home Assistant would otherwise wait for audio until it times out."""
        if error.status >= 500 and error.status not in (503, 504):
            log.error("wyoming request failed: %s", error.message)
        with contextlib.suppress(ConnectionError):
            await self.write_event(error_event(error))
        await self.stop()


class WyomingServer:
    """The Wyoming endpoint over a shared `Service`, on a socket bound beforehand (see `listen`)."""

    def __init__(self, service: Service, sock: socket.socket, grace_s: float = 65.0) -> None:
        self.service = service
        self.info = describe(service.voices)
        self.sock = sock
        self.grace_s = grace_s
        self._server: asyncio.AbstractServer | None = None
        self._handlers: set[SpeechHandler] = set()
        self._path = sock.getsockname() if sock.family == socket.AF_UNIX else None  # to remove at the end

    @property
    def uri(self) -> str:
        name = self.sock.getsockname()
        if self.sock.family == socket.AF_UNIX:
            return f"unix://{name}"
        host = f"[{name[0]}]" if self.sock.family == socket.AF_INET6 else name[0]
        return f"tcp://{host}:{name[1]}"

    async def start(self) -> None:
        if self.sock.family == socket.AF_UNIX:
            self._server = await asyncio.start_unix_server(self._connected, sock=self.sock)
        else:
            self._server = await asyncio.start_server(self._connected, sock=self.sock)

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = SpeechHandler(reader, writer, self)
        self._handlers.add(handler)
        try:
            await handler.run()
        except ConnectionError:
            log.debug("wyoming client disconnected")
        except Exception:
            log.exception("wyoming connection failed")
        finally:
            self._handlers.discard(handler)

    async def stop(self) -> None:
        """Accept no more clients, let running requests finish (up to `grace_s`), then close every connection."""
        if self._server is None:
            return
        self._server.close()
        jobs = [job for handler in self._handlers for job in handler.jobs if not job.done()]
        if jobs:
            await asyncio.wait(jobs, timeout=self.grace_s)
        await asyncio.gather(*(h.stop() for h in list(self._handlers)), return_exceptions=True)
        self._server = None
        if self._path:
            with contextlib.suppress(OSError):
                os.unlink(self._path)

    async def serve_until_signalled(self) -> None:
        """Serve until SIGINT or SIGTERM (a Wyoming-only server: with HTTP, uvicorn owns the signals)."""
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        await self.start()
        try:
            await stopping.wait()
        finally:
            await self.stop()


def _answers(path: Path) -> bool:
    """Whether a server accepts connections on the Unix socket `path` (a dead one's file refuses them)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(str(path))
        except OSError:
            return False
        return True


def listen(uri: str) -> socket.socket:
    """A listening socket for `tcp://HOST:PORT` or `unix://PATH`, bound now so that a taken port or a bad address
    fails at once, before the voices load."""
    parsed = urlparse(uri)
    try:
        if parsed.scheme == "tcp":
            if not parsed.hostname or parsed.port is None:
                raise FastPitchError(
                    f"--wyoming {uri!r} needs a host and a port, as in tcp://127.0.0.1:10200"
                )
            return listen_tcp(parsed.hostname, parsed.port)
        if parsed.scheme == "unix" and uri[len("unix://") :]:
            path = Path(uri[len("unix://") :])  # unix:///abs/path or unix://relative/path
            if path.exists() and stat.S_ISSOCK(path.stat().st_mode):
                if _answers(path):
                    raise FastPitchError(f"cannot listen on {uri}: another server is listening there")
                path.unlink()  # left behind by a server that did not stop cleanly
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.bind(str(path))
                sock.listen()
            except OSError:
                sock.close()
                raise
            return sock
    except (OSError, ValueError) as e:
        raise FastPitchError(f"cannot listen on {uri}: {getattr(e, 'strerror', None) or e}") from None
    raise FastPitchError(f"--wyoming {uri!r}: give tcp://HOST:PORT (Home Assistant's choice) or unix://PATH")
