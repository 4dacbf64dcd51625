"""`medic demo`: one incident through the whole loop, printed as it happens."""

from __future__ import annotations

import asyncio
import getpass
import json
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from cli.devserver import temporal_binary
from cli.embedded import Stack, describe, embedded_stack
from domain.settings import Settings
from domain.steps import WorkflowStatus
from store.db import make_engine, session_factory, transaction
from store.repositories import AuditRepository, IncidentRepository
from workflows.remediation import RemediationWorkflow

STEP_TITLES = {
    "received": "alert received",
    "observing": "observe",
    "recalling": "recall",
    "analyzing": "analyze",
    "reviewing": "second opinion",
    "validating": "policy",
    "awaiting_approval": "approval",
    "decision": "decision",
    "dry_run": "dry-run",
    "snapshot": "snapshot",
    "executing": "execute",
    "verifying": "verify",
    "rolling_back": "rollback",
    "verifying_rollback": "verify rollback",
    "closed": "outcome",
}


def _say(text: str = "") -> None:
    print(text, flush=True)


def _describe_event(step: str, status: str, actor: str, detail: dict[str, Any], took: str) -> list[str]:
    title = STEP_TITLES.get(step, step)
    lines = [f"  ▸ {title:<16} {status}{took}"]
    if step == "observing":
        lines.append(
            f"      saw {', '.join(detail.get('workloads', [])) or 'no workload'}; "
            f"{detail.get('pods', 0)} pods, {detail.get('events', 0)} events"
        )
    elif step == "analyzing":
        lines.append(f"      root cause: {detail.get('root_cause')} — {detail.get('summary')}")
    elif step == "validating":
        lines.append(
            f"      allowed: {detail.get('allowed')}, risk: {detail.get('risk')}, "
            f"approvals required: {detail.get('approvals_required')}"
        )
        lines += [f"      · {reason}" for reason in detail.get("reasons", [])]
        lines += [f"      ✗ {v.get('message')}" for v in detail.get("violations", [])]
    elif step == "decision":
        approval = detail.get("approval", {})
        lines.append(
            f"      {approval.get('decision')} by {actor} via {approval.get('via')}: {approval.get('reason')}"
        )
    elif step == "dry_run":
        for diff in detail.get("diffs", []):
            for field, (before, after) in diff.get("changes", {}).items():
                lines.append(
                    f"      {diff.get('resource')} {field}: {json.dumps(before)} → {json.dumps(after)}"
                )
        lines += [f"      ✗ {p}" for p in detail.get("problems", [])]
    elif step == "snapshot":
        lines.append(f"      stored {', '.join(detail.get('resources', []))}")
    elif step == "executing":
        lines += [
            f"      {c['resource']['namespace']}/{c['resource']['kind']}/{c['resource']['name']}: "
            f"{c['detail']} (generation {c['generation']})"
            for c in detail.get("changes", [])
        ]
    elif step in ("verifying", "verifying_rollback") or step == "closed":
        lines.append(f"      {detail.get('reason')}")
    return lines


def _explain(status: WorkflowStatus) -> str:
    lines = ["", "   What medic wants to do, and why:"]
    if status.diagnosis is not None:
        d = status.diagnosis
        lines.append(f"     diagnosis  {d.root_cause} (confidence {d.confidence:.2f}, {d.analyzer} analyzer)")
        lines.append(f"                {d.explanation}")
        lines += [f"     evidence   {e.item_id}: {e.note}" for e in d.evidence]
    if status.plan is not None:
        for action in status.plan.actions:
            fields = action.model_dump(exclude={"target", "mode", "file", "kind"}, exclude_defaults=True)
            lines.append(
                f"     plan       {action.kind} {action.target.key} container {action.target.container} "
                f"{json.dumps(fields)} ({action.mode})"
            )
        lines.append(f"     plan hash  {status.plan_hash}; rollback: {status.plan.rollback}")
    if status.policy is not None:
        lines.append(
            f"     policy     risk {status.policy.risk}, {status.approvals_required} approval(s), "
            f"deadline {status.approval_deadline:%Y-%m-%d %H:%M:%S} UTC"
        )
    return "\n".join(lines)


def _approval_commands(stack: Stack, workflow_id: str, approver: str) -> tuple[list[str], str]:
    signal = [
        temporal_binary(),
        "workflow",
        "signal",
        "--address",
        stack.settings.temporal_address,
        "--workflow-id",
        workflow_id,
        "--name",
        "approve",
        "--input",
        json.dumps({"approver": approver, "reason": "demo: plan reviewed"}),
    ]
    shown = (
        f"temporal workflow signal --workflow-id {workflow_id} --name approve "
        f"--input '{json.dumps({'approver': approver, 'reason': 'plan reviewed'})}'"
    )
    return signal, shown


async def _drive(stack: Stack, interactive: bool) -> int:
    scenario = yaml.safe_load(Path(stack.scenario or "").read_text())
    alert = dict(scenario["alert"])
    # A fresh alert group per demo run, so an earlier run's incident is never reused.
    run = time.strftime("%Y%m%dT%H%M%S")
    alert["groupKey"] = f"{alert['groupKey']}:demo-{run}"
    sessions = session_factory(make_engine(stack.settings.resolved_database_url))

    _say(f"\n1. Alertmanager posts {alert['groupLabels']} to the gateway")
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(
            f"{stack.gateway_url}/alerts/alertmanager",
            json=alert,
            headers={"Authorization": f"Bearer {stack.settings.webhook_token}"},
        )
    body = response.json()
    _say(f"   → HTTP {response.status_code} {json.dumps(body)}")
    if response.status_code >= 300:
        return 1
    workflow_id = body["workflow_ids"][0]
    handle = stack.client.get_workflow_handle_for(RemediationWorkflow.run, workflow_id)
    incident_id = (await handle.query(RemediationWorkflow.status)).incident_id
    _say(f"\n2. Incident {incident_id} runs as the Temporal workflow {workflow_id}:")
    if stack.temporal_started:
        _say(f"   {stack.settings.temporal_ui_url}/namespaces/default/workflows/{workflow_id}")

    printed = 0
    approved_by_demo = False
    approver = "demo-operator" if not interactive else (getpass.getuser() or "operator")
    while True:
        with transaction(sessions) as session:
            events = AuditRepository(session).list(incident_id=incident_id)
            incident = IncidentRepository(session).get(incident_id)
        for event in events[printed:]:
            took = f" ({event.duration_ms} ms)" if event.duration_ms is not None else ""
            for line in _describe_event(event.step, event.status, event.actor, event.detail or {}, took):
                _say(line)
            if event.step == "awaiting_approval" and event.status == "started":
                status = await handle.query(RemediationWorkflow.status)
                _say(_explain(status))
                signal, shown = _approval_commands(stack, workflow_id, approver)
                _say("\n   The plan waits for a human. Approve it with any of:")
                _say(f"     {shown}")
                _say(f"     medic approve {incident_id} --as {approver} --reason 'plan reviewed'")
                _say("     the Temporal Web UI: the workflow → Send a Signal → approve, with the JSON above")
                if interactive:
                    _say("   (waiting for your approval — run one of the commands above in another terminal)")
                elif not approved_by_demo:
                    _say(f"   Not a terminal: approving as {approver} with the temporal CLI:")
                    _say(f"   $ {shlex.join(['temporal', *signal[1:]])}\n")
                    await asyncio.to_thread(subprocess.run, signal, check=True, stdout=subprocess.DEVNULL)
                    approved_by_demo = True
        printed = len(events)
        if incident is not None and incident.outcome is not None and printed and events[-1].step == "closed":
            break
        await asyncio.sleep(0.3)

    # The workflow stays open for its cooldown (absorbing Alertmanager's repeats); the outcome is set.
    result = await handle.query(RemediationWorkflow.status)
    _say(f"\n3. Outcome: {result.outcome} — {result.reason}")
    if stack.cluster is not None:
        status = result
        for action in status.plan.actions if status.plan else []:
            live = stack.cluster.peek(
                "apps/v1", action.target.kind, action.target.namespace, action.target.name
            )
            for container in (
                (live or {}).get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
            ):
                _say(
                    f"   live {action.target.key} container {container['name']}: "
                    f"resources {json.dumps(container.get('resources', {}))}"
                )
    # Alertmanager tells medic the alert has cleared: the incident's workflow completes.
    resolved = json.loads(json.dumps(alert))
    resolved["status"] = "resolved"
    for item in resolved["alerts"]:
        item["status"] = "resolved"
        item["endsAt"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    async with httpx.AsyncClient(timeout=10) as http:
        await http.post(
            f"{stack.gateway_url}/alerts/alertmanager",
            json=resolved,
            headers={"Authorization": f"Bearer {stack.settings.webhook_token}"},
        )
    await asyncio.wait_for(handle.result(), 30)
    _say("   Alertmanager reports the alert resolved: the incident's workflow completes.")
    _say(f"\n   The audit trail is in the store: medic incidents show {incident_id}")
    return 0 if result.outcome in ("resolved", "rolled_back", "no_action") else 1


def run_demo(
    base: Settings, scenario: Path | None, *, gateway_port: int, interactive: bool, keep: bool
) -> int:
    async def main() -> int:
        async with embedded_stack(base, scenario, gateway_port=gateway_port, force_sandbox=True) as stack:
            _say(
                "medic demo — one incident through observe → analyze → validate → approve → dry-run → "
                "snapshot → execute → verify"
            )
            for line in describe(stack):
                _say(line)
            code = await _drive(stack, interactive)
            if keep:
                _say("\nmedic keeps running (Ctrl-C to stop).")
                await asyncio.Event().wait()
            return code

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return 130
