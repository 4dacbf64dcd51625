"""A review with the policy's verdict: the risk only rises, and denials and warnings lead."""

from __future__ import annotations

from domain.review.changes import change_set
from domain.review.review import Review, review, with_verdict
from domain.review.verdict import ReviewVerdict
from tests.domain.review_manifests import changed, container, deployment


def medium_review() -> Review:
    before = deployment()
    # An image from a registry no changed object used before: a security warning.
    result = review(
        change_set(
            [before], [changed(before, lambda d: container(d).update(image="ghcr.io/shop/checkout:2"))]
        )
    )
    assert result.risk == "medium"
    return result


def test_the_verdict_raises_the_risk_and_its_lines_lead_the_reasons() -> None:
    base = medium_review()
    verdict = ReviewVerdict(
        decision="deny",
        risk="high",
        denials=['Deployment/shop/checkout metadata.namespace: namespace "shop" is protected'],
        warnings=["the change's cost.monthly_delta_usd: +$120.00 per month is above $100.00"],
        reasons=["risk high: 1 denial(s)"],
    )
    result = with_verdict(base, verdict)
    assert result.verdict == verdict
    assert result.risk == "high"
    assert result.reasons == [*verdict.denials, *verdict.warnings, *base.reasons, "risk high: 1 denial(s)"]
    assert base.verdict is None  # the review it was given is unchanged


def test_the_verdict_never_lowers_the_risk() -> None:
    base = medium_review()
    result = with_verdict(base, ReviewVerdict(decision="allow", risk="low", reasons=["risk low: nothing"]))
    assert result.risk == "medium"
    assert result.reasons == base.reasons  # a verdict that raises nothing explains nothing
    assert result.verdict is not None and result.verdict.decision == "allow"


def test_a_finding_the_verdict_already_cites_is_not_repeated() -> None:
    base = Review(
        changes=change_set([], []), risk="high", reasons=["Deployment shop/checkout: privileged container"]
    )
    warning = (
        "Deployment shop/checkout: privileged container (field spec.template.spec.containers[checkout]"
        ".securityContext.privileged) (high security finding)"
    )
    result = with_verdict(base, ReviewVerdict(decision="warn", risk="high", warnings=[warning]))
    assert result.reasons == [warning]
