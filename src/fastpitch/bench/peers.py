"""`fastpitch bench peers`: fastpitch (ONNX runtime and torch) against hibari-tts, the fastest small offline voice.

Issue 17 asks for end-to-end synthesis at least 1.5x hibari's speed at its quality; this is the yardstick. Every
(engine, thread count) pair runs in its own spawned process, so no engine shares a thread pool, an allocator or
an import with another, and each sets its threads before its engine loads: ONNX Runtime's intra-op threads,
`torch.set_num_threads`, `Hibari(threads=N)`, and OMP/OpenBLAS/MKL limits for whatever numpy or a library
computes on the side. Each worker reads the sentence set once to warm up, then `rounds` times; the rounds take
turns across workers (the order rotating each round) so that load from other processes on a shared machine hits
every engine alike. The best round's wall time gives the real-time factor; each sentence's best time over the
rounds gives the latency figures. Engines run as their users get them: the ONNX runtime as `OnnxSynthesizer`,
torch as `Synthesizer.load` (which raises glibc's malloc thresholds), hibari as `Hibari()(text)`, with a fixed
noise seed per sentence so every round reads the same audio.

`speed_vs_hibari` is a fastpitch engine's real-time factor over hibari's at the same thread count (above 1:
faster; the issue's goal is 1.5). The voices speak at different rates, so it is the fair ratio; the mean
latency ratio is given beside it. With `quality`, DNSMOS (P.808, OVRL) and pocketsphinx's word error rate of
each engine's warm-up audio (the same at every thread count) stand beside the speed figures.

The sentences are written for this benchmark (not drawn from any training corpus): ordinary read English of
8 to 20 words, no digits, so that the recognizer's word error rate compares engines and not number reading.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from multiprocessing import get_context
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from fastpitch.cpu import describe_cpu
from fastpitch.data.teacher import HIBARI_INSTALL
from fastpitch.errors import FastPitchError

SENTENCES: tuple[str, ...] = (
    "The ferry left the harbour an hour late because of the fog.",
    "She kept every letter her grandmother had written in a wooden box under the bed.",
    "Please close the kitchen window before the rain starts.",
    "Our neighbours planted a row of young apple trees along the fence last spring.",
    "The committee will announce its decision after lunch on Thursday.",
    "He tuned the old piano by ear and then played a slow waltz for the children.",
    "A narrow path winds through the marsh to a small stone chapel.",
    "The library stays open late during the examination weeks.",
    "When the power failed, the whole street lit candles and carried on with dinner.",
    "I would rather walk to the station than wait for the next bus.",
    "The museum's new wing holds a collection of maps from the age of sail.",
    "Mix the flour and the butter with your fingertips until it looks like breadcrumbs.",
    "Nobody expected the quiet student to win the debate so easily.",
    "The river rose quickly after three days of heavy rain in the hills.",
    "Could you tell me where the nearest pharmacy is?",
    "The engineers checked every bolt on the bridge before they opened it to traffic.",
    "A flock of geese flew low over the field, calling to one another.",
    "Her first novel was rejected twelve times before a small press accepted it.",
    "The market sells fresh fish, warm bread and bright bunches of flowers.",
    "They painted the fishing boat blue and named it after their daughter.",
    "The mountain road is closed in winter, so the village is reached by train.",
    "He apologised for the delay and promised to send the report tomorrow morning.",
    "Thunder rolled across the valley as the hikers hurried down the slope.",
    "The orchestra rehearsed the final movement until every entry was clean.",
    "Keep the receipt in case the jacket does not fit.",
    "The lighthouse has guided ships past these rocks for more than a century.",
    "My brother repairs bicycles in a workshop behind the bakery.",
    "The new policy will make it easier for families to find childcare.",
    "After the storm, the beach was covered with seaweed and broken shells.",
    "She speaks quietly, but everyone in the room listens when she does.",
    "The train to the coast was crowded with students going home for the holidays.",
    "A good map and a warm coat are all you need for this walk.",
    "The baker opens his shop at dawn and sells out of rolls by nine.",
    "Scientists have found that the frogs return to the same pond every year.",
    "We watched the sun set behind the hills from the top of the tower.",
    "The captain ordered the crew to lower the sails and wait for the tide.",
    "Reading aloud to young children helps them learn new words.",
    "The gardeners cut back the roses and covered the beds with straw for the winter.",
    "If the lift is broken again, take the stairs at the end of the corridor.",
    "The old clock in the hall still chimes every quarter of an hour.",
)

ENGINES = ("onnx", "torch", "hibari")
FASTPITCH_ENGINES = ("onnx", "torch")
ENGINE_NAMES = {
    "onnx": "fastpitch ONNX runtime (OnnxSynthesizer)",
    "torch": "fastpitch torch (Synthesizer)",
    "hibari": "hibari-tts heart",
}
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class PeerUnavailable(Exception):
    """An engine that cannot run here (hibari-tts not installed, a voice without ONNX models)."""

    def __init__(self, reason: str, install: str | None = None) -> None:
        super().__init__(reason)
        self.install = install


def hibari_installed() -> bool:
    """Whether hibari-tts can be imported here (checked in the parent, before any worker starts)."""
    return importlib.util.find_spec("hibari") is not None


def load_engine(engine: str, threads: int, voice: str | None) -> Callable[[str], tuple[np.ndarray, int]]:
    """A text -> (audio, sample rate) function for `engine` on `threads` threads; call only in a fresh process,
    as the thread settings must come before the engine's libraries start their pools."""
    if engine == "onnx":
        from fastpitch.runtime import OnnxSynthesizer
        from fastpitch.voice import VoiceError

        try:
            onnx = OnnxSynthesizer.load(voice, threads=threads)
        except VoiceError as e:
            raise PeerUnavailable(str(e)) from None
        return onnx.synthesize
    if engine == "torch":
        import torch

        torch.set_num_threads(threads)
        from fastpitch.synthesis import Synthesizer

        return Synthesizer.load(voice, threads=threads).synthesize
    if engine == "hibari":
        try:
            from hibari import Hibari
        except ImportError:
            raise PeerUnavailable("hibari-tts is not installed", HIBARI_INSTALL) from None
        tts = Hibari(threads=threads)

        def read(text: str) -> tuple[np.ndarray, int]:
            return tts(text, seed=zlib.crc32(text.encode())), int(tts.sample_rate)

        return read
    raise ValueError(f"unknown engine {engine!r}; use {', '.join(ENGINES)}")


def serve(conn: Connection, engine: str, threads: int, voice: str | None) -> None:
    """A worker's entry point (its own spawned process): load the engine, then answer the parent's requests.

    Requests: ("warm", sentences, keep_audio) reads each sentence once and answers each one's sample count,
    the sample rate and, if asked, the audio; ("round", sentences) answers per-sentence and whole-round wall
    seconds; None ends the worker."""
    try:
        synthesize = load_engine(engine, threads, voice)
    except PeerUnavailable as e:
        conn.send({"unavailable": str(e), "install": e.install})
        return
    except Exception as e:  # any failure to load is reported in the JSON, not as a hung parent
        conn.send({"error": f"{type(e).__name__}: {e}"})
        return
    conn.send({"ready": True})
    while (request := conn.recv()) is not None:
        if request[0] == "warm":
            outputs = [synthesize(text) for text in request[1]]
            conn.send(
                {
                    "samples": [len(audio) for audio, _ in outputs],
                    "sample_rate": outputs[0][1] if outputs else 0,
                    "audio": [np.asarray(audio, np.float32) for audio, _ in outputs] if request[2] else None,
                }
            )
        else:
            latencies = []
            start = time.perf_counter()
            for text in request[1]:
                t = time.perf_counter()
                synthesize(text)
                latencies.append(time.perf_counter() - t)
            conn.send({"wall": time.perf_counter() - start, "latencies": latencies})


@contextlib.contextmanager
def _thread_env(threads: int) -> Iterator[None]:
    """Environment thread limits for a process started inside the block (a spawned child inherits them)."""
    saved = {key: os.environ.get(key) for key in THREAD_ENV}
    os.environ.update({key: str(threads) for key in THREAD_ENV})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class Worker:
    """The parent's handle on one (engine, threads) process."""

    def __init__(self, engine: str, threads: int, voice: str | None) -> None:
        self.engine, self.threads = engine, threads
        ctx = get_context("spawn")  # a fork would inherit the parent's thread pools and imports
        self.conn, child = ctx.Pipe()
        with _thread_env(threads):
            self.process = ctx.Process(target=serve, args=(child, engine, threads, voice), daemon=True)
            self.process.start()
        child.close()

    def ask(self, request: Any) -> dict[str, Any]:
        """Send one request and wait for its answer; a worker that failed while reading raises."""
        self.conn.send(request)
        answer = self.reply()
        if "error" in answer:
            raise FastPitchError(
                f"the {self.engine} worker ({self.threads} threads) failed: {answer['error']}"
            )
        return answer

    def reply(self) -> dict[str, Any]:
        """The next answer; an error when the worker died without one."""
        try:
            return self.conn.recv()
        except EOFError:
            self.process.join()
            return {"error": f"worker exited with code {self.process.exitcode}"}

    def close(self) -> None:
        """Ask the worker to stop and wait for it."""
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.process.join(timeout=30)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


def latency_stats(seconds: Sequence[float]) -> dict[str, float]:
    """Mean, median and 90th percentile of per-sentence latencies, in milliseconds."""
    ms = np.asarray(seconds, np.float64) * 1e3
    return {
        "mean": round(float(ms.mean()), 2),
        "p50": round(float(np.percentile(ms, 50)), 2),
        "p90": round(float(np.percentile(ms, 90)), 2),
    }


def summarize(
    samples: Sequence[int], sample_rate: int, walls: Sequence[float], latencies: Sequence[Sequence[float]]
) -> dict[str, Any]:
    """One engine's figures at one thread count from its rounds: the best round's wall time against the audio
    it made, and each sentence's best latency over the rounds."""
    audio_s = sum(samples) / sample_rate
    wall = min(walls)
    best = np.min(np.asarray(latencies, np.float64), axis=0)
    return {
        "audio_seconds": round(audio_s, 3),
        "wall_seconds": round(wall, 6),
        "x_realtime": round(audio_s / wall, 2),
        "latency_ms": latency_stats(best),
        "round_wall_seconds": [round(w, 6) for w in walls],
    }


def compare(runs: dict[str, dict[int, dict[str, Any]]]) -> dict[str, dict[str, dict[str, float]]]:
    """Each fastpitch engine against hibari at each thread count where both ran: real-time factor ratio
    (`speed_vs_hibari`, above 1 is faster) and mean latency ratio (`latency_vs_hibari`, below 1 is faster)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for threads, peer in runs.get("hibari", {}).items():
        for engine in FASTPITCH_ENGINES:
            ours = runs.get(engine, {}).get(threads)
            if ours is None:
                continue
            out.setdefault(str(threads), {})[engine] = {
                "speed_vs_hibari": round(ours["x_realtime"] / peer["x_realtime"], 3),
                "latency_vs_hibari": round(ours["latency_ms"]["mean"] / peer["latency_ms"]["mean"], 3),
            }
    return out


def quality_available() -> bool:
    """Whether the judges (speechmos for DNSMOS, pocketsphinx and jiwer for the word error rate) are installed."""
    return all(importlib.util.find_spec(m) is not None for m in ("speechmos", "pocketsphinx", "jiwer"))


def score_quality(
    audio: Sequence[np.ndarray], sample_rate: int, sentences: Sequence[str], stream: str
) -> dict[str, Any]:
    """Mean DNSMOS P.808 and OVRL over the clips and the recognizer's word error rate against `sentences`."""
    from fastpitch.evaluation.asr import Recognizer
    from fastpitch.evaluation.metrics import word_errors
    from fastpitch.evaluation.naturalness import dnsmos, mean_scores

    scores = mean_scores([dnsmos(wav, sample_rate) for wav in audio]) or {}
    recognizer = Recognizer()
    words = word_errors(sentences, [recognizer.transcribe(wav, sample_rate, stream) for wav in audio])
    return {
        "dnsmos_p808": round(scores["p808_mos"], 3),
        "dnsmos_ovrl": round(scores["ovrl_mos"], 3),
        "wer": round(float(words["wer"]), 4),
        "words": words["words"],
    }


def bench_peers(
    voice: str | Path | None = None,
    engines: Sequence[str] = ENGINES,
    threads: Sequence[int] = (1, 2),
    rounds: int = 3,
    sentences: int | Sequence[str] = len(SENTENCES),
    quality: bool | None = None,
) -> dict[str, Any]:
    """Run the benchmark (see the module docstring) and return its JSON-able report. `sentences` is a count of
    the built-in set or the sentences themselves; `quality` None scores quality where the judges are installed."""
    texts = list(SENTENCES[:sentences] if isinstance(sentences, int) else sentences)
    if not texts or rounds < 1 or not threads:
        raise FastPitchError("the benchmark needs at least one sentence, one round and one thread count")
    unknown = [e for e in engines if e not in ENGINES]
    if unknown:
        raise FastPitchError(f"unknown engine(s) {', '.join(unknown)}; use {', '.join(ENGINES)}")
    if quality is None:
        quality = quality_available()
    elif quality and not quality_available():
        raise FastPitchError(
            'the quality scores need speechmos, pocketsphinx and jiwer: pip install "fastpitch[eval]" '
            "(or run with --no-quality)"
        )
    voice_arg = str(voice) if voice is not None else None
    skipped: dict[str, dict[str, Any]] = {}
    if "hibari" in engines and not hibari_installed():
        skipped["hibari"] = {"reason": "hibari-tts is not installed", "install": HIBARI_INSTALL}
    wanted = [e for e in engines if e not in skipped]
    load_before = os.getloadavg()[0]

    workers = [Worker(e, n, voice_arg) for n in threads for e in wanted]
    live: list[Worker] = []
    samples: dict[tuple[str, int], tuple[list[int], int]] = {}
    audio: dict[str, tuple[list[np.ndarray], int]] = {}
    try:
        for w in workers:
            ready = w.reply()
            if "ready" in ready:
                live.append(w)
            elif w.engine not in skipped:
                entry = {"reason": ready.get("unavailable") or ready.get("error")}
                if ready.get("install"):
                    entry["install"] = ready["install"]
                skipped[w.engine] = entry
        live = [w for w in live if w.engine not in skipped]
        for w in live:
            keep = quality and w.engine not in audio
            warm = w.ask(("warm", texts, keep))
            samples[(w.engine, w.threads)] = (warm["samples"], warm["sample_rate"])
            if keep:
                audio[w.engine] = (warm["audio"], warm["sample_rate"])
        walls: dict[tuple[str, int], list[float]] = {key: [] for key in samples}
        latencies: dict[tuple[str, int], list[list[float]]] = {key: [] for key in samples}
        for r in range(rounds if live else 0):
            turn = r % len(live)  # who goes first rotates, so no engine always follows the same one
            for w in live[turn:] + live[:turn]:
                answer = w.ask(("round", texts))
                walls[(w.engine, w.threads)].append(answer["wall"])
                latencies[(w.engine, w.threads)].append(answer["latencies"])
    finally:
        for w in workers:
            w.close()

    runs: dict[str, dict[int, dict[str, Any]]] = {}
    for (engine, n), (counts, rate) in samples.items():
        runs.setdefault(engine, {})[n] = summarize(counts, rate, walls[(engine, n)], latencies[(engine, n)])
    report_runs = [
        {"engine": engine, "name": ENGINE_NAMES[engine], "threads": n, **runs[engine][n]}
        for n in threads
        for engine in wanted
        if n in runs.get(engine, {})
    ]
    scores = (
        {engine: score_quality(clips, rate, texts, engine) for engine, (clips, rate) in audio.items()}
        if quality
        else None
    )
    return {
        "benchmark": "peers",
        "voice": _voice_name(voice),
        "sentences": len(texts),
        "rounds": rounds,
        "threads": list(threads),
        "runs": report_runs,
        "vs_hibari": compare(runs),
        "goal_speed_vs_hibari": 1.5,
        "quality": scores,
        "skipped": skipped,
        "cpu": describe_cpu(),
        "cpu_count": os.cpu_count(),
        "load_average_before": round(load_before, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
        "versions": _versions(),
    }


def _voice_name(voice: str | Path | None) -> str | None:
    from fastpitch.voice import VoiceError, read_voice

    try:
        return read_voice(voice).name
    except VoiceError:
        return str(voice) if voice is not None else None


def _versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for dist in ("onnxruntime", "torch", "hibari-tts"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = None
    return out
