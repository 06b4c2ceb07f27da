"""Speech markup in the text frontend: SSML parsing (safely), per-span styles, {ARPAbet}, lexicons, say-as."""

import logging
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastpitch.config import TextConfig
from fastpitch.errors import FastPitchError
from fastpitch.text import TextError, TextFrontend
from fastpitch.text.markup import MarkupError, is_ssml, parse
from fastpitch.text.pronounce import PronunciationError, ipa_to_arpabet


@pytest.fixture(scope="module")
def frontend():
    return TextFrontend(TextConfig())


def words(utterances):
    return [w for u in utterances for w, _, _ in u.words]


def test_plain_text_with_braces_gives_exactly_the_symbols_written(frontend):
    [utt] = frontend.utterances("{HH AH0 L OW1} world")
    assert utt.symbols[:6] == ["|", "HH", "AH0", "L", "OW1", "|"]
    assert utt.words[0] == ("HH AH0 L OW1", 1, 5)


def test_phoneme_arpabet_and_ipa_give_exactly_their_symbols(frontend):
    [utt] = frontend.utterances(
        '<speak><phoneme alphabet="arpabet" ph="T AH0 M EY1 T OW2">x</phoneme></speak>'
    )
    assert utt.symbols[1:7] == ["T", "AH0", "M", "EY1", "T", "OW2"] and utt.words == [("x", 1, 7)]
    [utt] = frontend.utterances('<speak><phoneme alphabet="ipa" ph="təˈmeɪtoʊ">tomato</phoneme></speak>')
    assert utt.symbols[1:7] == ["T", "AH0", "M", "EY1", "T", "OW0"]
    assert ipa_to_arpabet("ˈʃɪp") == ["SH", "IH1", "P"]


@pytest.mark.parametrize(
    "bad",
    ["{HH AH L OW1}", "{XX Y}", '<speak><phoneme alphabet="arpabet" ph="Q1">q</phoneme></speak>'],
)
def test_unknown_symbols_are_errors_naming_them(frontend, bad):
    with pytest.raises(FastPitchError, match=r"AH|XX|Q1"):
        frontend.utterances(bad)


def test_malformed_ssml_names_line_and_column(frontend):
    with pytest.raises(MarkupError, match=r"line 2, column \d+"):
        frontend.utterances('<speak>Hello\n<break time="500ms"> world</speak>')
    with pytest.raises(
        MarkupError, match=r"wrap it in <speak>"
    ):  # SSML asked for text that is not a document
        frontend.utterances('Hello <break time="1s"/> world', ssml=True)


@pytest.mark.parametrize(
    "doc",
    [
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
        "<speak>&lol2;</speak>",
        '<!DOCTYPE speak [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><speak>&xxe;</speak>',
        '<!DOCTYPE speak SYSTEM "http://example.com/x.dtd"><speak>hi</speak>',
    ],
)
def test_entities_and_dtds_are_refused(frontend, doc):
    with pytest.raises(MarkupError, match=r"refused|malformed"):
        frontend.utterances(doc)


def test_deep_nesting_is_refused(frontend):
    doc = "<speak>" + "<emphasis>" * 5000 + "hi" + "</emphasis>" * 5000 + "</speak>"
    with pytest.raises(MarkupError, match="nested deeper"):
        frontend.utterances(doc)


def test_unknown_tags_are_spoken_with_a_warning(frontend, caplog):
    with caplog.at_level(logging.WARNING):
        utts = frontend.utterances("<speak>Say <audio>this</audio> too.</speak>")
    assert words(utts) == ["Say", "this", "too"] and "<audio>" in caplog.text


def test_breaks_marks_and_sentences(frontend):
    doc = '<speak><s>One two</s><break time="750ms"/><mark name="m"/><p>Three.</p> Four</speak>'
    utts = frontend.utterances(doc)
    assert [u.end for u in utts] == ["break", "paragraph", "last"]
    assert utts[0].seconds == pytest.approx(0.75)
    assert utts[1].marks == [("m", 1)] and utts[1].symbols[1] == "TH"
    assert frontend.utterances('<speak>a <break strength="strong"/> b</speak>')[0].seconds == 0.7
    # before the first word: the first utterance's lead, with the marks among the breaks
    [lead] = frontend.utterances(
        '<speak><mark name="a"/><break time="1s"/><mark name="b"/><break/>Hi</speak>'
    )
    assert lead.lead == pytest.approx(1.4) and lead.lead_marks == [("a", 0.0), ("b", 1.0)]
    assert lead.marks == [] and lead.words[0][0] == "Hi"
    with pytest.raises(TextError, match="nothing to read aloud"):
        frontend.utterances('<speak><break time="1s"/></speak>')


@pytest.mark.parametrize(
    ("doc", "texts"),
    [
        ('<speak>Hello there. <mark name="a"/>Second one.</speak>', ["Hello there.", "Second one."]),
        ("<speak>Hello there. <emphasis>Second</emphasis> one.</speak>", ["Hello there.", "Second one."]),
        ('<speak>Hi. <say-as interpret-as="cardinal">12</say-as> came.</speak>', ["Hi.", "twelve came."]),
        ("<speak>Ask Dr. <emphasis>Smith</emphasis> now.</speak>", ["Ask Dr. Smith now."]),
        ("<speak>Hello there, <emphasis>Sam</emphasis>.</speak>", ["Hello there, Sam ."]),
    ],
)
def test_a_tag_between_sentences_keeps_them_apart(frontend, doc, texts):
    """A sentence ends where plain text would end it (a stop, a space, a capital), whatever tag follows."""
    utts = frontend.utterances(doc)
    assert [u.text for u in utts] == texts
    assert [u.end for u in utts] == ["sentence"] * (len(texts) - 1) + ["last"]


def test_prosody_styles_apply_to_their_span_only(frontend):
    doc = '<speak>Normal <prosody rate="50%" pitch="+4st" volume="+6dB">slow high</prosody> normal</speak>'
    [utt] = frontend.utterances(doc)
    (_, a, b), (_, c, _), (_, _, d), (_, e, f) = utt.words
    assert {(s.pace, s.pitch_shift) for s in utt.styles[c:d]} == {(0.5, 4.0)}
    assert utt.styles[c].energy == pytest.approx(10 ** (6 / 20))
    assert {s.pace for s in utt.styles[a:b] + utt.styles[e:f]} == {1.0}


@pytest.mark.parametrize(
    ("attr", "field", "value"),
    [
        ('rate="x-slow"', "pace", 0.5),
        ('rate="+20%"', "pace", 1.2),
        ('pitch="-2st"', "pitch_shift", -2.0),
        ('pitch="x-high"', "pitch_shift", 6.0),
        ('range="150%"', "pitch_range", 1.5),
        ('volume="soft"', "energy", 0.6),
    ],
)
def test_prosody_attribute_forms(attr, field, value):
    [run] = [r for r in parse(f"<speak><prosody {attr}>x</prosody></speak>") if r.kind == "text"]
    assert getattr(run.style, field) == pytest.approx(value)


def test_pitch_in_hz_is_relative_to_the_voices_mean():
    [run] = [r for r in parse('<speak><prosody pitch="+50Hz">x</prosody></speak>') if r.kind == "text"]
    assert run.style.semitones(200.0) == pytest.approx(12 * 0.32192809, rel=1e-6)  # 250 / 200
    with pytest.raises(MarkupError, match="pitch"):
        parse('<speak><prosody pitch="loud">x</prosody></speak>')


@pytest.mark.parametrize(
    ("doc", "said"),
    [
        ('<say-as interpret-as="characters">B2B</say-as>', "B two B"),
        ('<say-as interpret-as="spell-out">abc</say-as>', "A B C"),
        ('<say-as interpret-as="cardinal">1234</say-as>', "one thousand two hundred thirty-four"),
        ('<say-as interpret-as="ordinal">3</say-as>', "third"),
        ('<say-as interpret-as="ordinal">1,001</say-as>', "one thousand first"),
        ('<say-as interpret-as="ordinal">1.5</say-as>', "one point five"),  # no ordinal: the number
        ('<say-as interpret-as="digits">1234</say-as>', "one two three four"),
        ('<say-as interpret-as="telephone">555-1234</say-as>', "five five five, one two three four"),
        (
            '<say-as interpret-as="date" format="dmy">5/1/2024</say-as>',
            "the fifth of January, twenty twenty-four",
        ),
        ('<say-as interpret-as="date" format="md">12/25</say-as>', "December twenty-fifth"),
        # a date that fits no format is read as written, its numbers as numbers: nothing goes missing
        ('<say-as interpret-as="date" format="mdy">12/25</say-as>', "twelve twenty-five"),
        (
            '<say-as interpret-as="date" format="dmy">31/13/2024</say-as>',
            "thirty-one thirteen two thousand twenty-four",
        ),
        ('<say-as interpret-as="date" format="md">12/45</say-as>', "December forty-five"),
        ('<say-as interpret-as="date" format="y">20245</say-as>', "twenty thousand two hundred forty-five"),
        ('<say-as interpret-as="telephone">1-800-FLOWERS</say-as>', "one, eight zero zero, flowers"),
        (
            '<say-as interpret-as="telephone">555-1234 ext. 89</say-as>',
            "five five five, one two three four, extension, eight nine",
        ),
        ('<say-as interpret-as="cardinal">-7</say-as>', "minus seven"),
        ('<say-as interpret-as="cardinal">1-800</say-as>', "one eight hundred"),  # a hyphen, not a sign
        ('<say-as interpret-as="time">3:30pm</say-as>', "three thirty P M"),
        ('<say-as interpret-as="currency">$3.50</say-as>', "three dollars and fifty cents"),
        ('<sub alias="World Wide Web">WWW</sub>', "World Wide Web"),
    ],
)
def test_say_as_and_sub(frontend, doc, said):
    utts = frontend.utterances(f"<speak>{doc}</speak>")
    expected = frontend.words_symbols(said)
    assert [w for w in words(utts)] == [w for w, s in expected if s]


def test_characters_spell_letter_names(frontend):
    [utt] = frontend.utterances('<speak><say-as interpret-as="characters">ab</say-as></speak>')
    assert utt.symbols == ["|", "EY1", "|", "B", "IY1", ".", "|"]


def test_voice_name_sets_the_speaker_and_splits(frontend):
    utts = frontend.utterances('<speak>Hi <voice name="bob">there</voice> you</speak>')
    assert [(u.speaker, words([u])) for u in utts] == [(None, ["Hi"]), ("bob", ["there"]), (None, ["you"])]


def test_user_lexicon_wins_and_is_checked(tmp_path):
    path = tmp_path / "lexicon.txt"
    path.write_text(";;; mine\nTOMATO  T AH0 M AA1 T OW0\nfastpitch F AE1 S T P IH1 CH\n", encoding="utf-8")
    frontend = TextFrontend(TextConfig(), lexicon=path)
    assert frontend.to_symbols("tomato")[1:7] == ["T", "AH0", "M", "AA1", "T", "OW0"]
    assert frontend.to_symbols("Fastpitch")[1:8] == ["F", "AE1", "S", "T", "P", "IH1", "CH"]
    assert TextFrontend(TextConfig(), lexicon={"tomato": "T OW1"}).to_symbols("tomato")[1:3] == ["T", "OW1"]
    path.write_text("good  G UH1 D\nbad  B AE1 DX\n", encoding="utf-8")
    with pytest.raises(PronunciationError, match=r"lexicon.txt:2.*'DX'"):
        TextFrontend(TextConfig(), lexicon=path)


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("Call 555-1234", "Call five five five, one two three four"),
        ("Call 1-800-555-1234", "Call one, eight zero zero, five five five, one two three four"),
        ("pages 10-20", "pages ten to twenty"),
        ("AH0 and B2B", "AH zero and B two B"),
    ],
)
def test_telephone_and_alphanumeric_tokens(frontend, text, normalized):
    assert frontend.normalize(text) == normalized


def test_word_spans_of_plain_text(frontend):
    found = []
    symbols = frontend.to_symbols("Hello, big world.", found)
    assert [w for w, _, _ in found] == ["Hello", "big", "world"]
    assert [symbols[a:b] for _, a, b in found][1] == ["B", "IH1", "G"]


def test_ssml_detection():
    assert is_ssml('  <speak version="1.1">x</speak>') and is_ssml('<?xml version="1.0"?>\n<speak>x</speak>')
    assert not is_ssml("speak <b>now</b>")


def test_empty_document_is_a_text_error(frontend):
    with pytest.raises(TextError):
        frontend.utterances("<speak> <break/> </speak>")


_TAGS = [
    "speak",
    "p",
    "s",
    "emphasis",
    "prosody",
    "say-as",
    "phoneme",
    "sub",
    "voice",
    "mark",
    "break",
    "foo",
]
_ATTRS = [
    'rate="50%"', 'pitch="+4st"', 'time="300ms"', 'interpret-as="characters"', 'ph="HH AH0"', 'alias="x"',
    'name="m"', 'format="dmy"', 'level="strong"', 'volume="-6dB"', 'strength="weak"', 'alphabet="ipa"',
]  # fmt: skip


@st.composite
def documents(draw):
    def element(depth):
        tag = draw(st.sampled_from(_TAGS))
        attrs = " ".join(draw(st.lists(st.sampled_from(_ATTRS), max_size=3)))
        inner = draw(st.text(st.sampled_from("ab 12.,<>&{}\"'"), max_size=12))
        children = "".join(element(depth + 1) for _ in range(draw(st.integers(0, 2 if depth < 3 else 0))))
        return f"<{tag} {attrs}>{inner}{children}</{tag}>"

    doc = f"<speak>{element(0)}</speak>"
    if draw(st.booleans()):  # damage it
        cut = draw(st.integers(0, len(doc)))
        doc = doc[:cut] + draw(st.text(max_size=5)) + doc[cut:]
    return doc


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_generated_documents_give_speech_or_a_clear_error(doc):
    frontend = _FRONTEND
    started = time.perf_counter()
    try:
        utts = frontend.utterances(doc, ssml=True)
        assert all(u.symbols for u in utts)
    except (FastPitchError, ValueError) as e:
        assert str(e)
    assert time.perf_counter() - started < 5


_FRONTEND = TextFrontend(TextConfig())
