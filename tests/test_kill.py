"""Killed processes (issue 21, part 2): a real SIGKILL of `fastpitch prepare` at random moments, then a rerun whose
features equal a clean run's. `fastpitch bench kill` does the same for train, voice create and export, 20 times
each (about 25 minutes on two busy cores); here only prepare, the cheapest, twice."""

from fastpitch.bench.kill import bench_kill


def test_prepare_killed_twice_then_rerun_equals_a_clean_run(tmp_path):
    result = bench_kill(tmp_path / "work", kills=2, commands=("prepare",), seed=1)
    (prepare,) = result["commands"]
    assert prepare["failures"] == [], prepare
    assert prepare["kills"] + prepare["finished_before_kill"] == 2
