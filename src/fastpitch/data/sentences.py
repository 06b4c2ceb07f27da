"""English sentences for a synthetic corpus, available offline under a permissive license.

The source is the quoted usage examples in WordNet 3.0's glosses (Debian `wordnet-base`): about 28,000 short,
modern, varied sentences and phrases. They are cleaned, then picked greedily for phonetic coverage (rare
diphones first, so 2,000 sentences cover nearly every ARPAbet phone pair), and topped up with sentences made
here from templates full of numbers, dates, times, money and abbreviations, so that the text frontend's
normalizer is exercised too. Everything is deterministic for a seed.
"""

from __future__ import annotations

import heapq
import itertools
import random
import re
from collections import Counter
from collections.abc import Callable, Container, Iterable, Sequence
from pathlib import Path
from typing import Protocol

from fastpitch.errors import FastPitchError
from fastpitch.text.symbols import CONSONANTS, VOWELS

WORDNET_DIR = Path("/usr/share/wordnet")
WORDNET_FILES = ("data.noun", "data.verb", "data.adj", "data.adv")
SOURCE_NAME = "WordNet 3.0 usage examples (Debian package wordnet-base)"

# Reproduced verbatim, as the license asks, beside every corpus made from WordNet's text.
WORDNET_LICENSE = """\
The sentences of this corpus (except those made from templates by fastpitch, which contain numbers, dates,
times, money and abbreviations) are usage examples taken from WordNet 3.0, under the following license.

WordNet Release 3.0

This software and database is being provided to you, the LICENSEE, by
Princeton University under the following license.  By obtaining, using
and/or copying this software and database, you agree that you have
read, understood, and will comply with these terms and conditions.:

Permission to use, copy, modify and distribute this software and
database and its documentation for any purpose and without fee or
royalty is hereby granted, provided that you agree to comply with
the following copyright notice and statements, including the disclaimer,
and that the same appear on ALL copies of the software, database and
documentation, including modifications that you make for internal
use or for distribution.

WordNet 3.0 Copyright 2006 by Princeton University.  All rights reserved.

THIS SOFTWARE AND DATABASE IS PROVIDED "AS IS" AND PRINCETON
UNIVERSITY MAKES NO REPRESENTATIONS OR WARRANTIES, EXPRESS OR
IMPLIED.  BY WAY OF EXAMPLE, BUT NOT LIMITATION, PRINCETON
UNIVERSITY MAKES NO REPRESENTATIONS OR WARRANTIES OF MERCHANT-
ABILITY OR FITNESS FOR ANY PARTICULAR PURPOSE OR THAT THE USE
OF THE LICENSED SOFTWARE, DATABASE OR DOCUMENTATION WILL NOT
INFRINGE ANY THIRD PARTY PATENTS, COPYRIGHTS, TRADEMARKS OR
OTHER RIGHTS.

The name of Princeton University or Princeton may not be used in
advertising or publicity pertaining to distribution of the software
and/or database.  Title to copyright in this software, database and
any associated documentation shall at all times remain with
Princeton University and LICENSEE agrees to preserve same.
"""

# The 39 phones of CMUdict's ARPAbet, without stress digits.
ARPABET = frozenset(VOWELS) | frozenset(CONSONANTS)

MIN_WORDS, MAX_WORDS, MAX_CHARS = 5, 24, 160
_ALLOWED = re.compile(r"[A-Za-z0-9 ,.;:!?'$%-]+")
_EXAMPLE = re.compile(r'"([^"]+)"')
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")


def clean_sentence(text: str) -> str | None:
    """A usage example made speakable (capitalised, terminated), or None when it should not be used."""
    text = " ".join(text.replace("`", "'").split()).strip(" '")
    if not text or not _ALLOWED.fullmatch(text) or "..." in text or "--" in text:
        return None
    words = text.split()
    if not MIN_WORDS <= len(words) <= MAX_WORDS or len(text) > MAX_CHARS:
        return None
    # Quotes must be apostrophes inside words (don't, John's) or a plural possessive (the boys' room).
    for word in words:
        core = word.rstrip(",.;:!?")
        if core.startswith("'") or (core.endswith("'") and not core.endswith("s'")):
            return None
    if not words[0][0].isalnum():
        return None
    text = text[0].upper() + text[1:]
    if text[-1] in ",;:-":
        text = text[:-1].rstrip()
    if text[-1] not in ".!?":
        text += "."
    return text


def wordnet_sentences(wordnet_dir: str | Path = WORDNET_DIR) -> list[str]:
    """Every distinct cleaned usage example of WordNet, sorted (so the list never depends on file order)."""
    wordnet_dir = Path(wordnet_dir)
    paths = [wordnet_dir / name for name in WORDNET_FILES]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise FastPitchError(
            f"WordNet data not found ({missing[0]}): install the Debian package wordnet-base "
            "(apt-get install wordnet-base)"
        )
    seen: dict[str, str] = {}
    for path in paths:
        with path.open(encoding="latin-1") as f:
            for line in f:
                _, bar, gloss = line.partition(" | ")
                if not bar:
                    continue  # the license header at the top of each file
                for example in _EXAMPLE.findall(gloss):
                    sentence = clean_sentence(example)
                    if sentence is not None:
                        seen.setdefault(sentence.lower(), sentence)
    return sorted(seen.values())


_MONTHS = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
    "November", "December",
]  # fmt: skip
_MONTH_ABBR = ["Jan.", "Feb.", "Mar.", "Apr.", "May", "June", "July", "Aug.", "Sept.", "Oct.", "Nov.", "Dec."]
_NAMES = [
    "Smith", "Garcia", "Chen", "Murphy", "Miller", "Novak", "Patel", "Jones", "Rossi", "Baker", "Nguyen",
    "Schmidt", "Walsh", "Kim",
]  # fmt: skip
_STREETS = ["Oak", "Main", "Elm", "Maple", "Park", "Cedar", "Lake", "Hill", "Pine", "River"]
_ITEMS = [
    "a sandwich",
    "the tickets",
    "a new lamp",
    "two old books",
    "the repair",
    "a used bicycle",
    "the groceries",
    "a pair of boots",
]
_PLACES = ["the library", "the station", "the museum", "the clinic", "city hall", "the harbor"]


def _ordinal(n: int) -> str:
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _money(rng: random.Random) -> str:
    return f"${rng.randint(1, 999)}.{rng.randint(0, 99):02d}"


def _time(rng: random.Random) -> str:
    return f"{rng.randint(1, 12)}:{rng.choice([0, 5, 15, 30, 45, rng.randint(1, 59)]):02d}"


_TEMPLATES: list[Callable[[random.Random], str]] = [
    lambda r: f"The meeting was moved to {r.choice(_MONTHS)} {r.randint(1, 28)}, {r.randint(1950, 2030)}.",
    lambda r: f"{r.choice(_NAMES)} paid {_money(r)} for {r.choice(_ITEMS)}.",
    lambda r: (
        f"The train leaves at {_time(r)} {r.choice(['a.m.', 'p.m.'])} from platform {r.randint(1, 12)}."
    ),
    lambda r: (
        f"Dr. {r.choice(_NAMES)} lives at {r.randint(2, 999)} {r.choice(_STREETS)} St., near {r.choice(_PLACES)}."
    ),
    lambda r: (
        f"About {r.randint(2, 98)}% of the {r.randint(1000, 99999):,} residents voted on {r.choice(_MONTH_ABBR)} {r.randint(1, 28)}."
    ),
    lambda r: (
        f"Mr. {r.choice(_NAMES)} and Mrs. {r.choice(_NAMES)} arrived on the {_ordinal(r.randint(1, 31))} of {r.choice(_MONTHS)}."
    ),
    lambda r: (
        f"The report lists {r.randint(100, 9999):,} cases in {r.randint(1990, 2024)}, up from {r.randint(10, 99)} the year before."
    ),
    lambda r: (
        f"Call Mrs. {r.choice(_NAMES)} at {_time(r)} or after {r.randint(1, 11)} p.m. on {r.choice(_MONTH_ABBR)} {_ordinal(r.randint(1, 30))}."
    ),
    lambda r: (
        f"Prof. {r.choice(_NAMES)} gave a {r.randint(5, 90)}-minute talk at {r.choice(_PLACES)} in {r.randint(1960, 2025)}."
    ),
    lambda r: (
        f"The budget grew from ${r.randint(2, 40)} million to ${r.randint(41, 900)} million, i.e. {r.randint(5, 95)}% more."
    ),
    lambda r: (
        f"Flight {r.choice('ABDKLU')}{r.choice('AJLY')} {r.randint(10, 2999)} departs at {_time(r)}, gate {r.choice('ABCDE')}{r.randint(1, 40)}."
    ),
    lambda r: (
        f"It was {r.randint(-20, 104)} degrees on {r.randint(1, 12)}/{r.randint(1, 28)}/{r.randint(1980, 2029)}, a record for the month."
    ),
    lambda r: (
        f"Chapter {r.randint(2, 40)} starts on page {r.randint(20, 900)} and ends on page {r.randint(901, 1500)}."
    ),
    lambda r: f"The package weighs {r.randint(1, 40)}.{r.randint(1, 9)} kg and costs {_money(r)} to ship.",
    lambda r: (
        f"Gen. {r.choice(_NAMES)} met Sen. {r.choice(_NAMES)} at {_time(r)} a.m. on {r.choice(_MONTHS)} {_ordinal(r.randint(1, 31))}."
    ),
    lambda r: f"Room No. {r.randint(2, 500)} on {r.choice(_STREETS)} Ave. costs approx. {_money(r)} a night.",
    lambda r: (
        f"The {_ordinal(r.randint(2, 99))} race starts at {_time(r)} and the winner gets ${r.randint(2, 50) * 100:,}."
    ),
    lambda r: (
        f"In {r.randint(1800, 2025)}, the town had {r.randint(1000, 999999):,} people, {r.randint(2, 60)}.{r.randint(1, 9)}% of them farmers."
    ),
    lambda r: (
        f"Apples, pears, plums, etc. were {r.randint(2, 9)} for ${r.randint(1, 9)} at the market vs. {r.randint(10, 20)} last year."
    ),
    lambda r: (
        f"Mt. {r.choice(_NAMES)} is {r.randint(1000, 29000):,} feet high, about {r.randint(300, 8800):,} meters."
    ),
]


def generated_sentences(n: int, seed: int) -> list[str]:
    """`n` distinct template sentences with numbers, dates, times, money and abbreviations."""
    rng = random.Random(f"fastpitch-generated-{seed}")
    out: dict[str, None] = {}
    while len(out) < n:
        out.setdefault(_TEMPLATES[len(out) % len(_TEMPLATES)](rng))
    return list(out)


def phones_of(symbols: Iterable[str]) -> list[str]:
    """The ARPAbet phones (stress removed) of a symbol sequence; word boundaries and punctuation dropped."""
    phones = (s.rstrip("012") for s in symbols)
    return [p for p in phones if p in ARPABET]


def diphones(phones: Sequence[str]) -> set[tuple[str, str]]:
    """Phone pairs of an utterance, including the pairs with the silence before and after it."""
    padded = ["SIL", *phones, "SIL"]
    return set(itertools.pairwise(padded))


def select_by_coverage(units: Sequence[set], count: int, seed: int) -> list[int]:
    """Indices of `count` items picked greedily for coverage, in pick order.

    A unit (a diphone) is worth 1 / (its frequency among all items * (1 + times already picked)), and an
    item's score is its worth per unit: rare diphones come first and, once everything is covered, the counts
    are balanced. Scores only fall as items are picked, which makes a lazy priority queue exact; ties break
    by a seeded random rank.
    """
    rank = list(range(len(units)))
    random.Random(f"fastpitch-select-{seed}").shuffle(rank)
    frequency = Counter(u for item in units for u in item)
    picked_counts: Counter = Counter()

    def score(i: int) -> float:
        if not units[i]:
            return 0.0
        return sum(1.0 / (frequency[u] * (1 + picked_counts[u])) for u in units[i]) / len(units[i])

    heap = [(-score(i), rank[i], i) for i in range(len(units))]
    heapq.heapify(heap)
    chosen: list[int] = []
    while heap and len(chosen) < count:
        _, r, i = heapq.heappop(heap)
        fresh = score(i)
        if heap and fresh < -heap[0][0]:
            heapq.heappush(heap, (-fresh, r, i))
            continue
        chosen.append(i)
        picked_counts.update(units[i])
    return chosen


class Frontend(Protocol):
    """What sentence choice needs of a text frontend (`fastpitch.text.TextFrontend` has it)."""

    lexicon: Container[str]

    def normalize(self, text: str) -> str: ...

    def to_symbols(self, text: str) -> list[str]: ...


def in_lexicon(normalized: str, lexicon: Container[str]) -> bool:
    """Whether every word of a normalized sentence has a dictionary pronunciation (possessives included)."""
    words = _WORD.findall(normalized.lower())
    return all(w in lexicon or (w.endswith("'s") and w[:-2] in lexicon) for w in words)


def choose_sentences(
    count: int,
    frontend: Frontend,
    seed: int = 0,
    generated_fraction: float = 0.05,
    wordnet_dir: str | Path = WORDNET_DIR,
    pool_factor: int = 10,
) -> list[str]:
    """`count` distinct sentences: WordNet examples chosen for diphone coverage plus generated ones, shuffled.

    Only examples whose words are all in the frontend's pronouncing dictionary are used: the engines'
    lexicons derive from the same CMU dictionary, so the phones they speak are the phones our frontend
    writes. Coverage is measured in the frontend's own symbols. The greedy search looks at a seeded sample
    of `pool_factor * count` examples (all of them for a large corpus), so that small corpora are quick.
    """
    if count < 1:
        raise FastPitchError(f"the sentence count must be at least 1, got {count}")
    n_generated = round(count * generated_fraction)
    n_wordnet = count - n_generated
    candidates = wordnet_sentences(wordnet_dir)
    rng = random.Random(f"fastpitch-pool-{seed}")
    pool = rng.sample(candidates, min(len(candidates), max(n_wordnet, pool_factor * count)))
    pool = [s for s in pool if in_lexicon(frontend.normalize(s), frontend.lexicon)]
    if n_wordnet > len(pool):
        raise FastPitchError(f"asked for {n_wordnet} WordNet sentences, but only {len(pool)} are usable")
    units = [diphones(phones_of(frontend.to_symbols(s))) for s in pool]
    chosen = [pool[i] for i in select_by_coverage(units, n_wordnet, seed)]
    sentences = chosen + generated_sentences(n_generated, seed)
    random.Random(f"fastpitch-order-{seed}").shuffle(sentences)
    return sentences


def diphone_coverage(sentences: Iterable[str], phonemize: Callable[[str], Sequence[str]]) -> int:
    """How many distinct diphones the sentences contain (a figure for the corpus summary)."""
    covered: set[tuple[str, str]] = set()
    for s in sentences:
        covered |= diphones(phones_of(phonemize(s)))
    return len(covered)


def split_indices(n: int, test_count: int, val_count: int) -> dict[str, list[int]]:
    """A fixed held-out split of sentence indices: test first, then validation, the rest for training.

    The sentence order is already a seeded shuffle, so taking leading positions is a random split.
    """
    if test_count < 0 or val_count < 0 or test_count + val_count >= n:
        raise FastPitchError(
            f"cannot hold out {test_count} test and {val_count} validation sentences from {n}: "
            "leave at least one for training (lower --test-count and --val-count, or raise --count)"
        )
    return {
        "test": list(range(test_count)),
        "val": list(range(test_count, test_count + val_count)),
        "train": list(range(test_count + val_count, n)),
    }
