"""A voice's models as ONNX, for `fastpitch.runtime` (numpy + ONNX Runtime, no torch).

acoustic.onnx: inputs text (B, N) int64 symbol ids, text_lens (B,), speaker (B,) int64, and the float controls
pace, pitch_shift (semitones), pitch_range, energy, each (B, N): one value per symbol, so that speech markup
can slow or raise one span (voices exported before took one number each; the runtime still reads them); then
given_durations (frames), given_pitch (Hz) and given_energy (log energy), each (B, N): a prosody document's
values, used as they are, NaN where the model predicts (exports before prosody documents lack them and the
symbol_energy output). Outputs mel (B, n_mels, T), mel_lens (B,), durations (B, N) frames, pitch (B, N) Hz and
symbol_energy (B, N). Batch, text length and mel length are dynamic.
acoustic-single.onnx: the same interface for B = 1 without padding: no mask is multiplied in (fewer operators
for a single sentence, the common call).
vocoder.onnx: mel (B, n_mels, T) -> audio (B, T * hop), T dynamic; for the iSTFT vocoder mel -> spectrum
(B, T, n_fft // 2 + 1, 2), each frame's real and imaginary parts, which the runtime turns into audio with numpy's
inverse FFT (`fastpitch.runtime.istft`; voices exported before it return audio). Griffin-Lim voices have none.

The graphs are traced with torch's TorchScript-based exporter (`dynamo=False`): FastPitch's output length
depends on the predicted durations, which tracing records as ordinary tensor arithmetic (the length regulator
is a scatter-add and a cumsum). Each graph is then run in ONNX Runtime beside torch, on other shapes than the
traced ones, and refused if they disagree. Weights that fp16 holds exactly are stored as fp16 (half the file),
and those that the voice's safetensors file already holds, byte for byte, are not stored twice: the ONNX file
points at them there as ONNX external data (location, offset, length), so a voice carries each weight once.
With `int8` (the default for voices) the verified graphs' decoder and vocoder products are then quantized
(`fastpitch.quantize`) and verified again, within quantization noise.
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import logging
import os
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from fastpitch.atomic import atomic_write, sweep_stale, temp_path
from fastpitch.errors import FastPitchError
from fastpitch.quantize import is_quantized, quantize_matmuls
from fastpitch.runtime.istft import inverse_stft
from fastpitch.runtime.synthesizer import (
    ACOUSTIC_INPUTS,
    ACOUSTIC_OUTPUTS,
    SPECTRUM_OUTPUTS,
    VOCODER_INPUTS,
    VOCODER_OUTPUTS,
)
from fastpitch.text.pronounce import LEXICON_FILE
from fastpitch.vocoders import GriffinLim
from fastpitch.voice import (
    ACOUSTIC_ONNX,
    ACOUSTIC_SINGLE_ONNX,
    ACOUSTIC_WEIGHTS,
    MODEL_CARD,
    NOTICE,
    VOCODER_ONNX,
    VOCODER_WEIGHTS,
    VOICE_JSON,
    Voice,
    read_voice,
)
from fastpitch.voice_load import load_voice

log = logging.getLogger(__name__)

OPSET = 17
MEL_TOLERANCE = 1e-3  # max |log-mel| difference between torch and ONNX Runtime accepted after export
AUDIO_TOLERANCE = 1e-3
# After int8 quantization (`fastpitch.quantize`): the mean log-mel (for audio, log-spectrum) difference over the
# reference's mean deviation from its own mean. Rounding moves every value a little (trained voices: 0.01-0.02,
# untrained tiny ones up to 0.16), a broken graph moves them by their whole spread (about 1). Audio itself is not
# compared: the int8 vocoder's phases wander where a frame is quiet, which the ear does not hear.
INT8_TOLERANCE = 0.3


class ExportError(FastPitchError):
    """An export that failed or whose ONNX graph does not reproduce the torch model."""


class AcousticGraph(nn.Module):
    """`FastPitch.infer` with every control as a tensor input, in the order of `ACOUSTIC_INPUTS`; `padded=False`
    for the graph of a batch of one, without masks."""

    def __init__(self, model: nn.Module, padded: bool = True) -> None:
        super().__init__()
        self.model = model
        self.padded = padded

    def forward(  # type: ignore[no-untyped-def]
        self,
        text,
        text_lens,
        speaker,
        pace,
        pitch_shift,
        pitch_range,
        energy,
        given_durations,
        given_pitch,
        given_energy,
    ):
        out = self.model.infer(
            text,
            text_lens,
            speaker=speaker,
            pace=pace,
            pitch_shift=pitch_shift,
            pitch_range=pitch_range,
            energy=energy,
            durations=given_durations,
            pitch=given_pitch,
            energies=given_energy,
            padded=self.padded,
        )
        out["symbol_energy"] = out.pop("energy")  # an output may not share the `energy` input's name
        return tuple(out[name] for name in ACOUSTIC_OUTPUTS)


class VocoderGraph(nn.Module):
    """A vocoder generator (B, n_mels, T) -> (B, 1, T * hop) as mel -> audio (B, T * hop); a generator that
    ends in an inverse STFT (it has `spectrum`) as mel -> spectrum (B, T, bins, 2), inverted by the runtime."""

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator
        self.outputs = SPECTRUM_OUTPUTS if hasattr(generator, "spectrum") else VOCODER_OUTPUTS

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        if self.outputs == SPECTRUM_OUTPUTS:
            return self.generator.spectrum(mel)
        return self.generator(mel).reshape(mel.size(0), -1)


def halve_initializers(path: Path, min_size: int = 16) -> int:
    """Store the float32 weights of an ONNX file that fp16 represents exactly (all of them, for a voice saved in
    fp16) as fp16 followed by a Cast: half the file, the same numbers. ONNX Runtime folds the casts when it
    loads the model, so it still computes in fp32. Returns the number of tensors converted."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    kept, casts = [], []
    for init in graph.initializer:
        values = numpy_helper.to_array(init) if init.data_type == TensorProto.FLOAT else None
        if values is None or values.size < min_size:
            kept.append(init)
            continue
        half = values.astype(np.float16)
        if not np.array_equal(half.astype(np.float32), values):
            kept.append(init)
            continue
        kept.append(numpy_helper.from_array(half, f"{init.name}__fp16"))
        casts.append(helper.make_node("Cast", [f"{init.name}__fp16"], [init.name], to=TensorProto.FLOAT))
    if casts:
        nodes = casts + list(graph.node)
        del graph.initializer[:], graph.node[:]
        graph.initializer.extend(kept)
        graph.node.extend(nodes)
        _save_atomic(model, path)
    return len(casts)


def share_weights(path: Path, weights: Path) -> int:
    """Replace the initializers of the ONNX file `path` that `weights` (a safetensors file beside it) holds byte
    for byte, under the same name less the export wrapper's prefix, by references into that file. safetensors
    stores raw little-endian tensors after a JSON header, which is exactly ONNX's external data layout, so ONNX
    Runtime reads them from there. Returns the number of tensors shared."""
    import onnx
    from onnx import numpy_helper

    raw = weights.read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + header_len])
    model = onnx.load(str(path))
    shared = 0
    for init in model.graph.initializer:
        key = init.name.removesuffix("__fp16").split(".", 1)[-1]
        entry = header.get(key)
        if not isinstance(entry, dict) or "data_offsets" not in entry:
            continue
        begin, end = (8 + header_len + o for o in entry["data_offsets"])
        values = numpy_helper.to_array(init)
        if values.tobytes() != raw[begin:end] or list(values.shape) != entry["shape"]:
            continue
        init.ClearField("raw_data")
        init.data_location = onnx.TensorProto.EXTERNAL
        del init.external_data[:]
        for k, v in (("location", weights.name), ("offset", str(begin)), ("length", str(end - begin))):
            init.external_data.add(key=k, value=v)
        shared += 1
    if shared:
        _save_atomic(model, path)
    return shared


def _save_atomic(model: Any, path: Path) -> None:
    """Write an ONNX model over `path` through a temp file and a rename, so a crash never leaves half a file."""
    import onnx

    atomic_write(path, lambda tmp: onnx.save(model, str(tmp)))


def _export(graph: nn.Module, args: tuple, path: Path, inputs, outputs, axes, opset: int) -> None:
    """Trace `graph` to `path` atomically (temp file + rename), weights halved where exact."""
    sweep_stale(path.parent)
    tmp = temp_path(path)
    graph.eval()
    try:
        with (
            warnings.catch_warnings(),
            torch.no_grad(),
        ):
            warnings.simplefilter("ignore")  # tracer warnings about Python values are expected here
            torch.onnx.export(
                graph,
                args,
                str(tmp),
                dynamo=False,
                opset_version=opset,
                input_names=list(inputs),
                output_names=list(outputs),
                dynamic_axes=axes,
                do_constant_folding=False,  # keep weights as the named parameters, to share them
            )
        os.replace(tmp, path)
        halve_initializers(path)
    except ExportError:
        raise
    except Exception as e:  # the exporter raises many types; the user needs the one line
        raise ExportError(f"ONNX export to {path} failed: {type(e).__name__}: {e}") from None
    finally:
        tmp.unlink(missing_ok=True)
        graph.eval()  # the exporter restores the mode it found; keep the model in eval mode regardless


# --------------------------------------------------------------------------------------------------------------
# acoustic model and vocoder


def _acoustic_example(n_symbols: int, n_speakers: int, batch: int, length: int, seed: int):  # type: ignore[no-untyped-def]
    gen = torch.Generator().manual_seed(seed)
    text = torch.randint(1, n_symbols, (batch, length), generator=gen)
    lens = torch.tensor([length - (i * 3) % max(length // 2, 1) for i in range(batch)])
    text = text * (torch.arange(length)[None] < lens[:, None])
    speaker = torch.randint(0, n_speakers, (batch,), generator=gen)
    # One value per symbol (speech markup's per-span controls), varied so that nothing folds to a constant.
    controls = [
        base + spread * torch.rand((batch, length), generator=gen)
        for base, spread in ((0.9, 0.2), (-1.0, 2.0), (0.9, 0.2), (0.9, 0.2))
    ]
    # Given values (a prosody document) for about half the symbols, NaN (predict) for the others.
    given = [
        torch.where(
            torch.rand((batch, length), generator=gen) < 0.5,
            scale * torch.rand((batch, length), generator=gen) + base,
            torch.nan,
        )
        for base, scale in ((1.0, 8.0), (120.0, 100.0), (-1.0, 2.0))
    ]
    return (text, lens, speaker, *controls, *given)


def export_acoustic(
    model: nn.Module,
    path: str | Path,
    opset: int = OPSET,
    verify: bool = True,
    weights: Path | None = None,
    padded: bool = True,
    int8: bool = False,
) -> Path:
    """Write FastPitch inference as ONNX (dynamic batch, text and mel length; controls as inputs), its weights
    kept in `weights` (the voice's safetensors beside it) where that file holds them. `padded=False` writes
    the graph for a batch of one unpadded sequence (see the module docstring); `int8` quantizes the decoder's
    matrix products (`fastpitch.quantize`) once the fp32 graph is verified."""
    path = Path(path)
    cfg = model.cfg
    graph = AcousticGraph(model, padded).eval()
    axes = {
        "text": {0: "batch", 1: "symbols"},
        "text_lens": {0: "batch"},
        "speaker": {0: "batch"},
        **{name: {0: "batch", 1: "symbols"} for name in ACOUSTIC_INPUTS[3:]},
        "mel": {0: "batch", 2: "frames"},
        "mel_lens": {0: "batch"},
        "durations": {0: "batch", 1: "symbols"},
        "pitch": {0: "batch", 1: "symbols"},
        "symbol_energy": {0: "batch", 1: "symbols"},
    }
    batch = 2 if padded else 1
    example = _acoustic_example(cfg.n_symbols, cfg.n_speakers, batch=batch, length=24, seed=0)
    _export(graph, example, path, ACOUSTIC_INPUTS, ACOUSTIC_OUTPUTS, axes, opset)
    if weights is not None:
        share_weights(path, weights)
    if verify:
        verify_acoustic(model, path, padded)
    if int8:
        _quantize(
            path,
            lambda name: name.startswith("/decoder/"),
            (lambda: verify_acoustic(model, path, padded, int8=True)) if verify else None,
        )
    return path


def verify_acoustic(model: nn.Module, path: str | Path, padded: bool = True, int8: bool = False) -> float:
    """Run torch and ONNX Runtime on inputs of another shape than the traced ones (a padded batch, or one
    sequence for the `padded=False` graph), with non-default controls; return the largest mel difference (the
    mean one for an `int8` graph), or raise ExportError if durations or mels disagree."""
    import onnxruntime as ort

    cfg = model.cfg
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for seed, controls in ((1, (1.0, 0.0, 1.0, 1.0)), (2, (1.3, 2.0, 0.5, 0.8))):
        text, lens, speaker, *_, durations, pitch, energies = _acoustic_example(
            cfg.n_symbols, cfg.n_speakers, batch=3 if padded else 1, length=37, seed=seed
        )
        # The first set predicts everything (plain text), the second takes given values for some symbols.
        given = [torch.full_like(v, torch.nan) if seed == 1 else v for v in (durations, pitch, energies)]
        # The second set changes from the middle of each sequence on, as an SSML span would.
        half = (torch.arange(text.size(1)) >= text.size(1) // 2).float()[None].expand(text.shape)
        values = [
            v + (v - d) * half * (seed - 1) for v, d in zip(controls, (1.0, 0.0, 1.0, 1.0), strict=True)
        ]
        with torch.inference_mode():
            ref = AcousticGraph(model)(text, lens, speaker, *values, *given)
        inputs = (text, lens, speaker, *values, *given)
        feed = {name: t.numpy() for name, t in zip(ACOUSTIC_INPUTS, inputs, strict=True)}
        got = session.run(list(ACOUSTIC_OUTPUTS), feed)
        if not np.array_equal(ref[2].numpy(), got[2]):
            raise ExportError(
                f"{path}: ONNX Runtime predicts other durations than torch; the export is broken"
            )
        diff = _difference(ref[0].numpy(), got[0], int8)
        tolerance = INT8_TOLERANCE if int8 else MEL_TOLERANCE
        if not diff <= tolerance:
            raise ExportError(
                f"{path}: ONNX Runtime's mel differs from torch's by {diff:.2e} (> {tolerance})"
            )
        worst = max(worst, diff)
    return worst


def export_vocoder(
    generator: nn.Module,
    n_mels: int,
    path: str | Path,
    opset: int = OPSET,
    verify: bool = True,
    weights: Path | None = None,
    int8: bool = False,
) -> Path:
    """Write a neural vocoder's generator as ONNX: mel (B, n_mels, T) -> audio (B, T * hop), or -> spectrum
    (B, T, bins, 2) for the iSTFT vocoder, T dynamic; weights shared with `weights` as in `export_acoustic`;
    `int8` quantizes its matrix products."""
    path = Path(path)
    graph = VocoderGraph(generator).eval()
    example = (torch.randn(1, n_mels, 40, generator=torch.Generator().manual_seed(0)),)
    length = "frames" if graph.outputs == SPECTRUM_OUTPUTS else "samples"
    axes = {"mel": {0: "batch", 2: "frames"}, graph.outputs[0]: {0: "batch", 1: length}}
    _export(graph, example, path, VOCODER_INPUTS, graph.outputs, axes, opset)
    if weights is not None:
        share_weights(path, weights)
    if verify:
        verify_vocoder(generator, n_mels, path)
    if int8:
        _quantize(
            path,
            # a phase advance is summed over every frame: its quantization error would add up too
            lambda name: not name.startswith("/advance/"),
            (lambda: verify_vocoder(generator, n_mels, path, int8=True)) if verify else None,
        )
    return path


def _quantize(path: Path, select: Callable[[str], bool], verify: Callable[[], float] | None) -> None:
    """Quantize the selected products of the verified fp32 graph `path`, then verify it again; a model that
    int8 moves too far (untrained weights can have activation ranges that rounding spoils) keeps its fp32
    graph, with a warning (`is_quantized` tells which it is)."""
    fp32 = path.read_bytes()
    if not quantize_matmuls(path, select) or verify is None:
        return
    try:
        verify()
    except ExportError as e:
        atomic_write(path, lambda tmp: tmp.write_bytes(fp32))
        log.warning("%s stays fp32: int8 moved it too far from torch (%s)", path.name, e)


def verify_vocoder(generator: nn.Module, n_mels: int, path: str | Path, int8: bool = False) -> float:
    """Largest audio difference between torch and ONNX Runtime (with the runtime's inverse STFT where the graph
    ends at the spectrum) on a mel of another length than the traced one. An `int8` graph is compared on its
    log-magnitudes instead (see INT8_TOLERANCE): the spectrum's, or the audio's STFT."""
    import onnxruntime as ort

    mel = _speech_like_mel(n_mels, 57, seed=1)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"mel": mel.numpy()})[0]
    spectral = session.get_outputs()[0].name == SPECTRUM_OUTPUTS[0]
    with torch.inference_mode():
        if int8 and spectral:
            ref = generator.spectrum(mel).numpy()
            return _check(path, "spectrum", _log_magnitude(ref, ref), _log_magnitude(got, ref), True)
        ref = generator(mel).reshape(mel.size(0), -1).numpy()
    if spectral:
        istft = generator.istft
        got = np.stack([inverse_stft(spectrum, istft.n_fft, istft.hop) for spectrum in got])
    if int8 and ref.shape == got.shape:  # a shape mismatch is reported on the audio itself
        ref, got = (
            torch.stft(torch.from_numpy(a), 1024, 256, return_complex=True).numpy() for a in (ref, got)
        )
        ref, got = _log_magnitude(ref, ref), _log_magnitude(got, ref)
    return _check(path, "audio", ref, got, int8)


def _speech_like_mel(n_mels: int, frames: int, seed: int) -> torch.Tensor:
    """(2, n_mels, frames) log-mels that vary smoothly over time and frequency around speech's level, as a
    vocoder's input does (white noise in the log-mel is far outside what a trained vocoder has seen)."""
    noise = torch.randn(2, 1, n_mels + 8, frames + 8, generator=torch.Generator().manual_seed(seed))
    smooth = torch.nn.functional.avg_pool2d(noise, 9, stride=1)[:, 0]
    return smooth / smooth.std() * 2.0 - 5.0


def _log_magnitude(spec: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """log |spec| (complex, or real and imaginary parts on the last axis), floored 60 dB below ref's peak:
    quieter bins are not compared."""
    magnitude = np.abs(spec) if np.iscomplexobj(spec) else np.hypot(spec[..., 0], spec[..., 1])
    peak = np.abs(ref).max() if np.iscomplexobj(ref) else np.hypot(ref[..., 0], ref[..., 1]).max()
    return np.log(np.maximum(magnitude, 1e-3 * peak + 1e-12))


def _check(path: str | Path, what: str, ref: np.ndarray, got: np.ndarray, int8: bool) -> float:
    """The difference of an ONNX graph's output from torch's, or ExportError above the tolerance."""
    if ref.shape != got.shape:
        raise ExportError(f"{path}: ONNX Runtime's {what} has shape {got.shape}, torch's {ref.shape}")
    diff = _difference(ref, got, int8)
    tolerance = INT8_TOLERANCE if int8 else AUDIO_TOLERANCE
    if not diff <= tolerance:
        raise ExportError(f"{path}: ONNX Runtime's {what} differs from torch's by {diff:.2e} (> {tolerance})")
    return diff


def _difference(ref: np.ndarray, got: np.ndarray, relative: bool) -> float:
    """Largest absolute difference, or with `relative` the mean one over ref's mean absolute deviation (see
    INT8_TOLERANCE); 0 for empty arrays."""
    if not got.size:
        return 0.0
    diff = np.abs(ref - got)
    if not relative:
        return float(diff.max())
    return float(diff.mean() / max(float(np.abs(ref - ref.mean()).mean()), 1e-6))


# --------------------------------------------------------------------------------------------------------------
# voices


def export_voice(
    voice: str | Path | None,
    out: str | Path | None = None,
    opset: int = OPSET,
    standalone: bool = False,
    int8: bool = True,
) -> Voice:
    """Add acoustic.onnx (and vocoder.onnx unless the vocoder is Griffin-Lim) to a voice, verified against torch.

    With `out`, the voice is first copied there and the original is left alone. The ONNX files read their
    weights from the voice's safetensors files unless `standalone`, which embeds them (twice the size, but the
    ONNX files then work without the safetensors ones). `int8` (the default) quantizes the matrix products of
    the decoder and the vocoder, the frame-rate work: about 1.7x faster on a CPU (`fastpitch.quantize`).
    """
    if importlib.util.find_spec("onnx") is None or importlib.util.find_spec("onnxruntime") is None:
        raise ExportError(
            "exporting needs the onnx and onnxruntime packages (the 'export' extra of fastpitch)"
        )
    source = read_voice(voice)
    target = Path(out) if out is not None else source.path
    if target.resolve() == source.path.resolve():
        return _export_into(target, opset, standalone, int8)
    if target.exists() and not target.is_dir():
        raise ExportError(f"cannot export into {target}: it is a file, not a folder")
    load_voice(source.path)  # a broken voice fails here, named as given, before anything is copied
    created = not target.exists()
    target.mkdir(parents=True, exist_ok=True)
    try:
        for name in (VOICE_JSON, ACOUSTIC_WEIGHTS, VOCODER_WEIGHTS, MODEL_CARD, NOTICE, LEXICON_FILE):
            if source.file(name).is_file():
                shutil.copy2(source.file(name), target / name)
        return _export_into(target, opset, standalone, int8)
    except BaseException:
        if created:  # no half-made copy is left behind to be mistaken for a voice
            shutil.rmtree(target, ignore_errors=True)
        raise


def _export_into(target: Path, opset: int, standalone: bool, int8: bool) -> Voice:
    """`export_voice` of the voice in `target`, in place."""
    loaded = load_voice(target)

    def in_voice(weights: str) -> Path | None:
        return None if standalone else target / weights

    for name, padded in ((ACOUSTIC_ONNX, True), (ACOUSTIC_SINGLE_ONNX, False)):
        export_acoustic(
            loaded.acoustic,
            target / name,
            opset,
            weights=in_voice(ACOUSTIC_WEIGHTS),
            padded=padded,
            int8=int8,
        )
    exported = {ACOUSTIC_ONNX: ACOUSTIC_WEIGHTS, ACOUSTIC_SINGLE_ONNX: ACOUSTIC_WEIGHTS}
    vocoder_file = None
    if not isinstance(loaded.vocoder, GriffinLim):
        vocoder_file = VOCODER_ONNX
        export_vocoder(
            loaded.vocoder.model,
            loaded.voice.audio.n_mels,
            target / VOCODER_ONNX,
            opset,
            weights=in_voice(VOCODER_WEIGHTS),
            int8=int8,
        )
        exported[VOCODER_ONNX] = VOCODER_WEIGHTS
    voice_meta = loaded.voice
    voice_meta.onnx = {
        "acoustic": ACOUSTIC_ONNX,
        "acoustic_single": ACOUSTIC_SINGLE_ONNX,
        "vocoder": vocoder_file,
        "opset": opset,
        "int8": [name for name in exported if int8 and is_quantized(target / name)],
        "external_data": {} if standalone else exported,
        "exported": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "torch_version": torch.__version__,
    }
    voice_meta.save_json()
    return read_voice(target)
