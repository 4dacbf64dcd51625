"""`medic demo`: incidents through the whole loop, printed as they happen.

Without `--sandbox`, two incidents on one sandbox: cart, which nothing manages, is changed
directly (dry-run, snapshot, execute); ledger, which Argo CD manages, is changed by a pull request
against the local GitOps repository, merged as `medic pr merge` would, synced by the sandbox Argo
CD and verified. Then a person's change is reviewed before it merges: "dana" pushes a branch
bumping ledger's image and replicas, and medic reviews it as `medic pr review` asks (the rendered
diff, risk, the policy's verdict, the monthly cost, a comment and a commit status). Last, a bad
deploy: dana pushes a release of store-checkout (sandbox/scenarios/deploy-watch.yaml's estate, on
the same sandbox) to main; Argo CD syncs it and notifies medic, whose deploy watch (6 s here, in the
demo's policy data) finds its error ratio 20 times its baseline and opens an incident; its revert
pull request is approved as `medic approve` would, merged, synced and verified, and the revert's own
deploy is watched and verified. With `--sandbox FILE`, that scenario's incident alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError

from cli.devserver import temporal_binary
from cli.embedded import (
    DEFAULT_SCENARIO,
    SANDBOX_POLICY_DIR,
    Stack,
    describe,
    embedded_stack,
    open_policy,
    terminate_as_interrupt,
)
from domain.deploy.model import deploy_watch_id
from domain.review.render import MARKER
from domain.settings import Settings
from domain.steps.remediation import WorkflowStatus
from domain.steps.review import STATUS_CONTEXT, PullRequestClosed, ReviewResult
from integrations.errors import IntegrationError
from policies import DATA_FILE
from store.db import make_engine, session_factory, transaction
from store.deployments import WATCHING, DeploymentRepository, figures_of
from store.repositories import AuditRepository, IncidentRepository
from store.reviews import CommitStatusRepository, ReviewCommentRepository
from workflows.remediation import RemediationWorkflow
from workflows.review.workflow import PULL_REQUEST_CLOSED

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
_MAPS = ("logs", "previous_logs", "gitops", "metrics", "deploy_signals")


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
            container = f" container {action.target.container}" if action.target.container else ""
            lines.append(
                f"     plan       {action.kind} {action.target.key}{container} "
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
    if (stack.settings.github_token or stack.settings.github_app_id) and stack.settings.github_repository:
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


async def _follow(
    stack: Stack,
    sessions: Any,
    handle: Any,
    incident_id: str,
    approver: str,
    interactive: bool,
    *,
    approve_with: str = "temporal",
) -> None:
    """Print the incident's audit trail as it grows, until it is closed: its approval given (not
    a terminal) with the temporal CLI or, with `approve_with="medic"`, as `medic approve` gives
    it; its pull requests shown and merged as `medic pr merge` would."""
    printed = 0
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
                for pr in status.pull_requests:
                    # a revert's pull request is open before its approval: what is approved
                    if pr.status == "open":
                        _say(f"\n   Pull request #{pr.number} ({pr.branch}) is open: approving it merges it.")
                        await _show_pull_request(stack, handle, pr.number, pr.branch)
                signal, shown = _approval_commands(stack, handle.id, approver)
                what = "revert" if status.approval_round == "revert" else "plan"
                _say(f"\n   The {what} waits for a human. Approve it with any of:")
                _say(f"     {shown}")
                _say(f"     medic approve {incident_id} --as {approver} --reason 'plan reviewed'")
                _say("     the Temporal Web UI: the workflow → Send a Signal → approve, with the JSON above")
                if interactive:
                    _say("   (waiting for your approval — run one of the commands above in another terminal)")
                elif approve_with == "medic":
                    await _approve_as_medic(stack, incident_id, approver)
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


async def _approve_as_medic(stack: Stack, incident_id: str, approver: str) -> None:
    """Approve the incident's plan as `medic approve` does, the command shown and its answer."""
    reason = "the deploy broke checkout; revert it"
    _say(f"   Not a terminal: approving as {approver}, as a reviewer would:")
    _say(f"   $ medic approve {incident_id} --as {approver} --reason {shlex.quote(reason)}")
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "cli", "approve", incident_id, "--as", approver, "--reason", reason],
        env=_medic_env(stack),
        capture_output=True,
        text=True,
        check=False,
    )
    for line in (done.stdout + done.stderr).strip().splitlines():
        _say(f"     {line}")
    _say("")


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

    approver = "demo-operator" if not interactive else (getpass.getuser() or "operator")
    await _follow(stack, sessions, handle, incident_id, approver, interactive)

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


# ---- a person's change, reviewed before it merges ------------------------------------------------

REVIEW_BRANCH = "dana/ledger-2.9"
REVIEW_FILE = "values/ledger-values.yaml"
# dana's change to ledger's Helm values: a new image and three times the replicas.
REVIEW_EDITS = (('tag: "2.8.1"', 'tag: "2.9.0"'), ("replicaCount: 2", "replicaCount: 6"))
REVIEW_TIMEOUT_SECONDS = 60
# The comment is shown up to its first object's diff, that diff cut at this many lines.
DIFF_LINES_SHOWN = 30


class ReviewFailed(Exception):
    """The demo's change review could not be made; the message says why, in one line."""


def _push_as_dana(
    remote: Path,
    branch: str,
    file: str = REVIEW_FILE,
    edits: tuple[tuple[str, str], ...] = REVIEW_EDITS,
    message: str = "ledger 2.9.0, and six replicas for the month-end batch",
) -> str:
    """dana's commit of `edits` to `file` on `branch` (from `main`), pushed to `remote`; its sha."""
    who = {"GIT_AUTHOR_NAME": "dana", "GIT_AUTHOR_EMAIL": "dana@example.com"}
    env = {**os.environ, **who, "GIT_COMMITTER_NAME": "dana", "GIT_COMMITTER_EMAIL": "dana@example.com"}
    with tempfile.TemporaryDirectory(prefix="medic-demo-dana-") as work:

        def git(*args: str) -> str:
            done = subprocess.run(["git", "-C", work, *args], env=env, capture_output=True, text=True)
            if done.returncode != 0:
                reason = (done.stderr.strip().splitlines() or ["failed"])[-1]
                raise ReviewFailed(f"git {args[0]}: {reason}")
            return done.stdout.strip()

        git("clone", "-q", "--branch", "main", str(remote), ".")
        git("checkout", "-q", "-B", branch)
        path = Path(work) / file
        text = path.read_text()
        for before, after in edits:
            if before not in text:
                raise ReviewFailed(f"{file} on main has no {before!r} to change")
            text = text.replace(before, after, 1)
        path.write_text(text)
        git("commit", "-q", "-am", message)
        # Forced on a branch of dana's: an earlier demo's branch of the same name is replaced.
        git("push", "-q", *(["--force"] if branch != "main" else []), "origin", f"HEAD:refs/heads/{branch}")
        return git("rev-parse", "HEAD")


async def _await_review(stack: Stack, sessions: Any, workflow_id: str, sha: str) -> ReviewResult:
    """The review workflow's status once it has reviewed `sha`; ReviewFailed when it set an
    `error` status on `sha` instead, or did not finish in time."""
    handle = stack.client.get_workflow_handle(workflow_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + REVIEW_TIMEOUT_SECONDS
    while loop.time() < deadline:
        try:
            result = await handle.query("status", result_type=ReviewResult)
        except (RPCError, WorkflowQueryFailedError):  # its first task has not run yet
            result = ReviewResult()
        if result.last is not None and result.last.head_sha == sha:
            return result
        with transaction(sessions) as session:
            status = CommitStatusRepository(session).get(stack.settings.gitops_repo_url, sha, STATUS_CONTEXT)
            failed = status.description if status is not None and status.state == "error" else ""
        if failed:
            raise ReviewFailed(failed)
        await asyncio.sleep(0.2)
    reason = f"{sha[:12]} not reviewed within {REVIEW_TIMEOUT_SECONDS} s"
    raise ReviewFailed(reason + await _retrying(handle))


async def _retrying(handle: Any) -> str:
    """Why the review workflow's activity is being retried, as a clause: the last failure of its
    pending activity ("" when none has failed)."""
    with contextlib.suppress(RPCError):
        described = await handle.describe()
        for pending in described.raw_description.pending_activities:
            if pending.HasField("last_failure"):
                message = (pending.last_failure.message.splitlines() or ["failed"])[0]
                return f"; retrying {pending.activity_type.name} (attempt {pending.attempt}): {message}"
    return ""


def terminal_comment(parts: list[str], diff_lines: int = DIFF_LINES_SHOWN) -> list[str]:
    """A review comment as a terminal shows it: the summary and the first object's diff (cut at
    `diff_lines` lines), without the marker and the HTML that folds the diffs on a forge."""
    text = "\n".join(part.removeprefix(MARKER).strip("\n") for part in parts)
    head, folded, rest = text.partition("<details><summary>")
    lines = head.rstrip("\n").splitlines()
    if folded:
        block, _, after = rest.partition("</details>")
        title, _, body = block.partition("</summary>")
        lines.append(title.strip())
        diff = [line for line in body.strip("\n").splitlines() if not line.startswith("```")]
        lines += diff[:diff_lines]
        if len(diff) > diff_lines:
            lines.append(f"… {len(diff) - diff_lines} more diff lines")
        more = after.count("<details><summary>")
        if more:
            lines.append(f"… and {more} more object diff(s)")
    # Blank lines are kept single: the comment's paragraphs, without the gaps around its blocks.
    return [line for i, line in enumerate(lines) if line.strip() or (i and lines[i - 1].strip())]


async def _review_change(stack: Stack, *, close: bool) -> int:
    """dana pushes a change to ledger's values; medic reviews it as `medic pr review` asks, and
    the branch, its diff, the verdict, the commit status and the comment are printed. 0 when the
    review was made (whatever the policy said of it). With `close`, the review workflow is told
    the branch is closed afterwards (it would otherwise wait for dana's next push)."""
    from cli.review import ask_for_review
    from integrations.errors import IntegrationError
    from integrations.pull_requests import local_review_target

    remote = _local_remote(stack)
    if remote is None:
        return 0  # the review reads and pushes a local remote; a configured one is left alone
    branch = REVIEW_BRANCH
    _say("\n━━ A change review: a person's pull request, reviewed before it merges")
    _say(f"\n1. dana pushes {branch} to the GitOps remote ({remote}): ledger's image and replicas")
    workflow_id = ""
    try:
        sha = await asyncio.to_thread(_push_as_dana, remote, branch)
        _say(f"   $ git diff --stat main...{branch}")
        for line in _git(remote, "diff", "--stat", f"main...{branch}").splitlines():
            _say(f"     {line.strip()}")
        for line in _git(remote, "diff", "-U0", f"main...{branch}", "--", REVIEW_FILE).splitlines():
            if line[:1] in "+-" and line[:3] not in ("+++", "---"):
                _say(f"     {line}")

        _say(f"\n2. medic reviews it, as `medic pr review {branch}` asks:")
        target = await asyncio.to_thread(local_review_target, stack.settings.gitops_repo_url, branch)
        started = time.monotonic()
        workflow_id = await ask_for_review(stack.client, target, stack.settings.task_queue, delivery="demo")
        _say(f"   the ChangeReviewWorkflow {workflow_id} reviews {sha[:12]}")
        sessions = session_factory(make_engine(stack.settings.resolved_database_url))
        result = await _await_review(stack, sessions, workflow_id, sha)
        took = time.monotonic() - started
        with transaction(sessions) as session:
            status = CommitStatusRepository(session).get(stack.settings.gitops_repo_url, sha, STATUS_CONTEXT)
            parts = [c.body for c in ReviewCommentRepository(session).parts(workflow_id, MARKER)]
    except (ReviewFailed, IntegrationError, RPCError) as err:
        _say(f"   ✗ the review of {branch} failed: {err}")
        return 1
    finally:
        if close and workflow_id:
            # dana's branch is left unmerged; its review workflow ends with the demo.
            with contextlib.suppress(RPCError):
                await stack.client.get_workflow_handle(workflow_id).signal(
                    PULL_REQUEST_CLOSED, PullRequestClosed(head_ref=branch)
                )
    outcome = result.last
    assert outcome is not None  # _await_review returns only a reviewed head
    _say(f"   ▸ reviewed in {took:.1f} s: {outcome.summary}")
    if status is not None:
        _say(f"   commit status {STATUS_CONTEXT} on {sha[:12]}: {status.state} — {status.description}")

    _say(f"\n3. The comment medic keeps for {branch} (the local host's, in the store), in brief:")
    for line in terminal_comment(parts):
        _say(f"     {line}" if line else "")

    _say("\n   Review a branch yourself:")
    _say("     medic pr review BRANCH")
    _say("       the worker reviews it: one comment, updated in place on each push, and a status")
    _say(f"     medic review --repo {_shown_path(remote)} --base main --head BRANCH")
    _say("       no worker: the same report, printed (exit 1 when the policy denies), rendered on this")
    _say("       machine — a chart from a Helm repository, like ledger's, needs Argo CD: MEDIC_ARGOCD_URL")
    return 0


# ---- a bad deploy, caught by its watch and reverted ------------------------------------------------

DEPLOY_SCENARIO = Path(__file__).resolve().parents[1] / "sandbox" / "scenarios" / "deploy-watch.yaml"
DEPLOY_APPLICATION = "store-checkout"
DEPLOY_FILE = "apps/store/checkout/deployment.yaml"
# dana's release of checkout: the sandbox Prometheus serves its error ratio at 4% once it is synced.
DEPLOY_EDITS = (("checkout:3.1.4", "checkout:3.2.0"),)
# The demo's watch of store-checkout's deploys (the policy's deploy_watch entry): 6 s, sampled every second.
DEPLOY_WATCH = {"analysis_window_seconds": 6, "sample_interval_seconds": 1}
DEPLOY_TIMEOUT_SECONDS = 90


def demo_policy(directory: Path) -> Path:
    """The sandbox's policy data (`open_policy`) with the demo's short watch of DEPLOY_APPLICATION."""
    path = open_policy(directory)
    data = json.loads((path / DATA_FILE).read_text())
    data["medic"]["config"]["deploy_watch"]["applications"] = {DEPLOY_APPLICATION: DEPLOY_WATCH}
    (path / DATA_FILE).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def _signals(values: dict[str, Any] | None) -> str:
    """A workload's signals in one line: error ratio, p99, request rate."""
    v = values or {}
    parts = []
    if v.get("error_ratio") is not None:
        parts.append(f"error ratio {v['error_ratio']:.2%}")
    if v.get("p99_ms") is not None:
        parts.append(f"p99 {v['p99_ms']:.0f} ms")
    if v.get("request_rate") is not None:
        parts.append(f"{v['request_rate']:.1f} req/s")
    return ", ".join(parts) or "no data"


async def _finished_watch(
    stack: Stack, sessions: Any, watch_id: str, deadline: float
) -> tuple[str, str, dict[str, Any], str]:
    """The watch `watch_id`'s verdict once its row says it finished: (state, summary, figures,
    incident id), its steps printed as the workflow's status query answers them. ReviewFailed
    when it has not finished by `deadline` (the loop's clock)."""
    loop = asyncio.get_running_loop()
    handle = stack.client.get_workflow_handle(watch_id)
    shown, planned, started = "", False, loop.time()
    while loop.time() < deadline:
        with transaction(sessions) as session:
            row = DeploymentRepository(session).get(watch_id)
            found = (row.state, row.summary, figures_of(row), row.incident_id or "") if row else None
        with contextlib.suppress(RPCError, WorkflowQueryFailedError):  # not started yet
            step = await handle.query("status", result_type=str)
            if step != shown:
                _say(f"  ▸ {'deploy watch':<16} {step} (+{loop.time() - started:.1f} s)")
                shown = step
        if found is not None and not planned and found[2].get("watch"):
            watch = found[2]["watch"]
            _say(f"      {watch.get('note')}: {', '.join(watch.get('changed', {}))}")
            planned = True
        if found is not None and found[0] != WATCHING:
            return found
        await asyncio.sleep(0.2)
    raise ReviewFailed(f"the watch {watch_id} did not finish within {DEPLOY_TIMEOUT_SECONDS} s")


def _say_verdict(state: str, summary: str, figures: dict[str, Any]) -> None:
    verdict = figures.get("verdict") or {}
    for workload in verdict.get("figures", []):
        _say(f"      baseline before the sync  {_signals(workload.get('baseline'))}")
        _say(f"      samples after the sync    {_signals(workload.get('after'))}")
    _say(f"  ▸ {'verdict':<16} {state}: {summary}")
    for fired in verdict.get("fired", []):
        _say(f"      ✗ {fired.get('message')}")


async def _bad_deploy(stack: Stack, interactive: bool) -> int:
    """dana pushes a release of checkout to main; Argo CD syncs it and notifies medic, whose deploy
    watch finds it degraded and opens an incident; its revert is approved, merged, synced and
    verified, and the revert's own deploy is watched and verified. 0 when the incident is resolved
    and the revert verified."""
    from integrations.argocd import ArgoClient

    remote = _local_remote(stack)
    if remote is None:
        return 0  # the deploy is pushed to a local remote; a configured one is left alone
    app = DEPLOY_APPLICATION
    sessions = session_factory(make_engine(stack.settings.resolved_database_url))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEPLOY_TIMEOUT_SECONDS
    _say("\n━━ A bad deploy: watched after its sync, found degraded, reverted")
    try:
        _say(f"\n1. dana pushes checkout 3.2.0 to main ({remote}): {app}, which Argo CD syncs from main")
        revision = await asyncio.to_thread(
            _push_as_dana, remote, "main", DEPLOY_FILE, DEPLOY_EDITS, "checkout 3.2.0: the new payment client"
        )
        _say(f"   $ git show --format=%h\\ %s {revision[:7]} -- {DEPLOY_FILE}")
        _say(f"     {_git(remote, 'log', '--oneline', '-1', revision)}")
        for line in _git(remote, "show", "-U0", "--format=", revision, "--", DEPLOY_FILE).splitlines():
            if line[:1] in "+-" and line[:3] not in ("+++", "---"):
                _say(f"     {line}")

        _say(f"\n2. Argo CD polls the repository (a refresh of {app}) and syncs it:")

        def refresh() -> dict[str, Any]:
            with ArgoClient(stack.settings.argocd_url, stack.settings.argocd_token) as argocd:
                argocd.get_application(app, "argocd", refresh="normal")
                # (an automated sync, which the sandbox runs at its next request)
                return argocd.get_application(app, "argocd")

        synced = await asyncio.to_thread(refresh)
        operation = (synced.get("status") or {}).get("operationState") or {}
        sync_revision = ((operation.get("syncResult") or {}).get("revision")) or revision
        _say(f"  ▸ {'Argo CD sync':<16} {operation.get('phase', 'unknown')} at {str(sync_revision)[:12]}")
        _say(f"      Argo CD Notifications posts {app} {revision[:7]} to {stack.gateway_url}/webhooks/argocd")
        watch_id = deploy_watch_id("argocd", app, revision)
        _say(f"\n3. The DeploymentWatchWorkflow {watch_id} compares its signals with the baseline:")
        state, summary, figures, incident_id = await _finished_watch(stack, sessions, watch_id, deadline)
        _say_verdict(state, summary, figures)
        if state != "degraded" or not incident_id:
            _say(f"   ✗ the deploy was not found degraded ({state}): no incident")
            return 1

        # the watch's row names the incident's workflow; the audit trail is under the incident's id
        handle = stack.client.get_workflow_handle_for(RemediationWorkflow.run, incident_id)
        incident_id = (await handle.query(RemediationWorkflow.status)).incident_id
        _say(f"\n4. Incident {incident_id} reverts the deploy, as the Temporal workflow {handle.id}:")
        if stack.temporal_started:
            _say(f"   {stack.settings.temporal_ui_url}/namespaces/default/workflows/{handle.id}")
        approver = "demo-operator" if not interactive else (getpass.getuser() or "operator")
        await _follow(stack, sessions, handle, incident_id, approver, interactive, approve_with="medic")
        result = await handle.query(RemediationWorkflow.status)
        _say(f"\n5. Outcome: {result.outcome} — {result.reason}")
        head = _git(remote, "rev-parse", "main")
        _say(f"   $ git log --oneline -3 main  (in {remote})")
        for line in _git(remote, "log", "--oneline", "-3", "main").splitlines():
            _say(f"     {line}")

        reverted = deploy_watch_id("argocd", app, head)
        _say(f"\n6. The revert is a deploy too: {reverted}, watched the same way")
        state, summary, figures, _ = await _finished_watch(stack, sessions, reverted, deadline)
        _say_verdict(state, summary, figures)
    except (ReviewFailed, RPCError, IntegrationError) as err:
        _say(f"   ✗ the deploy watch part failed: {err}")
        return 1
    return 0 if result.outcome == "resolved" and state == "verified" else 1


def _shown_path(path: Path) -> str:
    """`path` relative to the working directory when it is under it (`.medic/gitops.git`)."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def run_demo(
    base: Settings, scenario: Path | None, *, gateway_port: int, interactive: bool, keep: bool
) -> int:
    """The demo on the sandbox: `scenario`'s incident, or without one the two of DEMO_SCENARIOS
    (a direct change, then a GitOps change) on one sandbox. 0 when every incident ended well."""
    parts = [scenario] if scenario is not None else list(DEMO_SCENARIOS)
    full = scenario is None
    if scenario is None:
        home = Path(base.home).resolve()
        # the deploy watch's estate joins the sandbox; its alert is not sent
        scenario = combined_scenario([*parts, DEPLOY_SCENARIO], home / "demo-scenario.yaml")
        if not base.policy_dir:
            base = base.model_copy(update={"policy_dir": str(demo_policy(home / SANDBOX_POLICY_DIR))})
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
            if GITOPS_SCENARIO in parts:
                codes.append(await _review_change(stack, close=not keep))
            if full:
                codes.append(await _bad_deploy(stack, interactive))
            if keep:
                _say("\nmedic keeps running (Ctrl-C to stop).")
                await asyncio.Event().wait()
            return max(codes)

    try:
        with terminate_as_interrupt():
            return asyncio.run(main())
    except KeyboardInterrupt:
        return 130
