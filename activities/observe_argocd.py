"""observe, for Argo CD's own alerts: the Application the alert names, and through it the cluster.

An Argo CD alert (`domain.incident.alert_kinds`) names an Application, not a pod, so the incident
has no target of its own. Here the Application is read from Argo CD (by the namespace the labels
give, else by name alone), its managed workloads (`status.resources`, never the alert's
`namespace` label, which is Argo CD's own) are observed like any alert's targets, and two reads
say what Argo CD sees: the managed resources (Git's target state against the live state, compared
field by field as the drift scan compares them) and the resource tree (its unhealthy nodes, with
Argo CD's health message). Everything is bounded; every failure is a note.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from domain.drift.diff import application_drift
from domain.drift.model import DriftConfig, ResourceDrift
from domain.incident.alert_kinds import ArgoAlertRef, argocd_alerts
from domain.incident.model import WORKLOAD_KINDS, ResourceRef
from domain.kube.observation import ArgoApplication, ArgoFieldDiff, ArgoResourceDiff, ArgoTreeNode
from domain.kube.ownership import with_tree_health
from domain.redaction.text import redact_text
from integrations.argocd import ArgoClient, ArgoError, ArgoNotFound, to_argo_application

MAX_APPLICATIONS = 3  # alerted Applications read per incident
MAX_WORKLOADS = 4  # managed workloads observed per Application
MAX_DIFFS = 8  # drifted resources kept per Application
MAX_DIFF_FIELDS = 6  # drifted fields kept per resource
MAX_TREE_NODES = 12  # unhealthy tree nodes kept per Application
MAX_OUT_OF_SYNC = 8  # other OutOfSync resources kept in the Application's resources
MAX_VALUE = 80
_HIDDEN = frozenset({"env", "envFrom", "data", "stringData"})
_GOOD_HEALTH = ("Healthy", "")


class _Observer(Protocol):
    """What this module needs of activities.observe's collector."""

    notes: list[str]
    applications: dict[str, ArgoApplication]

    def _read(self, ref: ResourceRef) -> dict[str, Any] | None: ...

    def observe_workload(
        self, ref: ResourceRef, workload: dict[str, Any], focus: list[dict[str, Any]]
    ) -> None: ...


class AlertedApplications:
    """The Applications an incident's Argo CD alerts name, read and observed."""

    def __init__(self, argocd: ArgoClient, refs: list[ArgoAlertRef]) -> None:
        self.argocd = argocd
        self.refs = refs[:MAX_APPLICATIONS]
        self.raw: dict[str, tuple[dict[str, Any], list[ResourceRef]]] = {}  # key -> (app, workloads)
        self.diffs: list[ArgoResourceDiff] = []
        self.uncertain: dict[str, str] = {}  # key -> why its cluster may not be this one
        self.tree: list[ArgoTreeNode] = []

    def observe(self, observer: _Observer) -> None:
        for ref in self.refs:
            try:
                app = self._application(ref, observer.notes)
            except ArgoError as err:
                observer.notes.append(
                    f"Argo CD could not be read for {ref.application}: {_clip(err.message, 300)}"
                )
                continue
            if app is None:
                continue
            meta = app.get("metadata") or {}
            name, namespace = str(meta.get("name") or ""), str(meta.get("namespace") or "argocd")
            key = f"argocd/{namespace}/{name}"
            where = self.argocd.placement(app)
            if where.where == "elsewhere":
                # its cluster's medic heals it (README "Clusters")
                observer.notes.append(f"the alerted Application {name} is not this cluster's: {where.reason}")
                continue
            if where.where == "unknown":
                self.uncertain[key] = f"Application {name} may not deploy to this cluster: {where.reason}"
                observer.notes.append(f"ownership uncertain: {self.uncertain[key]}")
            refs = self._observe_workloads(app, observer)
            diffs = self._diffs(app, name, namespace, observer.notes)
            # A drifted workload status.resources did not list (an older status) is observed too.
            for diff in diffs:
                if diff.kind in WORKLOAD_KINDS and not diff.live_missing and diff.ref not in refs:
                    if len(refs) >= MAX_WORKLOADS:
                        break
                    obj = observer._read(diff.ref)
                    if obj is not None:
                        observer.observe_workload(diff.ref, obj, focus=[])
                        refs.append(diff.ref)
            tree, nodes = self._tree(name, namespace, observer.notes)
            # Per-resource health is the tree's (Argo CD 3.x no longer keeps it in the status).
            self.raw[key] = (with_tree_health(app, tree) if tree else app, refs + _out_of_sync(app))
            self.diffs += diffs
            self.tree += nodes

    def finish(self, observer: _Observer) -> None:
        """After observe's own Application lookup: every alerted Application is in the
        observation, with the status.resources entries of its observed workloads and of its other
        OutOfSync resources."""
        for key, (app, refs) in self.raw.items():
            observer.applications[key] = to_argo_application(
                app, refs, ownership_uncertain=self.uncertain.get(key, "")
            )

    def _application(self, ref: ArgoAlertRef, notes: list[str]) -> dict[str, Any] | None:
        if ref.app_namespace:
            try:
                return self.argocd.get_application(ref.application, ref.app_namespace)
            except ArgoNotFound:
                pass  # the namespace label was the scrape target's: try the name alone
        try:
            return self.argocd.get_application(ref.application)
        except ArgoNotFound:
            notes.append(
                f"the alert names Argo CD Application {ref.application}, which Argo CD does not know"
            )
            return None

    def _observe_workloads(self, app: dict[str, Any], observer: _Observer) -> list[ResourceRef]:
        refs: list[ResourceRef] = []
        resources = (app.get("status") or {}).get("resources") or []
        workloads = [r for r in resources if isinstance(r, dict) and r.get("kind") in WORKLOAD_KINDS]
        for resource in workloads[:MAX_WORKLOADS]:
            namespace, name = str(resource.get("namespace") or ""), str(resource.get("name") or "")
            ref = ResourceRef(namespace=namespace, kind=str(resource["kind"]), name=name)
            obj = observer._read(ref)
            if obj is None:
                observer.notes.append(
                    f"{ref.kind} {namespace}/{name} of the alerted Application is not in the cluster"
                )
                continue
            observer.observe_workload(ref, obj, focus=[])
            refs.append(ref)
        if len(workloads) > MAX_WORKLOADS:
            observer.notes.append(
                f"{len(workloads) - MAX_WORKLOADS} more workloads of the Application were not observed"
            )
        return refs

    def _diffs(
        self, app: dict[str, Any], name: str, namespace: str, notes: list[str]
    ) -> list[ArgoResourceDiff]:
        try:
            managed = self.argocd.managed_resources(name, namespace)
            drift = application_drift(app, managed, DriftConfig())
        except ArgoError as err:
            notes.append(f"the managed resources of {name} could not be read: {_clip(err.message, 300)}")
            return []
        except ValueError as err:
            notes.append(f"the managed resources of {name} could not be compared: {_clip(str(err), 300)}")
            return []
        if len(drift.resources) > MAX_DIFFS:
            notes.append(f"{len(drift.resources) - MAX_DIFFS} more drifted resources of {name} are not shown")
        return [_diff(name, namespace, r) for r in drift.resources[:MAX_DIFFS]]

    def _tree(
        self, name: str, namespace: str, notes: list[str]
    ) -> tuple[dict[str, Any] | None, list[ArgoTreeNode]]:
        """The Application's resource tree (None: it could not be read) and its unhealthy nodes."""
        try:
            tree = self.argocd.resource_tree(name, namespace)
        except ArgoError as err:
            notes.append(f"the resource tree of {name} could not be read: {_clip(err.message, 300)}")
            return None, []
        nodes = []
        for node in tree.get("nodes") or []:
            if not isinstance(node, dict):
                continue
            health = node.get("health") or {}
            status = str(health.get("status") or "")
            if status in _GOOD_HEALTH:
                continue
            kind, node_ns, node_name = (
                str(node.get("kind") or ""),
                str(node.get("namespace") or ""),
                str(node.get("name") or ""),
            )
            parents = node.get("parentRefs") or []
            parent = f"{parents[0].get('kind', '')}/{parents[0].get('name', '')}" if parents else ""
            nodes.append(
                ArgoTreeNode(
                    id=f"argocd-node/{name}/{node_ns}/{kind}/{node_name}",
                    application=name,
                    kind=kind,
                    namespace=node_ns,
                    name=node_name,
                    health=status,
                    message=_clip(redact_text(str(health.get("message") or "")), 300),
                    parent=parent,
                )
            )
        if len(nodes) > MAX_TREE_NODES:
            notes.append(f"{len(nodes) - MAX_TREE_NODES} more unhealthy resources of {name} are not shown")
        return tree, nodes[:MAX_TREE_NODES]


def _out_of_sync(app: dict[str, Any]) -> list[ResourceRef]:
    """The Application's resources Argo CD reports OutOfSync that are not workloads (a ConfigMap
    to prune, a Service changed by hand): their status.resources entries are kept with the
    Application, so the analysis can name them."""
    refs = []
    for resource in (app.get("status") or {}).get("resources") or []:
        if not isinstance(resource, dict) or resource.get("kind") in WORKLOAD_KINDS:
            continue
        if resource.get("status") == "OutOfSync" or resource.get("requiresPruning"):
            refs.append(
                ResourceRef(
                    namespace=str(resource.get("namespace") or ""),
                    kind=str(resource.get("kind") or ""),
                    name=str(resource.get("name") or ""),
                )
            )
    return refs[:MAX_OUT_OF_SYNC]


def alerted_applications(argocd: ArgoClient | None, alerts: Any) -> AlertedApplications | None:
    """The collector for an incident's Argo CD alerts, or None when it has none (or no Argo CD)."""
    if argocd is None:
        return None
    refs = argocd_alerts(alerts)
    return AlertedApplications(argocd, refs) if refs else None


def _diff(application: str, app_namespace: str, resource: ResourceDrift) -> ArgoResourceDiff:
    fields = [
        ArgoFieldDiff(
            path=f.path,
            desired=_shown(resource, f.path, f.desired),
            live=_shown(resource, f.path, f.live),
        )
        for f in resource.fields[:MAX_DIFF_FIELDS]
    ]
    return ArgoResourceDiff(
        id=f"argocd-diff/{app_namespace}/{application}/{resource.namespace}/{resource.kind}/{resource.name}",
        application=application,
        group=resource.group,
        kind=resource.kind,
        namespace=resource.namespace,
        name=resource.name,
        live_missing=resource.live_missing,
        fields=fields,
    )


def _shown(resource: ResourceDrift, path: str, value: object) -> str:
    if resource.kind == "Secret" or _HIDDEN.intersection(path.split("/")):
        return "(not shown)"
    if value is None:
        return "(absent)"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))
    return _clip(redact_text(text), MAX_VALUE)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


__all__ = ["AlertedApplications", "alerted_applications"]
