"""observe: read the cluster around an incident into a bounded, typed `Observation`.

Reads only. A target that does not exist is a note in the observation, not a failure: alerts
often name pods that have since been replaced. Text from the cluster (logs, event messages) is
untrusted; it is bounded in size and has secrets redacted (`domain.redaction.text`) before it
leaves this module.

Beside the cluster, three optional sources add context when configured: Argo CD (the Application
that owns each workload, or a bare Pod the alert names), Prometheus (request rate, errors, latency,
CPU and memory against the limits, over the last minutes) and the GitOps repository (the files that
define each owned workload or Pod). Any failure of these becomes a note; only the Kubernetes API can
fail the step.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from activities.failures import activity_failure, store_failures
from activities.heartbeat import heartbeats
from activities.observe_argocd import alerted_applications
from activities.observe_placement import (
    claim_names,
    job_pod_selector,
    job_state,
    node_selector,
    read_claims,
    read_nodes,
    scheduling_message,
    with_cronjob_tracking,
)
from activities.redaction import redacts_result
from domain.gitops.locate import relevant_files
from domain.incident.model import WORKLOAD_KINDS, Incident, ResourceRef
from domain.intent.model import IntentChange
from domain.kube.observation import (
    ARGOCD_TRACKING,
    ArgoApplication,
    ContainerSpec,
    ContainerState,
    EventItem,
    GitOpsFile,
    JobState,
    LogExcerpt,
    MetricSeries,
    NodeState,
    Observation,
    PodState,
    Revision,
    VolumeClaim,
    Workload,
)
from domain.kube.ownership import (
    Claim,
    ClaimedRead,
    Listing,
    Ownership,
    app_key,
    decide_ownership,
    lists_object,
    status_resources,
    tracking_claim,
    with_listed,
    with_tree_health,
)
from domain.redaction.objects import redact_observation
from domain.redaction.text import placeholder, redact_text, secret_kind_for_key
from domain.steps.observe import ObserveInput
from integrations.argocd import ArgoClient, ArgoError, ArgoNotFound, to_argo_application
from integrations.errors import IntegrationError
from integrations.git import GitError, GitRepo
from integrations.gitops_clones import GitOpsClones
from integrations.kubernetes import KubeClient, KubeForbidden, KubeNotFound
from integrations.prometheus import (
    CONTAINER_QUERIES,
    WORKLOAD_QUERIES,
    PrometheusClient,
    PrometheusError,
    PrometheusInvalid,
    render_query,
)
from store.db import transaction
from store.repositories import IncidentRepository

__all__ = ["ObserveActivities", "ObserveInput", "build_observation"]

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
# Annotations that are large or say nothing about the incident.
_DROPPED_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)
MAX_PODS = 20  # pods described per workload
MAX_LOG_PODS = 4  # pods whose logs are read per workload (unready ones first)
MAX_EVENTS = 60
MAX_MESSAGE = 600
MAX_METRIC_CONTAINERS = 3  # containers whose CPU / memory series are read per workload
METRIC_STEP_SECONDS = 60
MAX_CHANGES = 16  # changed fields listed in the template diff of the newest revision
MAX_CHANGE_VALUE = 120  # characters of each side of a changed field
MAX_TERMINATION_MESSAGE = 400  # characters of a container's last termination message
MAX_INIT_CONTAINERS = 6  # init container states described per pod
MAX_REQUESTED_CANDIDATES = 10  # workloads observed for the name a change request gives
MAX_CONFIG_REFS = 8  # ConfigMaps and Secrets named per container


def _short(text: Any, limit: int = MAX_MESSAGE) -> str:
    # Redacted before it is cut: a secret cut in half would no longer be recognised.
    value = redact_text(str(text or ""))
    return value if len(value) <= limit else value[:limit] + "…"


def _read_claimed(argocd: ArgoClient, claim: Claim, raw: dict[str, Any]) -> ClaimedRead:
    """The Application a tracking claim names, read directly; with its managed-resources when its
    status.resources do not list the object. Errors are kept, for the decision to fail closed on."""
    app_namespace = claim.app_namespace or None
    try:
        app = argocd.get_application(claim.application, app_namespace)
    except ArgoNotFound:
        return ClaimedRead()
    except ArgoError as err:
        return ClaimedRead(error=_short(err.message, 200))
    if lists_object(status_resources(app), raw):
        return ClaimedRead(app=app)
    try:
        return ClaimedRead(app=app, managed=argocd.managed_resources(claim.application, app_namespace))
    except ArgoError as err:
        return ClaimedRead(app=app, managed_error=_short(err.message, 200))


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


def _controller(obj: dict[str, Any]) -> tuple[str, str] | None:
    refs = _meta(obj).get("ownerReferences") or []
    for ref in refs:
        if ref.get("controller"):
            return str(ref.get("kind")), str(ref.get("name"))
    return (str(refs[0].get("kind")), str(refs[0].get("name"))) if refs else None


def _rollout_strategy(kind: str, spec: dict[str, Any]) -> dict[str, str]:
    """The Workload's `strategy` and `max_unavailable`, as the API server defaulted them."""
    if kind == "StatefulSet":
        return {"strategy": str((spec.get("updateStrategy") or {}).get("type") or "RollingUpdate")}
    if kind != "Deployment":
        return {}
    strategy = spec.get("strategy") or {}
    unavailable = (strategy.get("rollingUpdate") or {}).get("maxUnavailable")
    return {
        "strategy": str(strategy.get("type") or "RollingUpdate"),
        "max_unavailable": "" if unavailable is None else str(unavailable),
    }


def _revision_number(obj: dict[str, Any]) -> int | None:
    try:
        return int((_meta(obj).get("annotations") or {}).get(REVISION_ANNOTATION, ""))
    except ValueError:
        return None


def _container_specs(template: dict[str, Any]) -> list[ContainerSpec]:
    specs = []
    for container in (template.get("spec") or {}).get("containers") or []:
        resources = container.get("resources") or {}
        specs.append(
            ContainerSpec(
                name=str(container.get("name", "")),
                image=str(container.get("image", "")),
                requests={k: str(v) for k, v in (resources.get("requests") or {}).items()},
                limits={k: str(v) for k, v in (resources.get("limits") or {}).items()},
                config_refs=_config_refs(template.get("spec") or {}, container),
            )
        )
    return specs


def _config_refs(pod_spec: dict[str, Any], container: dict[str, Any]) -> list[str]:
    """The ConfigMaps and Secrets a container reads, by name (and key), bounded; never their data."""
    refs: list[str] = []
    for env in container.get("env") or []:
        source = (env or {}).get("valueFrom") or {}
        for field, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
            ref = source.get(field)
            if ref:
                refs.append(
                    f"{kind} {ref.get('name', '')} (key {ref.get('key', '')}, env {env.get('name', '')})"
                )
    for env_from in container.get("envFrom") or []:
        for field, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
            ref = (env_from or {}).get(field)
            if ref:
                refs.append(f"{kind} {ref.get('name', '')} (all keys as env)")
    mounted = {m.get("name"): m.get("mountPath") for m in container.get("volumeMounts") or []}
    for volume in pod_spec.get("volumes") or []:
        if volume.get("name") not in mounted:
            continue
        for field, kind, key in (("configMap", "ConfigMap", "name"), ("secret", "Secret", "secretName")):
            ref = volume.get(field)
            if ref:
                refs.append(f"{kind} {ref.get(key, '')} (mounted at {mounted[volume.get('name')]})")
    return [_short(r, 160) for r in dict.fromkeys(refs)][:MAX_CONFIG_REFS]


def _container_state(status: dict[str, Any]) -> ContainerState:
    state = status.get("state") or {}
    name = next((k for k in ("running", "waiting", "terminated") if k in state), "")
    detail = state.get(name) or {}
    last = (status.get("lastState") or {}).get("terminated") or {}
    exit_code = last.get("exitCode")
    current_exit = detail.get("exitCode") if name == "terminated" else None
    return ContainerState(
        name=str(status.get("name", "")),
        image=str(status.get("image", "")),
        ready=bool(status.get("ready")),
        restart_count=int(status.get("restartCount") or 0),
        state=name,
        state_reason=str(detail.get("reason") or ""),
        state_message=_short(detail.get("message")),
        last_state_reason=str(last.get("reason") or ""),
        last_exit_code=int(exit_code) if exit_code is not None else None,
        state_exit_code=int(current_exit) if current_exit is not None else None,
        last_state_message=_short(last.get("message"), MAX_TERMINATION_MESSAGE),
    )


def _pod_state(pod: dict[str, Any]) -> PodState:
    meta, status = _meta(pod), pod.get("status") or {}
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
    )
    owner = _controller(pod)
    return PodState(
        id=f"pod/{meta.get('namespace', '')}/{meta.get('name', '')}",
        name=str(meta.get("name", "")),
        namespace=str(meta.get("namespace", "")),
        owner=owner[1] if owner else "",
        node=str((pod.get("spec") or {}).get("nodeName") or ""),
        phase=str(status.get("phase") or ""),
        ready=ready,
        containers=[_container_state(c) for c in status.get("containerStatuses") or []],
        owner_kind=owner[0] if owner else "",
        init_containers=[
            _container_state(c) for c in (status.get("initContainerStatuses") or [])[:MAX_INIT_CONTAINERS]
        ],
        scheduling_message=_short(scheduling_message(pod)),
        claims=claim_names(pod),
        node_selector=node_selector(pod),
        tracking=str((meta.get("annotations") or {}).get(ARGOCD_TRACKING) or "") if owner is None else "",
    )


def _event_item(event: dict[str, Any]) -> EventItem:
    meta, involved = _meta(event), event.get("involvedObject") or {}
    namespace = str(meta.get("namespace") or involved.get("namespace") or "")
    last_seen = (
        event.get("lastTimestamp")
        or event.get("eventTime")
        or (event.get("series") or {}).get("lastObservedTime")
        or ""
    )
    return EventItem(
        id=f"event/{namespace}/{meta.get('name', '')}",
        namespace=namespace,
        object_kind=str(involved.get("kind", "")),
        object_name=str(involved.get("name", "")),
        reason=str(event.get("reason") or ""),
        type=str(event.get("type") or "Normal"),
        message=_short(event.get("message")),
        count=int(event.get("count") or 1),
        last_seen=str(last_seen),
    )


def _template_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """How a pod template changed, one line per changed field, old and new value each bounded
    (`container api livenessProbe.initialDelaySeconds: 90 → 10`); env values are never shown.

    Cut per field rather than as one string, so a change deep in a large object (one number of a
    probe, one flag of a securityContext) keeps both its values. At most `MAX_CHANGES` lines; the
    last one then names the fields left out."""
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    changes: list[str] = []
    old_containers = {c.get("name"): c for c in old_spec.get("containers") or []}
    new_containers = {c.get("name"): c for c in new_spec.get("containers") or []}
    for name in new_containers.keys() - old_containers.keys():
        changes.append(f"container {name} added")
    for name in old_containers.keys() - new_containers.keys():
        changes.append(f"container {name} removed")
    for name, container in new_containers.items():
        before = old_containers.get(name)
        if before is not None:
            _field_changes(f"container {name} ", before, container, changes)
    pod_old = {k: v for k, v in old_spec.items() if k != "containers"}
    pod_new = {k: v for k, v in new_spec.items() if k != "containers"}
    _field_changes("pod ", pod_old, pod_new, changes)
    if len(changes) <= MAX_CHANGES:
        return changes
    left_out = changes[MAX_CHANGES - 1 :]
    subjects = ", ".join(_subject(c) for c in left_out)
    return [*changes[: MAX_CHANGES - 1], _short(f"{len(left_out)} more changed fields: {subjects}", 300)]


_ABSENT: Any = object()


def _subject(change: str) -> str:
    return change.split(": ", 1)[0]


def _field_changes(path: str, a: Any, b: Any, out: list[str]) -> None:
    """Append one line per leaf where `a` and `b` differ; `path` ends in a space or a key."""
    if a == b:
        return
    key = path.rstrip().rsplit(".", 1)[-1].rsplit(" ", 1)[-1]
    if key == "env" and isinstance(a or [], list) and isinstance(b or [], list):
        names = sorted(
            {str(e.get("name")) for e in (a or []) if e not in (b or [])}
            | {str(e.get("name")) for e in (b or []) if e not in (a or [])}
        )
        out.append(f"{path.rstrip()} changed: {', '.join(names)}")
        return
    a_map = a if isinstance(a, dict) else ({} if a in (None, _ABSENT) and isinstance(b, dict) else None)
    b_map = b if isinstance(b, dict) else ({} if b in (None, _ABSENT) and isinstance(a, dict) else None)
    if a_map is not None and b_map is not None:
        for k in [*b_map, *(k for k in a_map if k not in b_map)]:
            _field_changes(_join(path, str(k)), a_map.get(k, _ABSENT), b_map.get(k, _ABSENT), out)
        return
    a_list = a if isinstance(a, list) else ([] if a in (None, _ABSENT) and isinstance(b, list) else None)
    b_list = b if isinstance(b, list) else ([] if b in (None, _ABSENT) and isinstance(a, list) else None)
    if a_list is not None and b_list is not None:
        a_items, b_items = _keyed_items(a_list), _keyed_items(b_list)
        if a_items is not None and b_items is not None:
            for k in [*b_items, *(k for k in a_items if k not in b_items)]:
                before, after = a_items.get(k, _ABSENT), b_items.get(k, _ABSENT)
                if before is _ABSENT or after is _ABSENT:
                    out.append(_change_line(f"{path.rstrip()}[{k}]", before, after))
                else:
                    _field_changes(f"{path.rstrip()}[{k}]", before, after, out)
            return
        if len(a_list) == len(b_list) and all(isinstance(i, dict) for i in [*a_list, *b_list]):
            for i, (before, after) in enumerate(zip(a_list, b_list, strict=True)):
                _field_changes(f"{path.rstrip()}[{i}]", before, after, out)
            return
    out.append(_change_line(path.rstrip(), a, b))


def _join(path: str, key: str) -> str:
    return f"{path}{key}" if path.endswith(" ") else f"{path}.{key}"


def _keyed_items(items: list[Any]) -> dict[str, Any] | None:
    """A list of named objects (containers, ports, volumes, mounts) by name, so an item added or
    removed is one line and the others are compared field by field; None for any other list."""
    names = [i.get("name") if isinstance(i, dict) else None for i in items]
    if None in names or len(set(names)) != len(names):
        return None
    return {str(n): i for n, i in zip(names, items, strict=True)}


def _change_line(subject: str, a: Any, b: Any) -> str:
    leaf = subject.rsplit(".", 1)[-1].rsplit(" ", 1)[-1]
    return f"{subject}: {_change_value(leaf, a)} → {_change_value(leaf, b)}"


def _change_value(key: str, value: Any) -> str:
    if value is _ABSENT or value is None:
        return "(unset)"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    kind = secret_kind_for_key(key, text)
    if kind is not None and text:
        return placeholder(kind)
    return _short(text, MAX_CHANGE_VALUE)


class _Observer:
    """Collects one observation; keeps everything it has seen keyed by id so nothing repeats."""

    def __init__(
        self,
        kube: KubeClient,
        incident: Incident,
        log_limit_bytes: int,
        *,
        argocd: ArgoClient | None = None,
        prometheus: PrometheusClient | None = None,
        gitops: GitRepo | GitOpsClones | None = None,
        window_minutes: int = 30,
        now: float | None = None,
    ) -> None:
        self.kube = kube
        self.incident = incident
        self.log_limit_bytes = log_limit_bytes
        self.argocd = argocd
        self.prometheus = prometheus
        self.gitops = gitops
        self.window_minutes = window_minutes
        self.now = now
        self.raw_workloads: dict[str, dict[str, Any]] = {}
        self.templates: dict[str, dict[str, Any]] = {}  # revision id -> pod template
        self.applications: dict[str, ArgoApplication] = {}
        # (Application, the object it manages): each workload, and each bare Pod, Argo CD owns
        self.owned: list[tuple[ArgoApplication, ResourceRef]] = []
        # Who manages each workload and bare Pod, as decided (uncertain ones among them).
        self.ownership: list[Ownership] = []
        self.raw_bare_pods: dict[str, dict[str, Any]] = {}  # pod id -> the bare Pod as read
        self.metrics: dict[str, MetricSeries] = {}
        self.gitops_files: dict[str, GitOpsFile] = {}
        self.workloads: dict[str, Workload] = {}
        self.revisions: dict[str, Revision] = {}
        self.pods: dict[str, PodState] = {}
        self.events: dict[str, EventItem] = {}
        self.logs: dict[str, LogExcerpt] = {}
        self.notes: list[str] = []
        self._seen_event_queries: set[tuple[str, str, str]] = set()
        self._revision_owner: dict[str, str] = {}
        self.claims: list[VolumeClaim] = []
        self.jobs: dict[str, JobState] = {}
        self.nodes: list[NodeState] = []
        self.nodes_complete = False

    def build(self) -> Observation:
        for target in self.incident.targets:
            self.observe_target(target)
        intent = self.incident.intent if self.incident.source == "intent" else None
        if intent is not None and intent.change is not None:
            self.observe_requested(intent.change)
        # Argo CD's own alerts name an Application: its managed workloads are the targets.
        alerted = alerted_applications(self.argocd, self.incident.alerts)
        if alerted is not None:
            alerted.observe(self)
        if not self.incident.targets and not self.workloads:
            self.notes.append("the incident names no Kubernetes object to observe")
        self.diff_revisions()
        self.collect_placement()
        if self.argocd is not None:
            self.collect_applications(self.argocd)
        if alerted is not None:
            alerted.finish(self)
        if self.prometheus is not None:
            self.collect_metrics(self.prometheus)
        if self.gitops is not None and self.owned:
            self.collect_gitops_files(self.gitops)
        # Warnings first, newest first within each type.
        events = sorted(self.events.values(), key=lambda e: e.last_seen, reverse=True)
        events.sort(key=lambda e: e.type != "Warning")
        return Observation(
            incident_id=self.incident.id,
            workloads=list(self.workloads.values()),
            revisions=list(self.revisions.values()),
            pods=list(self.pods.values()),
            events=events[:MAX_EVENTS],
            logs=list(self.logs.values()),
            argocd=list(self.applications.values()),
            metrics=list(self.metrics.values()),
            gitops_files=list(self.gitops_files.values()),
            alert_targets=list(self.incident.targets),
            notes=self.notes,
            argocd_diffs=alerted.diffs if alerted is not None else [],
            argocd_tree=alerted.tree if alerted is not None else [],
            claims=self.claims,
            jobs=list(self.jobs.values()),
            nodes=self.nodes,
            nodes_complete=self.nodes_complete,
            ownership=self.ownership,
        )

    # --- resolution ------------------------------------------------------------------------------

    def observe_requested(self, change: IntentChange) -> None:
        """A change request's target: every workload its name names (in its namespace, or in any),
        so that the plan sees one, none or the candidates; an Application to sync: the workloads
        it manages."""
        if change.kind == "sync_application":
            self.observe_application(change.target.name)
            return
        refs = self.kube.find_workloads(change.target.name, change.target.namespace)
        where = f"in namespace {change.target.namespace}" if change.target.namespace else "in any namespace"
        if not refs:
            self.notes.append(f"no Deployment, StatefulSet or DaemonSet named {change.target.name} {where}")
        if len(refs) > MAX_REQUESTED_CANDIDATES:
            self.notes.append(
                f"{len(refs)} workloads are named {change.target.name}; the first "
                f"{MAX_REQUESTED_CANDIDATES} were observed"
            )
        for ref in sorted(refs, key=lambda r: r.key)[:MAX_REQUESTED_CANDIDATES]:
            self.observe_target(ref)

    def observe_application(self, name: str) -> None:
        if self.argocd is None:
            self.notes.append(f"Argo CD is not configured, so application {name} cannot be read")
            return
        try:
            app = self.argocd.get_application(name)
        except IntegrationError as err:
            self.notes.append(f"Argo CD application {name} could not be read: {_short(str(err), 300)}")
            return
        for resource in (app.get("status") or {}).get("resources") or []:
            kind = str(resource.get("kind") or "")
            if kind in WORKLOAD_KINDS and resource.get("namespace") and resource.get("name"):
                self.observe_target(
                    ResourceRef(namespace=str(resource["namespace"]), kind=kind, name=str(resource["name"]))
                )

    def _read(self, ref: ResourceRef) -> dict[str, Any] | None:
        try:
            return self.kube.read_object(ref)
        except KubeNotFound:
            return None

    def observe_target(self, target: ResourceRef) -> None:
        ref = target.without_container()
        if ref.kind in WORKLOAD_KINDS:
            workload = self._read(ref)
            if workload is None:
                self.notes.append(f"{ref.kind} {ref.namespace}/{ref.name} was not found")
                return
            self.observe_workload(ref, workload, focus=[])
            return
        if ref.kind == "Job":
            self.observe_job(ref.namespace, ref.name, focus=[])
            return
        if ref.kind != "Pod":
            self.notes.append(f"{ref.kind} {ref.namespace}/{ref.name}: medic does not observe this kind")
            return
        pod = self._read(ref)
        if pod is None:
            self.notes.append(f"pod {ref.namespace}/{ref.name} was not found (it may have been replaced)")
            owner: tuple[str, str] | None = ("ReplicaSet", _replicaset_of_pod_name(ref.name))
        else:
            owner = _controller(pod)
        resolved = self._resolve_owner(ref.namespace, owner)
        if resolved is not None:
            self.observe_workload(resolved[0], resolved[1], focus=[pod] if pod else [])
        elif owner is not None and owner[0] == "Job" and pod is not None:
            self.observe_job(ref.namespace, owner[1], focus=[pod])
        elif pod is not None:
            self.notes.append(f"pod {ref.namespace}/{ref.name} belongs to no workload medic can change")
            if owner is None:
                self.raw_bare_pods[f"pod/{ref.namespace}/{ref.name}"] = pod
            self.observe_pods(ref.namespace, [pod])

    def _resolve_owner(
        self, namespace: str, owner: tuple[str, str] | None
    ) -> tuple[ResourceRef, dict[str, Any]] | None:
        if owner is None or not owner[1]:
            return None
        kind, name = owner
        if kind == "ReplicaSet":
            replicaset = self._read(ResourceRef(namespace=namespace, kind="ReplicaSet", name=name))
            if replicaset is None:
                return None
            parent = _controller(replicaset)
            if parent is None or parent[0] != "Deployment":
                return None
            kind, name = parent
        if kind not in WORKLOAD_KINDS:
            return None
        ref = ResourceRef(namespace=namespace, kind=kind, name=name)
        workload = self._read(ref)
        if workload is None:
            self.notes.append(f"{kind} {namespace}/{name} (the pod's owner) was not found")
            return None
        return ref, workload

    # --- collection ------------------------------------------------------------------------------

    def observe_workload(
        self, ref: ResourceRef, workload: dict[str, Any], focus: list[dict[str, Any]]
    ) -> None:
        workload_id = f"workload/{ref.namespace}/{ref.kind}/{ref.name}"
        if workload_id in self.workloads:
            self.observe_pods(ref.namespace, focus)
            return
        meta, spec, status = _meta(workload), workload.get("spec") or {}, workload.get("status") or {}
        annotations = {
            k: _short(v, 300)
            for k, v in (meta.get("annotations") or {}).items()
            if k not in _DROPPED_ANNOTATIONS
        }
        self.raw_workloads[workload_id] = workload
        self.workloads[workload_id] = Workload(
            id=workload_id,
            ref=ref,
            generation=int(meta.get("generation") or 0),
            observed_generation=int(status.get("observedGeneration") or 0),
            revision=_revision_number(workload),
            replicas=int(spec.get("replicas") or 0),
            updated_replicas=int(status.get("updatedReplicas") or 0),
            ready_replicas=int(status.get("readyReplicas") or 0),
            available_replicas=int(status.get("availableReplicas") or 0),
            containers=_container_specs(spec.get("template") or {}),
            labels=dict(meta.get("labels") or {}),
            annotations=annotations,
            **_rollout_strategy(ref.kind, spec),
        )
        self.collect_events(ref.namespace, ref.kind, ref.name)
        selector = dict((spec.get("selector") or {}).get("matchLabels") or {})
        if ref.kind == "Deployment":
            for replicaset in self.kube.list_replicasets(ref.namespace, selector):
                if _controller(replicaset) != ("Deployment", ref.name):
                    continue
                self.add_revision(ref.namespace, replicaset, workload_id)
        pods = self.kube.list_pods(ref.namespace, selector) if selector else []
        names = {_meta(p).get("name") for p in pods}
        pods = [p for p in focus if _meta(p).get("name") not in names] + pods
        self.observe_pods(ref.namespace, pods)

    def add_revision(self, namespace: str, replicaset: dict[str, Any], workload_id: str = "") -> None:
        meta, spec, status = _meta(replicaset), replicaset.get("spec") or {}, replicaset.get("status") or {}
        revision_id = f"revision/{namespace}/{meta.get('name', '')}"
        self.templates[revision_id] = spec.get("template") or {}
        self._revision_owner[revision_id] = workload_id
        self.revisions[revision_id] = Revision(
            id=revision_id,
            name=str(meta.get("name", "")),
            revision=_revision_number(replicaset) or 0,
            replicas=int(status.get("replicas") or 0),
            ready_replicas=int(status.get("readyReplicas") or 0),
            containers=_container_specs(spec.get("template") or {}),
        )
        self.collect_events(namespace, "ReplicaSet", str(meta.get("name", "")))

    def observe_pods(self, namespace: str, pods: list[dict[str, Any]]) -> None:
        # Unready pods first: they are the ones the incident is about.
        ordered = sorted(pods, key=lambda p: (_pod_state(p).ready, _meta(p).get("name", "")))
        log_budget = MAX_LOG_PODS
        for pod in ordered[:MAX_PODS]:
            state = _pod_state(pod)
            if state.id in self.pods:
                continue
            self.pods[state.id] = state
            self.collect_events(namespace, "Pod", state.name)
            if state.node:
                self.collect_events("", "Node", state.node)
            if log_budget > 0:
                log_budget -= 1
                self.collect_logs(pod, state)
                self.collect_init_logs(pod, state)
        if len(ordered) > MAX_PODS:
            self.notes.append(f"{len(ordered) - MAX_PODS} more pods in {namespace} were not described")

    def observe_job(self, namespace: str, name: str, focus: list[dict[str, Any]]) -> None:
        """A Job (with the CronJob that made it), its events and its pods."""
        job_id = f"job/{namespace}/{name}"
        if job_id in self.jobs:
            self.observe_pods(namespace, focus)
            return
        try:
            job = self.kube.read_job(namespace, name)
        except KubeNotFound:
            self.notes.append(f"Job {namespace}/{name} was not found (it may have been cleaned up)")
            self.observe_pods(namespace, focus)
            return
        except KubeForbidden as err:
            self.notes.append(f"Job {namespace}/{name} could not be read: {_short(err.message, 300)}")
            self.observe_pods(namespace, focus)
            return
        state = job_state(job, _container_specs((job.get("spec") or {}).get("template") or {}))
        if state.cronjob:
            self.collect_events(namespace, "CronJob", state.cronjob)
            state = with_cronjob_tracking(self.kube, state, self.notes)
        self.jobs[job_id] = state
        self.collect_events(namespace, "Job", name)
        pods = self.kube.list_pods(namespace, job_pod_selector(job))
        names = {_meta(p).get("name") for p in pods}
        self.observe_pods(namespace, [p for p in focus if _meta(p).get("name") not in names] + pods)

    def collect_placement(self) -> None:
        """For pods that are not ready: the claims they mount (with their events and whether their
        StorageClass exists) and the nodes (conditions, taints, allocatable)."""
        pods = list(self.pods.values())
        if not any(not p.ready for p in pods):
            return
        self.claims, claim_keys = read_claims(self.kube, pods, self.notes)
        for namespace, name in claim_keys:
            self.collect_events(namespace, "PersistentVolumeClaim", name)
        self.nodes, self.nodes_complete = read_nodes(self.kube, pods, self.notes)

    def collect_events(self, namespace: str, kind: str, name: str) -> None:
        query = (namespace, kind, name)
        if query in self._seen_event_queries:
            return
        self._seen_event_queries.add(query)
        for event in self.kube.list_events(namespace, kind, name):
            item = _event_item(event)
            self.events[item.id] = item

    def collect_logs(self, pod: dict[str, Any], state: PodState) -> None:
        namespace, name = state.namespace, state.name
        restarts = {c.name: c.restart_count for c in state.containers}
        for container in (pod.get("spec") or {}).get("containers") or []:
            cname = str(container.get("name", ""))
            self._add_log(namespace, name, cname, previous=False)
            if restarts.get(cname, 0) > 0:
                self._add_log(namespace, name, cname, previous=True)

    def collect_init_logs(self, pod: dict[str, Any], state: PodState) -> None:
        """The logs of the init container that holds the pod back (the first one not done): its
        failure is why the regular containers never start."""
        declared = {str(c.get("name", "")) for c in (pod.get("spec") or {}).get("initContainers") or []}
        for init in state.init_containers:
            if init.name not in declared:
                continue
            done = init.state == "terminated" and init.state_exit_code == 0
            if done:
                continue
            # running: it may be waiting for something (and says so); failing: it says why
            self._add_log(state.namespace, state.name, init.name, previous=False)
            if init.restart_count > 0:
                self._add_log(state.namespace, state.name, init.name, previous=True)
            return

    def _add_log(self, namespace: str, pod: str, container: str, *, previous: bool) -> None:
        text = self.kube.read_log(
            namespace, pod, container, previous=previous, limit_bytes=self.log_limit_bytes
        )
        if not text:
            return
        prefix = "log-previous" if previous else "log"
        item_id = f"{prefix}/{namespace}/{pod}/{container}"
        truncated = len(text.encode()) >= self.log_limit_bytes
        self.logs[item_id] = LogExcerpt(
            id=item_id,
            pod=pod,
            container=container,
            previous=previous,
            text=redact_text(text),
            truncated=truncated,
        )

    # --- context beside the cluster --------------------------------------------------------------

    def diff_revisions(self) -> None:
        """The newest revision of each Deployment gets its template diff against the previous one."""
        by_workload: dict[str, list[Revision]] = {}
        for revision_id, revision in self.revisions.items():
            by_workload.setdefault(self._revision_owner.get(revision_id, ""), []).append(revision)
        for revisions in by_workload.values():
            if len(revisions) < 2:
                continue
            newest, previous = sorted(revisions, key=lambda r: r.revision, reverse=True)[:2]
            changes = _template_changes(self.templates[previous.id], self.templates[newest.id])
            self.revisions[newest.id] = newest.model_copy(
                update={"changes": changes, "previous_revision": previous.revision}
            )

    def collect_applications(self, argocd: ArgoClient) -> None:
        """The Application that owns each workload and bare Pod, decided by
        `domain.kube.ownership.decide_ownership`: the one its tracking names, read directly (with
        its managed-resources when its status.resources do not list the object), else the one
        Application whose status.resources list it. Every decision is kept; an uncertain one is a
        note too, and medic changes that object through nothing but a human."""
        listing: Listing | None = None
        raw_apps: dict[str, dict[str, Any]] = {}
        owners: list[tuple[str, ResourceRef]] = []
        uncertain: dict[str, str] = {}  # Application key -> why its destination may not be here
        # The workloads, and the bare Pods the alert names (a Pod in an Application's manifests).
        managed = [(w.ref, self.raw_workloads[i]) for i, w in self.workloads.items()]
        managed += [
            (ResourceRef(namespace=self.pods[i].namespace, kind="Pod", name=self.pods[i].name), raw)
            for i, raw in self.raw_bare_pods.items()
            if i in self.pods
        ]
        for ref, raw in managed:
            claim = tracking_claim(raw, argocd.tracking)
            claimed = _read_claimed(argocd, claim, raw) if claim is not None else None
            if claimed is not None and claimed.app is not None:
                elsewhere = self._elsewhere(argocd, claimed.app, ref)
                if elsewhere:  # an Application of another cluster owns nothing here
                    claimed = ClaimedRead(elsewhere=elsewhere)
            decision, app = decide_ownership(raw, argocd.tracking, claimed=claimed)
            if app is None and decision.state != "uncertain":
                if listing is None:
                    listing = self._list_applications(argocd)
                decision, app = decide_ownership(raw, argocd.tracking, claimed=claimed, listing=listing)
            self.ownership.append(decision)
            if decision.state == "uncertain":
                self.notes.append(
                    f"{ref.kind} {ref.namespace}/{ref.name}: Argo CD owner uncertain: "
                    f"{_short(decision.reason, 300)}"
                )
                continue
            if app is None:
                self.notes.append(f"{ref.kind} {ref.namespace}/{ref.name}: no Argo CD Application manages it")
                continue
            key = f"argocd/{decision.app_namespace or 'argocd'}/{decision.application}"
            app = raw_apps.get(key) or dict(app)
            if decision.listed_in == "managed-resources" and claimed is not None:
                # Its status did not list the object: the managed-resources entry is added, so that
                # the observation's Application lists what it manages.
                app = with_listed(app, raw, claimed.managed or [])
            raw_apps[key] = app
            owners.append((key, ref))
            self._note_uncertain_cluster(argocd, app, ref, uncertain)
        for key, app in raw_apps.items():
            refs = [r for k, r in owners if k == key]
            self.applications[key] = to_argo_application(
                self._with_tree_health(argocd, app, refs), refs, ownership_uncertain=uncertain.get(key, "")
            )
        self.owned = [(self.applications[key], ref) for key, ref in owners]

    def _list_applications(self, argocd: ArgoClient) -> Listing:
        """Argo CD's Applications, less those that deploy to another cluster."""
        try:
            listed = argocd.list_applications()
            return Listing(apps=[a for a in listed if self._not_elsewhere(argocd, a)])
        except ArgoError as err:
            self.notes.append(f"Argo CD could not be read: {_short(err.message, 300)}")
            return Listing(error=_short(err.message, 200))

    def _with_tree_health(
        self, argocd: ArgoClient, app: dict[str, Any], refs: list[ResourceRef]
    ) -> dict[str, Any]:
        """The Application with its targets' health taken from its resource tree when their
        status.resources entries lack it (Argo CD 3.x no longer persists it there; 2.x's persisted
        health is the controller's own and is kept, without another request). Unchanged when the
        tree cannot be read (a note says so) or does not have the resource."""
        keys = {(r.namespace, r.kind, r.name) for r in refs}
        entries = [
            r
            for r in status_resources(app)
            if (r.get("namespace") or "", r.get("kind"), r.get("name")) in keys
        ]
        if all(r.get("health") for r in entries):
            return app
        namespace, name = app_key(app)
        try:
            tree = argocd.resource_tree(name, namespace or None)
        except ArgoError as err:
            self.notes.append(f"the resource tree of {name} could not be read: {_short(err.message, 200)}")
            return app
        return with_tree_health(app, tree)

    # Applications of other clusters (README "Clusters"): one that deploys elsewhere owns nothing
    # here; one whose destination cannot be resolved is kept as an uncertain owner.

    def _not_elsewhere(self, argocd: ArgoClient, app: dict[str, Any]) -> bool:
        return argocd.placement(app).where != "elsewhere"

    def _elsewhere(self, argocd: ArgoClient, app: Mapping[str, Any], ref: ResourceRef) -> str:
        """Why `app` deploys to another cluster (said in a note too), or "" when it does not."""
        where = argocd.placement(app)
        if where.where != "elsewhere":
            return ""
        self.notes.append(
            f"{ref.kind} {ref.namespace}/{ref.name}: Application {app_key(app)[1]} is not its owner: "
            f"{where.reason}"
        )
        return where.reason

    def _note_uncertain_cluster(
        self, argocd: ArgoClient, app: dict[str, Any], ref: ResourceRef, uncertain: dict[str, str]
    ) -> None:
        where = argocd.placement(app)
        if where.where != "unknown":
            return
        meta = app.get("metadata") or {}
        key = f"argocd/{meta.get('namespace') or 'argocd'}/{meta.get('name', '')}"
        reason = f"Application {meta.get('name', '')} may not deploy to this cluster: {where.reason}"
        uncertain[key] = reason
        self.notes.append(f"{ref.kind} {ref.namespace}/{ref.name}: ownership uncertain: {reason}")

    def _metric_containers(self, workload: Workload) -> list[str]:
        names = [c.name for c in workload.containers]
        named = [
            t.container
            for t in self.incident.targets
            if t.container in names and t.namespace == workload.ref.namespace
        ]
        return list(dict.fromkeys(named or names))[:MAX_METRIC_CONTAINERS]

    def collect_metrics(self, prometheus: PrometheusClient) -> None:
        end = self.now if self.now is not None else time.time()
        start = end - self.window_minutes * 60
        for workload in self.workloads.values():
            ref = workload.ref
            queries: list[tuple[str, str, str]] = []  # (id, name, query)
            base = f"{ref.namespace}/{ref.name}"
            for name in WORKLOAD_QUERIES:
                query = render_query(name, namespace=ref.namespace, workload=ref.name)
                queries.append((f"metric/{name}/{base}", name, query))
            several = len(workload.containers) > 1
            for container in self._metric_containers(workload):
                for name in CONTAINER_QUERIES:
                    query = render_query(
                        name, namespace=ref.namespace, workload=ref.name, container=container
                    )
                    suffix = f"/{container}" if several else ""
                    queries.append((f"metric/{name}/{base}{suffix}", name, query))
            empty: list[str] = []
            for item_id, name, query in queries:
                try:
                    samples = prometheus.query_range(query, start, end, METRIC_STEP_SECONDS)
                except PrometheusInvalid as err:
                    self.notes.append(f"Prometheus refused the {name} query: {_short(err.message, 300)}")
                    continue
                except PrometheusError as err:
                    self.notes.append(f"Prometheus could not be read: {_short(err.message, 300)}")
                    return
                if not samples:
                    empty.append(name)
                    continue
                self.metrics[item_id] = MetricSeries(id=item_id, name=name, query=query, samples=samples)
            if empty:
                names = ", ".join(dict.fromkeys(empty))
                self.notes.append(f"Prometheus has no data for {names} of {ref.kind} {base}")

    def collect_gitops_files(self, gitops: GitRepo | GitOpsClones) -> None:
        """The files defining each owned workload, read from the clone of the repository its
        Application deploys from (with `GitOpsClones`; else the one clone)."""
        synced: dict[str, bool] = {}
        for app, ref in self.owned:
            repo = gitops.clone_for(app.sources) if isinstance(gitops, GitOpsClones) else gitops
            if repo is None:
                continue
            if repo.remote_url not in synced:
                try:
                    repo.sync()
                    synced[repo.remote_url] = True
                except GitError as err:
                    synced[repo.remote_url] = False
                    self.notes.append(f"the GitOps repository could not be read: {_short(err.message, 300)}")
            if not synced[repo.remote_url]:
                continue
            sources = app.sources
            git_sources = [s for s in sources if s.get("path") is not None or s.get("ref")]
            target_revision = str((git_sources[0] if git_sources else {}).get("targetRevision") or "HEAD")
            try:
                commit = repo.head(target_revision)
                files = repo.list_files(commit)
                cache: dict[str, str | None] = {}

                def read(
                    path: str,
                    commit: str = commit,
                    cache: dict[str, str | None] = cache,
                    repo: GitRepo = repo,
                ) -> str | None:
                    if path not in cache:
                        cache[path] = repo.read_file(path, commit)
                    return cache[path]

                target = ResourceRef(namespace=ref.namespace, kind=ref.kind, name=ref.name)
                found = relevant_files(
                    sources,
                    target,
                    read,
                    files,
                    application=app.name,
                    application_set=app.application_set,
                    revision=commit,
                    destination_namespace=app.destination_namespace,
                )
            except GitError as err:
                self.notes.append(
                    f"the GitOps files of {app.name} could not be read: {_short(err.message, 300)}"
                )
                continue
            if not any(f.role != "application" for f in found):
                self.notes.append(
                    f"no file of the GitOps repository at {target_revision} ({commit[:12]}) defines "
                    f"{ref.kind} {ref.namespace}/{ref.name} of Application {app.name}"
                )
            for item in found:
                self.gitops_files.setdefault(item.id, item)


def _replicaset_of_pod_name(pod_name: str) -> str:
    """`ledger-5c6b7d8f9-b7xkq` → `ledger-5c6b7d8f9`: a Deployment pod's name is its ReplicaSet's
    name and a suffix, which finds the owner of a pod that is gone."""
    return pod_name.rsplit("-", 1)[0] if "-" in pod_name else ""


def build_observation(
    kube: KubeClient,
    incident: Incident,
    *,
    log_limit_bytes: int = 8192,
    argocd: ArgoClient | None = None,
    prometheus: PrometheusClient | None = None,
    gitops: GitRepo | GitOpsClones | None = None,
    window_minutes: int = 30,
    now: float | None = None,
) -> Observation:
    """What the cluster shows about the incident's targets: each resolved to its workload
    (pod → ReplicaSet → Deployment), with revisions (the newest with its template diff), pods,
    events and bounded log tails; with `argocd`, the Application owning each workload (and each
    bare Pod named as a target); with `prometheus`, the workload's series over the `window_minutes`
    ending at `now` (default: the clock); with `gitops` (and an owning Application), the files that
    define each workload or Pod.

    Missing objects and every failure of Argo CD, Prometheus or git become notes. `KubeError`s
    other than not-found propagate.
    """
    return _Observer(
        kube,
        incident,
        log_limit_bytes,
        argocd=argocd,
        prometheus=prometheus,
        gitops=gitops,
        window_minutes=window_minutes,
        now=now,
    ).build()


class ObserveActivities:
    def __init__(
        self,
        kube: KubeClient,
        argocd: ArgoClient | None = None,
        prometheus: PrometheusClient | None = None,
        gitops: GitRepo | GitOpsClones | None = None,
        *,
        window_minutes: int = 30,
        clock: Callable[[], float] = time.time,
        sessions: sessionmaker[Session] | None = None,
    ) -> None:
        self._kube = kube
        self._argocd = argocd
        self._prometheus = prometheus
        self._gitops = gitops
        self._window_minutes = window_minutes
        self._clock = clock
        # Where the observation is kept for the console (incident.observation), when the input
        # asks (runs recorded before the workflow kept it itself); None: not kept.
        self._sessions = sessions

    def close(self) -> None:
        """Close the HTTP clients of the context sources (not the Kubernetes client)."""
        for client in (self._argocd, self._prometheus):
            if client is not None:
                client.close()

    @activity.defn(name="observe_incident")
    @redacts_result
    @heartbeats
    @store_failures
    def observe_incident(self, input: ObserveInput) -> Observation:
        try:
            # Redacted here, at the source: what observe returns is in the workflow's history,
            # the store and every prompt, and none of them may hold a secret.
            observation = redact_observation(
                build_observation(
                    self._kube,
                    input.incident,
                    argocd=self._argocd,
                    prometheus=self._prometheus,
                    gitops=self._gitops,
                    window_minutes=self._window_minutes,
                    now=self._clock(),
                )
            )
        except IntegrationError as err:
            # Temporary (the API unreachable): retried by Temporal; permanent: final.
            raise activity_failure(err, "observe") from err
        if self._sessions is not None and input.keep:
            # Its own transaction, an upsert of one column: a retried attempt writes its own
            # observation over the earlier one's, and that is the one it returns.
            with transaction(self._sessions) as session:
                IncidentRepository(session).upsert(input.incident.id, observation=observation)
        return observation
