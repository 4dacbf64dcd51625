"""`medic --version` names the installed release and does nothing else."""

from __future__ import annotations

from importlib.metadata import version

from typer.testing import CliRunner

import cli.main


def test_version_prints_the_installed_release_and_exits() -> None:
    result = CliRunner().invoke(cli.main.app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"medic {version('medic')}"


def test_the_version_option_does_not_change_the_commands() -> None:
    result = CliRunner().invoke(cli.main.app, ["incidents", "--help"])
    assert result.exit_code == 0, result.output
    assert "Incidents in the store." in result.stdout
