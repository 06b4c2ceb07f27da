"""`fastpitch text` (what the model will read) and `fastpitch bench text`."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import typer

from fastpitch.atomic import atomic_write_text
from fastpitch.cli.app import app, bench_app, console
from fastpitch.config import TextConfig
from fastpitch.errors import FastPitchError


@app.command("text")
def text_command(
    text: str = typer.Argument(..., help='The text to read; "-" reads standard input.'),
    mode: str = typer.Option("phonemes", "--mode", "-m", help="phonemes, graphemes or mixed."),
    symbol_set: str = typer.Option("en-v1", "--symbol-set", help="Built-in symbol table to encode with."),
    as_json: bool = typer.Option(
        False, "--json", help="Print JSON (sentences, normalized text, symbols, ids)."
    ),
    ssml: bool | None = typer.Option(
        None, "--ssml/--no-ssml", help="Read the text as SSML (default: when it starts with <speak)."
    ),
    lexicon: Path | None = typer.Option(None, "--lexicon", help="Pronunciations in CMUdict format."),
) -> None:
    """Show how text is normalized and which symbols the model reads, sentence by sentence; for markup
    (SSML, {ARPAbet}) the words and symbols of each utterance."""
    from fastpitch.text import TextError, TextFrontend
    from fastpitch.text.markup import has_braces, is_ssml

    if text == "-":
        text = sys.stdin.read()
    frontend = TextFrontend(TextConfig(mode=mode, symbol_set=symbol_set), lexicon=lexicon)
    sentences = []
    markup = is_ssml(text) if ssml is None else ssml
    if markup or has_braces(text):
        for utt in frontend.utterances(text, markup):
            words = " ".join(w for w, _, _ in utt.words)
            ids = frontend.symbols.encode(utt.symbols)
            sentences.append({"text": utt.text, "normalized": words, "symbols": utt.symbols, "ids": ids})
    for sentence in frontend.split_sentences(text) if not sentences else []:
        try:
            normalized = frontend.normalize(sentence)
        except TextError:  # a "sentence" of emoji or punctuation only: nothing to say, skip it
            continue
        symbols = frontend.phonemize(normalized)
        ids = frontend.symbols.encode(symbols)
        sentences.append({"text": sentence, "normalized": normalized, "symbols": symbols, "ids": ids})
    if not sentences:
        raise TextError("nothing to read aloud in this text")
    if as_json:
        info = {"mode": mode, "symbol_set": frontend.symbols.version, "sentences": sentences}
        print(json.dumps(info, indent=2, ensure_ascii=False))
        return
    for i, s in enumerate(sentences, 1):
        prefix = f"[{i}] " if len(sentences) > 1 else ""
        print(f"{prefix}normalized: {s['normalized']}")
        print(f"{prefix}symbols ({len(s['symbols'])}): {' '.join(s['symbols'])}")


@bench_app.command("text")
def bench_text(
    sentences: Path = typer.Option(
        None, "--sentences", help="One sentence per line (default: 1,000 built in)."
    ),
    out: Path = typer.Option(
        Path("bench-results/text.json"), "--out", help="Where to write the JSON result."
    ),
    repeats: int = typer.Option(3, "--repeats", min=1, help="Warm passes to time; the best counts."),
) -> None:
    """Sentences per second through normalization + phonemization, beside phonemizer + espeak-ng."""
    from fastpitch.text import bench

    if sentences is not None:
        if not sentences.is_file():
            raise FastPitchError(f"sentence file not found: {sentences}")
        lines = [line.strip() for line in sentences.read_text(encoding="utf-8").splitlines() if line.strip()]
        if not lines:
            raise FastPitchError(f"sentence file {sentences} holds no sentences")
        source = str(sentences)
    else:
        lines, source = bench.default_sentences()
    with console.status(f"timing {len(lines)} sentences…"):
        result = bench.run(lines, source, repeats=repeats)
    write_json(result, out)


def write_json(result: dict, out: Path) -> None:
    """Print the result and write it to `out` atomically."""
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, text + "\n")
    console.print(f"wrote {out}")


@bench_app.command("ssml")
def bench_ssml(
    count: int = typer.Option(5000, "--count", min=1, help="Documents to try (the attacks included)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the document generator."),
    speak: bool = typer.Option(
        False,
        "--speak",
        help="Synthesize each document with the default voice too (slow), not only parse it.",
    ),
    out: Path = typer.Option(
        Path("bench-results/ssml.json"), "--out", help="Where to write the JSON result."
    ),
) -> None:
    """Generated and hostile SSML documents: each must give speech or a clear error within 5 s, reading no file."""
    from fastpitch.text import TextFrontend, fuzz

    if speak:
        from fastpitch.runtime import OnnxSynthesizer

        tts = OnnxSynthesizer.load(max_chars=20_000)
        tts.synthesize(WARM_UP, ssml=True)

        def handle(doc: str) -> object:
            return tts.synthesize(doc, ssml=True)

    else:
        frontend = TextFrontend(TextConfig())
        frontend.utterances(WARM_UP, ssml=True)

        def handle(doc: str) -> object:
            return frontend.utterances(doc, ssml=True)

    with console.status(f"trying {count} SSML documents…"):
        started = time.perf_counter()
        result = fuzz.run(handle, count, seed)
    result = {"bench": "ssml", "speak": speak, "seconds": round(time.perf_counter() - started, 1), **result}
    write_json(result, out)
    if not result["ok"]:
        raise FastPitchError("some SSML documents crashed, hung or read a file (see the JSON above)")


# Loads everything a document can reach (dictionary, G2P, number words) before any file access is watched.
WARM_UP = (
    '<speak>Zorblatting 12 <say-as interpret-as="date" format="dmy">5/1/2024</say-as> $3.50 3:30pm '
    '<phoneme alphabet="ipa" ph="ʃɪp">x</phoneme> {HH AH0 L OW1} <prosody rate="50%">slow</prosody>.</speak>'
)


@bench_app.command("g2p")
def bench_g2p(
    out: Path = typer.Option(Path("bench-results/g2p.json"), "--out", help="Where to write the JSON result."),
) -> None:
    """Accuracy of the shipped G2P model on the cmudict words held out from its training."""
    from fastpitch.text.g2p import G2P, MODEL_PATH, dictionary_entries, evaluate, is_held_out

    with console.status("scoring the G2P model on held-out dictionary words…"):
        scores = evaluate(G2P(), [e for e in dictionary_entries() if is_held_out(e[0])])
    write_json({"bench": "g2p", "model": MODEL_PATH.name, **scores}, out)
