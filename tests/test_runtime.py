"""The torch-free runtime: ONNX voices with numpy + ONNX Runtime only, matching the torch path."""

import json
import shutil
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from fastpitch.runtime import OnnxSynthesizer
from fastpitch.runtime.pipeline import SynthesisError
from fastpitch.voice import ACOUSTIC_ONNX, VoiceError

TEXT = "Hello there. How are you today? Fine, thanks, and you?"
# What "matches" means: same durations, log-mels within MEL_ATOL, predicted pitch within PITCH_ATOL Hz, and
# with a neural vocoder audio within AUDIO_ATOL (Griffin-Lim amplifies float noise in its phase search, so a
# Griffin-Lim voice is compared on the mel only).
MEL_ATOL, PITCH_ATOL, AUDIO_ATOL = 1e-4, 1e-2, 1e-3


def _no_torch(code: str) -> subprocess.CompletedProcess:
    check = (
        "\nimport sys\nassert 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)\n"
    )
    return subprocess.run([sys.executable, "-c", code + check], capture_output=True, text=True, timeout=300)


def test_importing_the_runtime_does_not_import_torch():
    out = _no_torch("import fastpitch, fastpitch.runtime\nfrom fastpitch.runtime import OnnxSynthesizer")
    assert out.returncode == 0, out.stderr


def test_the_voice_format_reads_and_writes_without_torch(synth_onnx_voice, tmp_path):
    code = (
        "import shutil\nfrom fastpitch.voice import read_voice\n"
        f"copy = shutil.copytree({str(synth_onnx_voice)!r}, {str(tmp_path / 'copy')!r})\n"
        "voice = read_voice(copy)\nvoice.description = 'edited'\nvoice.save_json()\n"
        "assert read_voice(copy).description == 'edited'\n"
    )
    out = _no_torch(code)
    assert out.returncode == 0, out.stderr


def test_synthesis_without_torch(synth_onnx_voice):
    code = (
        "from fastpitch.runtime import OnnxSynthesizer\n"
        f"tts = OnnxSynthesizer.load({str(synth_onnx_voice)!r}, threads=1)\n"
        "audio, sr = tts.synthesize('Hello there. How are you?')\n"
        "assert len(audio) > 0 and sr == 22050\n"
        "assert len(list(tts.stream('One. Two.'))) == 2\n"
    )
    out = _no_torch(code)
    assert out.returncode == 0, out.stderr


@pytest.fixture(scope="module")
def onnx_gl_voice(synth_voice, tmp_path_factory):
    """The two-speaker Griffin-Lim voice, exported (acoustic.onnx only)."""
    from fastpitch.export import export_voice

    return export_voice(synth_voice, tmp_path_factory.mktemp("runtime") / "gl", int8=False).path


def test_griffin_lim_voice_without_torch(onnx_gl_voice):
    assert not (onnx_gl_voice / "vocoder.onnx").exists()
    code = (
        "from fastpitch.runtime import OnnxSynthesizer\n"
        f"tts = OnnxSynthesizer.load({str(onnx_gl_voice)!r})\n"
        "audio, sr = tts.synthesize('Hello.', speaker='bob')\n"
        "assert len(audio) > 0\n"
    )
    out = _no_torch(code)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize(
    "kwargs", [{}, {"pace": 1.4, "pitch_shift": -3.0, "pitch_range": 0.5, "energy": 0.7}]
)
def test_matches_torch_with_a_neural_vocoder(synth_onnx_voice, kwargs):
    from fastpitch import Synthesizer

    ours = OnnxSynthesizer.load(synth_onnx_voice).synthesize_detailed(TEXT, **kwargs)
    ref = Synthesizer.load(synth_onnx_voice).synthesize_detailed(TEXT, **kwargs)
    assert np.array_equal(ours.durations, ref.durations)
    np.testing.assert_allclose(ours.mel, ref.mel, atol=MEL_ATOL)
    np.testing.assert_allclose(ours.pitch, ref.pitch, atol=PITCH_ATOL)
    np.testing.assert_allclose(ours.audio, ref.audio, atol=AUDIO_ATOL)


def test_matches_torch_with_griffin_lim(onnx_gl_voice):
    from fastpitch import Synthesizer

    for speaker in ("alice", "bob"):
        ours = OnnxSynthesizer.load(onnx_gl_voice).synthesize_detailed(TEXT, speaker=speaker, pitch_shift=2.0)
        ref = Synthesizer.load(onnx_gl_voice).synthesize_detailed(TEXT, speaker=speaker, pitch_shift=2.0)
        assert np.array_equal(ours.durations, ref.durations)
        np.testing.assert_allclose(ours.mel, ref.mel, atol=MEL_ATOL)
        np.testing.assert_allclose(ours.pitch, ref.pitch, atol=PITCH_ATOL)
        assert len(ours.audio) == len(ref.audio)


def test_one_sentence_runs_the_batch_of_one_graph_and_older_exports_still_work(synth_onnx_voice, tmp_path):
    """One sentence goes through acoustic-single.onnx, several through acoustic.onnx; a voice exported before
    the single graph existed (voice.json without it) speaks through acoustic.onnx alone, with the same audio."""
    tts = OnnxSynthesizer.load(synth_onnx_voice)
    calls = []
    for name in ("acoustic", "acoustic_single"):
        session = getattr(tts, name)
        setattr(tts, name, SimpleNamespace(run=lambda *a, s=session, n=name: calls.append(n) or s.run(*a)))
    one = tts.synthesize("Hello there.")[0]
    assert calls == ["acoustic_single"]
    tts.synthesize_batch(["Hello there.", "Another, longer sentence here."])
    assert calls[1:] == ["acoustic"]

    old = shutil.copytree(synth_onnx_voice, tmp_path / "old")
    data = json.loads((old / "voice.json").read_text())
    del data["onnx"]["acoustic_single"]
    (old / "voice.json").write_text(json.dumps(data))
    (old / "acoustic-single.onnx").unlink()
    legacy = OnnxSynthesizer.load(old)
    assert legacy.acoustic_single is None
    np.testing.assert_allclose(legacy.synthesize("Hello there.")[0], one, atol=AUDIO_ATOL)


def test_voice_without_onnx_is_a_clear_error(synth_voice):
    with pytest.raises(VoiceError, match="has no ONNX models: run `fastpitch export"):
        OnnxSynthesizer.load(synth_voice)


def test_onnx_only_voice_works_and_torch_path_says_why_not(synth_voice, tmp_path):
    from fastpitch.export import export_voice

    slim = export_voice(synth_voice, tmp_path / "slim", standalone=True).path
    (slim / "acoustic.safetensors").unlink()  # a runtime-only deployment
    audio, _ = OnnxSynthesizer.load(slim).synthesize("Hello.")
    assert len(audio) > 0
    from fastpitch import Synthesizer

    with pytest.raises(VoiceError, match=r"only ONNX models: use fastpitch.runtime.OnnxSynthesizer"):
        Synthesizer.load(slim)


def test_corrupt_or_foreign_onnx_file(onnx_gl_voice, tmp_path):
    broken = shutil.copytree(onnx_gl_voice, tmp_path / "broken")
    (broken / ACOUSTIC_ONNX).write_bytes(b"not an onnx model")
    with pytest.raises(VoiceError, match="not a loadable ONNX model"):
        OnnxSynthesizer.load(broken)
    data = json.loads((broken / "voice.json").read_text())
    data["onnx"]["acoustic"] = "missing.onnx"
    (broken / "voice.json").write_text(json.dumps(data))
    with pytest.raises(VoiceError, match=r"missing.onnx is missing"):
        OnnxSynthesizer.load(broken)


@pytest.mark.parametrize("threads", [-1, 0, 1.5, True])
def test_a_thread_count_that_is_not_a_positive_whole_number_is_refused(synth_onnx_voice, threads):
    with pytest.raises(SynthesisError, match="threads must be a whole number"):
        OnnxSynthesizer.load(synth_onnx_voice, threads=threads)


def test_the_torch_engine_without_torch_names_the_extra_and_the_runtime():
    code = (
        "import sys; sys.modules['torch'] = None\n"  # as if torch were not installed
        "try:\n    from fastpitch import Synthesizer\nexcept ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout
    assert "pip install 'fastpitch[torch]'" in out and "OnnxSynthesizer" in out
