"""`fastpitch corpus synth`: make an LJSpeech-format training corpus offline with festival, espeak-ng and hibari."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from fastpitch.cli.app import console, corpus_app


@corpus_app.command("synth")
def synth(
    out_dir: Path = typer.Argument(
        ..., help="Output directory (created; an unfinished corpus there resumes)."
    ),
    voices: str = typer.Option(
        "festival:cmu_us_slt_arctic_hts",
        "--voices",
        help="Comma-separated engine:voice list: festival:cmu_us_slt_arctic_hts, festival:kal_diphone, "
        "festival:ked_diphone, espeak-ng:en-us, espeak-ng:en-gb-x-rp, ..., hibari:heart (the natural teacher; "
        'pip install "fastpitch\\[hibari]"). Each voice reads every sentence.',
    ),
    count: int | None = typer.Option(
        None, "--count", min=1, help="Number of distinct sentences (default 2000, or all of --sentences)."
    ),
    sentences: Path | None = typer.Option(
        None,
        "--sentences",
        help="Read these sentences (a text file, one per line, test split first, then validation; --seed is "
        "not used) instead of choosing from WordNet: the choice follows the frontend's phones, so a list keeps a "
        "recipe's split. A SENTENCES_LICENSE.txt beside the file goes into the corpus.",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the sentence choice and the split."),
    workers: int = typer.Option(0, "--workers", help="Parallel engine processes (0: one per CPU core)."),
    test_count: int = typer.Option(100, "--test-count", help="Sentences held out for testing."),
    val_count: int = typer.Option(50, "--val-count", help="Sentences held out for validation."),
) -> None:
    """Synthesize a corpus: wavs/, metadata.csv, splits/, and per-phone timings/ for festival voices."""
    from fastpitch.data.corpus import read_sentences, synthesize_corpus

    listed = read_sentences(sentences) if sentences is not None else None
    license_file = sentences.parent / "SENTENCES_LICENSE.txt" if sentences is not None else None
    license_text = (
        license_file.read_text(encoding="utf-8") if license_file and license_file.is_file() else None
    )

    progress = Progress(
        TextColumn("synthesizing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console
    )
    task = progress.add_task("synth", total=None)

    def on_progress(done: int, total: int) -> None:
        progress.start()  # only once the sentences are chosen and the voices checked
        progress.update(task, completed=done, total=total)

    try:
        summary = synthesize_corpus(
            out_dir,
            voices=[v for v in voices.split(",") if v.strip()],
            count=count,
            seed=seed,
            workers=workers or None,
            test_count=test_count,
            val_count=val_count,
            on_progress=on_progress,
            sentences=listed,
            sentences_license=license_text,
        )
    finally:
        progress.stop()
    print(json.dumps(summary.__dict__, indent=2))
