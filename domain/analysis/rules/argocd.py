"""Argo CD's own alerts: an Application out of sync, unhealthy, or whose sync failed.

The alert names an Application (`domain.incident.alert_kinds`); observe read it, its managed
workloads, the resources whose live state differs from Git (Argo CD's managed resources) and its
unhealthy resource-tree nodes. What Argo CD reports now decides, the alert's own labels only say
which question was asked:

- **The sync failed** (the last operation `Failed` / `Error`): a bad release. The revision it tried
  to apply is broken, and the cluster still runs the last deployed one. No typed action reverts a
  commit in Git, so the plan is empty and the next steps name the revision, the error and the
  commands that show them.
- **Unhealthy** (`Degraded`, `Missing`, ...): the workload rules of the offline analyzer say why
  when they can (a crashing new revision, an OOM, a pull error); otherwise, when the Application
  deployed a new revision last, a bad release with next steps, else `unknown` with Argo CD's
  health messages and next steps.
- **Out of sync**: when Git has not moved since the last deployment (the revision compared is the
  revision deployed) and the only differences are on workloads that were observed, the live state
  was changed by hand: `drift`, fixed by a `sync_application` of that Application for each drifted
  workload (direct: Argo CD applies Git; medic's sync path snapshots workloads to restore them).
  Git ahead of the deployment (a manual sync policy) is a release waiting for a human; differences
  on other kinds, or none at all, are explained with next steps.

Trust: Argo CD's messages and the diff's values are display text. The action's parameters are
the Application's name and the drifted workloads' names as Argo CD and the cluster report them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from domain.analysis.plan import Action, Diagnosis, Evidence, Plan, RootCause, SyncApplication
from domain.incident.alert_kinds import ArgoAlertRef, argocd_alerts
from domain.incident.model import WORKLOAD_KINDS, Incident, ResourceRef
from domain.kube.observation import ArgoApplication, ArgoResourceDiff, ArgoTreeNode, Observation

ANALYZER = "offline"
_FAILED = ("Failed", "Error")
_BAD_HEALTH = ("Degraded", "Missing", "Unknown", "Suspended")
_SHA = re.compile(r"^[0-9a-f]{40}$")
MAX_SHOWN = 3


def argocd_diagnosis(
    incident: Incident, observation: Observation, workloads: Callable[[], Diagnosis]
) -> Diagnosis | None:
    """The diagnosis of an Argo CD Application alert, or None when the incident has none.
    `workloads` runs the offline analyzer's workload rules on the same observation."""
    refs = argocd_alerts(incident.alerts)
    if not refs:
        return None
    ref = next((r for r in refs if r.kind == "sync_failed"), refs[0])
    app = _application(observation, ref)
    if app is None:
        return _not_found(ref, observation)
    return _Rules(ref, app, observation, workloads).diagnose()


def _application(observation: Observation, ref: ArgoAlertRef) -> ArgoApplication | None:
    named = [a for a in observation.argocd if a.name == ref.application]
    exact = [a for a in named if a.namespace == ref.app_namespace]
    return next(iter(exact or named), None)


def _short(revision: str) -> str:
    """A commit as its 7-character abbreviation; a multi-source Application's revisions each."""
    parts = [r[:7] if _SHA.match(r) else r[:40] for r in revision.split(",")]
    return ",".join(parts)


def _clip(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _diagnosis(
    root_cause: RootCause,
    summary: str,
    explanation: str,
    next_steps: list[str],
    evidence: list[Evidence],
    *,
    confidence: float,
    actions: list[Action] | None = None,
    impact: str = "",
    rollback: str = "",
) -> Diagnosis:
    unique = list({e.item_id: e for e in reversed(evidence)}.values())[::-1]
    return Diagnosis(
        root_cause=root_cause,
        summary=summary,
        explanation=explanation,
        next_steps=next_steps,
        confidence=confidence,
        evidence=unique,
        plan=Plan(actions=actions or [], expected_impact=impact, rollback=rollback),
        analyzer=ANALYZER,
    )


def _not_found(ref: ArgoAlertRef, observation: Observation) -> Diagnosis:
    notes = "; ".join(observation.notes[:3]) or "Argo CD was not read"
    where = f" in namespace {ref.app_namespace}" if ref.app_namespace else ""
    return _diagnosis(
        "unknown",
        f"{ref.alertname} names Argo CD Application {ref.application}{where}, which could not be read; "
        "a human must look.",
        f"The alert's labels name the Application (name={ref.application}, project={ref.project or '?'}, "
        f"dest_namespace={ref.dest_namespace or '?'}), but observe found no such Application: {notes}.",
        [
            f"argocd app get {ref.application} — check that the Application exists and medic's Argo CD "
            "token may read it",
            "Check the alert's labels: `name` must be the Application, `exported_namespace` (or "
            "`namespace`) its namespace",
        ],
        [],
        confidence=0.2,
    )


class _Rules:
    def __init__(
        self,
        ref: ArgoAlertRef,
        app: ArgoApplication,
        observation: Observation,
        workloads: Callable[[], Diagnosis],
    ) -> None:
        self.ref = ref
        self.app = app
        self.observation = observation
        self.workloads = workloads
        # A resource Git declares that the cluster lacks counts when Argo CD lists it OutOfSync too
        # (Missing); one it does not list is not part of what Argo CD compares.
        self.diffs = [
            d
            for d in observation.argocd_diffs
            if d.application == app.name
            and (not d.live_missing or any(_listed_out_of_sync(r, d) for r in app.resources))
        ]
        self.nodes = [n for n in observation.argocd_tree if n.application == app.name]
        # The revision last deployed: the newest history entry, else what the last successful sync
        # applied.
        self.deployed = str(app.history[0].get("revision") or "") if app.history else ""
        if not self.deployed and app.operation_phase == "Succeeded":
            self.deployed = app.operation_revision
        self.previous = str(app.history[1].get("revision") or "") if len(app.history) > 1 else ""
        state = ", ".join(s for s in (app.sync_status, app.health_status) if s) or "state unknown"
        self.app_evidence = Evidence(item_id=app.id, note=f"Argo CD application {app.name}: {state}")

    def diagnose(self) -> Diagnosis:
        app, kind = self.app, self.ref.kind
        sync_error = any(c.startswith("SyncError") for c in app.conditions)
        if app.operation_phase in _FAILED or sync_error:
            return self.sync_failed()
        if kind == "sync_failed":
            # The alert counts failed syncs over a window; a later sync may have succeeded since.
            if (
                app.operation_phase == "Succeeded"
                and app.sync_status == "Synced"
                and (app.health_status not in _BAD_HEALTH)
            ):
                return self.settled("its last sync operation Succeeded after the failed ones")
            return self.sync_failed()
        # Live changes by hand explain an unhealthy Application too (a bad image set by hand): Git
        # holds the good state, so syncing is the fix, not a change in Git.
        hand_changed = app.sync_status == "OutOfSync" and bool(self.diffs) and not self.git_moved()
        if kind == "out_of_sync" or hand_changed or (kind == "other" and app.sync_status == "OutOfSync"):
            return self.out_of_sync()
        if kind == "unhealthy" or app.health_status in _BAD_HEALTH:
            return self.unhealthy()
        if app.sync_status == "OutOfSync":
            return self.out_of_sync()
        found = self.workloads()
        if found.root_cause != "unknown":
            return found
        return self.settled(f"its last sync operation {app.operation_phase or 'reported nothing'}")

    # --- the answers ---------------------------------------------------------------------------

    def settled(self, what: str) -> Diagnosis:
        app = self.app
        return _diagnosis(
            "none",
            f"Argo CD reports Application {app.name} {app.sync_status or 'in sync'} and "
            f"{app.health_status or 'healthy'} now; {self.ref.alertname} no longer reflects a fault.",
            f"The alert asked about {app.name}; Argo CD now reports sync {app.sync_status or '?'}, health "
            f"{app.health_status or '?'}, and {what}. Nothing is changed.",
            [f"argocd app get {app.name} — confirm the state, and let the alert resolve"],
            [self.app_evidence],
            confidence=0.7,
        )

    def sync_failed(self) -> Diagnosis:
        app = self.app
        revision = app.operation_revision
        condition = next((c for c in app.conditions if c.startswith("SyncError")), "")
        said = app.operation_message or condition.partition(": ")[2]
        message = _clip(said.rstrip(". ") or f"{self.ref.alertname} counts failed sync operations")
        phase = app.operation_phase if app.operation_phase in _FAILED else "Failed"
        new = bool(revision) and revision != self.deployed
        tried = f"revision {_short(revision)}" if revision else "its target revision"
        running = (
            f"; the cluster still runs revision {_short(self.deployed)}" if self.deployed and new else ""
        )
        evidence = [
            Evidence(item_id=app.id, note=f"last sync {phase}: {_clip(message, 150)}"),
            *self._node_evidence(),
            *self._workload_evidence(),
        ]
        steps = [
            f"argocd app get {app.name} --show-operation — the failed operation and each resource's result",
            f"argocd app history {app.name} — the deployed revisions"
            + (f" (last good: {_short(self.deployed)})" if self.deployed else ""),
            f"argocd app manifests {app.name} --revision {revision or 'HEAD'} — what Git declares at the "
            "failed revision",
        ]
        if revision:
            steps.append(
                f"Fix or revert commit {_short(revision)} in the GitOps repository (git revert {revision}); "
                "Argo CD then syncs the previous state again"
            )
        return _diagnosis(
            "bad_release",
            f"The sync of Argo CD Application {app.name} to {tried} {phase.lower()}: "
            f"{_clip(message, 160)}{running}.",
            f"Argo CD's last sync operation of {app.name} ended {phase} with: {message}. "
            + (
                f"It tried {tried}, which was never deployed (the last deployment is "
                f"{_short(self.deployed)}), so the new revision in Git is what fails. "
                if new
                else ""
            )
            + "The fix is in Git — revert the commit or correct the manifest the error names; no typed "
            "action reverts a commit, so a human must.",
            steps,
            evidence,
            confidence=0.8,
        )

    def unhealthy(self) -> Diagnosis:
        app = self.app
        found = self.workloads()
        if found.root_cause not in ("unknown", "none"):
            # The workload rules say why (and what to do): Argo CD's view is added as evidence.
            return found.model_copy(
                update={
                    "evidence": [*found.evidence]
                    + ([] if any(e.item_id == app.id for e in found.evidence) else [self.app_evidence]),
                    "next_steps": [
                        *found.next_steps,
                        f"argocd app get {app.name} — Argo CD's health of each resource",
                    ],
                }
            )
        if app.health_status not in _BAD_HEALTH and not self.nodes:
            return self.settled(f"no resource of it is unhealthy ({found.summary})")
        workloads_said = (
            "the workloads themselves are healthy"
            if found.root_cause == "none"
            else f"no workload rule explains it: {found.summary}"
        )
        said = f" ({_clip(app.health_message)})" if app.health_message else ""
        worst = "; ".join(
            f"{n.kind} {n.name}: {n.health}{' — ' + _clip(n.message, 120) if n.message else ''}"
            for n in self.nodes[:MAX_SHOWN]
        ) or _clip(app.health_message or f"health {app.health_status}")
        evidence = [self.app_evidence, *self._node_evidence(), *self._workload_evidence()]
        steps = [f"argocd app get {app.name} — the health of each resource and its message"]
        steps += [
            f"kubectl -n {n.namespace} describe {n.kind.lower()} {n.name} — why it is {n.health}"
            for n in self.nodes[:2]
            if n.namespace
        ]
        if self.deployed and self.previous and self.deployed != self.previous:
            steps += [
                f"argocd app history {app.name} — revision {_short(self.deployed)} replaced "
                f"{_short(self.previous)}",
                f"git diff {self.previous} {self.deployed} in the GitOps repository — what the release "
                "changed",
                f"Revert commit {_short(self.deployed)} in the GitOps repository if the release is at fault",
            ]
            return _diagnosis(
                "bad_release",
                f"Argo CD Application {app.name} is {app.health_status} since revision "
                f"{_short(self.deployed)} was deployed (before: {_short(self.previous)}): {worst}.",
                f"Argo CD reports {app.name} {app.health_status}{said} "
                f"and its last deployment is a new revision, {self.deployed}, replacing {self.previous}. "
                f"Medic has no typed fix: {workloads_said}. The fix is a revert "
                "or correction of that release in Git, which a human makes.",
                steps,
                evidence,
                confidence=0.55,
            )
        return _diagnosis(
            "unknown",
            f"Argo CD reports Application {app.name} {app.health_status}: {worst}; no rule explains why.",
            f"Argo CD's health of {app.name} is {app.health_status}{said}, and its last deployment is "
            f"not a new revision; {workloads_said}. Argo CD's health messages above say which resource "
            "fails; a human must look.",
            steps,
            evidence,
            confidence=0.3,
        )

    def out_of_sync(self) -> Diagnosis:
        app = self.app
        if app.sync_status == "Synced":
            return self.settled("its resources match Git")
        if self.git_moved():
            return self.git_ahead()
        workloads = [
            d
            for d in self.diffs
            if d.kind in WORKLOAD_KINDS
            and not d.live_missing
            and self.observation.workload(d.ref) is not None
        ]
        others = [d for d in self.diffs if d not in workloads]
        if not self.diffs:
            return self.reported_out_of_sync() or self.unexplained()
        listed = "; ".join(_describe(d) for d in self.diffs[:MAX_SHOWN])
        evidence = [
            self.app_evidence,
            *(Evidence(item_id=d.id, note=_clip(_describe(d), 150)) for d in self.diffs),
            *(
                Evidence(item_id=w.id, note="live object differs from Git")
                for d in workloads
                if (w := self.observation.workload(d.ref)) is not None
            ),
        ]
        at = f" at revision {_short(app.revision)}" if app.revision else ""
        if others:
            return _diagnosis(
                "drift",
                f"Argo CD Application {app.name} is OutOfSync: the live state differs from Git{at} "
                f"({listed}); "
                "a human must sync it.",
                f"Git has not moved since the last deployment{at}, so the differences were made in the "
                f"cluster. {_keys(others)} {'is' if len(others) == 1 else 'are'} not a workload medic "
                "observes and snapshots (or missing from the cluster), so medic cannot sync and restore it.",
                [
                    f"argocd app diff {app.name} — every difference between Git and the cluster",
                    f"Sync the drifted resources of {app.name} in Argo CD once the change by hand is "
                    "understood (a sync of those resources only)",
                    "Or write the live value into Git, if the change by hand was meant to stay",
                ],
                evidence,
                confidence=0.6,
            )
        actions: list[Action] = [
            SyncApplication(target=d.ref, mode="direct", application=app.name) for d in workloads
        ]
        return _diagnosis(
            "drift",
            f"{_keys(workloads)} of Argo CD Application {app.name} {_was(workloads)} "
            f"changed outside Git ({listed}); sync {app.name} to restore what Git declares.",
            f"Argo CD reports {app.name} OutOfSync{at}, and Git has not moved since that revision was "
            "deployed: the differences were made in the cluster, by hand (a scale, an edit, a new image "
            "set live). "
            f"A sync of exactly the drifted workloads applies Git's state again; nothing is pruned."
            + self._health_note(),
            [
                f"argocd app diff {app.name} — the live change that is overwritten",
                "If the change by hand was meant to stay, write it into Git instead of approving the sync",
            ],
            evidence + self._node_evidence(),
            confidence=0.85,
            actions=actions,
            impact=f"Argo CD applies Git's state of {_keys(workloads)}; {app.name} reports Synced again",
            rollback="restore the live objects from the snapshot taken before the sync",
        )

    def reported_out_of_sync(self) -> Diagnosis | None:
        """Without a field-level diff (Argo CD's managed resources said nothing medic could compare),
        the workloads Argo CD itself lists OutOfSync, at the revision it last deployed, are synced
        back; None when there are none, or other kinds are OutOfSync too."""
        app = self.app
        listed = [r for r in app.resources if r.get("status") == "OutOfSync"]
        workloads = [
            w
            for r in listed
            if r.get("kind") in WORKLOAD_KINDS and (w := self.observation.workload(_ref(r))) is not None
        ]
        if not workloads or len(workloads) != len(listed):
            return None
        names = ", ".join(f"{w.ref.kind} {w.ref.namespace}/{w.ref.name}" for w in workloads[:MAX_SHOWN])
        at = f" at revision {_short(app.revision)}" if app.revision else ""
        return _diagnosis(
            "drift",
            f"Argo CD reports {names} of Application {app.name} OutOfSync{at}, the revision it runs; "
            f"sync {app.name} to restore what Git declares.",
            f"Argo CD compares {app.name} with the revision it last deployed and lists {names} "
            "OutOfSync, so the live object was changed in the cluster. The field-level difference "
            "could not be read; the sync applies Git's state of exactly these workloads.",
            [
                f"argocd app diff {app.name} — the live change that is overwritten",
                "If the change by hand was meant to stay, write it into Git instead of approving the sync",
            ],
            [self.app_evidence, *(Evidence(item_id=w.id, note="Argo CD: OutOfSync") for w in workloads)],
            confidence=0.7,
            actions=[
                SyncApplication(target=w.ref.without_container(), mode="direct", application=app.name)
                for w in workloads
            ],
            impact=f"Argo CD applies Git's state of {names}; {app.name} reports Synced again",
            rollback="restore the live objects from the snapshot taken before the sync",
        )

    def git_moved(self) -> bool:
        """Whether Argo CD compares a revision other than the one it last deployed."""
        app = self.app
        return bool(self.deployed and app.revision) and not _same(app.revision, self.deployed)

    def git_ahead(self) -> Diagnosis:
        app = self.app
        listed = "; ".join(_describe(d) for d in self.diffs[:MAX_SHOWN]) or "no field difference was read"
        return _diagnosis(
            "drift",
            f"Git is at revision {_short(app.revision)} but Argo CD Application {app.name} last deployed "
            f"{_short(self.deployed)}: a new release waits for a sync ({listed}).",
            f"Argo CD compares {app.name} with revision {app.revision}, and its last deployment is "
            f"{self.deployed}. The difference is a change in Git that was not synced"
            + (" (the Application syncs by hand)" if not app.automated else "")
            + ". Deploying a release is a human's decision, so medic proposes no sync.",
            [
                f"argocd app diff {app.name} — what the new revision would change",
                f"git log {_short(self.deployed)}..{_short(app.revision)} in the GitOps repository — the "
                "commits waiting",
                f"Sync {app.name} in Argo CD once the release is reviewed",
            ],
            [self.app_evidence, *(Evidence(item_id=d.id, note=_clip(_describe(d), 150)) for d in self.diffs)],
            confidence=0.6,
        )

    def unexplained(self) -> Diagnosis:
        app = self.app
        pending = [
            r
            for r in app.resources
            if r.get("kind") not in WORKLOAD_KINDS
            and (r.get("status") == "OutOfSync" or r.get("requiresPruning"))
        ]
        prune = [r for r in pending if r.get("requiresPruning")]
        if prune:
            names = ", ".join(_resource(r) for r in prune[:MAX_SHOWN])
            return _diagnosis(
                "drift",
                f"Argo CD Application {app.name} is OutOfSync because {names} "
                f"{'is' if len(prune) == 1 else 'are'} no longer declared in Git but still live: "
                "pruning is a deletion, which a human decides.",
                f"Argo CD marks {names} of Application {app.name} 'requires pruning': "
                f"revision {_short(app.revision) or '?'} "
                "no longer declares it, and the Application does not prune automatically. Every resource "
                "Git declares matches the cluster. medic never deletes, so a human checks that nothing "
                "still uses it and prunes it (or restores it in Git).",
                [
                    f"argocd app resources {app.name} — the resources and which require pruning",
                    *(
                        f"kubectl -n {r.get('namespace')} get {str(r.get('kind')).lower()} {r.get('name')} "
                        "-o yaml — check nothing still uses it"
                        for r in prune[:2]
                        if r.get("namespace")
                    ),
                    f"Sync {app.name} with pruning in Argo CD once the removal from Git is confirmed",
                ],
                [self.app_evidence, *self._workload_evidence()],
                confidence=0.7,
            )
        conditions = "; ".join(_clip(c, 150) for c in app.conditions) or "no condition reported"
        if pending:
            conditions += "; Argo CD reports OutOfSync: " + ", ".join(
                _resource(r) for r in pending[:MAX_SHOWN]
            )
        return _diagnosis(
            "unknown",
            f"Argo CD reports Application {app.name} OutOfSync, but no managed resource differs from Git "
            "in the fields compared; a human must look.",
            f"{app.name} is OutOfSync at revision {_short(app.revision) or '?'}; the managed resources "
            f"show no field difference for medic to sync ({conditions}). The difference may be a resource "
            "Git no longer declares (a prune), a field an ignoreDifferences rule or normalisation hides, "
            "or a comparison error.",
            [
                f"argocd app diff {app.name} — Argo CD's own diff",
                f"argocd app resources {app.name} — which resources are OutOfSync, and any that need pruning",
                f"argocd app get {app.name} --hard-refresh — compare with Git again",
            ],
            [self.app_evidence, *self._workload_evidence()],
            confidence=0.3,
        )

    def _health_note(self) -> str:
        app = self.app
        if app.health_status not in _BAD_HEALTH:
            return ""
        worst = next((n for n in self.nodes if n.message), None)
        said = f" ({n.kind} {n.name}: {_clip(n.message, 160)})" if (n := worst) is not None else ""
        return f" Argo CD also reports it {app.health_status}{said}, which the live change explains."

    # --- evidence ------------------------------------------------------------------------------

    def _node_evidence(self) -> list[Evidence]:
        return [
            Evidence(item_id=n.id, note=_clip(f"{n.health}: {n.message}" if n.message else n.health, 150))
            for n in self.nodes[:MAX_SHOWN]
        ]

    def _workload_evidence(self) -> list[Evidence]:
        out = []
        for workload in self.observation.workloads:
            if self.app.manages(workload.ref.kind, workload.ref.namespace, workload.ref.name):
                note = f"{workload.ready_replicas}/{workload.replicas} ready"
                out.append(Evidence(item_id=workload.id, note=note))
        return out[:MAX_SHOWN]


def _same(a: str, b: str) -> bool:
    a, b = a.strip().lower(), b.strip().lower()
    return a == b or (len(a) >= 7 and len(b) >= 7 and (a.startswith(b) or b.startswith(a)))


def _describe(diff: ArgoResourceDiff | ArgoTreeNode) -> str:
    if isinstance(diff, ArgoTreeNode):
        return f"{diff.kind} {diff.name}: {diff.health}"
    where = f"{diff.kind} {diff.namespace}/{diff.name}".replace(" /", " ")
    if diff.live_missing:
        return f"{where}: declared in Git, missing from the cluster"
    fields = ", ".join(f"{f.path} Git {f.desired}, live {f.live}" for f in diff.fields[:2])
    more = f" (+{len(diff.fields) - 2} more)" if len(diff.fields) > 2 else ""
    return f"{where}: {fields}{more}"


def _listed_out_of_sync(entry: dict[str, Any], diff: ArgoResourceDiff) -> bool:
    return (
        entry.get("status") == "OutOfSync"
        and entry.get("kind") == diff.kind
        and (entry.get("namespace") or "") == diff.namespace
        and entry.get("name") == diff.name
    )


def _ref(entry: dict[str, Any]) -> ResourceRef:
    return ResourceRef(
        namespace=str(entry.get("namespace") or ""),
        kind=str(entry.get("kind") or ""),
        name=str(entry.get("name") or ""),
    )


def _resource(entry: dict[str, Any]) -> str:
    where = (
        f"{entry.get('namespace')}/{entry.get('name')}" if entry.get("namespace") else str(entry.get("name"))
    )
    return f"{entry.get('kind')} {where}"


def _was(diffs: list[ArgoResourceDiff]) -> str:
    return "was" if len(diffs) == 1 else "were"


def _keys(diffs: list[ArgoResourceDiff]) -> str:
    names = [f"{d.kind} {d.namespace}/{d.name}".replace(" /", " ") for d in diffs]
    return ", ".join(names[:MAX_SHOWN]) + (
        f" (and {len(names) - MAX_SHOWN} more)" if len(names) > MAX_SHOWN else ""
    )


__all__ = ["argocd_diagnosis"]
