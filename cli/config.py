"""The settings of a `medic` command, from the environment; a value they cannot take ends the
command with one line naming the variable (exit 2), not a validation traceback."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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


def redact_url(url: str) -> str:
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else f"{scheme}://{user}@{host}"


def sessions() -> Any:
    from store.db import make_engine, session_factory

    return session_factory(make_engine(settings().resolved_database_url))


@contextmanager
def store_read() -> Iterator[Any]:
    """The store's sessions for a reading command; a store that cannot be read ends the command
    with one line that says which store and why (exit 1), not a traceback."""
    from sqlalchemy.exc import SQLAlchemyError

    url = settings().resolved_database_url
    try:
        yield sessions()
    except SQLAlchemyError as err:
        reason = (str(err).splitlines() or [type(err).__name__])[0]
        typer.echo(f"cannot read the store at {redact_url(str(url))}: {reason}", err=True)
        raise typer.Exit(1) from None
