"""`fastpitch bench fuzz`: hostile texts through the text frontend and a synthesizer, counting crashes and hangs.

Every input must either be spoken (finite float32 audio) or refused with a `FastPitchError` (a clear message,
such as "nothing to say" or "text is too long"); any other exception is a crash. An input is a hang when its own
work, the CPU seconds of this process while it runs (one synthesis thread by default, so no spinning pool inflates
them), passes `hang_s`, or when it runs for `stuck_s` of wall time (waiting on something that never comes). Wall
time is reported too, but on a shared machine it measures the neighbours as much as the input. The texts are drawn from a seeded generator (`hostile_text`), so a run can be repeated:
arbitrary code points of every plane, lone surrogates, NUL and control characters, combining marks piled on one
letter, right-to-left scripts, huge numbers and long runs of digits or punctuation, very long words, and each of
these mixed into ordinary English. SSML is fuzzed elsewhere.
"""

from __future__ import annotations

import random
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import numpy as np

from fastpitch.errors import FastPitchError

WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "said",
    "hello",
    "to",
    "Dr.",
    "Smith",
    "on",
    "Jan.",
    "5",
    "at",
    "3:30",
    "pm",
    "and",
    "paid",
    "$3.50",
    "for",
    "2",
    "items",
]
PUNCTUATION = ".,;:!?-'\"()[]{}…—–/\\@#%^&*_+=<>|~`"
DIGITS = "0123456789"
COMBINING = [chr(c) for c in range(0x0300, 0x0370)]
RTL = "שלום עולם مرحبا بالعالم ‏‎‮‭"
SPECIAL = ["\x00", "\ufeff", "\u200b", "\u200d", "\ufffd", "\uffff", "\r", "\t", "\x0b", "\x1b", "\u2028"]
NUMBERS = [
    "1e308",
    "-0",
    "0.000000000000001",
    "1,000,000,000,000,000,000,000",
    "$99999999999999999999.99",
    "12:99",
    "31/31/9999",
    "1st 2nd 3rd 111th",
    "½ ⅞ ² ³ ١٢٣ ๑๒๓ 〇",
    "Ⅻ MCMXCIX",
    "3.14.15.92",
    "--5",
    "+-+-1",
    "100%%%",
    "#1#2#3",
]


def _code_point(rng: random.Random) -> str:
    """Any code point of any plane, lone surrogates included (Python strings may hold them)."""
    plane = rng.choice((0, 0, 0, 1, 2, 3, 14, 15, 16))
    return chr(plane * 0x10000 + rng.randrange(0x10000))


def _run(rng: random.Random, alphabet: str, longest: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, longest)))


def _piece(rng: random.Random) -> str:
    kind = rng.randrange(10)
    if kind == 0:
        return "".join(_code_point(rng) for _ in range(rng.randint(1, 40)))
    if kind == 1:
        return rng.choice("aeiouxyz") + "".join(rng.choice(COMBINING) for _ in range(rng.randint(1, 200)))
    if kind == 2:
        return _run(rng, RTL, 60)
    if kind == 3:
        return _run(rng, DIGITS, rng.choice((5, 30, 300, 1200)))
    if kind == 4:
        return _run(rng, PUNCTUATION, rng.choice((5, 50, 500)))
    if kind == 5:
        return _run(rng, "abcdefghijklmnopqrstuvwxyz", rng.choice((20, 200, 1000)))
    if kind == 6:
        return rng.choice(NUMBERS)
    if kind == 7:
        return "".join(rng.choice(SPECIAL) for _ in range(rng.randint(1, 10)))
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 12)))


def hostile_text(rng: random.Random) -> str:
    """One fuzz input: one to five pieces of the kinds above, joined by spaces or nothing."""
    return rng.choice((" ", "", "\n")).join(_piece(rng) for _ in range(rng.randint(1, 5)))


class Hang(Exception):
    """An input took longer than the hang limit."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise `Hang` in this (main) thread after `seconds`; elsewhere, or where SIGALRM is missing, no limit."""
    usable = hasattr(signal, "setitimer") and _is_main_thread()
    if not usable:
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise Hang(f"over {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _is_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def check_audio(audio: Any) -> None:
    """What every spoken input must give: a non-empty 1-D finite float32 array."""
    if not isinstance(audio, np.ndarray) or audio.dtype != np.float32 or audio.ndim != 1 or not audio.size:
        raise AssertionError(f"bad audio: {type(audio).__name__} {getattr(audio, 'shape', '')}")
    if not np.isfinite(audio).all():
        raise AssertionError("non-finite audio")


def fuzz_one(engine: Any, text: str) -> str:
    """'spoken' or 'refused'; raises on a crash. The frontend runs alone first, then the whole synthesizer."""
    with suppress(FastPitchError):
        engine.frontend.encode(text)
    try:
        audio, _ = engine.synthesize(text)
    except FastPitchError:
        return "refused"
    check_audio(audio)
    return "spoken"


def shown(text: str, limit: int = 120) -> str:
    """A printable, bounded form of an input for the report."""
    r = ascii(text)
    return r if len(r) <= limit else r[: limit - 12] + f"...({len(text)} chars)"


def _percentiles(seconds: np.ndarray) -> dict[str, float]:
    return {
        "p50": round(float(np.percentile(seconds, 50)), 4),
        "p99": round(float(np.percentile(seconds, 99)), 4),
        "max": round(float(seconds.max()), 3),
    }


def run_fuzz(
    engine: Any,
    n: int,
    seed: int = 0,
    hang_s: float = 10.0,
    progress: Callable[[int], None] | None = None,
    stuck_s: float = 60.0,
) -> dict:
    """Feed `n` hostile texts to `engine` (a `SpeechEngine`); count outcomes, keep the crashes and slowest."""
    rng = random.Random(seed)
    outcomes = {"spoken": 0, "refused": 0}
    crashes: list[dict] = []
    hangs: list[dict] = []
    timings: list[tuple[float, float, str]] = []  # (CPU s, wall s, text)
    started = time.perf_counter()
    for i in range(n):
        text = hostile_text(rng)
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            with time_limit(stuck_s):
                outcomes[fuzz_one(engine, text)] += 1
        except Hang:
            hangs.append(
                {"input": shown(text), "chars": len(text), "why": f"still running after {stuck_s:g} s"}
            )
        except Exception as e:  # anything that is not a FastPitchError is what this benchmark looks for
            crashes.append({"input": shown(text), "error": f"{type(e).__name__}: {e}"[:300]})
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        if hang_s < cpu < stuck_s:
            hangs.append({"input": shown(text), "chars": len(text), "why": f"{cpu:.1f} CPU s"})
        timings.append((cpu, wall, text))
        if progress is not None:
            progress(i + 1)
    cpu_s = np.array([c for c, _, _ in timings]) if timings else np.zeros(1)
    wall_s = np.array([w for _, w, _ in timings]) if timings else np.zeros(1)
    slowest = sorted(timings, key=lambda item: -item[0])[:5]
    return {
        "inputs": n,
        "seed": seed,
        "spoken": outcomes["spoken"],
        "refused": outcomes["refused"],
        "crashes": len(crashes),
        "crash_samples": crashes[:10],
        "hangs": len(hangs),
        "hang_limit_cpu_s": hang_s,
        "stuck_limit_s": stuck_s,
        "hang_samples": hangs[:10],
        "input_cpu_s": _percentiles(cpu_s),
        "input_wall_s": _percentiles(wall_s),
        "over_hang_limit_wall": int((wall_s > hang_s).sum()),
        "slowest": [
            {"cpu_s": round(c, 3), "wall_s": round(w, 3), "chars": len(text), "input": shown(text)}
            for c, w, text in slowest
        ],
        "wall_s": round(time.perf_counter() - started, 1),
    }


def bench_fuzz(
    voice: str | None = None,
    engine: str = "onnx",
    n: int = 10000,
    seed: int = 0,
    max_chars: int = 500,
    hang_s: float = 10.0,
    progress: Callable[[int], None] | None = None,
    threads: int = 1,
) -> dict:
    """`run_fuzz` on a voice (None: the shipped one) with the ONNX runtime or torch on `threads` threads, texts
    capped at `max_chars` as a server would (longer ones must be refused cleanly)."""
    if engine == "onnx":
        from fastpitch.runtime import OnnxSynthesizer

        tts: Any = OnnxSynthesizer.load(voice, threads=threads, max_chars=max_chars)
    elif engine == "torch":
        from fastpitch.synthesis import Synthesizer

        tts = Synthesizer.load(voice, threads=threads, max_chars=max_chars)
    else:
        raise FastPitchError(f"unknown engine {engine!r}: onnx or torch")
    result = run_fuzz(tts, n, seed, hang_s, progress)
    return {
        "benchmark": "fuzz",
        "engine": engine,
        "voice": voice or "default",
        "max_chars": max_chars,
        "threads": threads,
        "python": sys.version.split()[0],
        **result,
    }
