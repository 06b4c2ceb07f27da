"""The skeleton every training run shares, written once for the acoustic model and the vocoders.

`Run.run` is the loop: step until `max_steps`, skip and count non-finite updates (stopping after
`max_nonfinite_steps` in a row), log, validate, keep the best step, checkpoint on a cadence and on
improvement, and checkpoint on Ctrl-C from a consistent state. Around it: device and process-group set-up
(`setup_device`), seeding and RNG isolation, AMP, metrics.jsonl + TensorBoard + audio samples (`RunLog`), the
progress bar and throughput. A family subclasses `Run` with its update, validation and checkpoint contents
(`fastpitch.train.acoustic`, `fastpitch.train.vocoder`).
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import math
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fastpitch import checkpoint as ckpt_io
from fastpitch.audio import save_audio
from fastpitch.config import ConfigError
from fastpitch.device import pick_device
from fastpitch.errors import FastPitchError
from fastpitch.train.distributed import Distributed

log = logging.getLogger(__name__)

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class NonFiniteLossError(FastPitchError):
    """Training stopped after too many consecutive non-finite losses."""


@dataclass
class Cadence:
    """How often a run logs, validates and checkpoints, and how it treats non-finite steps."""

    max_steps: int
    log_every: int
    val_every: int
    checkpoint_every: int
    max_nonfinite_steps: int

    def __post_init__(self) -> None:
        for name in ("max_steps", "log_every", "val_every", "checkpoint_every", "max_nonfinite_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"train.{name} must be 1 or more, got {getattr(self, name)}")


class _Interrupts:
    """Ctrl-C and SIGTERM (`kill`, a container or a job scheduler stopping the run) stop training with a
    checkpoint. One that arrives halfway through a weight update, or while the checkpoint is being written, waits
    for it to finish (a second Ctrl-C then cannot lose the checkpoint). Only the main thread may set signal
    handlers; in another one (a server's fine-tuning job) nothing changes."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.pending = False  # a signal arrived at an unsafe moment
        self.saving = False
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> _Interrupts:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self._arrived)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    def _arrived(self, signum: int, frame: Any) -> None:
        if self.saving or (not self.run.consistent() and not self.run.dist.enabled):
            if not self.pending:
                log.warning(
                    "interrupted: stopping once the %s is done", "checkpoint" if self.saving else "update"
                )
            self.pending = True
            return
        raise KeyboardInterrupt(f"signal {signum}")

    def check(self) -> None:
        """Stop here, between updates, if a signal waited for the update to finish."""
        if self.pending and not self.saving:
            raise KeyboardInterrupt("a signal during the update")


# ------------------------------------------------------------------------------------------------- set-up


def setup_device(name: str | None) -> tuple[torch.device, Distributed]:
    """The device (None: CUDA when available) and this process's place in a torchrun job, if any."""
    device = pick_device(name)
    dist = Distributed.from_env(device.type)
    if dist.enabled and device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
    return device, dist


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextlib.contextmanager
def preserved_rng(device: torch.device) -> Iterator[None]:
    """Run a block without disturbing the python, numpy, torch (and CUDA) random streams."""
    py, np_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        yield
    random.setstate(py)
    np.random.set_state(np_state)


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {
        k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()
    }


def amp_dtype(name: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for `train.amp` (none | bf16 | fp16); None off CUDA, where it would not pay."""
    if name not in ("none", *AMP_DTYPES):
        raise FastPitchError(f"unknown train.amp {name!r}; use none, bf16 or fp16")
    dtype = AMP_DTYPES.get(name)
    if dtype is not None and device.type != "cuda":
        log.warning("train.amp=%s needs CUDA; training in fp32 on %s", name, device)
        return None
    return dtype


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    return contextlib.nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


def finite_record(record: dict[str, Any]) -> dict[str, Any]:
    """JSON has no NaN: write non-finite numbers as strings."""
    return {k: (v if not isinstance(v, float) or math.isfinite(v) else str(v)) for k, v in record.items()}


def format_values(values: dict[str, Any]) -> str:
    return " ".join(f"{k} {v:.4g}" for k, v in values.items() if isinstance(v, (int, float)))


# ------------------------------------------------------------------------------------------------- logs


class RunLog:
    """metrics.jsonl, TensorBoard (when installed) and audio samples of one run; rank 0 opens it."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.writer: Any = None
        self._metrics = None

    def open(self, step: int) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._metrics = open(self.out_dir / "metrics.jsonl", "a")  # noqa: SIM115 - closed in close()
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            log.warning("tensorboard is not installed: no TensorBoard logs (pip install 'fastpitch[train]')")
            return
        self.writer = SummaryWriter(str(self.out_dir / "tensorboard"), purge_step=step + 1 if step else None)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self._metrics is not None:
            self._metrics.close()
            self._metrics = None

    def metrics(self, record: dict[str, Any]) -> None:
        if self._metrics is not None:
            self._metrics.write(json.dumps(finite_record(record)) + "\n")
            self._metrics.flush()

    def scalars(self, prefix: str, values: dict[str, Any], step: int) -> None:
        if self.writer is None:
            return
        for name, value in values.items():
            if isinstance(value, (int, float)) and math.isfinite(value):
                self.writer.add_scalar(f"{prefix}/{name}", value, step)

    def audio(self, tag: str, wav: np.ndarray, sample_rate: int, step: int) -> None:
        """An audio sample, to TensorBoard and as `samples/step-NNNNNNN-<tag>.wav`, peak-limited to 0.95."""
        wav = np.asarray(wav, dtype=np.float32)
        wav = wav / max(1.0, float(np.abs(wav).max(initial=0.0)) / 0.95)
        name = f"step-{step:07d}-{tag.replace('/', '-')}.wav"
        save_audio(self.out_dir / "samples" / name, wav, sample_rate)
        if self.writer is not None:
            self.writer.add_audio(tag, torch.from_numpy(wav), step, sample_rate)


class Window:
    """Throughput over the last few steps (for the progress bar) and over the whole run."""

    def __init__(self, size: int = 20) -> None:
        self.times: collections.deque[tuple[float, float]] = collections.deque(maxlen=size)
        self.start = time.perf_counter()
        self.total_frames = 0.0

    def add(self, frames: float) -> None:
        self.total_frames += frames
        self.times.append((time.perf_counter(), frames))

    def frames_per_second(self) -> float:
        if len(self.times) < 2:
            return 0.0
        span = self.times[-1][0] - self.times[0][0]
        return sum(f for _, f in list(self.times)[1:]) / span if span > 0 else 0.0

    def overall_fps(self) -> float:
        elapsed = time.perf_counter() - self.start
        return self.total_frames / elapsed if elapsed > 0 else 0.0


class Progress:
    """A rich progress bar with loss, throughput and ETA; a no-op when disabled (other ranks, tests, --quiet)."""

    def __init__(self, enabled: bool, label: str, total: int, start: int) -> None:
        self.bar = None
        if enabled:
            from rich.console import Console
            from rich.logging import RichHandler
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            # Share the console of the rich log handler, so that log lines print above the bar.
            handlers = [h for h in logging.getLogger().handlers if isinstance(h, RichHandler)]
            console = handlers[0].console if handlers else Console(stderr=True)
            self.bar = RichProgress(
                TextColumn(label),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]:.4f}  {task.fields[fps]:.0f} frames/s"),
                TimeRemainingColumn(),
                console=console,
            )
            self.task = self.bar.add_task(label, total=total, completed=start, loss=float("nan"), fps=0.0)

    def __enter__(self) -> Progress:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def update(self, step: int, loss: float, fps: float) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=step, loss=loss, fps=fps)


# ------------------------------------------------------------------------------------------------- the loop


class Run:
    """One training run: subclasses set the attributes below and implement the four hooks.

    `update()` makes one optimiser update and returns its statistics: the loss terms, `total` (the loss the
    progress bar shows), `frames` (mel frames consumed, all ranks) and `finite` (False: the update was skipped
    because the loss or gradient was not finite, and `step` did not advance).
    """

    label = "train"
    out_dir: Path
    device: torch.device
    dist: Distributed
    cadence: Cadence
    progress_enabled: bool = True
    best_val: float | None = None
    best_step: int | None = None
    last_checkpoint: Path | None = None
    deadline: float | None = None  # time.monotonic() at which to stop early (a checkpoint is saved)
    on_step: Callable[[int, int], None] | None = (
        None  # (step, max_steps) after each update, for callers' progress
    )
    _rng_before_step: dict[str, Any] | None = None  # while `update` runs

    @property
    def step(self) -> int:
        raise NotImplementedError

    def update(self) -> dict[str, Any]:
        raise NotImplementedError

    def validate(self) -> float | None:
        """The validation loss (lower is better) at this step, the same on every rank; None: no validation."""
        raise NotImplementedError

    def save(self, val_loss: float | None) -> Path | None:
        """Checkpoint this step (every rank calls it; rank 0 writes) and return its path."""
        raise NotImplementedError

    def consistent(self) -> bool:
        """True when the weights are not half-way through an update (a Ctrl-C checkpoint is safe now)."""
        return True

    def rng_state(self) -> dict[str, Any]:
        """Every random state the run draws from (`checkpoint.rng_state`; a run adds its own generators)."""
        return ckpt_io.rng_state()

    def checkpoint_rng(self) -> dict[str, Any]:
        """The random states a checkpoint records: those from before the step being taken, when a Ctrl-C
        stops it before its weights change, so that --resume draws that step's data again; else the current."""
        return self._rng_before_step or self.rng_state()

    def start(self) -> None:
        """Called once before the first step, after the logs are open."""

    def context(self) -> dict[str, Any]:
        """Where the run is besides its step (e.g. the epoch), for the training log lines."""
        return {}

    def run(self) -> float:
        """Train until `cadence.max_steps`; returns the overall throughput in frames/s. Ctrl-C, or SIGTERM,
        writes a checkpoint first."""
        with _Interrupts(self) as interrupts:
            return self._train(interrupts)

    def _train(self, interrupts: _Interrupts) -> float:
        c = self.cadence
        if self.step >= c.max_steps and self.dist.is_main:
            log.warning(
                "the run is already at step %d, not below max_steps %d: nothing to train (raise --max-steps)",
                self.step,
                c.max_steps,
            )
        self.open_logs()
        progress = Progress(self.progress_enabled and self.dist.is_main, self.label, c.max_steps, self.step)
        in_a_row = 0
        window = Window()
        try:
            self.start()
            with progress:
                while self.step < c.max_steps:
                    # At least one update, so that a spent budget still leaves a checkpoint to build on.
                    if self.deadline is not None and self.step > 0 and time.monotonic() >= self.deadline:
                        log.warning(
                            "time budget spent at step %d of %d: stopping here", self.step, c.max_steps
                        )
                        self.save(None)
                        break
                    self._rng_before_step = self.rng_state()
                    stats = self.update()
                    self._rng_before_step = None
                    interrupts.check()
                    if not stats["finite"]:
                        in_a_row += 1
                        self._report_nonfinite(stats, in_a_row)
                        continue
                    in_a_row = 0
                    window.add(stats["frames"])
                    progress.update(self.step, stats["total"], window.frames_per_second())
                    if self.on_step is not None:
                        self.on_step(self.step, c.max_steps)
                    if self.step % c.log_every == 0 or self.step == c.max_steps:
                        self.log_train(stats, window)
                    val_loss = None
                    if self.step % c.val_every == 0 or self.step == c.max_steps:
                        val_loss = self.validate()
                    improved = val_loss is not None and (self.best_val is None or val_loss < self.best_val)
                    if improved:
                        self.best_val, self.best_step = val_loss, self.step
                    if improved or self.step % c.checkpoint_every == 0 or self.step == c.max_steps:
                        self.save(val_loss)
        except KeyboardInterrupt:
            # A checkpoint only from a consistent state: not halfway through an update, and not under DDP,
            # where the other ranks may not be at the same point to join the save's collective.
            if self.consistent() and not self.dist.enabled and self.step > 0:
                log.warning("interrupted at step %d; saving a checkpoint", self.step)
                interrupts.saving = True
                self.save(None)
                interrupts.saving = False
            elif self.step > 0:
                why = "under torchrun" if self.dist.enabled else "in the middle of a weight update"
                last = self.last_checkpoint.stem if self.last_checkpoint is not None else "none yet"
                log.warning("interrupted %s: no checkpoint written (the last: %s)", why, last)
            raise
        finally:
            self.close_logs()
        return window.overall_fps()

    def open_logs(self) -> None:
        """metrics.jsonl, TensorBoard and samples/ in the run directory (written by rank 0 only)."""
        self.run_log = RunLog(self.out_dir)
        if self.dist.is_main:
            self.run_log.open(self.step)

    def close_logs(self) -> None:
        self.run_log.close()

    def log_train(self, stats: dict[str, Any], window: Window) -> None:
        if not self.dist.is_main:
            return
        record = {k: v for k, v in stats.items() if k != "finite"}
        record["frames_per_s"] = window.frames_per_second()
        context = self.context()
        self.run_log.metrics({"step": self.step, "split": "train", **context, **record})
        self.run_log.scalars("train", record, self.step)
        where = "".join(f" {k} {v}" for k, v in context.items())
        log.info("step %d/%d%s: %s", self.step, self.cadence.max_steps, where, format_values(record))

    def log_val(self, values: dict[str, float]) -> None:
        self.run_log.metrics({"step": self.step, "split": "val", **values})
        self.run_log.scalars("val", values, self.step)
        log.info("step %d validation: %s", self.step, format_values(values))

    def _report_nonfinite(self, stats: dict[str, Any], in_a_row: int) -> None:
        limit = self.cadence.max_nonfinite_steps
        terms = ", ".join(f"{k} {v:.4g}" for k, v in stats.items() if k not in ("finite", "lr", "frames"))
        log.warning(
            "step %d: non-finite loss or gradient (%s); update skipped (%d in a row, limit %d)",
            self.step + 1,
            terms,
            in_a_row,
            limit,
        )
        self.run_log.metrics({"step": self.step + 1, "event": "nonfinite", "in_a_row": in_a_row, **stats})
        if in_a_row >= limit:
            last = f"; last good checkpoint: {self.last_checkpoint}" if self.last_checkpoint else ""
            raise NonFiniteLossError(
                f"training stopped at step {self.step + 1}: {in_a_row} consecutive updates had a non-finite loss "
                f"or gradient{last}. Try a lower train.learning_rate, train.amp=none, or check the data"
            )
