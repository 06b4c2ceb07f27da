"""Torch-free synthesis: an exported voice (ONNX) run with numpy and ONNX Runtime, plus the text frontend.

`pip install fastpitch` (no extras) is enough for this package; importing it never imports torch.
"""

from __future__ import annotations

from fastpitch.runtime.pipeline import Controls, SpeechEngine, SynthesisError, SynthesisResult
from fastpitch.runtime.prosody import Prosody, ProsodyError
from fastpitch.runtime.synthesizer import OnnxSynthesizer
from fastpitch.runtime.transfer import TransferError

__all__ = [
    "Controls",
    "OnnxSynthesizer",
    "Prosody",
    "ProsodyError",
    "SpeechEngine",
    "SynthesisError",
    "SynthesisResult",
    "TransferError",
]
