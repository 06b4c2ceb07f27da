"""The voice shipped inside the package: present, small, documented, and intelligible with no flags."""

import subprocess
import sys

import numpy as np
import pytest

from fastpitch.evaluation.metrics import word_errors
from fastpitch.runtime import OnnxSynthesizer
from fastpitch.synthesis import Synthesizer
from fastpitch.voice import DEFAULT_VOICE, read_voice

SENTENCES = ["The quick brown fox jumps over the lazy dog.", "Please call me tomorrow morning."]


@pytest.fixture(scope="module")
def torch_voice():
    return Synthesizer.load()


def test_ships_small_with_a_model_card_and_onnx():
    files = [p for p in DEFAULT_VOICE.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 30e6
    card = (DEFAULT_VOICE / "MODEL_CARD.md").read_text()
    for heading in ("## Data", "## Recipe", "## Metrics", "License"):
        assert heading in card
    meta = read_voice(None)
    assert meta.has_onnx and meta.audio.sample_rate == 22050


def test_speaks_with_no_flags(torch_voice):
    audio, sr = torch_voice.synthesize("Hello there.")
    assert audio.dtype == np.float32 and sr == 22050
    assert 0.4 < len(audio) / sr < 3.0
    assert np.isfinite(audio).all() and np.abs(audio).max() > 0.05


def test_a_recognizer_understands_it(torch_voice):
    from fastpitch.evaluation.asr import Recognizer

    asr = Recognizer()
    heard = [asr.transcribe(torch_voice.synthesize(s)[0], torch_voice.sample_rate) for s in SENTENCES]
    assert word_errors(SENTENCES, heard)["wer"] <= 0.5, heard


def test_onnx_runtime_gives_torchs_durations_and_its_mel_within_int8_noise(torch_voice):
    """The shipped ONNX decoder is int8 (`fastpitch.quantize`); the encoder and predictors are fp32."""
    onnx = OnnxSynthesizer.load(None)
    assert onnx.voice.onnx["int8"] == ["acoustic.onnx", "acoustic-single.onnx", "vocoder.onnx"]
    a, b = torch_voice.synthesize_detailed(SENTENCES[0]), onnx.synthesize_detailed(SENTENCES[0])
    np.testing.assert_array_equal(a.durations, b.durations)
    np.testing.assert_allclose(a.pitch, b.pitch, rtol=1e-4)
    assert np.abs(a.mel - b.mel).mean() < 0.05 and np.abs(a.mel - b.mel).max() < 1.0


def test_cli_say_uses_it(tmp_path):
    out = tmp_path / "hello.wav"
    run = subprocess.run(
        [sys.executable, "-m", "fastpitch", "say", "Hello!", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert out.stat().st_size > 10_000
