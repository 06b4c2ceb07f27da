"""A fast CPU vocoder in the style of Vocos (Siuzdak, 2023): ConvNeXt blocks at the mel frame rate predict
magnitude and phase of every STFT frame, and an inverse STFT makes the audio.

All the network's work happens at 86 frames per second instead of 22,050 samples per second, which is why it is
several times faster than HiFi-GAN V3 on a CPU at a similar size. The inverse STFT is an inverse real FFT of
each frame, windowed, overlap-added and divided by the summed squared window: exact and differentiable. ONNX
has no fast inverse FFT, so the export ends at the spectrum and the runtime does the inverse STFT in numpy.
Frame t is centred on output samples [t * hop, (t + 1) * hop), so T mel frames give T * hop samples, aligned
with `fastpitch.audio`'s mel frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

MAX_LOG_MAGNITUDE = math.log(1e3)


@dataclass
class ISTFTConfig:
    """Backbone size and synthesis STFT; ~2.8 M parameters by default."""

    n_mels: int = 80
    dim: int = 256
    intermediate_dim: int = 768
    n_layers: int = 6
    kernel_size: int = 7
    n_fft: int = 1024
    hop_length: int = 256
    # Each frame's phase = the predicted phase + the running sum of predicted phase advances (see
    # `ISTFTVocoder.spectrum`); vocoders saved before it existed predict the phase alone.
    phase_advance: bool = field(default=False, metadata={"absent": False})


class ConvNeXtBlock(nn.Module):
    """Depthwise conv -> LayerNorm -> pointwise MLP (GELU) with a learned residual scale (ConvNeXt, 1-D)."""

    def __init__(self, dim: int, intermediate_dim: int, kernel_size: int, layer_scale: float) -> None:
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, intermediate_dim)
        self.pwconv2 = nn.Linear(intermediate_dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T, dim), channels last so that the norm and the MLP need no transposes."""
        h = self.dwconv(x.transpose(1, 2)).transpose(1, 2)
        h = self.pwconv2(F.gelu(self.pwconv1(self.norm(h))))
        return x + self.gamma * h


class InverseSTFT(nn.Module):
    """Complex spectrogram as (B, T, F, 2) real/imaginary parts -> audio (B, T * hop), HiFi-GAN framing.

    The ONNX export stops before this module: `fastpitch.runtime.istft` computes the same in numpy.
    """

    def __init__(self, n_fft: int, hop_length: int) -> None:
        super().__init__()
        self.n_fft, self.hop = n_fft, hop_length
        self.pad = (n_fft - hop_length) // 2
        window = torch.hann_window(n_fft)
        self.register_buffer("window", window, persistent=False)
        self.register_buffer("window_sq", (window**2)[None, None, :], persistent=False)

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        n_frames = spec.shape[1]
        complex_spec = torch.view_as_complex(spec.float().contiguous())
        frames = torch.fft.irfft(complex_spec, n=self.n_fft, dim=-1) * self.window
        length = (n_frames - 1) * self.hop + self.n_fft
        audio = F.fold(frames.transpose(1, 2), (1, length), (1, self.n_fft), stride=(1, self.hop))[:, 0, 0]
        ones = torch.ones(1, 1, n_frames, dtype=audio.dtype, device=spec.device)
        envelope = F.conv_transpose1d(ones, self.window_sq, stride=self.hop)[:, 0]
        audio = audio / envelope.clamp(min=1e-8)
        return audio[:, self.pad : self.pad + n_frames * self.hop]


class ISTFTVocoder(nn.Module):
    """Log-mel (B, n_mels, T) -> audio (B, 1, T * hop), like HiFi-GAN's generator."""

    def __init__(self, cfg: ISTFTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Conv1d(cfg.n_mels, cfg.dim, 7, padding=3)
        self.norm = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.blocks = nn.ModuleList(
            ConvNeXtBlock(cfg.dim, cfg.intermediate_dim, cfg.kernel_size, 1.0 / cfg.n_layers)
            for _ in range(cfg.n_layers)
        )
        self.final_norm = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.head = nn.Linear(cfg.dim, cfg.n_fft + 2)
        self.istft = InverseSTFT(cfg.n_fft, cfg.hop_length)
        self.apply(_init_weights)
        if cfg.phase_advance:
            n_bins = cfg.n_fft // 2 + 1
            self.advance = nn.Linear(cfg.dim, n_bins)
            nn.init.zeros_(self.advance.weight)  # starts as the vocoder it may grow from (`grow_from`)
            nn.init.zeros_(self.advance.bias)
            bin_advance = 2.0 * math.pi * torch.arange(n_bins) * cfg.hop_length / cfg.n_fft
            self.register_buffer("bin_advance", bin_advance, persistent=False)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.istft(self.spectrum(mel))[:, None]

    def spectrum(self, mel: torch.Tensor) -> torch.Tensor:
        """Log-mel (B, n_mels, T) -> every frame's complex spectrum (B, T, n_fft // 2 + 1, 2): all the network
        computes, and what the ONNX export returns (see `fastpitch.runtime.istft`)."""
        x = self.norm(self.embed(mel).transpose(1, 2))
        for block in self.blocks:
            x = block(x)
        x = self.final_norm(x)
        log_mag, phase = self.head(x).chunk(2, dim=-1)
        if self.cfg.phase_advance:
            # A harmonic at f turns by 2 pi f hop / sr from one frame to the next. Convolutions see the same
            # input in every frame of a steady vowel and so give every frame the same phase: the frames then
            # add up to a hum at the frame rate (86 Hz), the pitch of a low voice. Integrating a predicted
            # advance over the frames lets the network say how fast each bin turns instead; it predicts the
            # departure from the bin's own centre frequency, a fraction of a radian.
            step = torch.remainder(self.advance(x).float() + self.bin_advance, 2.0 * math.pi)
            phase = phase.float() + torch.cumsum(step, dim=1)
        mag = torch.exp(log_mag.clamp(max=MAX_LOG_MAGNITUDE))
        return torch.stack([mag * torch.cos(phase), mag * torch.sin(phase)], dim=-1)

    def grow_from(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """`state` of a vocoder without the phase-advance head, completed with this one's (zero) head: the
        grown vocoder starts out giving that vocoder's audio plus the bins' centre-frequency advance."""
        own = self.state_dict()
        return {**{k: v for k, v in own.items() if k.startswith("advance.") and k not in state}, **state}

    def remove_weight_norm(self) -> ISTFTVocoder:
        """No weight norm here; present so that every generator has the same inference preparation."""
        return self

    def apply_weight_norm(self) -> ISTFTVocoder:
        return self


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, (nn.Conv1d, nn.Linear)):
        nn.init.trunc_normal_(module.weight, std=0.02)
        nn.init.zeros_(module.bias)
