"""TTSDataset + collate give the batch dict of the brief; the sampler is deterministic and DDP-partitioned."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from fastpitch.data.features import FeatureCache, prepare
from fastpitch.data.loader import LengthBucketSampler, TTSDataset, collate, lengths_to_mask, make_dataloader
from fastpitch.errors import FastPitchError

SR = 22050
TEXTS = ["Hello world.", "A much longer sentence, with a pause in the middle.", "Yes?", "The cat sat."]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory, data_frontend) -> Path:
    """An LJSpeech-layout corpus of four tones (two speakers) with phone timings, prepared once."""
    root = tmp_path_factory.mktemp("corpus")
    for sub in ("wavs", "timings"):
        (root / sub).mkdir()
    rows, speakers = [], []
    for i, text in enumerate(TEXTS):
        uid, seconds, f0 = f"s{i}", 0.6 + 0.25 * i, (110.0, 210.0)[i % 2]
        t = np.arange(int(seconds * SR)) / SR
        wav = 0.3 * np.sin(2 * np.pi * f0 * t) * (t > 0.1)  # 0.1 s of silence, then voiced
        sf.write(root / "wavs" / f"{uid}.wav", wav.astype(np.float32), SR)
        rows.append(f"{uid}|{text}|{text}")
        speakers.append(f"{uid}|{('anna', 'bert')[i % 2]}")
        phones = ["SIL", *(["AH0", "T"] * (2 + i)), "SIL"]
        edges = np.linspace(0.0, seconds, len(phones) + 1)
        timing = [{"phone": p, "start": edges[k], "end": edges[k + 1]} for k, p in enumerate(phones)]
        (root / "timings" / f"{uid}.json").write_text(json.dumps({"id": uid, "phones": timing, "words": []}))
    (root / "metadata.csv").write_text("\n".join(rows) + "\n")
    (root / "speakers.csv").write_text("\n".join(speakers) + "\n")
    (root / "splits").mkdir()
    (root / "splits" / "val.txt").write_text("s1\ns3\nnot-prepared\n")
    return prepare(root, tmp_path_factory.mktemp("features"), frontend=data_frontend)


def test_collate_shapes_padding_and_pitch_normalisation(cache_dir, data_frontend):
    ds = TTSDataset(cache_dir, data_frontend)
    cache = ds.cache
    items = [ds[i] for i in range(len(ds))]
    batch = collate(items)
    b = len(TEXTS)
    n_max, t_max = int(batch["text_lens"].max()), int(batch["mel_lens"].max())
    assert batch["ids"] == ds.ids
    assert batch["text"].shape == (b, n_max) and batch["text"].dtype == torch.long
    assert batch["mel"].shape == (b, 80, t_max) and batch["mel"].dtype == torch.float32
    for key in ("pitch", "energy"):
        assert batch[key].shape == (b, t_max) and batch[key].dtype == torch.float32
    assert batch["voiced"].shape == (b, t_max) and batch["voiced"].dtype == torch.bool
    assert batch["speaker"].tolist() == [cache.speaker_index(i) for i in ds.ids] == [0, 1, 0, 1]
    assert "durations" not in batch
    for i, uid in enumerate(ds.ids):
        n, t = int(batch["text_lens"][i]), int(batch["mel_lens"][i])
        assert t == cache.n_frames(uid)
        expected = data_frontend.symbols.encode(data_frontend.to_symbols(cache.utterances[uid]["text"]))
        assert batch["text"][i, :n].tolist() == expected and (batch["text"][i, n:] == 0).all()
        assert (batch["mel"][i, :, t:] == 0).all() and (batch["pitch"][i, t:] == 0).all()
        assert not batch["voiced"][i, t:].any()
        feats = cache.load(uid)
        voiced = torch.from_numpy(np.array(feats["voiced"]))
        assert batch["voiced"][i, :t].equal(voiced)
        mean, std = cache.pitch_stats(cache.utterances[uid]["speaker"])
        hz = batch["pitch"][i, :t][voiced] * std + mean
        np.testing.assert_allclose(hz.numpy(), np.array(feats["f0"])[np.array(feats["voiced"])], rtol=1e-4)
        assert (batch["pitch"][i, :t][~voiced] == 0).all()
        assert abs(float(batch["pitch"][i, :t][voiced].mean())) < 0.5  # per-speaker normalisation
    mask = lengths_to_mask(batch["mel_lens"])
    assert mask.shape == (b, t_max) and mask.sum() == batch["mel_lens"].sum()


def test_external_durations_sum_to_the_mel_length(cache_dir, data_frontend):
    ds = TTSDataset(cache_dir, data_frontend, durations="external", ids=FeatureCache(cache_dir).split("val"))
    assert ds.ids == ["s1", "s3"]
    batch = collate([ds[0], ds[1]])
    assert batch["durations"].shape == batch["text"].shape and batch["durations"].dtype == torch.long
    assert batch["durations"].sum(1).tolist() == batch["mel_lens"].tolist()
    for i in range(2):
        assert (batch["durations"][i, int(batch["text_lens"][i]) :] == 0).all()


def test_external_durations_need_timings(cache_dir, data_frontend, tmp_path):
    with pytest.raises(FastPitchError, match="no usable utterances"):
        TTSDataset(cache_dir, data_frontend, durations="external", timings_dir=tmp_path)
    with pytest.raises(FastPitchError, match="durations"):
        TTSDataset(cache_dir, data_frontend, durations="guess")


def test_sampler_is_deterministic_and_respects_batch_frames():
    rng = np.random.default_rng(0)
    lengths = rng.integers(50, 400, size=300)
    sampler = LengthBucketSampler(lengths, batch_frames=2000, seed=7)
    epoch0 = list(sampler)
    assert epoch0 == list(LengthBucketSampler(lengths, batch_frames=2000, seed=7))
    assert sorted(i for batch in epoch0 for i in batch) == list(range(300))
    assert all(max(lengths[b]) * len(b) <= 2000 for b in epoch0)
    sampler.set_epoch(1)
    assert list(sampler) != epoch0
    sampler.set_epoch(0)
    assert list(sampler) == epoch0
    assert list(LengthBucketSampler(lengths, batch_frames=2000, seed=8)) != epoch0
    # buckets keep similar lengths together: little padding
    padded = sum(max(lengths[b]) * len(b) for b in epoch0)
    assert padded < 1.15 * lengths.sum()


def test_sampler_partitions_batches_across_ranks():
    lengths = np.random.default_rng(1).integers(20, 300, size=101)
    full = list(LengthBucketSampler(lengths, batch_frames=1500, seed=3, num_replicas=1))
    ranks = [
        list(LengthBucketSampler(lengths, batch_frames=1500, seed=3, num_replicas=3, rank=r))
        for r in range(3)
    ]
    assert len({len(r) for r in ranks}) == 1  # every rank steps the same number of times
    assert len(ranks[0]) == -(-len(full) // 3)
    seen = [i for r in ranks for batch in r for i in batch]
    assert set(seen) == set(range(101))
    assert sorted(map(tuple, full)) == sorted({tuple(b) for r in ranks for b in r})
    with pytest.raises(FastPitchError, match="rank"):
        LengthBucketSampler(lengths, 1500, num_replicas=2, rank=2)


def test_sampler_gives_an_overlong_utterance_its_own_batch():
    batches = list(LengthBucketSampler([100, 5000, 120], batch_frames=1000, seed=0))
    assert [1] in batches and sorted(i for b in batches for i in b) == [0, 1, 2]


def test_dataloader_iterates_batches(cache_dir, data_frontend):
    ds = TTSDataset(FeatureCache(cache_dir), data_frontend)
    loader = make_dataloader(ds, batch_frames=200, seed=0)
    seen = []
    for batch in loader:
        assert int(batch["mel"].shape[2]) * len(batch["ids"]) <= 200 or len(batch["ids"]) == 1
        seen += batch["ids"]
    assert sorted(seen) == sorted(ds.ids)
