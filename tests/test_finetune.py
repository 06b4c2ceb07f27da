"""`fastpitch finetune`: recordings cleaned into a corpus, the plan, frozen layers, the time budget, transcript
screening, and the whole job on a tiny base voice (resumed, spoken, refused on too little data)."""

from __future__ import annotations

import itertools
import json
import logging
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import edit_voice_json
from fastpitch.errors import FastPitchError

TEXTS = [
    "The cat sat on the mat.",
    "A quick brown fox jumps.",
    "She sells sea shells.",
    "Rain falls in the spring.",
    "We walked to the station.",
    "Bread and butter for tea.",
    "The river runs to the sea.",
    "Open the window, please.",
    "Birds sing in the morning.",
    "He plays the old piano.",
    "Turn left at the corner.",
    "Keep calm and carry on.",
]


pytestmark = pytest.mark.usefixtures("one_thread")


def _speech(seconds: float, sr: int, seed: int) -> np.ndarray:
    """Harmonic 'speech' with a gliding pitch and a syllable-rate envelope."""
    t = np.arange(int(seconds * sr)) / sr
    f0 = 110 + 30 * np.sin(2 * np.pi * (0.6 + 0.05 * seed) * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    wav = sum(np.sin(k * phase) / k for k in range(1, 6)) * (0.2 + 0.2 * np.sin(2 * np.pi * 3 * t) ** 2)
    return (wav + 0.002 * np.random.default_rng(seed).standard_normal(len(t))).astype(np.float32)


def _clip_folder(root: Path, seconds: list[float], silence: float = 0.0, sr: int = 22050, gain: float = 1.0):
    """clip.wav + clip.txt pairs; `silence` seconds of quiet before and after each clip."""
    root.mkdir(parents=True, exist_ok=True)
    quiet = np.zeros(int(silence * sr), np.float32)
    for i, s in enumerate(seconds):
        wav = np.concatenate([quiet, gain * _speech(s, sr, i), quiet])
        sf.write(root / f"clip{i:02d}.wav", wav, sr, subtype="PCM_16")
        (root / f"clip{i:02d}.txt").write_text(TEXTS[i % len(TEXTS)] + "\n")
    return root


# ------------------------------------------------------------------------------------------------ the corpus


def test_a_folder_of_clips_reads_as_a_dataset_and_a_clip_without_transcript_is_reported(tmp_path):
    from fastpitch.data.datasets import scan_dataset

    root = _clip_folder(tmp_path / "clips", [1.0, 1.0, 1.0])
    (root / "clip01.txt").unlink()
    utterances, issues = scan_dataset(root)
    assert [u.id for u in utterances] == ["clip00", "clip02"]
    assert utterances[0].text == TEXTS[0]
    assert [(i.id, i.kind, i.skip) for i in issues] == [("clip01", "no_text", True)]


def test_a_transcript_saved_in_windows_1252_or_utf16_keeps_its_accents_and_is_reported(tmp_path):
    from fastpitch.data.datasets import scan_dataset

    root = _clip_folder(tmp_path / "clips", [1.0, 1.0, 1.0])
    (root / "clip00.txt").write_bytes("Café naïve résumé".encode("cp1252"))
    (root / "clip01.txt").write_bytes("Café naïve résumé".encode("utf-16"))
    (root / "clip02.txt").write_text("Plain\u200b text", encoding="utf-8")
    utterances, issues = scan_dataset(root)
    assert [u.text for u in utterances] == ["Café naïve résumé", "Café naïve résumé", "Plain text"]
    assert [(i.id, i.kind, i.skip) for i in issues] == [
        ("clip00.txt", "encoding", False),
        ("clip01.txt", "encoding", False),
        ("clip02.txt:1", "odd_chars", False),
    ]
    assert "read as Windows-1252" in issues[0].message and "read as UTF-16" in issues[1].message


def test_make_corpus_resamples_mixes_down_trims_levels_and_holds_out(tmp_path):
    from fastpitch.config import AudioConfig
    from fastpitch.data.datasets import Limits, read_split
    from fastpitch.data.recordings import TARGET_DBFS, make_corpus

    src = tmp_path / "clips"
    src.mkdir()
    sr = 44100
    quiet = np.zeros(sr, np.float32)  # one second of silence on each side
    for i in range(6):
        mono = np.concatenate([quiet, 0.05 * _speech(2.0, sr, i), quiet])
        sf.write(src / f"c{i}.wav", np.stack([mono, mono], axis=1), sr, subtype="PCM_16")  # stereo, quiet
        (src / f"c{i}.txt").write_text(TEXTS[i])
    sf.write(src / "short.wav", _speech(0.5, 22050, 9), 22050)
    (src / "short.txt").write_text(TEXTS[9])
    sf.write(src / "long.wav", _speech(31.0, 16000, 10), 16000)
    (src / "long.txt").write_text(TEXTS[10])

    report = make_corpus(src, tmp_path / "corpus", AudioConfig(), Limits(min_seconds=1.0, max_seconds=30.0))
    skipped = {i.id: i.kind for i in report.skipped}
    assert skipped == {"short": "too_short", "long": "too_long"}
    assert len(report.train) + len(report.test) == 6 and len(report.test) == 1
    assert read_split(tmp_path / "corpus", "test") == report.test == read_split(tmp_path / "corpus", "val")
    wav, out_sr = sf.read(tmp_path / "corpus" / "wavs" / "c0.wav")
    assert out_sr == 22050 and wav.ndim == 1
    assert 2.0 <= len(wav) / out_sr <= 2.3  # the seconds of silence are gone, 0.1 s margins kept
    frames = wav[: len(wav) // 220 * 220].reshape(-1, 220)
    rms = np.sqrt((frames**2).mean(axis=1))
    level = 20 * np.log10(np.sqrt((rms[rms > rms.max() / 100] ** 2).mean()))
    assert abs(level - TARGET_DBFS) < 1.0
    again = make_corpus(src, tmp_path / "corpus", AudioConfig(), Limits())  # reused, not redone
    assert again.to_dict() == report.to_dict()
    (src / "short.wav").unlink()  # the recordings change (a refused job's clips fixed): made again
    sf.write(src / "c6.wav", 0.05 * _speech(2.0, sr, 6), sr)
    (src / "c6.txt").write_text(TEXTS[6])
    redone = make_corpus(src, tmp_path / "corpus", AudioConfig(), Limits(min_seconds=1.0, max_seconds=30.0))
    assert len(redone.train) + len(redone.test) == 7 and "short" not in {i.id for i in redone.issues}


# ------------------------------------------------------------------------------------------------ the plan


def test_the_base_speaks_as_its_speaker_nearest_in_pitch_for_the_comparison(synth_make_voice, tmp_path):
    from fastpitch.finetune import nearest_base_speaker
    from fastpitch.voice import read_voice

    base = synth_make_voice(tmp_path / "base", speakers=("ann", "bob")).path  # 150 and 200 Hz
    mine = synth_make_voice(tmp_path / "mine").path  # 150 Hz
    assert nearest_base_speaker(base, mine) == "ann"
    voice = read_voice(mine)
    voice.pitch[voice.speakers[0]]["mean"] = 230.0
    voice.save_json()
    assert nearest_base_speaker(base, mine) == "bob"
    assert nearest_base_speaker(mine, base) is None  # a single-speaker base speaks as its one speaker


def test_less_data_trains_fewer_steps_and_fewer_layers():
    from fastpitch.finetune import plan_for

    two, ten, thirty = plan_for(120), plan_for(600), plan_for(1800)
    assert two.acoustic_steps < ten.acoustic_steps < thirty.acoustic_steps
    assert two.vocoder_steps < ten.vocoder_steps <= thirty.vocoder_steps
    assert "encoder." in two.freeze and "encoder." not in ten.freeze
    assert "embedding." in ten.freeze


def test_the_adaptation_splits_frames_as_the_base_voice_was_trained_to():
    """The aligner settings of the base voice's training (from its provenance) are the adaptation's; a voice made
    before they were recorded was trained with both off."""
    from fastpitch.finetune import base_alignment
    from fastpitch.voice import DEFAULT_VOICE

    shipped = json.loads((DEFAULT_VOICE / "voice.json").read_text())["provenance"]
    trained = shipped["acoustic"]["train_config"]
    cfg = base_alignment(shipped)
    assert (cfg.mas_boundary_cost, cfg.edge_silence) == (
        trained["mas_boundary_cost"],
        trained["edge_silence"],
    )
    assert cfg.mas_boundary_cost > 0 and cfg.edge_silence > 0
    other = base_alignment({"acoustic": {"train_config": {"mas_boundary_cost": 2.5, "edge_silence": 3.0}}})
    assert (other.mas_boundary_cost, other.edge_silence) == (2.5, 3.0)
    old = base_alignment({"acoustic": {"checkpoint": "run"}})
    assert (old.mas_boundary_cost, old.edge_silence) == (0.0, 0.0)


def test_outliers_flags_a_clip_far_above_the_rest_and_nothing_without_a_majority():
    from fastpitch.train.align import outliers

    scores = {f"u{i}": -0.04 + 0.003 * (i % 5) for i in range(20)}
    assert outliers(scores) == []
    assert outliers({**scores, "bad": 0.01}) == ["bad"]
    assert outliers({"a": -0.04, "b": -0.037, "bad": 0.01}) == []
    untrained = {f"u{i}": 0.001 * (i % 5) for i in range(20)}  # no better than the prior: cannot judge
    assert outliers({**untrained, "bad": 0.05}) == []


# ------------------------------------------------------------------------------------------------ training hooks


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
    """(dataset, features) of twelve short clips in the LJSpeech layout."""
    from fastpitch.config import AudioConfig
    from fastpitch.data.datasets import Limits
    from fastpitch.data.features import prepare
    from fastpitch.data.recordings import make_corpus

    root = tmp_path_factory.mktemp("ft")
    src = _clip_folder(root / "clips", [1.0 + 0.1 * i for i in range(12)])
    make_corpus(src, root / "corpus", AudioConfig(), Limits(min_seconds=0.5))
    return root / "corpus", prepare(root / "corpus", root / "features")


def _tiny(*overrides: str):
    from fastpitch.config import preset

    return preset(
        "tiny",
        [
            "train.batch_frames=400",
            "train.max_steps=3",
            "train.val_media=false",
            "train.num_workers=0",
            *overrides,
        ],
    )


def test_frozen_layers_keep_their_weights_and_an_unknown_prefix_is_refused(small_corpus, tmp_path):
    from fastpitch import checkpoint as ckpt_io
    from fastpitch.errors import FastPitchError
    from fastpitch.train.acoustic import RunOptions, Trainer

    dataset, features = small_corpus
    trainer = Trainer(
        _tiny('train.freeze=["encoder.", "embedding."]'),
        RunOptions(features, tmp_path / "a", dataset, progress=False),
    )
    before = {k: v.clone() for k, v in trainer.engine.raw_model.state_dict().items()}
    trainer.run()
    after = ckpt_io.load_checkpoint(tmp_path / "a").model
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith(("encoder.", "embedding.")))
    assert not torch.equal(
        before["decoder.layers.0.attn.qkv.weight"], after["decoder.layers.0.attn.qkv.weight"]
    )
    with pytest.raises(FastPitchError, match=r"'encodr\.' names no parameter"):
        Trainer(
            _tiny('train.freeze=["encodr."]'), RunOptions(features, tmp_path / "b", dataset, progress=False)
        )


def test_a_spent_deadline_stops_after_one_update_with_a_checkpoint(small_corpus, tmp_path):
    from fastpitch import checkpoint as ckpt_io
    from fastpitch.train.acoustic import RunOptions, train

    dataset, features = small_corpus
    steps = []
    opts = RunOptions(
        features,
        tmp_path / "run",
        dataset,
        progress=False,
        deadline=time.monotonic() - 1,
        on_step=lambda s, n: steps.append((s, n)),
    )
    result = train(_tiny("train.max_steps=50"), opts)
    assert result.step == 1 and steps == [(1, 50)]
    assert ckpt_io.latest(tmp_path / "run").name == "step-0000001.json"


# ------------------------------------------------------------------------------------------------ the job


@pytest.fixture(scope="module")
def base_voice(tmp_path_factory, synth_make_voice):
    path = tmp_path_factory.mktemp("base") / "voice"
    synth_make_voice(path, vocoder="istft")
    return path


def _options(data: Path, out: Path, base: Path, **kw):
    from fastpitch.finetune import FinetuneOptions

    plan = {"align_steps": 2, "acoustic_steps": 2, "vocoder_steps": 2, "batch_frames": 600}
    return FinetuneOptions(data=data, out=out, base=base, plan=plan, **{"evaluate": False, **kw})


def test_finetune_makes_an_exported_voice_that_speaks_and_a_rerun_resumes(base_voice, tmp_path, monkeypatch):
    from fastpitch import Synthesizer
    from fastpitch import finetune as job
    from fastpitch.finetune import STAGES, finetune
    from fastpitch.voice import read_voice

    clips = _clip_folder(
        tmp_path / "clips", [2.0 + 0.1 * i for i in range(12)], silence=0.5, sr=16000, gain=0.3
    )
    base = tmp_path / "base"
    shutil.copytree(base_voice, base)
    (base / "NOTICE.txt").write_text("The teacher's license asks for this notice.\n")
    edit_voice_json(base, lambda d: d.update(postfilter={"default": 0.7}))
    progress = []
    result = finetune(_options(clips, tmp_path / "voices" / "mine", base), on_progress=progress.append)

    voice = read_voice(result.voice)
    assert voice.name == "mine" and voice.speakers == ["mine"] and voice.onnx["acoustic"] == "acoustic.onnx"
    assert voice.postfilter == 0.35  # half the post-filter of the base speaker it started from
    assert result.clips_used == 12 and result.plan.acoustic_steps == 2
    assert any("rough" in w for w in result.warnings)  # 24 s of speech
    assert progress[0].stage == "corpus" and progress[-1].fraction == pytest.approx(1.0)
    assert all(a.fraction <= b.fraction + 1e-9 for a, b in itertools.pairwise(progress))
    card = (result.voice / "MODEL_CARD.md").read_text()
    assert "## Fine-tuning" in card and "acoustic_steps | 2" in card
    notice = (result.voice / "NOTICE.txt").read_text()  # the base's weights carry what taught them
    assert notice.startswith("mine was fine-tuned") and notice.endswith(
        "The teacher's license asks for this notice.\n"
    )
    audio, sr = Synthesizer.load(result.voice).synthesize("Hello there.")
    assert sr == 22050 and len(audio) > 0 and np.isfinite(audio).all()
    state = json.loads((tmp_path / "voices" / "mine.finetune" / "finetune.json").read_text())
    assert set(state["done"]) == set(STAGES)
    trained = json.loads(Path(state["done"]["acoustic"]).read_text())["config"]["train"]
    assert (trained["mas_boundary_cost"], trained["edge_silence"]) == (0.0, 0.0)  # as the base (no record)
    # The vocoder learned from the adapted model's own mels of the training clips.
    gta = Path(state["done"]["gta"])
    vocoder_meta = json.loads(Path(state["done"]["vocoder"]).read_text())
    assert vocoder_meta["provenance"]["finetune_mels"] == str(gta)
    train_ids = (
        (tmp_path / "voices" / "mine.finetune" / "corpus" / "splits" / "train.txt").read_text().split()
    )
    assert {p.stem for p in gta.glob("*.npy")} >= set(train_ids)
    assert json.loads((tmp_path / "voices" / "mine.finetune" / "corpus" / "corpus-report.json").read_text())[
        "test"
    ]

    again = []
    finetune(_options(clips, tmp_path / "voices" / "mine", base), on_progress=again.append)
    assert {p.stage for p in again} <= {"corpus"}  # every stage was done: nothing retrained

    # An evaluation that fails is not marked done: the same command, run again, evaluates.
    state_file = tmp_path / "voices" / "mine.finetune" / "finetune.json"
    state["done"].pop("evaluate")
    state_file.write_text(json.dumps(state))

    def fails(*args):
        raise FastPitchError("speechmos is not installed")

    monkeypatch.setattr(job, "_evaluate_both", fails)
    evaluating = _options(clips, tmp_path / "voices" / "mine", base, evaluate=True)
    failed = finetune(evaluating)
    assert any(
        "not evaluated: speechmos" in w and "running the job again evaluates it" in w for w in failed.warnings
    )
    assert "evaluate" not in json.loads(state_file.read_text())["done"]
    monkeypatch.setattr(job, "_evaluate_both", lambda *args: None)
    evaluated = finetune(evaluating)
    assert not any("not evaluated" in w for w in evaluated.warnings)
    assert "evaluate" in json.loads(state_file.read_text())["done"]


def test_a_job_begun_before_the_gta_stage_resumes_without_it_and_a_given_postfilter_is_the_voices(
    base_voice, tmp_path, caplog
):
    """A job saved before the `gta` stage and the plan's `postfilter` existed, resumed at its voice: its vocoder
    is kept (no mels are made), its plan is taken as it was without a false warning, and `--postfilter` chose."""
    from fastpitch.finetune import finetune
    from fastpitch.voice import read_voice

    clips = _clip_folder(tmp_path / "clips", [2.0 + 0.1 * i for i in range(12)], silence=0.2, sr=22050)
    out, work = tmp_path / "voices" / "mine", tmp_path / "voices" / "mine.finetune"
    options = _options(clips, out, base_voice)
    options.plan["postfilter"] = 0.3
    finetune(options)
    assert read_voice(out).postfilter == 0.3

    state = json.loads((work / "finetune.json").read_text())
    vocoder = state["done"]["vocoder"]
    for stage in ("gta", "voice", "export", "evaluate"):
        state["done"].pop(stage)
    del state["plan"]["postfilter"]
    (work / "finetune.json").write_text(json.dumps(state))
    shutil.rmtree(work / "gta")
    with caplog.at_level(logging.WARNING, logger="fastpitch.finetune"):
        finetune(_options(clips, out, base_voice))
    state = json.loads((work / "finetune.json").read_text())
    assert (
        state["done"]["gta"] is None and state["done"]["vocoder"] == vocoder and not (work / "gta").exists()
    )
    assert "the new settings are ignored" not in caplog.text
    assert "was kept as it was" not in caplog.text  # the job's own card is rewritten, without a warning
    base_strength = read_voice(base_voice).postfilter
    assert base_strength > 0 and read_voice(out).postfilter == base_strength / 2  # the old plan's default


def test_the_budget_keeps_more_time_for_the_last_stages_on_a_machine_slower_than_expected():
    from fastpitch.finetune import Tracker

    tracker = Tracker({"acoustic": 100.0, "evaluate": 50.0}, set(), None)
    assert tracker.slowness() == 1.0  # nothing done yet: as expected
    tracker.started -= 400.0  # 400 s for work expected to take 100
    tracker.update("acoustic", 1, 1)
    assert tracker.slowness() == pytest.approx(4.0, rel=0.01)
    tracker.started += 350.0  # faster than expected never shrinks the allowance
    assert tracker.slowness() == 1.0


def test_the_model_card_gives_each_comparison_with_the_recordings_its_interval():
    from fastpitch.finetune import _against_recordings, _eval_rows

    def report(rate, p808):
        return {
            "dataset": {"utterances": 14},
            "wer": {"reference": 0.25, "synthesized": rate},
            "dnsmos": {"reference": {"p808_mos": 3.58}, "synthesized": {"p808_mos": p808}},
        }

    mine = report(0.29, 3.35)
    mine["wer"]["synthesized_vs_reference_95"] = [0.9, 1.45]
    mine["dnsmos_vs_reference"] = {"p808_mos": {"difference": -0.23, "interval_95": [-0.31, -0.15]}}
    rows = _eval_rows(mine, report(0.21, 3.35))
    assert rows["wer_ratio_95"] == [0.9, 1.45] and rows["dnsmos_difference_95"] == [-0.31, -0.15]
    text = _against_recordings(rows)
    assert "1.16x theirs (95 % interval 0.90x to 1.45x)" in text
    assert "DNSMOS P.808 -0.23 (95 % interval -0.31 to -0.15)" in text
    # a report from before the intervals: the figures alone
    old = _against_recordings(_eval_rows(report(0.29, 3.35), None))
    assert "1.16x theirs;" in old and "interval" not in old.split(".")[0]


def test_too_little_speech_is_refused_with_the_reasons(base_voice, tmp_path):
    from fastpitch.finetune import FinetuneError, finetune

    clips = _clip_folder(tmp_path / "clips", [2.0, 2.0, 0.4, 2.0])
    (clips / "clip03.txt").unlink()
    with pytest.raises(FinetuneError, match=r"2 usable clips, [34]\.\d s of speech") as caught:
        finetune(_options(clips, tmp_path / "v", base_voice))
    assert "too_short" in str(caught.value) and "no_text: no transcript: clip03.txt" in str(caught.value)
    assert ".." not in str(caught.value)  # each reason's own full stop is not doubled


def test_recordings_without_any_transcript_say_so(base_voice, tmp_path):
    from fastpitch.finetune import FinetuneError, finetune

    clips = _clip_folder(tmp_path / "clips", [2.0] * 4)
    for txt in clips.glob("*.txt"):
        txt.unlink()
    with pytest.raises(FinetuneError, match=r"0 usable clips.*no transcript"):
        finetune(_options(clips, tmp_path / "v", base_voice))


def test_a_missing_dataset_is_refused_and_leaves_no_work_folder(base_voice, tmp_path):
    from fastpitch.finetune import finetune

    with pytest.raises(FastPitchError, match="nowhere"):
        finetune(_options(tmp_path / "nowhere", tmp_path / "v", base_voice))
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_base_without_a_neural_vocoder_is_refused_before_any_work(synth_voice, tmp_path):
    from fastpitch.finetune import FinetuneError, finetune

    clips = _clip_folder(tmp_path / "clips", [2.0] * 8)
    with pytest.raises(FinetuneError, match="no neural vocoder to adapt"):
        finetune(_options(clips, tmp_path / "v", synth_voice))  # a Griffin-Lim voice
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clips"]  # no work folder left


@pytest.mark.parametrize(
    ("minutes", "plan", "message"),
    [
        (0.0, {}, "time budget must be a positive"),
        (-5.0, {}, "time budget must be a positive"),
        (None, {"acoustic_steps": -1}, "acoustic_steps must be a whole number of at least 1"),
        (None, {"align_steps": 0}, "align_steps must be"),
        (None, {"vocoder_steps": 2.5}, "vocoder_steps must be"),
        (None, {"learning_rate": 0.0}, "learning_rate must be a number between 0 and 1"),
        (None, {"postfilter": 2.5}, "postfilter must be a number from 0"),
        (None, {"postfilter": -0.1}, "postfilter must be a number from 0"),
        (None, {"postfilter": float("nan")}, "postfilter must be a number from 0"),
        (None, {"postfilter": True}, "postfilter must be a number from 0"),
        (None, {"postfilter": "strong"}, "postfilter must be a number from 0"),
        (None, {"steps": 10}, "unknown plan settings: steps"),
    ],
)
def test_a_plan_no_job_can_run_is_refused_before_any_work(tmp_path, minutes, plan, message):
    """A job saves its plan and resumes with it: a bad one must fail before the corpus, not after."""
    from fastpitch.finetune import FinetuneOptions, finetune

    data = tmp_path / "clips"
    data.mkdir()
    options = FinetuneOptions(data=data, out=tmp_path / "v", minutes_budget=minutes, plan=plan)
    with pytest.raises(FastPitchError, match=message):
        finetune(options)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clips"]
