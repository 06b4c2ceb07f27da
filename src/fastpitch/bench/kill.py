"""`fastpitch bench kill`: real SIGKILLs at random moments of `corpus synth`, `prepare`, `train`,
`train-vocoder`, `voice create` and `export`, each followed by a check of what was left, on a tiny synthetic corpus
(espeak-ng's for `corpus synth`) and the `tiny` presets.

After every kill, what the command leaves must be usable or cleanly refused: every checkpoint that exists loads,
a voice loads and speaks or is refused with a `VoiceError`, never a half-written file read as a whole one. After
the kills a final uninterrupted rerun must finish, and its result must equal a clean run's (features) or be
complete (checkpoints, voice, ONNX, corpus). A command that exits on its own before its kill must exit 0. Temp
files a kill leaves behind and the next run did not sweep are counted (`leftover_tmp`): they are never read, but
they are litter.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

SR = 22050
COMMANDS = ("corpus-synth", "prepare", "train", "train-vocoder", "voice-create", "export")
TEXTS = [
    "The cat sat on the mat.",
    "A bird in the hand.",
    "She sells sea shells.",
    "Time flies like an arrow.",
    "Open the door, please.",
    "We walked to the river.",
    "It was a bright cold day.",
    "Read the book again.",
]


def synthetic_corpus(root: Path) -> Path:
    """An LJSpeech-layout corpus of harmonic sub-second 'speech', enough for `prepare` and the tiny preset."""
    import soundfile as sf

    (root / "wavs").mkdir(parents=True, exist_ok=True)
    lines = []
    for i, text in enumerate(TEXTS):
        t = np.arange(int((0.5 + 0.05 * i) * SR)) / SR
        phase = 2 * np.pi * np.cumsum(120 + 40 * np.sin(2 * np.pi * (0.7 + 0.1 * i) * t)) / SR
        wav = sum(np.sin(k * phase) / k for k in range(1, 6)) * 0.2
        sf.write(root / "wavs" / f"utt{i:03d}.wav", wav.astype(np.float32), SR)
        lines.append(f"utt{i:03d}|{text}|{text}")
    (root / "metadata.csv").write_text("\n".join(lines) + "\n")
    return root


def fastpitch(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "fastpitch", "-q", *map(str, args)]


def run(command: list[str], timeout_s: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, env=env)


def run_and_kill(command: list[str], after_s: float) -> int | None:
    """Start `command`, SIGKILL its process group after `after_s`; its exit code if it ended first, else None."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, start_new_session=True
    )
    try:
        code = process.wait(timeout=after_s)
        return code
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return None
    finally:
        if process.stderr is not None:
            process.stderr.close()


def leftover_tmp(root: Path) -> int:
    return sum(
        1 for p in root.rglob("*") if ".tmp" in p.name or (p.is_file() and p.parent.name == ".partial")
    )


def kill_loop(
    name: str,
    command: list[str],
    kills: int,
    window_s: tuple[float, float],
    check: Callable[[], None],
    rng: random.Random,
    final: Callable[[], None],
    root: Path,
) -> dict:
    """`kills` runs of `command`, each SIGKILLed after a uniform time in `window_s` and followed by `check()`;
    then one uninterrupted run, then `final()`. Failures of the checks are collected, not raised."""
    failures: list[str] = []
    killed = finished = 0
    started = time.perf_counter()
    for i in range(kills):
        code = run_and_kill(command, rng.uniform(*window_s))
        if code is None:
            killed += 1
        elif code == 0:
            finished += 1
        else:
            failures.append(f"run {i} exited {code} by itself after the previous kill")
        try:
            check()
        except Exception as e:
            failures.append(f"after kill {i}: {type(e).__name__}: {e}"[:300])
    done = run(command)
    if done.returncode != 0:
        failures.append(f"the final rerun failed: {done.stderr[-300:]}")
    try:
        final()
    except Exception as e:
        failures.append(f"final check: {type(e).__name__}: {e}"[:300])
    return {
        "command": name,
        "kills": killed,
        "finished_before_kill": finished,
        "failures": failures,
        "leftover_tmp": leftover_tmp(root),
        "wall_s": round(time.perf_counter() - started, 1),
    }


def check_checkpoints(run_dir: Path) -> None:
    """Every checkpoint that exists loads completely (its JSON, its tensors, their size)."""
    from fastpitch import checkpoint as ck

    for path in ck.list_checkpoints(run_dir):
        ck.load_checkpoint(path)


def check_voice(path: Path, onnx: bool = False) -> bool:
    """A voice directory after a kill: refused with a VoiceError, or loads and speaks. True when it speaks."""
    from fastpitch.voice import VoiceError

    try:
        if onnx:
            from fastpitch.runtime import OnnxSynthesizer

            tts = OnnxSynthesizer.load(path)
        else:
            from fastpitch.synthesis import Synthesizer

            tts = Synthesizer.load(path)
    except VoiceError:
        return False
    audio, _ = tts.synthesize("Hi.")
    if not (audio.size and np.isfinite(audio).all()):
        raise AssertionError("the voice loads but speaks non-finite audio")
    return True


def check_vocoder_checkpoints(run_dir: Path) -> None:
    """Every vocoder checkpoint that exists reads completely (its JSON, its tensors, their size)."""
    from fastpitch import checkpoint as ck
    from fastpitch.vocoders.neural import TRAIN_FORMAT

    for path in ck.list_checkpoints(run_dir):
        ck.read_step_tensors(path, ck.read_meta(path, TRAIN_FORMAT))


def check_corpus(root: Path) -> None:
    """Every WAV a killed `corpus synth` left in place reads whole; its metadata, once written, lists only those."""
    import soundfile as sf

    for wav in (root / "wavs").glob("*.wav") if (root / "wavs").is_dir() else ():
        audio, _ = sf.read(wav)
        if not (audio.size and np.isfinite(audio).all()):
            raise AssertionError(f"{wav.name} is empty or non-finite")
    metadata = root / "metadata.csv"
    if metadata.is_file():
        for line in metadata.read_text().splitlines():
            if not (root / "wavs" / f"{line.split('|')[0]}.wav").is_file():
                raise AssertionError(f"metadata.csv lists {line.split('|')[0]}, whose WAV is missing")


def features_equal(a: Path, b: Path) -> None:
    """Two `prepare` outputs hold the same arrays (the manifest's timestamps aside)."""
    files_a = sorted(p.relative_to(a) for p in a.rglob("*.npy"))
    files_b = sorted(p.relative_to(b) for p in b.rglob("*.npy"))
    if files_a != files_b or not files_a:
        raise AssertionError(f"feature files differ: {len(files_a)} vs {len(files_b)}")
    for rel in files_a:
        if not np.array_equal(np.load(a / rel), np.load(b / rel)):
            raise AssertionError(f"{rel} differs from a clean run")


def bench_kill(
    work: Path,
    kills: int = 20,
    commands: tuple[str, ...] = COMMANDS,
    seed: int = 0,
    train_steps: int = 12,
    corpus_count: int = 24,
) -> dict:
    """SIGKILL each command `kills` times at random moments in `work` (emptied first) and check as above."""
    unknown = set(commands) - set(COMMANDS)
    if unknown:
        raise ValueError(f"unknown command(s) {sorted(unknown)}; choose from {', '.join(COMMANDS)}")
    rng = random.Random(seed)
    shutil.rmtree(work, ignore_errors=True)
    results = []
    if "corpus-synth" in commands:
        results.append(kill_corpus_synth(work / "corpus", kills, rng, corpus_count))
    data = synthetic_corpus(work / "data")
    reference = work / "features-clean"
    clean_start = time.perf_counter()
    clean = run(fastpitch("prepare", data, "--out", reference, "--workers", "1"))
    prepare_s = time.perf_counter() - clean_start  # kills land within a clean run's length
    if clean.returncode != 0:
        raise RuntimeError(f"the clean prepare failed: {clean.stderr[-500:]}")
    features = work / "features"
    if "prepare" in commands:
        results.append(
            kill_loop(
                "prepare",
                fastpitch("prepare", data, "--out", features, "--workers", "1"),
                kills,
                (0.5, max(prepare_s, 1.0)),
                lambda: None,
                rng,
                lambda: features_equal(features, reference),
                features,
            )
        )
    else:
        shutil.copytree(reference, features)
    if "train-vocoder" in commands:
        results.append(kill_train_vocoder(data, work / "vocoder", kills, rng, train_steps))
    run_dir = work / "run"
    later = {"train", "voice-create", "export"} & set(commands)
    train = fastpitch(
        "train", "--features", features, "--dataset", data, "--out", run_dir, "--preset", "tiny",
        "--set", "train.batch_frames=400", "--set", "train.checkpoint_every=2", "--set", "train.val_every=1000",
        "--max-steps", str(train_steps), "--device", "cpu", "--no-progress", "--resume",
    )  # fmt: skip
    if "train" in commands:

        def trained() -> None:
            from fastpitch import checkpoint as ck

            check_checkpoints(run_dir)
            latest = ck.latest(run_dir)
            if latest is None or ck.read_meta(latest)["step"] != train_steps:
                raise AssertionError(f"the rerun did not reach step {train_steps}: {latest}")

        results.append(
            kill_loop(
                "train", train, kills, (3.0, 25.0), lambda: check_checkpoints(run_dir), rng, trained, run_dir
            )
        )
    elif later and run(train).returncode != 0:
        raise RuntimeError("training the tiny model failed")
    voice = work / "voice"
    create = fastpitch("voice", "create", run_dir, "--out", voice)
    if "voice-create" in commands:

        def created() -> None:
            if not check_voice(voice):
                raise AssertionError("the voice made by the rerun does not load")

        results.append(
            kill_loop(
                "voice create", create, kills, (1.0, 10.0), lambda: check_voice(voice), rng, created, voice
            )
        )
    elif "export" in commands and run(create).returncode != 0:
        raise RuntimeError("voice create failed")
    if "export" in commands:

        def exported() -> None:
            if not check_voice(voice, onnx=True):
                raise AssertionError("the ONNX models made by the rerun do not load")

        results.append(
            kill_loop(
                "export",
                fastpitch("export", voice),
                kills,
                (2.0, 25.0),
                lambda: check_voice(voice, onnx=True),
                rng,
                exported,
                voice,
            )
        )
    return {
        "benchmark": "kill",
        "kills_per_command": kills,
        "seed": seed,
        "commands": results,
        "failures": sum(len(r["failures"]) for r in results),
    }


def kill_corpus_synth(root: Path, kills: int, rng: random.Random, count: int) -> dict:
    """`corpus synth` with espeak-ng (the cheapest engine): killed mid-synthesis, its rerun completes the corpus."""
    command = fastpitch(
        "corpus", "synth", root, "--voices", "espeak-ng:en-us", "--count", str(count), "--seed", "0",
        "--workers", "1", "--test-count", "2", "--val-count", "2",
    )  # fmt: skip
    started = time.perf_counter()
    clean = run(command)
    if clean.returncode != 0:
        raise RuntimeError(f"a clean corpus synth failed: {clean.stderr[-500:]}")
    length = time.perf_counter() - started
    reference = (root / "metadata.csv").read_text()
    shutil.rmtree(root)

    def complete() -> None:
        check_corpus(root)
        if (root / "metadata.csv").read_text() != reference:
            raise AssertionError("the rerun's metadata.csv differs from a clean run's")

    window = (0.3, max(length, 1.0))
    return kill_loop("corpus synth", command, kills, window, lambda: check_corpus(root), rng, complete, root)


def kill_train_vocoder(data: Path, run_dir: Path, kills: int, rng: random.Random, steps: int) -> dict:
    """`train-vocoder` (a tiny iSTFT vocoder, checkpoint every 2 steps): every checkpoint left reads whole, and the
    rerun reaches the last step."""
    command = fastpitch(
        "train-vocoder", "--dataset", data, "--out", run_dir, "--arch", "istft", "--resume",
        "--max-steps", str(steps), "--device", "cpu",
        *(a for v in VOCODER_TINY for a in ("--set", v)),
    )  # fmt: skip

    def trained() -> None:
        from fastpitch import checkpoint as ck
        from fastpitch.train.vocoder import read_checkpoint_meta

        check_vocoder_checkpoints(run_dir)
        newest = ck.latest(run_dir)
        if newest is None or read_checkpoint_meta(newest)["step"] != steps:
            raise AssertionError(f"the rerun did not reach step {steps}: {newest}")

    check = lambda: check_vocoder_checkpoints(run_dir)  # noqa: E731
    return kill_loop("train-vocoder", command, kills, (3.0, 20.0), check, rng, trained, run_dir)


VOCODER_TINY = (
    "model.dim=16", "model.intermediate_dim=32", "model.n_layers=1", "train.batch_size=2",
    "train.segment_frames=8", "train.val_every=1000", "train.checkpoint_every=2", "train.val_utterances=1",
)  # fmt: skip
