"""Approvals: a person's decision on a plan, and whether the policy lets that person decide."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field

from domain.base import Frozen


class Approval(Frozen):
    approver: str
    decision: Literal["approve", "reject"]
    reason: str = ""
    at: datetime | None = None
    plan_hash: str = ""
    via: str = "signal"


class DecisionInput(Frozen):
    """The payload of the `approve` / `reject` signals and of the `decide` update.

    `temporal workflow signal --name approve --input '{"approver":"alice","reason":"ok"}'` decodes
    into this. `plan_hash`, when given, must be the plan being waited on.
    """

    model_config = ConfigDict(extra="forbid")

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
