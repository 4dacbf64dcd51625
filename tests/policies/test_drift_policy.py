"""The drift policy: which plan a drifted Application gets, per namespace, kind and field.

Every case goes through `drift_disposition`, as the drift scan asks it, on a copy of the shipped
policy whose `drift_rules` the test sets.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from domain.drift.model import AppDrift, FieldDrift, ResourceDrift
from policies import POLICY_DIR, PolicyError, drift_disposition, load_policy_data

REPLICAS = "/spec/replicas"
IMAGE = "/spec/template/spec/containers/0/image"
MEMORY_LIMIT = "/spec/template/spec/containers/ledger/resources/limits/memory"

Rules = Callable[..., Path]


def resource(
    namespace: str = "payments",
    kind: str = "Deployment",
    name: str = "ledger",
    *paths: str,
    live_missing: bool = False,
) -> ResourceDrift:
    fields = [FieldDrift(path=p, desired=_value(p, "desired"), live=_value(p, "live")) for p in paths]
    return ResourceDrift(kind=kind, namespace=namespace, name=name, fields=fields, live_missing=live_missing)


def _value(path: str, side: str) -> Any:
    if path == REPLICAS:
        return 2 if side == "desired" else 5
    if path.endswith("/image"):
        return f"registry.example/ledger:{'1.0' if side == 'desired' else '1.1'}"
    if path.endswith("/memory"):
        return "256Mi" if side == "desired" else "512Mi"
    return side


def drift(*resources: ResourceDrift) -> AppDrift:
    return AppDrift(
        application="ledger",
        project="payments",
        destination_namespace="payments",
        resources=list(resources) or [resource("payments", "Deployment", "ledger", REPLICAS)],
    )


@pytest.fixture
def rules(tmp_path: Path) -> Rules:
    """A copy of the shipped policy with these drift rules (and, optionally, default action)."""

    def make(*drift_rules: dict[str, Any], default: str | None = None) -> Path:
        directory = tmp_path / "policy"
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir()
        for rego in POLICY_DIR.glob("*.rego"):
            shutil.copy(rego, directory / rego.name)
        data = json.loads((POLICY_DIR / "data.json").read_text())
        data["medic"]["config"]["drift_rules"] = list(drift_rules)
        if default is not None:
            data["medic"]["config"]["drift_default_action"] = default
        (directory / "data.json").write_text(json.dumps(data))
        return directory

    return make


def rule(action: str, *, namespaces: Any = None, kinds: Any = None, fields: Any = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"action": action}
    for key, value in (("namespaces", namespaces), ("kinds", kinds), ("fields", fields)):
        if value is not None:
            entry[key] = value
    return entry


SYNC_REPLICAS_IN_PAYMENTS = rule("sync", namespaces=["payments"], kinds=["Deployment"], fields=[REPLICAS])


# --- the shipped default -----------------------------------------------------------------------


def test_shipped_data_reports_every_drift() -> None:
    config = load_policy_data()["medic"]["config"]
    assert config["drift_rules"] == [] and config["drift_default_action"] == "report"
    disposition, reason = drift_disposition(drift())
    assert disposition == "report"
    assert reason == (
        "policy drift_default_action reports /spec/replicas of payments/Deployment/ledger "
        "(no drift rule matches)"
    )


def test_data_without_drift_keys_reports(rules: Rules) -> None:
    directory = rules()
    data = json.loads((directory / "data.json").read_text())
    del data["medic"]["config"]["drift_rules"], data["medic"]["config"]["drift_default_action"]
    (directory / "data.json").write_text(json.dumps(data))
    assert drift_disposition(drift(), policy_dir=directory)[0] == "report"


def test_the_default_action_applies_where_no_rule_matches(rules: Rules) -> None:
    disposition, reason = drift_disposition(drift(), policy_dir=rules(default="sync"))
    assert disposition == "sync"
    assert "drift_default_action syncs /spec/replicas of payments/Deployment/ledger" in reason


def test_no_drifted_field_is_reported_with_nothing_to_do() -> None:
    assert drift_disposition(AppDrift(application="ledger")) == ("report", "no drifted field: nothing to do")


def test_the_drifts_own_disposition_is_not_shown_to_the_policy() -> None:
    already = drift().model_copy(update={"disposition": "sync", "reason": "an earlier scan's"})
    assert drift_disposition(already)[0] == "report"


# --- namespaces, kinds and fields --------------------------------------------------------------


def test_a_sync_rule_for_replicas_in_a_namespace_syncs_there(rules: Rules) -> None:
    disposition, reason = drift_disposition(drift(), policy_dir=rules(SYNC_REPLICAS_IN_PAYMENTS))
    assert disposition == "sync"
    assert reason == "policy drift_rules[0] syncs /spec/replicas of payments/Deployment/ledger"


def test_the_sync_rule_does_not_apply_to_another_namespace(rules: Rules) -> None:
    other = drift(resource("shop", "Deployment", "checkout", REPLICAS))
    disposition, reason = drift_disposition(other, policy_dir=rules(SYNC_REPLICAS_IN_PAYMENTS))
    assert disposition == "report"
    assert "no drift rule matches" in reason


def test_the_sync_rule_does_not_apply_to_another_kind(rules: Rules) -> None:
    other = drift(resource("payments", "StatefulSet", "ledger-db", REPLICAS))
    assert drift_disposition(other, policy_dir=rules(SYNC_REPLICAS_IN_PAYMENTS))[0] == "report"


def test_the_sync_rule_does_not_apply_to_another_field(rules: Rules) -> None:
    other = drift(resource("payments", "Deployment", "ledger", IMAGE))
    assert drift_disposition(other, policy_dir=rules(SYNC_REPLICAS_IN_PAYMENTS))[0] == "report"


def test_a_rule_without_namespaces_kinds_or_fields_matches_any(rules: Rules) -> None:
    other = drift(resource("shop", "ConfigMap", "settings", "/data/mode"))
    assert drift_disposition(other, policy_dir=rules(rule("sync")))[0] == "sync"


@pytest.mark.parametrize(
    ("pattern", "namespace", "matches"),
    [
        ("pay*", "payments", True),
        ("pay*", "shop", False),
        ("team-?", "team-a", True),
        ("{payments,shop}", "shop", True),
        ("*", "", True),
    ],
)
def test_namespaces_are_globs(rules: Rules, pattern: str, namespace: str, matches: bool) -> None:
    directory = rules(rule("sync", namespaces=[pattern]))
    found = drift_disposition(
        drift(resource(namespace, "Deployment", "ledger", REPLICAS)), policy_dir=directory
    )
    assert (found[0] == "sync") is matches


@pytest.mark.parametrize(
    ("pattern", "kind", "matches"),
    [("*Set", "StatefulSet", True), ("*Set", "Deployment", False), ("Deploy*", "Deployment", True)],
)
def test_kinds_are_globs(rules: Rules, pattern: str, kind: str, matches: bool) -> None:
    directory = rules(rule("sync", kinds=[pattern]))
    found = drift_disposition(drift(resource("payments", kind, "ledger", REPLICAS)), policy_dir=directory)
    assert (found[0] == "sync") is matches


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("/spec/template/*", IMAGE, True),  # one segment, and everything below it
        ("/spec/template", IMAGE, True),  # a field covers its subfields
        ("/spec/template/spec/containers/*/image", IMAGE, True),
        ("/spec/template/spec/containers/*/image", MEMORY_LIMIT, False),
        ("/spec/**/memory", MEMORY_LIMIT, True),
        ("/spec/replicas", "/spec/replicasMax", False),  # segments, not a string prefix
        ("/spec/template/*", REPLICAS, False),
        ("*", IMAGE, True),
    ],
)
def test_fields_are_json_pointer_globs(rules: Rules, pattern: str, path: str, matches: bool) -> None:
    directory = rules(rule("sync", fields=[pattern]))
    found = drift_disposition(drift(resource("payments", "Deployment", "ledger", path)), policy_dir=directory)
    assert (found[0] == "sync") is matches


# --- order and agreement -----------------------------------------------------------------------


def test_the_first_matching_rule_wins(rules: Rules) -> None:
    directory = rules(
        rule("report", namespaces=["payments"], fields=[REPLICAS]),
        rule("sync", fields=[REPLICAS]),
    )
    disposition, reason = drift_disposition(drift(), policy_dir=directory)
    assert disposition == "report"
    assert reason.startswith("policy drift_rules[0] reports /spec/replicas")
    assert "drift_rules[1]" not in reason


def test_a_later_rule_applies_where_the_first_does_not_match(rules: Rules) -> None:
    directory = rules(
        rule("report", namespaces=["shop"], fields=[REPLICAS]),
        rule("sync", fields=[REPLICAS]),
    )
    disposition, reason = drift_disposition(drift(), policy_dir=directory)
    assert disposition == "sync"
    assert reason == "policy drift_rules[1] syncs /spec/replicas of payments/Deployment/ledger"


def test_fields_that_agree_take_their_action(rules: Rules) -> None:
    both = drift(
        resource("payments", "Deployment", "ledger", REPLICAS),
        resource("payments", "Deployment", "ledger-worker", REPLICAS, IMAGE),
    )
    directory = rules(rule("sync", fields=[REPLICAS]), rule("sync", fields=["/spec/template"]))
    disposition, reason = drift_disposition(both, policy_dir=directory)
    assert disposition == "sync"
    assert reason == (
        "policy drift_rules[0] syncs /spec/replicas of payments/Deployment/ledger, "
        "/spec/replicas of payments/Deployment/ledger-worker; "
        "drift_rules[1] syncs /spec/template/spec/containers/0/image of payments/Deployment/ledger-worker"
    )


def test_fields_that_disagree_are_reported_with_the_disagreement(rules: Rules) -> None:
    mixed = drift(resource("payments", "Deployment", "ledger", REPLICAS, IMAGE))
    directory = rules(SYNC_REPLICAS_IN_PAYMENTS)
    disposition, reason = drift_disposition(mixed, policy_dir=directory)
    assert disposition == "report"
    assert reason.startswith("the drift rules disagree (report vs sync), so the drift is only reported: ")
    assert "drift_rules[0] syncs /spec/replicas of payments/Deployment/ledger" in reason
    assert "drift_default_action reports /spec/template/spec/containers/0/image" in reason


def test_an_unknown_action_is_reported(rules: Rules) -> None:
    disposition, reason = drift_disposition(drift(), policy_dir=rules(rule("delete")))
    assert disposition == "report"
    assert 'drift_rules[0] has the unknown action "delete" for /spec/replicas' in reason


def test_an_unknown_default_action_is_reported(rules: Rules) -> None:
    disposition, reason = drift_disposition(drift(), policy_dir=rules(default="prune"))
    assert disposition == "report"
    assert 'has the unknown action "prune"' in reason


def test_a_rule_without_an_action_is_reported(rules: Rules) -> None:
    assert drift_disposition(drift(), policy_dir=rules({"fields": [REPLICAS]}))[0] == "report"


def test_a_long_reason_names_a_few_fields_and_counts_the_rest(rules: Rules) -> None:
    many = drift(*(resource("payments", "Deployment", f"worker-{i}", REPLICAS) for i in range(9)))
    disposition, reason = drift_disposition(many, policy_dir=rules(rule("sync")))
    assert disposition == "sync"
    assert "worker-5" in reason and "worker-6" not in reason
    assert reason.endswith("and 3 more")


# --- a resource missing from the cluster --------------------------------------------------------


def test_a_missing_resource_takes_the_default(rules: Rules) -> None:
    missing = drift(resource("payments", "Service", "ledger", live_missing=True))
    disposition, reason = drift_disposition(missing, policy_dir=rules(SYNC_REPLICAS_IN_PAYMENTS))
    assert disposition == "report"
    assert "reports the missing resource payments/Service/ledger" in reason


@pytest.mark.parametrize("pattern", ["", "*"])
def test_a_missing_resource_matches_the_empty_path_and_any_field(rules: Rules, pattern: str) -> None:
    missing = drift(resource("payments", "Service", "ledger", live_missing=True))
    disposition, reason = drift_disposition(missing, policy_dir=rules(rule("sync", fields=[pattern])))
    assert disposition == "sync"
    assert reason == "policy drift_rules[0] syncs the missing resource payments/Service/ledger"


def test_a_field_pattern_does_not_match_a_missing_resource(rules: Rules) -> None:
    missing = drift(resource("payments", "Deployment", "ledger", live_missing=True))
    assert drift_disposition(missing, policy_dir=rules(SYNC_REPLICAS_IN_PAYMENTS))[0] == "report"


# --- adopt ---------------------------------------------------------------------------------------


def test_adopt_where_every_field_has_a_typed_edit(rules: Rules) -> None:
    adoptable = drift(resource("payments", "Deployment", "ledger", REPLICAS, IMAGE, MEMORY_LIMIT))
    disposition, reason = drift_disposition(
        adoptable, policy_dir=rules(rule("adopt", namespaces=["payments"]))
    )
    assert disposition == "adopt"
    assert reason.startswith("policy drift_rules[0] adopts /spec/replicas of payments/Deployment/ledger")


def test_adopt_with_a_field_without_a_typed_edit_is_reported(rules: Rules) -> None:
    mixed = drift(
        resource("payments", "Deployment", "ledger", REPLICAS, "/spec/template/metadata/labels/tier")
    )
    disposition, reason = drift_disposition(mixed, policy_dir=rules(rule("adopt")))
    assert disposition == "report"
    assert reason.startswith(
        "adopting writes every live value into Git through a typed edit, and "
        "/spec/template/metadata/labels/tier of payments/Deployment/ledger has none"
    )


def test_adopt_of_replicas_on_a_kind_that_does_not_scale_is_reported(rules: Rules) -> None:
    daemons = drift(resource("payments", "DaemonSet", "agent", REPLICAS))
    assert drift_disposition(daemons, policy_dir=rules(rule("adopt")))[0] == "report"


def test_adopt_of_a_missing_resource_is_reported(rules: Rules) -> None:
    missing = drift(resource("payments", "Deployment", "ledger", live_missing=True))
    disposition, reason = drift_disposition(missing, policy_dir=rules(rule("adopt")))
    assert disposition == "report"
    assert "the missing resource payments/Deployment/ledger has none" in reason


def test_adopt_of_a_removed_live_value_is_reported(rules: Rules) -> None:
    removed = ResourceDrift(
        kind="Deployment",
        namespace="payments",
        name="ledger",
        fields=[FieldDrift(path=IMAGE, desired="registry.example/ledger:1.0", live=None)],
    )
    assert drift_disposition(drift(removed), policy_dir=rules(rule("adopt")))[0] == "report"


# --- errors and threads --------------------------------------------------------------------------


def test_a_policy_dir_without_the_drift_policy_raises_policy_error(tmp_path: Path) -> None:
    (tmp_path / "remediation.rego").write_text((POLICY_DIR / "remediation.rego").read_text())
    (tmp_path / "data.json").write_text((POLICY_DIR / "data.json").read_text())
    with pytest.raises(PolicyError, match="undefined"):
        drift_disposition(drift(), policy_dir=tmp_path)


def test_a_decision_without_a_disposition_raises_policy_error(tmp_path: Path) -> None:
    (tmp_path / "drift.rego").write_text('package medic.drift\nimport rego.v1\ndecision := {"reason": "x"}\n')
    (tmp_path / "data.json").write_text((POLICY_DIR / "data.json").read_text())
    with pytest.raises(PolicyError, match="disposition"):
        drift_disposition(drift(), policy_dir=tmp_path)


def test_concurrent_dispositions_give_their_own_answers(rules: Rules) -> None:
    directory = rules(SYNC_REPLICAS_IN_PAYMENTS)
    cases = [
        (drift(), "sync"),
        (drift(resource("shop", "Deployment", "checkout", REPLICAS)), "report"),
    ] * 6
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda case: drift_disposition(case[0], policy_dir=directory)[0], cases))
    assert answers == [expected for _, expected in cases]
