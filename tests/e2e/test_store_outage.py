"""A PostgreSQL outage longer than any step's retries never fails an incident.

The real worker's activities run against a PostgreSQL cluster of this module's own (initdb +
pg_ctl, as the `postgres` user), the sandbox Kubernetes API and the time-skipping test server, so
that minutes of retries pass in a moment. The outage starts when observe (or execute) first runs
and ends once ten minutes of workflow time have passed — longer than observe's or execute's whole
retry budget — and the incident still ends `resolved`, with its whole audit trail in the store.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from glob import glob
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from cli.devserver import free_port
from cli.embedded import DATA_FILE, DEFAULT_SCENARIO, open_policy
from domain.incident.alerts import AlertGroup
from domain.settings import Settings
from gateway.ingest import prepare
from integrations.sealing import generate_key
from sandbox.cluster import SandboxCluster
from sandbox.server import SandboxServer
from store import migrate
from store.db import make_engine, session_factory, transaction
from store.repositories import ActionRepository, AuditRepository, IncidentRepository, SnapshotRepository
from tests.workflows.fakes import activity_name
from workers import main as worker_main
from workers.main import activities_for, workflow_runner
from workflows.remediation import RemediationWorkflow
from workflows.remediation.options import EXECUTE, OBSERVE
from workflows.runner import StepOptions

pytestmark = pytest.mark.postgres

# Longer than observe's and execute's whole retry budget (see retry_budget), in workflow time.
OUTAGE = timedelta(minutes=10)

# The audit trail of a direct change that auto-executes and is verified.
RESOLVED_TRAIL = [
    ("received", "completed"),
    ("observing", "completed"),
    ("recalling", "completed"),
    ("analyzing", "completed"),
    ("validating", "completed"),
    ("awaiting_approval", "skipped"),
    ("dry_run", "completed"),
    ("snapshot", "completed"),
    ("executing", "completed"),
    ("verifying", "passed"),
    ("closed", "resolved"),
]


def retry_budget(options: StepOptions) -> timedelta:
    """How long a step kept retrying an instant failure before it gave up: the sum of its backoffs
    (Temporal's defaults: 1 s, doubling, capped at the policy's maximum interval)."""
    retry = options.retry
    cap = retry.maximum_interval.total_seconds() if retry.maximum_interval else float("inf")
    interval, total = retry.initial_interval.total_seconds(), 0.0
    for _ in range(retry.maximum_attempts - 1):
        total += min(interval, cap)
        interval *= retry.backoff_coefficient
    return timedelta(seconds=total)


class PrivatePostgres:
    """A PostgreSQL cluster of its own on a free loopback port, stopped and started at will (the
    machine's shared server is never touched)."""

    def __init__(self) -> None:
        binaries = sorted(glob("/usr/lib/postgresql/*/bin/initdb"))
        if not binaries or os.geteuid() != 0 or shutil.which("runuser") is None:
            reason = "a private PostgreSQL cluster needs root, runuser and /usr/lib/postgresql/*/bin"
            if os.environ.get("CI"):
                pytest.fail(reason, pytrace=False)
            pytest.skip(reason)
        self._bin = Path(binaries[-1]).parent
        self._dir = Path(tempfile.mkdtemp(prefix="medic-pg-"))
        shutil.chown(self._dir, "postgres")
        self.port = free_port()
        self._as_postgres(
            "initdb",
            "-D",
            str(self._dir / "data"),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        )
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, tool: str, *args: str, check: bool = True) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(self._bin / tool), *args],
            check=check,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self._dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        data, log = str(self._dir / "data"), str(self._dir / "log")
        self._as_postgres("pg_ctl", "-D", data, "-o", options, "-l", log, "-w", "start")

    def stop(self, check: bool = True) -> None:
        self._as_postgres(
            "pg_ctl", "-D", str(self._dir / "data"), "-m", "immediate", "-w", "stop", check=check
        )

    def remove(self) -> None:
        self.stop(check=False)  # already stopped when a test failed mid-outage
        shutil.rmtree(self._dir, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres() -> Iterator[PrivatePostgres]:
    db = PrivatePostgres()
    try:
        db.start()
        migrate.upgrade(db.url)
        yield db
    finally:
        db.remove()


@dataclass
class Outage:
    """The store goes down when `starts_in` first runs and comes back at the first activity
    attempt scheduled `OUTAGE` later (in the test server's time, which skips)."""

    db: PrivatePostgres
    starts_in: str
    began: datetime | None = None
    ended: datetime | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def tick(self, name: str, now: datetime) -> None:
        with self._lock:
            if self.began is None and name == self.starts_in:
                self.db.stop()
                self.began = now
            elif self.began is not None and self.ended is None and now - self.began >= OUTAGE:
                self.db.start()
                self.ended = now


def watched(fn: Callable[..., Any], outage: Outage) -> Callable[..., Any]:
    """The real activity `fn`, registered under its own name, ticking `outage` at each attempt."""
    name = activity_name(fn)

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        outage.tick(name, activity.info().current_attempt_scheduled_time)
        return fn(*args, **kwargs)

    del run.__temporal_activity_definition  # type: ignore[attr-defined]  # copied by wraps: defined anew
    return activity.defn(name=name)(run)


@pytest_asyncio.fixture
async def sandbox() -> AsyncIterator[str]:
    with SandboxServer(SandboxCluster.from_file(DEFAULT_SCENARIO)) as server:
        yield server.url


def demo_alert() -> AlertGroup:
    alert = yaml.safe_load(DEFAULT_SCENARIO.read_text())["alert"]
    alert["groupKey"] = f"{alert['groupKey']}:{uuid.uuid4().hex[:8]}"
    return AlertGroup.model_validate(alert)


async def resolve_through(
    env: WorkflowEnvironment, settings: Settings, outage: Outage
) -> tuple[str, str, WorkflowHistory]:
    """Run the demo's OOM incident with `outage`; its incident id, outcome and history."""
    notification = prepare(settings, demo_alert())
    assert notification.start is not None
    with ThreadPoolExecutor(max_workers=8) as executor:
        async with Worker(
            env.client,
            task_queue=settings.task_queue,
            workflows=[RemediationWorkflow],
            activities=[watched(fn, outage) for fn in activities_for(settings)],
            activity_executor=executor,
            workflow_runner=workflow_runner(),
        ):
            handle = await env.client.start_workflow(
                RemediationWorkflow.run,
                notification.start,
                id=notification.workflow_id,
                task_queue=settings.task_queue,
            )
            result = await handle.result()
            history = await handle.fetch_history()
    return result.incident_id, result.outcome, history


def scheduled(history: WorkflowHistory, *names: str) -> list[int]:
    """The attempts each scheduled activity of `names` took, in order."""
    ids = [
        e.event_id
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name in names
    ]
    # A retried activity's started event is written once, by its last attempt, with its number.
    started = [
        e.activity_task_started_event_attributes
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    attempts = {s.scheduled_event_id: s.attempt for s in started}
    return [attempts.get(i, 0) for i in ids]


def assert_complete_trail(db: PrivatePostgres, incident_id: str) -> None:
    engine = make_engine(db.url)
    try:
        _assert_complete_trail(session_factory(engine), incident_id)
    finally:
        engine.dispose()


def _assert_complete_trail(sessions: sessionmaker[Session], incident_id: str) -> None:
    with transaction(sessions) as session:
        incident = IncidentRepository(session).get(incident_id)
        assert incident is not None and incident.outcome == "resolved", incident
        assert incident.observation and incident.observation["workloads"], "the observation was kept"
        events = AuditRepository(session).list(incident_id=incident_id)
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert [(e.step, e.status) for e in events] == RESOLVED_TRAIL
        phases = sorted({a.phase for a in ActionRepository(session).list(incident_id)})
        assert phases == ["dry_run", "execute"]
        assert [s.resource_key for s in SnapshotRepository(session).list(incident_id)] == [
            "shop/Deployment/cart"
        ]


def unattended_policy(directory: Path) -> Path:
    """The shipped data in `auto` mode, with a memory limit change low risk and run unattended:
    the incident needs no human, so nothing but the outage holds it up."""
    path = open_policy(directory, "auto")
    data = json.loads((path / DATA_FILE).read_text())
    config = data["medic"]["config"]
    config["kind_risk"]["set_resources"] = "low"
    config["auto_execute_kinds"].append("set_resources")
    (path / DATA_FILE).write_text(json.dumps(data))
    return path


@pytest.fixture
def engines(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Engine]]:
    """The engines the worker's activities make, disposed after the test (their pools still hold
    the connections the outage broke)."""
    made: list[Engine] = []

    def make(url: Any, **kwargs: Any) -> Engine:
        made.append(make_engine(url, **kwargs))
        return made[-1]

    monkeypatch.setattr(worker_main, "make_engine", make)
    yield made
    for engine in made:
        engine.dispose()


@pytest.fixture
def settings(postgres: PrivatePostgres, sandbox: str, tmp_path: Path, engines: list[Engine]) -> Settings:
    return Settings(
        home=str(tmp_path / "home"),
        database_url=postgres.url,
        kube_api_url=sandbox,
        snapshot_keys=generate_key(),
        policy_dir=str(unattended_policy(tmp_path / "policy")),
        search_attributes=False,
        task_queue=f"outage-{uuid.uuid4()}",
        incident_cooldown_seconds=0,
        verify_interval_seconds=5,
        verify_timeout_seconds=300,
    )


async def test_a_store_outage_during_observe_longer_than_its_retries_still_resolves(
    time_skipping_env: WorkflowEnvironment, postgres: PrivatePostgres, settings: Settings
) -> None:
    outage = Outage(postgres, "observe_incident")
    incident_id, outcome, history = await resolve_through(time_skipping_env, settings, outage)

    assert outcome == "resolved"
    assert outage.began is not None and outage.ended is not None
    assert outage.ended - outage.began >= OUTAGE > retry_budget(OBSERVE)
    # Observe needs only the cluster: it ran once, and the workflow kept its observation after.
    assert scheduled(history, "observe_incident") == [1]
    # The store writes after it waited out the outage, attempt after attempt.
    assert max(scheduled(history, "record_audit", "record_incident")) > OBSERVE.retry.maximum_attempts
    assert_complete_trail(postgres, incident_id)


async def test_a_store_outage_during_execute_longer_than_its_retries_still_resolves(
    time_skipping_env: WorkflowEnvironment, postgres: PrivatePostgres, settings: Settings
) -> None:
    outage = Outage(postgres, "execute_plan")
    incident_id, outcome, history = await resolve_through(time_skipping_env, settings, outage)

    assert outcome == "resolved"
    assert outage.began is not None and outage.ended is not None
    assert outage.ended - outage.began >= OUTAGE > retry_budget(EXECUTE)
    # Execute used up all its attempts on the store, and ran again rather than fail the incident.
    attempts = scheduled(history, "execute_plan")
    assert len(attempts) >= 2 and attempts[0] == EXECUTE.retry.maximum_attempts, attempts
    assert sum(attempts) > EXECUTE.retry.maximum_attempts
    # What the history keeps of the attempt that gave up: one line and a type, not the statement.
    (failure,) = [
        e.activity_task_failed_event_attributes.failure
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED
    ]
    assert failure.application_failure_info.type == "StoreUnavailable"
    assert failure.message == "the store refused the connection"
    assert_complete_trail(postgres, incident_id)
