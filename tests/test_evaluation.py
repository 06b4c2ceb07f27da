"""`fastpitch eval`: the metrics on cases with known answers, and a whole evaluation of a tiny random voice
on a three-sentence festival corpus made here."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fastpitch.evaluation import EvaluationError, evaluate, held_out_utterances
from fastpitch.evaluation import metrics as M

SR = 16000


# --- DTW ---------------------------------------------------------------------------------------------------


def _brute_force_dtw_cost(x: np.ndarray, y: np.ndarray) -> float:
    cost = np.linalg.norm(x[:, None] - y[None], axis=-1)
    total = np.full((len(x) + 1, len(y) + 1), np.inf)
    total[0, 0] = 0.0
    for i in range(1, len(x) + 1):
        for j in range(1, len(y) + 1):
            total[i, j] = cost[i - 1, j - 1] + min(total[i - 1, j - 1], total[i - 1, j], total[i, j - 1])
    return total[-1, -1]


def test_dtw_finds_the_optimal_monotonic_path():
    rng = np.random.default_rng(0)
    for n, m in ((7, 11), (12, 5), (1, 4), (9, 9)):
        x, y = rng.normal(size=(n, 3)), rng.normal(size=(m, 3))
        path, mean_cost = M.dtw(x, y)
        assert tuple(path[0]) == (0, 0) and tuple(path[-1]) == (n - 1, m - 1)
        steps = np.diff(path, axis=0)
        assert ((steps >= 0) & (steps <= 1)).all() and (steps.sum(axis=1) >= 1).all()
        total = np.linalg.norm(x[path[:, 0]] - y[path[:, 1]], axis=-1).sum()
        assert total == pytest.approx(_brute_force_dtw_cost(x, y))
        assert mean_cost == pytest.approx(total / len(path))


def test_dtw_undoes_a_time_stretch():
    x = np.random.default_rng(1).normal(size=(20, 4))
    repeats = np.array([1, 3, 1, 2] * 5)
    y = np.repeat(x, repeats, axis=0)
    path, mean_cost = M.dtw(x, y)
    assert mean_cost == pytest.approx(0.0, abs=1e-6)
    assert (path[:, 0] == np.repeat(np.arange(20), repeats)).all()


# --- mel-cepstra and MCD -----------------------------------------------------------------------------------


def test_all_pass_alpha_matches_sptk_values():
    assert M.all_pass_alpha(16000) == pytest.approx(0.41, abs=0.005)
    assert M.all_pass_alpha(22050) == pytest.approx(0.455, abs=0.005)
    assert M.all_pass_alpha(44100) == pytest.approx(0.544, abs=0.005)


def test_envelope_to_mcep_inverts_a_cosine_series():
    """An envelope whose log amplitude is c0 + sum c_k cos(k w) gives back exactly those c_k (no warping)."""
    coefficients = np.array([0.5, 1.2, -0.7, 0.3, 0.05])
    omega = np.linspace(0, np.pi, 513)
    log_amp = sum(c * np.cos(k * omega) for k, c in enumerate(coefficients))
    envelope = np.exp(2 * log_amp)[None]  # power
    ceps = M.envelope_to_mcep(envelope, alpha=0.0, order=8)[0]
    assert ceps[: len(coefficients)] == pytest.approx(coefficients, abs=1e-3)
    assert ceps[len(coefficients) :] == pytest.approx(0.0, abs=1e-3)


def test_mcd_formula():
    a = np.zeros((3, 24))
    b = a.copy()
    b[:, 4] = 0.1
    assert M.mcd(a, b) == pytest.approx([10 / math.log(10) * math.sqrt(2) * 0.1] * 3)


def _vowel(f0: float, formants: tuple[float, ...], seconds: float = 0.6, seed: int = 0) -> np.ndarray:
    """A crude vowel: a harmonic series shaped by resonances, plus a little noise."""
    t = np.arange(int(seconds * SR)) / SR
    wav = np.zeros_like(t)
    for h in range(1, int(7000 / f0)):
        gain = sum(1.0 / (1 + ((h * f0 - f) / 120.0) ** 2) for f in formants)
        wav += gain * np.sin(2 * np.pi * h * f0 * t)
    wav += 0.001 * np.random.default_rng(seed).normal(size=len(t))
    return (0.3 * wav / np.abs(wav).max()).astype(np.float32)


def test_mcd_dtw_is_zero_for_identical_audio_and_grows_with_difference():
    a = _vowel(150, (700, 1200, 2600))
    ceps = M.mel_cepstrum(a, SR)
    assert ceps.shape[1] == M.MCD_ORDER + 1
    assert M.mcd_dtw(ceps, ceps) == 0.0
    louder = M.mel_cepstrum(a * 0.5, SR)  # a level change lives in c0, which MCD leaves out
    assert M.mcd_dtw(ceps, louder) < 0.5
    near = M.mcd_dtw(ceps, M.mel_cepstrum(_vowel(150, (750, 1250, 2600), seed=1), SR))
    far = M.mcd_dtw(ceps, M.mel_cepstrum(_vowel(150, (300, 2300, 3000), seed=1), SR))
    assert 0.0 < near < far
    assert far > 3.0


def test_mel_cepstrum_resamples_to_16k():
    """The same sound at 22.05 kHz and at 16 kHz is analysed the same way (the band above 8 kHz is ignored)."""
    from fastpitch.audio import resample

    a = _vowel(150, (700, 1200, 2600), seconds=0.5)
    high = resample(a, SR, 22050)
    assert M.mcd_dtw(M.mel_cepstrum(a, SR), M.mel_cepstrum(high, 22050)) < 1.0  # two resamplings


# --- F0 ----------------------------------------------------------------------------------------------------


def test_f0_rmse_of_a_semitone_shift_is_100_cents():
    ref = 120 + 40 * np.sin(np.linspace(0, 6, 200))
    shifted = ref * 2 ** (1 / 12)
    voiced = np.ones(200, bool)
    scores = M.f0_scores(shifted, voiced, ref, voiced)
    assert scores["rmse_cents"] == pytest.approx(100.0)
    assert scores["correlation"] == pytest.approx(1.0)
    assert scores["vuv_error"] == 0.0
    assert M.cents(np.array([440.0]), np.array([220.0])) == pytest.approx([1200.0])


def test_f0_scores_use_frames_voiced_in_both_and_count_voicing_errors():
    ref = np.full(10, 200.0)
    ours = np.full(10, 200.0)
    ours[:2] = 400.0  # an octave error on frames the reference does not voice: not counted in the RMSE
    ref_voiced = np.array([0, 0, 1, 1, 1, 1, 1, 1, 1, 1], bool)
    voiced = np.array([1, 1, 1, 1, 1, 1, 1, 1, 0, 0], bool)
    scores = M.f0_scores(ours, voiced, np.where(ref_voiced, ref, 0.0), ref_voiced)
    assert scores["rmse_cents"] == 0.0
    assert scores["voiced_frames"] == 6
    assert scores["vuv_error"] == pytest.approx(0.4)


def test_f0_along_a_dtw_path_pairs_the_right_frames():
    path = np.array([[0, 0], [0, 1], [1, 2], [2, 2]])
    f0, voiced, f0_ref, voiced_ref = M.f0_along_path(
        path, np.array([100.0, 110, 120]), np.array([1, 0, 1], bool), np.array([1.0, 2, 3]), np.ones(3, bool)
    )
    assert f0.tolist() == [100, 100, 110, 120] and f0_ref.tolist() == [1, 2, 3, 3]
    assert voiced.tolist() == [1, 1, 0, 1] and voiced_ref.all()


def test_predicted_voicing_silences_pauses_and_voiceless_consonants():
    symbols = ["S", "IY1", "|", "T", "AH0", " "]
    durations = np.array([2, 3, 1, 2, 2, 1])
    pitch = np.repeat([180.0, 180.0, 0.0, 170.0, 160.0, 0.0], durations)
    voicing = M.predicted_voicing(symbols, durations, pitch)
    assert voicing.tolist() == [0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 0]


def test_per_symbol_pitch_errors_and_the_step_contour_floor():
    from fastpitch.evaluation.suite import _symbol_pitch_cents

    ref_durations = np.array([2, 3, 1])
    ref_f0 = np.array([100.0, 100, 200, 200, 200, 0])
    ref_voiced = ref_f0 > 0
    durations = np.array([1, 2, 0])  # the third symbol takes no frames: not scored
    pitch = np.repeat([100.0 * 2 ** (1 / 12), 200.0, 150.0], durations)
    predicted, floor = _symbol_pitch_cents(
        durations, ref_durations, pitch, np.ones(3, bool), ref_f0, ref_voiced
    )
    assert predicted == pytest.approx([100.0, 0.0])
    assert floor == pytest.approx(np.zeros(5))  # a flat reference within each symbol: nothing to miss
    ref_f0[1] = 100 * 2 ** (2 / 12)  # two semitones of movement inside the first symbol
    _, floor = _symbol_pitch_cents(durations, ref_durations, pitch, np.ones(3, bool), ref_f0, ref_voiced)
    mean = (100 + ref_f0[1]) / 2  # the symbol's mean F0 in Hz
    assert floor[:2] == pytest.approx(1200 * np.log2(mean / ref_f0[:2]))
    assert np.abs(floor[:2]) == pytest.approx([100.0, 100.0], abs=3.0)


# --- WER and durations -------------------------------------------------------------------------------------


def test_word_errors_on_known_strings():
    assert M.word_errors(["the cat sat"], ["the cat sat down"])["wer"] == pytest.approx(1 / 3)
    out = M.word_errors(["the cat sat", "on the mat"], ["a cat sat", "on mat"])
    assert out["wer"] == pytest.approx(2 / 6)
    assert (out["substitutions"], out["deletions"], out["insertions"], out["words"]) == (1, 1, 0, 6)
    assert (
        M.word_errors(["Hello, World! Don't stop."], ["hello world <sil> don't [noise] stop"])["wer"] == 0.0
    )
    assert M.word_errors(["two words"], [""])["wer"] == 1.0


def test_utterance_word_errors_add_up_to_the_corpus_rate():
    refs, hyps = ["the cat sat", "on the mat", ", ."], ["a cat sat down", "on mat", "noise"]
    counts = M.utterance_word_errors(refs, hyps)
    edits, words = counts[:, :3].sum(axis=1), counts[:, 3]
    assert edits.tolist() == [2, 1, 0] and words.tolist() == [3, 3, 0]  # no reference words: left out
    assert edits.sum() / words.sum() == pytest.approx(M.word_errors(refs, hyps)["wer"])


def test_bootstrap_interval_covers_the_mean_and_narrows_with_more_utterances():
    rng = np.random.default_rng(1)
    few, many = rng.normal(0.3, 0.2, 15), rng.normal(0.3, 0.2, 240)
    lo, hi = M.bootstrap_interval(lambda i: few[i].mean(), len(few))
    assert lo < few.mean() < hi
    assert (hi - lo) == pytest.approx(
        2 * 1.96 * few.std() / np.sqrt(len(few)), rel=0.25
    )  # the normal interval
    lo2, hi2 = M.bootstrap_interval(lambda i: many[i].mean(), len(many))
    assert hi2 - lo2 < (hi - lo) / 2
    assert M.bootstrap_interval(lambda i: few[i].mean(), len(few)) == (
        lo,
        hi,
    )  # seeded: the same report twice
    assert M.bootstrap_interval(lambda i: 1.0, 1) is None


def test_normalize_words():
    assert M.normalize_words("It's 'quoted'; twenty-one (2) ") == "it's quoted twenty one"


def test_duration_errors_in_ms_on_spoken_symbols():
    errors = M.duration_errors_ms(np.array([3, 0, 5]), np.array([1, 4, 5]), np.array([1, 0, 1], bool), 10.0)
    assert errors.tolist() == [20.0, 0.0]
    with pytest.raises(ValueError):
        M.duration_errors_ms(np.array([1]), np.array([1, 2]), np.array([1], bool), 10.0)


# --- naturalness (DNSMOS) ---------------------------------------------------------------------------------


def test_frame_rate_hum_finds_a_beat_at_the_frame_rate_only():
    """A 100 Hz voice-like tone scores low; the same tone whose loudness beats 86 times a second (what an iSTFT
    vocoder does when its frames disagree) scores far higher; a beat at another rate does not count."""
    sr, hop = 22050, 256
    t = np.arange(3 * sr) / sr
    vibrato = 100 * (1 + 0.03 * np.sin(2 * np.pi * 5 * t))  # a voice's pitch moves
    tone = sum(np.sin(2 * np.pi * k * np.cumsum(vibrato) / sr) / k for k in range(1, 40))
    plain = M.frame_rate_hum(tone, sr, hop)
    hum = M.frame_rate_hum(tone * (1 + 0.3 * np.sin(2 * np.pi * sr / hop * t)), sr, hop)
    elsewhere = M.frame_rate_hum(tone * (1 + 0.3 * np.sin(2 * np.pi * 150 * t)), sr, hop)
    assert plain < 2 and elsewhere < 2
    assert hum > 10 * max(plain, elsewhere)
    assert M.frame_rate_hum(np.zeros(sr), sr, hop) == 0.0 and M.frame_rate_hum(tone[:100], sr, hop) == 0.0


def test_dnsmos_prefers_clean_speech_to_noisy_speech():
    from fastpitch.evaluation.naturalness import DNSMOS_KEYS, dnsmos

    clean = np.concatenate(
        [
            _vowel(f0, formants, seconds=0.4, seed=k)
            for k, (f0, formants) in enumerate(
                [
                    (140, (700, 1200, 2600)),
                    (170, (300, 2300, 3000)),
                    (150, (500, 900, 2500)),
                    (120, (650, 1700, 2600)),
                ]
            )
        ]
    )
    noisy = np.clip(clean + 0.2 * np.random.default_rng(7).normal(size=len(clean)), -1, 1).astype(np.float32)
    a, b = dnsmos(clean, SR), dnsmos(noisy, SR)
    assert set(a) == set(b) == set(DNSMOS_KEYS)
    assert all(1.0 <= v <= 5.0 for v in (*a.values(), *b.values()))
    assert b["bak_mos"] < a["bak_mos"] - 0.5 and b["ovrl_mos"] < a["ovrl_mos"]
    assert dnsmos(resample_to(clean, 22050), 22050)["bak_mos"] == pytest.approx(a["bak_mos"], abs=0.25)
    with pytest.raises(ValueError, match="at least"):
        dnsmos(np.zeros(SR, np.float32), SR)  # speechmos itself would loop forever on an empty clip
    with pytest.raises(ValueError, match="at least"):
        dnsmos(clean[:100], SR)


def resample_to(wav: np.ndarray, sample_rate: int) -> np.ndarray:
    from fastpitch.audio import resample

    return resample(wav, SR, sample_rate)


def test_missing_speechmos_names_the_extra(monkeypatch, tmp_path):
    from fastpitch.errors import FastPitchError

    monkeypatch.setitem(sys.modules, "speechmos", None)
    with pytest.raises(FastPitchError, match=r'pip install "fastpitch\[eval\]"'):
        evaluate(None, tmp_path)


# --- a whole evaluation ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Three festival slt utterances, two of them held out as the test split, with phone timings."""
    from fastpitch.data.corpus import synthesize_corpus

    out = tmp_path_factory.mktemp("eval-corpus")
    synthesize_corpus(
        out, voices=("festival:cmu_us_slt_arctic_hts",), count=3, seed=5, test_count=2, val_count=0, workers=1
    )
    return out


@pytest.fixture(scope="module")
def tiny_voice(tmp_path_factory, synth_make_voice) -> Path:
    return synth_make_voice(tmp_path_factory.mktemp("eval-voice") / "voice").path


def test_evaluation_of_a_tiny_voice(corpus, tiny_voice, tmp_path):
    out = tmp_path / "report"
    report = evaluate(tiny_voice, corpus, out_dir=out, html=True, figures=1)
    assert report["dataset"]["utterances"] == 2
    assert [u["id"] for u in report["utterances"]] == (corpus / "splits" / "test.txt").read_text().split()

    wer = report["wer"]
    assert "pocketsphinx" in wer["recognizer"]
    assert wer["reference"] < 0.7  # festival's clear speech: the recognizer hears most of it
    assert wer["synthesized"] > wer["reference"]  # an untrained voice babbles
    assert all(u["transcripts"]["reference"] for u in report["utterances"])

    mcd = report["mcd_dtw_db"]
    assert 1.0 < mcd["griffin_lim_resynthesis"] < 6.0
    assert mcd["synthesized"] > mcd["griffin_lim_resynthesis"]
    assert "vocoder_resynthesis" not in mcd  # the voice's vocoder is Griffin-Lim itself

    mos = report["dnsmos"]
    assert set(mos) == {"reference", "griffin_lim_resynthesis", "synthesized"}
    assert mos["reference"]["p808_mos"] > mos["synthesized"]["p808_mos"]  # festival vs an untrained voice
    assert mos["reference"]["p808_mos"] > 3.0
    first_mos = [u["dnsmos"]["synthesized"]["ovrl_mos"] for u in report["utterances"]]
    assert mos["synthesized"]["ovrl_mos"] == pytest.approx(np.mean(first_mos), abs=1e-3)
    [(name, mine)] = report["per_speaker"].items()  # one speaker: the whole set
    assert mine["utterances"] == 2 and mine["mcd_dtw_db"] == mcd and mine["dnsmos"] == mos
    hum = report["frame_rate_hum"]
    assert (
        set(hum) == {"reference", "griffin_lim_resynthesis", "synthesized"} and mine["frame_rate_hum"] == hum
    )
    assert all(np.isfinite(v) and v >= 0 for v in hum.values())
    assert mine["wer"]["synthesized"] == wer["synthesized"]
    lo, hi = wer["synthesized_vs_reference_95"]
    assert lo <= wer["synthesized_vs_reference"] <= hi
    p808 = report["dnsmos_vs_reference"]["p808_mos"]
    difference = mos["synthesized"]["p808_mos"] - mos["reference"]["p808_mos"]
    assert p808["difference"] == pytest.approx(difference, abs=2e-4)  # each of the three rounded to 4 digits
    lo, hi = p808["interval_95"]
    assert lo <= p808["difference"] <= hi < 0  # the untrained voice is worse on every draw of the clips
    [(speaker, response)] = report["controls"]["speakers"].items()
    assert speaker == name and [r["shift"] for r in response["pitch"]] == [-12, -8, -4, -2, 2, 4, 8, 12]
    assert all(r["length_ratio"] > 0 for r in response["pace"])

    f0 = report["f0"]
    assert 0 < f0["step_floor_rmse_cents"] < 200  # festival's melody moves within a phone, a little
    assert f0["per_symbol_rmse_cents"] > 0
    assert f0["rmse_cents"] > 0 and 0 < f0["vuv_error"] < 1 and f0["voiced_frames"] > 10
    durations = report["durations"]
    assert durations["mae_ms"] > 0 and durations["symbols"] > 10
    assert durations["boundaries"]["n_utterances"] == 2
    speed = report["speed"]
    assert speed["audio_seconds"] > 0
    assert speed["total_rtf"] == pytest.approx(
        speed["frontend_rtf"] + speed["acoustic_rtf"] + speed["vocoder_rtf"], rel=1e-2, abs=1e-3
    )

    assert json.loads((out / "report.json").read_text())["wer"] == wer
    first = report["utterances"][0]["id"]
    files = report["files"]
    assert list(files) == [first]
    for name in ("mel", "pitch", "alignment", "synthesized", "reference", "griffin_lim_resynthesis"):
        path = out / files[first][name]
        assert path.is_file() and path.stat().st_size > 1000, name
        assert files[first][name] in (out / "index.html").read_text()
    assert (out / "figures" / f"{first}-mel.png").read_bytes()[:4] == b"\x89PNG"
    assert len(list((out / "audio").glob("*.wav"))) == 2 + 2  # every synthesized one + the examples' copies
    page = (out / "index.html").read_text()
    assert "Naturalness (DNSMOS" in page and f"{mos['reference']['p808_mos']:.3f}" in page
    assert "Per speaker" not in page  # one speaker: nothing to break down


def test_evaluation_per_speaker(corpus, synth_voice, tmp_path, caplog):
    two = tmp_path / "corpus"
    shutil.copytree(corpus, two)
    first, second = (two / "splits" / "test.txt").read_text().split()
    rows = [line.split("|")[0] for line in (two / "metadata.csv").read_text().splitlines()]
    names = {first: "alice", second: "bob"}
    (two / "speakers.csv").write_text("".join(f"{uid}|{names.get(uid, 'alice')}\n" for uid in rows))
    (two / "timings" / f"{second}.json").unlink()  # bob read like a teacher without timings (hibari)
    extra = next(uid for uid in rows if uid not in names)  # alice's again: a limit of 2 takes one of each
    (two / "splits" / "test.txt").write_text(f"{first}\n{extra}\n{second}\n")
    out = tmp_path / "report"
    with caplog.at_level("WARNING", logger="fastpitch"):
        report = evaluate(
            synth_voice, two, limit=2, asr=False, controls=False, figures=0, out_dir=out, html=True
        )
    untimed = [r.getMessage() for r in caplog.records if "reference timings" in r.getMessage()]
    assert len(untimed) == 1 and untimed[0].startswith("1 of 2 utterances have no reference timings")
    per = report["per_speaker"]
    assert sorted(per) == ["alice", "bob"]
    by_id = {u["id"]: u for u in report["utterances"]}
    for uid, name in names.items():
        assert by_id[uid]["reference_speaker"] == by_id[uid]["speaker"] == name
        assert per[name]["utterances"] == 1
        assert per[name]["mcd_dtw_db"]["synthesized"] == by_id[uid]["mcd_dtw_db"]["synthesized"]
        assert per[name]["dnsmos"]["reference"] == by_id[uid]["dnsmos"]["reference"]
    assert report["dnsmos"]["synthesized"]["p808_mos"] == pytest.approx(
        np.mean([per[n]["dnsmos"]["synthesized"]["p808_mos"] for n in per]), abs=1e-3
    )
    assert "Per speaker" in (out / "index.html").read_text()


def test_a_renamed_speaker_is_found_by_the_name_it_was_trained_under(corpus, synth_voice, tmp_path):
    voice = tmp_path / "voice"
    shutil.copytree(synth_voice, voice)
    spec = json.loads((voice / "voice.json").read_text())
    spec["provenance"]["acoustic"] = {"training": {"speakers": ["corpus-alice", "corpus-bob"]}}
    (voice / "voice.json").write_text(json.dumps(spec))
    two = tmp_path / "corpus"
    shutil.copytree(corpus, two)
    first, second = (two / "splits" / "test.txt").read_text().split()
    rows = [line.split("|")[0] for line in (two / "metadata.csv").read_text().splitlines()]
    (two / "speakers.csv").write_text(
        "".join(f"{uid}|{'corpus-bob' if uid == second else 'corpus-alice'}\n" for uid in rows)
    )
    report = evaluate(voice, two, asr=False, mos=False, controls=False, figures=0)
    spoken = {u["id"]: u["speaker"] for u in report["utterances"]}
    assert spoken == {first: "alice", second: "bob"}
    only_bob = evaluate(voice, two, speaker="bob", asr=False, mos=False, controls=False, figures=0)
    assert [u["id"] for u in only_bob["utterances"]] == [second]


def test_evaluation_with_a_neural_vocoder_measures_its_resynthesis(corpus, tmp_path, synth_make_voice):
    voice = synth_make_voice(tmp_path / "istft-voice", vocoder="istft").path
    damaged = tmp_path / "corpus"
    shutil.copytree(corpus, damaged)
    first, second = (damaged / "splits" / "test.txt").read_text().split()
    (damaged / "wavs" / f"{first}.wav").unlink()
    report = evaluate(voice, damaged, asr=False, mos=False, controls=False, figures=0)
    assert [u["id"] for u in report["utterances"]] == [second]
    assert "dnsmos" not in report and "dnsmos" not in report["utterances"][0]
    assert report["skipped"][0]["id"] == first and "not found" in report["skipped"][0]["error"]
    assert set(report["mcd_dtw_db"]) == {"synthesized", "griffin_lim_resynthesis", "vocoder_resynthesis"}
    assert "wer" not in report
    assert report["voice"]["vocoder"] == "istft"
    forced = evaluate(
        voice, corpus, limit=1, asr=False, mos=False, controls=False, figures=0, vocoder="griffin-lim"
    )
    assert forced["dataset"]["utterances"] == 1
    assert set(forced["mcd_dtw_db"]) == {"synthesized", "griffin_lim_resynthesis"}
    (damaged / "wavs" / f"{second}.wav").unlink()
    with pytest.raises(EvaluationError, match="no utterance could be evaluated"):
        evaluate(voice, damaged, asr=False, mos=False, controls=False, figures=0)


def test_clear_errors_for_missing_dataset_and_split(corpus, tmp_path):
    with pytest.raises(EvaluationError, match="dataset not found"):
        held_out_utterances(tmp_path / "nowhere")
    with pytest.raises(EvaluationError, match=r"no split 'dev'.*splits/dev\.txt"):
        held_out_utterances(corpus, "dev")
    utterances, timings = held_out_utterances(corpus)
    assert len(utterances) == 2 and timings == corpus / "timings"
    with pytest.raises(EvaluationError, match="--limit"):
        evaluate(None, corpus, limit=0)


def test_cli_reports_a_missing_split_in_one_line(corpus, tiny_voice):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "fastpitch",
            "eval",
            str(tiny_voice),
            "--dataset",
            str(corpus),
            "--split",
            "dev",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert "no split 'dev'" in out.stderr and "Traceback" not in out.stderr


class _ToneEngine:
    """A fake engine: a harmonic tone at its speaker's F0 moved by pitch_shift (saturating past `limit`
    semitones), as long as the text over the pace."""

    def __init__(self, limit: float = 99.0) -> None:
        from fastpitch.config import AudioConfig

        self.voice = type("V", (), {"audio": AudioConfig()})()
        self.speakers = ["low", "high"]
        self.limit = limit

    def synthesize(self, text, speaker=0, pitch_shift=0.0, pace=1.0):
        sr = 22050
        f0 = (130.0, 220.0)[speaker] * 2 ** (float(np.clip(pitch_shift, -self.limit, self.limit)) / 12)
        t = np.arange(int(sr * 0.05 * len(text) / pace)) / sr
        return (0.3 * sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6))).astype(np.float32), sr


def test_the_controls_sweep_takes_different_sentences_from_a_corpus_read_by_each_speaker():
    from types import SimpleNamespace

    from fastpitch.evaluation.suite import distinct_texts

    in_turn = [SimpleNamespace(text=t) for t in ("one", "one", "one", "two", "two", "two", "three", "three")]
    assert distinct_texts(in_turn, 2) == ["one", "two"]
    assert distinct_texts(in_turn, 6) == ["one", "two", "three"]


def test_control_response_measures_what_the_audio_does():
    from fastpitch.evaluation.controls import control_response

    obeys = control_response(_ToneEngine(), ["a short sentence", "and another one here"])
    for name, base in (("low", 130.0), ("high", 220.0)):
        response = obeys["speakers"][name]
        assert response["median_f0_hz"] == pytest.approx(base, rel=0.02)
        assert all(r["ratio"] == pytest.approx(r["wanted"], rel=0.02) for r in response["pitch"])
        assert all(lo <= r["ratio"] <= hi for r in response["pitch"] for lo, hi in [r["ratio_95"]])
        assert response["pitch_target_met"] and response["pace_target_met"]
    saturates = control_response(
        _ToneEngine(limit=2.5), ["a short sentence"], speakers=[1], shifts=(2.0, 4.0)
    )
    [(name, response)] = saturates["speakers"].items()
    assert name == "high" and response["pitch_target_met"] is False
    assert response["pitch"][1]["semitones"] == pytest.approx(2.5, abs=0.1)
    assert response["pitch"][1]["ratio_95"] is None  # one sentence: nothing to draw from
