"""`prepare` and `FeatureCache`: contents, cache key, resume, shards, atomic writes, parallel workers."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from fastpitch import audio
from fastpitch.config import AudioConfig
from fastpitch.data import features
from fastpitch.data.features import CacheError, FeatureCache, config_hash, parse_shard, prepare
from fastpitch.errors import FastPitchError

SR = 22050
SPEAKER_F0 = {"low": 120.0, "high": 220.0}


def voiced_signal(f0: float, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    vibrato = f0 * (1 + 0.02 * np.sin(2 * np.pi * 3 * t))
    phase = 2 * np.pi * np.cumsum(vibrato) / SR
    return (0.2 * sum(np.sin(k * phase) / k for k in range(1, 5))).astype(np.float32)


@pytest.fixture
def corpus(tmp_path) -> Path:
    """A filelist of six short two-speaker utterances plus one corrupt file."""
    lines = []
    for i in range(6):
        speaker = "low" if i % 2 else "high"
        name = f"u{i}.wav"
        sf.write(tmp_path / name, voiced_signal(SPEAKER_F0[speaker], 0.5 + 0.1 * i), SR)
        lines.append(f"{name}|Utterance number {i}.|{speaker}")
    (tmp_path / "broken.wav").write_bytes(b"not audio at all" * 10)
    lines.append("broken.wav|A broken file.|low")
    (tmp_path / "list.txt").write_text("\n".join(lines) + "\n")
    return tmp_path / "list.txt"


@pytest.fixture
def count_extract(monkeypatch):
    """Record the ids whose features get computed."""
    done: list[int] = []
    real = features.extract

    def counting(wav, cfg):
        done.append(len(wav))
        return real(wav, cfg)

    monkeypatch.setattr(features, "extract", counting)
    return done


def test_prepare_writes_a_complete_memory_mapped_cache(corpus, tmp_path, data_frontend):
    root = prepare(corpus, tmp_path / "feats", AudioConfig(), frontend=data_frontend)
    assert root == tmp_path / "feats" / config_hash(AudioConfig())
    cache = FeatureCache(tmp_path / "feats")
    assert cache.root == root
    assert sorted(cache.ids) == [f"u{i}" for i in range(6)]
    assert cache.speakers == ["high", "low"]
    skipped = cache.manifest["skipped"]
    assert [(s["id"], s["kind"]) for s in skipped] == [("broken", "unreadable")]

    wav, _ = audio.load_audio(tmp_path / "u3.wav", SR)
    feats = cache.load("u3")
    assert isinstance(feats["mel"], np.memmap)
    n = audio.n_frames(len(wav), AudioConfig())
    assert cache.n_frames("u3") == n
    assert feats["mel"].shape == (80, n) and feats["mel"].dtype == np.float32
    assert feats["f0"].shape == feats["voiced"].shape == feats["energy"].shape == (n,)
    assert feats["voiced"].dtype == bool
    np.testing.assert_allclose(feats["mel"], audio.mel_spectrogram_np(wav, AudioConfig()), atol=1e-5)
    assert cache.utterances["u3"]["text"] == "Utterance number 3."
    assert cache.speaker_index("u3") == 1

    for speaker, f0 in SPEAKER_F0.items():
        mean, std = cache.pitch_stats(speaker)
        assert mean == pytest.approx(f0, rel=0.02)
        assert 0.5 < std < 0.05 * f0  # the 2 % vibrato
    assert cache.stats["energy"]["count"] == sum(cache.n_frames(i) for i in cache.ids)


def test_cache_key_follows_the_config(corpus, tmp_path, data_frontend):
    out = tmp_path / "feats"
    other = AudioConfig(f0_max=500.0)
    assert config_hash(other) != config_hash(AudioConfig())
    a = prepare(corpus, out, AudioConfig(), frontend=data_frontend)
    b = prepare(corpus, out, other, frontend=data_frontend)
    assert a != b and a.parent == b.parent
    with pytest.raises(CacheError, match="exactly one"):
        FeatureCache(out)
    assert FeatureCache(out, other).root == b
    assert FeatureCache(out, other).audio == other
    with pytest.raises(CacheError) as error:
        FeatureCache(out, AudioConfig(f0_max=400.0))  # says what they were made with, not "prepare first"
    assert "f0_max=500.0 (wanted 400.0)" in str(error.value) and "f0_max=800.0 (wanted 400.0)" in str(
        error.value
    )


def test_resume_skips_finished_work_and_redoes_changed_audio(corpus, tmp_path, count_extract, data_frontend):
    out = tmp_path / "feats"
    prepare(corpus, out, frontend=data_frontend)
    assert len(count_extract) == 6
    prepare(corpus, out, frontend=data_frontend)
    assert len(count_extract) == 6
    sf.write(tmp_path / "u2.wav", voiced_signal(150.0, 0.9), SR)
    prepare(corpus, out, frontend=data_frontend)
    assert len(count_extract) == 7
    assert FeatureCache(out).n_frames("u2") == audio.n_frames(int(0.9 * SR), AudioConfig())


def test_shards_split_the_work_and_the_last_completes_the_manifest(
    corpus, tmp_path, count_extract, data_frontend
):
    out = tmp_path / "feats"
    ids = [f"u{i}" for i in range(6)]
    first = [i for i in ids if features.in_shard(i, (0, 2))]
    assert 0 < len(first) < 6
    prepare(corpus, out, shard=(0, 2), frontend=data_frontend)
    assert len(count_extract) == len(first)
    with pytest.raises(CacheError, match="incomplete"):
        FeatureCache(out)
    assert sorted(FeatureCache(out, partial=True).ids) == first
    prepare(corpus, out, shard=(1, 2), frontend=data_frontend)
    assert len(count_extract) == 6
    assert sorted(FeatureCache(out).ids) == ids


def test_parse_shard():
    assert parse_shard("1/4") == (1, 4)
    for bad in ("4/4", "x/2", "3", "-1/2"):
        with pytest.raises(FastPitchError, match="K/N"):
            parse_shard(bad)


def test_an_interrupted_run_leaves_no_half_written_file(corpus, tmp_path, monkeypatch, data_frontend):
    out = tmp_path / "feats"
    real_save = np.save
    calls = []

    def save_then_die(f, arr):
        calls.append(1)
        if len(calls) == 7:  # the middle of the second utterance
            f.write(b"\x93NUMPY half a file")
            raise KeyboardInterrupt
        real_save(f, arr)

    monkeypatch.setattr(np, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        prepare(corpus, out, frontend=data_frontend)
    monkeypatch.setattr(np, "save", real_save)
    root = out / config_hash(AudioConfig())
    assert not list(root.glob("*/.*.tmp-*")), "an interrupted write removes its temp file (a kill: test_kill)"
    finished = {p.stem for p in (root / "meta").glob("*.json")}
    assert len(finished) == 1
    for path in root.glob("*/*.npy"):
        np.load(path)  # every visible array is whole
    prepare(corpus, out, frontend=data_frontend)
    assert not list(root.glob("*/.*.tmp-*"))
    cache = FeatureCache(out)
    assert len(cache) == 6
    for uid in cache.ids:
        assert cache.load(uid)["mel"].shape[1] == cache.n_frames(uid)


def test_worker_processes_give_the_same_features(corpus, tmp_path, data_frontend):
    one = FeatureCache(prepare(corpus, tmp_path / "a", workers=1, frontend=data_frontend))
    two = FeatureCache(prepare(corpus, tmp_path / "b", workers=2, frontend=data_frontend))
    assert sorted(one.ids) == sorted(two.ids)
    for uid in one.ids:
        for name, arr in one.load(uid).items():
            np.testing.assert_array_equal(arr, two.load(uid)[name])
    assert one.stats == two.stats


def test_prepare_command(corpus, tmp_path):
    import subprocess
    import sys

    args = [
        sys.executable,
        "-m",
        "fastpitch",
        "prepare",
        str(corpus),
        "--out",
        str(tmp_path / "f"),
        "--workers",
        "1",
    ]
    out = subprocess.run([*args, "--set", "audio.f0_max=600"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    root = Path(out.stdout.strip().splitlines()[-1])
    assert root.name == config_hash(AudioConfig(f0_max=600.0))
    assert len(FeatureCache(root)) == 6
    assert "skipped 1 × unreadable" in out.stderr
    bad = subprocess.run([*args, "--shard", "2/2"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "K/N" in bad.stderr and "Traceback" not in bad.stderr


def test_a_missing_package_stops_prepare_before_any_file(corpus, tmp_path, monkeypatch, data_frontend):
    from fastpitch.errors import MissingDependency

    def no_pyworld():
        raise ModuleNotFoundError("No module named 'pyworld'", name="pyworld")

    monkeypatch.setattr(audio, "load_pyworld", no_pyworld)
    with pytest.raises(MissingDependency, match=r"pip install 'fastpitch\[train\]'"):
        prepare(corpus, tmp_path / "feats", AudioConfig(), frontend=data_frontend)
    assert not list((tmp_path / "feats").rglob("*.json"))  # nothing recorded as a bad utterance
