"""Word timestamps as subtitles (SRT, WebVTT) or JSON.

A subtitle shows the text as written ("Dr. Smith paid $3.50."), not as read ("Doctor Smith paid three dollars
and fifty cents"): each written stretch (`WordTime.written`) lasts from its first spoken word's start to its
last one's end. These are grouped into cues a reader can take in: a cue ends at a sentence's end (a full stop and a pause), before a pause of
`PAUSE_SPLIT` seconds or more, or before it would pass `MAX_CHARS` characters or `MAX_SECONDS`; each cue is
shown from its first word's start to its last word's end.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fastpitch.errors import FastPitchError
from fastpitch.runtime.pipeline import SynthesisResult, Timestamp

MAX_CHARS = 42  # the common one-line subtitle limit
MAX_SECONDS = 6.0
PAUSE_SPLIT = 0.25  # sentence joins are 0.3 s, commas 0.12 s
SENTENCE_GAP = 0.08  # a full stop followed by this much silence ends a sentence ("a.m. on" has none)
TIMESTAMP_FORMATS = (".json", ".srt", ".vtt")


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str


def cues(
    words: Sequence[Timestamp],
    max_chars: int = MAX_CHARS,
    max_seconds: float = MAX_SECONDS,
    pause_split: float = PAUSE_SPLIT,
) -> list[Cue]:
    """Words grouped into subtitle cues (see the module docstring)."""
    out: list[Cue] = []
    line: list[Timestamp] = []
    for word in written(words):
        if line:
            text = " ".join(w.text for w in [*line, word])
            ends_sentence = (
                line[-1].text.rstrip("\"')]").endswith((".", "!", "?"))
                and word.start - line[-1].end >= SENTENCE_GAP
            )
            if (
                len(text) > max_chars
                or word.end - line[0].start > max_seconds
                or word.start - line[-1].end >= pause_split
                or ends_sentence
            ):
                out.append(Cue(line[0].start, line[-1].end, " ".join(w.text for w in line)))
                line = []
        line.append(word)
    if line:
        out.append(Cue(line[0].start, line[-1].end, " ".join(w.text for w in line)))
    return out


def written(words: Sequence[Timestamp]) -> list[Timestamp]:
    """The written stretches the words read, each timed from its first word's start to its last one's end
    (a word without a written form stands for itself)."""
    out: list[Timestamp] = []
    for word in words:
        text = getattr(word, "written", word.text)
        if text is None and out:
            out[-1] = Timestamp(out[-1].text, out[-1].start, word.end)
        else:
            out.append(Timestamp(word.text if text is None else text, word.start, word.end))
    return out


def _clock(seconds: float, separator: str) -> str:
    ms = max(0, round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{separator}{ms:03d}"


def to_srt(items: Sequence[Cue]) -> str:
    """SubRip text: numbered cues, `HH:MM:SS,mmm --> HH:MM:SS,mmm`."""
    blocks = [
        f"{i}\n{_clock(c.start, ',')} --> {_clock(c.end, ',')}\n{c.text}\n" for i, c in enumerate(items, 1)
    ]
    return "\n".join(blocks)


def to_vtt(items: Sequence[Cue]) -> str:
    """WebVTT text: a `WEBVTT` header and `HH:MM:SS.mmm --> HH:MM:SS.mmm` cues."""
    blocks = [f"{_clock(c.start, '.')} --> {_clock(c.end, '.')}\n{c.text}\n" for c in items]
    return "WEBVTT\n\n" + "\n".join(blocks)


def write_timestamps(path: str | Path, result: SynthesisResult, phones: bool = False) -> Path:
    """Write a result's timestamps as JSON (words, marks and, with `phones`, phones), SRT or WebVTT, by the
    file's extension."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        text = json.dumps(result.timestamps(phones), indent=1) + "\n"
    elif suffix == ".srt":
        text = to_srt(cues(result.words))
    elif suffix == ".vtt":
        text = to_vtt(cues(result.words))
    else:
        raise FastPitchError(
            f"unsupported timestamps format {path.suffix!r}; use one of {', '.join(TIMESTAMP_FORMATS)}"
        )
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as e:
        raise FastPitchError(f"cannot write {path}: {e}") from None
    return path
