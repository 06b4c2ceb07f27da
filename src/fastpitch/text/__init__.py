"""The English text frontend: raw text -> normalized words -> symbols -> ids for the model.

`TextFrontend(text_cfg)` is the one entry point the rest of fastpitch uses. It reads the symbol table a model
was saved with (`TextConfig.symbols`) when there is one, so an old checkpoint always gets its own ids; the
built-in table named by `TextConfig.symbol_set` is used otherwise.

A saved table that cannot express the chosen mode at all (an ARPAbet phoneme or a letter a-z missing entirely)
is a `FastPitchError` at construction. A single symbol the saved table lacks (a pause, a stress variant, the
apostrophe) is mapped to the closest symbol it has (another pause, another stress of the same vowel) or
dropped, with one warning per symbol: speaking slightly imperfectly beats refusing to speak.
"""

from __future__ import annotations

import logging
import re

from fastpitch.config import TextConfig
from fastpitch.errors import FastPitchError
from fastpitch.text.lexicon import default_lexicon
from fastpitch.text.normalize import NON_FINAL, Normalizer
from fastpitch.text.phonemize import MODES, Phonemizer
from fastpitch.text.symbols import (
    CONSONANTS,
    GRAPHEMES,
    PAUSES,
    PHONES,
    VOWELS,
    WORD_BOUNDARY,
    SymbolTable,
    get_symbol_table,
)

__all__ = ["TextError", "TextFrontend", "get_symbol_table"]

log = logging.getLogger(__name__)


class TextError(FastPitchError, ValueError):
    """Text that cannot be spoken: empty, or nothing readable left after cleaning."""


# A sentence ends at . ! ? (with closing quotes or brackets) followed by space and a capital, digit or quote,
# unless the period belongs to an abbreviation such as "Dr." or "Jan." or an initial ("J. K. Rowling").
# Bounded repetitions keep the scan linear even on runs of thousands of periods.
_SENTENCE_END = re.compile(r"[.!?]{1,8}[\"')\]]{0,4}\s+(?=[\"'(\[]?[A-Z0-9])|\n\s*\n\s*")
_LAST_WORD = re.compile(r"(?<![A-Za-z.])([A-Za-z][A-Za-z.]{0,15})\.$")


class TextFrontend:
    """Normalize, phonemize and encode English text for one model's symbol table."""

    def __init__(self, cfg: TextConfig | None = None) -> None:
        cfg = cfg or TextConfig()
        if cfg.mode not in MODES:
            raise FastPitchError(f"unknown text mode {cfg.mode!r}; choose one of: {', '.join(MODES)}")
        self.mode = cfg.mode
        self.edge_boundaries = cfg.edge_boundaries
        if cfg.symbols:
            self.symbols = SymbolTable(cfg.symbols, version=cfg.symbol_set)
        else:
            self.symbols = get_symbol_table(cfg.symbol_set)
        self._check_coverage()
        self.lexicon = default_lexicon()
        self._normalizer = Normalizer(is_word=self.lexicon.__contains__)
        self._phonemizer = Phonemizer(self.mode, self.lexicon)
        self._replacement: dict[str, str | None] = {}
        producible = (WORD_BOUNDARY, *PAUSES, *PHONES, *GRAPHEMES)
        self._complete = all(s in self.symbols for s in producible)  # no per-symbol check needed

    def normalize(self, text: str) -> str:
        """Written text -> the words to say ("$3.50" -> "three dollars and fifty cents")."""
        if not isinstance(text, str) or not text.strip():
            raise TextError("text is empty")
        normalized = self._normalizer(text)
        if not re.search(r"[A-Za-z]", normalized):
            raise TextError(f"nothing to read aloud in {_preview(text)}")
        return normalized

    def to_symbols(self, text: str) -> list[str]:
        """Raw text -> symbols of this frontend's table (see the module docstring for missing symbols)."""
        return self.phonemize(self.normalize(text))

    def phonemize(self, normalized: str) -> list[str]:
        """Normalized text (from `normalize`) -> symbols of this frontend's table."""
        symbols = self._phonemizer(normalized)
        if not symbols:
            raise TextError(f"nothing to read aloud in {_preview(normalized)}")
        if self.edge_boundaries:
            symbols = [WORD_BOUNDARY, *symbols, WORD_BOUNDARY]
        if self._complete:
            return symbols
        table = self.symbols
        out = []
        for s in symbols:
            if s in table:
                out.append(s)
            else:
                r = self._replace(s)
                if r is not None:
                    out.append(r)
        return out

    def encode(self, text: str) -> list[int]:
        """Raw text -> symbol ids (0 is padding and never produced)."""
        return self.symbols.encode(self.to_symbols(text))

    def split_sentences(self, text: str) -> list[str]:
        """Split raw text into sentences, keeping "Dr. Smith" and "Jan. 5" whole; linear in the text length."""
        if not isinstance(text, str) or not text.strip():
            raise TextError("text is empty")
        sentences, start = [], 0
        for m in _SENTENCE_END.finditer(text):
            if m[0].startswith(".") and _non_final_abbreviation(text, m.start()):
                continue
            sentences.append(text[start : m.end()].strip())
            start = m.end()
        sentences.append(text[start:].strip())
        return [s for s in sentences if s]

    def _check_coverage(self) -> None:
        """A table must hold every phoneme (some stress of each vowel) and/or every letter the mode needs."""
        table = self.symbols
        missing = []
        if self.mode in ("phonemes", "mixed"):
            missing += [c for c in CONSONANTS if c not in table]
            missing += [v for v in VOWELS if not any(v + s in table for s in ("0", "1", "2", ""))]
        if self.mode in ("graphemes", "mixed"):
            missing += [g for g in GRAPHEMES if g.isalpha() and g not in table]
        if missing:
            raise FastPitchError(
                f"symbol table {table.version!r} cannot express text mode {self.mode!r}: it lacks "
                f"{len(missing)} symbol(s) such as {', '.join(missing[:5])}; was the model trained with another mode?"
            )

    def _replace(self, symbol: str) -> str | None:
        """The closest symbol the table has for one it lacks, or None to drop it; warns once per symbol."""
        if symbol in self._replacement:
            return self._replacement[symbol]
        table = self.symbols
        if symbol in PAUSES:
            candidates = [",", ".", *PAUSES]
        elif symbol in PHONES and symbol[-1].isdigit():
            base = symbol[:-1]
            candidates = [base + s for s in "102"] + [base]
        else:
            candidates = []
        replacement = next((c for c in candidates if c in table), None)
        self._replacement[symbol] = replacement
        action = f"using {replacement!r}" if replacement else "dropping it"
        log.warning("symbol %r is not in symbol table %r; %s", symbol, table.version, action)
        return replacement


def _non_final_abbreviation(text: str, dot: int) -> bool:
    """Whether the period at `dot` closes an abbreviation that does not end a sentence ("Dr.", "J.")."""
    m = _LAST_WORD.search(text, max(0, dot - 17), dot + 1)
    if m is None:
        return False
    word = m[1]
    return (len(word) == 1 and word.isupper()) or word.lower() in NON_FINAL


def _preview(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")
