"""SSML and timestamps over HTTP: the OpenAI endpoint, /api/tts, streaming, the schema and the page."""

import base64
import io
import json

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from fastpitch.server.app import create_app

DOC = '<speak>Hello <break time="400ms"/> there <mark name="m"/>friend.</speak>'


@pytest.fixture(scope="module")
def client(tmp_path_factory, synth_make_voice):
    voice = synth_make_voice(tmp_path_factory.mktemp("server-ssml") / "tiny").path
    with TestClient(create_app({"tiny": voice})) as c:
        yield c


def test_openai_endpoint_speaks_ssml_with_word_timestamps(client):
    body = {
        "model": "fastpitch",
        "input": DOC,
        "voice": "tiny",
        "response_format": "wav",
        "timestamps": "word",
    }
    r = client.post("/v1/audio/speech", json=body)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    data = r.json()
    audio, rate = sf.read(io.BytesIO(base64.b64decode(data["audio_base64"])), dtype="float32")
    assert rate == data["sample_rate"] and len(audio) / rate == pytest.approx(data["duration"], abs=1e-3)
    assert [w["text"] for w in data["words"]] == ["Hello", "there", "friend"]
    assert data["words"][1]["start"] - data["words"][0]["end"] >= 0.38  # an untrained voice's noise may add
    assert [m["text"] for m in data["marks"]] == ["m"] and "phones" not in data


def test_get_tts_reads_ssml_and_phone_timestamps(client):
    r = client.get("/api/tts", params={"text": DOC, "timestamps": "phone"})
    data = r.json()
    assert r.status_code == 200 and data["format"] == "wav" and data["phones"][0]["text"] == "HH"
    plain = client.get("/api/tts", params={"text": DOC, "ssml": "false"})
    ssml = client.get("/api/tts", params={"text": DOC})
    assert plain.status_code == ssml.status_code == 200 and plain.content != ssml.content


def test_streaming_with_timestamps_is_ndjson_per_sentence(client):
    text = "<speak>First sentence. Second one here.</speak>"
    body = {"input": text, "voice": "tiny", "response_format": "pcm", "stream": True, "timestamps": "word"}
    r = client.post("/v1/audio/speech", json=body)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert [w["text"] for line in lines for w in line["words"]] == [
        "First",
        "sentence",
        "Second",
        "one",
        "here",
    ]
    assert lines[1]["start"] > 0 and lines[1]["words"][0]["start"] >= lines[1]["start"]
    samples = np.frombuffer(base64.b64decode(lines[0]["audio_base64"]), dtype="<i2")
    assert len(samples) / lines[0]["sample_rate"] == pytest.approx(lines[1]["start"], abs=1e-3)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("<speak>Hello <break></speak>", "line 1, column"),
        ("{HH XX}", "XX"),
        ("<!DOCTYPE x []><speak/>", "refused"),
    ],
)
def test_bad_markup_is_a_422_that_says_why(client, text, needle):
    r = client.get("/api/tts", params={"text": text})
    assert r.status_code == 422 and needle in r.json()["error"]["message"]


def test_schema_documents_ssml_and_timestamps(client):
    schema = client.get("/openapi.json").json()
    speech = schema["paths"]["/v1/audio/speech"]["post"]
    assert "application/json" in speech["responses"]["200"]["content"]
    params = {p["name"] for p in schema["paths"]["/api/tts"]["get"]["parameters"]}
    assert {"ssml", "timestamps"} <= params


def test_page_sends_ssml_and_highlights_words(client):
    page = client.get("/").text
    script = client.get("/static/app.js").text
    assert 'id="ssml"' in page and 'id="words"' in page
    assert "ssml:" in script and "highlightWord" in script
    data = client.post("/api/synthesize", json={"text": DOC, "ssml": True}).json()
    assert [w["text"] for w in data["words"]] == ["Hello", "there", "friend"]


def test_an_unknown_voice_anywhere_in_a_streamed_document_is_refused_before_any_audio(client):
    doc = '<speak><s>Hello there.</s><s>Then <voice name="zed">bad</voice></s></speak>'
    r = client.post("/v1/audio/speech", json={"input": doc, "response_format": "wav", "stream": True})
    assert r.status_code == 422 and "zed" in r.json()["error"]["message"]
