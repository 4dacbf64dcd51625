"""workload_signals through the real PrometheusClient against the sandbox Prometheus over loopback:
the scenario's before/after figures around a workload's recorded sync, and the query templates."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from integrations.prometheus import (
    SIGNALS,
    PrometheusClient,
    PrometheusInvalid,
    PrometheusUnavailable,
    signal_queries,
    workload_signals,
)
from sandbox.argocd_sync import DeployClock
from sandbox.prometheus_api import SandboxPrometheus
from sandbox.scenario import DeploySignals, SignalValues

SYNC = 1_800_000_000.0
BEFORE = SignalValues(
    request_rate=40.0, error_ratio=0.001, p99_ms=180.0, restarts=0, ready_ratio=1.0, oom_kills=0
)
AFTER = SignalValues(
    request_rate=38.0, error_ratio=0.02, p99_ms=430.0, restarts=3, ready_ratio=0.5, oom_kills=1
)


@pytest.fixture
def clock() -> DeployClock:
    return DeployClock(now=lambda: SYNC + 3600)


@pytest.fixture
def prometheus(clock: DeployClock) -> Iterator[SandboxPrometheus]:
    signals = {
        "shop/checkout": DeploySignals(before=BEFORE, after=AFTER),
        "shop/cart": DeploySignals(before=BEFORE, after=AFTER, noisy=True),
        "shop/quiet": DeploySignals(
            before=SignalValues(ready_ratio=1.0), after=SignalValues(ready_ratio=1.0)
        ),
    }
    with SandboxPrometheus({}, deploy_signals=signals, signal_queries=signal_queries, clock=clock) as server:
        yield server


@pytest.fixture
def client(prometheus: SandboxPrometheus) -> Iterator[PrometheusClient]:
    with PrometheusClient(prometheus.url, timeout=2.0) as client:
        yield client


def test_before_a_recorded_sync_the_signals_are_the_scenarios_before_figures(
    client: PrometheusClient, clock: DeployClock
) -> None:
    clock.mark("shop", "checkout", SYNC)
    baseline = workload_signals(client, "shop", "Deployment", "checkout", SYNC - 600, SYNC)
    assert baseline == pytest.approx(BEFORE.model_dump())


def test_after_a_recorded_sync_the_signals_are_the_scenarios_after_figures(
    client: PrometheusClient, clock: DeployClock
) -> None:
    clock.mark("shop", "checkout", SYNC)
    after = workload_signals(client, "shop", "Deployment", "checkout", SYNC + 1, SYNC + 601)
    assert after == pytest.approx(AFTER.model_dump())


def test_a_workload_never_synced_stays_at_its_before_figures(client: PrometheusClient) -> None:
    later = workload_signals(client, "shop", "Deployment", "checkout", SYNC + 1, SYNC + 601)
    assert later == pytest.approx(BEFORE.model_dump())


def test_a_statefulset_reads_its_own_readiness_metrics(client: PrometheusClient, clock: DeployClock) -> None:
    clock.mark("shop", "checkout", SYNC)
    assert (
        workload_signals(client, "shop", "StatefulSet", "checkout", SYNC + 1, SYNC + 601)["ready_ratio"]
        == 0.5
    )


def test_signals_without_a_series_are_none(client: PrometheusClient) -> None:
    quiet = workload_signals(client, "shop", "Deployment", "quiet", SYNC - 600, SYNC)
    assert quiet == {**dict.fromkeys(SIGNALS), "ready_ratio": 1.0}
    unknown = workload_signals(client, "elsewhere", "Deployment", "nothing", SYNC - 600, SYNC)
    assert unknown == dict.fromkeys(SIGNALS)
    # a kind without a readiness query has no ready ratio
    assert workload_signals(client, "shop", "Rollout", "quiet", SYNC - 600, SYNC)["ready_ratio"] is None


def test_noisy_signals_stay_within_a_fifth_of_the_figures_and_repeat_exactly(
    client: PrometheusClient, clock: DeployClock
) -> None:
    clock.mark("shop", "cart", SYNC)
    first = workload_signals(client, "shop", "Deployment", "cart", SYNC + 1, SYNC + 601, step=15)
    assert first == workload_signals(client, "shop", "Deployment", "cart", SYNC + 1, SYNC + 601, step=15)
    expected = AFTER.model_dump()
    for signal in ("request_rate", "error_ratio", "p99_ms"):
        value = first[signal]
        assert value is not None and value != expected[signal]
        assert abs(value - expected[signal]) <= 0.2 * expected[signal], signal
    assert {k: first[k] for k in ("restarts", "ready_ratio", "oom_kills")} == {
        "restarts": 3.0,
        "ready_ratio": 0.5,
        "oom_kills": 1.0,
    }


def test_the_sandbox_keeps_answering_its_exact_metric_queries(clock: DeployClock) -> None:
    query = 'up{job="checkout"}'
    signals = {"shop/checkout": DeploySignals(before=BEFORE, after=AFTER)}
    with (
        SandboxPrometheus(
            {query: [[SYNC, 1]]}, deploy_signals=signals, signal_queries=signal_queries, clock=clock
        ) as server,
        PrometheusClient(server.url, timeout=2.0) as client,
    ):
        assert client.query_range(query, 0, 60, 15) == [(SYNC, 1.0)]


def test_an_empty_window_is_refused() -> None:
    with PrometheusClient("http://127.0.0.1:9", timeout=0.5) as client, pytest.raises(PrometheusInvalid):
        workload_signals(client, "shop", "Deployment", "checkout", SYNC, SYNC)


def test_an_unreachable_prometheus_is_unavailable() -> None:
    with PrometheusClient("http://127.0.0.1:9", timeout=0.5) as client, pytest.raises(PrometheusUnavailable):
        workload_signals(client, "shop", "Deployment", "checkout", SYNC - 600, SYNC)


def test_the_queries_follow_kube_state_metrics_and_the_http_metrics() -> None:
    queries = signal_queries("shop", "Deployment", "checkout", 600)
    assert set(queries) == set(SIGNALS)
    assert queries["error_ratio"].count('code=~"5.."') == 1
    assert queries["p99_ms"].startswith("1000 * histogram_quantile(0.99,")
    assert 'pod=~"checkout-.*"}[600s]' in queries["restarts"]
    assert 'reason="OOMKilled"' in queries["oom_kills"]
    assert 'kube_deployment_spec_replicas{namespace="shop",deployment="checkout"}' in queries["ready_ratio"]
    stateful = signal_queries("shop", "StatefulSet", "db", 60)["ready_ratio"]
    assert 'kube_statefulset_replicas{namespace="shop",statefulset="db"}' in stateful
    assert "ready_ratio" not in signal_queries("shop", "Rollout", "web", 60)
