"""The typer application and the sub-apps that each area of the CLI registers its commands on.

Each area (text, data, train, synth, serve, …) lives in its own `fastpitch.cli.<area>` module and adds
commands to `app`, `corpus_app`, `data_app` or `bench_app`; `fastpitch.cli` imports them all.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.logging import RichHandler

from fastpitch import __version__
from fastpitch.allocator import reuse_freed_memory
from fastpitch.atomic import atomic_write_json
from fastpitch.voice import MAX_POSTFILTER

console = Console(stderr=True)


def postfilter_option() -> Any:
    """`--postfilter`, for the commands that speak with a voice: None keeps the voice's own strength."""
    return typer.Option(
        None,
        "--postfilter",
        min=0.0,
        max=MAX_POSTFILTER,
        help="Mel post-filter strength for every speaker, 0 (off) to 2 (default: the voice's own; the shipped "
        "voice's: heart and kal 0.4, slt 0.2).",
    )


def write_result(result: dict, out: Path) -> None:
    """A bench's JSON: written atomically to `out`, and printed."""
    atomic_write_json(out, result)
    print(json.dumps(result, indent=2))


@dataclass
class State:
    debug: bool = False


state = State()

app = typer.Typer(
    name="fastpitch",
    help="FastPitch text-to-speech: text in, natural speech out, with control of pace and pitch.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
corpus_app = typer.Typer(help="Make speech corpora offline.", no_args_is_help=True)
data_app = typer.Typer(help="Inspect and validate datasets.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks; each prints and writes its results as JSON.", no_args_is_help=True)
app.add_typer(corpus_app, name="corpus")
app.add_typer(data_app, name="data")
app.add_typer(bench_app, name="bench")


def _version(value: bool) -> None:
    if value:
        print(f"fastpitch {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="More logging (-vv for debug logs)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only warnings and errors."),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """FastPitch text-to-speech."""
    reuse_freed_memory()
    state.debug = debug
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 or debug else logging.INFO)
    if verbose == 1:
        level = logging.INFO
    logging.basicConfig(
        level=level,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False, show_time=False)],
        force=True,
    )
