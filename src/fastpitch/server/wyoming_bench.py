"""`fastpitch bench serve --wyoming`: how soon a Wyoming server on loopback starts speaking, and a burst of clients.

Latency is measured as Home Assistant feels it, with the `wyoming` package's own client: from writing
`synthesize` to the first `audio-chunk`, for a one-sentence text, one request at a time after a warm-up; and for
streamed text, from writing the chunk that completes the first sentence (by starting the second) to the first
`audio-chunk`. The burst then connects `clients` clients at once: each must get its audio or a `server_busy`
error (the queue is full); anything else, or a server that no longer answers `describe`, is a failure.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeVoice

from fastpitch.errors import FastPitchError
from fastpitch.server.loadtest import DEFAULT_TEXT, free_port, running_server, serve_command

ONE_SENTENCE = "The quick brown fox jumps over the lazy dog."
STREAMED = ("Turning on the kitchen lights. ", "Anything else", " I can do for you?")
PAUSE_S = 0.2  # between timed requests, so that the last one's threads are idle when the next starts


@dataclass
class Reply:
    """What a server answered to one request: its audio, or its error, and when each part came."""

    audio: bytearray = field(default_factory=bytearray)
    rate: int | None = None
    chunks: int = 0
    first_chunk_s: float | None = None
    total_s: float | None = None
    error: Error | None = None
    events: list[str] = field(default_factory=list)


async def read_reply(client: AsyncTcpClient, started: float, until: str) -> Reply:
    """Events until `until` (audio-stop, or synthesize-stopped for streamed text), an error or the connection's
    end; times are from `started` (time.perf_counter)."""
    reply = Reply()
    while (event := await client.read_event()) is not None:
        reply.events.append(event.type)
        if AudioStart.is_type(event.type):
            reply.rate = AudioStart.from_event(event).rate
        elif AudioChunk.is_type(event.type):
            if reply.first_chunk_s is None:
                reply.first_chunk_s = time.perf_counter() - started
            reply.audio += AudioChunk.from_event(event).audio
            reply.chunks += 1
        elif Error.is_type(event.type):
            reply.error = Error.from_event(event)
            break
        if event.type == until:
            break
    reply.total_s = time.perf_counter() - started
    return reply


async def synthesize(
    port: int, text: str, voice: str | None = None, speaker: str | None = None, timeout_s: float = 120.0
) -> Reply:
    """One `synthesize` request on its own connection to 127.0.0.1:`port`."""
    requested = SynthesizeVoice(name=voice, speaker=speaker) if voice else None
    async with AsyncTcpClient("127.0.0.1", port, connect_timeout=timeout_s, read_timeout=timeout_s) as client:
        started = time.perf_counter()
        await client.write_event(Synthesize(text=text, voice=requested).event())
        return await read_reply(client, started, AudioStop().event().type)


async def describe(port: int, timeout_s: float = 10.0) -> Info:
    async with AsyncTcpClient("127.0.0.1", port, connect_timeout=timeout_s, read_timeout=timeout_s) as client:
        await client.write_event(Describe().event())
        while (event := await client.read_event()) is not None:
            if Info.is_type(event.type):
                return Info.from_event(event)
    raise FastPitchError("the server closed the connection without answering describe")


async def streamed_first_audio(
    port: int, pieces: tuple[str, ...] = STREAMED, timeout_s: float = 120.0
) -> float:
    """Seconds from writing the text chunk that shows the first sentence has ended to the first audio-chunk."""
    async with AsyncTcpClient("127.0.0.1", port, connect_timeout=timeout_s, read_timeout=timeout_s) as client:
        await client.write_event(SynthesizeStart().event())
        await client.write_event(SynthesizeChunk(text=pieces[0]).event())
        started = time.perf_counter()
        await client.write_event(SynthesizeChunk(text=pieces[1]).event())
        while (event := await client.read_event()) is not None:
            if AudioChunk.is_type(event.type):
                first = time.perf_counter() - started
                break
            if Error.is_type(event.type):
                raise FastPitchError(f"the server answered an error: {Error.from_event(event).text}")
        else:
            raise FastPitchError("the server closed the connection before any audio")
        for piece in pieces[2:]:
            await client.write_event(SynthesizeChunk(text=piece).event())
        await client.write_event(SynthesizeStop().event())
        await read_reply(client, started, "synthesize-stopped")
    return first


async def burst(port: int, clients: int, text: str) -> dict:
    """`clients` requests at once, each on its own connection: served, told busy, or failed."""
    replies = await asyncio.gather(*(synthesize(port, text) for _ in range(clients)), return_exceptions=True)
    outcomes: Counter[str] = Counter()
    samples: list[str] = []
    for reply in replies:
        if isinstance(reply, BaseException):
            outcomes["failed"] += 1
            samples.append(f"{type(reply).__name__}: {reply}")
        elif reply.error is not None:
            busy = reply.error.code == "server_busy"
            outcomes["busy" if busy else "failed"] += 1
            if not busy:
                samples.append(f"{reply.error.code}: {reply.error.text}")
        elif reply.events and reply.events[-1] == "audio-stop" and reply.audio:
            outcomes["served"] += 1
        else:
            outcomes["failed"] += 1
            samples.append(f"incomplete answer: {reply.events[-3:]}")
    try:
        await describe(port)
        healthy = True
    except (OSError, asyncio.TimeoutError, FastPitchError):
        healthy = False
    return {
        "clients": clients,
        "served": outcomes["served"],
        "busy": outcomes["busy"],
        "failed": outcomes["failed"],
        "failure_samples": samples[:5],
        "describes_after": healthy,
    }


def wait_describes(port: int, process: subprocess.Popen, timeout_s: float = 180.0) -> None:
    """Poll with `describe` until the server answers; fail early if its process has died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise FastPitchError(f"the server exited with code {process.returncode} before it was ready")
        try:
            asyncio.run(describe(port, timeout_s=2.0))
            return
        except (OSError, asyncio.TimeoutError, FastPitchError):
            time.sleep(0.2)
    raise FastPitchError(f"the Wyoming server on port {port} was not ready within {timeout_s:g} s")


def _ms(seconds: list[float]) -> dict:
    ms = np.asarray(seconds) * 1000
    return {
        "p50": round(float(np.percentile(ms, 50)), 1),
        "p95": round(float(np.percentile(ms, 95)), 1),
        "min": round(float(ms.min()), 1),
        "max": round(float(ms.max()), 1),
    }


def bench_wyoming(
    voices: list[str],
    requests: int = 20,
    clients: int = 10,
    text: str = ONE_SENTENCE,
    burst_text: str = DEFAULT_TEXT,
    max_concurrency: int | None = None,
    queue_size: int | None = None,
) -> dict:
    """Start `fastpitch serve --no-http --wyoming` on a free loopback port, measure, stop it with SIGTERM."""
    port = free_port()
    command = [*serve_command(voices, max_concurrency, queue_size), "--no-http"]
    command += ["--wyoming", f"tcp://127.0.0.1:{port}"]
    with running_server(command, lambda process: wait_describes(port, process)) as outcome:
        info = asyncio.run(describe(port))
        warm = asyncio.run(synthesize(port, text))
        if warm.error is not None:
            raise FastPitchError(f"the server answered an error: {warm.error.text}")
        first, total = [], []
        for _ in range(requests):
            time.sleep(PAUSE_S)
            reply = asyncio.run(synthesize(port, text))
            if reply.error is not None or reply.first_chunk_s is None or reply.total_s is None:
                raise FastPitchError(f"request failed: {reply.error or reply.events}")
            first.append(reply.first_chunk_s)
            total.append(reply.total_s)
        streamed = [asyncio.run(streamed_first_audio(port)) for _ in range(max(1, requests // 4))]
        loaded = asyncio.run(burst(port, clients, burst_text))
    audio_s = len(warm.audio) / 2 / (warm.rate or 1)
    return {
        "benchmark": "serve-wyoming",
        "voices": [v.name for v in info.tts[0].voices],
        "startup_s": outcome["startup_s"],
        "text": text,
        "audio_s": round(audio_s, 2),
        "requests": requests,
        "first_chunk_ms": _ms(first),
        "within_100ms": round(sum(s <= 0.1 for s in first) / len(first), 3),
        "last_chunk_ms": _ms(total),
        "streamed_text_first_chunk_ms": _ms(streamed),
        "burst": {"text_chars": len(burst_text), **loaded},
        "clean_shutdown": outcome["clean_shutdown"],
    }
