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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from fastpitch.config import TextConfig
from fastpitch.errors import FastPitchError
from fastpitch.text.lexicon import default_lexicon
from fastpitch.text.markup import DEFAULT_STYLE, Run, Style, has_braces, is_ssml, parse
from fastpitch.text.normalize import (
    BEFORE_NUMBERS,
    LINE_BREAK,
    NON_FINAL,
    Normalizer,
    line_ends_sentence,
    period_ends_sentence,
)
from fastpitch.text.phonemize import MODES, PAUSE_STRENGTH, Phonemizer
from fastpitch.text.pronounce import load_lexicon, parse_arpabet
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
from fastpitch.text.written import written_groups

__all__ = [
    "LexiconSource",
    "Style",
    "TextError",
    "TextFrontend",
    "Utterance",
    "get_symbol_table",
    "is_markup",
]

log = logging.getLogger(__name__)


class TextError(FastPitchError, ValueError):
    """Text that cannot be spoken: empty, or nothing readable left after cleaning."""


# A sentence ends at . ! ? (with closing quotes or brackets) followed by space and a capital, digit or quote,
# unless the period belongs to an abbreviation such as "Dr." or "Jan." or an initial ("J. K. Rowling"); or at
# the end of a line without punctuation before one that starts a sentence or list item (a headline, a list).
# Bounded repetitions keep the scan linear even on runs of thousands of periods.
_SENTENCE_END = re.compile(r"[.!?]{1,8}[\"')\]]{0,4}\s+(?=[\"'(\[]?[A-Z0-9])|\n\s*\n\s*|" + LINE_BREAK)
_LAST_WORD = re.compile(r"(?<![A-Za-z.])([A-Za-z][A-Za-z.]{0,15})\.$")
_DOTTED = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")  # "U.S", "a.m", "Ph.D" (the last period is the one found)


WordSpan = tuple[str, int, int]  # a word as written or spoken, and its symbols' [start, end) in an utterance
Written = tuple[str, int]  # what a word reads as written ("3/4/2025." for "March"), and its group (`written`)


@dataclass
class Utterance:
    """What the acoustic model speaks in one go, from markup: symbols with their words, per-symbol styles
    (None: all default), marks (name, index of the symbol they precede) and how it ends: "sentence",
    "paragraph", "break" (`seconds` of silence), "join" (another speaker follows at once) or "last"; the first
    may have `lead` seconds of silence before it."""

    symbols: list[str]
    words: list[WordSpan]
    styles: list[Style] | None
    marks: list[tuple[str, int]]
    end: str
    seconds: float = 0.0
    text: str = ""
    speaker: str | None = None
    lead: float = 0.0  # seconds of silence before it: a <break> before the document's first word
    lead_marks: list[tuple[str, float]] = field(default_factory=list)  # marks in that silence: name, seconds
    written: list[Written] = field(default_factory=list)  # per word of `words`


def is_markup(text: str) -> bool:
    """Whether `text` needs the markup path: an SSML document or `{ARPAbet}` in plain text."""
    return is_ssml(text) or has_braces(text)


LexiconSource = str | Path | Mapping[str, str | Sequence[str]]


class TextFrontend:
    """Normalize, phonemize and encode English text for one model's symbol table.

    `lexicon` (a CMUdict-format file or a word -> pronunciation mapping) wins over the built-in dictionary
    and the G2P; `voice_lexicon` is a voice directory's own file, under the user's.
    """

    def __init__(
        self,
        cfg: TextConfig | None = None,
        lexicon: LexiconSource | None = None,
        voice_lexicon: str | Path | None = None,
    ) -> None:
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
        self.user_lexicon = user_lexicon(voice_lexicon, lexicon)
        user = self.user_lexicon
        is_word = (lambda w: w in user or w in self.lexicon) if user else self.lexicon.__contains__
        self._normalizer = Normalizer(is_word=is_word)
        self._phonemizer = Phonemizer(self.mode, self.lexicon, user=user)
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

    def to_symbols(self, text: str, words: list[WordSpan] | None = None) -> list[str]:
        """Raw text -> symbols of this frontend's table (see the module docstring for missing symbols);
        `words`, when given, receives each word with the span of its symbols."""
        return self.phonemize(self.normalize(text), words)

    def phonemize(self, normalized: str, words: list[WordSpan] | None = None) -> list[str]:
        """Normalized text (from `normalize`) -> symbols of this frontend's table (`words` as in `to_symbols`)."""
        found: list[WordSpan] | None = [] if words is not None else None
        symbols = self._phonemizer(normalized, found)
        if not symbols:
            raise TextError(f"nothing to read aloud in {_preview(normalized)}")
        if self.edge_boundaries:
            symbols = [WORD_BOUNDARY, *symbols, WORD_BOUNDARY]
            if found:
                found = [(w, a + 1, b + 1) for w, a, b in found]
        if self._complete:
            if words is not None and found:
                words.extend(found)
            return symbols
        out, position = self._in_table(symbols)
        if words is not None and found:
            words.extend((w, position[a], position[b]) for w, a, b in found)
        return out

    def utterances(self, text: str, ssml: bool | None = None) -> list[Utterance]:
        """Markup (SSML when `ssml`, or when None and it starts with `<speak`; else text with `{ARPAbet}`)
        -> utterances in order. Markup errors are `MarkupError`s; a document with nothing to say a `TextError`."""
        if not isinstance(text, str) or not text.strip():
            raise TextError("text is empty")
        builder = _UtteranceBuilder(self)
        for run in parse(text, ssml):
            builder.add(run)
        return builder.finish(text)

    def words_symbols(self, words: str) -> list[tuple[str, tuple[str, ...]]]:
        """Already spoken-form words (or pauses) -> (word, symbols) items: the markup path's phonemizer."""
        return self._phonemizer.items(words)

    def normalize_fragment(self, text: str) -> str:
        """Normalize a piece of a document, which may hold no words at all (then "")."""
        return self._normalizer(text) if text.strip() else ""

    def in_table(self, symbols: list[str]) -> tuple[list[str], list[int]]:
        """Symbols mapped onto this frontend's table, and where each input symbol (and the end) landed."""
        if self._complete:
            return symbols, list(range(len(symbols) + 1))
        return self._in_table(symbols)

    def _in_table(self, symbols: list[str]) -> tuple[list[str], list[int]]:
        table = self.symbols
        out: list[str] = []
        position = []
        for s in symbols:
            position.append(len(out))
            if s in table:
                out.append(s)
            else:
                r = self._replace(s)
                if r is not None:
                    out.append(r)
        position.append(len(out))
        return out, position

    def encode(self, text: str) -> list[int]:
        """Raw text -> symbol ids (0 is padding and never produced)."""
        return self.symbols.encode(self.to_symbols(text))

    def split_sentences(self, text: str) -> list[str]:
        """Split raw text into sentences, keeping "Dr. Smith" and "Jan. 5" whole; linear in the text length."""
        if not isinstance(text, str) or not text.strip():
            raise TextError("text is empty")
        sentences, start = [], 0
        for m in _SENTENCE_END.finditer(text):
            if m[0].startswith(".") and (
                _non_final_abbreviation(text, m.start()) or _list_number(text, m.start())
            ):
                continue
            if m[0][:1] not in ".!?" and m[0].count("\n") == 1 and not line_ends_sentence(text, m.end() - 1):
                continue  # a line break inside wrapped prose
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


def user_lexicon(*sources: LexiconSource | None) -> dict[str, tuple[str, ...]]:
    """Pronunciations from files or mappings, later sources winning; every symbol checked (see `lexicon`)."""
    entries: dict[str, tuple[str, ...]] = {}
    for source in sources:
        if source is None:
            continue
        if isinstance(source, (str, Path)):
            entries.update(load_lexicon(source))
            continue
        for word, phones in source.items():
            text = phones if isinstance(phones, str) else " ".join(phones)
            entries[str(word).lower()] = tuple(parse_arpabet(text, f"lexicon entry {word!r}"))
    return entries


_END_PAUSE = {"sentence": ".", "paragraph": ".", "last": ".", "break": ",", "join": ","}
_END_RANK = {"join": 0, "sentence": 1, "paragraph": 2, "break": 3, "last": 0}


@dataclass
class _UtteranceBuilder:
    """Assembles runs into utterances the way `Phonemizer` assembles one sentence: a word boundary between
    words, runs of punctuation collapsed to the strongest pause, and a final pause on every utterance."""

    frontend: TextFrontend
    done: list[Utterance] = field(default_factory=list)
    symbols: list[str] = field(default_factory=list)
    styles: list[Style] = field(default_factory=list)
    words: list[WordSpan] = field(default_factory=list)
    marks: list[tuple[str, int]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    speaker: str | None = None
    last_pause: str = ""
    lead: float = 0.0  # breaks before the first word
    lead_marks: list[tuple[str, float]] = field(default_factory=list)  # marks among them: name, seconds
    written: list[Written] = field(default_factory=list)  # per word of `words`
    groups: int = 0  # written groups numbered so far
    tail: str = ""  # the text of the last run that had some, to find a sentence end between runs

    def add(self, run: Run) -> None:
        style = run.style
        if run.kind in ("text", "words", "symbols"):
            # "Hello there. <mark/>Second ...": the tag does not join the sentences (judged as written: "12")
            if self._sentence_ends_before(run.written or run.text):
                self.close("sentence")
            self.tail = run.written or run.text
        if run.kind in ("text", "words", "symbols") and style.speaker != self.speaker:
            if self.words:
                self.close("join")
            self.speaker = style.speaker
        if style.speaker is not None:
            style = replace(style, speaker=None)
        if run.kind == "text":
            if not run.text.strip():
                return
            sentences = self.frontend.split_sentences(run.text)
            for k, sentence in enumerate(sentences):
                self.texts.append(sentence)
                normalized = self.frontend.normalize_fragment(sentence)
                items = self.frontend.words_symbols(normalized)
                spoken = [word for word, symbols in items if symbols]
                found = iter(
                    [(run.written, 0)] * len(spoken) if run.written else written_groups(sentence, spoken)
                )
                groups = [next(found) if symbols else ("", 0) for _, symbols in items]  # pauses have none
                for (word, symbols), written in zip(items, groups, strict=True):
                    self.item(word, symbols, style, written)
                self.groups += 1 + max((g for _, g in groups), default=-1)
                if k < len(sentences) - 1:
                    self.close("sentence")
        elif run.kind == "words":
            self.texts.append(run.text)
            for word, symbols in self.frontend.words_symbols(run.text):
                self.item(word, symbols, style, (run.written or run.text, 0))
            self.groups += 1
        elif run.kind == "symbols":
            self.texts.append(run.text)
            self.item(run.text, run.symbols, style, (run.written or run.text, 0))
            self.groups += 1
        elif run.kind == "mark":
            self.marks.append((run.text, len(self.symbols)))
        elif run.kind == "break":
            if self.words:
                self.close("break", run.seconds)
            elif self.done:
                last = self.done[-1]
                last.seconds = run.seconds + (last.seconds if last.end == "break" else 0.0)
                last.end = "break"
            else:
                self.lead_marks += [(name, self.lead) for name, _ in self.marks]
                self.marks = []
                self.lead += run.seconds
        elif self.words:
            self.close(run.kind)
        elif self.done and _END_RANK[run.kind] > _END_RANK[self.done[-1].end]:
            self.done[-1].end = run.kind

    def _sentence_ends_before(self, following: str) -> bool:
        """Whether the text so far and `following` meet at a sentence end, as `split_sentences` finds one
        inside a text (a stop, a space, a capital; not after "Dr.")."""
        if not self.words or not self.tail or not following:
            return False
        joined = self.tail + following
        cut = len(self.tail)
        for m in _SENTENCE_END.finditer(joined, max(0, cut - 20)):
            if m.start() < cut <= m.end() and m[0][:1] in ".!?":
                return not (m[0].startswith(".") and _non_final_abbreviation(joined, m.start()))
        return False

    def item(self, word: str, symbols: tuple[str, ...], style: Style, written: Written) -> None:
        """Add a word (or a pause, without symbols); `written` is what it reads, its group counted from
        `self.groups`."""
        if not symbols:  # a pause
            if not self.words:
                return
            if self.last_pause:
                if PAUSE_STRENGTH[word] > PAUSE_STRENGTH[self.last_pause]:
                    self.symbols[-1] = self.last_pause = word
            else:
                self.symbols.append(word)
                self.styles.append(style)
                self.last_pause = word
            return
        if self.words:
            self.symbols.append(WORD_BOUNDARY)
            self.styles.append(style)
        start = len(self.symbols)
        self.symbols.extend(symbols)
        self.styles.extend([style] * len(symbols))
        self.words.append((word, start, len(self.symbols)))
        self.written.append((written[0], self.groups + written[1]))
        self.last_pause = ""

    def close(self, end: str, seconds: float = 0.0) -> None:
        """End the utterance being built (if it has words) with `end`."""
        if not self.words:
            return
        symbols, styles, words, marks = self.symbols, self.styles, self.words, self.marks
        if not self.last_pause:
            symbols.append(_END_PAUSE[end])
            styles.append(styles[-1])
        if self.frontend.edge_boundaries:
            symbols = [WORD_BOUNDARY, *symbols, WORD_BOUNDARY]
            styles = [styles[0], *styles, styles[-1]]
            words = [(w, a + 1, b + 1) for w, a, b in words]
            marks = [(name, min(i + 1, len(symbols) - 1)) for name, i in marks]
        out, position = self.frontend.in_table(symbols)
        if len(out) != len(symbols):
            styles = [styles[i] for i in range(len(symbols)) if position[i + 1] > position[i]]
            words = [(w, position[a], position[b]) for w, a, b in words]
            marks = [(name, position[i]) for name, i in marks]
        plain = all(s == DEFAULT_STYLE for s in styles)
        self.done.append(
            Utterance(
                out,
                words,
                None if plain else styles,
                marks,
                end,
                seconds,
                " ".join(self.texts),
                self.speaker,
                self.lead,
                self.lead_marks,
                self.written,
            )
        )
        self.lead, self.lead_marks = 0.0, []
        self.symbols, self.styles, self.words, self.texts, self.written = [], [], [], [], []
        self.marks, self.last_pause = [], ""

    def finish(self, text: str) -> list[Utterance]:
        self.close("last")
        if not self.done:
            raise TextError(f"nothing to read aloud in {_preview(text)}")
        last = self.done[-1]
        last.marks.extend((name, len(last.symbols)) for name, _ in self.marks)  # marks after the last word
        if last.end != "break":
            last.end = "last"
        return self.done


def _non_final_abbreviation(text: str, dot: int) -> bool:
    """Whether the period at `dot` closes an abbreviation that does not end a sentence: one that never does
    ("Dr.", "Jan."), or an initial, "U.S." or "a.m." before a name ("John F. Kennedy", "the U.S. Army")."""
    m = _LAST_WORD.search(text, max(0, dot - 17), dot + 1)
    if m is None:
        return False
    word = m[1].lower()
    if word in NON_FINAL:
        return True
    if word in BEFORE_NUMBERS:
        return text[dot + 1 : dot + 4].lstrip()[:1] in tuple("0123456789#")
    initial = len(word) == 1 and m[1].isupper()
    return (initial or _DOTTED.fullmatch(word) is not None) and not period_ends_sentence(text, dot)


def _list_number(text: str, dot: int) -> bool:
    """Whether the period at `dot` closes a list item's number at the start of a line ("1. Flour")."""
    number = text[text.rfind("\n", 0, dot) + 1 : dot].strip()
    return number.isdigit() and len(number) <= 3


def _preview(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")
