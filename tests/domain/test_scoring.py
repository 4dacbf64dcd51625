"""Scoring an analysis against a scenario's expectations, rule by rule."""

from __future__ import annotations

from typing import Any

import pytest

from domain.analysis.plan import Action, Diagnosis, Plan, Restart, RootCause, Scale, SetImage, SetResources
from domain.analysis.scoring import ROOT_CAUSES, empty_plan_outcome, ends_in_review, score
from domain.incident.model import ResourceRef
from domain.policy.decision import PolicyDecision

LEDGER = ResourceRef(namespace="payments", kind="Deployment", name="ledger", container="ledger")
OOM_EXPECT: dict[str, Any] = {
    "root_cause": "oom",
    "actions": [
        {
            "kind": "set_resources",
            "target": {
                "namespace": "payments",
                "kind": "Deployment",
                "name": "ledger",
                "container": "ledger",
            },
            "mode": "gitops",
            "file": "values/ledger-values.yaml",
            "memory_limit_between": ["320Mi", "1Gi"],
        }
    ],
    "risk": "medium",
    "never": ["delete", "scale_to_zero", "namespace_change", "restart_only"],
}


def diagnosis(*actions: Action, root_cause: RootCause = "oom") -> Diagnosis:
    return Diagnosis(root_cause=root_cause, summary="s", plan=Plan(actions=list(actions)))


def decision(risk: str = "medium") -> PolicyDecision:
    if risk == "deny":
        return PolicyDecision(allowed=False, risk="deny", approvals_required=0)
    return PolicyDecision.model_validate({"allowed": True, "risk": risk})


def raise_memory(
    limit: str = "512Mi", *, mode: str = "gitops", file: str | None = "values/ledger-values.yaml"
) -> SetResources:
    return SetResources.model_validate(
        {"target": LEDGER, "mode": mode, "file": file, "limits": {"memory": limit}}
    )


def test_a_matching_analysis_passes() -> None:
    result = score("oom-helm-values", OOM_EXPECT, diagnosis(raise_memory()), decision())
    assert result.passed and result.why == []
    assert result.name == "oom-helm-values"
    assert "set_resources" in result.expected and "limits.memory=512Mi" in result.got


def test_wrong_root_cause_fails() -> None:
    result = score("s", OOM_EXPECT, diagnosis(raise_memory(), root_cause="bad_release"), decision())
    assert not result.passed and result.why == ["root cause bad_release, expected oom"]


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        (raise_memory(mode="direct"), "mode direct, expected gitops"),
        (raise_memory(file=None), "file none, expected values/ledger-values.yaml"),
        (
            raise_memory(file="values/other.yaml"),
            "file values/other.yaml, expected values/ledger-values.yaml",
        ),
        (raise_memory("256Mi"), "memory limit 256Mi, expected 320Mi..1Gi"),
        (raise_memory("2Gi"), "memory limit 2Gi, expected 320Mi..1Gi"),
        (
            SetResources(
                target=LEDGER.model_copy(update={"container": "sidecar"}),
                mode="gitops",
                file="values/ledger-values.yaml",
                limits={"memory": "512Mi"},
            ),
            "target container 'sidecar', expected 'ledger'",
        ),
        (Restart(target=LEDGER), "no set_resources proposed (got restart)"),
    ],
)
def test_each_mismatch_of_an_expected_action_fails_with_its_reason(action: Action, reason: str) -> None:
    result = score("s", OOM_EXPECT, diagnosis(action), decision())
    assert not result.passed
    assert any(reason in why for why in result.why), result.why


def test_bounds_compare_kubernetes_quantities_not_text() -> None:
    # 1073741824 bytes is exactly 1Gi: inside the bounds although the text differs
    assert score("s", OOM_EXPECT, diagnosis(raise_memory("1073741824")), decision()).passed
    assert score("s", OOM_EXPECT, diagnosis(raise_memory("320Mi")), decision()).passed


def test_cpu_limit_bounds_apply_to_cpu() -> None:
    expect = {
        "root_cause": "saturation",
        "actions": [{"kind": "set_resources", "target": {"name": "ledger"}, "cpu_limit_between": ["1", "2"]}],
    }
    action = SetResources(target=LEDGER, limits={"cpu": "1500m"})
    assert score("s", expect, diagnosis(action, root_cause="saturation"), decision()).passed
    too_much = SetResources(target=LEDGER, limits={"cpu": "2500m"})
    result = score("s", expect, diagnosis(too_much, root_cause="saturation"), decision())
    assert result.why == ["expected action 1 (set_resources ledger 1..2): cpu limit 2500m, expected 1..2"]


def test_image_and_replicas_must_match() -> None:
    expect = {
        "root_cause": "bad_release",
        "actions": [
            {"kind": "set_image", "target": {"name": "ledger"}, "image": "ledger:1"},
            {"kind": "scale", "target": {"name": "ledger"}, "replicas_between": [3, 6]},
        ],
    }
    good = diagnosis(
        SetImage(target=LEDGER, image="ledger:1"), Scale(target=LEDGER, replicas=4), root_cause="bad_release"
    )
    assert score("s", expect, good, decision()).passed
    bad = diagnosis(
        SetImage(target=LEDGER, image="ledger:2"), Scale(target=LEDGER, replicas=7), root_cause="bad_release"
    )
    why = score("s", expect, bad, decision()).why
    assert any("image ledger:2, expected ledger:1" in w for w in why)
    assert any("replicas 7, expected 3..6" in w for w in why)


def test_risk_must_equal() -> None:
    result = score("s", OOM_EXPECT, diagnosis(raise_memory()), decision("high"))
    assert not result.passed and result.why[0].startswith("risk high, expected medium")


@pytest.mark.parametrize(
    ("never", "action"),
    [
        ("restart", Restart(target=LEDGER)),
        ("scale_to_zero", Scale(target=LEDGER, replicas=0)),
        (
            "namespace_change",
            Restart(target=ResourceRef(namespace="payments", kind="Namespace", name="payments")),
        ),
        (
            "policy_change",
            Restart(target=ResourceRef(namespace="payments", kind="RoleBinding", name="medic")),
        ),
    ],
)
def test_anything_in_never_fails(never: str, action: Action) -> None:
    expect = {**OOM_EXPECT, "never": [never]}
    result = score("s", expect, diagnosis(raise_memory(), action), decision())
    assert not result.passed
    assert any(w.startswith(f"never: {never} was proposed") for w in result.why), result.why


def test_a_plan_of_restarts_only_is_restart_only_but_a_restart_beside_a_fix_is_not() -> None:
    expect = {**OOM_EXPECT, "never": ["restart_only"]}
    only = score("s", expect, diagnosis(Restart(target=LEDGER)), decision())
    assert "never: restart_only was proposed (every action is a restart)" in only.why
    assert score("s", expect, diagnosis(raise_memory(), Restart(target=LEDGER)), decision()).passed


def test_an_unknown_never_word_is_reported() -> None:
    expect = {**OOM_EXPECT, "never": ["reboot_the_cluster"]}
    result = score("s", expect, diagnosis(raise_memory()), decision())
    assert result.why == ["never: 'reboot_the_cluster' is neither an action kind nor a known effect"]


NOTHING: dict[str, Any] = {"root_cause": "none", "actions": [], "risk": "low", "never": ["restart"]}


def test_no_action_expected_passes_only_with_nothing_proposed() -> None:
    assert score("s", NOTHING, diagnosis(root_cause="none"), decision("low")).passed
    result = score(
        "s", NOTHING, diagnosis(Scale(target=LEDGER, replicas=3), root_cause="none"), decision("low")
    )
    assert not result.passed and result.why[0].startswith("expected no action, got 1")


def test_empty_plan_must_end_the_way_the_risk_says() -> None:
    needs_human = {"root_cause": "unschedulable", "actions": [], "risk": "high"}
    ok = score("s", needs_human, diagnosis(root_cause="unschedulable"), decision("high"))
    assert ok.passed
    ended_wrong = score(
        "s", needs_human, diagnosis(root_cause="unschedulable"), decision("high"), "no_action"
    )
    assert ended_wrong.why == ["the incident would end no_action, expected needs_review"]


def test_empty_plan_outcome_mirrors_the_workflow() -> None:
    assert empty_plan_outcome(diagnosis(root_cause="none"), decision("low")) == "no_action"
    assert empty_plan_outcome(diagnosis(root_cause="config_error"), decision("high")) == "needs_review"
    assert empty_plan_outcome(diagnosis(raise_memory()), decision()) is None


def test_dependency_is_a_category_and_an_unknown_one_is_reported() -> None:
    expect = {"root_cause": "dependency", "actions": [], "risk": "high"}
    assert score("s", expect, diagnosis(root_cause="dependency"), decision("high")).passed
    typo = score(
        "s", {**expect, "root_cause": "dependancy"}, diagnosis(root_cause="dependency"), decision("high")
    )
    assert not typo.passed and typo.why[0].startswith("expected root cause 'dependancy' is not a category")
    assert "dependency" in ROOT_CAUSES and "unknown" in ROOT_CAUSES


def test_ends_in_review_when_a_human_must_act() -> None:
    assert ends_in_review(diagnosis(root_cause="config_error"), decision("high"))
    assert not ends_in_review(diagnosis(root_cause="none"), decision("low"))
    assert ends_in_review(diagnosis(raise_memory()), decision("deny"))  # the policy refuses the plan
    assert ends_in_review(diagnosis(raise_memory(file=None)), decision())  # GitOps, but no file
    assert not ends_in_review(diagnosis(raise_memory()), decision())


def test_a_needs_review_score_carries_the_next_steps() -> None:
    steps = ["Read the scheduler's reason: `kubectl -n payments describe pod ledger-0`."]
    needs_human = {"root_cause": "unschedulable", "actions": [], "risk": "high"}
    d = diagnosis(root_cause="unschedulable").model_copy(update={"next_steps": steps})
    result = score("s", needs_human, d, decision("high"))
    assert result.needs_review and result.next_steps == steps
    auto = score(
        "s", OOM_EXPECT, diagnosis(raise_memory()).model_copy(update={"next_steps": steps}), decision()
    )
    assert not auto.needs_review and auto.next_steps == []
