"""Words spelled alike and said two ways ("live", "read", "record"), chosen from the words around them.

The dictionary lists both readings and would otherwise always give its first: "I lyve here", "the wynd",
"to REcord". A part-of-speech tagger would choose better, but none runs offline without model data; the
word before (past an adverb: "do not record") and the word after settle the common cases: "to record" / "a
record", "I live" / "a live show", "the wind" / "wind up", "I used to" / "the tools used to build".
Checked against some 50,000 sentences of WordNet, package documentation and man pages (2026-12-07): the
readings it changed were better about ten times as often as worse.
"""

from __future__ import annotations

from dataclasses import dataclass


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


DETERMINERS = frozenset({
    "a", "an", "the", "this", "that", "these", "those", "my", "your", "his", "her", "its", "our", "their",
    "some", "any", "no", "every", "each", "another", "whose",
})  # fmt: skip
# A verb follows these: "to record", "will present", "we object", "do not read"
VERB_CUES = frozenset({
    "to", "will", "would", "can", "could", "should", "must", "might", "may", "shall", "do", "does", "did",
    "don't", "doesn't", "didn't", "won't", "can't", "cannot", "wouldn't", "shouldn't", "couldn't", "i'll",
    "you'll", "we'll", "they'll", "he'll", "she'll", "let's", "please", "i", "you", "we", "they",
})  # fmt: skip
# Looked past for the word before: "we always record" is "we ... record"
ADVERBS = frozenset({
    "not", "never", "always", "also", "often", "usually", "just", "still", "really", "even", "rarely",
    "sometimes", "already", "ever", "only", "then", "soon", "first",
})  # fmt: skip
BE = frozenset({
    "am", "is", "are", "was", "were", "be", "been", "being", "i'm", "you're", "we're", "they're", "he's",
    "she's", "it's",
})  # fmt: skip
_MODALS = VERB_CUES - {"i", "you", "we", "they"}
_PARTICLES = frozenset(
    {"up", "down", "around", "round", "back", "through", "off", "out", "away", "apart", "into"}
)
# A verb's object follows: "record the song", "perfect your French"
_OBJECTS = DETERMINERS - _words("some any no every each another whose") | _words("it them him me us")


@dataclass(frozen=True)
class Heteronym:
    """A word's usual reading and the other one, with when to say the other."""

    usual: tuple[str, ...]
    other: tuple[str, ...]
    before: frozenset[str] = frozenset()  # the other reading after one of these (adverbs passed over)
    after: frozenset[str] = frozenset()  # ... or before one of these
    at_start: bool = False  # ... or at the start of a sentence (an imperative: "Read the label.")
    keep_after: frozenset[str] = frozenset()  # the usual reading after one of these, whatever follows


def _phones(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _noun_verb(noun: str, verb: str, usual: str = "noun") -> Heteronym:
    """A noun and a verb that differ in stress: the verb after "to", "will", "we"... or before its object
    ("record the song"), the noun after "the", "a", "their"... (whichever is not `usual` needs its cue)."""
    n, v = _phones(noun), _phones(verb)
    if usual == "noun":
        return Heteronym(n, v, before=VERB_CUES, after=_OBJECTS, keep_after=DETERMINERS)
    return Heteronym(v, n, before=DETERMINERS - {"that"})  # "that permit access": "that" is no determiner


HETERONYMS: dict[str, Heteronym] = {
    "record": _noun_verb("R EH1 K ER0 D", "R IH0 K AO1 R D"),
    "present": _noun_verb("P R EH1 Z AH0 N T", "P R IY0 Z EH1 N T"),
    "object": _noun_verb("AA1 B JH EH0 K T", "AH0 B JH EH1 K T"),
    "project": _noun_verb("P R AA1 JH EH0 K T", "P R AH0 JH EH1 K T"),
    "subject": _noun_verb("S AH1 B JH IH0 K T", "S AH0 B JH EH1 K T"),
    "conduct": _noun_verb("K AA1 N D AH0 K T", "K AA0 N D AH1 K T"),
    "conflict": _noun_verb("K AA1 N F L IH0 K T", "K AH0 N F L IH1 K T"),
    "contract": _noun_verb("K AA1 N T R AE2 K T", "K AH0 N T R AE1 K T"),
    "convict": _noun_verb("K AA1 N V IH0 K T", "K AH0 N V IH1 K T"),
    "combat": _noun_verb("K AA1 M B AE0 T", "K AH0 M B AE1 T"),
    "desert": _noun_verb("D EH1 Z ER0 T", "D IH0 Z ER1 T"),
    "progress": _noun_verb("P R AA1 G R EH2 S", "P R AH0 G R EH1 S"),
    "protest": _noun_verb("P R OW1 T EH2 S T", "P R AH0 T EH1 S T"),
    "perfect": _noun_verb("P ER1 F IH2 K T", "P ER0 F EH1 K T"),  # the adjective, then the verb
    "contrast": _noun_verb("K AA1 N T R AE0 S T", "K AH0 N T R AE1 S T"),
    "compound": _noun_verb("K AA1 M P AW0 N D", "K AH0 M P AW1 N D"),
    "extract": _noun_verb("EH1 K S T R AE2 K T", "IH0 K S T R AE1 K T"),
    "rebel": _noun_verb("R EH1 B AH0 L", "R IH0 B EH1 L"),
    "survey": _noun_verb("S ER1 V EY2", "S ER0 V EY1"),
    "discount": _noun_verb("D IH1 S K AW0 N T", "D IH0 S K AW1 N T"),
    "attribute": _noun_verb("AE1 T R AH0 B Y UW2 T", "AH0 T R IH1 B Y UW2 T"),
    "console": _noun_verb("K AA1 N S OW0 L", "K AH0 N S OW1 L"),
    "address": _noun_verb("AE1 D R EH2 S", "AH0 D R EH1 S"),
    # -ate words: the adjective or noun ("a separate room", "an estimate"), the verb ("separate the eggs")
    "estimate": _noun_verb("EH1 S T AH0 M AH0 T", "EH1 S T AH0 M EY2 T"),
    "separate": _noun_verb("S EH1 P R AH0 T", "S EH1 P ER0 EY2 T"),
    "appropriate": _noun_verb("AH0 P R OW1 P R IY0 AH0 T", "AH0 P R OW1 P R IY0 EY2 T"),
    "approximate": _noun_verb("AH0 P R AA1 K S AH0 M AH0 T", "AH0 P R AA1 K S AH0 M EY2 T"),
    "moderate": _noun_verb("M AA1 D ER0 AH0 T", "M AA1 D ER0 EY2 T"),
    "graduate": _noun_verb("G R AE1 JH AH0 W AH0 T", "G R AE1 JH AH0 W EY2 T"),
    "associate": _noun_verb("AH0 S OW1 S IY0 AH0 T", "AH0 S OW1 S IY0 EY2 T"),
    "advocate": _noun_verb("AE1 D V AH0 K AH0 T", "AE1 D V AH0 K EY2 T"),
    "duplicate": _noun_verb("D UW1 P L AH0 K AH0 T", "D UW1 P L AH0 K EY2 T"),
    "alternate": _noun_verb("AO1 L T ER0 N AH0 T", "AO1 L T ER0 N EY2 T"),
    "deliberate": _noun_verb("D IH0 L IH1 B ER0 AH0 T", "D IH0 L IH1 B ER0 EY2 T"),
    "elaborate": _noun_verb("IH0 L AE1 B R AH0 T", "IH0 L AE1 B ER0 EY2 T"),
    "delegate": _noun_verb("D EH1 L AH0 G AH0 T", "D EH1 L AH0 G EY2 T"),
    "invalid": Heteronym(
        _phones("IH2 N V AE1 L AH0 D"), _phones("IH1 N V AH0 L AH0 D")
    ),  # the adjective, always
    "produce": _noun_verb("P R OW1 D UW0 S", "P R AH0 D UW1 S", usual="verb"),
    "escort": _noun_verb("EH1 S K AO0 R T", "EH0 S K AO1 R T", usual="verb"),
    "insult": _noun_verb("IH1 N S AH2 L T", "IH2 N S AH1 L T", usual="verb"),
    "recall": _noun_verb("R IY1 K AO2 L", "R IH0 K AO1 L", usual="verb"),
    "reject": _noun_verb("R IY1 JH EH0 K T", "R IH0 JH EH1 K T", usual="verb"),
    "update": _noun_verb("AH1 P D EY2 T", "AH0 P D EY1 T", usual="verb"),
    "import": _noun_verb("IH1 M P AO2 R T", "IH2 M P AO1 R T", usual="verb"),
    "permit": _noun_verb("P ER1 M IH2 T", "P ER0 M IH1 T", usual="verb"),
    "insert": _noun_verb("IH1 N S ER2 T", "IH2 N S ER1 T", usual="verb"),
    "increase": _noun_verb("IH1 N K R IY2 S", "IH2 N K R IY1 S", usual="verb"),
    "suspect": _noun_verb("S AH1 S P EH2 K T", "S AH0 S P EH1 K T", usual="verb"),
    "refuse": _noun_verb("R EH1 F Y UW2 Z", "R IH0 F Y UW1 Z", usual="verb"),
    "resume": _noun_verb("R EH1 Z AH0 M EY2", "R IH0 Z UW1 M", usual="verb"),
    # the noun ("the use of", "for your own use"); the verb after its cues or before its object ("use it")
    "use": Heteronym(
        ("Y", "UW1", "S"),
        ("Y", "UW1", "Z"),
        before=VERB_CUES,
        after=_OBJECTS | _words("some any all both each every more less only up"),
        keep_after=DETERMINERS | _words("of in for own good"),
    ),
    "excuse": Heteronym(
        ("IH0", "K", "S", "K", "Y", "UW1", "S"),
        ("IH0", "K", "S", "K", "Y", "UW1", "Z"),
        before=VERB_CUES,
        after=_words("me us him her them my our"),
    ),
    "content": Heteronym(
        ("K", "AA1", "N", "T", "EH0", "N", "T"),
        ("K", "AH0", "N", "T", "EH1", "N", "T"),
        before=_words("feel felt feels seem seemed seems remain remained quite perfectly very so more less"),
        after=_words("with"),
    ),
    "close": Heteronym(
        ("K", "L", "OW1", "S"),
        ("K", "L", "OW1", "Z"),
        before=_MODALS,
        after=(_OBJECTS - _words("this that these those it")) | _words("down off"),
    ),
    # the verb where people live; the adjective after a verb or before a noun ("play live", "live music")
    "live": Heteronym(
        ("L", "AY1", "V"),
        ("L", "IH1", "V"),
        before=VERB_CUES | _words("who that which people families animals long"),
        after=_words(
            """in on with at by for off out up together alone here there near without forever happily longer
            through under abroad like the a an life lives"""
        ),
    ),
    "lives": Heteronym(
        ("L", "IH1", "V", "Z"),
        ("L", "AY1", "V", "Z"),
        before=DETERMINERS
        | _words(
            """many few countless saved save saving lost lose losing ruined ruin changed change changing touched
            touch private personal daily own innocent human civilian two three four five six seven eight nine
            ten hundred thousand million all our"""
        ),
    ),
    "read": Heteronym(("R", "EH1", "D"), ("R", "IY1", "D"), before=_MODALS, at_start=True),
    "lead": Heteronym(
        ("L", "IY1", "D"),
        ("L", "EH1", "D"),
        before=_words("of gold silver iron copper tin zinc molten toxic antimonial metallic"),
        after=_words(
            """poisoning pipe pipes paint pencil pencils exposure levels level contamination weight weights shot
            acetate balloon crystal ore batteries battery apron"""
        ),
    ),
    "wind": Heteronym(
        ("W", "IH1", "N", "D"),
        ("W", "AY1", "N", "D"),
        before=_MODALS,
        after=_PARTICLES | (_OBJECTS - {"a", "an"}),
        keep_after=DETERMINERS,  # "the wind off the lake"
    ),
    "wound": Heteronym(
        ("W", "UW1", "N", "D"),
        ("W", "AW1", "N", "D"),
        after=_PARTICLES | _OBJECTS | _words("tight tightly"),
        keep_after=DETERMINERS,
    ),
    "tear": Heteronym(
        ("T", "IH1", "R"),
        ("T", "EH1", "R"),
        before=VERB_CUES,
        after=_PARTICLES | _OBJECTS,
        keep_after=DETERMINERS,
    ),
    "tears": Heteronym(
        ("T", "IH1", "R", "Z"),
        ("T", "EH1", "R", "Z"),
        before=_words("he she it who that which"),
        after=_PARTICLES,
    ),
    "bass": Heteronym(
        ("B", "EY1", "S"),
        ("B", "AE1", "S"),
        before=_words("sea striped largemouth smallmouth"),
        after=_words("fishing fish fisherman fishermen boat lure lures pond"),
    ),
}
HETERONYM_WORDS = frozenset(HETERONYMS) | {"used", "polish"}


def _word_at(tokens: list[str], i: int) -> str | None:
    """The word at `i`, lowercased; None past either end or at punctuation."""
    if not 0 <= i < len(tokens):
        return None
    token = tokens[i]
    return token.lower() if token[0].isalpha() or token[0] == "'" else None


def _before(tokens: list[str], i: int) -> str | None:
    """The word before `i`, past adverbs ("do not read" gives "do")."""
    j = i - 1
    while (word := _word_at(tokens, j)) in ADVERBS:
        j -= 1
    return word


def _used(tokens: list[str], i: int) -> tuple[str, ...]:
    """ "I used to go", "I'm used to it" (habit, accustomed) against "the tools used to build" (employed)."""
    if _word_at(tokens, i + 1) != "to":
        return ("Y", "UW1", "Z", "D")
    before, then = _before(tokens, i), _word_at(tokens, i + 2)
    habit = before in _words("i you we they he she it who people that one there never once") or (
        before in BE | _words("get gets got getting") and (then in _OBJECTS or (then or "").endswith("ing"))
    )
    return ("Y", "UW1", "S", "T") if habit else ("Y", "UW1", "Z", "D")


def heteronym(tokens: list[str], i: int) -> tuple[str, ...] | None:
    """The reading of `tokens[i]` in its context when it is a heteronym, else None (the dictionary decides).
    `tokens` are the phonemizer's: words and punctuation marks, as written."""
    token = tokens[i]
    word = token.lower()
    if word == "used":
        return _used(tokens, i)
    if word == "polish":  # the language and people, capitalized inside a sentence
        return ("P", "OW1", "L", "IH0", "SH") if token[0] == "P" and _word_at(tokens, i - 1) else None
    rule = HETERONYMS.get(word)
    if rule is None:
        return None
    before, after = _before(tokens, i), _word_at(tokens, i + 1)
    if word == "tear" and before == "and" and _word_at(tokens, i - 2) == "wear":
        return rule.other
    if before in rule.keep_after:
        return rule.usual
    start = rule.at_start and _word_at(tokens, i - 1) is None and token[0].isupper()
    return rule.other if before in rule.before or after in rule.after or start else rule.usual
