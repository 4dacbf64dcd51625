"""Policy decisions, approvals, execution and verification results, outcomes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.incident import ResourceRef

Risk = Literal["low", "medium", "high", "deny"]
Outcome = Literal["resolved", "rolled_back", "rejected", "expired", "needs_review", "no_action", "failed"]
OUTCOMES: tuple[str, ...] = (
    "resolved",
    "rolled_back",
    "rejected",
    "expired",
    "needs_review",
    "no_action",
    "failed",
)


class Violation(BaseModel):
    model_config = ConfigDict(frozen=True)

    rule: str
    message: str
    action_index: int | None = None


class PolicyDecision(BaseModel):
    model_config = ConfigDict(frozen=True)

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


class Approval(BaseModel):
    model_config = ConfigDict(frozen=True)

    approver: str
    decision: Literal["approve", "reject"]
    reason: str = ""
    at: datetime | None = None
    plan_hash: str = ""
    via: str = "signal"


class DecisionInput(BaseModel):
    """The payload of the `approve` / `reject` signals and of the `decide` update.

    `temporal workflow signal --name approve --input '{"approver":"alice","reason":"ok"}'` decodes
    into this. `plan_hash`, when given, must be the plan being waited on.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    approver: str = Field(min_length=1, max_length=200)
    reason: str = Field(default="", max_length=2000)
    plan_hash: str | None = None
    # Only for the `decide` update; the signals imply it by their name.
    decision: Literal["approve", "reject"] = "approve"
    # The approver's groups, as the authenticating front end (console, proxy) vouched for them.
    groups: list[str] = Field(default_factory=list, max_length=100)


def approval_refusal(approvers: list[str] | None, approver: str, groups: list[str]) -> str | None:
    """Why `approver` (with `groups`) may not decide on a plan whose policy named `approvers`.

    None when they may: the rules allow anyone ("*"), the user by name ("user:NAME"), or one of
    their groups ("group:NAME").
    """
    if approvers is None or "*" in approvers:
        return None
    principals = {f"user:{approver}", *(f"group:{g}" for g in groups)}
    if principals & set(approvers):
        return None
    allowed = ", ".join(approvers) if approvers else "nobody (no approver rule covers this plan)"
    return f"{approver} is not allowed to decide on this plan; the policy allows: {allowed}"


class Snapshot(BaseModel):
    model_config = ConfigDict(frozen=True)

    incident_id: str
    resource: ResourceRef
    resource_version: str = ""
    generation: int = 0
    # The object's spec (and the labels/annotations medic may touch), as read before the change.
    content: dict[str, Any]


class AppliedChange(BaseModel):
    model_config = ConfigDict(frozen=True)

    action_index: int
    resource: ResourceRef
    changed: bool
    generation: int = 0
    detail: str = ""


class ExecutionResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    changes: list[AppliedChange] = Field(default_factory=list)


class RolloutCheck(BaseModel):
    model_config = ConfigDict(frozen=True)

    resource: ResourceRef
    done: bool
    healthy: bool
    reason: str = ""
    restarts: int = 0


class Verification(BaseModel):
    model_config = ConfigDict(frozen=True)

    ok: bool
    finished: bool
    checks: list[RolloutCheck] = Field(default_factory=list)
    reason: str = ""
