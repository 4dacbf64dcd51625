"""Webhook ingestion against the Temporal client alone, side by side, on the embedded stack.

    .venv/bin/python bench/ingest.py [--alerts 500] [--concurrency 20] [--latency-alerts 200] [--runs 3]
                                     [--temporal-in-memory]

Starts a Temporal dev server as the embedded stack runs it (`medic dev`, `./run demo`: its history
kept in a SQLite file) and the gateway as its own process on loopback (uvicorn,
`gateway.server:app`, over a migrated SQLite store), then, in each of `--runs` rounds:

- at concurrency `--concurrency`, posts `--alerts` Alertmanager notifications, each its own alert
  group, and measures alerts/s; and signal-with-starts as many workflows straight through the
  Temporal client, at the same concurrency: the throughput ratio webhook/client is the gateway's
  cost;
- at concurrency 1, `--latency-alerts` of each, one after the other: the ratio of the p50
  latencies is what the gateway adds to one notification.

The two paths take turns within each round (one request each at concurrency 1, slices of 5C
notifications at concurrency C), so that a busy moment of the machine falls on both alike.
The client path makes the very call the gateway makes (`gateway.ingest.send` of the same
notification, redacted and fitted beforehand, outside the timing): what it measures is the
Temporal client and server alone. The webhook is posted with aiohttp, whose own cost per request
is a fraction of httpx's (Alertmanager itself posts from Go); the round trip of `GET /healthz` is
printed beside the results as the HTTP floor. Which path goes first alternates from round to
round, and each figure reported is the median over the rounds. No worker runs: this measures
ingestion, not remediation.

`--temporal-in-memory` starts the dev server with no file instead, as the tests do: each call is
cheaper there (no write to disk), so the same gateway is a larger share of a notification's time.

At concurrency 1 a third path takes its turn with the two: `bench/forwarder.py`, a bare ASGI app
served by uvicorn in a process of its own, which answers each POST by making the same Temporal
call with a notification read once — nothing parsed, validated or redacted per request. Its p50
against the client's is the floor of the latency ratio on this machine (what any HTTP service in
front of Temporal pays: its own process, two more wake-ups); the webhook's p50 beyond the
forwarder's is the gateway's own work, printed in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cli.devserver import DevServer, free_port, port_open  # noqa: E402
from domain.settings import Settings  # noqa: E402
from gateway.ingest import read_notification, send  # noqa: E402
from integrations.temporal.client import connect  # noqa: E402
from store.migrate import upgrade  # noqa: E402

TOKEN = "bench-token"
FIXTURE = REPO.parent / "shared" / "fixtures" / "alertmanager" / "oomkilled-firing.json"
FALLBACK = REPO / "sandbox" / "scenarios" / "demo-oom.yaml"

# The targets: webhook throughput at least this share of the client's, and a webhook p50
# at concurrency 1 at most this multiple of the client's.
THROUGHPUT_TARGET = 0.9
LATENCY_TARGET = 1.25

# At concurrency C the two paths take turns in slices of this many notifications per slot.
SLICE_PER_SLOT = 5

Job = Callable[[], Awaitable[None]]


def base_payload() -> dict[str, Any]:
    if FIXTURE.exists():
        return dict(json.loads(FIXTURE.read_text()))
    import yaml

    return dict(yaml.safe_load(FALLBACK.read_text())["alert"])


def bodies(count: int, run: str) -> list[bytes]:
    """`count` notifications, each its own alert group, as the bytes Alertmanager would post."""
    base = base_payload()
    return [
        json.dumps(dict(base, groupKey=f"{base['groupKey']}:bench-{run}-{i}")).encode() for i in range(count)
    ]


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


@dataclass(frozen=True)
class Sample:
    """One path's run: how many, in how long, and each request's latency (seconds)."""

    count: int
    elapsed: float
    latencies: tuple[float, ...]

    @property
    def rate(self) -> float:
        return self.count / self.elapsed

    @property
    def p50(self) -> float:
        return percentile(self.latencies, 0.50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies, 0.99)


def merged(samples: Sequence[Sample]) -> Sample:
    return Sample(
        sum(x.count for x in samples),
        sum(x.elapsed for x in samples),
        tuple(latency for x in samples for latency in x.latencies),
    )


async def bounded(concurrency: int, jobs: Sequence[Job]) -> Sample:
    semaphore = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one(job: Job) -> None:
        async with semaphore:
            started = time.perf_counter()
            await job()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(one(j) for j in jobs))
    return Sample(len(jobs), time.perf_counter() - started, tuple(latencies))


@dataclass(frozen=True)
class Round:
    webhook: Sample
    client: Sample
    # The bare forwarder (`bench/forwarder.py`), at concurrency 1.
    floor: Sample | None = None


@dataclass(frozen=True)
class Report:
    """Each level's rounds; ratios are taken per round, then their median."""

    concurrency: int
    rounds: tuple[Round, ...]

    def median(self, figure: Callable[[Round], float]) -> float:
        return statistics.median(figure(r) for r in self.rounds)

    @property
    def throughput_ratio(self) -> float:
        return self.median(lambda r: r.webhook.rate / r.client.rate)

    @property
    def p50_ratio(self) -> float:
        return self.median(lambda r: r.webhook.p50 / r.client.p50)

    @property
    def has_floor(self) -> bool:
        return all(r.floor is not None for r in self.rounds)

    @property
    def floor_p50_ratio(self) -> float:
        return self.median(lambda r: _floor(r).p50 / r.client.p50)

    @property
    def own_work_p50(self) -> float:
        """The webhook's p50 beyond the forwarder's (seconds): the gateway's own work."""
        return self.median(lambda r: r.webhook.p50 - _floor(r).p50)


def _floor(result: Round) -> Sample:
    assert result.floor is not None
    return result.floor


class Paths:
    """The ways into Temporal: the gateway's webhook over HTTP, the client alone, and at
    concurrency 1 the bare forwarder over HTTP."""

    def __init__(
        self, settings: Settings, url: str, http: aiohttp.ClientSession, client: Any, floor_url: str = ""
    ) -> None:
        self.settings, self.url, self.http, self.client = settings, url, http, client
        self.floor_url = floor_url
        self.headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}

    def webhook(self, body: bytes) -> Job:
        return self.post(f"{self.url}/alerts/alertmanager", body, "webhook")

    def forward(self, body: bytes) -> Job:
        return self.post(f"{self.floor_url}/", body, "forwarder")

    def post(self, url: str, body: bytes, name: str) -> Job:
        async def post() -> None:
            async with self.http.post(url, data=body, headers=self.headers) as answer:
                text = await answer.text()
                if answer.status != 202:
                    raise RuntimeError(f"{name}: {answer.status}: {text}")

        return post

    async def http_floor(self, count: int) -> float:
        """The p50 of `GET /healthz` one at a time: HTTP on loopback, and nothing else."""
        latencies = []
        for _ in range(count):
            started = time.perf_counter()
            async with self.http.get(f"{self.url}/healthz") as answer:
                await answer.read()
            latencies.append(time.perf_counter() - started)
        return percentile(latencies, 0.5)

    def direct(self, body: bytes) -> Job:
        # The same notification the gateway would send, made before the clock starts.
        notification = read_notification(self.settings, body)

        async def start() -> None:
            delivery = await send(self.client, self.settings, notification)
            if not delivery.delivered:
                raise RuntimeError(f"client: {delivery.note}")

        return start

    async def round(self, concurrency: int, count: int, run: str, client_first: bool) -> Round:
        """Every path, `count` notifications each, in turns: one request at a time at concurrency
        1, else `SLICE_PER_SLOT` per unit of concurrency, so that all see the same moments of a
        busy machine; which path goes first moves on at every turn. Each path's time is the sum
        of its slices. The forwarder takes its turn at concurrency 1 only."""
        size = 1 if concurrency == 1 else SLICE_PER_SLOT * concurrency
        jobs = {
            "client": [self.direct(b) for b in bodies(count, f"{run}-direct")],
            "webhook": [self.webhook(b) for b in bodies(count, f"{run}-gw")],
        }
        if concurrency == 1 and self.floor_url:
            jobs["floor"] = [self.forward(b) for b in bodies(count, f"{run}-floor")]
        names = list(jobs) if client_first else list(reversed(jobs))
        samples: dict[str, list[Sample]] = {name: [] for name in names}
        for turn, start in enumerate(range(0, count, size)):
            shift = turn % len(names)
            for name in names[shift:] + names[:shift]:
                samples[name].append(await bounded(concurrency, jobs[name][start : start + size]))
        floor = merged(samples["floor"]) if "floor" in samples else None
        return Round(merged(samples["webhook"]), merged(samples["client"]), floor)


@contextlib.contextmanager
def gateway_process(settings: Settings, loop: str = "auto") -> Any:
    """The gateway as `uvicorn --factory gateway.server:app` on a free loopback port, on the event
    loop `loop` (uvicorn's `--loop`: auto takes uvloop); yields its URL."""
    with served(settings, ["--factory", "gateway.server:app"], loop) as url:
        yield url


@contextlib.contextmanager
def forwarder_process(settings: Settings, loop: str = "auto") -> Any:
    """`bench/forwarder.py` served as the gateway is; yields its URL."""
    with served(settings, ["--app-dir", str(REPO / "bench"), "forwarder:app"], loop) as url:
        yield url


@contextlib.contextmanager
def served(settings: Settings, app: list[str], loop: str) -> Any:
    port = free_port()
    env = {
        **os.environ,
        "MEDIC_HOME": settings.home,
        "DATABASE_URL": settings.resolved_database_url,
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "MEDIC_WEBHOOK_TOKEN": TOKEN,
        "MEDIC_TASK_QUEUE": settings.task_queue,
        # The client path has no deadline either: on a busy machine a slow answer is measured, not
        # turned into a 503.
        "MEDIC_WEBHOOK_TEMPORAL_TIMEOUT_SECONDS": "30",
    }
    command = [sys.executable, "-m", "uvicorn", *app]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--loop", loop]
    # Idle connections are kept longer than aiohttp keeps them (15 s), so that the client, not the
    # server, closes one: the forwarder idles while the concurrency-20 level runs, and a connection
    # uvicorn closed after its 5 s would be taken again by aiohttp as it closes.
    command += ["--timeout-keep-alive", "60"]
    process = subprocess.Popen(command, env=env, cwd=REPO)
    try:
        deadline = time.monotonic() + 30
        while not port_open("127.0.0.1", port):
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit(f"{app[-1]} did not start")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=15)


async def bench(
    *,
    alerts: int,
    concurrency: int,
    latency_alerts: int,
    runs: int,
    loop: str = "auto",
    temporal_in_memory: bool = False,
) -> list[Report]:
    run = uuid.uuid4().hex[:6]
    with contextlib.ExitStack() as stack:
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="medic-bench-ingest-")))
        # The embedded stack's Temporal keeps its history in a file (cli/embedded.py); so does this one.
        db_file = None if temporal_in_memory else home / "temporal.db"
        server = stack.enter_context(DevServer(port=free_port(), ui_port=None, db_file=db_file))
        settings = Settings(
            home=str(home),
            webhook_token=TOKEN,
            task_queue=f"bench-{run}",
            temporal_address=server.address,
            database_url=f"sqlite:///{home / 'medic.db'}",
        )
        upgrade(settings.resolved_database_url)
        url = stack.enter_context(gateway_process(settings, loop))
        floor_url = stack.enter_context(forwarder_process(settings, loop))
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=30)
        ) as http:
            paths = Paths(settings, url, http, await connect(settings), floor_url)
            # Warm-up of every path: the gateway's first request connects it to Temporal.
            await paths.round(concurrency, 2 * concurrency, f"{run}-warm", client_first=False)
            await paths.round(1, 4, f"{run}-warm1", client_first=False)
            print(
                f"embedded stack: Temporal dev server {server.address} "
                f"({'in memory' if temporal_in_memory else 'history in a SQLite file'}), gateway {url}, "
                f"forwarder {floor_url}; "
                f"{runs} rounds of {alerts} alert groups at concurrency {concurrency} "
                f"and {latency_alerts} at concurrency 1, each its own alert group"
            )
            levels = [(concurrency, alerts), (1, latency_alerts)]
            rounds: dict[int, list[Round]] = {c: [] for c, _ in levels}
            floors = []
            for i in range(runs):
                for level, count in levels:
                    result = await paths.round(level, count, f"{run}-{i}-c{level}", client_first=i % 2 == 1)
                    rounds[level].append(result)
                    print_round(i + 1, level, result)
                floors.append(await paths.http_floor(latency_alerts))
        print(
            f"HTTP floor: GET /healthz p50 {statistics.median(floors) * 1000:.2f} ms (median of the rounds)"
        )
        return [Report(level, tuple(rounds[level])) for level, _ in levels]


def print_round(number: int, concurrency: int, result: Round) -> None:
    paths = [("webhook", result.webhook), ("client", result.client)]
    if result.floor is not None:
        paths.append(("floor", result.floor))
    for name, sample in paths:
        print(
            f"round {number}  c={concurrency:<3} {name:<8} {sample.count:>5} alerts in "
            f"{sample.elapsed:6.2f} s  {sample.rate:7.1f}/s  "
            f"p50 {sample.p50 * 1000:6.1f} ms  p99 {sample.p99 * 1000:6.1f} ms"
        )


def summarise(reports: Sequence[Report]) -> list[str]:
    """The table of medians and the two verdicts."""
    lines = [
        f"{'median of ' + str(len(reports[0].rounds)) + ' rounds':<24}"
        f"{'webhook/s':>10}{'client/s':>10}{'ratio':>7}"
        f"{'webhook p50':>13}{'client p50':>12}{'ratio':>7}"
    ]
    for report in reports:
        lines.append(
            f"{'concurrency ' + str(report.concurrency):<24}"
            f"{report.median(lambda r: r.webhook.rate):>10.1f}{report.median(lambda r: r.client.rate):>10.1f}"
            f"{report.throughput_ratio:>7.2f}"
            f"{report.median(lambda r: r.webhook.p50) * 1000:>10.1f} ms"
            f"{report.median(lambda r: r.client.p50) * 1000:>9.1f} ms{report.p50_ratio:>7.2f}"
        )
    throughput, latency = reports[0], reports[-1]
    verdict = {True: "met", False: "NOT met"}
    lines.append(
        f"throughput ratio at concurrency {throughput.concurrency}: {throughput.throughput_ratio:.2f} "
        f"(target ≥ {THROUGHPUT_TARGET}: {verdict[throughput.throughput_ratio >= THROUGHPUT_TARGET]})"
    )
    lines.append(
        f"p50 ratio at concurrency {latency.concurrency}: {latency.p50_ratio:.2f} "
        f"(target ≤ {LATENCY_TARGET}: {verdict[latency.p50_ratio <= LATENCY_TARGET]})"
    )
    if latency.has_floor:
        lines.append(
            f"floor: a bare forwarder making the same call (bench/forwarder.py), p50 ratio "
            f"{latency.floor_p50_ratio:.2f}; the gateway's own work beyond it: "
            f"{latency.own_work_p50 * 1000:.2f} ms at p50"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> list[Report]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alerts", type=int, default=500, help="notifications per round at --concurrency")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument(
        "--latency-alerts", type=int, default=200, help="notifications per round at concurrency 1"
    )
    parser.add_argument("--runs", type=int, default=3, help="rounds; medians are reported")
    parser.add_argument(
        "--gateway-loop",
        choices=["auto", "asyncio", "uvloop"],
        default="auto",
        help="the gateway's event loop (uvicorn --loop; auto: uvloop, as medic gateway runs)",
    )
    parser.add_argument(
        "--temporal-in-memory",
        action="store_true",
        help="a dev server with no history file (the tests' Temporal) instead of the embedded stack's",
    )
    args = parser.parse_args(argv)
    reports = asyncio.run(
        bench(
            alerts=args.alerts,
            concurrency=args.concurrency,
            latency_alerts=args.latency_alerts,
            runs=args.runs,
            loop=args.gateway_loop,
            temporal_in_memory=args.temporal_in_memory,
        )
    )
    print("\n".join(summarise(reports)))
    return reports


if __name__ == "__main__":
    main()
