"""Approvals: a person's decision on a plan, the channel it came through, and whether the policy
lets that person decide through that channel.

Identity is what a channel proves (DESIGN.md rule 7): the console and the API carry the gateway's
authenticated user (verified); a signal and `medic approve --as` carry whatever name and groups the
sender typed (self-asserted). Names are compared in one normal form (`identity_key`), so that
" Alice " and "ａｌｉｃｅ" are the same person as "alice".
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import ConfigDict, Field

from domain.base import Frozen

if TYPE_CHECKING:
    from domain.policy.decision import PolicyDecision

# How a decision reached the workflow: `signal` (`temporal workflow signal`, the Web UI) and `cli`
# (`medic approve --as`) are self-asserted; `console` and `api` carry the gateway's authenticated
# user, `mcp` too (an assistant's `decide` over the gateway's `/mcp`, behind the same login),
# `slack` a Slack user whose request Slack signed and whom the gateway's Slack users file maps to a
# medic user (gateway/slack_interactions.py). None: the sender said nothing (a decision
# recorded before channels, or an update sent by hand), which is self-asserted too.
Channel = Literal["signal", "cli", "console", "api", "slack", "mcp"]
SELF_ASSERTED_CHANNELS: tuple[Channel, ...] = ("signal", "cli")
# The channels counted for a plan needing two or more approvals when its policy decision was made
# before the policy named them (policies/data.json `verified_channels` says the same by default).
DEFAULT_VERIFIED_CHANNELS: tuple[Channel, ...] = ("console", "api", "mcp")


class Approval(Frozen):
    approver: str
    decision: Literal["approve", "reject"]
    reason: str = ""
    at: datetime | None = None
    plan_hash: str = ""
    via: str = "signal"
    channel: Channel | None = None


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
    # The approver's groups. Trusted only from a verified channel (the gateway vouches for them);
    # from a signal or the CLI they are ignored.
    groups: list[str] = Field(default_factory=list, max_length=100)
    # Set by the sender of the `decide` update (the gateway, the CLI); a signal's is always `signal`,
    # whatever its payload says.
    channel: Channel | None = None


def identity_key(name: str) -> str:
    """The form in which approver names are compared: surrounding space stripped, Unicode NFKC,
    casefolded. "Alice", " alice " and the fullwidth "ａｌｉｃｅ" all give "alice"."""
    # NFKC again after casefolding: casefolding can leave a string that is not NFKC any more.
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    return folded.strip()


def is_verified(channel: Channel | None, verified: Sequence[str]) -> bool:
    return channel is not None and channel in verified


def approval_refusal(approvers: list[str] | None, approver: str, groups: list[str]) -> str | None:
    """Why `approver` (with `groups`) may not decide on a plan whose policy named `approvers`.

    None when they may: the rules allow anyone ("*"), the user by name ("user:NAME"), or one of
    their groups ("group:NAME"). Names are matched on their `identity_key`; group names as written.
    """
    if approvers is None or "*" in approvers:
        return None
    users = {identity_key(p.removeprefix("user:")) for p in approvers if p.startswith("user:")}
    if identity_key(approver) in users or {f"group:{g}" for g in groups} & set(approvers):
        return None
    allowed = ", ".join(approvers) if approvers else "nobody (no approver rule covers this plan)"
    return f"{approver} is not allowed to decide on this plan; the policy allows: {allowed}"


def verified_channels(policy: PolicyDecision) -> list[str]:
    """The channels whose identity the policy trusts; a decision made before the policy named
    them: the console and the API."""
    if policy.verified_channels is None:
        return list(DEFAULT_VERIFIED_CHANNELS)
    return list(policy.verified_channels)


def decision_refusal(
    policy: PolicyDecision | None,
    taken: Sequence[Approval],
    decision: DecisionInput,
    requester: str | None = None,
) -> str | None:
    """Why the policy's rules refuse `decision` on a plan that already has the decisions `taken`
    (this round's), or None when it counts.

    One person decides once, however their name is written. An approval through a self-asserted
    channel counts only where the policy says it does (`self_asserted_counts`: not for a plan that
    needs two or more approvals), so such a channel never supplies a second approver. Groups are
    believed only from a verified channel. A rejection counts from any channel: stopping a change
    needs no proof of who asks.

    `requester`: who asked for the change (a change request's incident), who may never approve it,
    whatever the channel or the policy's approvers; they may reject it.
    """
    name = identity_key(decision.approver)
    if decision.decision == "approve" and requester is not None and identity_key(requester) == name:
        return (
            f"{decision.approver} requested this change and cannot approve it: another person must "
            "(a requester may still reject, and so withdraw, their own request)"
        )
    earlier = next((a for a in taken if identity_key(a.approver) == name), None)
    if earlier is not None:
        return f"{decision.approver} has already decided on this plan (as {earlier.approver})"
    if policy is None:
        return None
    verified = verified_channels(policy)
    trusted = is_verified(decision.channel, verified)
    if decision.decision == "approve" and not trusted and not policy.self_asserted_counts:
        return (
            f"an approval through {decision.channel or 'an unnamed channel'} is self-asserted and does not "
            f"count for a plan that needs {policy.approvals_required} approvals; approve through "
            f"{' or '.join(verified) or 'a verified channel'}"
        )
    return approval_refusal(policy.approvers, decision.approver, decision.groups if trusted else [])
