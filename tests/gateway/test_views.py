"""The console's own check before it offers the buttons (the workflow has the last word)."""

from __future__ import annotations

from domain.policy.decision import PolicyDecision
from gateway.views import IncidentDetail

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
