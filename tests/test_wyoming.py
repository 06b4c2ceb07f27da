"""`fastpitch serve --wyoming`: Home Assistant's protocol, spoken with the `wyoming` package's own client over real
TCP sockets on loopback: describe, synthesize (against `fastpitch say`), streamed text, limits, bad input,
disconnects, a burst of clients, and the command line.

The voices are tiny random-weight models: their speech is noise, which is all a protocol test needs. Where a test
needs to know what the server is doing at a given moment, it holds the synthesis on an event instead of timing it.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
from wyoming.audio import AudioChunk, AudioStart
from wyoming.client import AsyncClient, AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeVoice,
)

from fastpitch.errors import FastPitchError
from fastpitch.server.errors import ApiError
from fastpitch.server.loadtest import free_port
from fastpitch.server.service import Service, Settings
from fastpitch.server.voices import Voice, VoiceSet
from fastpitch.server.wyoming import SAMPLES_PER_CHUNK, WyomingServer, listen
from fastpitch.server.wyoming_bench import Reply, burst, describe, read_reply, synthesize

MAX_CHARS = 300
ONE = "Hello there, how are you?"
THREE = "One sentence here. Another one follows! And a third, to finish."
TIMEOUT = 60.0


@pytest.fixture(scope="module")
def voice_dirs(tmp_path_factory, synth_make_voice) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("wyoming-voices")
    return {
        "tiny": synth_make_voice(root / "tiny").path,
        "duo": synth_make_voice(root / "duo", vocoder="istft", speakers=("ann", "bob"), seed=1).path,
    }


@pytest.fixture(scope="module")
def voices(voice_dirs) -> VoiceSet:
    """Loaded once: each test builds its own service (limits) around them."""
    return VoiceSet({"tiny": voice_dirs["tiny"], "duo": voice_dirs["duo"]})


@contextmanager
def live(voices: VoiceSet, uri: str = "tcp://127.0.0.1:0", **settings) -> Iterator[tuple[int, Service]]:
    """A Wyoming server on a free loopback port, its event loop in a thread, as `fastpitch serve` runs it."""
    settings.setdefault("max_chars", MAX_CHARS)
    service = Service(voices, Settings(**settings))
    server = WyomingServer(service, listen(uri), grace_s=30)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(30)
    try:
        yield server.sock.getsockname()[1] if uri.startswith("tcp:") else 0, service
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()
        service.shutdown()


@pytest.fixture(scope="module")
def port(voices) -> Iterator[int]:
    with live(voices) as (port, _):
        yield port


def client(port: int) -> AsyncTcpClient:
    return AsyncTcpClient("127.0.0.1", port, connect_timeout=TIMEOUT, read_timeout=TIMEOUT)


def speak(port: int, text: str, voice: str | None = None, speaker: str | None = None) -> Reply:
    return asyncio.run(synthesize(port, text, voice, speaker, timeout_s=TIMEOUT))


def pcm(audio: bytes | bytearray) -> np.ndarray:
    return np.frombuffer(bytes(audio), dtype="<i2")


def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


@contextmanager
def held_stream(voice: Voice, method: str = "stream") -> Iterator[tuple[threading.Event, list[str]]]:
    """Hold `voice`'s sentence generator before its second sentence until the event is set; the list records
    "sentence" for each sentence made and "closed" when the generator is closed early."""
    release = threading.Event()
    log: list[str] = []
    real = getattr(voice, method)

    def held(*args, **kwargs):
        try:
            for i, chunk in enumerate(real(*args, **kwargs)):
                if i == 1:
                    release.wait(30)
                log.append("sentence")
                yield chunk
        except GeneratorExit:
            log.append("closed")
            raise

    setattr(voice, method, held)
    try:
        yield release, log
    finally:
        release.set()
        delattr(voice, method)


# --- describe -----------------------------------------------------------------------------------------------
def test_describe_lists_every_voice_and_speaker(port):
    info = asyncio.run(describe(port))
    assert len(info.tts) == 1
    program = info.tts[0]
    assert program.name == "fastpitch" and program.installed and program.supports_synthesize_streaming
    assert program.attribution.name == "fastpitch" and program.attribution.url.startswith("https://")
    by_name = {v.name: v for v in program.voices}
    assert list(by_name) == ["tiny", "duo"]
    assert [s.name for s in by_name["duo"].speakers] == ["ann", "bob"]
    assert by_name["tiny"].speakers is None  # one speaker is the voice itself, as wyoming-piper lists it
    for voice in program.voices:
        assert voice.installed and voice.languages == ["en_US"] and voice.attribution.name
        assert voice.description


def test_a_unix_socket_serves_too_and_is_removed_at_the_end(voices):
    folder = Path(tempfile.mkdtemp(prefix="fp-"))  # short: a socket's path has at most 107 bytes
    path = folder / "wyoming.sock"

    async def describe_over_unix() -> list[str]:
        async with AsyncClient.from_uri(f"unix://{path}", connect_timeout=TIMEOUT, read_timeout=TIMEOUT) as c:
            await c.write_event(Describe().event())
            event = await c.read_event()
            assert event is not None and Info.is_type(event.type)
            return [v.name for v in Info.from_event(event).tts[0].voices]

    with live(voices, uri=f"unix://{path}"):
        assert asyncio.run(describe_over_unix()) == ["tiny", "duo"]
        with pytest.raises(FastPitchError, match="another server is listening there"):
            listen(f"unix://{path}")  # a second server must not take the live one's socket
        assert asyncio.run(describe_over_unix()) == ["tiny", "duo"]
    assert not path.exists()
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # a socket file no server answers on: left by one that was killed
    listen(f"unix://{path}").close()
    path.unlink()
    folder.rmdir()


def test_a_relative_unix_socket_path_stays_relative(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    listen("unix://wy.sock").close()
    assert (tmp_path / "wy.sock").exists()


# --- synthesize ---------------------------------------------------------------------------------------------
def say(voice_dir: Path, text: str, out: Path, *options: str) -> np.ndarray:
    command = [sys.executable, "-m", "fastpitch", "say", text, "--voice", str(voice_dir), "-o", str(out)]
    done = subprocess.run([*command, *options], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    audio, rate = sf.read(out, dtype="int16")
    assert rate == 22050
    return audio


@pytest.mark.parametrize(("text", "voice", "speaker"), [(ONE, "tiny", None), (THREE, "duo", "bob")])
def test_synthesize_is_what_fastpitch_say_says(port, voice_dirs, tmp_path, text, voice, speaker):
    reply = speak(port, text, voice, speaker)
    assert reply.error is None
    assert reply.events[0] == "audio-start" and reply.events[-1] == "audio-stop"
    assert set(reply.events[1:-1]) == {"audio-chunk"} and reply.rate == 22050
    assert len(reply.audio) <= reply.chunks * SAMPLES_PER_CHUNK * 2
    said = say(voice_dirs[voice], text, tmp_path / "say.wav", *(["--speaker", speaker] if speaker else []))
    heard = pcm(reply.audio)
    assert heard.size == said.size
    if text == ONE:
        assert np.array_equal(heard, said)  # the very samples `say` writes
    else:
        # several sentences: the server makes the first alone (to send it sooner), `say` all in one padded batch;
        # padding moves the mel by ~1e-5, so a sample here and there rounds to the next 16-bit step (this voice's
        # neural vocoder follows the mel smoothly; Griffin-Lim's phase search would spread the difference)
        assert np.abs(heard.astype(int) - said).max() <= 2


def test_synthesize_the_speaker_and_the_default_voice(port):
    ann, bob = pcm(speak(port, ONE, "duo", "ann").audio), pcm(speak(port, ONE, "duo", "bob").audio)
    assert ann.size and bob.size and not (ann.shape == bob.shape and np.array_equal(ann, bob))
    assert np.array_equal(pcm(speak(port, ONE).audio), pcm(speak(port, ONE, "tiny").audio))


def test_synthesize_sends_each_sentence_as_soon_as_it_is_ready(voices):
    with live(voices) as (port, _), held_stream(voices.voices["tiny"]) as (release, log):

        async def scenario() -> Reply:
            async with client(port) as c:
                await c.write_event(Synthesize(text=THREE).event())
                event = await c.read_event()
                assert event is not None and AudioStart.is_type(event.type)
                event = await c.read_event()
                assert event is not None and AudioChunk.is_type(event.type)
                assert log == ["sentence"] and not release.is_set()  # the second sentence is still held
                release.set()
                return await read_reply(c, time.perf_counter(), "audio-stop")

        rest = asyncio.run(scenario())
    assert rest.error is None and rest.events[-1] == "audio-stop"
    assert log == ["sentence"] * 3


# --- streamed text ------------------------------------------------------------------------------------------
def test_streamed_text_is_spoken_before_the_last_chunk_is_sent(port):
    pieces = ["One sentence ", "here. Another one", " follows! And a third,", " to finish."]

    async def scenario() -> tuple[list[str], bytes, Reply]:
        async with client(port) as c:
            await c.write_event(SynthesizeStart(voice=SynthesizeVoice(name="duo", speaker="ann")).event())
            for piece in pieces[:2]:
                await c.write_event(SynthesizeChunk(text=piece).event())
            # The first sentence is complete: its audio must come while the rest of the text is unsent (if the
            # server waited for more text, this read would time out and fail the test).
            before: list[str] = []
            while not before or before[-1] != "audio-chunk":
                event = await c.read_event()
                assert event is not None and not Error.is_type(event.type), event
                before.append(event.type)
            first = AudioChunk.from_event(event).audio
            for piece in pieces[2:]:
                await c.write_event(SynthesizeChunk(text=piece).event())
            # Home Assistant sends the whole text again for servers that cannot stream: it must not be spoken
            await c.write_event(Synthesize(text="".join(pieces), voice=SynthesizeVoice(name="duo")).event())
            await c.write_event(SynthesizeStop().event())
            rest = await read_reply(c, time.perf_counter(), "synthesize-stopped")
            await c.write_event(Describe().event())  # answered in order: after anything still to come
            after = await c.read_event()
            assert after is not None and Info.is_type(after.type), after
            return before, first, rest

    before, first, rest = asyncio.run(scenario())
    assert before == ["audio-start", "audio-chunk"]
    assert rest.error is None and rest.events[-2:] == ["audio-stop", "synthesize-stopped"]
    assert "audio-start" not in rest.events
    heard = pcm(first + rest.audio)
    whole = pcm(speak(port, "".join(pieces), "duo", "ann").audio)
    assert heard.size == whole.size and np.abs(heard.astype(int) - whole).max() <= 2  # said once, not twice


def test_streamed_text_joins_to_the_whole_text(port):
    text = "Hello there. How are you today?\n\nFine, thanks."

    async def scenario() -> Reply:
        async with client(port) as c:
            started = time.perf_counter()
            await c.write_event(SynthesizeStart(voice=SynthesizeVoice(name="duo")).event())
            for i in range(0, len(text), 5):
                await c.write_event(SynthesizeChunk(text=text[i : i + 5]).event())
            await c.write_event(SynthesizeStop().event())
            return await read_reply(c, started, "synthesize-stopped")

    streamed = asyncio.run(scenario())
    assert streamed.error is None
    assert streamed.events[0] == "audio-start" and streamed.events[-2:] == [
        "audio-stop",
        "synthesize-stopped",
    ]
    whole = pcm(speak(port, text, "duo").audio)  # the same sentences, but made together: see the `say` test
    heard = pcm(streamed.audio)
    assert heard.size == whole.size and np.abs(heard.astype(int) - whole).max() <= 2


# --- bad input ----------------------------------------------------------------------------------------------
def error_and_close(port: int, *events: Event) -> Error:
    """Send `events`, expect an error event and then the end of the connection."""

    async def scenario() -> Error:
        async with client(port) as c:
            for event in events:
                await c.write_event(event)
            reply = await read_reply(c, time.perf_counter(), "audio-stop")
            assert reply.error is not None, reply.events
            assert await c.read_event() is None  # closed: a client waiting for audio learns of it at once
            return reply.error

    return asyncio.run(scenario())


BAD = [
    (
        "unknown voice",
        SynthesizeVoice(name="nobody"),
        "invalid_request_error",
        "unknown voice 'nobody'; voices: tiny, duo",
    ),
    ("path as voice", SynthesizeVoice(name="../../etc/passwd"), "invalid_request_error", "voices: tiny, duo"),
    (
        "unknown speaker",
        SynthesizeVoice(name="duo", speaker="carl"),
        "invalid_request_error",
        "speakers: ann, bob",
    ),
    (
        "speaker of a one-speaker voice",
        SynthesizeVoice(name="tiny", speaker="ann"),
        "invalid_request_error",
        "speakers: default",
    ),
]


@pytest.mark.parametrize(("case", "voice", "code", "message"), BAD, ids=[b[0] for b in BAD])
@pytest.mark.parametrize("streamed", [False, True], ids=["synthesize", "streamed"])
def test_unknown_voice_or_speaker_is_an_error_naming_the_choices(port, case, voice, code, message, streamed):
    if streamed:  # refused at once, before any text: a client still writing would find the connection closed
        events = [SynthesizeStart(voice=voice).event()]
    else:
        events = [Synthesize(text=ONE, voice=voice).event()]
    error = error_and_close(port, *events)
    assert error.code == code and message in error.text


def test_text_over_the_limit_is_refused(port):
    error = error_and_close(port, Synthesize(text="a" * (MAX_CHARS + 1)).event())
    assert error.code == "request_too_large" and f"at most {MAX_CHARS}" in error.text
    chunk = "Word " * 50  # 250 characters: the second one crosses the limit
    events = [
        SynthesizeStart().event(),
        SynthesizeChunk(text=chunk).event(),
        SynthesizeChunk(text=chunk).event(),
    ]
    error = error_and_close(port, *events)
    assert error.code == "request_too_large" and f"at most {MAX_CHARS}" in error.text


@pytest.mark.parametrize("text", ["", "   ", "?!..."])
def test_nothing_to_say_is_an_error(port, text):
    error = error_and_close(port, Synthesize(text=text).event())
    assert error.code == "invalid_request_error" and "nothing to say" in error.text


@pytest.mark.parametrize(
    "events",
    [
        [Event("synthesize", {"text": None})],
        [Event("synthesize", {"text": 123})],
        [Event("synthesize", {})],
        [Event("synthesize", {"text": "Hi.", "voice": "duo"})],
        [SynthesizeStart().event(), Event("synthesize-chunk", {"text": ["Hi."]})],
        [Event("synthesize-start", {"voice": 7})],
    ],
    ids=["null text", "number text", "no text", "voice not an object", "chunk not a string", "start voice"],
)
def test_a_malformed_event_is_an_error_not_a_hang(port, events):
    error = error_and_close(port, *events)
    assert error.code == "invalid_request_error" and ("`text`" in error.text or "`voice`" in error.text)


def test_streamed_markup_is_parsed_not_read_aloud(port):
    """Home Assistant streams its replies: an SSML document sent in chunks is spoken as it is when sent whole."""
    doc = '<speak>Hello <break time="200ms"/> there.</speak>'

    async def scenario() -> Reply:
        async with client(port) as c:
            await c.write_event(SynthesizeStart().event())
            for i in range(0, len(doc), 4):
                await c.write_event(SynthesizeChunk(text=doc[i : i + 4]).event())
            await c.write_event(SynthesizeStop().event())
            return await read_reply(c, time.perf_counter(), "synthesize-stopped")

    streamed = asyncio.run(scenario())
    whole = pcm(speak(port, doc).audio)
    assert streamed.error is None and pcm(streamed.audio).size == whole.size


def test_a_bug_is_a_server_error_that_reveals_nothing(voices):
    with live(voices) as (port, service):
        voice = voices.voices["tiny"]

        def broken(text, controls):
            raise RuntimeError("boom at /secret/path")

        voice.stream = broken
        try:
            error = error_and_close(port, Synthesize(text=ONE).event())
        finally:
            del voice.stream
        assert error.code == "server_error" and "boom" not in error.text
        wait_for(lambda: service.limiter.running == 0)
        assert speak(port, ONE).error is None


# --- limits, disconnects, load ------------------------------------------------------------------------------
def test_full_queue_is_busy_and_the_held_request_still_finishes(voices):
    with (
        live(voices, max_concurrency=1, queue_size=0) as (port, service),
        held_stream(voices.voices["tiny"]) as (release, _),
    ):

        async def scenario() -> tuple[Reply, Reply]:
            async with client(port) as first:
                await first.write_event(Synthesize(text=THREE).event())
                started = time.perf_counter()
                await asyncio.get_running_loop().run_in_executor(
                    None, wait_for, lambda: service.limiter.running == 1
                )
                second = await synthesize(port, ONE, timeout_s=TIMEOUT)
                release.set()
                return second, await read_reply(first, started, "audio-stop")

        second, first = asyncio.run(scenario())
    assert second.error is not None and second.error.code == "server_busy"
    assert first.error is None and first.events[-1] == "audio-stop" and len(first.audio) > 0


def test_a_client_that_leaves_mid_stream_stops_the_work(voices):
    with live(voices) as (port, service), held_stream(voices.voices["tiny"]) as (release, log):

        async def leave_after_the_first_sentence() -> None:
            async with client(port) as c:
                await c.write_event(Synthesize(text=THREE + " " + THREE).event())
                while (event := await c.read_event()) is not None and not AudioChunk.is_type(event.type):
                    pass
            # disconnected while the second of six sentences is being made

        asyncio.run(leave_after_the_first_sentence())
        assert service.limiter.running == 1
        release.set()
        wait_for(lambda: service.limiter.running == 0)  # the worker stopped and gave its slot back
        assert log == ["sentence", "sentence", "closed"]  # the one in progress finished; no third was begun


def test_a_stalled_text_stream_is_told_that_no_text_came_not_that_synthesis_was_slow(voices):
    # 5 s: the first sentence is made well within it even on a busy machine; the stall outlasts it
    with live(voices, timeout_s=5.0) as (port, _):
        events = [SynthesizeStart().event(), SynthesizeChunk(text="Hello there. And then").event()]
        error = error_and_close(port, *events)
        assert (error.code, error.text) == ("timeout", "no text arrived for 5 s")


@pytest.mark.parametrize("waits", [True, False])
def test_time_spent_waiting_for_input_is_not_counted_as_a_slow_sentence(voices, waits):
    """The stream's sentence timeout and the text's own timeout were equal and raced: a stalled client was
    sometimes told that synthesis had been slow. Waiting for input stops the sentence clock."""
    service = Service(voices, Settings(timeout_s=0.3))
    waiting = threading.Event()

    def work() -> Iterator[str]:
        waiting.set()
        time.sleep(1.0)  # three timeouts' worth of waiting for text
        waiting.clear()
        yield "sentence"

    async def first() -> str | None:
        stream = await service.open_stream(work, waiting=waiting.is_set if waits else None)
        try:
            return await stream.next()
        finally:
            stream.close()

    try:
        if waits:
            assert asyncio.run(first()) == "sentence"
        else:
            with pytest.raises(ApiError, match=r"the first sentence took longer than 0\.3 s"):
                asyncio.run(first())
    finally:
        service.shutdown()


def test_a_client_that_leaves_a_text_stream_frees_its_worker(voices):
    with live(voices, timeout_s=TIMEOUT) as (port, service):

        async def leave_while_the_text_is_unfinished() -> None:
            async with client(port) as c:
                await c.write_event(SynthesizeStart().event())
                await c.write_event(SynthesizeChunk(text="A first sentence. And then").event())
                while (event := await c.read_event()) is not None and not AudioChunk.is_type(event.type):
                    pass

        asyncio.run(leave_while_the_text_is_unfinished())
        # the worker was waiting for more text: it must not wait out the 60 s timeout
        wait_for(lambda: service.limiter.running == 0, timeout=20)


def test_ten_clients_at_once_are_served_or_told_busy(voices):
    with live(voices, max_concurrency=2, queue_size=3) as (port, service):
        result = asyncio.run(burst(port, 10, THREE))
        assert result["failed"] == 0, result["failure_samples"]
        assert result["served"] + result["busy"] == 10
        assert result["served"] >= 5  # a refusal means two were running and three waiting: those five finish
        assert result["describes_after"]
        wait_for(lambda: service.limiter.running == 0 and service.limiter.waiting == 0)


def test_requests_on_one_connection_are_answered_in_order(port):
    async def scenario() -> tuple[Reply, Reply]:
        async with client(port) as c:
            await c.write_event(Synthesize(text=THREE).event())
            await c.write_event(Synthesize(text=ONE, voice=SynthesizeVoice(name="duo")).event())
            first = await read_reply(c, time.perf_counter(), "audio-stop")
            second = await read_reply(c, time.perf_counter(), "audio-stop")
            return first, second

    first, second = asyncio.run(scenario())
    assert np.array_equal(pcm(first.audio), pcm(speak(port, THREE).audio))
    assert np.array_equal(pcm(second.audio), pcm(speak(port, ONE, "duo").audio))


# --- command line -------------------------------------------------------------------------------------------
def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fastpitch", *args], capture_output=True, text=True, timeout=timeout
    )


def test_serve_http_and_wyoming_in_one_process(voice_dirs):
    http_port, wyoming_port = free_port(), free_port()
    command = [sys.executable, "-m", "fastpitch", "serve", "--voice", f"duo={voice_dirs['duo']}"]
    command += [
        "--port",
        str(http_port),
        "--wyoming",
        f"tcp://127.0.0.1:{wyoming_port}",
        "--max-concurrency",
        "1",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None and time.monotonic() < deadline, "the server did not start"
            try:
                if httpx.get(f"http://127.0.0.1:{http_port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        info = asyncio.run(describe(wyoming_port))
        assert [v.name for v in info.tts[0].voices] == ["duo"]
        reply = speak(wyoming_port, ONE, "duo", "bob")
        r = httpx.get(
            f"http://127.0.0.1:{http_port}/api/tts",
            params={"text": ONE, "voice": "duo", "speaker": "bob", "format": "pcm"},
            timeout=60,
        )
        assert r.status_code == 200 and np.array_equal(
            pcm(reply.audio), pcm(r.content)
        )  # one service, one voice
        assert httpx.get(f"http://127.0.0.1:{http_port}/healthz", timeout=10).json()["max_concurrency"] == 1
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=60)[0]
    assert process.returncode in (0, -signal.SIGTERM), output
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--no-http"], "nothing to serve"),
        (["--wyoming", "http://127.0.0.1:10200"], "tcp://HOST:PORT"),
        (["--wyoming", "tcp://127.0.0.1"], "needs a host and a port"),
    ],
)
def test_serve_cli_refuses_bad_wyoming_options_without_traceback(args, message):
    done = run_cli("serve", *args)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_serve_cli_says_when_the_wyoming_port_is_taken():
    with listen("tcp://127.0.0.1:0") as taken:
        done = run_cli("serve", "--no-http", "--wyoming", f"tcp://127.0.0.1:{taken.getsockname()[1]}")
    assert done.returncode == 2
    assert "cannot listen on" in done.stderr and "Traceback" not in done.stderr


def test_bench_serve_wyoming(voice_dirs, tmp_path):
    out = tmp_path / "serve-wyoming.json"
    done = run_cli(
        *("bench", "serve", "--wyoming", "--voice", f"tiny={voice_dirs['tiny']}"),
        *("--requests", "4", "--concurrency", "6", "--max-concurrency", "1", "--queue-size", "1"),
        *("--out", str(out)),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert result == json.loads(done.stdout)
    assert result["voices"] == ["tiny"] and result["requests"] == 4
    first, last = result["first_chunk_ms"], result["last_chunk_ms"]
    assert 0 < first["min"] <= first["p50"] <= first["p95"] <= first["max"] <= last["max"]
    assert result["streamed_text_first_chunk_ms"]["p50"] > 0
    assert result["burst"]["failed"] == 0 and result["burst"]["served"] + result["burst"]["busy"] == 6
    assert result["burst"]["served"] >= 2 and result["burst"]["describes_after"]
    assert result["clean_shutdown"]
