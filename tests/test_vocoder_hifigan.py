"""HiFi-GAN: generator shapes, discriminators and losses, and loading checkpoints in the published layouts.

The published-layout tests build a small stand-in of the original generators (old-style weight norm, so the
state dict has `weight_g`/`weight_v`; flat resblocks as in jik876/hifi-gan, nested as in NVIDIA
DeepLearningExamples), save random weights with `torch.save` exactly as those projects do, and check that our
loader reproduces the stand-in's output.
"""

import dataclasses
import json
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from typer.testing import CliRunner

from fastpitch.cli import app
from fastpitch.config import AudioConfig
from fastpitch.errors import FastPitchError
from fastpitch.vocoders import load_vocoder
from fastpitch.vocoders.hifigan import (
    PRESETS,
    Generator,
    MultiPeriodDiscriminator,
    MultiResolutionDiscriminator,
    MultiScaleDiscriminator,
    discriminator_loss,
    feature_loss,
    generator_loss,
    load_published,
)
from fastpitch.vocoders.neural import NeuralVocoder

pytestmark = pytest.mark.usefixtures("vocoder_single_thread")


def assert_near(actual: torch.Tensor, expected: torch.Tensor, atol: float) -> None:
    assert actual.shape == expected.shape
    assert float((actual - expected).abs().max()) < atol


@pytest.mark.parametrize(
    ("version", "params"), [("v1", (13.9e6, 14.0e6)), ("v2", (0.90e6, 0.95e6)), ("v3", (1.4e6, 1.5e6))]
)
def test_generator_upsamples_by_the_hop(version, params):
    torch.manual_seed(0)
    generator = Generator(PRESETS[version]).eval()
    assert params[0] < sum(p.numel() for p in generator.parameters()) < params[1]  # the published sizes
    mel = torch.randn(2, 80, 3)
    with torch.no_grad():
        audio = generator(mel)
        assert audio.shape == (2, 1, 3 * 256)
        assert audio.abs().max() <= 1.0
        generator.remove_weight_norm()
        assert_near(generator(mel), audio, 1e-5)
    assert not any("parametrizations" in k for k in generator.state_dict())


def test_discriminators_and_losses():
    torch.manual_seed(0)
    mpd, msd = MultiPeriodDiscriminator(width=0.05), MultiScaleDiscriminator(width=0.05)
    mrd = MultiResolutionDiscriminator(width=0.05)
    real, fake = torch.randn(2, 1, 2048), torch.randn(2, 1, 2048, requires_grad=True)
    for disc, heads in ((mpd, 5), (msd, 3), (mrd, 3)):
        scores_r, scores_f, fmaps_r, fmaps_f = disc(real, fake)
        assert len(scores_r) == len(scores_f) == len(fmaps_r) == heads
        assert all(s.shape[0] == 2 for s in scores_r)
        loss = generator_loss(scores_f) + feature_loss(fmaps_r, fmaps_f)
        loss.backward()
        assert fake.grad is not None and fake.grad.abs().sum() > 0
        fake.grad = None
    ones, zeros = [torch.ones(2, 3)], [torch.zeros(2, 3)]
    assert float(discriminator_loss(ones, zeros)) == 0.0
    assert float(discriminator_loss(zeros, ones)) == 2.0
    assert float(generator_loss(ones)) == 0.0
    assert float(feature_loss([[torch.ones(3)]], [[torch.zeros(3)]])) == 2.0


# ----------------------------------------------------------------------------------------------------------
# stand-ins for the published generators


class _Res1(nn.Module):
    def __init__(self, ch, k, dilations):
        super().__init__()
        pad = lambda d: (k * d - d) // 2  # noqa: E731
        wn = nn.utils.weight_norm
        self.convs1 = nn.ModuleList(wn(nn.Conv1d(ch, ch, k, 1, pad(d), d)) for d in dilations)
        self.convs2 = nn.ModuleList(wn(nn.Conv1d(ch, ch, k, 1, pad(1))) for _ in dilations)

    def forward(self, x):
        for c1, c2 in zip(self.convs1, self.convs2, strict=True):
            x = c2(F.leaky_relu(c1(F.leaky_relu(x, 0.1)), 0.1)) + x
        return x


class _Res2(nn.Module):
    def __init__(self, ch, k, dilations):
        super().__init__()
        self.convs = nn.ModuleList(
            nn.utils.weight_norm(nn.Conv1d(ch, ch, k, 1, (k * d - d) // 2, d)) for d in dilations
        )

    def forward(self, x):
        for c in self.convs:
            x = c(F.leaky_relu(x, 0.1)) + x
        return x


class OriginalGenerator(nn.Module):
    """The published generator's structure and key names; `nested` gives NVIDIA's resblocks.<stage>.<kernel>."""

    def __init__(self, h: dict, nested: bool = False):
        super().__init__()
        wn = nn.utils.weight_norm
        self.k = len(h["resblock_kernel_sizes"])
        ch = h["upsample_initial_channel"]
        self.conv_pre = wn(nn.Conv1d(80, ch, 7, 1, padding=3))
        self.ups = nn.ModuleList(
            wn(nn.ConvTranspose1d(ch // 2**i, ch // 2 ** (i + 1), k, u, padding=(k - u) // 2))
            for i, (u, k) in enumerate(zip(h["upsample_rates"], h["upsample_kernel_sizes"], strict=True))
        )
        block = _Res1 if h["resblock"] == "1" else _Res2
        stages = [
            [
                block(ch // 2 ** (i + 1), k, d)
                for k, d in zip(h["resblock_kernel_sizes"], h["resblock_dilation_sizes"], strict=True)
            ]
            for i in range(len(self.ups))
        ]
        if nested:
            self.resblocks = nn.Sequential(*(nn.Sequential(*stage) for stage in stages))
        else:
            self.resblocks = nn.ModuleList(b for stage in stages for b in stage)
        self.conv_post = wn(nn.Conv1d(ch // 2 ** len(self.ups), 1, 7, 1, padding=3))
        for p in self.parameters():  # random, not HiFi-GAN's init: make every weight matter
            nn.init.normal_(p, 0.0, 0.1)

    def forward(self, x):
        x = self.conv_pre(x)
        flat = [b for m in self.resblocks for b in (m if isinstance(m, nn.Sequential) else [m])]
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, 0.1))
            x = sum(b(x) for b in flat[i * self.k : (i + 1) * self.k]) / self.k
        return torch.tanh(self.conv_post(F.leaky_relu(x)))


def _published_config(version: str) -> dict:
    """A config.json as jik876 ships it (resblock as a string, training and audio fields included)."""
    cfg = dataclasses.asdict(PRESETS[version])
    del cfg["n_mels"]
    audio = {"segment_size": 8192, "num_mels": 80, "n_fft": 1024, "hop_size": 256, "win_size": 1024}
    return {**cfg, **audio, "sampling_rate": 22050, "fmin": 0, "fmax": 8000}


def _original(version: str, nested: bool = False) -> OriginalGenerator:
    torch.manual_seed(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # old-style weight norm, as the checkpoints have it
        return OriginalGenerator(_published_config(version), nested).eval()


MEL = torch.randn(1, 80, 6, generator=torch.Generator().manual_seed(2)) - 4


@pytest.mark.parametrize("version", ["v2", "v3"])  # V1 is NVIDIA's published config, tested below
def test_loads_jik876_checkpoint(tmp_path, version):
    original = _original(version)
    assert any(k.endswith("weight_g") for k in original.state_dict())
    torch.save({"generator": original.state_dict()}, tmp_path / "g_02500000")
    (tmp_path / "config.json").write_text(json.dumps(_published_config(version)))

    vocoder = load_vocoder(tmp_path / "g_02500000", AudioConfig())
    assert isinstance(vocoder, NeuralVocoder) and vocoder.arch == "hifigan"
    with torch.no_grad():
        expected = original(MEL)[:, 0]
    assert_near(vocoder(MEL), expected, 2e-5)


def test_loads_nvidia_checkpoint(tmp_path):
    original = _original("v1", nested=True)
    assert any(k.startswith("resblocks.3.2.convs1") for k in original.state_dict())
    config = {k: v for k, v in _published_config("v1").items() if k.startswith(("upsample", "resblock"))}
    checkpoint = {  # DeepLearningExamples' hifigan_gen_checkpoint_*.pt, trained with DDP
        "generator": {f"module.{k}": v for k, v in original.state_dict().items()},
        "gen_ema": None,
        "config": config,
        "train_setup": {"sampling_rate": 22050, "hop_length": 256, "num_mels": 80},
        "train_state": {"epoch": 10000, "iters_all": 1000000},
    }
    torch.save(checkpoint, tmp_path / "hifigan_gen_checkpoint_10000_ft.pt")

    generator = load_published(tmp_path / "hifigan_gen_checkpoint_10000_ft.pt")
    with torch.no_grad():
        assert_near(generator(MEL), original(MEL), 2e-5)


def test_converted_checkpoint_round_trips(tmp_path):
    original = _original("v3")
    torch.save({"generator": original.state_dict()}, tmp_path / "g_1")
    (tmp_path / "config.json").write_text(json.dumps(_published_config("v3")))
    result = CliRunner().invoke(
        app, ["convert-vocoder", str(tmp_path / "g_1"), "--out", str(tmp_path / "converted")]
    )
    assert result.exit_code == 0, result.output
    saved = tmp_path / "converted" / "vocoder.json"
    assert json.loads(saved.read_text())["arch"] == "hifigan"

    again = load_vocoder(tmp_path / "converted", AudioConfig())
    with torch.no_grad():
        assert_near(again(MEL), original(MEL)[:, 0], 2e-5)


def test_published_checkpoint_errors(tmp_path):
    torch.save({"generator": _original("v3").state_dict()}, tmp_path / "g_1")
    with pytest.raises(FastPitchError, match="config"):
        load_published(tmp_path / "g_1")  # no config.json beside it
    (tmp_path / "config.json").write_text(json.dumps(_published_config("v1")))
    with pytest.raises(FastPitchError, match="does not fit"):
        load_published(tmp_path / "g_1")  # V3 weights, V1 config
    torch.save({"mpd": {}, "msd": {}, "optim_g": {}}, tmp_path / "do_1")
    with pytest.raises(FastPitchError, match="no HiFi-GAN generator"):
        load_published(tmp_path / "do_1")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(FastPitchError, match="cannot read"):
        load_published(tmp_path / "junk.pt")
    published = _published_config("v3") | {"sampling_rate": 16000}
    (tmp_path / "config.json").write_text(json.dumps(published))
    with pytest.raises(FastPitchError, match="sample_rate"):
        load_vocoder(tmp_path / "g_1", AudioConfig())
