"""Loading a voice directory's weights into torch modules, for the `Synthesizer`, `export` and evaluation.

The directory format itself (voice.json, file names, checks) is `fastpitch.voice`, which the torch-free runtime
shares; this module adds only what needs torch: reading the safetensors files and building the models.
"""

from __future__ import annotations

from collections.abc import Callable
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


# The dtypes a voice's weights may be stored in (safetensors' names); all are loaded as fp32.
WEIGHT_DTYPES = ("F16", "BF16", "F32")


def expected_shapes(build: Callable[[], torch.nn.Module]) -> dict[str, tuple[int, ...]]:
    """The state dict shapes of the module `build()` makes, built on the meta device: nothing is allocated, so a
    config that asks for a huge model costs nothing until its weight file is seen to hold that much."""
    with torch.device("meta"):
        module = build()
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def read_voice_tensors(
    path: Path, tag: str, what: str, expected: dict[str, tuple[int, ...]] | None = None
) -> dict[str, torch.Tensor]:
    """All tensors of a voice weight file as fp32, checking it is the kind of file the voice says.

    Before any tensor is read, the header's names, shapes and dtypes are compared with `expected` (what the
    voice's config implies): a file that is truncated, holds other or larger tensors, or stores them in another
    dtype is refused without allocating them. Weights that are NaN or infinite are refused once read.
    """
    if not path.is_file():
        raise VoiceError(f"voice {path.parent} is incomplete: {path.name} is missing")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            if metadata.get("format") != tag:
                found = metadata.get("format") or "no format tag"
                raise VoiceError(
                    f"{path} does not hold {what} weights ({found!r}, expected {tag!r}): a foreign file?"
                )
            if expected is not None:
                header = {k: f.get_slice(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not a mapping)
                check_header(
                    path, {k: (tuple(s.get_shape()), s.get_dtype()) for k, s in header.items()}, expected
                )
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as e:
        raise VoiceError(f"{path} is corrupt or not a safetensors file: {e}") from None
    bad = [k for k, v in tensors.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        more = f" (+{len(bad) - 3} more)" if len(bad) > 3 else ""
        raise VoiceError(
            f"{path} holds NaN or infinite weights in {', '.join(sorted(bad)[:3])}{more}: refused"
        )
    return {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}


def check_header(
    path: Path, found: dict[str, tuple[tuple[int, ...], str]], expected: dict[str, tuple[int, ...]]
) -> None:
    """Refuse a weight file whose header (name -> (shape, dtype)) is not what the voice's config implies."""
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    shapes = sorted(k for k in set(expected) & set(found) if found[k][0] != expected[k])
    dtypes = sorted(k for k, (_, dtype) in found.items() if dtype not in WEIGHT_DTYPES)
    problems = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shapes)):
        if keys:
            shown = ", ".join(
                f"{k} {found[k][0]} vs {expected[k]}" if label == "wrong shape" else k for k in keys[:4]
            )
            more = f" (+{len(keys) - 4} more)" if len(keys) > 4 else ""
            problems.append(f"{label}: {shown}{more}")
    if dtypes:
        shown = ", ".join(f"{k} {found[k][1]}" for k in dtypes[:4])
        problems.append(f"dtype not one of {'/'.join(WEIGHT_DTYPES)}: {shown}")
    if problems:
        raise VoiceError(
            f"{path} does not match the voice's config (another architecture, or a tampered file): "
            + "; ".join(problems)
        )


def load_acoustic(voice: Voice, device: str = "cpu") -> torch.nn.Module:
    """The voice's FastPitch (no aligner) with fp32 weights, in eval mode on `device`."""
    path = voice.file(ACOUSTIC_WEIGHTS)
    if not path.is_file() and voice.has_onnx:
        raise VoiceError(
            f"voice {voice.path} has no {ACOUSTIC_WEIGHTS}, only ONNX models: use fastpitch.runtime.OnnxSynthesizer "
            "(or `fastpitch say --engine onnx`)"
        )
    try:
        shapes = expected_shapes(lambda: FastPitch(voice.model, aligner=False))
    except (ConfigError, ValueError, RuntimeError) as e:
        raise VoiceError(f"voice {voice.path}: its model config cannot be built: {e}") from None
    state = read_voice_tensors(path, ACOUSTIC_TAG, "FastPitch acoustic model", shapes)
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

    def build() -> torch.nn.Module:
        return build_generator(voice.vocoder_type, voice.vocoder.get("config", {})).remove_weight_norm()

    try:
        shapes = expected_shapes(build)
    except (ConfigError, FastPitchError, ValueError, RuntimeError) as e:
        raise VoiceError(f"voice {voice.path}: its vocoder config cannot be built: {e}") from None
    state = read_voice_tensors(path, VOCODER_TAG, f"{voice.vocoder_type} vocoder", shapes)
    try:
        model = build_generator(voice.vocoder_type, voice.vocoder.get("config", {})).remove_weight_norm()
        load_weights(model, state, path)
    except (CheckpointError, ConfigError, FastPitchError) as e:
        raise VoiceError(f"voice {voice.path}: {e}") from None
    return NeuralVocoder(model, voice.vocoder_type, voice.audio, str(path)).to(device)
