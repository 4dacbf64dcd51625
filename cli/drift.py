"""`medic drift scan | report`: a drift scan on demand, and what the latest scan found.

`scan` starts one `DriftScanWorkflow` (by name: a medic worker runs it) and waits for it; `report`
reads the store. Exit codes: 0 when the command did its work, 1 when it could not (Temporal or the
store unreachable, the scan failed), 2 for bad arguments. `scan --exit-code` also tells the result
apart, like `terraform plan -detailed-exitcode`: 0 no drift, 2 drift found, 1 failed or incomplete
(the scan finished with errors and found no drift).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.config import settings
from cli.schedules import DRIFT_SCAN_WORKFLOW, connect_or_fail, duration_text, exit_now
from domain.drift.model import DriftReport, DriftScanInput, DriftScanResult, DriftScope, FieldDrift

if TYPE_CHECKING:
    from domain.settings import Settings

drift_app = typer.Typer(
    help="Drift: the live cluster differing from what Git declares (scans and their reports).",
    no_args_is_help=True,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
ScopeOption = Annotated[
    str, typer.Option("--scope", help="all, project:NAME or namespace:NAME (Argo CD Applications to scan).")
]

# Exit codes of `scan --exit-code`.
NO_DRIFT, FAILED, DRIFT_FOUND = 0, 1, 2


def manual_scan_id(scope: DriftScope) -> str:
    """An on-demand scan's workflow id (it is also the scan id in the store)."""
    return f"drift-scan-{scope.slug}-manual-{secrets.token_hex(4)}"


def _scope(text: str) -> DriftScope:
    try:
        return DriftScope.parse(text)
    except ValueError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(2) from None


# ---- rendering (pure) --------------------------------------------------------------------------


def age_text(since: datetime, now: datetime) -> str:
    """How long ago `since` was: `45s`, `3h12m`, `2d4h`."""
    if since.tzinfo is None:  # SQLite hands back naive UTC
        since = since.replace(tzinfo=UTC)
    return duration_text(max(0.0, (now - since).total_seconds()))


def _value_text(value: Any, limit: int = 40) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def field_text(field: FieldDrift) -> str:
    """`/spec/replicas: 3 → 5` (desired → live)."""
    live = "(absent)" if field.live is None else _value_text(field.live)
    desired = "(absent)" if field.desired is None else _value_text(field.desired)
    return f"{field.path}: {desired} → {live}"


def summary_lines(result: DriftScanResult) -> list[str]:
    """What an on-demand scan did, from its workflow result."""
    lines = [
        f"drift scan {result.scan_id} (scope {result.scope}) took {duration_text(result.duration_seconds)}",
        f"  scanned:    {result.apps_scanned} applications, {result.resources_scanned} resources",
        f"  drifted:    {result.drifted_apps} applications",
        f"  incidents:  {len(result.incidents)} opened or updated",
    ]
    lines += [f"    {app} → {incident}" for app, incident in sorted(result.incidents.items())]
    lines.append(f"  errors:     {len(result.errors)}")
    lines += [f"    {error}" for error in result.errors]
    return lines


def report_lines(report: DriftReport, now: datetime) -> list[str]:
    """A drift report as text: its totals, then one row per drifted resource."""
    if report.status == "finished" and report.finished_at is not None:
        took = duration_text((report.finished_at - report.started_at).total_seconds())
        when = f"finished {age_text(report.finished_at, now)} ago (took {took})"
    else:
        when = f"running since {age_text(report.started_at, now)} ago"
    lines = [
        f"drift scan {report.scan_id} (scope {report.scope}), {when}",
        f"{report.apps_scanned} applications and {report.resources_scanned} resources scanned; "
        f"{report.drifted_apps} applications drifted; {len(report.errors)} errors",
    ]
    lines += [f"  error: {error}" for error in report.errors]
    if not report.findings:
        lines.append("no drift found")
        return lines
    # One row per drifted resource, its first field beside it and the others on lines of their own.
    rows: list[tuple[list[str], tuple[str, ...]]] = []
    for finding in report.findings:
        resource = finding.resource
        if resource.live_missing:
            fields = ["Git declares it, the cluster does not have it"]
        else:
            fields = [field_text(f) for f in resource.fields] or ["(differs)"]
        namespace = f"{resource.namespace}/" if resource.namespace else ""
        cells: tuple[str, ...] = (
            finding.application or "(unmanaged)",
            f"{resource.kind}/{namespace}{resource.name}",
            fields[0],
            age_text(finding.first_seen, now),
            finding.disposition,
            finding.incident_id or "—",
        )
        rows.append((fields[1:], cells))
    headers = ("APPLICATION", "RESOURCE", "FIELDS (desired → live)", "SINCE", "DISPOSITION", "INCIDENT")
    widths = [max(len(h), *(len(cells[i]) for _, cells in rows)) for i, h in enumerate(headers)]
    widths[2] = min(widths[2], 60)

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    lines.append(line(headers))
    for more, cells in rows:
        lines.append(line(cells))
        lines += [line(("", "", extra, "", "", "")) for extra in more]
    return lines


def failure_text(err: BaseException) -> str:
    """A failed workflow's causes, outermost first: `Activity task failed: Argo CD is unreachable`."""
    messages: list[str] = []
    cause = err.__cause__
    while cause is not None and len(messages) < 5:
        message = getattr(cause, "message", None) or str(cause)
        if message and message not in messages:
            messages.append(message)
        cause = cause.__cause__
    return ": ".join(messages) or str(err)


def exit_code_for(result: DriftScanResult) -> int:
    """`scan --exit-code`: drift found 2, else an incomplete scan 1, else 0."""
    if result.drifted_apps:
        return DRIFT_FOUND
    return FAILED if result.errors else NO_DRIFT


# ---- the store -------------------------------------------------------------------------------------


def load_report(s: Settings, scan_id: str | None = None, scope: str | None = None) -> DriftReport | None:
    """The report of scan `scan_id`, else the latest finished one (of `scope`)."""
    from store.db import make_engine, session_factory, transaction
    from store.drift import DriftRepository

    engine = make_engine(s.resolved_database_url)
    try:
        with transaction(session_factory(engine)) as session:
            return DriftRepository(session).report(scan_id=scan_id, scope=scope)
    finally:
        engine.dispose()


# ---- commands ------------------------------------------------------------------------------------


@drift_app.command("scan")
def scan(
    scope: ScopeOption = "all",
    as_json: JsonFlag = False,
    report_only: Annotated[
        bool,
        typer.Option("--report-only", help="Only report: start no remediation for drifted applications."),
    ] = False,
    exit_code: Annotated[
        bool,
        typer.Option(
            "--exit-code", help="Exit 0 when no drift, 2 when drift was found, 1 when the scan failed."
        ),
    ] = False,
) -> None:
    """Run one drift scan now and wait for it (a medic worker on MEDIC_TASK_QUEUE runs it)."""
    from temporalio.client import WorkflowFailureError

    chosen = _scope(scope)
    s = settings()
    workflow_id = manual_scan_id(chosen)

    async def go() -> DriftScanResult:
        client = await connect_or_fail(s)
        handle = await client.start_workflow(
            DRIFT_SCAN_WORKFLOW,
            DriftScanInput(scope=chosen, remediate=not report_only),
            id=workflow_id,
            task_queue=s.task_queue,
            result_type=DriftScanResult,
        )
        typer.echo(f"started drift scan {workflow_id} on task queue {s.task_queue}; waiting for it", err=True)
        return await handle.result()

    try:
        result = asyncio.run(go())
    except KeyboardInterrupt:
        typer.echo(
            f"stopped waiting; the scan goes on: temporal workflow describe --workflow-id {workflow_id}",
            err=True,
        )
        exit_now(130)
    except WorkflowFailureError as err:
        typer.echo(f"drift scan {workflow_id} failed: {failure_text(err)}", err=True)
        exit_now(FAILED)
    except Exception as err:
        typer.echo(f"drift scan {workflow_id} could not run: {type(err).__name__}: {err}", err=True)
        exit_now(FAILED)
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
    else:
        typer.echo("\n".join(summary_lines(result)))
        try:
            report = load_report(s, scan_id=result.scan_id)
        except Exception as err:  # the scan itself is done; its report is in the store for later
            typer.echo(f"cannot read the drift report from the store: {type(err).__name__}: {err}", err=True)
            report = None
        if report is not None:
            typer.echo("")
            typer.echo("\n".join(report_lines(report, datetime.now(UTC))))
    exit_now(exit_code_for(result) if exit_code else NO_DRIFT)


@drift_app.command("report")
def report(
    scope: Annotated[
        str | None,
        typer.Option("--scope", help="The latest scan of this scope (all, project:NAME, namespace:NAME)."),
    ] = None,
    scan_id: Annotated[
        str | None, typer.Option("--scan", help="This scan's report (finished or running).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """The latest finished drift scan's report from the store: the drifted resources, field by field."""
    label = _scope(scope).label if scope is not None else None
    found = load_report(settings(), scan_id=scan_id, scope=label)
    if found is None:
        if scan_id:
            typer.echo(f"no drift scan {scan_id}", err=True)
            raise typer.Exit(1)
        typer.echo("no drift scan has finished yet" + (f" for the scope {label}" if label else ""))
        return
    if as_json:
        typer.echo(found.model_dump_json(indent=2))
        return
    typer.echo("\n".join(report_lines(found, datetime.now(UTC))))
