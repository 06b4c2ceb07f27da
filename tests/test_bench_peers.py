"""`fastpitch bench peers` on tiny voices: the report's structure, its ratios and a missing hibari-tts."""

import importlib.util
import json

import pytest
from typer.testing import CliRunner

from fastpitch.bench import peers
from fastpitch.cli import app
from fastpitch.errors import FastPitchError

TEXTS = ["The ferry left late.", "Close the window, please."]


def check_run(run: dict, sentences: int) -> None:
    """A run's figures follow from its own measurements (no timing is asserted)."""
    assert run["wall_seconds"] == min(run["round_wall_seconds"])
    assert run["x_realtime"] == pytest.approx(run["audio_seconds"] / run["wall_seconds"], rel=0.01)
    latency = run["latency_ms"]
    assert 0 < latency["p50"] <= latency["p90"] and latency["mean"] > 0
    # per-sentence latencies sum to no more than the best round (they are each sentence's best over rounds)
    assert latency["mean"] * sentences <= run["wall_seconds"] * 1e3 * 1.01


def test_bench_peers_report(synth_onnx_voice):
    result = peers.bench_peers(voice=synth_onnx_voice, threads=(1,), rounds=1, sentences=TEXTS, quality=False)
    assert result["benchmark"] == "peers" and result["sentences"] == 2 and result["quality"] is None
    hibari = importlib.util.find_spec("hibari") is not None
    expected = {"onnx", "torch", "hibari"} if hibari else {"onnx", "torch"}
    assert {r["engine"] for r in result["runs"]} == expected
    assert all(r["threads"] == 1 for r in result["runs"])
    for run in result["runs"]:
        check_run(run, 2)
    by_engine = {r["engine"]: r for r in result["runs"]}
    # both fastpitch engines read the same voice: the same audio length
    assert by_engine["onnx"]["audio_seconds"] == pytest.approx(by_engine["torch"]["audio_seconds"], rel=0.01)
    if hibari:
        for engine in ("onnx", "torch"):
            ratio = result["vs_hibari"]["1"][engine]
            assert ratio["speed_vs_hibari"] == pytest.approx(
                by_engine[engine]["x_realtime"] / by_engine["hibari"]["x_realtime"], rel=0.01
            )
            assert ratio["latency_vs_hibari"] == pytest.approx(
                by_engine[engine]["latency_ms"]["mean"] / by_engine["hibari"]["latency_ms"]["mean"], rel=0.01
            )
    else:
        assert result["skipped"]["hibari"]["install"] == peers.HIBARI_INSTALL


def test_summarize_and_compare_use_the_measured_numbers():
    ours = peers.summarize([22050, 44100], 22050, walls=[0.05, 0.03], latencies=[[0.02, 0.02], [0.01, 0.03]])
    assert ours["audio_seconds"] == 3.0 and ours["wall_seconds"] == 0.03 and ours["x_realtime"] == 100.0
    assert ours["latency_ms"]["mean"] == 15.0  # each sentence's best: 10 ms and 20 ms
    theirs = peers.summarize([48000], 24000, walls=[0.01], latencies=[[0.01]])
    ratios = peers.compare({"onnx": {1: ours}, "hibari": {1: theirs}, "torch": {2: ours}})
    assert ratios == {"1": {"onnx": {"speed_vs_hibari": 0.5, "latency_vs_hibari": 1.5}}}


def test_bench_peers_without_hibari(synth_voice, monkeypatch):
    """hibari-tts missing: the fastpitch engines still run, and the report says how to install it; a voice
    without ONNX models skips the ONNX engine with the reason."""
    monkeypatch.setattr(peers, "hibari_installed", lambda: False)
    result = peers.bench_peers(voice=synth_voice, threads=(1,), rounds=1, sentences=TEXTS[:1], quality=False)
    assert result["skipped"]["hibari"] == {
        "reason": "hibari-tts is not installed",
        "install": 'pip install "fastpitch[hibari]"',
    }
    assert "fastpitch export" in result["skipped"]["onnx"]["reason"]
    assert [r["engine"] for r in result["runs"]] == ["torch"] and result["vs_hibari"] == {}
    check_run(result["runs"][0], 1)


def test_bench_peers_command(synth_onnx_voice, tmp_path):
    out = tmp_path / "peers.json"
    args = ["bench", "peers", "--voice", synth_onnx_voice, "--engines", "onnx", "--threads", "1"]
    args += ["--rounds", "1", "--sentences", "1", "--no-quality", "--out", out]
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert [r["engine"] for r in report["runs"]] == ["onnx"] and report["sentences"] == 1
    bad = CliRunner().invoke(app, ["bench", "peers", "--engines", "espeak", "--out", str(out)])
    assert isinstance(bad.exception, FastPitchError) and "unknown engine" in str(bad.exception)


def test_bench_peers_quality_needs_the_judges(monkeypatch):
    monkeypatch.setattr(peers, "quality_available", lambda: False)
    with pytest.raises(FastPitchError, match=r"fastpitch\[eval\]"):
        peers.bench_peers(engines=("onnx",), sentences=1, quality=True)


def test_the_cpu_is_described_by_its_model_and_vector_extensions(tmp_path):
    from fastpitch.cpu import describe_cpu

    x86 = tmp_path / "x86"
    x86.write_text(
        "processor\t: 0\nmodel name\t: AMD EPYC 9R14\nflags\t\t: fpu sse2 avx avx2 fma avx512f avx512_vnni\n\n"
        "processor\t: 1\nmodel name\t: AMD EPYC 9R14\nflags\t\t: fpu sse2 avx avx2 fma avx512f avx512_vnni\n"
    )
    assert describe_cpu(x86)["model"] == "AMD EPYC 9R14"
    assert describe_cpu(x86)["simd"] == ["avx512_vnni", "avx512f", "avx2", "fma"]  # widest first
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd evtstrm aes asimddp\nCPU part\t: 0xd0c\n")
    assert describe_cpu(arm)["simd"] == ["asimddp", "asimd"]
    assert describe_cpu(tmp_path / "missing")["simd"] == []  # not Linux: the bare platform names
