"""`medic eval`: score the analysis path on incident scenarios.

Each scenario file is loaded into the sandbox and driven through the real steps — observe (the
Kubernetes client against the sandbox API), analyze (with the analyze activity's own checks),
validate (the Rego policy) — and the result is scored by `domain.analysis.scoring` against the file's
`expect`. The core (`evaluate_scenario`, `run_eval`) does not depend on typer; `cli.main` only
registers the command.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from temporalio.exceptions import ApplicationError

from activities.analyze import AnalyzeActivities
from activities.observe import build_observation
from domain.analysis.offline import Analyzer, OfflineAnalyzer
from domain.analysis.plan import Diagnosis
from domain.analysis.scoring import ScenarioScore, describe_expect, empty_plan_outcome, score
from domain.incident.alerts import AlertGroup
from domain.incident.model import Incident, incident_from_group
from domain.kube.observation import Observation
from domain.kube.ownership import Tracking
from domain.policy.decision import PolicyDecision
from domain.policy.input import diagnosis_policy_input
from domain.review.plan_impact import plan_impact
from domain.steps.analyze import AnalyzeInput
from integrations.argocd import ArgoClient
from integrations.git import GitRepo
from integrations.kubernetes import KubeClient
from integrations.prometheus import PrometheusClient
from policies import evaluate
from sandbox.argocd_api import SandboxArgoCD
from sandbox.cluster import SandboxCluster
from sandbox.gitops import seed_bare_repo
from sandbox.prometheus_api import SandboxPrometheus
from sandbox.scenario import Scenario, ScenarioError, load_scenario
from sandbox.server import SandboxServer

__all__ = [
    "ANALYZERS",
    "EvalError",
    "ScenarioRun",
    "evaluate_scenario",
    "make_analyzer",
    "run_eval",
    "run_scenario",
    "score_observation",
]

ANALYZERS = ("offline", "anthropic", "openai")
# The sandbox Argo CD wants a bearer token, as the real one does; any value serves on loopback.
_TOKEN = "medic-eval"
_CLIENT_TIMEOUT = 5.0

# A hook that may add to what observe saw, before analysis (tests use it; the CLI does not).
Enrich = Callable[[Scenario, Observation], Observation]


class EvalError(Exception):
    """The evaluation cannot run at all (unknown analyzer, its package missing, no scenarios)."""


# --- analyzers ---------------------------------------------------------------------------------


def make_analyzer(name: str) -> Analyzer:
    """The analyzer called `name`. The model-backed ones live in `integrations.llm`; when that
    package (or the factory in it) is missing, this says so instead of falling back silently."""
    if name == "offline":
        return OfflineAnalyzer()
    if name not in ANALYZERS:
        raise EvalError(f"unknown analyzer {name!r}: choose one of {', '.join(ANALYZERS)}")
    try:
        llm = importlib.import_module("integrations.llm")
    except ImportError as err:
        raise EvalError(
            f"the {name} analyzer needs the integrations.llm package, which is not available ({err})"
        ) from err
    # integrations.llm exposes `make_analyzer(name)`, configured from the environment.
    factory = getattr(llm, "make_analyzer", None)
    if factory is None:
        raise EvalError(f"the {name} analyzer is not available: integrations.llm has no make_analyzer()")
    try:
        analyzer: Analyzer = factory(name)
    except Exception as err:  # a configuration error (a missing key or URL), said plainly
        raise EvalError(f"the {name} analyzer cannot be configured: {err}") from err
    return analyzer


# --- one scenario --------------------------------------------------------------------------------


def incident_of(scenario: Scenario) -> Incident:
    return incident_from_group(f"eval-{scenario.name}", AlertGroup.model_validate(scenario.alert))


def _scenario_now(scenario: Scenario) -> float | None:
    """The instant the frozen incident is observed at: its last metric sample (the clock otherwise)."""
    stamps = [float(sample[0]) for samples in scenario.metrics.values() for sample in samples if sample]
    return max(stamps) if stamps else None


def observe_scenario(
    scenario: Scenario,
    *,
    argocd_clusters: Sequence[Mapping[str, str]] = (),
    cluster_name: str = "",
    cluster_server: str = "",
) -> tuple[Incident, Observation]:
    """Serve the scenario on loopback — its cluster as the Kubernetes API, its `argocd` as Argo CD's
    API, its `metrics` as Prometheus' HTTP API, its `gitops` as a bare git remote — and run the
    observe step against them with the real clients. `argocd_clusters` are the clusters Argo CD
    lists besides its own; `cluster_name` and `cluster_server` say which one medic runs on (README
    "Clusters"; neither: Argo CD's in-cluster)."""
    incident = incident_of(scenario)
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="medic-eval-")))
        cluster = SandboxCluster(scenario)
        kube_server = stack.enter_context(SandboxServer(cluster))
        argocd_server = stack.enter_context(
            SandboxArgoCD(
                scenario.argocd,
                token=_TOKEN,
                cluster=cluster,
                gitops=scenario.gitops,
                argocd_version=scenario.argocd_version,
                clusters=argocd_clusters,
            )
        )
        prometheus_server = stack.enter_context(SandboxPrometheus(scenario.metrics))
        remote = workdir / "gitops.git"
        seed_bare_repo(remote, scenario.gitops)

        kube = KubeClient.from_settings(kube_server.url)
        stack.callback(kube.close)
        # medic configured as for that Argo CD: 3.x tracks by the annotation (its default).
        tracking = Tracking(method="annotation") if scenario.argocd_version == "3" else Tracking()
        argocd = ArgoClient(
            argocd_server.url,
            _TOKEN,
            timeout=_CLIENT_TIMEOUT,
            tracking=tracking,
            cluster_name=cluster_name,
            cluster_server=cluster_server,
        )
        stack.callback(argocd.close)
        prometheus = PrometheusClient(prometheus_server.url, timeout=_CLIENT_TIMEOUT)
        stack.callback(prometheus.close)
        observation = build_observation(
            kube,
            incident,
            argocd=argocd,
            prometheus=prometheus,
            gitops=GitRepo(str(remote), workdir / "work"),
            now=_scenario_now(scenario),
        )
    return incident, observation


def analyze(analyzer: Analyzer, incident: Incident, observation: Observation) -> Diagnosis:
    """The analyze step with the activity's own checks (targets and evidence must be observed)."""
    return AnalyzeActivities(analyzer).analyze_incident(
        AnalyzeInput(incident=incident, observation=observation)
    )


def validate(incident: Incident, observation: Observation, diagnosis: Diagnosis) -> PolicyDecision:
    # As the validate step asks it: with the plan's impact (cost delta, downtime findings).
    impact = plan_impact(diagnosis.plan, observation)
    return evaluate(diagnosis_policy_input(incident, observation, diagnosis, impact=impact))


@dataclass(frozen=True)
class ScenarioRun:
    """One scenario taken through observe → analyze → validate, unscored: what a human would see."""

    scenario: Scenario
    incident: Incident
    observation: Observation
    diagnosis: Diagnosis
    decision: PolicyDecision


def run_scenario(path: Path, analyzer: str | Analyzer = "offline") -> ScenarioRun:
    """The steps `evaluate_scenario` scores, with their results kept. Errors are raised, not scored
    (`ScenarioError` for a file that cannot be loaded, `ApplicationError` for a refused analysis)."""
    engine = make_analyzer(analyzer) if isinstance(analyzer, str) else analyzer
    scenario = load_scenario(path)
    incident, observation = observe_scenario(scenario)
    diagnosis = analyze(engine, incident, observation)
    return ScenarioRun(scenario, incident, observation, diagnosis, validate(incident, observation, diagnosis))


def score_observation(
    scenario: Scenario, incident: Incident, observation: Observation, analyzer: Analyzer
) -> ScenarioScore:
    """analyze → validate → score, on an observation already made."""
    try:
        diagnosis = analyze(analyzer, incident, observation)
    except ApplicationError as err:
        # The workflow would end this as needs_review; for scoring it is a failed analysis.
        return _failed(scenario, f"the analysis was refused: {err}")
    decision = validate(incident, observation, diagnosis)
    return score(scenario.name, scenario.expect, diagnosis, decision, empty_plan_outcome(diagnosis, decision))


def evaluate_scenario(
    path: Path, analyzer: str | Analyzer = "offline", *, enrich: Enrich | None = None
) -> ScenarioScore:
    """Load one scenario file into the sandbox, observe → analyze → validate, and score it.

    A scenario that cannot be loaded or run scores as failed with the reason; an unknown or
    unavailable analyzer raises `EvalError` (nothing could be scored with it).
    """
    engine = make_analyzer(analyzer) if isinstance(analyzer, str) else analyzer
    try:
        scenario = load_scenario(path)
    except ScenarioError as err:
        return ScenarioScore(name=Path(path).stem, expected="?", got="-", passed=False, why=[str(err)])
    try:
        incident, observation = observe_scenario(scenario)
        if enrich is not None:
            observation = enrich(scenario, observation)
        return score_observation(scenario, incident, observation, engine)
    except EvalError:
        raise
    except Exception as err:  # one broken scenario must not hide the others' results
        return _failed(scenario, f"{type(err).__name__}: {err}")


def _failed(scenario: Scenario, reason: str) -> ScenarioScore:
    return ScenarioScore(
        name=scenario.name, expected=describe_expect(scenario.expect), got="-", passed=False, why=[reason]
    )


# --- a directory of scenarios --------------------------------------------------------------------


def evaluate_directory(scenarios_dir: Path, analyzer: str | Analyzer = "offline") -> list[ScenarioScore]:
    paths = sorted(Path(scenarios_dir).glob("*.yaml"))
    if not paths:
        raise EvalError(f"no *.yaml scenario files in {scenarios_dir}")
    engine = make_analyzer(analyzer) if isinstance(analyzer, str) else analyzer
    return [evaluate_scenario(path, engine) for path in paths]


def summary(scores: list[ScenarioScore]) -> dict[str, Any]:
    passed = sum(s.passed for s in scores)
    return {
        "scenarios": [s.model_dump(mode="json") for s in scores],
        "passed": passed,
        "total": len(scores),
        "pass_rate": round(passed / len(scores), 4) if scores else 0.0,
    }


def format_table(scores: list[ScenarioScore]) -> str:
    """A plain-text table: scenario, expected, got, pass/fail, why — under a row that ends with a
    human (needs_review), the diagnosis' next steps; then the pass rate."""
    header = ("scenario", "expected", "got", "result", "why")
    rows = [
        (s.name, s.expected, s.got, "pass" if s.passed else "FAIL", "; ".join(s.why) or "-") for s in scores
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(header[:4])) + "  " + header[4]]
    lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 3)
    for s, row in zip(scores, rows, strict=True):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4])
        # an incident that lands with a human: what the diagnosis tells them to do next
        if s.needs_review:
            steps = s.next_steps or ["(none: the diagnosis gives the human no next step)"]
            lines += [f"    next: {step}" for step in steps]
    passed = sum(s.passed for s in scores)
    rate = passed / len(scores) if scores else 0.0
    lines.append("")
    lines.append(f"passed {passed}/{len(scores)} ({rate:.0%})")
    return "\n".join(lines)


def run_eval(scenarios_dir: Path, analyzer: str, as_json: bool, out: TextIO | None = None) -> int:
    """Score every scenario in `scenarios_dir` and print a table (or one JSON object).

    Returns the exit code: 0 when every scenario passes, 1 when any fails, 2 when the evaluation
    cannot run (the reason goes to stderr).
    """
    out = out or sys.stdout
    try:
        scores = evaluate_directory(scenarios_dir, analyzer)
    except EvalError as err:
        print(f"medic eval: {err}", file=sys.stderr)
        return 2
    if as_json:
        print(json.dumps(summary(scores), indent=2), file=out)
    else:
        print(format_table(scores), file=out)
    return 0 if all(s.passed for s in scores) else 1
