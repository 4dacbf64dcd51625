"""The offline analyzer's rules, on small observations."""

from __future__ import annotations

from domain.incident import Incident, ResourceRef
from domain.observation import ContainerSpec, ContainerState, Observation, PodState, Revision, Workload
from domain.offline_analyzer import OfflineAnalyzer
from domain.plan import SetResources

INCIDENT = Incident(id="incident-test")
REF = ResourceRef(namespace="shop", kind="Deployment", name="cart")


def workload(ready: int = 1, limit: str = "128Mi", annotations: dict[str, str] | None = None) -> Workload:
    return Workload(
        id="workload/shop/Deployment/cart",
        ref=REF,
        replicas=2,
        ready_replicas=ready,
        containers=[ContainerSpec(name="cart", image="cart:1", limits={"memory": limit})],
        annotations=annotations or {},
    )


def oom_pod(name: str = "cart-7d9f8b6c5-x2k4p") -> PodState:
    return PodState(
        id=f"pod/shop/{name}",
        name=name,
        namespace="shop",
        owner="cart-7d9f8b6c5",
        containers=[
            ContainerState(
                name="cart",
                restart_count=6,
                state="waiting",
                state_reason="CrashLoopBackOff",
                last_state_reason="OOMKilled",
                last_exit_code=137,
            )
        ],
    )


def observe(
    *workloads: Workload, pods: tuple[PodState, ...] = (), notes: tuple[str, ...] = ()
) -> Observation:
    return Observation(
        incident_id=INCIDENT.id,
        workloads=list(workloads),
        pods=list(pods),
        notes=list(notes),
        revisions=[Revision(id="revision/shop/cart-7d9f8b6c5", name="cart-7d9f8b6c5", revision=3)],
    )


def test_oom_killed_container_gets_its_memory_limit_doubled() -> None:
    diagnosis = OfflineAnalyzer().analyze(INCIDENT, observe(workload(), pods=(oom_pod(),)))
    assert diagnosis.root_cause == "oom"
    (action,) = diagnosis.plan.actions
    assert isinstance(action, SetResources)
    assert action.limits == {"memory": "256Mi"} and action.requests == {}
    assert action.target.container == "cart" and action.mode == "direct"
    assert {e.item_id for e in diagnosis.evidence} >= {
        "pod/shop/cart-7d9f8b6c5-x2k4p",
        "workload/shop/Deployment/cart",
    }


def test_small_limit_grows_by_at_least_64mi_but_never_past_four_times() -> None:
    (action,) = (
        OfflineAnalyzer().analyze(INCIDENT, observe(workload(limit="32Mi"), pods=(oom_pod(),))).plan.actions
    )
    assert isinstance(action, SetResources) and action.limits == {"memory": "96Mi"}
    (action,) = (
        OfflineAnalyzer().analyze(INCIDENT, observe(workload(limit="16Mi"), pods=(oom_pod(),))).plan.actions
    )
    assert isinstance(action, SetResources) and action.limits == {"memory": "64Mi"}


def test_argo_cd_managed_workload_is_planned_through_git() -> None:
    managed = workload(annotations={"argocd.argoproj.io/tracking-id": "shop-cart:apps/Deployment:shop/cart"})
    (action,) = OfflineAnalyzer().analyze(INCIDENT, observe(managed, pods=(oom_pod(),))).plan.actions
    assert action.mode == "gitops"


def test_healthy_workload_means_nothing_to_fix() -> None:
    diagnosis = OfflineAnalyzer().analyze(INCIDENT, observe(workload(ready=2)))
    assert diagnosis.root_cause == "none" and diagnosis.plan.actions == []


def test_missing_target_is_unknown_not_healthy() -> None:
    diagnosis = OfflineAnalyzer().analyze(INCIDENT, observe(notes=("Pod shop/cart-x not found",)))
    assert diagnosis.root_cause == "unknown" and diagnosis.plan.actions == []
    assert "not found" in diagnosis.summary


def test_unhealthy_without_a_known_cause_is_unknown() -> None:
    diagnosis = OfflineAnalyzer().analyze(INCIDENT, observe(workload(ready=0)))
    assert diagnosis.root_cause == "unknown" and diagnosis.plan.actions == []
