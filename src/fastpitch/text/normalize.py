"""English text normalization: written forms ("$3.50", "Jan. 5", "3:30 pm") become the words a reader says.

The pipeline is a fixed sequence of precompiled regular expressions, each a single linear pass with no nested
unbounded quantifiers, so long text costs time in proportion to its length (`tests/test_text_normalize.py` times
pathological inputs of 50,000 characters). Where a rule needs context (a year or a count, a street or a title,
the end of a sentence after "U.S."), its replacement function looks at the words around the match. Numbers are spelled by `inflect`; Unicode is
folded to ASCII by `anyascii` (Latin, Greek and Cyrillic letters; punctuation) while characters that cannot be
read aloud (emoji, CJK, control characters) are dropped with a logged warning.

Order matters: line ends first (a headline or list line ends its sentence), then Unicode, then the forms that
contain punctuation of their own (URLs, e-mail addresses, times, dates, money, units), then plain numbers, then
abbreviations, symbols and acronyms.
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
    "\u00ad": "", "µ": " mu ", "²": "^2", "³": "^3",
    **{c: f" {n}/{d} " for c, (n, d) in {
        "½": (1, 2), "⅓": (1, 3), "⅔": (2, 3), "¼": (1, 4), "¾": (3, 4), "⅕": (1, 5), "⅖": (2, 5), "⅗": (3, 5),
        "⅘": (4, 5), "⅙": (1, 6), "⅚": (5, 6), "⅛": (1, 8), "⅜": (3, 8), "⅝": (5, 8), "⅞": (7, 8),
    }.items()},
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
    "mu g": ("microgram", "micrograms"), "km/s": ("kilometer per second", "kilometers per second"),
    "tsp": ("teaspoon", "teaspoons"), "tbsp": ("tablespoon", "tablespoons"), "qt": ("quart", "quarts"),
    "sq ft": ("square foot", "square feet"), "sq m": ("square meter", "square meters"),
    "sq mi": ("square mile", "square miles"), "yr": ("year", "years"), "yrs": ("year", "years"),
    "mo": ("month", "months"), "mos": ("month", "months"), "wk": ("week", "weeks"), "wks": ("week", "weeks"),
    "pts": ("point", "points"),
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
    "Oct": "October", "Nov": "November", "Dec": "December", "Mon": "Monday", "Wed": "Wednesday",
    "Sat": "Saturday", "Ln": "Lane", "Pkwy": "Parkway", "Ct": "Court", "Ala": "Alabama",
    "Ariz": "Arizona", "Calif": "California", "Colo": "Colorado", "Conn": "Connecticut", "Fla": "Florida",
    "Kan": "Kansas", "Ky": "Kentucky", "Md": "Maryland", "Mich": "Michigan", "Minn": "Minnesota",
    "Neb": "Nebraska", "Nev": "Nevada", "Okla": "Oklahoma", "Tenn": "Tennessee", "Tex": "Texas",
    "Vt": "Vermont", "Wis": "Wisconsin", "Wyo": "Wyoming", "ca": "circa",
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
    | {"vs", "e.g", "i.e", "approx", "fig", "vol", "ch", "pp", "cf", "al", "est", "a.k.a", "v"}
)
# Abbreviations before a number that end no sentence there ("No. 7", "Apt. 4B") but may elsewhere ("I said no.")
BEFORE_NUMBERS = frozenset({"no", "nos", "apt", "ext", "ste", "bldg", "rm", "tel", "c", "ca"})

# Words that usually begin a sentence. After an initial's period a capitalised word from this list starts a new
# sentence; another is taken for the rest of a name ("John F. Kennedy", "J. R. R. Tolkien").
SENTENCE_STARTERS = frozenset({
    "the", "a", "an", "this", "that", "these", "those", "it", "its", "he", "she", "they", "we", "i", "you", "his",
    "her", "their", "our", "my", "your", "there", "here", "but", "and", "or", "so", "then", "in", "on", "at",
    "for", "after", "before", "when", "while", "if", "as", "some", "many", "most", "all", "no", "not", "what",
    "who", "why", "how", "where", "which", "one", "each", "every", "both", "however", "also", "now", "today",
    "yesterday", "tomorrow", "meanwhile", "still", "yet", "since", "because", "although", "though", "with",
    "without", "by", "from", "to", "of", "about", "during", "until", "later", "earlier", "once", "only", "even",
    "just", "please", "let", "thank", "thanks", "yes", "well", "oh", "is", "are", "was", "were", "do", "does",
    "did", "can", "could", "will", "would", "should", "may", "might", "must", "have", "has", "had", "be",
})  # fmt: skip
# After "a.m."/"p.m." a capitalised word starts a new sentence unless it names a day, a month or a time zone.
_AFTER_TIMES = frozenset({
    *(d.lower() for d in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")),
    *(m.lower() for m in MONTHS), "eastern", "central", "mountain", "pacific", "atlantic", "standard",
    "daylight", "local", "gmt", "utc", "et", "ct", "mt", "pt", "est", "edt", "cst", "cdt", "mst", "mdt", "pst",
    "pdt", "bst", "cet",
})  # fmt: skip
# After "U.S.", "U.K.", "E.U." a capitalised word continues a name when it is one of these ("the U.S. Army");
# any other starts a new sentence ("... moved to the U.S. Officials said").
_AFTER_ACRONYMS = frozenset({
    "army", "navy", "air", "marine", "marines", "coast", "senate", "house", "congress", "court", "courts",
    "supreme", "department", "government", "embassy", "embassies", "attorney", "secretary", "president",
    "ambassador", "open", "postal", "census", "capitol", "treasury", "border", "customs", "military", "forces",
    "federal", "dollar", "dollars", "constitution", "citizenship", "immigration", "steel", "bank", "central",
    "national", "olympic", "team", "championship", "championships", "highway", "route", "patent", "office",
    "geological", "fish", "forest", "park", "space", "command", "district", "circuit", "bureau", "agency",
    "trade", "representative", "senator", "rep", "sen", "gen", "general", "pound", "pounds", "parliament",
    "prime", "minister", "ministry", "foreign", "home", "labour", "conservative", "commission", "council",
    "summit", "member", "members", "states", "state", "citizens", "citizen", "troops", "soldiers",
})  # fmt: skip
_FIRST_WORD = re.compile(r"\s*[\"'(\[]?([A-Za-z0-9]+)")
_WORD_BEFORE = re.compile(r"([A-Za-z]+)\W{0,3}$")


def starts_sentence(following: str) -> bool:
    """Whether the text after a period that may be an abbreviation's starts a new sentence: nothing left, or a
    capitalised word that usually begins one (see SENTENCE_STARTERS)."""
    if not following.strip():
        return True
    m = _FIRST_WORD.match(following)
    return m is not None and m[1][0].isupper() and m[1].lower() in SENTENCE_STARTERS


def period_ends_sentence(text: str, dot: int) -> bool:
    """Whether the period at `text[dot]`, closing an initial ("F."), a dotted acronym ("U.S.") or "a.m."/"p.m.",
    also ends the sentence, judged from the words around it: a lowercase word or a number after it never
    starts one; "a.m." before a capitalised word ends one unless a day, month or time zone follows; "U.S."
    unless a word of a name follows ("Army"); an initial after a capitalised word (or another initial, or at
    the start) is part of a name unless a word that begins sentences follows ("John F. Kennedy" against "a
    grade of B. Mary ...")."""
    following = text[dot + 1 : dot + 41]
    if not following.strip():
        return True
    nxt = _FIRST_WORD.match(following)
    if nxt is None or not nxt[1][0].isupper():
        return False
    word = _LAST_DOTTED.search(text, max(0, dot - 16), dot + 1)
    letters = (word[1] if word else "").replace(".", "").lower()
    if letters in ("am", "pm") or _AMPM_END.search(text, max(0, dot - 4), dot + 1):
        return nxt[1].lower() not in _AFTER_TIMES
    if len(letters) > 1:
        return nxt[1].lower() not in _AFTER_ACRONYMS
    before = _WORD_BEFORE.search(text, max(0, dot - 40), dot - 1) if word else None
    in_name = before is None or before[1][0].isupper()
    return not in_name or starts_sentence(following)


_LAST_DOTTED = re.compile(r"(?<![A-Za-z.])((?:[A-Za-z]\.){1,8})$")
_AMPM_END = re.compile(r"\d\s?[AaPp]\.?[Mm]\.$")


# Short all-caps words that are common words in lower case but nearly always spelled out as capitals.
SPELLED_CAPS = frozenset({"AI", "ID", "US", "UN", "PC", "IQ", "OS", "IP", "PR", "HR", "AC", "DC", "IT", "ER"})
# All-caps words that the dictionary lacks but everyone says as a word.
WORD_CAPS = frozenset({"COVID", "SCOTUS", "JPEG"})
# Two-letter US state codes: a five-digit number after one is a ZIP code, read digit by digit.
STATES = frozenset({
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS",
    "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC",
    "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY",
})  # fmt: skip

_ROMAN = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100}
_ROMAN_CARDINAL_AFTER = frozenset(
    {"war", "chapter", "part", "volume", "act", "phase", "book", "section", "type", "class", "level", "stage",
     "round", "game", "episode", "season", "grade", "article", "appendix", "psalm", "star", "title", "bowl",
     "apollo", "rocky", "mark", "gemini", "schedule", "unit", "division", "category", "tier", "vatican",
     "super", "final", "fantasy"}
)  # fmt: skip

_SYMBOLS = {
    "&": " and ", "+": " plus ", "@": " at ", "=": " equals ", "<": " less than ", ">": " greater than ",
    "#": " hash ", "%": " percent ", "$": " dollars ", "~": " about ", "*": " ", "_": " ", "^": " ",
    "`": "'", "|": ", ", "\\": " ", "/": " slash ", "{": "(", "}": ")", "[": "(", "]": ")",
}  # fmt: skip

# ---------------------------------------------------------------------------------------- the rule passes

_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"  # 1,234.5 or 1234.5
_DOT = r"(\.)?"  # an abbreviation's period: kept when it also ends the sentence (`starts_sentence`)

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
    r"\b([01]?\d|2[0-3]|24(?=:00)):([0-5]\d)(?::([0-5]\d))?(?:\s?([AaPp])\.?[Mm]\b" + _DOT + r")?"
)
_RE_TIME_AMPM = re.compile(r"\b(1[0-2]|0?[1-9])\s?([AaPp])\.?[Mm]\b" + _DOT)
_RE_TIME_RANGE = re.compile(
    r"(?<=\d)(\s?[AaPp]\.?[Mm]\.?)\s?-\s?(?=\d)"
)  # "10am-4pm": "to" between the times
_RE_ISO_DATE = re.compile(r"\b(\d{4})([-/])(0?[1-9]|1[0-2])\2(0?[1-9]|[12]\d|3[01])\b")
# 1/5/2024, 1/5/24, 01-05-2024: month first, as in the US
_RE_US_DATE = re.compile(
    r"(?<![\d/-])\b(0?[1-9]|1[0-2])(?:(/)(0?[1-9]|[12]\d|3[01])/(\d{4}|\d{2})|(-)(0?[1-9]|[12]\d|3[01])-(\d{4}))\b"
    r"(?![/-]\d)"
)
# "on 12/25": a month and day where a preposition says it is a date (otherwise a fraction)
_RE_SHORT_DATE = re.compile(
    r"\b(?:((?:on|until|till|since|due|dated) )(0?[1-9]|1[0-2])/(0?[1-9]|[12]\d|3[01])"
    r"|((?:by|from|before|after|through) )(0?[1-9]|1[0-2])/(1[3-9]|2\d|3[01]))\b(?!/)",
    re.I,
)
_RE_MONTH_RANGE = re.compile(
    r"\b(" + _MONTH_RE + r")\.? (0?[1-9]|[12]\d|3[01])\s?-\s?(0?[1-9]|[12]\d|3[01])\b(?:,? (\d{4})\b)?"
)
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
# +44 20 7946 0958, +1 555 123 4567: an international number, a country code and groups of digits
_RE_PHONE_INTL = re.compile(r"(?<![\w+])\+(\d{1,3})((?:[\s.-]\(?\d{1,5}\)?){2,5})(?![\d.-]?\d)")
# 555 123 4567 after "call", "phone", "dial", "text", "tel": a number written with spaces
_RE_PHONE_SPACED = re.compile(
    r"\b((?:call|phone|dial|text|tel|fax)\.?:? )(?:1 )?(\d{3}) (\d{3}) (\d{4})\b", re.I
)
# "911", "999", "112": emergency numbers are said digit by digit
# 911 is said digit by digit where it is the emergency number: after "call", "dial", "a", or before "call",
# "dispatcher", "operator"...; elsewhere it is a number ("911 people", "Porsche 911", "Room 911")
_EMERGENCY_BEFORE = frozenset(
    {"call", "called", "calling", "calls", "dial", "dialed", "dialled", "dialing", "a", "the"}
)
_EMERGENCY_AFTER = frozenset({
    "call", "calls", "caller", "callers", "dispatcher", "dispatchers", "operator", "operators", "center", "centre",
    "system", "emergency", "service", "line", "hang-up",
})  # fmt: skip
_RE_EMERGENCY = re.compile(
    r"\b(?:(?:call(?:ed|ing)?|dial(?:l?ed|l?ing)?|phone|ring) (999|112)|(?<![\d.,/$-])(911))\b(?![.,]\d|/|-\d)",
    re.I,
)
_RE_EXTENSION = re.compile(r"\bext(?:\.\s?|\s)(\d{1,6})\b", re.I)
_RE_CIRCA = re.compile(r"\bc\.\s?(?=\d{3,4}\b)")  # "c. 1850"; not "c. 3" of a list
# "Apt. 4B", "Ste 200": a place's number ("Sault Ste. Marie" and "was apt." are no places)
_RE_NUMBERED_PLACE = re.compile(r"\b(Apt|Ste|Bldg|Rm)\.?\s?(?=#?\d)")
_PLACES = {"Apt": "Apartment", "Ste": "Suite", "Bldg": "Building", "Rm": "Room"}
# a ZIP code after a state's code: "NY 10118", "DC 20500-0001"
_RE_ZIP = re.compile(r"\b([A-Z]{2}),? (\d{5})(?:-(\d{4}))?\b")
# A toll-free vanity number, "1-800-FLOWERS": the letters are a word to read, not a range to say "to" before.
_RE_VANITY = re.compile(r"\b1[-.](8\d\d)[-.]([A-Za-z]{2,}(?:-[A-Za-z]+)*)\b")
_RE_CURRENCY = re.compile(
    r"(?:(?:\b(US|C|CA|A|AU|NZ|HK|S))?(\$)|\b(USD|EUR|GBP|JPY|INR)\s?)(-?)(" + _NUM + r"|\.\d+)"
    r"(?:\s?(thousand|million|billion|trillion)\b|(k|m|mn|b|bn|t)\b)?",
    re.I,
)
# "$5-10", "$5 to $10", "€20-30 million": one currency word after the range
_INT = r"\d{1,3}(?:,\d{3})+|\d+"
_RE_CURRENCY_RANGE = re.compile(
    r"(?:(?:\b(US|C|CA|A|AU|NZ|HK|S))?(\$)|\b(USD|EUR|GBP|JPY|INR)\s?)("
    + _INT
    + r")\s?(?:-|to)\s?(?:\$|(?:USD|EUR|GBP|JPY|INR)\s?)?("
    + _INT
    + r")(?![\d.,]\d)(?:\s?(thousand|million|billion|trillion)\b|(k|m|mn|b|bn|t)\b)?"
)
_DOLLAR_COUNTRIES = {
    "us": "US", "c": "Canadian", "ca": "Canadian", "a": "Australian", "au": "Australian", "nz": "New Zealand",
    "hk": "Hong Kong", "s": "Singapore",
}  # fmt: skip
_RE_CURRENCY_AFTER = re.compile(
    r"(?<![\d.,])(-?)(" + _NUM + r")(?:\s?(thousand|million|billion|trillion))?\s?(USD|EUR|GBP|JPY|INR)\b"
)
_RE_CURRENCY_CODE = re.compile(r"\b(USD|EUR|GBP|JPY|INR)\b")
_UNIT_ALTERNATION = "|".join(re.escape(u) for u in sorted(UNITS, key=len, reverse=True))
_RE_UNIT = re.compile(r"(?<![\d.,])(-?)(" + _NUM + r")\s?(" + _UNIT_ALTERNATION + r")(?![A-Za-z0-9])")
_RE_PERCENT = re.compile(r"(?<![\d.,%])(-?)(" + _NUM + r")\s?%")
_RE_PERCENT_RANGE = re.compile(r"(?<![\d.,])(" + _NUM + r")(?:%\s?(?:-|to)|\s?-)\s?(" + _NUM + r")\s?%")
_RE_FEET_INCHES = re.compile(r"(?<![\d.])(?<!deg )(\d{1,2})'\s?(\d{1,2}(?:\.\d+)?)(?:\"|'{1,2})?(?![\d'])")
_RE_POWER = re.compile(r"\^\s?(-?\d{1,3})\b")
_RE_SCALE = re.compile(r"(?<![\w.$])(" + _NUM + r")(M|B|\s?bn|\s?mn)\b(?!\.\w)")
_RE_TIMES_WORD = re.compile(
    r"(?<![\w.])(\d+(?:\.\d+)?)\s?[xX]\b(?=\s+(?:faster|slower|more|less|fewer|larger|smaller|bigger|higher"
    r"|lower|cheaper|better|worse|longer|shorter|as|the|speed|zoom|magnification|optical)\b|\s*[.,;:!?)]|\s*$)"
)
_RE_RATING = re.compile(r"(?<![\d.,/])(\d+\.\d+)/(10|5|100)\b(?![/.]\d)")
_RE_RATIO = re.compile(r"(?<![\d:.])(\d{1,2}):(\d)(?![\d:])")
_RE_FRACTION_MIXED = re.compile(r"\b(\d+)\s(\d{1,2})/(\d{1,3})\b")
_RE_FRACTION = re.compile(r"(?<![\d/.,])(\d{1,3})/(\d{1,3})(?![\d/]|\.\d)")
_RE_ORDINAL = re.compile(r"\b(\d{1,3}(?:,\d{3})+|\d+)(st|nd|rd|th)\b", re.I)
_RE_DECADE = re.compile(r"(?:\b|')(\d{2}|1[1-9]\d0|20[0-9]0)'?s\b")
_RE_RANGE = re.compile(r"(?<=\d)\s?-\s?(?=\$?\d)")
_RE_NEGATIVE = re.compile(r"(?<![\w.])-(?=\.?\d)")
_RE_NUMBER_SIGN = re.compile(r"#\s?(?=\d)|\bNo\.\s?(?=\d)|\bNos\.\s?(?=\d)")
_RE_YEAR = re.compile(r"(?<![\d.,])(1[1-9]\d\d|20\d\d)(?!\d|,\d|\.\d)")
_RE_NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+")
_RE_DIGIT = re.compile(r"\d")
_RE_LATIN = re.compile(r"\b(?:" + "|".join(re.escape(k) for k in _LATIN) + r")(?!\w)", re.I)
_RE_TITLE = re.compile(r"\b(" + "|".join(TITLES) + r")\.\s?(?=[A-Za-z])|\b(Mr|Mrs|Ms|Dr)\s(?=[A-Z])")
_RE_ABBREVIATION = re.compile(
    r"\b(" + "|".join(sorted(ABBREVIATIONS, key=len, reverse=True)) + r")\.((?=\s*$|\s+[A-Z\"'(]))?"
)
# "Main St.", "42nd St." (an ordinal is spelled by now): a street, unless a name follows ("St. Louis")
_ORDINAL_WORD = (
    r"(?:[a-z]+-)?(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth"
    r"|[a-z]+teenth|[a-z]+ieth|hundredth|thousandth)"
)
_RE_STREET = re.compile(
    r"\b([A-Z][a-z]+ |" + _ORDINAL_WORD + r" )(St|Dr|Ave|Rd)\b(?!\.?\s+[A-Z][a-z])\.?(?=[\s,.;:!?]|$)"
)
_STREETS = r"(?:St|Ave|Rd|Blvd|Dr|Ln|Way|Pl|Ct|Street|Avenue|Road|Boulevard|Drive|Lane|Place|Court)\b"
_RE_DIRECTION = re.compile(
    r"\b(N|S|E|W|NE|NW|SE|SW)\.? (?=(?:[A-Z][a-z]+|" + _ORDINAL_WORD + ") " + _STREETS + ")"
)
_DIRECTIONS = {
    "N": "North", "S": "South", "E": "East", "W": "West", "NE": "Northeast", "NW": "Northwest",
    "SE": "Southeast", "SW": "Southwest",
}  # fmt: skip
# "$5/month", "60 miles/hour": a rate
_RE_PER = re.compile(
    r"\b((?:dollar|euro|pound|cent|penny|pence|yen|rupee)s?) ?/ ?(?=(?:month|year|hour|day|week|night|person"
    r"|head|unit|piece|page|item|minute|mile|gallon|liter|kilogram|pound|share|ticket|seat|room|user)s?\b)"
)
_RE_INITIAL = re.compile(r"(?<![AP] )\b([A-Z])\.(?=\s+[A-Z])")  # not the "M." of a time's "P M."
_RE_VERSUS = re.compile(r"\bv\.\s(?=[A-Z])")
_RE_LETTERS_AND = re.compile(r"\b([A-Z]{1,3})&([A-Z]{1,3})\b")  # AT&T, Q&A, R&D
_FILE_TYPES = "txt|pdf|py|js|ts|json|ya?ml|csv|html?|exe|zip|png|jpe?g|gif|svg|mp3|mp4|wav|docx?|xlsx?|pptx?|md|sh|toml|xml|log"
_RE_FILE = re.compile(r"\b[A-Za-z0-9_-]{1,64}\.(?:" + _FILE_TYPES + r")\b")
_RE_CAMEL = re.compile(r"\b(?![A-Z][a-z]{1,2}[A-Z][a-z])(?:[A-Za-z]*[a-z][A-Z]|[A-Z]{3,}[a-z]{2})[A-Za-z]*\b")
_CAMEL_SPLIT = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_RE_DOTTED_ACRONYM = re.compile(r"\b(?:[A-Za-z]\.){2,}")
_RE_ROMAN = re.compile(r"\b([A-Za-z][a-z]+) ([IVXLC]{2,8})\b")
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
        words += f" {ampm.upper()} M" + _kept_dot(m, end)
    return words


def _time_ampm(m: re.Match[str]) -> str:
    return f"{cardinal(int(m[1]))} {m[2].upper()} M" + _kept_dot(m, m[3])


def _kept_dot(m: re.Match[str], dot: str | None) -> str:
    """An abbreviation's period ("a.m."), kept only where it also ends the sentence."""
    return "." if dot and period_ends_sentence(m.string, m.end() - 1) else ""


def _date(month: int, day: int, yr: str | None, day_first: bool = False) -> str:
    name = MONTHS[month - 1]
    words = f"the {ordinal(day)} of {name}" if day_first else f"{name} {ordinal(day)}"
    return f"{words}, {year(int(yr))}" if yr else words


def _iso_date(m: re.Match[str]) -> str:
    return _date(int(m[3]), int(m[4]), m[1])


def _us_date(m: re.Match[str]) -> str:
    day, yr = (m[3], m[4]) if m[2] else (m[6], m[7])
    if len(yr) == 2:  # "1/5/24": the year as written, "twenty-four" ("oh five" for 05)
        words = _date(int(m[1]), int(day), None)
        return f"{words}, {'oh ' + cardinal(int(yr)) if yr[0] == '0' else cardinal(int(yr))}"
    return _date(int(m[1]), int(day), yr)


def _short_date(m: re.Match[str]) -> str:
    if m[1]:
        return m[1] + _date(int(m[2]), int(m[3]), None)
    return m[4] + _date(int(m[5]), int(m[6]), None)


def _month_range(m: re.Match[str]) -> str:
    words = f"{MONTHS[_MONTH_LOOKUP[m[1].lower()] - 1]} {ordinal(int(m[2]))} to {ordinal(int(m[3]))}"
    return f"{words}, {year(int(m[4]))}" if m[4] else words


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


def _phone_intl(m: re.Match[str]) -> str:
    groups = re.findall(r"\d+", m[2])
    return f" plus {digits(m[1])}, {', '.join(digits(g) for g in groups)} "


def _phone_spaced(m: re.Match[str]) -> str:
    return m[1] + ", ".join(digits(g) for g in (m[2], m[3], m[4]))


def _emergency(m: re.Match[str]) -> str:
    if m[1]:
        return m[0][: m.start(1) - m.start()] + digits(m[1])
    after = _WORD_AFTER.match(m.string, m.end())
    before = _WORD_BEFORE.search(m.string, max(0, m.start() - 24), m.start())
    if (before is not None and before[1].lower() in _EMERGENCY_BEFORE) or (
        after is not None and after[1] in _EMERGENCY_AFTER
    ):
        return digits(m[2])
    return m[0]


def _zip(m: re.Match[str]) -> str:
    if m[1] not in STATES:
        return m[0]
    code = digits(m[2]) + (f", {digits(m[3])}" if m[3] else "")
    return f"{m[1]} {code}"


def _extension(m: re.Match[str]) -> str:
    return f"extension {digits(m[1])}"


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
    scale = m[6] or (_SCALES[m[7].lower()] if m[7] else None)
    amount = m[5] if m[5][0] != "." else "0" + m[5]
    words = _money(m[2] or m[3], m[4], amount, scale)
    if m[1]:  # "US$5", "C$20": whose dollars
        words = re.sub(r"\bdollars?\b", lambda d: f"{_DOLLAR_COUNTRIES[m[1].lower()]} {d[0]}", words, count=1)
    return f" {words} "


def _currency_range(m: re.Match[str]) -> str:
    scale = m[6] or (_SCALES[m[7].lower()] if m[7] else None)
    many = CURRENCIES[m[2] or m[3]][1]
    whose = f"{_DOLLAR_COUNTRIES[m[1].lower()]} " if m[1] else ""
    return f" {number(m[4])} to {number(m[5])}{' ' + scale.lower() if scale else ''} {whose}{many} "


def _currency_after(m: re.Match[str]) -> str:
    return _money(m[4], m[1], m[2], m[3])


def _currency_code(m: re.Match[str]) -> str:
    return CURRENCIES[m[1]][1]


def _unit(m: re.Match[str]) -> str:
    one, many = UNITS[m[3]]
    minus = "minus " if m[1] else ""
    return f"{minus}{number(m[2])} {one if m[2] == '1' else many}"


def _percent(m: re.Match[str]) -> str:
    return f" {'minus ' if m[1] else ''}{number(m[2])} percent "


def _percent_range(m: re.Match[str]) -> str:
    return f" {number(m[1])} to {number(m[2])} percent "


def _feet_inches(m: re.Match[str]) -> str:
    feet, inches = int(m[1]), m[2]
    words = f"{cardinal(feet)} {'foot' if feet == 1 else 'feet'} {number(inches)}"
    if m[0][-1] in "\"'":  # the inch mark was written
        words += " inch" if inches == "1" else " inches"
    return words


def _power(m: re.Match[str]) -> str:
    n = m[1]
    if n in ("2", "3"):
        return " squared" if n == "2" else " cubed"
    return f" to the power of {'minus ' if n[0] == '-' else ''}{cardinal(abs(int(n)))}"


# "a 7B model": a scale said of one thing
_SCALED = frozenset({"model", "models", "parameter", "parameters", "token", "tokens", "dataset", "corpus"})


def _scale(m: re.Match[str]) -> str:
    """ "1M users", "a 7B model": a scale before what it counts; "Figure 2B", "3M reported", "2B pencils" are not
    (a small whole number before B is a pencil's or a paper's grade)."""
    after = _WORD_AFTER.match(m.string, m.end())
    if after is None or not (_counted(after[1]) or after[1] in _SCALED):
        return m[0]
    if m[2] == "B" and after[1] not in _SCALED and "." not in m[1] and len(m[1]) < 2:
        return m[0]
    return f"{number(m[1])} {_SCALES[m[2].strip().lower()]}"


def _times_word(m: re.Match[str]) -> str:
    return f"{number(m[1])} times"


def _rating(m: re.Match[str]) -> str:
    return f"{number(m[1])} out of {cardinal(int(m[2]))}"


def _ratio(m: re.Match[str]) -> str:
    """ "16:9", "a 3:1 ratio"; after a name it is a chapter and verse, said as two numbers ("Psalm 23:4")."""
    before = _WORD_BEFORE.search(m.string, max(0, m.start() - 24), m.start())
    joiner = " " if before is not None and before[1][0].isupper() else " to "
    return f"{cardinal(int(m[1]))}{joiner}{cardinal(int(m[2]))}"


def _fraction_words(num: int, den: int) -> str:
    if den == 0 or den > 100:
        return f"{cardinal(num)} over {cardinal(den)}"
    if den == 1:
        return cardinal(num)
    name = {2: "half", 4: "quarter"}.get(den) or ordinal(den)
    return f"{cardinal(num)} {name if num == 1 else _inflect().plural(name)}"


def _fraction(m: re.Match[str]) -> str:
    num, den = int(m[1]), int(m[2])
    said = {(24, 7): "twenty-four seven", (9, 11): "nine eleven", (50, 50): "fifty-fifty"}.get((num, den))
    return said or _fraction_words(num, den)


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


# A four-digit number after these words is a year; before a plural noun, a count ("1984 votes").
_YEAR_AFTER = frozenset(
    {
        "in",
        "since",
        "by",
        "from",
        "until",
        "till",
        "through",
        "thru",
        "of",
        "during",
        "before",
        "after",
        "around",
        "circa",
        "year",
        "born",
        "died",
        "early",
        "late",
        "mid",
        "spring",
        "summer",
        "autumn",
        "fall",
        "winter",
        "class",
        "c",
        "ca",
    }
)  # fmt: skip | {m.lower() for m in MONTHS}
_NOT_PLURAL = frozenset({
    "was", "has", "does", "goes", "is", "this", "his", "as", "thus", "always", "perhaps", "its", "yes",
    "towards", "besides", "afterwards", "whereas",
})  # fmt: skip
_IRREGULAR_PLURALS = frozenset(
    {"people", "men", "women", "children", "feet", "teeth", "mice", "geese", "staff"}
)
_WORD_AFTER = re.compile(r"\s([a-z]+)\b")


# Before a plural noun these say the number is a count even where it could be a recent year ("about 2000 people").
_COUNT_AFTER = frozenset({
    "about", "over", "nearly", "almost", "than", "only", "just", "exactly", "approximately", "roughly", "some",
    "another", "additional", "extra", "least", "most", "to",
})  # fmt: skip


def _year(m: re.Match[str]) -> str:
    """A four-digit number said as a year unless it counts what follows: "1234 employees", "about 2000
    people"; a number from 1900 on is a year even before a plural ("the 2020 elections", "1990 levels")."""
    n = int(m[1])
    after = _WORD_AFTER.match(m.string, m.end())
    if n % 100 and after is not None and _counted(after[1]):  # "fifteen hundred meters" either way
        before = _WORD_BEFORE.search(m.string, max(0, m.start() - 24), m.start())
        said = before[1].lower() if before else ""
        if said not in _YEAR_AFTER and (n < 1900 or said in _COUNT_AFTER):
            return number(m[1])
    return year(n)


def _counted(word: str) -> bool:
    """Whether `word` after a number looks like the plural noun it counts ("votes", "people")."""
    if word in _IRREGULAR_PLURALS:
        return True
    return word.endswith("s") and not word.endswith(("ss", "us", "is")) and word not in _NOT_PLURAL


def _number(m: re.Match[str]) -> str:
    return f" {number(m[0])} " if m[0][0] != "." else f" point {digits(m[0][1:])} "


def _latin(m: re.Match[str]) -> str:
    return _LATIN[m[0].lower()]


def _title(m: re.Match[str]) -> str:
    return TITLES[m[1] or m[2]] + " "


def _abbreviation(m: re.Match[str]) -> str:
    return ABBREVIATIONS[m[1]] + ("." if m[2] is not None else "")


def _direction(m: re.Match[str]) -> str:
    return _DIRECTIONS[m[1]] + " "


def _initial(m: re.Match[str]) -> str:
    """ "John F. Kennedy": the initial's period is no pause ("A," keeps "A" the letter, not the article)."""
    if period_ends_sentence(m.string, m.end() - 1):
        return m[0]
    return "A," if m[1] == "A" else m[1]


def _letters_and(m: re.Match[str]) -> str:
    return f" {' '.join(m[1])} and {' '.join(m[2])} "


def _street(m: re.Match[str]) -> str:
    full = {"St": "Street", "Dr": "Drive", "Ave": "Avenue", "Rd": "Road"}[m[2]]
    return f"{m[1]}{full}"


def _dotted_acronym(m: re.Match[str]) -> str:
    letters = " ".join(c.upper() for c in m[0] if c.isalpha())
    ends = m[0].endswith(".") and period_ends_sentence(m.string, m.end() - 1)
    return letters + (". " if ends else " ")


_ROMAN_TENS = ["", "X", "XX", "XXX", "XL", "L", "LX", "LXX", "LXXX", "XC"]
_ROMAN_UNITS = ["", "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX"]


def _roman_value(s: str) -> int | None:
    total = 0
    for i, c in enumerate(s):
        v = _ROMAN[c]
        total += -v if i + 1 < len(s) and _ROMAN[s[i + 1]] > v else v
    # only canonical numerals (rejects "IIII", "VX", …): rebuild and compare
    canon = "C" * (total // 100) + _ROMAN_TENS[total // 10 % 10] + _ROMAN_UNITS[total % 10]
    return total if canon == s and 1 < total < 400 else None


def _roman(m: re.Match[str]) -> str:
    value = _roman_value(m[2])
    counted = m[1].lower() in _ROMAN_CARDINAL_AFTER
    # L and C only after a word that counts ("Super Bowl LVIII"): "my CV" is not 105
    if value is None or not (counted or (m[1][0].isupper() and not set(m[2]) & {"L", "C"})):
        return m[0]
    if counted:
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
_Q_DECADE = _quick(r"\d'?s\b")
_Q_TITLE = _quick(r"(?:" + "|".join(TITLES) + r")[.\s,]")
_Q_ABBREVIATION = _quick(r"(?:" + "|".join(ABBREVIATIONS) + r")\.")
_Q_DOTTED = _quick(r"[A-Za-z]\.[A-Za-z]\.")
_Q_ROMAN = _quick(r"[IVXLC][IVXLC]")
_Q_PLACE = _quick(r"(?:Apt|Ste|Bldg|Rm)\b")
_Q_STREET = _quick(r"(?:St|Dr|Ave|Rd)\b")
_Q_ZIP = _quick(r"[A-Z][A-Z],? \d{5}")
_Q_EMERGENCY = _quick(r"911|999|112")
_Q_EXTENSION = _quick(r"[eE][xX][tT]\.?\s?\d")
_Q_CALL = _quick(r"\d{3} \d{3} \d{4}")
_Q_DATE = _quick(r"\d[/-]\d")
_Q_SCALE = _quick(r"\d(?:M|B|\s?bn|\s?mn)\b")
_Q_TIMES = _quick(r"\d\s?[xX]")
_Q_FEET = _quick(r"\d'\s?\d")
_Q_DIRECTION = _quick(r"[NSEW][EW]?\.? [A-Za-z]")
_Q_INITIAL = _quick(r"[A-Z]\.\s+[A-Z]")
_Q_FILE = _quick(r"\.(?:" + _FILE_TYPES + r")\b")
_Q_CAMEL = _quick(r"[a-z][A-Z]|[A-Z]{2}[a-z]")
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
    ("^", _RE_POWER, _power),
    (_Q_EXTENSION, _RE_EXTENSION, _extension),
    ("+", _RE_PHONE_INTL, _phone_intl),
    (_Q_CALL, _RE_PHONE_SPACED, _phone_spaced),
    (_Q_ZIP, _RE_ZIP, _zip),
    (_Q_EMERGENCY, _RE_EMERGENCY, _emergency),
    ("c.", _RE_CIRCA, "circa "),
    (_Q_PLACE, _RE_NUMBERED_PLACE, lambda m: _PLACES[m[1]] + " "),
    (_Q_MONTH, _RE_MONTH_RANGE, _month_range),
    (_Q_DATE, _RE_ISO_DATE, _iso_date),
    (_Q_DATE, _RE_US_DATE, _us_date),
    (_Q_PHONE, _RE_PHONE, _phone),
    (_Q_VANITY, _RE_VANITY, _vanity),
    (_Q_AMPM, _RE_TIME_RANGE, r"\1 to "),
    (_Q_CURRENCY, _RE_CURRENCY_RANGE, _currency_range),
    ("%", _RE_PERCENT_RANGE, _percent_range),
    (_Q_FEET, _RE_FEET_INCHES, _feet_inches),
    ("-", _RE_RANGE, " to "),
    (":", _RE_TIME, _time),
    (":", _RE_RATIO, _ratio),
    (_Q_AMPM, _RE_TIME_AMPM, _time_ampm),
    ("/", _RE_SHORT_DATE, _short_date),
    (_Q_MONTH, _RE_MONTH_DAY, _month_day),
    (_Q_MONTH, _RE_DAY_MONTH, _day_month),
    (_Q_CURRENCY, _RE_CURRENCY, _currency),
    (_Q_CODE, _RE_CURRENCY_AFTER, _currency_after),
    (_Q_TIMES, _RE_TIMES, r"\1 by "),
    (None, _RE_UNIT, _unit),
    ("%", _RE_PERCENT, _percent),
    (_Q_SCALE, _RE_SCALE, _scale),
    (_Q_TIMES, _RE_TIMES_WORD, _times_word),
    ("/", _RE_RATING, _rating),
    ("/", _RE_FRACTION_MIXED, _fraction_mixed),
    ("/", _RE_FRACTION, _fraction),
    (_Q_ORDINAL, _RE_ORDINAL, _ordinal),
    (_Q_DECADE, _RE_DECADE, _decade),
    (None, _RE_NUMBER_SIGN, "number "),
    ("-", _RE_NEGATIVE, "minus "),
    (None, _RE_LETTER_THEN_DIGIT, r"\1 "),  # before years: "FY2023" is "FY twenty twenty-three"
    (None, _RE_DIGIT_THEN_LETTER, r"\1 "),
    (None, _RE_YEAR, _year),
    (None, _RE_NUMBER, _number),
]
_WORD_PASSES: list[Pass] = [
    (_Q_CODE, _RE_CURRENCY_CODE, _currency_code),
    (_Q_DIRECTION, _RE_DIRECTION, _direction),
    (_Q_STREET, _RE_STREET, _street),
    (_Q_TITLE, _RE_TITLE, _title),
    (_Q_ABBREVIATION, _RE_ABBREVIATION, _abbreviation),
    (_Q_DOTTED, _RE_DOTTED_ACRONYM, _dotted_acronym),
    (_Q_INITIAL, _RE_INITIAL, _initial),
    ("v.", _RE_VERSUS, "versus "),
    ("/", _RE_PER, r"\1 per "),
    ("&", _RE_LETTERS_AND, _letters_and),
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
        if "\n" in text:
            text = _RE_LINE_BREAK.sub(_line_break, text)
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
        if _Q_FILE.search(text):
            text = _RE_FILE.sub(_address, text)
        if _Q_LATIN.search(text):
            text = _RE_LATIN.sub(_latin, text)
        if _RE_DIGIT.search(text):
            text = _run(_NUMBER_PASSES, text)
        text = _run(_WORD_PASSES, text)
        if _Q_CAMEL.search(text):
            text = _RE_CAMEL.sub(self._camel, text)
        if _Q_CAPS.search(text):
            text = _RE_CAPS.sub(self._caps, text)
        if _Q_COMMAS.search(text):
            text = _RE_REPEATED_COMMA.sub(",", text)
        text = _RE_SPACES.sub(" ", text)
        return _RE_SPACE_BEFORE_PUNCT.sub(r"\1", text).strip()

    def _caps(self, m: re.Match[str]) -> str:
        word, plural = m[1], m[2]
        if word in WORD_CAPS or (word not in SPELLED_CAPS and self.is_word(word.lower() + plural)):
            return m[0]
        letters = " ".join(word)
        return f"{letters}'s" if plural else letters

    def _camel(self, m: re.Match[str]) -> str:
        """ "ChatGPT" -> "Chat GPT", "OpenAI" -> "Open AI": a word the dictionary lacks, at its inner capitals."""
        word = m[0]
        return word if self.is_word(word.lower()) else _CAMEL_SPLIT.sub(" ", word)


# A single line break where the line before ends in a word and the next starts as a sentence or a list item does:
# a sentence end when `line_ends_sentence` says so (a headline, a list), not in hard-wrapped prose.
LINE_BREAK = r"(?<=[^\s.!?:;,])[ \t\r]*\n(?=[ \t]*(?:[\"'(\[]?[A-Z0-9]|[-*\u2022][ \t]))"
_RE_LINE_BREAK = re.compile(LINE_BREAK)
_RE_LIST_ITEM = re.compile(r"[ \t]*(?:[-*\u2022][ \t]|\d{1,3}[.)][ \t])")
MAX_HEADLINE = 50  # characters: a longer line is taken for wrapped prose
# A line that ends in one of these goes on in the next ("... John and" / "Mary").
_CONTINUING = frozenset({
    "a", "an", "the", "and", "or", "but", "nor", "of", "to", "in", "on", "at", "for", "with", "by", "from",
    "about", "as", "into", "onto", "over", "under", "between", "than", "that", "this", "these", "those", "is",
    "are", "was", "were", "be", "been", "his", "her", "their", "our", "my", "your", "its", "not", "very",
})  # fmt: skip


def line_ends_sentence(text: str, newline: int) -> bool:
    """Whether the line break at `text[newline]` ends a sentence though no punctuation does: before a list item
    (a bullet, "2."), or after a short line that does not end mid-phrase (a headline, a list line); not in the
    middle of hard-wrapped prose ("... the complete text of the" / "Apache License")."""
    if _RE_LIST_ITEM.match(text, newline + 1):
        return True
    line = text[text.rfind("\n", 0, newline) + 1 : newline].strip()
    words = line.rsplit(None, 1)
    return len(line) <= MAX_HEADLINE and bool(words) and words[-1].lower() not in _CONTINUING


def _line_break(m: re.Match[str]) -> str:
    return ".\n" if line_ends_sentence(m.string, m.end() - 1) else m[0]


def normalize(text: str, is_word: Callable[[str], bool] | None = None) -> str:
    """Normalize `text` with an optional dictionary test for acronyms (see `Normalizer`)."""
    return Normalizer(is_word)(text)
