"""Which written text each spoken word reads: what subtitles and the web page show."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastpitch.config import TextConfig
from fastpitch.text import TextFrontend
from fastpitch.text.written import written_groups


@pytest.fixture(scope="module")
def frontend():
    return TextFrontend(TextConfig(mode="phonemes"))


def read(frontend, text):
    words = []
    frontend.to_symbols(text, words)
    spoken = [w for w, _, _ in words]
    return list(zip(spoken, written_groups(text, spoken), strict=True))


def shown(pairs):
    """Each group's written text once, as a subtitle shows them."""
    out, last = [], None
    for _, (text, group) in pairs:
        if group != last:
            out.append(text)
            last = group
    return out


def test_numbers_dates_and_abbreviations_read_as_several_words_show_as_written(frontend):
    pairs = read(frontend, "Dr. Smith paid $3.50 on 3/4/2025.")
    assert [w for w, _ in pairs][:2] == ["Doctor", "Smith"]
    assert shown(pairs) == ["Dr.", "Smith", "paid", "$3.50", "on", "3/4/2025."]
    date = [text for word, (text, _) in pairs if word in ("March", "fourth", "twenty", "twenty-five")]
    assert date == ["3/4/2025."] * 4


def test_spelled_letters_find_their_acronym_and_repeated_words_stay_apart(frontend):
    pairs = read(frontend, "I.B.M. made it very very fast.")
    assert [w for w, _ in pairs][:3] == ["I", "B", "M"]
    assert shown(pairs) == ["I.B.M.", "made", "it", "very", "very", "fast."]


def test_a_number_before_a_word_it_matches_goes_to_the_token_with_the_digits(frontend):
    pairs = read(frontend, "Call 555-1234 or ext. 89 now.")
    assert shown(pairs) == ["Call", "555-1234", "or", "ext.", "89", "now."]


def test_tokens_with_nothing_to_say_join_the_group_before_them(frontend):
    assert shown(read(frontend, "Hello — world ... and done")) == ["Hello —", "world ...", "and", "done"]
    assert shown(read(frontend, "... well, OK.")) == ["... well,", "OK."]
    # dropped characters and a word said for a symbol ("squared" of "x^2") do not shift what follows
    pairs = read(frontend, "and 東京, 5'11\" tall, x^2, FY2023.")
    assert shown(pairs) == ["and 東京,", "5'11\"", "tall,", "x^2,", "FY2023."]
    assert dict(pairs)["squared"][0] == "x^2,"


TOKENS = [
    "Dr.",
    "Smith",
    "3/4/2025",
    "$3.50",
    "5%",
    "I.B.M.",
    "—",
    "...",
    "very",
    "the",
    "1990s",
    "e.g.",
    "2nd",
    "WWW",
    "isn't",
    "(approx.)",
    "10:30",
    "a.m.",
    "km",
    "OK!",
]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=12))
def test_every_written_character_is_shown_once_in_order(tokens):
    text = " ".join(tokens)
    frontend = TextFrontend(TextConfig(mode="phonemes"))
    words = []
    try:
        frontend.to_symbols(text, words)
    except ValueError:
        return  # nothing to read aloud
    spoken = [w for w, _, _ in words]
    pairs = list(zip(spoken, written_groups(text, spoken), strict=True))
    groups = [g for _, (_, g) in pairs]
    assert groups == sorted(groups)
    assert " ".join(shown(pairs)) == text


def test_repetitive_text_is_matched_in_one_pass():
    """A general diff takes quadratic time on repetitive text ("word " * 200,000 took minutes): words in step
    with their tokens are anchored as one run, and a long stretch with no anchor is not matched letter by
    letter but read as one group."""
    from fastpitch.text.written import _anchors

    assert _anchors(["word"] * 5000, ["word"] * 5000) == [(0, 0, 5000)]
    text, spoken = "a 5% b " * 3, ["a", "five", "percent", "b"] * 3
    assert [t for t, _ in written_groups(text, spoken)] == ["a", "5%", "5%", "b"] * 3
    groups = written_groups("5% " * 400, ["five", "percent"] * 400)
    assert {g for _, g in groups} == {0} and groups[0][0] == ("5% " * 400).strip()
