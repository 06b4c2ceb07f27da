"""`Synthesizer`: text to audio with a voice directory, in PyTorch.

    tts = Synthesizer.load()                       # the installed default voice
    tts = Synthesizer.load("path/to/voice")
    audio, sr = tts.synthesize("Hello there.", pace=1.1, pitch_shift=2.0)
    result = tts.synthesize_detailed("Hello.")     # + mel, pitch contour (Hz), symbols, durations
    for chunk in tts.stream(long_text): ...        # one chunk per sentence, the first as soon as it is ready

Sentence splitting, batching, pauses and streaming live in `fastpitch.runtime.pipeline.SpeechEngine`, shared
with the torch-free `fastpitch.runtime.OnnxSynthesizer`; this class only runs the two models. Output is
deterministic: the models run in eval mode under `torch.inference_mode`, and Griffin-Lim starts from a fixed seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fastpitch.allocator import reuse_freed_memory
from fastpitch.runtime.harmonic_phase import lock_to_pitch
from fastpitch.runtime.istft import inverse_stft
from fastpitch.runtime.pipeline import (
    AcousticOutput,
    Controls,
    GivenValues,
    SpeechEngine,
    SymbolControls,
    SynthesisResult,
    check_threads,
    pad_ids,
    symbol_controls,
)
from fastpitch.text import LexiconSource
from fastpitch.vocoders import GriffinLim
from fastpitch.voice import Voice
from fastpitch.voice_load import LoadedVoice, load_voice

MAX_DEFAULT_THREADS = 8  # these models stop scaling around here; more threads only contend

__all__ = ["SynthesisResult", "Synthesizer"]


class Synthesizer(SpeechEngine):
    """A loaded voice that speaks; see the module docstring for the API."""

    def __init__(
        self,
        loaded: LoadedVoice,
        device: str | torch.device = "cpu",
        threads: int | None = None,
        max_chars: int | None = None,
        lexicon: LexiconSource | None = None,
        postfilter: float | None = None,
    ) -> None:
        check_threads(threads)
        self.voice: Voice = loaded.voice
        self.model = loaded.acoustic.eval()
        self.vocoder: Any = loaded.vocoder  # numpy GriffinLim or a torch NeuralVocoder
        self.device = torch.device(device)
        self._use_voice(self.voice, max_chars, lexicon, postfilter)
        reuse_freed_memory()
        if threads is not None:
            torch.set_num_threads(threads)
        elif torch.get_num_threads() > MAX_DEFAULT_THREADS:
            torch.set_num_threads(MAX_DEFAULT_THREADS)

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        device: str = "cpu",
        vocoder: str | Path | None = None,
        threads: int | None = None,
        max_chars: int | None = None,
        lexicon: LexiconSource | None = None,
        postfilter: float | None = None,
    ) -> Synthesizer:
        """Load a voice directory (None: the installed default voice); `vocoder` overrides the voice's own
        ("griffin-lim" or a vocoder checkpoint); `threads` sets torch's CPU threads; `lexicon` (a CMUdict-format
        file or a word -> ARPAbet mapping) wins over the voice's `lexicon.txt`, the dictionary and the G2P;
        `postfilter` overrides the voice's mel post-filter strength (0 turns it off; `runtime.postfilter`)."""
        loaded = load_voice(path, device=device, vocoder=vocoder)
        return cls(loaded, device, threads, max_chars, lexicon, postfilter)

    def _acoustic(
        self,
        ids: list[list[int]],
        speaker: int | Sequence[int],
        controls: Controls | SymbolControls,
        given: GivenValues | None = None,
    ) -> list[AcousticOutput]:
        text, lens = pad_ids(ids)
        speakers = np.broadcast_to(np.asarray(speaker, dtype=np.int64), (len(ids),))
        if isinstance(controls, SymbolControls):
            arrays = symbol_controls(controls, text.shape)
            pace, shift, rng, energy = (
                torch.from_numpy(a).to(self.device)
                for a in (arrays.pace, arrays.pitch_shift, arrays.pitch_range, arrays.energy)
            )
        else:
            pace, shift, rng, energy = (
                controls.pace,
                controls.pitch_shift,
                controls.pitch_range,
                controls.energy,
            )
        fixed = {}
        if given is not None:
            fixed = {
                name: torch.from_numpy(values).to(self.device)
                for name, values in (
                    ("durations", given.durations),
                    ("pitch", given.pitch),
                    ("energies", given.energy),
                )
            }
        with torch.inference_mode():
            out = self.model.infer(
                torch.from_numpy(text).to(self.device),
                torch.from_numpy(lens).to(self.device),
                speaker=torch.from_numpy(speakers.copy()).to(self.device),
                pace=pace,
                pitch_shift=shift,
                pitch_range=rng,
                energy=energy,
                padded=len(ids) > 1,
                **fixed,
            )
            mel = out["mel"].float().cpu().numpy()
            mel_lens = out["mel_lens"].cpu().numpy()
            durations = out["durations"].cpu().numpy()
            pitch = out["pitch"].float().cpu().numpy()
            energy = out["energy"].float().cpu().numpy() if self.voice.model.energy_conditioning else None
        return AcousticOutput.unbatch(mel, mel_lens, durations, pitch, energy, lens)

    def _vocode(self, mel: np.ndarray, f0: np.ndarray | None = None) -> np.ndarray:
        if isinstance(self.vocoder, GriffinLim):  # numpy in, numpy out
            return self.vocoder(mel[None])[0]
        batch = torch.from_numpy(np.ascontiguousarray(mel))[None].to(self.device)
        if f0 is None or self.vocoder.arch != "istft":
            with torch.inference_mode():
                audio = self.vocoder(batch)
            return audio.float().cpu().numpy().reshape(-1)
        # The phase from the pitch, in numpy as the ONNX runtime does it (`runtime.harmonic_phase`).
        spec = self.vocoder.spectrum(batch)[0].float().cpu().numpy()
        n_fft, hop = self.vocoder.config.n_fft, self.vocoder.config.hop_length
        return inverse_stft(lock_to_pitch(spec, f0, self.sample_rate, n_fft, hop), n_fft, hop)
