"""Fast Griffin-Lim (Perraudin et al., 2013): mel -> audio with no trained weights, in numpy only.

The mel is turned back into a linear magnitude by a non-negative least-squares fit of `fastpitch.audio`'s mel
filterbank, then the phase is recovered by alternating projections with momentum (alpha ~ 0.99), which converges
several times faster than the original algorithm. The STFT is HiFi-GAN's (reflect padding of (n_fft - hop) / 2,
no centering), so T mel frames give exactly T * hop samples, like the neural vocoders. Everything here is numpy
(plus scipy's FFT when installed): the torch-free runtime uses the same code, and no torch version is needed, as
torch's CPU FFT is the slowest of the three here (one STFT of 10 s: torch 7 ms, numpy 4 ms, scipy 1.2 ms).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

try:  # scipy's pocketfft is about 3x faster than numpy's on float32; numpy's is the torch-free fallback
    from scipy import fft as _fft
except ImportError:  # pragma: no cover - the runtime-only install has no scipy
    _fft = np.fft

from fastpitch.audio import LOG_CLAMP, mel_filterbank
from fastpitch.config import AudioConfig
from fastpitch.errors import FastPitchError

MAG_FLOOR = 1e-10


class VocoderError(FastPitchError, ValueError):
    """A vocoder or its input that cannot be used; the message says what is wrong."""


def check_mel(mel: Any, n_mels: int) -> None:
    """Refuse what no vocoder can turn into sound: wrong shape or NaN/inf values (tensor or array)."""
    shape = tuple(mel.shape)
    if len(shape) not in (2, 3) or shape[-2] != n_mels or shape[-1] == 0:
        raise VocoderError(
            f"expected a mel of shape (batch, {n_mels}, frames) or ({n_mels}, frames), got {shape}"
        )
    finite = np.isfinite(mel).all() if isinstance(mel, np.ndarray) else mel.isfinite().all()
    if not bool(finite):
        raise VocoderError("the mel contains NaN or infinite values (a diverged or broken acoustic model?)")


class NumpySTFT:
    """Batched STFT / least-squares inverse STFT with HiFi-GAN's padding; arrays are (B, T, n_fft // 2 + 1)."""

    def __init__(self, cfg: AudioConfig) -> None:
        self.n_fft, self.hop = cfg.n_fft, cfg.hop_length
        self.pad = (cfg.n_fft - cfg.hop_length) // 2
        n = np.arange(cfg.win_length)
        window = 0.5 - 0.5 * np.cos(2 * np.pi * n / cfg.win_length)  # periodic Hann, as torch.hann_window
        left = (cfg.n_fft - cfg.win_length) // 2
        self.window = np.zeros(cfg.n_fft, dtype=np.float32)
        self.window[left : left + cfg.win_length] = window
        # Overlap-add works on blocks of `hop` samples: each frame spans `n_blocks` of them.
        self.n_blocks = -(-cfg.n_fft // cfg.hop_length)

    def forward(self, wav: np.ndarray) -> np.ndarray:
        """Complex spectrogram (B, T, F) of audio (B, L)."""
        padded = np.pad(wav, ((0, 0), (self.pad, self.pad)), mode="reflect")
        frames = np.lib.stride_tricks.sliding_window_view(padded, self.n_fft, axis=-1)[:, :: self.hop]
        return _fft.rfft(frames * self.window, axis=-1)

    def inverse(self, spec: np.ndarray) -> np.ndarray:
        """Audio (B, T * hop) whose STFT is closest to `spec` (B, T, F) in the least-squares sense."""
        n_frames = spec.shape[1]
        frames = _fft.irfft(spec, n=self.n_fft, axis=-1).astype(np.float32, copy=False) * self.window
        out = self._overlap_add(frames)
        out /= np.maximum(self._envelope(n_frames), 1e-8)
        return out[:, self.pad : self.pad + n_frames * self.hop]

    def _overlap_add(self, frames: np.ndarray) -> np.ndarray:
        batch, n_frames, _ = frames.shape
        width = self.n_blocks * self.hop
        if width != self.n_fft:
            frames = np.pad(frames, ((0, 0), (0, 0), (0, width - self.n_fft)))
        blocks = frames.reshape(batch, n_frames, self.n_blocks, self.hop)
        out = np.zeros((batch, n_frames + self.n_blocks - 1, self.hop), dtype=np.float32)
        for k in range(self.n_blocks):
            out[:, k : k + n_frames] += blocks[:, :, k]
        return out.reshape(batch, -1)

    def _envelope(self, n_frames: int) -> np.ndarray:
        squared = np.broadcast_to(self.window**2, (1, n_frames, self.n_fft))
        return self._overlap_add(np.ascontiguousarray(squared))


@functools.lru_cache(maxsize=4)
def _filterbank_and_pinv(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float):
    fb = mel_filterbank(
        AudioConfig(sample_rate=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    )
    return fb.astype(np.float32), np.linalg.pinv(fb).T.astype(np.float32)


def mel_to_linear(mel: np.ndarray, cfg: AudioConfig, n_iter: int = 30) -> np.ndarray:
    """Non-negative linear magnitude (B, T, F) whose mel is closest to the log-mel `mel` (B, n_mels, T).

    Starts from the clipped pseudo-inverse and refines it with multiplicative NNLS updates (Lee & Seung), which
    keep every bin non-negative and remove most of the pseudo-inverse's ringing at low frequencies.
    """
    fb, pinv_t = _filterbank_and_pinv(
        cfg.sample_rate, cfg.n_fft, cfg.n_mels, float(cfg.fmin), float(cfg.fmax)
    )
    target = np.exp(mel.astype(np.float32)).transpose(0, 2, 1)  # (B, T, n_mels)
    target[target <= LOG_CLAMP * 1.0001] = 0.0  # the log clamp marks silence, not a tiny magnitude
    mag = np.maximum(target @ pinv_t, MAG_FLOOR)
    numerator = target @ fb
    for _ in range(n_iter):
        mag *= numerator / ((mag @ fb.T) @ fb + 1e-9)
        np.maximum(mag, MAG_FLOOR, out=mag)  # far below audibility, and keeps floats out of slow denormals
    return mag


def griffin_lim(
    mel: np.ndarray, cfg: AudioConfig, n_iter: int = 32, momentum: float = 0.99, seed: int = 0
) -> np.ndarray:
    """Audio (B, T * hop) float32 from log-mel (B, n_mels, T) by fast Griffin-Lim; deterministic for a seed."""
    mel = np.asarray(mel, dtype=np.float32)
    squeeze = mel.ndim == 2
    if squeeze:
        mel = mel[None]
    stft = NumpySTFT(cfg)
    mag = mel_to_linear(mel, cfg)
    rng = np.random.default_rng(seed)  # one phase draw shared by the batch: batched equals unbatched
    coef = np.exp(2j * np.pi * rng.random(mag.shape[1:], dtype=np.float32)).astype(np.complex64)
    coef = np.broadcast_to(coef, mag.shape)
    previous = None
    for _ in range(n_iter):
        projected = stft.forward(stft.inverse(_with_magnitude(coef, mag)))
        coef = projected if previous is None else projected + momentum * (projected - previous)
        previous = projected
    audio = stft.inverse(_with_magnitude(coef, mag))
    return audio[0] if squeeze else audio


def _with_magnitude(z: np.ndarray, mag: np.ndarray) -> np.ndarray:
    """`z`'s phase with magnitude `mag` (the projection onto spectrograms of the target magnitude)."""
    return z * (mag / np.maximum(np.abs(z), 1e-8))


class GriffinLim:
    """The vocoder that needs no weights: `GriffinLim(audio_cfg)(mel)`, mel (B, n_mels, T) tensor or array."""

    arch = "griffin-lim"

    def __init__(
        self, audio_cfg: AudioConfig | None = None, n_iter: int = 32, momentum: float = 0.99
    ) -> None:
        self.audio_cfg = audio_cfg or AudioConfig()
        self.n_iter, self.momentum = n_iter, momentum
        self.sample_rate, self.hop_length = self.audio_cfg.sample_rate, self.audio_cfg.hop_length

    def __call__(self, mel: Any) -> Any:
        """Audio (B, T * hop); a torch tensor in gives a torch tensor out, an array gives an array."""
        check_mel(mel, self.audio_cfg.n_mels)
        if isinstance(mel, np.ndarray):
            return griffin_lim(mel, self.audio_cfg, self.n_iter, self.momentum)
        import torch

        audio = griffin_lim(mel.detach().float().cpu().numpy(), self.audio_cfg, self.n_iter, self.momentum)
        return torch.from_numpy(audio).to(mel.device)
