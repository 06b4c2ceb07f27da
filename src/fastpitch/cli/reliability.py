"""`fastpitch bench fuzz` and `fastpitch bench kill`: thin shells over fastpitch.bench.fuzz and .kill."""

from __future__ import annotations

from pathlib import Path

import typer

from fastpitch.cli.app import bench_app, console, write_result


@bench_app.command("fuzz")
def bench_fuzz_command(
    n: int = typer.Option(10000, "--n", help="Hostile texts to feed."),
    voice: Path | None = typer.Option(None, "--voice", help="Voice directory (default: the shipped voice)."),
    engine: str = typer.Option("onnx", "--engine", help="onnx (the torch-free runtime) or torch."),
    seed: int = typer.Option(0, "--seed", help="Seed of the text generator: a run can be repeated."),
    max_chars: int = typer.Option(500, "--max-chars", help="Longer texts must be refused cleanly."),
    hang_s: float = typer.Option(
        10.0, "--hang-s", help="An input using more CPU seconds than this is a hang."
    ),
    threads: int = typer.Option(
        1, "--threads", help="Synthesis threads (1: CPU time is the input's own work)."
    ),
    out: Path = typer.Option(Path("bench-results/fuzz.json"), "--out", help="Where to write the JSON."),
) -> None:
    """Crashes, hangs and the slowest inputs over N hostile texts (Unicode of every plane, huge numbers, ...)."""
    import logging

    from fastpitch.bench.fuzz import bench_fuzz

    logging.getLogger("fastpitch.text").setLevel(logging.ERROR)  # one "dropped characters" line per input
    with console.status(f"fuzzing with {n} inputs"):
        result = bench_fuzz(
            str(voice) if voice else None,
            engine,
            n,
            seed,
            max_chars=max_chars,
            hang_s=hang_s,
            threads=threads,
        )
    write_result(result, out)


@bench_app.command("kill")
def bench_kill_command(
    kills: int = typer.Option(20, "--kills", help="SIGKILLs per command."),
    work: Path = typer.Option(Path("bench-results/kill-work"), "--work", help="Scratch folder (emptied)."),
    commands: str = typer.Option(
        "corpus-synth,prepare,train,train-vocoder,voice-create,export",
        "--commands",
        help="Comma-separated commands to kill.",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the kill times."),
    out: Path = typer.Option(Path("bench-results/kill.json"), "--out", help="Where to write the JSON."),
) -> None:
    """SIGKILL each command at random moments, rerun it, and check nothing half-written is ever read."""
    from fastpitch.bench.kill import bench_kill

    names = tuple(c.strip() for c in commands.split(",") if c.strip())
    with console.status(f"killing each command {kills} times"):
        try:
            result = bench_kill(work, kills, names, seed)
        except ValueError as e:
            raise typer.BadParameter(str(e), param_hint="--commands") from None
    write_result(result, out)
