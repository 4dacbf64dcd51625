"""A scenario's metric series served as Prometheus' HTTP query API on loopback.

`/api/v1/query_range` (GET or form POST): a query that is exactly one of the scenario's `metrics:`
keys answers a matrix with that series' samples, whatever the window — a frozen scenario has no
"now". A query that is one of `integrations.prometheus.workload_signals`' queries for a workload of
the scenario's `deploy_signals:` answers a series that changes at that workload's last sync, as the
sandbox Argo CD recorded it in the shared `DeployClock`: a sample at every step from start to end,
with the workload's `before` value at instants up to the sync (or when it never synced) and its
`after` value at instants after it, so a baseline window ending at the sync is all "before" — until
a later sync puts the workload's pod template back as it started (a revert), after which it is
`before` again. A
counted signal (restarts, OOM kills) is taken as the count over its lookback window, whatever its
length. `noisy` workloads jitter the request rate, error ratio and p99 by up to ±20%,
deterministically (a hash of workload, signal and instant). A signal the scenario leaves out has
no series. Any other query answers an empty success, as Prometheus does for a series it does not
have. `/api/v1/query` answers the sample at `time` (default: now) for a signal, the last sample of
a `metrics:` series, both as a vector. Missing or malformed parameters are `bad_data` (400), in
Prometheus' error shape.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs

from sandbox.argocd_api import LoopbackServer
from sandbox.argocd_sync import DeployClock
from sandbox.scenario import DeploySignals

_ERROR_TYPES = {400: "bad_data", 422: "execution", 503: "unavailable", 500: "internal"}
_MAX_POINTS = 11_000  # Prometheus refuses a range query with more points per series
_NOISY_SIGNALS = ("request_rate", "error_ratio", "p99_ms")
_JITTER = 0.2
_WINDOW = re.compile(r"\[(\d+)s\]")
_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "")

# (namespace, kind, name, window seconds) -> {signal: PromQL}: the queries medic sends for a
# workload (`integrations.prometheus.signal_queries`). Passed in, as the sandbox sits beside the
# integrations in the layers and does not import them; the templates stay listed once.
SignalQueries = Callable[[str, str, str, int], Mapping[str, str]]


class SandboxPrometheus(LoopbackServer):
    """Prometheus' query API over a scenario's `metrics:` (exact queries) and `deploy_signals:`
    (workloads whose signals change at their last sync, read from `clock`); `signal_queries`
    renders the queries to recognise, and is needed with `deploy_signals`."""

    thread_name = "sandbox-prometheus-api"

    def __init__(
        self,
        series: dict[str, list[list[Any]]],
        *,
        deploy_signals: Mapping[str, DeploySignals] | None = None,
        signal_queries: SignalQueries | None = None,
        clock: DeployClock | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.series = {query: [list(s) for s in samples] for query, samples in series.items()}
        self.deploy_signals = dict(deploy_signals or {})
        if self.deploy_signals and signal_queries is None:
            raise ValueError("serving deploy_signals needs the signal queries to recognise")
        self._render = signal_queries
        self.clock = clock or DeployClock()
        # lookback window (seconds) -> {signal query: (workload key, signal)}
        self._signal_queries: dict[int, dict[str, tuple[str, str]]] = {}

    def error_body(self, status: int, message: str) -> Any:
        return {"status": "error", "errorType": _ERROR_TYPES.get(status, "internal"), "error": message}

    # --- deploy signals --------------------------------------------------------------------------

    def _signal_of(self, query: str) -> tuple[str, str] | None:
        """(workload key, signal) when `query` is a signal query of a deploy_signals workload."""
        if not self.deploy_signals or self._render is None:
            return None
        found = _WINDOW.search(query)
        window = int(found.group(1)) if found else 0
        with self._lock:
            known = self._signal_queries.get(window)
            if known is None:
                known = {}
                for key in self.deploy_signals:
                    namespace, name = key.split("/", 1)
                    for kind in _KINDS:
                        for signal, rendered in self._render(namespace, kind, name, window).items():
                            known.setdefault(rendered, (key, signal))
                self._signal_queries[window] = known
        return known.get(query)

    def signal_value(self, key: str, signal: str, at: float) -> float | None:
        """The value of a workload's signal at instant `at` (None: no sample)."""
        scenario = self.deploy_signals[key]
        namespace, name = key.split("/", 1)
        # in milliseconds, Prometheus' resolution: clients send times to the millisecond; a sync
        # that put the workload back as it started (a revert) brings the `before` values back
        after = self.clock.changed_at(namespace, name, at)
        values = scenario.after if after else scenario.before
        value = getattr(values, signal)
        if value is None:
            return None
        if scenario.noisy and signal in _NOISY_SIGNALS:
            digest = hashlib.sha256(f"{key}|{signal}|{at:.3f}".encode()).digest()
            unit = int.from_bytes(digest[:8], "big") / 2**64  # [0, 1)
            value *= 1 + _JITTER * (2 * unit - 1)
        return float(value)

    def _signal_series(self, key: str, signal: str, start: float, end: float, step: float) -> list[list[Any]]:
        samples: list[list[Any]] = []
        count = int((end - start) // step) + 1
        for i in range(count):
            at = start + i * step
            value = self.signal_value(key, signal, at)
            if value is not None:
                samples.append([at, value])
        return samples

    # --- the API ---------------------------------------------------------------------------------

    def respond(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> tuple[int, Any]:
        params = dict(query)
        if method == "POST":
            params.update({k: v[-1] for k, v in parse_qs(body.decode(errors="replace")).items()})
        if path == "/-/ready":
            return 200, {"status": "success"}
        if path == "/api/v1/query_range":
            for name in ("query", "start", "end", "step"):
                if not params.get(name):
                    return 400, self.error_body(400, f'invalid parameter "{name}": missing')
            try:
                start, end, step = float(params["start"]), float(params["end"]), float(params["step"])
                if step <= 0:
                    raise ValueError
            except ValueError:
                return 400, self.error_body(400, "invalid parameter: start, end and step must be numbers")
            if end < start:
                return 400, self.error_body(
                    400, 'invalid parameter "end": end timestamp must not be before start time'
                )
            if (end - start) / step > _MAX_POINTS:
                return 400, self.error_body(
                    400,
                    "exceeded maximum resolution of 11,000 points per timeseries."
                    " Try decreasing the query resolution (?step=XX)",
                )
            samples = self.series.get(params["query"])
            if samples is None and (signal := self._signal_of(params["query"])) is not None:
                samples = self._signal_series(*signal, start, end, step)
            result = [{"metric": {}, "values": [[float(t), str(v)] for t, v in samples]}] if samples else []
            return 200, {"status": "success", "data": {"resultType": "matrix", "result": result}}
        if path == "/api/v1/query":
            if not params.get("query"):
                return 400, self.error_body(400, 'invalid parameter "query": missing')
            vector: list[dict[str, Any]] = []
            samples = self.series.get(params["query"])
            if samples:
                vector = [{"metric": {}, "value": [float(samples[-1][0]), str(samples[-1][1])]}]
            elif (signal := self._signal_of(params["query"])) is not None:
                try:
                    at = float(params["time"]) if params.get("time") else self.clock.now()
                except ValueError:
                    return 400, self.error_body(400, 'invalid parameter "time": not a number')
                value = self.signal_value(*signal, at)
                if value is not None:
                    vector = [{"metric": {}, "value": [at, str(value)]}]
            return 200, {"status": "success", "data": {"resultType": "vector", "result": vector}}
        return 404, self.error_body(404, f"no such endpoint {path}")
