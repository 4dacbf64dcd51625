"""A review's overall risk and rollback line, derived from its findings."""

from __future__ import annotations

from domain.review.changes import ObjectRef, change_set
from domain.review.findings import Finding
from domain.review.review import REVERSIBLE, review, risk_of
from tests.domain.review_manifests import changed, container, deployment, pvc

REF = ObjectRef(api_version="apps/v1", kind="Deployment", namespace="shop", name="checkout")


def finding(severity: str, message: str) -> Finding:
    return Finding.model_validate(
        {"category": "risk", "severity": severity, "object": REF, "message": message}
    )


def test_risk_is_high_with_any_high_finding_and_names_only_those() -> None:
    risk, reasons = risk_of([finding("warning", "w"), finding("high", "h"), finding("info", "i")])
    assert (risk, reasons) == ("high", ["h"])


def test_risk_is_medium_with_warnings_and_low_otherwise() -> None:
    assert risk_of([finding("warning", "w"), finding("info", "i")]) == ("medium", ["w"])
    assert risk_of([finding("info", "i")]) == ("low", ["no finding above info"])
    assert risk_of([]) == ("low", ["no finding above info"])


def test_plain_image_bump_is_low_risk_and_reversible() -> None:
    before = deployment()
    result = review(
        change_set(
            [before],
            [
                changed(
                    before, lambda d: container(d).update(image="registry.example.com/shop/checkout:1.15.0")
                )
            ],
        )
    )
    assert result.risk == "low"
    assert result.rollback == REVERSIBLE
    assert result.cost.monthly_delta_usd == 0


def test_deleted_claim_is_high_risk_and_not_reversible() -> None:
    result = review(change_set([pvc()], []))
    assert result.risk == "high"
    assert result.rollback.startswith("not fully reversible by reverting the commit")
    assert result.cost.monthly_delta_usd < 0
