"""Vocoder training (`fastpitch train-vocoder`): random audio segments and their mels, mel + multi-resolution
STFT losses, and optional MPD/MSD adversarial training with feature matching (HiFi-GAN's recipe).

HiFi-GAN trains adversarially from the first step. The iSTFT vocoder first learns from the spectral losses alone
(fast on a CPU, and already better than Griffin-Lim), then switches the discriminators on at
`adversarial_start_step` to sharpen its high harmonics. Mels come from the audio itself (exactly the mels of the
whole utterance: each segment is read with two hops of context), from a features cache, or, for fine-tuning,
from `.npy` mels that a FastPitch predicted with ground-truth durations.

Checkpoints: `step-NNNNNNN.safetensors` (generator, discriminators, optimizer tensors) + `step-NNNNNNN.json`
(configs, step, optimizer scalars, RNG states), written atomically by `fastpitch.train.checkpoint`'s helpers.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from fastpitch.audio import LOG_CLAMP, load_audio, mel_spectrogram, n_frames, save_audio
from fastpitch.config import AudioConfig, ConfigError, from_dict
from fastpitch.data.datasets import read_dataset
from fastpitch.errors import FastPitchError
from fastpitch.train.checkpoint import (
    _atomic_write,
    _flatten_optimizer,
    _prune,
    _unflatten_optimizer,
    checkpoint_name,
    latest,
    load_weights,
    rng_state,
    set_rng_state,
)
from fastpitch.vocoders.hifigan import (
    MultiPeriodDiscriminator,
    MultiScaleDiscriminator,
    discriminator_loss,
    feature_loss,
    generator_loss,
    mel_loss,
)
from fastpitch.vocoders.neural import (
    ARCHS,
    TRAIN_FORMAT,
    NeuralVocoder,
    build_generator,
    load_neural,
    named_config,
)

log = logging.getLogger(__name__)

CONTEXT_HOPS = 2  # audio read around each segment so that its mel equals the whole utterance's mel there
STFT_RESOLUTIONS = (
    (1024, 120, 600),
    (2048, 240, 1200),
    (512, 50, 240),
)  # (n_fft, hop, win), Parallel WaveGAN


@dataclass
class VocoderTrainConfig:
    """Optimisation and bookkeeping; HiFi-GAN's published values unless the architecture's defaults say else."""

    segment_frames: int = 32  # 8,192 samples at hop 256
    batch_size: int = 16
    learning_rate: float = 2e-4
    betas: tuple[float, float] = (0.8, 0.99)
    weight_decay: float = 0.01
    lr_decay: float = 0.999  # learning rate factor per 1,000 steps
    max_steps: int = 500_000
    mel_loss_weight: float = 45.0
    stft_loss_weight: float = 0.0
    adversarial: bool = True
    adversarial_start_step: int = 0
    disc_width: float = 1.0  # channel multiplier of both discriminators (< 1 for CPU runs)
    seed: int = 1234
    log_every: int = 50
    val_every: int = 1000
    val_utterances: int = 4
    checkpoint_every: int = 1000
    keep_last: int = 3
    max_nonfinite_steps: int = 10


# Per-architecture departures from the defaults above.
ARCH_TRAIN_DEFAULTS: dict[str, dict[str, Any]] = {
    "hifigan": {},
    # Spectral losses alone converge faster at a higher rate (val mel L1 0.47 vs 0.60 after 400 steps at 5e-4);
    # quarter-width discriminators keep the adversarial phase affordable on a CPU.
    "istft": {
        "learning_rate": 2e-3,
        "betas": (0.8, 0.9),
        "lr_decay": 0.98,
        "stft_loss_weight": 15.0,
        "adversarial_start_step": 50_000,
        "disc_width": 0.25,
    },
}


@dataclass
class VocoderRunConfig:
    """Everything a vocoder run needs to be rebuilt and resumed; saved in every checkpoint."""

    name: str = "istft"  # the --arch name
    arch: str = "istft"
    model: dict[str, Any] = field(default_factory=dict)
    audio: AudioConfig = field(default_factory=AudioConfig)
    train: VocoderTrainConfig = field(default_factory=VocoderTrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def make_config(
    name: str, overrides: list[str] | None = None, model: dict[str, Any] | None = None
) -> VocoderRunConfig:
    """The run config for `--arch name`, with `section.field=value` overrides (sections audio, model, train)."""
    data: dict[str, dict[str, Any]] = {"audio": {}, "model": {}, "train": {}}
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        section, dot, field_name = key.strip().partition(".")
        if not sep or not dot or section not in data:
            raise ConfigError(f"override {item!r} should be audio.X=..., model.X=... or train.X=...")
        try:
            data[section][field_name] = json.loads(raw)
        except json.JSONDecodeError:
            data[section][field_name] = raw
    audio = from_dict(AudioConfig, {**dataclasses.asdict(AudioConfig()), **data["audio"]})
    arch, model_cfg = named_config(name, audio)
    model_dict = {**dataclasses.asdict(model_cfg), **(model or {}), **data["model"]}
    model_dict = dataclasses.asdict(from_dict(ARCHS[arch][0], model_dict))  # checks names and types
    train_dict = {**dataclasses.asdict(VocoderTrainConfig()), **ARCH_TRAIN_DEFAULTS[arch], **data["train"]}
    return VocoderRunConfig(name, arch, model_dict, audio, from_dict(VocoderTrainConfig, train_dict))


# --------------------------------------------------------------------------------------------------------------
# data


@dataclass
class _Item:
    id: str
    path: Path
    n_samples: int
    sample_rate: int


class SegmentSampler:
    """Random (audio, mel) segments: audio (B, S * hop), mel (B, n_mels, S), aligned frame for frame."""

    def __init__(
        self,
        items: list[_Item],
        audio_cfg: AudioConfig,
        segment_frames: int,
        mel_dir: Path | None = None,
        features: Any = None,
        seed: int = 0,
    ) -> None:
        self.items, self.cfg, self.frames = items, audio_cfg, segment_frames
        self.mel_dir, self.features = mel_dir, features
        self.rng = np.random.default_rng(seed)

    def utterance_mel(self, item: _Item) -> np.ndarray | None:
        """The given mel of an utterance (fine-tuning or features), None when mels come from the audio."""
        if self.mel_dir is not None:
            mel = np.load(self.mel_dir / f"{item.id}.npy", mmap_mode="r")
        elif self.features is not None:
            mel = self.features.load(item.id)["mel"]
        else:
            return None
        if mel.ndim != 2 or mel.shape[0] != self.cfg.n_mels:
            raise FastPitchError(
                f"mel of {item.id} has shape {mel.shape}; expected ({self.cfg.n_mels}, frames)"
            )
        return mel

    def read(self, item: _Item, start: int, stop: int) -> np.ndarray:
        """Samples [start, stop) of an utterance, zeros outside it, at the configured sample rate."""
        lo, hi = max(start, 0), min(stop, item.n_samples)
        if item.sample_rate == self.cfg.sample_rate:
            wav, _ = sf.read(str(item.path), start=lo, stop=max(hi, lo), dtype="float32", always_2d=True)
            wav = wav.mean(axis=1)
        else:
            wav = load_audio(item.path, self.cfg.sample_rate)[0][lo:hi]
        out = np.zeros(stop - start, dtype=np.float32)
        out[lo - start : lo - start + len(wav)] = wav
        return out

    def sample(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        hop, size = self.cfg.hop_length, self.frames
        audio, mels, own_mels = [], [], []
        for index in self.rng.integers(len(self.items), size=batch_size):
            item = self.items[index]
            given = self.utterance_mel(item)
            total = (
                n_frames(item.n_samples, self.cfg)
                if given is None
                else min(given.shape[1], item.n_samples // hop)
            )
            first = int(self.rng.integers(max(total - size, 0) + 1))
            if given is None:  # two hops of context each side: this segment's mel frames, exactly
                ctx = CONTEXT_HOPS * hop
                own_mels.append(self.read(item, first * hop - ctx, (first + size) * hop + ctx))
            else:
                mel = np.full((self.cfg.n_mels, size), math.log(LOG_CLAMP), dtype=np.float32)
                part = given[:, first : first + size]
                mel[:, : part.shape[1]] = part
                mels.append(mel)
            audio.append(self.read(item, first * hop, (first + size) * hop))
        if own_mels:
            mel = mel_spectrogram(torch.from_numpy(np.stack(own_mels)), self.cfg)
            return torch.from_numpy(np.stack(audio)), mel[:, :, CONTEXT_HOPS : CONTEXT_HOPS + size]
        return torch.from_numpy(np.stack(audio)), torch.from_numpy(np.stack(mels))


def dataset_items(dataset: str | Path, split: str | None, audio_cfg: AudioConfig) -> list[_Item]:
    """Utterances of `dataset` (LJSpeech directory or filelist) with their lengths at `audio_cfg`'s rate."""
    dataset = Path(dataset)
    root = dataset if dataset.is_dir() else dataset.parent
    use_split = split if split is not None and (root / "splits" / f"{split}.txt").is_file() else None
    items = []
    for utt in read_dataset(dataset, split=use_split):
        try:
            info = sf.info(str(utt.audio_path))
        except (sf.LibsndfileError, RuntimeError):
            log.warning("%s: cannot read %s, skipped", utt.id, utt.audio_path)
            continue
        n = round(info.frames * audio_cfg.sample_rate / info.samplerate)
        items.append(_Item(utt.id, Path(utt.audio_path), n, info.samplerate))
    return items


# --------------------------------------------------------------------------------------------------------------
# losses


def stft_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Multi-resolution STFT loss: spectral convergence + log-magnitude L1, averaged over three resolutions."""
    total = real.new_zeros(())
    for n_fft, hop, win in STFT_RESOLUTIONS:
        window = torch.hann_window(win, device=real.device, dtype=real.dtype)
        mags = []
        for x in (real, fake):
            spec = torch.stft(x, n_fft, hop, win, window, return_complex=True)
            mags.append(torch.view_as_real(spec).pow(2).sum(-1).clamp(min=1e-7).sqrt())
        mag_r, mag_f = mags
        total = total + torch.linalg.norm(mag_r - mag_f) / torch.linalg.norm(mag_r)
        total = total + F.l1_loss(torch.log(mag_f), torch.log(mag_r))
    return total / len(STFT_RESOLUTIONS)


# --------------------------------------------------------------------------------------------------------------
# the run


class VocoderTrainer:
    """Generator, optional discriminators, optimizers and the step counter of one run."""

    def __init__(self, cfg: VocoderRunConfig) -> None:
        self.cfg, t = cfg, cfg.train
        torch.manual_seed(t.seed)
        self.generator = build_generator(cfg.arch, cfg.model)
        self.optim_g = torch.optim.AdamW(
            self.generator.parameters(), t.learning_rate, betas=t.betas, weight_decay=t.weight_decay
        )
        self.mpd = self.msd = self.optim_d = None
        if t.adversarial:
            self.mpd = MultiPeriodDiscriminator(width=t.disc_width)
            self.msd = MultiScaleDiscriminator(width=t.disc_width)
            params = [*self.mpd.parameters(), *self.msd.parameters()]
            self.optim_d = torch.optim.AdamW(
                params, t.learning_rate, betas=t.betas, weight_decay=t.weight_decay
            )
        self.step = 0
        self.nonfinite = 0
        self.best_val: float | None = None
        self.best_step: int | None = None

    def adversarial_now(self) -> bool:
        return self.mpd is not None and self.step >= self.cfg.train.adversarial_start_step

    def train_step(self, audio: torch.Tensor, mel: torch.Tensor) -> dict[str, float]:
        t = self.cfg.train
        lr = t.learning_rate * t.lr_decay ** (self.step / 1000)
        for opt in (self.optim_g, self.optim_d):
            if opt is not None:
                for group in opt.param_groups:
                    group["lr"] = lr
        real = audio[:, None]
        fake = self.generator(mel)
        terms: dict[str, torch.Tensor] = {}
        adversarial = self.adversarial_now()
        if adversarial:
            loss_d = sum(discriminator_loss(*d(real, fake.detach())[:2]) for d in (self.mpd, self.msd))
            if torch.isfinite(loss_d):
                self.optim_d.zero_grad(set_to_none=True)
                loss_d.backward()
                self.optim_d.step()
            terms["disc"] = loss_d.detach()
        terms["mel"] = mel_loss(audio, fake[:, 0], self.cfg.audio)
        loss = t.mel_loss_weight * terms["mel"]
        if t.stft_loss_weight > 0:
            terms["stft"] = stft_loss(audio, fake[:, 0])
            loss = loss + t.stft_loss_weight * terms["stft"]
        if adversarial:
            terms["adv"], terms["fm"] = real.new_zeros(()), real.new_zeros(())
            for disc in (self.mpd, self.msd):
                _, scores_f, fmaps_r, fmaps_f = disc(real, fake)
                terms["adv"] = terms["adv"] + generator_loss(scores_f)
                terms["fm"] = terms["fm"] + feature_loss(fmaps_r, fmaps_f)
            loss = loss + terms["adv"] + terms["fm"]
        self.optim_g.zero_grad(set_to_none=True)
        if not torch.isfinite(loss):
            self.nonfinite += 1
            if self.nonfinite > t.max_nonfinite_steps:
                raise FastPitchError(
                    f"vocoder loss was NaN/inf in {self.nonfinite} steps; lower train.learning_rate"
                )
            log.warning("step %d: non-finite loss, step skipped", self.step)
        else:
            loss.backward()
            self.optim_g.step()
        self.step += 1
        return {"loss": float(loss.detach()), "lr": lr, **{k: float(v.detach()) for k, v in terms.items()}}

    @torch.no_grad()
    def validate(self, sampler: SegmentSampler, items: list[_Item], sample_dir: Path | None) -> float:
        """Mean L1 between the input mel and the mel of the generated audio over whole utterances."""
        self.generator.eval()
        losses = []
        try:
            for i, item in enumerate(items):
                mel = sampler.utterance_mel(item)
                wav = sampler.read(item, 0, item.n_samples)
                mel = (
                    mel_spectrogram(torch.from_numpy(wav), self.cfg.audio)
                    if mel is None
                    else torch.from_numpy(np.array(mel))
                )
                fake = self.generator(mel[None])[0, 0]
                again = mel_spectrogram(fake, self.cfg.audio)
                frames = min(again.shape[-1], mel.shape[-1])
                losses.append(float(F.l1_loss(again[:, :frames], mel[:, :frames])))
                if sample_dir is not None and i == 0:
                    name = f"{checkpoint_name(self.step)}-{item.id}.wav"
                    save_audio(sample_dir / name, fake.numpy(), self.cfg.audio.sample_rate)
        finally:
            self.generator.train()
        return float(np.mean(losses)) if losses else float("nan")

    # ---------------------------------------------------------------------------------------------- checkpoints

    def save(self, run_dir: Path, sampler: SegmentSampler, extra: dict[str, Any]) -> Path:
        """Write `step-NNNNNNN.{safetensors,json}` atomically, the JSON last, and prune old checkpoints."""
        run_dir.mkdir(parents=True, exist_ok=True)
        stem = checkpoint_name(self.step)
        tensors = {f"generator.{k}": v for k, v in self.generator.state_dict().items()}
        for name, module in (("mpd", self.mpd), ("msd", self.msd)):
            if module is not None:
                tensors.update({f"{name}.{k}": v for k, v in module.state_dict().items()})
        optimizers = {
            name: self._flatten(name, opt, tensors)
            for name, opt in (("optim_g", self.optim_g), ("optim_d", self.optim_d))
            if opt is not None
        }
        tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
        weights = run_dir / f"{stem}.safetensors"
        _atomic_write(weights, lambda tmp: save_file(tensors, str(tmp), metadata={"format": TRAIN_FORMAT}))
        meta = {
            "format": TRAIN_FORMAT,
            "format_version": 1,
            "step": self.step,
            **self.cfg.to_dict(),
            "optimizers": optimizers,
            "rng": rng_state(),
            "sampler_rng": sampler.rng.bit_generator.state,
            "nonfinite": self.nonfinite,
            "best_val": self.best_val,
            "best_step": self.best_step,
            "tensors_bytes": weights.stat().st_size,
            "provenance": extra,
        }
        text = json.dumps(meta, indent=1, default=str)
        json_path = run_dir / f"{stem}.json"
        _atomic_write(json_path, lambda tmp: tmp.write_text(text))
        _prune(run_dir, self.cfg.train.keep_last, self.best_step)
        return json_path

    @staticmethod
    def _flatten(name: str, opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
        flat, rest = _flatten_optimizer(opt.state_dict())
        tensors.update({name + key.removeprefix("optim"): v for key, v in flat.items()})
        return rest

    def load(self, json_path: Path, meta: dict[str, Any], sampler: SegmentSampler | None) -> None:
        """Restore everything `save` wrote (the config has already been rebuilt from `meta`)."""
        weights = json_path.with_suffix(".safetensors")
        if not weights.is_file() or weights.stat().st_size != meta.get("tensors_bytes"):
            raise FastPitchError(f"vocoder checkpoint {json_path} is incomplete or corrupt ({weights.name})")
        state = load_file(str(weights))
        groups: dict[str, dict[str, torch.Tensor]] = {}
        for key, value in state.items():
            prefix, _, rest = key.partition(".")
            groups.setdefault(prefix, {})[rest if prefix in ("generator", "mpd", "msd") else key] = value
        load_weights(self.generator, groups.get("generator", {}), weights)
        for name, module in (("mpd", self.mpd), ("msd", self.msd)):
            if module is not None and name in groups:
                load_weights(module, groups[name], weights)
        for name, opt in (("optim_g", self.optim_g), ("optim_d", self.optim_d)):
            if opt is not None and name in meta["optimizers"]:
                opt.load_state_dict(_unflatten_optimizer(groups.get(name, {}), meta["optimizers"][name]))
        self.step, self.nonfinite = int(meta["step"]), int(meta.get("nonfinite", 0))
        self.best_val, self.best_step = meta.get("best_val"), meta.get("best_step")
        set_rng_state(meta["rng"])
        if sampler is not None:
            sampler.rng.bit_generator.state = meta["sampler_rng"]


def read_checkpoint_meta(json_path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(json_path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise FastPitchError(f"cannot read vocoder checkpoint {json_path}: {e}") from None
    if meta.get("format") != TRAIN_FORMAT:
        raise FastPitchError(f"{json_path} is not a vocoder training checkpoint")
    return meta


def config_from_meta(meta: dict[str, Any]) -> VocoderRunConfig:
    fields = {k: meta[k] for k in ("name", "arch", "model", "audio", "train")}
    return from_dict(VocoderRunConfig, fields)


@dataclass
class TrainVocoderResult:
    run_dir: Path
    step: int
    checkpoint: Path | None
    val_mel_l1: float | None


def train_vocoder(
    dataset: str | Path,
    out: str | Path,
    arch: str = "istft",
    overrides: list[str] | None = None,
    features: str | Path | None = None,
    finetune_mels: str | Path | None = None,
    init: str | Path | None = None,
    resume: bool = False,
    max_steps: int | None = None,
    on_step: Callable[[int, int, dict[str, float]], None] | None = None,
) -> TrainVocoderResult:
    """Train (or resume, or fine-tune) a vocoder into the run directory `out`; returns where it stopped.

    `on_step(step, max_steps, losses)` is called after every step (the CLI draws its progress bar with it).
    """
    run_dir = Path(out)
    previous = latest(run_dir)
    if previous is not None and not resume:
        raise FastPitchError(
            f"{run_dir} already holds checkpoints; pass --resume to continue or choose another --out"
        )
    source = None
    if previous is not None:
        meta = read_checkpoint_meta(previous)
        cfg = config_from_meta(meta)
        if overrides:
            cfg = make_config(cfg.name, _as_overrides(cfg) + list(overrides))
    elif init is not None:
        source = load_neural(init)
        cfg = make_config(_arch_name(source), overrides, dataclasses.asdict(source.config))
    else:
        cfg = make_config(arch, overrides)
    if max_steps is not None:
        cfg.train.max_steps = max_steps

    features_cache = None
    if features is not None:
        from fastpitch.data.features import FeatureCache

        features_cache = FeatureCache(features, cfg.audio)
    mel_dir = Path(finetune_mels) if finetune_mels is not None else None
    if mel_dir is not None and not mel_dir.is_dir():
        raise FastPitchError(f"--finetune-mels directory not found: {mel_dir}")
    train_items = _with_mels(dataset_items(dataset, "train", cfg.audio), mel_dir, features_cache)
    val_items = _with_mels(dataset_items(dataset, "val", cfg.audio), mel_dir, features_cache)
    if not train_items:
        raise FastPitchError(f"no usable utterances in {dataset}")
    if not val_items or len(val_items) == len(train_items):
        val_items = train_items
    val_items = val_items[: cfg.train.val_utterances]

    trainer = VocoderTrainer(cfg)
    sampler = SegmentSampler(
        train_items, cfg.audio, cfg.train.segment_frames, mel_dir, features_cache, cfg.train.seed
    )
    if previous is not None:
        trainer.load(previous, meta, sampler)
        log.info("resumed %s at step %d", previous.name, trainer.step)
    elif source is not None:
        load_weights(trainer.generator.remove_weight_norm(), source.model.state_dict(), init)
        trainer.generator.apply_weight_norm()
    provenance = {
        "dataset": str(dataset),
        "features": str(features) if features else None,
        "finetune_mels": str(finetune_mels) if finetune_mels else None,
        "init": str(init) if init else None,
    }
    return _loop(trainer, sampler, val_items, run_dir, provenance, on_step)


def _loop(
    trainer: VocoderTrainer,
    sampler: SegmentSampler,
    val_items: list[_Item],
    run_dir: Path,
    provenance: dict[str, Any],
    on_step: Callable[[int, int, dict[str, float]], None] | None,
) -> TrainVocoderResult:
    t = trainer.cfg.train
    run_dir.mkdir(parents=True, exist_ok=True)
    metrics = run_dir / "metrics.jsonl"
    checkpoint, val = None, None
    start, started = trainer.step, time.perf_counter()
    while trainer.step < t.max_steps:
        audio, mel = sampler.sample(t.batch_size)
        terms = trainer.train_step(audio, mel)
        step = trainer.step
        if on_step is not None:
            on_step(step, t.max_steps, terms)
        if step % t.log_every == 0 or step == t.max_steps:
            rate = (step - start) / max(time.perf_counter() - started, 1e-9)
            shown = " ".join(f"{k} {v:.4g}" for k, v in terms.items())
            log.info("step %d  %s  (%.2f steps/s)", step, shown, rate)
            with metrics.open("a") as f:
                f.write(json.dumps({"step": step, **terms, "steps_per_s": rate}) + "\n")
        if step % t.val_every == 0 or step == t.max_steps:
            val = trainer.validate(sampler, val_items, run_dir / "samples")
            if trainer.best_val is None or val < trainer.best_val:
                trainer.best_val, trainer.best_step = val, step
            log.info(
                "step %d  validation mel L1 %.4f (best %.4f at %d)",
                step,
                val,
                trainer.best_val,
                trainer.best_step,
            )
            with metrics.open("a") as f:
                f.write(json.dumps({"step": step, "val_mel_l1": val}) + "\n")
        if step % t.checkpoint_every == 0 or step == t.max_steps:
            checkpoint = trainer.save(run_dir, sampler, provenance)
    return TrainVocoderResult(run_dir, trainer.step, checkpoint or latest(run_dir), val)


def _with_mels(items: list[_Item], mel_dir: Path | None, features: Any) -> list[_Item]:
    """Keep the utterances that have a given mel (when mels are given); say how many were dropped."""
    if mel_dir is None and features is None:
        return items
    kept = (
        [i for i in items if (mel_dir / f"{i.id}.npy").is_file()]
        if mel_dir
        else [i for i in items if i.id in features]
    )
    if len(kept) < len(items):
        log.warning("%d of %d utterances have no mel and are skipped", len(items) - len(kept), len(items))
    return kept


def _arch_name(vocoder: NeuralVocoder) -> str:
    """The `--arch` preset closest to a loaded vocoder (its own config then overrides the preset's)."""
    if vocoder.arch == "istft":
        return "istft"
    if vocoder.config.resblock == "2":
        return "hifigan-v3"
    return "hifigan-v2" if vocoder.config.upsample_initial_channel <= 128 else "hifigan-v1"


def _as_overrides(cfg: VocoderRunConfig) -> list[str]:
    """A saved config as overrides, so that resuming with extra `--set` values keeps everything else."""
    return [
        f"{section}.{k}={json.dumps(v)}"
        for section, values in (
            ("audio", dataclasses.asdict(cfg.audio)),
            ("model", cfg.model),
            ("train", dataclasses.asdict(cfg.train)),
        )
        for k, v in values.items()
    ]
