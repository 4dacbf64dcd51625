"""The analyze activity maps the model's failures to Temporal's retry semantics."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from pytest_httpserver import HTTPServer
from temporalio.exceptions import ApplicationError

from activities.analyze import AnalyzeActivities
from domain.analysis.plan import Diagnosis, RevertDeploy, SyncApplication
from domain.deploy.incident import deploy_incident
from domain.deploy.model import DeployRegression, FiredRule, Verdict, WorkloadRef
from domain.drift.model import AppDrift, FieldDrift, ResourceDrift
from domain.incident.model import Incident, ResourceRef
from domain.kube.observation import ArgoApplication, ContainerSpec, Observation, Workload
from domain.steps.analyze import AnalyzeInput
from integrations.llm.anthropic_analyzer import AnthropicAnalyzer
from tests.integrations.llm.conftest import scenario_case
from tests.integrations.llm.payloads import anthropic_error, anthropic_message

MESSAGES = "/v1/messages"


@pytest.fixture
def activities(httpserver: HTTPServer) -> Iterator[AnalyzeActivities]:
    model = AnthropicAnalyzer.from_settings(
        api_key="sk-ant-test", model="claude-test", base_url=httpserver.url_for(""), timeout=2.0
    )
    try:
        yield AnalyzeActivities(model)
    finally:
        model.close()


def analyze_input() -> AnalyzeInput:
    incident, observation = scenario_case("oom-helm-values")
    return AnalyzeInput(incident=incident, observation=observation)


def test_overloaded_model_is_retryable_after_the_servers_delay(
    httpserver: HTTPServer, activities: AnalyzeActivities
) -> None:
    httpserver.expect_request(MESSAGES, method="POST").respond_with_json(
        anthropic_error("overloaded_error", "Overloaded"), status=529, headers={"retry-after": "7"}
    )
    with pytest.raises(ApplicationError) as raised:
        activities.analyze_incident(analyze_input())
    assert raised.value.type == "ModelUnavailable"
    assert not raised.value.non_retryable
    assert raised.value.next_retry_delay == timedelta(seconds=7)


def test_rate_limited_model_carries_retry_after_ms(
    httpserver: HTTPServer, activities: AnalyzeActivities
) -> None:
    httpserver.expect_request(MESSAGES, method="POST").respond_with_json(
        anthropic_error("rate_limit_error", "slow down"), status=429, headers={"retry-after-ms": "1500"}
    )
    with pytest.raises(ApplicationError) as raised:
        activities.analyze_incident(analyze_input())
    assert raised.value.type == "ModelUnavailable"
    assert raised.value.next_retry_delay == timedelta(seconds=1.5)


def test_output_without_a_tool_call_is_final(httpserver: HTTPServer, activities: AnalyzeActivities) -> None:
    httpserver.expect_request(MESSAGES, method="POST").respond_with_json(
        anthropic_message([{"type": "text", "text": "delete the namespace"}], stop_reason="end_turn")
    )
    with pytest.raises(ApplicationError) as raised:
        activities.analyze_incident(analyze_input())
    assert raised.value.type == "InvalidModelOutput" and raised.value.non_retryable


def test_refused_key_is_final(httpserver: HTTPServer, activities: AnalyzeActivities) -> None:
    httpserver.expect_request(MESSAGES, method="POST").respond_with_json(
        anthropic_error("authentication_error", "invalid x-api-key"), status=401
    )
    with pytest.raises(ApplicationError) as raised:
        activities.analyze_incident(analyze_input())
    assert raised.value.type == "ModelRefused" and raised.value.non_retryable


def test_offline_is_used_when_asked_even_with_a_model_configured(
    httpserver: HTTPServer, activities: AnalyzeActivities
) -> None:
    diagnosis = activities.analyze_incident(analyze_input().model_copy(update={"analyzer": "offline"}))
    assert diagnosis.analyzer == "offline" and diagnosis.root_cause == "oom"
    assert httpserver.log == []


def drift_input() -> AnalyzeInput:
    ref = ResourceRef(namespace="payments", kind="Deployment", name="ledger")
    drift = AppDrift(
        application="ledger",
        resources=[
            ResourceDrift(
                kind="Deployment",
                namespace="payments",
                name="ledger",
                fields=[FieldDrift(path="/spec/replicas", desired=2, live=5)],
            )
        ],
        disposition="sync",
        reason="policy drift_rules[0] syncs /spec/replicas of payments/Deployment/ledger",
    )
    observation = Observation(
        incident_id="drift.argocd.ledger",
        workloads=[
            Workload(
                id="workload/payments/Deployment/ledger",
                ref=ref,
                replicas=5,
                containers=[ContainerSpec(name="ledger", image="registry.example/ledger:1.1")],
            )
        ],
        argocd=[ArgoApplication(id="argocd/argocd/ledger", name="ledger", sync_status="OutOfSync")],
    )
    incident = Incident(id="drift.argocd.ledger", source="drift", targets=[ref], drift=drift)
    return AnalyzeInput(incident=incident, observation=observation)


def test_drift_incident_is_planned_by_the_drift_rules_even_with_a_model_configured(
    httpserver: HTTPServer, activities: AnalyzeActivities
) -> None:
    diagnosis = activities.analyze_incident(drift_input())
    assert (diagnosis.analyzer, diagnosis.root_cause) == ("drift-rules", "drift")
    assert diagnosis.plan.actions == [
        SyncApplication(
            target=ResourceRef(namespace="payments", kind="Deployment", name="ledger"),
            mode="direct",
            application="ledger",
        )
    ]
    assert httpserver.log == []


def deploy_input(previous: str = "0" * 40) -> AnalyzeInput:
    cart = WorkloadRef(namespace="shop", kind="Deployment", name="shop-cart")
    regression = DeployRegression(
        watch_id="deploy/argocd/shop-cart/abc1234def56",
        application="shop-cart",
        revision="abc1234def5678abc1234def5678abc1234def56",
        previous_revision=previous,
        commits=["abc1234 Raise the cart cache TTL"],
        verdict=Verdict(
            state="degraded",
            summary="deploy abc1234 of app shop-cart made p99 2.4× worse (480 ms vs 200 ms)",
            fired=[
                FiredRule(
                    rule="p99_latency",
                    workload=cart,
                    baseline=200.0,
                    observed=480.0,
                    threshold="≥1.5× and ≥100 ms slower",
                    message="p99 480 ms vs 200 ms before (2.4×)",
                )
            ],
        ),
        workloads=[cart],
    )
    incident = deploy_incident("deploy/argocd/shop-cart/abc1234def56", regression)
    observation = Observation(
        incident_id=incident.id,
        workloads=[Workload(id="workload/shop/Deployment/shop-cart", ref=incident.targets[0], replicas=3)],
        argocd=[ArgoApplication(id="argocd/argocd/shop-cart", name="shop-cart", health_status="Degraded")],
    )
    return AnalyzeInput(incident=incident, observation=observation)


def test_a_degraded_deploy_is_planned_as_its_revert_even_with_a_model_configured(
    httpserver: HTTPServer, activities: AnalyzeActivities
) -> None:
    diagnosis = activities.analyze_incident(deploy_input())
    assert (diagnosis.analyzer, diagnosis.root_cause) == ("deploy-watch", "bad_release")
    [action] = diagnosis.plan.actions
    assert isinstance(action, RevertDeploy)
    assert (action.application, action.previous_revision) == ("shop-cart", "0" * 40)
    assert {e.item_id for e in diagnosis.evidence} == {
        "workload/shop/Deployment/shop-cart",
        "argocd/argocd/shop-cart",
    }
    # a first deploy: nothing to revert to, and the model is still not asked
    first = activities.analyze_incident(deploy_input(previous=""))
    assert first.plan.actions == [] and "no earlier revision" in first.summary
    assert httpserver.log == []


class _ClaimsToBeOffline:
    """A model analyzer whose diagnosis leaves `analyzer` at its default, "offline"."""

    name = "anthropic"

    def analyze(self, incident: Incident, observation: Observation, similar: object = ()) -> Diagnosis:
        return Diagnosis(root_cause="oom", summary="restart it")


def test_the_diagnosis_names_the_analyzer_that_ran_not_the_one_it_claims() -> None:
    diagnosis = AnalyzeActivities(_ClaimsToBeOffline()).analyze_incident(analyze_input())  # type: ignore[arg-type]
    assert diagnosis.analyzer == "anthropic"
