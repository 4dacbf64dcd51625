"""Who may decide on a plan, from the policy's `approvers` principals."""

from __future__ import annotations

from domain.policy.approval import approval_refusal


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
