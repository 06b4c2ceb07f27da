"""The offline speech recognizer that judges intelligibility: CMU PocketSphinx with its bundled US English model.

PocketSphinx (BSD) ships its acoustic model, dictionary and language model inside the wheel, so it runs with no
download. It is a weak recognizer (≈15% WER on festival's own slt recordings), which is why `fastpitch eval`
always reports its WER on the reference audio beside ours: the ratio, not the absolute figure, is the measure.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastpitch.audio import resample
from fastpitch.errors import FastPitchError

ASR_SAMPLE_RATE = 16000


class Recognizer:
    """PocketSphinx decoders, one per audio source ("stream"), each reused for that source's utterances.

    A decoder adapts its cepstral mean normalization to what it has heard, so one decoder shared by the
    reference and the synthesized audio would score each after the other's adaptation and the result would
    depend on the order of decoding; a decoder per source keeps the systems independent.
    """

    def __init__(self) -> None:
        try:
            import pocketsphinx
        except ImportError:
            raise FastPitchError(
                "the word error rate needs pocketsphinx: pip install 'fastpitch[eval]' (or run with --no-asr)"
            ) from None
        pocketsphinx.set_loglevel("FATAL")
        self._new_decoder = lambda: pocketsphinx.Decoder(samprate=ASR_SAMPLE_RATE)
        self._decoders: dict[str, Any] = {}
        self.name = f"pocketsphinx {_version()} (bundled en-us model, a decoder per audio source)"

    def transcribe(self, wav: np.ndarray, sample_rate: int, stream: str = "default") -> str:
        """The recognized words of one utterance (mono float audio at any rate) from source `stream`."""
        audio = resample(np.asarray(wav, np.float32), sample_rate, ASR_SAMPLE_RATE)
        pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()
        if stream not in self._decoders:
            self._decoders[stream] = self._new_decoder()
        decoder = self._decoders[stream]
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
