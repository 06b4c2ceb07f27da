"""`fastpitch train-vocoder`: a few steps on two short WAVs made here, checkpoint, exact resume, fine-tuning."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from fastpitch.audio import mel_spectrogram_np
from fastpitch.cli import app
from fastpitch.config import AudioConfig
from fastpitch.errors import FastPitchError
from fastpitch.vocoders import load_vocoder
from fastpitch.vocoders.train import SegmentSampler, dataset_items, make_config, stft_loss, train_vocoder

pytestmark = pytest.mark.usefixtures("vocoder_single_thread")

TINY = [
    "model.dim=16",
    "model.intermediate_dim=32",
    "model.n_layers=1",
    "train.batch_size=2",
    "train.segment_frames=8",
    "train.log_every=1",
    "train.val_every=2",
    "train.checkpoint_every=2",
    "train.val_utterances=1",
]


@pytest.fixture(scope="module")
def vocoder_corpus(tmp_path_factory):
    """Two short harmonic 'utterances' in the LJSpeech layout."""
    root = tmp_path_factory.mktemp("vocoder_corpus")
    (root / "wavs").mkdir()
    t = np.arange(int(0.6 * 22050)) / 22050
    lines = []
    for i, f0 in enumerate((130.0, 220.0)):
        wav = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 8)) * 0.2
        sf.write(root / "wavs" / f"utt{i}.wav", wav.astype(np.float32), 22050)
        lines.append(f"utt{i}|tone {i}|tone {i}")
    (root / "metadata.csv").write_text("\n".join(lines) + "\n")
    return root


def _weights(run_dir, step):
    from safetensors.torch import load_file

    return load_file(str(run_dir / f"step-{step:07d}.safetensors"))


def test_segments_have_the_whole_utterance_mel(vocoder_corpus):
    cfg = AudioConfig()
    items = dataset_items(vocoder_corpus, "train", cfg)
    sampler = SegmentSampler(items[:1], cfg, segment_frames=8, seed=0)
    audio, mel = sampler.sample(3)
    assert audio.shape == (3, 8 * 256) and mel.shape == (3, 80, 8)
    full = mel_spectrogram_np(sf.read(items[0].path, dtype="float32")[0], cfg)
    for b in range(3):
        starts = [
            s for s in range(full.shape[1] - 7) if np.allclose(full[:, s : s + 8], mel[b].numpy(), atol=1e-4)
        ]
        assert starts, "a training mel segment must equal the utterance's mel at some offset"
        wav = sf.read(items[0].path, dtype="float32")[0]
        np.testing.assert_allclose(audio[b].numpy(), wav[starts[0] * 256 : (starts[0] + 8) * 256], atol=1e-6)


def test_stft_loss_is_zero_for_identical_audio_and_positive_otherwise():
    x = torch.randn(2, 4096)
    assert float(stft_loss(x, x)) < 1e-6
    assert float(stft_loss(x, 0.5 * x)) > 0.1


def test_train_checkpoint_and_exact_resume(vocoder_corpus, tmp_path):
    straight = train_vocoder(vocoder_corpus, tmp_path / "straight", "istft", TINY, max_steps=4)
    assert straight.step == 4 and straight.checkpoint.name == "step-0000004.json"
    assert (tmp_path / "straight" / "step-0000002.json").is_file()
    assert (tmp_path / "straight" / "samples").is_dir()
    assert np.isfinite(straight.val_mel_l1)

    train_vocoder(vocoder_corpus, tmp_path / "split", "istft", TINY, max_steps=2)
    with pytest.raises(FastPitchError, match="--resume"):
        train_vocoder(vocoder_corpus, tmp_path / "split", "istft", TINY, max_steps=4)
    resumed = train_vocoder(vocoder_corpus, tmp_path / "split", resume=True, max_steps=4)
    assert resumed.step == 4
    a, b = _weights(tmp_path / "straight", 4), _weights(tmp_path / "split", 4)
    assert a.keys() == b.keys() and any(k.startswith("optim_g.") for k in a)
    for key in a:
        assert torch.equal(a[key], b[key]), key

    vocoder = load_vocoder(tmp_path / "split", AudioConfig())
    assert vocoder.arch == "istft" and vocoder.config.dim == 16
    assert vocoder(torch.zeros(1, 80, 5) - 5).shape == (1, 5 * 256)


def test_adversarial_hifigan_and_finetuning_on_given_mels(vocoder_corpus, tmp_path):
    mels = tmp_path / "mels"
    mels.mkdir()
    for wav_path in sorted((vocoder_corpus / "wavs").glob("*.wav")):
        mel = mel_spectrogram_np(sf.read(wav_path, dtype="float32")[0], AudioConfig())
        np.save(mels / f"{wav_path.stem}.npy", mel + 0.05)  # "predicted": slightly off the real mel
    overrides = [
        *[o for o in TINY if not o.startswith("model.")],
        "model.upsample_initial_channel=16",
        "train.segment_frames=4",
        "train.disc_width=0.02",
    ]
    result = train_vocoder(
        vocoder_corpus, tmp_path / "hifi", "hifigan-v3", overrides, finetune_mels=mels, max_steps=2
    )
    meta = json.loads(result.checkpoint.read_text())
    assert meta["arch"] == "hifigan" and meta["train"]["adversarial"] and meta["provenance"]["finetune_mels"]
    weights = _weights(tmp_path / "hifi", 2)
    assert any(k.startswith("mpd.") for k in weights) and any(k.startswith("optim_d.") for k in weights)

    # fine-tune a copy of it from its weights (--init), on the same given mels
    no_model = [o for o in overrides if not o.startswith("model.")] + ["train.adversarial=false"]
    ft = train_vocoder(
        vocoder_corpus, tmp_path / "ft", overrides=no_model, init=tmp_path / "hifi", max_steps=1
    )
    meta = json.loads(ft.checkpoint.read_text())
    assert (meta["name"], meta["model"]["upsample_initial_channel"]) == ("hifigan-v3", 16)  # from the init


def test_cli_train_vocoder_and_config_errors(vocoder_corpus, tmp_path):
    args = [
        "train-vocoder",
        "--dataset",
        str(vocoder_corpus),
        "--out",
        str(tmp_path / "run"),
        "--max-steps",
        "1",
    ]
    result = CliRunner().invoke(app, [*args, *[x for o in TINY for x in ("--set", o)], "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "step-0000001.json").is_file()
    with pytest.raises(FastPitchError, match=r"model\.X"):
        make_config("istft", ["dim=3"])
    with pytest.raises(FastPitchError, match="unknown"):
        make_config("istft", ["model.width=3"])
    with pytest.raises(FastPitchError, match="unknown vocoder"):
        make_config("wavernn")
