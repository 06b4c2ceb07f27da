"""`fastpitch bench prosody`: what prosody documents promise, measured on a voice (issue 19).

- round trip: `synthesize(prosody=analyze(text))` against `synthesize(text)`, sample for sample, per engine;
- one word edited: its durations doubled (its span, every other word's), its pitch raised 4 semitones (its
  median F0 measured by WORLD on the audio, every other word's);
- transfer: on a corpus's held-out recordings with reference phone timings, each text said by the voice as
  predicted and "like" its recording: per-phone duration error against the timings, and the correlation of
  log F0 with the recording's (the evaluation's definitions, `fastpitch.evaluation.metrics`);
- bad input: the errors a hostile or mistaken document gets.
"""

from __future__ import annotations

import copy
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from fastpitch.audio import extract_f0, load_audio
from fastpitch.errors import FastPitchError
from fastpitch.runtime.prosody import Prosody, ProsodyError

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello there, my friend. This is a test of the prosody round trip! Is it exact?",
    "She sells sea shells by the sea shore, and the shells she sells are surely seashells.",
]
EDIT_SENTENCE = "Please call Stella and ask her to bring these things with her from the store."
EDIT_WORD = 4  # "ask"
SEMITONES = 4.0


def round_trip(engines: dict[str, Any]) -> dict[str, Any]:
    """Whether replaying each sentence's unedited document gives the very same samples, per engine."""
    out = {}
    for name, tts in engines.items():
        same = []
        for text in SENTENCES:
            audio, _ = tts.synthesize(text)
            doc = Prosody.from_json(tts.analyze(text).to_json())
            replay, _ = tts.synthesize(prosody=doc)
            same.append(bool(audio.shape == replay.shape and np.array_equal(audio, replay)))
        out[name] = {"sentences": len(same), "identical": sum(same)}
    return out


def _word_frames(doc: Prosody) -> list[tuple[int, int]]:
    """(start, end) frames of each word of a one-sentence document, by its symbols' durations."""
    sentence = doc.sentences[0]
    edges = np.concatenate([[0], np.cumsum([sp.frames or 0 for sp in sentence.symbols])])
    spans = []
    for k in range(len(sentence.words)):
        own = [i for i, sp in enumerate(sentence.symbols) if sp.word == k]
        spans.append((int(edges[own[0]]), int(edges[own[-1] + 1])))
    return spans


def _median_f0(f0: np.ndarray, voiced: np.ndarray, span: tuple[int, int]) -> float | None:
    values = f0[span[0] : span[1]][voiced[span[0] : span[1]]]
    return float(np.median(values)) if len(values) else None


def edit_one_word(tts: Any, text: str = EDIT_SENTENCE, word: int = EDIT_WORD) -> dict[str, Any]:
    """Double one word's durations, then raise its pitch: its span and median F0, and every other word's."""
    cfg = tts.voice.audio
    base = tts.analyze(text)
    words = base.sentences[0].words
    longer = copy.deepcopy(base)
    for sp in longer.sentences[0].symbols:
        if sp.word == word:
            sp.frames = 2 * (sp.frames or 0)
    result = tts.synthesize_detailed(prosody=longer)
    before, after = _word_frames(base), _word_frames(result.prosody)
    lengths = [(b[1] - b[0], a[1] - a[0]) for b, a in zip(before, after, strict=True)]
    others_changed = [words[k] for k, (b, a) in enumerate(lengths) if k != word and a != b]

    higher = copy.deepcopy(base)
    for sp in higher.sentences[0].symbols:
        if sp.word == word and sp.pitch is not None:
            sp.pitch *= 2.0 ** (SEMITONES / 12.0)
    plain, _ = tts.synthesize(prosody=base)
    raised, _ = tts.synthesize(prosody=higher)
    f0_a, v_a = extract_f0(plain, cfg)
    f0_b, v_b = extract_f0(raised, cfg)
    ratios = []
    # Frames the tracker hears voiced in both renderings, within an octave of the voice's mean pitch (outside
    # it, WORLD's dio makes octave errors at some word onsets).
    mean = tts.mean_pitch(0)
    both = v_a & v_b & (f0_a > mean / 2) & (f0_a < 2 * mean) & (f0_b > mean / 2) & (f0_b < 2 * mean)
    for span in before:
        a, b = _median_f0(f0_a, both, span), _median_f0(f0_b, both, span)
        ratios.append(None if a is None or b is None else b / a)
    other_semitones = [12 * math.log2(r) for k, r in enumerate(ratios) if k != word and r is not None]
    return {
        "text": text,
        "word": words[word],
        "durations_x2": {
            "frames_before": lengths[word][0],
            "frames_after": lengths[word][1],
            "error_frames": lengths[word][1] - 2 * lengths[word][0],
            "other_words_changed": others_changed,
        },
        "pitch_up_semitones": SEMITONES,
        "pitch": {
            "target_ratio": 2.0 ** (SEMITONES / 12.0),
            "measured_ratio": ratios[word],
            "error_percent": None
            if ratios[word] is None
            else 100 * (ratios[word] / 2 ** (SEMITONES / 12) - 1),
            "other_words_max_semitones": max((abs(s) for s in other_semitones), default=None),
        },
    }


def phone_errors_through_dtw(mel: np.ndarray, recording_mel: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """|duration in the output - duration in the recording| in frames of each reference phone (frames per
    phone in the recording), the output's phone edges found by mapping the recording's through a DTW path
    between the two mels: a timing error that does not depend on how a voice splits frames among symbols."""
    from fastpitch.evaluation import metrics as M

    path, _ = M.dtw(M.mel_to_cepstrum(recording_mel), M.mel_to_cepstrum(mel))
    n = recording_mel.shape[1]
    position = np.bincount(path[:, 0], path[:, 1], minlength=n) / np.maximum(
        np.bincount(path[:, 0], minlength=n), 1
    )
    position = np.append(position, mel.shape[1])  # the end of the recording maps to the end of the output
    edges = np.minimum(np.concatenate([[0], np.cumsum(reference)]), n)
    return np.abs(np.diff(position[edges]) - reference)


def transfer(tts: Any, dataset: Path, limit: int) -> dict[str, Any]:
    """Each held-out recording's text said as predicted and like the recording, scored against it."""
    from fastpitch.audio import mel_spectrogram_np
    from fastpitch.data.timings import (
        SIL,
        durations_from_phones,
        find_timings,
        read_timings,
        reference_frames,
        symbol_kind,
    )
    from fastpitch.evaluation import held_out_utterances
    from fastpitch.evaluation import metrics as M

    utterances, timings = held_out_utterances(dataset)
    if timings is None:
        raise ProsodyError(f"{dataset} has no timings/ folder: the transfer needs reference phone timings")
    cfg = tts.voice.audio
    frame_ms = 1000.0 * cfg.hop_length / cfg.sample_rate
    pools: dict[str, dict[str, list]] = {
        k: {"errors": [], "f0": [], "dtw": []} for k in ("predicted", "like")
    }
    seconds, failures = 0.0, []
    for utt in utterances[:limit]:
        audio, sr = load_audio(utt.audio_path, cfg.sample_rate)
        ref_mel = mel_spectrogram_np(audio, cfg)
        ref_f0, ref_voiced = extract_f0(audio, cfg)
        phones = read_timings(find_timings(timings, utt.id))
        labels, phone_frames = reference_frames(phones, ref_mel.shape[1], cfg)
        sounding = np.array([label != SIL for label in labels])
        start = time.perf_counter()
        try:
            doc = tts.like(utt.text, audio, sr)
        except ProsodyError as e:
            failures.append({"id": utt.id, "error": str(e)})
            continue
        seconds += time.perf_counter() - start
        results = {
            "predicted": tts.synthesize_detailed(utt.text),
            "like": tts.synthesize_detailed(prosody=doc),
        }
        for name, result in results.items():
            reference = durations_from_phones(phones, result.symbols, ref_mel.shape[1], cfg)
            spoken = np.array([symbol_kind(s) != "silent" for s in result.symbols])
            if len(result.durations) == len(reference):
                pools[name]["errors"].append(
                    M.duration_errors_ms(result.durations, reference, spoken, frame_ms)
                )
            pools[name]["dtw"].append(phone_errors_through_dtw(result.mel, ref_mel, phone_frames)[sounding])
            path, _ = M.dtw(M.mel_to_cepstrum(result.mel), M.mel_to_cepstrum(ref_mel))
            voiced = M.predicted_voicing(result.symbols, result.durations, result.pitch)
            pools[name]["f0"].append(M.f0_along_path(path, result.pitch, voiced, ref_f0, ref_voiced))
    scores = {}
    for name, pool in pools.items():
        if not pool["f0"]:
            continue
        paired = [np.concatenate([p[i] for p in pool["f0"]]) for i in range(4)]
        f0 = M.f0_scores(*paired)
        errors = np.concatenate(pool["errors"]) if pool["errors"] else np.empty(0)
        scores[name] = {
            "duration_mae_ms": float(errors.mean()) if len(errors) else None,
            "phone_duration_mae_ms_through_dtw": float(np.concatenate(pool["dtw"]).mean() * frame_ms),
            "f0_correlation": f0["correlation"],
            "f0_rmse_cents": f0["rmse_cents"],
        }
    return {
        "dataset": str(dataset),
        "utterances": len(utterances[:limit]) - len(failures),
        "failures": failures,
        "like_seconds_per_utterance": seconds / max(len(utterances[:limit]) - len(failures), 1),
        **scores,
    }


def bad_inputs(tts: Any) -> dict[str, str]:
    """The error each broken document gets (all must be refused)."""
    good = tts.analyze("Hello there, my friend.").to_dict()

    def broken(edit: Any) -> dict:
        data = copy.deepcopy(good)
        edit(data)
        return data

    symbols = lambda d: d["sentences"][0]["symbols"]  # noqa: E731
    cases = {
        "other symbol table": broken(lambda d: d.update(symbol_table="en-v0:000000000000")),
        "missing symbol": broken(lambda d: symbols(d).pop(3)),
        "extra symbol": broken(lambda d: symbols(d).insert(3, dict(symbols(d)[3]))),
        "unknown symbol": broken(lambda d: symbols(d)[2].update(symbol="QQ")),
        "negative duration": broken(lambda d: symbols(d)[2].update(frames=-3, ms=None)),
        "absurd duration": broken(lambda d: symbols(d)[2].update(frames=2000, ms=None)),
        "NaN pitch": broken(lambda d: symbols(d)[2].update(pitch=float("nan"))),
    }
    out = {}
    for name, data in cases.items():
        try:
            tts.synthesize(prosody=data)
            out[name] = "ACCEPTED"
        except FastPitchError as e:
            out[name] = f"{type(e).__name__}: {e}"
    silence = np.zeros(tts.sample_rate * 2, np.float32)
    noise = np.random.default_rng(0).standard_normal(tts.sample_rate * 3).astype(np.float32) * 0.1
    for name, audio in (("silent recording", silence), ("noise for a recording", noise)):
        try:
            tts.like("Hello there, my friend.", audio, tts.sample_rate)
            out[name] = "ACCEPTED"
        except FastPitchError as e:
            out[name] = f"{type(e).__name__}: {e}"
    return out


def bench_prosody(voice: str | Path | None, dataset: Path | None, limit: int) -> dict[str, Any]:
    """The whole bench on a voice (torch, and ONNX where the voice has it)."""
    from fastpitch.runtime import OnnxSynthesizer
    from fastpitch.synthesis import Synthesizer
    from fastpitch.voice import read_voice

    engines: dict[str, Any] = {"torch": Synthesizer.load(voice)}
    if read_voice(voice).has_onnx:
        engines["onnx"] = OnnxSynthesizer.load(voice)
    tts = engines["torch"]
    out: dict[str, Any] = {
        "voice": str(tts.voice.path),
        "round_trip": round_trip(engines),
        "edit_one_word": edit_one_word(tts),
        "bad_input": bad_inputs(tts),
    }
    if dataset is not None:
        out["transfer"] = transfer(tts, dataset, limit)
    return out
