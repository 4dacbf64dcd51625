"""Bringing drifted resources back to Git through Argo CD: a drift incident's dry-run and execution.

- `dry_run_sync` (read only): every Application exists and runs no operation, and each resource
  still differs from Git in Argo CD's own comparison; the diffs shown are Argo CD's. Resources that
  all match Git again (someone synced, self-heal did) mean there is nothing to do.
- `sync_resources`: one sync operation per Application, limited to exactly the drifted resources,
  never pruning. Retrying it is harmless: a sync of resources that match Git changes nothing, and
  a sync refused because one already runs is that one.

Waiting for the sync to finish is the workflow's timer loop (`check_applications`), as in GitOps
mode; the verification after it is the same.
"""

from __future__ import annotations

import json
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.failures import classified
from activities.heartbeat import heartbeating
from activities.redaction import redacts_result
from domain.incident.model import WORKLOAD_KINDS
from domain.kube.ownership import resource_health
from domain.redaction.text import redact_json, redact_text
from domain.steps.change import DryRunResult
from domain.steps.gitops import ApplicationCheck, ApplicationStatus
from domain.steps.sync import SyncInput, SyncProgress, SyncTarget
from integrations.argocd import (
    ArgoClient,
    ArgoError,
    ArgoOperationInProgress,
    SyncResource,
    application_state,
)

__all__ = ["ArgoSyncActivities", "sync_progress"]


def _key(group: str, kind: str, namespace: str, name: str) -> tuple[str, str, str, str]:
    return (group or "", kind, namespace or "", name)


def _target_key(target: SyncTarget) -> tuple[str, str, str, str]:
    return _key(target.group, target.kind, target.namespace, target.name)


def _managed_by(application: str, targets: list[SyncTarget]) -> list[SyncTarget]:
    """The targets of one Application: each is synced and judged by the Application managing it."""
    return [t for t in targets if t.application in ("", application)]


def _state(text: Any) -> Any:
    if not isinstance(text, str) or not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


class ArgoSyncActivities:
    def __init__(self, argocd: ArgoClient | None) -> None:
        self._argocd = argocd

    def _need_argocd(self) -> ArgoClient:
        if self._argocd is None:
            raise ApplicationError(
                "no Argo CD is configured (ARGOCD_URL): a drift sync needs one",
                type="NotConfigured",
                non_retryable=True,
            )
        return self._argocd

    @activity.defn(name="dry_run_sync")
    @redacts_result
    def dry_run_sync(self, input: SyncInput) -> DryRunResult:
        argocd = self._need_argocd()
        wanted = {_target_key(t): t for t in input.resources}
        problems: list[str] = []
        diffs: list[dict[str, Any]] = []
        still_drifted = 0
        for app in input.applications:
            # Each Application's requests may each take seconds: beat while they run.
            with heartbeating(details=(app.name,)), classified(f"reading the Argo CD Application {app.name}"):
                state = application_state(argocd.get_application(app.name, app.namespace))
                managed = argocd.managed_resources(app.name, app.namespace)
            if state.operation_in_progress:
                problems.append(
                    f"{app.name}: an operation is running ({state.operation_phase or 'requested'})"
                )
            for item in managed:
                key = _key(
                    str(item.get("group") or ""),
                    str(item.get("kind") or ""),
                    str(item.get("namespace") or ""),
                    str(item.get("name") or ""),
                )
                target = wanted.pop(key, None)
                if target is None:
                    continue
                modified = bool(item.get("modified"))
                still_drifted += modified
                diffs.append(
                    {
                        "application": app.name,
                        "resource": f"{target.namespace}/{target.kind}/{target.name}",
                        "modified": modified,
                        # Argo CD's own view of what the sync will write (redacted: env values).
                        "live": redact_json(_state(item.get("liveState"))),
                        "predicted": redact_json(_state(item.get("predictedLiveState"))),
                    }
                )
        for target in wanted.values():
            problems.append(
                f"{target.namespace}/{target.kind}/{target.name} is not managed by "
                f"{', '.join(a.name for a in input.applications)}"
            )
        nothing = not problems and still_drifted == 0
        return DryRunResult(
            ok=not problems and still_drifted > 0,
            problems=[redact_text(p) for p in problems],
            diffs=[d for d in diffs if d["modified"]] or diffs,
            nothing_to_do=nothing,
        )

    @activity.defn(name="sync_resources")
    @redacts_result
    def sync_resources(self, input: SyncInput) -> ApplicationCheck:
        argocd = self._need_argocd()
        statuses: list[ApplicationStatus] = []
        for app in input.applications:
            resources = [
                SyncResource(group=t.group, kind=t.kind, name=t.name, namespace=t.namespace)
                for t in _managed_by(app.name, input.resources)
            ]
            with heartbeating(details=(app.name,)), classified(f"asking Argo CD to sync {app.name}"):
                try:
                    after = argocd.sync_application(
                        app.name, app_namespace=app.namespace, resources=resources
                    )
                    note = f"sync of {len(resources)} resource(s) requested"
                except ArgoOperationInProgress as err:
                    # An attempt before this one (or Argo CD's own auto-sync) is syncing already.
                    after, note = (
                        argocd.get_application(app.name, app.namespace),
                        f"not requested: {err.message}",
                    )
            state = application_state(after)
            statuses.append(
                ApplicationStatus(
                    name=app.name,
                    sync_status=state.sync_status,
                    health_status=state.health_status,
                    health_message=redact_text(state.health_message),
                    revision=state.revision,
                    operation_phase=state.operation_phase,
                    operation_message=redact_text(state.operation_message),
                    operation_in_progress=state.operation_in_progress,
                    automated=state.automated,
                    sync_requested=True,
                    note=note,
                )
            )
        return ApplicationCheck(applications=statuses)

    @activity.defn(name="check_sync")
    @redacts_result
    def check_sync(self, input: SyncInput) -> SyncProgress:
        """Read only, for the workflow's timer loop: the least advanced of the Applications."""
        argocd = self._need_argocd()
        least: SyncProgress | None = None
        for app in input.applications:
            with classified(f"reading the Argo CD Application {app.name}"):
                raw = argocd.get_application(app.name, app.namespace)
            targets = _managed_by(app.name, input.resources)
            tree: dict[str, Any] | None = None
            if not _health_persisted(raw, targets):
                # Argo CD 3.x keeps per-resource health in the resource tree only; without the
                # tree, no health is known (the sync status still decides).
                try:
                    tree = argocd.resource_tree(app.name, app.namespace)
                except ArgoError:
                    tree = None
            progress = sync_progress(raw, targets, tree)
            progress = progress.model_copy(update={"reason": f"{app.name}: {progress.reason}"})
            if progress.state == "failed":
                return progress
            if least is None or progress.state == "waiting":
                least = progress
        return least or SyncProgress(state="ready", reason="no Application to sync")


_FAILED_PHASES = frozenset({"Failed", "Error"})


def _reported_resources(app: dict[str, Any]) -> dict[Any, dict[str, Any]]:
    """The Application's status.resources entries by group, kind, namespace and name."""
    return {
        _key(
            str(r.get("group") or ""),
            str(r.get("kind") or ""),
            str(r.get("namespace") or ""),
            str(r.get("name")),
        ): r
        for r in ((app.get("status") or {}).get("resources") or [])
        if isinstance(r, dict)
    }


def _health_persisted(app: dict[str, Any], targets: list[SyncTarget]) -> bool:
    """Whether every target's status.resources entry carries its health (Argo CD 2.x persists it;
    3.x does not, and the resource tree must be asked)."""
    reported = _reported_resources(app)
    return all((reported.get(_target_key(t)) or {}).get("health") for t in targets)


def sync_progress(
    app: dict[str, Any], targets: list[SyncTarget], tree: dict[str, Any] | None = None
) -> SyncProgress:
    """Where a sync of `targets` stands in the Application as Argo CD reports it.

    Judged per resource (`status.resources`), not by the Application's sync status: resources
    medic did not sync, and fields medic's drift rules ignore, may keep the Application OutOfSync.
    Each resource's health is read from the Application's resource `tree` (where Argo CD 3.x keeps
    it), else from its status.resources entry (where 2.x also persisted it).
    """
    state = application_state(app)
    if state.operation_in_progress:
        return SyncProgress(
            state="waiting", reason=f"the sync is {state.operation_phase.lower() or 'requested'}"
        )
    if state.operation_phase in _FAILED_PHASES:
        return SyncProgress(
            state="failed",
            reason=f"the sync ended {state.operation_phase}: {redact_text(state.operation_message)}",
        )
    reported = _reported_resources(app)
    waiting: list[str] = []
    resources: list[dict[str, str]] = []
    for target in targets:
        entry = reported.get(_target_key(target)) or {}
        sync = str(entry.get("status") or "Unknown")
        in_tree = (
            resource_health(tree, target.group, target.kind, target.namespace, target.name) if tree else {}
        )
        health = in_tree.get("status") or str((entry.get("health") or {}).get("status") or "")
        label = f"{target.namespace}/{target.kind}/{target.name}"
        resources.append({"resource": label, "sync": sync, "health": health})
        if health == "Degraded":
            return SyncProgress(
                state="failed", reason=f"{label} is Degraded after the sync", resources=resources
            )
        if sync != "Synced":
            waiting.append(f"{label} is {sync}")
        elif target.kind in WORKLOAD_KINDS and health not in ("", "Healthy"):
            waiting.append(f"{label} is {health}")
    if waiting:
        return SyncProgress(state="waiting", reason="; ".join(waiting), resources=resources)
    return SyncProgress(
        state="ready", reason="Argo CD reports every synced resource Synced", resources=resources
    )
