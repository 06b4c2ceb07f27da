"""Normalized English -> symbols: ARPAbet from the CMU Pronouncing Dictionary, G2P or letters for the rest.

The dictionary ships inside the package (`data/cmudict.dict.gz`, BSD-2-Clause, notice in
`data/LICENSE.cmudict`) and is parsed on first use in about 0.1 s. Words it lacks go to the G2P model
(`fastpitch.text.g2p`) in phoneme mode, or are spelled as graphemes in mixed mode.

Output layout: words are separated by the word-boundary symbol; a pause symbol follows the word it comes
after; runs of punctuation collapse to the strongest pause; every utterance ends with a pause ("." when the
text has none), so a model always sees where speech ends.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from fastpitch.text.heteronyms import HETERONYM_WORDS, heteronym
from fastpitch.text.lexicon import Lexicon, default_lexicon
from fastpitch.text.symbols import GRAPHEMES, WORD_BOUNDARY

if TYPE_CHECKING:
    from fastpitch.text.g2p import G2P

MODES = ("phonemes", "graphemes", "mixed")
MAX_G2P_LETTERS = 64

# Letter names for spelled-out capitals; cmudict's first entry for "a" is the article (AH0).
LETTER_A = ("EY1",)
_PAUSE_OF = {",": ",", ".": ".", "?": "?", "!": "!", ";": ";", ":": ":", "-": "-", "(": ",", ")": ","}
PAUSE_STRENGTH = {",": 1, "-": 2, ":": 3, ";": 3, ".": 4, "!": 5, "?": 6}
_TOKEN = re.compile(r"'?[A-Za-z][A-Za-z']*(?:-'?[A-Za-z][A-Za-z']*)*|[.,?!;:()\-]")
_SPELLED_LETTER = re.compile(r"[A-Z](?:'s)?")
_VOICELESS = frozenset({"P", "T", "K", "F", "TH"})
_SIBILANT = frozenset({"S", "Z", "SH", "ZH", "CH", "JH"})


_G2P: G2P | None = None


def default_g2p() -> G2P:
    """The shared G2P model (loaded once per process, on first use)."""
    global _G2P
    if _G2P is None:
        from fastpitch.text.g2p import G2P

        _G2P = G2P()
    return _G2P


class Phonemizer:
    """Turns normalized text into a symbol sequence in one of `MODES`; results per word are cached."""

    def __init__(
        self,
        mode: str = "phonemes",
        lexicon: Lexicon | None = None,
        g2p: G2P | None = None,
        user: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """`user` maps lowercase words to the symbols a user chose for them; it wins over the dictionary
        and the G2P (and over spelling in graphemes mode, since the user asked for those sounds)."""
        if mode not in MODES:
            raise ValueError(f"unknown text mode {mode!r}; choose one of: {', '.join(MODES)}")
        self.mode = mode
        self.lexicon = lexicon or default_lexicon()
        self.g2p = g2p or default_g2p()
        self.user = user or {}
        self._cache: dict[str, tuple[str, ...]] = {}

    def __call__(self, text: str, words: list[tuple[str, int, int]] | None = None) -> list[str]:
        """Symbols for normalized `text`; empty when it holds no word. With `words`, each word is appended to
        it as (word, first symbol, end symbol) so that timestamps can name what was said."""
        out: list[str] = []
        tokens = _TOKEN.findall(text)
        last_pause = ""  # pause symbol at the end of `out`, if any
        n_words = 0
        for i, token in enumerate(tokens):
            pause = _PAUSE_OF.get(token)
            if pause is not None:
                if not n_words:
                    continue  # nothing to pause after yet
                if last_pause:
                    if PAUSE_STRENGTH[pause] > PAUSE_STRENGTH[last_pause]:
                        out[-1] = last_pause = pause
                else:
                    out.append(pause)
                    last_pause = pause
                continue
            if n_words:
                out.append(WORD_BOUNDARY)
            start = len(out)
            out.extend(self._in_context(tokens, i))
            if words is not None:
                words.append((token, start, len(out)))
            n_words += 1
            last_pause = ""
        if n_words and not last_pause:
            out.append(".")
        return out

    def items(self, text: str) -> list[tuple[str, tuple[str, ...]]]:
        """Normalized `text` as (word, its symbols) and (pause symbol, ()) items, in order and uncollapsed:
        the pieces that markup assembles across its own spans."""
        tokens = _TOKEN.findall(text)
        out: list[tuple[str, tuple[str, ...]]] = []
        for i, token in enumerate(tokens):
            pause = _PAUSE_OF.get(token)
            if pause is not None:
                out.append((pause, ()))
            else:
                out.append((token, self._in_context(tokens, i)))
        return out

    def _in_context(self, tokens: list[str], i: int) -> tuple[str, ...]:
        """The symbols of the word `tokens[i]` where its neighbours decide: the letter "A" or the article,
        and heteronyms ("to record", "a record"); a user's pronunciation wins over both."""
        token = tokens[i]
        if token[0] != "A" and token.lower() not in HETERONYM_WORDS:  # the common case: the cached word
            return self.word(token)
        if self.mode == "graphemes" or token.lower() in self.user:
            return self.word(token)
        if token == "A" and _letter_a(tokens, i):
            return LETTER_A
        if token.startswith("A-") and len(token) > 2:  # "A-B testing", "A-list": the letter
            return (*LETTER_A, WORD_BOUNDARY, *self.word(token[2:]))
        return heteronym(tokens, i) or self.word(token)

    def word(self, word: str) -> tuple[str, ...]:
        """Symbols for one word (which may hold hyphens and apostrophes)."""
        key = word.lower()
        symbols = self._cache.get(key)
        if symbols is None:
            if len(self._cache) > 200_000:
                self._cache.clear()
            symbols = self._cache[key] = tuple(self._word(key))
        return symbols

    def _word(self, word: str) -> list[str]:
        if word in self.user:
            return list(self.user[word])
        if self.mode == "graphemes":
            return _graphemes(word)
        phones = self._lookup(word)
        if phones is not None:
            return phones
        if "-" in word:
            parts = [p for p in word.split("-") if p.strip("'")]
            out: list[str] = []
            for k, part in enumerate(parts):
                if k:
                    out.append(WORD_BOUNDARY)
                out.extend(self._word(part))
            return out
        if self.mode == "mixed":
            return _graphemes(word)
        letters = word.replace("'", "")
        # Real words are short; a run of thousands of letters is read in pieces to keep memory bounded.
        return [
            p
            for i in range(0, len(letters), MAX_G2P_LETTERS)
            for p in self.g2p(letters[i : i + MAX_G2P_LETTERS])
        ]

    def _lookup(self, word: str) -> list[str] | None:
        """Dictionary pronunciation, also for quoted words and possessives of known words ("smith's")."""
        phones = self.lexicon.lookup(word)
        if phones is None and "'" in word:
            stripped = word.strip("'")
            phones = self.lexicon.lookup(stripped)
            if phones is None and stripped.endswith("'s"):
                stem = self.lexicon.lookup(stripped[:-2])
                if stem:
                    last = stem[-1]
                    ending = ["IH0", "Z"] if last in _SIBILANT else ["S"] if last in _VOICELESS else ["Z"]
                    phones = stem + ending
        return phones

    def in_dictionary(self, word: str) -> bool:
        key = word.lower()
        return key in self.user or self._lookup(key) is not None


def _graphemes(word: str) -> list[str]:
    return [c for c in word if c in GRAPHEMES]


_DIGIT_NAMES = frozenset(
    ["zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
)


def _letter_a(tokens: list[str], i: int) -> bool:
    """Whether a capital "A" is the letter, not the article: among spelled letters ("U S A", "Q and A"), at
    the end of a phrase ("Plan A.", "get an A"), before a digit inside a sentence ("the A320", "use A4 paper";
    a sentence's first "A 3 percent rise" is the article), or between a capitalised word and a lowercase one
    ("Vitamin A is", "Type A personality"; not "Portrait Of A Lady" or "A dog")."""
    before = tokens[i - 1] if i > 0 else ""
    after = tokens[i + 1] if i + 1 < len(tokens) else ""
    if _SPELLED_LETTER.fullmatch(before) or _SPELLED_LETTER.fullmatch(after):
        return True
    if before.lower() in ("and", "&") and i > 1 and _SPELLED_LETTER.fullmatch(tokens[i - 2]):
        return True
    if not after or after in _PAUSE_OF or before.lower() == "an":
        return True
    inside = bool(before) and before not in _PAUSE_OF
    if after.lower() in _DIGIT_NAMES:
        return inside and not (before.isupper() and len(before) > 1)  # "WIN A 5 DOLLAR PRIZE": shouted
    return inside and before[:1].isupper() and not before.isupper() and after[:1].islower()
