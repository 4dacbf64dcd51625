"""`medic eval`: score the analysis path on incident scenarios.

Each scenario file is loaded into the sandbox and driven through the real steps — observe (the
Kubernetes client against the sandbox API), analyze (with the analyze activity's own checks),
validate (the Rego policy) — and the result is scored by `domain.scoring` against the file's
`expect`. The core (`evaluate_scenario`, `run_eval`) does not depend on typer; `cli.main` only
registers the command.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from temporalio.exceptions import ApplicationError

from activities.analyze import AnalyzeActivities
from activities.observe import build_observation
from domain.alerts import AlertGroup
from domain.decision import PolicyDecision
from domain.incident import Incident, incident_from_group
from domain.observation import Observation
from domain.offline_analyzer import Analyzer, OfflineAnalyzer
from domain.plan import Diagnosis
from domain.policy_input import build_policy_input
from domain.scoring import ScenarioScore, describe_expect, empty_plan_outcome, score
from domain.steps import AnalyzeInput
from integrations.kubernetes import KubeClient
from policies import evaluate
from sandbox.cluster import SandboxCluster
from sandbox.scenario import Scenario, ScenarioError, load_scenario
from sandbox.server import SandboxServer

__all__ = ["ANALYZERS", "EvalError", "evaluate_scenario", "make_analyzer", "run_eval", "score_observation"]

ANALYZERS = ("offline", "anthropic", "openai")

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
    # WIRING POINT (LLM analyzers): integrations.llm is expected to expose
    # `make_analyzer(name: str) -> Analyzer`, configured from the environment.
    factory = getattr(llm, "make_analyzer", None)
    if factory is None:
        raise EvalError(f"the {name} analyzer is not available: integrations.llm has no make_analyzer()")
    analyzer: Analyzer = factory(name)
    return analyzer


# --- one scenario --------------------------------------------------------------------------------


@contextlib.contextmanager
def _sandbox(scenario: Scenario) -> Iterator[KubeClient]:
    with SandboxServer(SandboxCluster(scenario)) as server:
        kube = KubeClient.from_settings(server.url)
        try:
            yield kube
        finally:
            kube.close()


def _observe_extras(scenario: Scenario, stack: contextlib.ExitStack) -> dict[str, Any]:
    """WIRING POINT (observe context): the keyword arguments for `build_observation` beyond the
    Kubernetes client — the sandbox's Argo CD, Prometheus and GitOps fakes serving this scenario's
    `argocd`, `metrics` and `gitops`, entered on `stack` so they stop with the sandbox. Until the
    observe step takes them, there is nothing to pass and those parts of the observation stay empty."""
    return {}


def incident_of(scenario: Scenario) -> Incident:
    return incident_from_group(f"eval-{scenario.name}", AlertGroup.model_validate(scenario.alert))


def observe_scenario(scenario: Scenario) -> tuple[Incident, Observation]:
    """Serve the scenario's cluster on loopback and run the observe step against it."""
    incident = incident_of(scenario)
    with contextlib.ExitStack() as stack:
        kube = stack.enter_context(_sandbox(scenario))
        extras = _observe_extras(scenario, stack)
        observation = build_observation(kube, incident, **extras)
    return incident, observation


def analyze(analyzer: Analyzer, incident: Incident, observation: Observation) -> Diagnosis:
    """The analyze step with the activity's own checks (targets and evidence must be observed)."""
    return AnalyzeActivities(analyzer).analyze_incident(
        AnalyzeInput(incident=incident, observation=observation)
    )


def validate(incident: Incident, observation: Observation, diagnosis: Diagnosis) -> PolicyDecision:
    document = build_policy_input(incident, observation, diagnosis.plan, diagnosis.root_cause)
    return evaluate(document)


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
    """A plain-text table: scenario, expected, got, pass/fail, why; then the pass rate."""
    header = ("scenario", "expected", "got", "result", "why")
    rows = [
        (s.name, s.expected, s.got, "pass" if s.passed else "FAIL", "; ".join(s.why) or "-") for s in scores
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    lines = []
    for row in [header, *rows]:
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4])
    lines.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * 3)
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
