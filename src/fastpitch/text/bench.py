"""`fastpitch bench text`: sentences per second through normalization + phonemization, one process.

The default sentence set is reproducible: WordNet's usage examples (Debian `wordnet-base`, when installed)
or a seeded template generator otherwise, with money, dates, times, units, ordinals and abbreviations woven
into a fixed share of the sentences so the normalizer works for its time. The same sentences then go
through `phonemizer` with the espeak-ng backend in the same run, for a side-by-side ratio.
"""

from __future__ import annotations

import random
import re
import sys
import time
from pathlib import Path
from typing import Any

from fastpitch.config import TextConfig
from fastpitch.cpu import describe_cpu

WORDNET = Path("/usr/share/wordnet")
GOAL_SENTENCES_PER_S = 2000
_WORD = re.compile(r"'?[A-Za-z][A-Za-z']*")

_NAMES = [
    "Smith",
    "Garcia",
    "Nguyen",
    "Okafor",
    "Kowalski",
    "Lindqvist",
    "Brown",
    "Haddad",
    "Moreau",
    "Tanaka",
]
_TITLES = ["Dr.", "Mr.", "Mrs.", "Ms.", "Prof.", "Gen.", "St."]
_MONTHS = ["Jan.", "Feb.", "March", "Apr.", "May", "June", "July", "Aug.", "Sept.", "Oct.", "Nov.", "Dec."]
_UNITS = ["km", "kg", "mph", "°C", "cm", "GB", "mg", "ft", "%"]
_SUBJECTS = [
    "the committee",
    "a small team",
    "the old library",
    "our neighbour",
    "the river",
    "every student",
]
_VERBS = ["reported", "measured", "described", "questioned", "celebrated", "ignored", "repaired", "counted"]
_OBJECTS = ["the results", "a strange noise", "the damaged bridge", "its history", "the long winter", "them"]


def _extra(rng: random.Random) -> str:
    """A phrase full of things to normalize: money, dates, times, units, ordinals, titles, acronyms."""
    kind = rng.randrange(8)
    if kind == 0:
        return f"{rng.choice(_TITLES)} {rng.choice(_NAMES)} paid ${rng.randrange(1, 999)}.{rng.randrange(100):02d}"
    if kind == 1:
        return f"on {rng.choice(_MONTHS)} {rng.randrange(1, 29)}, {rng.randrange(1890, 2030)}"
    if kind == 2:
        return f"at {rng.randrange(1, 13)}:{rng.randrange(60):02d} {rng.choice(['am', 'pm', 'p.m.'])}"
    if kind == 3:
        return f"about {rng.randrange(2, 500)} {rng.choice(_UNITS)}"
    if kind == 4:
        n = rng.randrange(1, 120)
        suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
        return f"for the {n}{suffix} time"
    if kind == 5:
        return f"from {rng.randrange(1900, 1990)}–{rng.randrange(1990, 2024)}"
    if kind == 6:
        return f"with €{rng.randrange(1, 9)}.{rng.randrange(10)} million from the {rng.choice(['EU', 'UN', 'WHO'])}"
    return f"in {rng.randrange(-40, 41)} degrees, i.e. {rng.randrange(2, 99)}.{rng.randrange(10)}% more"


def _wordnet_examples() -> list[str]:
    examples: set[str] = set()
    for part in ("noun", "verb", "adj", "adv"):
        path = WORDNET / f"data.{part}"
        if path.exists():
            for line in path.read_text(encoding="latin-1").splitlines():
                gloss = line.partition(" | ")[2]  # "offset lex_filenum ... | gloss; "example"; "example""
                for example in re.findall(r'"([^"]{20,200})"', gloss):
                    if len(example.split()) >= 5:
                        examples.add(example.strip())
    return sorted(examples)


def default_sentences(n: int = 1000, seed: int = 0) -> tuple[list[str], str]:
    """`n` varied English sentences, the same on every machine with the same WordNet; and where they came from."""
    rng = random.Random(seed)
    base = _wordnet_examples()
    if len(base) >= n:
        source = f"WordNet usage examples ({WORDNET}), seed {seed}, every third with a normalization phrase"
        picked = rng.sample(base, n)
    else:
        source = f"template generator, seed {seed}, every third with a normalization phrase"
        picked = [
            f"{rng.choice(_SUBJECTS).capitalize()} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)}"
            for _ in range(n)
        ]
    sentences = []
    for i, s in enumerate(picked):
        s = s[0].upper() + s[1:]
        if i % 3 == 0:
            s = f"{s.rstrip('.!?')} {_extra(rng)}"
        sentences.append(s if s[-1] in ".!?" else s + ".")
    return sentences, source


def _rate(n: int, seconds: float) -> float:
    return round(n / seconds, 1) if seconds > 0 else float("inf")


def _timed(fn: Any) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) for one call: on a shared machine the CPU figure is the
    single-core speed, the wall figure what this run happened to get."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def _best(fn: Any, repeats: int) -> tuple[float, float]:
    times = [_timed(fn) for _ in range(repeats)]
    return min(t[0] for t in times), min(t[1] for t in times)


def _fastpitch(sentences: list[str], repeats: int) -> dict[str, Any]:
    from fastpitch.text import TextFrontend
    from fastpitch.text import normalize as norm
    from fastpitch.text.phonemize import Phonemizer

    holder: dict[str, Any] = {}

    def load() -> None:
        holder["frontend"] = TextFrontend(TextConfig(mode="phonemes"))
        holder["frontend"].to_symbols("Load the dictionary, inflect (for 42) and the G2P model: fastpitch.")

    load_wall, _ = _timed(load)
    frontend = holder["frontend"]
    norm.cardinal.cache_clear()  # the first pass starts with empty caches, like a fresh process
    norm.ordinal.cache_clear()
    frontend._phonemizer = Phonemizer("phonemes", frontend.lexicon)
    n = len(sentences)
    cold = _timed(lambda: [frontend.to_symbols(s) for s in sentences])
    warm = _best(lambda: [frontend.to_symbols(s) for s in sentences], repeats)
    normalize = _best(lambda: [frontend.normalize(s) for s in sentences], repeats)
    words = {w.lower() for s in sentences for w in _WORD.findall(frontend.normalize(s))}
    oov = sorted(w for w in words if not frontend._phonemizer.in_dictionary(w))
    return {
        "load_s": round(load_wall, 3),
        "sentences_per_s": _rate(n, cold[0]),
        "sentences_per_s_cpu": _rate(n, cold[1]),
        "sentences_per_s_warm": _rate(n, warm[0]),
        "sentences_per_s_warm_cpu": _rate(n, warm[1]),
        "normalize_sentences_per_s_cpu": _rate(n, normalize[1]),
        "symbols": sum(len(frontend.to_symbols(s)) for s in sentences),
        "distinct_words": len(words),
        "words_via_g2p": len(oov),
        "g2p_examples": oov[:10],
    }


def _espeak(sentences: list[str], repeats: int) -> dict[str, Any]:
    try:
        from phonemizer.backend import EspeakBackend
    except ImportError as e:
        return {"available": False, "reason": f"phonemizer is not installed ({e})"}
    try:
        holder: dict[str, Any] = {}
        load_wall, _ = _timed(
            lambda: holder.update(backend=EspeakBackend("en-us", preserve_punctuation=True, with_stress=True))
        )
        wall, cpu = _best(lambda: holder["backend"].phonemize(sentences, strip=True, njobs=1), repeats)
    except Exception as e:  # espeak-ng library missing or broken: report, do not fail the bench
        return {"available": False, "reason": f"{type(e).__name__}: {e}"}
    n = len(sentences)
    return {
        "available": True,
        "load_s": round(load_wall, 3),
        "sentences_per_s": _rate(n, wall),
        "sentences_per_s_cpu": _rate(n, cpu),
    }


def run(sentences: list[str], source: str, repeats: int = 3) -> dict[str, Any]:
    """Time our frontend and phonemizer+espeak-ng on the same sentences; one process, one thread each."""
    ours = _fastpitch(sentences, repeats)
    espeak = _espeak(sentences, repeats)
    result: dict[str, Any] = {
        "bench": "text",
        "sentences": len(sentences),
        "source": source,
        "mean_chars": round(sum(map(len, sentences)) / max(len(sentences), 1), 1),
        "fastpitch": ours,
        "phonemizer_espeak": espeak,
        "goal_sentences_per_s": GOAL_SENTENCES_PER_S,
        "meets_goal_cpu": ours["sentences_per_s_cpu"] >= GOAL_SENTENCES_PER_S,
        "python": sys.version.split()[0],
        "machine": describe_cpu(),
        "note": "fastpitch = normalization + phonemization, first pass with empty caches (warm: best of the "
        "repeats); phonemizer_espeak = phonemization only (no normalization), best of the repeats; *_cpu rates "
        "divide by this process's CPU time, the single-core speed on a shared machine",
    }
    if espeak.get("available"):
        result["ratio_fastpitch_to_espeak"] = round(ours["sentences_per_s"] / espeak["sentences_per_s"], 3)
        result["ratio_fastpitch_to_espeak_cpu"] = round(
            ours["sentences_per_s_cpu"] / espeak["sentences_per_s_cpu"], 3
        )
    return result
