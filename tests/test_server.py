"""`fastpitch serve`: every endpoint, every kind of bad input with its exact status code, backpressure, timeouts,
streaming, graceful shutdown and a bounded load test, all against real uvicorn servers on loopback.

The voice is a tiny random-weight model: its speech is noise, which is all an API test needs.
"""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
import uvicorn

from fastpitch.cli.serve import parse_voices
from fastpitch.errors import FastPitchError
from fastpitch.server import create_app
from fastpitch.server.encoding import available_formats
from fastpitch.server.loadtest import load_test
from fastpitch.server.voices import Voice

MAX_CHARS = 400
TEXT = "Hello there. This is a short test."


@pytest.fixture(scope="module")
def voice_dirs(tmp_path_factory, synth_make_voice) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("server-voices")
    return {
        "tiny": synth_make_voice(root / "tiny").path,
        "duo": synth_make_voice(root / "duo", speakers=("ann", "bob")).path,
    }


@contextmanager
def live(app) -> Iterator[tuple[str, uvicorn.Server]]:
    """Run `app` under real uvicorn in a thread on a free loopback port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=30))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}", server
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def make_app(voice_dirs, names=("tiny",), **kwargs):
    kwargs.setdefault("max_chars", MAX_CHARS)
    return create_app({name: voice_dirs[name] for name in names}, **kwargs)


@pytest.fixture(scope="module")
def base_url(voice_dirs) -> Iterator[str]:
    with live(make_app(voice_dirs, names=("tiny", "duo"))) as (url, _):
        yield url


@pytest.fixture(scope="module")
def client(base_url) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=60) as c:
        yield c


def decode(content: bytes) -> tuple[np.ndarray, int]:
    audio, rate = sf.read(io.BytesIO(content), dtype="float32")
    assert audio.ndim == 1 and audio.size > 0 and np.isfinite(audio).all()
    return audio, rate


def error_of(response: httpx.Response) -> dict:
    body = response.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["code"] == response.status_code
    return body["error"]


# --- information endpoints ----------------------------------------------------------------------------------
def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"
    assert r.json()["voices"] == ["tiny", "duo"]


def test_voices_lists_voices_speakers_formats(client):
    info = client.get("/api/voices").json()
    assert info["default"] == "tiny"
    by_name = {v["name"]: v for v in info["voices"]}
    assert by_name["duo"]["speakers"] == ["ann", "bob"]
    assert by_name["tiny"]["sample_rate"] == 22050
    assert {"wav", "flac", "pcm"} <= set(info["formats"])
    assert info["streaming_formats"] == ["wav", "pcm"]
    assert info["max_chars"] == MAX_CHARS


def test_openapi_schema_describes_the_api(client):
    schema = client.get("/openapi.json").json()
    assert {"/v1/audio/speech", "/api/tts", "/api/synthesize", "/api/voices", "/healthz"} <= set(
        schema["paths"]
    )
    speech = schema["components"]["schemas"]["SpeechRequest"]["properties"]
    assert {"model", "input", "voice", "response_format", "speed"} <= set(speech)
    # error answers are described as they are sent: {"error": {...}}, never FastAPI's default detail list
    assert "HTTPValidationError" not in json.dumps(schema)
    responses = schema["paths"]["/v1/audio/speech"]["post"]["responses"]
    assert {"400", "401", "413", "422", "503", "504"} <= set(responses)
    error = responses["422"]["content"]["application/json"]["schema"]["properties"]["error"]["properties"]
    assert set(error) == {"message", "type", "param", "code"}
    answer = client.post("/v1/audio/speech", json={"input": ""}).json()
    assert set(answer) == {"error"} and set(answer["error"]) == set(error)
    line = responses["200"]["content"]["application/x-ndjson"]["schema"]["properties"]
    assert {"start", "sample_rate", "audio_base64", "words", "marks"} <= set(line) and "voice" not in line
    assert "written" in line["words"]["items"]["properties"]


def test_page_and_its_assets_are_served_without_external_urls(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert '<label for="text">' in r.text
    for asset in ("/static/app.js", "/static/style.css"):
        a = client.get(asset)
        assert a.status_code == 200
        assert "http://" not in a.text and "https://" not in a.text
    assert "http://" not in r.text and "https://" not in r.text


def test_docs_page_is_off_because_it_needs_a_cdn(client):
    assert client.get("/docs").status_code == 404


# --- speech -------------------------------------------------------------------------------------------------
def test_openai_speech_wav(client):
    r = client.post(
        "/v1/audio/speech", json={"model": "tts-1", "input": TEXT, "voice": "tiny", "response_format": "wav"}
    )
    assert r.status_code == 200
    assert r.headers["content-type"] == "audio/wav"
    _, rate = decode(r.content)
    assert rate == 22050 == int(r.headers["x-sample-rate"])
    body = {"input": TEXT, "response_format": "wav"}
    assert client.post("/v1/audio/speech", json=body | {"stream_format": "audio"}).status_code == 200
    sse = client.post("/v1/audio/speech", json=body | {"stream_format": "sse"})
    assert sse.status_code == 422 and "stream_format" in sse.text  # refused, not answered with other bytes


@pytest.mark.parametrize("fmt", [f for f in ("flac", "mp3", "opus") if f in available_formats()])
def test_openai_speech_compressed_formats_decode(client, fmt):
    r = client.post("/v1/audio/speech", json={"model": "tts-1", "input": TEXT, "response_format": fmt})
    assert r.status_code == 200
    _, rate = decode(r.content)
    assert rate == int(r.headers["x-sample-rate"]) == (48000 if fmt == "opus" else 22050)


def test_openai_pcm_is_16_bit_24_khz_like_openai(client):
    r = client.post("/v1/audio/speech", json={"model": "tts-1", "input": TEXT, "response_format": "pcm"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "audio/pcm; rate=24000; channels=1; bits=16; endian=little"
    samples = np.frombuffer(r.content, dtype="<i2")
    assert len(r.content) % 2 == 0 and samples.size > 0


def test_openai_default_format_and_voice_names(client):
    r = client.post("/v1/audio/speech", json={"model": "tts-1", "input": TEXT, "voice": "alloy"})
    assert r.status_code == 200
    expected = "audio/mpeg" if "mp3" in available_formats() else "audio/wav"
    assert r.headers["content-type"] == expected


def test_speed_and_pace_change_the_length(client):
    def n_samples(speed: float) -> int:
        r = client.post(
            "/v1/audio/speech", json={"input": "Hello there.", "response_format": "wav", "speed": speed}
        )
        return decode(r.content)[0].size

    assert n_samples(0.5) > n_samples(1.0) > n_samples(2.0)


def test_get_tts_with_controls(client):
    params = {
        "text": TEXT,
        "voice": "duo",
        "speaker": "bob",
        "pace": 1.2,
        "pitch_shift": -2,
        "pitch_range": 0.5,
    }
    r = client.get("/api/tts", params=params)
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    decode(r.content)
    r = client.get("/api/tts", params={"text": TEXT, "format": "flac"})
    assert r.status_code == 200 and r.headers["content-type"] == "audio/flac"


def test_speakers_sound_different(client):
    def audio(speaker: str) -> np.ndarray:
        return decode(
            client.get("/api/tts", params={"text": TEXT, "voice": "duo", "speaker": speaker}).content
        )[0]

    a, b = audio("ann"), audio("bob")
    assert a.shape != b.shape or not np.allclose(a, b)


def test_synthesize_returns_audio_mel_and_pitch(client):
    r = client.post("/api/synthesize", json={"text": TEXT, "voice": "tiny", "pace": 1.0})
    assert r.status_code == 200
    body = r.json()
    import base64

    audio, rate = decode(base64.b64decode(body["audio_wav_base64"]))
    assert rate == body["sample_rate"] == 22050
    assert body["duration_s"] == pytest.approx(audio.size / rate, abs=1e-3)
    mel = body["mel"]
    assert mel["n_mels"] == 80 and mel["n_frames"] > 0
    assert len(base64.b64decode(mel["levels_base64"])) == mel["n_mels"] * mel["n_frames"]
    assert mel["min"] <= mel["max"]
    assert len(body["pitch_hz"]) == mel["n_frames"]
    assert all(f >= 0 for f in body["pitch_hz"])
    assert body["frame_rate"] == pytest.approx(22050 / 256)


# --- bad input: exact status codes --------------------------------------------------------------------------
def speech(**fields):
    return {"model": "tts-1", "input": TEXT, **fields}


BAD_POSTS = [
    ("empty input", speech(input=""), 422, "input"),
    ("blank input", speech(input="  \n "), 422, "input"),
    ("missing input", {"model": "tts-1"}, 422, "input"),
    ("input not a string", speech(input=42), 422, "input"),
    ("too long", speech(input="a" * (MAX_CHARS + 1)), 413, "input"),
    ("unknown voice", speech(voice="nobody"), 400, "voice"),
    ("path as voice", speech(voice="../../etc/passwd"), 400, "voice"),
    ("unknown speaker", speech(voice="duo", speaker="carl"), 400, "speaker"),
    ("speed not a number", speech(speed="fast"), 422, "speed"),
    ("speed zero", speech(speed=0), 422, "speed"),
    ("speed too high", speech(speed=10), 422, "speed"),
    ("pitch shift out of range", speech(pitch_shift=100), 422, "pitch_shift"),
    ("negative energy", speech(energy=-1), 422, "energy"),
    ("unknown format", speech(response_format="aac"), 400, "response_format"),
    ("streamed flac", speech(response_format="flac", stream=True), 400, "response_format"),
]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_422(client, literal):
    r = client.post(
        "/v1/audio/speech",
        content=f'{{"input": "hi", "speed": {literal}}}',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 422
    assert error_of(r)["param"] == "speed"


def test_malformed_json_is_400(client):
    r = client.post(
        "/v1/audio/speech", content=b'{"input": "hi",', headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400
    assert "not valid JSON" in error_of(r)["message"]


def test_json_that_is_not_an_object_is_422(client):
    r = client.post("/v1/audio/speech", json=["hi"])
    assert r.status_code == 422
    empty = client.post("/api/synthesize", content=b"", headers={"Content-Type": "application/json"})
    assert empty.status_code == 422 and "body is empty" in error_of(empty)["message"]
    bare = client.post("/api/synthesize", json={})
    assert bare.status_code == 422 and error_of(bare)["param"] == "text"


@pytest.mark.parametrize(
    ("content_type", "content"),
    [("text/plain", b'{"input": "hi"}'), ("application/x-www-form-urlencoded", b"input=hi"), (None, b"")],
)
def test_wrong_content_type_is_415(client, content_type, content):
    headers = {"Content-Type": content_type} if content_type else {}
    r = client.post("/v1/audio/speech", content=content, headers=headers)
    assert r.status_code == 415
    error_of(r)


def test_oversized_body_is_413_before_parsing(client):
    r = client.post(
        "/api/synthesize",
        content=b'{"text": "' + b"a" * 200_000 + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 413


BAD_GETS = [
    ("empty text", {"text": ""}, 422, "text"),
    ("missing text", {}, 422, "text"),
    ("too long", {"text": "b" * (MAX_CHARS + 1)}, 413, "text"),
    ("pace not a number", {"text": "hi", "pace": "abc"}, 422, "pace"),
    ("pace nan", {"text": "hi", "pace": "nan"}, 422, "pace"),
    ("pace inf", {"text": "hi", "pace": "inf"}, 422, "pace"),
    ("pitch range negative", {"text": "hi", "pitch_range": "-1"}, 422, "pitch_range"),
    ("unknown voice", {"text": "hi", "voice": "nobody"}, 400, "voice"),
    ("speaker of a single-speaker voice", {"text": "hi", "speaker": "ann"}, 400, "speaker"),
    ("unknown format", {"text": "hi", "format": "aac"}, 400, "format"),
    ("stream not a boolean", {"text": "hi", "stream": "maybe"}, 422, "stream"),
]


BAD_REQUESTS = [("POST", "/v1/audio/speech", {"json": body}, *rest) for _, body, *rest in BAD_POSTS] + [
    ("GET", "/api/tts", {"params": params}, *rest) for _, params, *rest in BAD_GETS
]


@pytest.mark.parametrize(
    ("method", "path", "request_args", "status", "param"),
    BAD_REQUESTS,
    ids=[f"POST {b[0]}" for b in BAD_POSTS] + [f"GET {b[0]}" for b in BAD_GETS],
)
def test_bad_requests_get_exact_status_codes(client, method, path, request_args, status, param):
    r = client.request(method, path, **request_args)
    assert r.status_code == status, r.text
    assert error_of(r)["param"] == param


def test_synthesize_rejects_unknown_fields(client):
    r = client.post("/api/synthesize", json={"text": "hi", "pitch": 3})
    assert r.status_code == 422
    assert error_of(r)["param"] == "pitch"


def test_unknown_path_and_method(client):
    assert client.get("/nope").status_code == 404
    r = client.get("/v1/audio/speech")
    assert r.status_code == 405
    error_of(r)


# --- API key and CORS ---------------------------------------------------------------------------------------
def test_api_key(voice_dirs):
    with (
        live(make_app(voice_dirs, api_key="s3cret")) as (url, _),
        httpx.Client(base_url=url, timeout=60) as c,
    ):
        r = c.get("/api/voices")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert error_of(r)["type"] == "authentication_error"
        assert c.get("/api/voices", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/api/voices", headers={"Authorization": "s3cret"}).status_code == 401
        r = c.post("/v1/audio/speech", content=b"{bad", headers={"Content-Type": "application/json"})
        assert r.status_code == 401  # the key is checked before the body is even read
        ok = {"Authorization": "Bearer s3cret"}
        assert c.get("/api/voices", headers=ok).status_code == 200
        assert c.get("/api/voices", headers={"Authorization": "bearer s3cret"}).status_code == 200
        assert c.post("/v1/audio/speech", json=speech(response_format="wav"), headers=ok).status_code == 200
        # the page, its assets and the health check stay open so that a browser can ask for the key
        assert c.get("/healthz").status_code == 200
        assert c.get("/").status_code == 200
        assert c.get("/static/app.js").status_code == 200


def test_cors_is_off_by_default(client):
    r = client.get("/api/voices", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in r.headers
    preflight = client.options(
        "/v1/audio/speech", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_allows_only_the_given_origin(voice_dirs):
    app = make_app(voice_dirs, cors_origins=("http://app.example",), api_key="k")
    with live(app) as (url, _), httpx.Client(base_url=url, timeout=60) as c:
        preflight = c.options(
            "/v1/audio/speech",
            headers={
                "Origin": "http://app.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "http://app.example"
        r = c.get("/api/voices", headers={"Origin": "http://app.example", "Authorization": "Bearer k"})
        assert r.headers["access-control-allow-origin"] == "http://app.example"
        r = c.get("/api/voices", headers={"Origin": "http://other.example", "Authorization": "Bearer k"})
        assert "access-control-allow-origin" not in r.headers


# --- backpressure, timeouts, streaming, shutdown ------------------------------------------------------------
@contextmanager
def blocked_voice(app, name: str = "tiny") -> Iterator[threading.Event]:
    """Make `name`'s synthesis wait for the returned event: requests pile up exactly as the test needs."""
    voice: Voice = app.state.service.voices.voices[name]
    release = threading.Event()
    real = voice.synthesize

    def synthesize(text, controls):
        release.wait(30)
        return real(text, controls)

    voice.synthesize = synthesize
    try:
        yield release
    finally:
        release.set()
        del voice.synthesize


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_full_queue_answers_503_with_retry_after(voice_dirs):
    app = make_app(voice_dirs, max_concurrency=1, queue_size=1)
    with live(app) as (url, _), httpx.Client(base_url=url, timeout=60) as c, blocked_voice(app) as release:
        body = speech(response_format="wav")
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(c.post, "/v1/audio/speech", json=body)
            wait_for(lambda: c.get("/healthz").json()["running"] == 1)
            second = pool.submit(c.post, "/v1/audio/speech", json=body)
            wait_for(lambda: c.get("/healthz").json()["waiting"] == 1)
            r = c.post("/v1/audio/speech", json=body)  # the event loop answers while the worker is stuck
            assert r.status_code == 503
            assert int(r.headers["retry-after"]) >= 1
            assert error_of(r)["type"] == "server_busy"
            release.set()
            assert first.result().status_code == 200
            assert second.result().status_code == 200
        wait_for(lambda: c.get("/healthz").json()["running"] == 0)
        assert c.post("/v1/audio/speech", json=body).status_code == 200


def test_slow_synthesis_times_out_with_504_and_frees_its_slot_later(voice_dirs):
    app = make_app(voice_dirs, max_concurrency=1, queue_size=0, timeout_s=2.0)
    with live(app) as (url, _), httpx.Client(base_url=url, timeout=60) as c:
        with blocked_voice(app) as release:
            r = c.get("/api/tts", params={"text": "Hi."})
            assert r.status_code == 504
            assert error_of(r)["type"] == "timeout"
            # the worker is still busy with the abandoned job: the slot is not handed out twice
            assert c.get("/healthz").json()["running"] == 1
            assert c.get("/api/tts", params={"text": "Hi."}).status_code == 503
            release.set()
        wait_for(lambda: c.get("/healthz").json()["running"] == 0)
        assert c.get("/api/tts", params={"text": "Hi."}).status_code == 200


def test_stream_sends_each_sentence_as_soon_as_it_is_ready(voice_dirs):
    app = make_app(voice_dirs)
    voice: Voice = app.state.service.voices.voices["tiny"]
    real_stream = voice.stream
    second_sentence = threading.Event()

    def stream(text, controls):
        for i, chunk in enumerate(real_stream(text, controls)):
            if i == 1:
                second_sentence.wait(30)
            yield chunk

    voice.stream = stream
    text = "One. Two. Three."
    with live(app) as (url, _), httpx.Client(base_url=url, timeout=60) as c:
        with c.stream("GET", "/api/tts", params={"text": text, "stream": "true"}) as r:
            assert r.status_code == 200
            assert r.headers["content-type"] == "audio/wav"
            assert "content-length" not in r.headers
            received = bytearray()
            chunks = r.iter_raw()
            while len(received) <= 44:  # header plus the first sentence, while the second is held back
                received += next(chunks)
            assert not second_sentence.is_set()
            second_sentence.set()
            for chunk in chunks:
                received += chunk
        audio, rate = decode(bytes(received))
        assert rate == 22050
        whole = decode(c.get("/api/tts", params={"text": text}).content)[0]
        assert abs(audio.size - whole.size) < 0.05 * whole.size


def test_openai_stream_of_pcm(client):
    body = speech(input="One sentence. Another sentence.", response_format="pcm", stream=True)
    with client.stream("POST", "/v1/audio/speech", json=body) as r:
        assert r.status_code == 200
        assert r.headers["content-type"] == "audio/pcm; rate=24000; channels=1; bits=16; endian=little"
        data = r.read()
    assert len(data) % 2 == 0 and len(data) > 0
    body = speech(input="One sentence. Another sentence.", stream=True)  # no format: not OpenAI's mp3
    with client.stream("POST", "/v1/audio/speech", json=body) as r:
        assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
        assert r.read()[:4] == b"RIFF"


def test_stream_errors_before_audio_get_status_codes(client):
    r = client.get("/api/tts", params={"text": TEXT, "stream": "true", "format": "mp3"})
    assert r.status_code == 400
    r = client.get("/api/tts", params={"text": TEXT, "stream": "true", "voice": "nobody"})
    assert r.status_code == 400


def test_a_bug_is_a_500_with_the_usual_error_shape(voice_dirs):
    app = make_app(voice_dirs)
    voice: Voice = app.state.service.voices.voices["tiny"]

    def broken(text, controls):
        raise RuntimeError("boom")

    voice.synthesize = broken
    with live(app) as (url, _), httpx.Client(base_url=url, timeout=60) as c:
        r = c.get("/api/tts", params={"text": TEXT})
        assert r.status_code == 500
        assert "boom" not in r.text  # internals stay in the server log
        error_of(r)
        assert c.get("/healthz").json()["running"] == 0


def refuses_connections(url: str) -> bool:
    try:
        httpx.get(f"{url}/healthz", timeout=5)
    except (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError):
        # refused, or reset: a connection the kernel queued just before the listener closed is dropped
        return True
    return False


def test_graceful_shutdown_lets_the_running_request_finish(voice_dirs):
    app = make_app(voice_dirs)
    with (
        live(app) as (url, server),
        httpx.Client(base_url=url, timeout=60) as c,
        blocked_voice(app) as release,
    ):
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(c.get, "/api/tts", params={"text": TEXT})
            wait_for(lambda: c.get("/healthz").json()["running"] == 1)
            server.should_exit = True  # what SIGTERM/SIGINT do
            wait_for(lambda: refuses_connections(url))
            assert not pending.done()
            release.set()
            r = pending.result(timeout=30)
        assert r.status_code == 200
        decode(r.content)


# --- load ---------------------------------------------------------------------------------------------------
def test_bounded_load_only_backpressure_and_still_healthy(voice_dirs):
    import asyncio

    app = make_app(voice_dirs, max_concurrency=2, queue_size=2)
    with live(app) as (url, _):
        result = asyncio.run(load_test(url, requests=24, concurrency=8, text="Hello there."))
    assert result["errors"] == 0, result["error_samples"]
    assert result["ok"] + result["busy_503"] == 24
    assert result["ok"] >= 4
    assert result["healthy_after"]
    assert 0 < result["latency_ms"]["p50"] <= result["latency_ms"]["p95"] <= result["latency_ms"]["max"]


# --- CLI ----------------------------------------------------------------------------------------------------
def test_parse_voices(tmp_path):
    (tmp_path / "slt").mkdir()
    (tmp_path / "kal").mkdir()
    assert parse_voices([]) == {"default": None}
    assert parse_voices([f"a={tmp_path / 'slt'}", str(tmp_path / "kal")]) == {
        "a": str(tmp_path / "slt"),
        "kal": str(tmp_path / "kal"),
    }
    for bad in (
        [f"a/b={tmp_path / 'slt'}"],
        [f"x={tmp_path / 'slt'}", f"x={tmp_path / 'kal'}"],
        ["y=/no/such/dir"],
    ):
        with pytest.raises(FastPitchError):
            parse_voices(bad)
    with pytest.raises(FastPitchError, match="names no folder"):
        parse_voices(["default="])  # Path("") is ".", which is a folder


def test_bench_serve_cli(voice_dirs, tmp_path):
    out = tmp_path / "serve.json"
    command = [
        *(sys.executable, "-m", "fastpitch", "bench", "serve"),
        *(
            "--voice",
            f"tiny={voice_dirs['tiny']}",
            "--requests",
            "8",
            "--concurrency",
            "4",
            "--out",
            str(out),
        ),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert result == json.loads(done.stdout)
    assert result["errors"] == 0 and result["ok"] + result["busy_503"] == 8 and result["ok"] > 0
    assert result["latency_ms"]["p50"] > 0 and result["latency_ms"]["p95"] >= result["latency_ms"]["p50"]
    assert result["healthy_after"] and result["clean_shutdown"]


def test_serve_cli_refuses_a_missing_voice_without_traceback():
    done = subprocess.run(
        [sys.executable, "-m", "fastpitch", "serve", "--voice", "x=/no/such/voice"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "voice directory not found" in done.stderr and "Traceback" not in done.stderr
