"""Griffin-Lim: reconstruction quality, batching, the numpy STFT against torch's, and bad input."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from fastpitch.audio import linear_spectrogram, mel_filterbank, mel_spectrogram_np
from fastpitch.config import AudioConfig
from fastpitch.vocoders import GriffinLim, VocoderError, load_vocoder
from fastpitch.vocoders.griffin_lim import NumpySTFT, griffin_lim, mel_to_linear

pytestmark = pytest.mark.usefixtures("vocoder_single_thread")

CFG = AudioConfig()


def harmonic(seconds: float, f0: float, seed: int = 0) -> np.ndarray:
    """A voiced-speech-like test signal: 12 harmonics with 1/k amplitudes, vibrato and a syllabic envelope."""
    t = np.arange(int(seconds * CFG.sample_rate)) / CFG.sample_rate
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.03 * np.sin(2 * np.pi * 5 * t))) / CFG.sample_rate
    wav = sum(np.sin(k * phase + k * seed) / k for k in range(1, 13))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2
    return (0.2 * wav * envelope).astype(np.float32)


def spectral_convergence(mel_a: np.ndarray, mel_b: np.ndarray) -> float:
    """|| A - B || / || A || on linear mel magnitudes."""
    a, b = np.exp(mel_a), np.exp(mel_b)
    return float(np.linalg.norm(a - b) / np.linalg.norm(a))


def test_reconstructs_a_harmonic_signal():
    mel = mel_spectrogram_np(harmonic(1.0, 140.0), CFG)
    audio = griffin_lim(mel, CFG)
    assert audio.dtype == np.float32
    assert audio.shape == (mel.shape[1] * CFG.hop_length,)
    again = mel_spectrogram_np(audio, CFG)
    assert again.shape == mel.shape
    assert spectral_convergence(mel, again) < 0.15
    # far better than the same magnitudes with random phase (no iterations)
    assert spectral_convergence(mel, again) < 0.5 * spectral_convergence(
        mel, mel_spectrogram_np(griffin_lim(mel, CFG, n_iter=0), CFG)
    )


def test_batched_equals_unbatched_and_is_deterministic():
    mels = np.stack(
        [mel_spectrogram_np(harmonic(0.5, f0, seed=i), CFG) for i, f0 in enumerate((120.0, 210.0))]
    )
    batched = griffin_lim(mels, CFG, n_iter=8)
    for i in range(2):
        np.testing.assert_allclose(batched[i], griffin_lim(mels[i], CFG, n_iter=8), atol=1e-5)
    np.testing.assert_array_equal(batched, griffin_lim(mels, CFG, n_iter=8))


def test_nnls_fits_the_mel_better_than_the_pseudo_inverse():
    mel = mel_spectrogram_np(harmonic(0.5, 180.0), CFG)[None]
    fb = mel_filterbank(CFG)

    def mel_error(mag: np.ndarray) -> float:
        fitted = np.log(np.maximum(mag @ fb.T, 1e-5)).transpose(0, 2, 1)
        return float(np.abs(fitted - mel).mean())

    assert (mel_to_linear(mel, CFG) >= 0).all()
    assert mel_error(mel_to_linear(mel, CFG)) < 0.5 * mel_error(mel_to_linear(mel, CFG, n_iter=0))


def test_numpy_stft_matches_torch_and_inverts():
    wav = harmonic(0.4, 200.0)[None]
    wav = wav[:, : (wav.shape[1] // CFG.hop_length) * CFG.hop_length]
    stft = NumpySTFT(CFG)
    spec = stft.forward(wav)
    reference = linear_spectrogram(torch.from_numpy(wav), CFG).numpy()  # (B, F, T) magnitudes
    np.testing.assert_allclose(np.abs(spec).transpose(0, 2, 1), reference, atol=1e-3)
    np.testing.assert_allclose(stft.inverse(spec), wav, atol=1e-5)


def test_tensor_in_tensor_out_and_interface():
    vocoder = load_vocoder("griffin-lim", CFG)
    assert isinstance(vocoder, GriffinLim)
    assert (vocoder.sample_rate, vocoder.hop_length) == (22050, 256)
    mel = torch.from_numpy(mel_spectrogram_np(harmonic(0.3, 150.0), CFG))[None]
    audio = vocoder(mel)
    assert isinstance(audio, torch.Tensor)
    assert audio.shape == (1, mel.shape[-1] * 256)


@pytest.mark.parametrize(
    ("mel", "message"),
    [
        (np.full((1, 80, 10), np.nan, dtype=np.float32), "NaN"),
        (np.zeros((1, 40, 10), dtype=np.float32), "shape"),
        (np.zeros((80, 0), dtype=np.float32), "shape"),
    ],
)
def test_bad_mels_are_refused(mel, message):
    with pytest.raises(VocoderError, match=message):
        GriffinLim(CFG)(mel)


def test_unknown_vocoder_path_is_a_clear_error(tmp_path):
    with pytest.raises(VocoderError, match="not found"):
        load_vocoder(tmp_path / "nothing-here", CFG)


def test_importing_griffin_lim_does_not_import_torch():
    code = (
        "import sys, numpy as np\n"
        "from fastpitch.vocoders import GriffinLim, load_vocoder\n"
        "from fastpitch.config import AudioConfig\n"
        "out = load_vocoder('griffin-lim', AudioConfig())(np.zeros((1, 80, 4), np.float32) - 5)\n"
        "assert out.shape == (1, 1024), out.shape\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
