"""Pending pods: why the scheduler places them on no node, read from its `FailedScheduling` message,
the claims the pods mount and the nodes.

The scheduler's message counts, per reason, the nodes that reason ruled out:

    0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: },
    2 Insufficient memory. preemption: 0/3 nodes are available: 1 Preemption is not helpful for
    scheduling, 2 No preemption victims found for incoming pod.

Older schedulers print no preemption clause, say `node(s) didn't match node selector` and
`node(s) had taint {k: v}, that the pod didn't tolerate`; a reason found before any node is tried
(an unbound claim) carries no count. `parse_scheduling_message` reads all of these.

Trust: the message is untrusted text. It picks the reason and is quoted in the explanation; no
action parameter ever comes from it. The one typed fix — back to the previous revision, when the
newest one requests more of a resource than any node of the cluster can allocate and the previous
one did not — takes its revision from the workload's ReplicaSets and its sizes from the pod
templates and the nodes' allocatable.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from domain.analysis.plan import Action, Diagnosis, Evidence, Plan, RollbackRevision, RootCause
from domain.incident.model import ResourceRef
from domain.kube.observation import (
    ContainerSpec,
    EventItem,
    NodeState,
    Observation,
    PodState,
    Revision,
    VolumeClaim,
    Workload,
)
from domain.kube.quantity import QuantityError, parse_quantity

MAX_QUOTE = 400  # characters of a scheduler message quoted in an explanation
MAX_PENDING_EVIDENCE = 5
# Resources whose shortage a bounded revision rollback may answer (requests are per pod).
SIZED_RESOURCES = ("cpu", "memory", "nvidia.com/gpu", "amd.com/gpu")
# The scheduler's own taints for node states, and what they mean.
_STATE_TAINTS = {
    "node.kubernetes.io/not-ready": "the node is NotReady",
    "node.kubernetes.io/unreachable": "the node is unreachable: its kubelet stopped reporting",
    "node.kubernetes.io/unschedulable": "the node is cordoned",
    "node.kubernetes.io/memory-pressure": "the node is under memory pressure",
    "node.kubernetes.io/disk-pressure": "the node is under disk pressure",
    "node.kubernetes.io/pid-pressure": "the node is under PID pressure",
    "node.kubernetes.io/network-unavailable": "the node's network is not configured",
    "node.cloudprovider.kubernetes.io/uninitialized": "the cloud provider has not initialised the node",
}
# Taints that reserve nodes for the control plane or cluster add-ons: workloads do not belong there,
# so they only explain why those nodes were ruled out.
_RESERVED_TAINTS = {
    "node-role.kubernetes.io/control-plane": "a control-plane node, not for workloads",
    "node-role.kubernetes.io/master": "a control-plane node, not for workloads",
    "CriticalAddonsOnly": "reserved for cluster add-ons, not for workloads",
}


def _taint_key(detail: str) -> str:
    """`{dedicated: batch}` → `dedicated`."""
    return detail.strip("{}").split(":", 1)[0].strip()


# --- the message ---------------------------------------------------------------------------------

_HEADER = re.compile(r"(\d+)/(\d+) nodes are available:?\s*", re.IGNORECASE)
_COUNTED = re.compile(r"^(\d+)\s+(.+)$", re.DOTALL)
# A reason starts after ", " when the next words are a count ("2 Insufficient cpu"); the comma
# inside an older taint reason ("{k: v}, that the pod didn't tolerate") is not followed by one.
_SPLIT = re.compile(r",\s+(?=\d+\s+\S)")
_TAINT = re.compile(r"taint\s*(\{[^}]*\})")
_INSUFFICIENT = re.compile(r"insufficient\s+([a-z0-9./_-]+)", re.IGNORECASE)
_CLAIM_NOT_FOUND = re.compile(r'persistentvolumeclaim "([^"]+)" not found', re.IGNORECASE)

ReasonKind = str  # one of the keys of _KIND_LABELS


@dataclass(frozen=True)
class NodeReason:
    """One reason of a scheduler message: how many nodes it ruled out (None: the pod itself,
    before any node was tried), the text as printed, its kind and a detail (the resource that is
    short, the taint)."""

    count: int | None
    text: str
    kind: ReasonKind
    detail: str = ""


@dataclass(frozen=True)
class SchedulingFailure:
    available: int | None
    total: int | None
    reasons: tuple[NodeReason, ...]
    preemption: str = ""  # the preemption clause as printed, "" when there is none

    def kinds(self) -> set[str]:
        return {r.kind for r in self.reasons}

    def of_kind(self, kind: str) -> list[NodeReason]:
        return [r for r in self.reasons if r.kind == kind]


_KIND_LABELS = {
    "node_selector": "no node matches the pod's node selector or node affinity",
    "taint": "nodes carry taints the pod does not tolerate",
    "insufficient": "not enough allocatable {detail}",
    "too_many_pods": "the nodes already run as many pods as they may (max pods)",
    "unbound_claim": "a PersistentVolumeClaim the pod mounts is not bound",
    "claim_missing": "a PersistentVolumeClaim the pod mounts does not exist",
    "volume_node_affinity": "the pod's volume is tied to nodes (a zone) it cannot run on",
    "volume_zone": "no node is in the zone of the pod's volume",
    "no_volume": "no PersistentVolume is available to bind",
    "volume_limit": "the nodes have reached their limit of attached volumes",
    "unschedulable_node": "nodes are cordoned (unschedulable)",
    "pod_affinity": "the pod's inter-pod affinity matches no node",
    "pod_anti_affinity": "pod anti-affinity rules exclude the nodes",
    "topology_spread": "the pod's topology spread constraints cannot be met",
    "ports": "the nodes have no free host port the pod asks for",
    "not_ready": "nodes are not ready",
    "no_nodes": "the cluster has no nodes to schedule on",
    "other": "{detail}",
}


def classify_reason(text: str) -> tuple[ReasonKind, str]:
    """The kind of one reason of a scheduler message (its count already removed), and a detail."""
    lower = text.lower()
    if m := _INSUFFICIENT.search(text):
        return "insufficient", m.group(1)
    if "too many pods" in lower:
        return "too_many_pods", "pods"
    if "taint" in lower:
        m = _TAINT.search(text)
        return "taint", m.group(1) if m else ""
    if "node affinity/selector" in lower or "node selector" in lower or "pod's node affinity" in lower:
        return "node_selector", ""
    if "volume node affinity conflict" in lower:
        return "volume_node_affinity", ""
    if "no available volume zone" in lower:
        return "volume_zone", ""
    if "unbound immediate persistentvolumeclaims" in lower or "unbound persistentvolumeclaim" in lower:
        return "unbound_claim", ""
    if m := _CLAIM_NOT_FOUND.search(text):
        return "claim_missing", m.group(1)
    if "available persistent volumes to bind" in lower:
        return "no_volume", ""
    if "max volume count" in lower or "volume count" in lower:
        return "volume_limit", ""
    if "unschedulable" in lower and "node(s)" in lower:
        return "unschedulable_node", ""
    if "anti-affinity" in lower:
        return "pod_anti_affinity", ""
    if "pod affinity" in lower:
        return "pod_affinity", ""
    if "topology spread" in lower:
        return "topology_spread", ""
    if "free ports" in lower or "host port" in lower:
        return "ports", ""
    if "not ready" in lower:
        return "not_ready", ""
    if "no nodes available" in lower:
        return "no_nodes", ""
    return "other", text.strip()


def parse_scheduling_message(message: str) -> SchedulingFailure | None:
    """The reasons of a `FailedScheduling` message, or None when it names none this parser knows
    (and is not of the `0/N nodes are available:` form either)."""
    text = " ".join(message.split())
    preemption = ""
    main, sep, rest = text.partition(" preemption:")
    if sep:
        preemption = "preemption:" + rest
    header = _HEADER.search(main)
    available = total = None
    body = main
    if header is not None:
        available, total = int(header.group(1)), int(header.group(2))
        body = main[header.end() :]
    else:
        # `running "VolumeBinding" filter plugin for pod "web-0": pod has unbound ...`: the
        # reason follows the last colon.
        body = main.rsplit(": ", 1)[-1] if ": " in main else main
    body = body.strip().rstrip(".").strip()
    if not body:
        return None
    reasons: list[NodeReason] = []
    for part in _SPLIT.split(body):
        part = part.strip().rstrip(".,").strip()
        if not part:
            continue
        counted = _COUNTED.match(part)
        count, words = (int(counted.group(1)), counted.group(2)) if counted else (None, part)
        # `(repeated 3 times)` from older schedulers is not part of the reason.
        words = re.sub(r"\s*\(repeated \d+ times\)", "", words).strip()
        kind, detail = classify_reason(words)
        reasons.append(NodeReason(count=count, text=words, kind=kind, detail=detail))
    if header is None and all(r.kind == "other" for r in reasons):
        return None
    return SchedulingFailure(available=available, total=total, reasons=tuple(reasons), preemption=preemption)


_RESOURCE_NAMES = {"cpu": "CPU", "memory": "memory", "nvidia.com/gpu": "GPU (nvidia.com/gpu)"}


def describe_reason(reason: NodeReason) -> str:
    detail = (
        _RESOURCE_NAMES.get(reason.detail, reason.detail) if reason.kind == "insufficient" else reason.detail
    )
    label = _KIND_LABELS[reason.kind].format(detail=detail or "resources")
    if reason.kind == "taint" and reason.detail:
        key = _taint_key(reason.detail)
        meaning = _STATE_TAINTS.get(key) or _RESERVED_TAINTS.get(key)
        label = f"taint {reason.detail} not tolerated" + (f" ({meaning})" if meaning else "")
    if reason.count is None:
        return label
    return f"{reason.count} node{'s' if reason.count != 1 else ''}: {label}"


# --- the subject ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    """What owns the pending pods: a workload (Deployment, StatefulSet, DaemonSet) or a Job."""

    kind: str
    namespace: str
    name: str
    item_id: str
    containers: tuple[ContainerSpec, ...] = ()
    managed_by: str = ""  # the Argo CD application (or "Argo CD") that manages it, "" if none
    cronjob: str = ""

    @property
    def ref(self) -> ResourceRef:
        return ResourceRef(namespace=self.namespace, kind=self.kind, name=self.name)

    @property
    def template_owner(self) -> str:
        """Where the pod template lives: the CronJob's jobTemplate, else the object itself."""
        if self.cronjob:
            return f"CronJob {self.cronjob}'s jobTemplate"
        return f"{self.kind} {self.name}'s pod template"


def subject_of(workload: Workload, managed_by: str = "") -> Subject:
    return Subject(
        kind=workload.ref.kind,
        namespace=workload.ref.namespace,
        name=workload.ref.name,
        item_id=workload.id,
        containers=tuple(workload.containers),
        managed_by=managed_by,
    )


# --- reading the observation ---------------------------------------------------------------------


def unscheduled(pods: Sequence[PodState]) -> list[PodState]:
    return [p for p in pods if p.phase == "Pending" and not p.node]


def scheduling_events(observation: Observation, pods: Sequence[PodState]) -> list[EventItem]:
    names = {(p.namespace, p.name) for p in pods}
    return [
        e
        for e in observation.events
        if e.object_kind == "Pod" and (e.namespace, e.object_name) in names and e.reason == "FailedScheduling"
    ]


def _claims_of(observation: Observation, pods: Sequence[PodState]) -> list[VolumeClaim]:
    wanted = {(p.namespace, c) for p in pods for c in p.claims}
    return [c for c in observation.claims if (c.namespace, c.name) in wanted]


def _claim_events(observation: Observation, claims: Sequence[VolumeClaim]) -> list[EventItem]:
    names = {(c.namespace, c.name) for c in claims}
    return [
        e
        for e in observation.events
        if e.object_kind == "PersistentVolumeClaim"
        and (e.namespace, e.object_name) in names
        and (e.type == "Warning" or e.reason in ("ExternalProvisioning", "WaitForFirstConsumer"))
    ]


def _quantity(text: str | None) -> Decimal | None:
    if not text:
        return None
    try:
        return parse_quantity(text)
    except QuantityError:
        return None


def pod_request(containers: Sequence[ContainerSpec], resource: str) -> Decimal | None:
    """What a pod of these containers requests of a resource (a limit without a request counts as
    the request, as the API defaults it); None when no container asks for it."""
    total: Decimal | None = None
    for c in containers:
        value = _quantity(c.requests.get(resource) or c.limits.get(resource))
        if value is not None:
            total = (total or Decimal(0)) + value
    return total


def _format(resource: str, value: Decimal) -> str:
    if resource == "memory":
        gib = value / Decimal(2**30)
        text = f"{gib:.1f}".removesuffix(".0")
        return f"{text}Gi" if gib >= 1 else f"{value / Decimal(2**20):.0f}Mi"
    if resource == "cpu":
        return f"{value.normalize():f}" if value >= 1 else f"{(value * 1000).normalize():f}m"
    return f"{value.normalize():f}"


# Taints that keep every ordinary pod off a node (its state); others (a GPU or dedicated pool's
# taint) the pod may tolerate, so such nodes still count as places it could go.
_STATE_TAINT_KEYS = (
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
    "node.kubernetes.io/unschedulable",
    "node.cloudprovider.kubernetes.io/uninitialized",
)


def _schedulable(node: NodeState) -> bool:
    return (
        not node.unschedulable
        and node.conditions.get("Ready", "True") == "True"
        and not any(t.split("=", 1)[0].split(":", 1)[0] in _STATE_TAINT_KEYS for t in node.taints)
    )


def largest_allocatable(nodes: Sequence[NodeState], resource: str) -> tuple[Decimal, NodeState] | None:
    """The most of a resource any one schedulable node can allocate (and that node)."""
    best: tuple[Decimal, NodeState] | None = None
    for node in nodes:
        if not _schedulable(node):
            continue
        value = _quantity(node.allocatable.get(resource)) or Decimal(0)
        if best is None or value > best[0]:
            best = (value, node)
    return best


def node_troubles(node: NodeState) -> list[str]:
    troubles = []
    ready = node.conditions.get("Ready")
    if ready is not None and ready != "True":
        troubles.append("NotReady" if ready == "False" else "Ready=Unknown (the kubelet stopped reporting)")
    troubles += [k for k, v in node.conditions.items() if k != "Ready" and v == "True"]
    if node.unschedulable:
        troubles.append("cordoned")
    return troubles


# --- the diagnosis -------------------------------------------------------------------------------


def _quote(message: str) -> str:
    text = " ".join(message.split())
    return text if len(text) <= MAX_QUOTE else text[:MAX_QUOTE] + "…"


def _ordinal(name: str, owner: str) -> int | None:
    suffix = name[len(owner) + 1 :] if name.startswith(f"{owner}-") else ""
    return int(suffix) if suffix.isdigit() else None


@dataclass
class _Findings:
    """What the rule found, as sentences, next steps and evidence."""

    sentences: list[str]
    steps: list[str]
    evidence: list[Evidence]


def _claim_findings(
    subject: Subject, claims: list[VolumeClaim], events: list[EventItem], findings: _Findings
) -> str:
    """Sentences and steps about the pods' claims; returns a short headline ("" if none)."""
    headline = ""
    ns = subject.namespace
    template = (
        "the StatefulSet's volumeClaimTemplates (each ordinal's claim is created from it; the field is "
        "immutable, so the StatefulSet is recreated — deleted with its pods orphaned, or replaced by "
        "Argo CD's Replace sync option — and the Pending claims are deleted so they are created anew)"
        if subject.kind == "StatefulSet"
        else "the claim's manifest (a claim's storageClassName cannot change once it is created, so the "
        "Pending claim is deleted and created anew from the corrected manifest)"
    )
    for claim in claims:
        own_events = [e for e in events if e.object_name == claim.name]
        findings.evidence.append(Evidence(item_id=claim.id, note=_claim_note(claim)))
        findings.evidence += [
            Evidence(item_id=e.id, note=f"{e.reason}: {_quote(e.message)[:120]}") for e in own_events
        ]
        if not claim.exists:
            findings.sentences.append(f"PersistentVolumeClaim {claim.name} does not exist.")
            findings.steps.append(
                f"Create PersistentVolumeClaim {claim.name} in {ns}, or fix the claimName in "
                f"{subject.template_owner}: `kubectl get pvc -n {ns}`."
            )
            headline = headline or f"PersistentVolumeClaim {claim.name} does not exist"
            continue
        if claim.phase == "Bound":
            continue
        quoted = next((e for e in own_events if e.type == "Warning"), None)
        said = f' (its events: {quoted.reason} "{_quote(quoted.message)[:200]}")' if quoted else ""
        if claim.storage_class and claim.storage_class_exists is False:
            findings.sentences.append(
                f"PersistentVolumeClaim {claim.name} is {claim.phase or 'Pending'}: it names StorageClass "
                f"{claim.storage_class}, which does not exist in the cluster{said}."
            )
            findings.steps.append(
                f"Create StorageClass {claim.storage_class}, or set storageClassName to one that exists in "
                f"{template}: `kubectl get pvc,storageclass -n {ns}`."
            )
            headline = headline or f"StorageClass {claim.storage_class} does not exist"
        elif not claim.storage_class:
            findings.sentences.append(
                f"PersistentVolumeClaim {claim.name} is {claim.phase or 'Pending'} and names no StorageClass "
                f"(and no default class provisioned it), so only a matching pre-created PersistentVolume "
                f"could bind it{said}."
            )
            findings.steps.append(
                f"Set a storageClassName in {template}, mark a StorageClass as the default, or create a "
                f"matching PersistentVolume: `kubectl get pvc,pv,storageclass -n {ns}`."
            )
            headline = headline or f"PersistentVolumeClaim {claim.name} is not bound"
        else:
            findings.sentences.append(
                f"PersistentVolumeClaim {claim.name} (StorageClass {claim.storage_class}) is "
                f"{claim.phase or 'Pending'}: its volume has not been provisioned{said}."
            )
            findings.steps.append(
                f"Check the provisioner of StorageClass {claim.storage_class} (its controller's logs, "
                f"quotas of the cloud account): `kubectl describe pvc {claim.name} -n {ns}`."
            )
            headline = headline or f"PersistentVolumeClaim {claim.name} is not provisioned"
    return headline


def _claim_note(claim: VolumeClaim) -> str:
    if not claim.exists:
        return "PersistentVolumeClaim does not exist"
    note = f"{claim.phase or 'no phase'}"
    if claim.storage_class:
        exists = {True: "exists", False: "does not exist", None: "not checked"}[claim.storage_class_exists]
        note += f", StorageClass {claim.storage_class} ({exists})"
    return note


def _reason_findings(
    subject: Subject,
    failure: SchedulingFailure,
    observation: Observation,
    pod: PodState,
    findings: _Findings,
) -> None:
    ns, owner = subject.namespace, subject.template_owner
    nodes = observation.nodes
    for kind in sorted(failure.kinds(), key=lambda k: list(_KIND_LABELS).index(k)):
        reasons = failure.of_kind(kind)
        if kind == "node_selector":
            _selector_findings(pod, observation, findings)
            findings.steps.append(
                f"Compare the pod's nodeSelector / nodeAffinity in {owner} with the nodes' labels "
                f"(`kubectl get pod {pod.name} -n {ns} -o jsonpath='{{.spec.nodeSelector}} "
                f"{{.spec.affinity.nodeAffinity}}'` and `kubectl get nodes --show-labels`); fix the "
                f"selector, or label or add nodes that should run it."
            )
        elif kind == "taint":
            taints = ", ".join(dict.fromkeys(r.detail for r in reasons if r.detail)) or "the nodes' taints"
            keys = {r.detail.strip("{}").split(":", 1)[0].strip() for r in reasons if r.detail}
            tainted = [n for n in nodes if any(t.split("=", 1)[0].split(":", 1)[0] in keys for t in n.taints)]
            if tainted:
                names = ", ".join(n.name for n in tainted[:4]) + (" …" if len(tainted) > 4 else "")
                findings.sentences.append(f"The nodes that carry {taints}: {names}.")
                findings.evidence += [
                    Evidence(item_id=n.id, note=f"taints: {', '.join(n.taints)}") for n in tainted[:4]
                ]
            own = [r for r in reasons if _taint_key(r.detail) not in _STATE_TAINTS]
            state = [r for r in reasons if _taint_key(r.detail) in _STATE_TAINTS]
            if any(_taint_key(r.detail) not in _RESERVED_TAINTS for r in own):
                listed = ", ".join(
                    dict.fromkeys(r.detail for r in own if _taint_key(r.detail) not in _RESERVED_TAINTS)
                )
                findings.steps.append(
                    f"If the pod belongs on the nodes tainted {listed}, add a toleration for it to {owner}; "
                    f"otherwise point its selector at nodes without it: `kubectl describe node` lists "
                    f"the Taints."
                )
            if any(_taint_key(r.detail) not in _RESERVED_TAINTS for r in state):
                findings.steps.append(
                    f"The taints {', '.join(dict.fromkeys(r.detail for r in state))} are set by Kubernetes "
                    f"for the node's state (not ready, unreachable, cordoned, under pressure); bring the "
                    f"affected nodes back or add capacity: `kubectl get nodes` and `kubectl describe node`."
                )
        elif kind == "insufficient":
            for r in reasons:
                resource = r.detail
                asked = pod_request(subject.containers, resource)
                best = largest_allocatable(nodes, resource) if nodes else None
                facts = []
                if asked is not None:
                    facts.append(f"each pod requests {_format(resource, asked)} {resource}")
                if best is not None:
                    facts.append(
                        f"the largest schedulable node ({best[1].name}) can allocate "
                        f"{_format(resource, best[0])}"
                    )
                    findings.evidence.append(Evidence(item_id=best[1].id, note=f"allocatable {resource}"))
                if facts:
                    findings.sentences.append(f"For {resource}: {'; '.join(facts)}.")
                if asked is not None and best is not None and asked > best[0] and observation.nodes_complete:
                    findings.sentences.append(
                        f"No node of the cluster can ever fit the {resource} request; only a smaller "
                        f"request or a larger node type helps."
                    )
                findings.steps.append(
                    f"Lower the {resource} request in {owner} or add capacity (more or larger nodes; the "
                    f"cluster autoscaler's node group maximum): `kubectl describe node` shows each node's "
                    f"Allocatable and Allocated resources."
                )
        elif kind == "too_many_pods":
            limits = sorted({n.allocatable["pods"] for n in nodes if "pods" in n.allocatable})
            if limits:
                findings.sentences.append(
                    f"The nodes allow {' or '.join(limits)} pods each (allocatable pods)."
                )
                findings.evidence += [Evidence(item_id=n.id, note="allocatable pods") for n in nodes[:2]]
            findings.steps.append(
                "The nodes are at their pod limit (allocatable pods): add nodes or raise max pods on the "
                "node pool: `kubectl describe node` (Allocatable: pods)."
            )
        elif kind in ("volume_node_affinity", "volume_zone"):
            findings.steps.append(
                "The pod's PersistentVolume can only be attached in one zone (its nodeAffinity) and no "
                "schedulable node is there: `kubectl get pv -o custom-columns=NAME:.metadata.name,"
                "CLAIM:.spec.claimRef.name,AFFINITY:.spec.nodeAffinity` and `kubectl get nodes -L "
                "topology.kubernetes.io/zone`; bring back nodes in that zone (the node group) or restore "
                "the data to a volume in a zone with nodes."
            )
        elif kind in ("unbound_claim", "claim_missing", "no_volume") and not any(
            e.item_id.startswith("pvc/") for e in findings.evidence
        ):
            findings.steps.append(
                f"`kubectl get pvc,storageclass -n {ns}` and `kubectl describe pvc -n {ns}`."
            )
        elif kind == "volume_limit":
            findings.steps.append(
                "The nodes have as many volumes attached as their type allows: add nodes, or spread the "
                "pods: `kubectl describe node` (Allocatable attachable volumes)."
            )
        elif kind == "unschedulable_node":
            findings.steps.append("Uncordon the nodes if their maintenance is over: `kubectl get nodes`.")
        elif kind in ("pod_affinity", "pod_anti_affinity", "topology_spread"):
            findings.steps.append(
                f"Review the podAffinity / podAntiAffinity / topologySpreadConstraints in {owner} against "
                f"the nodes and pods that exist (more replicas than nodes or zones cannot spread): "
                f"`kubectl get pod {pod.name} -n {ns} -o yaml`."
            )
        elif kind == "ports":
            findings.steps.append(
                f"Drop the hostPort from {owner}, or add nodes: one pod per node may hold it."
            )


def _selector_findings(pod: PodState, observation: Observation, findings: _Findings) -> None:
    """Which nodeSelector terms no observed node satisfies, what values the nodes have for those
    labels, and the GitOps file that sets the selector."""
    if not pod.node_selector:
        return
    terms = ", ".join(f"{k}={v}" for k, v in pod.node_selector.items())
    if observation.nodes:
        unmatched = [
            k
            for k, v in pod.node_selector.items()
            if not any(n.labels.get(k) == v for n in observation.nodes)
        ]
        sentence = f"The pod's nodeSelector is {terms}."
        for key in unmatched:
            values = sorted({n.labels[key] for n in observation.nodes if key in n.labels})
            seen = (
                f"the nodes have {key}={', '.join(values)}"
                if values
                else f"no observed node has a {key} label"
            )
            sentence += f" No observed node has {key}={pod.node_selector[key]}; {seen}."
        findings.sentences.append(sentence)
    else:
        findings.sentences.append(f"The pod's nodeSelector is {terms}.")
    setting = [f for f in observation.gitops_files if "nodeSelector" in f.content and f.role != "application"]
    if len(setting) == 1:
        findings.evidence.append(Evidence(item_id=setting[0].id, note="sets the nodeSelector"))
        findings.steps.append(f"The nodeSelector is set in {setting[0].path} in Git: correct it there.")


def _node_findings(observation: Observation, findings: _Findings) -> None:
    troubled = [(n, t) for n in observation.nodes if (t := node_troubles(n))]
    if not troubled:
        return
    listed = "; ".join(f"{n.name}: {', '.join(t)}" for n, t in troubled[:4])
    findings.sentences.append(f"Node conditions: {listed}.")
    findings.evidence += [Evidence(item_id=n.id, note=", ".join(t)) for n, t in troubled[:4]]


def diagnose_pending(
    subject: Subject,
    pods: Sequence[PodState],
    observation: Observation,
    analyzer: str,
    *,
    fix: tuple[list[Action], str, list[Evidence]] | None = None,
) -> Diagnosis | None:
    """Why the subject's pods are not scheduled, with next steps; `fix` (from `bounded_fix`) adds
    a typed action when one is safe. None when no pod of the subject waits for the scheduler."""
    pending = unscheduled(pods)
    events = scheduling_events(observation, pending)
    messages = [e.message for e in events] + [p.scheduling_message for p in pending if p.scheduling_message]
    if not pending or not messages:
        return None
    parsed = next(((m, f) for m in messages if (f := parse_scheduling_message(m)) is not None), None)
    failure = parsed[1] if parsed else None
    claims = _claims_of(observation, pending)
    claim_events = _claim_events(observation, claims)
    first = min(
        pending,
        key=lambda p: (_ordinal(p.name, subject.name) is None, _ordinal(p.name, subject.name) or 0, p.name),
    )
    findings = _Findings(sentences=[], steps=[], evidence=[])
    findings.evidence += [
        Evidence(item_id=p.id, note="Pending, not scheduled to a node")
        for p in pending[:MAX_PENDING_EVIDENCE]
    ]
    findings.evidence += [
        Evidence(item_id=e.id, note=f"scheduler: {_quote(e.message)[:160]}") for e in events[:3]
    ]

    # The message that was read (the scheduler's, not an autoscaler's event of the same reason).
    quoted = _quote(parsed[0] if parsed else messages[0])
    what = "; ".join(describe_reason(r) for r in failure.reasons) if failure else "no node fits the pod"
    findings.sentences.append(f'The scheduler reports FailedScheduling: "{quoted}" — {what}.')
    if subject.kind == "StatefulSet":
        ordinal = _ordinal(first.name, subject.name)
        if ordinal is not None:
            findings.sentences.append(
                f"StatefulSet {subject.name} is stuck at ordinal {ordinal} ({first.name}): with the "
                f"default OrderedReady pod management the controller creates or updates no ordinal after "
                f"it until it is Running and Ready."
            )
    claim_headline = _claim_findings(subject, claims, claim_events, findings)
    autoscaler = [
        e
        for e in observation.events
        if e.reason == "NotTriggerScaleUp"
        and e.object_kind == "Pod"
        and (e.namespace, e.object_name) in {(p.namespace, p.name) for p in pending}
    ]
    if autoscaler:
        findings.sentences.append(
            f'The cluster autoscaler adds no node: "{_quote(autoscaler[0].message)[:200]}".'
        )
        findings.evidence.append(Evidence(item_id=autoscaler[0].id, note="cluster autoscaler: no scale-up"))
    if failure is not None:
        _reason_findings(subject, failure, observation, first, findings)
    _node_findings(observation, findings)

    if subject.managed_by:
        findings.steps.append(
            f"{subject.kind} {subject.name} is managed by Argo CD ({subject.managed_by}): change it in Git, "
            "not in the cluster, or the next sync reverts the change."
        )
    findings.steps.append(
        f"`kubectl describe pod {first.name} -n {subject.namespace}` shows the scheduler's events."
    )
    findings.evidence.append(
        Evidence(item_id=subject.item_id, note=f"{subject.kind} with {len(pending)} pending pod(s)")
    )

    headline = claim_headline or (
        "; ".join(describe_reason(r) for r in failure.reasons[:3]) if failure else "no node fits the pod"
    )
    actions: list[Action] = []
    impact = rollback = ""
    if fix is not None:
        actions, note, extra = fix
        findings.sentences.append(note)
        findings.evidence += extra
        impact = "the pods are created from the previous template again and fit on the nodes"
        rollback = "roll forward to the newest revision's template from the snapshot"
    elif claim_headline:
        findings.sentences.append(
            "Where the data lives (which StorageClass, which volume) is a human decision; nothing is "
            "changed automatically."
        )
    else:
        findings.sentences.append(
            "Capacity, placement rules and storage are decisions for a human: scaling out would only add "
            "more pods that cannot be placed, and no field here can be changed safely without knowing the "
            "intent."
        )
    root_cause: RootCause = "unschedulable"
    summary = f"{len(pending)} pod(s) of {subject.kind} {subject.name} cannot be scheduled: {headline}" + (
        "; roll back to the previous revision." if actions else "; no automatic fix."
    )
    seen: set[str] = set()
    evidence = []
    for item in findings.evidence:
        if item.item_id not in seen:
            seen.add(item.item_id)
            evidence.append(item)
    return Diagnosis(
        root_cause=root_cause,
        summary=summary,
        explanation=" ".join(findings.sentences),
        next_steps=list(dict.fromkeys(findings.steps)),
        confidence=0.8 if failure is not None else 0.7,
        evidence=evidence,
        plan=Plan(actions=actions, expected_impact=impact, rollback=rollback),
        analyzer=analyzer,
    )


def bounded_fix(
    workload: Workload,
    revisions: Sequence[Revision],
    pods: Sequence[PodState],
    observation: Observation,
) -> tuple[Revision, Revision, str, Decimal, Decimal, Decimal, NodeState] | None:
    """(newest, previous, resource, newest's request, previous's request, largest allocatable, that
    node) when the newest revision's pods ask for more of a resource than any node of the cluster
    can allocate, the previous revision asked for no more than fits and ran, and the scheduler
    says that resource is short. None otherwise — then no typed fix is proposed."""
    if workload.ref.kind != "Deployment" or len(revisions) < 2 or not observation.nodes_complete:
        return None
    newest = revisions[0]
    previous = next((r for r in revisions if r.revision == newest.previous_revision), revisions[1])
    pending = [p for p in unscheduled(pods) if p.owner == newest.name]
    if not pending:
        return None
    if not (previous.ready_replicas > 0 or any(p.owner == previous.name and p.ready for p in pods)):
        return None
    messages = [e.message for e in scheduling_events(observation, pending)] + [
        p.scheduling_message for p in pending if p.scheduling_message
    ]
    short = {
        r.detail
        for m in messages
        if (f := parse_scheduling_message(m)) is not None
        for r in f.of_kind("insufficient")
    }
    for resource in SIZED_RESOURCES:
        if resource not in short:
            continue
        new_request = pod_request(newest.containers, resource)
        old_request = pod_request(previous.containers, resource) or Decimal(0)
        best = largest_allocatable(observation.nodes, resource)
        if new_request is None or best is None:
            continue
        if new_request > best[0] and old_request <= best[0] and old_request < new_request:
            return newest, previous, resource, new_request, old_request, best[0], best[1]
    return None


def fix_note(resource: str, new: Decimal, old: Decimal, largest: Decimal, newest: int, previous: int) -> str:
    return (
        f"Revision {newest} requests {_format(resource, new)} {resource} per pod, more than the largest "
        f"node of the cluster can allocate ({_format(resource, largest)}); revision {previous} requested "
        f"{_format(resource, old)} and ran. No node will ever fit the new pods, so the previous pod template "
        f"is restored (the revision comes from the ReplicaSets, not from any message)."
    )


def rollback_action(workload: Workload, revision: int, mode: str, file: str | None) -> RollbackRevision:
    return RollbackRevision(
        target=ResourceRef(namespace=workload.ref.namespace, kind=workload.ref.kind, name=workload.ref.name),
        mode="gitops" if mode == "gitops" else "direct",
        file=file,
        revision=revision,
    )


__all__ = [
    "NodeReason",
    "SchedulingFailure",
    "Subject",
    "bounded_fix",
    "classify_reason",
    "describe_reason",
    "diagnose_pending",
    "parse_scheduling_message",
    "subject_of",
]
