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

This module is the format alone and never imports torch: `read_voice` parses and checks voice.json (the ONNX
runtime uses it), `Voice.save_json` writes it. Loading the weights into torch modules is `fastpitch.voice_load`
(beside the `Synthesizer`); making a voice from training checkpoints is `fastpitch.voice_create`. Every problem is
a `VoiceError` that names the file and what is wrong. See docs/voice-format.md.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastpitch import __version__
from fastpitch.atomic import atomic_write_text
from fastpitch.config import AudioConfig, ConfigError, ModelConfig, TextConfig, from_dict
from fastpitch.errors import FastPitchError
from fastpitch.text.symbols import TABLES, SymbolError, SymbolTable

FORMAT = "fastpitch-voice"
SHARED_FILE_MODE = 0o644  # safetensors writes 0600; a voice is meant to be shared and shipped
FORMAT_VERSION = 1
VOICE_JSON = "voice.json"
ACOUSTIC_WEIGHTS = "acoustic.safetensors"
VOCODER_WEIGHTS = "vocoder.safetensors"
ACOUSTIC_ONNX = "acoustic.onnx"
ACOUSTIC_SINGLE_ONNX = "acoustic-single.onnx"
VOCODER_ONNX = "vocoder.onnx"
MODEL_CARD = "MODEL_CARD.md"
NOTICE = "NOTICE.txt"  # the licenses of what taught the weights: it goes wherever they go
ACOUSTIC_TAG = "fastpitch-acoustic"  # safetensors metadata "format" of acoustic.safetensors
VOCODER_TAG = "fastpitch-vocoder"
GRIFFIN_LIM = "griffin-lim"
VOCODER_TYPES = (GRIFFIN_LIM, "hifigan", "istft")
DEFAULT_VOICE = Path(__file__).parent / "voices" / "default"

# Upper bounds on what a voice may ask for, checked before anything is built or allocated: a downloaded voice.json
# must not make fastpitch allocate terabytes or loop for days. Each is far above any real FastPitch or vocoder
# (NVIDIA's config: width 384-1536, 6 layers, kernel 3; HiFi-GAN V1: 512 channels, kernel 16; ~100 symbols).
MAX_VOICE_JSON_BYTES = 16 * 2**20
MAX_SYMBOLS = 4096
MAX_SPEAKERS = 10_000
MAX_MELS = 512
MAX_LAYERS = 64
MAX_HEADS = 64
MAX_KERNEL = 63
MAX_WIDTH = 8192  # any other size: channels, filters, head widths, vocoder dimensions, Griffin-Lim iterations
MAX_SAMPLE_RATE = 192_000
MAX_FFT = 16_384
# The mel post-filter's strength (`runtime.postfilter`): `voice create` writes HTS's customary 0.4, the shipped
# voice's best (its model card); past the maximum the envelope's valleys go to the floor.
DEFAULT_POSTFILTER = 0.4
MAX_POSTFILTER = 2.0
MAX_LIST = 64  # items in a list of a vocoder config (upsampling stages, resblocks)


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
    # The mel post-filter's strength (`runtime.postfilter`), for all speakers or per speaker name (a speaker
    # left out: none); 0 (voices made before it existed): none.
    postfilter: float | dict[str, float] = 0.0

    def file(self, name: str) -> Path:
        """A file of this voice; a name that would lead out of the directory is refused (see `member`)."""
        return member(self.path, name)

    def postfilter_of(self, speaker: str) -> float:
        """The mel post-filter strength `speaker` speaks with."""
        if isinstance(self.postfilter, dict):
            return self.postfilter.get(speaker, 0.0)
        return self.postfilter

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
            "postfilter": self.postfilter,
            "onnx": self.onnx,
            "provenance": self.provenance,
        }

    def save_json(self) -> Path:
        """Write voice.json atomically."""
        text = json.dumps(self.to_dict(), indent=2) + "\n"
        return atomic_write_text(self.file(VOICE_JSON), text, SHARED_FILE_MODE)


def member(directory: Path, name: str) -> Path:
    """`directory / name`, refused unless it stays inside `directory`: a bare file name, not a path with `..`
    or a root, and not a symlink resolving elsewhere. A downloaded voice.json cannot make fastpitch read
    another file of the machine."""
    if not isinstance(name, str) or not name or Path(name).name != name or name in (".", ".."):
        raise VoiceError(f"{directory / VOICE_JSON}: {name!r} is not a file name inside the voice directory")
    path = directory / name
    root = directory.resolve()
    if (path.exists() or path.is_symlink()) and path.resolve().parent != root:
        raise VoiceError(f"{path} leads out of the voice directory (a link to {path.resolve()}): refused")
    return path


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
    json_path = member(path, VOICE_JSON)
    size = json_path.stat().st_size
    if size > MAX_VOICE_JSON_BYTES:
        raise VoiceError(
            f"{json_path} is {size:,} bytes; a voice description is at most {MAX_VOICE_JSON_BYTES:,}: refused"
        )
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
            postfilter=_postfilter(data.get("postfilter", 0.0)),
        )
    except ConfigError as e:
        raise VoiceError(f"{json_path}: {e}") from None
    except (TypeError, KeyError, ValueError, AttributeError) as e:
        raise VoiceError(f"{json_path} has a malformed field: {e!r}") from None
    _check(voice)
    return voice


def _postfilter(value: Any) -> float | dict[str, float]:
    """voice.json's `postfilter`: one strength, or one per speaker name; numbers only."""

    def number(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"postfilter strengths are numbers, not {v!r}")
        return float(v)

    if isinstance(value, dict):
        return {str(k): number(v) for k, v in value.items()}
    return number(value)


def check_voice_postfilter(
    postfilter: float | dict[str, float], speakers: list[str], where: Path | str
) -> None:
    """Each strength in [0, MAX_POSTFILTER] (NaN is not), and a per-speaker map naming only the voice's speakers."""
    strengths = postfilter if isinstance(postfilter, dict) else {"": postfilter}
    for speaker, strength in strengths.items():
        name = f"postfilter.{speaker}" if speaker else "postfilter"
        if speaker and speaker not in speakers:
            raise VoiceError(f"{where}: {name} names no speaker of the voice ({', '.join(speakers)})")
        if not 0.0 <= strength <= MAX_POSTFILTER:
            raise VoiceError(f"{where}: {name} is {strength}; a voice may ask for 0 to {MAX_POSTFILTER}")


def _check(voice: Voice) -> None:
    where = voice.file(VOICE_JSON)
    check_sizes(voice, where)
    n_speakers = voice.model.n_speakers
    if len(voice.speakers) != n_speakers or len(set(voice.speakers)) != len(voice.speakers):
        raise VoiceError(
            f"{where}: 'speakers' must name each of the model's {n_speakers} speaker(s) once, "
            f"got {voice.speakers}"
        )
    for speaker, stats in voice.pitch.items():
        finite = math.isfinite(stats["mean"]) and math.isfinite(stats["std"])
        if speaker not in voice.speakers or not stats["std"] > 0 or not finite:
            raise VoiceError(f"{where}: bad pitch statistics for speaker {speaker!r}: {stats}")
    if voice.audio.n_mels != voice.model.n_mels:
        raise VoiceError(f"{where}: audio.n_mels {voice.audio.n_mels} != model.n_mels {voice.model.n_mels}")
    if voice.vocoder.get("type") not in VOCODER_TYPES:
        raise VoiceError(
            f"{where}: unknown vocoder type {voice.vocoder.get('type')!r}; known: {', '.join(VOCODER_TYPES)}"
        )
    check_voice_postfilter(voice.postfilter, voice.speakers, where)
    check_symbols(voice.text, voice.model, where)
    for key in ("acoustic", "acoustic_single", "vocoder"):
        if voice.onnx.get(key) is not None:
            voice.file(voice.onnx[key])
    has_torch = voice.file(ACOUSTIC_WEIGHTS).is_file()
    if not has_torch and not voice.has_onnx:
        raise VoiceError(f"voice {voice.path} is incomplete: {ACOUSTIC_WEIGHTS} is missing")


def _size_limit(name: str) -> tuple[int, int]:
    """The (min, max) a model config integer may take, by its name."""
    if name == "n_symbols":
        return 1, MAX_SYMBOLS
    if name == "n_speakers":
        return 1, MAX_SPEAKERS
    if name == "n_mels":
        return 1, MAX_MELS
    if name.endswith("n_layers"):
        return 0, MAX_LAYERS
    if name.endswith("n_heads"):
        return 1, MAX_HEADS
    if name.endswith("kernel_size"):
        return 1, MAX_KERNEL
    return 1, MAX_WIDTH


def _check_bounded(value: Any, where: str, low: int = 0, high: int = MAX_WIDTH) -> None:
    """Every number in `value` (nested lists and dicts, as a vocoder config) finite and its integers in
    [low, high]; lists at most MAX_LIST long."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, int):
        if not low <= value <= high:
            raise VoiceError(f"{where} is {value}; a voice may ask for {low} to {high}: refused")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise VoiceError(f"{where} is {value}; it must be a finite number")
    elif isinstance(value, (list, tuple)):
        if len(value) > MAX_LIST:
            raise VoiceError(
                f"{where} lists {len(value)} items; a voice may list at most {MAX_LIST}: refused"
            )
        for i, item in enumerate(value):
            _check_bounded(item, f"{where}[{i}]", low, high)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_bounded(item, f"{where}.{key}", low, high)


def check_sizes(voice: Voice, where: Path | str) -> None:
    """Refuse sizes no real voice has (see MAX_*), and non-finite numbers, before any model or table is built.

    The bounds per field keep each tensor sane; the total is checked against the weight files' headers when the
    weights are loaded (`fastpitch.voice_load`), so no allocation exceeds what the files really hold.
    """
    for f in dataclasses.fields(voice.model):
        low, high = _size_limit(f.name)
        _check_bounded(getattr(voice.model, f.name), f"{where}: model.{f.name}", low, high)
    audio = voice.audio
    for name, value, low, high in (
        ("sample_rate", audio.sample_rate, 1000, MAX_SAMPLE_RATE),
        ("n_fft", audio.n_fft, 16, MAX_FFT),
        ("win_length", audio.win_length, 1, audio.n_fft),
        ("hop_length", audio.hop_length, 1, audio.n_fft),
        ("n_mels", audio.n_mels, 1, MAX_MELS),
    ):
        _check_bounded(value, f"{where}: audio.{name}", low, high)
    for name in ("fmin", "fmax", "f0_min", "f0_max"):
        _check_bounded(getattr(audio, name), f"{where}: audio.{name}")
    if len(voice.text.symbols) > MAX_SYMBOLS:
        raise VoiceError(
            f"{where}: text.symbols lists {len(voice.text.symbols)} symbols; at most {MAX_SYMBOLS}"
        )
    _check_bounded(voice.vocoder.get("config", {}), f"{where}: vocoder.config")


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


MAX_HEADER_BYTES = 100_000_000  # safetensors' own limit on its JSON header


def safetensors_header(path: Path) -> dict[str, Any]:
    """A safetensors file's header: tensor name -> {dtype, shape, data_offsets} (and "__metadata__"). The format
    is an 8-byte little-endian length and that much JSON, so no package (nor torch) is needed to read it."""
    try:
        with open(path, "rb") as f:
            size = int.from_bytes(f.read(8), "little")
            if not 2 <= size <= MAX_HEADER_BYTES:
                raise ValueError(f"a header of {size} bytes")
            header = json.loads(f.read(size))
    except FileNotFoundError:
        raise
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise VoiceError(f"{path} is corrupt or not a safetensors file: {e}") from None
    if not isinstance(header, dict):
        raise VoiceError(f"{path} is corrupt or not a safetensors file: its header is not a JSON object")
    try:
        end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
    except (TypeError, KeyError, IndexError, ValueError):
        raise VoiceError(
            f"{path} is corrupt or not a safetensors file: a tensor without its offsets"
        ) from None
    if 8 + size + end > path.stat().st_size:
        raise VoiceError(f"{path} is corrupt or not a safetensors file: it is cut short")
    return header


def count_parameters(voice: Voice) -> int:
    """Number of weights in acoustic.safetensors, read from its header (no tensors loaded)."""
    path = voice.file(ACOUSTIC_WEIGHTS)
    try:
        header = safetensors_header(path)
    except FileNotFoundError:
        raise VoiceError(f"voice {voice.path} is incomplete: {ACOUSTIC_WEIGHTS} is missing") from None
    try:
        return sum(math.prod(v["shape"]) for k, v in header.items() if k != "__metadata__")
    except (TypeError, KeyError) as e:
        raise VoiceError(
            f"{path} is corrupt or not a safetensors file: a tensor without a shape ({e})"
        ) from None


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
