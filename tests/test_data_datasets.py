"""Dataset readers and the validation pass: bad lines and bad audio are reported and skipped, never fatal."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from fastpitch.config import AudioConfig
from fastpitch.data.datasets import (
    DEFAULT_SPEAKER,
    DatasetError,
    check_dataset,
    clean_text,
    clipped_fraction,
    read_dataset,
    read_split,
    scan_dataset,
)

SR = 22050


def tone(seconds: float = 1.0, f0: float = 180.0, amplitude: float = 0.3, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * f0 * t)).astype(np.float32)


def write_lj(root: Path, lines: list[str] | bytes, speakers: list[str] | None = None) -> Path:
    (root / "wavs").mkdir(parents=True, exist_ok=True)
    data = lines if isinstance(lines, bytes) else ("\n".join(lines) + "\n").encode()
    (root / "metadata.csv").write_bytes(data)
    if speakers is not None:
        (root / "speakers.csv").write_text("\n".join(speakers) + "\n")
    return root


def test_ljspeech_reader_prefers_normalized_text_and_reads_speakers(tmp_path):
    write_lj(
        tmp_path,
        ["a1|Dr. Smith paid $5.|Doctor Smith paid five dollars.", "a2|Hello there.|", "a3|Hi.|Hi."],
        speakers=["id|speaker", "a1|slt", "a2|kal"],
    )
    utts = read_dataset(tmp_path)
    assert [u.id for u in utts] == ["a1", "a2", "a3"]
    assert utts[0].text == "Doctor Smith paid five dollars."
    assert utts[1].text == "Hello there."  # empty normalized column falls back to the raw text
    assert [u.speaker for u in utts] == ["slt", "kal", DEFAULT_SPEAKER]
    assert utts[0].audio_path == tmp_path / "wavs" / "a1.wav"
    assert [u.id for u in read_dataset(tmp_path / "metadata.csv")] == ["a1", "a2", "a3"]


def test_metadata_problems_are_reported_not_fatal(tmp_path):
    data = "\ufeffb1|Fine text.|Fine text.\n\nb2|Bell\x07 and zero\u200bwidth.|\n".encode()
    data += b"b3|Bad byte \xff here.|\n   \nb1|Duplicate id.|\nno-text-here\nb4||\n"
    write_lj(tmp_path, data)
    utts, issues = scan_dataset(tmp_path)
    assert [u.id for u in utts] == ["b1", "b2", "b3"]
    assert utts[1].text == "Bell and zerowidth."
    assert "\ufffd" not in utts[2].text and utts[2].text == "Bad byte here."
    kinds = [(i.kind, i.skip) for i in issues]
    assert kinds.count(("empty_line", False)) == 2
    assert kinds.count(("odd_chars", False)) == 2
    assert ("duplicate_id", True) in kinds
    assert ("bad_line", True) in kinds
    assert ("no_text", True) in kinds


def test_filelist_paths_resolve_against_the_filelist(tmp_path):
    (tmp_path / "lists").mkdir()
    absolute = tmp_path / "elsewhere" / "x.wav"
    lines = ["../audio/one.wav|First.|anna", f"{absolute}|Second.", "sub/three.flac|Third.|bob"]
    (tmp_path / "lists" / "train.txt").write_text("\n".join(lines) + "\n")
    utts = read_dataset(tmp_path / "lists" / "train.txt")
    assert [u.id for u in utts] == ["one", "x", "three"]
    assert utts[0].audio_path.resolve() == (tmp_path / "audio" / "one.wav").resolve()
    assert utts[1].audio_path == absolute
    assert utts[2].audio_path == tmp_path / "lists" / "sub" / "three.flac"
    assert [u.speaker for u in utts] == ["anna", DEFAULT_SPEAKER, "bob"]


def test_unknown_layouts_raise_clear_errors(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        read_dataset(tmp_path / "nope")
    with pytest.raises(DatasetError, match=r"metadata\.csv"):
        read_dataset(tmp_path)


def test_split_selects_ids(tmp_path):
    write_lj(tmp_path, ["c1|One.|", "c2|Two.|", "c3|Three.|"])
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "val.txt").write_text("c2\n\nc3\n")
    assert read_split(tmp_path, "val") == ["c2", "c3"]
    assert [u.id for u in read_dataset(tmp_path, split="val")] == ["c2", "c3"]
    with pytest.raises(DatasetError, match="split"):
        read_dataset(tmp_path, split="test")


def test_clean_text_and_clipping_helpers():
    assert clean_text("a\tb\x00c\u200b  d") == ("a bc d", "\x00\u200b")
    lone_peak = np.zeros(1000, np.float32)
    lone_peak[10] = 1.0
    assert clipped_fraction(lone_peak) == 0.0
    flat = lone_peak.copy()
    flat[100:110] = 1.0
    assert clipped_fraction(flat) == pytest.approx(0.01)


@pytest.fixture(scope="module")
def messy_corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("messy")
    wavs = root / "wavs"
    wavs.mkdir()
    sf.write(wavs / "good.wav", tone(), SR)
    sf.write(wavs / "stereo.wav", np.stack([tone(), tone(f0=200)], axis=1), SR)
    sf.write(wavs / "rate16k.wav", tone(sr=16000), 16000)
    sf.write(wavs / "silent.wav", np.zeros(SR, np.float32), SR)
    square = np.sign(np.sin(2 * np.pi * 100 * np.arange(SR) / SR)).astype(np.float32)
    sf.write(wavs / "clipped.wav", square, SR, subtype="PCM_16")
    sf.write(wavs / "short.wav", tone(0.1), SR)
    sf.write(wavs / "long.wav", tone(3.0), SR)
    sf.write(wavs / "empty.wav", np.zeros(0, np.float32), SR)
    sf.write(wavs / "nosymbols.wav", tone(), SR)
    (wavs / "garbage.wav").write_bytes(b"this is not a RIFF file" * 20)
    sf.write(wavs / "truncated.wav", tone(), SR, subtype="PCM_16")
    data = (wavs / "truncated.wav").read_bytes()
    (wavs / "truncated.wav").write_bytes(data[: len(data) // 2])
    ids = ["good", "stereo", "rate16k", "silent", "clipped", "short", "long", "empty", "garbage", "truncated"]
    lines = [f"{i}|This is utterance {i}.|" for i in ids]
    lines += ["missing|This file does not exist.|", "nosymbols|...|", "", "odd|Odd \x01 text.|"]
    sf.write(wavs / "odd.wav", tone(), SR)
    (root / "metadata.csv").write_text("\n".join(lines) + "\n")
    return root


def test_check_dataset_reports_and_skips_bad_audio_and_text(messy_corpus, data_frontend):
    report = check_dataset(messy_corpus, AudioConfig(), data_frontend)
    by_id = {}
    for issue in report.issues:
        by_id.setdefault(issue.id, set()).add((issue.kind, issue.skip))
    assert sorted(u.id for u in report.utterances) == ["good", "long", "odd", "rate16k", "stereo"]
    assert by_id["stereo"] == {("stereo", False)}
    assert by_id["rate16k"] == {("resample", False)}
    assert by_id["silent"] == {("silent", True)}
    assert by_id["clipped"] == {("clipped", True)}
    assert by_id["short"] == {("too_short", True)}
    assert by_id["empty"] == {("empty_audio", True)}
    assert by_id["garbage"] == {("unreadable", True)}
    assert by_id["truncated"] == {("corrupt", True)}
    assert by_id["missing"] == {("missing", True)}
    assert by_id["nosymbols"] == {("no_symbols", True)}
    assert ("odd_chars", False) in by_id["metadata.csv:14"]
    assert ("empty_line", False) in by_id["metadata.csv:13"]
    summary = report.to_dict()
    assert summary["usable"] == 5 and summary["utterances"] == 13
    assert summary["sample_rates"] == {"16000": 1, "22050": 4}
    assert summary["seconds"] == pytest.approx(7.0)


def test_check_dataset_length_limits_are_configurable(messy_corpus, data_frontend):
    from fastpitch.data.datasets import Limits

    report = check_dataset(messy_corpus, AudioConfig(), data_frontend, Limits(max_seconds=2.0))
    assert ("long", "too_long") in {(i.id, i.kind) for i in report.skipped}


def test_data_check_command_prints_the_report(messy_corpus):
    import json
    import subprocess
    import sys

    args = [sys.executable, "-m", "fastpitch", "data", "check", str(messy_corpus)]
    out = subprocess.run([*args, "--json"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["usable"] == 5 and report["issue_counts"]["missing"] == 1
    table = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert table.returncode == 0, table.stderr
    assert "5 of 13 utterances usable" in table.stderr and "truncated WAV" in table.stderr


def test_clip_length_limits_that_keep_nothing_are_refused():
    from fastpitch.data.datasets import DatasetError, Limits

    with pytest.raises(DatasetError, match="at least 5 s and at most 1 s"):
        Limits(min_seconds=5, max_seconds=1)
    with pytest.raises(DatasetError, match="keep nothing"):
        Limits(min_seconds=-1)
