"""Trained vocoders behind one call: build by architecture name, save as safetensors + JSON, load from any of
our files (saved vocoder, training run or checkpoint) or a published HiFi-GAN checkpoint.

Saved format: `<stem>.safetensors` (inference weights, weight norm folded) and `<stem>.json`
`{"format": "fastpitch-vocoder", "format_version": 1, "arch": "hifigan" | "istft", "config": {...},
"audio": {AudioConfig}, "source": str}`; a directory holds them as `vocoder.safetensors` + `vocoder.json`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from fastpitch.atomic import atomic_write
from fastpitch.checkpoint import latest, load_weights
from fastpitch.config import AudioConfig, ConfigError, from_dict
from fastpitch.vocoders.griffin_lim import VocoderError, check_mel
from fastpitch.vocoders.hifigan import PRESETS, Generator, HiFiGANConfig, load_published
from fastpitch.vocoders.istft import ISTFTConfig, ISTFTVocoder

log = logging.getLogger(__name__)

FORMAT = "fastpitch-vocoder"
TRAIN_FORMAT = "fastpitch-vocoder-checkpoint"
FORMAT_VERSION = 1
ARCHS: dict[str, tuple[type, type[nn.Module]]] = {
    "hifigan": (HiFiGANConfig, Generator),
    "istft": (ISTFTConfig, ISTFTVocoder),
}
# Names accepted by `--arch`: architecture plus its configuration.
NAMED = {
    "istft": ("istft", ISTFTConfig()),
    "hifigan-v1": ("hifigan", PRESETS["v1"]),
    "hifigan-v2": ("hifigan", PRESETS["v2"]),
    "hifigan-v3": ("hifigan", PRESETS["v3"]),
}
# Mel settings that must match between a vocoder and the mels fed to it; others only warn.
MUST_MATCH = ("sample_rate", "hop_length", "n_mels")


def named_config(name: str, audio_cfg: AudioConfig) -> tuple[str, Any]:
    """(`arch`, config dataclass) for an `--arch` name, sized to `audio_cfg`'s mels and hop."""
    if name not in NAMED:
        raise VocoderError(f"unknown vocoder architecture {name!r}; choose one of: {', '.join(NAMED)}")
    arch, cfg = NAMED[name]
    if arch == "istft":
        cfg = dataclasses.replace(
            cfg, n_mels=audio_cfg.n_mels, n_fft=audio_cfg.n_fft, hop_length=audio_cfg.hop_length
        )
    else:
        cfg = dataclasses.replace(cfg, n_mels=audio_cfg.n_mels)
        if cfg.hop_length != audio_cfg.hop_length:
            raise VocoderError(
                f"{name} upsamples by {cfg.hop_length} but the audio config's hop is {audio_cfg.hop_length}"
            )
    return arch, cfg


def build_generator(arch: str, config: Any) -> nn.Module:
    """A fresh generator (with weight norm where the architecture has it) from a config dataclass or dict."""
    if arch not in ARCHS:
        raise VocoderError(f"unknown vocoder architecture {arch!r}; known: {', '.join(ARCHS)}")
    cfg_cls, model_cls = ARCHS[arch]
    if isinstance(config, dict):
        try:
            config = from_dict(cfg_cls, config)
        except ConfigError as e:
            raise VocoderError(f"bad {arch} vocoder config: {e}") from None
    return model_cls(config)


class NeuralVocoder:
    """`vocoder(mel)` for a trained generator: log-mel (B, n_mels, T) tensor -> audio (B, T * hop) tensor."""

    def __init__(self, model: nn.Module, arch: str, audio_cfg: AudioConfig, source: str = "") -> None:
        self.model = model.remove_weight_norm().eval()
        self.arch, self.audio_cfg, self.source = arch, audio_cfg, source
        self.config = model.cfg
        self.sample_rate, self.hop_length = audio_cfg.sample_rate, audio_cfg.hop_length

    def __call__(self, mel: torch.Tensor) -> torch.Tensor:
        check_mel(mel, self.audio_cfg.n_mels)
        squeeze = mel.dim() == 2
        weight = next(self.model.parameters())
        mel = mel.to(device=weight.device, dtype=weight.dtype)
        with torch.inference_mode():
            audio = self.model(mel[None] if squeeze else mel)
        return audio[0, 0] if squeeze else audio[:, 0]

    def spectrum(self, mel: torch.Tensor) -> torch.Tensor:
        """An iSTFT vocoder's complex spectrum (B, T, n_fft // 2 + 1, 2) for a batched log mel: what it computes
        before its inverse STFT, for a caller that sets the phase from the pitch (`runtime.harmonic_phase`)."""
        if not hasattr(self.model, "spectrum"):
            raise TypeError(f"a {self.arch} vocoder has no spectrum; only the iSTFT vocoder does")
        check_mel(mel, self.audio_cfg.n_mels)
        weight = next(self.model.parameters())
        with torch.inference_mode():
            return self.model.spectrum(mel.to(device=weight.device, dtype=weight.dtype))

    def to(self, device: str | torch.device) -> NeuralVocoder:
        self.model.to(device)
        return self

    def spec(self) -> dict[str, Any]:
        """The JSON description saved beside the weights (and embeddable in a voice's config)."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "arch": self.arch,
            "config": dataclasses.asdict(self.config),
            "audio": dataclasses.asdict(self.audio_cfg),
            "source": self.source,
        }

    def save(self, path: str | Path) -> Path:
        """Write `<path>.safetensors` + `<path>.json` (or `vocoder.*` inside a directory); returns the JSON path."""
        path = Path(path)
        stem = path / "vocoder" if path.is_dir() or not path.suffix else path.with_suffix("")
        stem.parent.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        weights, meta = stem.with_suffix(".safetensors"), stem.with_suffix(".json")
        atomic_write(weights, lambda tmp: save_file(tensors, str(tmp), metadata={"format": FORMAT}))
        text = json.dumps(self.spec(), indent=1)
        atomic_write(meta, lambda tmp: tmp.write_text(text))
        return meta


def from_spec(spec: dict[str, Any], state: dict[str, torch.Tensor], source: str = "") -> NeuralVocoder:
    """A vocoder from its JSON description and inference weights (what `NeuralVocoder.save` wrote)."""
    if spec.get("format") != FORMAT:
        raise VocoderError(f"{source or 'spec'} is not a fastpitch vocoder (format {spec.get('format')!r})")
    if spec.get("format_version", 0) > FORMAT_VERSION:
        raise VocoderError(f"{source} has vocoder format version {spec['format_version']}: upgrade fastpitch")
    model = build_generator(spec["arch"], spec["config"]).remove_weight_norm()
    load_weights(model, state, source)
    return NeuralVocoder(model, spec["arch"], from_dict(AudioConfig, spec["audio"]), source)


def load_neural(
    path: str | Path, audio_cfg: AudioConfig | None = None, config: str | Path | None = None
) -> NeuralVocoder:
    """Load a saved vocoder, a vocoder training run or checkpoint, or a published HiFi-GAN checkpoint.

    `audio_cfg` is the mel definition the caller will feed; a vocoder made for another sample rate, hop or
    number of mels is refused. `config` is a published checkpoint's `config.json` when not beside it.
    """
    path = Path(path)
    if path.is_dir():
        found = latest(path)
        path = found if found is not None else path / "vocoder.json"
        if not path.is_file():
            raise VocoderError(f"{path.parent} holds no vocoder (vocoder.json) and no training checkpoint")
    elif path.suffix == ".safetensors":
        path = path.with_suffix(".json")
    if path.suffix == ".json":
        vocoder = _load_ours(path)
    else:
        source_cfg = audio_cfg or AudioConfig()
        vocoder = NeuralVocoder(load_published(path, config), "hifigan", source_cfg, str(path))
        _check_published_audio(path, config, source_cfg)
    if audio_cfg is not None:
        check_audio(vocoder.audio_cfg, audio_cfg, str(path))
        vocoder.audio_cfg = audio_cfg
    return vocoder


def _load_ours(path: Path) -> NeuralVocoder:
    try:
        spec = json.loads(path.read_text())
    except FileNotFoundError:
        raise VocoderError(f"vocoder file not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise VocoderError(f"{path} is not a vocoder description: {e}") from None
    if not isinstance(spec, dict) or spec.get("format") not in (FORMAT, TRAIN_FORMAT):
        raise VocoderError(f"{path} is not a fastpitch vocoder (nor a vocoder training checkpoint)")
    weights = path.with_suffix(".safetensors")
    try:
        state = load_file(str(weights))
    except FileNotFoundError:
        raise VocoderError(f"vocoder weights missing: {weights}") from None
    except (SafetensorError, OSError) as e:
        raise VocoderError(f"vocoder weights {weights} are corrupt: {e}") from None
    if spec["format"] == FORMAT:
        return from_spec(spec, state, str(path))
    # A training checkpoint: the generator's tensors (its average, when the run kept one), weight norm as trained.
    model = build_generator(spec["arch"], spec["model"])
    prefix = "ema." if any(k.startswith("ema.") for k in state) else "generator."
    generator = {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
    load_weights(model, generator, weights)
    return NeuralVocoder(model, spec["arch"], from_dict(AudioConfig, spec["audio"]), str(path))


def check_audio(have: AudioConfig, want: AudioConfig, source: str) -> None:
    """Refuse a vocoder made for other mels; warn about settings that only degrade the sound."""
    for name in MUST_MATCH:
        if getattr(have, name) != getattr(want, name):
            raise VocoderError(
                f"vocoder {source} was made for {name}={getattr(have, name)}, but the mels have "
                f"{name}={getattr(want, name)}"
            )
    for name in ("n_fft", "win_length", "fmin", "fmax"):
        if getattr(have, name) != getattr(want, name):
            log.warning(
                "vocoder %s was trained with %s=%s, the mels use %s",
                source,
                name,
                getattr(have, name),
                getattr(want, name),
            )


def _check_published_audio(path: Path, config: str | Path | None, audio_cfg: AudioConfig) -> None:
    """jik876's config.json states its mel settings; compare those that it has."""
    config_path = Path(config) if config is not None else path.with_name("config.json")
    if not config_path.is_file():
        return
    try:
        data = json.loads(config_path.read_text())
    except (OSError, json.JSONDecodeError):
        return
    names = {"sampling_rate": "sample_rate", "hop_size": "hop_length", "num_mels": "n_mels", "n_fft": "n_fft"}
    names |= {"win_size": "win_length", "fmin": "fmin", "fmax": "fmax"}
    values = {
        ours: data[theirs] for theirs, ours in names.items() if isinstance(data.get(theirs), (int, float))
    }
    try:
        published = dataclasses.replace(audio_cfg, **values)
    except (TypeError, ConfigError):
        return
    check_audio(published, audio_cfg, str(path))
