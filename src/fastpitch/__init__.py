"""fastpitch: FastPitch text-to-speech that speaks offline from the first command."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from fastpitch.synthesis import Synthesizer

__all__ = ["Synthesizer", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy, so that `import fastpitch` (and the torch-free runtime) never pays for torch.
    if name == "Synthesizer":
        try:
            from fastpitch.synthesis import Synthesizer
        except ModuleNotFoundError as e:
            from fastpitch.errors import missing_dependency

            missing = missing_dependency(e, "fastpitch.Synthesizer (the torch engine)")
            if missing is None:
                raise
            raise ImportError(
                f"{missing}; or speak with fastpitch.runtime.OnnxSynthesizer, which needs no torch"
            ) from e
        return Synthesizer
    raise AttributeError(f"module 'fastpitch' has no attribute {name!r}")
