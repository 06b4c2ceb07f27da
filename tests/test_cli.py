"""The `fastpitch` command itself: version, help on every subcommand, one-line errors without tracebacks."""

import subprocess
import sys

import click
import pytest
import typer

from fastpitch import __version__
from fastpitch.cli import app


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fastpitch", *args], capture_output=True, text=True, timeout=120
    )


def test_version():
    out = run("--version")
    assert out.returncode == 0
    assert out.stdout.strip() == f"fastpitch {__version__}"


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, cmd in group.commands.items():
        yield (*prefix, name)
        if isinstance(cmd, click.Group):
            yield from _command_paths(cmd, (*prefix, name))


COMMANDS = list(_command_paths(typer.main.get_command(app)))


def test_there_are_commands():
    assert ("bench",) in COMMANDS


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_help_on_every_subcommand(path):
    out = run(*path, "--help")
    assert out.returncode == 0, out.stderr
    assert "Usage" in out.stdout


def test_bad_command_is_a_short_error():
    out = run("no-such-command")
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "No such command" in out.stderr


def test_a_file_where_a_folder_is_wanted_is_a_short_error(tmp_path):
    (tmp_path / "afile").write_text("x")
    out = run(
        "corpus", "synth", str(tmp_path / "afile"), "--voices", "espeak-ng:en-us", "--count", "3",
        "--test-count", "1", "--val-count", "1",
    )  # fmt: skip
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "Not a directory" in out.stderr and "afile" in out.stderr


def test_a_missing_optional_package_is_one_line_naming_its_extra(monkeypatch, capsys):
    import fastpitch.cli as cli

    def needs(module):
        def command():
            raise ModuleNotFoundError(f"No module named {module!r}", name=module)

        return command

    monkeypatch.setattr(cli, "app", needs("pyworld"))
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    assert exit_.value.code == 2
    err = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert "needs pyworld" in err and "pip install 'fastpitch[train]'" in err and "Traceback" not in err
    monkeypatch.setattr(cli, "app", needs("fastpitch_typo"))  # not an optional package of ours: a bug
    with pytest.raises(ModuleNotFoundError):
        cli.main()


def test_serve_on_a_taken_port_says_so_before_loading_any_voice():
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = run("serve", "--port", str(port))
    assert out.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in " ".join(out.stderr.split())
    assert "loading voice" not in out.stderr


def test_every_optional_package_named_for_an_error_is_in_the_extra_it_names():
    import re
    from pathlib import Path

    from fastpitch.errors import EXTRA_OF

    text = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    section = text.split("[project.optional-dependencies]")[1].split("\n[")[0]
    extras = {
        name: re.findall(r'"([^"]+)"', body)
        for name, body in re.findall(r"^(\w+) = \[(.*)\]$", section, re.M)
    }

    def packages(extra: str) -> set[str]:
        out: set[str] = set()
        for requirement in extras[extra]:
            name = re.match(r"[\w.-]+", requirement)[0].lower()
            if name == "fastpitch":  # "fastpitch[torch]": another extra's packages
                out |= {p for e in requirement[len(name) + 1 : -1].split(",") for p in packages(e)}
            else:
                out.add(name)
        return out

    installs = {"multipart": "python-multipart", "hibari": "hibari-tts"}  # import name -> package name
    for module, extra in EXTRA_OF.items():
        assert installs.get(module, module) in packages(extra), (module, extra)
