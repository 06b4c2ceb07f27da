"""`fastpitch say`, `synth`, `voice create|info`, `export`, `bench synth` and `bench peers`: thin shells over
fastpitch.synthesis, fastpitch.voice, fastpitch.export, fastpitch.runtime and fastpitch.bench."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from fastpitch.cli.app import app, bench_app, console, postfilter_option, write_result
from fastpitch.errors import FastPitchError
from fastpitch.voice import DEFAULT_POSTFILTER

voice_app = typer.Typer(
    help="Make and inspect voices (the directories `say` speaks with).", no_args_is_help=True
)
app.add_typer(voice_app, name="voice")

VOICE_HELP = "Voice directory (default: the voice installed with fastpitch)."
ENGINE_HELP = "torch, onnx (ONNX Runtime, needs `fastpitch export`), or auto: onnx when the voice has it."
VOCODER_HELP = "Use another vocoder: griffin-lim, or a vocoder file/run/checkpoint (torch engine)."


SSML_HELP = "Read the text as SSML (default: when it starts with <speak); --no-ssml reads tags as text."
LEXICON_HELP = "Pronunciations (CMUdict format: WORD  HH AH0 L OW1) that win over the dictionary and G2P."


def _synthesizer(
    voice: Path | None,
    engine: str,
    vocoder: str | None,
    threads: int | None,
    max_chars: int | None,
    lexicon: Path | None = None,
    postfilter: float | None = None,
) -> Any:
    """A torch `Synthesizer` or a torch-free `OnnxSynthesizer`, as `engine` asks."""
    from fastpitch.voice import read_voice

    if engine not in ("auto", "torch", "onnx"):
        raise FastPitchError(f"unknown engine {engine!r}; use auto, torch or onnx")
    if threads is not None and threads < 1:
        raise FastPitchError(f"--threads must be 1 or more, not {threads}")
    meta = read_voice(voice)
    if engine == "onnx" or (engine == "auto" and meta.has_onnx and vocoder is None):
        if vocoder is not None:
            raise FastPitchError("--vocoder needs the torch engine (an ONNX voice brings its own vocoder)")
        from fastpitch.runtime import OnnxSynthesizer

        return OnnxSynthesizer(
            meta, threads=threads, max_chars=max_chars, lexicon=lexicon, postfilter=postfilter
        )
    if importlib.util.find_spec("torch") is None:
        if meta.has_onnx:  # the ONNX models were passed over for --engine torch or --vocoder
            asked = "--engine torch" if engine == "torch" else "--vocoder"
            raise FastPitchError(
                f"{asked} needs PyTorch, which is not installed: pip install 'fastpitch[torch]' "
                "(or leave it out to speak with the voice's ONNX models)"
            )
        raise FastPitchError(
            f"voice {meta.path} has no ONNX models and PyTorch is not installed: install the 'torch' extra "
            "of fastpitch, or run `fastpitch export` on the voice where torch is installed"
        )
    from fastpitch.synthesis import Synthesizer

    return Synthesizer.load(
        meta.path,
        vocoder=vocoder,
        threads=threads,
        max_chars=max_chars,
        lexicon=lexicon,
        postfilter=postfilter,
    )


def _read_text(text: str | None, text_file: Path | None) -> str:
    if text_file is not None:
        if text is not None:
            raise FastPitchError("give the text either as an argument or with --text-file, not both")
        try:
            return text_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise FastPitchError(f"cannot read {text_file}: {e}") from None
    if text == "-" or (text is None and not sys.stdin.isatty()):
        return sys.stdin.read()
    if text is None:
        raise FastPitchError("no text: give it as an argument, '-' to read stdin, or --text-file FILE")
    return text


@app.command("say")
def say_command(
    text: str | None = typer.Argument(
        None, help="What to say; '-' (or nothing, with piped input) reads stdin."
    ),
    out: Path = typer.Option(Path("out.wav"), "--out", "-o", help="Output file: .wav, .flac or .ogg."),
    text_file: Path | None = typer.Option(None, "--text-file", "-f", help="Read the text from this file."),
    voice: Path | None = typer.Option(None, "--voice", help=VOICE_HELP),
    speaker: str | None = typer.Option(
        None, "--speaker", help="Speaker name or index (multi-speaker voices)."
    ),
    pace: float = typer.Option(1.0, "--pace", help="Speaking rate: 1.5 is 50% faster, 0.8 slower."),
    pitch_shift: float = typer.Option(0.0, "--pitch-shift", help="Shift the pitch by this many semitones."),
    pitch_range: float = typer.Option(
        1.0, "--pitch-range", help="Scale the melody: 0 monotone, 1.5 livelier."
    ),
    energy: float = typer.Option(1.0, "--energy", help="Scale the loudness contour (1 = as predicted)."),
    vocoder: str | None = typer.Option(None, "--vocoder", help=VOCODER_HELP),
    engine: str = typer.Option("auto", "--engine", help=ENGINE_HELP),
    threads: int | None = typer.Option(None, "--threads", help="CPU threads (default: the engine's choice)."),
    max_chars: int | None = typer.Option(None, "--max-chars", help="Refuse longer text (default: no limit)."),
    ssml: bool | None = typer.Option(None, "--ssml/--no-ssml", help=SSML_HELP),
    lexicon: Path | None = typer.Option(None, "--lexicon", help=LEXICON_HELP),
    postfilter: float | None = postfilter_option(),
    timestamps: Path | None = typer.Option(
        None, "--timestamps", help="Also write word timestamps: .json (words, marks), .srt or .vtt."
    ),
    phones: bool = typer.Option(False, "--phones", help="Add every phone's times to the .json timestamps."),
    save_prosody: Path | None = typer.Option(
        None,
        "--save-prosody",
        help="Also write how it was said (every symbol's duration, pitch, energy) as JSON.",
    ),
    prosody: Path | None = typer.Option(
        None, "--prosody", help="Speak a prosody JSON (from --save-prosody, maybe edited) instead of text."
    ),
    like: Path | None = typer.Option(
        None,
        "--like",
        help="A recording of the text: speak with its timing and melody (any voice, any rate).",
    ),
) -> None:
    """Speak text (or SSML) into an audio file; long text is split into sentences and joined with pauses.
    With --prosody, speak a prosody document; with --like, say the text like a recording of it."""
    from fastpitch.audio import AUDIO_FORMATS, save_audio
    from fastpitch.runtime.subtitles import TIMESTAMP_FORMATS, write_timestamps

    if out.suffix.lower() not in AUDIO_FORMATS:
        raise FastPitchError(
            f"unsupported output format {out.suffix!r}; use one of {', '.join(AUDIO_FORMATS)}"
        )
    if phones and (timestamps is None or timestamps.suffix.lower() != ".json"):
        raise FastPitchError(
            "--phones adds the phones to JSON timestamps: give --timestamps FILE.json with it"
        )
    if timestamps is not None and timestamps.suffix.lower() not in TIMESTAMP_FORMATS:
        raise FastPitchError(
            f"unsupported timestamps format {timestamps.suffix!r}; use one of {', '.join(TIMESTAMP_FORMATS)}"
        )
    document = None
    if prosody is not None:
        from fastpitch.runtime.prosody import Prosody

        if text is not None or text_file is not None or like is not None:
            raise FastPitchError("--prosody holds its own text: give no text, --text-file or --like with it")
        document = Prosody.load(prosody)
        content = None
    else:
        content = _read_text(text, text_file)
    controls = {"pace": pace, "pitch_shift": pitch_shift, "pitch_range": pitch_range, "energy": energy}
    if document is not None or like is not None:
        from fastpitch.runtime.prosody import DEFAULT_SETTINGS

        beside = [f"--{k.replace('_', '-')}" for k, v in controls.items() if v != DEFAULT_SETTINGS[k]]
        beside += ["--speaker"] if speaker is not None and document is not None else []
        if beside:
            hint = (
                "--prosody holds its own speaker and settings: edit them in the file"
                if document is not None
                else "--like speaks as the recording does: save the prosody (--save-prosody) and edit it"
            )
            raise FastPitchError(f"{', '.join(beside)} cannot apply; {hint}")
    tts = _synthesizer(voice, engine, vocoder, threads, max_chars, lexicon, postfilter)
    with console.status("speaking"):
        if like is not None:
            from fastpitch.audio import load_audio

            recording, rate = load_audio(like)
            document = tts.like(content, recording, rate, speaker=speaker, ssml=ssml)
        if document is not None:
            result = tts.synthesize_detailed(prosody=document)
        elif timestamps is None and save_prosody is None:
            result = None
            audio, sr = tts.synthesize(content, speaker=speaker, ssml=ssml, **controls)
        else:
            result = tts.synthesize_detailed(content, speaker=speaker, ssml=ssml, **controls)
        if result is not None:
            audio, sr = result.audio, result.sample_rate
    save_audio(out, audio, sr)
    console.print(f"wrote {out} ({len(audio) / sr:.2f} s at {sr} Hz)", highlight=False)
    if save_prosody is not None and result is not None and result.prosody is not None:
        result.prosody.save(save_prosody)
        console.print(f"wrote {save_prosody} ({len(result.symbols)} symbols)", highlight=False)
    if timestamps is not None and result is not None:
        write_timestamps(timestamps, result, phones)
        n = len(result.words)
        console.print(f"wrote {timestamps} ({n} word{'s' if n != 1 else ''})", highlight=False)


def _read_lines(path: Path) -> list[tuple[str, str]]:
    """(name, text) for each non-empty line; `id|text` lines name their file, others are numbered."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise FastPitchError(f"cannot read {path}: {e}") from None
    items, first_line = [], {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        name, sep, rest = line.partition("|")
        safe = sep and name.strip() and all(c.isalnum() or c in "-_." for c in name.strip())
        item = (name.strip(), rest.split("|")[0]) if safe else (f"{number:05d}", line)
        if item[0] in first_line:  # its file would overwrite an earlier line's
            raise FastPitchError(
                f"{path}: line {number} would be saved as {item[0]!r}, as line {first_line[item[0]]} is: "
                "give each line its own id"
            )
        first_line[item[0]] = number
        items.append(item)
    if not items:
        raise FastPitchError(f"{path} has no lines to say")
    return items


@app.command("synth")
def synth_command(
    lines: Path = typer.Argument(..., help="Text file: one utterance per line (or id|text lines)."),
    out_dir: Path = typer.Option(..., "--out-dir", "-o", help="Directory for the audio files (created)."),
    audio_format: str = typer.Option("wav", "--format", help="wav, flac or ogg."),
    voice: Path | None = typer.Option(None, "--voice", help=VOICE_HELP),
    speaker: str | None = typer.Option(None, "--speaker", help="Speaker name or index."),
    pace: float = typer.Option(1.0, "--pace", help="Speaking rate (1.0 = as trained)."),
    pitch_shift: float = typer.Option(0.0, "--pitch-shift", help="Pitch shift in semitones."),
    pitch_range: float = typer.Option(1.0, "--pitch-range", help="Melody scale (0 = monotone)."),
    energy: float = typer.Option(1.0, "--energy", help="Loudness contour scale."),
    vocoder: str | None = typer.Option(None, "--vocoder", help=VOCODER_HELP),
    engine: str = typer.Option("auto", "--engine", help=ENGINE_HELP),
    threads: int | None = typer.Option(None, "--threads", help="CPU threads."),
    batch: int = typer.Option(16, "--batch", help="Lines synthesized together."),
    ssml: bool | None = typer.Option(None, "--ssml/--no-ssml", help=SSML_HELP),
    lexicon: Path | None = typer.Option(None, "--lexicon", help=LEXICON_HELP),
    postfilter: float | None = postfilter_option(),
) -> None:
    """Speak every line of a file into its own audio file (LINE_NUMBER.wav, or ID.wav for id|text lines)."""
    from fastpitch.audio import save_audio

    if f".{audio_format.lower()}" not in (".wav", ".flac", ".ogg"):
        raise FastPitchError(f"unsupported format {audio_format!r}; use wav, flac or ogg")
    items = _read_lines(lines)
    tts = _synthesizer(voice, engine, vocoder, threads, None, lexicon, postfilter)
    out_dir.mkdir(parents=True, exist_ok=True)
    controls = {"pace": pace, "pitch_shift": pitch_shift, "pitch_range": pitch_range, "energy": energy}
    progress = Progress(
        TextColumn("synthesizing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console
    )
    seconds = 0.0
    with progress:
        task = progress.add_task("synth", total=len(items))
        for start in range(0, len(items), max(batch, 1)):
            chunk = items[start : start + max(batch, 1)]
            audios = tts.synthesize_batch([t for _, t in chunk], speaker=speaker, ssml=ssml, **controls)
            for (name, _), audio in zip(chunk, audios, strict=True):
                save_audio(out_dir / f"{name}.{audio_format.lower()}", audio, tts.sample_rate)
                seconds += len(audio) / tts.sample_rate
            progress.advance(task, len(chunk))
    console.print(f"wrote {len(items)} files ({seconds:.1f} s of audio) to {out_dir}", highlight=False)


@voice_app.command("create")
def voice_create_command(
    checkpoint: Path = typer.Argument(..., help="Acoustic model: a training run directory or checkpoint."),
    out: Path = typer.Option(..., "--out", "-o", help="The voice directory to write."),
    vocoder: Path | None = typer.Option(
        None, "--vocoder", help="Vocoder (saved vocoder, run, checkpoint); default Griffin-Lim."
    ),
    name: str | None = typer.Option(None, "--name", help="Voice name (default: the directory name)."),
    speakers: str | None = typer.Option(
        None, "--speakers", help="Comma-separated speaker names in id order."
    ),
    description: str = typer.Option("", "--description", help="One paragraph for the model card."),
    fp32: bool = typer.Option(False, "--fp32", help="Store fp32 weights (default fp16: half the size)."),
    postfilter: str = typer.Option(
        str(DEFAULT_POSTFILTER),
        "--postfilter",
        help="Strength of the mel post-filter the voice speaks with, 0 to 2 (0: none), or one per speaker: "
        "heart=0.4,slt=0.2 (a speaker left out: none). README, 'The mel post-filter'.",
    ),
) -> None:
    """Make a voice from training checkpoints (EMA weights when present, no aligner)."""
    from fastpitch.voice_create import create_voice

    names = [s.strip() for s in speakers.split(",")] if speakers else None
    strengths = _strengths(postfilter)
    made = create_voice(
        checkpoint,
        vocoder,
        out,
        fp16=not fp32,
        name=name,
        speakers=names,
        description=description,
        postfilter=strengths,
    )
    console.print(f"wrote voice {made.name!r} to {made.path}", highlight=False)


def _strengths(text: str) -> float | dict[str, float]:
    """`--postfilter`: a number, or speaker=number pairs separated by commas (checked by `voice create`)."""
    try:
        if "=" not in text:
            return float(text)
        pairs = [item.split("=", 1) for item in text.split(",") if item.strip()]
        return {name.strip(): float(value) for name, value in pairs}
    except ValueError:
        raise FastPitchError(
            f"--postfilter takes a number or speaker=number pairs (heart=0.4,slt=0.2), not {text!r}"
        ) from None


@voice_app.command("set-vocoder")
def voice_set_vocoder_command(
    voice: Path = typer.Argument(..., help="The voice directory to change."),
    vocoder: str = typer.Argument(..., help="Vocoder (saved vocoder, run, checkpoint) or griffin-lim."),
    fp32: bool = typer.Option(False, "--fp32", help="Store fp32 weights (default fp16: half the size)."),
) -> None:
    """Give a voice another vocoder, keeping its acoustic model; run `fastpitch export` again afterwards."""
    from fastpitch.voice_create import set_vocoder

    made = set_vocoder(voice, None if vocoder == "griffin-lim" else vocoder, fp16=not fp32)
    console.print(f"voice {made.name!r} in {made.path} now uses {made.vocoder_type}", highlight=False)


@voice_app.command("info")
def voice_info_command(voice: Path | None = typer.Argument(None, help=VOICE_HELP)) -> None:
    """Describe a voice as JSON: speakers, sizes, vocoder, ONNX, provenance."""
    from fastpitch.voice import count_parameters, read_voice

    meta = read_voice(voice)
    files = {p.name: p.stat().st_size for p in sorted(meta.path.iterdir()) if p.is_file()}
    info = {
        "name": meta.name,
        "path": str(meta.path),
        "speakers": meta.speakers,
        "sample_rate": meta.audio.sample_rate,
        "text": {
            "mode": meta.text.mode,
            "symbol_set": meta.text.symbol_set,
            "symbols": len(meta.text.symbols),
        },
        "acoustic_parameters": count_parameters(meta)
        if meta.file("acoustic.safetensors").is_file()
        else None,
        "vocoder": meta.vocoder_type,
        "postfilter": meta.postfilter,
        "onnx": meta.has_onnx,
        "files": files,
        "total_bytes": sum(files.values()),
        "pitch": meta.pitch,
        "provenance": meta.provenance,
    }
    print(json.dumps(info, indent=2))


@app.command("export")
def export_command(
    voice: Path | None = typer.Argument(None, help=VOICE_HELP),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Write a copy of the voice here (default: in place)."
    ),
    standalone: bool = typer.Option(
        False,
        "--standalone",
        help="Put every weight inside the ONNX files (for deployments without the .safetensors files; "
        "the voice grows by its weights' size).",
    ),
    int8: bool = typer.Option(
        True,
        "--int8/--fp32",
        help="Quantize the decoder's and the vocoder's matrix products to int8 when ONNX Runtime loads them "
        "(about 1.7x faster on a CPU, the voice's size unchanged), or keep torch's fp32 numbers.",
    ),
) -> None:
    """Add ONNX models to a voice (acoustic + vocoder), checked against torch, for fastpitch.runtime."""
    from fastpitch.export import export_voice

    with console.status("exporting to ONNX"):
        made = export_voice(voice, out, standalone=standalone, int8=int8)
    files = [made.onnx[k] for k in ("acoustic", "acoustic_single", "vocoder") if made.onnx.get(k)]
    quantized = made.onnx.get("int8") or []
    precision = f"int8 products in {', '.join(quantized)}" if quantized else "fp32"
    console.print(f"wrote {', '.join(files)} ({precision}) to {made.path}", highlight=False)


@bench_app.command("synth")
def bench_synth_command(
    voice: Path | None = typer.Option(
        None, "--voice", help="Voice to time (default: the installed voice, else an untrained --preset one)."
    ),
    preset: str = typer.Option("default", "--preset", help="Model preset of the untrained stand-in voice."),
    vocoder: str = typer.Option(
        "istft", "--vocoder", help="Vocoder of the stand-in voice: istft, hifigan-v3, griffin-lim."
    ),
    stand_in: bool = typer.Option(
        False, "--stand-in", help="Time an untrained --preset voice even when a default voice is installed."
    ),
    seconds: float = typer.Option(10.0, "--seconds", help="Length of the timed utterance."),
    threads: int = typer.Option(2, "--threads", help="CPU threads for torch and ONNX Runtime."),
    repeats: int = typer.Option(3, "--repeats", help="Timed runs per stage (the best counts)."),
    out: Path = typer.Option(Path("bench-results/synth.json"), "--out", help="Where to write the JSON."),
) -> None:
    """Per-stage time and real-time factor, torch eager vs ONNX Runtime, against this machine's FLOP floor."""
    from fastpitch.bench.synth import bench_synth

    with console.status("benchmarking synthesis"):
        result = bench_synth(
            voice=voice,
            preset=preset,
            vocoder=vocoder,
            seconds=seconds,
            threads=threads,
            repeats=repeats,
            stand_in=stand_in,
        )
    write_result(result, out)


@bench_app.command("prosody")
def bench_prosody_command(
    voice: Path | None = typer.Option(None, "--voice", help=VOICE_HELP),
    dataset: Path | None = typer.Option(
        None,
        "--dataset",
        help="A corpus with timings/ (fastpitch corpus synth ... --voices festival:cmu_us_slt_arctic_hts): "
        "scores speaking its held-out recordings' texts like them.",
    ),
    limit: int = typer.Option(20, "--limit", help="Held-out recordings used at most."),
    out: Path = typer.Option(Path("bench-results/prosody.json"), "--out", help="Where to write the JSON."),
) -> None:
    """Prosody documents: round trip (identical samples), one word edited (its span and F0, the others'),
    bad documents refused, and prosody transfer against recordings."""
    from fastpitch.bench.prosody import bench_prosody

    with console.status("benchmarking prosody"):
        result = bench_prosody(voice, dataset, limit)
    write_result(result, out)


@bench_app.command("peers")
def bench_peers_command(
    voice: Path | None = typer.Option(None, "--voice", help=VOICE_HELP),
    engines: str = typer.Option(
        "onnx,torch,hibari",
        "--engines",
        help='Comma-separated: onnx, torch, hibari (hibari-tts; pip install "fastpitch\\[hibari]").',
    ),
    threads: str = typer.Option(
        "1,2", "--threads", help="Comma-separated thread counts; each its own process."
    ),
    rounds: int = typer.Option(3, "--rounds", help="Timed rounds over the sentences (the best counts)."),
    sentences: int = typer.Option(40, "--sentences", help="How many of the 40 built-in sentences to read."),
    quality: bool | None = typer.Option(
        None,
        "--quality/--no-quality",
        help="DNSMOS and pocketsphinx WER of each engine's audio (default: where speechmos and pocketsphinx "
        "are installed).",
    ),
    out: Path = typer.Option(Path("bench-results/peers.json"), "--out", help="Where to write the JSON."),
) -> None:
    """fastpitch (ONNX runtime, torch) against hibari-tts on the same sentences: real-time factor, per-sentence
    latency and their ratios, each engine in its own process at each thread count."""
    from fastpitch.bench.peers import bench_peers

    try:
        thread_counts = [int(n) for n in threads.split(",") if n.strip()]
    except ValueError:
        raise FastPitchError(f"--threads takes comma-separated integers, not {threads!r}") from None
    if any(n < 1 for n in thread_counts):
        raise FastPitchError("--threads: every thread count must be at least 1")
    with console.status("benchmarking fastpitch against its peers"):
        result = bench_peers(
            voice=voice,
            engines=[e.strip() for e in engines.split(",") if e.strip()],
            threads=thread_counts,
            rounds=rounds,
            sentences=sentences,
            quality=quality,
        )
    write_result(result, out)
