"""`OnnxSynthesizer`: synthesis from an exported voice with numpy and ONNX Runtime only (no torch).

    from fastpitch.runtime import OnnxSynthesizer
    tts = OnnxSynthesizer.load("path/to/voice")     # a voice that `fastpitch export` has written ONNX into
    audio, sr = tts.synthesize("Hello there.", pace=1.1)

The API is `fastpitch.Synthesizer`'s (both are a `SpeechEngine`). A voice whose vocoder is Griffin-Lim has no
vocoder.onnx: the numpy Griffin-Lim of `fastpitch.vocoders.griffin_lim` runs instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from fastpitch.runtime.harmonic_phase import lock_to_pitch
from fastpitch.runtime.istft import inverse_stft
from fastpitch.runtime.onnx_refs import OnnxFormatError, external_data
from fastpitch.runtime.pipeline import (
    AcousticOutput,
    Controls,
    GivenValues,
    SpeechEngine,
    SymbolControls,
    SynthesisError,
    check_threads,
    pad_ids,
    symbol_controls,
)
from fastpitch.text import LexiconSource
from fastpitch.voice import GRIFFIN_LIM, Voice, VoiceError, member, read_voice

# The exported graphs' interface (fastpitch.export writes them with these names).
ACOUSTIC_INPUTS = (
    "text",
    "text_lens",
    "speaker",
    "pace",
    "pitch_shift",
    "pitch_range",
    "energy",
    "given_durations",
    "given_pitch",
    "given_energy",
)
ACOUSTIC_OUTPUTS = ("mel", "mel_lens", "durations", "pitch", "symbol_energy")
# Exports before prosody documents had neither the given values nor the energy output; they still speak text.
LEGACY_ACOUSTIC_INPUTS = ACOUSTIC_INPUTS[:7]
LEGACY_ACOUSTIC_OUTPUTS = ACOUSTIC_OUTPUTS[:4]
VOCODER_INPUTS = ("mel",)
VOCODER_OUTPUTS = ("audio",)
# The iSTFT vocoder's graph ends at the spectrum; see `fastpitch.runtime.istft`.
SPECTRUM_OUTPUTS = ("spectrum",)


def session(
    path: Path, threads: int | None, inputs: tuple[str, ...], what: str, legacy: tuple[str, ...] = ()
) -> ort.InferenceSession:
    """An ONNX Runtime CPU session for `path`, checked to be the graph fastpitch exports (or an older
    export's `legacy` interface)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or 0  # 0: ONNX Runtime's choice (the physical cores)
    options.inter_op_num_threads = 1
    # Threads spin between the operators of one run (waking a sleeping thread for each of the graph's hundreds
    # of operators cost the acoustic model 5-15 ms in 180 here) but stop when the run ends: on a small shared
    # CPU, spinning between two model calls steals the cores that the vocoder, the frontend or others need.
    options.add_session_config_entry("session.intra_op.allow_spinning", "1")
    options.add_session_config_entry("session.force_spinning_stop", "1")
    options.log_severity_level = (
        3  # warnings about unused initialisers and the like are not the user's concern
    )
    if not path.is_file():
        raise VoiceError(
            f"voice {path.parent} is incomplete: {path.name} is missing (run `fastpitch export`)"
        )
    check_external_data(path)
    try:
        sess = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types for bad files
        raise VoiceError(f"{path} is not a loadable ONNX model: {e}") from None
    names = tuple(i.name for i in sess.get_inputs())
    if names != inputs and names != legacy:
        raise VoiceError(
            f"{path} is not a fastpitch {what} export: its inputs are {names}, expected {inputs}"
        )
    return sess


def check_external_data(path: Path) -> None:
    """Refuse an ONNX model whose weights live outside its voice directory (an absolute location, one with
    `..`, or a link to elsewhere): checked here, before ONNX Runtime opens anything, whatever its version."""
    try:
        refs = external_data(path.read_bytes())
    except (OSError, OnnxFormatError) as e:
        raise VoiceError(f"{path} is not a loadable ONNX model: {e}") from None
    for location in sorted({location for location, _, _ in refs}):
        try:
            file = member(path.parent, location)
        except VoiceError:
            raise VoiceError(
                f"{path} keeps weights in {location!r}, outside the voice directory: refused"
            ) from None
        # A truncated weights file makes ONNX Runtime fail deep in its optimizer, blaming the ONNX file.
        needed = max(offset + (length or 0) for name, offset, length in refs if name == location)
        size = file.stat().st_size if file.is_file() else None
        if size is not None and size < needed:
            raise VoiceError(
                f"{file} is truncated or damaged: {path.name} reads its weights up to byte {needed:,}, "
                f"but it holds {size:,} (copy the voice again)"
            )


class OnnxSynthesizer(SpeechEngine):
    """A voice's ONNX models behind the synthesis API; `threads` sets ONNX Runtime's intra-op threads."""

    def __init__(
        self,
        voice: Voice,
        threads: int | None = None,
        max_chars: int | None = None,
        lexicon: LexiconSource | None = None,
        postfilter: float | None = None,
    ) -> None:
        check_threads(threads)
        if not voice.onnx.get("acoustic"):
            raise VoiceError(
                f"voice {voice.path} has no ONNX models: run `fastpitch export {voice.path}` first"
            )
        for onnx_file, weights in voice.onnx.get("external_data", {}).items():
            if not voice.file(weights).is_file():
                raise VoiceError(
                    f"voice {voice.path} is incomplete: {onnx_file} keeps its weights in {weights}, "
                    "which is missing (copy the whole voice directory)"
                )
        self.voice = voice
        self._use_voice(voice, max_chars, lexicon, postfilter)
        acoustic = (ACOUSTIC_INPUTS, "acoustic model", LEGACY_ACOUSTIC_INPUTS)
        self.acoustic = session(voice.file(voice.onnx["acoustic"]), threads, *acoustic)
        # The maskless graph for one sequence at a time (voices exported before it existed have none).
        single = voice.onnx.get("acoustic_single")
        self.acoustic_single = session(voice.file(single), threads, *acoustic) if single else None
        # Exports before prosody documents take no given values and return no energy.
        self.takes_given = len(self.acoustic.get_inputs()) == len(ACOUSTIC_INPUTS)
        self.energy = voice.model.energy_conditioning
        # Exports before speech markup took each control as one number; newer ones take one per symbol.
        self.per_symbol = len(self.acoustic.get_inputs()[3].shape) == 2
        self.vocoder: Any
        # (n_fft, hop) where the vocoder graph returns spectra
        self.inverse_stft: tuple[int, int] | None = None
        if voice.vocoder_type == GRIFFIN_LIM:
            from fastpitch.vocoders.griffin_lim import GriffinLim

            self.vocoder = GriffinLim(voice.audio, **voice.vocoder.get("config", {}))
        else:
            vocoder_file = voice.onnx.get("vocoder") or ""
            self.vocoder = session(voice.file(vocoder_file), threads, VOCODER_INPUTS, "vocoder")
            if self.vocoder.get_outputs()[0].name == SPECTRUM_OUTPUTS[0]:
                stft = voice.vocoder.get("config", {})
                self.inverse_stft = (
                    int(stft.get("n_fft", 1024)),
                    int(stft.get("hop_length", self.hop_length)),
                )

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        threads: int | None = None,
        max_chars: int | None = None,
        lexicon: LexiconSource | None = None,
        postfilter: float | None = None,
    ) -> OnnxSynthesizer:
        """Load an exported voice directory (None: the installed default voice); `lexicon` and `postfilter` as
        for `Synthesizer`."""
        return cls(read_voice(path), threads, max_chars, lexicon, postfilter)

    def _acoustic(
        self,
        ids: list[list[int]],
        speaker: int | Sequence[int],
        controls: Controls | SymbolControls,
        given: GivenValues | None = None,
    ) -> list[AcousticOutput]:
        text, lens = pad_ids(ids)
        feed = {
            "text": text,
            "text_lens": lens,
            "speaker": np.broadcast_to(np.asarray(speaker, dtype=np.int64), (len(ids),)).copy(),
        }
        if self.per_symbol:
            arrays = symbol_controls(controls, text.shape)
            values = (arrays.pace, arrays.pitch_shift, arrays.pitch_range, arrays.energy)
        else:
            scalar = controls.scalar() if isinstance(controls, SymbolControls) else controls
            if scalar is None:
                raise SynthesisError(
                    f"this voice's ONNX export predates per-span controls (SSML prosody, emphasis); "
                    f"run `fastpitch export {self.voice.path}` again"
                )
            values = (scalar.pace, scalar.pitch_shift, scalar.pitch_range, scalar.energy)
        for name, value in zip(ACOUSTIC_INPUTS[3:7], values, strict=True):
            feed[name] = np.asarray(value, dtype=np.float32)
        outputs = LEGACY_ACOUSTIC_OUTPUTS
        if self.takes_given:
            given = given if given is not None else GivenValues.empty(text.shape)
            feed |= {
                "given_durations": given.durations,
                "given_pitch": given.pitch,
                "given_energy": given.energy,
            }
            outputs = ACOUSTIC_OUTPUTS
        elif given is not None:
            raise SynthesisError(
                f"this voice's ONNX export predates prosody documents; run `fastpitch export {self.voice.path}` again"
            )
        graph = self.acoustic_single if len(ids) == 1 and self.acoustic_single else self.acoustic
        mel, mel_lens, durations, pitch, *rest = graph.run(list(outputs), feed)
        energy = rest[0] if rest and self.energy else None
        return AcousticOutput.unbatch(mel, mel_lens, durations, pitch, energy, lens)

    def _vocode(self, mel: np.ndarray, f0: np.ndarray | None = None) -> np.ndarray:
        batch = np.ascontiguousarray(mel, dtype=np.float32)[None]
        if isinstance(self.vocoder, ort.InferenceSession):
            out = self.vocoder.run(None, {"mel": batch})[0]
            if self.inverse_stft is not None:
                spec = (
                    out[0] if f0 is None else lock_to_pitch(out[0], f0, self.sample_rate, *self.inverse_stft)
                )
                return inverse_stft(spec, *self.inverse_stft)
            return out.reshape(-1)
        return self.vocoder(batch)[0]
