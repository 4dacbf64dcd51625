"""Every scenario observed once per test session, the way `medic eval` observes it (the sandbox's
Kubernetes, Argo CD, Prometheus and git on loopback, `cli.eval.observe_scenario`).

The evaluation, the explanation check and the prompt budget each take every scenario through
observe; the observation of a frozen scenario is the same each time and immutable, so they share
it instead of serving each scenario three times."""

from __future__ import annotations

import functools
from pathlib import Path

from cli.eval import ScenarioRun, analyze, make_analyzer, observe_scenario, validate
from domain.incident.model import Incident
from domain.kube.observation import Observation
from sandbox.scenario import Scenario, load_scenario


@functools.cache
def observed(path: Path) -> tuple[Scenario, Incident, Observation]:
    scenario = load_scenario(path)
    return (scenario, *observe_scenario(scenario))


@functools.cache
def offline_run(path: Path) -> ScenarioRun:
    """The scenario through observe (shared) → offline analysis → policy, as `run_scenario` runs it."""
    scenario, incident, observation = observed(path)
    diagnosis = analyze(make_analyzer("offline"), incident, observation)
    return ScenarioRun(scenario, incident, observation, diagnosis, validate(incident, observation, diagnosis))
