"""The remediation policy on the revert of a degraded deploy: at least medium risk and one approval,
none for an Application whose deploy_watch entry sets auto_approve_revert, and only ever the
revert of the incident's own deploy. Every case runs the real engine."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from cli.embedded import open_policy
from domain.analysis.plan import Diagnosis, Plan, RevertDeploy
from domain.deploy.incident import deploy_diagnosis, deploy_incident
from domain.deploy.model import DeployRegression, Verdict, WorkloadRef
from domain.incident.model import Incident, ResourceRef
from domain.kube.observation import ArgoApplication, Observation, Workload
from domain.policy.decision import PolicyDecision
from domain.policy.input import diagnosis_policy_input
from policies import POLICY_DIR, PolicyError, check_deploy_watch, deploy_watch_rules, evaluate

REVISION = "abc1234def5678abc1234def5678abc1234def56"
PREVIOUS = "0011223344556677889900112233445566778899"


def policy(tmp_path: Path, applications: dict[str, Any], *, mode: str = "auto") -> Path:
    """The shipped rules and data, in `mode` with open approvers, with these deploy_watch entries."""
    base = open_policy(tmp_path / "base", mode) if mode != "propose" else POLICY_DIR
    directory = tmp_path / "policy"
    directory.mkdir(parents=True)
    for rego in POLICY_DIR.glob("*.rego"):
        shutil.copy(rego, directory / rego.name)
    data = json.loads((base / "data.json").read_text())
    data["medic"]["config"]["deploy_watch"]["applications"] = applications
    (directory / "data.json").write_text(json.dumps(data))
    return directory


def deploy(application: str = "shop-cart", namespace: str = "shop") -> tuple[Incident, Observation]:
    workload = WorkloadRef(namespace=namespace, kind="Deployment", name=application)
    regression = DeployRegression(
        watch_id=f"deploy/argocd/{application}/abc1234def56",
        application=application,
        revision=REVISION,
        previous_revision=PREVIOUS,
        verdict=Verdict(state="degraded", summary=f"deploy abc1234 of app {application} made p99 2.4× worse"),
        workloads=[workload],
    )
    incident = deploy_incident(regression.watch_id, regression)
    ref = ResourceRef(namespace=namespace, kind="Deployment", name=application)
    observation = Observation(
        incident_id=incident.id,
        workloads=[Workload(id=f"workload/{ref.key}", ref=ref, replicas=2)],
        argocd=[ArgoApplication(id=f"argocd/argocd/{application}", name=application)],
    )
    return incident, observation


def decide(
    directory: Path, incident: Incident, observation: Observation, diagnosis: Diagnosis
) -> PolicyDecision:
    return evaluate(diagnosis_policy_input(incident, observation, diagnosis), policy_dir=directory)


def test_a_revert_needs_one_approval_by_default(tmp_path: Path) -> None:
    incident, observation = deploy()
    diagnosis = deploy_diagnosis(incident, observation)
    assert [a.kind for a in diagnosis.plan.actions] == ["revert_deploy"]
    for mode in ("auto", "propose"):
        decision = decide(policy(tmp_path / mode, {}, mode=mode), incident, observation, diagnosis)
        assert decision.allowed and decision.risk == "medium"
        assert (decision.approvals_required, decision.auto_execute) == (1, False)
        assert any("the revert of a deploy is at least medium risk" in r for r in decision.reasons)


def test_auto_approve_revert_lets_that_applications_revert_run_unattended(tmp_path: Path) -> None:
    directory = policy(tmp_path, {"shop-cart": {"auto_approve_revert": True}, "billing": {"p99_factor": 2}})
    incident, observation = deploy()
    decision = decide(directory, incident, observation, deploy_diagnosis(incident, observation))
    assert decision.allowed and decision.risk == "medium"
    assert (decision.approvals_required, decision.auto_execute) == (0, True)
    assert any("auto_approve_revert" in r for r in decision.reasons)
    # another Application's revert still waits for a human
    incident, observation = deploy("billing")
    decision = decide(directory, incident, observation, deploy_diagnosis(incident, observation))
    assert (decision.approvals_required, decision.auto_execute) == (1, False)


def test_the_namespaced_entry_wins_over_the_named_one(tmp_path: Path) -> None:
    directory = policy(
        tmp_path,
        {"shop-cart": {"auto_approve_revert": True}, "argocd/shop-cart": {"auto_approve_revert": False}},
    )
    incident, observation = deploy()
    decision = decide(directory, incident, observation, deploy_diagnosis(incident, observation))
    assert (decision.approvals_required, decision.auto_execute) == (1, False)


def test_auto_approve_revert_needs_auto_mode_and_the_deploy_watchs_plan(tmp_path: Path) -> None:
    incident, observation = deploy()
    diagnosis = deploy_diagnosis(incident, observation)
    proposing = policy(tmp_path / "propose", {"shop-cart": {"auto_approve_revert": True}}, mode="propose")
    waiting = decide(proposing, incident, observation, diagnosis)
    assert (waiting.approvals_required, waiting.auto_execute) == (1, False)
    # the approver is told why the Application's setting did not apply
    assert (
        "shop-cart sets auto_approve_revert, which applies only in auto mode: "
        "namespace shop is in propose mode" in waiting.reasons
    )
    auto = policy(tmp_path / "auto", {"shop-cart": {"auto_approve_revert": True}})
    forged = diagnosis.model_copy(update={"analyzer": "anthropic"})
    decision = decide(auto, incident, observation, forged)
    assert (decision.approvals_required, decision.auto_execute) == (1, False)


def test_a_revert_in_a_non_deploy_incident_is_denied(tmp_path: Path) -> None:
    directory = policy(tmp_path, {"shop-cart": {"auto_approve_revert": True}})
    incident, observation = deploy()
    diagnosis = deploy_diagnosis(incident, observation)
    forged = Incident(id="alert-1", source="alert", targets=incident.targets)
    decision = decide(directory, forged, observation, diagnosis)
    assert not decision.allowed
    assert [v.rule for v in decision.violations] == ["revert_not_of_the_deploy"]


def test_a_revert_of_another_application_is_denied(tmp_path: Path) -> None:
    directory = policy(tmp_path, {"shop-cart": {"auto_approve_revert": True}})
    incident, observation = deploy()
    action = RevertDeploy(
        target=incident.targets[0], application="billing", revision=REVISION, previous_revision=PREVIOUS
    )
    diagnosis = Diagnosis(
        root_cause="bad_release", summary="revert", plan=Plan(actions=[action]), analyzer="deploy-watch"
    )
    decision = decide(directory, incident, observation, diagnosis)
    assert not decision.allowed
    assert [v.rule for v in decision.violations] == ["revert_not_of_the_deploy"]


def test_protected_namespaces_still_deny_an_auto_approved_revert(tmp_path: Path) -> None:
    directory = policy(tmp_path, {"medic-app": {"auto_approve_revert": True}})
    incident, observation = deploy("medic-app", namespace="kube-system")
    decision = decide(directory, incident, observation, deploy_diagnosis(incident, observation))
    assert not decision.allowed
    assert "protected_namespace" in [v.rule for v in decision.violations]


@pytest.mark.parametrize("value", ["yes", 1, None, [True]])
def test_auto_approve_revert_must_be_a_boolean(value: Any) -> None:
    data = json.loads((POLICY_DIR / "data.json").read_text())
    data["medic"]["config"]["deploy_watch"]["applications"] = {"shop-cart": {"auto_approve_revert": value}}
    with pytest.raises(PolicyError, match=r"auto_approve_revert is .*; it must be true or false"):
        check_deploy_watch(data)


def test_auto_approve_revert_is_no_watch_rule(tmp_path: Path) -> None:
    directory = policy(tmp_path, {"shop-cart": {"auto_approve_revert": True, "p99_factor": 2}})
    assert deploy_watch_rules("shop-cart", "argocd", directory).p99_factor == 2
    data = json.loads((POLICY_DIR / "data.json").read_text())
    data["medic"]["config"]["deploy_watch"]["defaults"] = {"auto_approve_revert": True}
    with pytest.raises(PolicyError, match="unknown key"):
        check_deploy_watch(data)
