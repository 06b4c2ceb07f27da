"""`runtime.harmonic_phase`: the iSTFT phase from the pitch (every harmonic of a low voice, the fundamental of a
higher one), in both engines and in the shipped voice."""

import numpy as np
import pytest

from fastpitch.runtime import OnnxSynthesizer
from fastpitch.runtime.harmonic_phase import (
    FUNDAMENTAL_ONLY,
    LOCK_BELOW_HZ,
    lock_to_pitch,
    locked_harmonics,
    pitch_track,
)
from fastpitch.runtime.istft import hann_window, inverse_stft
from fastpitch.synthesis import Synthesizer

SR, N_FFT, HOP = 22050, 1024, 256


def _fundamental(audio: np.ndarray) -> float:
    """The strongest autocorrelation period between 50 and 400 Hz of the middle of `audio`, in Hz."""
    x = audio[len(audio) // 4 : 3 * len(audio) // 4]
    ac = np.correlate(x, x, "full")[len(x) - 1 :]
    lags = np.arange(SR // 400, SR // 50)
    return SR / lags[np.argmax(ac[lags])]


def _frames(audio: np.ndarray) -> np.ndarray:
    """The complex STFT of `audio` in the vocoder's framing: frame t starts at sample t * HOP (Hann window)."""
    starts = range(0, len(audio) - N_FFT, HOP)
    return np.fft.rfft(np.stack([audio[s : s + N_FFT] for s in starts]) * hann_window(N_FFT), axis=-1)


def _hummed_tone(f0: float, seconds: float = 1.0) -> np.ndarray:
    """The spectrum of a harmonic tone at `f0` with every phase set to zero: what a vocoder that gives a
    steady vowel the same phase in every frame produces, and which overlap-adds into a hum at sr / hop."""
    t = np.arange(int(SR * seconds)) / SR
    tone = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 20))
    mags = np.abs(_frames(tone))
    return np.stack([mags, np.zeros_like(mags)], axis=-1).astype(np.float32)


def test_a_steady_tone_keeps_its_pitch_instead_of_the_frame_rate():
    spec = _hummed_tone(100.0)
    assert _fundamental(inverse_stft(spec, N_FFT, HOP)) == pytest.approx(SR / HOP, rel=0.01)  # 86 Hz
    f0 = np.full(len(spec), 100.0)
    locked = lock_to_pitch(spec, f0, SR, N_FFT, HOP)
    assert locked.shape == spec.shape and locked.dtype == np.float32
    assert _fundamental(inverse_stft(locked, N_FFT, HOP)) == pytest.approx(100.0, rel=0.01)
    # magnitudes are the network's: only phases move
    assert np.allclose(np.hypot(*np.moveaxis(locked, -1, 0)), np.hypot(*np.moveaxis(spec, -1, 0)), rtol=1e-4)


def test_unvoiced_frames_keep_their_phase_and_a_wrong_length_is_refused():
    spec = _hummed_tone(100.0, seconds=0.5)
    f0 = np.where(np.arange(len(spec)) < len(spec) // 2, 100.0, 0.0)
    locked = lock_to_pitch(spec, f0, SR, N_FFT, HOP)
    assert np.array_equal(locked[f0 == 0], spec[f0 == 0]) and not np.array_equal(locked[f0 > 0], spec[f0 > 0])
    assert lock_to_pitch(spec, np.zeros(len(spec)), SR, N_FFT, HOP) is spec
    with pytest.raises(ValueError, match="frames"):
        lock_to_pitch(spec, f0[:-1], SR, N_FFT, HOP)


def _peak_hz(audio: np.ndarray, low: float, high: float) -> float:
    """The frequency of the strongest component of `audio` between `low` and `high` Hz."""
    mags = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    freqs = np.fft.rfftfreq(len(audio), 1 / SR)
    band = (freqs > low) & (freqs < high)
    return float(freqs[band][np.argmax(mags[band])])


def test_a_higher_voice_gets_its_fundamental_locked_and_its_other_harmonics_left_alone():
    spec = _hummed_tone(190.0)
    f0 = np.full(len(spec), 190.0)
    assert locked_harmonics(f0) == FUNDAMENTAL_ONLY and locked_harmonics(f0 / 2) is None
    locked = lock_to_pitch(spec, f0, SR, N_FFT, HOP)
    bins_hz = np.arange(spec.shape[1]) * SR / N_FFT
    above = bins_hz >= 1.5 * 190.0
    assert np.array_equal(locked[:, above], spec[:, above])
    assert not np.allclose(locked[:, ~above], spec[:, ~above], atol=1e-3)
    assert np.allclose(np.hypot(*np.moveaxis(locked, -1, 0)), np.hypot(*np.moveaxis(spec, -1, 0)), rtol=1e-4)
    # The hum puts the fundamental on the frame rate's nearest multiple (2 x 86 Hz); locked, it is at 190 Hz.
    assert _peak_hz(inverse_stft(spec, N_FFT, HOP), 150, 240) == pytest.approx(2 * SR / HOP, abs=2.0)
    assert _peak_hz(inverse_stft(locked, N_FFT, HOP), 150, 240) == pytest.approx(190.0, abs=2.0)


def _scrambled_glide(f_from: float, f_to: float, unvoiced: int) -> tuple[np.ndarray, np.ndarray]:
    """The spectrum of a sine gliding from `f_from` to `f_to` Hz over a second, each frame's phase turned by its
    own random angle (what a vocoder that gets every frame's phase wrong makes), and its pitch track with the
    first `unvoiced` frames unvoiced."""
    f = np.linspace(f_from, f_to, SR)
    tone = np.sin(2 * np.pi * np.cumsum(f) / SR)
    spec = _frames(tone)
    spec *= np.exp(1j * np.random.default_rng(unvoiced).uniform(0, 2 * np.pi, (len(spec), 1)))
    f0 = f[np.arange(len(spec)) * HOP + N_FFT // 2]
    f0[:unvoiced] = 0.0
    return np.stack([spec.real, spec.imag], axis=-1).astype(np.float32), f0


@pytest.mark.parametrize("f_from, f_to", [(180.0, 260.0), (100.0, 140.0)])
def test_a_gliding_pitch_keeps_its_level_as_it_crosses_bins(f_from, f_to):
    # Scrambled, overlapping frames cancel each other; locked, the sine comes back whole. The target phase
    # follows the harmonic from bin to bin (one phase track, less pi per bin): turned per bin instead, it fell
    # to 0.64 of its level after some runs of unvoiced frames.
    for unvoiced in range(1, 16):
        spec, f0 = _scrambled_glide(f_from, f_to, unvoiced)
        for s, floor in ((spec, None), (lock_to_pitch(spec, f0, SR, N_FFT, HOP), 0.9)):
            audio = inverse_stft(s, N_FFT, HOP)
            rms = np.sqrt((audio[: len(audio) // HOP * HOP].reshape(-1, HOP) ** 2).mean(axis=1))
            level = rms[unvoiced + 5 : -6].min() / np.median(rms[unvoiced + 5 : -6])
            assert level > floor if floor else level < 0.6


def test_each_frame_is_locked_by_its_own_pitch_and_impossible_pitches_are_left_alone():
    spec = np.random.default_rng(1).normal(size=(40, N_FFT // 2 + 1, 2)).astype(np.float32)
    f0 = np.tile([180.0, 260.0, 0.0, 260.0], 10)
    locked = lock_to_pitch(spec, f0, SR, N_FFT, HOP)
    bins_hz = np.arange(spec.shape[1]) * SR / N_FFT
    between = (bins_hz >= 1.5 * 180.0) & (bins_hz < 1.5 * 260.0)
    assert np.array_equal(locked[f0 == 180.0][:, between], spec[f0 == 180.0][:, between])
    assert not np.allclose(locked[f0 == 260.0][:, between], spec[f0 == 260.0][:, between])
    assert np.array_equal(locked[f0 == 0.0], spec[f0 == 0.0])
    # a pitch below one bin or at Nyquist and above is no pitch to lock to
    odd = np.tile([5.0, SR / 2, 1e6, 180.0], 10)
    locked = lock_to_pitch(spec, odd, SR, N_FFT, HOP)
    assert np.array_equal(locked[odd != 180.0], spec[odd != 180.0])


def test_the_pitch_track_covers_the_sonorants_only():
    symbols = ["|", "HH", "AH0", "L", "OW1", "S", "."]
    durations = np.array([2, 3, 4, 2, 5, 3, 1])
    pitch = np.array([0.0, 95.0, 100.0, 98.0, 90.0, 92.0, 0.0])
    track = pitch_track(symbols, durations, pitch)
    assert track is not None and len(track) == durations.sum()
    assert np.array_equal(track, np.repeat([0, 0, 100, 98, 90, 0, 0], durations))  # not HH, S or the edges
    assert np.array_equal(pitch_track(symbols, durations, pitch * 2.0), track * 2.0)
    assert pitch_track(["|", "S", "."], np.array([1, 3, 1]), np.array([0.0, 90.0, 0.0])) is None


@pytest.mark.parametrize("hz", [100.0, 190.0])  # every harmonic locked, the fundamental alone
def test_both_engines_lock_alike(synth_onnx_voice, hz):
    torch_tts, onnx_tts = Synthesizer.load(synth_onnx_voice), OnnxSynthesizer.load(synth_onnx_voice)
    mel = np.random.default_rng(0).normal(-4.0, 1.0, (80, 60)).astype(np.float32)
    f0 = np.full(60, hz)
    locked = torch_tts._vocode(mel, f0)
    assert not np.allclose(locked, torch_tts._vocode(mel), atol=1e-4)
    assert np.allclose(locked, onnx_tts._vocode(mel, f0), atol=1e-4)


def test_the_shipped_voice_s_low_speaker_no_longer_hums():
    from fastpitch.evaluation.metrics import frame_rate_hum

    tts = OnnxSynthesizer.load()
    text = "He contented himself with one glass of beer per day."
    result = tts.synthesize_detailed(text, speaker="kal")
    assert 0 < np.median(result.pitch[result.pitch > 0]) < LOCK_BELOW_HZ
    # without the lock this voice's kal hums at 12 (recordings: 0.9)
    assert frame_rate_hum(result.audio, SR, HOP) < 3.0


def test_the_shipped_voice_s_heart_follows_a_pitch_shift_with_its_fundamental_locked():
    from fastpitch.audio import extract_f0

    tts = Synthesizer.load()
    texts = [
        "He contented himself with one glass of beer per day.",
        "The support from our sponsoring agency will discontinue after March thirty-first.",
        "Please call Stella and ask her to bring these things with her from the store.",
        "A pathological urge to succeed.",
    ]

    def pooled_f0(shift: float) -> float:
        f0 = [
            extract_f0(tts.synthesize(t, speaker="heart", pitch_shift=shift)[0], tts.voice.audio)[0]
            for t in texts
        ]
        return float(np.median(np.concatenate([f[f > 0] for f in f0])))

    # Without the lock the hum pulls heart's unshifted pitch towards 2 x 86 Hz and this reads x1.293.
    assert pooled_f0(4.0) / pooled_f0(0.0) == pytest.approx(2 ** (4 / 12), rel=0.02)
