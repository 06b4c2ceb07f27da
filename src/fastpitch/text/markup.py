"""Speech markup: an SSML subset and inline `{ARPAbet}`, parsed into a flat list of runs.

A run is text to normalize, words already spelled out (`say-as`), symbols chosen by the writer (`phoneme`,
`{HH AH0 L OW1}`), a break, a mark, or a sentence or paragraph boundary, each with the `Style` (pace, pitch,
range, energy, speaker) of the elements around it. `TextFrontend.utterances` turns runs into symbols; the
synthesis pipeline applies the styles per symbol. Nothing here knows a model.

The XML is parsed by defusedxml with DTDs forbidden, so entity expansion ("billion laughs") and external
entities or DTDs are refused before anything is read; a malformed document is a `MarkupError` naming the
line and column. Nesting deeper than `MAX_DEPTH` is refused too. Tags outside the subset are spoken as their
text, with a warning naming the tag.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from fastpitch.errors import FastPitchError
from fastpitch.text.normalize import MONTHS, cardinal, digits, number, ordinal, telephone, year
from fastpitch.text.pronounce import PronunciationError, ipa_to_arpabet, parse_arpabet

log = logging.getLogger(__name__)

MAX_DEPTH = 64
MAX_BREAK_SECONDS = 10.0
MAX_TOTAL_BREAK_SECONDS = 300.0  # silence is cheap to ask for and not to make: bound a document's total
# A document type declaration counts as SSML, so that it is refused rather than read out.
SSML_START = re.compile(r"\s*(?:<\?xml[^>]{0,200}\?>\s*)?(?:<speak[\s>/]|<!DOCTYPE)", re.I)
BRACES = re.compile(r"\{([^{}]*)\}")

# SSML's named break strengths, in seconds.
BREAK_STRENGTH = {"none": 0.0, "x-weak": 0.1, "weak": 0.2, "medium": 0.4, "strong": 0.7, "x-strong": 1.2}
_RATE_NAMES = {"x-slow": 0.5, "slow": 0.75, "medium": 1.0, "default": 1.0, "fast": 1.3, "x-fast": 1.7}
_PITCH_NAMES = {"x-low": -6.0, "low": -3.0, "medium": 0.0, "default": 0.0, "high": 3.0, "x-high": 6.0}
_RANGE_NAMES = {"x-low": 0.25, "low": 0.5, "medium": 1.0, "default": 1.0, "high": 1.5, "x-high": 2.0}
_VOLUME_NAMES = {
    "silent": 0.05,
    "x-soft": 0.3,
    "soft": 0.6,
    "medium": 1.0,
    "default": 1.0,
    "loud": 1.5,
    "x-loud": 2.0,
}
# (pace, pitch range, energy) multipliers per emphasis level.
_EMPHASIS = {
    "strong": (0.85, 1.5, 1.4),
    "moderate": (0.92, 1.25, 1.2),
    "none": (1.0, 1.0, 1.0),
    "reduced": (1.1, 0.7, 0.8),
}
_CONTAINERS = frozenset({"speak", "p", "paragraph", "s", "sentence", "prosody", "emphasis", "voice", "lang"})
_KNOWN = _CONTAINERS | {"break", "say-as", "phoneme", "sub", "mark"}


class MarkupError(FastPitchError, ValueError):
    """A markup document that cannot be spoken: malformed XML, a forbidden construct or a bad attribute."""


@dataclass(frozen=True)
class Style:
    """Controls for a span, relative to the caller's: pace and range multiply, pitch adds semitones, energy
    multiplies. `pitch_hz` is an offset and `pitch_base_hz` an absolute target in Hz, which only the voice
    (which knows its mean pitch) can turn into semitones (`semitones`)."""

    pace: float = 1.0
    pitch_shift: float = 0.0
    pitch_hz: float = 0.0
    pitch_base_hz: float | None = None
    pitch_range: float = 1.0
    energy: float = 1.0
    speaker: str | None = None

    def semitones(self, mean_hz: float) -> float:
        """The total pitch shift in semitones for a voice whose mean pitch is `mean_hz`."""
        if self.pitch_hz == 0.0 and self.pitch_base_hz is None:
            return self.pitch_shift
        base = self.pitch_base_hz if self.pitch_base_hz is not None else mean_hz
        target = max(base + self.pitch_hz, 20.0)
        return self.pitch_shift + 12.0 * math.log2(target / mean_hz)


DEFAULT_STYLE = Style()


@dataclass
class Run:
    """One piece of a parsed document (see the module docstring); `kind` is one of text, words, symbols,
    break, mark, sentence, paragraph."""

    kind: str
    style: Style = DEFAULT_STYLE
    text: str = ""  # text to normalize, words to read, the word shown for symbols, or a mark's name
    symbols: tuple[str, ...] = ()
    seconds: float = 0.0
    written: str = ""  # what the document wrote, where the words read differ (a say-as's or a sub's content)


def is_ssml(text: str) -> bool:
    """Whether `text` is an SSML document (it starts with `<speak` or `<!DOCTYPE`, after an optional XML
    declaration)."""
    return bool(SSML_START.match(text))


def has_braces(text: str) -> bool:
    """Whether plain `text` holds inline pronunciations in braces."""
    return "{" in text and BRACES.search(text) is not None


def parse(text: str, ssml: bool | None = None) -> list[Run]:
    """Runs for a document: SSML when `ssml` is true (None: when it starts with `<speak`), else plain text
    with `{ARPAbet}` pronunciations."""
    if ssml is None:
        ssml = is_ssml(text)
    if not ssml:
        return list(_text_runs(text, DEFAULT_STYLE))
    root = _parse_xml(text)
    if _local(root.tag) != "speak":
        raise MarkupError(f"an SSML document must start with <speak>, not <{_local(root.tag)}>")
    runs: list[Run] = []
    _walk(root, DEFAULT_STYLE, runs, 0)
    if sum(r.seconds for r in runs if r.kind == "break") > MAX_TOTAL_BREAK_SECONDS:
        raise MarkupError(f"the document's breaks add up to more than {MAX_TOTAL_BREAK_SECONDS:g} s")
    return runs


def _parse_xml(text: str) -> Element:
    if not text.lstrip().startswith("<"):
        raise MarkupError(
            f"SSML is a document in <speak>…</speak>, and this text starts with {text.lstrip()[:20]!r}: "
            "wrap it in <speak>…</speak>, or read it as plain text"
        )
    try:
        return fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except ParseError as e:
        line, column = e.position
        reason = str(e).split(":")[0]
        raise MarkupError(f"malformed SSML at line {line}, column {column + 1}: {reason}") from None
    except DefusedXmlException as e:
        raise MarkupError(
            f"SSML with a DTD, entity declaration or external reference is refused: {type(e).__name__}"
        ) from None


def _local(tag: object) -> str:
    """A tag without its namespace ("{http://www.w3.org/2001/10/synthesis}speak" -> "speak")."""
    return str(tag).rpartition("}")[2].lower() if isinstance(tag, str) else ""


def _text_runs(text: str, style: Style) -> Iterator[Run]:
    """Plain text, with `{ARPAbet}` spans as symbol runs."""
    if "{" not in text:
        if text:
            yield Run("text", style, text)
        return
    start = 0
    for m in BRACES.finditer(text):
        if m.start() > start:
            yield Run("text", style, text[start : m.start()])
        content = m[1].strip()
        yield Run("symbols", style, content, tuple(parse_arpabet(content, "pronunciation {…}")))
        start = m.end()
    if start < len(text):
        yield Run("text", style, text[start:])


def _walk(el: Element, style: Style, runs: list[Run], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise MarkupError(f"SSML nested deeper than {MAX_DEPTH} elements")
    tag = _local(el.tag)
    inner = style
    if tag in ("p", "paragraph"):
        runs.append(Run("paragraph", style))
    elif tag in ("s", "sentence"):
        runs.append(Run("sentence", style))
    elif tag == "prosody":
        inner = _prosody(el, style)
    elif tag == "emphasis":
        level = el.get("level", "moderate")
        if level not in _EMPHASIS:
            raise MarkupError(f"<emphasis level={level!r}>: use one of {', '.join(_EMPHASIS)}")
        pace, rng, energy = _EMPHASIS[level]
        inner = replace(
            style, pace=style.pace * pace, pitch_range=style.pitch_range * rng, energy=style.energy * energy
        )
    elif tag == "voice":
        name = el.get("name")
        if name:
            inner = replace(style, speaker=name)
    elif tag == "break":
        runs.append(Run("break", style, seconds=_break_seconds(el)))
    elif tag == "mark":
        name = el.get("name")
        if name:
            runs.append(Run("mark", style, name[:200]))
        else:
            log.warning("<mark> without a name is ignored")
    elif tag == "say-as":
        runs.extend(_say_as(el, style))
    elif tag == "phoneme":
        runs.extend(_phoneme(el, style))
    elif tag == "sub":
        alias = el.get("alias")
        if alias is None:
            log.warning("<sub> without an alias: its text is spoken")
            alias = _all_text(el)
        runs.extend(replace(run, written=_all_text(el).strip() or alias) for run in _text_runs(alias, style))
    elif tag not in _KNOWN:
        log.warning("SSML tag <%s> is not supported; its text is spoken as it is", tag)
    if tag in ("say-as", "phoneme", "sub"):
        pass  # their content was spoken (or replaced) above
    elif el.text:
        runs.extend(_text_runs(el.text, inner))
    if tag not in ("say-as", "phoneme", "sub"):
        for child in el:
            _walk(child, inner, runs, depth + 1)
            if child.tail:
                runs.extend(_text_runs(child.tail, inner))
    if tag in ("p", "paragraph"):
        runs.append(Run("paragraph", style))
    elif tag in ("s", "sentence"):
        runs.append(Run("sentence", style))


def _all_text(el: Element) -> str:
    return "".join(el.itertext())


def _break_seconds(el: Element) -> float:
    time, strength = el.get("time"), el.get("strength")
    if time is not None:
        m = re.fullmatch(r"\s*(\d{1,6}(?:\.\d{1,6})?)\s*(ms|s)\s*", time)
        if m is None:
            raise MarkupError(f'<break time={time[:40]!r}>: write a duration such as "500ms" or "1.5s"')
        seconds = float(m[1]) / (1000.0 if m[2] == "ms" else 1.0)
        if seconds > MAX_BREAK_SECONDS:
            raise MarkupError(f"<break time={time!r}> is longer than {MAX_BREAK_SECONDS:g} s")
        return seconds
    if strength is not None:
        if strength not in BREAK_STRENGTH:
            raise MarkupError(f"<break strength={strength[:40]!r}>: use one of {', '.join(BREAK_STRENGTH)}")
        return BREAK_STRENGTH[strength]
    return BREAK_STRENGTH["medium"]


_NUMBER = r"([+-]?)(\d{1,6}(?:\.\d{1,6})?)"


def _relative(value: str, names: dict[str, float], what: str, units: str) -> tuple[str, float]:
    """Split an attribute into (unit, number): a name ("", multiplier), "N%" ("%", sign·N), "+Nst", "NHz"…"""
    v = value.strip()
    if v in names:
        return "name", names[v]
    m = re.fullmatch(_NUMBER + r"\s*(%|st|hz|db)?", v, re.I)
    if m is None:
        raise MarkupError(f"<prosody {what}={value[:40]!r}>: use {units}")
    unit = (m[3] or "").lower()
    amount = float(m[2]) * (-1.0 if m[1] == "-" else 1.0)
    return ("rel" + unit if m[1] else unit), amount


def _prosody(el: Element, style: Style) -> Style:
    out = style
    rate = el.get("rate")
    if rate is not None:
        unit, v = _relative(rate, _RATE_NAMES, "rate", 'a name (x-slow … x-fast), "50%", "+20%" or a number')
        factor = {"name": v, "%": v / 100, "rel%": 1 + v / 100, "": v, "rel": 1 + v}.get(unit)
        out = replace(out, pace=out.pace * _positive(factor, "rate", rate))
    pitch = el.get("pitch")
    if pitch is not None:
        hint = 'a name (x-low … x-high), "+4st", "-10%", "+20Hz" or "180Hz"'
        unit, v = _relative(pitch, _PITCH_NAMES, "pitch", hint)
        if unit in ("name", "st", "relst"):
            out = replace(out, pitch_shift=out.pitch_shift + v)
        elif unit in ("%", "rel%"):
            factor = _positive(1 + v / 100, "pitch", pitch)
            out = replace(out, pitch_shift=out.pitch_shift + 12 * math.log2(factor))
        elif unit == "relhz":
            out = replace(out, pitch_hz=out.pitch_hz + v)
        elif unit == "hz":
            out = replace(out, pitch_base_hz=_positive(v, "pitch", pitch), pitch_hz=0.0)
        else:
            raise MarkupError(f"<prosody pitch={pitch[:40]!r}>: use {hint}")
    rng = el.get("range")
    if rng is not None:
        unit, v = _relative(rng, _RANGE_NAMES, "range", 'a name (x-low … x-high), "+50%", "150%" or a number')
        factor = {"name": v, "%": v / 100, "rel%": 1 + v / 100, "": v}.get(unit)
        if factor is None or factor < 0:
            raise MarkupError(f"<prosody range={rng[:40]!r}>: use a name, a percentage or a number")
        out = replace(out, pitch_range=out.pitch_range * factor)
    volume = el.get("volume")
    if volume is not None:
        unit, v = _relative(volume, _VOLUME_NAMES, "volume", 'a name (silent … x-loud), "+6dB" or "50%"')
        factor = {"name": v, "db": 10 ** (v / 20), "reldb": 10 ** (v / 20), "%": v / 100, "rel%": 1 + v / 100}
        out = replace(out, energy=out.energy * _positive(factor.get(unit), "volume", volume))
    return out


def _positive(value: float | None, what: str, raw: str) -> float:
    if value is None or not 0.0 < value < 1e6:
        raise MarkupError(f"<prosody {what}={raw[:40]!r}> is not a usable value")
    return value


def _say_as(el: Element, style: Style) -> Iterator[Run]:
    for run in _say_as_runs(el, style):
        yield replace(run, written=_all_text(el).strip()) if run.kind == "words" else run


def _say_as_runs(el: Element, style: Style) -> Iterator[Run]:
    kind = (el.get("interpret-as") or "").lower()
    text = _all_text(el).strip()
    if not text:
        return
    if kind in ("characters", "spell-out", "verbatim"):
        yield Run("words", style, _spell(text))
    elif kind in ("cardinal", "number"):
        yield Run("words", style, _numbers(text, number))
    elif kind == "ordinal":
        # a fraction has no ordinal: it is read as the number it is
        yield Run(
            "words",
            style,
            _numbers(text, lambda s: number(s) if "." in s else ordinal(int(s.replace(",", "")))),
        )
    elif kind == "digits":
        yield Run("words", style, " ".join(digits(d) for d in re.findall(r"\d+", text)) or text)
    elif kind == "telephone":
        yield Run("words", style, telephone(text) if re.search(r"\d", text) else text)
    elif kind == "date":
        yield Run("words", style, _date(text, (el.get("format") or "mdy").lower()))
    elif kind in ("time", "currency", "unit", "address", "expletive", ""):
        yield from _text_runs(text, style)  # the normalizer reads times and amounts as written
    else:
        log.warning("say-as interpret-as=%r is not supported; its text is read as usual", kind)
        yield from _text_runs(text, style)


def _spell(text: str) -> str:
    """ "B2B!" -> "B two B": letters by name, digits by name, everything else left out."""
    out = []
    for c in text:
        if c.isascii() and c.isalpha():
            out.append(c.upper())
        elif c.isdigit() and c.isascii():
            out.append(cardinal(int(c)))
    return " ".join(out)


def _numbers(text: str, read: object) -> str:
    """Each written number in `text` read by `read`; a sign before it (not a hyphen between digits) as "minus"."""

    def one(m: re.Match[str]) -> str:
        return f" {'minus ' if m[1] else ''}{read(m[2])} "  # type: ignore[operator]

    return re.sub(
        r"((?<![\w.])[-\u2212])?(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d{1,30}(?:\.\d{1,30})?)", one, text
    ).strip()


def _as_written(parts: list[str]) -> str:
    """A date's parts that fit no format, numbers read as numbers: a run of words must not hold digits."""
    return " ".join(number(p) if p.isdigit() else p for p in parts)


def _date(text: str, fmt: str) -> str:
    """A date in `format` (y, m, d in any order; SSML's mdy, dmy, ymd, md, dm, ym, my, y, m, d)."""
    parts = re.findall(r"\d+|[A-Za-z]+", text)
    if not fmt or set(fmt) - set("ymd") or len(fmt) != len(parts):
        log.warning("say-as date %r does not match format %r; read as written", text, fmt)
        return _as_written(parts)
    values = dict(zip(fmt, parts, strict=True))
    month = values.get("m")
    if month is not None:
        if month.isdigit() and 1 <= int(month) <= 12:
            month = MONTHS[int(month) - 1]
        elif not month.isalpha():
            log.warning("say-as date %r has no month %r; read as written", text, month)
            return _as_written(parts)
    day = values.get("d")
    day_words = ordinal(int(day)) if day and day.isdigit() and 0 < int(day) <= 31 else day
    yr = values.get("y")
    yr_words = year(int(yr)) if yr and yr.isdigit() and len(yr) <= 4 else yr
    day_words, yr_words = (_as_written([w]) if w and w.isdigit() else w for w in (day_words, yr_words))
    if month and day_words:
        words = f"the {day_words} of {month}" if fmt.index("d") < fmt.index("m") else f"{month} {day_words}"
    else:
        words = month or day_words or ""
    return f"{words}, {yr_words}" if words and yr_words else words or yr_words or ""


def _phoneme(el: Element, style: Style) -> list[Run]:
    alphabet = (el.get("alphabet") or "arpabet").lower()
    ph = el.get("ph")
    if ph is None:
        log.warning("<phoneme> without ph: its text is spoken")
        return list(_text_runs(_all_text(el), style))
    word = _all_text(el).strip() or ph
    try:
        if alphabet in ("arpabet", "x-arpabet", "cmu"):
            symbols = parse_arpabet(ph, "<phoneme ph>")
        elif alphabet == "ipa":
            symbols = ipa_to_arpabet(ph)
        else:
            raise MarkupError(f'<phoneme alphabet={alphabet[:40]!r}>: use "arpabet" or "ipa"')
    except PronunciationError as e:
        raise MarkupError(str(e)) from None
    return [Run("symbols", style, word, tuple(symbols))]
