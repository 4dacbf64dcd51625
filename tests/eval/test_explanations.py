"""Every incident that lands with a human is explained to them: over ALL scenarios (the shared ones
and this project's own, found by globbing, so new files are covered as they are added), run through
observe → offline analysis → policy exactly as `medic eval` runs them, a `needs_review` result
carries a specific explanation and at least one next step, and no next step reads as a command that
changes something."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from cli.eval import ScenarioRun, run_scenario
from domain.analysis.plan import Diagnosis, reads_as_command, without_read_only_commands
from domain.analysis.scoring import ends_in_review
from domain.kube.observation import Observation
from sandbox.scenario import SHARED_SCENARIOS
from tests.observed_scenarios import offline_run

OWN_SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
SCENARIOS = sorted(SHARED_SCENARIOS.glob("*.yaml")) + sorted(OWN_SCENARIOS.glob("*.yaml"))
# The shortest text quoted from the evidence that counts as citing it.
MIN_QUOTE = 20
MIN_EXPLANATION = 60


def _names(observation: Observation) -> set[str]:
    """Names a specific explanation or next step may mention: the observed objects."""
    names = {w.ref.name for w in observation.workloads}
    names |= {p.name for p in observation.pods}
    names |= {a.name for a in observation.argocd}
    names |= {t.name for t in observation.alert_targets}
    return {n for n in names if n}


def _evidence_texts(observation: Observation) -> list[str]:
    """What an explanation may quote: event and container messages, log lines, template changes."""
    texts = [e.message for e in observation.events]
    texts += [c.state_message for p in observation.pods for c in p.containers]
    texts += [line for log in observation.logs for line in log.text.splitlines()]
    texts += [change for r in observation.revisions for change in r.changes]
    return [" ".join(t.split()) for t in texts if len(t.strip()) >= MIN_QUOTE]


def _quotes_evidence(text: str, observation: Observation) -> bool:
    flat = " ".join(text.split())
    for evidence in _evidence_texts(observation):
        for start in range(0, len(evidence) - MIN_QUOTE + 1, 5):
            if evidence[start : start + MIN_QUOTE] in flat:
                return True
    return False


def explanation_problems(diagnosis: Diagnosis, observation: Observation) -> list[str]:
    """What makes a diagnosis that leaves a human to act unhelpful to them (empty: nothing)."""
    problems = []
    explanation = diagnosis.explanation.strip()
    names = _names(observation)
    if len(explanation) < MIN_EXPLANATION:
        problems.append(f"the explanation is empty or a placeholder: {explanation!r}")
    elif not any(re.search(rf"\b{re.escape(n)}\b", explanation) for n in names) and not _quotes_evidence(
        explanation, observation
    ):
        problems.append(f"the explanation names no observed object and quotes no evidence: {explanation!r}")
    steps = [s for s in diagnosis.next_steps if s.strip()]
    specific = names | {t.namespace for t in observation.alert_targets}
    if not steps:
        problems.append("no next step")
    elif not any(n in step for step in steps for n in specific):
        problems.append(f"no next step names the namespace or an observed object: {steps}")
    return problems


@pytest.fixture(scope="module", params=SCENARIOS, ids=lambda p: f"{p.parent.parent.name}/{p.stem}")
def run(request: pytest.FixtureRequest) -> ScenarioRun:
    return offline_run(request.param)


def test_there_are_scenarios_of_both_kinds() -> None:
    assert any(p.parent == SHARED_SCENARIOS for p in SCENARIOS)
    assert any(p.parent == OWN_SCENARIOS for p in SCENARIOS)


def test_needs_review_carries_a_specific_explanation_and_a_next_step(run: ScenarioRun) -> None:
    """An incident left to a human is explained and says what to do; one that is not left to a
    human either carries a plan medic runs (or proposes) or is nothing to fix, and says why."""
    if ends_in_review(run.diagnosis, run.decision):
        problems = explanation_problems(run.diagnosis, run.observation)
        assert not problems, f"{run.scenario.name} ({run.diagnosis.root_cause}): {problems}"
    else:
        assert run.diagnosis.plan.actions or run.diagnosis.root_cause == "none", run.scenario.name
        assert run.diagnosis.summary.strip(), run.scenario.name


def test_no_next_step_reads_as_a_command_that_changes_something(run: ScenarioRun) -> None:
    flagged = [s for s in run.diagnosis.next_steps if reads_as_command(without_read_only_commands(s))]
    assert not flagged, f"{run.scenario.name}: {flagged}"


def test_scenarios_that_end_with_a_human_exist() -> None:
    """The check above has something to check: the own suite expects needs_review endings."""
    ended = [p.stem for p in sorted(OWN_SCENARIOS.glob("*.yaml")) if _expects_review(p)]
    assert len(ended) >= 3, ended


def _expects_review(path: Path) -> bool:
    expect = (yaml.safe_load(path.read_text()) or {}).get("expect") or {}
    return not expect.get("actions") and expect.get("risk") == "high"


def test_a_generic_diagnosis_is_caught() -> None:
    run = run_scenario(OWN_SCENARIOS / "config-error-missing-key.yaml")
    generic = Diagnosis(
        root_cause="unknown",
        summary="Something is wrong.",
        explanation="The workload is unhealthy and no rule explains it; a human must look at it.",
    )
    problems = explanation_problems(generic, run.observation)
    assert any("names no observed object" in p for p in problems)
    assert "no next step" in problems
    vague = generic.model_copy(update={"next_steps": ["Look at the logs."], "explanation": ""})
    assert any("placeholder" in p for p in explanation_problems(vague, run.observation))
    assert any("no next step names" in p for p in explanation_problems(vague, run.observation))
    assert not explanation_problems(run.diagnosis, run.observation)
