"""A review of a change set: its objects and diffs, findings, cost, rollout and overall risk.

The risk here is derived from the findings alone (high if any finding is high, medium if any is a
warning, low otherwise). The policy's verdict is a separate, later step: a `Review` carries what
its input needs (`domain/review/policy_input.py`: the change set, the findings and
`cost.monthly_delta_usd`), and `with_verdict` adds what the policy said, which may raise the risk
and never lowers it.

With a model configured, `narrative` holds a short text it wrote from the findings, cost, rollout
and verdict (advisory: it is shown, never read back; the verdict is the policy's), or
`narrative_unavailable` says in one line why there is none. Without a model both stay empty.
"""

from __future__ import annotations

from typing import Literal

from domain.base import Frozen
from domain.review.changes import ChangeSet
from domain.review.cost import CostEstimate, Prices, cost_findings, estimate_cost
from domain.review.findings import Finding
from domain.review.rules import find, recommend_rollout
from domain.review.verdict import ReviewVerdict

Risk = Literal["low", "medium", "high"]
_RANK: dict[Risk, int] = {"low": 0, "medium": 1, "high": 2}
REVERSIBLE = "reversible by reverting the commit"
NOTHING_ABOVE_INFO = "no finding above info"


class Review(Frozen):
    changes: ChangeSet
    findings: list[Finding] = []
    cost: CostEstimate = CostEstimate()
    risk: Risk = "low"
    # why the risk is what it is, one line each
    reasons: list[str] = []
    rollout: list[str] = []
    # REVERSIBLE, or what a revert would not undo
    rollback: str = REVERSIBLE
    # what the review policy said; None until it is asked
    verdict: ReviewVerdict | None = None
    # changed files no reviewed application renders: what this review did not look at
    unreviewed_files: list[str] = []
    # a model-written summary of the above; advisory, never the source of risk, verdict or findings
    narrative: str = ""
    # why a configured model gave no narrative, one line (empty when there is one, or no model)
    narrative_unavailable: str = ""


def risk_of(findings: list[Finding]) -> tuple[Risk, list[str]]:
    high = [f.message for f in findings if f.severity == "high"]
    if high:
        return "high", high
    warnings = [f.message for f in findings if f.severity == "warning"]
    if warnings:
        return "medium", warnings
    return "low", [NOTHING_ABOVE_INFO]


def review(changes: ChangeSet, prices: Prices | None = None) -> Review:
    """The deterministic review of `changes`: the same change set always gives the same review."""
    cost = estimate_cost(changes, prices)
    findings = [*find(changes), *cost_findings(cost)]
    risk, reasons = risk_of(findings)
    irreversible = [f for f in findings if f.category == "rollback"]
    rollback = (
        REVERSIBLE
        if not irreversible
        else f"not fully reversible by reverting the commit: {len(irreversible)} finding(s) below"
    )
    return Review(
        changes=changes,
        findings=findings,
        cost=cost,
        risk=risk,
        reasons=reasons,
        rollout=recommend_rollout(changes, findings),
        rollback=rollback,
    )


def with_verdict(review: Review, verdict: ReviewVerdict) -> Review:
    """`review` with the policy's `verdict`: its risk raised to the verdict's (never lowered), and
    its reasons led by the verdict's denials, then warnings. A reason of the review that a
    denial or warning already cites (a high finding's message) is not repeated; when the verdict
    raises the risk, its own reasons (why) follow. Apply it once, to the review `review` made."""
    risk = verdict.risk if _RANK[verdict.risk] > _RANK[review.risk] else review.risk
    cited = [*verdict.denials, *verdict.warnings]
    own = [r for r in review.reasons if not (r and any(line.startswith(r) for line in cited))]
    if cited:
        own = [r for r in own if r != NOTHING_ABOVE_INFO]
    raised = verdict.reasons if risk != review.risk else []
    reasons = list(dict.fromkeys([*cited, *own, *raised]))
    return review.model_copy(update={"verdict": verdict, "risk": risk, "reasons": reasons})
