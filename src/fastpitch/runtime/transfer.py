"""Prosody transfer, "say it like this": a recording's timing and melody on a voice's symbols (numpy only).

The timing comes from aligning the recording's mel with the voice's own rendering of the same text, frame by
frame (DTW over per-band normalized log mels): every recording frame goes to the symbol whose synthesized frames it matches. The voice then speaks
with those durations and the alignment is repeated, which brings its rendering closer to the recording each
pass. (The learned aligner of training would do this from the recording alone, but a voice ships without it:
`FastPitch.inference_state_dict` leaves it out.) The melody is each symbol's mean F0 over its voiced frames,
moved by one ratio into the voice's pitch (the intervals are kept); symbols with no voiced frame, and all
energies, are left to the model. `SpeechEngine.like` runs it.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from fastpitch.dtw import dtw
from fastpitch.runtime.prosody import Prosody, ProsodyError, SentenceProsody, float32_value

# A recording this much longer or shorter than the voice's own reading is not a reading of that text.
MAX_LENGTH_RATIO = 3.0
# How poorly the alignment may match (`aligned_frames`) before the recording is judged not to say the text.
# Measured with the shipped voice: 0.2-0.3 for festival slt saying the text (the voice's own speaker), 0.4-0.65
# for festival kal and espeak-ng saying it, 0.45-0.6 for slt saying another sentence, about 0.85 for noise.
MAX_ALIGNMENT_COST = 0.7
# Share of spoken symbols the alignment may leave without a frame before the recording is judged unaligned.
MAX_SKIPPED = 0.25
MAX_SECONDS = 30.0  # a longer recording is split into sentences first
QUIET_DROP = 4.6  # log energy below the recording's loudest frame (40 dB) that counts as silence
STOPS = frozenset(("P", "T", "K", "B", "D", "G", "CH", "JH"))
CLOSURE = 4  # frames of a pause before a stop that are the stop's closure (46 ms)
PAUSE_REACH = 2  # symbols on either side of a pause where its word boundary or punctuation is looked for
MIN_PAUSE = 8  # quiet frames (93 ms) in a row that make a pause, not a stop's closure


class TransferError(ProsodyError):
    """A recording that cannot be aligned to its transcript."""


def symbol_frames(doc: Prosody) -> np.ndarray:
    """Frames per symbol over the whole text, each sentence's pause as one more entry after its symbols."""
    frames: list[int] = []
    for sentence in doc.sentences:
        frames += [sp.frames or 0 for sp in sentence.symbols]
        frames.append(sentence.pause_frames or 0)
    return np.asarray(frames, np.int64)


def silent_symbols(doc: Prosody) -> np.ndarray:
    """Bool, laid out as `symbol_frames`: the word boundaries, punctuation and each sentence's pause."""
    return np.concatenate([[sp.word is None for sp in s.symbols] + [True] for s in doc.sentences])


def stop_symbols(doc: Prosody) -> np.ndarray:
    """Bool, laid out as `symbol_frames`: the plosives and affricates (whose closure is silent)."""
    return np.concatenate(
        [[sp.symbol.rstrip("012") in STOPS for sp in s.symbols] + [False] for s in doc.sentences]
    )


def normalized(mel: np.ndarray) -> np.ndarray:
    """(T, n_mels) log mel with each band's mean and spread over the utterance removed: what stays is how the
    spectrum moves, not the speaker's or the microphone's level and colour."""
    return ((mel - mel.mean(axis=1, keepdims=True)) / (mel.std(axis=1, keepdims=True) + 1e-3)).T


def aligned_frames(
    mel: np.ndarray,
    recording_mel: np.ndarray,
    frames: np.ndarray,
    silent: np.ndarray | None = None,
    quiet: np.ndarray | None = None,
    stops: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """Frames per symbol in the recording, from a DTW path between the synthesized log mel (whose symbols take
    `frames`) and the recording's; and how well they match: the mean frame distance along the path over the
    mean distance between any two frames (see `MAX_ALIGNMENT_COST`).

    With `silent` (which symbols are word boundaries, punctuation or a sentence's pause) and the recording's
    `quiet` frames, the pauses inside both are cut out before the alignment (`pauses`, the reading's found the
    same way), and each of the recording's is given to
    the silent symbol nearest the symbols around it (the last of a run, so a stop after it is next), less the
    closure a stop after it keeps. The reading pauses where the voice would, not where the speaker did:
    aligned whole, a pause the reading lacks goes to the nearest silent-sounding phone (a stop's closure),
    which then swallows the phones beside it, and one the recording lacks takes speech from both sides."""
    owner = np.repeat(np.arange(len(frames)), frames)
    keep_x = np.ones(len(owner), bool)
    keep_y = np.ones(recording_mel.shape[1], bool)
    cut: list[tuple[int, int]] = []
    if silent is not None and quiet is not None:
        for a, b in pauses(quiet_frames(mel)):
            keep_x[a:b] = False
        cut = pauses(quiet)
        for a, b in cut:
            keep_y[a:b] = False
    x, y = normalized(mel[:, keep_x]), normalized(recording_mel[:, keep_y])
    owner = owner[keep_x]
    path, cost = dtw(x, y)
    xs, ys = x[:: max(len(x) // 200, 1)], y[:: max(len(y) // 200, 1)]
    spread = np.sqrt(np.maximum((xs**2).sum(1)[:, None] + (ys**2).sum(1)[None] - 2 * xs @ ys.T, 0.0)).mean()
    # Each recording frame follows the middle of the synthesized frames it is paired with.
    sums = np.bincount(path[:, 1], path[:, 0], minlength=len(y))
    counts = np.bincount(path[:, 1], minlength=len(y))
    middle = np.clip(np.rint(sums / np.maximum(counts, 1)).astype(np.int64), 0, len(owner) - 1)
    found = np.bincount(owner[middle], minlength=len(frames))
    kept_before = np.cumsum(keep_y) - keep_y  # kept recording frames before each recording frame
    for a, b in cut:
        after = int(kept_before[a])  # the first kept frame after the pause
        left, right = int(owner[middle[after - 1]]), int(owner[middle[min(after, len(y) - 1)]])
        # The silent symbols near the symbols around the pause (both may be the phone after it: the reading's
        # first frames of a word can match the end of the last one); the last of the nearest.
        near = [
            i
            for i in range(max(left - PAUSE_REACH, 0), min(right + PAUSE_REACH + 1, len(frames)))
            if silent[i]
        ]
        if not near:
            found[left] += b - a  # no word boundary nearby: the phone the alignment found there
            continue
        gap = np.array([max(left - i, i - right, 0) for i in near])
        boundary = near[int(np.flatnonzero(gap == gap.min())[-1])]
        closure = (
            min(CLOSURE, b - a)
            if stops is not None and boundary + 1 < len(found) and stops[boundary + 1]
            else 0
        )
        found[boundary] += b - a - closure  # a stop after a pause begins with its silent closure: it keeps it
        if closure:
            found[boundary + 1] += closure
    return found, float(cost / max(spread, 1e-6))


def pauses(quiet: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of every run of at least `MIN_PAUSE` quiet (or silent) frames with sound on both sides."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], quiet.astype(np.int8), [0]])))
    runs = zip(edges[::2], edges[1::2], strict=True)
    return [(int(a), int(b)) for a, b in runs if b - a >= MIN_PAUSE and a > 0 and b < len(quiet)]


def quiet_frames(recording_mel: np.ndarray) -> np.ndarray:
    """Bool (T,): the recording's frames more than `QUIET_DROP` in log energy (40 dB) below its loudest."""
    peak = recording_mel.max(axis=0)
    energy = peak + np.log(np.exp(recording_mel - peak).sum(axis=0))
    return energy < energy.max() - QUIET_DROP


def with_frames(doc: Prosody, frames: np.ndarray) -> Prosody:
    """`doc` with new durations (as `symbol_frames` lays them out); energies are left to the model."""
    sentences, k = [], 0
    for sentence in doc.sentences:
        n = len(sentence.symbols)
        symbols = [
            replace(sp, frames=int(f), energy=None)
            for sp, f in zip(sentence.symbols, frames[k : k + n], strict=True)
        ]
        sentences.append(replace(sentence, symbols=symbols, pause_frames=int(frames[k + n])))
        k += n + 1
    return replace(doc, sentences=sentences)


def with_melody(doc: Prosody, f0: np.ndarray, voiced: np.ndarray, voice_mean: float) -> Prosody:
    """`doc` with each spoken symbol's mean F0 over its voiced recording frames, moved by one ratio so that the
    symbols' mean (in log F0) lands on `voice_mean`; None (predict) where a symbol has no voiced frame. Only the
    words' symbols count: what a tracker calls voiced in the silence around them (breath, noise) is no melody."""
    frames = symbol_frames(doc)
    owner = np.repeat(np.arange(len(frames)), frames)[: len(f0)]
    voiced = voiced[: len(owner)] & (f0[: len(owner)] > 0)
    sums = np.bincount(owner[voiced], np.log(f0[: len(owner)][voiced]), minlength=len(frames))
    counts = np.bincount(owner[voiced], minlength=len(frames))
    melody = {  # symbol index -> mean log F0 of its voiced frames
        k + i: sums[k + i] / counts[k + i]
        for k, sentence in _offsets(doc)
        for i, sp in enumerate(sentence.symbols)
        if sp.word is not None and counts[k + i] > 0
    }
    if sum(counts[i] for i in melody) < 3:
        raise TransferError("the recording has almost no voiced frames: there is no melody to take")
    ratio = voice_mean / math.exp(float(np.mean(list(melody.values()))))
    sentences = [
        replace(
            sentence,
            symbols=[
                replace(sp, pitch=float32_value(math.exp(melody[k + i]) * ratio) if k + i in melody else None)
                for i, sp in enumerate(sentence.symbols)
            ],
        )
        for k, sentence in _offsets(doc)
    ]
    return replace(doc, sentences=sentences)


def check_lengths(predicted: int, recorded: int, frame_seconds: float) -> None:
    """Refuse, before aligning, a recording too long to align (the alignment's cost grows with the product
    of the two lengths) or of a length that shows it does not say the text."""
    if recorded * frame_seconds > MAX_SECONDS:
        raise TransferError(
            f"the recording lasts {recorded * frame_seconds:.0f} s; speaking like a recording takes at most "
            f"{MAX_SECONDS:g} s at a time: split it (and its text) into sentences"
        )
    ratio = recorded / max(predicted, 1)
    if not 1 / MAX_LENGTH_RATIO <= ratio <= MAX_LENGTH_RATIO:
        raise TransferError(
            f"cannot align the recording to its text: it lasts {ratio:.1f} times as long as the voice takes "
            "to say the text (is it the right recording, or its whole transcript?)"
        )


def check_alignment(doc: Prosody, frames: np.ndarray, cost: float) -> None:
    """Refuse an alignment that shows the recording does not say the text."""
    spoken = np.array([sp.word is not None for s in doc.sentences for sp in s.symbols])
    own = np.concatenate([frames[k : k + len(s.symbols)] for k, s in _offsets(doc)])
    skipped = float((own[spoken] == 0).mean()) if spoken.any() else 0.0
    if cost > MAX_ALIGNMENT_COST or skipped > MAX_SKIPPED:
        raise TransferError(
            f"cannot align the recording to its text: the voice's reading matches it poorly (distance {cost:.3f}, "
            f"at most {MAX_ALIGNMENT_COST:.3f}; {skipped:.0%} of the phones found no sound, at most "
            f"{MAX_SKIPPED:.0%}): does it say the text?"
        )


def _offsets(doc: Prosody) -> list[tuple[int, SentenceProsody]]:
    """Each sentence with the index of its first symbol in `symbol_frames(doc)`."""
    out, k = [], 0
    for sentence in doc.sentences:
        out.append((k, sentence))
        k += len(sentence.symbols) + 1
    return out
