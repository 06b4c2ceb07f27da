"""The mel post-filter (`runtime.postfilter`): what it does to a frame, where the engines apply it, and how a
voice carries its strength."""

import math

import numpy as np
import pytest
from scipy.fft import dct
from typer.testing import CliRunner

from conftest import edit_voice_json
from fastpitch.audio import LOG_CLAMP
from fastpitch.cli import app
from fastpitch.runtime import OnnxSynthesizer, SynthesisError
from fastpitch.runtime.postfilter import sharpen
from fastpitch.synthesis import Synthesizer
from fastpitch.voice import DEFAULT_POSTFILTER, VoiceError, read_voice
from fastpitch.voice_create import set_vocoder


def _mel(frames: int = 40) -> np.ndarray:
    """Smooth log-mel frames well above the floor: a tilt and two formant bumps that move from frame to frame."""
    bins = np.arange(80.0)[:, None]
    f1 = np.linspace(12, 24, frames)[None]
    envelope = 2.0 * np.exp(-(((bins - f1) / 5) ** 2)) + 1.5 * np.exp(-(((bins - 2.2 * f1) / 7) ** 2))
    return (-4.0 - bins / 40 + envelope).astype(np.float32)


def _log_power(mel: np.ndarray) -> np.ndarray:
    return np.log(np.exp(mel.astype(np.float64)).sum(axis=0))


def test_the_cepstrum_above_c1_is_scaled_and_each_frame_keeps_its_energy():
    mel = _mel()
    out = sharpen(mel, 0.4)
    c_in, c_out = (dct(m.astype(np.float64), type=2, norm="ortho", axis=0) for m in (mel, out))
    assert np.allclose(c_out[2:], 1.4 * c_in[2:], atol=1e-3)
    assert np.allclose(c_out[1], c_in[1], atol=1e-3)  # the tilt is kept
    assert np.allclose(_log_power(out), _log_power(mel), atol=1e-4)
    assert ((out.max(0) - out.min(0)) > (mel.max(0) - mel.min(0)) + 0.2).all()  # deeper peaks and valleys


def test_off_is_the_identity_and_frames_are_filtered_alone():
    mel = _mel()
    assert sharpen(mel, 0.0) is mel
    whole = sharpen(mel, 0.8)
    assert whole.dtype == np.float32 and whole.shape == mel.shape
    # a stream's chunks and a batch's pieces get what the whole mel gets
    assert np.allclose(np.concatenate([sharpen(mel[:, :17], 0.8), sharpen(mel[:, 17:], 0.8)], axis=1), whole)
    assert sharpen(mel[:, :0], 0.8).shape == (80, 0)


def test_nothing_goes_below_the_mel_floor():
    mel = np.full((80, 6), math.log(LOG_CLAMP), np.float32)
    mel[20:24] = 0.0  # a narrow peak over silence: sharpening digs valleys beside it
    out = sharpen(mel, 2.0)
    assert out.min() >= np.float32(math.log(LOG_CLAMP))
    assert out[20:24].mean() > out[:10].mean()


def _vocoded_mels(tts) -> list[np.ndarray]:
    """Record every mel the engine hands its vocoder."""
    seen: list[np.ndarray] = []
    vocode = tts._vocode

    def recording(mel, f0=None):
        seen.append(mel.copy())
        return vocode(mel, f0)

    tts._vocode = recording
    return seen


@pytest.mark.parametrize("engine", [Synthesizer, OnnxSynthesizer])
def test_both_engines_vocode_the_voice_s_filtered_mel_unless_told(synth_onnx_voice, engine):
    text = "Sharper formants, please."
    own, off = engine.load(synth_onnx_voice), engine.load(synth_onnx_voice, postfilter=0)
    assert own.postfilter == [DEFAULT_POSTFILTER] and off.postfilter == [
        0.0
    ]  # the fixture voice has the default
    heard, plain = _vocoded_mels(own), _vocoded_mels(off)
    a, b = own.synthesize(text)[0], off.synthesize(text)[0]
    assert len(heard) == len(plain) == 1
    assert np.allclose(heard[0], sharpen(plain[0], DEFAULT_POSTFILTER), atol=1e-5)
    assert a.shape == b.shape and not np.allclose(a, b, atol=1e-4)
    # the result's mel is the model's own (what a caller would analyse), not the filtered one
    assert np.allclose(own.synthesize_detailed(text).mel, off.synthesize_detailed(text).mel, atol=1e-5)


@pytest.mark.parametrize("bad", [-0.1, 2.5, float("nan"), True, "0.4"])
def test_a_bad_strength_is_refused_by_the_engines(synth_voice, bad):
    with pytest.raises(SynthesisError, match="postfilter must be a number from 0"):
        Synthesizer.load(synth_voice, postfilter=bad)


def test_each_speaker_speaks_with_its_own_strength(voice_copy):
    edit_voice_json(voice_copy, lambda d: d.update(postfilter={"alice": 0.8}))
    assert read_voice(voice_copy).postfilter_of("bob") == 0.0  # a speaker left out has none
    tts = Synthesizer.load(voice_copy)
    assert tts.postfilter == [0.8, 0.0]
    off = Synthesizer.load(voice_copy, postfilter=0)
    heard, plain = _vocoded_mels(tts), _vocoded_mels(off)
    document = '<speak>Alice speaks first. <voice name="bob">Then Bob answers.</voice></speak>'
    tts.synthesize(document)
    off.synthesize(document)
    assert len(heard) == len(plain) == 2
    same = [np.array_equal(h, p) for h, p in zip(heard, plain, strict=True)]
    assert sorted(same) == [False, True]  # bob's sentence as the model said it, alice's filtered
    assert np.allclose(heard[same.index(False)], sharpen(plain[same.index(False)], 0.8), atol=1e-5)
    tts.synthesize("Bob alone.", speaker="bob")
    off.synthesize("Bob alone.", speaker="bob")
    assert np.array_equal(heard[-1], plain[-1])
    edit_voice_json(voice_copy, lambda d: d.update(postfilter={"carol": 0.4}))
    with pytest.raises(VoiceError, match=r"postfilter\.carol names no speaker"):
        read_voice(voice_copy)


def test_voice_json_carries_the_strength(voice_copy):
    assert read_voice(voice_copy).postfilter == DEFAULT_POSTFILTER
    edit_voice_json(voice_copy, lambda d: d.pop("postfilter"))
    assert read_voice(voice_copy).postfilter == 0.0  # voices made before it speak as they did
    for bad in (-0.5, 3.0, float("nan")):
        edit_voice_json(voice_copy, lambda d, bad=bad: d.update(postfilter=bad))
        with pytest.raises(VoiceError, match="postfilter is"):
            read_voice(voice_copy)
    for bad in ("strong", "0.4", True):
        edit_voice_json(voice_copy, lambda d, bad=bad: d.update(postfilter=bad))
        with pytest.raises(VoiceError, match="malformed field"):
            read_voice(voice_copy)


def test_voice_create_writes_the_strength_and_a_new_vocoder_keeps_it(tmp_path):
    import torch

    from fastpitch.checkpoint import Checkpoint, save_checkpoint
    from fastpitch.config import preset
    from fastpitch.models import FastPitch
    from fastpitch.text import get_symbol_table

    cfg = preset("tiny")
    cfg.text.symbols = list(get_symbol_table("en-v1").symbols)
    cfg.model.n_symbols = len(cfg.text.symbols)
    torch.manual_seed(0)
    model = FastPitch(cfg.model)
    model.set_pitch_stats(180.0, 25.0)
    save_checkpoint(tmp_path / "run", Checkpoint(config=cfg, step=5, model=model.state_dict()))
    runner = CliRunner()
    made = runner.invoke(app, ["voice", "create", str(tmp_path / "run"), "--out", str(tmp_path / "a")])
    assert made.exit_code == 0, made.output
    assert read_voice(tmp_path / "a").postfilter == DEFAULT_POSTFILTER
    args = ["voice", "create", str(tmp_path / "run"), "--out", str(tmp_path / "b"), "--postfilter", "0.7"]
    made = runner.invoke(app, args)
    assert made.exit_code == 0, made.output
    assert read_voice(tmp_path / "b").postfilter == 0.7
    set_vocoder(tmp_path / "b", None)
    assert read_voice(tmp_path / "b").postfilter == 0.7
    for bad, message in (
        ("5", "postfilter is 5.0"),
        ("nan", "postfilter is nan"),
        ("strong", "--postfilter takes"),
    ):
        refused = runner.invoke(app, [*args[:4], str(tmp_path / "c"), "--postfilter", bad])
        assert refused.exit_code != 0 and message in str(refused.exception)
        assert not (tmp_path / "c").exists()  # refused before anything is written
    per_speaker = [*args[:4], str(tmp_path / "d"), "--postfilter", "default=0.3"]
    assert runner.invoke(app, per_speaker).exit_code == 0
    assert read_voice(tmp_path / "d").postfilter == {"default": 0.3}
    refused = runner.invoke(app, [*args[:4], str(tmp_path / "e"), "--postfilter", "carol=0.3"])
    assert "postfilter.carol names no speaker" in str(refused.exception)
