"""What the policy decided about a plan: allowed or not, the risk, and the approvals it needs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from domain.base import Frozen

Risk = Literal["low", "medium", "high", "deny"]
# What medic may do in a namespace (policy data `modes`): `observe` shows the change a fix would
# make and makes none; `propose` makes every change wait for a human; `auto` lets the policy run a
# low-risk plan unattended.
Mode = Literal["observe", "propose", "auto"]
MODES: tuple[Mode, ...] = ("observe", "propose", "auto")


class Violation(Frozen):
    rule: str
    message: str
    action_index: int | None = None


class PolicyDecision(Frozen):
    allowed: bool
    risk: Risk
    approvals_required: int = Field(default=1, ge=0)
    auto_execute: bool = False
    violations: list[Violation] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)
    # Seconds an approval may be waited for; None: the worker's configured default.
    approval_timeout_seconds: int | None = None
    # Who may approve this plan: "user:NAME", "group:NAME" or "*" (anyone), from the policy's
    # `approvers` rules. None (decisions made before the rules existed): anyone.
    approvers: list[str] | None = None
    # The channels whose identity the policy trusts ("console", "api", "mcp"; see domain.policy.approval),
    # from the data's `verified_channels`. None (decisions made before channels): console and API.
    verified_channels: list[str] | None = None
    # Whether an approval through any other channel (a signal, `medic approve --as`) counts for
    # this plan: not where it needs two or more approvals. True (decisions made before): it does.
    self_asserted_counts: bool = True
    # The plan's mode: the most careful of its namespaces' modes. None (decisions made before
    # modes): the decision's `auto_execute` alone says whether the plan waits for a human.
    mode: Mode | None = None
