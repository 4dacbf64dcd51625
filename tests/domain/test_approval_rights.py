"""Who may decide on a plan: the policy's `approvers` principals, one identity however a name is
written, and the channels whose approvals count."""

from __future__ import annotations

import pytest

from domain.policy.approval import (
    Approval,
    Channel,
    DecisionInput,
    approval_refusal,
    decision_refusal,
    identity_key,
)
from domain.policy.decision import PolicyDecision


def test_no_rules_recorded_means_anyone() -> None:
    assert approval_refusal(None, "alice", []) is None


def test_star_means_anyone() -> None:
    assert approval_refusal(["*"], "alice", []) is None


def test_user_named() -> None:
    assert approval_refusal(["user:alice"], "alice", []) is None


def test_group_member() -> None:
    assert approval_refusal(["group:sre"], "bob", ["dev", "sre"]) is None


def test_outsider_is_refused_with_the_allowed_principals() -> None:
    refusal = approval_refusal(["group:sre", "user:carol"], "bob", ["dev"])
    assert refusal == "bob is not allowed to decide on this plan; the policy allows: group:sre, user:carol"


def test_a_user_name_is_not_a_group() -> None:
    assert approval_refusal(["group:alice"], "alice", []) is not None


def test_empty_rules_mean_nobody() -> None:
    refusal = approval_refusal([], "alice", ["sre"])
    assert refusal is not None and "nobody" in refusal


# --- one person, however their name is written ------------------------------------------------


@pytest.mark.parametrize(
    "spelt",
    ["alice", "Alice", "ALICE", " alice ", "\talice\n", "ａｌｉｃｅ", "ＡＬＩＣＥ", "\u3000alice\u3000"],
)
def test_every_spelling_of_a_name_has_one_identity(spelt: str) -> None:
    assert identity_key(spelt) == "alice"


def test_compatibility_characters_fold_to_their_plain_form() -> None:
    assert identity_key("ﬁona") == identity_key("FIONA") == "fiona"  # the "ﬁ" ligature
    assert identity_key("straße") == identity_key("STRASSE")


def test_different_people_stay_different() -> None:
    assert identity_key("alice") != identity_key("alice2")
    assert identity_key("al ice") != identity_key("alice")


def test_a_user_rule_matches_any_spelling_of_the_name() -> None:
    assert approval_refusal(["user:Carol"], " carol", []) is None


# --- channels ----------------------------------------------------------------------------------

FOUR_EYES = PolicyDecision(
    allowed=True,
    risk="high",
    approvals_required=2,
    verified_channels=["api", "console"],
    self_asserted_counts=False,
)
ONE_APPROVAL = PolicyDecision(
    allowed=True,
    risk="medium",
    approvals_required=1,
    verified_channels=["api", "console"],
    self_asserted_counts=True,
)
ALICE = Approval(approver="alice", decision="approve", via="update", channel="console")


def test_the_same_person_by_another_spelling_is_a_duplicate() -> None:
    decision = DecisionInput(approver="ＡＬＩＣＥ", channel="api")
    assert (
        decision_refusal(FOUR_EYES, [ALICE], decision)
        == "ＡＬＩＣＥ has already decided on this plan (as alice)"
    )


@pytest.mark.parametrize("channel", ["signal", "cli", None])
def test_a_self_asserted_approval_does_not_count_for_a_four_eyes_plan(channel: Channel | None) -> None:
    refusal = decision_refusal(FOUR_EYES, [ALICE], DecisionInput(approver="bob", channel=channel))
    assert refusal is not None and "self-asserted" in refusal and "approve through api or console" in refusal


def test_a_verified_second_approver_counts() -> None:
    assert decision_refusal(FOUR_EYES, [ALICE], DecisionInput(approver="bob", channel="api")) is None


def test_a_slack_approval_counts_and_its_groups_are_believed_where_the_policy_trusts_slack() -> None:
    trusting = FOUR_EYES.model_copy(
        update={"verified_channels": ["api", "console", "slack"], "approvers": ["group:sre"]}
    )
    from_slack = DecisionInput(approver="bob", groups=["sre"], channel="slack")
    assert decision_refusal(trusting, [ALICE], from_slack) is None
    # a policy whose data does not name slack: the same click is self-asserted
    refusal = decision_refusal(FOUR_EYES, [ALICE], from_slack)
    assert refusal is not None and "through slack is self-asserted" in refusal


def test_a_self_asserted_rejection_still_counts() -> None:
    decision = DecisionInput(approver="bob", decision="reject", channel="signal")
    assert decision_refusal(FOUR_EYES, [ALICE], decision) is None


def test_a_one_approval_plan_counts_a_self_asserted_approval() -> None:
    assert decision_refusal(ONE_APPROVAL, [], DecisionInput(approver="bob", channel="signal")) is None


def test_groups_are_believed_only_from_a_verified_channel() -> None:
    policy = ONE_APPROVAL.model_copy(update={"approvers": ["group:sre"]})
    claimed = DecisionInput(approver="mallory", groups=["sre"], channel="signal")
    vouched = DecisionInput(approver="erin", groups=["sre"], channel="console")
    assert "mallory is not allowed" in (decision_refusal(policy, [], claimed) or "")
    assert decision_refusal(policy, [], vouched) is None


def test_a_decision_made_before_channels_counts_every_channel_but_believes_only_verified_groups() -> None:
    before = PolicyDecision(allowed=True, risk="high", approvals_required=2, approvers=["group:sre"])
    assert (
        decision_refusal(before, [], DecisionInput(approver="erin", groups=["sre"], channel="console"))
        is None
    )
    assert decision_refusal(before, [], DecisionInput(approver="mallory", groups=["sre"], channel="signal"))


def test_old_decisions_decode_without_a_channel() -> None:
    assert (
        Approval.model_validate({"approver": "alice", "decision": "approve", "via": "update"}).channel is None
    )
    assert DecisionInput.model_validate({"approver": "alice"}).channel is None
