"""The offline speech recognizer that judges intelligibility: CMU PocketSphinx with its bundled US English model.

PocketSphinx (BSD) ships its acoustic model, dictionary and language model inside the wheel, so it runs with no
download. It is a weak recognizer (≈15% WER on festival's own slt recordings), which is why `fastpitch eval`
always reports its WER on the reference audio beside ours: the ratio, not the absolute figure, is the measure.
"""

from __future__ import annotations

import numpy as np

from fastpitch.audio import resample
from fastpitch.errors import FastPitchError

ASR_SAMPLE_RATE = 16000


class Recognizer:
    """One PocketSphinx decoder, reused for every utterance (loading the model takes about a second)."""

    def __init__(self) -> None:
        try:
            import pocketsphinx
        except ImportError:
            raise FastPitchError(
                "the word error rate needs pocketsphinx: pip install 'fastpitch[eval]' (or run with --no-asr)"
            ) from None
        pocketsphinx.set_loglevel("FATAL")
        self._decoder = pocketsphinx.Decoder(samprate=ASR_SAMPLE_RATE)
        self.name = f"pocketsphinx {_version()} (bundled en-us model)"

    def transcribe(self, wav: np.ndarray, sample_rate: int) -> str:
        """The recognized words of one utterance (mono float audio at any rate)."""
        audio = resample(np.asarray(wav, np.float32), sample_rate, ASR_SAMPLE_RATE)
        pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()
        decoder = self._decoder
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        hyp = decoder.hyp()
        return hyp.hypstr if hyp is not None else ""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pocketsphinx")
    except PackageNotFoundError:
        return "?"
