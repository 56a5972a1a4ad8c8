"""Wrong arguments anywhere in the CLI: one line on stderr (``error: ...`` and where to look),
a non-zero exit status, and no Python traceback unless ``--debug``."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from aidot.cli import cli, run


def leaf_commands(group: click.Group = cli, path: tuple[str, ...] = ()) -> Iterator[tuple]:
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from leaf_commands(command, (*path, name))
        else:
            yield (*path, name), command


COMMANDS = list(leaf_commands())


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in captured.err + captured.out
    return lines[0]


def test_the_cli_has_many_commands() -> None:
    assert len(COMMANDS) > 30


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=" ".join)
def test_an_unknown_option_is_one_line_with_a_hint(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run([*path, "--no-such-option"]) == 2
    line = one_error_line(capsys)
    assert "--no-such-option" in line
    assert f"see 'aidot {' '.join(path)} --help'" in line


REQUIRES_ARGUMENTS = [
    path
    for path, command in COMMANDS
    if any(isinstance(p, click.Argument) and p.required for p in command.params)
]


@pytest.mark.parametrize("path", REQUIRES_ARGUMENTS, ids=" ".join)
def test_a_missing_argument_is_one_line_with_a_hint(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert run([*path]) == 2
    line = one_error_line(capsys)
    assert "Missing argument" in line
    assert "--help'" in line


def test_unknown_commands_and_bad_values(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["bogus"]) == 2
    assert "No such command 'bogus'" in one_error_line(capsys)
    assert run(["runs", "ls", "--max-results", "0"]) == 2
    assert "--max-results" in one_error_line(capsys)


def test_an_aidot_error_is_one_line_and_status_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert run(["runs", "show", "01nosuchrun", "-w", str(tmp_path / "ws")]) == 1
    assert "no run with id '01nosuchrun'" in one_error_line(capsys)


def test_an_unexpected_error_is_one_line_unless_debug(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aidot.workspace import Workspace

    def broken(self: Workspace) -> Workspace:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(Workspace, "init", broken)  # an error no command expects
    assert run(["init", str(tmp_path / "ws")]) == 1
    line = one_error_line(capsys)
    assert "RuntimeError: disk on fire" in line
    assert "--debug" in line
    with pytest.raises(RuntimeError, match="disk on fire"):
        run(["--debug", "init", str(tmp_path / "ws")])
    # --debug holds for that one invocation: the next one reports errors in one line again.
    monkeypatch.undo()
    result = CliRunner().invoke(cli, ["runs", "show", "01nosuchrun", "-w", str(tmp_path / "w")])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)


def test_the_installed_command_exits_with_the_status(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "aidot", "data", "add"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "error: Missing argument 'PATH'. (see 'aidot data add --help')"
    assert result.stdout == ""
