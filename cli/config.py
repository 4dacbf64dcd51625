"""The settings of a `medic` command, from the environment; a value they cannot take ends the
command with one line naming the variable (exit 2), not a validation traceback."""

from __future__ import annotations

import os

import typer

from domain.settings import Settings, SettingsError, settings_from_mapping


def settings() -> Settings:
    try:
        return settings_from_mapping(os.environ)
    except SettingsError as err:
        typer.echo(f"medic: {err}", err=True)
        raise typer.Exit(2) from None
