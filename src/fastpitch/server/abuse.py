"""The server under abuse (`fastpitch bench serve --abuse`): valid requests mixed with bad ones, slow clients and
idle connections, all on loopback, every wait bounded.

Each request has the statuses it may get: a valid one 200 or 503 (backpressure), a bad one its 4xx. Anything
else, a 500 or a dropped connection for a request that deserved an answer, is counted as unexpected. The
server's memory is sampled before and after (RSS of the process given, from /proc).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np

SPEECH = "/v1/audio/speech"
KINDS = (
    "valid",
    "valid",
    "valid",
    "oversized_body",
    "wrong_type",
    "bad_json",
    "at_limit",
    "over_limit",
    "unknown_voice",
    "trickle",
    "never_read",
)


def rss_mb(pid: int) -> float | None:
    """Resident memory of process `pid` in MB, or None where /proc is missing."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _request(kind: str, max_chars: int) -> tuple[bytes, set[int]]:
    """The JSON body of one request of `kind` and the statuses it may get."""
    body: object
    if kind in ("valid", "trickle", "never_read"):
        body, ok = {"input": "Hello there.", "response_format": "wav"}, {200, 503}
    elif kind == "oversized_body":
        return b'{"input": "' + b"a" * (6 * max_chars + 70000) + b'"}', {413}
    elif kind == "wrong_type":
        body, ok = {"input": ["not", "a", "string"], "speed": "fast"}, {422}
    elif kind == "bad_json":
        return b'{"input": "Hello', {400}
    elif kind == "at_limit":
        body, ok = {"input": ("ab. " * max_chars)[:max_chars], "response_format": "wav"}, {200, 503}
    elif kind == "over_limit":
        body, ok = {"input": "a" * (max_chars + 1)}, {413}
    else:
        body, ok = {"input": "Hello.", "voice": "no-such-voice"}, {400}
    return json.dumps(body).encode(), ok


async def _raw(
    host: str, port: int, body: bytes, trickle_s: float, read: bool, timeout_s: float
) -> int | None:
    """POST `body` over a raw socket, in 4 pieces `trickle_s` apart; the status if `read`, else close unread."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    try:
        head = (
            f"POST {SPEECH} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        writer.write(head)
        step = max(1, len(body) // 4)
        for i in range(0, len(body), step):
            writer.write(body[i : i + step])
            await writer.drain()
            await asyncio.sleep(trickle_s)
        if not read:
            return None
        line = await asyncio.wait_for(reader.readline(), timeout_s)
        await asyncio.wait_for(reader.read(), timeout_s)
        return int(line.split()[1])
    finally:
        writer.close()


async def abuse_test(
    base_url: str,
    requests: int = 1000,
    concurrency: int = 32,
    max_chars: int = 200,
    held_open: int = 50,
    server_pid: int | None = None,
    seed: int = 0,
    timeout_s: float = 120.0,
) -> dict:
    """Send `requests` mixed requests `concurrency` at a time while `held_open` idle connections stay open."""
    url = urlsplit(base_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    rng = random.Random(seed)
    kinds = [rng.choice(KINDS) for _ in range(requests)]
    statuses: Counter[str] = Counter()
    unexpected: list[str] = []
    latencies: list[float] = []
    rss_before = rss_mb(server_pid) if server_pid else None
    idle = [await asyncio.open_connection(host, port) for _ in range(held_open)]
    queue = iter(kinds)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=base_url, timeout=timeout_s, limits=limits) as client:

        async def worker() -> None:
            for kind in queue:
                body, ok = _request(kind, max_chars)
                started = time.perf_counter()
                try:
                    if kind in ("trickle", "never_read"):
                        status = await _raw(host, port, body, 0.05, kind == "trickle", timeout_s)
                    else:
                        headers = {"Content-Type": "application/json"}
                        status = (await client.post(SPEECH, content=body, headers=headers)).status_code
                except (httpx.HTTPError, OSError, asyncio.TimeoutError, IndexError, ValueError) as e:
                    unexpected.append(f"{kind}: {type(e).__name__}: {e}"[:200])
                    continue
                statuses[f"{kind}:{status}"] += 1
                if status is not None and status not in ok:
                    unexpected.append(f"{kind}: status {status}")
                if status == 200 and kind in ("valid", "trickle"):
                    latencies.append(time.perf_counter() - started)

        wall_start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall_s = time.perf_counter() - wall_start
        for _, writer in idle:
            writer.close()
        await asyncio.sleep(0.5)
        try:
            healthy = (await client.get("/healthz")).status_code == 200
        except httpx.HTTPError:
            healthy = False
    rss_after = rss_mb(server_pid) if server_pid else None
    ms = np.asarray(latencies) * 1000
    return {
        "requests": requests,
        "concurrency": concurrency,
        "held_open": held_open,
        "max_chars": max_chars,
        "kinds": dict(Counter(kinds)),
        "statuses": dict(sorted(statuses.items())),
        "unexpected": len(unexpected),
        "unexpected_samples": unexpected[:10],
        "served_500": sum(v for k, v in statuses.items() if k.endswith(":500")),
        "latency_ms": {
            "p50": round(float(np.percentile(ms, 50)), 1) if ms.size else None,
            "p95": round(float(np.percentile(ms, 95)), 1) if ms.size else None,
        },
        "rss_mb": {
            "before": None if rss_before is None else round(rss_before, 1),
            "after": None if rss_after is None else round(rss_after, 1),
            "growth": None if rss_before is None or rss_after is None else round(rss_after - rss_before, 1),
        },
        "wall_s": round(wall_s, 2),
        "healthy_after": healthy,
    }


def bench_abuse(
    voices: list[str],
    requests: int = 1000,
    concurrency: int = 32,
    max_chars: int = 200,
    max_concurrency: int | None = None,
    queue_size: int | None = None,
) -> dict:
    """Start `fastpitch serve` on a free loopback port, warm it up, abuse it, stop it with SIGTERM."""
    import logging

    from fastpitch.server.loadtest import free_port, running_server, serve_command, wait_healthy

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    command = [*serve_command(voices, max_concurrency, queue_size), "--max-chars", str(max_chars)]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    logging.getLogger("httpx").setLevel(logging.WARNING)
    process_pid: list[int] = []

    def ready(process) -> None:
        process_pid.append(process.pid)
        wait_healthy(base_url, process)

    with running_server(command, ready) as outcome:
        started_mb = rss_mb(process_pid[0])
        asyncio.run(warm_up(base_url, max_chars, workers=max_concurrency or os.cpu_count() or 1))
        result = asyncio.run(
            abuse_test(base_url, requests, concurrency, max_chars, server_pid=process_pid[0])
        )
    result["rss_mb"]["at_start"] = None if started_mb is None else round(started_mb, 1)
    return {"benchmark": "serve-abuse", **result, "clean_shutdown": outcome["clean_shutdown"]}


async def warm_up(base_url: str, max_chars: int, workers: int) -> None:
    """Every worker makes the largest valid request twice, so that the memory a worker takes once (the allocator's
    buffers for the longest text, a thread's malloc arena) is taken before the run measures growth: what the run
    then measures is what grows with the number of requests, a leak."""
    body, _ = _request("at_limit", max_chars)
    headers = {"Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        for _ in range(2):
            await asyncio.gather(
                *(client.post(SPEECH, content=body, headers=headers) for _ in range(workers))
            )
