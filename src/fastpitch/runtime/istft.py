"""The inverse STFT of the iSTFT vocoder, in numpy: the last step of its ONNX export runs here.

ONNX has no fast inverse FFT: the exported inverse STFT was one transposed convolution with the windowed
inverse-DFT basis, 2 n_fft multiply-adds per output sample, a quarter of the vocoder's time; ONNX Runtime's DFT
operator was no faster. numpy's pocketfft does the same work in under a tenth of that time, so the vocoder graph
ends at the complex spectrum (`spectrum`: frames x bins x (real, imaginary)) and this module makes the audio,
with the framing of `fastpitch.vocoders.istft.InverseSTFT`: frame t centred on samples [t * hop, (t + 1) * hop).
"""

from __future__ import annotations

import numpy as np


def hann_window(n: int) -> np.ndarray:
    """The periodic Hann window (torch.hann_window's default), float32."""
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)).astype(np.float32)


def overlap_add(frames: np.ndarray, hop: int) -> np.ndarray:
    """frames (T, n) -> (T - 1) * hop + n samples, frame t added at t * hop: one slice-add per hop in a frame."""
    n_frames, n = frames.shape
    taps = -(-n // hop)
    blocks = np.zeros((n_frames, taps * hop), dtype=frames.dtype)
    blocks[:, :n] = frames
    blocks = blocks.reshape(n_frames, taps, hop)
    out = np.zeros((n_frames + taps - 1, hop), dtype=frames.dtype)
    for j in range(taps):
        out[j : j + n_frames] += blocks[:, j]
    return out.reshape(-1)[: (n_frames - 1) * hop + n]


def inverse_stft(spectrum: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """spectrum (T, n_fft // 2 + 1, 2) float32 -> audio (T * hop,) float32, as the torch vocoder computes it."""
    n_frames = spectrum.shape[0]
    if n_frames == 0:
        return np.zeros(0, dtype=np.float32)
    complex_spec = np.ascontiguousarray(spectrum, dtype=np.float32).view(np.complex64)[..., 0]
    window = hann_window(n_fft)
    frames = np.fft.irfft(complex_spec, n=n_fft, axis=-1).astype(np.float32, copy=False) * window
    audio = overlap_add(frames, hop)
    envelope = overlap_add(np.broadcast_to(window * window, (n_frames, n_fft)), hop)
    pad = (n_fft - hop) // 2
    audio = audio[pad : pad + n_frames * hop] / np.maximum(envelope[pad : pad + n_frames * hop], 1e-8)
    return audio.astype(np.float32, copy=False)
