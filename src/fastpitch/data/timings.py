"""External phone timings → integer frame durations per input symbol, and boundary scoring.

Two sources: the synthetic corpus's `timings/ID.json` (festival's or espeak-ng's own segment times) and
Montreal Forced Aligner TextGrids (the "phones" tier). Their phones never match our symbol sequence one to
one: the engine's lexicon differs a little from cmudict, stress marks differ, and our sequence holds word
boundaries and punctuation where the audio has pauses or nothing. So the reference phones are aligned to
our symbols by dynamic programming (stress ignored, similar phones cheap to substitute, silences matched to
boundary/punctuation symbols), and every reference frame is handed to a symbol: durations always sum to
the mel length exactly.

The same durations score a learned aligner: `score_boundaries` compares its symbol boundaries with the
reference's (mean absolute error, share off by more than 50 ms).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fastpitch.config import AudioConfig
from fastpitch.errors import FastPitchError

SIL = "SIL"
SILENCES = {"", "SIL", "SP", "PAU", "H#", "#", "_", "<SIL>", "<EPS>"}
VOWELS = {
    "AA",
    "AE",
    "AH",
    "AO",
    "AW",
    "AX",
    "AXR",
    "AY",
    "EH",
    "ER",
    "EY",
    "IH",
    "IX",
    "IY",
    "OW",
    "OY",
    "UH",
    "UW",
}
TIMINGS_SUFFIXES = (".json", ".TextGrid", ".textgrid")

# Alignment costs, in integer units so that ties are exact.
MATCH, SIMILAR, OTHER, LETTER, NEVER = 0, 4, 10, 7, 100
SKIP_SILENT_SYMBOL = 0  # a boundary/punctuation symbol may take no frames
SKIP_SPOKEN_SYMBOL = 10  # a phone we expect but the engine did not say
DROP_SILENCE = 3  # a pause where our text has no boundary symbol: its frames join a neighbour
DROP_PHONE = 10  # a phone the engine said that our text lacks


class TimingsError(FastPitchError, ValueError):
    """A timings file that cannot be read or used."""


@dataclass
class Phone:
    """One reference segment in seconds; `phone` is ARPAbet (stress optional) or SIL."""

    phone: str
    start: float
    end: float


def read_timings(path: str | Path) -> list[Phone]:
    """Phones of a corpus timings JSON or an MFA TextGrid, in time order."""
    path = Path(path)
    if not path.is_file():
        raise TimingsError(f"timings file not found: {path}")
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        if path.suffix.lower() == ".json":
            phones = [
                Phone(str(p["phone"]), float(p["start"]), float(p["end"])) for p in json.loads(text)["phones"]
            ]
        else:
            phones = _textgrid_phones(text)
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise TimingsError(f"cannot read timings {path}: {type(e).__name__}: {e}") from None
    if not phones:
        raise TimingsError(f"timings {path} hold no phones")
    return sorted(phones, key=lambda p: p.start)


def find_timings(timings_dir: str | Path, uid: str) -> Path:
    """`timings_dir/ID.json` or `ID.TextGrid`."""
    for suffix in TIMINGS_SUFFIXES:
        path = Path(timings_dir) / f"{uid}{suffix}"
        if path.is_file():
            return path
    raise TimingsError(f"no timings for {uid!r} in {timings_dir} (looked for .json and .TextGrid)")


def _textgrid_phones(text: str) -> list[Phone]:
    """The phones tier of a Praat TextGrid, long or short format (MFA writes the long one)."""
    tokens: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if "<exists>" in line:
            tokens.append("<exists>")
        elif line.startswith('"'):
            tokens.append(line)
        elif "=" in line:
            tokens.append(line.split("=", 1)[1].strip())
        elif not re.match(r"^\w+ \[\d*\]:?$", line):
            tokens.append(line)
    values = [t[1:-1].replace('""', '"') if t.startswith('"') and t.endswith('"') else t for t in tokens]
    pos = values.index("<exists>") + 1
    n_tiers, pos = int(values[pos]), pos + 1
    for _ in range(n_tiers):
        kind, name, size = values[pos], values[pos + 1], int(values[pos + 4])
        pos += 5
        width = 3 if kind == "IntervalTier" else 2
        items = values[pos : pos + width * size]
        pos += width * size
        if kind == "IntervalTier" and name.lower().endswith("phones"):
            return [
                Phone(items[i + 2], float(items[i]), float(items[i + 1])) for i in range(0, len(items), 3)
            ]
    raise ValueError("no interval tier named 'phones'")


def _base(label: str) -> str:
    """ARPAbet without stress, upper case; silences become SIL."""
    base = label.strip().upper().rstrip("012")
    return SIL if base in SILENCES else base


def symbol_kind(symbol: str) -> str:
    """'phone' (ARPAbet), 'letter' (a grapheme or other spoken symbol) or 'silent' (boundary/punctuation)."""
    base = symbol.rstrip("012")
    if base and base.isalpha() and base.isupper():
        return "phone"
    return "letter" if any(c.isalnum() for c in symbol) else "silent"


def _substitution_cost(ref: str, symbol: str, kind: str) -> int:
    if ref == SIL:
        return MATCH if kind == "silent" else NEVER
    if kind == "silent":
        return NEVER
    if kind == "letter":
        return LETTER
    base = symbol.rstrip("012")
    if base == ref:
        return MATCH
    return SIMILAR if (base in VOWELS) == (ref in VOWELS) else OTHER


def reference_frames(
    phones: Sequence[Phone], n_frames: int, cfg: AudioConfig
) -> tuple[list[str], np.ndarray]:
    """Reference labels (gaps filled with SIL) and their frame counts, summing to `n_frames`.

    A boundary at time b falls before the first frame whose centre, (t + 0.5) * hop, lies after it.
    """
    labels, ends = [], []
    t = 0.0
    for p in phones:
        if p.start > t + 1e-4:
            labels.append(SIL)
            ends.append(p.start)
        labels.append(_base(p.phone))
        ends.append(max(p.end, p.start))
        t = max(t, p.end)
    frames = np.clip(np.round(np.asarray(ends) * cfg.sample_rate / cfg.hop_length), 0, n_frames).astype(
        np.int64
    )
    frames = np.maximum.accumulate(frames)
    frames[-1] = n_frames
    return labels, np.diff(frames, prepend=0)


def durations_from_phones(
    phones: Sequence[Phone], symbols: Sequence[str], n_frames: int, cfg: AudioConfig
) -> np.ndarray:
    """Integer frame durations (len(symbols),) summing to `n_frames`, from reference phone timings."""
    if not symbols:
        raise TimingsError("no symbols to give durations to")
    labels, ref = reference_frames(phones, n_frames, cfg)
    kinds = [symbol_kind(s) for s in symbols]
    owner = _align(labels, list(symbols), kinds)
    durations = np.zeros(len(symbols), np.int64)
    np.add.at(durations, owner, ref)
    _give_frames_to_spoken(durations, kinds)
    return durations


def phones_from_durations(symbols: Sequence[str], durations: Sequence[int], cfg: AudioConfig) -> list[Phone]:
    """Timings that give `durations` back through `durations_from_phones`: each spoken symbol a phone over its
    frames, the frames of word boundaries and punctuation one silence per pause (as festival writes it), so the
    spoken symbols get theirs exactly and each run of silent ones its total. How a learned aligner's durations
    join a corpus's timings (`fastpitch.train.timings`)."""
    if len(symbols) != len(durations):
        raise TimingsError(f"{len(symbols)} symbols but {len(durations)} durations")
    seconds = cfg.hop_length / cfg.sample_rate
    phones: list[Phone] = []
    frame = 0
    for symbol, n in zip(symbols, (int(d) for d in durations), strict=True):
        if n < 0:
            raise TimingsError(f"negative duration {n} for {symbol!r}")
        start, end = frame * seconds, (frame + n) * seconds
        frame += n
        if symbol_kind(symbol) != "silent":
            phones.append(Phone(symbol, start, end))
        elif n and phones and phones[-1].phone == SIL and phones[-1].end == start:
            phones[-1].end = end
        elif n:
            phones.append(Phone(SIL, start, end))
    return phones


def _align(labels: list[str], symbols: list[str], kinds: list[str]) -> np.ndarray:
    """For each reference segment, the index of the symbol that takes its frames (edit-distance DP).

    Rows are reference segments, columns symbols. Within a row, skipping symbols is a running minimum,
    so each row is a few numpy operations rather than a Python loop over columns.
    """
    m, n = len(labels), len(symbols)
    skip_symbol = np.array([SKIP_SILENT_SYMBOL if k == "silent" else SKIP_SPOKEN_SYMBOL for k in kinds])
    skip_cum = np.concatenate([[0], np.cumsum(skip_symbol)])
    cost = np.empty((m + 1, n + 1), np.int64)
    cost[0] = skip_cum
    sub = np.empty((m, n), np.int64)
    for i, label in enumerate(labels, start=1):
        sub[i - 1] = [_substitution_cost(label, s, k) for s, k in zip(symbols, kinds, strict=True)]
        drop = DROP_SILENCE if label == SIL else DROP_PHONE
        best = np.empty(n + 1, np.int64)
        best[0] = cost[i - 1, 0] + drop
        best[1:] = np.minimum(cost[i - 1, :-1] + sub[i - 1], cost[i - 1, 1:] + drop)
        # cost[i, j] = min over k <= j of best[k] + skip_cum[j] - skip_cum[k]
        cost[i] = np.minimum.accumulate(best - skip_cum) + skip_cum
    # Trace back: every reference segment gets a symbol, matched or (when dropped) its neighbour.
    owner = np.full(m, -1, np.int64)
    i, j = m, n
    while i > 0:
        drop = DROP_SILENCE if labels[i - 1] == SIL else DROP_PHONE
        if j > 0 and cost[i, j] == cost[i, j - 1] + skip_symbol[j - 1]:
            j -= 1
        elif j > 0 and cost[i, j] == cost[i - 1, j - 1] + sub[i - 1, j - 1]:
            owner[i - 1] = j - 1
            i, j = i - 1, j - 1
        else:
            i -= 1  # dropped: resolved below
    matched = np.flatnonzero(owner >= 0)
    if len(matched) == 0:  # nothing in common (e.g. only pauses against only punctuation): one owner
        spoken = [j for j, k in enumerate(kinds) if k != "silent"]
        return np.full(m, spoken[0] if spoken else 0, np.int64)
    for i in np.flatnonzero(owner < 0):
        before = matched[matched < i]
        owner[i] = owner[before[-1]] if len(before) else owner[matched[0]]
    return owner


def _give_frames_to_spoken(durations: np.ndarray, kinds: list[str]) -> None:
    """A spoken symbol left without frames takes half of its longest spoken neighbour's (in place)."""
    spoken = [i for i, k in enumerate(kinds) if k != "silent"]
    for pos, i in enumerate(spoken):
        if durations[i] > 0:
            continue
        neighbours = [spoken[p] for p in (pos - 1, pos + 1) if 0 <= p < len(spoken)]
        donor = max(neighbours, key=lambda k: durations[k], default=None)
        if donor is not None and durations[donor] >= 2:
            half = durations[donor] // 2
            durations[donor] -= half
            durations[i] += half


def load_durations(path: str | Path, symbols: Sequence[str], n_frames: int, cfg: AudioConfig) -> np.ndarray:
    """`durations_from_phones` of a timings file."""
    return durations_from_phones(read_timings(path), symbols, n_frames, cfg)


def boundary_times(durations: Sequence[int] | np.ndarray, cfg: AudioConfig) -> np.ndarray:
    """End time in seconds of each symbol, from frame durations."""
    return np.cumsum(np.asarray(durations, dtype=np.int64)) * cfg.hop_length / cfg.sample_rate


def score_boundaries(
    predicted: Sequence[np.ndarray] | np.ndarray,
    reference: Sequence[np.ndarray] | np.ndarray,
    cfg: AudioConfig,
    tolerance_ms: float = 50.0,
) -> dict[str, Any]:
    """Boundary error of predicted durations against reference durations over one or many utterances.

    Boundaries are the ends of the symbols that take frames in the reference (the last one, the end of the
    utterance, is left out): each is counted once however many zero-length symbols sit on it.
    """
    if isinstance(predicted, np.ndarray) and predicted.ndim == 1:
        predicted, reference = [predicted], [np.asarray(reference)]
    errors = []
    for pred, ref in zip(predicted, reference, strict=True):
        pred, ref = np.asarray(pred, np.int64), np.asarray(ref, np.int64)
        if pred.shape != ref.shape:
            raise TimingsError(f"predicted durations {pred.shape} and reference {ref.shape} differ in length")
        keep = np.flatnonzero(ref > 0)[:-1]
        errors.append(np.abs(boundary_times(pred, cfg)[keep] - boundary_times(ref, cfg)[keep]) * 1000.0)
    err = np.concatenate(errors) if errors else np.zeros(0)
    if len(err) == 0:
        return {
            "mean_ms": 0.0,
            "median_ms": 0.0,
            "frac_over_ms": 0.0,
            "tolerance_ms": tolerance_ms,
            "n_boundaries": 0,
        }
    return {
        "mean_ms": float(err.mean()),
        "median_ms": float(np.median(err)),
        "frac_over_ms": float((err > tolerance_ms).mean()),
        "tolerance_ms": tolerance_ms,
        "n_boundaries": len(err),
        "n_utterances": len(errors),
    }
