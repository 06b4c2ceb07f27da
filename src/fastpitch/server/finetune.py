"""Fine-tuning jobs behind `fastpitch serve --finetune-dir DIR`: the API's side of `fastpitch finetune`.

A client uploads its clips as one zip archive (a folder of `clip.wav` + `clip.txt` pairs, or an LJSpeech folder),
gets a job id back at once, and polls the job's progress; one job trains at a time, in a background thread that
runs the Python API (`fastpitch.finetune.finetune`), the others wait their turn. When a job is done its voice joins
the server's voices, so that `/api/voices` lists it and every endpoint speaks with it.

An upload is untrusted: the archive is unpacked member by member, refusing paths that leave its folder, files that
are not audio or text, and more members or bytes than a corpus of clips needs.
"""

from __future__ import annotations

import collections
import logging
import math
import re
import shutil
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path, PurePosixPath
from typing import Any

from fastpitch.audio import AUDIO_FORMATS
from fastpitch.server.errors import ApiError
from fastpitch.server.voices import VoiceSet

log = logging.getLogger(__name__)

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
MEMBER_SUFFIXES = (*AUDIO_FORMATS, ".txt", ".csv")
MAX_MEMBERS = 20_000
MAX_UNPACKED_BYTES = 4 << 30


@dataclass
class Job:
    """One fine-tuning job as the API reports it."""

    id: str
    name: str
    status: str = "queued"  # queued | running | done | failed
    stage: str = ""
    fraction: float = 0.0
    eta_seconds: float | None = None
    message: str = "waiting for its turn"
    error: str | None = None
    created: float = field(default_factory=time.time)
    warnings: list[str] = field(default_factory=list)
    evaluation: dict[str, Any] | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "stage": self.stage,
            "progress": round(self.fraction, 4),
            "eta_seconds": None if self.eta_seconds is None else round(self.eta_seconds),
            "message": self.message,
            "error": self.error,
            "warnings": self.warnings,
            "evaluation": self.evaluation,
        }


def unpack(archive: bytes, target: Path) -> Path:
    """Unpack an uploaded zip under `target` safely; returns the folder holding the data (where metadata.csv is,
    else the one folder holding audio files)."""
    try:
        zf = zipfile.ZipFile(BytesIO(archive))
    except zipfile.BadZipFile:
        raise ApiError(400, "the upload is not a zip archive", "body") from None
    members = [m for m in zf.infolist() if not m.is_dir()]
    if len(members) > MAX_MEMBERS:
        raise ApiError(413, f"the archive holds {len(members)} files; at most {MAX_MEMBERS}", "body")
    if sum(m.file_size for m in members) > MAX_UNPACKED_BYTES:
        raise ApiError(413, f"the archive unpacks to more than {MAX_UNPACKED_BYTES >> 30} GiB", "body")
    written: list[Path] = []
    for m in members:
        rel = PurePosixPath(m.filename.replace("\\", "/"))
        if rel.is_absolute() or ".." in rel.parts or any(p.startswith(".") for p in rel.parts):
            raise ApiError(400, f"unsafe path in the archive: {m.filename!r}", "body")
        if rel.suffix.lower() not in MEMBER_SUFFIXES or rel.parts[0] == "__MACOSX":
            continue  # not data (e.g. a README or macOS metadata)
        out = target.joinpath(*rel.parts)
        out.parent.mkdir(parents=True, exist_ok=True)
        with zf.open(m) as src, out.open("wb") as dst:
            dst.write(src.read(m.file_size + 1)[: m.file_size])
        written.append(out)
    metadata = [p for p in written if p.name == "metadata.csv"]
    if metadata:
        return metadata[0].parent
    folders = collections.Counter(p.parent for p in written if p.suffix.lower() in AUDIO_FORMATS)
    if not folders:
        raise ApiError(400, "the archive holds no audio clips (.wav, .flac or .ogg)", "body")
    if len(folders) > 1:
        raise ApiError(400, "the archive's clips are in several folders: put them in one", "body")
    return next(iter(folders))


class FinetuneJobs:
    """The server's fine-tuning jobs: submitted, run one at a time in a thread, their voices added when done."""

    def __init__(self, root: str | Path, voices: VoiceSet, **options: Any) -> None:
        """`options` go to every job's `FinetuneOptions` (e.g. `minutes_budget`, `plan`, `evaluate`)."""
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.voices, self.options = voices, options
        self.jobs: dict[str, Job] = {}
        self._queue: collections.deque[tuple[Job, Path, float | None]] = collections.deque()
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None

    def submit(self, archive: bytes, name: str, minutes_budget: float | None = None) -> Job:
        """Unpack the clips and queue a job that makes the voice `name`; raises ApiError on a bad request."""
        if not NAME.match(name):
            raise ApiError(
                400, "name: letters, digits, '-' and '_', at most 64, starting with a letter or digit", "name"
            )
        if minutes_budget is not None and not (math.isfinite(minutes_budget) and minutes_budget > 0):
            raise ApiError(400, "minutes_budget must be a positive number of minutes", "minutes_budget")
        with self._lock:
            taken = name in {v.name for v in self.voices} or any(
                j.name == name and j.status != "failed" for j in self.jobs.values()
            )
            if taken:
                raise ApiError(409, f"a voice or job named {name!r} exists already", "name")
            job = Job(id=uuid.uuid4().hex[:12], name=name)
            self.jobs[job.id] = job
        try:
            data = unpack(archive, self.root / job.id / "upload")
        except ApiError:  # nothing of a refused upload stays: a small zip can unpack to gigabytes
            shutil.rmtree(self.root / job.id, ignore_errors=True)
            with self._lock:
                del self.jobs[job.id]
            raise
        with self._lock:
            self._queue.append((job, data, minutes_budget))
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._drain, name="finetune", daemon=True)
                self._worker.start()
        return job

    def get(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise ApiError(404, f"no fine-tuning job {job_id!r}", "job")
        return job

    def wait(self, timeout: float | None = None) -> None:
        """Block until the queue is empty and the worker idle (tests, shutdown)."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout)

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    return
                job, data, budget = self._queue.popleft()
            self._run(job, data, budget)

    def _run(self, job: Job, data: Path, minutes_budget: float | None) -> None:
        from fastpitch.finetune import FinetuneOptions, Progress, finetune

        def update(p: Progress) -> None:
            job.stage, job.fraction, job.eta_seconds, job.message = (
                p.stage,
                p.fraction,
                p.eta_seconds,
                p.message,
            )

        job.status, job.message = "running", "starting"
        options = dict(self.options)
        if minutes_budget is not None:
            options["minutes_budget"] = minutes_budget
        out = self.root / job.id / job.name
        try:
            result = finetune(
                FinetuneOptions(
                    data=data, out=out, work=self.root / job.id / "work", name=job.name, **options
                ),
                on_progress=update,
            )
            self.voices.add(job.name, result.voice)
        except Exception as e:  # a failed job reports why; the server goes on serving
            log.exception("fine-tuning job %s (%s) failed", job.id, job.name)
            job.status, job.error, job.message = "failed", f"{type(e).__name__}: {e}", "failed"
            return
        job.warnings, job.evaluation = result.warnings, result.evaluation
        job.status, job.fraction, job.eta_seconds, job.message = (
            "done",
            1.0,
            0.0,
            f"voice {job.name!r} is ready",
        )
