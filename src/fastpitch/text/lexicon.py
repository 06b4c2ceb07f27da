"""The CMU Pronouncing Dictionary shipped with fastpitch (BSD-2-Clause, see data/): word -> ARPAbet.

Its own module so that the phonemizer and the G2P trainer (which learns from it) both read it without importing
each other.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

DICT_PATH = Path(__file__).with_name("data") / "cmudict.dict.gz"


class Lexicon:
    """The CMU Pronouncing Dictionary: lowercase word -> first pronunciation, loaded on first use."""

    def __init__(self, path: str | Path = DICT_PATH) -> None:
        self.path = Path(path)
        self._entries: dict[str, str] | None = None

    @property
    def entries(self) -> dict[str, str]:
        if self._entries is None:
            with gzip.open(self.path, "rt", encoding="utf-8") as f:
                raw = f.read()
            # "word PH ON ES # comment"; alternates "word(2) ..." are skipped (first pronunciation wins).
            self._entries = dict(re.findall(r"^([^ (\n]+) ([^#\n]*[^ #\n])", raw, re.M))
        return self._entries

    def __contains__(self, word: object) -> bool:
        return word in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def words(self) -> list[str]:
        return list(self.entries)

    def lookup(self, word: str) -> list[str] | None:
        phones = self.entries.get(word)
        return phones.split() if phones is not None else None


_LEXICON = Lexicon()


def default_lexicon() -> Lexicon:
    """The shared dictionary (parsed once per process)."""
    return _LEXICON
