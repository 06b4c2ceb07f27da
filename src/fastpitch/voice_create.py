"""Making voice directories: from training checkpoints (`fastpitch voice create`), or giving a voice another
vocoder (`fastpitch voice set-vocoder`). Weights first, voice.json last, each file written atomically.

Reads checkpoints through `fastpitch.checkpoint` (never through the training package) and writes the format
that `fastpitch.voice` defines.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from fastpitch import __version__
from fastpitch.atomic import atomic_write, atomic_write_text
from fastpitch.checkpoint import CheckpointError, load_checkpoint, load_weights
from fastpitch.config import AudioConfig, ConfigError, ModelConfig, TextConfig
from fastpitch.errors import FastPitchError
from fastpitch.models import FastPitch
from fastpitch.vocoders import GriffinLim, load_vocoder
from fastpitch.voice import (
    ACOUSTIC_ONNX,
    ACOUSTIC_SINGLE_ONNX,
    ACOUSTIC_TAG,
    ACOUSTIC_WEIGHTS,
    DEFAULT_POSTFILTER,
    GRIFFIN_LIM,
    MODEL_CARD,
    SHARED_FILE_MODE,
    VOCODER_ONNX,
    VOCODER_TAG,
    VOCODER_WEIGHTS,
    Voice,
    VoiceError,
    check_symbols,
    check_voice_postfilter,
    model_card,
    read_voice,
)
from fastpitch.voice_load import read_voice_tensors

log = logging.getLogger(__name__)


def save_tensors(path: Path, state: dict[str, torch.Tensor], tag: str, fp16: bool) -> Path:
    """Weights as safetensors with a format tag; floating tensors in fp16 when asked (halves the size)."""
    dtype = torch.float16 if fp16 else torch.float32
    tensors = {
        k: (v.detach().to("cpu", dtype) if v.is_floating_point() else v.detach().cpu()).contiguous()
        for k, v in state.items()
    }
    return atomic_write(
        path, lambda tmp: save_file(tensors, str(tmp), metadata={"format": tag}), SHARED_FILE_MODE
    )


def save_voice(
    out_dir: str | Path,
    *,
    name: str,
    audio: AudioConfig,
    text: TextConfig,
    model: ModelConfig,
    acoustic_state: dict[str, torch.Tensor],
    speakers: list[str],
    vocoder_type: str = GRIFFIN_LIM,
    vocoder_config: dict[str, Any] | None = None,
    vocoder_state: dict[str, torch.Tensor] | None = None,
    provenance: dict[str, Any] | None = None,
    description: str = "",
    fp16: bool = True,
    postfilter: float | dict[str, float] = DEFAULT_POSTFILTER,
) -> Voice:
    """Write a voice directory (weights first, voice.json last) and return it as `read_voice` sees it.

    Old ONNX files in `out_dir` are removed: they belong to the weights being replaced. An existing
    MODEL_CARD.md is kept (it may hold evaluation results written since); a new one is written otherwise.
    """
    out = Path(out_dir)
    check_voice_postfilter(
        postfilter, list(speakers), "the voice's post-filter"
    )  # before anything is written
    out.mkdir(parents=True, exist_ok=True)
    for stale in (ACOUSTIC_ONNX, ACOUSTIC_SINGLE_ONNX, VOCODER_ONNX, VOCODER_WEIGHTS):
        (out / stale).unlink(missing_ok=True)
    mean, std = acoustic_state["pitch_mean"].float(), acoustic_state["pitch_std"].float()
    voice = Voice(
        path=out,
        name=name,
        audio=audio,
        text=text,
        model=model,
        speakers=list(speakers),
        pitch={
            s: {"mean": round(float(mean[i]), 3), "std": round(float(std[i]), 3)}
            for i, s in enumerate(speakers)
        },
        vocoder={"type": vocoder_type, "config": dict(vocoder_config or {})},
        provenance=dict(provenance or {}),
        description=description,
        postfilter=postfilter,
    )
    save_tensors(out / ACOUSTIC_WEIGHTS, acoustic_state, ACOUSTIC_TAG, fp16)
    if vocoder_type != GRIFFIN_LIM:
        if vocoder_state is None:
            raise VoiceError(f"a {vocoder_type} vocoder needs its weights")
        save_tensors(out / VOCODER_WEIGHTS, vocoder_state, VOCODER_TAG, fp16)
    voice.save_json()
    if not (out / MODEL_CARD).is_file():
        atomic_write_text(out / MODEL_CARD, model_card(voice), SHARED_FILE_MODE)
    else:  # kept: it may hold what its author wrote, but it was written for the weights this call replaced
        log.warning(
            "%s was kept as it was; it describes the voice this folder held before: update it (or delete it "
            "and run this again for a new one)",
            out / MODEL_CARD,
        )
    return read_voice(out)


def create_voice(
    acoustic_checkpoint: str | Path,
    vocoder_checkpoint: str | Path | None,
    out_dir: str | Path,
    *,
    fp16: bool = True,
    name: str | None = None,
    speakers: list[str] | None = None,
    description: str = "",
    postfilter: float | dict[str, float] = DEFAULT_POSTFILTER,
) -> Voice:
    """A voice from training checkpoints: the acoustic model's EMA weights when it has them (else its raw
    weights) without the aligner, and the vocoder from `vocoder_checkpoint` (None: Griffin-Lim); `postfilter`
    is the strength of the mel post-filter it speaks with (`runtime.postfilter`; 0: none), or one per speaker."""
    ckpt = load_checkpoint(acoustic_checkpoint, with_optimizer=False)
    cfg = ckpt.config
    weights = ckpt.ema if ckpt.ema is not None else ckpt.model
    try:
        model = FastPitch(cfg.model)
        load_weights(model, weights, ckpt.path or acoustic_checkpoint)
    except (CheckpointError, ConfigError) as e:
        raise VoiceError(
            f"{acoustic_checkpoint} is not a FastPitch checkpoint this version can use: {e}"
        ) from None
    text = dataclasses.replace(cfg.text, symbols=list(cfg.text.symbols))
    check_symbols(text, cfg.model, f"checkpoint {ckpt.path}")
    speakers = _speaker_names(speakers, ckpt.provenance, cfg.model.n_speakers)

    vocoder_type, vocoder_config, vocoder_state, vocoder_meta = _vocoder_parts(vocoder_checkpoint, cfg.audio)

    provenance = {
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "fastpitch_version": __version__,
        "acoustic": {
            "checkpoint": str(ckpt.path),
            "step": ckpt.step,
            "weights": "ema" if ckpt.ema is not None else "model",
            "val_loss": ckpt.val_loss,
            "training": ckpt.provenance,
            "train_config": dataclasses.asdict(cfg.train),
        },
        "vocoder": vocoder_meta,
    }
    return save_voice(
        out_dir,
        name=name or Path(out_dir).name,
        audio=cfg.audio,
        text=text,
        model=cfg.model,
        acoustic_state=model.inference_state_dict(),
        speakers=speakers,
        vocoder_type=vocoder_type,
        vocoder_config=vocoder_config,
        vocoder_state=vocoder_state,
        provenance=provenance,
        description=description,
        fp16=fp16,
        postfilter=postfilter,
    )


def _vocoder_parts(
    vocoder_checkpoint: str | Path | None, audio: AudioConfig
) -> tuple[str, dict[str, Any], dict[str, torch.Tensor] | None, dict[str, Any] | None]:
    """Type, config, weights and provenance of a vocoder checkpoint (None: Griffin-Lim) for `save_voice`."""
    if vocoder_checkpoint is None:
        return GRIFFIN_LIM, {}, None, None
    vocoder = load_vocoder(vocoder_checkpoint, audio_cfg=audio)
    if isinstance(vocoder, GriffinLim):
        return GRIFFIN_LIM, {}, None, {"checkpoint": str(vocoder_checkpoint), "type": GRIFFIN_LIM}
    meta = {"checkpoint": str(vocoder_checkpoint), "type": vocoder.arch}
    return vocoder.arch, dataclasses.asdict(vocoder.config), vocoder.model.state_dict(), meta


def set_vocoder(voice_path: str | Path, vocoder_checkpoint: str | Path | None, fp16: bool = True) -> Voice:
    """Give an existing voice another vocoder (None: Griffin-Lim), keeping its acoustic weights as they are:
    for trying a newly trained vocoder without the acoustic model's training run at hand."""
    voice = read_voice(voice_path)
    acoustic = read_voice_tensors(voice.file(ACOUSTIC_WEIGHTS), ACOUSTIC_TAG, "FastPitch acoustic model")
    vocoder_type, vocoder_config, vocoder_state, vocoder_meta = _vocoder_parts(
        vocoder_checkpoint, voice.audio
    )
    provenance = dict(voice.provenance, vocoder=vocoder_meta)
    return save_voice(
        voice.path,
        name=voice.name,
        audio=voice.audio,
        text=voice.text,
        model=voice.model,
        acoustic_state=acoustic,
        speakers=voice.speakers,
        vocoder_type=vocoder_type,
        vocoder_config=vocoder_config,
        vocoder_state=vocoder_state,
        provenance=provenance,
        description=voice.description,
        fp16=fp16,
        postfilter=voice.postfilter,
    )


def _speaker_names(given: list[str] | None, provenance: dict[str, Any], n: int) -> list[str]:
    """Speaker names in id order: given, recorded by training, read from its feature cache, or made up."""
    if given and len(given) != n:  # names the user gave are checked, not quietly replaced by recorded ones
        raise VoiceError(f"the model has {n} speaker(s) but {len(given)} name(s) were given: {given}")
    candidates: list[Any] = [given, provenance.get("speakers")]
    features = provenance.get("features")
    if features and Path(features).is_dir():
        try:
            from fastpitch.data.features import FeatureCache

            candidates.append(FeatureCache(features).speakers)
        except (FastPitchError, OSError, KeyError, ValueError):
            pass
    for names in candidates:
        if names and len(names) == n:
            return [str(s) for s in names]
    return ["default"] if n == 1 else [f"speaker{i}" for i in range(n)]
