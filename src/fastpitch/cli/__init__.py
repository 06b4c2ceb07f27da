"""The `fastpitch` command: thin shells over the Python API, one module per area."""

from __future__ import annotations

import importlib
import sys

from rich.markup import escape

from fastpitch.cli.app import app, console, state
from fastpitch.errors import FastPitchError, missing_dependency

# Each area module registers its commands on the app when imported.
AREAS: tuple[str, ...] = (
    "corpus",
    "serve",
    "data",
    "vocoder",
    "text",
    "synth",
    "train",
    "model",
    "evaluate",
    "reliability",
    "finetune",
)
for _area in AREAS:
    importlib.import_module(f"fastpitch.cli.{_area}")


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 2; `--debug` shows the traceback."""
    try:
        app()  # standalone: typer reports bad flags and usage errors itself, without a traceback
    except KeyboardInterrupt:
        console.print("interrupted")
        sys.exit(130)
    except ModuleNotFoundError as e:  # an optional extra that is not installed: say which
        missing = missing_dependency(e)
        if missing is None or state.debug:
            raise
        console.print(f"[red]error:[/red] {escape(str(missing))}", highlight=False)
        sys.exit(2)
    except (
        FastPitchError,
        FileNotFoundError,
        FileExistsError,
        PermissionError,
        IsADirectoryError,
        NotADirectoryError,  # a file where a folder is wanted ("--out notes.txt")
    ) as e:
        if state.debug:
            raise
        console.print(f"[red]error:[/red] {escape(str(e))}", highlight=False)
        sys.exit(2)
