"""PrometheusClient against the sandbox Prometheus over loopback HTTP, and the query templates."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from integrations.prometheus import (
    QUERY_TEMPLATES,
    PrometheusClient,
    PrometheusInvalid,
    PrometheusUnavailable,
    render_query,
)
from sandbox.prometheus_api import SandboxPrometheus
from sandbox.scenario import SHARED_SCENARIOS, load_named, load_scenario

# scenario -> (namespace, workload, container) its metrics are about
METRIC_TARGETS = {
    "saturation-direct-scale": ("search", "query-api", "query-api"),
    "log-injection-oom": ("reports", "renderer", "renderer"),
}


@pytest.fixture
def prometheus() -> Iterator[SandboxPrometheus]:
    with SandboxPrometheus(load_named("saturation-direct-scale").metrics) as server:
        yield server


@pytest.fixture
def client(prometheus: SandboxPrometheus) -> Iterator[PrometheusClient]:
    with PrometheusClient(prometheus.url, timeout=2.0) as client:
        yield client


def test_templates_render_every_shared_scenario_query_exactly() -> None:
    with_metrics = {p.stem for p in SHARED_SCENARIOS.glob("*.yaml") if load_scenario(p).metrics}
    assert with_metrics == set(METRIC_TARGETS), "a new scenario with metrics needs its target here"
    for name, (namespace, workload, container) in METRIC_TARGETS.items():
        rendered = {
            render_query(q, namespace=namespace, workload=workload, container=container)
            for q in QUERY_TEMPLATES
        }
        assert set(load_named(name).metrics) <= rendered, name


def test_query_range_returns_the_series_samples_as_floats(client: PrometheusClient) -> None:
    query = render_query("latency_p99", namespace="search", workload="query-api")
    samples = client.query_range(query, 1795459000, 1795461000, 60)
    assert len(samples) == 16
    assert samples[0] == (1795459200.0, 0.241) and samples[-1] == (1795460100.0, 1.794)


def test_a_query_without_series_is_an_empty_list(client: PrometheusClient) -> None:
    assert client.query_range('up{job="nothing"}', 0, 60, 15) == []


def test_a_refused_query_is_prometheus_invalid(
    prometheus: SandboxPrometheus, client: PrometheusClient
) -> None:
    prometheus.fail_next(400)
    with pytest.raises(PrometheusInvalid) as caught:
        client.query_range("up", 0, 60, 15)
    assert caught.value.status == 400 and "bad_data" in caught.value.message
    with pytest.raises(PrometheusInvalid):
        client.query_range("up", 0, 60, 0)  # a step of 0 is bad_data


def test_server_errors_are_prometheus_unavailable(
    prometheus: SandboxPrometheus, client: PrometheusClient
) -> None:
    prometheus.fail_next(500)
    with pytest.raises(PrometheusUnavailable) as caught:
        client.query_range("up", 0, 60, 15)
    assert caught.value.status == 500
    assert client.query_range("up", 0, 60, 15) == [], "one fault only"


def test_a_slow_server_is_prometheus_unavailable(prometheus: SandboxPrometheus) -> None:
    prometheus.delay = 2.0
    with PrometheusClient(prometheus.url, timeout=0.2) as impatient, pytest.raises(PrometheusUnavailable):
        impatient.query_range("up", 0, 60, 15)


def test_non_finite_samples_are_dropped() -> None:
    series = {"x": [[1, "NaN"], [2, "+Inf"], [3, "1.5"]]}
    with SandboxPrometheus(series) as server, PrometheusClient(server.url) as client:
        assert client.query_range("x", 0, 10, 1) == [(3.0, 1.5)]
