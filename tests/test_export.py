"""ONNX export of a voice: dynamic shapes, controls as inputs, verified against torch, written beside or apart."""

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from fastpitch.export import ExportError, export_acoustic, export_vocoder, export_voice, verify_acoustic
from fastpitch.quantize import is_quantized, quantize_matmuls
from fastpitch.runtime.synthesizer import ACOUSTIC_INPUTS, ACOUSTIC_OUTPUTS
from fastpitch.voice import read_voice
from fastpitch.voice_load import load_voice


def predict(shape):
    """Given values that leave everything to the model (NaN)."""
    return {name: np.full(shape, np.nan, np.float32) for name in ACOUSTIC_INPUTS[7:]}


def test_acoustic_graph_interface(synth_onnx_voice):
    model = onnx.load(str(synth_onnx_voice / "acoustic.onnx"))
    inputs = {
        i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input
    }
    assert tuple(inputs) == ACOUSTIC_INPUTS
    assert inputs["text"] == ["batch", "symbols"]
    assert all(inputs[c] == ["batch", "symbols"] for c in ACOUSTIC_INPUTS[3:])  # controls per symbol
    outputs = {
        o.name: [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim] for o in model.graph.output
    }
    assert tuple(outputs) == ACOUSTIC_OUTPUTS
    assert outputs["mel"][0] == "batch" and outputs["mel"][2] == "frames"
    # The voice's weights are fp16, so the big ones are stored as fp16 (then cast, and folded by ONNX Runtime).
    big = [i for i in model.graph.initializer if np.prod(i.dims) >= 1024]
    assert big and all(i.data_type == onnx.TensorProto.FLOAT16 for i in big)
    vocoder = onnx.load(str(synth_onnx_voice / "vocoder.onnx"))
    assert [d.dim_param for d in vocoder.graph.input[0].type.tensor_type.shape.dim] == ["batch", "", "frames"]


def test_controls_are_live_inputs(synth_onnx_voice):
    session = ort.InferenceSession(
        str(synth_onnx_voice / "acoustic.onnx"), providers=["CPUExecutionProvider"]
    )
    text = np.arange(1, 41, dtype=np.int64).reshape(2, 20)
    base = dict(text=text, text_lens=np.array([20, 13]), speaker=np.zeros(2, np.int64))

    def run(pace=1.0, pitch_shift=0.0, pitch_range=1.0, energy=1.0):
        values = {"pace": pace, "pitch_shift": pitch_shift, "pitch_range": pitch_range, "energy": energy}
        controls = {k: np.broadcast_to(np.float32(v), text.shape).copy() for k, v in values.items()}
        return dict(
            zip(ACOUSTIC_OUTPUTS, session.run(None, base | controls | predict(text.shape)), strict=True)
        )

    normal, fast = run(), run(pace=2.0)
    # Per symbol: slowing the second half of the first row slows only those symbols.
    half = np.ones((2, 20), np.float32)
    half[0, 10:] = 0.5
    spans = run(pace=half)
    np.testing.assert_array_equal(spans["durations"][1], normal["durations"][1])
    assert spans["durations"][0, 10:].sum() > 1.8 * normal["durations"][0, 10:].sum()
    assert abs(int(spans["durations"][0, :10].sum()) - int(normal["durations"][0, :10].sum())) <= 1
    assert fast["mel_lens"].sum() < 0.6 * normal["mel_lens"].sum()
    np.testing.assert_allclose(run(pitch_shift=12.0)["pitch"], 2 * normal["pitch"], rtol=1e-5)
    assert not np.allclose(run(energy=0.5)["mel"], normal["mel"])
    assert not np.allclose(run(pitch_range=0.0)["pitch"], normal["pitch"])


def test_the_batch_of_one_graph_agrees_with_the_padded_one_and_has_no_masks(synth_onnx_voice):
    """acoustic-single.onnx drops the padding masks (fewer Mul nodes) and gives acoustic.onnx's numbers."""
    graphs = {name: synth_onnx_voice / f"{name}.onnx" for name in ("acoustic", "acoustic-single")}
    muls = {k: sum(n.op_type == "Mul" for n in onnx.load(str(p)).graph.node) for k, p in graphs.items()}
    assert muls["acoustic-single"] < muls["acoustic"]
    sessions = {
        k: ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for k, p in graphs.items()
    }
    values = {"pace": 0.9, "pitch_shift": -2.0, "pitch_range": 1.0, "energy": 1.0}
    controls = {k: np.full((1, 31), v, np.float32) for k, v in values.items()}
    feed = dict(
        text=np.arange(3, 34, dtype=np.int64)[None], text_lens=np.array([31]), speaker=np.zeros(1, np.int64)
    )
    padded, single = (
        s.run(list(ACOUSTIC_OUTPUTS), feed | controls | predict((1, 31))) for s in sessions.values()
    )
    assert np.array_equal(padded[2], single[2]) and padded[0].shape == single[0].shape
    np.testing.assert_allclose(single[0], padded[0], atol=1e-4)


def test_export_to_another_directory_leaves_the_source_alone(synth_voice, tmp_path):
    exported = export_voice(synth_voice, tmp_path / "exported")
    assert exported.has_onnx and exported.onnx["opset"] == 17
    assert (tmp_path / "exported" / "acoustic.onnx").is_file()
    assert (tmp_path / "exported" / "acoustic-single.onnx").is_file()
    assert not (tmp_path / "exported" / "vocoder.onnx").exists()  # Griffin-Lim needs none
    assert not read_voice(synth_voice).has_onnx and not (synth_voice / "acoustic.onnx").exists()
    assert (
        json.loads((tmp_path / "exported" / "voice.json").read_text())["onnx"]["acoustic"] == "acoustic.onnx"
    )


def test_an_exported_copy_keeps_the_notice_and_lexicon_and_a_failed_one_leaves_nothing(synth_voice, tmp_path):
    import shutil

    from fastpitch.errors import FastPitchError
    from fastpitch.voice import count_parameters

    source = tmp_path / "source"
    shutil.copytree(synth_voice, source)
    (source / "NOTICE.txt").write_text("Taught by a teacher whose license asks for this notice.\n")
    (source / "lexicon.txt").write_text("zorblat  Z AO1 R B L AE2 T\n")
    export_voice(source, tmp_path / "copy")
    assert (tmp_path / "copy" / "NOTICE.txt").read_text() == (source / "NOTICE.txt").read_text()
    assert (tmp_path / "copy" / "lexicon.txt").is_file()
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(ExportError, match="a-file: it is a file, not a folder"):
        export_voice(source, tmp_path / "a-file")
    weights = source / "acoustic.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(FastPitchError, match=r"source/acoustic\.safetensors is corrupt"):
        export_voice(source, tmp_path / "broken")
    assert not (tmp_path / "broken").exists()  # no half-made copy
    with pytest.raises(FastPitchError, match=r"source/acoustic\.safetensors is corrupt"):
        count_parameters(read_voice(source))  # `fastpitch voice info`


def test_verification_catches_a_graph_of_another_model(synth_voice, tmp_path):
    model = load_voice(synth_voice).acoustic
    export_acoustic(model, tmp_path / "a.onnx")
    other = load_voice(synth_voice).acoustic
    with torch.no_grad():
        other.proj.bias.add_(0.5)
    with pytest.raises(ExportError, match="differs from torch's"):
        verify_acoustic(other, tmp_path / "a.onnx")


def test_export_leaves_the_model_in_eval_mode(synth_voice, tmp_path):
    model = load_voice(synth_voice).acoustic
    export_acoustic(model, tmp_path / "a.onnx", verify=False)
    assert not any(m.training for m in model.modules())


def test_weights_are_stored_once_in_the_voice(synth_onnx_voice):
    """Both ONNX files point into the voice's safetensors for the weights those hold, instead of copying them."""
    for onnx_name, weights in (
        ("acoustic.onnx", "acoustic.safetensors"),
        ("vocoder.onnx", "vocoder.safetensors"),
    ):
        model = onnx.load(str(synth_onnx_voice / onnx_name), load_external_data=False)
        external = [i for i in model.graph.initializer if i.data_location == onnx.TensorProto.EXTERNAL]
        assert len(external) >= 4, onnx_name
        assert {e.value for i in external for e in i.external_data if e.key == "location"} == {weights}
        embedded = sum(len(i.raw_data) for i in model.graph.initializer)
        shared = sum(int(e.value) for i in external for e in i.external_data if e.key == "length")
        assert shared > embedded
    assert read_voice(synth_onnx_voice).onnx["external_data"]["acoustic.onnx"] == "acoustic.safetensors"


def test_runtime_names_a_missing_or_truncated_weights_file(synth_onnx_voice, tmp_path):
    from fastpitch.runtime import OnnxSynthesizer
    from fastpitch.voice import VoiceError

    copy = tmp_path / "voice"
    copy.mkdir()
    for name in ("voice.json", "acoustic.onnx", "acoustic-single.onnx", "vocoder.onnx"):
        (copy / name).write_bytes((synth_onnx_voice / name).read_bytes())
    with pytest.raises(VoiceError, match=r"acoustic.onnx keeps its weights in acoustic.safetensors"):
        OnnxSynthesizer.load(copy)
    for name in ("acoustic.safetensors", "vocoder.safetensors"):
        (copy / name).write_bytes((synth_onnx_voice / name).read_bytes())
    (copy / "acoustic-single.onnx").unlink()
    with pytest.raises(VoiceError, match=r"incomplete: acoustic-single.onnx is missing"):
        OnnxSynthesizer.load(copy)
    (copy / "acoustic-single.onnx").write_bytes((synth_onnx_voice / "acoustic-single.onnx").read_bytes())
    weights = copy / "vocoder.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])  # a copy cut short: its fault, not the ONNX file's
    with pytest.raises(
        VoiceError, match=r"vocoder\.safetensors is truncated or damaged: vocoder\.onnx reads"
    ):
        OnnxSynthesizer.load(copy)


def _optimized_ops(path, tmp_path) -> dict[str, list[str]]:
    """Op type -> node names of the graph ONNX Runtime runs after loading `path` (folding and fusions done)."""
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / f"{path.stem}-optimized.onnx")
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    ops: dict[str, list[str]] = {}
    for node in onnx.load(options.optimized_model_filepath).graph.node:
        ops.setdefault(node.op_type, []).append(node.name)
    return ops


def test_int8_export_quantizes_the_frame_rate_products_at_load_without_storing_weights_twice(
    synth_onnx_voice, synth_int8_voice, tmp_path
):
    """Voices ship int8: the decoder's and the vocoder's MatMuls become ONNX Runtime's fused int8 product, whose
    weights it quantizes from the shared fp16 ones when it loads the graph; the encoder stays fp32."""
    meta = read_voice(synth_int8_voice)
    assert meta.onnx["int8"] == ["acoustic.onnx", "acoustic-single.onnx", "vocoder.onnx"]
    assert read_voice(synth_onnx_voice).onnx["int8"] == []
    for name in ("acoustic-single", "vocoder"):
        path = synth_int8_voice / f"{name}.onnx"
        assert is_quantized(path) and not is_quantized(synth_onnx_voice / f"{name}.onnx")
        ops = _optimized_ops(path, tmp_path)
        assert ops.get("DynamicQuantizeMatMul"), ops.keys()
        assert "QuantizeLinear" not in ops and "MatMulInteger" not in ops  # folded and fused at load
        # no second copy of the weights: the int8 graph is no larger than the fp32 one plus its few constants
        assert path.stat().st_size < (synth_onnx_voice / f"{name}.onnx").stat().st_size + 20_000
    ops = _optimized_ops(synth_int8_voice / "acoustic-single.onnx", tmp_path)
    layers = meta.model.out_fft_n_layers
    assert len(ops["DynamicQuantizeMatMul"]) == 4 * layers  # attention in and out, the two feed-forward
    assert "/encoder/layers.0/ff/MatMul" in ops["MatMul"]
    assert not any(name.startswith("/decoder/") and "/ff/" in name for name in ops["MatMul"])


def test_a_vocoder_with_phase_advance_exports_and_keeps_the_advance_in_fp32(tmp_path):
    """The runtime's audio matches torch's (the export verifies it), and the advance, summed over every frame
    of the utterance, is not quantized: its error would add up from frame to frame."""
    from fastpitch.vocoders.istft import ISTFTConfig, ISTFTVocoder

    torch.manual_seed(0)
    model = ISTFTVocoder(ISTFTConfig(dim=32, intermediate_dim=64, n_layers=2, phase_advance=True)).eval()
    torch.nn.init.normal_(model.advance.weight, std=0.05)
    path = export_vocoder(model, 80, tmp_path / "vocoder.onnx", int8=True)
    assert is_quantized(path)
    ops = _optimized_ops(path, tmp_path)
    assert "/advance/MatMul" in ops["MatMul"] and "CumSum" in ops
    assert len(ops["DynamicQuantizeMatMul"]) == 5  # two blocks of two, and the head


def test_int8_voice_speaks_like_the_fp32_one(synth_onnx_voice, synth_int8_voice):
    """The encoder and predictors are untouched, so durations and pitch are exactly fp32's; the mel moves by
    quantization noise only, and the audio's spectrum with it."""
    from fastpitch.audio import mel_spectrogram_numpy
    from fastpitch.runtime import OnnxSynthesizer

    text = "Hello there. How are you today?"
    ref = OnnxSynthesizer.load(synth_onnx_voice).synthesize_detailed(text)
    got = OnnxSynthesizer.load(synth_int8_voice).synthesize_detailed(text)
    assert np.array_equal(got.durations, ref.durations)
    np.testing.assert_allclose(got.pitch, ref.pitch, atol=1e-3)
    assert np.abs(got.mel - ref.mel).mean() < 0.1 * np.abs(ref.mel - ref.mel.mean()).mean()
    assert not np.array_equal(got.mel, ref.mel)
    assert got.audio.shape == ref.audio.shape
    audio_mels = [mel_spectrogram_numpy(r.audio, read_voice(synth_int8_voice).audio) for r in (ref, got)]
    assert (
        np.abs(audio_mels[1] - audio_mels[0]).mean()
        < 0.1 * np.abs(audio_mels[0] - audio_mels[0].mean()).mean()
    )


def test_quantizing_twice_changes_nothing(synth_int8_voice, tmp_path):
    copy = tmp_path / "vocoder.onnx"
    copy.write_bytes((synth_int8_voice / "vocoder.onnx").read_bytes())
    assert quantize_matmuls(copy, lambda name: True) == 0
    assert copy.read_bytes() == (synth_int8_voice / "vocoder.onnx").read_bytes()


def test_int8_verification_catches_a_vocoder_of_other_weights(synth_int8_voice):
    """Quantization noise passes; a graph that computes something else does not."""
    from fastpitch.export import verify_vocoder

    vocoder = load_voice(synth_int8_voice).vocoder.model
    n_mels = read_voice(synth_int8_voice).audio.n_mels
    assert verify_vocoder(vocoder, n_mels, synth_int8_voice / "vocoder.onnx", int8=True) < 0.3
    with torch.no_grad():
        vocoder.head.weight.mul_(-1.5)
    with pytest.raises(ExportError, match="spectrum differs from torch's"):
        verify_vocoder(vocoder, n_mels, synth_int8_voice / "vocoder.onnx", int8=True)


def test_a_graph_that_int8_moves_too_far_stays_fp32(synth_onnx_voice, tmp_path, monkeypatch, caplog):
    """Export never fails for int8's sake: a graph that misses the tolerance gets its fp32 bytes back."""
    import fastpitch.export as export_module

    monkeypatch.setattr(export_module, "INT8_TOLERANCE", 0.0)
    with caplog.at_level("WARNING", logger="fastpitch.export"):
        made = export_voice(synth_onnx_voice, tmp_path / "fp32")
    assert made.onnx["int8"] == []
    assert "stays fp32" in caplog.text
    for name in ("acoustic.onnx", "acoustic-single.onnx", "vocoder.onnx"):
        assert not is_quantized(tmp_path / "fp32" / name)
    assert verify_acoustic(load_voice(tmp_path / "fp32").acoustic, tmp_path / "fp32" / "acoustic.onnx") < 1e-3
