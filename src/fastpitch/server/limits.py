"""Backpressure for synthesis: a few jobs run in worker threads, a bounded number wait, the rest are turned away.

Synthesis is CPU-bound, so it runs in a thread pool and never on the event loop. A slot is held until the worker
thread has really finished, even when the client gave up or the request timed out, so a hung or slow job keeps
counting against the limit instead of letting work pile up behind the server's back.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class Busy(Exception):
    """Every slot is taken and the queue is full; `retry_after` is a hint in whole seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"server busy, retry after {retry_after} s")
        self.retry_after = retry_after


class Limiter:
    """At most `max_concurrency` jobs run and at most `queue_size` wait; `Busy` beyond that."""

    def __init__(self, max_concurrency: int, queue_size: int) -> None:
        if max_concurrency < 1 or queue_size < 0:
            raise ValueError("max_concurrency must be ≥ 1 and queue_size ≥ 0")
        self.max_concurrency = max_concurrency
        self.queue_size = queue_size
        self.executor = ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="fastpitch-synth")
        self._slots = asyncio.Semaphore(max_concurrency)
        self._admitted = 0  # running + waiting
        self._running = 0
        self._mean_job_s = 1.0  # running mean of job length, for Retry-After

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return self._admitted - self._running

    def retry_after(self) -> int:
        """Roughly how long until a slot frees up: the queue ahead divided among the workers."""
        return max(1, math.ceil(self._mean_job_s * (self.queue_size + 1) / self.max_concurrency))

    async def acquire(self, timeout: float) -> Slot:
        """Wait up to `timeout` s for a free slot; `Busy` at once when the queue is full, `TimeoutError` after."""
        if self._admitted >= self.max_concurrency + self.queue_size:
            raise Busy(self.retry_after())
        self._admitted += 1
        try:
            await asyncio.wait_for(self._slots.acquire(), timeout)
        except BaseException:
            self._admitted -= 1
            raise
        self._running += 1
        return Slot(self)

    def _release(self, busy_s: float) -> None:
        self._mean_job_s = 0.8 * self._mean_job_s + 0.2 * busy_s
        self._running -= 1
        self._admitted -= 1
        self._slots.release()

    def shutdown(self) -> None:
        """Drop queued jobs; running ones finish on their own (uvicorn has already waited for the requests)."""
        self.executor.shutdown(wait=False, cancel_futures=True)


class Slot:
    """One admitted job: runs its steps in the worker pool; freed after `release()` and its last step."""

    def __init__(self, limiter: Limiter) -> None:
        self._limiter = limiter
        self._started = time.monotonic()
        self._pending: asyncio.Future | None = None
        self._released = False
        self._freed = False

    def start(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Start `fn(*args)` in a worker thread; the slot stays taken until it returns."""
        loop = asyncio.get_running_loop()
        self._pending = loop.run_in_executor(self._limiter.executor, fn, *args)
        self._pending.add_done_callback(self._step_done)
        return self._pending

    async def run(self, fn: Callable[..., T], *args: Any, timeout: float) -> T:
        """`fn(*args)` in a worker thread; `TimeoutError` after `timeout` s (the thread still runs to its end)."""
        return await asyncio.wait_for(asyncio.shield(self.start(fn, *args)), max(timeout, 0.0))

    def release(self) -> None:
        self._released = True
        self._maybe_free()

    def _step_done(self, future: asyncio.Future) -> None:
        if not future.cancelled():
            future.exception()  # retrieved here: nobody may be awaiting a step that timed out
        self._maybe_free()

    def _maybe_free(self) -> None:
        if self._freed or not self._released or (self._pending is not None and not self._pending.done()):
            return
        self._freed = True
        self._limiter._release(time.monotonic() - self._started)

    async def __aenter__(self) -> Slot:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()
