"""The console's own check before it offers the buttons (the workflow has the last word)."""

from __future__ import annotations

from domain.analysis.plan import Plan, Scale
from domain.incident.model import ResourceRef
from domain.kube.observation import Observation, Workload
from domain.policy.decision import PolicyDecision
from domain.review.plan_impact import PlanImpact
from gateway.views import IncidentDetail, impact_of

PLAN = "a1b2c3d4e5f60718"


def waiting(approvers: list[str], decided: list[str]) -> IncidentDetail:
    return IncidentDetail(
        row={"status": "awaiting_approval", "plan_hash": PLAN},
        alert_group=None,
        alerts=[],
        diagnosis=None,
        plan=None,
        diffs=[],
        policy=PolicyDecision(allowed=True, risk="high", approvals_required=2, approvers=approvers),
        observation=None,
        evidence=[],
        approvals=[{"approver": name, "plan_hash": PLAN} for name in decided],
        audit=[],
    )


def test_a_user_who_decided_under_another_spelling_is_told_so() -> None:
    assert waiting(["*"], ["Alice"]).refusal_for("alice", []) == "alice has already decided on this plan"
    refusal = waiting(["*"], ["ａｌｉｃｅ"]).refusal_for(" Alice", [])
    assert refusal == " Alice has already decided on this plan"


def test_a_user_rule_matches_any_spelling_of_the_logged_in_name() -> None:
    assert waiting(["user:Carol"], []).refusal_for("carol", []) is None
    assert waiting(["user:carol"], []).refusal_for("dave", ["sre"]) is not None


def test_the_impact_validate_recorded_is_shown_as_recorded() -> None:
    stored = PlanImpact(monthly_delta_usd=121.51, summary="+$121.51/month (list); downtime: none found")
    decision = {"allowed": True, "risk": "medium", "impact": stored.model_dump(mode="json")}
    assert impact_of(decision, None, None) == stored


def test_a_record_made_before_impacts_is_reviewed_from_its_plan_and_observation() -> None:
    target = ResourceRef(namespace="shop", kind="Deployment", name="cart")
    seen = Observation(
        incident_id="i",
        workloads=[Workload(id="w", ref=target, replicas=1, strategy="Recreate", max_unavailable="")],
    )
    plan = Plan(actions=[Scale(target=target, replicas=2)])
    old = {"allowed": True, "risk": "medium"}
    impact = impact_of(old, plan, seen)
    assert impact is not None and impact.downtime and "downtime: Deployment shop/cart" in impact.summary
    assert impact_of(old, None, seen) is None and impact_of(None, plan, None) is None
