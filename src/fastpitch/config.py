"""Typed configuration, saved as JSON beside every model so that a model can always be rebuilt.

Every section is a dataclass with defaults equal to the published reference (NVIDIA's LJSpeech FastPitch and
HiFi-GAN's mel definition). `Config.from_dict(cfg.to_dict())` round-trips, and `apply_overrides` takes the
`section.field=value` strings that `--set` passes on the command line.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from fastpitch.errors import FastPitchError


class ConfigError(FastPitchError, ValueError):
    """A configuration value that cannot be used; the message names the field."""


@dataclass
class AudioConfig:
    """The audio and mel definition: HiFi-GAN's, so our mels feed published HiFi-GAN checkpoints unchanged."""

    sample_rate: int = 22050
    n_fft: int = 1024
    hop_length: int = 256
    win_length: int = 1024
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float = 8000.0
    f0_min: float = 60.0
    f0_max: float = 800.0

    def check(self) -> AudioConfig:
        """Refuse a definition no mel or pitch track can be computed with (it would fail clip by clip)."""
        half = self.sample_rate / 2
        for ok, what in (
            (self.sample_rate >= 1000, f"audio.sample_rate must be at least 1000, got {self.sample_rate}"),
            (self.n_fft >= 16, f"audio.n_fft must be at least 16, got {self.n_fft}"),
            (
                1 <= self.win_length <= self.n_fft,
                f"audio.win_length must be 1 to n_fft, got {self.win_length}",
            ),
            (
                1 <= self.hop_length <= self.n_fft,
                f"audio.hop_length must be 1 to n_fft, got {self.hop_length}",
            ),
            (self.n_mels >= 1, f"audio.n_mels must be at least 1, got {self.n_mels}"),
            (
                0 <= self.fmin < self.fmax <= half,
                f"audio.fmin and fmax must satisfy 0 <= fmin < fmax <= {half:g} Hz (half the sample rate), "
                f"got {self.fmin:g} and {self.fmax:g}",
            ),
            (
                0 < self.f0_min < self.f0_max <= half,
                f"audio.f0_min and f0_max must satisfy 0 < f0_min < f0_max <= {half:g} Hz, "
                f"got {self.f0_min:g} and {self.f0_max:g}",
            ),
        ):
            if not ok:
                raise ConfigError(what)
        return self


@dataclass
class TextConfig:
    """How text becomes symbols. `symbols` is filled in when a model is saved, so it always reads its own."""

    mode: str = "phonemes"  # phonemes | graphemes | mixed (phonemes with a grapheme fallback)
    symbol_set: str = "en-v1"
    symbols: list[str] = field(default_factory=list)
    # A word boundary before the first and after the last word, so that the silence around a recording has a
    # symbol of its own instead of stretching the first and last phones. Configs saved before this field
    # existed were trained without it: reading one leaves it off (`absent`).
    edge_boundaries: bool = field(default=True, metadata={"absent": False})


@dataclass
class ModelConfig:
    """FastPitch hyperparameters; defaults are NVIDIA's LJSpeech configuration."""

    n_symbols: int = 0  # set from the symbol table
    n_mels: int = 80
    n_speakers: int = 1
    # How pitch is scaled into the pitch embedding. "shared": one scale for every speaker (NVIDIA's global pitch
    # normalisation), so the embedding means absolute pitch and a pitch shift beyond one speaker's range lands
    # where another speaker was heard; "speaker": each speaker's own mean and std (models made before it).
    pitch_embedding_stats: str = field(default="shared", metadata={"absent": "speaker"})
    symbols_embedding_dim: int = 384
    # input FFTr (encoder)
    in_fft_n_layers: int = 6
    in_fft_n_heads: int = 1
    in_fft_d_head: int = 64
    in_fft_conv1d_kernel_size: int = 3
    in_fft_conv1d_filter_size: int = 1536
    in_fft_output_size: int = 384
    p_in_fft_dropout: float = 0.1
    p_in_fft_dropatt: float = 0.1
    p_in_fft_dropemb: float = 0.0
    # output FFTr (decoder)
    out_fft_n_layers: int = 6
    out_fft_n_heads: int = 1
    out_fft_d_head: int = 64
    out_fft_conv1d_kernel_size: int = 3
    out_fft_conv1d_filter_size: int = 1536
    out_fft_output_size: int = 384
    p_out_fft_dropout: float = 0.1
    p_out_fft_dropatt: float = 0.1
    p_out_fft_dropemb: float = 0.0
    # predictors
    dur_predictor_kernel_size: int = 3
    dur_predictor_filter_size: int = 256
    p_dur_predictor_dropout: float = 0.1
    dur_predictor_n_layers: int = 2
    pitch_predictor_kernel_size: int = 3
    pitch_predictor_filter_size: int = 256
    p_pitch_predictor_dropout: float = 0.1
    pitch_predictor_n_layers: int = 2
    pitch_embedding_kernel_size: int = 3
    energy_conditioning: bool = True
    energy_predictor_kernel_size: int = 3
    energy_predictor_filter_size: int = 256
    p_energy_predictor_dropout: float = 0.1
    energy_predictor_n_layers: int = 2
    energy_embedding_kernel_size: int = 3
    speaker_emb_weight: float = 1.0
    # learned aligner (Badlani et al.); off when durations come from external timings
    learn_alignment: bool = True
    aligner_n_text_channels: int = 768  # hidden width of the symbol conv encoder (NVIDIA: 2 x 384)
    aligner_n_mel_channels: int = 160  # hidden width of the mel conv encoder (NVIDIA: 2 x 80)
    aligner_n_att_channels: int = 80  # width of the space where frames and symbols are compared
    aligner_temperature: float = 0.0005

    def check(self) -> ModelConfig:
        """Refuse sizes no FastPitch can be built with (a layer of 0 units, a dropout of 1 or more)."""
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.startswith("p_") and not 0 <= value < 1:
                raise ConfigError(f"model.{f.name} is a dropout probability: 0 to below 1, got {value}")
            if f.type in ("int", int) and f.name != "n_symbols" and value < 1:
                raise ConfigError(f"model.{f.name} must be at least 1, got {value}")
        if not self.aligner_temperature > 0:
            raise ConfigError(f"model.aligner_temperature must be above 0, got {self.aligner_temperature}")
        return self


@dataclass
class TrainConfig:
    """Optimisation and bookkeeping for `fastpitch train`."""

    durations: str = "learned"  # learned | external
    optimizer: str = "lamb"  # lamb | adam
    # Peak learning rate (reached after warmup_steps). NVIDIA's LAMB "lr 0.1" is 0.1 / sqrt(warmup) at the peak
    # under their un-normalised Noam schedule: 0.1 / sqrt(1000) = 3.16e-3.
    learning_rate: float = 3.16e-3
    weight_decay: float = 1e-6
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-9
    warmup_steps: int = 1000
    grad_clip: float = 1000.0
    grad_accumulation: int = 1
    # Parameter-name prefixes kept fixed ("encoder.", "embedding."): fine-tuning on little data adapts only the
    # rest, so what the base voice learned from hours of speech is not overwritten by minutes of it.
    freeze: list[str] = field(default_factory=list)
    batch_frames: int = 16000  # mel frames per batch (length-bucketed)
    max_steps: int = 100000
    ema_decay: float = 0.9999
    amp: str = "none"  # none | bf16 | fp16 (CUDA only)
    seed: int = 1234
    # loss weights: L = mel + alpha * pitch + gamma * duration (+ energy, + aligner terms)
    pitch_loss_weight: float = 0.1
    duration_loss_weight: float = 0.1
    energy_loss_weight: float = 0.1
    attn_loss_weight: float = 1.0
    binarization_start_step: int = 6000
    binarization_warmup_steps: int = 6000
    kl_loss_weight: float = 1.0
    # Nats per frame that MAS charges a word boundary, which may then get no frame, in the durations the model
    # learns from (`FastPitch.set_boundary_cost`). Configs saved before this setting read 0: their runs had none.
    mas_boundary_cost: float = field(default=4.0, metadata={"absent": 0.0})
    # The edge word boundaries take the silence around each recording in the learned durations: frames at
    # its ends this far (log frame energy; 4.6 is 40 dB) below its loudest (`FastPitch.set_edge_silence`).
    # Configs saved before this setting read 0 (off): MAS gave that silence to the first and last phones.
    edge_silence: float = field(default=4.6, metadata={"absent": 0.0})
    # Pitch-shift augmentation (`fastpitch.train.augment`): the share of training utterances shifted, and the
    # largest shift in semitones. For voices taught by a TTS teacher, whose melody the text predicts.
    pitch_augment: float = 0.0
    pitch_augment_semitones: float = 4.0
    # bookkeeping
    log_every: int = 50
    val_every: int = 1000
    checkpoint_every: int = 1000
    keep_last: int = 3
    max_nonfinite_steps: int = 10
    num_workers: int = 2
    # mel/pitch/alignment images and Griffin-Lim audio in TensorBoard at each validation
    val_media: bool = True

    def check(self) -> TrainConfig:
        """Refuse settings no optimiser or loader takes (they failed deep in torch, with its traceback)."""
        rules = (
            (self.learning_rate > 0, "learning_rate must be above 0"),
            (self.weight_decay >= 0, "weight_decay must be 0 or more"),
            (
                len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas),
                "betas must be two numbers in [0, 1)",
            ),
            (self.eps > 0, "eps must be above 0"),
            (self.warmup_steps >= 0, "warmup_steps must be 0 or more"),
            (self.grad_clip > 0, "grad_clip must be above 0"),
            (self.batch_frames >= 1, "batch_frames must be at least 1"),
            (0 <= self.ema_decay < 1, "ema_decay must be in [0, 1)"),
            (0 <= self.pitch_augment <= 1, "pitch_augment is a share of utterances: 0 to 1"),
            (self.pitch_augment_semitones >= 0, "pitch_augment_semitones must be 0 or more"),
            (self.num_workers >= 0, "num_workers must be 0 or more"),
            (self.keep_last >= 1, "keep_last must be at least 1"),
            (self.max_nonfinite_steps >= 1, "max_nonfinite_steps must be at least 1"),
            (
                min(self.binarization_start_step, self.binarization_warmup_steps) >= 0,
                "binarization_start_step and binarization_warmup_steps must be 0 or more",
            ),
        )
        for ok, what in rules:
            if not ok:
                raise ConfigError(f"train.{what}")
        for name in ("pitch", "duration", "energy", "attn", "kl"):
            weight = getattr(self, f"{name}_loss_weight")
            if weight < 0:
                raise ConfigError(f"train.{name}_loss_weight must be 0 or more, got {weight}")
        return self


@dataclass
class Config:
    """Everything needed to rebuild and retrain a model."""

    audio: AudioConfig = field(default_factory=AudioConfig)
    text: TextConfig = field(default_factory=TextConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json() + "\n")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        return from_dict(cls, data)

    @classmethod
    def load(cls, path: str | Path) -> Config:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except json.JSONDecodeError as e:
            raise ConfigError(f"config file {path} is not valid JSON: {e}") from None
        return cls.from_dict(data)


PRESETS: dict[str, dict[str, Any]] = {
    # NVIDIA's LJSpeech FastPitch (46 M parameters with the aligner).
    "default": {},
    # 8 M parameters (16 MB in fp16), 4+4 blocks of width 256: trains usefully on two CPU cores in an hour or
    # two, and ships inside the package.
    "small": {
        "model.symbols_embedding_dim": 256,
        "model.in_fft_n_layers": 4,
        "model.in_fft_output_size": 256,
        "model.in_fft_conv1d_filter_size": 512,
        "model.out_fft_n_layers": 4,
        "model.out_fft_output_size": 256,
        "model.out_fft_conv1d_filter_size": 512,
        "train.optimizer": "adam",
        "train.learning_rate": 1e-3,
        "train.warmup_steps": 500,
        "train.batch_frames": 8000,
        "train.binarization_start_step": 2000,
        "train.binarization_warmup_steps": 2000,
    },
    # A few thousand parameters: for tests and smoke runs only.
    "tiny": {
        "model.symbols_embedding_dim": 32,
        "model.in_fft_n_layers": 1,
        "model.in_fft_d_head": 16,
        "model.in_fft_output_size": 32,
        "model.in_fft_conv1d_filter_size": 64,
        "model.out_fft_n_layers": 1,
        "model.out_fft_d_head": 16,
        "model.out_fft_output_size": 32,
        "model.out_fft_conv1d_filter_size": 64,
        "model.dur_predictor_filter_size": 32,
        "model.pitch_predictor_filter_size": 32,
        "model.energy_predictor_filter_size": 32,
        "model.aligner_n_text_channels": 32,
        "model.aligner_n_mel_channels": 32,
        "model.aligner_n_att_channels": 16,
        "train.optimizer": "adam",
        "train.learning_rate": 3e-3,
        "train.warmup_steps": 10,
        "train.batch_frames": 2000,
        "train.binarization_start_step": 50,
        "train.binarization_warmup_steps": 50,
        "train.log_every": 10,
        "train.val_every": 100,
        "train.checkpoint_every": 100,
        "train.num_workers": 0,
    },
}


def preset(name: str, overrides: list[str] | None = None) -> Config:
    """A named preset with `section.field=value` overrides applied on top."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    items = [f"{k}={json.dumps(v)}" for k, v in PRESETS[name].items()]
    return apply_overrides(Config(), items + list(overrides or []))


def apply_overrides(cfg: Config, overrides: list[str]) -> Config:
    """Return a copy of `cfg` with `section.field=value` overrides; values parse as JSON, else as strings."""
    data = cfg.to_dict()
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"override {item!r} is not of the form section.field=value")
        section, dot, name = key.strip().partition(".")
        if not dot or section not in data or name not in data[section]:
            raise ConfigError(f"unknown config field {key.strip()!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        data[section][name] = value
    cfg = Config.from_dict(data)
    for section in (cfg.audio, cfg.model, cfg.train):
        section.check()
    return cfg


T = TypeVar("T")


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build dataclass `cls` from plain JSON data, checking names and types so typos fail loudly."""
    if not isinstance(data, dict):
        raise ConfigError(f"{cls.__name__} expects a JSON object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"unknown field(s) in {cls.__name__}: {', '.join(sorted(unknown))}")
    kwargs = {name: _coerce(hints[name], value, f"{cls.__name__}.{name}") for name, value in data.items()}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name not in data and "absent" in f.metadata:
            kwargs[f.name] = f.metadata["absent"]
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            if arg is type(None) and value is None:
                return None
        for arg in typing.get_args(tp):
            if arg is not type(None):
                return _coerce(arg, value, where)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} expects a list, got {value!r}")
        args = typing.get_args(tp)
        items = (
            [_coerce(args[0], v, where) for v in value] if args and args[0] is not Ellipsis else list(value)
        )
        if origin is tuple and args and len(args) > 1 and args[-1] is not Ellipsis:
            items = [_coerce(a, v, where) for a, v in zip(args, value, strict=False)]
        return tuple(items) if origin is tuple else items
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"{where} expects true or false, got {value!r}")
    if tp is int:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or int(value) != value
        ):
            raise ConfigError(f"{where} expects an integer, got {value!r}")
        return int(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{where} expects a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} expects a string, got {value!r}")
        return value
    return value
