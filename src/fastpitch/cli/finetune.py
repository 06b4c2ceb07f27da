"""`fastpitch finetune`: a thin shell over `fastpitch.finetune`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from fastpitch.cli.app import app, console


@app.command("finetune")
def finetune_command(
    data: Path = typer.Argument(
        ..., help="The recordings: an LJSpeech folder, a filelist, or a folder of clip.wav + clip.txt pairs."
    ),
    out: Path = typer.Option(..., "--out", help="The voice directory to make, e.g. voices/mine."),
    base: Path | None = typer.Option(None, "--base", help="The voice to adapt (default: the shipped voice)."),
    work: Path | None = typer.Option(
        None, "--work", help="Corpus, features and training runs (default: OUT.finetune beside the voice)."
    ),
    name: str | None = typer.Option(None, "--name", help="The voice's name (default: OUT's folder name)."),
    minutes_budget: float | None = typer.Option(
        None, "--minutes-budget", help="Cap the job's wall time: training stops early to fit it."
    ),
    align_steps: int | None = typer.Option(None, "--align-steps", help="Aligner warm-up steps."),
    acoustic_steps: int | None = typer.Option(None, "--acoustic-steps", help="Acoustic model steps."),
    vocoder_steps: int | None = typer.Option(None, "--vocoder-steps", help="Vocoder steps."),
    learning_rate: float | None = typer.Option(None, "--learning-rate", help="Acoustic model learning rate."),
    vocoder_learning_rate: float | None = typer.Option(
        None, "--vocoder-learning-rate", help="Vocoder learning rate."
    ),
    batch_frames: int | None = typer.Option(
        None,
        "--batch-frames",
        help="Mel frames per acoustic batch (default 6000); fewer use less memory, on a small machine.",
    ),
    freeze: str | None = typer.Option(
        None,
        "--freeze",
        help="Comma-separated parts of the acoustic model kept fixed, e.g. embedding.,encoder. ('' trains all).",
    ),
    postfilter: float | None = typer.Option(
        None,
        "--postfilter",
        help="The new voice's mel post-filter strength, 0 (off) to 2 (default: half its base speaker's).",
    ),
    evaluate: bool = typer.Option(True, "--eval/--no-eval", help="Evaluate on the held-out clips."),
    device: str | None = typer.Option(
        None, "--device", help="cpu, cuda or cuda:N (default: CUDA if present)."
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show the progress bar."),
) -> None:
    """Adapt a voice to a new speaker from minutes of recordings: check, features, training, voice, ONNX, eval.

    Run it again after an interruption: finished stages are kept and training resumes where it stopped.
    """
    from fastpitch.finetune import FinetuneOptions, finetune

    given = {
        "align_steps": align_steps,
        "acoustic_steps": acoustic_steps,
        "vocoder_steps": vocoder_steps,
        "learning_rate": learning_rate,
        "vocoder_learning_rate": vocoder_learning_rate,
        "batch_frames": batch_frames,
        "freeze": [p for p in freeze.split(",") if p] if freeze is not None else None,
        "postfilter": postfilter,
    }
    options = FinetuneOptions(
        data=data,
        out=out,
        base=base,
        work=work,
        name=name,
        minutes_budget=minutes_budget,
        plan={k: v for k, v in given.items() if v is not None},
        evaluate=evaluate,
        device=device,
    )
    try:
        result = _with_bar(options) if progress else finetune(options)
    except KeyboardInterrupt:
        console.print("interrupted: run the same command again to resume (finished stages are kept)")
        raise
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    console.print(
        f"voice {result.voice}: {result.seconds_of_speech / 60:.1f} min of speech, {result.clips_used} clips "
        f"({result.clips_skipped} skipped), made in {result.wall_seconds / 60:.1f} min",
        highlight=False,
    )
    if result.evaluation:
        print(json.dumps(result.evaluation, indent=1))


def _with_bar(options: object) -> object:
    """The job under one progress bar over all its stages, with the ETA of the whole job."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from fastpitch.finetune import finetune

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TextColumn("ETA {task.fields[eta]}"),
    )
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("finetune", total=1.0, eta="?")

        def show(p: object) -> None:
            eta = (
                "?" if p.eta_seconds is None else f"{int(p.eta_seconds // 60)}:{int(p.eta_seconds % 60):02d}"
            )
            bar.update(task, completed=p.fraction, description=p.message[:40].ljust(40), eta=eta)

        return finetune(options, on_progress=show)
