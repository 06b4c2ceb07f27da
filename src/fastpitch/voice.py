"""The voice directory: everything `fastpitch say`, the server, `export` and the ONNX runtime read.

    VOICE/
      voice.json            format version, name, audio + text config (with the full symbol table), speakers,
                            pitch mean/std per speaker, model config, vocoder type + config, provenance
      acoustic.safetensors  FastPitch inference weights (no aligner), fp16 or fp32; loaded as fp32
      vocoder.safetensors   vocoder weights; absent for Griffin-Lim, which has none
      acoustic.onnx         optional, written by `fastpitch export`
      acoustic-single.onnx  optional, likewise: the same model for a batch of one, without padding masks
      vocoder.onnx          optional, likewise (absent for Griffin-Lim)
      MODEL_CARD.md         what the voice is, how it was made, how well it speaks

`read_voice` parses and checks voice.json without torch (the ONNX runtime uses it); `load_voice` also loads
and checks the weights with PyTorch. Every problem is a `VoiceError` that names the file and what is wrong.
See docs/voice-format.md.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastpitch import __version__
from fastpitch.config import AudioConfig, ConfigError, ModelConfig, TextConfig, from_dict
from fastpitch.errors import FastPitchError
from fastpitch.text.symbols import TABLES, SymbolError, SymbolTable

if TYPE_CHECKING:
    import torch

FORMAT = "fastpitch-voice"
FORMAT_VERSION = 1
VOICE_JSON = "voice.json"
ACOUSTIC_WEIGHTS = "acoustic.safetensors"
VOCODER_WEIGHTS = "vocoder.safetensors"
ACOUSTIC_ONNX = "acoustic.onnx"
ACOUSTIC_SINGLE_ONNX = "acoustic-single.onnx"
VOCODER_ONNX = "vocoder.onnx"
MODEL_CARD = "MODEL_CARD.md"
ACOUSTIC_TAG = "fastpitch-acoustic"  # safetensors metadata "format" of acoustic.safetensors
VOCODER_TAG = "fastpitch-vocoder"
GRIFFIN_LIM = "griffin-lim"
VOCODER_TYPES = (GRIFFIN_LIM, "hifigan", "istft")
DEFAULT_VOICE = Path(__file__).parent / "voices" / "default"


class VoiceError(FastPitchError):
    """A voice directory that is missing, incomplete, corrupt, or made for another model or version."""


@dataclass
class Voice:
    """What voice.json says, checked; the weights are loaded separately (`load_voice`, the runtime)."""

    path: Path
    name: str
    audio: AudioConfig
    text: TextConfig
    model: ModelConfig
    speakers: list[str]
    pitch: dict[str, dict[str, float]]  # speaker -> {"mean": Hz, "std": Hz} over voiced frames
    vocoder: dict[str, Any]  # {"type": "griffin-lim" | "hifigan" | "istft", "config": {...}}
    provenance: dict[str, Any] = field(default_factory=dict)
    onnx: dict[str, Any] = field(
        default_factory=dict
    )  # {"acoustic": file, "acoustic_single": file, "vocoder": file | None, "opset": n}
    description: str = ""

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def vocoder_type(self) -> str:
        return str(self.vocoder["type"])

    @property
    def has_onnx(self) -> bool:
        """True when `fastpitch export` wrote the ONNX models this voice needs, and they are present."""
        if not self.onnx.get("acoustic") or not self.file(self.onnx["acoustic"]).is_file():
            return False
        vocoder = self.onnx.get("vocoder")
        return self.vocoder_type == GRIFFIN_LIM or bool(vocoder and self.file(vocoder).is_file())

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "description": self.description,
            "fastpitch_version": __version__,
            "audio": dataclasses.asdict(self.audio),
            "text": dataclasses.asdict(self.text),
            "model": dataclasses.asdict(self.model),
            "speakers": list(self.speakers),
            "pitch": self.pitch,
            "vocoder": self.vocoder,
            "onnx": self.onnx,
            "provenance": self.provenance,
        }

    def save_json(self) -> Path:
        """Write voice.json atomically."""
        return _atomic_write_text(self.file(VOICE_JSON), json.dumps(self.to_dict(), indent=2) + "\n")


# --------------------------------------------------------------------------------------------------------------
# reading (no torch)


def resolve_voice_path(path: str | Path | None) -> Path:
    """The voice directory for `path` (a directory or its voice.json); None means the installed default voice."""
    if path is None:
        if not (DEFAULT_VOICE / VOICE_JSON).is_file():
            raise VoiceError(
                "no default voice is installed in this copy of fastpitch "
                f"({DEFAULT_VOICE} has no {VOICE_JSON}); make one with `fastpitch voice create CHECKPOINT "
                "--out DIR` and pass it with --voice DIR (Python: Synthesizer.load(DIR))"
            )
        return DEFAULT_VOICE
    path = Path(path).expanduser()
    if path.is_file() and path.name == VOICE_JSON:
        path = path.parent
    if not path.exists():
        raise VoiceError(f"voice not found: {path}")
    if not path.is_dir():
        raise VoiceError(f"{path} is not a voice directory (a voice is a folder holding {VOICE_JSON})")
    if not (path / VOICE_JSON).is_file():
        hint = (
            " (a training run? make a voice from it with `fastpitch voice create`)"
            if any(path.glob("step-*.json"))
            else ""
        )
        raise VoiceError(f"{path} is not a voice directory: {VOICE_JSON} is missing{hint}")
    return path


def read_voice(path: str | Path | None = None) -> Voice:
    """Parse and check `path`/voice.json: format and version, configs, speakers, pitch stats, symbol table."""
    path = resolve_voice_path(path)
    json_path = path / VOICE_JSON
    try:
        data = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise VoiceError(f"{json_path} is unreadable or not valid JSON: {e}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise VoiceError(f"{json_path} is not a fastpitch voice description (its 'format' is not {FORMAT!r})")
    version = data.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise VoiceError(f"{json_path} has an invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise VoiceError(
            f"voice {path} has format version {version}, made by a newer fastpitch "
            f"({data.get('fastpitch_version', '?')}); this fastpitch {__version__} reads up to version "
            f"{FORMAT_VERSION}: upgrade fastpitch"
        )
    missing = [k for k in ("audio", "text", "model", "speakers", "vocoder") if k not in data]
    if missing:
        raise VoiceError(f"{json_path} lacks required field(s): {', '.join(missing)}")
    try:
        voice = Voice(
            path=path,
            name=str(data.get("name") or path.name),
            audio=from_dict(AudioConfig, data["audio"]),
            text=from_dict(TextConfig, data["text"]),
            model=from_dict(ModelConfig, data["model"]),
            speakers=[str(s) for s in data["speakers"]],
            pitch={
                str(k): {"mean": float(v["mean"]), "std": float(v["std"])}
                for k, v in data.get("pitch", {}).items()
            },
            vocoder=dict(data["vocoder"]),
            provenance=dict(data.get("provenance") or {}),
            onnx=dict(data.get("onnx") or {}),
            description=str(data.get("description") or ""),
        )
    except ConfigError as e:
        raise VoiceError(f"{json_path}: {e}") from None
    except (TypeError, KeyError, ValueError, AttributeError) as e:
        raise VoiceError(f"{json_path} has a malformed field: {e!r}") from None
    _check(voice)
    return voice


def _check(voice: Voice) -> None:
    where = voice.file(VOICE_JSON)
    n_speakers = voice.model.n_speakers
    if len(voice.speakers) != n_speakers or len(set(voice.speakers)) != len(voice.speakers):
        raise VoiceError(
            f"{where}: 'speakers' must name each of the model's {n_speakers} speaker(s) once, "
            f"got {voice.speakers}"
        )
    for speaker, stats in voice.pitch.items():
        if speaker not in voice.speakers or not stats["std"] > 0:
            raise VoiceError(f"{where}: bad pitch statistics for speaker {speaker!r}: {stats}")
    if voice.audio.n_mels != voice.model.n_mels:
        raise VoiceError(f"{where}: audio.n_mels {voice.audio.n_mels} != model.n_mels {voice.model.n_mels}")
    if voice.vocoder.get("type") not in VOCODER_TYPES:
        raise VoiceError(
            f"{where}: unknown vocoder type {voice.vocoder.get('type')!r}; known: {', '.join(VOCODER_TYPES)}"
        )
    check_symbols(voice.text, voice.model, where)
    has_torch = voice.file(ACOUSTIC_WEIGHTS).is_file()
    if not has_torch and not voice.has_onnx:
        raise VoiceError(f"voice {voice.path} is incomplete: {ACOUSTIC_WEIGHTS} is missing")


def check_symbols(text: TextConfig, model: ModelConfig, where: Path | str) -> SymbolTable:
    """The voice's symbol table, checked against the model's embedding and fastpitch's table of the same name.

    Symbol tables are never edited in place (a new inventory gets a new name), so a saved list that differs from
    the built-in table of its name means the ids would be read with another meaning: refuse it.
    """
    if not text.symbols:
        raise VoiceError(
            f"{where}: text.symbols is empty; a voice must carry the symbol table it was trained with"
        )
    try:
        table = SymbolTable(text.symbols, text.symbol_set)
    except SymbolError as e:
        raise VoiceError(f"{where}: invalid symbol table: {e}") from None
    if len(table) != model.n_symbols:
        raise VoiceError(
            f"{where}: symbol table mismatch: text.symbols lists {len(table)} symbols but the model embeds "
            f"{model.n_symbols}"
        )
    builtin = TABLES.get(text.symbol_set)
    if builtin is not None and tuple(table.symbols) != builtin:
        diff = next(
            (i for i, (a, b) in enumerate(zip(table.symbols, builtin, strict=False)) if a != b),
            min(len(table), len(builtin)),
        )
        ours = table.symbols[diff] if diff < len(table) else "<end>"
        theirs = builtin[diff] if diff < len(builtin) else "<end>"
        raise VoiceError(
            f"{where}: symbol table mismatch: the voice's {text.symbol_set!r} table differs from this fastpitch's "
            f"at id {diff} ({ours!r} vs {theirs!r}); the voice was made with another symbol inventory"
        )
    return table


# --------------------------------------------------------------------------------------------------------------
# loading with torch


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


def _read_tensors(path: Path, tag: str, what: str) -> dict[str, torch.Tensor]:
    """All tensors of a voice weight file as fp32, checking it is the kind of file the voice says."""
    from safetensors import SafetensorError, safe_open

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
    from fastpitch.models import FastPitch
    from fastpitch.train.checkpoint import CheckpointError, load_weights

    path = voice.file(ACOUSTIC_WEIGHTS)
    if not path.is_file() and voice.has_onnx:
        raise VoiceError(
            f"voice {voice.path} has no {ACOUSTIC_WEIGHTS}, only ONNX models: use fastpitch.runtime.OnnxSynthesizer "
            "(or `fastpitch say --engine onnx`)"
        )
    state = _read_tensors(path, ACOUSTIC_TAG, "FastPitch acoustic model")
    try:
        model = FastPitch(voice.model, aligner=False)
        load_weights(model, state, path)
    except (CheckpointError, ConfigError) as e:
        raise VoiceError(f"voice {voice.path}: {e}") from None
    return model.to(device).eval()


def load_voice_vocoder(voice: Voice, device: str = "cpu", override: str | Path | None = None) -> Any:
    """The voice's vocoder (or `override`: "griffin-lim" or anything `fastpitch.vocoders.load_vocoder` reads):
    a numpy `GriffinLim`, or a `NeuralVocoder` on `device`."""
    from fastpitch.vocoders import GriffinLim, load_vocoder

    if override is not None:
        vocoder = load_vocoder(override, audio_cfg=voice.audio)
        return vocoder if isinstance(vocoder, GriffinLim) else vocoder.to(device)
    if voice.vocoder_type == GRIFFIN_LIM:
        return GriffinLim(voice.audio, **voice.vocoder.get("config", {}))
    from fastpitch.train.checkpoint import CheckpointError, load_weights
    from fastpitch.vocoders.neural import NeuralVocoder, build_generator

    path = voice.file(VOCODER_WEIGHTS)
    state = _read_tensors(path, VOCODER_TAG, f"{voice.vocoder_type} vocoder")
    try:
        model = build_generator(voice.vocoder_type, voice.vocoder.get("config", {})).remove_weight_norm()
        load_weights(model, state, path)
    except (CheckpointError, ConfigError, FastPitchError) as e:
        raise VoiceError(f"voice {voice.path}: {e}") from None
    return NeuralVocoder(model, voice.vocoder_type, voice.audio, str(path)).to(device)


# --------------------------------------------------------------------------------------------------------------
# writing


def _atomic_write_text(path: Path, text: str) -> Path:
    return _atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _atomic_write(path: Path, write) -> Path:
    """Write through `write(tmp)` and rename over `path`, so readers never see a half-written file."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # safetensors writes 0600; a voice is meant to be shared and shipped
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def save_tensors(path: Path, state: dict[str, torch.Tensor], tag: str, fp16: bool) -> Path:
    """Weights as safetensors with a format tag; floating tensors in fp16 when asked (halves the size)."""
    import torch
    from safetensors.torch import save_file

    dtype = torch.float16 if fp16 else torch.float32
    tensors = {
        k: (v.detach().to("cpu", dtype) if v.is_floating_point() else v.detach().cpu()).contiguous()
        for k, v in state.items()
    }
    return _atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata={"format": tag}))


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
) -> Voice:
    """Write a voice directory (weights first, voice.json last) and return it as `read_voice` sees it.

    Old ONNX files in `out_dir` are removed: they belong to the weights being replaced. An existing
    MODEL_CARD.md is kept (it may hold evaluation results written since); a new one is written otherwise.
    """
    out = Path(out_dir)
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
    )
    save_tensors(out / ACOUSTIC_WEIGHTS, acoustic_state, ACOUSTIC_TAG, fp16)
    if vocoder_type != GRIFFIN_LIM:
        if vocoder_state is None:
            raise VoiceError(f"a {vocoder_type} vocoder needs its weights")
        save_tensors(out / VOCODER_WEIGHTS, vocoder_state, VOCODER_TAG, fp16)
    voice.save_json()
    if not (out / MODEL_CARD).is_file():
        _atomic_write_text(out / MODEL_CARD, model_card(voice))
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
) -> Voice:
    """A voice from training checkpoints: the acoustic model's EMA weights when it has them (else its raw
    weights) without the aligner, and the vocoder from `vocoder_checkpoint` (None: Griffin-Lim)."""
    from fastpitch.models import FastPitch
    from fastpitch.train.checkpoint import CheckpointError, load_checkpoint, load_weights

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
    )


def _vocoder_parts(
    vocoder_checkpoint: str | Path | None, audio: AudioConfig
) -> tuple[str, dict[str, Any], dict[str, torch.Tensor] | None, dict[str, Any] | None]:
    """Type, config, weights and provenance of a vocoder checkpoint (None: Griffin-Lim) for `save_voice`."""
    if vocoder_checkpoint is None:
        return GRIFFIN_LIM, {}, None, None
    from fastpitch.vocoders import GriffinLim, load_vocoder

    vocoder = load_vocoder(vocoder_checkpoint, audio_cfg=audio)
    if isinstance(vocoder, GriffinLim):
        return GRIFFIN_LIM, {}, None, {"checkpoint": str(vocoder_checkpoint), "type": GRIFFIN_LIM}
    meta = {"checkpoint": str(vocoder_checkpoint), "type": vocoder.arch}
    return vocoder.arch, dataclasses.asdict(vocoder.config), vocoder.model.state_dict(), meta


def set_vocoder(voice_path: str | Path, vocoder_checkpoint: str | Path | None, fp16: bool = True) -> Voice:
    """Give an existing voice another vocoder (None: Griffin-Lim), keeping its acoustic weights as they are:
    for trying a newly trained vocoder without the acoustic model's training run at hand."""
    voice = read_voice(voice_path)
    acoustic = _read_tensors(voice.file(ACOUSTIC_WEIGHTS), ACOUSTIC_TAG, "FastPitch acoustic model")
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
    )


def _speaker_names(given: list[str] | None, provenance: dict[str, Any], n: int) -> list[str]:
    """Speaker names in id order: given, recorded by training, read from its feature cache, or made up."""
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
    if given:
        raise VoiceError(f"the model has {n} speaker(s) but {len(given)} name(s) were given: {given}")
    return ["default"] if n == 1 else [f"speaker{i}" for i in range(n)]


def count_parameters(voice: Voice) -> int:
    """Number of weights in acoustic.safetensors, read from its header (no tensors loaded)."""
    from safetensors import safe_open

    with safe_open(str(voice.file(ACOUSTIC_WEIGHTS)), framework="numpy") as f:
        return sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())  # noqa: SIM118


def model_card(voice: Voice) -> str:
    """A MODEL_CARD.md with what is known when the voice is made; evaluation results are added to it later."""
    acoustic = voice.provenance.get("acoustic") or {}
    training = acoustic.get("training") or {}
    m = voice.model
    lines = [
        f"# {voice.name}",
        "",
        voice.description or "A FastPitch voice made with `fastpitch voice create`.",
        "",
        "| | |",
        "|---|---|",
        f"| speakers | {', '.join(voice.speakers)} |",
        f"| sample rate | {voice.audio.sample_rate} Hz, {voice.audio.n_mels} mel bins, hop {voice.audio.hop_length} |",
        f"| text | {voice.text.mode}, symbol table {voice.text.symbol_set} ({len(voice.text.symbols)} symbols) |",
        f"| acoustic model | FastPitch, width {m.symbols_embedding_dim}, {m.in_fft_n_layers}+{m.out_fft_n_layers} "
        f"blocks, {count_parameters(voice):,} parameters |",
        f"| durations | {training.get('durations', 'unknown')} |",
        f"| training | step {acoustic.get('step', '?')} ({acoustic.get('weights', '?')} weights), "
        f"data {training.get('dataset') or training.get('features') or 'unknown'} |",
        f"| vocoder | {voice.vocoder_type} |",
        f"| made | {voice.provenance.get('created', '?')} with fastpitch {voice.provenance.get('fastpitch_version', '?')} |",
        "",
        "## Data and license",
        "",
        "The weights inherit the terms of the recordings they were trained on; see the training data's notice.",
        "",
        "## Evaluation",
        "",
        "Not evaluated when this card was written: `fastpitch eval VOICE --dataset DIR` measures word error rate, "
        "MCD-DTW, F0 error and speed on held-out sentences.",
        "",
    ]
    return "\n".join(lines)
