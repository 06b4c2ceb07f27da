"""`fastpitch say`, `synth`, `voice info`, `export` and `bench synth` on tiny voices."""

import json
import shutil
import subprocess
import sys

import pytest
import soundfile as sf
from typer.testing import CliRunner

from fastpitch.cli import app
from fastpitch.errors import FastPitchError

runner = CliRunner()


def invoke(*args: str, input: str | None = None):
    result = runner.invoke(app, [str(a) for a in args], input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


@pytest.mark.parametrize("suffix", ["wav", "flac", "ogg"])
def test_say_writes_each_format(synth_voice, tmp_path, suffix):
    out = tmp_path / f"hello.{suffix}"
    result = invoke(
        "say", "Hello there.", "--voice", synth_voice, "-o", out, "--pace", "1.2", "--speaker", "bob"
    )
    assert result.exit_code == 0, result.output
    info = sf.info(str(out))
    assert info.samplerate == 22050 and info.frames > 1000 and info.format == suffix.upper()


def test_say_reads_stdin_and_text_files(synth_voice, tmp_path):
    assert (
        invoke(
            "say", "-", "--voice", synth_voice, "-o", tmp_path / "a.wav", input="From standard input."
        ).exit_code
        == 0
    )
    assert (
        invoke("say", "--voice", synth_voice, "-o", tmp_path / "b.wav", input="Piped, no dash.").exit_code
        == 0
    )
    (tmp_path / "text.txt").write_text("From a file. Two sentences.")
    assert (
        invoke(
            "say", "--text-file", tmp_path / "text.txt", "--voice", synth_voice, "-o", tmp_path / "c.wav"
        ).exit_code
        == 0
    )
    for name in ("a", "b", "c"):
        assert sf.info(str(tmp_path / f"{name}.wav")).frames > 0


def test_say_uses_onnx_when_the_voice_has_it(synth_onnx_voice, tmp_path, monkeypatch):
    import fastpitch.runtime

    made = []
    original = fastpitch.runtime.OnnxSynthesizer.__init__
    monkeypatch.setattr(
        fastpitch.runtime.OnnxSynthesizer,
        "__init__",
        lambda self, *a, **k: made.append(1) or original(self, *a, **k),
    )
    assert invoke("say", "Hello.", "--voice", synth_onnx_voice, "-o", tmp_path / "a.wav").exit_code == 0
    assert made == [1]
    assert (
        invoke(
            "say", "Hello.", "--voice", synth_onnx_voice, "-o", tmp_path / "b.wav", "--engine", "torch"
        ).exit_code
        == 0
    )
    assert made == [1]


def test_user_errors_are_one_line(synth_voice, tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "fastpitch",
            "say",
            "?!",
            "--voice",
            str(synth_voice),
            "-o",
            str(tmp_path / "a.wav"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 2 and "nothing to say" in out.stderr and "Traceback" not in out.stderr, (
        out.stderr
    )
    assert not (tmp_path / "a.wav").exists()  # never a zero-length WAV


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Hi.", "-o", "a.mp3"], "unsupported output format"),
        (["Hi.", "--speaker", "carol"], "unknown speaker"),
        (["Hi.", "--pace", "0"], "pace must be a number between"),
        (["Hi.", "--threads", "0"], "--threads must be 1 or more"),
        (["Hi.", "--phones"], "--phones adds the phones to JSON timestamps"),
        (["Hi.", "--phones", "--timestamps", "t.srt"], "--phones adds the phones to JSON timestamps"),
        (["Hi.", "--text-file", "t.txt"], "either as an argument or with --text-file"),
    ],
)
def test_bad_arguments(synth_voice, args, message):
    with pytest.raises(FastPitchError, match=message):
        invoke("say", *args, "--voice", synth_voice)
    with pytest.raises(FastPitchError, match="voice not found"):
        invoke("say", "Hi.", "--voice", "/nowhere")


def test_synth_writes_one_file_per_line(synth_voice, tmp_path):
    lines = tmp_path / "lines.txt"
    lines.write_text("First line.\n\nSecond line, longer.\nutt_3|Third, named by its id.\n")
    result = invoke("synth", lines, "--out-dir", tmp_path / "out", "--voice", synth_voice, "--format", "flac")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["00001.flac", "00003.flac", "utt_3.flac"]
    # two lines that would write one file: refused before anything is spoken
    for text, clash in (
        ("id2|One.\nid2|Two.\n", "line 2 would be saved as 'id2', as line 1 is"),
        ("00002|Named.\nUnnamed.\n", "line 2 would be saved as '00002', as line 1 is"),
    ):
        lines.write_text(text)
        with pytest.raises(FastPitchError, match=clash):
            invoke("synth", lines, "--out-dir", tmp_path / "clash", "--voice", synth_voice)
    assert not (tmp_path / "clash").exists()


def test_voice_info_and_export(synth_voice, tmp_path):
    voice = shutil.copytree(synth_voice, tmp_path / "voice")
    result = invoke("voice", "info", voice)
    info = json.loads(result.stdout)
    assert (
        info["speakers"] == ["alice", "bob"] and info["onnx"] is False and info["acoustic_parameters"] > 1000
    )
    assert info["postfilter"] == 0.4  # the tiny voice is made with voice create's default
    assert invoke("export", voice).exit_code == 0
    assert json.loads(invoke("voice", "info", voice).stdout)["onnx"] is True
    assert json.loads((voice / "voice.json").read_text())["onnx"]["int8"] == [
        "acoustic.onnx",
        "acoustic-single.onnx",
    ]
    result = invoke("export", voice, "--fp32")
    assert result.exit_code == 0 and "fp32" in result.output, result.output
    assert json.loads((voice / "voice.json").read_text())["onnx"]["int8"] == []


def test_bench_synth(tmp_path):
    from fastpitch.bench.synth import bench_synth

    result = bench_synth(preset="tiny", vocoder="istft", seconds=1.0, threads=1, repeats=1, stand_in=True)
    assert result["audio_seconds"] == pytest.approx(1.0, rel=0.1)
    # the tiny stand-in, not the installed voice
    assert not result["trained"] and result["voice"] != "default"
    assert result["acoustic"]["gflops"] > 0 and result["vocoder"]["gflops"] > 0
    assert result["matmul_gflops_per_s"] > 0
    for engine in ("torch", "onnx"):
        assert result["end_to_end"][engine]["x_realtime"] > 0 and result["stream_first_audio_ms"][engine] > 0
