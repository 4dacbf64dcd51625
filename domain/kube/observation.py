"""What observe saw: a bounded, typed summary of the cluster around an incident.

Every item carries a stable `id` so that a diagnosis can cite it as evidence.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from domain.base import Frozen
from domain.incident.model import ResourceRef
from domain.kube.ownership import Ownership


class ContainerSpec(Frozen):
    name: str
    image: str
    requests: dict[str, str] = Field(default_factory=dict)
    limits: dict[str, str] = Field(default_factory=dict)
    # The ConfigMaps and Secrets the container reads (env, envFrom, mounted volumes), by name and
    # key where one is named: "ConfigMap checkout-config", "Secret db (key password)". Names only.
    config_refs: list[str] = Field(default_factory=list)


class Workload(Frozen):
    """A Deployment (or another scalable workload) and its rollout state."""

    id: str
    ref: ResourceRef
    generation: int = 0
    observed_generation: int = 0
    revision: int | None = None
    replicas: int = 0
    updated_replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    containers: list[ContainerSpec] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    # How a change of the pod template rolls out: a Deployment's spec.strategy.type (and its
    # rollingUpdate.maxUnavailable as written, "" when unset), a StatefulSet's
    # spec.updateStrategy.type. "" when not observed (observations made before these fields).
    strategy: str = ""
    max_unavailable: str = ""


class Revision(Frozen):
    """One ReplicaSet of a Deployment: a revision with its pod template's containers."""

    id: str
    name: str
    revision: int
    replicas: int = 0
    ready_replicas: int = 0
    containers: list[ContainerSpec] = Field(default_factory=list)
    # On the newest revision: how its pod template differs from the previous revision's, one line
    # per changed field with both values, each bounded ("container checkout image: a → b",
    # "container api livenessProbe.initialDelaySeconds: 90 → 10"); empty on the others.
    changes: list[str] = Field(default_factory=list)
    previous_revision: int | None = None


class ContainerState(Frozen):
    name: str
    image: str = ""
    ready: bool = False
    restart_count: int = 0
    state: str = ""  # running | waiting | terminated
    state_reason: str = ""
    state_message: str = ""
    last_state_reason: str = ""
    last_exit_code: int | None = None
    # The exit code of the current state when it is `terminated`, and the termination message of
    # the last termination (the kubelet's or the container's own, bounded): why it stopped.
    state_exit_code: int | None = None
    last_state_message: str = ""


class PodState(Frozen):
    id: str
    name: str
    namespace: str
    owner: str = ""  # the ReplicaSet (or other controller) that owns the pod
    node: str = ""
    phase: str = ""
    ready: bool = False
    containers: list[ContainerState] = Field(default_factory=list)
    # The kind of the controller that owns the pod ("" for a bare Pod, which nothing recreates),
    # and the init containers' states, in their order (an init container that fails holds the pod).
    owner_kind: str = ""
    init_containers: list[ContainerState] = Field(default_factory=list)
    # The PodScheduled=False condition's message (the scheduler's "0/3 nodes are available: ...").
    scheduling_message: str = ""
    # The PersistentVolumeClaims the pod mounts, by name (bounded).
    claims: list[str] = Field(default_factory=list)
    # spec.nodeSelector (bounded): which node labels the pod requires.
    node_selector: dict[str, str] = Field(default_factory=dict)
    # The Argo CD tracking id on the Pod itself ("" if none): a bare Pod that Argo CD synced from Git.
    tracking: str = ""


class EventItem(Frozen):
    id: str
    namespace: str
    object_kind: str
    object_name: str
    reason: str
    type: str = "Normal"
    message: str = ""
    count: int = 1
    last_seen: str = ""


class LogExcerpt(Frozen):
    id: str
    pod: str
    container: str
    previous: bool = False
    text: str = ""
    truncated: bool = False


# Objects Argo CD manages carry this annotation (annotation-based resource tracking); they are
# changed through Git, never directly.
ARGOCD_TRACKING = "argocd.argoproj.io/tracking-id"
# Argo CD's older, label-based tracking (also set by Helm charts, so it counts only when an
# observed application has that name).
ARGOCD_INSTANCE_LABEL = "app.kubernetes.io/instance"


class ArgoApplication(Frozen):
    """An Argo CD Application that owns one of the targets, as its API reports it."""

    id: str  # argocd/<namespace>/<name>
    name: str
    namespace: str = "argocd"
    project: str = ""
    sync_status: str = ""
    health_status: str = ""
    health_message: str = ""
    revision: str = ""
    automated: bool = False
    # spec.source / spec.sources as the API returns them (repoURL, path, chart, helm, kustomize, ref)
    sources: list[dict[str, Any]] = Field(default_factory=list)
    # The ApplicationSet that generated it (metadata.ownerReferences): its generator's source is
    # what a GitOps edit changes, never the generated Application.
    application_set: str = ""
    # the Application's status.resources entries for the targets (kind, namespace, name, status, health)
    resources: list[dict[str, Any]] = Field(default_factory=list)
    destination_namespace: str = ""
    operation_phase: str = ""  # of the last sync operation: Succeeded | Failed | Error | Running
    # Of the last sync operation: its message (a failed apply's error) and the revision it synced.
    operation_message: str = ""
    operation_revision: str = ""
    # status.history, newest first (bounded): {"id", "revision", "deployedAt"} of each deployment.
    history: list[dict[str, Any]] = Field(default_factory=list)
    # status.conditions as "Type: message" (bounded): ComparisonError, SyncError, ...
    conditions: list[str] = Field(default_factory=list)
    # spec.destination's cluster as the Application names it (its server, else its name)
    destination_cluster: str = ""
    # Why it is not certain that this Application owns the targets it was observed for (its
    # destination names no cluster medic can resolve); "" when it is. Such an owner is never a
    # reason to write directly, nor one a pull request may be made for.
    ownership_uncertain: str = ""

    def manages(self, kind: str, namespace: str, name: str) -> bool:
        """Whether the Application's status lists this object among its resources."""
        return any(
            r.get("kind") == kind
            and (r.get("namespace") or "") == (namespace or "")
            and r.get("name") == name
            for r in self.resources
        )


class MetricSeries(Frozen):
    """One PromQL query's result over the observation window: [unix seconds, value] samples."""

    id: str  # metric/<name>/<namespace>/<workload>
    name: (
        str  # request_rate | error_rate | latency_p99 | cpu_usage_ratio | cpu_throttling | memory_usage_ratio
    )
    query: str
    samples: list[tuple[float, float]] = Field(default_factory=list)


class GitOpsFile(Frozen):
    """A file of the GitOps repository that defines (part of) a target, at the revision read."""

    id: str  # gitops/<path>
    path: str
    revision: str = ""
    content: str = ""
    # why this file: "manifest" | "helm_values" | "kustomization" | "kustomize_patch" | "application"
    # | "applicationset" (an ApplicationSet or its generator's config file that sets a value)
    role: str = ""
    application: str = ""
    truncated: bool = False


class ArgoFieldDiff(Frozen):
    """One field whose live value differs from what Git declares (values shortened, as text)."""

    path: str  # JSON pointer, e.g. /spec/replicas
    desired: str = ""
    live: str = ""


class ArgoResourceDiff(Frozen):
    """A resource of an alerted Application whose live state differs from Git, from Argo CD's
    managed resources (its target state compared with its live state)."""

    id: str  # argocd-diff/<app namespace>/<app>/<namespace>/<Kind>/<name>
    application: str
    group: str = ""
    kind: str
    namespace: str = ""
    name: str
    live_missing: bool = False  # Git declares it, the cluster does not have it
    fields: list[ArgoFieldDiff] = Field(default_factory=list)

    @property
    def ref(self) -> ResourceRef:
        return ResourceRef(namespace=self.namespace, kind=self.kind, name=self.name)


class ArgoTreeNode(Frozen):
    """A node of an alerted Application's resource tree that is not healthy (Argo CD's view)."""

    id: str  # argocd-node/<app>/<namespace>/<Kind>/<name>
    application: str
    kind: str
    namespace: str = ""
    name: str
    health: str = ""
    message: str = ""
    parent: str = ""  # Kind/name of its first parent


class VolumeClaim(Frozen):
    """A PersistentVolumeClaim a target pod mounts, and whether its StorageClass exists."""

    id: str  # pvc/<namespace>/<name>
    name: str
    namespace: str
    phase: str = ""  # Pending | Bound | Lost ("" when the claim does not exist)
    storage_class: str = ""
    # None: not known (no class named, or StorageClasses could not be read)
    storage_class_exists: bool | None = None
    volume: str = ""
    requested: str = ""
    access_modes: list[str] = Field(default_factory=list)
    exists: bool = True


class JobCondition(Frozen):
    type: str  # Complete | Failed | Suspended | FailureTarget | SuccessCriteriaMet
    status: str = ""
    reason: str = ""  # BackoffLimitExceeded | DeadlineExceeded | PodFailurePolicy | ...
    message: str = ""


class JobState(Frozen):
    """A batch Job and, when a CronJob created it, that CronJob's name."""

    id: str  # job/<namespace>/<name>
    name: str
    namespace: str
    cronjob: str = ""
    active: int = 0
    succeeded: int = 0
    failed: int = 0
    completions: int | None = None
    backoff_limit: int | None = None
    active_deadline_seconds: int | None = None
    conditions: list[JobCondition] = Field(default_factory=list)
    containers: list[ContainerSpec] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    # The Argo CD tracking id on the Job or, for a CronJob's Job, on the CronJob ("" if none).
    tracking: str = ""


class NodeState(Frozen):
    """A node of the cluster: its conditions, taints and allocatable resources."""

    id: str  # node/<name>
    name: str
    # condition type -> status, e.g. {"Ready": "True", "MemoryPressure": "False"}
    conditions: dict[str, str] = Field(default_factory=dict)
    unschedulable: bool = False
    taints: list[str] = Field(default_factory=list)  # "key=value:Effect"
    allocatable: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)  # a few placement labels only


class Observation(Frozen):
    incident_id: str
    workloads: list[Workload] = Field(default_factory=list)
    revisions: list[Revision] = Field(default_factory=list)
    pods: list[PodState] = Field(default_factory=list)
    events: list[EventItem] = Field(default_factory=list)
    logs: list[LogExcerpt] = Field(default_factory=list)
    argocd: list[ArgoApplication] = Field(default_factory=list)
    metrics: list[MetricSeries] = Field(default_factory=list)
    gitops_files: list[GitOpsFile] = Field(default_factory=list)
    alert_targets: list[ResourceRef] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    # For Argo CD's own alerts: the alerted Applications' drifted resources and unhealthy nodes.
    argocd_diffs: list[ArgoResourceDiff] = Field(default_factory=list)
    argocd_tree: list[ArgoTreeNode] = Field(default_factory=list)
    claims: list[VolumeClaim] = Field(default_factory=list)
    jobs: list[JobState] = Field(default_factory=list)
    nodes: list[NodeState] = Field(default_factory=list)
    # Whether `nodes` holds every node of the cluster (a node list cut short says nothing about
    # the nodes it left out).
    nodes_complete: bool = False
    # Who manages each observed workload (and bare Pod) by Argo CD's tracking and the Applications'
    # resources (`domain.kube.ownership`); empty for observations made before it was recorded.
    ownership: list[Ownership] = Field(default_factory=list)

    def ownership_of(self, kind: str, namespace: str, name: str) -> Ownership | None:
        """The ownership decision observe made for the object, if it made one."""
        return next((o for o in self.ownership if o.names(kind, namespace, name)), None)

    def item_ids(self) -> set[str]:
        ids: set[str] = set()
        for group in (
            self.workloads,
            self.revisions,
            self.pods,
            self.events,
            self.logs,
            self.argocd,
            self.metrics,
            self.gitops_files,
            self.argocd_diffs,
            self.argocd_tree,
            self.claims,
            self.jobs,
            self.nodes,
        ):
            ids.update(item.id for item in group)
        return ids

    def workload(self, ref: ResourceRef) -> Workload | None:
        key = ref.without_container().key
        return next((w for w in self.workloads if w.ref.key == key), None)
