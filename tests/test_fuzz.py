"""Property-based fuzzing (issue 21, part 1): arbitrary text through the frontend, both synthesizers and every
HTTP endpoint. Each input is spoken or refused with a clear error: never a crash, a 500 or non-finite audio.
Short here (seconds each); `fastpitch bench fuzz --n 10000` is the long run."""

from __future__ import annotations

import json
import random

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastpitch.bench.fuzz import check_audio, fuzz_one, hostile_text, run_fuzz
from fastpitch.config import TextConfig
from fastpitch.errors import FastPitchError
from fastpitch.text import TextFrontend

# Every plane, lone surrogates (Cs) included; biased towards the characters that break text code.
CHARS = st.one_of(
    st.characters(codec=None, categories=None),
    st.characters(categories=["Mn", "Me", "Cc", "Cf", "Cs", "Zl", "Zp", "Nd", "No", "Nl", "P", "S"]),
    st.sampled_from(list("0123456789.,$%-:/ ")),
)
TEXTS = st.one_of(
    st.text(CHARS, max_size=80),
    st.builds(hostile_text, st.randoms(use_true_random=False)).map(lambda t: t[:300]),
    st.builds(
        lambda d, n: d * n, st.sampled_from(["9", "1,", ".", "!?", "$", "a", "é\u0301"]), st.integers(1, 150)
    ),
)
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)


@pytest.fixture(scope="module")
def frontend():
    return TextFrontend(TextConfig())


@FUZZ
@given(text=TEXTS)
def test_frontend_reads_anything_or_refuses_clearly(frontend, text):
    try:
        normalized = frontend.normalize(text)
        ids = frontend.encode(text)
    except FastPitchError:
        return
    assert isinstance(normalized, str)
    assert ids and all(0 < i < len(frontend.symbols) for i in ids)
    frontend.split_sentences(text)


@pytest.fixture(scope="module")
def engines(synth_onnx_voice):
    from fastpitch.runtime import OnnxSynthesizer
    from fastpitch.synthesis import Synthesizer

    return {
        "torch": Synthesizer.load(synth_onnx_voice, max_chars=200),
        "onnx": OnnxSynthesizer.load(synth_onnx_voice, max_chars=200),
    }


@pytest.mark.parametrize("engine", ["torch", "onnx"])
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(text=TEXTS)
def test_synthesizers_speak_anything_or_refuse_clearly(engines, engine, text):
    assert fuzz_one(engines[engine], text) in ("spoken", "refused")


def test_streaming_and_over_long_text(engines):
    tts = engines["onnx"]
    with pytest.raises(FastPitchError, match="at most 200"):
        tts.synthesize("9" * 201)
    for chunk in tts.stream("Hello. " + "\u0301" * 50 + " 12345678901234567890. Done."):
        check_audio(chunk) if chunk.size else None


def test_run_fuzz_counts_and_reports(engines):
    result = run_fuzz(engines["onnx"], n=20, seed=3)
    assert result["crashes"] == 0, result["crash_samples"]
    assert result["hangs"] == 0
    assert result["spoken"] + result["refused"] == 20 and result["spoken"] > 0
    assert len(result["slowest"]) == 5 and result["slowest"][0]["cpu_s"] >= result["slowest"][-1]["cpu_s"]


def test_run_fuzz_reports_a_crash():
    class Broken:
        frontend = TextFrontend(TextConfig())

        def synthesize(self, text):
            if "a" in text:
                raise KeyError("boom")
            return np.zeros(10, np.float32), 22050

    result = run_fuzz(Broken(), n=30, seed=1)
    assert result["crashes"] > 0 and "KeyError" in result["crash_samples"][0]["error"]


# --- HTTP ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def http(tmp_path_factory, synth_make_voice):
    from fastapi.testclient import TestClient

    from fastpitch.server import create_app

    voice = synth_make_voice(
        tmp_path_factory.mktemp("fuzz") / "v", vocoder="istft", speakers=("ann", "bob")
    ).path
    with TestClient(create_app({"tiny": voice}, max_chars=MAX_CHARS, timeout_s=30)) as client:
        yield client


MAX_CHARS = 100
# The statuses a bad request may get; a 500 (or anything else) is a bug.
CLIENT_ERRORS = {400, 404, 405, 413, 415, 422}
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats()
    | st.text(CHARS, max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)
FIELDS = ["model", "input", "voice", "response_format", "speed", "stream", "text", "speaker", "pace"]
FIELDS += ["pitch_shift", "pitch_range", "energy"]
BODIES = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES, max_size=6),
    st.fixed_dictionaries(
        {"input": TEXTS, "text": TEXTS},
        optional={"voice": JSON_VALUES, "speaker": JSON_VALUES, "speed": JSON_VALUES, "pace": JSON_VALUES},
    ),
    JSON_VALUES,
)


def _assert_well_answered(response: httpx.Response) -> None:
    assert response.status_code == 200 or response.status_code in CLIENT_ERRORS, (
        response.status_code,
        response.text[:300],
    )
    if response.status_code != 200:
        error = response.json()["error"]
        assert error["code"] == response.status_code and isinstance(error["message"], str)


HTTP_FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)


JSON_PATHS = ["/v1/audio/speech", "/api/synthesize", "/api/prosody", "/api/like"]


@pytest.mark.parametrize("path", JSON_PATHS)
@HTTP_FUZZ
@given(body=BODIES)
def test_json_endpoints_answer_any_body(http, path, body):
    if isinstance(body, dict) and body.get("response_format") not in (None, "wav"):
        body = {**body, "response_format": "wav"}  # the mp3/opus encoders are slow here, not what is fuzzed
    raw = json.dumps(body, allow_nan=True)
    _assert_well_answered(http.post(path, content=raw, headers={"Content-Type": "application/json"}))


@pytest.mark.parametrize("path", JSON_PATHS)
@HTTP_FUZZ
@given(
    raw=st.binary(max_size=200)
    | st.text(CHARS, max_size=100).map(lambda t: t.encode("utf-8", "surrogatepass"))
)
def test_json_endpoints_answer_any_bytes(http, path, raw):
    _assert_well_answered(http.post(path, content=raw, headers={"Content-Type": "application/json"}))


@pytest.fixture(scope="module")
def prosody_document(http):
    return http.post("/api/synthesize", json={"text": "Hi, there."}).json()["prosody"]


DOCUMENT_KEYS = ["format", "version", "symbol_table", "speaker", "sample_rate", "settings", "ssml", "text"]
SYMBOL_KEYS = ["symbol", "word", "frames", "ms", "pitch", "energy"]


@HTTP_FUZZ
@given(
    key=st.sampled_from(DOCUMENT_KEYS + SYMBOL_KEYS + ["pause_frames", "words", "symbols", "sentences"]),
    value=JSON_VALUES,
    index=st.integers(0, 12),
)
def test_prosody_answers_any_edit_of_a_document(http, prosody_document, key, value, index):
    """One value of a real prosody document replaced by anything: spoken, or refused as the client's error."""
    doc = json.loads(json.dumps(prosody_document))
    sentence = doc["sentences"][0]
    if key in SYMBOL_KEYS:
        sentence["symbols"][index % len(sentence["symbols"])][key] = value
    elif key in ("pause_frames", "words", "symbols"):
        sentence[key] = value
    else:
        doc[key] = value
    raw = json.dumps({"prosody": doc}, allow_nan=True)
    _assert_well_answered(
        http.post("/api/prosody", content=raw, headers={"Content-Type": "application/json"})
    )


@HTTP_FUZZ
@given(params=st.dictionaries(st.sampled_from([*FIELDS, "format"]), st.text(CHARS, max_size=60), max_size=6))
def test_get_tts_answers_any_query(http, params):
    if params.get("format") not in (None, "wav", "pcm"):
        params["format"] = "wav"
    safe = {k: v.encode("utf-8", "surrogatepass").decode("utf-8", "replace") for k, v in params.items()}
    _assert_well_answered(http.get("/api/tts", params=safe))


@pytest.mark.parametrize(
    "raw",
    [
        b'{"input": "\\ud800 hello"}',  # a lone surrogate escaped in JSON
        b'{"input": "\\udfff\\ud800"}',
        b'{"input": "a\\u0000b"}',
        b'{"input": "' + b"9" * MAX_CHARS + b'"}',
        b'{"input": "' + b"9" * (MAX_CHARS + 1) + b'"}',
        b'{"input": "hi", "speed": 1e999}',
        b'{"input": "hi", "speed": ' + b"9" * 5000 + b"}",
        b'{"input": "hi", "speaker": "' + b"x" * 10000 + b'"}',
        b'{"input": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b"\xff\xfe{}",
    ],
)
def test_json_edge_cases(http, raw):
    _assert_well_answered(
        http.post("/v1/audio/speech", content=raw, headers={"Content-Type": "application/json"})
    )


def test_hostile_texts_through_http(http):
    rng = random.Random(5)
    statuses = set()
    for _ in range(25):
        body = json.dumps({"input": hostile_text(rng), "response_format": "wav"})  # lone surrogates as \udxxx
        response = http.post("/v1/audio/speech", content=body, headers={"Content-Type": "application/json"})
        _assert_well_answered(response)
        statuses.add(response.status_code)
    assert 200 in statuses and 413 in statuses


def test_run_fuzz_tells_work_from_waiting():
    """A hang is an input that burns CPU past `hang_s` or waits past `stuck_s`; one that only waits less than
    `stuck_s` (a busy machine) is slow in wall time, not a hang."""
    import time

    class Slow:
        frontend = TextFrontend(TextConfig())

        def synthesize(self, text):
            if len(text) % 3 == 0:
                end = time.process_time() + 0.15
                while time.process_time() < end:
                    pass
            elif len(text) % 3 == 1:
                time.sleep(0.12)
            return np.zeros(10, np.float32), 22050

    rng_texts = run_fuzz(Slow(), n=12, seed=5, hang_s=0.1, stuck_s=5.0)
    burned = sum(1 for s in rng_texts["slowest"] if s["cpu_s"] > 0.1)
    assert rng_texts["hangs"] >= 1 and all("CPU s" in h["why"] for h in rng_texts["hang_samples"])
    assert burned >= 1 and rng_texts["over_hang_limit_wall"] >= rng_texts["hangs"]

    class Stuck:
        frontend = TextFrontend(TextConfig())

        def synthesize(self, text):
            time.sleep(0.5)
            return np.zeros(10, np.float32), 22050

    stuck = run_fuzz(Stuck(), n=2, seed=5, hang_s=10.0, stuck_s=0.2)
    assert stuck["hangs"] == 2 and "still running" in stuck["hang_samples"][0]["why"]
