"""The prices a running OpenCost puts on a cluster's CPU, memory and storage, read from its
Prometheus exposition (`GET /metrics`, port 9003 of the OpenCost service).

OpenCost publishes one price per node and resource there: `node_cpu_hourly_cost` (per vCPU and
hour) and `node_ram_hourly_cost` (per GiB and hour), labelled by `node`, `instance` and
`instance_type`; and one per persistent volume, `pv_hourly_cost` (per GiB and hour). A change
review wants one figure per resource for the whole cluster, whose nodes may be of mixed types,
so `OpenCostClient.prices()` takes the median over nodes (and over volumes): a few odd nodes (a
GPU node OpenCost puts all its cost on the GPU of, a spot node) do not move it. Storage is the
volumes' median × 730 hours a month, or the default list price when OpenCost prices no volume.

No retries of its own (Temporal retries activities); failures are `OpenCostError`s, each
temporary or permanent (see `integrations.errors`).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from urllib.parse import urlsplit

import httpx
from prometheus_client.parser import text_string_to_metric_families

from domain.review.cost import Prices
from integrations.errors import IntegrationError, PermanentError, TemporaryError, unreachable

DEFAULT_TIMEOUT = 10.0
CPU_METRIC = "node_cpu_hourly_cost"
RAM_METRIC = "node_ram_hourly_cost"
PV_METRIC = "pv_hourly_cost"
_WANTED = (CPU_METRIC, RAM_METRIC, PV_METRIC)
# The Prometheus text format (0.0.4), not OpenMetrics: what OpenCost answers a scraper by default.
_ACCEPT = "text/plain;version=0.0.4;q=1.0, */*;q=0.1"


class OpenCostError(IntegrationError):
    """OpenCost did not give its prices; `status` is the HTTP status (0: no answer)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class OpenCostUnavailable(OpenCostError, TemporaryError):
    """5xx, 429, connection failures and timeouts: worth retrying later."""


class OpenCostInvalid(OpenCostError, PermanentError):
    """4xx (a wrong URL, an authenticating proxy), or an answer without OpenCost's node prices."""


def _keyed(samples: Iterable[tuple[dict[str, str], float]], *keys: str) -> dict[str, float]:
    """One price per object (the first of `keys` its labels have); NaN, ±Inf and negative
    prices are no price at all. A repeated object keeps its last price."""
    found: dict[str, float] = {}
    for labels, value in samples:
        if not math.isfinite(value) or value < 0:
            continue
        name = next((labels[k] for k in keys if labels.get(k)), "") or repr(sorted(labels.items()))
        found[name] = value
    return found


def _metric_lines(text: str) -> str:
    """Only the lines of the metrics read here (comments included), so that a large cluster's
    thousands of per-container series are not parsed for nothing."""
    kept = []
    for line in text.splitlines():
        if line.startswith(("# HELP ", "# TYPE ")):
            name = line[len("# HELP ") :].partition(" ")[0]
        else:
            name = line.partition("{")[0].partition(" ")[0]
        if name in _WANTED:
            kept.append(line)
    return "\n".join(kept) + "\n"


def prices_from_metrics(text: str, where: str) -> Prices:
    """The cluster's prices from OpenCost's exposition `text` (`where`: host:port, for the basis).

    CPU and memory: the median over nodes of `node_cpu_hourly_cost` and `node_ram_hourly_cost`;
    storage: the median over volumes of `pv_hourly_cost` × `Prices.hours_per_month`, or the
    default list price without one. Raises `OpenCostInvalid` naming the node metric missing, or
    when the text is not the Prometheus exposition format."""
    samples: dict[str, list[tuple[dict[str, str], float]]] = {name: [] for name in _WANTED}
    try:
        for family in text_string_to_metric_families(_metric_lines(text)):
            for sample in family.samples:
                if sample.name in samples:
                    samples[sample.name].append((dict(sample.labels), float(sample.value)))
    except ValueError as exc:
        first = (str(exc).splitlines() or [""])[0][:160]
        raise OpenCostInvalid(f"OpenCost at {where} sent metrics that do not parse ({first})") from exc
    cpu = _keyed(samples[CPU_METRIC], "node", "instance")
    ram = _keyed(samples[RAM_METRIC], "node", "instance")
    missing = [name for name, found in ((CPU_METRIC, cpu), (RAM_METRIC, ram)) if not found]
    if missing:
        raise OpenCostInvalid(
            f"OpenCost at {where} publishes no {' and no '.join(missing)} "
            "(is the URL OpenCost's API port, 9003, and has it priced its nodes yet?)"
        )
    volumes = _keyed(samples[PV_METRIC], "persistentvolume", "volumename")
    defaults = Prices()
    nodes = len(cpu.keys() | ram.keys())
    storage = (
        f"storage: median of {len(volumes)} volume{'' if len(volumes) == 1 else 's'}"
        if volumes
        else "storage at the default list price"
    )
    return Prices(
        cpu_core_hour_usd=statistics.median(cpu.values()),
        memory_gib_hour_usd=statistics.median(ram.values()),
        storage_gb_month_usd=(
            statistics.median(volumes.values()) * defaults.hours_per_month
            if volumes
            else defaults.storage_gb_month_usd
        ),
        basis=f"OpenCost at {where} (median of {nodes} node{'' if nodes == 1 else 's'}; {storage})",
    )


class OpenCostClient:
    """Reads one OpenCost's prices. `base_url` is its API's root (`http://opencost.opencost:9003`;
    a trailing `/metrics` is tolerated). Safe to share between threads."""

    def __init__(
        self,
        base_url: str,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/").removesuffix("/metrics")
        parts = urlsplit(self._base_url)
        # host:port without any user:password@
        self.where = parts.netloc.rpartition("@")[2] or self._base_url
        self._http = httpx.Client(
            base_url=self._base_url,
            headers={"Accept": _ACCEPT},
            timeout=timeout,
            transport=transport,
            limits=httpx.Limits(max_keepalive_connections=0),  # see ArgoClient
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> OpenCostClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def metrics(self) -> str:
        """The text of OpenCost's `/metrics`."""
        try:
            response = self._http.get("/metrics")
        except httpx.TimeoutException as exc:
            raise OpenCostUnavailable(f"OpenCost at {self._base_url} did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise OpenCostUnavailable(unreachable("OpenCost", exc, self._base_url)) from exc
        status = response.status_code
        if status >= 300:
            said = (response.text.strip().splitlines() or [response.reason_phrase])[0][:200]
            message = f"OpenCost at {self._base_url} answered /metrics with HTTP {status}: {said}"
            if status == 429 or status >= 500:
                raise OpenCostUnavailable(message, status)
            raise OpenCostInvalid(message, status)
        return response.text

    def prices(self) -> Prices:
        """The cluster's prices per core-hour, GiB-hour and GiB-month: medians over its nodes
        (and volumes), with a basis naming this OpenCost (see `prices_from_metrics`)."""
        return prices_from_metrics(self.metrics(), self.where)
