"""validate_plan: the policy decides with the plan's impact in its input, and the result carries
that impact (cost delta, downtime findings) to the approval views."""

from __future__ import annotations

from activities.validate import ValidateActivities
from domain.analysis.plan import Diagnosis, Plan, Restart, SetResources
from domain.incident.model import Incident, ResourceRef
from domain.kube.observation import ContainerSpec, Observation, Workload
from domain.policy.decision import PolicyDecision
from domain.steps.validate import ValidateInput, ValidateResult
from policies import evaluate

TARGET = ResourceRef(namespace="shop", kind="Deployment", name="checkout")


def observed(*, replicas: int, strategy: str = "RollingUpdate") -> Observation:
    return Observation(
        incident_id="inc-1",
        workloads=[
            Workload(
                id="workload/shop/Deployment/checkout",
                ref=TARGET,
                replicas=replicas,
                strategy=strategy,
                containers=[
                    ContainerSpec(
                        name="checkout",
                        image="registry.example/shop/checkout:1.4.0",
                        requests={"cpu": "1", "memory": "256Mi"},
                        limits={"cpu": "1", "memory": "256Mi"},
                    )
                ],
            )
        ],
    )


def validate(plan: Plan, observation: Observation) -> ValidateResult:
    diagnosis = Diagnosis(root_cause="saturation", summary="checkout is CPU-throttled", plan=plan)
    return ValidateActivities().validate_plan(
        ValidateInput(incident=Incident(id="inc-1"), observation=observation, diagnosis=diagnosis)
    )


def test_a_costly_plan_is_medium_risk_and_its_impact_comes_back() -> None:
    resize = SetResources(
        target=TARGET.model_copy(update={"container": "checkout"}), requests={"cpu": "4"}, limits={"cpu": "4"}
    )
    result = validate(Plan(actions=[resize]), observed(replicas=6))
    assert result.impact is not None
    # 6 replicas × 3 more cores at $0.031611 a core-hour, 730 hours a month
    assert result.impact.monthly_delta_usd == 415.37
    assert result.impact.summary.startswith("+$415.37/month (OpenCost default list prices")
    assert result.allowed and result.risk == "medium"
    assert any("$415.37 a month" in reason for reason in result.reasons), result.reasons


def test_downtime_findings_come_back_with_the_decision() -> None:
    result = validate(Plan(actions=[Restart(target=TARGET)]), observed(replicas=1, strategy="Recreate"))
    assert result.impact is not None
    assert [f.field for f in result.impact.downtime] == ["spec.strategy.type"]
    assert "downtime: Deployment shop/checkout: strategy Recreate" in result.impact.summary


def test_a_result_recorded_before_impacts_still_decodes() -> None:
    recorded = evaluate({"actions": []}).model_dump(mode="json")
    assert "impact" not in recorded
    result = ValidateResult.model_validate(recorded)
    assert result.impact is None
    assert PolicyDecision.model_validate(recorded) == PolicyDecision.model_validate(
        result.model_dump(exclude={"impact"})
    )
