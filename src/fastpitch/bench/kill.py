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
    check: Callable[[], None],
    rng: random.Random,
    final: Callable[[], None],
    root: Path,
    reset: Callable[[], None],
) -> dict:
    """Run `command` until it has been SIGKILLed `kills` times, each time after a uniform moment of a clean
    run's length (the shortest whole run seen: a shared machine's load moves it), each kill followed by `check()` and a rerun that resumes what the kill left. A run that ends
    before its kill is checked with `final()` and `reset()` (its output removed) so the next one has the whole
    work to do again. Then one uninterrupted run and `final()`. Failures are collected, not raised."""
    failures: list[str] = []
    killed = finished = 0
    started = time.perf_counter()
    reset()
    clean = run(command)
    length = time.perf_counter() - started
    if clean.returncode != 0:
        raise RuntimeError(f"a clean {name} failed: {clean.stderr[-500:]}")
    reset()
    attempts, fresh = 0, True
    while killed < kills and attempts < 4 * kills:
        attempts += 1
        began = time.perf_counter()
        code = run_and_kill(command, rng.uniform(min(0.5, length / 4), length))
        if code == 0 and fresh:  # the machine got faster than when the clean run was timed
            length = time.perf_counter() - began
        fresh = code == 0
        try:
            check()
            if code == 0:
                final()
        except Exception as e:
            failures.append(f"after run {attempts}: {type(e).__name__}: {e}"[:300])
        if code is None:
            killed += 1
        elif code == 0:
            finished += 1
            reset()
        else:
            failures.append(f"run {attempts} exited {code} by itself after the previous kill")
    if killed < kills:
        failures.append(f"only {killed} of {attempts} runs were killed before they ended")
    done = run(command)
    if done.returncode != 0:
        failures.append(f"the final rerun failed: {done.stderr[-300:]}")
    try:
        final()
    except Exception as e:
        failures.append(f"final check: {type(e).__name__}: {e}"[:300])
    return {
        "command": name,
        "clean_run_s": round(length, 1),
        "kills": killed,
        "finished_before_kill": finished,
        "failures": failures,
        "leftover_tmp": leftover_tmp(root),
        "wall_s": round(time.perf_counter() - started, 1),
    }


def removing(*paths: Path) -> Callable[[], None]:
    """A `reset` that deletes `paths` (files or folders)."""

    def reset() -> None:
        for path in paths:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)

    return reset


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
    if run(fastpitch("prepare", data, "--out", reference, "--workers", "1")).returncode != 0:
        raise RuntimeError("the clean prepare failed")
    features = work / "features"
    if "prepare" in commands:
        prepare = fastpitch("prepare", data, "--out", features, "--workers", "1")
        same = lambda: features_equal(features, reference)  # noqa: E731
        results.append(
            kill_loop("prepare", prepare, kills, lambda: None, rng, same, features, removing(features))
        )
    else:
        shutil.copytree(reference, features)
    if "train-vocoder" in commands:
        results.append(kill_train_vocoder(data, work / "vocoder", kills, rng, train_steps))
    run_dir = work / "run"
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

        check = lambda: check_checkpoints(run_dir)  # noqa: E731
        results.append(kill_loop("train", train, kills, check, rng, trained, run_dir, removing(run_dir)))
    elif {"voice-create", "export"} & set(commands) and run(train).returncode != 0:
        raise RuntimeError("training the tiny model failed")
    voice = work / "voice"
    create = fastpitch("voice", "create", run_dir, "--out", voice)
    if "voice-create" in commands:

        def created() -> None:
            if not check_voice(voice):
                raise AssertionError("the voice made by the rerun does not load")

        check = lambda: check_voice(voice)  # noqa: E731
        results.append(kill_loop("voice create", create, kills, check, rng, created, voice, removing(voice)))
    elif "export" in commands and run(create).returncode != 0:
        raise RuntimeError("voice create failed")
    if "export" in commands:
        pristine = work / "voice-before-export"
        shutil.copytree(voice, pristine)

        def exported() -> None:
            if not check_voice(voice, onnx=True):
                raise AssertionError("the ONNX models made by the rerun do not load")

        def unexported() -> None:
            shutil.rmtree(voice)
            shutil.copytree(pristine, voice)

        check = lambda: check_voice(voice, onnx=True)  # noqa: E731
        export = fastpitch("export", voice)
        results.append(kill_loop("export", export, kills, check, rng, exported, voice, unexported))
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
    if run(command).returncode != 0:
        raise RuntimeError("a clean corpus synth failed")
    reference = (root / "metadata.csv").read_text()

    def complete() -> None:
        check_corpus(root)
        if (root / "metadata.csv").read_text() != reference:
            raise AssertionError("the rerun's metadata.csv differs from a clean run's")

    return kill_loop(
        "corpus synth", command, kills, lambda: check_corpus(root), rng, complete, root, removing(root)
    )


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
    return kill_loop("train-vocoder", command, kills, check, rng, trained, run_dir, removing(run_dir))


VOCODER_TINY = (
    "model.dim=16", "model.intermediate_dim=32", "model.n_layers=1", "train.batch_size=2",
    "train.segment_frames=8", "train.val_every=1000", "train.checkpoint_every=2", "train.val_utterances=1",
)  # fmt: skip
