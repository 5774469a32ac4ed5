"""Every command appears in README.md and has help with an Example block."""

from __future__ import annotations

from typing import Any

import pytest
import typer

from pipeline.cli import app

from .conftest import ROOT


def _commands(group: Any, prefix: str = "") -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for name, command in group.commands.items():
        full = f"{prefix}{name}"
        if hasattr(command, "commands"):  # a group (typer ships its own click classes)
            found.extend(_commands(command, full + " "))
        else:
            found.append((full, command))
    return found


COMMANDS = _commands(typer.main.get_command(app))  # type: ignore[arg-type]


def test_there_are_commands() -> None:
    assert {"validate", "sections"} <= {name for name, _ in COMMANDS}


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[n for n, _ in COMMANDS])
def test_command_is_documented_with_an_example(name: str, command: Any) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"triage {name}" in readme, f"README.md does not mention `triage {name}`"
    assert command.help and "Example:" in command.help
