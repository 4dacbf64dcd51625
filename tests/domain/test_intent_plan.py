"""A change request's plan: its target resolved among the observed workloads, never guessed."""

from __future__ import annotations

import pytest

from domain.analysis.plan import Diagnosis, RollbackRevision, Scale, SetImage, SetResources, SyncApplication
from domain.incident.model import ResourceRef
from domain.intent.model import IntentRequest
from domain.intent.parse import parse_intent
from domain.intent.plan import intent_diagnosis, intent_incident
from domain.kube.observation import ArgoApplication, ContainerSpec, Observation, Revision, Workload


def _workload(namespace: str, name: str, *containers: ContainerSpec, revision: int = 3) -> Workload:
    ref = ResourceRef(namespace=namespace, kind="Deployment", name=name)
    return Workload(
        id=f"workload/{ref.key}",
        ref=ref,
        replicas=2,
        revision=revision,
        containers=list(containers) or [ContainerSpec(name=name, image=f"ghcr.io/acme/{name}:1.0.0")],
    )


def _diagnose(words: str, *workloads: Workload, revisions: list[Revision] | None = None) -> Diagnosis:
    request = IntentRequest(requester="carol", channel="cli", words=words, change=parse_intent(words))
    incident = intent_incident("intent-test", request)
    return intent_diagnosis(
        incident, Observation(incident_id=incident.id, workloads=list(workloads), revisions=revisions or [])
    )


def test_a_named_workload_in_any_namespace_is_the_target() -> None:
    diagnosis = _diagnose(
        "scale checkout to 6 replicas", _workload("shop", "checkout"), _workload("shop", "cart")
    )
    assert diagnosis.analyzer == "intent"
    assert diagnosis.plan.actions == [
        Scale(
            target=ResourceRef(namespace="shop", kind="Deployment", name="checkout", container="checkout"),
            replicas=6,
        )
    ]
    assert diagnosis.summary == "requested by carol: scale checkout to 6 replicas"


def test_two_workloads_of_one_name_are_listed_not_guessed() -> None:
    diagnosis = _diagnose(
        "scale checkout to 6", _workload("shop", "checkout"), _workload("staging", "checkout")
    )
    assert diagnosis.plan.actions == []
    assert diagnosis.summary == (
        "the request cannot be planned: checkout names 2 workloads: shop/checkout (Deployment), "
        "staging/checkout (Deployment); say which, as NAMESPACE/NAME"
    )
    assert _diagnose(
        "scale staging/checkout 6", _workload("shop", "checkout"), _workload("staging", "checkout")
    ).plan.actions


def test_an_unknown_target_is_refused() -> None:
    diagnosis = _diagnose("restart shop/ledger", _workload("shop", "checkout"))
    assert diagnosis.plan.actions == []
    assert diagnosis.summary == (
        "the request cannot be planned: no Deployment, StatefulSet or DaemonSet named ledger "
        "in namespace shop"
    )


def test_a_version_is_put_on_the_current_image() -> None:
    diagnosis = _diagnose("upgrade checkout to version 1.14.0", _workload("shop", "checkout"))
    action = diagnosis.plan.actions[0]
    assert isinstance(action, SetImage) and action.image == "ghcr.io/acme/checkout:1.14.0"


def test_an_image_picks_the_container_of_its_repository() -> None:
    workload = _workload(
        "shop",
        "checkout",
        ContainerSpec(name="checkout", image="ghcr.io/acme/checkout:1.0.0"),
        ContainerSpec(name="proxy", image="envoyproxy/envoy:v1.30"),
    )
    action = _diagnose("bump checkout to ghcr.io/acme/checkout:1.1.0", workload).plan.actions[0]
    assert action.target.container == "checkout"
    refused = _diagnose("give checkout 1Gi of memory", workload)
    assert "has 2 containers (checkout, proxy); name the one to change" in refused.summary


def test_a_memory_limit_below_the_request_lowers_the_request_too() -> None:
    workload = _workload(
        "shop",
        "cart",
        ContainerSpec(name="cart", image="cart:1", requests={"memory": "2Gi"}, limits={"memory": "4Gi"}),
    )
    action = _diagnose("give cart 1Gi of memory", workload).plan.actions[0]
    assert isinstance(action, SetResources)
    assert (action.requests, action.limits) == ({"memory": "1Gi"}, {"memory": "1Gi"})
    raised = _diagnose("give cart 8Gi of memory", workload).plan.actions[0]
    assert isinstance(raised, SetResources) and (raised.requests, raised.limits) == ({}, {"memory": "8Gi"})


@pytest.mark.parametrize(("words", "revision"), [("roll back ledger", 2), ("rollback payments/ledger 1", 1)])
def test_a_rollback_goes_to_the_revision_before_or_the_one_named(words: str, revision: int) -> None:
    revisions = [
        Revision(id=f"revision/payments/ledger-{n}", name=f"ledger-{n}", revision=n) for n in (1, 2, 3)
    ]
    action = _diagnose(words, _workload("payments", "ledger"), revisions=revisions).plan.actions[0]
    assert isinstance(action, RollbackRevision) and action.revision == revision


def test_the_words_are_kept_redacted_on_the_incident() -> None:
    words = "restart shop/checkout password=hunter2hunter2"
    request = IntentRequest(requester="carol", words=words, change=parse_intent("restart shop/checkout"))
    incident = intent_incident("intent-x", request)
    assert incident.intent is not None and "hunter2" not in incident.intent.words
    assert (
        incident.source == "intent" and incident.title == "Change requested by carol: restart shop/checkout"
    )


def test_a_sync_request_syncs_the_application_that_manages_an_observed_workload() -> None:
    workload = _workload("shop", "cart")
    app = ArgoApplication(
        id="argocd/argocd/shop",
        name="shop",
        resources=[{"group": "apps", "kind": "Deployment", "namespace": "shop", "name": "cart"}],
    )
    request = IntentRequest(requester="carol", words="sync-app shop", change=parse_intent("sync-app shop"))
    incident = intent_incident("intent-sync", request)
    observation = Observation(incident_id=incident.id, workloads=[workload], argocd=[app])
    (action,) = intent_diagnosis(incident, observation).plan.actions
    assert isinstance(action, SyncApplication) and action.application == "shop"
    assert action.target == workload.ref
    missing = intent_diagnosis(incident, Observation(incident_id=incident.id, workloads=[workload]))
    assert missing.summary == "the request cannot be planned: no Argo CD application named shop was observed"
