"""observe's template diff of the newest revision: one bounded line per changed field."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from activities.observe import MAX_CHANGE_VALUE, MAX_CHANGES, _template_changes
from cli.eval import observe_scenario
from sandbox.scenario import load_named

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


def _template(**container: Any) -> dict[str, Any]:
    api = {
        "name": "api",
        "image": "registry.example/claims/claims-api:4.2.0",
        "ports": [{"name": "http", "containerPort": 8080}],
        "livenessProbe": {
            "httpGet": {
                "path": "/actuator/health/liveness/with/a/long/path/behind/the/gateway",
                "port": "http",
            },
            "periodSeconds": 10,
            "failureThreshold": 3,
            "successThreshold": 1,
            "terminationGracePeriodSeconds": 30,
            "initialDelaySeconds": 90,
        },
    }
    api.update(container)
    return {"spec": {"containers": [api]}}


def test_a_probe_field_deep_in_a_large_probe_keeps_its_old_and_new_value() -> None:
    old = _template()
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["livenessProbe"]["initialDelaySeconds"] = 10
    assert _template_changes(old, new) == ["container api livenessProbe.initialDelaySeconds: 90 → 10"]


def test_each_changed_field_is_its_own_line_and_an_added_object_is_spelled_out() -> None:
    old = _template()
    new = _template(securityContext={"readOnlyRootFilesystem": True, "runAsNonRoot": True})
    new["spec"]["containers"][0]["livenessProbe"]["periodSeconds"] = 5
    new["spec"]["containers"][0]["ports"][0]["containerPort"] = 9090
    new["spec"]["securityContext"] = {"runAsUser": 101}
    assert _template_changes(old, new) == [
        "container api ports[http].containerPort: 8080 → 9090",
        "container api livenessProbe.periodSeconds: 10 → 5",
        "container api securityContext.readOnlyRootFilesystem: (unset) → true",
        "container api securityContext.runAsNonRoot: (unset) → true",
        "pod securityContext.runAsUser: (unset) → 101",
    ]


def test_env_changes_name_the_variables_and_never_show_their_values() -> None:
    old = _template(env=[{"name": "DB_HOST", "value": "db-a"}, {"name": "MODE", "value": "fast"}])
    new = _template(env=[{"name": "DB_HOST", "value": "db-b"}, {"name": "MODE", "value": "fast"}])
    assert _template_changes(old, new) == ["container api env changed: DB_HOST"]


def test_a_secret_in_a_changed_field_is_redacted() -> None:
    old = _template(args=["--listen=:8080"])
    new = _template(args=["--listen=:8080", "--db-password", "ArgsFlagPass55"])
    (line,) = _template_changes(old, new)
    assert line.startswith("container api args: ") and "ArgsFlagPass55" not in line


def test_each_value_is_bounded_but_both_sides_are_kept() -> None:
    old = _template(command=["/bin/sh", "-c", "a" * 500])
    new = _template(command=["/bin/sh", "-c", "b" * 500])
    (line,) = _template_changes(old, new)
    before, after = line.split(": ", 1)[1].split(" → ")
    assert before.startswith('["/bin/sh", "-c", "aaa') and after.startswith('["/bin/sh", "-c", "bbb')
    assert len(before) <= MAX_CHANGE_VALUE + 1 and len(after) <= MAX_CHANGE_VALUE + 1


def test_many_changed_fields_are_bounded_and_the_last_line_names_the_rest() -> None:
    old = _template(env=[], **{f"field{i:02d}": i for i in range(MAX_CHANGES + 5)})
    new = _template(env=[], **{f"field{i:02d}": i + 1 for i in range(MAX_CHANGES + 5)})
    changes = _template_changes(old, new)
    assert len(changes) == MAX_CHANGES
    assert changes[0] == "container api field00: 0 → 1"
    assert changes[-1].startswith("6 more changed fields: container api field15, ")


def test_a_named_item_added_to_a_list_is_one_line() -> None:
    old = {"spec": {"containers": [], "volumes": [{"name": "data", "emptyDir": {}}]}}
    new = {
        "spec": {
            "containers": [],
            "volumes": [{"name": "data", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}],
        }
    }
    assert _template_changes(old, new) == ['pod volumes[tmp]: (unset) → {"name": "tmp", "emptyDir": {}}']


def test_the_observed_revision_of_a_probe_scenario_shows_the_new_probe_value() -> None:
    _, observation = observe_scenario(load_named("liveness-initial-delay-cut-recreate", SCENARIOS))
    newest = max(observation.revisions, key=lambda r: r.revision)
    assert newest.changes == ["container api livenessProbe.initialDelaySeconds: 90 → 10"]


def test_the_first_item_of_a_named_list_is_one_line_too_and_an_empty_list_is_no_list() -> None:
    old = {"spec": {"containers": [], "tolerations": []}}
    new = {"spec": {"containers": [], "volumes": [{"name": "cache", "emptyDir": {}}]}}
    assert _template_changes(old, new) == ['pod volumes[cache]: (unset) → {"name": "cache", "emptyDir": {}}']
