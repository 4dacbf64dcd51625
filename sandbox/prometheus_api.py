"""A scenario's metric series served as Prometheus' HTTP query API on loopback.

`/api/v1/query_range` (GET or form POST): a query that is exactly one of the scenario's `metrics:`
keys answers a matrix with that series' samples, whatever the window — a frozen scenario has no
"now" — and any other query answers an empty success, as Prometheus does for a series it does not
have. `/api/v1/query` answers the last sample of the series as a vector. Missing parameters are
`bad_data` (400), in Prometheus' error shape.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from sandbox.argocd_api import LoopbackServer

_ERROR_TYPES = {400: "bad_data", 422: "execution", 503: "unavailable", 500: "internal"}


class SandboxPrometheus(LoopbackServer):
    thread_name = "sandbox-prometheus-api"

    def __init__(self, series: dict[str, list[list[Any]]], *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host=host, port=port)
        self.series = {query: [list(s) for s in samples] for query, samples in series.items()}

    def error_body(self, status: int, message: str) -> Any:
        return {"status": "error", "errorType": _ERROR_TYPES.get(status, "internal"), "error": message}

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
                if float(params["step"]) <= 0:
                    raise ValueError
                float(params["start"]), float(params["end"])
            except ValueError:
                return 400, self.error_body(400, "invalid parameter: start, end and step must be numbers")
            samples = self.series.get(params["query"])
            result = [{"metric": {}, "values": [[float(t), str(v)] for t, v in samples]}] if samples else []
            return 200, {"status": "success", "data": {"resultType": "matrix", "result": result}}
        if path == "/api/v1/query":
            if not params.get("query"):
                return 400, self.error_body(400, 'invalid parameter "query": missing')
            samples = self.series.get(params["query"])
            vector: list[dict[str, Any]] = []
            if samples:
                vector = [{"metric": {}, "value": [float(samples[-1][0]), str(samples[-1][1])]}]
            return 200, {"status": "success", "data": {"resultType": "vector", "result": vector}}
        return 404, self.error_body(404, f"no such endpoint {path}")
