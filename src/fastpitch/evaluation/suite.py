"""`fastpitch eval`: how well a voice speaks the held-out sentences of a corpus, against their recordings.

For each test utterance the voice synthesizes the transcript (the corpus's normalized column) and is compared
with the recording:

- intelligibility: PocketSphinx transcribes the recording, its Griffin-Lim resynthesis and our audio; word
  error rates side by side (the recognizer's own error on the recording is the yardstick);
- spectral distance: MCD-DTW of our audio, and of the Griffin-Lim (and the voice's vocoder) resynthesis of
  the recording's own mel, the floor that a vocoder has to beat, in the same run;
- naturalness: DNSMOS P.808 and P.835 (SIG, BAK, OVRL) of the recording, its resyntheses and our audio
  (`fastpitch.evaluation.naturalness`);
- prosody: the model's *predicted* pitch contour (per symbol, spread over its frames) against the
  recording's F0 after DTW of the two mels, and the predicted durations against the recording's phone
  timings (`timings/ID.json`) mapped onto the same symbols by `fastpitch.data.timings`;
- speed: the real-time factor of the text frontend, the acoustic model and the vocoder, after a warm-up.

Word error rates, MCD and DNSMOS are reported for the whole set and for each of the corpus's speakers.

Definitions are in `fastpitch.evaluation.metrics` and are repeated in the report itself.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fastpitch import __version__
from fastpitch.audio import extract_f0, load_audio, mel_spectrogram_np, save_audio
from fastpitch.data.datasets import DatasetError, Utterance, read_dataset, read_split
from fastpitch.data.timings import (
    TimingsError,
    durations_from_phones,
    find_timings,
    read_timings,
    score_boundaries,
    symbol_kind,
)
from fastpitch.errors import FastPitchError
from fastpitch.evaluation import metrics as M
from fastpitch.evaluation.controls import control_response
from fastpitch.evaluation.naturalness import check_dnsmos, dnsmos, mean_scores
from fastpitch.synthesis import Synthesizer
from fastpitch.vocoders import GriffinLim

log = logging.getLogger(__name__)

STAGES = ("frontend", "acoustic", "vocoder")
WARMUP_TEXT = "The evaluation starts now."
CONTROL_SENTENCES = 6  # held-out sentences per speaker for the pitch-shift and pace sweep
DEFINITIONS = {
    "wer": "word error rate of PocketSphinx transcripts against the corpus's normalized text, both lower-cased "
    "and reduced to words; total edits / total reference words over the set",
    "mcd_dtw_db": "mean over the DTW path of 10/ln10 * sqrt(2 * sum_{k=1..24} (c_k - c'_k)^2), c = WORLD "
    "mel-cepstrum (CheapTrick envelope, alpha 0.41, order 24, c0 excluded) of audio resampled to 16 kHz, "
    "5 ms frames; averaged over utterances",
    "f0": "model's predicted pitch (per symbol, spread over its frames) vs the reference's WORLD dio+stonemask "
    "F0, paired along a DTW path of the two log-mels (mel-cepstra c1..c24); RMSE in cents and Pearson "
    "correlation of log F0 over frames voiced in both, V/UV error over all path frames; predicted voicing = "
    "frames of symbols that are not pauses, punctuation or voiceless consonants; pooled over the set",
    "f0_per_symbol_rmse_cents": "predicted pitch of each voiced symbol vs the mean reference F0 over its "
    "reference frames (the quantity the pitch predictor is trained on), pooled",
    "f0_step_floor_rmse_cents": "the reference's own per-symbol mean F0 spread over its reference durations vs "
    "its frame contour: the frame-level F0 RMSE that a perfect one-pitch-per-symbol model would still get",
    "duration_mae_ms": "mean absolute difference between predicted and reference frame durations per spoken "
    "symbol, reference from the corpus's phone timings mapped onto the voice's symbols",
    "dnsmos": "DNSMOS (speechmos) of each clip resampled to 16 kHz, 1 (bad) to 5 (excellent): p808_mos = ITU-T "
    "P.808 overall quality; sig_mos, bak_mos, ovrl_mos = P.835 speech signal, background and overall quality; "
    "a clip under 10 s is looped to 10 s and scored as one 9.01 s window; averaged over utterances. A rough "
    "naturalness judge built for noise suppression: compare systems side by side, not with other studies",
    "frame_rate_hum": "median over utterances of the 1-4 kHz envelope's modulation at the frame rate (86 Hz at "
    "hop 256) as a multiple of its modulation at 60-300 Hz (fastpitch.evaluation.metrics.frame_rate_hum): about 1 "
    "or less for recordings; an iSTFT vocoder whose frames disagree on their phases hums there",
    "per_speaker": "word error rate, MCD-DTW, frame-rate hum and DNSMOS as above over the utterances of each corpus speaker",
    "interval_95": "95 % percentile bootstrap interval over utterances (2,000 draws with replacement, seed 0; "
    "both systems take the same draw): where the figure could land with another draw of as many sentences; "
    "wer.synthesized_vs_reference_95 for the WER ratio, dnsmos_vs_reference.*.interval_95 for the mean "
    "per-clip DNSMOS difference (synthesized - reference)",
    "rtf": "seconds spent in a stage / seconds of synthesized audio, after a warm-up (lower is faster)",
}


class EvaluationError(FastPitchError):
    """A dataset, split or option that the evaluation cannot use."""


# ------------------------------------------------------------------------------------------------ inputs


def held_out_utterances(dataset: str | Path, split: str = "test") -> tuple[list[Utterance], Path | None]:
    """The utterances of `dataset`'s split and its timings folder (None when it has none), or a clear error."""
    dataset = Path(dataset)
    if not dataset.exists():
        raise EvaluationError(f"dataset not found: {dataset}")
    root = dataset if dataset.is_dir() else dataset.parent
    try:
        ids = read_split(root, split)
    except DatasetError:
        raise EvaluationError(
            f"{root} has no split {split!r} (expected {root / 'splits' / f'{split}.txt'} listing held-out ids, "
            "as `fastpitch corpus synth` writes): evaluation must run on sentences the voice never trained on"
        ) from None
    wanted = set(ids)
    try:
        utterances = [u for u in read_dataset(dataset) if u.id in wanted]
    except DatasetError as e:
        raise EvaluationError(str(e)) from None
    if not utterances:
        raise EvaluationError(
            f"none of the {len(ids)} ids in split {split!r} is a usable utterance of {dataset}"
        )
    order = {uid: k for k, uid in enumerate(ids)}
    utterances.sort(key=lambda u: order[u.id])
    timings = root / "timings"
    return utterances, timings if timings.is_dir() else None


# ---------------------------------------------------------------------------------------- timed synthesis


class TimedSynthesizer(Synthesizer):
    """A `Synthesizer` that adds up the seconds spent in each stage, and can vocode a mel without counting."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.times = dict.fromkeys(STAGES, 0.0)

    def _plan(self, texts: list[str], *args: Any) -> Iterator[Any]:
        pieces = super()._plan(texts, *args)
        while True:
            start = time.perf_counter()
            piece = next(pieces, None)
            self.times["frontend"] += time.perf_counter() - start
            if piece is None:
                return
            yield piece

    def _acoustic(self, *args: Any) -> Any:
        start = time.perf_counter()
        out = super()._acoustic(*args)
        self.times["acoustic"] += time.perf_counter() - start
        return out

    def _vocode(self, mel: np.ndarray, f0: np.ndarray | None = None) -> np.ndarray:
        start = time.perf_counter()
        audio = super()._vocode(mel, f0)
        self.times["vocoder"] += time.perf_counter() - start
        return audio

    def resynthesize(self, mel: np.ndarray) -> np.ndarray:
        """The voice's vocoder on a given mel (n_mels, T), not counted in the stage times."""
        return np.asarray(Synthesizer._vocode(self, mel), np.float32).reshape(-1)


# ---------------------------------------------------------------------------------------- accumulation


@dataclass
class Pool:
    """What the set-level figures are computed from: per-utterance values and frame/symbol arrays."""

    transcripts: dict[str, list[str]] = field(default_factory=dict)
    references: list[str] = field(default_factory=list)
    mcd: dict[str, list[float]] = field(default_factory=dict)
    mos: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    hum: dict[str, list[float]] = field(default_factory=dict)
    f0: list[tuple[np.ndarray, ...]] = field(default_factory=list)
    symbol_cents: list[np.ndarray] = field(default_factory=list)
    floor_cents: list[np.ndarray] = field(default_factory=list)
    duration_errors: list[np.ndarray] = field(default_factory=list)
    predicted_durations: list[np.ndarray] = field(default_factory=list)
    reference_durations: list[np.ndarray] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=lambda: {"reference": 0.0, "synthesized": 0.0})

    def extend(self, other: Pool) -> None:
        """Add another pool's values (one utterance's, once it has been measured completely)."""
        for mine, theirs in (
            (self.transcripts, other.transcripts),
            (self.mcd, other.mcd),
            (self.mos, other.mos),
            (self.hum, other.hum),
        ):
            for name, values in theirs.items():
                mine.setdefault(name, []).extend(values)
        self.references += other.references
        self.f0 += other.f0
        self.symbol_cents += other.symbol_cents
        self.floor_cents += other.floor_cents
        self.duration_errors += other.duration_errors
        self.predicted_durations += other.predicted_durations
        self.reference_durations += other.reference_durations
        for name, value in other.seconds.items():
            self.seconds[name] += value


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _round(value: Any, digits: int = 4) -> Any:
    """Floats rounded for a readable report; NaN and infinity become null (JSON has neither)."""
    if isinstance(value, dict):
        return {k: _round(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):  # a tuple (an interval) as JSON has it: a list
        return [_round(v, digits) for v in value]
    if isinstance(value, (float, np.floating)):
        return round(float(value), digits) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


# ------------------------------------------------------------------------------------------- one utterance


@dataclass
class Context:
    """Everything shared by the utterances of one run."""

    tts: TimedSynthesizer
    griffin_lim: GriffinLim
    neural: bool  # the voice's vocoder is not Griffin-Lim: its own resynthesis is measured too
    recognizer: Any
    mos: bool  # score naturalness with DNSMOS
    timings: Path | None
    out_dir: Path | None


def _in_turn(utterances: list[Utterance]) -> list[Utterance]:
    """The utterances taken in turn from each speaker: a limited run still judges every speaker."""
    groups: dict[str, list[Utterance]] = {}
    for utt in utterances:
        groups.setdefault(utt.speaker, []).append(utt)
    return [u for row in itertools.zip_longest(*groups.values()) for u in row if u is not None]


def _corpus_names(tts: TimedSynthesizer) -> list[tuple[str, str]]:
    """Each voice speaker's name and the name it was trained under: `voice create --speakers` may rename the
    corpus's speakers (the natural corpus's hibari-heart is the shipped voice's heart)."""
    training = (tts.voice.provenance.get("acoustic") or {}).get("training") or {}
    trained = training.get("speakers") or []
    if len(trained) != len(tts.speakers):
        trained = tts.speakers
    return list(zip(tts.speakers, trained, strict=True))


def _speaker_for(tts: TimedSynthesizer, utt: Utterance, forced: int | None) -> int:
    if forced is not None:
        return forced
    names = _corpus_names(tts)
    return next((i for i, pair in enumerate(names) if utt.speaker in pair), 0)


def _evaluate_one(
    ctx: Context, utt: Utterance, speaker: int, keep_arrays: bool
) -> tuple[dict[str, Any], Pool, dict[str, Any] | None]:
    """Metrics of one utterance, its share of the set-level pool, and the arrays its figures need when asked."""
    pool = Pool()
    tts, audio_cfg = ctx.tts, ctx.tts.voice.audio
    sr, frame_s = tts.sample_rate, audio_cfg.hop_length / audio_cfg.sample_rate
    reference, _ = load_audio(utt.audio_path, sr)
    ref_mel = mel_spectrogram_np(reference, audio_cfg)
    ref_f0, ref_voiced = extract_f0(reference, audio_cfg)

    result = tts.synthesize_detailed(utt.text, speaker=speaker)
    systems = {"synthesized": result.audio, "griffin_lim_resynthesis": ctx.griffin_lim(ref_mel[None])[0]}
    if ctx.neural:
        systems["vocoder_resynthesis"] = tts.resynthesize(ref_mel)
    record: dict[str, Any] = {
        "id": utt.id,
        "speaker": tts.speakers[speaker],
        "reference_speaker": utt.speaker,
        "text": utt.text,
        "reference_seconds": len(reference) / sr,
        "synthesized_seconds": result.seconds,
    }
    pool.seconds["reference"] += record["reference_seconds"]
    pool.seconds["synthesized"] += result.seconds

    # spectral distance
    ref_ceps = M.mel_cepstrum(reference, sr)
    record["mcd_dtw_db"] = {}
    for name, wav in systems.items():
        value = M.mcd_dtw(ref_ceps, M.mel_cepstrum(wav, sr))
        record["mcd_dtw_db"][name] = value
        pool.mcd.setdefault(name, []).append(value)

    record["frame_rate_hum"] = {
        name: M.frame_rate_hum(wav, sr, audio_cfg.hop_length)
        for name, wav in {"reference": reference, **systems}.items()
    }
    for name, value in record["frame_rate_hum"].items():
        pool.hum.setdefault(name, []).append(value)

    if ctx.mos:
        record["dnsmos"] = {"reference": dnsmos(reference, sr)}
        record["dnsmos"].update((name, dnsmos(wav, sr)) for name, wav in systems.items())
        for name, scores in record["dnsmos"].items():
            pool.mos.setdefault(name, []).append(scores)

    # prosody: the predicted contour against the reference F0 along a DTW path of the two mels
    path, _ = M.dtw(M.mel_to_cepstrum(result.mel), M.mel_to_cepstrum(ref_mel))
    voiced = M.predicted_voicing(result.symbols, result.durations, result.pitch)
    paired = M.f0_along_path(path, result.pitch, voiced, ref_f0, ref_voiced)
    pool.f0.append(paired)
    record["f0"] = M.f0_scores(*paired)

    ref_durations = None
    if ctx.timings is not None:
        ref_durations = _reference_durations(ctx.timings, utt.id, result.symbols, ref_mel.shape[1], audio_cfg)
    if ref_durations is not None:
        spoken = np.array([symbol_kind(s) != "silent" for s in result.symbols])
        errors = M.duration_errors_ms(result.durations, ref_durations, spoken, 1000 * frame_s)
        pool.duration_errors.append(errors)
        pool.predicted_durations.append(np.asarray(result.durations))
        pool.reference_durations.append(ref_durations)
        record["duration_mae_ms"] = float(errors.mean()) if len(errors) else None
        symbol_cents, floor_cents = _symbol_pitch_cents(
            result.durations, ref_durations, result.pitch, voiced, ref_f0, ref_voiced
        )
        pool.symbol_cents.append(symbol_cents)
        pool.floor_cents.append(floor_cents)
        record["f0"]["per_symbol_rmse_cents"] = _rms(symbol_cents)
        record["f0"]["step_floor_rmse_cents"] = _rms(floor_cents)

    # intelligibility
    if ctx.recognizer is not None:
        pool.references.append(tts.frontend.normalize(utt.text))
        record["transcripts"] = {"reference": ctx.recognizer.transcribe(reference, sr, "reference")}
        for name, wav in systems.items():
            record["transcripts"][name] = ctx.recognizer.transcribe(wav, sr, name)
        for name, text in record["transcripts"].items():
            pool.transcripts.setdefault(name, []).append(text)
        record["wer"] = {
            name: M.word_errors([pool.references[-1]], [text])["wer"]
            for name, text in record["transcripts"].items()
        }

    if ctx.out_dir is not None:
        save_audio(ctx.out_dir / "audio" / f"{utt.id}.wav", result.audio, sr)
    if not keep_arrays:
        return record, pool, None
    first = np.unique(path[:, 1], return_index=True)[1]  # the first pair of each reference frame
    predicted_on_ref = np.where(paired[1], paired[0], 0.0)[first]
    arrays = {
        "reference": reference,
        "systems": systems,
        "ref_mel": ref_mel,
        "mel": result.mel,
        "ref_f0": np.where(ref_voiced, ref_f0, 0.0),
        "predicted_on_ref": predicted_on_ref,
        "symbols": result.symbols,
        "durations": result.durations,
        "ref_durations": ref_durations,
    }
    return record, pool, arrays


def _reference_durations(
    timings_dir: Path, uid: str, symbols: list[str], n_frames: int, audio_cfg: Any
) -> np.ndarray | None:
    try:
        return durations_from_phones(
            read_timings(find_timings(timings_dir, uid)), symbols, n_frames, audio_cfg
        )
    except TimingsError as e:
        log.debug("%s: no duration metrics: %s", uid, e)  # counted and reported once, after the run
        return None


def _symbol_pitch_cents(
    durations: np.ndarray,
    ref_durations: np.ndarray,
    frame_pitch: np.ndarray,
    voiced: np.ndarray,
    ref_f0: np.ndarray,
    ref_voiced: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-symbol pitch errors in cents against each symbol's mean reference F0 (over its voiced reference
    frames): of the predicted pitch, for symbols the model voices and that take frames in both; and of the
    reference's own step contour (those means spread over the reference frames) against its frame F0."""
    owner = np.repeat(np.arange(len(ref_durations)), ref_durations)
    sums = np.bincount(owner, np.where(ref_voiced, ref_f0, 0.0), minlength=len(ref_durations))
    counts = np.bincount(owner, ref_voiced.astype(np.float64), minlength=len(ref_durations))
    ref_mean = sums / np.maximum(counts, 1.0)
    starts = np.cumsum(durations) - durations
    ok = (durations > 0) & (ref_mean > 0)
    ok[ok] &= voiced[starts[ok]]
    predicted = M.cents(frame_pitch[starts[ok]], ref_mean[ok])
    step = ref_mean[owner]
    frames = ref_voiced[: len(step)] & (step > 0)
    return predicted, M.cents(step[frames], ref_f0[: len(step)][frames])


def _rms(values: np.ndarray) -> float | None:
    return float(np.sqrt(np.mean(values**2))) if len(values) else None


# ---------------------------------------------------------------------------------------------- the run


def distinct_texts(utterances: Sequence[Any], n: int) -> list[str]:
    """The first `n` different texts: a multi-speaker corpus reads each sentence once per speaker, and the
    utterances come in turn from each, so the first `n` would hold only n / speakers sentences."""
    return list(dict.fromkeys(u.text for u in utterances))[:n]


def evaluate(
    voice: str | Path | None,
    dataset: str | Path,
    *,
    split: str = "test",
    limit: int | None = None,
    vocoder: str | Path | None = None,
    speaker: str | None = None,
    out_dir: str | Path | None = None,
    figures: int = 3,
    html: bool = False,
    asr: bool = True,
    mos: bool = True,
    controls: bool = True,
    threads: int | None = None,
    on_progress: Callable[[int, int, str], None] | None = None,
    postfilter: float | None = None,
) -> dict[str, Any]:
    """Evaluate a voice (None: the installed default) on `dataset`'s `split`; returns the report as a dict and,
    with `out_dir`, writes `report.json`, the synthesized audio, `figures/*.png` and (with `html`) `index.html`.
    `postfilter` overrides the voice's mel post-filter strength (the resyntheses never have one).
    """
    if limit is not None and limit < 1:
        raise EvaluationError(f"--limit must be at least 1, got {limit}")
    if html and out_dir is None:
        raise EvaluationError("an HTML report needs an output directory")
    started = time.perf_counter()
    if mos:
        check_dnsmos()
    utterances, timings = held_out_utterances(dataset, split)
    tts = TimedSynthesizer.load(voice, vocoder=vocoder, threads=threads, postfilter=postfilter)
    forced = None
    if speaker is not None:
        forced = tts.speaker_id(speaker)
        mine = [u for u in utterances if u.speaker in _corpus_names(tts)[forced]]
        utterances = mine or utterances  # a corpus of other speakers: judge the text, not the speaker match
    utterances = _in_turn(utterances)[:limit] if limit is not None else utterances
    if timings is None:
        log.info("%s has no timings/ folder: no duration metrics", dataset)  # recordings rarely have them

    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    is_gl = isinstance(tts.vocoder, GriffinLim)
    ctx = Context(
        tts=tts,
        griffin_lim=tts.vocoder if is_gl else GriffinLim(tts.voice.audio),
        neural=not is_gl,
        recognizer=_recognizer() if asr else None,
        mos=mos,
        timings=timings,
        out_dir=out,
    )
    tts.synthesize(WARMUP_TEXT, speaker=forced)  # first-call costs (allocations, caches) are not speed
    tts.times = dict.fromkeys(STAGES, 0.0)

    pool = Pool()
    speaker_pools: dict[str, Pool] = {}
    records: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    figure_files: dict[str, dict[str, str]] = {}
    for k, utt in enumerate(utterances):
        times = dict(tts.times)
        try:
            record, part, arrays = _evaluate_one(
                ctx, utt, _speaker_for(tts, utt, forced), len(records) < figures
            )
        except (FastPitchError, ValueError) as e:
            # one unreadable file or unspeakable line must not end the run
            log.warning("%s skipped: %s", utt.id, e)
            tts.times = times  # its audio is not counted, so neither is its time
            skipped.append({"id": utt.id, "error": str(e)})
        else:
            pool.extend(part)
            speaker_pools.setdefault(utt.speaker, Pool()).extend(part)
            records.append(record)
            if arrays is not None and out is not None:
                figure_files[utt.id] = _write_figures(out, utt, arrays, tts.sample_rate, tts.voice.audio)
        if on_progress is not None:
            on_progress(k + 1, len(utterances), utt.id)
    if not records:
        raise EvaluationError(f"no utterance could be evaluated; the first error: {skipped[0]['error']}")
    untimed = sum("duration_mae_ms" not in r for r in records)
    if timings is not None and untimed:
        log.warning(
            "%d of %d utterances have no reference timings in %s (a teacher without timings, such as hibari): "
            "duration metrics come from the other %d",
            untimed,
            len(records),
            timings,
            len(records) - untimed,
        )

    report = _summary(ctx, pool, speaker_pools, records, dataset, split, vocoder, speaker)
    if controls:  # after the speed figures: the sweep's syntheses are not timed
        texts = distinct_texts(utterances, CONTROL_SENTENCES)
        report["controls"] = control_response(tts, texts, None if forced is None else [forced])
    report["elapsed_seconds"] = time.perf_counter() - started
    report["skipped"] = skipped
    report["files"] = figure_files
    report = _round(report)
    if out is not None:
        (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        if html:
            from fastpitch.evaluation.html import write_html

            write_html(report, out / "index.html")
    return report


def _recognizer() -> Any:
    from fastpitch.evaluation.asr import Recognizer

    return Recognizer()


def _write_figures(
    out: Path, utt: Utterance, arrays: dict[str, Any], sr: int, audio_cfg: Any
) -> dict[str, str]:
    """PNGs and listening copies of one utterance; returns their paths relative to `out`."""
    from fastpitch.evaluation import figures as F

    frame_s = audio_cfg.hop_length / audio_cfg.sample_rate
    files = {
        "mel": F.mel_figure(arrays["ref_mel"], arrays["mel"], frame_s, out / "figures" / f"{utt.id}-mel.png"),
        "pitch": F.pitch_figure(
            arrays["ref_f0"], arrays["predicted_on_ref"], frame_s, out / "figures" / f"{utt.id}-pitch.png"
        ),
        "alignment": F.alignment_figure(
            arrays["symbols"],
            arrays["durations"],
            arrays["ref_durations"],
            out / "figures" / f"{utt.id}-alignment.png",
        ),
        "synthesized": out / "audio" / f"{utt.id}.wav",
    }
    reference = out / "audio" / f"{utt.id}-reference.wav"
    if utt.audio_path.suffix.lower() == ".wav":
        shutil.copyfile(utt.audio_path, reference)
    else:
        save_audio(reference, arrays["reference"], sr)
    files["reference"] = reference
    for name, wav in arrays["systems"].items():
        if name != "synthesized":
            files[name] = save_audio(out / "audio" / f"{utt.id}-{name.replace('_', '-')}.wav", wav, sr)
    return {k: str(Path(v).relative_to(out)) for k, v in files.items()}


def _summary(
    ctx: Context,
    pool: Pool,
    speaker_pools: dict[str, Pool],
    records: list[dict[str, Any]],
    dataset: str | Path,
    split: str,
    vocoder: str | Path | None,
    speaker: str | None,
) -> dict[str, Any]:
    tts = ctx.tts
    synthesized = pool.seconds["synthesized"]
    report: dict[str, Any] = {
        "fastpitch_version": __version__,
        "voice": {
            "name": tts.voice.name,
            "path": str(tts.voice.path),
            "vocoder": str(vocoder) if vocoder is not None else tts.voice.vocoder_type,
            "postfilter": dict(zip(tts.speakers, tts.postfilter or [], strict=False)),
            "speakers": tts.speakers,
        },
        "dataset": {
            "path": str(dataset),
            "split": split,
            "utterances": len(records),
            "speaker": speaker,
            "timings": str(ctx.timings) if ctx.timings is not None else None,
            "reference_seconds": pool.seconds["reference"],
        },
        "definitions": DEFINITIONS,
    }
    report.update(_set_scores(ctx, pool))
    report["per_speaker"] = {
        name: {"utterances": sum(r["reference_speaker"] == name for r in records), **_set_scores(ctx, part)}
        for name, part in sorted(speaker_pools.items())
    }
    contours = [np.concatenate(parts) for parts in zip(*pool.f0, strict=True)]
    f0 = M.f0_scores(*contours)
    f0["median_hz"] = M.median_f0(*contours)
    f0["per_symbol_rmse_cents"] = _rms(np.concatenate(pool.symbol_cents)) if pool.symbol_cents else None
    f0["step_floor_rmse_cents"] = _rms(np.concatenate(pool.floor_cents)) if pool.floor_cents else None
    report["f0"] = f0
    if pool.duration_errors:
        errors = np.concatenate(pool.duration_errors)
        report["durations"] = {
            "mae_ms": float(errors.mean()) if len(errors) else None,
            "median_ms": float(np.median(errors)) if len(errors) else None,
            "symbols": len(errors),
            "boundaries": score_boundaries(
                pool.predicted_durations, pool.reference_durations, tts.voice.audio
            ),
            "length_ratio": synthesized / pool.seconds["reference"],
        }
    else:
        report["durations"] = None
    report["speed"] = {
        "audio_seconds": synthesized,
        **{f"{stage}_seconds": tts.times[stage] for stage in STAGES},
        **{f"{stage}_rtf": tts.times[stage] / synthesized for stage in STAGES},
        "total_rtf": sum(tts.times.values()) / synthesized,
        "threads": _torch_threads(),
    }
    report["utterances"] = records
    return report


def _set_scores(ctx: Context, pool: Pool) -> dict[str, Any]:
    """Word error rates, MCD-DTW and DNSMOS of each system over a pool (the whole set, or one speaker's)."""
    scores: dict[str, Any] = {}
    if ctx.recognizer is not None:
        counts = {
            name: M.utterance_word_errors(pool.references, hyps) for name, hyps in pool.transcripts.items()
        }
        wer = {name: M.total_word_errors(c) for name, c in counts.items()}
        ref_wer = wer["reference"]["wer"]
        ours, theirs = (counts[name][:, :3].sum(axis=1) for name in ("synthesized", "reference"))
        scores["wer"] = {
            "recognizer": ctx.recognizer.name,
            **{name: w["wer"] for name, w in wer.items()},
            "synthesized_vs_reference": wer["synthesized"]["wer"] / ref_wer if ref_wer > 0 else None,
            # both rates share the reference words, so their ratio is the ratio of the edits
            "synthesized_vs_reference_95": M.bootstrap_interval(
                lambda i: ours[i].sum() / theirs[i].sum() if theirs[i].sum() > 0 else math.nan, len(ours)
            ),
            "details": wer,
        }
    scores["mcd_dtw_db"] = {name: _mean(values) for name, values in pool.mcd.items()}
    scores["frame_rate_hum"] = {name: float(np.median(values)) for name, values in pool.hum.items() if values}
    if ctx.mos:
        scores["dnsmos"] = {name: mean_scores(values) for name, values in pool.mos.items()}
        scores["dnsmos_vs_reference"] = {
            key: _paired_difference(
                [s[key] for s in pool.mos["synthesized"]], [s[key] for s in pool.mos["reference"]]
            )
            for key in ("p808_mos", "ovrl_mos")
        }
    return scores


def _paired_difference(ours: list[float], theirs: list[float]) -> dict[str, Any]:
    """Mean of ours - theirs over the same utterances, and its 95 % bootstrap interval."""
    diff = np.asarray(ours) - np.asarray(theirs)
    interval = M.bootstrap_interval(lambda i: diff[i].mean(), len(diff))
    return {"difference": float(diff.mean()) if len(diff) else None, "interval_95": interval}


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()
