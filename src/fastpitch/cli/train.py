"""`fastpitch train` and `fastpitch bench train`: thin shells over fastpitch.train and fastpitch.checkpoint."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

import typer

from fastpitch.cli.app import app, bench_app, console, write_result
from fastpitch.config import Config, apply_overrides, preset
from fastpitch.errors import FastPitchError

log = logging.getLogger(__name__)


def build_config(
    preset_name: str | None,
    config: Path | None,
    overrides: list[str],
    out: Path,
    resume: bool,
) -> Config:
    """The run's config: the checkpoint's when resuming, else --config or --preset; then --set on top."""
    from fastpitch.checkpoint import latest, read_config

    existing = latest(out) if resume else None
    if existing is not None:
        if preset_name or config:
            log.warning(
                "--resume continues with the config saved in %s; --preset/--config are ignored", existing
            )
        return apply_overrides(read_config(existing), overrides)
    if preset_name and config:
        raise FastPitchError("give --preset or --config, not both (use --set to change single fields)")
    base = Config.load(config) if config else preset(preset_name or "default")
    return apply_overrides(base, overrides)


@app.command("train")
def train_command(
    features: Path = typer.Option(..., "--features", help="Features folder made by `fastpitch prepare`."),
    out: Path = typer.Option(
        ..., "--out", help="Run directory: checkpoints, config.json, metrics, TensorBoard."
    ),
    dataset: Path | None = typer.Option(
        None,
        "--dataset",
        help="The dataset (splits/, timings/); default: the one the features were made from.",
    ),
    preset_name: str | None = typer.Option(None, "--preset", help="Named config: default, small or tiny."),
    config: Path | None = typer.Option(None, "--config", help="Config JSON (instead of --preset)."),
    overrides: list[str] = typer.Option(
        [], "--set", help="Override a config field, e.g. --set train.batch_frames=8000 (repeatable)."
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Continue the run in --out from its latest checkpoint."
    ),
    init_from: Path | None = typer.Option(
        None, "--init-from", help="Fine-tune: start from this checkpoint's weights (a new speaker, new data)."
    ),
    durations: str | None = typer.Option(
        None, "--durations", help="learned (aligner + MAS) or external (timings/ of the dataset)."
    ),
    timings: Path | None = typer.Option(
        None,
        "--timings",
        help="With --durations external: the timings folder (default: the dataset's timings/), e.g. one "
        "that `fastpitch timings` completed.",
    ),
    max_steps: int | None = typer.Option(None, "--max-steps", help="Stop after this many updates in total."),
    device: str | None = typer.Option(None, "--device", help="cpu or cuda (default: cuda when available)."),
    no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar (log lines only)."),
    threads: int | None = typer.Option(
        None, "--threads", help="CPU threads for torch (default: torch's choice)."
    ),
) -> None:
    """Train a FastPitch model on prepared features; on several GPUs run it under `torchrun -m fastpitch`."""
    import torch

    from fastpitch.train import RunOptions, train

    if threads is not None:
        torch.set_num_threads(threads)

    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun, rank 0 speaks for the job
        logging.getLogger().setLevel(logging.WARNING)
    extra = list(overrides)
    if durations is not None:
        extra.append(f"train.durations={durations}")
    if max_steps is not None:
        extra.append(f"train.max_steps={max_steps}")
    cfg = build_config(preset_name, config, extra, out, resume)
    opts = RunOptions(
        features=features,
        out_dir=out,
        dataset=dataset,
        timings=timings,
        resume=resume,
        init_from=init_from,
        device=device,
        progress=not no_progress and sys.stderr.isatty(),
        command=sys.argv[1:],
    )
    result = train(cfg, opts)
    if int(os.environ.get("RANK", "0")) == 0:
        best = (
            f", best validation mel loss {result.best_val_loss:.4f}"
            if result.best_val_loss is not None
            else ""
        )
        console.print(
            f"trained to step {result.step} (epoch {result.epoch}){best}; "
            f"{result.frames_per_second:.0f} mel frames/s; last checkpoint {result.last_checkpoint}"
        )


@app.command("prune")
def prune_command(
    acoustic: Path = typer.Argument(..., help="Acoustic checkpoint (or run directory: its newest) to slim."),
    out: Path = typer.Option(
        ..., "--out", help="Writes OUT/acoustic/ (a checkpoint) and OUT/vocoder/vocoder.json."
    ),
    decoder_ff: int = typer.Option(..., "--decoder-ff", help="Feed-forward units per decoder layer to keep."),
    decoder_layers: int = typer.Option(..., "--decoder-layers", help="Decoder layers to keep."),
    vocoder: Path | None = typer.Option(None, "--vocoder", help="Its iSTFT vocoder (checkpoint or file)."),
    vocoder_ff: int | None = typer.Option(None, "--vocoder-ff", help="Units per vocoder block to keep."),
    vocoder_layers: int | None = typer.Option(None, "--vocoder-layers", help="Vocoder blocks to keep."),
) -> None:
    """A narrower, shallower copy of a trained voice, to train on into a faster one (fastpitch.prune):
    `fastpitch train --init-from OUT/acoustic` and `fastpitch train-vocoder --init OUT/vocoder`."""
    from fastpitch.prune import prune_voice

    result = prune_voice(acoustic, out, decoder_ff, decoder_layers, vocoder, vocoder_ff, vocoder_layers)
    console.print_json(data=result.to_dict())


def _tenths() -> Callable[[int, int], None]:
    """A progress callback `(done, total)` for a pass over a training set: one log line per tenth."""
    shown = [0]

    def report(done: int, total: int) -> None:
        if done * 10 // total > shown[0]:
            shown[0] = done * 10 // total
            log.info("%d of %d utterances", done, total)

    return report


@app.command("gta-mels")
def gta_mels_command(
    checkpoint: Path = typer.Argument(..., help="Acoustic checkpoint (or run directory: its newest)."),
    features: Path = typer.Option(
        ..., "--features", help="The features it was trained on (`fastpitch prepare`)."
    ),
    out: Path = typer.Option(..., "--out", help="Directory for ID.npy mels; those already there are kept."),
    dataset: Path | None = typer.Option(
        None,
        "--dataset",
        help="The dataset (splits/, timings/); default: the one the features were made from.",
    ),
    batch_frames: int | None = typer.Option(
        None, "--batch-frames", help="Frames per batch (default: the checkpoint's train.batch_frames)."
    ),
    device: str | None = typer.Option(None, "--device", help="cpu or cuda (default: cuda when available)."),
    threads: int | None = typer.Option(None, "--threads", help="CPU threads for torch."),
) -> None:
    """Ground-truth-aligned mels of the training and validation utterances, for fine-tuning a vocoder on what
    this model says: `fastpitch train-vocoder --finetune-mels OUT` (fastpitch.train.gta)."""
    import torch

    from fastpitch.train.gta import predict_mels

    if threads is not None:
        torch.set_num_threads(threads)
    report = _tenths()
    result = predict_mels(checkpoint, features, out, dataset, batch_frames, device, report)
    mel = "-" if result.mel_l1 is None else f"{result.mel_l1:.4f}"
    console.print(
        f"{result.written} mels written to {result.out_dir} ({result.skipped} already there); "
        f"mean |predicted - recorded| log-mel {mel}",
        highlight=False,
    )


@app.command("timings")
def timings_command(
    checkpoint: Path = typer.Argument(..., help="Acoustic checkpoint trained with the learned aligner."),
    features: Path = typer.Option(
        ..., "--features", help="The features it was trained on (`fastpitch prepare`)."
    ),
    out: Path = typer.Option(..., "--out", help="New timings folder; files already there are kept."),
    dataset: Path | None = typer.Option(
        None,
        "--dataset",
        help="The dataset (splits/, timings/); default: the one the features were made from.",
    ),
    batch_frames: int | None = typer.Option(
        None, "--batch-frames", help="Frames per batch (default: the checkpoint's train.batch_frames)."
    ),
    device: str | None = typer.Option(None, "--device", help="cpu or cuda (default: cuda when available)."),
    threads: int | None = typer.Option(None, "--threads", help="CPU threads for torch."),
) -> None:
    """Phone timings for every training and validation utterance: the dataset's own where it has them, else
    the model's learned aligner's, for `fastpitch train --durations external --timings OUT`
    (fastpitch.train.timings)."""
    import torch

    from fastpitch.train.timings import write_timings

    if threads is not None:
        torch.set_num_threads(threads)
    report = _tenths()
    result = write_timings(checkpoint, features, out, dataset, batch_frames, device, report)
    console.print(
        f"{result.copied} timings copied from the dataset and {result.aligned} from the aligner into "
        f"{result.out_dir} ({result.kept} already there)",
        highlight=False,
    )


@bench_app.command("train")
def bench_train_command(
    presets: str = typer.Option("default,small", "--presets", help="Comma-separated configs to measure."),
    device: str | None = typer.Option(
        None, "--device", help="cpu or cuda (default: cpu, and cuda if present)."
    ),
    steps: int = typer.Option(4, "--steps", help="Timed training steps per config (after warm-up)."),
    batch_frames: int | None = typer.Option(
        None, "--batch-frames", help="Mel frames per batch (default: each preset's train.batch_frames)."
    ),
    profile: bool = typer.Option(
        True, "--profile/--no-profile", help="Profile one step with torch.profiler."
    ),
    out: Path = typer.Option(Path("bench-results/train.json"), "--out", help="Where to write the JSON."),
) -> None:
    """Training throughput (mel frames/s), peak memory, FLOPs per frame and the fraction of matmul speed."""
    from fastpitch.train.bench import bench_train

    devices = [device] if device else ["cpu", *(["cuda"] if _cuda() else [])]
    with console.status("benchmarking training"):
        result = bench_train(
            [p.strip() for p in presets.split(",") if p.strip()],
            devices,
            steps=steps,
            batch_frames=batch_frames,
            profile=profile,
        )
    write_result(result, out)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()
