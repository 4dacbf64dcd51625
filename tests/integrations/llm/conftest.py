"""Fixtures for the model integrations: observations of the shared scenarios, and the clients under
test pointed at loopback fakes (pytest-httpserver) that speak the providers' wire formats."""

from __future__ import annotations

import functools
from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer

from activities.observe import build_observation
from domain.incident.alerts import AlertGroup
from domain.incident.model import Incident, incident_from_group
from domain.kube.observation import ArgoApplication, GitOpsFile, MetricSeries, Observation
from integrations.kubernetes import KubeClient
from integrations.llm.anthropic_analyzer import AnthropicAnalyzer
from integrations.llm.openai_analyzer import OpenAIAnalyzer
from sandbox.cluster import SandboxCluster
from sandbox.scenario import SHARED_SCENARIOS, Scenario, load_named
from sandbox.server import SandboxServer

CLIENT_TIMEOUT = 1.0
SHARED_SCENARIO_NAMES = sorted(p.stem for p in SHARED_SCENARIOS.glob("*.yaml"))


def _with_scenario_extras(observation: Observation, scenario: Scenario) -> Observation:
    """The scenario's Argo CD applications, GitOps files and metric series, for whichever of them
    observe does not collect (yet): the prompt budget must hold with all of them present."""
    update: dict[str, object] = {}
    if not observation.argocd and scenario.argocd:
        update["argocd"] = [
            ArgoApplication(
                id=f"argocd/{a['metadata'].get('namespace', 'argocd')}/{a['metadata']['name']}",
                name=a["metadata"]["name"],
                project=str((a.get("spec") or {}).get("project", "")),
                sync_status=str(((a.get("status") or {}).get("sync") or {}).get("status", "")),
                health_status=str(((a.get("status") or {}).get("health") or {}).get("status", "")),
                health_message=str(((a.get("status") or {}).get("health") or {}).get("message", "")),
                sources=list(
                    (a.get("spec") or {}).get("sources") or [(a.get("spec") or {}).get("source") or {}]
                ),
                resources=list((a.get("status") or {}).get("resources") or []),
            )
            for a in scenario.argocd
        ]
    if not observation.gitops_files and scenario.gitops:
        update["gitops_files"] = [
            GitOpsFile(id=f"gitops/{path}", path=path, content=content)
            for path, content in scenario.gitops.items()
        ]
    if not observation.metrics and scenario.metrics:
        update["metrics"] = [
            MetricSeries(
                id=f"metric/series-{index}",
                name=f"series_{index}",
                query=query,
                samples=[(float(t), float(v)) for t, v in samples],
            )
            for index, (query, samples) in enumerate(scenario.metrics.items())
        ]
    return observation.model_copy(update=update) if update else observation


@functools.cache
def scenario_case(name: str) -> tuple[Incident, Observation]:
    """The incident of a shared scenario and what observe sees of it in the sandbox (cached: both are
    frozen)."""
    scenario = load_named(name)
    incident = incident_from_group(f"wf-{name}", AlertGroup.model_validate(scenario.alert))
    with SandboxServer(SandboxCluster(scenario)) as server:
        kube = KubeClient.from_settings(server.url)
        try:
            observation = build_observation(kube, incident)
        finally:
            kube.close()
    return incident, _with_scenario_extras(observation, scenario)


@pytest.fixture
def oom_case() -> tuple[Incident, Observation]:
    return scenario_case("oom-helm-values")


@pytest.fixture
def anthropic_analyzer(httpserver: HTTPServer) -> Iterator[AnthropicAnalyzer]:
    """The real `anthropic` client, built by the factory, talking to the loopback fake."""
    analyzer = AnthropicAnalyzer.from_settings(
        api_key="sk-ant-test", model="claude-test", base_url=httpserver.url_for(""), timeout=CLIENT_TIMEOUT
    )
    try:
        yield analyzer
    finally:
        analyzer.close()


@pytest.fixture
def openai_analyzer(httpserver: HTTPServer) -> Iterator[OpenAIAnalyzer]:
    analyzer = OpenAIAnalyzer.from_settings(
        base_url=httpserver.url_for("/v1"), model="qwen-test", api_key="local-key", timeout=CLIENT_TIMEOUT
    )
    try:
        yield analyzer
    finally:
        analyzer.close()
