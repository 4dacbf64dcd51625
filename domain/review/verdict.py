"""What the review policy (policies/review.rego) says of a change: allow, warn or deny, and why.

`decision` is `deny` when there is a denial, else `warn` when there is a warning, else `allow`;
a denial always makes the risk high. Every denial and warning is one line naming the object and
the field it is about.
"""

from __future__ import annotations

from typing import Literal

from domain.base import Frozen

ReviewDecision = Literal["allow", "warn", "deny"]
VerdictRisk = Literal["low", "medium", "high"]


class ReviewVerdict(Frozen):
    decision: ReviewDecision
    risk: VerdictRisk
    warnings: list[str] = []
    denials: list[str] = []
    # why the risk is what it is, one line each
    reasons: list[str] = []
