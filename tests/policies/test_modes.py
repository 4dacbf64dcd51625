"""Modes per namespace: which mode a plan is in, and what each mode lets the policy decide.

observe: the decision says so and nothing runs unattended; propose: every plan waits for a human;
auto: a low-risk plan of the deterministic rules may run unattended. Bad mode data is refused when
the policy is loaded, in one line that names the key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from domain.analysis.plan import Plan, Restart, Scale
from domain.incident.model import Incident, ResourceRef
from domain.kube.observation import ContainerSpec, Observation, Workload
from domain.policy.decision import PolicyDecision
from domain.policy.input import build_policy_input
from policies import POLICY_DIR, PolicyError, evaluate, load_policy_data


def ref(namespace: str = "shop", name: str = "web") -> ResourceRef:
    return ResourceRef(namespace=namespace, kind="Deployment", name=name)


def seen(*refs: ResourceRef) -> Observation:
    return Observation(
        incident_id="inc-1",
        workloads=[
            Workload(
                id=f"workload:{r.namespace}/{r.name}",
                ref=r,
                replicas=2,
                containers=[ContainerSpec(name=r.name, image="registry.example/web:1")],
            )
            for r in refs
        ],
    )


def scale_up(*refs: ResourceRef, policy_dir: Path | None = None) -> PolicyDecision:
    """The offline rules' scale-up of each of `refs` from 2 to 4 replicas: low risk, the kind of
    plan that may run unattended where the mode allows it."""
    targets = refs or (ref(),)
    document = build_policy_input(
        Incident(id="inc-1", targets=list(targets)),
        seen(*targets),
        Plan(actions=[Scale(target=t, replicas=4) for t in targets]),
        "saturation",
        analyzer="offline",
    )
    return evaluate(document, policy_dir=policy_dir)


def data_dir(tmp_path: Path, modes: Any, name: str = "policy") -> Path:
    """A policy directory of data alone (the shipped rules decide): the shipped data with `modes`
    (None: no modes key at all) and open approvers."""
    data = load_policy_data()
    config = data["medic"]["config"]
    if modes is None:
        config.pop("modes", None)
    else:
        config["modes"] = modes
    config["approvers"] = [{"principals": ["*"], "namespaces": ["*"], "max_risk": "high"}]
    directory = tmp_path / name
    directory.mkdir()
    (directory / "data.json").write_text(json.dumps(data))
    return directory


# --- the shipped data ----------------------------------------------------------------------------


def test_shipped_data_proposes_so_a_low_risk_scale_up_waits_for_a_human() -> None:
    shipped = json.loads((POLICY_DIR / "data.json").read_text())["medic"]["config"]
    assert shipped["modes"]["default"] == "propose"
    decision = scale_up()
    assert (decision.mode, decision.risk, decision.auto_execute, decision.approvals_required) == (
        "propose",
        "low",
        False,
        1,
    )
    assert "namespace shop is in propose mode (policy data: modes), where no plan runs without approval" in (
        decision.reasons
    )


def test_shipped_approvers_are_a_group_not_anyone() -> None:
    shipped = json.loads((POLICY_DIR / "data.json").read_text())["medic"]["config"]
    principals = {p for rule in shipped["approvers"] for p in rule["principals"]}
    assert principals == {"group:sre"}
    assert scale_up().approvers == ["group:sre"]


def test_data_without_approver_rules_lets_the_group_sre_approve_not_anyone(tmp_path: Path) -> None:
    data = load_policy_data()
    data["medic"]["config"].pop("approvers")
    directory = tmp_path / "no-approvers"
    directory.mkdir()
    (directory / "data.json").write_text(json.dumps(data))
    assert scale_up(policy_dir=directory).approvers == ["group:sre"]


# --- resolving a namespace's mode ----------------------------------------------------------------


def test_auto_default_lets_a_low_risk_plan_run_unattended(tmp_path: Path) -> None:
    decision = scale_up(policy_dir=data_dir(tmp_path, {"default": "auto", "namespaces": {}}))
    assert (decision.mode, decision.auto_execute, decision.approvals_required) == ("auto", True, 0)


def test_a_namespace_named_exactly_takes_its_own_mode(tmp_path: Path) -> None:
    directory = data_dir(tmp_path, {"default": "propose", "namespaces": {"shop": "auto"}})
    assert scale_up(ref("shop"), policy_dir=directory).auto_execute is True
    other = scale_up(ref("billing"), policy_dir=directory)
    assert (other.mode, other.auto_execute) == ("propose", False)


def test_no_modes_in_data_means_propose(tmp_path: Path) -> None:
    decision = scale_up(policy_dir=data_dir(tmp_path, None))
    assert (decision.mode, decision.auto_execute) == ("propose", False)


def test_a_pattern_sets_the_mode_of_every_namespace_it_matches(tmp_path: Path) -> None:
    modes = {"default": "propose", "namespaces": {"team-*": "auto", "lab-?": "observe"}}
    directory = data_dir(tmp_path, modes)
    assert scale_up(ref("team-payments"), policy_dir=directory).mode == "auto"
    assert scale_up(ref("lab-1"), policy_dir=directory).mode == "observe"
    assert scale_up(ref("lab-12"), policy_dir=directory).mode == "propose"
    assert scale_up(ref("team"), policy_dir=directory).mode == "propose"


def test_an_exact_name_wins_over_a_pattern(tmp_path: Path) -> None:
    modes = {"default": "auto", "namespaces": {"team-*": "observe", "team-web": "auto"}}
    directory = data_dir(tmp_path, modes)
    assert scale_up(ref("team-web"), policy_dir=directory).mode == "auto"
    assert scale_up(ref("team-db"), policy_dir=directory).mode == "observe"


def test_of_several_matching_patterns_the_most_careful_mode_wins(tmp_path: Path) -> None:
    directory = data_dir(tmp_path, {"default": "auto", "namespaces": {"team-*": "auto", "*-prod": "propose"}})
    assert scale_up(ref("team-prod"), policy_dir=directory).mode == "propose"
    assert scale_up(ref("team-dev"), policy_dir=directory).mode == "auto"


def test_a_plan_over_several_namespaces_takes_the_most_careful_mode(tmp_path: Path) -> None:
    directory = data_dir(tmp_path, {"default": "auto", "namespaces": {"billing": "observe"}})
    decision = scale_up(ref("shop"), ref("billing", "ledger"), policy_dir=directory)
    assert (decision.mode, decision.auto_execute) == ("observe", False)
    assert "namespace billing is in observe mode: medic shows the change it would make and makes none" in (
        decision.reasons
    )


def test_a_plan_without_actions_takes_the_mode_of_the_incidents_namespace(tmp_path: Path) -> None:
    directory = data_dir(tmp_path, {"default": "propose", "namespaces": {"shop": "observe"}})
    document = build_policy_input(Incident(id="inc-1", targets=[ref("shop")]), seen(), Plan(), "oom")
    decision = evaluate(document, policy_dir=directory)
    assert (decision.mode, decision.risk, decision.auto_execute) == ("observe", "high", False)


# --- what each mode decides ----------------------------------------------------------------------


def test_observe_never_runs_a_plan_unattended_and_says_why(tmp_path: Path) -> None:
    decision = scale_up(policy_dir=data_dir(tmp_path, {"default": "observe", "namespaces": {}}))
    assert decision.allowed and decision.risk == "low"
    assert (decision.mode, decision.auto_execute) == ("observe", False)
    assert decision.reasons[-1] == (
        "namespace shop is in observe mode: medic shows the change it would make and makes none"
    )


def test_a_denied_plan_is_denied_in_every_mode(tmp_path: Path) -> None:
    for mode in ("observe", "propose", "auto"):
        directory = data_dir(tmp_path, {"default": mode, "namespaces": {}}, name=f"policy-{mode}")
        document = build_policy_input(
            Incident(id="inc-1"), seen(ref("kube-system")), Plan(actions=[Restart(target=ref("kube-system"))])
        )
        decision = evaluate(document, policy_dir=directory)
        assert (decision.allowed, decision.risk, decision.mode) == (False, "deny", mode)


# --- bad mode data is refused at load, in one line -----------------------------------------------


@pytest.mark.parametrize(
    ("modes", "message"),
    [
        (
            {"default": "propose", "namespaces": {"shop": "Auto"}},
            r"medic.config.modes.namespaces\['shop'\] is 'Auto'; it must be observe or propose or auto",
        ),
        ({"default": "yolo"}, r"medic.config.modes.default is 'yolo'; it must be observe or propose or auto"),
        (
            {"default": "propose", "namespace": {}},
            r"unknown key\(s\) namespace; it takes default and namespaces",
        ),
        ({"default": "propose", "namespaces": ["shop"]}, r"namespaces must be an object"),
        ("auto", r"medic.config.modes must be an object"),
        (
            {"default": "propose", "namespaces": {"Shop_EU": "auto"}},
            r"the key 'Shop_EU', which is neither a namespace name nor a pattern",
        ),
    ],
)
def test_bad_modes_are_refused_when_the_policy_loads(tmp_path: Path, modes: Any, message: str) -> None:
    directory = data_dir(tmp_path, modes)
    with pytest.raises(PolicyError, match=message) as raised:
        scale_up(policy_dir=directory)
    assert "\n" not in str(raised.value) and str(directory / "data.json") in str(raised.value)


def test_a_decision_to_auto_execute_outside_auto_mode_is_refused(tmp_path: Path) -> None:
    # Rules that contradict themselves (auto_execute in propose mode) are a broken policy.
    directory = tmp_path / "incoherent"
    directory.mkdir()
    (directory / "data.json").write_text("{}")
    (directory / "remediation.rego").write_text(
        "package medic.remediation\nimport rego.v1\n"
        'decision := {"allowed": true, "risk": "low", "approvals_required": 0, "auto_execute": true, '
        '"mode": "propose"}\n'
    )
    with pytest.raises(PolicyError, match="auto_execute in propose mode"):
        evaluate({"actions": []}, policy_dir=directory)
