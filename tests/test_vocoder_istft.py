"""The iSTFT vocoder: output length, exact inverse STFT (both paths), size, save/load and bad input."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fastpitch.config import AudioConfig
from fastpitch.runtime.istft import inverse_stft
from fastpitch.vocoders import VocoderError, load_vocoder
from fastpitch.vocoders.istft import InverseSTFT, ISTFTConfig, ISTFTVocoder
from fastpitch.vocoders.neural import NeuralVocoder, named_config

pytestmark = pytest.mark.usefixtures("vocoder_single_thread")

SMALL = ISTFTConfig(dim=32, intermediate_dim=64, n_layers=2)


@pytest.mark.parametrize("frames", [1, 5, 33])
def test_output_length_is_frames_times_hop(frames):
    torch.manual_seed(0)
    model = ISTFTVocoder(SMALL).eval()
    with torch.no_grad():
        audio = model(torch.randn(2, 80, frames) - 4)
    assert audio.shape == (2, 1, frames * 256)
    assert torch.isfinite(audio).all()


def test_default_size_is_vocos_like():
    params = sum(p.numel() for p in ISTFTVocoder(ISTFTConfig()).parameters())
    assert 2.0e6 < params < 3.0e6


@pytest.mark.parametrize("engine", ["torch", "numpy"])
def test_inverse_stft_inverts_hifigan_framing(engine):
    """STFT with the mel's framing (reflect pad (n_fft - hop) / 2, no centering), then ours (the model's, or
    the ONNX runtime's in numpy): the signal back."""
    torch.manual_seed(0)
    wav = torch.randn(2, 40 * 256)
    spec = torch.stft(
        F.pad(wav[:, None], (384, 384), mode="reflect")[:, 0],
        1024,
        256,
        1024,
        torch.hann_window(1024),
        center=False,
        return_complex=True,
    )
    frames = torch.view_as_real(spec.transpose(1, 2))  # (B, T, bins, 2)
    if engine == "torch":
        out = InverseSTFT(1024, 256)(frames)
    else:
        out = torch.from_numpy(np.stack([inverse_stft(f, 1024, 256) for f in frames.numpy()]))
    assert out.shape == wav.shape
    assert float((out - wav).abs().max()) < 1e-4


def test_save_and_load_round_trip(tmp_path):
    torch.manual_seed(0)
    vocoder = NeuralVocoder(ISTFTVocoder(SMALL), "istft", AudioConfig())
    json_path = vocoder.save(tmp_path / "voc.safetensors")
    assert json_path == tmp_path / "voc.json"
    spec = json.loads(json_path.read_text())
    assert (spec["format"], spec["arch"], spec["config"]["dim"]) == ("fastpitch-vocoder", "istft", 32)
    mel = torch.randn(1, 80, 9) - 4
    loaded = load_vocoder(tmp_path / "voc.safetensors", AudioConfig())
    assert float((loaded(mel) - vocoder(mel)).abs().max()) == 0.0
    assert loaded(mel[0]).shape == (9 * 256,)


def test_refuses_bad_input_and_mismatched_audio(tmp_path):
    vocoder = NeuralVocoder(ISTFTVocoder(SMALL), "istft", AudioConfig())
    with pytest.raises(VocoderError, match="NaN"):
        vocoder(torch.full((1, 80, 4), float("nan")))
    with pytest.raises(VocoderError, match="shape"):
        vocoder(torch.zeros(1, 64, 4))
    vocoder.save(tmp_path)
    with pytest.raises(VocoderError, match="hop_length"):
        load_vocoder(tmp_path, AudioConfig(hop_length=200))
    (tmp_path / "vocoder.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(VocoderError, match="not a fastpitch vocoder"):
        load_vocoder(tmp_path, AudioConfig())


def test_named_configs_follow_the_audio_config():
    arch, cfg = named_config("istft", AudioConfig(n_fft=2048, hop_length=300, win_length=2048))
    assert (arch, cfg.n_fft, cfg.hop_length) == ("istft", 2048, 300)
    with pytest.raises(VocoderError, match="upsamples by 256"):
        named_config("hifigan-v1", AudioConfig(hop_length=300))
    with pytest.raises(VocoderError, match="unknown vocoder"):
        named_config("wavenet", AudioConfig())


@pytest.mark.parametrize(("n_fft", "hop"), [(1024, 256), (600, 256), (64, 16)])
def test_numpy_inverse_stft_matches_the_models(n_fft, hop):
    """The runtime's inverse STFT is the model's, also where hop does not divide n_fft."""
    torch.manual_seed(0)
    spec = torch.randn(1, 23, n_fft // 2 + 1, 2)
    ref = InverseSTFT(n_fft, hop)(spec)[0].numpy()
    got = inverse_stft(spec[0].numpy(), n_fft, hop)
    assert got.shape == ref.shape == (23 * hop,) and got.dtype == np.float32
    assert np.abs(got - ref).max() < 1e-4 * np.abs(ref).max()


def _steady(model: ISTFTVocoder, bin_: int, advance: float) -> np.ndarray:
    """The audio of a model made to give every frame the same spectrum: one bin, a fixed phase advance."""
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        n_bins = model.cfg.n_fft // 2 + 1
        model.head.bias[:n_bins] = -20.0
        model.head.bias[bin_] = 0.0
        if model.cfg.phase_advance:
            model.advance.bias[bin_] = advance
        return model(torch.zeros(1, 80, 64))[0, 0].numpy()


def test_a_steady_input_hums_at_the_frame_rate_unless_the_phase_advances():
    """Why `phase_advance` exists: frames that all carry the same phase add up to a signal that repeats every
    hop (86 Hz at 22,050 Hz), whatever frequency they hold; with the advance integrated, a tone between two
    bins (the departure from its bin's centre predicted) comes out as that tone."""
    sr, hop, n_fft, bin_ = 22050, 256, 1024, 9
    freq = (bin_ + 0.3) * sr / n_fft
    plain = _steady(ISTFTVocoder(SMALL).eval(), bin_, 0.0)
    middle = slice(8 * hop, 56 * hop)
    assert np.allclose(plain[middle], np.roll(plain, -hop)[middle], atol=1e-6)  # the hum: period = hop
    grown = ISTFTVocoder(ISTFTConfig(**{**SMALL.__dict__, "phase_advance": True})).eval()
    tone = _steady(grown, bin_, 2 * np.pi * 0.3 * hop / n_fft)[middle]
    t = np.arange(len(tone)) / sr
    basis = np.stack([np.cos(2 * np.pi * freq * t), np.sin(2 * np.pi * freq * t)], 1)
    fit = basis @ np.linalg.lstsq(basis, tone, rcond=None)[0]
    assert np.linalg.norm(tone - fit) < 0.01 * np.linalg.norm(tone)
    assert not np.allclose(tone, np.roll(tone, -hop), atol=1e-3)


def test_a_vocoder_grows_a_phase_advance_head_and_keeps_its_magnitudes():
    torch.manual_seed(0)
    plain = ISTFTVocoder(SMALL).eval()
    grown = ISTFTVocoder(ISTFTConfig(**{**SMALL.__dict__, "phase_advance": True})).eval()
    grown.load_state_dict(grown.grow_from(plain.state_dict()))
    mel = torch.randn(1, 80, 20) - 4
    with torch.no_grad():
        a, b = torch.view_as_complex(plain.spectrum(mel)), torch.view_as_complex(grown.spectrum(mel))
    assert torch.allclose(a.abs(), b.abs(), rtol=1e-5)
    # a zero head: the phase turns at each bin's centre frequency, frame after frame
    turn = torch.angle(b * a.conj())[0].double()
    expected = grown.bin_advance.double() * torch.arange(1, 21, dtype=torch.float64)[:, None]
    assert float((1 - torch.cos(turn - expected)).max()) < 1e-4
    assert ISTFTConfig().phase_advance is False
