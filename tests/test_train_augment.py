"""Pitch-shift augmentation in the mel domain: harmonics move by the ratio, pitch targets follow, seeded."""

import numpy as np
import torch

from fastpitch.audio import mel_centers, mel_spectrogram_np
from fastpitch.config import AudioConfig
from fastpitch.train.augment import PitchShiftAugment, warp_matrix

CFG = AudioConfig()


def harmonic_mel(f0: float, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * CFG.sample_rate)) / CFG.sample_rate
    wav = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 4)) * 0.3
    return mel_spectrogram_np(wav.astype(np.float32), CFG)


def peak_hz(mel: np.ndarray) -> float:
    """Frequency of the loudest band (the fundamental of `harmonic_mel`), interpolated between centres."""
    spectrum = mel.mean(axis=1)
    k = int(np.argmax(spectrum))
    centers = mel_centers(CFG)
    if 0 < k < len(spectrum) - 1:  # parabola through the peak and its neighbours
        a, b, c = spectrum[k - 1 : k + 2]
        offset = 0.5 * (a - c) / (a - 2 * b + c)
        return float(np.interp(k + offset, np.arange(len(centers)), centers))
    return float(centers[k])


def test_the_warp_moves_a_tone_by_the_ratio():
    mel = torch.from_numpy(harmonic_mel(440.0))
    ratio = 2 ** (4 / 12)
    warped = (warp_matrix(mel_centers(CFG), ratio) @ mel).numpy()
    assert abs(peak_hz(warped) / peak_hz(mel.numpy()) - ratio) < 0.03
    identity = warp_matrix(mel_centers(CFG), 1.0)
    torch.testing.assert_close(identity, torch.eye(CFG.n_mels))
    assert torch.allclose(warp_matrix(mel_centers(CFG), 0.8).sum(1), torch.ones(CFG.n_mels))  # rows average


def test_the_batch_augment_shifts_chosen_utterances_and_their_voiced_pitch_only():
    mel = torch.from_numpy(np.stack([harmonic_mel(220.0), harmonic_mel(220.0)]))
    voiced = torch.tensor([[True] * 10 + [False] * (mel.shape[2] - 10)] * 2)
    hz = torch.where(voiced, torch.tensor(220.0), torch.tensor(0.0))
    mean, std = torch.tensor([200.0, 100.0]), torch.tensor([20.0, 10.0])
    speaker = torch.tensor([0, 1])
    pitch = torch.where(voiced, (hz - mean[speaker][:, None]) / std[speaker][:, None], torch.tensor(0.0))
    batch = {"mel": mel, "pitch": pitch, "voiced": voiced, "speaker": speaker}

    torch.manual_seed(0)
    out = PitchShiftAugment(CFG, 1.0, 4.0, mean, std)(batch)
    for b in range(2):
        ratio = peak_hz(out["mel"][b].numpy()) / peak_hz(mel[b].numpy())
        shifted = out["pitch"][b] * std[b] + mean[b]
        assert abs(float(shifted[0]) / 220.0 - ratio) < 0.03  # the target moved as the harmonics did
        assert 2 ** (-4 / 12) - 0.03 < ratio < 2 ** (4 / 12) + 0.03 and abs(ratio - 1) > 1e-3
        assert torch.equal(out["pitch"][b][~voiced[b]], pitch[b][~voiced[b]])  # unvoiced stays 0
    assert torch.equal(batch["mel"], mel)  # the input batch is left as it was

    torch.manual_seed(0)
    again = PitchShiftAugment(CFG, 1.0, 4.0, mean, std)(batch)
    assert torch.equal(again["mel"], out["mel"])  # the seeded generator draws the same shifts
    assert PitchShiftAugment(CFG, 0.0, 4.0, mean, std)(batch) is batch
