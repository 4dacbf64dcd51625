"""`medic demo`: incidents through the whole loop, printed as they happen.

Without `--sandbox`, two incidents on one sandbox: cart, which nothing manages, is changed
directly (dry-run, snapshot, execute); ledger, which Argo CD manages, is changed by a pull request
against the local GitOps repository, merged as `medic pr merge` would, synced by the sandbox Argo
CD and verified. With `--sandbox FILE`, that scenario's incident alone.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from cli.devserver import temporal_binary
from cli.embedded import DEFAULT_SCENARIO, Stack, describe, embedded_stack, terminate_as_interrupt
from domain.settings import Settings
from domain.steps.remediation import WorkflowStatus
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
    "preparing_change": "GitOps change",
    "opening_pull_request": "pull request",
    "merging": "merge",
    "awaiting_merge": "wait for merge",
    "syncing": "Argo CD sync",
    "reverting": "revert change",
    "verifying": "verify",
    "rolling_back": "rollback",
    "verifying_rollback": "verify rollback",
    "closed": "outcome",
}


GITOPS_SCENARIO = Path(__file__).resolve().parents[1] / "sandbox" / "scenarios" / "demo-gitops.yaml"
# What `medic demo` runs without --sandbox, in this order, on one sandbox.
DEMO_SCENARIOS = (DEFAULT_SCENARIO, GITOPS_SCENARIO)
# The parts of scenarios that add up when several share one sandbox.
_LISTS = ("cluster", "argocd", "heals_when")
_MAPS = ("logs", "previous_logs", "gitops", "metrics")


def combined_scenario(paths: list[Path], target: Path) -> Path:
    """One scenario holding the clusters, Argo CD applications, GitOps files, logs, metrics and heal
    conditions of `paths` (the first one's alert), written to `target`."""
    merged: dict[str, Any] = {"name": "demo", "summary": "", "alert": None}
    for path in paths:
        data = yaml.safe_load(path.read_text())
        merged["alert"] = merged["alert"] or data["alert"]
        merged["summary"] = (merged["summary"] + " " + data.get("summary", "")).strip()
        for key in _LISTS:
            merged.setdefault(key, []).extend(data.get(key) or [])
        for key in _MAPS:
            merged.setdefault(key, {}).update(data.get(key) or {})
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(merged, sort_keys=False))
    return target


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
    elif step in ("preparing_change", "reverting") and status == "completed":
        for file in detail.get("files", []):
            lines.append(f"      {file.get('path')}: {file.get('description')}")
        lines += [f"      ✗ {reason}" for reason in detail.get("refused", [])]
        if detail.get("base_commit"):
            lines.append(f"      computed on {detail.get('base')} at {str(detail.get('base_commit'))[:12]}")
    elif step in ("opening_pull_request", "merging") and status == "completed":
        lines.append(
            f"      #{detail.get('number')} {detail.get('branch')} → {detail.get('base')} "
            f"({detail.get('status')}) {detail.get('url')}"
        )
    elif step == "awaiting_merge":
        if status == "started":
            lines.append(
                f"      pull request #{detail.get('number')} ({detail.get('branch')}) waits for its merge"
            )
        elif status == "completed":
            lines.append(
                f"      merged by {actor} as {str(detail.get('merge_commit'))[:12]} "
                f"(seen by {detail.get('via')})"
            )
        elif detail.get("error"):
            lines.append(f"      {detail.get('error')}")
    elif step == "syncing":
        lines.append(f"      {detail.get('reason') or detail.get('error')}")
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
    if status.impact is not None:
        lines.append(f"     impact     {status.impact.summary}")
    if status.policy is not None:
        lines.append(
            f"     policy     risk {status.policy.risk}, {status.approvals_required} approval(s), "
            f"deadline {status.approval_deadline:%Y-%m-%d %H:%M:%S} UTC"
            + (f", {status.policy.mode} mode" if status.policy.mode else "")
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


def _medic_env(stack: Stack) -> dict[str, str]:
    """The environment a `medic` command needs to act on this stack."""
    env = {
        **os.environ,
        "MEDIC_HOME": stack.settings.home,
        "TEMPORAL_ADDRESS": stack.settings.temporal_address,
        "MEDIC_GITOPS_REPO": stack.settings.gitops_repo_url,
    }
    if stack.settings.database_url:
        env["DATABASE_URL"] = stack.settings.database_url
    return env


def _local_remote(stack: Stack) -> Path | None:
    """The GitOps remote when it is a bare repository on this machine (the embedded default)."""
    remote = Path(stack.settings.gitops_repo_url) if stack.settings.gitops_repo_url else None
    return remote if remote is not None and (remote / "HEAD").exists() else None


def _git(remote: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "--git-dir", str(remote), *args], capture_output=True, text=True, check=False
    )
    return done.stdout.rstrip()


async def _show_pull_request(stack: Stack, handle: Any, number: int, branch: str) -> None:
    """The pull request's commit and diff, read from the GitOps remote itself when it is local."""
    remote = _local_remote(stack)
    status: WorkflowStatus = await handle.query(RemediationWorkflow.status)
    pr = next((p for p in status.pull_requests if p.number == number), None)
    if remote is not None and pr is not None:
        _say(f"\n   In the GitOps repository {remote}:")
        _say(f"   $ git log --oneline {pr.base}..{branch}")
        for line in _git(remote, "log", "--oneline", f"{pr.base}..{branch}").splitlines():
            _say(f"     {line}")
        _say(f"   $ git diff {pr.base}...{branch}")
        diff = _git(remote, "diff", f"{pr.base}...{branch}")
    else:
        change = status.gitops_change
        diff = "\n".join(f.diff for f in change.files) if change else ""
    for line in diff.splitlines():
        _say(f"     {line}")


async def _merge(stack: Stack, number: int, who: str, interactive: bool) -> None:
    """Merge pull request `number` as `medic pr merge` does (the local host), or ask for it."""
    shown = f"medic pr merge {number} --as {who}"
    if stack.settings.github_token and stack.settings.github_repository:
        _say(f"\n   Merge it on GitHub ({stack.settings.github_repository}); GitHub's webhook tells medic.")
        return
    if interactive:
        _say("\n   The pull request waits for its merge. Merge it with:")
        _say(f"     {shown}")
        _say("   (waiting — medic also polls the PR, so a merge made any other way is seen too)")
        return
    _say(f"\n   Not a terminal: merging as {who}, as a reviewer would:")
    _say(f"   $ {shown}")
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "cli", "pr", "merge", str(number), "--as", who],
        env=_medic_env(stack),
        capture_output=True,
        text=True,
        check=False,
    )
    for line in (done.stdout + done.stderr).strip().splitlines():
        _say(f"     {line}")


async def _drive(stack: Stack, alert: dict[str, Any], interactive: bool) -> int:
    alert = dict(alert)
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
    approver = "demo-operator" if not interactive else (getpass.getuser() or "operator")
    while True:
        with transaction(sessions) as session:
            events = AuditRepository(session).list(incident_id=incident_id)
            incident = IncidentRepository(session).get(incident_id)
        for event in events[printed:]:
            took = f" ({event.duration_ms} ms)" if event.duration_ms is not None else ""
            detail = event.detail or {}
            for line in _describe_event(event.step, event.status, event.actor, detail, took):
                _say(line)
            if event.step == "awaiting_approval" and event.status == "started":
                status = await handle.query(RemediationWorkflow.status)
                _say(_explain(status))
                signal, shown = _approval_commands(stack, workflow_id, approver)
                what = "revert" if status.approval_round == "revert" else "plan"
                _say(f"\n   The {what} waits for a human. Approve it with any of:")
                _say(f"     {shown}")
                _say(f"     medic approve {incident_id} --as {approver} --reason 'plan reviewed'")
                _say("     the Temporal Web UI: the workflow → Send a Signal → approve, with the JSON above")
                if interactive:
                    _say("   (waiting for your approval — run one of the commands above in another terminal)")
                else:
                    _say(f"   Not a terminal: approving as {approver} with the temporal CLI:")
                    _say(f"   $ {shlex.join(['temporal', *signal[1:]])}\n")
                    await asyncio.to_thread(subprocess.run, signal, check=True, stdout=subprocess.DEVNULL)
            if event.step == "awaiting_merge" and event.status == "started":
                number, branch = int(detail.get("number", 0)), str(detail.get("branch", ""))
                await _show_pull_request(stack, handle, number, branch)
                await _merge(stack, number, approver, interactive)
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
            if action.mode == "gitops":
                writers = stack.cluster.field_managers(
                    "apps/v1", action.target.kind, action.target.namespace, action.target.name
                )
                names = ", ".join(dict.fromkeys(w.manager for w in writers)) or "nobody"
                _say(f"   written by: {names} (medic changed Git; Argo CD changed the cluster)")
    remote = _local_remote(stack)
    if remote is not None and result.pull_requests:
        _say(f"   $ git log --oneline -3 {result.pull_requests[0].base}  (in {remote})")
        for line in _git(remote, "log", "--oneline", "-3", result.pull_requests[0].base).splitlines():
            _say(f"     {line}")
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
    return 0 if result.outcome in ("resolved", "rolled_back", "no_action", "observed") else 1


def run_demo(
    base: Settings, scenario: Path | None, *, gateway_port: int, interactive: bool, keep: bool
) -> int:
    """The demo on the sandbox: `scenario`'s incident, or without one the two of DEMO_SCENARIOS
    (a direct change, then a GitOps change) on one sandbox. 0 when every incident ended well."""
    parts = [scenario] if scenario is not None else list(DEMO_SCENARIOS)
    if scenario is None:
        home = Path(base.home).resolve()
        scenario = combined_scenario(parts, home / "demo-scenario.yaml")
    alerts = [yaml.safe_load(part.read_text()) for part in parts]

    async def main() -> int:
        async with embedded_stack(base, scenario, gateway_port=gateway_port, force_sandbox=True) as stack:
            _say(
                "medic demo — observe → analyze → validate → approve → then either dry-run → snapshot → "
                "execute, or a pull request → merge → Argo CD sync — → verify"
            )
            for line in describe(stack):
                _say(line)
            codes = []
            for number, data in enumerate(alerts, start=1):
                if len(alerts) > 1:
                    _say(f"\n━━ Incident {number} of {len(alerts)}: {data.get('summary', '')}")
                codes.append(await _drive(stack, data["alert"], interactive))
            if keep:
                _say("\nmedic keeps running (Ctrl-C to stop).")
                await asyncio.Event().wait()
            return max(codes)

    try:
        with terminate_as_interrupt():
            return asyncio.run(main())
    except KeyboardInterrupt:
        return 130
