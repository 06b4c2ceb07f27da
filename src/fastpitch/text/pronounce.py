"""Pronunciations a user writes: ARPAbet strings, IPA strings and CMUdict-format lexicon files.

Everything here is checked against the ARPAbet inventory of the symbol tables (`PHONES`), so a typo is an
error that names the symbol instead of a word the voice silently mispronounces. A lexicon file uses the CMU
Pronouncing Dictionary's layout, one `WORD  PH ON EH1 M Z` per line (`;;;` and `#` start comments; `word(2)`
alternates are skipped: the first pronunciation wins, as in the built-in dictionary).
"""

from __future__ import annotations

import re
from pathlib import Path

from fastpitch.errors import FastPitchError
from fastpitch.text.symbols import PHONES

LEXICON_FILE = "lexicon.txt"  # the name a voice directory may carry its own lexicon under
MAX_LEXICON_BYTES = 64 * 1024 * 1024
_PHONE_SET = frozenset(PHONES)
_ENTRY = re.compile(r"^\s*(\S+?)(\(\d+\))?\s+([^#]*?)\s*(?:#.*)?$")


class PronunciationError(FastPitchError, ValueError):
    """A pronunciation that uses symbols this frontend does not know, or a lexicon file that cannot be read."""


def parse_arpabet(text: str, where: str = "pronunciation") -> list[str]:
    """ "HH AH0 L OW1" -> its symbols; symbols outside ARPAbet (with stress on vowels) are an error naming them."""
    phones = text.split()
    unknown = [p for p in phones if p.upper() not in _PHONE_SET]
    if unknown:
        hint = ""
        if any(p.upper() + "1" in _PHONE_SET for p in unknown):
            hint = " (vowels need a stress digit: 0, 1 or 2)"
        shown = ", ".join(repr(p) for p in dict.fromkeys(unknown[:8]))
        raise PronunciationError(f"{where} {text.strip()!r} has unknown ARPAbet symbol(s) {shown}{hint}")
    if not phones:
        raise PronunciationError(f"{where} is empty")
    return [p.upper() for p in phones]


def load_lexicon(path: str | Path) -> dict[str, tuple[str, ...]]:
    """A CMUdict-format file as lowercase word -> symbols; any bad line is an error naming the file and line."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_LEXICON_BYTES:
            raise PronunciationError(f"lexicon {path} is larger than {MAX_LEXICON_BYTES // 2**20} MiB")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise PronunciationError(f"cannot read lexicon {path}: {e}") from None
    entries: dict[str, tuple[str, ...]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith((";;;", "#")):
            continue
        m = _ENTRY.match(line)
        if m is None or not m[3]:
            raise PronunciationError(f"{path}:{number}: expected 'WORD PH ON EH1 M Z', got {stripped[:60]!r}")
        if m[2]:
            continue
        word = m[1].lower()
        entries.setdefault(word, tuple(parse_arpabet(m[3], f"{path}:{number}: {m[1]}")))
    return entries


# IPA -> ARPAbet. Stress marks (ˈ primary, ˌ secondary) precede a syllable and go to its vowel.
_IPA_VOWELS = {
    "aɪ": "AY", "aʊ": "AW", "ɔɪ": "OY", "eɪ": "EY", "oʊ": "OW", "əʊ": "OW", "ɪə": "IH", "ɑ": "AA", "ɒ": "AA",
    "æ": "AE", "ʌ": "AH", "ə": "AH", "ɔ": "AO", "ɛ": "EH", "e": "EH", "ɝ": "ER", "ɚ": "ER", "ɜ": "ER",
    "ɪ": "IH", "i": "IY", "ʊ": "UH", "u": "UW", "o": "OW", "a": "AA", "ɐ": "AH", "ᵻ": "IH",
}  # fmt: skip
_IPA_CONSONANTS = {
    "tʃ": "CH", "dʒ": "JH", "t͡ʃ": "CH", "d͡ʒ": "JH", "b": "B", "d": "D", "ð": "DH", "f": "F", "ɡ": "G",
    "g": "G", "h": "HH", "k": "K", "l": "L", "ɫ": "L", "m": "M", "n": "N", "ŋ": "NG", "p": "P", "ɹ": "R",
    "r": "R", "ɾ": "T", "s": "S", "ʃ": "SH", "t": "T", "θ": "TH", "v": "V", "w": "W", "j": "Y", "z": "Z",
    "ʒ": "ZH", "ʔ": "T", "x": "HH", "ç": "HH",
}  # fmt: skip
_IPA_SILENT = frozenset("ː.ˑ ̩ʰ‿/[]")
_IPA = {**_IPA_VOWELS, **_IPA_CONSONANTS}
_IPA_LONGEST = max(len(k) for k in _IPA)


def ipa_to_arpabet(ipa: str) -> list[str]:
    """An IPA transcription ("həˈloʊ") -> ARPAbet symbols (HH AH0 L OW1); an unmapped character is an error."""
    out: list[str] = []
    stress = "0"
    i, n = 0, len(ipa)
    while i < n:
        c = ipa[i]
        if c in "ˈ'":
            stress, i = "1", i + 1
            continue
        if c in "ˌ,":
            stress, i = "2", i + 1
            continue
        if c in _IPA_SILENT or c.isspace():
            i += 1
            continue
        for size in range(min(_IPA_LONGEST, n - i), 0, -1):
            phone = _IPA.get(ipa[i : i + size])
            if phone is not None:
                break
        else:
            raise PronunciationError(f"IPA {ipa!r} has a symbol with no English equivalent here: {c!r}")
        if phone in _IPA_VOWELS.values():
            out.append(phone + stress)
            stress = "0"
        else:
            out.append(phone)
        i += size
    if not out:
        raise PronunciationError(f"IPA {ipa!r} holds no sounds")
    return out
