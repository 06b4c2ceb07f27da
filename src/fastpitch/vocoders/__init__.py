"""Vocoders: log-mel (B, n_mels, T) -> audio (B, T * hop).

`load_vocoder("griffin-lim")` needs no weights and no torch; any other argument is a path to a saved vocoder
(`vocoder.json` + `vocoder.safetensors`, or a directory holding them), a `fastpitch train-vocoder` run or
checkpoint, or a published HiFi-GAN checkpoint (jik876's `g_*` with its `config.json`, or NVIDIA's `.pt`).
Importing this package does not import torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from fastpitch.config import AudioConfig
from fastpitch.vocoders.griffin_lim import GriffinLim, VocoderError, check_mel

GRIFFIN_LIM_NAMES = ("griffin-lim", "griffinlim", "gl")

__all__ = ["GriffinLim", "Vocoder", "VocoderError", "check_mel", "load_vocoder"]


class Vocoder(Protocol):
    """What the synthesis API relies on."""

    arch: str
    sample_rate: int
    hop_length: int

    def __call__(self, mel: Any) -> Any:
        """Log-mel (B, n_mels, T) -> audio (B, T * hop), float32 in [-1, 1]."""
        ...


def load_vocoder(
    path_or_name: str | Path | None = None,
    audio_cfg: AudioConfig | None = None,
    config: str | Path | None = None,
) -> Vocoder:
    """Griffin-Lim (None or "griffin-lim") or a trained vocoder read from `path_or_name` (see the module doc)."""
    if path_or_name is None or str(path_or_name).lower() in GRIFFIN_LIM_NAMES:
        return GriffinLim(audio_cfg)
    path = Path(path_or_name)
    if not path.exists():
        raise VocoderError(f"vocoder not found: {path} (use 'griffin-lim' for the vocoder without weights)")
    from fastpitch.vocoders.neural import load_neural

    return load_neural(path, audio_cfg, config)
