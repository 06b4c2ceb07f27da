"""Reference timings → frame durations per symbol (always summing to the mel length), and boundary scoring."""

import json

import numpy as np
import pytest

from fastpitch.config import AudioConfig
from fastpitch.data.timings import (
    Phone,
    TimingsError,
    boundary_times,
    durations_from_phones,
    find_timings,
    load_durations,
    phones_from_durations,
    read_timings,
    reference_frames,
    score_boundaries,
    symbol_kind,
)

CFG = AudioConfig()
FRAME = CFG.hop_length / CFG.sample_rate  # seconds per mel frame

# "hello, world." as festival might time it (in frames), with pauses at both ends and at the comma.
REF = [
    ("SIL", 10),
    ("HH", 5),
    ("AH0", 4),
    ("L", 6),
    ("OW1", 12),
    ("SIL", 8),
    ("W", 5),
    ("ER1", 9),
    ("L", 6),
    ("D", 5),
    ("SIL", 14),
]


def ref_phones(ref=REF) -> list[Phone]:
    edges = np.concatenate([[0], np.cumsum([n for _, n in ref])]) * FRAME
    return [Phone(p, float(edges[i]), float(edges[i + 1])) for i, (p, _) in enumerate(ref)]


N = sum(n for _, n in REF)


def test_identical_sequences_get_the_reference_frames():
    symbols = [p for p, _ in REF]
    symbols = [s if s != "SIL" else "," for s in symbols]
    assert durations_from_phones(ref_phones(), symbols, N, CFG).tolist() == [n for _, n in REF]


def test_stress_lexicon_and_boundary_differences():
    # our frontend: different stress and vowel (EH vs AH), word boundaries, no leading pause symbol
    symbols = ["HH", "EH0", "L", "OW0", ",", "|", "W", "ER1", "L", "D", "."]
    d = durations_from_phones(ref_phones(), symbols, N, CFG)
    assert d.sum() == N
    assert d.tolist() == [15, 4, 6, 12, 8, 0, 5, 9, 6, 5, 14]  # the leading pause joins the first phone


def test_edge_boundaries_take_the_leading_and_trailing_silence():
    # the frontend's edge boundaries give the recording's opening silence a symbol of its own
    symbols = ["|", "HH", "AH0", "L", "OW1", ",", "|", "W", "ER1", "L", "D", ".", "|"]
    d = durations_from_phones(ref_phones(), symbols, N, CFG)
    assert d.tolist()[:2] == [10, 5]  # not [0, 15] as without the leading boundary
    assert d[-3] == 5 and d[-2:].sum() == 14  # the closing pause goes to the final pause symbols


def test_missing_and_extra_phones_keep_the_sum_and_give_spoken_symbols_frames():
    # the engine dropped nothing but our text has an extra "Z"; and the engine's "L" in "world" is missing here
    symbols = ["|", "HH", "AH0", "L", "OW1", "|", "W", "ER1", "D", "Z", "."]
    d = durations_from_phones(ref_phones(), symbols, N, CFG)
    assert d.sum() == N
    spoken = [i for i, s in enumerate(symbols) if symbol_kind(s) != "silent"]
    assert (d[spoken] > 0).all()
    assert d[0] == 10 and d[5] == 8 and d[-1] == 14  # pauses land on boundary/punctuation symbols


def test_graphemes_and_only_punctuation_still_sum():
    letters = ["h", "e", "l", "l", "o", ",", "|", "w", "o", "r", "l", "d", "."]
    assert durations_from_phones(ref_phones(), letters, N, CFG).sum() == N
    assert durations_from_phones(ref_phones(), [".", "|"], N, CFG).sum() == N
    with pytest.raises(TimingsError):
        durations_from_phones(ref_phones(), [], N, CFG)


def test_reference_frames_fill_gaps_and_clip_to_the_mel_length():
    phones = [Phone("HH", 0.1, 0.2), Phone("AY1", 0.25, 0.5)]
    labels, frames = reference_frames(phones, 40, CFG)
    assert labels == ["SIL", "HH", "SIL", "AY"]
    assert frames.sum() == 40 and frames.tolist()[:3] == [
        9,
        8,
        5,
    ]  # boundaries at frames 8.6, 17.2, 21.5 rounded
    _, frames = reference_frames(phones, 20, CFG)  # timings past the mel's end are clipped
    assert frames.sum() == 20 and (frames >= 0).all()


def test_symbol_kinds():
    assert [symbol_kind(s) for s in ["AH0", "HH", "a", "'", "|", ",", "<pad>"]] == [
        "phone", "phone", "letter", "silent", "silent", "silent", "letter",
    ]  # fmt: skip


def test_read_corpus_json_and_find(tmp_path):
    data = {
        "id": "x",
        "phones": [{"phone": "SIL", "start": 0, "end": 0.1}, {"phone": "AA1", "start": 0.1, "end": 0.3}],
    }
    (tmp_path / "x.json").write_text(json.dumps(data))
    assert find_timings(tmp_path, "x") == tmp_path / "x.json"
    assert read_timings(tmp_path / "x.json") == [Phone("SIL", 0, 0.1), Phone("AA1", 0.1, 0.3)]
    d = load_durations(tmp_path / "x.json", [",", "AA1"], 26, CFG)
    assert d.sum() == 26 and d[0] == 9
    with pytest.raises(TimingsError, match="no timings"):
        find_timings(tmp_path, "y")
    (tmp_path / "bad.json").write_text('{"phones": [{"phone": "A"}]}')
    with pytest.raises(TimingsError, match="cannot read"):
        read_timings(tmp_path / "bad.json")


LONG_TEXTGRID = """File type = "ooTextFile"
Object class = "TextGrid"

xmin = 0
xmax = 0.6
tiers? <exists>
size = 2
item []:
    item [1]:
        class = "IntervalTier"
        name = "words"
        xmin = 0
        xmax = 0.6
        intervals: size = 2
        intervals [1]:
            xmin = 0
            xmax = 0.1
            text = ""
        intervals [2]:
            xmin = 0.1
            xmax = 0.6
            text = "hi"
    item [2]:
        class = "IntervalTier"
        name = "phones"
        xmin = 0
        xmax = 0.6
        intervals: size = 4
        intervals [1]:
            xmin = 0
            xmax = 0.1
            text = ""
        intervals [2]:
            xmin = 0.1
            xmax = 0.2
            text = "HH"
        intervals [3]:
            xmin = 0.2
            xmax = 0.5
            text = "AY1"
        intervals [4]:
            xmin = 0.5
            xmax = 0.6
            text = "sp"
"""

SHORT_TEXTGRID = """File type = "ooTextFile"
Object class = "TextGrid"

0
0.6
<exists>
1
"IntervalTier"
"speaker1 - phones"
0
0.6
3
0
0.1
"sil"
0.1
0.2
"HH"
0.2
0.6
"AY1"
"""


def test_read_textgrid_phones_tier_long_and_short(tmp_path):
    (tmp_path / "a.TextGrid").write_text(LONG_TEXTGRID)
    (tmp_path / "b.TextGrid").write_text(SHORT_TEXTGRID)
    long_phones = read_timings(find_timings(tmp_path, "a"))
    assert [p.phone for p in long_phones] == ["", "HH", "AY1", "sp"]
    assert long_phones[2] == Phone("AY1", 0.2, 0.5)
    assert [(p.phone, p.end) for p in read_timings(tmp_path / "b.TextGrid")] == [
        ("sil", 0.1),
        ("HH", 0.2),
        ("AY1", 0.6),
    ]
    n = round(0.6 / FRAME)
    d = durations_from_phones(long_phones, ["|", "HH", "AY1", "."], n, CFG)
    assert d.sum() == n and d[0] > 0 and d[-1] > 0
    (tmp_path / "c.TextGrid").write_text(LONG_TEXTGRID.replace('"phones"', '"syllables"'))
    with pytest.raises(TimingsError, match="phones"):
        read_timings(tmp_path / "c.TextGrid")


def test_boundary_scoring():
    ref = np.array([10, 0, 5, 4, 6])
    assert boundary_times(ref, CFG)[-1] == pytest.approx(25 * FRAME)
    perfect = score_boundaries(ref, ref, CFG)
    assert perfect["mean_ms"] == 0.0 and perfect["n_boundaries"] == 3  # the zero-length symbol adds none
    late = np.array([12, 0, 3, 4, 6])  # first boundary 2 frames late
    score = score_boundaries(late, ref, CFG)
    assert score["mean_ms"] == pytest.approx(2 * FRAME * 1000 / 3)
    assert score["frac_over_ms"] == 0.0
    far = np.array([16, 0, 1, 2, 6])  # 6 frames (70 ms) and 2 frames off
    many = score_boundaries([far, ref], [ref, ref], CFG)
    assert many["n_boundaries"] == 6 and many["n_utterances"] == 2
    assert many["frac_over_ms"] == pytest.approx(1 / 6)
    with pytest.raises(TimingsError, match="length"):
        score_boundaries(ref[:3], ref, CFG)


def test_phones_from_durations_give_spoken_symbols_their_frames_and_each_pause_its_total():
    """A learned aligner's durations written as timings (`fastpitch timings`) come back through
    `durations_from_phones`: every spoken symbol's exactly, a run of silent symbols (", |") its sum."""
    symbols = ["|", "HH", "AH0", "L", "OW1", "|", ",", "|", "W", "ER1", "L", "D", "|", "."]
    silent = np.array([s in "|,." for s in symbols])
    rng = np.random.default_rng(0)
    for _ in range(50):
        durations = rng.integers(1, 12, len(symbols))
        durations[silent & (rng.random(len(symbols)) < 0.5)] = 0
        phones = phones_from_durations(symbols, durations, CFG)
        assert [p.phone for p in phones if p.phone != "SIL"] == [s for s in symbols if s not in "|,."]
        back = durations_from_phones(phones, symbols, int(durations.sum()), CFG)
        np.testing.assert_array_equal(back[~silent], durations[~silent])
        runs = np.cumsum(~silent)  # each pause's symbols share the count of spoken symbols before them
        for run in np.unique(runs[silent]):
            assert back[silent & (runs == run)].sum() == durations[silent & (runs == run)].sum()
    plain = phones_from_durations(["|", "HH", "AY1", "|"], [3, 2, 4, 0], CFG)
    assert [(p.phone, round(p.start / FRAME), round(p.end / FRAME)) for p in plain] == [
        ("SIL", 0, 3),
        ("HH", 3, 5),
        ("AY1", 5, 9),
    ]
    with pytest.raises(TimingsError, match="3 symbols but 2"):
        phones_from_durations(["HH", "AY1", "|"], [1, 2], CFG)
