"""Training: optimiser and schedule, checkpoints (round trip, atomicity, bad files), exact resume, non-finite
losses, fine-tuning, the CLI, and a 2-process DDP run on CPU (gloo) whose ranks must end with identical weights.

Everything runs the `tiny` preset on a synthetic corpus of a dozen sub-second utterances, on the CPU, or on the
device named by FASTPITCH_TEST_DEVICE (`FASTPITCH_TEST_DEVICE=cuda` puts the same runs through CUDA and AMP).
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from fastpitch import checkpoint as ck
from fastpitch.config import preset
from fastpitch.errors import FastPitchError
from fastpitch.train.optim import EMA, Lamb, noam_scale

SR = 22050
DEVICE = os.environ.get("FASTPITCH_TEST_DEVICE", "cpu")
TEXTS = [
    "The cat sat on the mat.",
    "A bird in the hand.",
    "She sells sea shells.",
    "Time flies like an arrow.",
    "Open the door, please.",
    "We walked to the river.",
    "It was a bright cold day.",
    "Read the book again.",
    "Blue skies after rain.",
    "He plays the old piano.",
    "Turn left at the corner.",
    "Keep calm and carry on.",
]


# ------------------------------------------------------------------------------------------------ fixtures


def _write_corpus(root: Path, speakers: list[str] | None = None) -> Path:
    """LJSpeech layout with harmonic 'speech' (a gliding pitch per utterance), splits, and two speakers if asked."""
    rng = np.random.default_rng(0)
    (root / "wavs").mkdir(parents=True)
    lines, speaker_lines = [], []
    for i, text in enumerate(TEXTS):
        uid = f"utt{i:03d}"
        seconds = 0.5 + 0.04 * i
        t = np.arange(int(seconds * SR)) / SR
        f0 = 120 + 40 * np.sin(2 * np.pi * (0.7 + 0.1 * i) * t)
        phase = 2 * np.pi * np.cumsum(f0) / SR
        wav = sum(np.sin(k * phase) / k for k in range(1, 6)) * (0.2 + 0.1 * np.sin(2 * np.pi * 3 * t) ** 2)
        wav = wav + 0.003 * rng.standard_normal(len(t))
        sf.write(root / "wavs" / f"{uid}.wav", wav.astype(np.float32), SR, subtype="PCM_16")
        lines.append(f"{uid}|{text}|{text}")
        if speakers:
            speaker_lines.append(f"{uid}|{speakers[i % len(speakers)]}")
    (root / "metadata.csv").write_text("\n".join(lines) + "\n")
    if speakers:
        (root / "speakers.csv").write_text("\n".join(speaker_lines) + "\n")
    (root / "splits").mkdir()
    ids = [f"utt{i:03d}" for i in range(len(TEXTS))]
    (root / "splits" / "train.txt").write_text("\n".join(ids[:10]) + "\n")
    (root / "splits" / "val.txt").write_text("\n".join(ids[10:]) + "\n")
    return root


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models on a shared 2-core machine: one thread avoids OpenMP oversubscription (10-50x faster here)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, Path]:
    """(dataset dir, features dir) of a one-speaker synthetic corpus, prepared once."""
    from fastpitch.data.features import prepare

    root = _write_corpus(tmp_path_factory.mktemp("train_corpus") / "corpus")
    return root, prepare(root, root.parent / "features")


def tiny_cfg(*overrides: str):
    return preset(
        "tiny",
        [
            "train.batch_frames=400",
            "train.max_steps=12",
            "train.log_every=2",
            "train.val_every=4",
            "train.checkpoint_every=3",
            "train.keep_last=2",
            "train.ema_decay=0.99",
            "train.val_media=false",
            *overrides,
        ],
    )


def make_trainer(corpus, out: Path, cfg=None, **kwargs):
    from fastpitch.train import RunOptions, Trainer

    dataset, features = corpus
    opts = RunOptions(
        features=features, out_dir=out, dataset=dataset, device=DEVICE, progress=False, **kwargs
    )
    return Trainer(cfg or tiny_cfg(), opts)


def model_state(trainer) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in trainer.engine.raw_model.state_dict().items()}


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], start: dict | None = None) -> None:
    """Bit for bit; on CUDA, whose atomic-add kernels (the CTC loss's backward among them) leave the order of
    some sums open, within 1 % of how far training moved the weights from `start`."""
    assert a.keys() == b.keys()
    if start is None or DEVICE == "cpu":
        for key in a:
            assert torch.equal(a[key], b[key]), key
        return
    floats = [k for k in a if a[k].is_floating_point()]
    apart = sum(float((a[k].double() - b[k].double()).pow(2).sum()) for k in floats) ** 0.5
    moved = sum(float((a[k].double() - start[k].double()).pow(2).sum()) for k in floats) ** 0.5
    print(f"resumed vs uninterrupted on {DEVICE}: {apart:.3g} apart, training moved the weights {moved:.3g}")
    assert apart <= 0.01 * moved, (apart, moved)
    for key in a:
        assert a[key].is_floating_point() or torch.equal(a[key], b[key]), key


# ------------------------------------------------------------------------------------------------ optimiser


def test_lamb_matches_a_plain_implementation():
    torch.manual_seed(0)
    params = [torch.randn(5, 3, requires_grad=True), torch.zeros(4, requires_grad=True)]
    ref = [p.detach().clone() for p in params]
    opt = Lamb(params, lr=0.01, betas=(0.9, 0.98), eps=1e-9, weight_decay=1e-2, max_grad_norm=1.0)
    m = [torch.zeros_like(p) for p in ref]
    v = [torch.zeros_like(p) for p in ref]
    for t in range(1, 4):
        grads = [torch.randn_like(p) * 3 for p in ref]
        for p, g in zip(params, grads, strict=True):
            p.grad = g.clone()
        opt.step()
        clip = max(float(torch.sqrt(sum((g**2).sum() for g in grads))), 1.0)
        for i, g in enumerate(grads):
            g = g / clip
            m[i] = 0.9 * m[i] + 0.1 * g
            v[i] = 0.98 * v[i] + 0.02 * g * g
            update = (m[i] / (1 - 0.9**t)) / ((v[i] / (1 - 0.98**t)).sqrt() + 1e-9) + 1e-2 * ref[i]
            w_norm, u_norm = ref[i].norm(), update.norm()
            ratio = w_norm / u_norm if w_norm > 0 and u_norm > 0 else 1.0
            ref[i] = ref[i] - 0.01 * ratio * update
    for p, r in zip(params, ref, strict=True):
        torch.testing.assert_close(p.detach(), r, rtol=1e-5, atol=1e-6)


def test_noam_schedule_rises_linearly_peaks_at_warmup_then_decays():
    assert noam_scale(1, 100) == pytest.approx(0.01)
    assert noam_scale(50, 100) == pytest.approx(0.5)
    assert noam_scale(100, 100) == pytest.approx(1.0)
    assert noam_scale(400, 100) == pytest.approx(0.5)
    assert noam_scale(7, 0) == 1.0


def test_ema_tracks_weights_with_a_warm_up():
    model = torch.nn.Linear(2, 2)
    ema = EMA(model, decay=0.999)
    old = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema.update(model)  # decay min(0.999, 2/11): mostly the new weights early on
    torch.testing.assert_close(ema.module.weight, old * 2 / 11 + 9 / 11)


# ------------------------------------------------------------------------------------------------ checkpoints


def _small_checkpoint(step: int, optimizer: str = "lamb") -> ck.Checkpoint:
    from fastpitch.models import FastPitch

    cfg = preset("tiny", [f"train.optimizer={optimizer}", 'text.symbols=["<pad>", "a", "b", "c"]'])
    cfg.model.n_symbols = 4
    torch.manual_seed(step)
    model = FastPitch(cfg.model)
    from fastpitch.train.optim import build_optimizer

    opt = build_optimizer(model, cfg.train)
    for p in model.parameters():
        p.grad = torch.randn_like(p)
    opt.step()
    return ck.Checkpoint(
        config=cfg,
        step=step,
        model=model.state_dict(),
        ema={k: v + 1 for k, v in model.state_dict().items()},
        optimizer=opt.state_dict(),
        epoch=2,
        batches_in_epoch=5,
        ema_updates=step,
        rng=[ck.rng_state()],
        val_loss=0.5,
        best_val_loss=0.5,
        best_step=step,
        provenance={"test": True},
    )


@pytest.mark.parametrize("optimizer", ["lamb", "adam"])
def test_checkpoint_round_trip(tmp_path, optimizer):
    saved = _small_checkpoint(7, optimizer)
    path = ck.save_checkpoint(tmp_path, saved)
    assert path.name == "step-0000007.json"
    assert (tmp_path / "step-0000007.safetensors").is_file()
    assert ck.latest(tmp_path) == path
    loaded = ck.load_checkpoint(tmp_path)  # a run directory means its newest checkpoint
    assert loaded.config == saved.config
    assert loaded.config.text.symbols == ["<pad>", "a", "b", "c"]
    assert (loaded.step, loaded.epoch, loaded.batches_in_epoch, loaded.best_step) == (7, 2, 5, 7)
    assert_same(loaded.model, saved.model)
    assert_same(loaded.ema, saved.ema)
    assert loaded.optimizer["param_groups"] == saved.optimizer["param_groups"]
    for index, state in saved.optimizer["state"].items():
        for name, value in state.items():
            assert torch.equal(loaded.optimizer["state"][index][name], value)
    # the loaded optimiser state goes back into a fresh optimiser
    from fastpitch.models import FastPitch
    from fastpitch.train.optim import build_optimizer

    model = FastPitch(loaded.config.model)
    ck.load_weights(model, loaded.model, path)
    build_optimizer(model, loaded.config.train).load_state_dict(loaded.optimizer)
    # RNG states come back exactly
    ck.set_rng_state(loaded.rng[0])
    a = (torch.rand(3), np.random.rand(3))
    ck.set_rng_state(saved.rng[0])
    b = (torch.rand(3), np.random.rand(3))
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    # no pickle: the tensors file is plain safetensors, the rest plain JSON
    meta = json.loads(path.read_text())
    assert meta["format"] == ck.FORMAT and meta["config"]["text"]["symbols"][0] == "<pad>"


def test_keep_last_n_plus_best(tmp_path):
    for step in range(1, 7):
        c = _small_checkpoint(step)
        c.best_step = 2
        ck.save_checkpoint(tmp_path, c, keep_last=2)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [f"step-{s:07d}.{ext}" for s in (2, 5, 6) for ext in ("json", "safetensors")]
    assert ck.best(tmp_path).name == "step-0000002.json"


def test_a_crash_mid_save_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    ck.save_checkpoint(tmp_path, _small_checkpoint(1))

    def crash_while_writing(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(ck, "save_file", crash_while_writing)
    with pytest.raises(OSError, match="disk full"):
        ck.save_checkpoint(tmp_path, _small_checkpoint(2))
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-0000001.json", "step-0000001.safetensors"]
    assert ck.load_checkpoint(tmp_path).step == 1

    # A crash after the tensors but before the JSON: step 2 does not exist; the next save clears the orphan.
    real_atomic = ck.atomic_write

    def no_json(path, write):
        if path.suffix == ".json":
            raise KeyboardInterrupt
        real_atomic(path, write)

    monkeypatch.setattr(ck, "atomic_write", no_json)
    with pytest.raises(KeyboardInterrupt):
        ck.save_checkpoint(tmp_path, _small_checkpoint(2))
    monkeypatch.undo()
    assert ck.latest(tmp_path).name == "step-0000001.json"
    assert ck.load_checkpoint(tmp_path).step == 1
    ck.save_checkpoint(tmp_path, _small_checkpoint(3))
    assert not (tmp_path / "step-0000002.safetensors").exists()
    assert not list(tmp_path.glob(".*tmp*"))


def test_bad_checkpoints_give_clear_errors(tmp_path):
    with pytest.raises(ck.CheckpointError, match="not found"):
        ck.load_checkpoint(tmp_path / "step-0000001.json")
    with pytest.raises(ck.CheckpointError, match=r"checkpoint not found: \S*/nope \(a training run's folder"):
        ck.load_checkpoint(tmp_path / "nope")  # what was given, not "nope.json"
    with pytest.raises(ck.CheckpointError, match="no checkpoint"):
        ck.load_checkpoint(tmp_path)
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"state_dict": {}}))
    with pytest.raises(ck.CheckpointError, match="is not a fastpitch training checkpoint"):
        ck.load_checkpoint(foreign)
    vocoder = tmp_path / "vocoder-step.json"
    vocoder.write_text(json.dumps({"format": "fastpitch-vocoder-checkpoint"}))
    with pytest.raises(
        ck.CheckpointError, match=r"is a vocoder's training checkpoint .* an acoustic model's one"
    ):
        ck.load_checkpoint(vocoder)  # says what it is, not only what was wanted

    path = ck.save_checkpoint(tmp_path / "run", _small_checkpoint(1))
    tensors = path.with_suffix(".safetensors")
    data = tensors.read_bytes()
    tensors.write_bytes(data[: len(data) // 2])
    with pytest.raises(ck.CheckpointError, match="corrupt"):
        ck.load_checkpoint(path)
    tensors.unlink()
    with pytest.raises(ck.CheckpointError, match="incomplete"):
        ck.load_checkpoint(path)


def test_weights_of_another_architecture_name_the_mismatch():
    from fastpitch.models import FastPitch

    saved = _small_checkpoint(1)
    cfg = preset("tiny", ["model.symbols_embedding_dim=48", "model.in_fft_output_size=48",
                          "model.out_fft_output_size=48", "model.out_fft_n_layers=2"])  # fmt: skip
    cfg.model.n_symbols = 4
    with pytest.raises(ck.CheckpointError, match=r"does not fit this model.*(missing|wrong shape)"):
        ck.load_weights(FastPitch(cfg.model), saved.model, "x.json")


# ------------------------------------------------------------------------------------------------ training


def test_resume_matches_an_uninterrupted_run(corpus, tmp_path, caplog):
    full = make_trainer(corpus, tmp_path / "full")
    start = model_state(full)
    result = full.run()
    assert result.step == 12 and result.best_val_loss is not None
    assert ck.latest(tmp_path / "full").name == "step-0000012.json"

    first = make_trainer(corpus, tmp_path / "split", cfg=tiny_cfg("train.max_steps=6"))
    assert first.run().step == 6
    with pytest.raises(FastPitchError, match="--resume"):
        make_trainer(corpus, tmp_path / "split")
    second = make_trainer(corpus, tmp_path / "split", resume=True)
    assert second.step == 6
    assert second.run().step == 12

    assert_same(model_state(full), model_state(second), start)
    assert_same(full.engine.ema.state_dict(), second.engine.ema.state_dict(), start)
    with caplog.at_level("WARNING", logger="fastpitch"):  # resumed past its end: said, not silent
        assert (
            make_trainer(corpus, tmp_path / "split", cfg=tiny_cfg("train.max_steps=6"), resume=True)
            .run()
            .step
            == 12
        )
    assert "already at step 12, not below max_steps 6: nothing to train" in caplog.text
    a, b = ck.load_checkpoint(tmp_path / "full"), ck.load_checkpoint(tmp_path / "split")
    assert (a.epoch, a.batches_in_epoch, a.best_step) == (b.epoch, b.batches_in_epoch, b.best_step)
    if DEVICE == "cpu":
        for index, state in a.optimizer["state"].items():
            for name, value in state.items():
                assert torch.equal(value, b.optimizer["state"][index][name])
    metrics = [json.loads(line) for line in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    val = [m for m in metrics if m.get("split") == "val"]
    assert [m["step"] for m in val] == [4, 8, 12] and all(math.isfinite(m["mel"]) for m in val)
    assert list((tmp_path / "full" / "tensorboard").iterdir())


def test_validation_logs_images_and_audio_without_touching_the_rng(corpus, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    trainer = make_trainer(corpus, tmp_path / "media", cfg=tiny_cfg("train.val_media=true"))
    trainer.open_logs()
    before = torch.get_rng_state()
    mel_loss = trainer.validate()
    trainer.close_logs()
    assert math.isfinite(mel_loss)
    assert torch.equal(before, torch.get_rng_state())
    events = EventAccumulator(
        str(tmp_path / "media" / "tensorboard"), size_guidance={"images": 0, "audio": 0}
    )
    events.Reload()
    assert {"val/mel", "val/pitch", "val/alignment"} <= set(events.Tags()["images"])
    assert {"val/synthesized", "val/ground_truth"} <= set(events.Tags()["audio"])
    assert "val/mel" in events.Tags()["scalars"]


class _PoisonedLoss(torch.nn.Module):
    """The real loss, but NaN on the updates listed in `bad` (1-based update numbers)."""

    def __init__(self, inner, bad):
        super().__init__()
        self.inner, self.bad, self.calls = inner, bad, 0

    def forward(self, outputs, batch, step=0):
        self.calls += 1
        total, terms = self.inner(outputs, batch, step)
        if self.bad(self.calls):
            total = total * float("nan")
            terms = {**terms, "total": total.detach()}
        return total, terms


def test_nonfinite_losses_skip_the_update_then_stop_the_run(corpus, tmp_path, caplog):
    from fastpitch.train import NonFiniteLossError

    trainer = make_trainer(
        corpus, tmp_path / "nan", cfg=tiny_cfg("train.max_nonfinite_steps=3", "train.max_steps=3")
    )
    trainer.engine.criterion = _PoisonedLoss(trainer.engine.criterion, lambda call: call in (2, 3))
    before = model_state(trainer)
    stats = trainer.engine.train_step([next(iter(trainer.data.loader(trainer.data.train_sampler)))])
    assert stats["finite"] and trainer.step == 1
    after_one = model_state(trainer)
    assert any(not torch.equal(before[k], after_one[k]) for k in before)
    result = trainer.run()  # calls 2 and 3 are NaN and skipped; call 4 and 5 bring it to step 3
    assert result.step == 3
    assert "update skipped" in caplog.text

    stuck = make_trainer(
        corpus, tmp_path / "stuck", cfg=tiny_cfg("train.max_nonfinite_steps=3", "train.checkpoint_every=1")
    )
    stuck.engine.criterion = _PoisonedLoss(stuck.engine.criterion, lambda call: call > 2)
    with pytest.raises(NonFiniteLossError, match="3 consecutive updates"):
        stuck.run()
    assert stuck.step == 2
    assert ck.latest(tmp_path / "stuck").name == "step-0000002.json"
    good = ck.load_checkpoint(tmp_path / "stuck")
    assert all(torch.isfinite(v).all() for v in good.model.values() if v.is_floating_point())


def test_ctrl_c_saves_the_last_finished_step(corpus, tmp_path):
    trainer = make_trainer(corpus, tmp_path / "int")
    real_loss = trainer.engine.criterion

    def interrupt_at_step_4(outputs, batch, step=0):
        if step == 4:
            raise KeyboardInterrupt
        return real_loss(outputs, batch, step)

    trainer.engine.criterion = interrupt_at_step_4
    with pytest.raises(KeyboardInterrupt):
        trainer.run()
    assert ck.latest(tmp_path / "int").name == "step-0000003.json"
    assert make_trainer(corpus, tmp_path / "int", resume=True).step == 3


def test_ctrl_c_in_the_middle_of_a_step_resumes_as_an_uninterrupted_run(corpus, tmp_path):
    """The checkpoint Ctrl-C writes holds the data position and RNG states from before the unfinished step, so
    --resume draws that step's batch again instead of skipping it."""
    trainer = make_trainer(corpus, tmp_path / "int")
    real_loss = trainer.engine.criterion

    def interrupt_at_step_6(outputs, batch, step=0):
        if step == 6:  # steps 3 and 4 are saved by the cadence, 5 is not
            raise KeyboardInterrupt
        return real_loss(outputs, batch, step)

    trainer.engine.criterion = interrupt_at_step_6
    with pytest.raises(KeyboardInterrupt):
        trainer.run()
    cut = ck.load_checkpoint(tmp_path / "int")
    make_trainer(corpus, tmp_path / "straight", cfg=tiny_cfg("train.max_steps=5")).run()
    straight = ck.load_checkpoint(tmp_path / "straight")
    assert cut.step == straight.step == 5
    assert (cut.epoch, cut.batches_in_epoch) == (straight.epoch, straight.batches_in_epoch)
    assert cut.rng == straight.rng


def test_sigterm_saves_a_checkpoint_as_ctrl_c_does(corpus, tmp_path):
    import os
    import signal

    trainer = make_trainer(corpus, tmp_path / "term")
    real_loss = trainer.engine.criterion

    def terminated_at_step_6(outputs, batch, step=0):
        if step == 6:
            os.kill(os.getpid(), signal.SIGTERM)  # what `kill` or a job scheduler sends
        return real_loss(outputs, batch, step)

    trainer.engine.criterion = terminated_at_step_6
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        trainer.run()
    assert ck.latest(tmp_path / "term").name == "step-0000005.json"
    assert signal.getsignal(signal.SIGTERM) is before  # the run's handler is gone with it


def test_a_fresh_run_takes_its_mel_bins_from_the_features(corpus, tmp_path):
    """Features of 40 mel bins trained a model of the config's 80 (a shape error on the first batch)."""
    from fastpitch.config import AudioConfig
    from fastpitch.data.features import prepare

    dataset, _ = corpus
    features = prepare(dataset, tmp_path / "features40", AudioConfig(n_mels=40))
    trainer = make_trainer((dataset, features), tmp_path / "run40", cfg=tiny_cfg("train.max_steps=1"))
    assert trainer.cfg.model.n_mels == trainer.cfg.audio.n_mels == 40
    assert trainer.run().step == 1


def test_external_durations_train_without_an_aligner(corpus, tmp_path):
    dataset, _ = corpus
    _write_timings(dataset)
    cfg = tiny_cfg("train.durations=external", "train.max_steps=2", "train.grad_accumulation=2")
    trainer = make_trainer(corpus, tmp_path / "ext", cfg=cfg)
    assert trainer.engine.raw_model.aligner is None
    batch = next(iter(trainer.data.loader(trainer.data.train_sampler)))
    assert torch.equal(batch["durations"].sum(1), batch["mel_lens"])
    assert trainer.run().step == 2
    metrics = [json.loads(line) for line in (tmp_path / "ext" / "metrics.jsonl").read_text().splitlines()]
    assert "attn" not in metrics[0] and metrics[0]["frames"] > 0


def test_learned_durations_let_word_boundaries_go_without_a_frame(corpus, tmp_path):
    trainer = make_trainer(corpus, tmp_path / "run", cfg=tiny_cfg("train.mas_boundary_cost=3.5"))
    model, symbols = trainer.engine.raw_model, trainer.cfg.text.symbols
    boundary = symbols.index("|")
    assert model.mas_cost[boundary] == 3.5 and int(model.mas_cost.count_nonzero()) == 1
    # Between two words with no pause in the audio, MAS gives the boundary no frame.
    phones = [i for i, s in enumerate(symbols) if s not in ("_", "|")][:4]
    text = torch.tensor([[boundary, phones[0], phones[1], boundary, phones[2], phones[3], boundary]])
    durations = [3, 2, 2, 0, 3, 2, 3]
    owner = torch.repeat_interleave(torch.arange(7), torch.tensor(durations))
    log_attn = torch.nn.functional.one_hot(owner, 7).float().mul(8.0).log_softmax(-1)[None]
    got = model.mas_durations(
        *(x.to(DEVICE) for x in (log_attn, text, torch.tensor([7]), torch.tensor([15])))
    )
    assert got[0].tolist() == durations


def _write_timings(dataset: Path) -> None:
    """Reference timings: the frontend's phones spread evenly over each file."""
    from fastpitch.config import TextConfig
    from fastpitch.data.datasets import make_frontend
    from fastpitch.text.symbols import PHONES

    frontend = make_frontend(TextConfig())
    (dataset / "timings").mkdir(exist_ok=True)
    for line in (dataset / "metadata.csv").read_text().splitlines():
        uid, text, _ = line.split("|")
        seconds = sf.info(dataset / "wavs" / f"{uid}.wav").duration
        phones = [s for s in frontend.to_symbols(text) if s in PHONES]
        edges = np.linspace(0.0, seconds, len(phones) + 1)
        record = {
            "id": uid,
            "engine": "festival",
            "voice": "test",
            "sample_rate": SR,
            "phones": [
                {"phone": p, "start": float(a), "end": float(b)}
                for p, a, b in zip(phones, edges[:-1], edges[1:], strict=True)
            ],
            "words": [],
        }
        (dataset / "timings" / f"{uid}.json").write_text(json.dumps(record))


def test_init_from_reinitialises_speakers_and_checks_the_symbol_table(corpus, tmp_path):
    source = make_trainer(corpus, tmp_path / "source", cfg=tiny_cfg("train.max_steps=2"))
    source.run()
    src = ck.load_checkpoint(tmp_path / "source")

    two = _write_corpus(tmp_path / "two", speakers=["ann", "bob"])
    from fastpitch.data.features import prepare

    features = prepare(two, tmp_path / "two_features")
    tuned = make_trainer((two, features), tmp_path / "tuned", init_from=tmp_path / "source")
    model = tuned.engine.raw_model
    assert model.cfg.n_speakers == 2 and model.speaker_embedding is not None
    state = model.state_dict()
    for key in ("embedding.weight", "encoder.layers.0.attn.qkv.weight", "proj.weight"):
        if key in state:
            assert torch.equal(state[key].cpu(), src.model[key]), key
    assert not torch.equal(state["pitch_mean"].cpu(), src.model["pitch_mean"])  # the new data's statistics
    # The pitch embedding keeps the scale it learned, now shared by both speakers.
    assert model.cfg.pitch_embedding_stats == "shared"
    assert torch.equal(state["pitch_embed_mean"].cpu(), src.model["pitch_embed_mean"].expand(2))
    assert torch.equal(state["pitch_embed_std"].cpu(), src.model["pitch_embed_std"].expand(2))
    # From a model that scaled pitch per speaker (made before the choice): its one speaker's scale.
    old = make_trainer(
        corpus, tmp_path / "old", cfg=tiny_cfg("train.max_steps=1", "model.pitch_embedding_stats=speaker")
    )
    old.run()
    own = ck.load_checkpoint(tmp_path / "old")
    assert "pitch_embed_mean" not in own.model
    from_old = make_trainer(
        (two, features), tmp_path / "from_old", init_from=tmp_path / "old"
    ).engine.raw_model
    assert from_old.cfg.pitch_embedding_stats == "shared"  # one speaker's scale can be shared
    assert torch.equal(from_old.pitch_embed_mean.cpu(), own.model["pitch_mean"][:1].expand(2))

    with pytest.raises(FastPitchError, match="not a prefix"):
        make_trainer(
            (two, features),
            tmp_path / "bad",
            cfg=tiny_cfg('text.symbols=["<pad>", "x", "y"]'),
            init_from=tmp_path / "source",
        )


def test_nearest_speakers_compares_pitch_on_a_log_scale():
    from fastpitch.train.acoustic import nearest_speakers

    source = torch.tensor([100.0, 200.0, 180.0])
    assert nearest_speakers(source, torch.tensor([130.0, 150.0, 260.0, 0.0])) == [0, 2, 1, 0]


def test_init_from_several_speakers_starts_each_new_one_from_the_nearest(corpus, tmp_path):
    """One new speaker: the nearest source speaker's vector moves into the symbol embeddings, so the encoder
    computes what it computed for that speaker; three new speakers: each embedding row is its nearest's."""
    from fastpitch.data.features import prepare
    from fastpitch.train.acoustic import nearest_speakers

    two = _write_corpus(tmp_path / "two", speakers=["ann", "bob"])
    features = prepare(two, tmp_path / "two_features")
    source = make_trainer((two, features), tmp_path / "source", cfg=tiny_cfg("train.max_steps=1"))
    source.run()
    src = ck.load_checkpoint(tmp_path / "source")
    src_model = source.engine.raw_model.eval()
    with torch.no_grad():  # distinct speakers, as a trained model has them
        src.model["speaker_embedding.weight"][1] += 1.0
        src_model.speaker_embedding.weight.copy_(src.model["speaker_embedding.weight"])
    ck.save_checkpoint(tmp_path / "source2", src)

    one = make_trainer(corpus, tmp_path / "one", init_from=tmp_path / "source2").engine.raw_model.eval()
    assert one.speaker_embedding is None
    nearest = nearest_speakers(src.model["pitch_mean"], one.pitch_mean)[0]
    text = torch.tensor([[5, 9, 12, 30, 7]])
    with torch.no_grad():
        _, h_one = one._encode(text, None, one._speaker(None, 1, text.device))
        _, h_src = src_model._encode(text, None, torch.tensor([nearest]))
    torch.testing.assert_close(h_one, h_src, atol=1e-5, rtol=1e-5)

    three = _write_corpus(tmp_path / "three", speakers=["cy", "di", "ed"])
    three_features = prepare(three, tmp_path / "three_features")
    again = make_trainer((three, three_features), tmp_path / "again", init_from=tmp_path / "source2")
    model = again.engine.raw_model
    rows = nearest_speakers(src.model["pitch_mean"], model.pitch_mean)
    assert torch.equal(
        model.speaker_embedding.weight.detach().cpu(), src.model["speaker_embedding.weight"][rows]
    )


def test_a_pruned_checkpoint_trains_on_with_its_encoder_frozen(corpus, tmp_path):
    """`fastpitch prune` then `train --init-from`: the run takes the slim decoder's sizes from the checkpoint
    and trains it; a frozen encoder keeps the source's durations exactly."""
    from fastpitch.prune import prune_voice

    source = make_trainer(
        corpus, tmp_path / "source", cfg=tiny_cfg("train.max_steps=2", "model.out_fft_n_layers=2")
    )
    source.run()
    pruned = prune_voice(tmp_path / "source", tmp_path / "slim", decoder_ff=16, decoder_layers=1).acoustic
    frozen = '["embedding.", "encoder.", "duration_predictor.", "pitch_predictor."]'
    slim = make_trainer(
        corpus,
        tmp_path / "tuned",
        cfg=tiny_cfg("train.max_steps=3", f"train.freeze={frozen}"),
        init_from=pruned,
    )
    assert (slim.cfg.model.out_fft_n_layers, slim.cfg.model.out_fft_conv1d_filter_size) == (1, 16)
    start = model_state(slim)
    slim.run()
    end = ck.load_checkpoint(tmp_path / "tuned").model
    assert torch.equal(
        end["encoder.layers.0.ff.conv1.weight"], start["encoder.layers.0.ff.conv1.weight"].cpu()
    )
    assert not torch.equal(
        end["decoder.layers.0.ff.conv1.weight"], start["decoder.layers.0.ff.conv1.weight"].cpu()
    )


def test_gta_mels_are_the_models_teacher_forced_output_frame_for_frame_and_resume(corpus, tmp_path):
    """`fastpitch gta-mels`: one mel per training and validation utterance, as long as its recording's, equal
    to the EMA model's training pass on it alone (batching changes nothing); a rerun only fills in what is missing."""
    from typer.testing import CliRunner

    from fastpitch.cli import app
    from fastpitch.data.features import FeatureCache
    from fastpitch.data.loader import collate
    from fastpitch.train.acoustic import build_model
    from fastpitch.train.data import TrainData
    from fastpitch.train.distributed import Distributed
    from fastpitch.train.gta import predict_mels

    dataset, features = corpus
    make_trainer(corpus, tmp_path / "run", cfg=tiny_cfg("train.max_steps=3")).run()
    out = tmp_path / "gta"
    args = ["gta-mels", str(tmp_path / "run"), "--features", str(features), "--dataset", str(dataset),
            "--out", str(out), "--batch-frames", "300", "--device", DEVICE]  # fmt: skip
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    assert "12 mels written" in done.output
    cache = FeatureCache(features)
    assert sorted(p.stem for p in out.glob("*.npy")) == sorted(cache.ids)

    ckpt = ck.load_checkpoint(tmp_path / "run")
    model = build_model(ckpt.config)
    model.load_state_dict(ckpt.ema)
    model.eval()
    data = TrainData(ckpt.config, features, dataset, Distributed(), strict_audio=True)
    uid = data.train_set.ids[3]
    with torch.no_grad():
        alone = model(collate([data.train_set[3]]))["mel_out"][0].numpy()
    written = np.load(out / f"{uid}.npy")
    assert written.shape == (ckpt.config.audio.n_mels, cache.n_frames(uid)) == alone.shape
    np.testing.assert_allclose(written, alone, atol=1e-4)
    assert np.abs(written - np.asarray(cache.load(uid)["mel"])).mean() > 0.01  # predicted, not copied

    (out / f"{uid}.npy").unlink()
    again = predict_mels(tmp_path / "run", features, out, dataset, batch_frames=300, device=DEVICE)
    assert (again.written, again.skipped) == (1, 11) and again.mel_l1 > 0
    np.testing.assert_allclose(np.load(out / f"{uid}.npy"), written, atol=1e-5)

    wrong = CliRunner().invoke(app, ["gta-mels", str(tmp_path / "none"), "--features", str(features),
                                     "--out", str(out)])  # fmt: skip
    assert wrong.exit_code != 0 and "checkpoint" in str(wrong.exception or wrong.output)

    # a newer checkpoint does not keep the older one's mels as done: it is refused, naming both
    make_trainer(corpus, tmp_path / "run", cfg=tiny_cfg("train.max_steps=4"), resume=True).run()
    with pytest.raises(FastPitchError, match=r"step 3\), not of .*step 4\)"):
        predict_mels(tmp_path / "run", features, out, dataset, batch_frames=300, device=DEVICE)


@pytest.mark.parametrize("mode", ["shared", "speaker"])
def test_pitch_embedding_scale_is_pooled_when_shared_and_each_speakers_own_otherwise(tmp_path, mode):
    from fastpitch.data.features import FeatureCache, prepare

    two = _write_corpus(tmp_path / "two", speakers=["ann", "bob"])
    features = prepare(two, tmp_path / "two_features")
    model = make_trainer(
        (two, features), tmp_path / "run", cfg=tiny_cfg(f"model.pitch_embedding_stats={mode}")
    )
    model = model.engine.raw_model
    cache = FeatureCache(features)
    own = torch.tensor([cache.pitch_stats(s) for s in cache.speakers]).T
    assert torch.allclose(torch.stack([model.pitch_mean, model.pitch_std]).cpu(), own)
    assert not torch.allclose(own[:, 0], own[:, 1])  # the speakers differ, so the two modes can be told apart
    if mode == "shared":
        embed = torch.stack([model.pitch_embed_mean, model.pitch_embed_std]).cpu()
        assert torch.allclose(embed, torch.tensor(cache.pooled_pitch_stats())[:, None].expand(2, 2))
    else:
        assert not hasattr(model, "pitch_embed_mean")


def test_pitch_augmented_training_runs_and_resumes_exactly(corpus, tmp_path):
    cfg = tiny_cfg("train.pitch_augment=0.5", "train.max_steps=4", "train.checkpoint_every=2")
    whole = make_trainer(corpus, tmp_path / "whole", cfg=cfg)
    whole.run()
    half = make_trainer(
        corpus, tmp_path / "half", cfg=tiny_cfg("train.pitch_augment=0.5", "train.max_steps=2")
    )
    half.run()
    resumed = make_trainer(corpus, tmp_path / "half", cfg=cfg, resume=True)
    resumed.run()
    assert_same(model_state(resumed), model_state(whole))  # the same shifts drawn after the resume
    plain = make_trainer(
        corpus, tmp_path / "plain", cfg=tiny_cfg("train.max_steps=4", "train.checkpoint_every=2")
    )
    plain.run()
    weights = "decoder.layers.0.ff.conv1.weight"
    assert not torch.equal(model_state(plain)[weights], model_state(whole)[weights])  # it did shift


def test_bench_measures_throughput_flops_and_where_time_goes():
    from fastpitch.train.bench import _measure

    result = json.loads(_measure("tiny", DEVICE, steps=1, batch_frames=1200, profile=True))
    assert result["frames_per_s"] > 0 and result["flops_per_frame"] > 0
    assert result["achieved_flops_per_s"] == pytest.approx(result["flops_per_frame"] * result["frames_per_s"])
    assert (
        0
        < result["fraction_of_matmul"]
        == pytest.approx(result["achieved_flops_per_s"] / result["matmul_flops_per_s"])
    )
    assert {"forward", "backward", "optimizer", "MAS"} <= set(result["profile"]["phase_seconds"])
    assert result["profile"]["top_ops"][0]["share"] > 0


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_mixed_precision_on_cuda_and_fp32_with_a_warning_elsewhere(corpus, tmp_path, amp, caplog):
    trainer = make_trainer(corpus, tmp_path / amp, cfg=tiny_cfg(f"train.amp={amp}", "train.max_steps=4"))
    on_cuda = trainer.device.type == "cuda"
    low = {"bf16": torch.bfloat16, "fp16": torch.float16}[amp] if on_cuda else None
    assert trainer.engine.amp_dtype == low
    assert trainer.engine.scaler.is_enabled() == (low == torch.float16)
    assert on_cuda or "needs CUDA" in caplog.text
    seen = []
    trainer.engine.raw_model.proj.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    assert trainer.run().step == 4
    assert set(seen) == {low or torch.float32}  # the mel projection ran in the precision asked for
    metrics = [json.loads(line) for line in (tmp_path / amp / "metrics.jsonl").read_text().splitlines()]
    assert all(math.isfinite(m["mel"]) for m in metrics)
    saved = ck.load_checkpoint(tmp_path / amp)
    assert all(
        v.dtype == torch.float32 and torch.isfinite(v).all()
        for v in saved.model.values()
        if v.is_floating_point()
    )
    assert (saved.scaler is not None) == (low == torch.float16)


# ------------------------------------------------------------------------------------------------ CLI


def test_cli_trains_resumes_and_refuses_to_overwrite_a_run(corpus, tmp_path):
    from typer.testing import CliRunner

    from fastpitch.cli import app

    dataset, features = corpus
    out = tmp_path / "cli"
    args = ["train", "--features", str(features), "--dataset", str(dataset), "--out", str(out), "--preset", "tiny",
            "--set", "train.batch_frames=400", "--max-steps", "2", "--device", DEVICE]  # fmt: skip
    done = CliRunner().invoke(app, args)  # in-process: no second torch import
    assert done.exit_code == 0, done.output
    assert ck.latest(out).name == "step-0000002.json"
    assert json.loads((out / "config.json").read_text())["train"]["max_steps"] == 2
    resumed = CliRunner().invoke(app, [*args[:-4], "--max-steps", "3", "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert ck.latest(out).name == "step-0000003.json"
    # The real command: a run directory with checkpoints is not overwritten, and the error is one line.
    again = subprocess.run(
        [sys.executable, "-m", "fastpitch", *args], capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 2 and "--resume" in again.stderr and "Traceback" not in again.stderr


# ------------------------------------------------------------------------------------------------ DDP


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world_size: int, port: int, dataset: str, features: str, out: str) -> None:
    os.environ.update(
        RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
    )  # fmt: skip
    torch.set_num_threads(1)
    from safetensors.torch import save_file

    from fastpitch.train import RunOptions, Trainer

    opts = RunOptions(
        features=Path(features), out_dir=Path(out), dataset=Path(dataset), device="cpu", progress=False
    )
    trainer = Trainer(tiny_cfg("train.max_steps=4"), opts)
    try:
        trainer.run()
        state = {f"model.{k}": v.contiguous() for k, v in trainer.engine.raw_model.state_dict().items()}
        state.update({f"ema.{k}": v.contiguous() for k, v in trainer.engine.ema.state_dict().items()})
        save_file(state, str(Path(out).parent / f"rank{rank}.safetensors"))
    finally:
        trainer.dist.close()


def test_ddp_two_ranks_on_cpu_hold_identical_weights(corpus, tmp_path):
    from safetensors.torch import load_file

    dataset, features = corpus
    out = tmp_path / "ddp" / "run"
    torch.multiprocessing.spawn(
        _ddp_worker, args=(2, _free_port(), str(dataset), str(features), str(out)), nprocs=2, join=True
    )
    rank0 = load_file(str(tmp_path / "ddp" / "rank0.safetensors"))
    rank1 = load_file(str(tmp_path / "ddp" / "rank1.safetensors"))
    assert_same(rank0, rank1)
    saved = ck.load_checkpoint(out)  # only rank 0 writes, and it records both ranks' RNG states
    assert saved.step == 4 and len(saved.rng) == 2 and saved.rng[0]["torch"] != saved.rng[1]["torch"]
    assert saved.provenance["world_size"] == 2
    assert saved.val_loss is not None and saved.best_step == 4  # sharded validation ran on both ranks
    weights = {k: v for k, v in rank0.items() if k.startswith("model.")}
    assert_same(weights, {f"model.{k}": v for k, v in saved.model.items()})


def test_timings_complete_a_corpus_from_the_aligner_and_train_external_durations(corpus, tmp_path):
    """`fastpitch timings`: the dataset's own timings copied, the learned aligner's durations (the ones its
    training used) written for the utterances that have none; `train --durations external --timings` then trains
    on them; a rerun keeps what is there."""
    import shutil

    from typer.testing import CliRunner

    from fastpitch.cli import app
    from fastpitch.data.loader import collate
    from fastpitch.data.timings import load_durations, symbol_kind
    from fastpitch.train.acoustic import build_model
    from fastpitch.train.data import TrainData
    from fastpitch.train.distributed import Distributed
    from fastpitch.train.timings import ENGINE, write_timings

    source, features = corpus
    dataset = tmp_path / "half"
    shutil.copytree(source, dataset, ignore=shutil.ignore_patterns("timings"))
    _write_timings(dataset)
    timed = {f"utt{i:03d}" for i in range(0, 12, 2)}  # half keep festival-style timings
    for path in (dataset / "timings").glob("*.json"):
        if path.stem not in timed:
            path.unlink()
    make_trainer((dataset, features), tmp_path / "run", cfg=tiny_cfg("train.max_steps=2")).run()
    out = tmp_path / "timings"
    args = ["timings", str(tmp_path / "run"), "--features", str(features), "--dataset", str(dataset),
            "--out", str(out), "--device", DEVICE]  # fmt: skip
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    assert "6 timings copied from the dataset and 6 from the aligner" in done.output
    for uid in timed:
        assert (out / f"{uid}.json").read_bytes() == (dataset / "timings" / f"{uid}.json").read_bytes()

    ckpt = ck.load_checkpoint(tmp_path / "run")
    model = build_model(ckpt.config)
    model.load_state_dict(ckpt.ema)
    model.eval()
    data = TrainData(ckpt.config, features, dataset, Distributed(), strict_audio=True)
    aligned = [i for i, uid in enumerate(data.train_set.ids) if uid not in timed]
    assert aligned
    for i in aligned:
        uid, symbols = data.train_set.ids[i], data.train_set.symbols[i]
        assert json.loads((out / f"{uid}.json").read_text())["engine"] == ENGINE
        with torch.no_grad():
            want = model(collate([data.train_set[i]]))["dur_tgt"][0].long().numpy()
        got = load_durations(out / f"{uid}.json", symbols, data.train_set.lengths[i], ckpt.config.audio)
        spoken = np.array([symbol_kind(s) != "silent" for s in symbols])
        np.testing.assert_array_equal(got[spoken], want[spoken])
        assert got.sum() == want.sum() == data.train_set.lengths[i]

    again = write_timings(tmp_path / "run", features, out, dataset, device=DEVICE)
    assert (again.copied, again.aligned, again.kept) == (0, 0, 12)
    cfg = tiny_cfg("train.durations=external", "train.max_steps=1")
    trainer = make_trainer((dataset, features), tmp_path / "ext", cfg=cfg, timings=out)
    assert len(trainer.data.train_set) == 10  # every training utterance, not only the six with timings
    assert trainer.run().step == 1

    other = make_trainer((dataset, features), tmp_path / "run2", cfg=tiny_cfg("train.max_steps=1"))
    other.run()
    with pytest.raises(FastPitchError, match="holds the timings of"):
        write_timings(tmp_path / "run2", features, out, dataset, device=DEVICE)
    assert ck.read_meta(ck.latest(tmp_path / "ext"))["provenance"]["timings"] == str(out)
    with pytest.raises(FastPitchError, match="train with --durations external"):
        make_trainer((dataset, features), tmp_path / "learned", cfg=tiny_cfg(), timings=out)
    with pytest.raises(FastPitchError, match="own timings folder"):
        write_timings(tmp_path / "run", features, dataset / "timings", dataset, device=DEVICE)
    with pytest.raises(FastPitchError, match="without the learned aligner"):
        write_timings(tmp_path / "ext", features, tmp_path / "t2", dataset, device=DEVICE)
