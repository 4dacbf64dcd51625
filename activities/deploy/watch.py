"""The deploy watch's activities: plan the watch, sample the workloads' signals, record the verdict.

- `plan_deploy_watch`: the Application from Argo CD and the workloads watched — the
  Deployments, StatefulSets and DaemonSets the revision changed (`domain.deploy.changes`, from
  the Application rendered by Argo CD's manifests API at the previous revision and at the new
  one), or every one of the Application's when that cannot be known (no previous revision, a
  rendering Argo CD refuses for good), which the plan's note says — the commits the deploy brought
  (from the GitOps clone, when the revisions are there), the Application's rules (policy data
  `deploy_watch`), and the `deployment` row, state `watching`, with what was chosen and why in its
  figures (`watch`); and, with the worker's settings, the input of the incident a degraded
  verdict opens (`remediation_input_for`, as the gateway and the drift scan build it). A deploy
  that changed no workload, or no Argo CD or Prometheus to judge with: the plan says so and the
  watch ends `inconclusive`.
- `sample_deploy_signals`: each workload's signals over a window from Prometheus
  (`integrations.prometheus.workload_signals`), and the Application's health and synced revision.
- `finish_deploy_watch`: the verdict, its one-line summary, its figures and the incident it opened
  on the row.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from activities.failures import classified, store_failures
from activities.heartbeat import heartbeats
from domain.deploy.changes import WATCHED_KINDS, deploy_changes, rendering_at
from domain.deploy.model import DeployEvent, Signals, WorkloadRef
from domain.deploy.watch import DeployWatchPlan, FinishWatch, SampleInput, SampleResult, WorkloadSignals
from domain.gitops.pull_request_body import INCIDENT_TRAILER
from domain.incident.model import Incident
from domain.settings import Settings
from domain.steps.remediation import remediation_input_for
from integrations.argocd import ArgoClient
from integrations.errors import PermanentError
from integrations.git import GitError, GitRepo
from integrations.prometheus import PrometheusClient, workload_signals
from policies import deploy_watch_rules
from store.db import transaction
from store.deployments import DeploymentRepository

__all__ = ["DeployWatchActivities"]


def application_workloads(app: dict[str, Any]) -> list[WorkloadRef]:
    """The workloads an Application manages, from its status' resource list, sorted."""
    found = {
        WorkloadRef(namespace=str(r.get("namespace") or ""), kind=str(r["kind"]), name=str(r["name"]))
        for r in (app.get("status") or {}).get("resources") or []
        if r.get("kind") in WATCHED_KINDS and r.get("name")
    }
    return sorted(found, key=lambda w: (w.namespace, w.kind, w.name))


class DeployWatchActivities:
    def __init__(
        self,
        argocd: ArgoClient | None,
        prometheus: PrometheusClient | None,
        repo: GitRepo | None,
        sessions: sessionmaker[Session],
        *,
        policy_dir: str | Path | None = None,
        settings: Settings | None = None,
    ) -> None:
        self._argocd = argocd
        self._prometheus = prometheus
        self._repo = repo
        self._sessions = sessions
        self._policy_dir = policy_dir
        self._settings = settings

    def _commits(self, event: DeployEvent) -> list[str]:
        if self._repo is None:
            return []
        try:
            self._repo.sync()
            return self._repo.commits(event.previous_revision, event.revision)
        except GitError:
            return []  # the record is poorer, the watch is not: the revisions may be in another repository

    def _made_by(self, event: DeployEvent) -> list[str]:
        """medic's incidents, when every commit of the deploy carries one's trailer; else []."""
        if self._repo is None or not event.previous_revision:
            return []
        try:
            values = self._repo.trailer_values(event.previous_revision, event.revision, INCIDENT_TRAILER)
        except GitError:
            return []  # not knowable here: the deploy is treated as anyone's
        if not values or not all(values):
            return []
        return sorted({v for commit in values for v in commit})

    @activity.defn(name="plan_deploy_watch")
    @heartbeats
    @store_failures
    def plan_deploy_watch(self, event: DeployEvent) -> DeployWatchPlan:
        synced = event.synced_at or datetime.now(UTC)
        rules = deploy_watch_rules(event.application, event.app_namespace, self._policy_dir)
        note, workloads = "", []
        watch: dict[str, Any] = {}
        if self._argocd is None:
            note = "no Argo CD configured (ARGOCD_URL): the deploy's workloads are unknown"
        elif self._prometheus is None:
            note = "no Prometheus configured (PROMETHEUS_URL): nothing to judge the deploy by"
        else:
            with classified(f"reading Application {event.application}"):
                app = self._argocd.get_application(event.application, event.app_namespace)
            workloads = application_workloads(app)
            where = self._argocd.placement(app)
            if where.where == "elsewhere":
                # the medic of that cluster watches it (README "Clusters")
                workloads, note = [], f"Application {event.application} is not watched here: {where.reason}"
            elif not workloads:
                note = f"Application {event.application} manages no Deployment, StatefulSet or DaemonSet"
            else:
                workloads, note, watch = self._changed_workloads(event, app, workloads)
        plan = DeployWatchPlan(
            event=event,
            synced_at=synced,
            workloads=workloads,
            commits=self._commits(event),
            made_by=self._made_by(event),
            rules=rules,
            note=note,
            remediation=(
                None
                if self._settings is None
                # the watch puts the incident in; this placeholder only carries the id's shape
                else remediation_input_for(self._settings, Incident(id=event.watch_id, source="deploy"))
            ),
        )
        with transaction(self._sessions) as session:
            DeploymentRepository(session).start(
                event.watch_id,
                application=event.application,
                app_namespace=event.app_namespace,
                project=event.project,
                revision=event.revision,
                previous_revision=event.previous_revision,
                source=event.source,
            )
            if watch:
                DeploymentRepository(session).planned(event.watch_id, {"watch": {**watch, "note": note}})
        return plan

    def _changed_workloads(
        self, event: DeployEvent, app: dict[str, Any], every: list[WorkloadRef]
    ) -> tuple[list[WorkloadRef], str, dict[str, Any]]:
        """The workloads `event`'s revision changed, the plan's note, and what the row's figures
        keep of the choice; every workload of the Application when the change cannot be known
        (a temporary failure of Argo CD is the activity's, for Temporal to retry)."""

        def everything(why: str) -> tuple[list[WorkloadRef], str, dict[str, Any]]:
            note = f"watching every workload of the Application: {why}"
            return every, note, {"selection": "all", "reason": why}

        if not event.previous_revision:
            return everything("the revision it ran before is unknown")
        if event.previous_revision == event.revision:
            return everything("the previous revision is the same as the new one")
        assert self._argocd is not None
        scope: dict[str, Any] = {
            "app_namespace": event.app_namespace or None,
            "project": event.project or None,
        }
        renderings = []
        for revision in (event.previous_revision, event.revision):
            how = rendering_at(app, revision)
            if isinstance(how, str):
                return everything(f"Argo CD cannot render it at one revision: {how}")
            with classified(f"rendering Application {event.application} at {revision[:12]}"):
                try:
                    renderings.append(self._argocd.application_manifests(event.application, **scope, **how))
                except (
                    PermanentError
                ) as err:  # a revision gone, a rendering refused: asking again cannot help
                    return everything(f"Argo CD did not render it at {revision[:12]}: {err.message[:200]}")
        destination = str(((app.get("spec") or {}).get("destination") or {}).get("namespace") or "")
        changes = deploy_changes(renderings[0], renderings[1], namespace=destination)
        figures = {
            "selection": "changed",
            "changed": {w.workload.label: w.reasons for w in changes.workloads},
            "others": changes.others,
        }
        if not changes.workloads:
            what = (
                f" (it changed {', '.join(changes.others[:5])}{', ...' if len(changes.others) > 5 else ''})"
            )
            return [], "the deploy changed no workload" + (what if changes.others else ""), figures
        note = f"watching the {len(changes.workloads)} of {len(every)} workload(s) the revision changed"
        return changes.refs, note, figures

    @activity.defn(name="sample_deploy_signals")
    @heartbeats
    def sample_deploy_signals(self, input: SampleInput) -> SampleResult:
        assert self._prometheus is not None and self._argocd is not None  # the plan said so
        out = []
        with classified("reading the workloads' signals"):
            for workload in input.workloads:
                values = workload_signals(
                    self._prometheus,
                    workload.namespace,
                    workload.kind,
                    workload.name,
                    input.start.timestamp(),
                    input.end.timestamp(),
                )
                out.append(WorkloadSignals(workload=workload, signals=Signals(**values)))
        with classified(f"reading Application {input.application}"):
            status = self._argocd.get_application(input.application, input.app_namespace).get("status") or {}
        return SampleResult(
            signals=out,
            health=str((status.get("health") or {}).get("status") or ""),
            revision=str((status.get("sync") or {}).get("revision") or ""),
        )

    @activity.defn(name="finish_deploy_watch")
    @store_failures
    def finish_deploy_watch(self, finish: FinishWatch) -> bool:
        figures: dict[str, Any] = {
            "commits": finish.plan.commits,
            "workloads": [w.label for w in finish.plan.workloads],
            "rules": finish.plan.rules.model_dump(mode="json"),
        }
        if finish.plan.made_by:
            figures["made_by"] = finish.plan.made_by
        if finish.verdict is not None:
            figures["verdict"] = finish.verdict.model_dump(mode="json")
        with transaction(self._sessions) as session:
            row = DeploymentRepository(session).finish(
                finish.plan.event.watch_id,
                # a deploy no rule found fault with is recorded as verified, with its figures
                "verified" if finish.state == "healthy" else finish.state,
                finish.summary,
                figures,
                incident_id=finish.incident_id or None,
            )
        return row is not None
