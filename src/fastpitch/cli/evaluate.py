"""`fastpitch eval`: a thin shell over `fastpitch.evaluation.evaluate`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from fastpitch.cli.app import app, console, postfilter_option


@app.command("eval")
def eval_command(
    voice: Path | None = typer.Argument(
        None, help="Voice directory (default: the voice installed with fastpitch)."
    ),
    dataset: Path = typer.Option(
        ...,
        "--dataset",
        "-d",
        help="LJSpeech-layout corpus with splits/<split>.txt (and timings/ for durations).",
    ),
    split: str = typer.Option("test", "--split", help="Which held-out split to evaluate on."),
    limit: int | None = typer.Option(
        None, "--limit", "-n", help="Evaluate only N utterances, taken in turn from each speaker."
    ),
    vocoder: str | None = typer.Option(
        None, "--vocoder", help="Use another vocoder: griffin-lim, or a vocoder file/run/checkpoint."
    ),
    speaker: str | None = typer.Option(
        None,
        "--speaker",
        help="Speak as this speaker (name or index) and keep only the corpus's utterances of it.",
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        help="Output directory for report.json, audio/ and figures/ (default: eval-results/VOICE).",
    ),
    html: bool = typer.Option(
        False, "--html", help="Also write index.html with the figures and audio players."
    ),
    figures: int = typer.Option(
        3, "--figures", help="Utterances to draw figures (and keep listening copies) for."
    ),
    asr: bool = typer.Option(True, "--asr/--no-asr", help="Measure word error rates with PocketSphinx."),
    mos: bool = typer.Option(True, "--mos/--no-mos", help="Score naturalness with DNSMOS (P.808, P.835)."),
    controls: bool = typer.Option(
        True, "--controls/--no-controls", help="Measure what --pitch-shift and --pace do to the audio."
    ),
    threads: int | None = typer.Option(None, "--threads", help="CPU threads for PyTorch."),
    postfilter: float | None = postfilter_option(),
) -> None:
    """Measure a voice on held-out sentences against their recordings: word error rate (ours and the
    recording's, same recognizer), MCD-DTW (ours and Griffin-Lim resynthesis of the reference), DNSMOS
    naturalness (ours, the recording's and its resyntheses'), each also per speaker, F0 and duration errors
    of the predicted prosody, and the real-time factor of each stage."""
    from fastpitch.evaluation import evaluate
    from fastpitch.voice import read_voice

    out_dir = out if out is not None else Path("eval-results") / read_voice(voice).name
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("loading", total=None)

        def on_progress(done: int, total: int, uid: str) -> None:
            progress.update(task, completed=done, total=total, description=f"evaluated {uid}")

        report = evaluate(
            voice,
            dataset,
            split=split,
            limit=limit,
            vocoder=vocoder,
            speaker=speaker,
            out_dir=out_dir,
            figures=figures,
            html=html,
            asr=asr,
            mos=mos,
            controls=controls,
            threads=threads,
            postfilter=postfilter,
            on_progress=on_progress,
        )
    console.print(_summary_table(report))
    written = out_dir / ("index.html" if html else "report.json")
    console.print(f"wrote {out_dir / 'report.json'}" + (f" and {written}" if html else ""), highlight=False)
    print(
        json.dumps(
            {
                k: report[k]
                for k in (
                    "wer",
                    "mcd_dtw_db",
                    "frame_rate_hum",
                    "dnsmos",
                    "f0",
                    "durations",
                    "speed",
                    "per_speaker",
                    "controls",
                )
                if k in report
            }
        )
    )


def _fmt(value: Any) -> str:
    return "–" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _interval(figures: dict[str, Any], key: str) -> str:
    """' (95 %: low to high)' for a figure's bootstrap interval, '' where the report has none."""
    bounds = figures.get(key)
    return f" (95 %: {bounds[0]:.3f} to {bounds[1]:.3f})" if bounds else ""


def _summary_table(report: dict[str, Any]) -> Table:
    from fastpitch.evaluation.controls import PITCH_TARGET

    table = Table(title=f"{report['voice']['name']} on {report['dataset']['utterances']} utterances")
    table.add_column("metric")
    table.add_column("value", justify="right")
    wer = report.get("wer")
    if wer:
        for name in ("reference", "griffin_lim_resynthesis", "vocoder_resynthesis", "synthesized"):
            if name in wer:
                table.add_row(f"WER {name}", _fmt(wer[name]))
        if wer.get("synthesized_vs_reference") is not None:
            table.add_row(
                "WER synthesized / reference",
                _fmt(wer["synthesized_vs_reference"]) + _interval(wer, "synthesized_vs_reference_95"),
            )
    for name, value in report["mcd_dtw_db"].items():
        table.add_row(f"MCD-DTW dB {name}", _fmt(value))
    for name, value in (report.get("frame_rate_hum") or {}).items():
        table.add_row(f"frame-rate hum {name}", _fmt(value))
    for name, scores in (report.get("dnsmos") or {}).items():
        if scores:
            table.add_row(
                f"DNSMOS P.808 / OVRL {name}", f"{_fmt(scores['p808_mos'])} / {_fmt(scores['ovrl_mos'])}"
            )
    p808 = (report.get("dnsmos_vs_reference") or {}).get("p808_mos")
    if p808 and p808["difference"] is not None:
        table.add_row(
            "DNSMOS P.808 synthesized - reference", _fmt(p808["difference"]) + _interval(p808, "interval_95")
        )
    f0 = report["f0"]
    table.add_row("F0 RMSE cents", _fmt(f0["rmse_cents"]))
    table.add_row("F0 RMSE cents, per symbol", _fmt(f0["per_symbol_rmse_cents"]))
    table.add_row("F0 RMSE cents, per-symbol floor", _fmt(f0["step_floor_rmse_cents"]))
    table.add_row("F0 correlation", _fmt(f0["correlation"]))
    table.add_row("V/UV error", _fmt(f0["vuv_error"]))
    if report.get("durations"):
        table.add_row("duration MAE ms", _fmt(report["durations"]["mae_ms"]))
    for stage in ("frontend", "acoustic", "vocoder", "total"):
        table.add_row(f"RTF {stage}", _fmt(report["speed"][f"{stage}_rtf"]))
    for name, response in (report.get("controls") or {}).get("speakers", {}).items():
        shift = next((r for r in response["pitch"] if r["shift"] == PITCH_TARGET[0]), None)
        if shift is not None:
            table.add_row(
                f"{name}: F0 ratio at {shift['shift']:+g} st (wanted {shift['wanted']:.3f})",
                _fmt(shift["ratio"]) + _interval(shift, "ratio_95"),
            )
        for row in response["pace"]:
            table.add_row(
                f"{name}: length at pace {row['pace']:g} (wanted {row['wanted']:g})",
                _fmt(row["length_ratio"]),
            )
    return table
