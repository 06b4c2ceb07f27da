"""The mel definition against an independent numpy + librosa reference, and F0/energy on known signals."""

import librosa
import numpy as np
import pytest
import scipy.signal

from fastpitch import audio
from fastpitch.config import AudioConfig

CFG = AudioConfig()
SR = CFG.sample_rate


def reference_magnitude(wav: np.ndarray, cfg: AudioConfig) -> np.ndarray:
    """numpy STFT with HiFi-GAN's padding: reflect (n_fft - hop) / 2 each side, periodic Hann, no centering."""
    pad = (cfg.n_fft - cfg.hop_length) // 2
    x = np.pad(wav.astype(np.float64), pad, mode="reflect")
    n = (len(x) - cfg.n_fft) // cfg.hop_length + 1
    frames = np.stack([x[i * cfg.hop_length : i * cfg.hop_length + cfg.n_fft] for i in range(n)])
    window = scipy.signal.get_window("hann", cfg.win_length, fftbins=True)
    spec = np.fft.rfft(frames * window, axis=1).T
    return np.sqrt(spec.real**2 + spec.imag**2 + 1e-9)


def harmonic(f0, seconds: float = 1.0, amplitude: float = 0.3) -> np.ndarray:
    """A voiced-like signal: five harmonics of `f0` (a scalar or one value per sample)."""
    n = int(seconds * SR)
    f0 = np.broadcast_to(np.asarray(f0, dtype=np.float64), (n,))
    phase = 2 * np.pi * np.cumsum(f0) / SR
    return (amplitude * sum(np.sin(k * phase) / k for k in range(1, 6))).astype(np.float32)


@pytest.fixture(scope="module")
def speechlike() -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(int(1.3 * SR)) / SR
    chirp = 0.4 * np.sin(2 * np.pi * (100 + 400 * t) * t)
    return (chirp + 0.05 * rng.standard_normal(len(t))).astype(np.float32)


def test_mel_filterbank_equals_librosa():
    ours = audio.mel_filterbank(CFG)
    ref = librosa.filters.mel(sr=SR, n_fft=CFG.n_fft, n_mels=CFG.n_mels, fmin=CFG.fmin, fmax=CFG.fmax)
    assert ours.shape == (80, 513)
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-7)


def test_mel_matches_independent_reference(speechlike):
    fb = librosa.filters.mel(sr=SR, n_fft=CFG.n_fft, n_mels=CFG.n_mels, fmin=CFG.fmin, fmax=CFG.fmax)
    ref = np.log(np.maximum(fb @ reference_magnitude(speechlike, CFG), 1e-5))
    ours = audio.mel_spectrogram_np(speechlike, CFG)
    assert ours.shape == ref.shape == (80, audio.n_frames(len(speechlike), CFG))
    np.testing.assert_allclose(ours, ref, atol=2e-3)


def test_energy_is_log_l2_norm_of_magnitude_frames(speechlike):
    ref = np.log(np.linalg.norm(reference_magnitude(speechlike, CFG), axis=0))
    np.testing.assert_allclose(audio.frame_energy(speechlike, CFG), ref, atol=1e-3)


@pytest.mark.parametrize("f0", [110.0, 220.0, 440.0])
def test_f0_of_a_harmonic_tone_within_one_percent(f0):
    est, voiced = audio.extract_f0(harmonic(f0), CFG)
    inner = slice(4, -4)  # frames whose analysis reaches past the signal's ends
    assert voiced[inner].all()
    np.testing.assert_allclose(est[inner], f0, rtol=0.01)


def test_f0_method_harvest_also_works():
    est, voiced = audio.extract_f0(harmonic(200.0), CFG, method="harvest")
    assert abs(np.median(est[voiced]) - 200.0) < 2.0


def test_f0_silence_is_unvoiced_and_range_is_respected():
    signal = np.concatenate([np.zeros(SR // 2, np.float32), harmonic(150.0, 0.5)])
    est, voiced = audio.extract_f0(signal, CFG)
    assert not voiced[:10].any() and (est[~voiced] == 0).all()
    low = AudioConfig(f0_min=200.0, f0_max=600.0)  # 150 Hz lies below this search range
    est, voiced = audio.extract_f0(harmonic(150.0), low)
    assert not (np.abs(est[voiced] - 150.0) < 3.0).any()


@pytest.mark.parametrize("n_samples", [SR // 2, SR // 2 + 1, SR // 2 + 127, SR // 2 + 128, SR // 2 + 255])
def test_f0_and_energy_have_the_mel_frame_count(n_samples):
    wav = harmonic(180.0, n_samples / SR)[:n_samples]
    n = audio.mel_spectrogram_np(wav, CFG).shape[1]
    assert n == audio.n_frames(n_samples, CFG)
    assert audio.extract_f0(wav, CFG)[0].shape == (n,)
    assert audio.extract_f0(wav, CFG)[1].shape == (n,)
    assert audio.frame_energy(wav, CFG).shape == (n,)


def test_f0_frames_line_up_with_mel_frame_centres():
    # F0 jumps from 120 to 240 Hz at sample s; mel frame t is centred on (t + 0.5) * hop.
    s = 20_000
    track = np.where(np.arange(SR) < s, 120.0, 240.0)
    est, voiced = audio.extract_f0(harmonic(track), CFG)
    centres = (np.arange(len(est)) + 0.5) * CFG.hop_length
    assert np.allclose(est[(centres < s - 1024) & voiced], 120.0, rtol=0.02)
    assert np.allclose(est[(centres > s + 1024) & voiced], 240.0, rtol=0.02)
    jump = int(np.flatnonzero(est > 180.0)[0])
    assert abs(centres[jump] - s) <= CFG.hop_length


def test_f0_is_measured_at_the_mel_frame_centres():
    # On a 100 -> 300 Hz glide, reading F0 half a hop early or late is off by 1.2 Hz; at the centres ~0.05.
    track = 100.0 + 200.0 * np.arange(SR) / SR
    est, _ = audio.extract_f0(harmonic(track), CFG)
    centres = (np.arange(len(est)) + 0.5) * CFG.hop_length
    truth = 100.0 + 200.0 * centres / SR
    assert np.abs(est - truth)[5:-5].mean() < 0.3


def test_energy_follows_the_signal():
    signal = np.concatenate([np.zeros(SR // 2, np.float32), harmonic(200.0, 0.5)])
    energy = audio.frame_energy(signal, CFG)
    assert energy[:30].max() < -6.0  # only the STFT's 1e-9 floor
    assert energy[-30:].min() > 0.0
