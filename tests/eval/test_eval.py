"""The scenario evaluation: every scenario, observed through the sandbox's Kubernetes, Argo CD,
Prometheus and git fakes, analyzed offline, validated by the policy and scored.

The shared scenarios whose expectations need the observation's Argo CD application, metric series
or GitOps files (every one but no-fault-transient) depend on the observe step filling those in; so
do saturation-at-replica-bound and oom-direct-unmanaged here (their metrics).
"""

from __future__ import annotations

import io
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cli.eval import (
    EvalError,
    evaluate_scenario,
    make_analyzer,
    observe_scenario,
    run_eval,
    score_observation,
)
from domain.analysis.plan import Diagnosis
from domain.incident.model import Incident
from domain.kube.observation import Observation
from integrations.argocd import ArgoClient
from sandbox.argocd_api import SandboxArgoCD
from sandbox.scenario import SHARED_SCENARIOS, load_scenario, with_argocd_version
from tests.observed_scenarios import observed

OWN_SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
SCENARIOS = sorted(SHARED_SCENARIOS.glob("*.yaml")) + sorted(OWN_SCENARIOS.glob("*.yaml"))


def test_there_are_scenarios_to_run() -> None:
    assert len(list(SHARED_SCENARIOS.glob("*.yaml"))) >= 6, f"no shared scenarios in {SHARED_SCENARIOS}"
    assert len(list(OWN_SCENARIOS.glob("*.yaml"))) >= 33


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: f"{p.parent.parent.name}/{p.stem}")
def test_offline_analysis_passes_the_scenario(path: Path) -> None:
    """`evaluate_scenario`'s scoring of `medic eval`'s observation (made once per session and shared
    with the explanation and prompt tests; the directory runs below observe afresh)."""
    scenario, incident, observation = observed(path)
    result = score_observation(scenario, incident, observation, make_analyzer("offline"))
    assert result.passed, f"{result.name}: expected {result.expected}; got {result.got}; why: {result.why}"


def test_run_eval_prints_the_table_and_exits_zero_when_all_pass(tmp_path: Path) -> None:
    # Every scenario's verdict is its own test above: the table is shown on a few of them.
    names = ("probe-failure-readiness-path", "config-error-missing-key", "oom-direct-unmanaged")
    for name in names:
        (tmp_path / f"{name}.yaml").write_text((OWN_SCENARIOS / f"{name}.yaml").read_text())
    out = io.StringIO()
    assert run_eval(tmp_path, "offline", False, out) == 0
    text = out.getvalue()
    assert text.splitlines()[0].split()[:4] == ["scenario", "expected", "got", "result"]
    assert "probe-failure-readiness-path" in text and "pass" in text
    assert text.rstrip().endswith(f"passed {len(names)}/{len(names)} (100%)")


def test_run_eval_json_is_one_object_with_the_pass_rate(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text((OWN_SCENARIOS / "config-error-missing-key.yaml").read_text())
    out = io.StringIO()
    assert run_eval(tmp_path, "offline", True, out) == 0
    report = json.loads(out.getvalue())
    assert (report["passed"], report["total"], report["pass_rate"]) == (1, 1, 1.0)
    (entry,) = report["scenarios"]
    assert entry["name"] == "config-error-missing-key" and entry["passed"] is True
    assert set(entry) == {"name", "expected", "got", "passed", "why", "needs_review", "next_steps"}
    # a config error lands with a human, who is told what to do next
    assert entry["needs_review"] is True
    assert any("kubectl -n orders describe pod" in step for step in entry["next_steps"])


def test_the_table_lists_next_steps_under_a_needs_review_row(tmp_path: Path) -> None:
    for name in ("config-error-missing-key", "oom-direct-unmanaged"):
        (tmp_path / f"{name}.yaml").write_text((OWN_SCENARIOS / f"{name}.yaml").read_text())
    out = io.StringIO()
    assert run_eval(tmp_path, "offline", False, out) == 0
    lines = out.getvalue().splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith("config-error-missing-key"))
    assert lines[row + 1].startswith("    next: Read the kubelet's message")
    assert "configmap order-api-env" in lines[row + 2]
    # a plan medic carries out itself is not followed by next steps
    oom = next(i for i, line in enumerate(lines) if line.startswith("oom-direct-unmanaged"))
    assert not lines[oom + 1].startswith("    next:")


class _RestartEverything:
    """An analyzer that always restarts: the kind of plan several scenarios forbid."""

    name = "restart-everything"

    def analyze(self, incident: Incident, observation: Observation, similar: object = ()) -> Diagnosis:
        from domain.analysis.plan import Plan, Restart

        target = observation.workloads[0].ref
        return Diagnosis(root_cause="unknown", summary="restart", plan=Plan(actions=[Restart(target=target)]))


def test_a_bad_analysis_fails_with_its_reasons() -> None:
    result = evaluate_scenario(SHARED_SCENARIOS / "image-pull-typo.yaml", _RestartEverything())
    assert not result.passed
    assert "root cause unknown, expected image_pull" in result.why
    assert any(w.startswith("never: restart was proposed") for w in result.why)


def test_a_failing_scenario_makes_the_exit_code_one(tmp_path: Path) -> None:
    text = (OWN_SCENARIOS / "config-error-missing-key.yaml").read_text()
    (tmp_path / "wrong.yaml").write_text(text.replace("root_cause: config_error", "root_cause: oom"))
    out = io.StringIO()
    assert run_eval(tmp_path, "offline", False, out) == 1
    assert "FAIL" in out.getvalue() and "root cause config_error, expected oom" in out.getvalue()


def test_an_unreadable_scenario_is_a_failed_row_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("name: Not Kebab\nalert: {}\n")
    result = evaluate_scenario(tmp_path / "broken.yaml", "offline")
    assert not result.passed and "kebab-case" in result.why[0]


def test_unknown_analyzer_and_empty_directory_cannot_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(EvalError, match="unknown analyzer"):
        make_analyzer("crystal-ball")
    assert run_eval(OWN_SCENARIOS, "crystal-ball", False, io.StringIO()) == 2
    assert run_eval(tmp_path, "offline", False, io.StringIO()) == 2
    assert "no *.yaml scenario files" in capsys.readouterr().err


def test_a_model_analyzer_without_its_configuration_says_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    assert run_eval(OWN_SCENARIOS, "anthropic", False, io.StringIO()) == 2
    assert "ANTHROPIC_API_KEY" in capsys.readouterr().err


# The scenarios with Argo CD Applications, played by the sandbox as Argo CD 3.x too: tracking by
# the annotation alone (medic configured `annotation`), per-resource health only in the resource
# tree. Each must end exactly as with 2.x (whose observation the tests above share). The 3.x
# observations are made side by side: each waits mostly on git and loopback HTTP.
ARGOCD_SCENARIOS = [p for p in SCENARIOS if load_scenario(p).argocd]


def _on_argocd_3(path: Path) -> list[str]:
    """How the scenario's 3.x run differs from its 2.x run (nothing: the same)."""
    scenario, incident, observation = observed(path)
    three = with_argocd_version(scenario, "3")
    incident_3, observation_3 = observe_scenario(three)
    analyzer = make_analyzer("offline")
    on_2 = score_observation(scenario, incident, observation, analyzer)
    on_3 = score_observation(three, incident_3, observation_3, analyzer)
    differences = []
    if (on_3.passed, on_3.got, on_3.needs_review) != (on_2.passed, on_2.got, on_2.needs_review):
        differences.append(f"outcome {on_3.got} ({on_3.why}), not {on_2.got}")
    owners = {(o.kind, o.namespace, o.name, o.state, o.application) for o in observation.ownership}
    if {(o.kind, o.namespace, o.name, o.state, o.application) for o in observation_3.ownership} != owners:
        differences.append(f"ownership {observation_3.ownership}, not {observation.ownership}")
    # The same Applications, with the same health of the observed resources (3.x: from the tree).
    apps = [(a.id, a.health_status, a.resources) for a in observation.argocd]
    if [(a.id, a.health_status, a.resources) for a in observation_3.argocd] != apps:
        differences.append(f"applications {observation_3.argocd}, not {observation.argocd}")
    return [f"{path.stem}: {d}" for d in differences]


def test_every_argocd_scenario_ends_on_argocd_3_as_on_argocd_2() -> None:
    assert len(ARGOCD_SCENARIOS) >= 20
    for path in ARGOCD_SCENARIOS:
        observed(path)  # the 2.x observations, shared with the tests above, made first
    with ThreadPoolExecutor(max_workers=4) as pool:
        differences = [d for found in pool.map(_on_argocd_3, ARGOCD_SCENARIOS) for d in found]
    assert not differences, "\n".join(differences)


def test_argocd_3_tracks_by_the_annotation_and_keeps_health_in_the_tree() -> None:
    scenario = with_argocd_version(load_scenario(OWN_SCENARIOS / "argocd-degraded-after-new-image.yaml"), "3")
    tracked = [o for o in scenario.cluster if o["kind"] == "Deployment"]
    assert tracked and all(
        "argocd.argoproj.io/tracking-id" in o["metadata"]["annotations"]
        and "app.kubernetes.io/instance" not in (o["metadata"].get("labels") or {})
        for o in tracked
    )
    with SandboxArgoCD(scenario.argocd, argocd_version="3") as server, ArgoClient(server.url) as client:
        (app,) = client.list_applications()
        assert app["status"]["resources"] and not any("health" in r for r in app["status"]["resources"])
        name = app["metadata"]["name"]
        nodes = client.resource_tree(name)["nodes"]
        assert any(n.get("health") for n in nodes)
