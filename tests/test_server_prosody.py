"""The prosody endpoints: /api/synthesize answers with the prosody document, /api/prosody speaks an edited one,
/api/like says a text like a recording; bad documents and recordings are 422 with the reason."""

from __future__ import annotations

import base64
import copy
import io

import httpx
import numpy as np
import pytest
import soundfile as sf

from fastpitch.server import create_app
from test_server import live

TEXT = "Hello there, my friend."


@pytest.fixture(scope="module")
def client(tmp_path_factory, synth_make_voice):
    voice = synth_make_voice(tmp_path_factory.mktemp("prosody-voice") / "tiny")
    with (
        live(create_app({"tiny": voice.path}, max_chars=400)) as (url, _),
        httpx.Client(base_url=url, timeout=120) as http,
    ):
        yield http


def wav_of(answer: dict) -> np.ndarray:
    audio, _ = sf.read(io.BytesIO(base64.b64decode(answer["audio_wav_base64"])), dtype="int16")
    return audio


def test_synthesize_answers_with_the_document_and_prosody_replays_it(client):
    first = client.post("/api/synthesize", json={"text": TEXT, "pitch_shift": 2.0}).json()
    doc = first["prosody"]
    assert doc["format"] == "fastpitch-prosody" and doc["settings"]["pitch_shift"] == 2.0
    again = client.post("/api/prosody", json={"prosody": doc}).json()
    assert np.array_equal(wav_of(again), wav_of(first))
    longer = copy.deepcopy(doc)
    for sp in longer["sentences"][0]["symbols"]:
        if sp["word"] == 1:
            sp["frames"], sp["ms"] = 2 * sp["frames"], None
    edited = client.post("/api/prosody", json={"prosody": longer}).json()
    added = sum(sp["frames"] for sp in doc["sentences"][0]["symbols"] if sp["word"] == 1)
    assert edited["mel"]["n_frames"] == first["mel"]["n_frames"] + added


def test_a_bad_document_is_a_422_naming_the_symbol_and_field(client):
    doc = client.post("/api/synthesize", json={"text": TEXT}).json()["prosody"]
    doc["sentences"][0]["symbols"][2]["frames"] = 100000
    answer = client.post("/api/prosody", json={"prosody": doc})
    assert answer.status_code == 422
    assert (
        "sentence 1, symbol 3 'AH0': 'frames' must be between 0 and 861 (10 s)"
        in answer.json()["error"]["message"]
    )


def test_a_long_document_fits_the_body_limit_of_its_endpoint(client):
    """A document is far larger than its text: its endpoint takes more than the text limit allows."""
    text = "7777777, " * 40  # each number is read as some sixty symbols
    doc = client.post("/api/synthesize", json={"text": text}).json()["prosody"]
    body = {"prosody": doc, "voice": "tiny"}
    assert len(httpx.Request("POST", "http://x", json=body).content) > 6 * 400 + 65536  # the text limit
    assert client.post("/api/prosody", json=body).status_code == 200


def test_like_takes_no_controls_it_would_ignore(client):
    answer = client.post("/api/like", json={"text": TEXT, "audio_base64": "bm90IGF1ZGlv", "energy": 2.0})
    assert answer.status_code == 422 and "energy" in answer.text


@pytest.mark.parametrize(
    "audio, message",
    [
        ("bm90IGF1ZGlv", "audio_base64 is not a readable audio file (WAV, FLAC, OGG)"),
        ("not base64!", "audio_base64 is not base64"),
        (None, "cannot align the recording to its text"),
    ],
    ids=["not audio", "not base64", "noise"],
)
def test_like_refuses_what_it_cannot_use(client, audio, message):
    if audio is None:
        buffer = io.BytesIO()
        noise = np.random.default_rng(0).standard_normal(22050 * 2).astype(np.float32) * 0.1
        sf.write(buffer, noise, 22050, format="WAV")
        audio = base64.b64encode(buffer.getvalue()).decode()
    answer = client.post("/api/like", json={"text": TEXT, "audio_base64": audio})
    assert answer.status_code == 422
    assert message in answer.json()["error"]["message"]
    assert "object at 0x" not in answer.json()["error"]["message"]  # nothing of the server's insides


def test_a_prosody_document_is_held_to_the_servers_text_limit(client):
    doc = client.post("/api/synthesize", json={"text": TEXT}).json()["prosody"]
    long = copy.deepcopy(doc)
    long["text"] = " ".join([TEXT] * 20)  # 479 characters against the server's 400
    long["sentences"] = [copy.deepcopy(s) for s in doc["sentences"] for _ in range(20)]
    r = client.post("/api/prosody", json={"prosody": long})
    assert r.status_code == 413 and r.json()["error"]["param"] == "prosody.text"
    hidden = copy.deepcopy(long)
    hidden["text"] = TEXT  # a short text cannot carry long sentences past the limit: they are not its own
    r = client.post("/api/prosody", json={"prosody": hidden})
    assert r.status_code == 422 and "sentences" in r.json()["error"]["message"]
