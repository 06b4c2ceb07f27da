"""`fastpitch data check`, `fastpitch prepare` and `fastpitch bench prepare`: thin shells over fastpitch.data."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from fastpitch.cli.app import app, bench_app, console, data_app, write_result
from fastpitch.config import Config, apply_overrides

# Options shared by `data check` and `prepare`, so both judge audio by the same settings.
MIN_SECONDS = typer.Option(0.3, "--min-seconds", help="Shorter audio is skipped.")
MAX_SECONDS = typer.Option(30.0, "--max-seconds", help="Longer audio is skipped.")
CONFIG = typer.Option(None, "--config", help="Config JSON (its audio and text sections are used).")
OVERRIDES = typer.Option(
    [], "--set", help="Override a config field, e.g. --set audio.f0_max=600 (repeatable)."
)


def _config(config: Path | None, overrides: list[str]) -> Config:
    return apply_overrides(Config.load(config) if config else Config(), overrides)


@data_app.command("check")
def check(
    dataset: Path = typer.Argument(
        ..., help="LJSpeech directory (metadata.csv + wavs/) or audio_path|text filelist."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the full report as JSON instead of a table."),
    min_seconds: float = MIN_SECONDS,
    max_seconds: float = MAX_SECONDS,
    show: int = typer.Option(20, "--show", help="How many individual issues to list under the summary."),
    config: Path | None = CONFIG,
    overrides: list[str] = OVERRIDES,
) -> None:
    """Validate a dataset: missing or corrupt audio, silence, clipping, lengths, text, sample rates."""
    from fastpitch.data.datasets import Limits, check_dataset, make_frontend

    cfg = _config(config, overrides)
    bar = Progress(
        TextColumn("checking"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console
    )
    task = bar.add_task("check", total=None)
    with bar:
        report = check_dataset(
            dataset,
            cfg.audio,
            make_frontend(cfg.text),
            Limits(min_seconds=min_seconds, max_seconds=max_seconds),
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    summary = report.to_dict()
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    table = Table(title=f"{dataset}: {summary['usable']} of {summary['utterances']} utterances usable")
    for column in ("issue", "count", "action", "example"):
        table.add_column(column)
    examples: dict[str, object] = {}
    for issue in report.issues:
        examples.setdefault(issue.kind, issue)
    for kind, count in sorted(summary["issue_counts"].items(), key=lambda kv: -kv[1]):
        issue = examples[kind]
        table.add_row(kind, str(count), "skipped" if issue.skip else "kept", f"{issue.id}: {issue.message}")
    rates = ", ".join(f"{sr} Hz × {n}" for sr, n in summary["sample_rates"].items())
    console.print(table if report.issues else f"{table.title}: no issues found", highlight=False)
    console.print(
        f"{summary['hours']:.2f} h usable; sample rates: {rates or '-'}; speakers: {len(summary['speakers'])}",
        highlight=False,
    )
    for issue in report.issues[:show]:
        console.print(f"  {issue.id}: {issue.kind}: {issue.message}", highlight=False, markup=False)
    if len(report.issues) > show:
        console.print(f"  … {len(report.issues) - show} more (use --json for all)")


@app.command("prepare")
def prepare_command(
    dataset: Path = typer.Argument(..., help="LJSpeech directory or audio_path|text[|speaker] filelist."),
    out: Path = typer.Option(..., "--out", help="Features folder; the cache goes to OUT/<config hash>/."),
    workers: int = typer.Option(0, "--workers", help="Worker processes (0: one per CPU core)."),
    shard: str | None = typer.Option(None, "--shard", help="Process only shard K of N (K/N, 0-based)."),
    min_seconds: float = MIN_SECONDS,
    max_seconds: float = MAX_SECONDS,
    config: Path | None = CONFIG,
    overrides: list[str] = OVERRIDES,
) -> None:
    """Extract log-mel, F0, voicing and energy for every utterance (parallel, resumable, shardable)."""
    from fastpitch.data.datasets import Limits, make_frontend
    from fastpitch.data.features import parse_shard, prepare

    cfg = _config(config, overrides)
    root = prepare(
        dataset,
        out,
        cfg.audio,
        workers=workers or os.cpu_count() or 1,
        shard=parse_shard(shard) if shard else None,
        frontend=make_frontend(cfg.text),
        limits=Limits(min_seconds=min_seconds, max_seconds=max_seconds),
        progress=True,
    )
    manifest = json.loads((root / "manifest.json").read_text())
    console.print(
        f"{len(manifest['utterances'])} utterances ({manifest['seconds'] / 3600:.2f} h) in {root}; "
        f"{len(manifest['skipped'])} skipped, {manifest['pending']} pending in other shards",
        highlight=False,
    )
    reasons: dict[str, int] = {}
    for issue in manifest["skipped"]:
        reasons[issue["kind"]] = reasons.get(issue["kind"], 0) + 1
    for kind, count in sorted(reasons.items()):
        console.print(f"  skipped {count} × {kind}", highlight=False)
    print(root)


@bench_app.command("prepare")
def bench_prepare_command(
    dataset: Path | None = typer.Option(
        None, "--dataset", help="Corpus to measure on (default: data/slt, else a few festival utterances)."
    ),
    utterances: int = typer.Option(200, "--utterances", help="Utterances run through prepare."),
    f0_files: int = typer.Option(20, "--f0-files", help="Files on which the F0 extractors are compared."),
    workers: int = typer.Option(2, "--workers", help="Worker processes for the throughput run."),
    out: Path = typer.Option(Path("bench-results/prepare.json"), "--out", help="Where to write the JSON."),
) -> None:
    """Prepare throughput (audio seconds per wall second) and F0: dio vs harvest vs librosa pYIN."""
    from fastpitch.data.bench import bench_prepare

    with console.status("benchmarking feature preparation"):
        result = bench_prepare(dataset, n_prepare=utterances, n_f0=f0_files, workers=workers)
    write_result(result, out)
