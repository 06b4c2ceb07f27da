"""The one exception type users see as a one-line message (the CLI prints it without a traceback), and the
message for an optional dependency that is not installed."""

from __future__ import annotations


class FastPitchError(Exception):
    """A problem with the user's input, files or settings, worded for the user."""


class MissingDependency(FastPitchError, ImportError):
    """A feature needs an optional package that is not installed; the message names the extra that installs it."""


# Which extra of pyproject.toml installs each optional package (by its import name).
EXTRA_OF = {
    "torch": "torch", "safetensors": "torch", "scipy": "torch", "librosa": "torch", "numba": "torch",
    "pyworld": "train", "tensorboard": "train", "matplotlib": "train", "tqdm": "train", "onnx": "export",
    "fastapi": "serve", "uvicorn": "serve", "multipart": "serve", "httpx": "serve", "wyoming": "serve",
    "pocketsphinx": "eval", "jiwer": "eval", "speechmos": "eval", "hibari": "hibari",
}  # fmt: skip


def missing_dependency(error: ModuleNotFoundError, feature: str = "this") -> MissingDependency | None:
    """A `MissingDependency` naming the extra for a package of ours that failed to import; None for any other
    module (a bug, which keeps its traceback)."""
    module = (error.name or "").split(".")[0]
    if module == "pkg_resources":  # pyworld imports it; setuptools 81 removed it
        return MissingDependency(
            f"{feature} needs pkg_resources, which setuptools 81 removed: pip install 'setuptools<81'"
        )
    extra = EXTRA_OF.get(module)
    if extra is None:
        return None
    return MissingDependency(
        f"{feature} needs {module}, which is not installed: pip install 'fastpitch[{extra}]'"
    )
