"""Pending pods: the scheduler's message parsed, and the diagnosis built from it, the claims and the
nodes."""

from __future__ import annotations

import pytest

from domain.analysis.offline import OfflineAnalyzer
from domain.analysis.plan import RollbackRevision
from domain.analysis.rules.scheduling import describe_reason, parse_scheduling_message
from domain.incident.model import Incident, ResourceRef
from domain.kube.observation import (
    ContainerSpec,
    ContainerState,
    EventItem,
    NodeState,
    Observation,
    PodState,
    Revision,
    VolumeClaim,
    Workload,
)

INCIDENT = Incident(id="incident-scheduling")

# --- the message -----------------------------------------------------------------------------------


def _reasons(message: str) -> list[tuple[int | None, str, str]]:
    failure = parse_scheduling_message(message)
    assert failure is not None
    return [(r.count, r.kind, r.detail) for r in failure.reasons]


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "0/4 nodes are available: 4 node(s) didn't match Pod's node affinity/selector. preemption: 0/4 "
            "nodes are available: 4 Preemption is not helpful for scheduling.",
            [(4, "node_selector", "")],
        ),
        (
            "0/5 nodes are available: 5 node(s) had untolerated taint {dedicated: batch}. preemption: 0/5 "
            "nodes are available: 5 Preemption is not helpful for scheduling.",
            [(5, "taint", "{dedicated: batch}")],
        ),
        ("0/6 nodes are available: 6 Insufficient cpu.", [(6, "insufficient", "cpu")]),
        (
            "0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available: 3 No "
            "preemption victims found for incoming pod.",
            [(3, "insufficient", "memory")],
        ),
        (
            "0/4 nodes are available: 4 Insufficient nvidia.com/gpu. preemption: 0/4 nodes are available: "
            "4 No preemption victims found for incoming pod.",
            [(4, "insufficient", "nvidia.com/gpu")],
        ),
        (
            "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/3 "
            "nodes are available: 3 Preemption is not helpful for scheduling.",
            [(None, "unbound_claim", "")],
        ),
        (
            "0/6 nodes are available: 3 node(s) had volume node affinity conflict, 3 node(s) didn't match "
            "Pod's node affinity/selector. preemption: 0/6 nodes are available: 6 Preemption is not "
            "helpful for scheduling.",
            [(3, "volume_node_affinity", ""), (3, "node_selector", "")],
        ),
        (
            "0/2 nodes are available: 2 Too many pods. preemption: 0/2 nodes are available: 2 No "
            "preemption victims found for incoming pod.",
            [(2, "too_many_pods", "pods")],
        ),
        (
            '0/1 nodes are available: persistentvolumeclaim "data-x" not found. preemption: 0/1 nodes are '
            "available: 1 Preemption is not helpful for scheduling.",
            [(None, "claim_missing", "data-x")],
        ),
        (
            "0/3 nodes are available: 1 node(s) had volume node affinity conflict, 2 node(s) didn't "
            "satisfy existing pods anti-affinity rules.",
            [(1, "volume_node_affinity", ""), (2, "pod_anti_affinity", "")],
        ),
        (
            "0/5 nodes are available: 5 node(s) didn't match pod topology spread constraints.",
            [(5, "topology_spread", "")],
        ),
    ],
)
def test_each_reason_of_a_current_scheduler_message_is_read(
    message: str, expected: list[tuple[int | None, str, str]]
) -> None:
    assert _reasons(message) == expected


def test_a_combined_message_keeps_each_count_and_the_preemption_clause() -> None:
    message = (
        "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, "
        "2 Insufficient memory. preemption: 0/3 nodes are available: 1 Preemption is not helpful for "
        "scheduling, 2 No preemption victims found for incoming pod."
    )
    failure = parse_scheduling_message(message)
    assert failure is not None
    assert (failure.available, failure.total) == (0, 3)
    assert _reasons(message) == [
        (1, "taint", "{node-role.kubernetes.io/control-plane: }"),
        (2, "insufficient", "memory"),
    ]
    assert failure.preemption.startswith("preemption: 0/3 nodes are available")
    assert "control-plane node" in describe_reason(failure.reasons[0])


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "0/3 nodes are available: 1 node(s) had taint {node-role.kubernetes.io/master: }, that the pod "
            "didn't tolerate, 2 Insufficient cpu.",
            [(1, "taint", "{node-role.kubernetes.io/master: }"), (2, "insufficient", "cpu")],
        ),
        ("0/4 nodes are available: 4 node(s) didn't match node selector.", [(4, "node_selector", "")]),
        (
            "0/5 nodes are available: 5 pod has unbound immediate PersistentVolumeClaims.",
            [(5, "unbound_claim", "")],
        ),
        (
            "pod has unbound immediate PersistentVolumeClaims (repeated 3 times)",
            [(None, "unbound_claim", "")],
        ),
        (
            'running "VolumeBinding" filter plugin for pod "web-0": pod has unbound immediate '
            "PersistentVolumeClaims",
            [(None, "unbound_claim", "")],
        ),
        ("0/2 nodes are available: 2 node(s) were unschedulable.", [(2, "unschedulable_node", "")]),
        ("no nodes available to schedule pods", [(None, "no_nodes", "")]),
    ],
)
def test_older_scheduler_formats_are_read_too(
    message: str, expected: list[tuple[int | None, str, str]]
) -> None:
    assert _reasons(message) == expected


@pytest.mark.parametrize(
    "message",
    [
        "Back-off restarting failed container",
        "Successfully assigned shop/cart-1 to node-a",
        # Karpenter's own FailedScheduling event: not the scheduler's format
        'Failed to schedule pod, incompatible with nodepool "general", did not tolerate '
        "workload=batch:NoSchedule",
        "",
    ],
)
def test_a_message_that_is_not_the_schedulers_is_not_read_as_one(message: str) -> None:
    assert parse_scheduling_message(message) is None


def test_an_unknown_reason_is_kept_as_printed() -> None:
    assert _reasons("0/2 nodes are available: 2 node(s) had something new.") == [
        (2, "other", "node(s) had something new")
    ]


# --- the diagnosis ---------------------------------------------------------------------------------

NEW_RS, OLD_RS = "indexer-6b8d9c7f5", "indexer-5c7b8a6d4"


def _workload(memory: str = "40Gi", kind: str = "Deployment", name: str = "indexer") -> Workload:
    return Workload(
        id=f"workload/search/{kind}/{name}",
        ref=ResourceRef(namespace="search", kind=kind, name=name),
        replicas=3,
        ready_replicas=2,
        containers=[ContainerSpec(name=name, image=f"{name}:2", requests={"memory": memory, "cpu": "1"})],
    )


def _revision(name: str, number: int, memory: str, ready: int, previous: int | None = None) -> Revision:
    return Revision(
        id=f"revision/search/{name}",
        name=name,
        revision=number,
        ready_replicas=ready,
        containers=[
            ContainerSpec(name="indexer", image="indexer:2", requests={"memory": memory, "cpu": "1"})
        ],
        previous_revision=previous,
    )


def _pending(name: str, owner: str, message: str = "", claims: tuple[str, ...] = ()) -> PodState:
    return PodState(
        id=f"pod/search/{name}",
        name=name,
        namespace="search",
        owner=owner,
        phase="Pending",
        scheduling_message=message,
        claims=list(claims),
    )


def _running(name: str, owner: str) -> PodState:
    return PodState(
        id=f"pod/search/{name}",
        name=name,
        namespace="search",
        owner=owner,
        node="node-a",
        phase="Running",
        ready=True,
        containers=[ContainerState(name="indexer", ready=True, state="running")],
    )


def _event(
    name: str, pod: str, message: str, kind: str = "Pod", reason: str = "FailedScheduling"
) -> EventItem:
    return EventItem(
        id=f"event/search/{name}",
        namespace="search",
        object_kind=kind,
        object_name=pod,
        reason=reason,
        type="Warning",
        message=message,
    )


def _node(name: str, memory: str, ready: str = "True", taints: tuple[str, ...] = ()) -> NodeState:
    return NodeState(
        id=f"node/{name}",
        name=name,
        conditions={"Ready": ready, "MemoryPressure": "False"},
        allocatable={"cpu": "7910m", "memory": memory, "pods": "110"},
        taints=list(taints),
    )


MEMORY = (
    "0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available: 3 No "
    "preemption victims found for incoming pod."
)


def _memory_observation(*, complete: bool = True, old_memory: str = "6Gi") -> Observation:
    pending = _pending(f"{NEW_RS}-q8w2x", NEW_RS)
    return Observation(
        incident_id=INCIDENT.id,
        workloads=[_workload()],
        revisions=[
            _revision(NEW_RS, 7, "40Gi", 0, previous=6),
            _revision(OLD_RS, 6, old_memory, 2),
        ],
        pods=[pending, _running(f"{OLD_RS}-a1b2c", OLD_RS), _running(f"{OLD_RS}-d3e4f", OLD_RS)],
        events=[_event("sched.1", pending.name, MEMORY)],
        nodes=[_node("node-a", "28893044Ki"), _node("node-b", "28893044Ki"), _node("node-c", "28893044Ki")],
        nodes_complete=complete,
    )


def test_a_request_no_node_can_ever_fit_that_the_previous_revision_did_not_have_is_rolled_back() -> None:
    diagnosis = OfflineAnalyzer().analyze(INCIDENT, _memory_observation())
    assert diagnosis.root_cause == "unschedulable"
    (action,) = diagnosis.plan.actions
    assert isinstance(action, RollbackRevision) and action.revision == 6 and action.mode == "direct"
    assert "40Gi" in diagnosis.explanation and "27.6Gi" in diagnosis.explanation
    assert {"node/node-a", "revision/search/indexer-6b8d9c7f5"} <= {e.item_id for e in diagnosis.evidence}


@pytest.mark.parametrize(
    "observation",
    [
        _memory_observation(complete=False),  # a node not seen might fit it
        _memory_observation(old_memory="40Gi"),  # the previous revision asked for as much
    ],
)
def test_no_rollback_when_it_would_not_surely_help(observation: Observation) -> None:
    diagnosis = OfflineAnalyzer().analyze(INCIDENT, observation)
    assert diagnosis.root_cause == "unschedulable" and diagnosis.plan.actions == []
    assert diagnosis.next_steps and "memory" in diagnosis.explanation


def test_a_missing_storage_class_is_named_with_the_claim_and_its_event() -> None:
    workload = _workload(kind="StatefulSet", name="ledger-db", memory="2Gi")
    pod = _pending(
        "ledger-db-0",
        "ledger-db",
        "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/3 nodes "
        "are available: 3 Preemption is not helpful for scheduling.",
        claims=("data-ledger-db-0",),
    )
    claim = VolumeClaim(
        id="pvc/search/data-ledger-db-0",
        name="data-ledger-db-0",
        namespace="search",
        phase="Pending",
        storage_class="fast-ssd",
        storage_class_exists=False,
    )
    provisioning = _event(
        "pvc.1",
        claim.name,
        'storageclass.storage.k8s.io "fast-ssd" not found',
        kind="PersistentVolumeClaim",
        reason="ProvisioningFailed",
    )
    observation = Observation(
        incident_id=INCIDENT.id, workloads=[workload], pods=[pod], claims=[claim], events=[provisioning]
    )
    diagnosis = OfflineAnalyzer().analyze(INCIDENT, observation)
    assert diagnosis.root_cause == "unschedulable" and diagnosis.plan.actions == []
    assert "StorageClass fast-ssd does not exist" in diagnosis.summary
    assert "ordinal 0" in diagnosis.explanation and "ProvisioningFailed" in diagnosis.explanation
    assert any("volumeClaimTemplates" in step for step in diagnosis.next_steps)
    assert {claim.id, provisioning.id, pod.id} <= {e.item_id for e in diagnosis.evidence}


def test_a_state_taint_points_at_the_nodes_not_at_a_toleration() -> None:
    pod = _pending(
        f"{NEW_RS}-zz9yy",
        NEW_RS,
        "0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, "
        "2 Insufficient memory. preemption: 0/3 nodes are available: 1 Preemption is not helpful for "
        "scheduling, 2 No preemption victims found for incoming pod.",
    )
    observation = Observation(
        incident_id=INCIDENT.id,
        workloads=[_workload(memory="6Gi")],
        pods=[pod],
        nodes=[
            _node(
                "node-a", "28893044Ki", ready="Unknown", taints=("node.kubernetes.io/unreachable:NoExecute",)
            )
        ],
    )
    diagnosis = OfflineAnalyzer().analyze(INCIDENT, observation)
    assert diagnosis.root_cause == "unschedulable" and diagnosis.plan.actions == []
    assert "unreachable" in diagnosis.summary
    assert "node-a: Ready=Unknown" in diagnosis.explanation
    assert not any("add a toleration" in step for step in diagnosis.next_steps)


def test_pods_that_are_scheduled_are_not_diagnosed_as_unschedulable() -> None:
    running = _running(f"{OLD_RS}-a1b2c", OLD_RS)
    observation = Observation(
        incident_id=INCIDENT.id,
        workloads=[_workload(memory="6Gi")],
        pods=[running],
        events=[_event("sched.old", running.name, MEMORY)],  # an old event of a pod placed since
    )
    diagnosis = OfflineAnalyzer().analyze(INCIDENT, observation)
    assert diagnosis.root_cause != "unschedulable"


@pytest.mark.parametrize(
    ("claim", "headline", "step"),
    [
        (
            VolumeClaim(id="pvc/search/scratch", name="scratch", namespace="search", phase="Pending"),
            "PersistentVolumeClaim scratch is not bound",
            "storageClassName",
        ),
        (
            VolumeClaim(id="pvc/search/scratch", name="scratch", namespace="search", exists=False),
            "PersistentVolumeClaim scratch does not exist",
            "claimName",
        ),
        (
            VolumeClaim(
                id="pvc/search/scratch",
                name="scratch",
                namespace="search",
                phase="Pending",
                storage_class="gp3",
                storage_class_exists=True,
            ),
            "PersistentVolumeClaim scratch is not provisioned",
            "provisioner of StorageClass gp3",
        ),
    ],
)
def test_each_kind_of_claim_trouble_gets_its_own_headline_and_step(
    claim: VolumeClaim, headline: str, step: str
) -> None:
    pod = _pending(
        f"{NEW_RS}-k2l3m",
        NEW_RS,
        "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/3 nodes "
        "are available: 3 Preemption is not helpful for scheduling.",
        claims=("scratch",),
    )
    observation = Observation(
        incident_id=INCIDENT.id, workloads=[_workload(memory="6Gi")], pods=[pod], claims=[claim]
    )
    diagnosis = OfflineAnalyzer().analyze(INCIDENT, observation)
    assert diagnosis.root_cause == "unschedulable" and diagnosis.plan.actions == []
    assert headline in diagnosis.summary
    assert any(step in s for s in diagnosis.next_steps)
    assert claim.id in {e.item_id for e in diagnosis.evidence}
