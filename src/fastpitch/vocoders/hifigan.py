"""HiFi-GAN (Kong et al., 2020): generator V1/V2/V3, multi-period and multi-scale discriminators, their losses,
and loading of published checkpoints (jik876/hifi-gan and NVIDIA DeepLearningExamples) into this module; also
UnivNet's multi-resolution discriminator (Jang et al., 2021), which Vocos pairs with the multi-period one.

The generator's module names follow jik876's (`conv_pre`, `ups`, `resblocks`, `conv_post`), so a published state
dict maps onto it by renaming only: weight norm's `weight_g`/`weight_v` become the parametrization tensors of
`torch.nn.utils.parametrizations.weight_norm`, and NVIDIA's nested `resblocks.<stage>.<kernel>` becomes the flat
`resblocks.<stage * n_kernels + kernel>`.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm, weight_norm

from fastpitch.audio import mel_spectrogram
from fastpitch.checkpoint import load_weights
from fastpitch.config import AudioConfig, ConfigError, from_dict
from fastpitch.vocoders.griffin_lim import VocoderError

LRELU_SLOPE = 0.1


class CheckpointFormatError(VocoderError):
    """A vocoder checkpoint that cannot be read or does not fit the architecture it claims."""


@dataclass
class HiFiGANConfig:
    """Generator hyperparameters with jik876's names; the product of `upsample_rates` is the hop length."""

    resblock: str = "1"
    upsample_rates: list[int] = field(default_factory=lambda: [8, 8, 2, 2])
    upsample_kernel_sizes: list[int] = field(default_factory=lambda: [16, 16, 4, 4])
    upsample_initial_channel: int = 512
    resblock_kernel_sizes: list[int] = field(default_factory=lambda: [3, 7, 11])
    resblock_dilation_sizes: list[list[int]] = field(
        default_factory=lambda: [[1, 3, 5], [1, 3, 5], [1, 3, 5]]
    )
    n_mels: int = 80

    @property
    def hop_length(self) -> int:
        return math.prod(self.upsample_rates)


# The three published configurations (jik876/hifi-gan config_v1/v2/v3.json), all for hop 256.
PRESETS: dict[str, HiFiGANConfig] = {
    "v1": HiFiGANConfig(),
    "v2": HiFiGANConfig(upsample_initial_channel=128),
    "v3": HiFiGANConfig(
        resblock="2",
        upsample_rates=[8, 8, 4],
        upsample_kernel_sizes=[16, 16, 8],
        upsample_initial_channel=256,
        resblock_kernel_sizes=[3, 5, 7],
        resblock_dilation_sizes=[[1, 2], [2, 6], [3, 12]],
    ),
}


def _padding(kernel_size: int, dilation: int = 1) -> int:
    return (kernel_size * dilation - dilation) // 2


def _conv(c_in: int, c_out: int, kernel: int, dilation: int = 1) -> nn.Module:
    """Weight-normed 'same' Conv1d, initialised as in HiFi-GAN (N(0, 0.01))."""
    conv = nn.Conv1d(c_in, c_out, kernel, 1, padding=_padding(kernel, dilation), dilation=dilation)
    nn.init.normal_(conv.weight, 0.0, 0.01)
    return weight_norm(conv)


class ResBlock1(nn.Module):
    """Three dilated conv pairs with residuals (V1, V2)."""

    def __init__(self, channels: int, kernel_size: int, dilations: list[int]) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(_conv(channels, channels, kernel_size, d) for d in dilations)
        self.convs2 = nn.ModuleList(_conv(channels, channels, kernel_size) for _ in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c1, c2 in zip(self.convs1, self.convs2, strict=True):
            xt = c1(F.leaky_relu(x, LRELU_SLOPE))
            x = x + c2(F.leaky_relu(xt, LRELU_SLOPE))
        return x


class ResBlock2(nn.Module):
    """Dilated single convs with residuals (V3)."""

    def __init__(self, channels: int, kernel_size: int, dilations: list[int]) -> None:
        super().__init__()
        self.convs = nn.ModuleList(_conv(channels, channels, kernel_size, d) for d in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = x + conv(F.leaky_relu(x, LRELU_SLOPE))
        return x


class Generator(nn.Module):
    """Log-mel (B, n_mels, T) -> audio (B, 1, T * hop) by transposed convolutions and multi-receptive fusion."""

    def __init__(self, cfg: HiFiGANConfig) -> None:
        super().__init__()
        if cfg.resblock not in ("1", "2"):
            raise ConfigError(f"HiFi-GAN resblock must be '1' or '2', got {cfg.resblock!r}")
        self.cfg = cfg
        self.n_kernels = len(cfg.resblock_kernel_sizes)
        ch = cfg.upsample_initial_channel
        self.conv_pre = weight_norm(nn.Conv1d(cfg.n_mels, ch, 7, 1, padding=3))
        self.ups = nn.ModuleList()
        for i, (rate, kernel) in enumerate(zip(cfg.upsample_rates, cfg.upsample_kernel_sizes, strict=True)):
            up = nn.ConvTranspose1d(
                ch // 2**i, ch // 2 ** (i + 1), kernel, rate, padding=(kernel - rate) // 2
            )
            nn.init.normal_(up.weight, 0.0, 0.01)
            self.ups.append(weight_norm(up))
        block = ResBlock1 if cfg.resblock == "1" else ResBlock2
        self.resblocks = nn.ModuleList(
            block(ch // 2 ** (i + 1), k, d)
            for i in range(len(self.ups))
            for k, d in zip(cfg.resblock_kernel_sizes, cfg.resblock_dilation_sizes, strict=True)
        )
        self.conv_post = _conv(ch // 2 ** len(self.ups), 1, 7)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.conv_pre(mel)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            blocks = self.resblocks[i * self.n_kernels : (i + 1) * self.n_kernels]
            x = sum(block(x) for block in blocks) / self.n_kernels
        x = self.conv_post(F.leaky_relu(x))  # default slope 0.01 here, as in the published model
        return torch.tanh(x)

    def remove_weight_norm(self) -> Generator:
        """Fold weight norm into plain weights for inference (same outputs, less work per call)."""
        remove_weight_norm(self)
        return self

    def apply_weight_norm(self) -> Generator:
        """Put weight norm back on every convolution (g = |w|, v = w), e.g. to fine-tune inference weights."""
        for module in self.modules():
            is_conv = isinstance(module, (nn.Conv1d, nn.ConvTranspose1d))
            if is_conv and not parametrize.is_parametrized(module, "weight"):
                weight_norm(module)
        return self


def remove_weight_norm(module: nn.Module) -> None:
    """Remove every weight-norm parametrization in `module`, keeping the current effective weights."""
    for sub in module.modules():
        if parametrize.is_parametrized(sub, "weight"):
            parametrize.remove_parametrizations(sub, "weight", leave_parametrized=True)


# --------------------------------------------------------------------------------------------------------------
# discriminators and losses


def _scaled(channels: tuple[int, ...], width: float, multiple: int = 16) -> list[int]:
    """Channel counts scaled by `width` (for small test and CPU setups), kept multiples of the group count."""
    return [max(multiple, round(c * width / multiple) * multiple) for c in channels]


class DiscriminatorP(nn.Module):
    """Looks at audio folded into (T / period, period): one of the multi-period discriminator's heads."""

    def __init__(self, period: int, width: float = 1.0) -> None:
        super().__init__()
        self.period = period
        chs = [1, *_scaled((32, 128, 512, 1024, 1024), width)]
        self.convs = nn.ModuleList(
            weight_norm(nn.Conv2d(chs[i], chs[i + 1], (5, 1), (3 if i < 4 else 1, 1), padding=(2, 0)))
            for i in range(5)
        )
        self.conv_post = weight_norm(nn.Conv2d(chs[-1], 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        b, c, t = x.shape
        if t % self.period:
            x = F.pad(x, (0, self.period - t % self.period), "reflect")
        return _score(self.convs, self.conv_post, x.view(b, c, -1, self.period))


class DiscriminatorS(nn.Module):
    """Grouped strided 1-D convolutions over raw audio: one of the multi-scale discriminator's heads."""

    def __init__(self, use_spectral_norm: bool = False, width: float = 1.0) -> None:
        super().__init__()
        norm = spectral_norm if use_spectral_norm else weight_norm
        chs = [1, *_scaled((128, 128, 256, 512, 1024, 1024, 1024), width)]
        kernels, strides, groups = (
            (15, 41, 41, 41, 41, 41, 5),
            (1, 2, 2, 4, 4, 1, 1),
            (1, 4, 16, 16, 16, 16, 1),
        )
        self.convs = nn.ModuleList(
            norm(
                nn.Conv1d(
                    chs[i], chs[i + 1], kernels[i], strides[i], groups=groups[i], padding=kernels[i] // 2
                )
            )
            for i in range(7)
        )
        self.conv_post = norm(nn.Conv1d(chs[-1], 1, 3, 1, padding=1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return _score(self.convs, self.conv_post, x)


class DiscriminatorR(nn.Module):
    """2-D convolutions over one resolution's magnitude spectrogram (B, 1, frames, bins), striding along
    frequency: one head of the multi-resolution discriminator, which judges the harmonics an iSTFT head draws
    directly. Not cheaper than the multi-scale heads on a CPU: at quarter width, 16 x 8,192 samples, one thread,
    a forward and backward take 4.9 s (MSD 3.2 s, MPD 2.3 s), the full-resolution 2-D layers dominating."""

    def __init__(self, n_fft: int, hop: int, win: int, width: float = 1.0) -> None:
        super().__init__()
        self.n_fft, self.hop, self.win = n_fft, hop, win
        ch = _scaled((32,), width)[0]
        self.convs = nn.ModuleList(
            [
                weight_norm(nn.Conv2d(1, ch, (3, 9), padding=(1, 4))),
                *(weight_norm(nn.Conv2d(ch, ch, (3, 9), (1, 2), padding=(1, 4))) for _ in range(3)),
                weight_norm(nn.Conv2d(ch, ch, (3, 3), padding=(1, 1))),
            ]
        )
        self.conv_post = weight_norm(nn.Conv2d(ch, 1, (3, 3), padding=(1, 1)))
        self.register_buffer("window", torch.hann_window(win), persistent=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        spec = torch.stft(x[:, 0].float(), self.n_fft, self.hop, self.win, self.window, return_complex=True)
        mag = torch.view_as_real(spec).pow(2).sum(-1).clamp(min=1e-9).sqrt()  # (B, bins, frames)
        return _score(self.convs, self.conv_post, mag.transpose(1, 2)[:, None])


def _score(convs: nn.ModuleList, post: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """A discriminator head's score (B, N) and the activations of every layer (for feature matching)."""
    fmap = []
    for conv in convs:
        x = F.leaky_relu(conv(x), LRELU_SLOPE)
        fmap.append(x)
    x = post(x)
    fmap.append(x)
    return x.flatten(1), fmap


DiscriminatorOutput = tuple[
    list[torch.Tensor], list[torch.Tensor], list[list[torch.Tensor]], list[list[torch.Tensor]]
]


class _MultiDiscriminator(nn.Module):
    """Runs each head on real and generated audio in one batch; returns scores and feature maps of both."""

    discriminators: nn.ModuleList

    def _inputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [x] * len(self.discriminators)

    def forward(self, real: torch.Tensor, fake: torch.Tensor) -> DiscriminatorOutput:
        scores_r, scores_f, fmaps_r, fmaps_f = [], [], [], []
        n = real.shape[0]
        for disc, x in zip(self.discriminators, self._inputs(torch.cat([real, fake])), strict=True):
            score, fmap = disc(x)
            scores_r.append(score[:n])
            scores_f.append(score[n:])
            fmaps_r.append([f[:n] for f in fmap])
            fmaps_f.append([f[n:] for f in fmap])
        return scores_r, scores_f, fmaps_r, fmaps_f


class MultiPeriodDiscriminator(_MultiDiscriminator):
    def __init__(self, periods: tuple[int, ...] = (2, 3, 5, 7, 11), width: float = 1.0) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(DiscriminatorP(p, width) for p in periods)


class MultiScaleDiscriminator(_MultiDiscriminator):
    def __init__(self, width: float = 1.0) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(
            [
                DiscriminatorS(use_spectral_norm=True, width=width),
                DiscriminatorS(width=width),
                DiscriminatorS(width=width),
            ]
        )
        self.pool = nn.AvgPool1d(4, 2, padding=2)

    def _inputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        half = self.pool(x)
        return [x, half, self.pool(half)]


class MultiResolutionDiscriminator(_MultiDiscriminator):
    RESOLUTIONS = ((2048, 512, 2048), (1024, 256, 1024), (512, 128, 512))  # (n_fft, hop, win), Vocos's

    def __init__(self, width: float = 1.0) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(DiscriminatorR(*r, width=width) for r in self.RESOLUTIONS)


DISCRIMINATORS: dict[str, type[_MultiDiscriminator]] = {
    "mpd": MultiPeriodDiscriminator,
    "msd": MultiScaleDiscriminator,
    "mrd": MultiResolutionDiscriminator,
}


def feature_loss(fmaps_r: list[list[torch.Tensor]], fmaps_f: list[list[torch.Tensor]]) -> torch.Tensor:
    """Feature matching: L1 between the discriminators' inner activations on real and generated audio (x2)."""
    pairs = [(r, f) for fr, ff in zip(fmaps_r, fmaps_f, strict=True) for r, f in zip(fr, ff, strict=True)]
    return 2 * sum(torch.mean(torch.abs(r.detach() - f)) for r, f in pairs)


def discriminator_loss(scores_r: list[torch.Tensor], scores_f: list[torch.Tensor]) -> torch.Tensor:
    """LSGAN: real scores towards 1, generated towards 0."""
    return sum(torch.mean((1 - r) ** 2) + torch.mean(f**2) for r, f in zip(scores_r, scores_f, strict=True))


def generator_loss(scores_f: list[torch.Tensor]) -> torch.Tensor:
    """LSGAN: generated scores towards 1."""
    return sum(torch.mean((1 - f) ** 2) for f in scores_f)


def mel_loss(real: torch.Tensor, fake: torch.Tensor, audio_cfg: AudioConfig) -> torch.Tensor:
    """L1 between log-mels of real and generated audio (B, L), with the mel extended to Nyquist as in HiFi-GAN."""
    cfg = replace(audio_cfg, fmax=audio_cfg.sample_rate / 2)
    return F.l1_loss(mel_spectrogram(fake, cfg), mel_spectrogram(real, cfg))


# --------------------------------------------------------------------------------------------------------------
# published checkpoints

_NESTED_RESBLOCK = re.compile(r"^resblocks\.(\d+)\.(\d+)\.(.+)$")


def config_from_published(data: dict[str, Any]) -> HiFiGANConfig:
    """Our config from a jik876 `config.json` or the `config` dict of an NVIDIA checkpoint (extra keys ignored)."""
    names = {f for f in HiFiGANConfig.__dataclass_fields__ if f != "n_mels"}
    try:
        picked = {k: v for k, v in data.items() if k in names}
        picked["resblock"] = str(picked.get("resblock", "1"))
        if "num_mels" in data:
            picked["n_mels"] = int(data["num_mels"])
        return from_dict(HiFiGANConfig, picked)
    except (ConfigError, TypeError) as e:
        raise CheckpointFormatError(f"unusable HiFi-GAN config: {e}") from None


def convert_state_dict(state: dict[str, torch.Tensor], n_kernels: int) -> dict[str, torch.Tensor]:
    """A jik876 or NVIDIA generator state dict renamed to this module's keys (weight norm still applied)."""
    out = {}
    for key, value in state.items():
        key = re.sub(r"^(module\.)+", "", key)  # DataParallel / DistributedDataParallel wrapping
        nested = _NESTED_RESBLOCK.match(key)
        if nested:  # NVIDIA: resblocks.<stage>.<kernel>.convs…; jik876's flat keys never match
            stage, kernel, rest = nested.groups()
            key = f"resblocks.{int(stage) * n_kernels + int(kernel)}.{rest}"
        key = re.sub(r"\.weight_g$", ".parametrizations.weight.original0", key)
        key = re.sub(r"\.weight_v$", ".parametrizations.weight.original1", key)
        out[key] = value
    return out


def _fit_shapes(state: dict[str, torch.Tensor], own: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """NVIDIA's checkpoints may store conv weights with a trailing singleton dimension (Conv2d-shaped)."""
    fitted = {}
    for key, value in state.items():
        target = own.get(key)
        if target is not None and value.dim() == target.dim() + 1 and value.shape[-1] == 1:
            value = value.squeeze(-1)
        elif target is not None and value.dim() + 1 == target.dim() and target.shape[-1] == 1:
            value = value.unsqueeze(-1)
        fitted[key] = value
    return fitted


def load_published(path: str | Path, config: str | Path | dict[str, Any] | None = None) -> Generator:
    """A published HiFi-GAN generator checkpoint as our `Generator` with weight norm removed, in eval mode.

    Reads jik876's `{"generator": state_dict}` (config from `config`, else `config.json` beside the file) and
    NVIDIA DeepLearningExamples' `{"generator": ..., "config": {...}, "train_setup": ...}` (config inside;
    `module.` prefixes and nested resblocks handled). Only `torch.load(weights_only=True)`: no code runs.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointFormatError(f"HiFi-GAN checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises UnpicklingError, RuntimeError or EOFError for foreign files
        raise CheckpointFormatError(f"cannot read {path} as a HiFi-GAN checkpoint: {e}") from None
    if not isinstance(ckpt, dict):
        raise CheckpointFormatError(f"{path} is not a HiFi-GAN checkpoint (expected a dict)")
    if "generator" in ckpt:
        state = ckpt["generator"]
    elif any(k.endswith("conv_pre.weight_v") or k.endswith("conv_pre.weight") for k in ckpt):
        state = ckpt
    else:
        hint = (
            " (a discriminator/optimizer checkpoint? use the generator's g_* file)" if "mpd" in ckpt else ""
        )
        raise CheckpointFormatError(f"{path} holds no HiFi-GAN generator weights{hint}")
    cfg = config_from_published(_published_config(path, ckpt, config))
    model = Generator(cfg)
    state = convert_state_dict(state, len(cfg.resblock_kernel_sizes))
    if not any(k.endswith("original0") for k in state):  # weight norm already folded into plain weights
        model.remove_weight_norm()
    load_weights(model, _fit_shapes(state, model.state_dict()), path)
    return model.remove_weight_norm().eval()


def _published_config(path: Path, ckpt: dict[str, Any], config: str | Path | dict[str, Any] | None):
    if isinstance(config, dict):
        return config
    if config is None and isinstance(ckpt.get("config"), dict):
        return ckpt["config"]
    config_path = Path(config) if config is not None else path.with_name("config.json")
    if not config_path.is_file():
        raise CheckpointFormatError(
            f"HiFi-GAN checkpoint {path} has no config inside and no {config_path.name} beside it; "
            "pass the config.json it was trained with"
        )
    try:
        return json.loads(config_path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointFormatError(f"cannot read HiFi-GAN config {config_path}: {e}") from None
