"""The plan of a drifted Application follows the drift policy's disposition: sync, adopt or report."""

from __future__ import annotations

from typing import Any

import pytest

from domain.analysis.plan import (
    Scale,
    SetImage,
    SetResources,
    SyncApplication,
    reads_as_command,
    without_read_only_commands,
)
from domain.drift.model import AppDrift, Disposition, FieldDrift, ResourceDrift
from domain.drift.plan import drift_diagnosis
from domain.incident.model import Incident, ResourceRef
from domain.kube.observation import ArgoApplication, ContainerSpec, Observation, Workload

REPLICAS = "/spec/replicas"
CONTAINERS = "/spec/template/spec/containers"


def ledger_ref(container: str | None = None) -> ResourceRef:
    return ResourceRef(namespace="payments", kind="Deployment", name="ledger", container=container)


def observed() -> Observation:
    ledger = Workload(
        id="workload/payments/Deployment/ledger",
        ref=ledger_ref(),
        replicas=5,
        containers=[
            ContainerSpec(
                name="ledger",
                image="registry.example/ledger:1.1",
                requests={"cpu": "250m", "memory": "1Gi"},
                limits={"memory": "512Mi"},
            ),
            ContainerSpec(name="proxy", image="registry.example/proxy:2.0"),
        ],
    )
    worker = Workload(
        id="workload/payments/Deployment/ledger-worker",
        ref=ResourceRef(namespace="payments", kind="Deployment", name="ledger-worker"),
        replicas=3,
        containers=[ContainerSpec(name="worker", image="registry.example/worker:3")],
    )
    app = ArgoApplication(
        id="argocd/argocd/ledger", name="ledger", sync_status="OutOfSync", health_status="Healthy"
    )
    return Observation(incident_id="drift.argocd.ledger", workloads=[ledger, worker], argocd=[app])


def changed(path: str, desired: Any, live: Any) -> FieldDrift:
    return FieldDrift(path=path, desired=desired, live=live)


def ledger(*fields: FieldDrift, kind: str = "Deployment", name: str = "ledger") -> ResourceDrift:
    return ResourceDrift(group="apps", kind=kind, namespace="payments", name=name, fields=list(fields))


def incident(
    disposition: Disposition, *resources: ResourceDrift, reason: str = "", application: str = "ledger"
) -> Incident:
    drift = AppDrift(
        application=application,
        project="payments",
        destination_namespace="payments",
        revision="4f2c9e1",
        resources=list(resources) or [ledger(changed(REPLICAS, 2, 5))],
        disposition=disposition,
        reason=reason or f"policy drift_rules[0] {disposition}s /spec/replicas of payments/Deployment/ledger",
    )
    return Incident(id="drift.argocd.ledger", source="drift", drift=drift)


# --- sync --------------------------------------------------------------------------------------


def test_sync_plans_one_application_sync_per_drifted_resource() -> None:
    drifted = incident(
        "sync",
        ledger(
            changed(REPLICAS, 2, 5), changed(f"{CONTAINERS}/0/image", "registry.example/ledger:1.0", "x:1")
        ),
        ledger(changed(REPLICAS, 2, 3), name="ledger-worker"),
    )
    diagnosis = drift_diagnosis(drifted, observed())
    assert diagnosis.root_cause == "drift" and diagnosis.analyzer == "drift-rules"
    assert diagnosis.plan.actions == [
        SyncApplication(target=ledger_ref(), mode="direct", application="ledger"),
        SyncApplication(
            target=ResourceRef(namespace="payments", kind="Deployment", name="ledger-worker"),
            mode="direct",
            application="ledger",
        ),
    ]
    assert "Argo CD applies the Git state of these resources" in diagnosis.plan.rollback
    assert "snapshot taken before" in diagnosis.plan.rollback
    assert diagnosis.summary.startswith("sync Argo CD application ledger back to Git: ")
    assert "payments/Deployment/ledger /spec/replicas: 2 → 5" in diagnosis.summary


def test_sync_of_a_resource_that_was_not_observed_is_left_to_a_human() -> None:
    missing = ResourceDrift(kind="Service", namespace="payments", name="ledger", live_missing=True)
    diagnosis = drift_diagnosis(incident("sync", missing), observed())
    assert diagnosis.plan.actions == []
    assert diagnosis.summary.startswith(
        "drift reported, not changed: payments/Service/ledger was not observed"
    )
    assert "payments/Service/ledger: declared in Git, missing from the cluster" in diagnosis.summary


def test_sync_without_an_application_is_left_to_a_human() -> None:
    diagnosis = drift_diagnosis(incident("sync", application=""), observed())
    assert diagnosis.plan.actions == []
    assert "no Argo CD application manages these resources" in diagnosis.summary


# --- adopt -------------------------------------------------------------------------------------


def test_adopt_writes_each_live_value_into_git_with_a_typed_action() -> None:
    drifted = incident(
        "adopt",
        ledger(
            changed(REPLICAS, 2, 5),
            changed(f"{CONTAINERS}/1/image", "registry.example/proxy:1.9", "registry.example/proxy:2.0"),
            changed(f"{CONTAINERS}/ledger/resources/limits/memory", "256Mi", "512Mi"),
            changed(
                f"{CONTAINERS}/0/resources/requests", {"cpu": "100m"}, {"cpu": "250m", "memory": 1073741824}
            ),
        ),
    )
    diagnosis = drift_diagnosis(drifted, observed())
    assert diagnosis.plan.actions == [
        Scale(target=ledger_ref(), mode="gitops", replicas=5),
        SetImage(target=ledger_ref("proxy"), mode="gitops", image="registry.example/proxy:2.0"),
        # The resource fields of one container make one action.
        SetResources(
            target=ledger_ref("ledger"),
            mode="gitops",
            limits={"memory": "512Mi"},
            requests={"cpu": "250m", "memory": "1073741824"},
        ),
    ]
    assert diagnosis.summary.startswith("adopt the live state of Argo CD application ledger into Git: ")
    assert "revert the pull request" in diagnosis.plan.rollback


def test_adopt_of_a_whole_resources_block() -> None:
    live = {"limits": {"memory": "512Mi"}, "requests": {"cpu": "0.25", "memory": "1Gi"}}
    diagnosis = drift_diagnosis(
        incident("adopt", ledger(changed(f"{CONTAINERS}/0/resources", {}, live))), observed()
    )
    assert diagnosis.plan.actions == [
        SetResources(
            target=ledger_ref("ledger"),
            mode="gitops",
            limits={"memory": "512Mi"},
            requests={"cpu": "0.25", "memory": "1Gi"},
        )
    ]


@pytest.mark.parametrize(
    ("drifted", "why"),
    [
        (
            ledger(changed(REPLICAS, 2, 5), changed("/spec/template/metadata/labels/tier", "a", "b")),
            "/spec/template/metadata/labels/tier of payments/Deployment/ledger cannot be adopted: "
            "no typed action writes this field",
        ),
        (
            ledger(changed(f"{CONTAINERS}/sidecar/image", "a:1", "a:2")),
            "container sidecar is not in the observed Deployment",
        ),
        (
            ledger(changed(f"{CONTAINERS}/0/resources/limits/memory", "256Mi", None)),
            "the live object has no resources.limits.memory: removing it from Git is not a typed action",
        ),
        (
            ledger(changed(f"{CONTAINERS}/0/resources", {"limits": {"memory": "1Gi"}}, None)),
            "removing them from Git is not a typed action",
        ),
        (
            ledger(changed(f"{CONTAINERS}/0/resources/limits/memory", "256Mi", "lots")),
            "resources.limits.memory is not a quantity",
        ),
        (
            ResourceDrift(kind="Deployment", namespace="payments", name="ledger", live_missing=True),
            "payments/Deployment/ledger is missing from the cluster",
        ),
        (ledger(changed("/data/mode", "a", "b"), kind="ConfigMap", name="settings"), "was not observed"),
        # The scan's values must be what the observed workload holds: the cluster may have changed
        # since, and a container's index in a path is its index in the desired list.
        (ledger(changed(REPLICAS, 2, 4)), "the observed Deployment has 5 replicas, not the scanned 4"),
        (
            ledger(
                changed(f"{CONTAINERS}/0/image", "registry.example/proxy:1.9", "registry.example/proxy:2.0")
            ),
            "the observed container ledger runs another image than the scan saw",
        ),
        (
            ledger(changed(f"{CONTAINERS}/ledger/resources/limits/memory", "256Mi", "1Gi")),
            "the observed container ledger has another resources.limits.memory than the scan saw",
        ),
        (
            ledger(changed(f"{CONTAINERS}/0/image", "a:1", "registry.example/" + "x" * 199 + "…")),
            "runs another image than the scan saw",
        ),
    ],
)
def test_adopt_of_a_field_without_a_typed_action_plans_nothing(drifted: ResourceDrift, why: str) -> None:
    diagnosis = drift_diagnosis(incident("adopt", drifted), observed())
    assert diagnosis.plan.actions == []
    assert diagnosis.summary.startswith("drift reported, not changed: ")
    assert why in diagnosis.summary
    assert "a human must act" in diagnosis.explanation


# --- report ------------------------------------------------------------------------------------


def test_report_plans_nothing_and_says_what_drifted_and_why() -> None:
    reason = (
        "policy drift_default_action reports /spec/replicas of payments/Deployment/ledger "
        "(no drift rule matches)"
    )
    diagnosis = drift_diagnosis(incident("report", reason=reason), observed())
    assert diagnosis.plan.actions == []
    assert diagnosis.summary == (
        f"drift reported, not changed: {reason}. "
        "Argo CD application ledger: payments/Deployment/ledger /spec/replicas: 2 → 5"
    )
    assert "differs from Git at revision 4f2c9e1" in diagnosis.explanation
    assert "- payments/Deployment/ledger /spec/replicas: 2 → 5" in diagnosis.explanation


def test_values_of_secrets_and_environments_are_not_shown() -> None:
    drifted = incident(
        "report",
        ledger(changed(f"{CONTAINERS}/0/env/2/value", "hunter2", "correct-horse")),
        ResourceDrift(
            kind="Secret",
            namespace="payments",
            name="ledger-db",
            fields=[changed("/data/password", "a", "b")],
        ),
    )
    diagnosis = drift_diagnosis(drifted, observed())
    text = diagnosis.summary + diagnosis.explanation
    assert "hunter2" not in text and "correct-horse" not in text
    assert "(not shown) → (not shown)" in diagnosis.explanation


def test_long_values_are_shortened() -> None:
    long = "registry.example/" + "x" * 200
    diagnosis = drift_diagnosis(
        incident("report", ledger(changed(f"{CONTAINERS}/0/image", "a", long))), observed()
    )
    assert long not in diagnosis.summary and "…" in diagnosis.summary


# --- evidence and stability ----------------------------------------------------------------------


def test_evidence_cites_the_observed_workloads_and_the_application() -> None:
    drifted = incident(
        "sync",
        ledger(changed(REPLICAS, 2, 5)),
        ResourceDrift(
            kind="Service", namespace="payments", name="ledger", fields=[changed("/spec/type", "a", "b")]
        ),
    )
    seen = observed()
    evidence = drift_diagnosis(drifted, seen).evidence
    assert [e.item_id for e in evidence] == ["workload/payments/Deployment/ledger", "argocd/argocd/ledger"]
    assert {e.item_id for e in evidence} <= seen.item_ids()
    assert evidence[1].note == "Argo CD application ledger: OutOfSync, Healthy"


@pytest.mark.parametrize("disposition", ["sync", "adopt", "report"])
def test_the_plan_hash_is_stable(disposition: Disposition) -> None:
    first = drift_diagnosis(incident(disposition), observed())
    again = drift_diagnosis(incident(disposition), observed())
    assert first == again
    assert first.plan.plan_hash() == again.plan.plan_hash()


def test_a_sync_and_an_adoption_of_the_same_drift_differ_in_hash() -> None:
    sync = drift_diagnosis(incident("sync"), observed()).plan.plan_hash()
    adopt = drift_diagnosis(incident("adopt"), observed()).plan.plan_hash()
    assert sync != adopt


def test_an_incident_without_drift_is_refused() -> None:
    with pytest.raises(ValueError, match="carries no drift"):
        drift_diagnosis(Incident(id="inc-1", source="drift"), observed())


def test_reported_drift_tells_the_human_how_to_see_it_and_what_to_decide() -> None:
    diagnosis = drift_diagnosis(incident("report", reason="no drift rule matches"), observed())
    steps = "\n".join(diagnosis.next_steps)
    assert "`argocd app diff ledger`" in steps
    assert "`kubectl -n payments get deployment ledger -o yaml --show-managed-fields`" in steps
    assert "If Git is right, sync application ledger" in steps
    assert not any(reads_as_command(without_read_only_commands(s)) for s in diagnosis.next_steps)
    unmanaged = drift_diagnosis(incident("sync", application=""), observed())
    assert unmanaged.plan.actions == [] and "argocd" not in "\n".join(unmanaged.next_steps)
    assert unmanaged.next_steps[-1].startswith("If Git is right, sync the resources")


def test_a_drift_plan_medic_carries_out_has_no_next_steps() -> None:
    diagnosis = drift_diagnosis(incident("sync", ledger(changed(REPLICAS, 2, 5))), observed())
    assert diagnosis.plan.actions and diagnosis.next_steps == []
