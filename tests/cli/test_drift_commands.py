"""`medic drift report | scan`: reports read from a SQLite store, scans run on the real dev server.

The scan tests run a stand-in workflow registered under the name `DriftScanWorkflow` (the command
starts it by name): it writes a report through `DriftRepository`, as the real scan's activities
do, and returns what the scope asks for (drift, none, or a failure).
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions
from typer.testing import CliRunner

import cli.main
from cli.drift import age_text, exit_code_for, field_text, manual_scan_id, report_lines, summary_lines
from domain.drift.model import (
    AppDrift,
    DriftFindingsInput,
    DriftReport,
    DriftScanFinished,
    DriftScanInput,
    DriftScanResult,
    DriftScope,
    FieldDrift,
    ResourceDrift,
)
from store.db import make_engine, session_factory, transaction
from store.drift import DriftRepository
from store.migrate import upgrade

runner = CliRunner()
NOW = datetime.now(UTC).replace(microsecond=0)


def _ledger(incident: str = "") -> AppDrift:
    return AppDrift(
        application="ledger",
        project="payments",
        destination_namespace="payments",
        resources=[
            ResourceDrift(
                group="apps",
                kind="Deployment",
                namespace="payments",
                name="ledger",
                fields=[
                    FieldDrift(path="/spec/replicas", desired=3, live=5),
                    FieldDrift(
                        path="/spec/template/spec/containers/0/image", desired="ledger:1.4", live="ledger:1.5"
                    ),
                ],
            ),
            ResourceDrift(kind="ConfigMap", namespace="payments", name="ledger-env", live_missing=True),
        ],
        resources_scanned=7,
        disposition="sync",
        reason="replicas are Git's",
    )


def record_report(url: str, result: DriftScanResult, started_at: datetime, drifted: list[AppDrift]) -> None:
    """Write a scan's report as the scan's activities do: its findings, then its end."""
    engine = make_engine(url)
    try:
        with transaction(session_factory(engine)) as session:
            repository = DriftRepository(session)
            repository.record_findings(
                DriftFindingsInput(
                    scan_id=result.scan_id,
                    scope=result.scope,
                    started_at=started_at,
                    drifted=drifted,
                    incidents=result.incidents,
                )
            )
            repository.finish_scan(
                DriftScanFinished(
                    result=result, started_at=started_at, finished_at=started_at + timedelta(seconds=90)
                )
            )
    finally:
        engine.dispose()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'medic.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("MEDIC_HOME", str(tmp_path / "home"))
    upgrade(url)
    return url


# ---- drift report ----------------------------------------------------------------------------------


def test_report_before_any_scan_says_so(store: str) -> None:
    result = runner.invoke(cli.main.app, ["drift", "report"])
    assert result.exit_code == 0, result.output
    assert "no drift scan has finished yet" in result.stdout


def test_report_shows_the_latest_finished_scan_field_by_field(store: str) -> None:
    # The report's ages count from the real clock: record relative to it, not to import time.
    now = datetime.now(UTC).replace(microsecond=0)
    older = DriftScanResult(scan_id="drift-scan-all-older", scope="all", apps_scanned=2)
    record_report(store, older, now - timedelta(days=1), [])
    latest = DriftScanResult(
        scan_id="drift-scan-all-latest",
        scope="all",
        apps_scanned=3,
        resources_scanned=21,
        drifted_apps=1,
        incidents={"argocd/ledger": "drift.argocd.ledger"},
        errors=["argocd/billing: Argo CD answered 503"],
    )
    record_report(store, latest, now - timedelta(hours=2), [_ledger()])

    shown = runner.invoke(cli.main.app, ["drift", "report"])
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert lines[0].startswith("drift scan drift-scan-all-latest (scope all), finished ")
    assert "(took 1m30s)" in lines[0]
    assert "3 applications and 21 resources scanned; 1 applications drifted; 1 errors" in lines[1]
    assert "error: argocd/billing: Argo CD answered 503" in shown.stdout
    header = next(line for line in lines if line.startswith("APPLICATION"))
    assert header.split() == [
        "APPLICATION",
        "RESOURCE",
        "FIELDS",
        "(desired",
        "→",
        "live)",
        "SINCE",
        "DISPOSITION",
        "INCIDENT",
    ]
    (at,) = [i for i, line in enumerate(lines) if "Deployment/payments/ledger" in line]
    deployment = lines[at]
    assert deployment.split() == [
        "ledger",
        "Deployment/payments/ledger",
        "/spec/replicas:",
        "3",
        "→",
        "5",
        "2h",
        "sync",
        "drift.argocd.ledger",
    ]
    assert lines[at + 1].strip() == "/spec/template/spec/containers/0/image: ledger:1.4 → ledger:1.5"
    assert lines[at + 1].index("/spec") == deployment.index("/spec")
    (configmap,) = [line for line in lines if "ConfigMap/payments/ledger-env" in line]
    assert "Git declares it, the cluster does not have it" in configmap

    as_json = runner.invoke(cli.main.app, ["drift", "report", "--json"])
    report = DriftReport.model_validate_json(as_json.stdout)
    assert report.scan_id == "drift-scan-all-latest" and len(report.findings) == 2
    by_scan = runner.invoke(cli.main.app, ["drift", "report", "--scan", "drift-scan-all-older", "--json"])
    assert DriftReport.model_validate_json(by_scan.stdout).findings == []


def test_report_by_scope_and_unknown_scans(store: str) -> None:
    record_report(store, DriftScanResult(scan_id="drift-scan-project-shop-1", scope="project:shop"), NOW, [])
    shop = runner.invoke(cli.main.app, ["drift", "report", "--scope", "project:shop"])
    assert "drift-scan-project-shop-1" in shop.stdout and "no drift found" in shop.stdout
    other = runner.invoke(cli.main.app, ["drift", "report", "--scope", "namespace:web"])
    assert (
        other.exit_code == 0 and "no drift scan has finished yet for the scope namespace:web" in other.stdout
    )
    missing = runner.invoke(cli.main.app, ["drift", "report", "--scan", "nope"])
    assert missing.exit_code == 1 and "no drift scan nope" in missing.stderr
    bad = runner.invoke(cli.main.app, ["drift", "report", "--scope", "cluster:x"])
    assert bad.exit_code == 2 and "unknown scope 'cluster:x'" in bad.stderr


# ---- the pure parts ----------------------------------------------------------------------------------


def test_texts_and_exit_codes() -> None:
    assert age_text(NOW - timedelta(hours=3, minutes=12), NOW) == "3h12m"
    assert age_text((NOW - timedelta(seconds=5)).replace(tzinfo=None), NOW) == "5s"  # SQLite: naive UTC
    assert (
        field_text(FieldDrift(path="/spec/replicas", desired=3, live=None)) == "/spec/replicas: 3 → (absent)"
    )
    assert field_text(FieldDrift(path="/data", desired={"k": "x" * 60}, live="y")).endswith("… → y")
    assert manual_scan_id(DriftScope.parse("namespace:shop")).startswith("drift-scan-namespace-shop-manual-")
    assert len(manual_scan_id(DriftScope()).rsplit("-", 1)[1]) == 8
    clean = DriftScanResult(scan_id="s", scope="all")
    assert exit_code_for(clean) == 0
    assert exit_code_for(clean.model_copy(update={"errors": ["x"]})) == 1
    assert exit_code_for(clean.model_copy(update={"drifted_apps": 1, "errors": ["x"]})) == 2
    lines = summary_lines(clean.model_copy(update={"incidents": {"argocd/a": "drift.argocd.a"}}))
    assert "    argocd/a → drift.argocd.a" in lines and lines[-1] == "  errors:     0"


def test_a_running_scan_says_so() -> None:
    running = DriftReport(scan_id="s", scope="all", started_at=NOW - timedelta(minutes=3))
    assert report_lines(running, NOW)[0] == "drift scan s (scope all), running since 3m ago"


# ---- drift scan, on the real dev server --------------------------------------------------------------

RECEIVED: list[DriftScanInput] = []


@activity.defn(name="record_standin_report")
def record_standin_report(input: DriftScanInput) -> DriftScanResult:
    RECEIVED.append(input)
    if input.scope.name.startswith("fail"):
        raise ApplicationError("Argo CD is unreachable", type="ArgoUnavailable", non_retryable=True)
    drifted = [] if input.scope.name.startswith("clean") else [_ledger()]
    incidents = {"argocd/ledger": "drift.argocd.ledger"} if drifted and input.remediate else {}
    result = DriftScanResult(
        scan_id=input.scan_id,
        scope=input.scope.label,
        apps_scanned=3,
        resources_scanned=21,
        drifted_apps=len(drifted),
        incidents=incidents,
        duration_seconds=4.5,
    )
    assert input.started_at is not None
    record_report(_store_url(), result, input.started_at, drifted)
    return result


def _store_url() -> str:
    return os.environ["DATABASE_URL"]


@workflow.defn(name="DriftScanWorkflow")
class StandInDriftScan:
    @workflow.run
    async def run(self, input: DriftScanInput) -> DriftScanResult:
        started = input.model_copy(
            update={"scan_id": workflow.info().workflow_id, "started_at": workflow.now()}
        )
        return await workflow.execute_activity(
            record_standin_report,
            started,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )


@dataclass
class Scans:
    client: Client
    queue: str

    async def medic(self, *args: str) -> Any:
        # In a thread of its own: the command runs its own event loop, the worker runs in this one.
        return await asyncio.to_thread(runner.invoke, cli.main.app, list(args))


def _raise_exit(code: int) -> None:
    raise SystemExit(code)


@pytest_asyncio.fixture
async def scans(
    dev_client: Client, dev_server: Any, store: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Scans]:
    queue = f"drift-scan-test-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("TEMPORAL_ADDRESS", dev_server.address)
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "default")
    monkeypatch.setenv("MEDIC_TASK_QUEUE", queue)
    monkeypatch.setattr(cli.main, "_exit_now", _raise_exit)
    RECEIVED.clear()
    with ThreadPoolExecutor(max_workers=2) as executor:
        async with Worker(
            dev_client,
            task_queue=queue,
            workflows=[StandInDriftScan],
            activities=[record_standin_report],
            activity_executor=executor,
            # The stand-in lives in this test module: pass its imports through rather than
            # re-importing the CLI and the store inside the sandbox.
            workflow_runner=SandboxedWorkflowRunner(
                restrictions=SandboxRestrictions.default.with_passthrough_all_modules()
            ),
        ):
            yield Scans(dev_client, queue)


async def test_scan_runs_one_workflow_and_prints_its_summary_and_report(scans: Scans) -> None:
    result = await scans.medic("drift", "scan", "--scope", "namespace:payments")
    assert result.exit_code == 0, result.output
    (received,) = RECEIVED
    assert received.scope == DriftScope.parse("namespace:payments") and received.remediate is True
    assert received.scan_id.startswith("drift-scan-namespace-payments-manual-")
    assert f"started drift scan {received.scan_id} on task queue {scans.queue}" in result.stderr
    out = result.stdout
    assert f"drift scan {received.scan_id} (scope namespace:payments) took 4s" in out
    assert "  scanned:    3 applications, 21 resources" in out and "  drifted:    1 applications" in out
    assert "  incidents:  1 opened or updated" in out and "argocd/ledger → drift.argocd.ledger" in out
    assert "Deployment/payments/ledger" in out and "/spec/replicas: 3 → 5" in out
    described = await scans.client.get_workflow_handle(received.scan_id).describe()
    assert described.workflow_type == "DriftScanWorkflow" and described.task_queue == scans.queue


async def test_scan_report_only_json_and_exit_codes(scans: Scans) -> None:
    drift = await scans.medic("drift", "scan", "--report-only", "--json", "--exit-code")
    assert drift.exit_code == 2, drift.output
    parsed = DriftScanResult.model_validate_json(drift.stdout)
    assert parsed.drifted_apps == 1 and parsed.incidents == {} and parsed.scope == "all"
    assert RECEIVED[-1].remediate is False

    clean = await scans.medic("drift", "scan", "--scope", "project:clean", "--exit-code")
    assert clean.exit_code == 0, clean.output
    assert "no drift found" in clean.stdout

    failed = await scans.medic("drift", "scan", "--scope", "project:failing")
    assert failed.exit_code == 1
    assert "failed:" in failed.stderr and "Argo CD is unreachable" in failed.stderr


def test_scan_refuses_a_bad_scope() -> None:
    result = runner.invoke(cli.main.app, ["drift", "scan", "--scope", "namespace:"])
    assert result.exit_code == 2 and "namespace" in result.stderr


async def test_a_scheduled_scan_shows_in_the_schedule_list_with_its_result(
    scans: Scans, tmp_path: Path
) -> None:
    scope = DriftScope(kind="namespace", name=f"t-{uuid.uuid4().hex[:10]}")
    config = tmp_path / "drift.yaml"
    config.write_text(f"schedules:\n  - scope: {scope.label}\n    cron: '0 3 * * *'\n")
    schedule_id = f"medic-drift-{scope.slug}"
    try:
        applied = await scans.medic("schedules", "apply", "--config", str(config))
        assert applied.exit_code == 0 and " created " in applied.stdout, applied.output
        handle = scans.client.get_schedule_handle(schedule_id)
        await handle.trigger()
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            recent = (await handle.describe()).info.recent_actions
            if recent:
                started: Any = recent[-1].action
                workflow_id = started.workflow_id
                await scans.client.get_workflow_handle(workflow_id).result()
                break
            assert asyncio.get_running_loop().time() < deadline, "the triggered scan never started"
            await asyncio.sleep(0.1)

        listed = await scans.medic("schedules", "list", "--json")
        assert listed.exit_code == 0, listed.output
        (row,) = [r for r in json.loads(listed.stdout) if r["id"] == schedule_id]
        (run,) = row["recent_runs"]
        assert run["workflow_id"] == workflow_id and workflow_id.startswith(f"drift-scan-{scope.slug}-")
        assert run["status"] == "completed"
        assert run["result"]["apps_scanned"] == 3 and run["result"]["drifted_apps"] == 1
        assert RECEIVED[-1].scope == scope and RECEIVED[-1].remediate is True
        text = await scans.medic("schedules", "list")
        assert f"{workflow_id} completed (3 apps, 1 drifted, 0 errors)" in text.stdout
    finally:
        await scans.client.get_schedule_handle(schedule_id).delete()
