"""`fastpitch bench model` and `fastpitch bench align`: thin shells over fastpitch.models.bench and
fastpitch.bench.align."""

from __future__ import annotations

from pathlib import Path

import typer

from fastpitch.cli.app import bench_app, console, write_result


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


@bench_app.command("model")
def bench_model_command(
    presets: str = typer.Option("default,small", "--presets", help="Comma-separated configs to measure."),
    batch_sizes: str = typer.Option("1,16", "--batch-sizes", help="Comma-separated batch sizes."),
    symbols: str = typer.Option("50,200", "--symbols", help="Comma-separated text lengths in symbols."),
    compile: bool = typer.Option(
        True, "--compile/--no-compile", help="Also time torch.compile (slow to build)."
    ),
    repeats: int = typer.Option(5, "--repeats", help="Timed calls per case (the fastest is kept)."),
    threads: int = typer.Option(0, "--threads", help="torch threads (0: torch's default)."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    out: Path = typer.Option(Path("bench-results/model.json"), "--out", help="Where to write the JSON."),
) -> None:
    """Inference time of the acoustic model alone (eager and torch.compile), 6 frames per symbol."""
    import torch

    from fastpitch.device import pick_device
    from fastpitch.models.bench import bench_model

    if threads > 0:
        torch.set_num_threads(threads)
    with console.status("benchmarking the acoustic model"):
        result = bench_model(
            [p.strip() for p in presets.split(",") if p.strip()],
            _ints(batch_sizes),
            _ints(symbols),
            compile=compile,
            repeats=repeats,
            device=str(pick_device(device)),
        )
    write_result(result, out)


@bench_app.command("align")
def bench_align_command(
    features: Path | None = typer.Option(
        None, "--features", help="Features folder of a corpus with reference timings (scores the aligner)."
    ),
    timings: Path | None = typer.Option(
        None, "--timings", help="The corpus's timings/ folder (ID.json or MFA ID.TextGrid)."
    ),
    checkpoint: Path | None = typer.Option(
        None, "--checkpoint", help="Training checkpoint (learned durations) whose aligner is scored."
    ),
    train_minutes: float | None = typer.Option(
        None, "--train-minutes", help="Instead of a checkpoint: train this long, then score."
    ),
    preset_name: str = typer.Option("small", "--preset", help="Config to train with --train-minutes."),
    aligner_only: bool = typer.Option(
        False, "--aligner-only", help="With --train-minutes: train only the embedding and aligner (fast)."
    ),
    overrides: list[str] = typer.Option(
        [],
        "--set",
        help="Config override section.field=value (repeatable); with --checkpoint, of its config "
        "(e.g. train.mas_boundary_cost).",
    ),
    max_utterances: int = typer.Option(200, "--max-utterances", help="Utterances scored at most."),
    out: Path = typer.Option(Path("bench-results/align.json"), "--out", help="Where to write the JSON."),
) -> None:
    """MAS speed (compiled vs a plain Python loop); with a corpus, the aligner's boundary error."""
    from fastpitch.bench.align import bench_align

    with console.status("benchmarking the aligner"):
        result = bench_align(
            features,
            timings,
            checkpoint=checkpoint,
            train_minutes=train_minutes,
            preset_name=preset_name,
            overrides=overrides,
            max_utterances=max_utterances,
            aligner_only=aligner_only,
        )
    write_result(result, out)
