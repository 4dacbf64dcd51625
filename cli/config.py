"""The settings of a `medic` command, from the environment; a value they cannot take ends the
command with one line naming the variable (exit 2), not a validation traceback."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from domain.settings import Settings, SettingsError, settings_from_mapping


def settings() -> Settings:
    try:
        return settings_from_mapping(os.environ)
    except SettingsError as err:
        typer.echo(f"medic: {err}", err=True)
        raise typer.Exit(2) from None


def local_gitops_remote(s: Settings) -> str:
    """The local GitOps remote: MEDIC_GITOPS_REPO, else the one `medic dev` seeds in its home;
    without either, a one-line refusal (exit 2)."""
    remote = s.gitops_repo_url
    embedded = Path(s.home).resolve() / "gitops.git"
    if not remote and (embedded / "HEAD").exists():
        remote = str(embedded)  # what `medic dev` seeds when MEDIC_GITOPS_REPO is unset
    if not remote:
        typer.echo("no GitOps repository: set MEDIC_GITOPS_REPO", err=True)
        raise typer.Exit(2)
    return remote
