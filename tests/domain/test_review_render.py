"""A review as a pull-request comment and as JSON: marked, redacted, split but never cut."""

from __future__ import annotations

import json

from domain.review.changes import ChangeSet, change_set
from domain.review.render import GITHUB_COMMENT_LIMIT, MARKER, NO_APPLICATION, render_markdown, to_json
from domain.review.review import review, with_verdict
from domain.review.verdict import ReviewVerdict
from tests.domain.review_manifests import Manifest, changed, container, deployment, secret

SECRET_VALUE = "s3cr3t-Pa55word-2026"
TOKEN = "ghp_16C7e42F292c6912E7710c838347Ae178B4a"


def risky_change() -> ChangeSet:
    before = deployment(replicas=1)

    def edit(d: Manifest) -> None:
        d["spec"]["replicas"] = 1
        d["spec"]["strategy"] = {"type": "Recreate"}
        container(d)["image"] = "registry.example.com/shop/checkout:latest"
        container(d)["env"].append({"name": "GITHUB_TOKEN", "value": TOKEN})
        container(d)["resources"]["requests"]["memory"] = "2Gi"

    first = change_set(
        [before, secret(value="0ld-Pa55word-2025")], [changed(before, edit), secret(value=SECRET_VALUE)]
    )
    return ChangeSet(
        objects=[
            o.model_copy(update={"application": "shop"}) if o.ref.kind == "Deployment" else o
            for o in first.objects
        ]
    )


def test_comment_carries_marker_risk_findings_cost_and_diffs_in_one_part() -> None:
    result = review(risky_change())
    [comment] = render_markdown(result)
    assert comment.startswith(MARKER + "\n")
    assert "risk **high**" in comment
    assert "spec.strategy.type" in comment and "tag latest" in comment
    assert "per month (OpenCost default list prices (GCP us-central1))" in comment
    assert "Deployment shop/checkout (modified, application shop)" in comment
    assert "Secret shop/checkout-db (modified)" in comment
    assert "raise replicas to 2" in comment


def test_secret_and_token_values_never_appear_in_comment_or_json() -> None:
    result = review(risky_change())
    outputs = [*render_markdown(result), json.dumps(to_json(result)), result.model_dump_json()]
    for text in outputs:
        assert SECRET_VALUE not in text
        assert TOKEN not in text
    assert "GITHUB_TOKEN" in outputs[0]


def test_json_groups_objects_by_application_and_carries_risk_findings_and_cost() -> None:
    out = to_json(review(risky_change()))
    assert sorted(app["name"] for app in out["applications"]) == [NO_APPLICATION, "shop"]
    shop = next(app for app in out["applications"] if app["name"] == "shop")
    [obj] = shop["objects"]
    assert {k: obj[k] for k in ("kind", "namespace", "name")} == {
        "kind": "Deployment",
        "namespace": "shop",
        "name": "checkout",
    }
    assert obj["diff"].startswith("--- a/Deployment/shop/checkout")
    assert out["risk"] == "high"
    assert {"category", "severity", "object", "message"} <= set(out["findings"][0])
    assert out["findings"][0]["object"]["ref"].startswith(("Deployment/shop/", "Secret/shop/"))
    assert out["cost"]["basis"] == "OpenCost default list prices (GCP us-central1)"
    assert out["cost"]["monthly_delta_usd"] > 0
    assert out["policy"] is None  # the policy has not been asked


DENIAL = 'Deployment/shop/checkout metadata.namespace: namespace "shop" is protected (protected_namespaces)'
WARNING = (
    "the change's cost.monthly_delta_usd: +$120.00 per month is above $100.00 (review.cost_warn_monthly_usd)"
)


def test_comment_and_json_carry_the_policys_decision_denials_and_warnings() -> None:
    verdict = ReviewVerdict(
        decision="deny", risk="high", denials=[DENIAL], warnings=[WARNING], reasons=["risk high: 1 denial(s)"]
    )
    result = with_verdict(review(risky_change()), verdict)
    [comment] = render_markdown(result)
    assert "risk **high**, policy **deny**" in comment
    assert f"**Policy:** deny\n- denied: {DENIAL}\n- warning: {WARNING}\n" in comment
    assert comment.count(DENIAL) == 1 and comment.count(WARNING) == 1  # not again among the reasons
    out = to_json(result)
    assert out["policy"] == {
        "decision": "deny",
        "risk": "high",
        "warnings": [WARNING],
        "denials": [DENIAL],
        "reasons": ["risk high: 1 denial(s)"],
    }
    assert out["reasons"][:2] == [DENIAL, WARNING]


def test_an_allowing_policy_is_shown_without_lines() -> None:
    before = deployment()
    plain = review(
        change_set([before], [changed(before, lambda d: d["metadata"]["labels"].update(team="x"))])
    )
    result = with_verdict(plain, ReviewVerdict(decision="allow", risk="low"))
    [comment] = render_markdown(result)
    assert "risk **low**, policy **allow**" in comment and "**Policy:** allow\n\n" in comment
    assert to_json(result)["policy"]["decision"] == "allow"


def test_low_risk_without_findings() -> None:
    before = deployment()
    result = review(
        change_set([before], [changed(before, lambda d: d["metadata"]["labels"].update(team="payments"))])
    )
    assert result.risk == "low" and result.findings == []
    out = to_json(result)
    assert out["risk"] == "low" and out["cost"]["monthly_delta_usd"] == 0


def test_huge_change_set_is_split_into_numbered_parts_within_the_limit() -> None:
    names = [f"service-{i:03d}" for i in range(150)]
    before = [deployment(name, replicas=2) for name in names]
    after = [changed(d, lambda d: d["metadata"].update(annotations={"note": "x" * 400})) for d in before]
    # One object whose diff alone is longer than a part.
    after[0]["metadata"]["annotations"] = {f"note-{i}": "y" * 200 for i in range(200)}
    limit = 12_000
    parts = render_markdown(review(change_set(before, after)), limit=limit)
    assert len(parts) > 3
    for i, part in enumerate(parts, 1):
        assert len(part) <= limit
        assert part.startswith(MARKER + "\n")
        assert f"part {i} of {len(parts)}" in part
    joined = "".join(parts)
    assert all(f"Deployment shop/{name}" in joined for name in names)
    assert "diff lines 1–" in joined  # the long diff says where each piece starts
    assert all(f"note-{i}: " in joined for i in range(200))  # nothing of it is dropped


def test_default_limit_is_githubs() -> None:
    assert GITHUB_COMMENT_LIMIT == 65_536
    names = [f"service-{i:03d}" for i in range(50)]
    before = [deployment(name) for name in names]
    after = [changed(d, lambda d: d["metadata"].update(annotations={"note": "z" * 2000})) for d in before]
    parts = render_markdown(review(change_set(before, after)))
    assert len(parts) > 1 and all(len(part) <= GITHUB_COMMENT_LIMIT for part in parts)
