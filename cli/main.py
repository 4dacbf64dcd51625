"""The `medic` command."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn

import typer

from cli.assistants import mcp_command
from cli.config import local_gitops_remote, settings
from cli.config import redact_url as _redact_url
from cli.config import sessions as _sessions
from cli.config import store_read as _store_read
from cli.deploys import deploys_app
from cli.drift import drift_app
from cli.propose import propose_command
from cli.review import pr_review_command, review_command
from cli.schedules import schedules_app
from domain.analysis.plan import next_steps_of

app = typer.Typer(
    help="medic: durable, reviewed, reversible remediation for GitOps-run Kubernetes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
incidents_app = typer.Typer(help="Incidents in the store.", no_args_is_help=True)
db_app = typer.Typer(help="The database.", no_args_is_help=True)
console_app = typer.Typer(help="The operators' console: its users and their passwords.", no_args_is_help=True)
app.add_typer(incidents_app, name="incidents")
app.add_typer(db_app, name="db")
app.add_typer(console_app, name="console")
pr_app = typer.Typer(
    help="Pull requests medic opened against the GitOps repository (the local host).", no_args_is_help=True
)
app.add_typer(pr_app, name="pr")
app.add_typer(schedules_app, name="schedules")
app.add_typer(drift_app, name="drift")
app.add_typer(deploys_app, name="deploys")
app.command("review")(review_command)
app.command("propose")(propose_command)
app.command("mcp")(mcp_command)
pr_app.command("review")(pr_review_command)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"medic {version('medic')}")
        except PackageNotFoundError:
            typer.echo("medic (not installed as a package: no version recorded)")
        raise typer.Exit()


@app.callback()
def _options(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print medic's version and exit.", callback=_print_version, is_eager=True
        ),
    ] = False,
) -> None:
    """medic: durable, reviewed, reversible remediation for GitOps-run Kubernetes."""


JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
# The names of `medic doctor --check` (health.checks.NAMES, without importing the checks' clients).
CHECK_NAMES = (
    "configuration",
    "temporal",
    "database",
    "kubernetes",
    "ingest_buffer",
    "argocd",
    "prometheus",
    "opencost",
    "gitops",
    "pull_requests",
    "model",
    "slack",
    "notify_webhook",
)


def _logging(default: str = "json") -> None:
    """JSON lines for the long-running processes (MEDIC_LOG_FORMAT=text for a terminal)."""
    from cli.logs import configure

    configure(os.environ.get("MEDIC_LOG_FORMAT") or default)


@app.command()
def worker() -> None:
    """Run a worker: the remediation workflow and its activities."""
    from workers.main import main

    _logging()
    main(settings())


@app.command()
def gateway(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the gateway: Alertmanager webhook, /metrics, the console (/console) and its API (/api)."""
    import uvicorn

    from gateway.app import create_app
    from gateway.server import startup_refusal

    config = settings()
    # Logging first: starting without Temporal (an ingest buffer takes notifications) is a JSON line.
    _logging()
    refusal = startup_refusal(config)
    if refusal:
        typer.echo(refusal, err=True)
        _exit_now(1)  # a Temporal client was made
    # log_config=None: uvicorn's records go through the same JSON handler. proxy_headers=False:
    # the console trusts identity headers by the TCP peer's address (MEDIC_CONSOLE_TRUSTED_PROXIES),
    # which X-Forwarded-For must not rewrite.
    uvicorn.run(
        create_app(config), host=host, port=port, log_level="info", log_config=None, proxy_headers=False
    )


@app.command()
def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, help="Seconds each check may take (they run at once).")
    ] = 5.0,
    only: Annotated[
        list[str] | None,
        typer.Option("--check", help="Run only this check (repeatable): " + ", ".join(CHECK_NAMES) + "."),
    ] = None,
) -> None:
    """Check every configured dependency: ok, warning, failure or skipped, each failure with its fix.

    Exits 1 when a check fails (warnings and skipped checks do not), 0 otherwise. Changes nothing:
    the push permission is a dry run, and the notification URLs are connected to, never posted to."""
    from health.checks import NAMES, render_json, render_text, run_checks

    chosen = only or list(NAMES)
    unknown = sorted(set(chosen) - set(NAMES))
    if unknown:
        typer.echo(f"no such check: {', '.join(unknown)} (known: {', '.join(NAMES)})", err=True)
        raise typer.Exit(2)
    checks = asyncio.run(run_checks(settings(), os.environ, timeout=timeout, only=chosen))
    if as_json:
        typer.echo(json.dumps(render_json(checks), indent=2))
    else:
        typer.echo(render_text(checks))
    # A Temporal client was made: end without interpreter finalisation (see `_exit_now`).
    _exit_now(1 if any(c.failed for c in checks) else 0)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply the database migrations (DATABASE_URL, or the embedded SQLite file)."""
    from store.migrate import upgrade

    url = settings().resolved_database_url
    upgrade(url, revision)
    typer.echo(f"database at {_redact_url(url)} is at {revision}")


@incidents_app.command("list")
def incidents_list(
    status: str | None = None,
    namespace: str | None = None,
    risk: str | None = None,
    limit: int = 50,
    as_json: JsonFlag = False,
) -> None:
    """Incidents, newest first."""
    from store.db import transaction
    from store.repositories import IncidentRepository

    with _store_read() as sessions, transaction(sessions) as session:
        rows = [
            _incident_row(i)
            for i in IncidentRepository(session).list(
                status=status, namespace=namespace, risk=risk, limit=limit
            )
        ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        typer.echo("no incidents")
        return
    typer.echo(f"{'ID':<36} {'STATUS':<18} {'RISK':<7} {'TARGET':<36} {'TITLE':<30} REASON")
    for r in rows:
        typer.echo(
            f"{r['id']:<36} {r['status'] or '':<18} {r['risk'] or '':<7} {r['target'] or '':<36} "
            f"{_clip(r['title'] or '', 30):<30} {_clip(r['reason'] or '', 80)}".rstrip()
        )


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _incident_row(incident: Any) -> dict[str, Any]:
    return {
        "id": incident.id,
        "status": incident.status,
        "outcome": incident.outcome,
        "risk": incident.risk,
        "root_cause": incident.root_cause,
        "namespace": incident.namespace,
        "target": incident.target,
        "title": incident.title,
        "summary": incident.summary,
        "reason": incident.reason,
        "model_unusable": incident.model_unusable,
        "plan_hash": incident.plan_hash,
        "created_at": incident.created_at,
        "closed_at": incident.closed_at,
    }


@incidents_app.command("show")
def incidents_show(incident_id: str, as_json: JsonFlag = False) -> None:
    """One incident: diagnosis, plan, policy decision, approvals and the audit trail."""
    from store.db import transaction
    from store.repositories import ApprovalRepository, AuditRepository, IncidentRepository

    with _store_read() as sessions, transaction(sessions) as session:
        incident = IncidentRepository(session).get(incident_id)
        if incident is None:
            typer.echo(f"no incident {incident_id}", err=True)
            raise typer.Exit(1)
        row = _incident_row(incident)
        row.update(diagnosis=incident.diagnosis, plan=incident.plan, policy_decision=incident.policy_decision)
        row["approvals"] = [
            {
                "approver": a.approver,
                "decision": a.decision,
                "reason": a.reason,
                "plan_hash": a.plan_hash,
                "via": a.via,
                "decided_at": a.decided_at,
            }
            for a in ApprovalRepository(session).list(incident_id)
        ]
        row["audit"] = [
            {
                "seq": e.seq,
                "step": e.step,
                "status": e.status,
                "actor": e.actor,
                "duration_ms": e.duration_ms,
                "occurred_at": e.occurred_at,
                "detail": e.detail,
            }
            for e in AuditRepository(session).list(incident_id=incident_id)
        ]
    # An open incident may be stuck retrying a step (a dead dependency): Temporal knows why.
    looked_up = row["outcome"] is None
    row["retrying"] = _retrying(incident_id) if looked_up else None
    if as_json:
        typer.echo(json.dumps(row, indent=2, default=str))
    else:
        _print_incident(row)
    if looked_up:
        _exit_now(0)


def _print_incident(row: dict[str, Any]) -> None:
    # Status and why first: what an operator needs before anything else.
    typer.echo(f"incident  {row['id']}\nstatus    {row['status']}")
    if row["reason"]:
        typer.echo(f"reason    {row['reason']}")
    if row["retrying"]:
        typer.echo(f"retrying  {row['retrying']}")
    if row["model_unusable"]:
        typer.echo(f"model     {row['model_unusable']}")
    typer.echo(
        f"title     {row['title']}\nrisk      {row['risk']}\ntarget    {row['target']}"
        f"\nsummary   {row['summary']}"
    )
    # What a human does next, right under the summary (an incident recorded before diagnoses
    # carried next steps, or without a diagnosis, has none).
    steps = next_steps_of(row["diagnosis"])
    if steps:
        typer.echo("next steps:")
        for number, step in enumerate(steps, 1):
            typer.echo(f"  {number}. {step}")
    diagnosis = row["diagnosis"] if isinstance(row["diagnosis"], dict) else {}
    explanation = diagnosis.get("explanation")
    if explanation:
        typer.echo(f"why       {explanation}")
    if row["plan"]:
        typer.echo(f"plan      {row['plan_hash']}: " + json.dumps(row["plan"].get("actions", [])))
    for a in row["approvals"]:
        typer.echo(f"decision  {a['decision']} by {a['approver']} ({a['via']}): {a['reason']}")
    typer.echo("audit:")
    for e in row["audit"]:
        took = f" {e['duration_ms']}ms" if e["duration_ms"] is not None else ""
        error = (e["detail"] or {}).get("error") if e["status"] == "failed" else None
        why = f"  {_clip(_one_line(error), 160)}" if error else ""
        typer.echo(f"  {e['seq']:>3} {e['step']:<20} {e['status']:<10} {e['actor']:<10}{took}{why}")
    for e in row["audit"]:
        if e["step"] == "would_change":
            _echo_would_change(e["detail"] or {})


# How long `incidents show` waits for Temporal to say what an open incident is retrying.
RETRYING_LOOKUP_SECONDS = 3.0


def _retrying(incident_id: str) -> str | None:
    """What the open incident's workflow is retrying and why (one line), None when nothing is;
    a Temporal that cannot answer in time is said in the line instead."""
    from temporalio.service import RPCError, RPCStatusCode

    from integrations.temporal.client import TemporalConfigError, connect
    from integrations.temporal.incidents import retrying_step

    config = settings()

    async def go() -> str | None:
        async with asyncio.timeout(RETRYING_LOOKUP_SECONDS):
            return await retrying_step(await connect(config), incident_id)

    try:
        return asyncio.run(go())
    except TimeoutError:
        waited = f"{RETRYING_LOOKUP_SECONDS:g} s"
        return f"unknown: Temporal at {config.temporal_address} did not answer within {waited}"
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        return f"unknown: Temporal at {config.temporal_address} failed the call: {_one_line(err.message)}"
    except (OSError, RuntimeError, TemporalConfigError) as err:
        return f"unknown: cannot reach Temporal at {config.temporal_address}: {_one_line(err)}"


def _echo_would_change(detail: dict[str, Any]) -> None:
    """Observe mode's record: what the fix would have changed, object by object and file by file."""
    typer.echo("would change (observe mode: nothing was changed):")
    for shown in detail.get("objects") or []:
        typer.echo(f"  {shown.get('target')}: {shown.get('summary')}")
        for line in str(shown.get("diff") or "").splitlines():
            typer.echo(f"    {line}")
    for changed in detail.get("files") or []:
        typer.echo(f"  GitOps file {changed.get('path')}")
        for line in str(changed.get("diff") or "").splitlines():
            typer.echo(f"    {line}")
    for note in detail.get("notes") or []:
        typer.echo(f"  note: {note}")


def _decide(
    incident_id: str,
    approver: str,
    reason: str,
    decision: Literal["approve", "reject"],
    groups: list[str] | None = None,
) -> None:
    from temporalio.client import WorkflowQueryFailedError, WorkflowUpdateFailedError
    from temporalio.exceptions import ApplicationError
    from temporalio.service import RPCError, RPCStatusCode

    from domain.policy.approval import DecisionInput
    from integrations.temporal.client import TemporalConfigError, connect
    from integrations.temporal.incidents import (
        IncidentNotCurrent,
        decide_incident,
        incident_id_problem,
        workflow_id_of,
    )

    problem = incident_id_problem(incident_id)
    if problem is not None:
        typer.echo(f"not an incident id: {problem}", err=True)
        raise typer.Exit(2)
    config = settings()

    class Unreachable(Exception):
        pass

    async def go() -> Any:
        try:
            client = await connect(config)
        except (OSError, RuntimeError, TemporalConfigError) as err:
            # Client.connect raises RuntimeError when the server cannot be reached (a refused
            # TLS handshake included); TemporalConfigError names a TLS setting that cannot work.
            raise Unreachable(str(err)) from None
        # Bound to the plan the workflow shows now (plan_hash None): a changed plan refuses it.
        return await decide_incident(
            client,
            incident_id,
            DecisionInput(
                approver=approver, reason=reason, decision=decision, groups=groups or [], channel="cli"
            ),
        )

    code = 0
    try:
        status = asyncio.run(go())
        approved = sum(1 for a in status.approvals if a.decision == "approve")
        typer.echo(
            f"{decision} recorded for {incident_id} (plan {status.plan_hash}); "
            f"{approved}/{status.approvals_required} approvals; step: {status.step}"
        )
    except IncidentNotCurrent as err:
        typer.echo(f"refused: {err}", err=True)
        code = 2
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        typer.echo(f"refused: {cause.message if isinstance(cause, ApplicationError) else cause}", err=True)
        code = 2
    except Unreachable as err:
        typer.echo(f"cannot reach Temporal at {config.temporal_address}: {_one_line(err)}", err=True)
        code = 1
    except WorkflowQueryFailedError as err:
        typer.echo(f"the workflow of {incident_id} could not answer its status: {_one_line(err)}", err=True)
        code = 1
    except RPCError as err:
        workflow = f"workflow {workflow_id_of(incident_id)} in namespace {config.temporal_namespace}"
        if err.status == RPCStatusCode.NOT_FOUND:
            typer.echo(f"refused: no running {workflow} ({_one_line(err.message)})", err=True)
            code = 2
        elif err.status == RPCStatusCode.INVALID_ARGUMENT:
            typer.echo(f"refused: Temporal cannot look up {workflow}: {_one_line(err.message)}", err=True)
            code = 2
        else:
            kind = err.status.name if err.status else "error"
            message = _one_line(err.message)
            typer.echo(f"Temporal at {config.temporal_address} failed the call ({kind}): {message}", err=True)
            code = 1
    _exit_now(code)


def _one_line(err: object) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def _exit_now(code: int) -> NoReturn:
    """End a short-lived command that used the Temporal client without interpreter finalisation.

    The SDK's core runtime keeps native threads that can still call into Python while the
    interpreter shuts down, which now and then aborts the process (SIGABRT) after the command has
    done its work and printed its answer. The decision is already recorded, so exit at once.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


AsOption = Annotated[str, typer.Option("--as", help="Who decides (recorded as the approver).")]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why.")]
GroupOption = Annotated[
    list[str] | None,
    typer.Option(
        "--group",
        help="A group you claim (repeatable). Self-asserted, like --as, so the workflow does not "
        "believe it: only the console's and the API's groups are checked against the policy's approvers.",
    ),
]


@app.command()
def approve(
    incident_id: str, approver: AsOption, reason: ReasonOption = "", groups: GroupOption = None
) -> None:
    """Approve the plan an incident is waiting on (the `decide` update)."""
    _decide(incident_id, approver, reason, "approve", groups)


@app.command()
def reject(
    incident_id: str, approver: AsOption, reason: ReasonOption = "", groups: GroupOption = None
) -> None:
    """Reject the plan an incident is waiting on."""
    _decide(incident_id, approver, reason, "reject", groups)


def _read_password(confirm: bool) -> str:
    """A password from a prompt without echo (a terminal), else the first line of stdin."""
    import getpass

    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if confirm and getpass.getpass("Again: ") != password:
            typer.echo("the passwords differ", err=True)
            raise typer.Exit(2)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        typer.echo("the password is empty", err=True)
        raise typer.Exit(2)
    return password


IterationsOption = Annotated[
    int, typer.Option("--iterations", min=100_000, help="PBKDF2-SHA256 iterations (default: 600000).")
]


@console_app.command("hash-password")
def console_hash_password(iterations: IterationsOption = 600_000) -> None:
    """Print a PBKDF2-SHA256 hash of a password (prompted without echo, or read from stdin), for a
    line `name:<hash>:group1,group2` of MEDIC_CONSOLE_USERS_FILE."""
    from gateway.auth import hash_password

    typer.echo(hash_password(_read_password(confirm=True), iterations=iterations))


@console_app.command("add-user")
def console_add_user(
    name: str,
    groups: Annotated[
        list[str] | None, typer.Option("--group", help="A group of the user (repeatable).")
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="The users file (default: MEDIC_CONSOLE_USERS_FILE).")
    ] = None,
    iterations: IterationsOption = 600_000,
) -> None:
    """Add a console user to the users file, or replace their line (password prompted, or stdin).

    The file is created with mode 0600; a running gateway reads it again when it changes.
    """
    from gateway.auth import hash_password, upsert_user

    target = file or (Path(settings().console_users_file) if settings().console_users_file else None)
    if target is None:
        typer.echo("no users file: pass --file or set MEDIC_CONSOLE_USERS_FILE", err=True)
        raise typer.Exit(2)
    password = _read_password(confirm=True)
    try:
        replaced = upsert_user(target, name, hash_password(password, iterations=iterations), groups or [])
    except ValueError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{'replaced' if replaced else 'added'} {name} in {target}")


@app.command("eval")
def eval_(
    scenarios: Annotated[Path, typer.Option("--scenarios", help="Folder of scenario *.yaml files.")],
    analyzer: Annotated[str, typer.Option(help="offline | anthropic | openai")] = "offline",
    as_json: JsonFlag = False,
) -> None:
    """Score observe → analyze → validate on incident scenarios (table, or --json)."""
    from cli.eval import run_eval

    raise typer.Exit(run_eval(scenarios, analyzer, as_json))


SandboxOption = Annotated[
    Path | None, typer.Option("--sandbox", help="Scenario file seeding the sandbox cluster.")
]


@app.command()
def dev(sandbox: SandboxOption = None, port: int = 8000) -> None:
    """Run medic on embedded defaults: Temporal dev server, SQLite, worker, gateway, sandbox cluster."""
    from cli.devserver import DevServerError
    from cli.embedded import run_dev

    _logging(default="text")
    try:
        run_dev(settings(), sandbox, gateway_port=port)
    except DevServerError as err:
        typer.echo(f"medic dev: {err}", err=True)
        raise typer.Exit(1) from err


@app.command()
def demo(
    sandbox: SandboxOption = None,
    port: int = 8000,
    interactive: Annotated[
        bool, typer.Option(help="Wait for you to approve (default: when a terminal).")
    ] = None,  # type: ignore[assignment]
    keep: Annotated[bool, typer.Option(help="Keep medic running after the incident closes.")] = False,
) -> None:
    """Show the whole loop on the sandbox: alert, diagnosis, plan, policy, approval, execution, outcome."""
    import sys

    from cli.demo import run_demo

    if interactive is None:
        interactive = sys.stdin.isatty()
    _exit_now(run_demo(settings(), sandbox, gateway_port=port, interactive=interactive, keep=keep))


# --- pull requests ---------------------------------------------------------------------------------

PrActorOption = Annotated[str, typer.Option("--as", help="Who merges or closes (default: your user name).")]


def _pr_row(pr: Any) -> dict[str, Any]:
    return {
        "host": pr.host,
        "number": pr.number,
        "status": pr.status,
        "kind": pr.kind,
        "incident_id": pr.incident_id,
        "branch": pr.branch,
        "base": pr.base,
        "head_commit": pr.head_commit,
        "merge_commit": pr.merge_commit,
        "merged_by": pr.merged_by,
        "closed_by": pr.closed_by,
        "title": pr.title,
        "url": pr.url,
        "created_at": pr.created_at,
        "updated_at": pr.updated_at,
    }


@pr_app.command("list")
def pr_list(
    status: str | None = None,
    incident: Annotated[str | None, typer.Option("--incident", help="Only this incident's PRs.")] = None,
    limit: int = 50,
    as_json: JsonFlag = False,
) -> None:
    """Pull requests recorded in the store, newest first."""
    from store.db import transaction
    from store.repositories import PullRequestRepository

    with _store_read() as sessions, transaction(sessions) as session:
        rows = [
            _pr_row(p)
            for p in PullRequestRepository(session).list(status=status, incident_id=incident, limit=limit)
        ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        typer.echo("no pull requests")
        return
    typer.echo(f"{'#':>5} {'HOST':<7} {'STATUS':<7} {'KIND':<7} {'BRANCH':<48} TITLE")
    for r in rows:
        typer.echo(
            f"{r['number']:>5} {r['host']:<7} {r['status']:<7} {r['kind']:<7} {r['branch']:<48} {r['title']}"
        )


@pr_app.command("show")
def pr_show(
    number: int,
    host: Annotated[str, typer.Option("--host", help="local | github")] = "local",
    as_json: JsonFlag = False,
) -> None:
    """One pull request: branch, commits, status, who merged or closed it, comments."""
    from store.db import transaction
    from store.repositories import PullRequestRepository

    with _store_read() as sessions, transaction(sessions) as session:
        pr = PullRequestRepository(session).get(host, number)
        if pr is None:
            typer.echo(f"no {host} pull request #{number}", err=True)
            raise typer.Exit(1)
        row = _pr_row(pr)
        row["comments"] = list(pr.comments or [])
    if as_json:
        typer.echo(json.dumps(row, indent=2, default=str))
        return
    typer.echo(
        f"pull request #{row['number']} ({row['host']}, {row['kind']}): {row['title']}"
        f"\nstatus    {row['status']}\nincident  {row['incident_id']}"
        f"\nbranch    {row['branch']} -> {row['base']}\nhead      {row['head_commit']}"
        f"\nurl       {row['url']}"
    )
    if row["merge_commit"]:
        typer.echo(f"merged    {row['merge_commit']} by {row['merged_by']}")
    if row["closed_by"]:
        typer.echo(f"closed    by {row['closed_by']}")
    for c in row["comments"]:
        typer.echo(f"comment   {c.get('at', '')}: {c.get('text', '')}")


def _local_pr_host() -> Any:
    """The local pull request host over the configured (or embedded) GitOps repository."""
    from integrations.git import GitRepo
    from integrations.pull_requests import LocalPullRequestHost, settings_host_kind
    from store.pull_requests import StorePullRequestRecords

    s = settings()
    try:
        kind = settings_host_kind(s)
        if kind != "local":
            where = f"GitHub ({s.github_repository})" if kind == "github" else f"GitLab ({s.gitlab_project})"
            typer.echo(
                f"pull requests live on {where}: merge or close them there; its webhook tells medic",
                err=True,
            )
            raise typer.Exit(2)
        return LocalPullRequestHost(
            GitRepo(local_gitops_remote(s), s.resolved_gitops_workdir),
            StorePullRequestRecords(_sessions()),
            author_name=s.pr_author_name,
            author_email=s.pr_author_email,
        )
    except ValueError as err:  # no usable host: GitHub and GitLab both, or a real remote
        typer.echo(str(err), err=True)
        raise typer.Exit(2) from None


def _tell_workflow(pr: Any, actor: str) -> int:
    """Signal `pull_request_event` to the incident's workflow run; 0 also when it is gone."""
    from temporalio.client import WorkflowExecutionStatus
    from temporalio.service import RPCError, RPCStatusCode

    from domain.gitops.pull_requests import PullRequestEvent
    from integrations.temporal.client import connect
    from integrations.temporal.incidents import names_a_run, workflow_id_of

    event = PullRequestEvent(number=pr.number, status=pr.status, merge_commit=pr.merge_commit, actor=actor)
    workflow_id = workflow_id_of(pr.incident_id)

    async def go() -> str:
        client = await connect(settings())
        try:
            described = await client.get_workflow_handle(workflow_id).describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return "gone"
            raise
        run = pr.incident_id.rsplit(".", 1)[1] if names_a_run(pr.incident_id) else ""
        if described.status != WorkflowExecutionStatus.RUNNING or not described.run_id.startswith(run):
            return "gone"
        # By name: the signal is the workflow's contract, not this module's import.
        await client.get_workflow_handle(workflow_id, run_id=described.run_id).signal(
            "pull_request_event", event
        )
        return "signalled"

    try:
        outcome = asyncio.run(go())
    except Exception as err:  # Temporal unreachable, or refused: the PR change itself is done
        typer.echo(
            f"could not tell incident {pr.incident_id} ({type(err).__name__}: {err}); signal it by hand: "
            f"temporal workflow signal --workflow-id {workflow_id} --name pull_request_event "
            f"--input '{event.model_dump_json()}'",
            err=True,
        )
        return 1
    if outcome == "gone":
        typer.echo(
            f"incident {pr.incident_id} has no running workflow any more; nothing to tell "
            f"(the PR is {pr.status})",
            err=True,
        )
        return 0
    typer.echo(f"told incident {pr.incident_id}: pull request #{pr.number} {pr.status}")
    return 0


def _pr_change(number: int, actor: str, change: Literal["merge", "close"]) -> None:
    import getpass

    from integrations.pull_requests import PullRequestError

    who = actor or getpass.getuser()
    host = _local_pr_host()
    try:
        if change == "merge":
            pr = host.merge_pull_request(number, merged_by=who)
        else:
            pr = host.close_pull_request(number, closed_by=who)
    except PullRequestError as err:
        typer.echo(f"refused: {err}", err=True)
        raise typer.Exit(1 if err.retryable else 2) from None
    if pr.status == "merged":
        typer.echo(f"pull request #{pr.number} ({pr.branch}) is merged into {pr.base} as {pr.merge_commit}")
    else:
        typer.echo(f"pull request #{pr.number} ({pr.branch}) is {pr.status}")
    _exit_now(_tell_workflow(pr, who))


@pr_app.command("merge")
def pr_merge(number: int, actor: PrActorOption = "") -> None:
    """Merge a pull request of the local host into its base and tell the incident's workflow."""
    _pr_change(number, actor, "merge")


@pr_app.command("close")
def pr_close(number: int, actor: PrActorOption = "") -> None:
    """Close a pull request of the local host without merging and tell the incident's workflow."""
    _pr_change(number, actor, "close")
