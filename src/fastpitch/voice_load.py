"""Loading a voice directory's weights into torch modules, for the `Synthesizer`, `export` and evaluation.

The directory format itself (voice.json, file names, checks) is `fastpitch.voice`, which the torch-free runtime
shares; this module adds only what needs torch: reading the safetensors files and building the models.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open

from fastpitch.checkpoint import CheckpointError, load_weights
from fastpitch.config import ConfigError
from fastpitch.errors import FastPitchError
from fastpitch.models import FastPitch
from fastpitch.vocoders import GriffinLim, load_vocoder
from fastpitch.vocoders.neural import NeuralVocoder, build_generator
from fastpitch.voice import (
    ACOUSTIC_TAG,
    ACOUSTIC_WEIGHTS,
    GRIFFIN_LIM,
    VOCODER_TAG,
    VOCODER_WEIGHTS,
    Voice,
    VoiceError,
    read_voice,
)


@dataclass
class LoadedVoice:
    """A voice with its models built, weights loaded as fp32, in eval mode."""

    voice: Voice
    acoustic: torch.nn.Module
    vocoder: Any  # a torch module, or the numpy GriffinLim


def load_voice(
    path: str | Path | None = None, device: str = "cpu", vocoder: str | Path | None = None
) -> LoadedVoice:
    """Read and check a voice directory and load its models; `vocoder` overrides the voice's own
    ("griffin-lim", or a vocoder checkpoint that `fastpitch.vocoders.load_vocoder` reads)."""
    voice = read_voice(path)
    acoustic = load_acoustic(voice, device)
    return LoadedVoice(voice, acoustic, load_voice_vocoder(voice, device, override=vocoder))


def read_voice_tensors(path: Path, tag: str, what: str) -> dict[str, torch.Tensor]:
    """All tensors of a voice weight file as fp32, checking it is the kind of file the voice says."""
    if not path.is_file():
        raise VoiceError(f"voice {path.parent} is incomplete: {path.name} is missing")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not a mapping)
    except (SafetensorError, OSError, ValueError) as e:
        raise VoiceError(f"{path} is corrupt or not a safetensors file: {e}") from None
    if metadata.get("format") != tag:
        found = metadata.get("format") or "no format tag"
        raise VoiceError(
            f"{path} does not hold {what} weights ({found!r}, expected {tag!r}): a foreign file?"
        )
    return {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}


def load_acoustic(voice: Voice, device: str = "cpu") -> torch.nn.Module:
    """The voice's FastPitch (no aligner) with fp32 weights, in eval mode on `device`."""
    path = voice.file(ACOUSTIC_WEIGHTS)
    if not path.is_file() and voice.has_onnx:
        raise VoiceError(
            f"voice {voice.path} has no {ACOUSTIC_WEIGHTS}, only ONNX models: use fastpitch.runtime.OnnxSynthesizer "
            "(or `fastpitch say --engine onnx`)"
        )
    state = read_voice_tensors(path, ACOUSTIC_TAG, "FastPitch acoustic model")
    try:
        model = FastPitch(voice.model, aligner=False)
        load_weights(model, state, path)
    except (CheckpointError, ConfigError) as e:
        raise VoiceError(f"voice {voice.path}: {e}") from None
    return model.to(device).eval()


def load_voice_vocoder(voice: Voice, device: str = "cpu", override: str | Path | None = None) -> Any:
    """The voice's vocoder (or `override`: "griffin-lim" or anything `fastpitch.vocoders.load_vocoder` reads):
    a numpy `GriffinLim`, or a `NeuralVocoder` on `device`."""
    if override is not None:
        vocoder = load_vocoder(override, audio_cfg=voice.audio)
        return vocoder if isinstance(vocoder, GriffinLim) else vocoder.to(device)
    if voice.vocoder_type == GRIFFIN_LIM:
        return GriffinLim(voice.audio, **voice.vocoder.get("config", {}))
    path = voice.file(VOCODER_WEIGHTS)
    state = read_voice_tensors(path, VOCODER_TAG, f"{voice.vocoder_type} vocoder")
    try:
        model = build_generator(voice.vocoder_type, voice.vocoder.get("config", {})).remove_weight_norm()
        load_weights(model, state, path)
    except (CheckpointError, ConfigError, FastPitchError) as e:
        raise VoiceError(f"voice {voice.path}: {e}") from None
    return NeuralVocoder(model, voice.vocoder_type, voice.audio, str(path)).to(device)
