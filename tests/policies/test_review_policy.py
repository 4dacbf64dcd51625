"""The review policy: allow, warn or deny on a change review, through the real regopy engine.

Each case is a real change set of real-looking manifests, reviewed (`domain.review.review`), put
into the policy's input (`review_policy_input`) and asked of `evaluate_review`, with the shipped
data or a copy of it that the test changes (a directory holding data alone is decided by the
shipped rules).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from domain.review.changes import ChangeSet, change_set
from domain.review.cost import CostEstimate
from domain.review.policy_input import review_policy_input
from domain.review.review import Review, review
from domain.review.verdict import ReviewVerdict
from policies import POLICY_DIR, PolicyError, evaluate_review, load_policy_data
from tests.domain.review_manifests import Manifest, changed, container, deployment


def verdict_of(changes: ChangeSet, policy_dir: Path | None = None, **kwargs: Any) -> ReviewVerdict:
    return evaluate_review(review_policy_input(review(changes)), policy_dir, **kwargs)


def with_data(tmp_path: Path, **config: Any) -> Path:
    """A policy directory of the shipped data with `config` keys replaced (`review` merged)."""
    data = load_policy_data()
    cfg = data["medic"]["config"]
    review_section = config.pop("review", None)
    if review_section is not None:
        cfg["review"] = {**cfg["review"], **review_section}
    cfg.update(config)
    directory = tmp_path / "policy"
    directory.mkdir(parents=True)
    (directory / "data.json").write_text(json.dumps(data))
    return directory


def label_change(namespace: str = "shop") -> ChangeSet:
    before = deployment(namespace=namespace)
    return change_set([before], [changed(before, lambda d: d["metadata"]["labels"].update(team="payments"))])


def image_change(image: str) -> ChangeSet:
    before = deployment()
    return change_set([before], [changed(before, lambda d: container(d).update(image=image))])


def costing(usd: float) -> dict[str, Any]:
    """The input of a harmless change whose cost estimate is `usd` a month."""
    priced = Review(changes=label_change(), cost=CostEstimate(monthly_delta_usd=usd))
    return review_policy_input(priced)


def test_a_harmless_change_is_allowed_at_low_risk() -> None:
    verdict = verdict_of(label_change())
    assert verdict == ReviewVerdict(
        decision="allow",
        risk="low",
        warnings=[],
        denials=[],
        reasons=["risk low: no denial, warning or high-risk namespace"],
    )


# --- protected namespaces --------------------------------------------------------------------


@pytest.mark.parametrize("namespace", ["kube-system", "argocd", "medic"])
def test_a_change_in_a_protected_namespace_is_denied_naming_the_object(namespace: str) -> None:
    verdict = verdict_of(label_change(namespace))
    assert (verdict.decision, verdict.risk) == ("deny", "high")
    assert verdict.denials == [
        f'Deployment/{namespace}/checkout metadata.namespace: namespace "{namespace}" is protected '
        "(protected_namespaces)"
    ]


def test_kube_system_stays_protected_when_the_data_drops_it(tmp_path: Path) -> None:
    directory = with_data(tmp_path, protected_namespaces=[])
    assert verdict_of(label_change("argocd"), directory).decision == "allow"
    assert verdict_of(label_change("kube-system"), directory).decision == "deny"


def test_extra_protected_namespaces_deny_for_the_call_only() -> None:
    assert verdict_of(label_change(), extra_protected_namespaces=["shop"]).decision == "deny"
    assert verdict_of(label_change()).decision == "allow"


def test_a_protected_namespace_object_itself_is_denied() -> None:
    namespace: Manifest = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}}
    relabelled = changed(namespace, lambda n: n["metadata"].update(labels={"team": "platform"}))
    verdict = verdict_of(change_set([namespace], [relabelled]))
    assert verdict.denials == [
        'Namespace/kube-system metadata.name: namespace "kube-system" is protected (protected_namespaces)'
    ]


# --- image repositories ----------------------------------------------------------------------


def test_images_are_not_restricted_while_the_data_lists_no_repository() -> None:
    assert load_policy_data()["medic"]["config"]["image_repositories"] == []
    assert verdict_of(image_change("evil.example.net/miner:1")).decision != "deny"


def test_an_image_from_a_repository_outside_the_list_is_denied(tmp_path: Path) -> None:
    directory = with_data(tmp_path, image_repositories=["registry.example.com/", "docker.io/"])
    verdict = verdict_of(image_change("evil.example.net/miner:1"), directory)
    assert (verdict.decision, verdict.risk) == ("deny", "high")
    assert verdict.denials == [
        "Deployment/shop/checkout spec.template.spec.containers[checkout].image: image "
        "evil.example.net/miner:1 (registry evil.example.net) is not from an allowed repository "
        "(image_repositories)"
    ]
    # A listed prefix allows, and a registry prefix covers images that name no registry.
    assert verdict_of(image_change("registry.example.com/shop/checkout:2.0"), directory).decision == "allow"
    assert verdict_of(image_change("nginx:1.27"), directory).denials == []


def test_an_image_the_object_already_ran_is_not_this_changes_doing(tmp_path: Path) -> None:
    directory = with_data(tmp_path, image_repositories=["ghcr.io/shop/"])
    # registry.example.com is not listed, but the change only relabels the Deployment.
    assert verdict_of(label_change(), directory).denials == []


# --- cost ------------------------------------------------------------------------------------


def test_cost_warns_just_above_the_shipped_threshold_and_not_below() -> None:
    assert load_policy_data()["medic"]["config"]["review"]["cost_warn_monthly_usd"] == 100
    above = evaluate_review(costing(100.01))
    assert (above.decision, above.risk) == ("warn", "medium")
    assert above.warnings == [
        "the change's cost.monthly_delta_usd: +$100.01 per month is above $100.00 "
        "(review.cost_warn_monthly_usd)"
    ]
    below = evaluate_review(costing(99.99))
    assert (below.decision, below.risk, below.warnings) == ("allow", "low", [])


def test_cost_is_denied_above_the_limit_when_one_is_set(tmp_path: Path) -> None:
    assert evaluate_review(costing(10_000)).decision == "warn"  # shipped: no limit
    directory = with_data(tmp_path, review={"cost_deny_monthly_usd": 500})
    denied = evaluate_review(costing(500.5), directory)
    assert (denied.decision, denied.risk, denied.warnings) == ("deny", "high", [])
    assert denied.denials == [
        "the change's cost.monthly_delta_usd: +$500.50 per month is above the limit of $500.00 "
        "(review.cost_deny_monthly_usd)"
    ]
    assert evaluate_review(costing(499), directory).decision == "warn"


def test_a_null_warning_threshold_turns_the_cost_warning_off(tmp_path: Path) -> None:
    directory = with_data(tmp_path, review={"cost_warn_monthly_usd": None})
    assert evaluate_review(costing(5_000), directory).decision == "allow"


# --- findings --------------------------------------------------------------------------------


def selector_change() -> ChangeSet:
    before = deployment()
    other = {"matchLabels": {"app.kubernetes.io/name": "checkout-v2"}}
    return change_set([before], [changed(before, lambda d: d["spec"].update(selector=other))])


def test_a_high_finding_is_a_warning_at_high_risk() -> None:
    verdict = verdict_of(selector_change())
    assert (verdict.decision, verdict.risk, verdict.denials) == ("warn", "high", [])
    [warning] = verdict.warnings
    assert warning.startswith("Deployment shop/checkout: selector ")
    assert warning.endswith("(field spec.selector) (high downtime finding)")
    assert "risk high: 1 high finding(s)" in verdict.reasons


def test_a_finding_about_a_whole_object_is_cited_by_its_message() -> None:
    namespace: Manifest = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "payments"}}
    verdict = verdict_of(change_set([namespace], []))
    assert verdict.warnings == [
        "Namespace payments: deleted; this deletes every object in the namespace (high risk finding)"
    ]


def test_a_category_in_deny_categories_denies(tmp_path: Path) -> None:
    directory = with_data(tmp_path, review={"deny_categories": ["downtime"]})
    verdict = verdict_of(selector_change(), directory)
    assert (verdict.decision, verdict.risk, verdict.warnings) == ("deny", "high", [])
    [denial] = verdict.denials
    assert denial.endswith("(field spec.selector) (category downtime is denied by review.deny_categories)")
    # Another category leaves the finding a warning.
    other = with_data(tmp_path / "other", review={"deny_categories": ["security"]})
    assert verdict_of(selector_change(), other).decision == "warn"


def test_a_warning_finding_makes_the_risk_medium_without_a_policy_warning() -> None:
    # A registry no changed object used before: a security warning.
    verdict = verdict_of(image_change("ghcr.io/shop/checkout:1.15.0"))
    assert (verdict.decision, verdict.risk) == ("allow", "medium")
    assert verdict.reasons == ["risk medium: 1 warning finding(s)"]


# --- risk ------------------------------------------------------------------------------------


def test_a_high_risk_namespace_raises_the_risk_to_medium() -> None:
    verdict = verdict_of(label_change("prod"))
    assert (verdict.decision, verdict.risk) == ("allow", "medium")
    assert verdict.reasons == [
        'risk medium: the change touches namespace "prod", which is high risk (high_risk_namespaces)'
    ]


# --- failing closed --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ({}, "input.objects is not a list"),
        ({**costing(1), "objects": "Deployment/shop/checkout"}, "input.objects is not a list"),
        ({**costing(1), "objects": [{"kind": "Deployment"}]}, "input.objects[0] is not an object"),
        ({**costing(1), "cost": {"monthly_delta_usd": "a lot"}}, "monthly_delta_usd is not a number"),
        (
            {**costing(1), "findings": [{"category": "risk", "severity": "fatal"}]},
            "input.findings[0] is not a finding",
        ),
    ],
)
def test_malformed_input_is_denied(document: dict[str, Any], named: str) -> None:
    verdict = evaluate_review(document)
    assert (verdict.decision, verdict.risk) == ("deny", "high")
    assert any(named in denial for denial in verdict.denials), verdict.denials


def test_bad_review_data_is_refused_when_loaded(tmp_path: Path) -> None:
    directory = with_data(tmp_path, review={"cost_warn_monthly_usd": "100"})
    with pytest.raises(PolicyError, match=r"medic\.config\.review\.cost_warn_monthly_usd is '100'"):
        evaluate_review(costing(1), directory)
    other = with_data(tmp_path / "other", review={"deny_categories": ["style"]})
    with pytest.raises(PolicyError, match="deny_categories"):
        evaluate_review(costing(1), other)


def test_an_incoherent_verdict_raises_policy_error(tmp_path: Path) -> None:
    directory = tmp_path / "policy"
    directory.mkdir()
    shutil.copy(POLICY_DIR / "data.json", directory)
    (directory / "review.rego").write_text(
        'package medic.review\nimport rego.v1\ndecision := {"decision": "allow", "risk": "low", '
        '"warnings": [], "denials": ["no"], "reasons": []}\n'
    )
    with pytest.raises(PolicyError, match="incoherent"):
        evaluate_review(costing(1), directory)


# --- a user's policy directory ---------------------------------------------------------------


def test_a_policy_dir_without_review_rules_is_reviewed_by_the_shipped_ones(tmp_path: Path) -> None:
    directory = with_data(tmp_path, protected_namespaces=["shop"])
    for name in ("remediation.rego", "drift.rego"):
        shutil.copy(POLICY_DIR / name, directory / name)
    # Its data decides: shop is protected there.
    assert verdict_of(label_change(), directory).decision == "deny"
    assert verdict_of(label_change("payments"), directory).decision == "allow"


def test_a_policy_dirs_own_review_rules_replace_the_shipped_ones(tmp_path: Path) -> None:
    directory = with_data(tmp_path)
    shutil.copy(POLICY_DIR / "remediation.rego", directory)
    (directory / "strict.rego").write_text(
        "package medic.review\nimport rego.v1\n"
        'decision := {"decision": "deny", "risk": "high", "warnings": [], '
        '"denials": ["every change waits for the platform team"], "reasons": ["risk high: policy"]}\n'
    )
    verdict = verdict_of(label_change(), directory)
    assert verdict.denials == ["every change waits for the platform team"]
