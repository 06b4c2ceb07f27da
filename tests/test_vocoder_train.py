"""`fastpitch train-vocoder`: a few steps on two short WAVs made here, checkpoint, exact resume, fine-tuning."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from fastpitch.audio import mel_spectrogram_np
from fastpitch.cli import app
from fastpitch.config import AudioConfig
from fastpitch.errors import FastPitchError
from fastpitch.train.segments import SegmentSampler, dataset_items
from fastpitch.train.vocoder import make_config, phase_loss, stft_loss, train_vocoder
from fastpitch.vocoders import load_vocoder

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


def test_pitch_augmented_segments_are_resampled_with_their_own_mels(vocoder_corpus):
    cfg = AudioConfig()
    items = [i for i in dataset_items(vocoder_corpus, "train", cfg) if i.id == "utt1"]  # the 220 Hz tone
    sampler = SegmentSampler(items, cfg, segment_frames=32, seed=0, pitch_augment=1.0, semitones=4.0)
    audio, mel = sampler.sample(4)
    assert audio.shape == (4, 32 * 256) and mel.shape == (4, 80, 32)
    window = np.hanning(audio.shape[1])
    found = []
    for b in range(4):
        spectrum = np.abs(np.fft.rfft(audio[b].numpy() * window, 8 * audio.shape[1]))
        f0 = np.argmax(spectrum) * cfg.sample_rate / (8 * audio.shape[1])
        found.append(f0)
        assert 220 * 2 ** (-4 / 12) - 3 < f0 < 220 * 2 ** (4 / 12) + 3
        inner = mel_spectrogram_np(audio[b].numpy(), cfg)[:, 4:-4]  # away from the segment's edges
        np.testing.assert_allclose(mel[b].numpy()[:, 4 : 4 + inner.shape[1]], inner, atol=0.05)
    assert max(abs(f - 220) for f in found) > 5  # shifted, not the tone as recorded
    plain = SegmentSampler(items, cfg, segment_frames=32, seed=0)
    again = SegmentSampler(items, cfg, segment_frames=32, seed=0, pitch_augment=0.0)
    for x, y in zip(plain.sample(2), again.sample(2), strict=True):
        assert torch.equal(x, y)  # off, the draws are those of a sampler without the option


def test_stft_loss_is_zero_for_identical_audio_and_positive_otherwise():
    x = torch.randn(2, 4096)
    assert float(stft_loss(x, x)) < 1e-6
    assert float(stft_loss(x, 0.5 * x)) > 0.1


def test_phase_loss_ignores_a_time_shift_and_sees_a_frame_rate_hum():
    """What the phase loss is for: a recording shifted in time has the same phase structure (the mel cannot say
    where the waveform starts), the same one beating at the frame rate (an iSTFT vocoder's hum) has not."""
    t = torch.arange(16384) / 22050
    x = sum(torch.sin(2 * torch.pi * k * 110 * t + k) / k for k in range(1, 6))[None]
    assert float(phase_loss(x, x, AudioConfig())) < 1e-3
    shifted = float(phase_loss(x, torch.roll(x, 37, dims=1), AudioConfig()))
    hum = float(phase_loss(x, x * (1 + 0.5 * torch.sin(2 * torch.pi * 22050 / 256 * t)), AudioConfig()))
    noise = float(phase_loss(x, torch.randn_like(x), AudioConfig()))
    assert shifted < 0.05 < 4 * shifted < hum < noise


def test_a_vocoder_without_phase_advance_grows_one_and_trains_with_the_phase_loss(vocoder_corpus, tmp_path):
    train_vocoder(vocoder_corpus, tmp_path / "plain", "istft", TINY, max_steps=2)
    grown = [*TINY, "model.phase_advance=true", "train.phase_loss_weight=5"]
    result = train_vocoder(
        vocoder_corpus, tmp_path / "grown", init=tmp_path / "plain", overrides=grown, max_steps=2
    )
    assert result.step == 2
    weights = _weights(tmp_path / "grown", 2)
    before = _weights(tmp_path / "plain", 2)
    assert "generator.advance.weight" in weights and "generator.advance.weight" not in before
    rows = [json.loads(line) for line in (tmp_path / "grown" / "metrics.jsonl").read_text().splitlines()]
    assert any(r.get("split") == "train" and r.get("phase", 0) > 0 for r in rows)
    vocoder = load_vocoder(str(tmp_path / "grown"))
    assert vocoder.config.phase_advance is True


def test_train_checkpoint_and_exact_resume(vocoder_corpus, tmp_path, caplog):
    straight = train_vocoder(vocoder_corpus, tmp_path / "straight", "istft", TINY, max_steps=4)
    assert straight.step == 4 and straight.checkpoint.name == "step-0000004.json"
    assert (tmp_path / "straight" / "step-0000002.json").is_file()
    assert (tmp_path / "straight" / "samples").is_dir()
    assert np.isfinite(straight.val_mel_l1)

    train_vocoder(vocoder_corpus, tmp_path / "split", "istft", TINY, max_steps=2)
    with pytest.raises(FastPitchError, match="--resume"):
        train_vocoder(vocoder_corpus, tmp_path / "split", "istft", TINY, max_steps=4)
    with caplog.at_level("WARNING", logger="fastpitch"):
        resumed = train_vocoder(vocoder_corpus, tmp_path / "split", "hifigan-v3", resume=True, max_steps=4)
    assert "--arch hifigan-v3 is ignored: --resume keeps the architecture it has (istft)" in caplog.text
    assert resumed.step == 4
    a, b = _weights(tmp_path / "straight", 4), _weights(tmp_path / "split", 4)
    assert a.keys() == b.keys() and any(k.startswith("optim_g.") for k in a)
    for key in a:
        assert torch.equal(a[key], b[key]), key

    vocoder = load_vocoder(tmp_path / "split", AudioConfig())
    assert vocoder.arch == "istft" and vocoder.config.dim == 16
    assert vocoder(torch.zeros(1, 80, 5) - 5).shape == (1, 5 * 256)


def test_ctrl_c_before_the_weights_change_saves_the_last_step_and_resumes_exactly(
    vocoder_corpus, tmp_path, monkeypatch
):
    import fastpitch.train.vocoder as trainer_module

    straight = train_vocoder(vocoder_corpus, tmp_path / "straight", "istft", TINY, max_steps=4)
    real_loss, calls = trainer_module.mel_loss, []

    def interrupted_in_step_4(real, fake, cfg):
        calls.append(fake.requires_grad)
        if sum(calls) == 4:  # the fourth training step's losses, before its weights change
            raise KeyboardInterrupt
        return real_loss(real, fake, cfg)

    monkeypatch.setattr(trainer_module, "mel_loss", interrupted_in_step_4)
    with pytest.raises(KeyboardInterrupt):
        train_vocoder(vocoder_corpus, tmp_path / "cut", "istft", TINY, max_steps=4)
    monkeypatch.undo()
    assert (tmp_path / "cut" / "step-0000003.json").is_file()  # the cadence saves step 2; Ctrl-C saved 3
    resumed = train_vocoder(vocoder_corpus, tmp_path / "cut", resume=True, max_steps=4)
    assert resumed.step == straight.step == 4
    a, b = _weights(tmp_path / "straight", 4), _weights(tmp_path / "cut", 4)
    for key in a:  # the same segments drawn again for step 4: the same weights
        assert torch.equal(a[key], b[key]), key


def test_ctrl_c_during_a_weight_update_waits_for_it_and_a_second_one_cannot_lose_the_checkpoint(
    vocoder_corpus, tmp_path, monkeypatch
):
    """The generator's backward pass is most of a step: Ctrl-C there used to leave no checkpoint at all. Now the
    update finishes and is saved; a second Ctrl-C while the checkpoint is written waits for it too."""
    import os
    import signal

    import fastpitch.train.vocoder as trainer_module

    straight = train_vocoder(vocoder_corpus, tmp_path / "straight", "istft", TINY, max_steps=5)
    real_apply, real_save, calls = (
        trainer_module.VocoderTrainer._apply,
        trainer_module.VocoderTrainer.save,
        [],
    )

    def apply_interrupted_in_step_3(self, loss, opt, params):
        calls.append(1)
        if len(calls) == 3:
            assert not self.consistent()  # halfway through the update
            os.kill(os.getpid(), signal.SIGINT)
        return real_apply(self, loss, opt, params)

    def save_interrupted(self, val_loss):
        if val_loss is None:  # the interrupt's checkpoint: Ctrl-C again while it is written
            os.kill(os.getpid(), signal.SIGINT)
        return real_save(self, val_loss)

    monkeypatch.setattr(trainer_module.VocoderTrainer, "_apply", apply_interrupted_in_step_3)
    monkeypatch.setattr(trainer_module.VocoderTrainer, "save", save_interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_vocoder(vocoder_corpus, tmp_path / "cut", "istft", TINY, max_steps=5)
    monkeypatch.undo()
    assert (tmp_path / "cut" / "step-0000003.json").is_file()  # step 3 finished and saved
    resumed = train_vocoder(vocoder_corpus, tmp_path / "cut", resume=True, max_steps=5)
    assert resumed.step == straight.step == 5
    a, b = _weights(tmp_path / "straight", 5), _weights(tmp_path / "cut", 5)
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_resume_from_a_checkpoint_in_the_layout_before_the_shared_trainer(vocoder_corpus, tmp_path):
    """Vocoder checkpoints written before training shared one skeleton kept a single RNG state, the sampler's
    state beside it and a non-finite counter; they resume exactly as the current layout does."""
    straight = train_vocoder(vocoder_corpus, tmp_path / "straight", "istft", TINY, max_steps=4)
    train_vocoder(vocoder_corpus, tmp_path / "old", "istft", TINY, max_steps=2)
    json_path = tmp_path / "old" / "step-0000002.json"
    meta = json.loads(json_path.read_text())
    (rng,) = meta.pop("rng")
    meta["sampler_rng"] = rng.pop("sampler")
    meta.update(rng=rng, nonfinite=0, best_val=meta["best_val"])
    for key in ("tensors_file", "ema_updates", "scaler", "val_loss"):
        meta.pop(key)
    json_path.write_text(json.dumps(meta))
    resumed = train_vocoder(vocoder_corpus, tmp_path / "old", resume=True, max_steps=4)
    assert resumed.step == straight.step == 4
    a, b = _weights(tmp_path / "straight", 4), _weights(tmp_path / "old", 4)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


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

    # a mel of the wrong shape is refused before training, not when a step first draws it
    bad = sorted(mels.glob("*.npy"))[-1]
    np.save(bad, np.zeros((40, 10), np.float32))
    with pytest.raises(FastPitchError, match=rf"{bad.name} holds a float32 array of shape \(40, 10\)"):
        train_vocoder(
            vocoder_corpus, tmp_path / "bad", "hifigan-v3", overrides, finetune_mels=mels, max_steps=1
        )
    assert not (tmp_path / "bad").exists() or not list((tmp_path / "bad").glob("step-*.json"))


def test_the_istft_vocoder_trains_against_mpd_and_mrd_and_may_switch_discriminators(vocoder_corpus, tmp_path):
    adversarial = [*TINY, "train.adversarial_start_step=1", "train.disc_width=0.05"]
    run = tmp_path / "gan"
    train_vocoder(vocoder_corpus, run, "istft", adversarial, max_steps=2)
    meta = json.loads((run / "step-0000002.json").read_text())
    assert meta["train"]["discriminators"] == "mpd+mrd"
    weights = _weights(run, 2)
    assert {k.split(".")[0] for k in weights} >= {"generator", "mpd", "mrd", "optim_d"}
    assert not any(k.startswith("msd.") for k in weights)

    # HiFi-GAN's pair instead, on resume: the kept MPD carries on, the MSD and the optimizer start afresh
    train_vocoder(vocoder_corpus, run, overrides=["train.discriminators=mpd+msd"], resume=True, max_steps=4)
    resumed = _weights(run, 4)
    assert any(k.startswith("msd.") for k in resumed) and not any(k.startswith("mrd.") for k in resumed)
    with pytest.raises(FastPitchError, match="discriminators"):
        train_vocoder(
            vocoder_corpus, tmp_path / "bad", "istft", [*adversarial, "train.discriminators=mpd+xyz"]
        )


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


def test_generator_average_is_checkpointed_validated_and_loaded(vocoder_corpus, tmp_path):
    run = train_vocoder(
        vocoder_corpus, tmp_path / "ema", "istft", [*TINY, "train.ema_decay=0.5"], max_steps=3
    )
    weights = _weights(tmp_path / "ema", 3)
    ema = {k.removeprefix("ema."): v for k, v in weights.items() if k.startswith("ema.")}
    raw = {k.removeprefix("generator."): v for k, v in weights.items() if k.startswith("generator.")}
    assert ema.keys() == raw.keys() and any(not torch.equal(ema[k], raw[k]) for k in ema)
    mel = torch.linspace(-6, 0, 80 * 6).reshape(1, 80, 6)
    averaged = load_vocoder(run.checkpoint, AudioConfig())(mel)  # the average, as a voice would ship it
    save_file(
        {k: v for k, v in weights.items() if not k.startswith("ema.")},
        str(tmp_path / "ema" / "step-0000003.safetensors"),
    )
    raw_audio = load_vocoder(run.checkpoint, AudioConfig())(mel)  # without it: the generator as trained
    assert torch.isfinite(averaged).all() and not torch.allclose(averaged, raw_audio)


def test_non_finite_steps_are_skipped_then_stop_the_run(vocoder_corpus, tmp_path, monkeypatch):
    import fastpitch.train.vocoder as vocoder_training
    from fastpitch.train import NonFiniteLossError

    real = vocoder_training.mel_loss
    calls = {"n": 0}

    def poisoned(*args):
        calls["n"] += 1
        loss = real(*args)
        return loss * float("nan") if calls["n"] >= 2 else loss

    monkeypatch.setattr(vocoder_training, "mel_loss", poisoned)
    settings = [*TINY, "train.max_nonfinite_steps=3"]
    with pytest.raises(NonFiniteLossError, match="3 consecutive updates"):
        train_vocoder(vocoder_corpus, tmp_path / "nan", "istft", settings, max_steps=10)
    events = [json.loads(line) for line in (tmp_path / "nan" / "metrics.jsonl").read_text().splitlines()]
    assert [e["in_a_row"] for e in events if e.get("event") == "nonfinite"] == [1, 2, 3]


def _ddp_worker(rank: int, port: int, dataset: str, out: str) -> None:
    import os

    from fastpitch.train import VocoderTrainer

    os.environ.update(
        RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    torch.set_num_threads(1)
    run = VocoderTrainer.run

    def run_and_keep_weights(self):
        fps = run(self)
        state = {k: v.contiguous() for k, v in self.generator.state_dict().items()}
        save_file(state, str(Path(out).parent / f"rank{rank}.safetensors"))
        return fps

    VocoderTrainer.run = run_and_keep_weights
    settings = [*TINY, "train.adversarial_start_step=1", "train.disc_width=0.125"]
    train_vocoder(dataset, out, "istft", settings, max_steps=3, device="cpu")


def test_ddp_two_ranks_train_one_vocoder(vocoder_corpus, tmp_path):
    import socket

    from safetensors.torch import load_file

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "ddp" / "run"
    torch.multiprocessing.spawn(_ddp_worker, args=(port, str(vocoder_corpus), str(out)), nprocs=2, join=True)
    rank0, rank1 = (load_file(str(tmp_path / "ddp" / f"rank{r}.safetensors")) for r in (0, 1))
    assert rank0.keys() == rank1.keys()
    for key in rank0:  # gradients averaged over the ranks: the same weights everywhere
        torch.testing.assert_close(rank0[key], rank1[key], rtol=0, atol=1e-6)
    meta = json.loads((out / "step-0000003.json").read_text())
    assert len(meta["rng"]) == 2 and meta["rng"][0]["sampler"] != meta["rng"][1]["sampler"]
    saved = _weights(out, 3)
    assert any(k.startswith("mpd.") for k in saved)
    for key, value in rank0.items():
        assert torch.equal(saved[f"generator.{key}"], value)


def test_distillation_targets_the_teachers_audio(vocoder_corpus, tmp_path):
    """With a teacher, every loss compares with its audio: a student that is the teacher (initialised from it,
    learning rate 0) scores zero on them all, where the recordings' audio would not."""
    train_vocoder(vocoder_corpus, tmp_path / "teacher", "istft", TINY, max_steps=2)
    frozen = [*TINY, "train.learning_rate=0", "train.adversarial=false", "train.stft_loss_weight=1"]
    common = dict(init=tmp_path / "teacher", max_steps=2)
    distill = [*frozen, f"train.teacher={tmp_path / 'teacher'}", "train.distill_weight=10"]
    train_vocoder(vocoder_corpus, tmp_path / "student", "istft", distill, **common)
    train_vocoder(vocoder_corpus, tmp_path / "plain", "istft", frozen, **common)

    def losses(run):
        rows = [json.loads(line) for line in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
        return [r for r in rows if r.get("split") == "train"]

    assert losses("student") and losses("plain")
    for row in losses("student"):
        assert row["mel"] < 1e-3 and row["stft"] < 1e-3 and row["distill"] < 1e-5, row
    assert all(row["mel"] > 0.1 and "distill" not in row for row in losses("plain"))
    resumed = train_vocoder(vocoder_corpus, tmp_path / "student", resume=True, max_steps=3)
    assert resumed.step == 3 and losses("student")[-1]["distill"] < 1e-5  # the teacher comes back on resume
