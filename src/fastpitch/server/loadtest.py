"""A bounded load test of a running server, and `fastpitch bench serve`, which starts one on loopback to test.

503 answers are the server's backpressure working as designed and are counted apart; anything else that is not a
200 (or a connection failure) is an error. Latencies are of successful requests, from send to last byte.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator

import httpx
import numpy as np

from fastpitch.errors import FastPitchError

DEFAULT_TEXT = "The quick brown fox jumps over the lazy dog. Then it rests in the shade of an old oak tree."


async def load_test(
    base_url: str,
    requests: int = 50,
    concurrency: int = 8,
    text: str = DEFAULT_TEXT,
    voice: str | None = None,
    api_key: str | None = None,
    timeout_s: float = 120.0,
) -> dict:
    """Send `requests` WAV requests to /v1/audio/speech, `concurrency` at a time; summarise what came back."""
    payload = {
        "model": "fastpitch",
        "input": text,
        "response_format": "wav",
        **({"voice": voice} if voice else {}),
    }
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    audio_s = 0.0
    remaining = iter(range(requests))

    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=timeout_s) as client:

        async def worker() -> None:
            nonlocal audio_s
            for _ in remaining:
                started = time.perf_counter()
                try:
                    response = await client.post("/v1/audio/speech", json=payload)
                except httpx.HTTPError as e:
                    failures.append(f"{type(e).__name__}: {e}")
                    continue
                statuses[response.status_code] += 1
                if response.status_code == 200:
                    latencies.append(time.perf_counter() - started)
                    rate = int(response.headers.get("x-sample-rate", "22050"))
                    audio_s += (len(response.content) - 44) / 2 / rate
                elif response.status_code != 503:
                    failures.append(f"{response.status_code}: {response.text[:200]}")

        wall_start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall_s = time.perf_counter() - wall_start
        try:
            healthy = (await client.get("/healthz")).status_code == 200
        except httpx.HTTPError:
            healthy = False

    ms = np.asarray(latencies) * 1000
    return {
        "requests": requests,
        "concurrency": concurrency,
        "ok": statuses[200],
        "busy_503": statuses[503],
        "errors": len(failures),
        "error_samples": failures[:5],
        "status_counts": {str(k): v for k, v in sorted(statuses.items())},
        "latency_ms": {
            "p50": round(float(np.percentile(ms, 50)), 1) if ms.size else None,
            "p95": round(float(np.percentile(ms, 95)), 1) if ms.size else None,
            "max": round(float(ms.max()), 1) if ms.size else None,
            "mean": round(float(ms.mean()), 1) if ms.size else None,
        },
        "wall_s": round(wall_s, 3),
        "throughput_rps": round(statuses[200] / wall_s, 2) if wall_s > 0 else None,
        "audio_s": round(audio_s, 2),
        "real_time_factor": round(audio_s / wall_s, 2) if wall_s > 0 else None,
        "healthy_after": healthy,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(base_url: str, process: subprocess.Popen | None = None, timeout_s: float = 180.0) -> None:
    """Poll /healthz until it answers 200; fail early if the server process has died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise FastPitchError(f"the server exited with code {process.returncode} before it was ready")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise FastPitchError(f"the server at {base_url} was not ready within {timeout_s:g} s")


def serve_command(voices: list[str], max_concurrency: int | None, queue_size: int | None) -> list[str]:
    """`fastpitch serve` with these voices and limits; the caller adds where it listens."""
    command = [sys.executable, "-m", "fastpitch", "serve"]
    for voice in voices:
        command += ["--voice", voice]
    if max_concurrency is not None:
        command += ["--max-concurrency", str(max_concurrency)]
    if queue_size is not None:
        command += ["--queue-size", str(queue_size)]
    return command


@contextlib.contextmanager
def running_server(command: list[str], wait_ready: Callable[[subprocess.Popen], None]) -> Iterator[dict]:
    """Run a server process until the block ends, then stop it with SIGTERM as a service manager would.

    `wait_ready(process)` returns once it answers; the yielded dict gets `startup_s`, and `clean_shutdown` once
    it has exited (uvicorn lets running requests finish, then re-raises SIGTERM: -15 is a clean exit too).
    """
    outcome: dict = {}
    with tempfile.TemporaryFile(mode="w+") as log:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            try:
                wait_ready(process)
            except FastPitchError as e:
                log.seek(0)
                tail = log.read()[-2000:].strip()
                raise FastPitchError(f"{e}; its output ends with:\n{tail}") from None
            outcome["startup_s"] = round(time.perf_counter() - started, 2)
            yield outcome
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                code = process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                code = None
            outcome["clean_shutdown"] = code in (0, -signal.SIGTERM)


def bench_serve(
    voices: list[str],
    requests: int = 50,
    concurrency: int = 8,
    text: str = DEFAULT_TEXT,
    max_concurrency: int | None = None,
    queue_size: int | None = None,
) -> dict:
    """Start `fastpitch serve` on a free loopback port, warm it up, load-test it, stop it with SIGTERM."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    command = [
        *serve_command(voices, max_concurrency, queue_size),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one log line per request would bury the result
    with running_server(command, lambda process: wait_healthy(base_url, process)) as outcome:
        httpx.post(
            f"{base_url}/v1/audio/speech",
            json={"input": "Warm up.", "response_format": "wav"},
            timeout=120,
        )
        health = httpx.get(f"{base_url}/healthz", timeout=10).json()
        result = asyncio.run(load_test(base_url, requests, concurrency, text))
    return {
        "benchmark": "serve",
        "text_chars": len(text),
        "server": {k: health[k] for k in ("voices", "max_concurrency", "queue_size")},
        "startup_s": outcome["startup_s"],
        **result,
        "clean_shutdown": outcome["clean_shutdown"],
    }
