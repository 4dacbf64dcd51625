"""observe, for Pending pods and failed Jobs: the claims pods mount, the StorageClasses those name,
Jobs (with the CronJob that made them) and the nodes (conditions, taints, allocatable).

Pure conversions from the API's JSON to the bounded observation models, and the reads that feed
them. A read the API refuses (medic's role predates these reads, or a namespaced install cannot
read cluster-scoped nodes and StorageClasses) is a note, not a failure: these are context.
"""

from __future__ import annotations

from typing import Any

from domain.kube.observation import (
    ARGOCD_TRACKING,
    ContainerSpec,
    JobCondition,
    JobState,
    NodeState,
    PodState,
    VolumeClaim,
)
from domain.redaction.text import redact_text
from integrations.kubernetes import KubeClient, KubeForbidden, KubeNotFound

MAX_CLAIMS_PER_POD = 6
MAX_CLAIMS = 8  # claims described per observation
MAX_NODES = 12  # nodes described per observation
NODE_LIST_LIMIT = 200  # nodes read to find the ones worth describing
MAX_TAINTS = 6
MAX_SELECTOR_TERMS = 6
MAX_NODE_LABELS = 8
MAX_JOB_CONDITIONS = 4
MAX_TEXT = 400
# Node conditions worth knowing about (the kubelet's own; others come from node-problem-detector).
NODE_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable")
# Allocatable resources a scheduler message can name as insufficient.
NODE_RESOURCES = ("cpu", "memory", "pods", "ephemeral-storage", "nvidia.com/gpu", "amd.com/gpu")
# Labels that say where a node is (zones, pools, instance types): what selectors and volume node
# affinity usually match on.
NODE_LABELS = (
    "topology.kubernetes.io/zone",
    "node.kubernetes.io/instance-type",
    "kubernetes.io/arch",
    "node-role.kubernetes.io/control-plane",
)
NODE_POOL_WORDS = ("nodepool", "node-pool", "nodegroup", "agentpool", "karpenter.sh/nodepool")
CRONJOB_OWNER = "CronJob"


def _short(text: Any, limit: int = MAX_TEXT) -> str:
    value = redact_text(str(text or ""))
    return value if len(value) <= limit else value[:limit] + "…"


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


def scheduling_message(pod: dict[str, Any]) -> str:
    """The message of the pod's PodScheduled=False condition ("" when it is scheduled)."""
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return str(condition.get("message") or condition.get("reason") or "")
    return ""


def claim_names(pod: dict[str, Any]) -> list[str]:
    """The PersistentVolumeClaims the pod's volumes name (ephemeral volumes' claims included)."""
    name = str(_meta(pod).get("name", ""))
    names: list[str] = []
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
        if claim:
            names.append(str(claim))
        elif volume.get("ephemeral") is not None:
            # The claim of a generic ephemeral volume is named `<pod>-<volume>`.
            names.append(f"{name}-{volume.get('name', '')}")
    return list(dict.fromkeys(names))[:MAX_CLAIMS_PER_POD]


def node_selector(pod: dict[str, Any]) -> dict[str, str]:
    """The pod's nodeSelector, at most MAX_SELECTOR_TERMS terms."""
    terms = ((pod.get("spec") or {}).get("nodeSelector") or {}).items()
    return {str(k): _short(v, 120) for k, v in list(terms)[:MAX_SELECTOR_TERMS]}


def volume_claim(
    namespace: str, name: str, claim: dict[str, Any] | None, class_exists: bool | None
) -> VolumeClaim:
    item_id = f"pvc/{namespace}/{name}"
    if claim is None:
        return VolumeClaim(id=item_id, name=name, namespace=namespace, exists=False)
    spec, status = claim.get("spec") or {}, claim.get("status") or {}
    requested = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "")
    return VolumeClaim(
        id=item_id,
        name=name,
        namespace=namespace,
        phase=str(status.get("phase") or ""),
        storage_class=str(spec.get("storageClassName") or ""),
        storage_class_exists=class_exists,
        volume=str(spec.get("volumeName") or ""),
        requested=str(requested),
        access_modes=[str(m) for m in spec.get("accessModes") or []][:3],
    )


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def job_state(job: dict[str, Any], containers: list[ContainerSpec]) -> JobState:
    """The Job as observed; `containers` are its pod template's, parsed by the caller."""
    meta, spec, status = _meta(job), job.get("spec") or {}, job.get("status") or {}
    cronjob = next(
        (str(r.get("name", "")) for r in meta.get("ownerReferences") or [] if r.get("kind") == CRONJOB_OWNER),
        "",
    )
    conditions = [
        JobCondition(
            type=str(c.get("type", "")),
            status=str(c.get("status", "")),
            reason=str(c.get("reason") or ""),
            message=_short(c.get("message")),
        )
        for c in (status.get("conditions") or [])[-MAX_JOB_CONDITIONS:]
    ]
    annotations = {
        k: _short(v, 300)
        for k, v in (meta.get("annotations") or {}).items()
        if k != "kubectl.kubernetes.io/last-applied-configuration"
    }
    return JobState(
        id=f"job/{meta.get('namespace', '')}/{meta.get('name', '')}",
        name=str(meta.get("name", "")),
        namespace=str(meta.get("namespace", "")),
        cronjob=cronjob,
        active=int(status.get("active") or 0),
        succeeded=int(status.get("succeeded") or 0),
        failed=int(status.get("failed") or 0),
        completions=_int(spec.get("completions")),
        backoff_limit=_int(spec.get("backoffLimit")),
        active_deadline_seconds=_int(spec.get("activeDeadlineSeconds")),
        conditions=conditions,
        containers=containers,
        labels=dict(meta.get("labels") or {}),
        annotations=annotations,
        tracking=str((meta.get("annotations") or {}).get(ARGOCD_TRACKING) or ""),
    )


def with_cronjob_tracking(kube: KubeClient, job: JobState, notes: list[str]) -> JobState:
    """The Job with its CronJob's Argo CD tracking id, when the Job has none of its own: Argo CD
    tracks the CronJob it synced, not the Jobs the CronJob creates."""
    if job.tracking or not job.cronjob:
        return job
    try:
        cronjob = kube.read_cronjob(job.namespace, job.cronjob)
    except KubeNotFound:
        notes.append(f"CronJob {job.namespace}/{job.cronjob} (the Job's owner) was not found")
        return job
    except KubeForbidden as err:
        notes.append(f"CronJob {job.namespace}/{job.cronjob} could not be read: {_short(err.message, 200)}")
        return job
    tracking = str((_meta(cronjob).get("annotations") or {}).get(ARGOCD_TRACKING) or "")
    return job.model_copy(update={"tracking": tracking}) if tracking else job


def job_pod_selector(job: dict[str, Any]) -> dict[str, str]:
    """The labels that select a Job's pods: its selector, else the job-name label it sets."""
    selector = dict(((job.get("spec") or {}).get("selector") or {}).get("matchLabels") or {})
    return selector or {"job-name": str(_meta(job).get("name", ""))}


def node_state(node: dict[str, Any], selector_keys: frozenset[str] = frozenset()) -> NodeState:
    meta, spec, status = _meta(node), node.get("spec") or {}, node.get("status") or {}
    conditions = {
        str(c.get("type")): str(c.get("status"))
        for c in status.get("conditions") or []
        if c.get("type") in NODE_CONDITIONS
    }
    taints = [
        f"{t.get('key', '')}" + (f"={t['value']}" if t.get("value") else "") + f":{t.get('effect', '')}"
        for t in (spec.get("taints") or [])[:MAX_TAINTS]
    ]
    allocatable = {k: str(v) for k, v in (status.get("allocatable") or {}).items() if k in NODE_RESOURCES}
    labels = {
        k: str(v)
        for k, v in (meta.get("labels") or {}).items()
        if k in NODE_LABELS or k in selector_keys or any(w in k for w in NODE_POOL_WORDS)
    }
    return NodeState(
        id=f"node/{meta.get('name', '')}",
        name=str(meta.get("name", "")),
        conditions=conditions,
        unschedulable=bool(spec.get("unschedulable")),
        taints=taints,
        allocatable=allocatable,
        labels=dict(list(labels.items())[:MAX_NODE_LABELS]),
    )


def _node_trouble(node: NodeState) -> bool:
    return node.unschedulable or any(
        (kind == "Ready" and status != "True") or (kind != "Ready" and status == "True")
        for kind, status in node.conditions.items()
    )


def read_claims(
    kube: KubeClient, pods: list[PodState], notes: list[str]
) -> tuple[list[VolumeClaim], list[tuple[str, str]]]:
    """The claims that unscheduled or unready pods mount (bounded), and (namespace, name) of each,
    for reading its events."""
    wanted: list[tuple[str, str]] = []
    for pod in sorted(pods, key=lambda p: (p.ready, p.phase != "Pending", p.name)):
        if pod.ready:
            continue
        wanted += [(pod.namespace, c) for c in pod.claims]
    wanted = list(dict.fromkeys(wanted))[:MAX_CLAIMS]
    classes: dict[str, bool | None] = {}
    claims: list[VolumeClaim] = []
    for namespace, name in wanted:
        try:
            raw: dict[str, Any] | None = kube.read_claim(namespace, name)
        except KubeNotFound:
            raw = None
        except KubeForbidden as err:
            notes.append(f"PersistentVolumeClaims could not be read: {_short(err.message, 200)}")
            return claims, []
        storage_class = str(((raw or {}).get("spec") or {}).get("storageClassName") or "")
        if storage_class and storage_class not in classes:
            classes[storage_class] = _storage_class_exists(kube, storage_class, notes)
        claims.append(volume_claim(namespace, name, raw, classes.get(storage_class)))
    return claims, [(c.namespace, c.name) for c in claims]


def _storage_class_exists(kube: KubeClient, name: str, notes: list[str]) -> bool | None:
    try:
        kube.read_storage_class(name)
    except KubeNotFound:
        return False
    except KubeForbidden as err:
        notes.append(f"StorageClass {name} could not be read: {_short(err.message, 200)}")
        return None
    return True


def read_nodes(kube: KubeClient, pods: list[PodState], notes: list[str]) -> tuple[list[NodeState], bool]:
    """The nodes worth describing — the unhealthy pods' own nodes, nodes in trouble, then the
    rest — at most MAX_NODES; and whether that is every node of the cluster."""
    try:
        raw, complete = kube.list_nodes(NODE_LIST_LIMIT)
    except KubeForbidden as err:
        notes.append(f"nodes could not be read: {_short(err.message, 200)}")
        return [], False
    # Besides where a node is, the labels the pods select on: what a selector that matches no
    # node is compared with.
    keys = frozenset(k for p in pods for k in p.node_selector)
    nodes = [node_state(n, keys) for n in raw]
    own = {p.node for p in pods if p.node and not p.ready}
    nodes.sort(key=lambda n: (n.name not in own, not _node_trouble(n), n.name))
    if len(nodes) > MAX_NODES:
        notes.append(f"{len(nodes) - MAX_NODES} more nodes were not described")
    return nodes[:MAX_NODES], complete and len(nodes) <= MAX_NODES


__all__ = [
    "claim_names",
    "job_pod_selector",
    "job_state",
    "node_selector",
    "node_state",
    "read_claims",
    "read_nodes",
    "scheduling_message",
    "volume_claim",
    "with_cronjob_tracking",
]
