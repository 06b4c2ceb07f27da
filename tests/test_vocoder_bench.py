"""`fastpitch bench vocoder`: the JSON it writes (structure only; no timing assertions)."""

from typer.testing import CliRunner

from fastpitch.cli import app
from fastpitch.vocoders.bench import bench_vocoders


def test_bench_reports_every_vocoder_per_thread_count():
    result = bench_vocoders(seconds=0.2, threads=(1,), repeats=1, names=("griffin-lim", "istft"))
    measured = result["threads"]["1"]
    assert set(measured["vocoders"]) == {"griffin-lim", "istft"}
    for entry in measured["vocoders"].values():
        assert entry["seconds"] > 0 and entry["x_realtime"] > 0
    assert measured["vocoders"]["istft"]["params"] > 2e6
    assert measured["speedups"]["istft_vs_griffin-lim"] > 0


def test_bench_cli_rejects_bad_thread_counts(tmp_path):
    result = CliRunner().invoke(
        app, ["bench", "vocoder", "--threads", "two", "--out", str(tmp_path / "b.json")]
    )
    assert result.exit_code == 2
    assert not (tmp_path / "b.json").exists()
