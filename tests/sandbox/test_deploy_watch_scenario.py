"""sandbox/scenarios/deploy-watch.yaml (`medic dev --sandbox`, and the demo's bad deploy): it loads,
each of its three Applications manages one of its workloads from its GitOps files, and the next
deploy of each is judged, by the deploy watch's own rules on the signals the real PrometheusClient
reads from the sandbox Prometheus around a recorded sync, as its summary says: store-web verified,
store-checkout degraded by the error ratio, store-search (noisy) verified."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from domain.deploy.model import Signals, WatchRules, WorkloadRef
from domain.deploy.rules import judge
from integrations.prometheus import PrometheusClient, signal_queries, workload_signals
from policies import deploy_watch_rules
from sandbox.argocd_sync import DeployClock
from sandbox.prometheus_api import SandboxPrometheus
from sandbox.scenario import Scenario, load_scenario

SCENARIO = Path(__file__).resolve().parents[2] / "sandbox" / "scenarios" / "deploy-watch.yaml"
SYNC = 1_800_000_000.0
# Application -> its workload and the verdict its next deploy gets
EXPECTED = {
    "store-web": ("web", "healthy"),
    "store-checkout": ("checkout", "degraded"),
    "store-search": ("search", "healthy"),
}
# the shipped windows (10 minutes, sampled every minute) and the demo's (6 s, every second)
DEMO_RULES = WatchRules(analysis_window_seconds=6, sample_interval_seconds=1)


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return load_scenario(SCENARIO)


@pytest.fixture
def clock() -> DeployClock:
    return DeployClock(now=lambda: SYNC + 3600)


@pytest.fixture
def client(scenario: Scenario, clock: DeployClock) -> Iterator[PrometheusClient]:
    with (
        SandboxPrometheus(
            {}, deploy_signals=scenario.deploy_signals, signal_queries=signal_queries, clock=clock
        ) as server,
        PrometheusClient(server.url, timeout=2.0) as client,
    ):
        yield client


def test_the_scenario_loads_with_three_applications_each_managing_a_workload_with_signals(
    scenario: Scenario,
) -> None:
    assert {app["metadata"]["name"] for app in scenario.argocd} == set(EXPECTED)
    workloads = {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in scenario.cluster}
    for app in scenario.argocd:
        name = EXPECTED[app["metadata"]["name"]][0]
        assert ("store", name) in workloads
        assert app["spec"]["source"]["path"] == f"apps/store/{name}"
        assert app["spec"]["syncPolicy"]["automated"], "Argo CD syncs the next commit on a refresh"
        deployment = yaml.safe_load(scenario.gitops[f"apps/store/{name}/deployment.yaml"])
        live = next(o for o in scenario.cluster if o["metadata"]["name"] == name)
        assert deployment["spec"]["template"] == live["spec"]["template"], name
    assert set(scenario.deploy_signals) == {"store/web", "store/checkout", "store/search"}
    assert [key for key, s in scenario.deploy_signals.items() if s.noisy] == ["store/search"]


@pytest.mark.parametrize("application", sorted(EXPECTED))
@pytest.mark.parametrize("rules", ["shipped", "demo"])
def test_each_applications_next_deploy_gets_the_verdict_its_summary_promises(
    client: PrometheusClient, clock: DeployClock, application: str, rules: str
) -> None:
    name, expected = EXPECTED[application]
    watch = DEMO_RULES if rules == "demo" else deploy_watch_rules(application, "argocd")
    clock.mark("store", name, SYNC)
    ref = WorkloadRef(namespace="store", kind="Deployment", name=name)

    def window(start: float, end: float) -> Signals:
        return Signals(**workload_signals(client, "store", "Deployment", name, start, end))

    before = window(SYNC - watch.baseline_window_seconds, SYNC)
    after = window(SYNC + 1, SYNC + watch.analysis_window_seconds)
    verdict = judge({ref: before}, {ref: after}, watch)

    assert verdict.state == expected, verdict.summary
    if expected == "degraded":
        (fired,) = verdict.fired
        assert fired.rule == "error_ratio"
        assert fired.message == "error ratio 4.00% vs 0.20% before (20.0×; rule: ≥3× and ≥1.00%)"
    else:
        assert verdict.fired == []
