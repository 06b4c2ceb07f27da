"""Vocoder training (`fastpitch train-vocoder`): random audio segments and their mels, mel + multi-resolution
STFT losses, and optional adversarial training with feature matching: HiFi-GAN's MPD + MSD, or the MPD + MRD pair
Vocos trains its iSTFT head with (the iSTFT vocoder's default).

HiFi-GAN trains adversarially from the first step. The iSTFT vocoder first learns from the spectral losses alone
(fast on a CPU, and already better than Griffin-Lim), then switches the discriminators on at
`adversarial_start_step` to sharpen its high harmonics. The data is `fastpitch.train.segments`; the loop,
devices, DDP, AMP, non-finite handling, logs and progress are the skeleton the acoustic model shares
(`fastpitch.train.runner`).

Checkpoints: `step-NNNNNNN.safetensors` (generator, EMA, discriminators, optimizer tensors) + `step-NNNNNNN.json`
(configs, step, optimizer scalars, RNG states of every rank), written by `fastpitch.checkpoint.write_step`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from fastpitch import checkpoint as ckpt_io
from fastpitch.audio import complex_spectrogram, mel_spectrogram
from fastpitch.config import AudioConfig, ConfigError, from_dict
from fastpitch.errors import FastPitchError
from fastpitch.train.optim import EMA
from fastpitch.train.runner import Cadence, Run, amp_dtype, autocast, preserved_rng, setup_device
from fastpitch.train.segments import SegmentSampler, Utterance, dataset_items, with_mels
from fastpitch.vocoders.hifigan import (
    DISCRIMINATORS,
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
    # Phase coherence (`phase_loss`): weight of the phase advance between frames and of the phase difference
    # between neighbouring bins, matched to the recording's. It teaches the iSTFT vocoder's phase-advance head
    # (`model.phase_advance`), the cure for its frame-rate hum; alone it did not lower the hum (README).
    phase_loss_weight: float = field(default=0.0, metadata={"absent": 0.0})
    adversarial: bool = True
    adversarial_start_step: int = 0
    # "+"-joined names from hifigan.DISCRIMINATORS; runs saved before the choice existed used HiFi-GAN's pair
    discriminators: str = field(default="mpd+msd", metadata={"absent": "mpd+msd"})
    disc_width: float = 1.0  # channel multiplier of the discriminators (< 1 for CPU runs)
    # Share of segments resampled by a random interval of at most this many semitones (`train.segments`).
    pitch_augment: float = 0.0
    pitch_augment_semitones: float = 4.0
    # Distillation: a trained vocoder whose audio replaces the recordings' as every loss's target, plus a
    # waveform L1 to it (weight `distill_weight`). The teacher's output is a function of the mel, phase
    # included, so the student can match it sample by sample: a pruned vocoder learns back what its
    # adversarial training found without discriminators, at the spectral phase's cost per step.
    teacher: str = ""
    distill_weight: float = 0.0
    seed: int = 1234
    log_every: int = 50
    val_every: int = 1000
    val_utterances: int = 4
    checkpoint_every: int = 1000
    keep_last: int = 3
    max_nonfinite_steps: int = 10
    grad_clip: float = 0.0  # max gradient norm of each network; 0: measured (for the non-finite check) only
    ema_decay: float = 0.0  # > 0: keep an average of the generator, validated and exported instead of it
    amp: str = "none"  # none | bf16 | fp16 (CUDA only)


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
        "discriminators": "mpd+mrd",
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


def phase_loss(real: torch.Tensor, fake: torch.Tensor, cfg: AudioConfig) -> torch.Tensor:
    """How far the audio's phase structure is from the recording's, at the mel's (and vocoder's) framing.

    The mel fixes magnitudes only; where consecutive frames of the output disagree on how far each harmonic's
    phase has turned, their overlap-add beats once per frame. Compared are the phase advance of every bin from
    one frame to the next (instantaneous frequency) and the phase step between neighbouring bins (group delay):
    both survive a shift of the whole waveform, unlike the phase itself. Each is `1 - cos` of the angle between
    the two unit phasors (no wrapping), weighted by the recording's magnitude: noise and silence carry no phase
    worth learning.
    """
    spec_r, spec_f = complex_spectrogram(real, cfg), complex_spectrogram(fake, cfg)
    weight = spec_r.abs()
    total = real.new_zeros(())
    for dim in (-1, -2):  # frames, then bins
        n = spec_r.shape[dim]
        ahead_r, behind_r = spec_r.narrow(dim, 1, n - 1), spec_r.narrow(dim, 0, n - 1)
        ahead_f, behind_f = spec_f.narrow(dim, 1, n - 1), spec_f.narrow(dim, 0, n - 1)
        step_r = ahead_r * behind_r.conj()
        step_f = ahead_f * behind_f.conj()
        cos = (step_r * step_f.conj()).real / (step_r.abs() * step_f.abs() + 1e-9)
        w = torch.sqrt(weight.narrow(dim, 1, n - 1) * weight.narrow(dim, 0, n - 1))
        total = total + (w * (1.0 - cos)).sum() / w.sum().clamp(min=1e-9)
    return total


# --------------------------------------------------------------------------------------------------------------
# the run


class VocoderTrainer(Run):
    """Generator, optional discriminators and EMA, optimizers and the step counter of one run."""

    label = "train-vocoder"

    def __init__(
        self,
        cfg: VocoderRunConfig,
        out_dir: Path,
        sampler: SegmentSampler,
        val_items: list[Utterance],
        device: str | None = "cpu",
        progress: bool = False,
        provenance: dict[str, Any] | None = None,
    ) -> None:
        self.cfg, t = cfg, cfg.train
        self.out_dir, self.sampler, self.val_items = Path(out_dir), sampler, val_items
        self.device, self.dist = setup_device(device)
        self.progress_enabled, self.provenance = progress, dict(provenance or {})
        self.cadence = Cadence(
            t.max_steps, t.log_every, t.val_every, t.checkpoint_every, t.max_nonfinite_steps
        )
        self.amp = amp_dtype(t.amp, self.device)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp == torch.float16)
        torch.manual_seed(t.seed)
        self.generator = build_generator(cfg.arch, cfg.model).to(self.device)
        self.optim_g = torch.optim.AdamW(
            self.generator.parameters(), t.learning_rate, betas=t.betas, weight_decay=t.weight_decay
        )
        names = t.discriminators.split("+") if t.adversarial else []
        unknown = [n for n in names if n not in DISCRIMINATORS]
        if unknown:
            raise ConfigError(
                f"train.discriminators={t.discriminators!r}: join names from {', '.join(DISCRIMINATORS)} with +"
            )
        self.disc_nets = {n: DISCRIMINATORS[n](width=t.disc_width).to(self.device) for n in names}
        self.optim_d = None
        if self.disc_nets:
            self.optim_d = torch.optim.AdamW(
                self._disc_params(), t.learning_rate, betas=t.betas, weight_decay=t.weight_decay
            )
        self.ema = EMA(self.generator, t.ema_decay) if t.ema_decay > 0 else None
        self.teacher = None
        if t.teacher:
            teacher = load_neural(t.teacher, cfg.audio)
            self.teacher = teacher.model.to(self.device).eval().requires_grad_(False)
        self._step = 0
        self.updating = False
        self.last_val: float | None = None
        # The networks as the step runs them: DDP wrappers under torchrun (gradients averaged over ranks).
        self.g, self.discs = self.generator, list(self.disc_nets.values())
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.g = DistributedDataParallel(self.generator, device_ids=ids)
            self.discs = [DistributedDataParallel(d, device_ids=ids) for d in self.discs]

    @property
    def step(self) -> int:
        return self._step

    def _disc_params(self) -> list[torch.Tensor]:
        return [p for net in self.disc_nets.values() for p in net.parameters()]

    def adversarial_now(self) -> bool:
        return bool(self.disc_nets) and self._step >= self.cfg.train.adversarial_start_step

    def consistent(self) -> bool:
        return not self.updating

    def update(self) -> dict[str, Any]:
        audio, mel = self.sampler.sample(self.cfg.train.batch_size)
        stats = self.train_step(audio, mel)
        stats["frames"] = mel.shape[0] * mel.shape[-1] * self.dist.world_size
        return stats

    def rng_state(self) -> dict[str, Any]:
        return {**ckpt_io.rng_state(), "sampler": self.sampler.rng.bit_generator.state}

    def train_step(self, audio: torch.Tensor, mel: torch.Tensor) -> dict[str, Any]:
        """One update of the discriminators (when adversarial) and the generator; skipped when not finite."""
        t = self.cfg.train
        lr = t.learning_rate * t.lr_decay ** (self._step / 1000)
        for opt in (self.optim_g, self.optim_d):
            if opt is not None:
                for group in opt.param_groups:
                    group["lr"] = lr
        audio, mel = audio.to(self.device), mel.to(self.device)
        if self.teacher is not None:
            with torch.no_grad(), autocast(self.device, self.amp):
                audio = self.teacher(mel)[:, 0].float()
        real = audio[:, None]
        with autocast(self.device, self.amp):
            fake = self.g(mel).float()
        terms: dict[str, torch.Tensor] = {}
        adversarial = self.adversarial_now()
        finite = True
        if adversarial:
            with autocast(self.device, self.amp):
                loss_d = sum(discriminator_loss(*d(real, fake.detach())[:2]) for d in self.discs)
            terms["disc"] = loss_d.detach()
            self.updating = True  # from the first weight change to the step count: no checkpoint in between
            finite = self._apply(loss_d, self.optim_d, self._disc_params())
        if finite:
            terms["mel"] = mel_loss(audio, fake[:, 0], self.cfg.audio)
            loss = t.mel_loss_weight * terms["mel"]
            if t.stft_loss_weight > 0:
                terms["stft"] = stft_loss(audio, fake[:, 0])
                loss = loss + t.stft_loss_weight * terms["stft"]
            if t.phase_loss_weight > 0:
                terms["phase"] = phase_loss(audio, fake[:, 0], self.cfg.audio)
                loss = loss + t.phase_loss_weight * terms["phase"]
            if self.teacher is not None and t.distill_weight > 0:
                terms["distill"] = F.l1_loss(fake[:, 0], audio)
                loss = loss + t.distill_weight * terms["distill"]
            if adversarial:
                terms["adv"], terms["fm"] = real.new_zeros(()), real.new_zeros(())
                with autocast(self.device, self.amp):
                    for disc in self.discs:
                        _, scores_f, fmaps_r, fmaps_f = disc(real, fake)
                        terms["adv"] = terms["adv"] + generator_loss(scores_f)
                        terms["fm"] = terms["fm"] + feature_loss(fmaps_r, fmaps_f)
                loss = loss + terms["adv"] + terms["fm"]
            self.updating = True
            finite = self._apply(loss, self.optim_g, list(self.generator.parameters()))
        else:
            loss = terms["disc"]
        self.scaler.update()
        if finite:
            self._step += 1
            if self.ema is not None:
                self.ema.update(self.generator)
        self.updating = False
        values = torch.stack([loss.detach().float(), *(v.detach().float() for v in terms.values())])
        self.dist.all_reduce_mean(values)
        total, *rest = values.tolist()
        return {"total": total, "lr": lr, **dict(zip(terms, rest, strict=True)), "finite": finite}

    def _apply(self, loss: torch.Tensor, opt: torch.optim.Optimizer, params: list[torch.Tensor]) -> bool:
        """Backward and step of one network; False (no step) when its gradient is not finite.

        Decided on the gradient norm, which DDP has made the same on every rank, so all ranks skip together.
        """
        opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(opt)
        clip = self.cfg.train.grad_clip if self.cfg.train.grad_clip > 0 else math.inf
        norm = torch.nn.utils.clip_grad_norm_(params, clip)
        if self.scaler.is_enabled():  # fp16: an overflowing gradient is the scaler's business
            self.scaler.step(opt)
            return True
        if not torch.isfinite(norm):
            opt.zero_grad(set_to_none=True)
            return False
        opt.step()
        return True

    @torch.no_grad()
    def validate(self) -> float | None:
        """Mean L1 between the input mel and the mel of the generated audio over whole utterances (EMA weights
        when kept); rank 0 scores, every rank gets the result. The first utterance is saved as a sample."""
        if not self.val_items:
            return None
        generator = self.ema.module if self.ema is not None else self.generator
        losses = []
        with preserved_rng(self.device):
            generator.eval()
            try:
                for i, item in enumerate(self.val_items if self.dist.is_main else []):
                    mel = self.sampler.utterance_mel(item)
                    wav = self.sampler.read(item, 0, item.n_samples)
                    mel = (
                        mel_spectrogram(torch.from_numpy(wav), self.cfg.audio)
                        if mel is None
                        else torch.from_numpy(np.array(mel))
                    ).to(self.device)
                    fake = generator(mel[None])[0, 0].float()
                    again = mel_spectrogram(fake, self.cfg.audio)
                    frames = min(again.shape[-1], mel.shape[-1])
                    losses.append(float(F.l1_loss(again[:, :frames], mel[:, :frames])))
                    if i == 0:
                        self.run_log.audio(
                            item.id, fake.cpu().numpy(), self.cfg.audio.sample_rate, self._step
                        )
            finally:
                generator.train()
        value = torch.tensor([float(np.mean(losses)) if losses else 0.0], device=self.device)
        value = float(self.dist.all_reduce_sum(value).item())  # only rank 0 contributes
        if self.dist.is_main:
            self.log_val({"mel_l1": value})
        self.last_val = value
        return value

    # ---------------------------------------------------------------------------------------------- checkpoints

    def save(self, val_loss: float | None) -> Path | None:
        """Write `step-NNNNNNN.{safetensors,json}` atomically, the JSON last, and prune old checkpoints."""
        path = self.out_dir / f"{ckpt_io.checkpoint_name(self._step)}.json"
        if self.last_checkpoint == path:
            return path
        rng = self.dist.gather_json(self.checkpoint_rng(), self.device)
        if not self.dist.is_main:
            self.last_checkpoint = path
            return None
        tensors = {f"generator.{k}": v for k, v in self.generator.state_dict().items()}
        if self.ema is not None:
            tensors.update({f"ema.{k}": v for k, v in self.ema.state_dict().items()})
        for name, module in self.disc_nets.items():
            tensors.update({f"{name}.{k}": v for k, v in module.state_dict().items()})
        optimizers = {}
        for name, opt in (("optim_g", self.optim_g), ("optim_d", self.optim_d)):
            if opt is not None:
                flat, optimizers[name] = ckpt_io.flatten_optimizer(opt.state_dict())
                tensors.update({name + key.removeprefix("optim"): v for key, v in flat.items()})
        meta = {
            "format": TRAIN_FORMAT,
            "format_version": 1,
            "step": self._step,
            **self.cfg.to_dict(),
            "optimizers": optimizers,
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
            "ema_updates": self.ema.updates if self.ema is not None else 0,
            "rng": rng,
            "val_loss": val_loss,
            "best_val": self.best_val,
            "best_step": self.best_step,
            "provenance": self.provenance,
        }
        self.last_checkpoint = ckpt_io.write_step(
            self.out_dir,
            self._step,
            tensors,
            meta,
            tag=TRAIN_FORMAT,
            keep_last=self.cfg.train.keep_last,
            best_step=self.best_step,
        )
        return self.last_checkpoint

    def load(self, json_path: Path, meta: dict[str, Any]) -> None:
        """Restore everything `save` wrote (the config has already been rebuilt from `meta`)."""
        state = ckpt_io.read_step_tensors(json_path, meta)
        groups: dict[str, dict[str, torch.Tensor]] = {}
        for key, value in state.items():
            prefix, _, rest = key.partition(".")
            keep_prefix = prefix not in ("generator", "ema", *DISCRIMINATORS)
            groups.setdefault(prefix, {})[key if keep_prefix else rest] = value
        ckpt_io.load_weights(self.generator, groups.get("generator", {}), json_path)
        if self.ema is not None:
            self.ema.load_state_dict(
                groups.get("ema") or groups["generator"], int(meta.get("ema_updates", 0))
            )
        for name, module in self.disc_nets.items():
            if name in groups:
                ckpt_io.load_weights(module, groups[name], json_path)
        saved = config_from_meta(meta).train.discriminators
        same_discs = saved == self.cfg.train.discriminators
        if not same_discs:
            log.info(
                "discriminators %s replace the run's %s: new ones start afresh",
                self.cfg.train.discriminators,
                saved,
            )
        for name, opt in (("optim_g", self.optim_g), ("optim_d", self.optim_d if same_discs else None)):
            if opt is not None and name in meta["optimizers"]:
                opt.load_state_dict(
                    ckpt_io.unflatten_optimizer(groups.get(name, {}), meta["optimizers"][name])
                )
        if meta.get("scaler") and self.scaler.is_enabled():
            self.scaler.load_state_dict(meta["scaler"])
        self._step = int(meta["step"])
        self.best_val, self.best_step = meta.get("best_val"), meta.get("best_step")
        self.last_checkpoint = json_path
        # Format 1 before the shared skeleton kept one RNG state and the sampler's beside it.
        rng = (
            meta["rng"]
            if isinstance(meta["rng"], list)
            else [{**meta["rng"], "sampler": meta["sampler_rng"]}]
        )
        if len(rng) != self.dist.world_size:
            raise FastPitchError(
                f"{json_path} was written by {len(rng)} rank(s); resume it with the same number of processes"
            )
        ckpt_io.set_rng_state(rng[self.dist.rank])
        self.sampler.rng.bit_generator.state = rng[self.dist.rank]["sampler"]


def read_checkpoint_meta(json_path: Path) -> dict[str, Any]:
    return ckpt_io.read_meta(json_path, TRAIN_FORMAT)


def config_from_meta(meta: dict[str, Any]) -> VocoderRunConfig:
    fields = {k: meta[k] for k in ("name", "arch", "model", "audio", "train")}
    return from_dict(VocoderRunConfig, fields)


@dataclass
class TrainVocoderResult:
    run_dir: Path
    step: int
    checkpoint: Path | None
    val_mel_l1: float | None
    frames_per_second: float = 0.0


def train_vocoder(
    dataset: str | Path,
    out: str | Path,
    arch: str | None = None,
    overrides: list[str] | None = None,
    features: str | Path | None = None,
    finetune_mels: str | Path | None = None,
    init: str | Path | None = None,
    resume: bool = False,
    max_steps: int | None = None,
    device: str | None = None,
    progress: bool = False,
    deadline: float | None = None,
    on_step: Callable[[int, int], None] | None = None,
) -> TrainVocoderResult:
    """Train (or resume, or fine-tune) a vocoder into the run directory `out`; returns where it stopped.

    `arch` (a preset name, `istft` when None) is for a new run: a resumed or initialised one keeps its own.
    `device` None picks CUDA when available; under torchrun every rank trains on its own random segments.
    `deadline` (time.monotonic()) stops the run early with a checkpoint; `on_step(step, max_steps)` follows it.
    """
    run_dir = Path(out)
    previous = ckpt_io.latest(run_dir)
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
        kept = cfg.name
    elif init is not None:
        source = load_neural(init)
        kept = _arch_name(source)
        cfg = make_config(kept, overrides, dataclasses.asdict(source.config))
    else:
        cfg = make_config(arch or "istft", overrides)
        kept = arch
    if arch is not None and arch != kept:  # `train --resume` warns of a config it does not take alike
        log.warning(
            "--arch %s is ignored: %s keeps the architecture it has (%s)",
            arch,
            "--resume" if previous else "--init",
            kept,
        )
    if max_steps is not None:
        cfg.train.max_steps = max_steps

    features_cache = None
    if features is not None:
        from fastpitch.data.features import FeatureCache

        features_cache = FeatureCache(features, cfg.audio)
    mel_dir = Path(finetune_mels) if finetune_mels is not None else None
    if mel_dir is not None and not mel_dir.is_dir():
        raise FastPitchError(f"--finetune-mels directory not found: {mel_dir}")
    n_mels = cfg.audio.n_mels
    train_items = with_mels(dataset_items(dataset, "train", cfg.audio), mel_dir, features_cache, n_mels)
    val_items = with_mels(dataset_items(dataset, "val", cfg.audio), mel_dir, features_cache, n_mels)
    if not train_items:
        raise FastPitchError(f"no usable utterances in {dataset}")
    if not val_items or len(val_items) == len(train_items):
        val_items = train_items
    val_items = val_items[: cfg.train.val_utterances]

    provenance = {
        "dataset": str(dataset),
        "features": str(features) if features else None,
        "finetune_mels": str(finetune_mels) if finetune_mels else None,
        "init": str(init) if init else None,
    }
    sampler = SegmentSampler(
        train_items,
        cfg.audio,
        cfg.train.segment_frames,
        mel_dir,
        features_cache,
        cfg.train.seed,
        cfg.train.pitch_augment,
        cfg.train.pitch_augment_semitones,
    )
    trainer = VocoderTrainer(cfg, run_dir, sampler, val_items, device, progress, provenance)
    trainer.deadline, trainer.on_step = deadline, on_step
    try:
        if trainer.dist.enabled:  # each rank its own segments
            sampler.rng = np.random.default_rng([cfg.train.seed, trainer.dist.rank])
        if previous is not None:
            trainer.load(previous, meta)
            log.info("resumed %s at step %d", previous.name, trainer.step)
        elif source is not None:
            state = source.model.state_dict()
            if cfg.model.get("phase_advance"):
                state = trainer.generator.grow_from(state)
            ckpt_io.load_weights(trainer.generator.remove_weight_norm(), state, init)
            trainer.generator.apply_weight_norm()
            if trainer.ema is not None:
                trainer.ema.load_state_dict(trainer.generator.state_dict(), 0)
        fps = trainer.run()
    finally:
        trainer.dist.close()
    return TrainVocoderResult(run_dir, trainer.step, trainer.last_checkpoint, trainer.last_val, fps)


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
