"""A thin, blocking client over Prometheus' HTTP API (`/api/v1/query_range`), the PromQL
templates medic reads for a workload, and `workload_signals`: the figures a deploy watch compares
before and after a sync.

No retries of its own (Temporal retries activities); failures are one of a small closed set of
`PrometheusError`s, each temporary or permanent (see `integrations.errors`).
"""

from __future__ import annotations

import math
from typing import Any, Final

import httpx

from integrations.errors import IntegrationError, PermanentError, TemporaryError, unreachable

DEFAULT_TIMEOUT = 10.0

# name -> PromQL, formatted with namespace, workload (the Service and the pods' name prefix) and
# container. They follow the usual kube-state-metrics / cAdvisor / HTTP instrumentation names.
QUERY_TEMPLATES: dict[str, str] = {
    "request_rate": 'sum(rate(http_requests_total{{namespace="{namespace}",service="{workload}"}}[5m]))',
    "error_rate": (
        'sum(rate(http_requests_total{{namespace="{namespace}",service="{workload}",code=~"5.."}}[5m]))'
    ),
    "latency_p99": (
        "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket"
        '{{namespace="{namespace}",service="{workload}"}}[5m])))'
    ),
    "cpu_usage_ratio": (
        "sum(rate(container_cpu_usage_seconds_total"
        '{{namespace="{namespace}",pod=~"{workload}-.*",container="{container}"}}[5m]))'
        " / sum(kube_pod_container_resource_limits"
        '{{namespace="{namespace}",pod=~"{workload}-.*",container="{container}",resource="cpu"}})'
    ),
    "cpu_throttling": (
        "sum(increase(container_cpu_cfs_throttled_periods_total"
        '{{namespace="{namespace}",container="{container}"}}[5m]))'
        " / sum(increase(container_cpu_cfs_periods_total"
        '{{namespace="{namespace}",container="{container}"}}[5m]))'
    ),
    "memory_usage_ratio": (
        'max(container_memory_working_set_bytes{{namespace="{namespace}",container="{container}"}})'
        " / max(kube_pod_container_resource_limits"
        '{{namespace="{namespace}",container="{container}",resource="memory"}})'
    ),
}
# Templates that are about one container (the others are about the workload's Service).
CONTAINER_QUERIES = ("cpu_usage_ratio", "cpu_throttling", "memory_usage_ratio")
WORKLOAD_QUERIES = tuple(name for name in QUERY_TEMPLATES if name not in CONTAINER_QUERIES)


# The signals a deploy watch compares (the names of the deploy-watch `Signals` model), listed once:
# name -> PromQL, formatted with namespace, workload and window (whole seconds, for the counters).
# Kept apart from QUERY_TEMPLATES, whose workload queries are what observation reads for an alert.
# The HTTP signals reuse QUERY_TEMPLATES' metrics; a workload's pods are `<workload>-.*`, as
# kube-state-metrics labels a Deployment's or StatefulSet's pods.
_REQUESTS = QUERY_TEMPLATES["request_rate"]
_RESTARTS = 'kube_pod_container_status_restarts_total{{namespace="{namespace}",pod=~"{workload}-.*"}}'
SIGNAL_TEMPLATES: dict[str, str] = {
    "request_rate": _REQUESTS,
    # `or 0 * requests`: a service without a single 5xx has ratio 0, not "no data".
    "error_ratio": f"({QUERY_TEMPLATES['error_rate']} or 0 * {_REQUESTS}) / {_REQUESTS}",
    "p99_ms": f"1000 * {QUERY_TEMPLATES['latency_p99']}",
    "restarts": f"sum(increase({_RESTARTS}[{{window}}s]))",
    # Restarts whose container's last termination was an OOM kill. (`changes()` of the reason gauge
    # alone misses the first kill — the series appears, it does not change — and every repeat,
    # since the gauge stays 1.) `or 0 * …`: pods without an OOM kill count 0, not "no data".
    "oom_kills": (
        f"sum(increase({_RESTARTS}[{{window}}s]) and on (namespace, pod, container) "
        "(kube_pod_container_status_last_terminated_reason"
        '{{namespace="{namespace}",pod=~"{workload}-.*",reason="OOMKilled"}} == 1))'
        f" or 0 * sum({_RESTARTS})"
    ),
}
# ready_ratio per workload kind: ready replicas / wanted replicas.
READY_TEMPLATES: dict[str, str] = {
    "Deployment": (
        'sum(kube_deployment_status_replicas_ready{{namespace="{namespace}",deployment="{workload}"}})'
        ' / sum(kube_deployment_spec_replicas{{namespace="{namespace}",deployment="{workload}"}})'
    ),
    "StatefulSet": (
        'sum(kube_statefulset_status_replicas_ready{{namespace="{namespace}",statefulset="{workload}"}})'
        ' / sum(kube_statefulset_replicas{{namespace="{namespace}",statefulset="{workload}"}})'
    ),
    "DaemonSet": (
        'sum(kube_daemonset_status_number_ready{{namespace="{namespace}",daemonset="{workload}"}})'
        " / sum(kube_daemonset_status_desired_number_scheduled"
        '{{namespace="{namespace}",daemonset="{workload}"}})'
    ),
}
SIGNALS: Final = ("request_rate", "error_ratio", "p99_ms", "restarts", "ready_ratio", "oom_kills")
# Counted over the whole window (one evaluation at its end); the others are a mean of samples.
COUNTED_SIGNALS: Final = ("restarts", "oom_kills")
DEFAULT_SIGNAL_STEP = 30.0


def signal_queries(namespace: str, kind: str, name: str, window: int) -> dict[str, str]:
    """The PromQL of each signal of one workload, `window` seconds for the counted ones; a kind
    without a readiness template (not a Deployment, StatefulSet or DaemonSet) has no ready_ratio."""
    templates = dict(SIGNAL_TEMPLATES)
    if kind in READY_TEMPLATES:
        templates["ready_ratio"] = READY_TEMPLATES[kind]
    return {
        signal: templates[signal].format(namespace=namespace, workload=name, window=window)
        for signal in SIGNALS
        if signal in templates
    }


def render_query(name: str, *, namespace: str, workload: str, container: str = "") -> str:
    """The PromQL of template `name` for one workload (and container)."""
    return QUERY_TEMPLATES[name].format(namespace=namespace, workload=workload, container=container)


class PrometheusError(IntegrationError):
    """A query Prometheus did not answer; `status` is the HTTP status (0: no answer)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class PrometheusInvalid(PrometheusError, PermanentError):
    """400 / 422 and other refusals of the query itself (bad_data, execution): do not retry."""


class PrometheusForbidden(PrometheusError, PermanentError):
    """401 / 403 (an authenticating proxy in front of Prometheus)."""


class PrometheusUnavailable(PrometheusError, TemporaryError):
    """5xx, 429, connection failures and timeouts: worth retrying later."""


def _error_of(response: httpx.Response) -> PrometheusError:
    try:
        body = response.json()
        message = f"{body.get('errorType', 'error')}: {body.get('error', '')}"
    except (ValueError, AttributeError):
        message = response.text[:500] or response.reason_phrase
    status = response.status_code
    if status in (401, 403):
        return PrometheusForbidden(message, status)
    if status == 429 or status >= 500:
        return PrometheusUnavailable(message, status)
    return PrometheusInvalid(message, status)


def _samples(values: list[Any]) -> list[tuple[float, float]]:
    samples: list[tuple[float, float]] = []
    for pair in values:
        try:
            ts, value = float(pair[0]), float(pair[1])
        except (TypeError, ValueError, IndexError):
            continue
        # NaN / ±Inf do not survive JSON round trips; a gap says as much.
        if math.isfinite(ts) and math.isfinite(value):
            samples.append((ts, value))
    return samples


class PrometheusClient:
    """Blocking range queries against one Prometheus. Safe to share between threads."""

    def __init__(
        self,
        base_url: str,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self._base_url,
            headers={"Accept": "application/json"},
            timeout=timeout,
            transport=transport,
            limits=httpx.Limits(max_keepalive_connections=0),  # see ArgoClient
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PrometheusClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def query_range_series(
        self, query: str, start: float, end: float, step: float
    ) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
        """Every series of a range query: (labels, [(unix seconds, value)]) in the order sent."""
        params = {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        try:
            response = self._http.get("/api/v1/query_range", params=params)
        except httpx.TimeoutException as exc:
            raise PrometheusUnavailable(f"Prometheus at {self._base_url} did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise PrometheusUnavailable(unreachable("Prometheus", exc, str(self._base_url))) from exc
        if response.status_code >= 300:
            raise _error_of(response)
        try:
            body = response.json()
        except ValueError as exc:
            raise PrometheusInvalid(
                f"Prometheus sent something that is not JSON: {response.text[:200]!r}", response.status_code
            ) from exc
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error", "") if isinstance(body, dict) else ""
            raise PrometheusInvalid(f"query failed: {error or 'no success status'}", response.status_code)
        data = body.get("data") or {}
        if data.get("resultType") != "matrix":
            raise PrometheusInvalid(f"expected a matrix result, got {data.get('resultType')!r}")
        return [
            (
                {str(k): str(v) for k, v in (series.get("metric") or {}).items()},
                _samples(series.get("values") or []),
            )
            for series in data.get("result") or []
        ]

    def query_range(self, query: str, start: float, end: float, step: float) -> list[tuple[float, float]]:
        """The samples of a range query that yields one series (medic's templates aggregate to
        one); the first series when there are several; [] when there is none."""
        series = self.query_range_series(query, start, end, step)
        return series[0][1] if series else []


def workload_signals(
    client: PrometheusClient,
    namespace: str,
    kind: str,
    name: str,
    start: float,
    end: float,
    *,
    step: float = DEFAULT_SIGNAL_STEP,
) -> dict[str, float | None]:
    """The deploy-watch signals of one workload over the window [start, end] (unix seconds).

    Aggregation: request_rate (requests/s), error_ratio (5xx / all, 0..1), p99_ms and ready_ratio
    (0..1) are the mean of a range query's samples over the window at `step` seconds (the rates
    look back 5 minutes, so a sample early in the window still sees some of the time before it);
    restarts and oom_kills are the count over the whole window, summed over the workload's pods
    (`increase(…[window])` evaluated once, at `end`). Every signal is present as a key; its value is
    None when Prometheus has no series for it (no such metric, no pods, no traffic, or a kind
    without a readiness query for ready_ratio). Errors are `PrometheusError`s: an empty window is
    `PrometheusInvalid`.
    """
    if not (math.isfinite(start) and math.isfinite(end)) or end <= start:
        raise PrometheusInvalid(f"the window [{start}, {end}] is empty")
    if step <= 0:
        raise PrometheusInvalid(f"the step must be positive, got {step}")
    window = max(1, round(end - start))
    queries = signal_queries(namespace, kind, name, window)
    signals: dict[str, float | None] = dict.fromkeys(SIGNALS)
    for signal, query in queries.items():
        if signal in COUNTED_SIGNALS:
            samples = client.query_range(query, end, end, step)
            signals[signal] = samples[-1][1] if samples else None
        else:
            samples = client.query_range(query, start, end, step)
            signals[signal] = sum(v for _, v in samples) / len(samples) if samples else None
    return signals
