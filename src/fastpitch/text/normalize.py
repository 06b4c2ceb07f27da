"""English text normalization: written forms ("$3.50", "Jan. 5", "3:30 pm") become the words a reader says.

The pipeline is a fixed sequence of precompiled regular expressions, each a single linear pass with no nested
quantifiers, so long text costs time in proportion to its length. Numbers are spelled by `inflect`; Unicode is
folded to ASCII by `anyascii` (Latin, Greek and Cyrillic letters; punctuation) while characters that cannot be
read aloud (emoji, CJK, control characters) are dropped with a logged warning.

Order matters: Unicode first, then the forms that contain punctuation of their own (URLs, e-mail addresses,
times, dates, money, units), then plain numbers, then abbreviations, symbols and acronyms.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from anyascii import anyascii

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def _inflect() -> Any:
    """The inflect engine, imported on first use: its import costs ~1.5 s of CPU (typeguard instrumentation)."""
    import inflect

    return inflect.engine()


# ---------------------------------------------------------------------------------------------- Unicode -> ASCII

# Characters whose ASCII spelling matters to the rules below (currency codes and "deg" are read by them).
_FOLD: dict[str, str] = {
    "€": " EUR ", "£": " GBP ", "¥": " JPY ", "₹": " INR ", "¢": " cents ", "°": " deg ", "%": "%",
    "‰": " per mille ", "–": "-", "—": " - ", "―": " - ", "−": "-", "…": "...", "×": " x ", "÷": " divided by ",
    "±": " plus or minus ", "≈": " approximately ", "≠": " not equal to ", "≤": " less than or equal to ",
    "≥": " greater than or equal to ", "©": " copyright ", "®": "", "™": "", "§": " section ", "¶": " ",
    "•": ", ", "·": " ", "«": '"', "»": '"', "„": '"', "‹": "'", "›": "'", "¿": "", "¡": "", "⁄": "/",
    "\u00ad": "", "µ": " mu ",
}  # fmt: skip
_READABLE_SCRIPTS = ("LATIN", "CYRILLIC")
_DROP = "\x00"  # marker for characters that are dropped with a warning


def _fold_char(c: str) -> str:
    """How one non-ASCII character is written in ASCII, or `_DROP` when it cannot be read aloud."""
    if c in _FOLD:
        return _FOLD[c]
    cat = unicodedata.category(c)
    if cat in ("Mn", "Me", "Cf"):  # combining accents, zero-width joiners: silent
        return ""
    if cat[0] == "Z" or c.isspace():
        return " "
    if cat == "Nd":
        return str(unicodedata.digit(c))
    name = unicodedata.name(c, "")
    if name.startswith("GREEK") and " LETTER " in name:  # α -> alpha: how a reader says it
        letter = name.split(" LETTER ")[-1].split()[0].lower()
        return f" {letter} " if letter.isalpha() else _DROP
    if cat[0] == "L" and not name.startswith(_READABLE_SCRIPTS):
        return _DROP  # CJK, Arabic, …: an English voice cannot read them
    if cat[0] in "LNP" or name.startswith(_READABLE_SCRIPTS):
        folded = anyascii(c)
        return folded if folded and folded.isascii() and ":" not in folded else _DROP
    return _DROP  # emoji, pictographs, private use, unassigned, controls


class _FoldTable(dict):
    """A `str.translate` table that works out each new character once and remembers it."""

    def __missing__(self, code: int) -> str:
        c = chr(code)
        if c in "\t\n\r":
            value = {"\t": " ", "\r": ""}.get(c, c)
        elif code < 32 or code == 127:
            value = _DROP
        elif code < 128:
            value = c
        else:
            value = _fold_char(c)
        self[code] = value
        return value


_fold_table = _FoldTable()
_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def fold_unicode(text: str) -> str:
    """Fold `text` to ASCII; characters that cannot be read aloud are dropped with one warning per call."""
    if text.isascii() and not _ASCII_CONTROL.search(text):
        return text.replace("\t", " ").replace("\r", "")
    out = text.translate(_fold_table)
    if _DROP in out:
        dropped = sorted({c for c in set(text) if _fold_table[ord(c)] == _DROP})
        shown = " ".join(repr(c) if unicodedata.category(c)[0] == "C" else c for c in dropped[:10])
        log.warning("dropped %d kind(s) of character that cannot be read aloud: %s", len(dropped), shown)
        out = out.replace(_DROP, " ")
    return out


# ----------------------------------------------------------------------------------------------- numbers


MAX_CARDINAL_DIGITS = (
    30  # longer numbers have no names anyone says (inflect's stop near 10**66): read the digits
)


@lru_cache(maxsize=8192)
def cardinal(n: int) -> str:
    """1234 -> "one thousand two hundred thirty-four" (American style: no "and", no commas); a number of
    more than MAX_CARDINAL_DIGITS digits digit by digit."""
    if len(str(abs(n))) > MAX_CARDINAL_DIGITS:
        return ("minus " if n < 0 else "") + digits(str(abs(n)))
    words = _inflect().number_to_words(n, andword="", comma="")
    return re.sub(r"\s+", " ", words).strip()


@lru_cache(maxsize=8192)
def ordinal(n: int) -> str:
    """22 -> "twenty-second"."""
    return _inflect().ordinal(cardinal(n))


def digits(s: str) -> str:
    """Read a digit string one digit at a time: "007" -> "zero zero seven"."""
    return " ".join(cardinal(int(d)) for d in s)


def number(s: str) -> str:
    """Read a written number: "1,234.5" -> "one thousand two hundred thirty-four point five"."""
    grouped = "," in s
    s = s.replace(",", "")
    whole, dot, frac = s.partition(".")
    if len(whole) > (MAX_CARDINAL_DIGITS if grouped else 15) or (len(whole) > 1 and whole.startswith("0")):
        words = digits(whole)
    else:
        words = cardinal(int(whole)) if whole else ""
    if dot and frac:
        words = f"{words} point {digits(frac)}".strip()
    return words


def year(n: int) -> str:
    """1984 -> "nineteen eighty-four", 1905 -> "nineteen oh five", 2000 -> "two thousand", 2024 -> "twenty twenty-four"."""
    hi, lo = divmod(n, 100)
    if n < 1000 or (hi % 10 == 0 and lo < 10):
        return cardinal(n)
    if lo == 0:
        return f"{cardinal(hi)} hundred"
    if lo < 10:
        return f"{cardinal(hi)} oh {cardinal(lo)}"
    return f"{cardinal(hi)} {cardinal(lo)}"


def _plural_last(words: str) -> str:
    """ "nineteen eighty" -> "nineteen eighties": pluralize the last word of a spelled number."""
    head, sep, last = words.rpartition(" ")
    part_head, dash, part = last.rpartition("-")
    return f"{head}{sep}{part_head}{dash}{_inflect().plural(part)}"


# ------------------------------------------------------------------------------------------------- tables

MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
    "November", "December",
)  # fmt: skip
_MONTH_ABBR = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9, "oct": 10,
    "nov": 11, "dec": 12,
}  # fmt: skip
_MONTH_LOOKUP = {**{m.lower(): i + 1 for i, m in enumerate(MONTHS)}, **_MONTH_ABBR}
_MONTH_RE = r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sept?(?:ember)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"

# code -> (singular, plural, minor singular, minor plural); minor units are hundredths.
CURRENCIES: dict[str, tuple[str, str, str, str]] = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "USD": ("dollar", "dollars", "cent", "cents"),
    "EUR": ("euro", "euros", "cent", "cents"),
    "GBP": ("pound", "pounds", "penny", "pence"),
    "JPY": ("yen", "yen", "", ""),
    "INR": ("rupee", "rupees", "paisa", "paise"),
}
_SCALES = {"k": "thousand", "m": "million", "mn": "million", "b": "billion", "bn": "billion", "t": "trillion"}

# Written unit -> (singular, plural). Case matters: "m" is metres, "M" is not a unit here.
UNITS: dict[str, tuple[str, str]] = {
    "km/h": ("kilometer per hour", "kilometers per hour"), "m/s": ("meter per second", "meters per second"),
    "mph": ("mile per hour", "miles per hour"), "kph": ("kilometer per hour", "kilometers per hour"),
    "km": ("kilometer", "kilometers"), "cm": ("centimeter", "centimeters"), "mm": ("millimeter", "millimeters"),
    "m": ("meter", "meters"), "mi": ("mile", "miles"), "ft": ("foot", "feet"), "yd": ("yard", "yards"),
    "kg": ("kilogram", "kilograms"), "mg": ("milligram", "milligrams"), "g": ("gram", "grams"),
    "lb": ("pound", "pounds"), "lbs": ("pound", "pounds"), "oz": ("ounce", "ounces"),
    "ml": ("milliliter", "milliliters"), "l": ("liter", "liters"), "L": ("liter", "liters"),
    "gal": ("gallon", "gallons"), "ms": ("millisecond", "milliseconds"), "sec": ("second", "seconds"),
    "min": ("minute", "minutes"), "hr": ("hour", "hours"), "hrs": ("hour", "hours"),
    "Hz": ("hertz", "hertz"), "kHz": ("kilohertz", "kilohertz"), "MHz": ("megahertz", "megahertz"),
    "GHz": ("gigahertz", "gigahertz"), "kW": ("kilowatt", "kilowatts"), "kWh": ("kilowatt hour", "kilowatt hours"),
    "W": ("watt", "watts"), "V": ("volt", "volts"), "mAh": ("milliamp hour", "milliamp hours"),
    "KB": ("kilobyte", "kilobytes"), "kB": ("kilobyte", "kilobytes"), "MB": ("megabyte", "megabytes"),
    "GB": ("gigabyte", "gigabytes"), "TB": ("terabyte", "terabytes"),
    "deg C": ("degree Celsius", "degrees Celsius"), "deg F": ("degree Fahrenheit", "degrees Fahrenheit"),
    "degC": ("degree Celsius", "degrees Celsius"), "degF": ("degree Fahrenheit", "degrees Fahrenheit"),
    "deg": ("degree", "degrees"), "mu m": ("micrometer", "micrometers"), "mu s": ("microsecond", "microseconds"),
    "mu g": ("microgram", "micrograms"),
}  # fmt: skip

# Abbreviations read in full. Titles never end a sentence; the others keep their period when they do.
TITLES: dict[str, str] = {
    "Mr": "Mister", "Mrs": "Missus", "Ms": "Miz", "Dr": "Doctor", "Prof": "Professor", "St": "Saint",
    "Gen": "General", "Col": "Colonel", "Capt": "Captain", "Lt": "Lieutenant", "Sgt": "Sergeant",
    "Rev": "Reverend", "Hon": "Honorable", "Gov": "Governor", "Sen": "Senator", "Rep": "Representative",
    "Mt": "Mount", "Ft": "Fort", "Fr": "Father", "Pres": "President", "Supt": "Superintendent",
}  # fmt: skip
ABBREVIATIONS: dict[str, str] = {
    "etc": "et cetera", "Jr": "Junior", "Sr": "Senior", "Inc": "Incorporated",
    "Ltd": "Limited", "Co": "Company", "Corp": "Corporation", "Bros": "Brothers", "Dept": "Department",
    "Univ": "University", "Ave": "Avenue", "Blvd": "Boulevard", "Rd": "Road", "Hwy": "Highway",
    "Sq": "Square", "approx": "approximately", "dept": "department", "est": "established", "fig": "figure",
    "Fig": "Figure", "vol": "volume", "Vol": "Volume", "ch": "chapter", "Ch": "Chapter", "pp": "pages",
    "cf": "compare", "Tue": "Tuesday", "Tues": "Tuesday", "Thu": "Thursday",
    "Thur": "Thursday", "Thurs": "Thursday", "Fri": "Friday", "Jan": "January", "Feb": "February", "Mar": "March", "Apr": "April",
    "Jun": "June", "Jul": "July", "Aug": "August", "Sep": "September", "Sept": "September",
    "Oct": "October", "Nov": "November", "Dec": "December",
}  # fmt: skip
# Dotted Latin abbreviations, matched case-insensitively.
_LATIN = {
    "e.g.": "for example", "i.e.": "that is", "a.k.a.": "also known as", "et al.": "et al", "vs.": "versus",
    "vs": "versus",
}  # fmt: skip

# Abbreviations after which a period does not end a sentence (used by `split_sentences`).
NON_FINAL = frozenset(
    {t.lower() for t in TITLES}
    | {m for m in _MONTH_ABBR}
    | {"no", "nos", "vs", "e.g", "i.e", "approx", "fig", "vol", "ch", "pp", "cf", "al", "est", "a.k.a"}
)

# Short all-caps words that are common words in lower case but nearly always spelled out as capitals.
SPELLED_CAPS = frozenset({"AI", "ID", "US", "UN", "PC", "IQ", "OS", "IP", "PR", "HR", "AC", "DC", "IT", "ER"})

_ROMAN = {"I": 1, "V": 5, "X": 10}
_ROMAN_CARDINAL_AFTER = frozenset(
    {"war", "chapter", "part", "volume", "act", "phase", "book", "section", "type", "class", "level", "stage",
     "round", "game", "episode", "season", "grade", "article", "appendix", "psalm", "star"}
)  # fmt: skip

_SYMBOLS = {
    "&": " and ", "+": " plus ", "@": " at ", "=": " equals ", "<": " less than ", ">": " greater than ",
    "#": " hash ", "%": " percent ", "$": " dollars ", "~": " about ", "*": " ", "_": " ", "^": " ",
    "`": "'", "|": ", ", "\\": " ", "/": " slash ", "{": "(", "}": ")", "[": "(", "]": ")",
}  # fmt: skip

# ---------------------------------------------------------------------------------------- the rule passes

_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"  # 1,234.5 or 1234.5
_KEEP_DOT = r"(?:\.((?=\s*$|\s+[A-Z\"'(])))?"  # group is "" when the period also ends a sentence

# Repetitions that could restart at many positions are bounded ({0,63}) so that every pass stays linear.
_RE_PARAGRAPH = re.compile(r"([^\s.!?:;,]) ?\n(?: ?\n)+")
_RE_URL = re.compile(r"\b(?:(?:https?|ftp)://|www\.)[^\s<>\"']*[^\s<>\"'.,;:!?)\]]", re.I)
_RE_EMAIL = re.compile(r"\b[A-Za-z0-9][\w.+-]{0,63}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+\b")
_RE_DOMAIN = re.compile(
    r"\b[a-z0-9][a-z0-9-]{0,62}(?:\.[a-z0-9-]{1,63}){0,6}"
    r"\.(?:com|org|net|edu|gov|io|ai|co|uk|de|fr|info|dev|app|ly|me|tv)\b"
    r"(?:/[^\s<>\"']*[^\s<>\"'.,;:!?)\]])?"
)
_RE_TIME = re.compile(
    r"\b([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?(?:\s?([AaPp])\.?[Mm]\b" + _KEEP_DOT + r")?"
)
_RE_TIME_AMPM = re.compile(r"\b(1[0-2]|0?[1-9])\s?([AaPp])\.?[Mm]\b" + _KEEP_DOT)
_RE_ISO_DATE = re.compile(r"\b(\d{4})-(0?[1-9]|1[0-2])-(0?[1-9]|[12]\d|3[01])\b")
_RE_US_DATE = re.compile(r"\b(0?[1-9]|1[0-2])/(0?[1-9]|[12]\d|3[01])/(\d{4})\b")
_RE_MONTH_DAY = re.compile(
    r"\b(" + _MONTH_RE + r")\.?\s(0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?\b(?:,?\s(\d{4})\b)?"
)
_RE_DAY_MONTH = re.compile(
    r"\b(0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?\s(?:of\s)?(" + _MONTH_RE + r")\b\.?(?:,?\s(\d{4})\b)?"
)
# (555) 123-4567, 555-123-4567 (after an optional "1-"), or a seven-digit local number 555-1234 (a range of
# numbers is written with shorter or equal parts).
_RE_PHONE = re.compile(
    r"(?:\b1[-.\s])?(?:\((\d{3})\)\s?|\b(\d{3})[-.])(\d{3})[-.](\d{4})\b"
    r"|(?<![\d.,-])(\d{3})-(\d{4})(?![\d-]|\.\d)"
)
# A toll-free vanity number, "1-800-FLOWERS": the letters are a word to read, not a range to say "to" before.
_RE_VANITY = re.compile(r"\b1[-.](8\d\d)[-.]([A-Za-z]{2,}(?:-[A-Za-z]+)*)\b")
_RE_CURRENCY = re.compile(
    r"(?:(\$)|\b(USD|EUR|GBP|JPY|INR)\s?)(-?)(" + _NUM + r")(?:\s?(thousand|million|billion|trillion)\b"
    r"|(k|m|mn|b|bn|t)\b)?",
    re.I,
)
_RE_CURRENCY_AFTER = re.compile(
    r"(?<![\d.,])(-?)(" + _NUM + r")(?:\s?(thousand|million|billion|trillion))?\s?(USD|EUR|GBP|JPY|INR)\b"
)
_RE_CURRENCY_CODE = re.compile(r"\b(USD|EUR|GBP|JPY|INR)\b")
_UNIT_ALTERNATION = "|".join(re.escape(u) for u in sorted(UNITS, key=len, reverse=True))
_RE_UNIT = re.compile(r"(?<![\d.,])(-?)(" + _NUM + r")\s?(" + _UNIT_ALTERNATION + r")(?![A-Za-z0-9])")
_RE_PERCENT = re.compile(r"(?<![\d.,])(-?)(" + _NUM + r")\s?%")
_RE_FRACTION_MIXED = re.compile(r"\b(\d+)\s(\d{1,2})/(\d{1,3})\b")
_RE_FRACTION = re.compile(r"(?<![\d/])(\d{1,3})/(\d{1,3})(?![\d/])")
_RE_ORDINAL = re.compile(r"\b(\d{1,3}(?:,\d{3})+|\d+)(st|nd|rd|th)\b", re.I)
_RE_DECADE = re.compile(r"(?:\b|')(\d{2}|1[1-9]\d0|20[0-9]0)s\b")
_RE_RANGE = re.compile(r"(?<=\d)\s?-\s?(?=\d)")
_RE_NEGATIVE = re.compile(r"(?<![\w.])-(?=\.?\d)")
_RE_NUMBER_SIGN = re.compile(r"#\s?(?=\d)|\bNo\.\s?(?=\d)|\bNos\.\s?(?=\d)")
_RE_YEAR = re.compile(r"(?<![\d.,])(1[1-9]\d\d|20\d\d)(?![\d,]|\.\d)")
_RE_NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+")
_RE_DIGIT = re.compile(r"\d")
_RE_LATIN = re.compile(r"\b(?:" + "|".join(re.escape(k) for k in _LATIN) + r")(?!\w)", re.I)
_RE_TITLE = re.compile(r"\b(" + "|".join(TITLES) + r")\.\s?(?=[A-Za-z])|\b(Mr|Mrs|Ms|Dr)\s(?=[A-Z])")
_RE_ABBREVIATION = re.compile(
    r"\b(" + "|".join(sorted(ABBREVIATIONS, key=len, reverse=True)) + r")\.((?=\s*$|\s+[A-Z\"'(]))?"
)
_RE_STREET = re.compile(r"\b([A-Z][a-z]+ )(St|Dr|Ave|Rd)\.?(?=[\s,.;:!?]|$)(?!\s+[A-Z][a-z])")
_RE_DOTTED_ACRONYM = re.compile(r"\b(?:[A-Za-z]\.){2,}")
_RE_ROMAN = re.compile(r"\b([A-Z][a-z]+) ([IVX]{2,6})\b")
_RE_CAPS = re.compile(r"\b([A-Z]{2,})(s?)\b")
_RE_SYMBOL = re.compile(r"[&+@=<>#%$~*_^`|\\/{}\[\]]")
_RE_SPACE_BEFORE_PUNCT = re.compile(r" ([,.;:!?)])")
_RE_SPACES = re.compile(r"[ \t]+")
_RE_APOSTROPHES = re.compile(r"''+")
_RE_REPEATED_COMMA = re.compile(r",(?:\s*,)+")


def _read_address(text: str) -> str:
    """Read a URL, e-mail address or domain: "www.example.com/a-b" -> "W W W dot example dot com slash a dash b"."""
    text = re.sub(r"^(?:https?|ftp)://", "", text, flags=re.I)
    names = {".": "dot", "/": "slash", "-": "dash", "_": "underscore", ":": "colon", "?": "question mark",
             "=": "equals", "&": "and", "#": "hash", "~": "tilde", "@": "at", "+": "plus", "%": "percent"}  # fmt: skip
    words = []
    for part in re.findall(r"[A-Za-z]+|\d+|[^A-Za-z\d]", text):
        if part in names:
            words.append(names[part])
        elif part.isdigit():
            words.append(digits(part) if len(part) > 4 else number(part))
        elif part.isalpha():
            spell = len(part) <= 2 or part.lower() == "www" or not re.search(r"[aeiouy]", part, re.I)
            words.append(" ".join(part.upper()) if spell else part.lower())
    return f" {' '.join(words)} "


def _address(m: re.Match[str]) -> str:
    return _read_address(m[0])


def _time(m: re.Match[str]) -> str:
    hour, minute, second, ampm, end = int(m[1]), int(m[2]), m[3], m[4], m[5]
    words = cardinal(hour)
    if minute == 0 and not ampm:
        words += " o'clock" if hour <= 12 else " hundred"
    elif 0 < minute < 10:
        words += f" oh {cardinal(minute)}"
    elif minute:
        words += f" {cardinal(minute)}"
    if second and int(second):
        words += f" and {cardinal(int(second))} seconds"
    if ampm:
        words += f" {ampm.upper()} M" + ("." if end is not None else "")
    return words


def _time_ampm(m: re.Match[str]) -> str:
    return f"{cardinal(int(m[1]))} {m[2].upper()} M" + ("." if m[3] is not None else "")


def _date(month: int, day: int, yr: str | None, day_first: bool = False) -> str:
    name = MONTHS[month - 1]
    words = f"the {ordinal(day)} of {name}" if day_first else f"{name} {ordinal(day)}"
    return f"{words}, {year(int(yr))}" if yr else words


def _iso_date(m: re.Match[str]) -> str:
    return _date(int(m[2]), int(m[3]), m[1])


def _us_date(m: re.Match[str]) -> str:
    return _date(int(m[1]), int(m[2]), m[3])


def _month_day(m: re.Match[str]) -> str:
    return _date(_MONTH_LOOKUP[m[1].lower()], int(m[2]), m[3])


def _day_month(m: re.Match[str]) -> str:
    words = _date(_MONTH_LOOKUP[m[2].lower()], int(m[1]), m[3], day_first=True)
    after_the = m.string[max(0, m.start() - 4) : m.start()].lower() == "the "
    return words[4:] if after_the else words


def _phone(m: re.Match[str]) -> str:
    if m[5]:
        return f"{digits(m[5])}, {digits(m[6])}"
    groups = ", ".join(digits(g) for g in (m[1] or m[2], m[3], m[4]))
    return f"one, {groups}" if m[0][0] == "1" and m[0][1] in "-. " else groups


def _vanity(m: re.Match[str]) -> str:
    area = "eight hundred" if m[1] == "800" else digits(m[1])
    return f"one, {area}, {m[2].replace('-', ' ')}"


def telephone(number: str) -> str:
    """Read a telephone number digit by digit in its written groups: "555-1234" -> "five five five, one two …";
    letters as the word they spell ("1-800-FLOWERS"), "ext." or "x" before digits as "extension"."""
    groups = re.findall(r"\d+|[A-Za-z]+", number)
    words = []
    for k, g in enumerate(groups):
        if g.isdigit():
            words.append(digits(g))
        elif g.lower() in ("ext", "x") and k + 1 < len(groups) and groups[k + 1].isdigit():
            words.append("extension")
        else:
            words.append(g.lower())
    return ", ".join(words)


def _money(code: str, sign: str, amount: str, scale: str | None) -> str:
    one, many, minor_one, minor_many = CURRENCIES[code.upper() if code != "$" else "$"]
    minus = "minus " if sign else ""
    if scale:
        return f"{minus}{number(amount)} {scale.lower()} {many}"
    whole, _, frac = amount.replace(",", "").partition(".")
    units = int(whole or "0")
    if frac and (len(frac) > 2 or not minor_one):
        return f"{minus}{number(amount)} {many}"
    cents = int(frac.ljust(2, "0")) if frac else 0
    parts = []
    if units or not cents:
        parts.append(f"{cardinal(units)} {one if units == 1 else many}")
    if cents:
        parts.append(f"{cardinal(cents)} {minor_one if cents == 1 else minor_many}")
    return minus + " and ".join(parts)


def _currency(m: re.Match[str]) -> str:
    scale = m[5] or (_SCALES[m[6].lower()] if m[6] else None)
    return _money(m[1] or m[2], m[3], m[4], scale)


def _currency_after(m: re.Match[str]) -> str:
    return _money(m[4], m[1], m[2], m[3])


def _currency_code(m: re.Match[str]) -> str:
    return CURRENCIES[m[1]][1]


def _unit(m: re.Match[str]) -> str:
    one, many = UNITS[m[3]]
    minus = "minus " if m[1] else ""
    return f"{minus}{number(m[2])} {one if m[2] == '1' else many}"


def _percent(m: re.Match[str]) -> str:
    return f"{'minus ' if m[1] else ''}{number(m[2])} percent"


def _fraction_words(num: int, den: int) -> str:
    if den == 0 or den > 100:
        return f"{cardinal(num)} over {cardinal(den)}"
    if den == 1:
        return cardinal(num)
    name = {2: "half", 4: "quarter"}.get(den) or ordinal(den)
    return f"{cardinal(num)} {name if num == 1 else _inflect().plural(name)}"


def _fraction(m: re.Match[str]) -> str:
    num, den = int(m[1]), int(m[2])
    if (num, den) == (24, 7):
        return "twenty-four seven"
    return _fraction_words(num, den)


def _fraction_mixed(m: re.Match[str]) -> str:
    num, den = int(m[2]), int(m[3])
    if not 0 < num < den:
        return m[0]
    return f"{number(m[1])} and {_fraction_words(num, den)}"


def _ordinal(m: re.Match[str]) -> str:
    return ordinal(int(m[1].replace(",", "")))


def _decade(m: re.Match[str]) -> str:
    n = int(m[1])
    if n < 100:  # the '90s, the 90s
        return _plural_last(cardinal(n)) if n % 10 == 0 and n >= 10 else m[0]
    return _plural_last(year(n))


def _year(m: re.Match[str]) -> str:
    return year(int(m[1]))


def _number(m: re.Match[str]) -> str:
    return f" {number(m[0])} " if m[0][0] != "." else f" point {digits(m[0][1:])} "


def _latin(m: re.Match[str]) -> str:
    return _LATIN[m[0].lower()]


def _title(m: re.Match[str]) -> str:
    return TITLES[m[1] or m[2]] + " "


def _abbreviation(m: re.Match[str]) -> str:
    return ABBREVIATIONS[m[1]] + ("." if m[2] is not None else "")


def _street(m: re.Match[str]) -> str:
    full = {"St": "Street", "Dr": "Drive", "Ave": "Avenue", "Rd": "Road"}[m[2]]
    return f"{m[1]}{full}"


def _dotted_acronym(m: re.Match[str]) -> str:
    letters = " ".join(c.upper() for c in m[0] if c.isalpha())
    return letters + (". " if m[0].endswith(".") and _ends_sentence(m) else " ")


def _ends_sentence(m: re.Match[str]) -> bool:
    rest = m.string[m.end() : m.end() + 3]
    return not rest.strip() or bool(re.match(r"\s+[A-Z]", rest))


def _roman_value(s: str) -> int | None:
    total = 0
    for i, c in enumerate(s):
        v = _ROMAN[c]
        total += -v if i + 1 < len(s) and _ROMAN[s[i + 1]] > v else v
    # only canonical numerals (rejects "IIII", "VX", …): rebuild and compare
    canon = "X" * (total // 10) + ["", "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX"][total % 10]
    return total if canon == s and total > 1 else None


def _roman(m: re.Match[str]) -> str:
    value = _roman_value(m[2])
    if value is None:
        return m[0]
    if m[1].lower() in _ROMAN_CARDINAL_AFTER:
        return f"{m[1]} {cardinal(value)}"
    return f"{m[1]} the {ordinal(value)}"


def _symbol(m: re.Match[str]) -> str:
    return _SYMBOLS[m[0]]


def _quick(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """A cheap test run before an expensive pass: it starts with a literal or a character class, which the
    regex engine scans for quickly (a leading group, \\b or look-behind makes it try every position)."""
    return re.compile(pattern, flags)


_Q_CURRENCY = _quick(r"[$]|USD|EUR|GBP|JPY|INR")
_Q_CODE = _quick(r"USD|EUR|GBP|JPY|INR")
_Q_TLD = _quick(r"\.(?:com|org|net|edu|gov|io|ai|co|uk|de|fr|info|dev|app|ly|me|tv)\b")
_Q_LATIN = _quick(r"[eEiI]\.[gGeE]\.|[aA]\.[kK]\.|[eE]t al\.|[vV][sS]\b")
_Q_MONTH = _quick(r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)")
_Q_AMPM = _quick(r"\d\s?[AaPp]\.?[Mm]")
_Q_ORDINAL = _quick(r"\d(?:st|nd|rd|th)", re.I)
_Q_DECADE = _quick(r"\ds\b")
_Q_TITLE = _quick(r"(?:" + "|".join(TITLES) + r")[.\s]")
_Q_ABBREVIATION = _quick(r"(?:" + "|".join(ABBREVIATIONS) + r")\.")
_Q_DOTTED = _quick(r"[A-Za-z]\.[A-Za-z]\.")
_Q_ROMAN = _quick(r"[IVX][IVX]")
_Q_CAPS = _quick(r"[A-Z][A-Z]")
_Q_COMMAS = _quick(r",\s*,")
_Q_PHONE = _quick(r"\d{3}[-.]\d{4}")  # every telephone number ends so
_Q_VANITY = _quick(r"1[-.]8\d\d[-.][A-Za-z]")
_RE_TIMES = re.compile(r"(\d)\s?x\s?(?=\d)")
_RE_LETTER_THEN_DIGIT = re.compile(r"([A-Za-z])-?(?=\d)")
_RE_DIGIT_THEN_LETTER = re.compile(r"(\d)-?(?=[A-Za-z])")

# (quick test, pass, replacement) in order; a pass runs only when its quick test (a substring or a pattern)
# finds something, which keeps ordinary sentences from paying for forty regular expressions.
Pass = tuple[str | re.Pattern[str] | None, re.Pattern[str], Any]
_NUMBER_PASSES: list[Pass] = [
    ("-", _RE_ISO_DATE, _iso_date),
    (_Q_PHONE, _RE_PHONE, _phone),
    (_Q_VANITY, _RE_VANITY, _vanity),
    ("-", _RE_RANGE, " to "),
    (":", _RE_TIME, _time),
    (_Q_AMPM, _RE_TIME_AMPM, _time_ampm),
    ("/", _RE_US_DATE, _us_date),
    (_Q_MONTH, _RE_MONTH_DAY, _month_day),
    (_Q_MONTH, _RE_DAY_MONTH, _day_month),
    (_Q_CURRENCY, _RE_CURRENCY, _currency),
    (_Q_CODE, _RE_CURRENCY_AFTER, _currency_after),
    (None, _RE_UNIT, _unit),
    ("%", _RE_PERCENT, _percent),
    ("/", _RE_FRACTION_MIXED, _fraction_mixed),
    ("/", _RE_FRACTION, _fraction),
    (_Q_ORDINAL, _RE_ORDINAL, _ordinal),
    (_Q_DECADE, _RE_DECADE, _decade),
    (None, _RE_NUMBER_SIGN, "number "),
    ("x", _RE_TIMES, r"\1 by "),
    ("-", _RE_NEGATIVE, "minus "),
    (None, _RE_YEAR, _year),
    (None, _RE_LETTER_THEN_DIGIT, r"\1 "),
    (None, _RE_DIGIT_THEN_LETTER, r"\1 "),
    (None, _RE_NUMBER, _number),
]
_WORD_PASSES: list[Pass] = [
    (_Q_CODE, _RE_CURRENCY_CODE, _currency_code),
    (_Q_TITLE, _RE_STREET, _street),
    (_Q_TITLE, _RE_TITLE, _title),
    (_Q_ABBREVIATION, _RE_ABBREVIATION, _abbreviation),
    (_Q_DOTTED, _RE_DOTTED_ACRONYM, _dotted_acronym),
    (_Q_ROMAN, _RE_ROMAN, _roman),
    (None, _RE_SYMBOL, _symbol),
]


def _run(passes: list[Pass], text: str) -> str:
    for quick, pattern, replacement in passes:
        if quick is None or (quick in text if isinstance(quick, str) else quick.search(text)):
            text = pattern.sub(replacement, text)
    return text


class Normalizer:
    """Turns written English into speakable words. `is_word` tells known words from acronyms to spell."""

    def __init__(self, is_word: Callable[[str], bool] | None = None) -> None:
        self.is_word = is_word or (lambda w: False)

    def __call__(self, text: str) -> str:
        text = _RE_SPACES.sub(" ", fold_unicode(text))
        if "\n" in text:
            text = _RE_PARAGRAPH.sub(r"\1. ", text).replace("\n", " ")
        if "''" in text:
            text = _RE_APOSTROPHES.sub("'", text)
        if "://" in text or "ww." in text.lower():
            text = _RE_URL.sub(_address, text)
        if "@" in text:
            text = _RE_EMAIL.sub(_address, text)
        if _Q_TLD.search(text):
            text = _RE_DOMAIN.sub(_address, text)
        if _Q_LATIN.search(text):
            text = _RE_LATIN.sub(_latin, text)
        if _RE_DIGIT.search(text):
            text = _run(_NUMBER_PASSES, text)
        text = _run(_WORD_PASSES, text)
        if _Q_CAPS.search(text):
            text = _RE_CAPS.sub(self._caps, text)
        if _Q_COMMAS.search(text):
            text = _RE_REPEATED_COMMA.sub(",", text)
        text = _RE_SPACES.sub(" ", text)
        return _RE_SPACE_BEFORE_PUNCT.sub(r"\1", text).strip()

    def _caps(self, m: re.Match[str]) -> str:
        word, plural = m[1], m[2]
        if word not in SPELLED_CAPS and self.is_word(word.lower() + plural):
            return m[0]
        letters = " ".join(word)
        return f"{letters}'s" if plural else letters


def normalize(text: str, is_word: Callable[[str], bool] | None = None) -> str:
    """Normalize `text` with an optional dictionary test for acronyms (see `Normalizer`)."""
    return Normalizer(is_word)(text)
