"""`medic deploys list | show`: the deploys medic has watched, from the store.

Each row is one watch of an Argo CD Application's revision (`store/deployments.py`): watching,
or its verdict (verified, degraded, inconclusive, superseded) with its summary and figures.
Exit codes: 0 when the command did its work, 1 when the store cannot be read or knows no such watch.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cli.config import store_read

deploys_app = typer.Typer(
    help="Deploys medic watched: Argo CD syncs and their verdicts.", no_args_is_help=True
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@deploys_app.command("list")
def deploys_list(
    app: Annotated[str | None, typer.Option("--app", help="Only this Argo CD Application's deploys.")] = None,
    state: Annotated[
        str | None,
        typer.Option("--state", help="watching, verified, degraded, inconclusive or superseded."),
    ] = None,
    limit: int = 50,
    as_json: JsonFlag = False,
) -> None:
    """Watched deploys, newest first."""
    from store.db import transaction
    from store.deployments import DeploymentRepository, deployment_fields

    with store_read() as sessions, transaction(sessions) as session:
        rows = [
            deployment_fields(d)
            for d in DeploymentRepository(session).list(application=app, state=state, limit=limit)
        ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        typer.echo("no deploys" + (f" of {app}" if app else ""))
        return
    typer.echo(f"{'STARTED':<20} {'APPLICATION':<28} {'REVISION':<12} {'STATE':<12} SUMMARY")
    for r in rows:
        started = r["started_at"].strftime("%Y-%m-%d %H:%M:%S")
        typer.echo(
            f"{started:<20} {_clip(r['app_namespace'] + '/' + r['application'], 28):<28} "
            f"{r['revision'][:12]:<12} {r['state']:<12} {_clip(r['summary'], 80)}".rstrip()
        )


@deploys_app.command("show")
def deploys_show(watch_id: str, as_json: JsonFlag = False) -> None:
    """One watched deploy: its revision, verdict, summary, figures and incident."""
    from store.db import transaction
    from store.deployments import DeploymentRepository, deployment_fields, figures_of

    with store_read() as sessions, transaction(sessions) as session:
        found = DeploymentRepository(session).get(watch_id)
        if found is None:
            typer.echo(f"no deploy watch {watch_id}", err=True)
            raise typer.Exit(1)
        row = deployment_fields(found)
        row["figures"] = figures_of(found)
    if as_json:
        typer.echo(json.dumps(row, indent=2, default=str))
        return
    lines = [
        f"deploy    {row['watch_id']}",
        f"state     {row['state']}" + (f": {row['summary']}" if row["summary"] else ""),
        f"app       {row['app_namespace']}/{row['application']} (project {row['project'] or '-'})",
        f"revision  {row['revision']}"
        + (f" (was {row['previous_revision']})" if row["previous_revision"] else ""),
        f"source    {row['source']}",
        f"started   {row['started_at']}",
        f"finished  {row['finished_at'] or '-'}",
    ]
    if row["incident_id"]:
        lines.append(f"incident  {row['incident_id']}")
    if row["figures"]:
        lines.append("figures")
        lines.extend(f"  {line}" for line in json.dumps(row["figures"], indent=2, default=str).splitlines())
    typer.echo("\n".join(lines))
