"""`fastpitch train-vocoder`, `fastpitch convert-vocoder` and `fastpitch bench vocoder`: thin shells over
fastpitch.vocoders."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from fastpitch.cli.app import app, bench_app, console, write_result

ARCH_HELP = "istft (fast CPU vocoder), hifigan-v1, hifigan-v2 or hifigan-v3."
SET_HELP = "Override a config field: audio.X=…, model.X=… or train.X=… (repeatable), e.g. train.batch_size=8."


@app.command("train-vocoder")
def train_vocoder_command(
    dataset: Path = typer.Option(..., "--dataset", help="LJSpeech directory or audio_path|text filelist."),
    out: Path = typer.Option(..., "--out", help="Run directory for checkpoints, metrics and audio samples."),
    arch: str | None = typer.Option(None, "--arch", help=ARCH_HELP + " (default: istft)"),
    features: Path | None = typer.Option(
        None, "--features", help="Features cache from `fastpitch prepare`: train on its mels."
    ),
    finetune_mels: Path | None = typer.Option(
        None,
        "--finetune-mels",
        help="Directory of ID.npy mels (n_mels, T) predicted by FastPitch: fine-tune on them.",
    ),
    init: Path | None = typer.Option(
        None, "--init", help="Start from this vocoder's weights (ours or a published HiFi-GAN checkpoint)."
    ),
    overrides: list[str] = typer.Option([], "--set", help=SET_HELP),
    resume: bool = typer.Option(False, "--resume", help="Continue from the newest checkpoint in --out."),
    max_steps: int | None = typer.Option(
        None, "--max-steps", help="Stop at this step (default: train.max_steps)."
    ),
    threads: int | None = typer.Option(
        None, "--threads", help="CPU threads for torch (default: torch's choice)."
    ),
    device: str | None = typer.Option(
        None, "--device", help="cpu or cuda (default: cuda when available); under torchrun one rank per GPU."
    ),
) -> None:
    """Train a vocoder on random audio segments: mel + multi-resolution STFT losses, optionally adversarial."""
    import torch

    from fastpitch.train import train_vocoder

    if threads is not None:
        torch.set_num_threads(threads)
    result = train_vocoder(
        dataset,
        out,
        arch=arch,
        overrides=overrides,
        features=features,
        finetune_mels=finetune_mels,
        init=init,
        resume=resume,
        max_steps=max_steps,
        device=device,
        progress=sys.stderr.isatty(),
    )
    val = "-" if result.val_mel_l1 is None else f"{result.val_mel_l1:.4f}"
    console.print(
        f"stopped at step {result.step}; checkpoint {result.checkpoint}; validation mel L1 {val}",
        highlight=False,
    )


@app.command("convert-vocoder")
def convert_vocoder_command(
    source: Path = typer.Argument(
        ..., help="Published HiFi-GAN checkpoint, vocoder training run or checkpoint."
    ),
    out: Path = typer.Option(
        ..., "--out", help="Directory (vocoder.json + vocoder.safetensors) or file stem."
    ),
    config: Path | None = typer.Option(
        None, "--config", help="The checkpoint's config.json, if not beside it."
    ),
) -> None:
    """Convert a vocoder to fastpitch's inference format (safetensors + JSON, weight norm folded)."""
    from fastpitch.vocoders.neural import load_neural

    vocoder = load_neural(source, config=config)
    path = vocoder.save(out)
    console.print(
        f"wrote {path} and {path.with_suffix('.safetensors').name} ({vocoder.arch})", highlight=False
    )


@bench_app.command("vocoder")
def bench_vocoder_command(
    seconds: float = typer.Option(10.0, "--seconds", help="Audio length synthesized per call."),
    threads: str = typer.Option("2,1", "--threads", help="Comma-separated torch thread counts to measure."),
    repeats: int = typer.Option(3, "--repeats", help="Timed calls per vocoder (the best counts)."),
    out: Path = typer.Option(Path("bench-results/vocoder.json"), "--out", help="Where to write the JSON."),
) -> None:
    """Real-time factor of Griffin-Lim, HiFi-GAN V1/V3 and the iSTFT vocoder, side by side."""
    from fastpitch.vocoders.bench import bench_vocoders

    try:
        counts = tuple(int(n) for n in threads.split(",") if n.strip())
    except ValueError:
        raise typer.BadParameter("expected thread counts like 2,1", param_hint="--threads") from None
    with console.status("benchmarking vocoders"):
        result = bench_vocoders(seconds=seconds, threads=counts, repeats=repeats)
    write_result(result, out)
