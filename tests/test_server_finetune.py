"""Fine-tuning through the server: a zip of clips in, a job polled to the end, the voice served; the API key,
bad archives and name clashes refused."""

from __future__ import annotations

import io
import time
import zipfile

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from fastpitch.server.app import build_app
from fastpitch.server.finetune import FinetuneJobs
from fastpitch.server.service import Service, Settings
from fastpitch.server.voices import VoiceSet

KEY = "s3cret"
AUTH = {"Authorization": f"Bearer {KEY}"}
TEXTS = [
    "The cat sat on the mat.",
    "A quick brown fox jumps.",
    "She sells sea shells.",
    "Rain falls in spring.",
]


def _zip_of_clips(n: int = 12, folder: str = "my clips/") -> bytes:
    buf = io.BytesIO()
    sr = 16000
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(n):
            t = np.arange(int((2.0 + 0.1 * i) * sr)) / sr
            phase = 2 * np.pi * np.cumsum(120 + 20 * np.sin(2 * np.pi * 0.7 * t)) / sr
            wav = (0.3 * sum(np.sin(k * phase) / k for k in range(1, 5))).astype(np.float32)
            audio = io.BytesIO()
            sf.write(audio, wav, sr, format="WAV", subtype="PCM_16")
            zf.writestr(f"{folder}clip{i:02d}.wav", audio.getvalue())
            zf.writestr(f"{folder}clip{i:02d}.txt", TEXTS[i % len(TEXTS)])
        zf.writestr("README.md", "not data")
    return buf.getvalue()


@pytest.fixture(scope="module")
def client(tmp_path_factory, synth_make_voice):
    root = tmp_path_factory.mktemp("server-ft")
    base = synth_make_voice(root / "base", vocoder="istft").path
    voices = VoiceSet({"tiny": base})
    plan = {"align_steps": 2, "acoustic_steps": 2, "vocoder_steps": 2, "batch_frames": 600}
    jobs = FinetuneJobs(root / "jobs", voices, base=base, plan=plan, evaluate=False)
    app = build_app(Service(voices, Settings(max_chars=400), jobs), api_key=KEY)
    with TestClient(app) as c:
        yield c


def test_a_job_trains_in_the_background_and_its_voice_is_served(client):
    r = client.post("/api/finetune", params={"name": "mine"}, content=_zip_of_clips(), headers=AUTH)
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] in ("queued", "running") and job["name"] == "mine"

    deadline = time.monotonic() + 600
    while job["status"] not in ("done", "failed"):
        assert time.monotonic() < deadline, job
        time.sleep(0.5)
        job = client.get(f"/api/finetune/{job['id']}", headers=AUTH).json()
    assert job["status"] == "done", job["error"]
    assert job["progress"] == 1.0 and job["eta_seconds"] == 0
    assert any("rough" in w for w in job["warnings"])

    names = [v["name"] for v in client.get("/api/voices", headers=AUTH).json()["voices"]]
    assert names == ["tiny", "mine"]
    r = client.get("/api/tts", params={"text": "Hello.", "voice": "mine"}, headers=AUTH)
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    listed = client.get("/api/finetune", headers=AUTH).json()["jobs"]
    assert [j["id"] for j in listed] == [job["id"]]

    clash = client.post("/api/finetune", params={"name": "mine"}, content=_zip_of_clips(2), headers=AUTH)
    assert clash.status_code == 409


def test_the_api_key_bad_archives_and_bad_names_are_refused(client):
    assert client.post("/api/finetune", params={"name": "x"}, content=_zip_of_clips(2)).status_code == 401
    assert client.get("/api/finetune/nope", headers=AUTH).status_code == 404
    bad = client.post("/api/finetune", params={"name": "x"}, content=b"not a zip", headers=AUTH)
    assert bad.status_code == 400 and "not a zip" in bad.json()["error"]["message"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("../evil.wav", b"RIFF")
    escape = client.post("/api/finetune", params={"name": "x"}, content=buf.getvalue(), headers=AUTH)
    assert escape.status_code == 400 and "unsafe path" in escape.json()["error"]["message"]
    named = client.post("/api/finetune", params={"name": "../x"}, content=_zip_of_clips(2), headers=AUTH)
    assert named.status_code == 400


def test_fine_tuning_is_off_without_a_directory(synth_make_voice, tmp_path):
    voices = VoiceSet({"tiny": synth_make_voice(tmp_path / "v").path})
    with TestClient(build_app(Service(voices, Settings()))) as c:
        r = c.post("/api/finetune", params={"name": "x"}, content=b"zip")
    assert r.status_code == 404 and "--finetune-dir" in r.json()["error"]["message"]


def test_a_refused_upload_leaves_nothing_on_disk_and_a_missing_name_is_named(client):
    jobs = client.app.state.service.finetune.root
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a/notes.txt", b"\0" * (1 << 20))  # unpacked first, then no clips: refused
    before = set(jobs.iterdir())
    r = client.post("/api/finetune", params={"name": "empty"}, content=buf.getvalue(), headers=AUTH)
    assert r.status_code == 400 and "no audio" in r.json()["error"]["message"]
    assert set(jobs.iterdir()) == before
    r = client.post(
        "/api/finetune", content=_zip_of_clips(2), headers={**AUTH, "Content-Type": "application/zip"}
    )
    assert r.status_code == 422 and r.json()["error"]["param"] == "name"
    for budget in ("nan", "inf", "-1"):
        r = client.post(
            "/api/finetune", params={"name": "b", "minutes_budget": budget}, content=b"x", headers=AUTH
        )
        assert r.status_code == 400 and r.json()["error"]["param"] == "minutes_budget", (
            budget,
            r.text,
        )
