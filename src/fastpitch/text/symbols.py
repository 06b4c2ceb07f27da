"""Versioned symbol tables: the list of symbols a model embeds, saved with it so it always reads its own.

A table is an ordered list of strings; a symbol's id is its index. Id 0 is padding. Tables are never edited
in place: a change of inventory gets a new name ("en-v2"), and a model built from a saved config keeps the
list it was trained with (`TextConfig.symbols`).

en-v1 holds, in this order:
  <pad>          padding (id 0)
  |              word boundary, between two words
  , . ? ! ; : -  pauses: punctuation kept so the model can learn phrasing ("-" stands for a dash)
  AA0 … ZH       ARPAbet phonemes, vowels with lexical stress 0/1/2 (CMU Pronouncing Dictionary)
  a … z '        graphemes, for grapheme mode and the mixed mode's fallback
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from fastpitch.errors import FastPitchError

PAD = "<pad>"
WORD_BOUNDARY = "|"
PAUSES: tuple[str, ...] = (",", ".", "?", "!", ";", ":", "-")
VOWELS: tuple[str, ...] = (
    "AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW",
)  # fmt: skip
CONSONANTS: tuple[str, ...] = (
    "B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG", "P", "R", "S", "SH", "T", "TH",
    "V", "W", "Y", "Z", "ZH",
)  # fmt: skip
PHONES: tuple[str, ...] = tuple(sorted([v + s for v in VOWELS for s in "012"] + list(CONSONANTS)))
GRAPHEMES: tuple[str, ...] = (*"abcdefghijklmnopqrstuvwxyz", "'")


class SymbolError(FastPitchError, KeyError):
    """A symbol or id that the table does not hold."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


@dataclass
class SymbolTable:
    """An ordered symbol inventory with its version name; `encode`/`decode` map symbols to ids and back."""

    symbols: list[str]
    version: str = "custom"
    _ids: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.symbols = list(self.symbols)
        if not self.symbols or self.symbols[0] != PAD:
            raise SymbolError(f"symbol table {self.version!r} must start with the padding symbol {PAD!r}")
        if len(set(self.symbols)) != len(self.symbols):
            raise SymbolError(f"symbol table {self.version!r} lists a symbol twice")
        self._ids = {s: i for i, s in enumerate(self.symbols)}

    def __len__(self) -> int:
        return len(self.symbols)

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._ids

    def id(self, symbol: str) -> int:
        try:
            return self._ids[symbol]
        except KeyError:
            raise SymbolError(f"symbol {symbol!r} is not in symbol table {self.version!r}") from None

    def encode(self, symbols: Iterable[str]) -> list[int]:
        ids = self._ids
        try:
            return [ids[s] for s in symbols]
        except KeyError as e:
            raise SymbolError(f"symbol {e.args[0]!r} is not in symbol table {self.version!r}") from None

    def decode(self, ids: Iterable[int]) -> list[str]:
        symbols, n = self.symbols, len(self.symbols)
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < n:
                raise SymbolError(f"id {i} is outside symbol table {self.version!r} ({n} symbols)")
            out.append(symbols[i])
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "symbols": list(self.symbols)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SymbolTable:
        if not isinstance(data, dict) or not isinstance(data.get("symbols"), list):
            raise SymbolError("a symbol table must be a JSON object with a 'symbols' list")
        return cls(symbols=[str(s) for s in data["symbols"]], version=str(data.get("version", "custom")))


TABLES: dict[str, tuple[str, ...]] = {
    "en-v1": (PAD, WORD_BOUNDARY, *PAUSES, *PHONES, *GRAPHEMES),
}


def get_symbol_table(name: str = "en-v1") -> SymbolTable:
    """The named built-in table; a name this version does not know is a user error that lists the known ones."""
    if name not in TABLES:
        raise SymbolError(f"unknown symbol set {name!r}; known: {', '.join(TABLES)}")
    return SymbolTable(list(TABLES[name]), version=name)
