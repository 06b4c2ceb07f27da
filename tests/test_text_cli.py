"""`fastpitch text` and `fastpitch bench text`, through typer's runner and one real subprocess."""

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

import fastpitch.cli.text  # noqa: F401  (registers the commands)
from fastpitch.cli.app import app
from fastpitch.text import get_symbol_table
from fastpitch.text.bench import default_sentences


@pytest.fixture(scope="module")
def text_runner():
    return CliRunner()


def test_text_prints_normalized_text_and_symbols(text_runner):
    out = text_runner.invoke(app, ["text", "Dr. Smith paid $3.50 on Jan. 5"])
    assert out.exit_code == 0, out.output
    assert "normalized: Doctor Smith paid three dollars and fifty cents on January fifth" in out.output
    assert "D AA1 K T ER0 | S M IH1 TH | P EY1 D" in out.output


def test_text_json_from_stdin(text_runner):
    out = text_runner.invoke(app, ["text", "--json", "-"], input="Hello there. It is 5 pm.")
    assert out.exit_code == 0, out.output
    info = json.loads(out.stdout)
    assert info["symbol_set"] == "en-v1"
    assert [s["normalized"] for s in info["sentences"]] == ["Hello there.", "It is five P M."]
    first = info["sentences"][0]
    assert first["ids"] == get_symbol_table("en-v1").encode(first["symbols"])


def test_text_grapheme_mode(text_runner):
    out = text_runner.invoke(app, ["text", "--mode", "graphemes", "Hi 2"])
    assert out.exit_code == 0, out.output
    assert "symbols (9): | h i | t w o . |" in out.output


def test_empty_text_is_a_one_line_error():
    proc = subprocess.run(
        [sys.executable, "-m", "fastpitch", "text", "   "], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert "text is empty" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bench_text_writes_json(text_runner, tmp_path):
    sentences = tmp_path / "s.txt"
    sentences.write_text(
        "Dr. Smith paid $3.50 on Jan. 5.\nThe cat sat on the mat.\n\nIt was 20°C at 3:30 pm.\n"
    )
    result_path = tmp_path / "out" / "text.json"
    out = text_runner.invoke(
        app, ["bench", "text", "--sentences", str(sentences), "--out", str(result_path), "--repeats", "1"]
    )
    assert out.exit_code == 0, out.output
    result = json.loads(result_path.read_text())
    assert result["sentences"] == 3
    assert result["fastpitch"]["sentences_per_s"] > 0
    espeak = result["phonemizer_espeak"]
    assert ("sentences_per_s" in espeak) if espeak["available"] else espeak["reason"]


def test_bench_text_missing_file_is_a_user_error(text_runner, tmp_path):
    out = text_runner.invoke(app, ["bench", "text", "--sentences", str(tmp_path / "nope.txt")])
    assert out.exit_code != 0
    assert "sentence file not found" in str(out.exception)


def test_default_bench_sentences_are_reproducible():
    a, source = default_sentences()
    b, _ = default_sentences()
    assert a == b and len(a) == 1000 and source
    assert len(set(a)) > 990
    assert sum(any(c.isdigit() for c in s) for s in a) >= 300  # every third carries numbers to normalize


def test_text_skips_sentences_with_nothing_to_read(text_runner):
    out = text_runner.invoke(app, ["text", "--json", "Hello.\n\n😀!\n\nBye."])
    assert out.exit_code == 0, out.output
    assert [s["normalized"] for s in json.loads(out.stdout)["sentences"]] == ["Hello.", "Bye."]
