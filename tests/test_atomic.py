"""Atomic writes: the temp file of a killed writer is swept by the next write into its directory, never the
temp file of a writer that still runs."""

import subprocess
import sys

import pytest

from fastpitch.atomic import atomic_write_json, atomic_write_text, sweep_stale


@pytest.fixture
def dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_next_write_sweeps_a_killed_writers_temp_file_but_not_a_running_ones(tmp_path, dead_pid):
    stale = tmp_path / f".step-0000004.safetensors.tmp-{dead_pid}"
    stale.write_bytes(b"half a file")
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) as alive:
        running = tmp_path / f".other.json.tmp-{alive.pid}"
        running.write_text("{")
        atomic_write_text(tmp_path / "voice.json", "{}")
        alive.kill()
    assert not stale.exists()
    assert running.exists()
    assert (tmp_path / "voice.json").read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["voice.json", running.name])


def test_sweep_leaves_other_files_alone(tmp_path, dead_pid):
    keep = ["data.tmp", f"visible.tmp-{dead_pid}", f".x.tmp-{dead_pid}.npy", "metadata.csv"]
    for name in keep:
        (tmp_path / name).write_text("x")
    assert sweep_stale(tmp_path) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(keep)


def test_json_write_creates_the_directory_and_keeps_unicode(tmp_path):
    path = atomic_write_json(tmp_path / "bench" / "r.json", {"text": "naïve ✓"})
    assert path.read_text(encoding="utf-8") == '{\n  "text": "naïve ✓"\n}\n'


def test_a_new_file_gets_the_mode_open_gives_even_from_a_writer_that_makes_it_private(tmp_path):
    """safetensors creates 0600 files; a checkpoint must be as readable as any file the user writes."""
    from safetensors.numpy import save_file

    from fastpitch.atomic import atomic_write

    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    private = tmp_path / "private.safetensors"
    save_file({}, str(private))
    assert private.stat().st_mode & 0o777 == 0o600  # what the writer does on its own
    new = atomic_write(tmp_path / "w.safetensors", lambda tmp: save_file({}, str(tmp)))
    assert new.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777


def test_a_replaced_file_keeps_its_mode(tmp_path):
    path = tmp_path / "voice.json"
    path.write_text("{}")
    path.chmod(0o600)
    atomic_write_text(path, '{"a": 1}')
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_text() == '{"a": 1}'
