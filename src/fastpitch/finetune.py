"""`fastpitch finetune`: a new speaker's voice from minutes of recordings, on a CPU, in one resumable job.

An orchestrator over the pieces that exist for training from scratch; every stage is one of them:

1. corpus    `data.recordings.make_corpus`: check the clips (bad ones reported and skipped), clean them, hold
             some out;
2. features  `data.features.prepare`;
3. base      the base voice's acoustic model and vocoder written as a training checkpoint and a vocoder file;
4. align     `train.align.train_aligner`: the shipped voices carry no aligner (`inference_state_dict` drops
             it), and one learned from scratch inside the full training step would feed the decoder random
             durations for its first hundred steps, so it is first trained alone;
5. screen    `train.align.alignment_scores`: a transcript that does not match its audio aligns far worse than
             the others, and is dropped from training (or from the held-out clips);
6. acoustic  `train.acoustic.train --init-from` the aligned model, the layers the data size allows;
7. gta       `train.gta.predict_mels`: what the adapted acoustic model says for each training clip, given the
             clip's own durations and pitch, frame for frame beside the recording;
8. vocoder   `train.vocoder.train_vocoder --init` the base vocoder `--finetune-mels` those: it learns to render
             the mels it will be given (HiFi-GAN's fine-tuning step), not the recordings' own;
9. voice     `voice_create.create_voice`, then its model card;
10. export   `export.export_voice` (the ONNX models);
11. evaluate `evaluation.suite.evaluate` of the new voice and of the base voice on the held-out clips.

The base voice speaks with one speaker, so the new speaker replaces it: the result is a single-speaker voice
whose speaker identity (pitch statistics, the weights trained) is the recordings'. A stage that finished is
recorded in `finetune.json` in the work directory and skipped by a rerun; a training stage interrupted half-way
resumes from its last checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastpitch.atomic import atomic_write_text
from fastpitch.errors import FastPitchError
from fastpitch.voice import NOTICE, Voice

log = logging.getLogger(__name__)

STATE = "finetune.json"
NOT_EVALUATED = "the voice is made, but not evaluated"
STAGES = (
    "corpus",
    "features",
    "base",
    "align",
    "screen",
    "acoustic",
    "gta",
    "vocoder",
    "voice",
    "export",
    "evaluate",
)
ALIGN_BUDGET_SHARE = 0.25  # of the training time a --minutes-budget leaves, the aligner's warm-up may take
MIN_SECONDS_OF_SPEECH = 20.0  # below this, nothing worth a voice can be learned
ADVISED_MINUTES = 5.0  # below this, the job warns that the voice will be rough

# Seconds per unit of each stage, measured in the 10-minute run of docs/finetune.md (182 clips, two cores to
# itself, 13.4 minutes in all): the progress bar's weights, and the split of a --minutes-budget between the stages.
SECONDS_PER = {
    "corpus": 0.005,  # per clip
    "features": 0.015,  # per clip
    "base": 2.0,
    "align": 0.05,  # per step
    "screen": 0.005,  # per clip
    "acoustic": 0.8,  # per step
    "gta": 0.015,  # per clip
    "vocoder": 0.06,  # per step
    "voice": 1.0,
    "export": 4.0,
    "evaluate": 5.0,  # per held-out clip (two voices: synthesis, resyntheses, ASR, DNSMOS)
}


class FinetuneError(FastPitchError):
    """Recordings that cannot make a voice, or a work directory that belongs to another job."""


@dataclass
class FinetunePlan:
    """What the job trains and for how long: chosen from the amount of speech (`plan_for`), each overridable.

    Saved in `finetune.json`, in the training checkpoints (their configs) and in the voice's provenance.
    """

    align_steps: int
    acoustic_steps: int
    learning_rate: float
    freeze: list[str]
    vocoder_steps: int
    vocoder_learning_rate: float
    batch_frames: int = 6000
    warmup_steps: int = 50
    # The new voice's mel post-filter strength; None: half that of the base speaker it started from, which keeps
    # the voice nearer the speaker (MCD) for a hundredth or two of DNSMOS (docs/finetune.md, "The post-filter").
    postfilter: float | None = None


def plan_for(seconds: float) -> FinetunePlan:
    """Step counts and trainable layers for `seconds` of speech.

    Less data trains fewer steps and fewer layers: under five minutes the text encoder and symbol embedding stay
    as the base voice learned them from hours of speech (they say what is said, not who says it), so only the
    duration, pitch and energy predictors and the decoder (how this speaker sounds) adapt. The step counts grow
    with the square root of the data, a compromise between NeMo's 1,000 steps per minute on a GPU and the time
    a laptop has.
    """
    minutes = seconds / 60
    scale = math.sqrt(max(minutes, 0.5) / 10)  # 1 at ten minutes
    freeze = ["embedding.", "encoder."] if minutes < 5 else ["embedding."]
    return FinetunePlan(
        align_steps=int(min(400, max(100, round(200 * scale, -1)))),
        acoustic_steps=int(min(1600, max(200, round(800 * scale, -1)))),
        learning_rate=3e-4,
        freeze=freeze,
        vocoder_steps=int(min(4000, max(600, round(2000 * scale, -2)))),
        vocoder_learning_rate=2e-4,
    )


# The least each overridable plan setting may be (a step count of 0 would train nothing and leave NaN losses).
PLAN_MINIMUM = {
    "align_steps": 1,
    "acoustic_steps": 1,
    "vocoder_steps": 1,
    "batch_frames": 1,
    "warmup_steps": 0,
}


def _carry_notice(base: Voice, out: Path, name: str) -> None:
    """The base voice's NOTICE.txt in the fine-tuned voice: its weights start from the base's, so they carry
    what taught the base (the licenses that ask for their notice to be kept)."""
    notice = base.file(NOTICE)
    if notice.is_file():
        head = f"{name} was fine-tuned by fastpitch from the voice {base.name!r}, whose notice follows.\n\n"
        atomic_write_text(out / NOTICE, head + notice.read_text(encoding="utf-8"))


def check_plan_overrides(overrides: dict[str, Any]) -> None:
    """Refuse overrides that name no plan setting or that no job can run with, before any work is done (a job
    saves its plan and resumes with it, so a bad one must never be saved)."""
    unknown = set(overrides) - {f.name for f in dataclasses.fields(FinetunePlan)}
    if unknown:
        raise FinetuneError(f"unknown plan settings: {', '.join(sorted(unknown))}")
    for name, value in overrides.items():
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if name in PLAN_MINIMUM and not (number and isinstance(value, int) and value >= PLAN_MINIMUM[name]):
            raise FinetuneError(
                f"{name} must be a whole number of at least {PLAN_MINIMUM[name]}, got {value!r}"
            )
        if name.endswith("learning_rate") and not (number and 0 < value < 1):
            raise FinetuneError(f"{name} must be a number between 0 and 1, got {value!r}")
        if name == "postfilter" and value is not None:
            from fastpitch.runtime.pipeline import SynthesisError, check_postfilter

            try:
                check_postfilter(value)  # the range `say --postfilter` takes
            except SynthesisError as e:
                raise FinetuneError(str(e)) from None


@dataclass
class FinetuneOptions:
    """One job: the recordings, the voice to make, the base voice, and the overrides of the plan."""

    data: Path
    out: Path
    base: Path | None = None  # a voice directory; None: the shipped default voice
    work: Path | None = None  # corpus, features, runs; None: `<out>.finetune` beside the voice
    name: str | None = None
    minutes_budget: float | None = None  # the whole job's wall time, from this invocation's start
    plan: dict[str, Any] = field(default_factory=dict)  # FinetunePlan fields to override
    min_clip_seconds: float = 1.0
    max_clip_seconds: float = 30.0
    seed: int = 0
    evaluate: bool = True
    device: str | None = None

    @property
    def work_dir(self) -> Path:
        return self.work if self.work is not None else self.out.with_name(self.out.name + ".finetune")


@dataclass
class Progress:
    """Where a job stands: `fraction` of the estimated work done, the stage, and the estimated seconds left."""

    stage: str
    fraction: float
    eta_seconds: float | None
    message: str = ""


@dataclass
class FinetuneResult:
    voice: Path
    seconds_of_speech: float
    clips_used: int
    clips_skipped: int
    plan: FinetunePlan
    wall_seconds: float
    evaluation: dict[str, Any] | None
    warnings: list[str]


class Tracker:
    """The job's progress over all stages, weighted by their estimated time; ETA from the rate so far."""

    def __init__(self, weights: dict[str, float], done: set[str], report: Callable[[Progress], None] | None):
        self.weights, self.report = weights, report
        self.done = {s: (weights[s] if s in done else 0.0) for s in weights}
        self.started = time.monotonic()
        self.start_fraction = self.fraction
        self.stage = ""

    @property
    def fraction(self) -> float:
        total = sum(self.weights.values())
        return min(1.0, sum(self.done.values()) / total) if total > 0 else 1.0

    def slowness(self) -> float:
        """Seconds this invocation took per second SECONDS_PER expected of its work so far (at least 1): a busy
        machine or a slow laptop runs every stage slower, the evaluation a budget keeps time for included."""
        gained = (self.fraction - self.start_fraction) * sum(self.weights.values())
        elapsed = time.monotonic() - self.started
        return max(1.0, elapsed / gained) if gained >= 5.0 else 1.0

    def update(self, stage: str, done: float, total: float, message: str = "") -> None:
        """`done` of `total` units of `stage` are finished."""
        self.stage = stage
        self.done[stage] = self.weights[stage] * (min(done, total) / total if total > 0 else 1.0)
        gained = self.fraction - self.start_fraction
        elapsed = time.monotonic() - self.started
        eta = elapsed * (1 - self.fraction) / gained if gained > 0.005 and elapsed > 1 else None
        if self.report is not None:
            self.report(Progress(stage, self.fraction, eta, message or stage))


# ------------------------------------------------------------------------------------------------ state


def _load_state(work: Path, options: FinetuneOptions) -> dict[str, Any]:
    path = work / STATE
    key = {"data": str(Path(options.data).resolve()), "base": str(options.base) if options.base else None}
    if not path.is_file():
        return {"job": key, "done": {}}
    state = json.loads(path.read_text())
    if state.get("job") != key:
        raise FinetuneError(
            f"{work} holds a fine-tuning job of other recordings or another base voice ({state.get('job')}); "
            "choose another --out or --work, or delete it"
        )
    return state


def _save_state(work: Path, state: dict[str, Any]) -> None:
    atomic_write_text(work / STATE, json.dumps(state, indent=1))


# ------------------------------------------------------------------------------------------------ stages


def _base_checkpoints(base: Path | None, work: Path, plan: FinetunePlan) -> tuple[Path, Path, dict[str, Any]]:
    """The base voice as an acoustic training checkpoint (`work/base/`) and a vocoder file (`work/base-vocoder/`).

    `--init-from` and `--init` read training checkpoints; a voice holds inference weights, so they are wrapped.
    """
    from fastpitch import checkpoint as ckpt_io
    from fastpitch.config import Config
    from fastpitch.voice_load import load_voice

    loaded = load_voice(base)
    voice = loaded.voice
    if voice.vocoder_type == "griffin-lim":
        raise FinetuneError(f"the base voice {voice.path} has no neural vocoder to adapt")
    cfg = Config(
        audio=voice.audio, text=voice.text, model=voice.model, train=base_alignment(voice.provenance)
    )
    base_dir = work / "base"
    ck = ckpt_io.Checkpoint(
        config=cfg, step=0, model=loaded.acoustic.state_dict(), provenance={"voice": str(voice.path)}
    )
    acoustic = ckpt_io.save_checkpoint(base_dir, ck, keep_last=1)
    vocoder = loaded.vocoder.save(work / "base-vocoder")
    return acoustic, vocoder, {"path": str(voice.path), "name": voice.name, "speakers": voice.speakers}


def base_alignment(provenance: dict[str, Any]) -> Any:
    """A training config carrying the base voice's alignment settings (`mas_boundary_cost`, `edge_silence`).

    Its decoder learned from durations split that way, so the adaptation's aligner splits the new speaker's
    frames the same way. A voice that does not record its training config was trained before either setting
    existed: their "absent" values (both off).
    """
    from fastpitch.config import TrainConfig, from_dict

    saved = (provenance.get("acoustic") or {}).get("train_config") or {}
    return from_dict(TrainConfig, {k: saved[k] for k in ("mas_boundary_cost", "edge_silence") if k in saved})


def _acoustic_config(base_ckpt: Path, plan: FinetunePlan) -> Any:
    """The training config of the adaptation: the base voice's model, the plan's steps, rate and frozen parts."""
    from fastpitch import checkpoint as ckpt_io

    cfg = ckpt_io.read_config(base_ckpt)
    tc = cfg.train
    tc.durations = "learned"
    tc.optimizer = "adam"
    tc.batch_frames = plan.batch_frames
    tc.max_steps = plan.acoustic_steps
    tc.warmup_steps = plan.warmup_steps
    tc.learning_rate = plan.learning_rate
    tc.freeze = list(plan.freeze)
    tc.binarization_start_step = 0  # the aligner is warm already
    tc.binarization_warmup_steps = max(1, plan.acoustic_steps // 4)
    tc.ema_decay = 0.99
    tc.num_workers = 0
    tc.val_media = False
    tc.log_every = 25
    tc.checkpoint_every = 50
    tc.val_every = max(50, plan.acoustic_steps // 4)
    tc.keep_last = 2
    return cfg


def _train_acoustic(
    cfg: Any,
    corpus: Path,
    features: Path,
    run: Path,
    init: Path,
    deadline: float | None,
    on_step: Any,
    device: str | None,
) -> Path:
    from fastpitch import checkpoint as ckpt_io
    from fastpitch.train.acoustic import RunOptions, train

    started = ckpt_io.latest(run) is not None
    opts = RunOptions(
        features=features,
        out_dir=run,
        dataset=corpus,
        resume=started,
        init_from=None if started else init,
        device=device,
        progress=False,
        command=["finetune"],
        deadline=deadline,
        on_step=on_step,
    )
    result = train(cfg, opts)
    if result.last_checkpoint is None:
        found = ckpt_io.latest(run)
        if found is None:
            raise FinetuneError(f"training in {run} wrote no checkpoint")
        return found
    return result.last_checkpoint


def _model_card(voice_dir: Path, summary: dict[str, Any]) -> None:
    """The voice's model card with the job's figures: data, plan, time, and the evaluation side by side."""
    from fastpitch.voice import model_card, read_voice

    voice = read_voice(voice_dir)
    ev = summary.get("evaluation") or {}
    lines = [
        model_card(voice).split("\n## Evaluation")[0].rstrip(),
        "",
        "## Fine-tuning",
        "",
        f"Made by `fastpitch finetune` from {summary['base']['name']!r} ({summary['base']['path']}) with "
        f"{summary['seconds_of_speech'] / 60:.1f} minutes of speech in {summary['clips_used']} clips "
        f"({summary['clips_skipped']} skipped, {summary['clips_held_out']} held out for the evaluation), "
        f"in {summary['wall_seconds'] / 60:.1f} minutes of wall time.",
        "",
        "| stage | setting |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in summary["plan"].items()),
        "",
        "## Evaluation",
        "",
    ]
    if ev:
        lines += [
            f"On the {ev['clips']} held-out clips of the speaker (`fastpitch eval`):",
            "",
            "| | word error rate | median F0 (Hz) | MCD-DTW (dB) | DNSMOS P.808 |",
            "|---|---|---|---|---|",
            *(
                f"| {row} | {_fmt(ev[row].get('wer'), '{:.1%}')} | {_fmt(ev[row].get('median_f0_hz'), '{:.1f}')} | "
                f"{_fmt(ev[row].get('mcd_dtw_db'), '{:.2f}')} | {_fmt(ev[row].get('dnsmos_p808'), '{:.2f}')} |"
                for row in ("recordings", "finetuned", "base")
                if row in ev
            ),
            "",
            "MCD-DTW of the recordings is their own vocoder resynthesis; the base voice row is the voice this one "
            "was adapted from, speaking the same sentences"
            + (f" as {ev['base_speaker']}, its speaker nearest in pitch." if ev.get("base_speaker") else "."),
        ]
        against = _against_recordings(ev)
        if against:
            lines += ["", against]
    else:
        lines.append("Not evaluated (no clips were held out, or the evaluation was turned off).")
    atomic_write_text(voice_dir / "MODEL_CARD.md", "\n".join(lines) + "\n")


def _fmt(value: Any, pattern: str) -> str:
    return "–" if value is None else pattern.format(value)


def _eval_rows(finetuned: dict[str, Any], base: dict[str, Any] | None) -> dict[str, Any]:
    """The figures the issue's targets compare: recordings, the new voice and the base voice."""

    def row(report: dict[str, Any], system: str) -> dict[str, Any]:
        f0 = report.get("f0") or {}
        median = (f0.get("median_hz") or {}).get("reference" if system == "reference" else "synthesized")
        return {
            "wer": (report.get("wer") or {}).get(system),
            "median_f0_hz": median,
            "mcd_dtw_db": (report.get("mcd_dtw_db") or {}).get(
                "vocoder_resynthesis" if system == "reference" else system
            ),
            "dnsmos_p808": ((report.get("dnsmos") or {}).get(system) or {}).get("p808_mos"),
        }

    rows = {
        "clips": finetuned["dataset"]["utterances"],
        "recordings": row(finetuned, "reference"),
        "finetuned": row(finetuned, "synthesized"),
    }
    if base is not None:
        rows["base"] = row(base, "synthesized")
        forced = (base.get("dataset") or {}).get("speaker")
        if forced:
            rows["base_speaker"] = forced
    rec, new = rows["recordings"], rows["finetuned"]
    if rec["median_f0_hz"] and new["median_f0_hz"]:
        rows["f0_semitones_off"] = 12 * math.log2(new["median_f0_hz"] / rec["median_f0_hz"])
    if rec["wer"] and new["wer"] is not None:
        rows["wer_ratio"] = new["wer"] / rec["wer"]
    if base is not None and new["mcd_dtw_db"] is not None and rows["base"]["mcd_dtw_db"] is not None:
        rows["mcd_below_base_db"] = rows["base"]["mcd_dtw_db"] - new["mcd_dtw_db"]
    if rec["dnsmos_p808"] is not None and new["dnsmos_p808"] is not None:
        rows["dnsmos_difference"] = new["dnsmos_p808"] - rec["dnsmos_p808"]
    # where the two comparisons with the recordings could land with other clips of the speaker (`fastpitch eval`)
    rows["wer_ratio_95"] = (finetuned.get("wer") or {}).get("synthesized_vs_reference_95")
    p808 = (finetuned.get("dnsmos_vs_reference") or {}).get("p808_mos") or {}
    rows["dnsmos_difference_95"] = p808.get("interval_95")
    return rows


def _against_recordings(ev: dict[str, Any]) -> str:
    """The issue's two comparisons with the recordings, each with its 95 % interval over the clips."""

    def interval(key: str, pattern: str) -> str:
        bounds = ev.get(key)
        return (
            f" (95 % interval {pattern.format(bounds[0])} to {pattern.format(bounds[1])})" if bounds else ""
        )

    parts = []
    if ev.get("wer_ratio") is not None:
        parts.append(f"word error rate {ev['wer_ratio']:.2f}x theirs" + interval("wer_ratio_95", "{:.2f}x"))
    if ev.get("dnsmos_difference") is not None:
        parts.append(
            f"DNSMOS P.808 {ev['dnsmos_difference']:+.2f}" + interval("dnsmos_difference_95", "{:+.2f}")
        )
    if not parts:
        return ""
    return (
        "Against the recordings: " + "; ".join(parts) + ". The intervals are where these figures could land "
        "with as many other clips of the speaker (bootstrap over the held-out clips): a few clips judge roughly."
    )


def _evaluate_both(
    options: FinetuneOptions, corpus: Path, work: Path, mine_progress: Any, base_progress: Any
) -> None:
    """`fastpitch eval` of the new voice and of the base voice on the held-out clips (reports in the work dir).

    A base voice of several speakers speaks as the one whose mean pitch is nearest the new voice's (the one
    the new speaker started from): the MCD against the recordings then says how far fine-tuning moved the
    voice from the nearest thing the base already had, not from a voice of the other sex.
    """
    from fastpitch.evaluation.suite import evaluate

    speaker = nearest_base_speaker(options.base, options.out)
    # The control sweep measures a voice's pitch response, not whether it sounds like the speaker: skipped here.
    evaluate(
        options.out, corpus, split="test", out_dir=work / "eval", controls=False, on_progress=mine_progress
    )
    evaluate(
        options.base,
        corpus,
        split="test",
        out_dir=work / "eval-base",
        speaker=speaker,
        figures=0,
        controls=False,
        on_progress=base_progress,
    )


def nearest_base_speaker(base: Path | None, voice: Path) -> str | None:
    """The base voice's speaker whose mean pitch is nearest the (single-speaker) `voice`'s, or None when the
    base has one speaker or no pitch statistics."""
    import torch

    from fastpitch.train.acoustic import nearest_speakers
    from fastpitch.voice import read_voice

    source, target = read_voice(base), read_voice(voice)
    means = [source.pitch.get(name, {}).get("mean") for name in source.speakers]
    own = target.pitch.get(target.speakers[0], {}).get("mean")
    if len(means) < 2 or own is None or None in means:
        return None
    return source.speakers[nearest_speakers(torch.tensor(means), torch.tensor([own]))[0]]


def _read_evaluation(work: Path) -> dict[str, Any] | None:
    """The model card's rows from the two evaluation reports, when both were written."""
    paths = [work / "eval" / "report.json", work / "eval-base" / "report.json"]
    if not all(p.is_file() for p in paths):
        return None
    mine, base = (json.loads(p.read_text()) for p in paths)
    return _eval_rows(mine, base)


# ------------------------------------------------------------------------------------------------ the job


def finetune(
    options: FinetuneOptions, on_progress: Callable[[Progress], None] | None = None
) -> FinetuneResult:
    """Run (or resume) the job of `options`; returns where the voice is and what the evaluation measured."""
    from fastpitch import checkpoint as ckpt_io
    from fastpitch.data.datasets import Limits, make_frontend
    from fastpitch.data.recordings import make_corpus, write_splits
    from fastpitch.voice import read_voice

    started = time.monotonic()
    if options.minutes_budget is not None and not 0 < options.minutes_budget < math.inf:
        raise FinetuneError(
            f"the time budget must be a positive number of minutes, got {options.minutes_budget}"
        )
    check_plan_overrides(options.plan)
    deadline = None if options.minutes_budget is None else started + options.minutes_budget * 60
    work = options.work_dir
    base_voice = read_voice(options.base)  # before anything is written: a bad base leaves no folder behind
    if base_voice.vocoder_type == "griffin-lim":
        raise FinetuneError(f"the base voice {base_voice.path} has no neural vocoder to adapt")
    fresh = not work.exists()
    work.mkdir(parents=True, exist_ok=True)
    state = _load_state(work, options)
    done: dict[str, Any] = state["done"]
    warnings: list[str] = list(state.get("warnings", []))
    corpus, features_dir = work / "corpus", work / "features"

    before = float(state.get("wall_seconds", 0.0))  # spent by earlier, interrupted invocations

    def finish(stage: str, info: Any = True) -> None:
        done[stage] = info
        state["wall_seconds"] = before + time.monotonic() - started
        state.setdefault("finished_at", {})[stage] = round(
            state["wall_seconds"], 1
        )  # wall seconds into the job
        _save_state(work, state)
        tracker.update(stage, 1, 1)

    # Weights need the clip count and the plan; until the corpus is made, a provisional plan for ten minutes.
    tracker = Tracker(dict.fromkeys(STAGES, 1.0), set(done), on_progress)

    # 1. corpus
    if "corpus" not in done:
        tracker.update("corpus", 0, 1, "checking and cleaning the recordings")
    limits = Limits(min_seconds=options.min_clip_seconds, max_seconds=options.max_clip_seconds)
    try:
        report = make_corpus(
            options.data, corpus, base_voice.audio, limits, make_frontend(base_voice.text), seed=options.seed
        )
    except Exception:
        if fresh:  # unreadable data on a new job: nothing in the work folder is worth keeping
            shutil.rmtree(work, ignore_errors=True)
        raise
    n_used = len(report.train) + len(report.test)
    if report.seconds < MIN_SECONDS_OF_SPEECH or len(report.train) < 2:
        reasons = sorted({f"{i.kind}: {i.message}" for i in report.skipped})[:10]
        raise FinetuneError(
            f"{options.data}: {len(report.train) + len(report.test)} usable clips, {report.seconds:.1f} s of speech; "
            f"fine-tuning needs at least {MIN_SECONDS_OF_SPEECH:.0f} s in two clips or more"
            + (f". Skipped: {'; '.join(r.rstrip('.') for r in reasons)}" if reasons else "")
            + f". The full report: {corpus / 'corpus-report.json'}"
        )
    if report.seconds < ADVISED_MINUTES * 60 and "corpus" not in done:
        warnings.append(
            f"only {report.seconds / 60:.1f} minutes of speech: the voice will be rough; "
            f"{ADVISED_MINUTES:.0f} minutes or more give a usable one"
        )
        log.warning("%s", warnings[-1])
    if report.skipped and "corpus" not in done:
        warnings.append(
            f"{len({i.id for i in report.skipped})} clips skipped (see {corpus / 'corpus-report.json'})"
        )
    state["warnings"] = warnings

    plan = dataclasses.replace(plan_for(report.seconds), **options.plan)
    if "plan" in state:  # (a plan saved before a setting existed takes that setting's default)
        saved = FinetunePlan(**state["plan"])
        if saved != plan:
            log.warning("resuming with the plan the job started with; the new settings are ignored")
        plan = saved
    state["plan"] = dataclasses.asdict(plan)
    tracker.weights = {
        "corpus": SECONDS_PER["corpus"] * report.total,
        "features": SECONDS_PER["features"] * n_used,
        "base": SECONDS_PER["base"],
        "align": SECONDS_PER["align"] * plan.align_steps,
        "screen": SECONDS_PER["screen"] * n_used,
        "acoustic": SECONDS_PER["acoustic"] * plan.acoustic_steps,
        "gta": SECONDS_PER["gta"] * n_used,
        "vocoder": SECONDS_PER["vocoder"] * plan.vocoder_steps,
        "voice": SECONDS_PER["voice"],
        "export": SECONDS_PER["export"],
        "evaluate": SECONDS_PER["evaluate"] * len(report.test) if options.evaluate else 0.0,
    }
    tracker.done = {s: (tracker.weights[s] if s in done else 0.0) for s in STAGES}
    tracker.start_fraction = tracker.fraction
    if "corpus" not in done:
        finish("corpus", {"seconds": report.seconds, "train": len(report.train), "test": len(report.test)})

    # 2. features
    if "features" not in done:
        from fastpitch.data.features import prepare

        tracker.update("features", 0, 1, "computing features")
        root = prepare(corpus, features_dir, base_voice.audio, workers=1, limits=limits)
        finish("features", str(root))
    features = Path(done["features"])

    # 3. the base voice as training checkpoints
    if "base" not in done:
        acoustic, vocoder, info = _base_checkpoints(options.base, work, plan)
        finish("base", {"acoustic": str(acoustic), "vocoder": str(vocoder), **info})
    base = done["base"]

    def budget_for(stage: str) -> float | None:
        """This stage's share of the time left, in proportion to its estimated cost among the stages left."""
        if deadline is None:
            return None
        later = [s for s in STAGES[STAGES.index(stage) :] if s not in done]
        training = [s for s in later if s in ("align", "acoustic", "vocoder")]
        reserve = tracker.slowness() * sum(tracker.weights[s] for s in later if s not in training)
        cost = sum(tracker.weights[s] - tracker.done[s] for s in training)
        left = deadline - time.monotonic() - reserve
        share = (tracker.weights[stage] - tracker.done[stage]) / cost if cost > 0 else 1.0
        if stage == "align":  # cheap, and a short warm-up cannot tell wrong transcripts: up to a quarter
            share = max(share, ALIGN_BUDGET_SHARE)
        return time.monotonic() + max(0.0, left * share)

    def steps_of(stage: str) -> Callable[[int, int], None]:
        return lambda step, total: tracker.update(stage, step, total, f"{stage} step {step}/{total}")

    # 4. aligner warm-up
    if "align" not in done:
        from fastpitch.train.align import train_aligner

        ck = train_aligner(
            Path(base["acoustic"]),
            features,
            corpus,
            work / "align",
            plan.align_steps,
            batch_frames=plan.batch_frames,
            on_step=steps_of("align"),
            deadline=budget_for("align"),
        )
        finish("align", str(ck))

    # 5. transcripts that do not match their audio
    if "screen" not in done:
        from fastpitch.train.align import alignment_scores, outliers

        tracker.update("screen", 0, 1, "scoring the alignments")
        # the held-out clips too: a wrong transcript there would misjudge the voice's evaluation
        scores = alignment_scores(Path(done["align"]), features, report.train + report.test)
        flagged = outliers(scores)
        for uid in flagged:
            message = (
                f"{uid}: the transcript does not seem to match the audio (alignment score {scores[uid]:.2f}, "
                f"median {sorted(scores.values())[len(scores) // 2]:.2f}); skipped"
            )
            warnings.append(message)
            log.warning("%s", message)
        write_splits(corpus, *([i for i in ids if i not in flagged] for ids in (report.train, report.test)))
        finish("screen", {"scores": scores, "flagged": flagged})
    flagged = done["screen"]["flagged"]
    held_out = [i for i in report.test if i not in flagged]

    # 6. acoustic adaptation
    if "acoustic" not in done:
        cfg = _acoustic_config(Path(base["acoustic"]), plan)
        ck = _train_acoustic(
            cfg,
            corpus,
            features,
            work / "acoustic",
            Path(done["align"]),
            budget_for("acoustic"),
            steps_of("acoustic"),
            options.device,
        )
        finish("acoustic", str(ck))

    # 7. the adapted model's own mels for the training clips
    # A job begun before this stage existed, whose vocoder had started learning from the recordings' mels, goes on so.
    if "gta" not in done and ("vocoder" in done or ckpt_io.latest(work / "vocoder") is not None):
        finish("gta", None)
    if "gta" not in done:
        from fastpitch.train.gta import predict_mels

        tracker.update("gta", 0, 1, "the adapted model's mels")
        gta = predict_mels(
            done["acoustic"],
            features,
            work / "gta",
            dataset=corpus,
            batch_frames=plan.batch_frames,
            device=options.device,
            on_batch=lambda k, total: tracker.update(
                "gta", k, total, f"the adapted model's mels {k}/{total}"
            ),
        )
        finish("gta", str(gta.out_dir))

    # 8. vocoder adaptation, on those mels
    if "vocoder" not in done:
        from fastpitch.train.vocoder import train_vocoder

        run = work / "vocoder"
        started_run = ckpt_io.latest(run) is not None
        result = train_vocoder(
            corpus,
            run,
            overrides=[
                f"train.learning_rate={plan.vocoder_learning_rate}",
                "train.lr_decay=1.0",
                "train.log_every=100",
                f"train.val_every={max(50, plan.vocoder_steps // 2)}",
                "train.checkpoint_every=50",
                "train.keep_last=2",
                "train.batch_size=8",
            ],
            features=features,
            finetune_mels=done["gta"],
            init=None if started_run else Path(base["vocoder"]),
            resume=started_run,
            max_steps=plan.vocoder_steps,
            device=options.device,
            deadline=budget_for("vocoder"),
            on_step=steps_of("vocoder"),
        )
        checkpoint = result.checkpoint or ckpt_io.latest(run)
        finish("vocoder", str(checkpoint))

    # 9. the voice
    name = options.name or options.out.name
    if "voice" not in done:
        from fastpitch.voice_create import create_voice

        tracker.update("voice", 0, 1, "making the voice")
        # The job writes the card itself once the voice is made: a card left by an interrupted run is its own.
        (options.out / "MODEL_CARD.md").unlink(missing_ok=True)
        create_voice(
            done["acoustic"],
            done["vocoder"],
            options.out,
            name=name,
            speakers=[name],
            description=f"Fine-tuned by `fastpitch finetune` from {base['name']!r} on {options.data}.",
        )
        # Unless the plan names one, half the post-filter of the base speaker it started from
        # (`nearest_base_speaker`): see `FinetunePlan.postfilter`.
        made = read_voice(options.out)
        source = nearest_base_speaker(base_voice.path, options.out) or base_voice.speakers[0]
        made.postfilter = (
            plan.postfilter if plan.postfilter is not None else base_voice.postfilter_of(source) / 2
        )
        made.save_json()
        _carry_notice(base_voice, options.out, name)
        finish("voice", str(options.out))

    # 10. ONNX
    if "export" not in done:
        from fastpitch.export import export_voice

        tracker.update("export", 0, 1, "exporting to ONNX")
        export_voice(options.out)
        finish("export", True)

    # 11. evaluation on the held-out clips; a failed one is not marked done, so running the job again retries it
    if "evaluate" not in done:
        warnings[:] = [w for w in warnings if not w.startswith(NOT_EVALUATED)]  # (the state holds this list)
        evaluated = True
        if options.evaluate and held_out:
            n = len(held_out)

            def ev_progress(offset: int) -> Callable[[int, int, str], None]:
                return lambda k, total, uid: tracker.update(
                    "evaluate", offset + k, 2 * n, f"evaluating {uid}"
                )

            try:
                _evaluate_both(options, corpus, work, ev_progress(0), ev_progress(n))
            except FastPitchError as e:  # e.g. the eval extra (speechmos, pocketsphinx) is not installed
                warnings.append(f"{NOT_EVALUATED}: {e} (running the job again evaluates it)")
                log.warning("%s", warnings[-1])
                evaluated = False
        elif options.evaluate:
            warnings.append(
                "no usable clip was held out (under four usable clips): the voice was not evaluated"
            )
        if evaluated:
            finish("evaluate", True)
    evaluation = _read_evaluation(work) if options.evaluate else None

    wall = before + time.monotonic() - started
    summary = {
        "base": base,
        "seconds_of_speech": report.seconds,
        "clips_used": n_used - len(flagged),
        "clips_skipped": len({i.id for i in report.skipped}) + len(flagged),
        "clips_held_out": len(held_out),
        "wall_seconds": wall,
        "plan": dataclasses.asdict(plan),
        "evaluation": evaluation,
    }
    _model_card(options.out, summary)
    atomic_write_text(work / "summary.json", json.dumps({**summary, "warnings": warnings}, indent=1))
    return FinetuneResult(
        voice=options.out,
        seconds_of_speech=report.seconds,
        clips_used=summary["clips_used"],
        clips_skipped=summary["clips_skipped"],
        plan=plan,
        wall_seconds=wall,
        evaluation=evaluation,
        warnings=warnings,
    )
