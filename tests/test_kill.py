"""Killed processes (issue 21, part 2): real SIGKILLs at random moments, then a rerun. `fastpitch bench kill` does
it 20 times for each of corpus synth, prepare, train, train-vocoder, voice create and export (about 40 minutes on
two busy cores); here the cheapest few, once or twice each."""

import pytest

from fastpitch.bench.kill import bench_kill


def test_prepare_killed_twice_then_rerun_equals_a_clean_run(tmp_path):
    result = bench_kill(tmp_path / "work", kills=2, commands=("prepare",), seed=1)
    (prepare,) = result["commands"]
    assert prepare["failures"] == [], prepare
    assert prepare["kills"] == 2


def test_corpus_synth_killed_twice_then_rerun_completes_the_same_corpus(tmp_path):
    result = bench_kill(tmp_path / "work", kills=2, commands=("corpus-synth",), seed=2, corpus_count=12)
    (synth,) = result["commands"]
    assert synth["failures"] == [], synth
    assert synth["leftover_tmp"] == 0
    assert synth["kills"] == 2


def test_train_vocoder_killed_then_resumed_to_the_last_step(tmp_path):
    result = bench_kill(tmp_path / "work", kills=1, commands=("train-vocoder",), seed=3, train_steps=6)
    (vocoder,) = result["commands"]
    assert vocoder["failures"] == [], vocoder
    assert vocoder["kills"] == 1 and vocoder["leftover_tmp"] == 0


def test_unknown_command_is_refused(tmp_path):
    with pytest.raises(ValueError, match="corpus-synth"):
        bench_kill(tmp_path / "work", kills=1, commands=("prepare", "explode"))
