"""`medic propose WORDS…`: request a change in plain words (or the structured form).

The requester is self-asserted, as `medic approve --as` is: `--as` names them (default: the local
user). They can never approve the incident it opens. Prints the change read from the words, the
plan, its risk and the approvals it needs, once the policy has decided (or how the incident ended:
an ambiguous target lists its candidates); with `--wait`, waits on for the pull request (GitOps)
or the outcome and prints it. Exit codes: 0 started (or its outcome resolved), 2 refused (words not
read, out of bounds, the incident ended without the change), 1 Temporal unreachable or failing.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import time
from typing import Annotated, Any

import typer

from cli.config import settings
from cli.schedules import connect_or_fail, exit_now
from domain.intent.parse import IntentRefused
from domain.steps.remediation import WorkflowStatus
from gateway.intents import intent_bounds, status_summary
from integrations.temporal.intents import check_words, start_intent, wait_for_plan

# How long `medic propose` waits for the policy's decision on the plan before printing without it.
PLAN_WAIT_SECONDS = 20.0
POLL_SECONDS = 1.0


def propose_command(
    words: Annotated[list[str], typer.Argument(help="The change, in plain words or the structured form.")],
    requester: Annotated[
        str, typer.Option("--as", help="Who asks (self-asserted; default: the local user).")
    ] = "",
    request_id: Annotated[
        str, typer.Option("--request-id", help="An idempotency key: the same one starts one incident.")
    ] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait for the pull request (GitOps) or the outcome, and print it.")
    ] = False,
    wait_seconds: Annotated[
        int, typer.Option("--wait-seconds", min=1, help="How long --wait waits (default: 3600).")
    ] = 3600,
) -> None:
    """Request a change: `medic propose scale checkout in shop to 6 replicas`."""
    s = settings()
    who = requester or getpass.getuser()
    text = " ".join(words)
    bounds = intent_bounds(s)
    try:
        # Read before Temporal is reached: bad words are refused whatever the state of the rest.
        check_words(text, bounds, s)
    except IntentRefused as refused:
        typer.echo(f"refused: {refused}", err=True)
        raise typer.Exit(2) from None

    async def go() -> tuple[dict[str, Any], WorkflowStatus | None]:
        client = await connect_or_fail(s)
        started = await start_intent(
            client,
            s,
            requester=who,
            words=text,
            channel="cli",
            request_id=request_id,
            bounds=bounds,
        )
        status = await wait_for_plan(client, started.workflow_id, timeout=PLAN_WAIT_SECONDS)
        answer: dict[str, Any] = {
            "workflow_id": started.workflow_id,
            "incident_id": status.incident_id if status is not None else started.workflow_id,
            "started": started.started,
            "requester": who,
            "change": started.request.change.describe() if started.request.change else "",
            "read_by": started.request.change.read_by if started.request.change else "",
            "link": f"{s.console_url.rstrip('/')}/console/incidents/"
            f"{status.incident_id if status is not None else started.workflow_id}",
            **status_summary(status),
        }
        if wait and status is not None and status.outcome is None:
            status = await _wait_for_pr_or_outcome(client, started.workflow_id, wait_seconds)
            answer.update(status_summary(status))
        return answer, status

    try:
        answer, status = asyncio.run(go())
    except IntentRefused as refused:
        typer.echo(f"refused: {refused}", err=True)
        exit_now(2)
    except ValueError as err:
        typer.echo(f"refused: {err}", err=True)
        exit_now(2)
    except KeyboardInterrupt:
        typer.echo("stopped waiting; the incident goes on", err=True)
        exit_now(130)
    except Exception as err:
        typer.echo(f"the request could not be started: {type(err).__name__}: {err}", err=True)
        exit_now(1)
    if as_json:
        typer.echo(json.dumps(answer, indent=2, default=str))
    else:
        typer.echo("\n".join(answer_lines(answer)))
    ended_without = status is not None and status.outcome not in (None, "resolved")
    exit_now(2 if ended_without else 0)


async def _wait_for_pr_or_outcome(client: Any, workflow_id: str, seconds: int) -> WorkflowStatus | None:
    from integrations.temporal.incidents import STATUS_QUERY

    handle = client.get_workflow_handle(workflow_id)
    deadline = time.monotonic() + seconds
    status: WorkflowStatus | None = None
    while time.monotonic() < deadline:
        status = await handle.query(STATUS_QUERY, result_type=WorkflowStatus)
        if status.outcome is not None or status.pull_requests:
            return status
        await asyncio.sleep(POLL_SECONDS)
    return status


def answer_lines(answer: dict[str, Any]) -> list[str]:
    """The answer to a request as a person reads it."""
    again = "" if answer.get("started", True) else " (this request id had started it already)"
    lines = [
        f"incident {answer['incident_id']}{again}",
        f"requested by {answer['requester']}: {answer['change']}",
    ]
    if answer.get("read_by"):
        lines.append(f"read by {answer['read_by']}: the grammar could not read the words")
    for action in (answer.get("plan") or {}).get("actions", []):
        target = action.get("target") or {}
        where = f"{target.get('kind')} {target.get('namespace')}/{target.get('name')}"
        how = f"through Git ({action.get('file')})" if action.get("mode") == "gitops" else "directly"
        lines.append(f"plan: {action.get('kind')} on {where}, {how}")
    if "risk" in answer:
        approvers = answer.get("approvers")
        who = f" from {', '.join(approvers)}" if approvers else ""
        lines.append(
            f"risk: {answer['risk']}; approvals needed: {answer.get('approvals_required', 0)}{who} "
            "(the requester cannot approve)"
        )
    for pr in answer.get("pull_requests") or []:
        lines.append(f"pull request: {pr.get('url') or pr.get('number')} ({pr.get('status', '')})")
    if answer.get("outcome"):
        lines.append(f"outcome: {answer['outcome']}: {answer.get('reason', '')}")
    elif answer.get("note"):
        lines.append(answer["note"])
    lines.append(f"console: {answer['link']}")
    return lines
