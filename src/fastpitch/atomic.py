"""Atomic file writes: a reader sees the old file or the whole new one, never a half-written one.

Torch-free, so that the voice format, the checkpoint module, the feature cache, the corpus tools and the benches
share one implementation. A process killed mid-write leaves its temp file (`.NAME.tmp-PID`) behind; the next
atomic write into that directory removes the temp files of processes that no longer run.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

_TEMP = re.compile(r"^\..+\.tmp-(\d+)$")
_swept: set[Path] = set()
_UMASK = os.umask(0o022)  # read once (there is no getter): the process's umask, put straight back
os.umask(_UMASK)


def temp_path(path: Path) -> Path:
    """Where `path` is written before its rename: hidden, in the same directory (so the rename is atomic)."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def sweep_stale(directory: Path) -> int:
    """Remove temp files left by killed writers in `directory` (their PID no longer runs); how many went."""
    removed = 0
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return 0
    for entry in entries:
        match = _TEMP.match(entry.name)
        if match and int(match[1]) != os.getpid() and not _running(int(match[1])):
            try:
                os.unlink(entry.path)
                removed += 1
            except OSError:
                pass
    return removed


def _sweep_once(directory: Path) -> None:
    key = directory.resolve()
    if key not in _swept:
        _swept.add(key)
        sweep_stale(key)


def atomic_write(
    path: Path, write: Callable[[Path], Any], mode: int | None = None, durable: bool = True
) -> Path:
    """Write through `write(tmp_path)`, chmod, then rename over `path`.

    The mode is `mode`, else the replaced file's, else what `open()` would give a new file (0666 less the
    umask): writers such as safetensors create 0600 files, which would lock other users out of a checkpoint.

    `durable` fsyncs the file and the directory, so a power cut also leaves the old or the new file; a cache of
    thousands of small files that a rerun can redo skips it (a killed process never loses written pages)."""
    path = Path(path)
    _sweep_once(path.parent)
    tmp = temp_path(path)
    try:
        write(tmp)
        if durable:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        if mode is None:
            try:
                mode = path.stat().st_mode & 0o7777
            except OSError:
                mode = 0o666 & ~_UMASK
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    if durable:
        try:  # make the rename itself durable
            fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            pass
    return path


def atomic_write_text(path: Path, text: str, mode: int | None = None, durable: bool = True) -> Path:
    """`atomic_write` of a UTF-8 text."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), mode, durable)


def atomic_write_json(path: Path, data: Any, indent: int = 2, durable: bool = True) -> Path:
    """`atomic_write` of `data` as JSON (UTF-8, non-ASCII kept), creating the parent directory."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=indent, ensure_ascii=False) + "\n"
    return atomic_write_text(path, text, durable=durable)
