"""The payloads of a deploy watch's steps (`workflows/deploy/`): what is watched, a sample of the
watched workloads' signals, and the verdict to record."""

from __future__ import annotations

from datetime import datetime

from domain.base import Frozen
from domain.deploy.model import DeployEvent, Signals, Verdict, WatchRules, WorkloadRef
from domain.steps.remediation import RemediationInput


class DeployWatchPlan(Frozen):
    """What `plan_deploy_watch` found: the workloads the deploy changed (the Application's
        Deployments, StatefulSets and DaemonSets), the commits it brought ("<sha7> <subject>", newest
        first), the rules for this Application, and a note when there is nothing to watch.

    `remediation` is the worker's input for the incident a degraded verdict opens (its settings; the
    incident itself is filled in by the watch); None: the watch opens none (a plan from before).
    `made_by` names medic's incidents when every commit the deploy brought is medic's own (a fix or
    a revert merged from medic's pull request, `Medic-Incident:` trailer): that incident verifies
    its change and undoes it itself, so a degraded verdict opens no other (never a revert of a
    revert)."""

    event: DeployEvent
    synced_at: datetime
    workloads: list[WorkloadRef] = []
    commits: list[str] = []
    rules: WatchRules = WatchRules()
    note: str = ""
    remediation: RemediationInput | None = None
    made_by: list[str] = []


class SampleInput(Frozen):
    """The signals of `workloads` over [start, end], and the Application's health and revision now."""

    application: str
    app_namespace: str
    workloads: list[WorkloadRef]
    start: datetime
    end: datetime


class WorkloadSignals(Frozen):
    workload: WorkloadRef
    signals: Signals


class SampleResult(Frozen):
    signals: list[WorkloadSignals] = []
    # the Application's Argo CD health and synced revision when sampled
    health: str = ""
    revision: str = ""

    def by_workload(self) -> dict[WorkloadRef, Signals]:
        return {s.workload: s.signals for s in self.signals}


class FinishWatch(Frozen):
    """The watch's outcome to record: a verdict, or `superseded` by a newer revision; and the
    workflow id of the incident a degraded verdict opened ("" when none)."""

    plan: DeployWatchPlan
    state: str
    summary: str
    verdict: Verdict | None = None
    incident_id: str = ""


class WatchResult(Frozen):
    watch_id: str
    state: str
    summary: str
    verdict: Verdict | None = None
    # the workflow id of the incident a degraded verdict opened ("" when none)
    incident_id: str = ""
