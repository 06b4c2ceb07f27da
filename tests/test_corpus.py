"""`fastpitch corpus synth`: sentence choice, festival timings, the LJSpeech layout, resuming, missing engines."""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf
from typer.testing import CliRunner

from fastpitch.cli import app
from fastpitch.config import TextConfig
from fastpitch.data import sentences as S
from fastpitch.data.corpus import (
    Voice,
    festival_timings,
    festival_to_arpabet,
    read_sentences,
    synthesize_corpus,
)
from fastpitch.errors import FastPitchError
from fastpitch.text import TextFrontend

VOICES = ("festival:cmu_us_slt_arctic_hts", "espeak-ng:en-us")
SMALL = {"count": 6, "seed": 3, "test_count": 1, "val_count": 1, "workers": 2, "chunk_size": 2}
VALID_PHONES = (
    {"SIL"} | {p for p in S.ARPABET if p not in S.VOWELS} | {v + d for v in S.VOWELS for d in "012"}
)


@pytest.fixture(scope="module")
def frontend() -> TextFrontend:
    return TextFrontend(TextConfig())


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, frontend) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    synthesize_corpus(out, voices=VOICES, frontend=frontend, **SMALL)
    return out


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


# --- sentences -------------------------------------------------------------------------------------------


def test_clean_sentence():
    assert (
        S.clean_sentence("he verified that the valves were closed")
        == "He verified that the valves were closed."
    )
    assert S.clean_sentence("  `you  can't be serious about it'  ") == "You can't be serious about it."
    assert S.clean_sentence("the boys' room was a mess, ") == "The boys' room was a mess."
    assert S.clean_sentence("too short to use") is None
    assert S.clean_sentence("he said (quietly) that it was over") is None
    assert S.clean_sentence("he said 'stop' and then it was over") is None
    assert S.clean_sentence(" ".join(["word"] * 30)) is None


def test_wordnet_sentences_are_many_distinct_and_clean():
    sentences = S.wordnet_sentences()
    assert len(sentences) > 20000
    assert len({s.lower() for s in sentences}) == len(sentences)
    assert all(s[0].isupper() or s[0].isdigit() for s in sentences)
    assert all(s[-1] in ".!?" and '"' not in s for s in sentences)


def test_missing_wordnet_names_the_package(tmp_path):
    with pytest.raises(FastPitchError, match="wordnet-base"):
        S.wordnet_sentences(tmp_path)


def test_generated_sentences_exercise_the_normalizer(frontend):
    gen = S.generated_sentences(40, seed=0)
    assert len(set(gen)) == 40 and gen == S.generated_sentences(40, seed=0)
    text = " ".join(gen)
    for needle in ("$", "%", "Dr.", "Mr.", "p.m.", ":", ","):
        assert needle in text
    assert sum(any(c.isdigit() for c in s) for s in gen) == 40
    for s in gen:  # every word they turn into has a dictionary pronunciation
        assert S.in_lexicon(frontend.normalize(s), frontend.lexicon), s


def test_in_lexicon():
    lexicon = {"the", "dog", "barked", "john"}
    assert S.in_lexicon("The dog barked.", lexicon)
    assert S.in_lexicon("John's dog barked.", lexicon)
    assert not S.in_lexicon("The zorblax barked.", lexicon)


def test_greedy_selection_prefers_rare_units_and_is_deterministic():
    units = [{"a", "b"}, {"a", "b"}, {"a", "c"}, {"d"}, {"a"}]
    picked = S.select_by_coverage(units, 3, seed=0)
    assert picked[0] == 3  # {"d"} alone: all new, best value per unit
    assert set(picked[:3]) >= {3, 2}  # "c" is only in item 2
    assert S.select_by_coverage(units, 3, seed=0) == picked


def test_greedy_selection_covers_more_than_random(frontend):
    pool = [s for s in S.wordnet_sentences()[:3000] if S.in_lexicon(frontend.normalize(s), frontend.lexicon)]
    units = [S.diphones(S.phones_of(frontend.to_symbols(s))) for s in pool]
    greedy = S.select_by_coverage(units, 300, seed=0)
    first = range(300)
    assert len(set().union(*(units[i] for i in greedy))) > 1.2 * len(set().union(*(units[i] for i in first)))


def test_choose_sentences_deterministic_for_a_seed(frontend):
    a = S.choose_sentences(40, frontend, seed=1)
    assert a == S.choose_sentences(40, frontend, seed=1)
    assert a != S.choose_sentences(40, frontend, seed=2)
    assert len(set(a)) == 40
    assert sum(s in S.generated_sentences(2, seed=1) for s in a) == 2  # 5% generated


def test_split_indices():
    splits = S.split_indices(20, 3, 2)
    assert splits["test"] == [0, 1, 2] and splits["val"] == [3, 4] and splits["train"] == list(range(5, 20))
    with pytest.raises(FastPitchError, match="hold out"):
        S.split_indices(5, 3, 2)


# --- festival timings --------------------------------------------------------------------------------------


def test_festival_phones_map_to_arpabet():
    assert festival_to_arpabet("pau", "0") == ("SIL",)
    assert festival_to_arpabet("ax", "1") == ("AH0",)
    assert festival_to_arpabet("ae", "1") == ("AE1",)
    assert festival_to_arpabet("hh", "1") == ("HH",)
    assert festival_to_arpabet("en", "0") == ("AH0", "N")
    with pytest.raises(FastPitchError, match="no ARPAbet"):
        festival_to_arpabet("qq", "0")


def test_festival_timings_tile_the_audio():
    segments = [(0.2, "0", "pau"), (0.3, "1", "hh"), (0.5, "1", "ax"), (0.7, "0", "el"), (0.9, "0", "pau")]
    phones, words = festival_timings(segments, [(0.2, 0.7, "Hello")], duration=0.95)
    assert [p["phone"] for p in phones] == ["SIL", "HH", "AH0", "AH0", "L", "SIL"]
    assert phones[3]["end"] == pytest.approx(0.6) and phones[-1]["end"] == 0.95
    assert words == [{"word": "hello", "start": 0.2, "end": 0.7}]
    # audio shorter than festival's last segment: clipped, nothing past the end
    phones, _ = festival_timings(segments[:4], [], duration=0.65)
    assert phones[-1] == {"phone": "L", "start": 0.6, "end": 0.65}
    # audio longer after a phone: a silence is added
    phones, _ = festival_timings(segments[:4], [], duration=0.8)
    assert phones[-1] == {"phone": "SIL", "start": 0.7, "end": 0.8}


# --- the corpus ------------------------------------------------------------------------------------------


def test_layout_and_metadata(corpus, frontend):
    for name in ("metadata.csv", "speakers.csv", "SENTENCES_LICENSE.txt", "corpus.json"):
        assert (corpus / name).is_file(), name
    assert (
        "WordNet 3.0 Copyright 2006 by Princeton University" in (corpus / "SENTENCES_LICENSE.txt").read_text()
    )
    rows = [line.split("|") for line in _lines(corpus / "metadata.csv")]
    assert len(rows) == 12 and all(len(r) == 3 for r in rows)
    ids = [r[0] for r in rows]
    assert ids[:6] == [f"slt-{i:05d}" for i in range(1, 7)]
    assert ids[6:] == [f"espeak-en-us-{i:05d}" for i in range(1, 7)]
    for uid, raw, norm in rows:
        assert norm == " ".join(frontend.normalize(raw).split())
        info = sf.info(str(corpus / "wavs" / f"{uid}.wav"))
        assert (info.samplerate, info.channels, info.subtype) == (22050, 1, "PCM_16")
        assert 0.5 < info.duration < 15
    assert [r[1] for r in rows[:6]] == [r[1] for r in rows[6:]]  # every voice reads every sentence
    speakers = dict(line.split("|") for line in _lines(corpus / "speakers.csv"))
    assert set(speakers.values()) == {"slt", "espeak-en-us"} and set(speakers) == set(ids)
    splits = {name: _lines(corpus / "splits" / f"{name}.txt") for name in ("train", "val", "test")}
    assert sorted(uid for ids_ in splits.values() for uid in ids_) == sorted(ids)
    assert len(splits["test"]) == 2 and len(splits["val"]) == 2  # one sentence, both voices
    assert not (corpus / ".partial").exists()
    summary = json.loads((corpus / "corpus.json").read_text())
    assert summary["complete"] and summary["summary"]["utterances"] == 12


def test_festival_timings_cover_the_audio(corpus):
    files = sorted((corpus / "timings").glob("*.json"))
    assert [f.stem for f in files] == [f"slt-{i:05d}" for i in range(1, 7)]  # espeak-ng gives none
    for f in files:
        t = json.loads(f.read_text())
        assert (t["engine"], t["voice"], t["sample_rate"]) == ("festival", "cmu_us_slt_arctic_hts", 22050)
        duration = sf.info(str(corpus / "wavs" / f"{t['id']}.wav")).duration
        phones = t["phones"]
        assert phones[0]["start"] == 0.0 and phones[-1]["end"] == pytest.approx(duration, abs=1e-4)
        for a, b in itertools.pairwise(phones):
            assert a["end"] == b["start"]
        assert all(p["end"] > p["start"] for p in phones)
        assert {p["phone"] for p in phones} <= VALID_PHONES
        assert sum(p["phone"] != "SIL" for p in phones) > 10
        words = t["words"]
        assert words and all(w["word"] for w in words)
        for a, b in itertools.pairwise(words):
            assert a["start"] < a["end"] <= b["start"]
        assert words[-1]["end"] <= duration


def test_resume_keeps_finished_files(corpus, frontend):
    wavs = sorted((corpus / "wavs").glob("*.wav"))
    stamps = {p.name: p.stat().st_mtime_ns for p in wavs}
    removed = corpus / "wavs" / "slt-00002.wav"
    removed.unlink()
    synthesize_corpus(corpus, voices=VOICES, frontend=frontend, **SMALL)
    assert removed.is_file()
    after = {p.name: p.stat().st_mtime_ns for p in sorted((corpus / "wavs").glob("*.wav"))}
    assert after.keys() == stamps.keys()
    assert [n for n in after if after[n] != stamps[n]] == ["slt-00002.wav"]
    with pytest.raises(FastPitchError, match="other settings"):
        synthesize_corpus(corpus, voices=VOICES, frontend=frontend, **{**SMALL, "seed": 4})


def test_a_list_of_sentences_is_read_in_its_order_and_split_as_listed(tmp_path):
    listed = tmp_path / "sentences.txt"
    listed.write_text("The test one.\n\n  The   validation one. \nA training one.\nAnother training one.\n")
    runner = CliRunner()
    args = ["corpus", "synth", str(tmp_path / "c"), "--voices", "espeak-ng:en-us", "--sentences", str(listed)]
    args += ["--count", "3", "--test-count", "1", "--val-count", "1", "--workers", "1"]
    made = runner.invoke(app, args)
    assert made.exit_code == 0, made.output
    rows = [line.split("|") for line in _lines(tmp_path / "c" / "metadata.csv")]
    assert [r[1] for r in rows] == ["The test one.", "The validation one.", "A training one."]  # the first 3
    splits = {name: _lines(tmp_path / "c" / "splits" / f"{name}.txt") for name in ("test", "val", "train")}
    assert splits == {"test": [rows[0][0]], "val": [rows[1][0]], "train": [rows[2][0]]}
    settings = json.loads((tmp_path / "c" / "corpus.json").read_text())["settings"]
    assert settings["source"].startswith("a list of sentences (sha256 ") and settings["seed"] is None
    assert not (tmp_path / "c" / "SENTENCES_LICENSE.txt").exists()  # the list's license is its author's
    (tmp_path / "SENTENCES_LICENSE.txt").write_text("These sentences are mine; keep this notice.\n")
    assert runner.invoke(app, [*args[:2], str(tmp_path / "d"), *args[3:]]).exit_code == 0
    assert (tmp_path / "d" / "SENTENCES_LICENSE.txt").read_text().startswith("These sentences are mine")
    listed.write_text("The test one.\nThe validation one.\nA different training one.\n")
    changed = runner.invoke(app, args)  # resuming with another list would mix two corpora
    assert "other settings (source differ)" in str(changed.exception)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("One.\nTwo.\nOne.\n", "line 3 repeats line 1"),
        ("\n \n", "holds no sentences"),
        ("a|b\n", "holds a '|'"),
    ],
)
def test_a_bad_list_of_sentences_is_refused(tmp_path, text, message):
    listed = tmp_path / "sentences.txt"
    listed.write_text(text)
    with pytest.raises(FastPitchError, match=re.escape(message)):
        read_sentences(listed)
    with pytest.raises(FastPitchError, match="asked for 5 sentences, but the list holds 2"):
        synthesize_corpus(tmp_path / "c", voices=["espeak-ng:en-us"], count=5, sentences=["One.", "Two."])
    with pytest.raises(FastPitchError, match="at least 1, got -1"):
        synthesize_corpus(tmp_path / "c", voices=["espeak-ng:en-us"], count=-1, sentences=["One.", "Two."])


def test_a_listed_sentence_with_nothing_to_read_is_refused_before_any_audio(tmp_path):
    listed = ["A fine sentence.", "...", "Another one.", "And a third."]
    with pytest.raises(FastPitchError, match=r"sentence 2 of the list, '\.\.\.', cannot be read"):
        synthesize_corpus(
            tmp_path / "c", voices=["espeak-ng:en-us"], test_count=1, val_count=1, sentences=listed
        )
    assert not list((tmp_path / "c").glob("wavs/*.wav"))


def test_missing_engines_name_the_debian_packages(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FastPitchError, match="festival festvox-us-slt-hts"):
        synthesize_corpus(tmp_path / "a", voices=["festival:cmu_us_slt_arctic_hts"])
    with pytest.raises(FastPitchError, match="apt-get install espeak-ng"):
        synthesize_corpus(tmp_path / "b", voices=["espeak-ng:en-us"])


def test_unknown_voices_are_reported():
    with pytest.raises(FastPitchError, match="espeak-ng has no voice"):
        synthesize_corpus("unused", voices=["espeak-ng:xx-nothing"])
    with pytest.raises(FastPitchError, match="festival voice nobody_diphone is not installed"):
        synthesize_corpus("unused", voices=["festival:nobody_diphone"])
    assert Voice.parse("festival:kdl_diphone") == Voice("festival", "ked_diphone")
    with pytest.raises(FastPitchError, match="should look like"):
        Voice.parse("slt")


def test_cli_reports_bad_voice_in_one_line(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "fastpitch", "corpus", "synth", str(tmp_path), "--voices", "festival"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert out.returncode == 2
    assert "should look like" in out.stderr and "Traceback" not in out.stderr


# --- the hibari teacher ------------------------------------------------------------------------------------

HIBARI = {"count": 2, "seed": 3, "test_count": 1, "val_count": 0, "workers": 1}


def test_hibari_reads_a_corpus_skips_a_failing_sentence_and_resumes(tmp_path, frontend, monkeypatch, caplog):
    hibari = pytest.importorskip("hibari")
    real_call = hibari.Hibari.__call__
    lengths: dict[str, int] = {}

    def failing_once(self, text, speed=1.0, seed=None):
        if not lengths.get("failed"):
            lengths["failed"] = 1
            raise RuntimeError("the teacher choked")
        audio = real_call(self, text, speed, seed)
        lengths[text] = len(audio)
        return audio

    monkeypatch.setattr(hibari.Hibari, "__call__", failing_once)
    summary = synthesize_corpus(tmp_path, voices=["hibari:heart"], frontend=frontend, **HIBARI)
    assert summary.failed == ["hibari-heart-00001"] and summary.utterances == 1
    assert "hibari failed on hibari-heart-00001" in caplog.text and "the teacher choked" in caplog.text
    assert not json.loads((tmp_path / "corpus.json").read_text())["complete"]
    [(uid, _, norm)] = [line.split("|") for line in _lines(tmp_path / "metadata.csv")]
    assert uid == "hibari-heart-00002"
    info = sf.info(str(tmp_path / "wavs" / f"{uid}.wav"))
    assert (info.samplerate, info.channels, info.subtype) == (22050, 1, "PCM_16")
    assert info.duration == pytest.approx(lengths[norm] / hibari.SAMPLE_RATE, abs=1e-3)  # resampled, not cut
    assert not list((tmp_path / "timings").iterdir())
    notice = (tmp_path / "TEACHER_NOTICE.txt").read_text()
    for needle in ("hibari-tts", "Kokoro-82M", "Apache License", "closed"):
        assert needle in notice, needle

    monkeypatch.setattr(hibari.Hibari, "__call__", real_call)
    summary = synthesize_corpus(tmp_path, voices=["hibari:heart"], frontend=frontend, **HIBARI)
    assert summary.failed == [] and summary.utterances == 2
    assert json.loads((tmp_path / "corpus.json").read_text())["complete"]
    assert sorted(p.name for p in (tmp_path / "wavs").iterdir()) == ["hibari-heart-00001.wav", uid + ".wav"]


def test_missing_teacher_or_voice_is_reported(tmp_path, monkeypatch):
    assert Voice.parse("hibari:heart").speaker == "hibari-heart"
    assert not Voice.parse("hibari:heart").has_timings
    if importlib.util.find_spec("hibari") is not None:
        monkeypatch.setenv("HIBARI_HOME", str(tmp_path / "cache"))  # no downloaded voices
        with pytest.raises(FastPitchError, match="hibari has no voice 'nobody'"):
            synthesize_corpus(tmp_path / "a", voices=["hibari:nobody"])
        with pytest.raises(FastPitchError, match="'emma' is not on this machine"):
            synthesize_corpus(tmp_path / "b", voices=["hibari:emma"])
    monkeypatch.setitem(sys.modules, "hibari", None)  # `import hibari` now fails
    with pytest.raises(FastPitchError, match=r'pip install "fastpitch\[hibari\]"'):
        synthesize_corpus(tmp_path / "c", voices=["hibari:heart"])
