"""DriftScanWorkflow and a drift incident's sync on the time-skipping test server, every activity
replaced by name: paging, continue-as-new, one incident per Application at a time, the report, and
the approved sync back to Git (or its rollback)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity, workflow
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.analysis.plan import Plan, RootCause, SyncApplication
from domain.drift.model import (
    AppDrift,
    AppRef,
    DriftFindingsInput,
    DriftPageInput,
    DriftPageResult,
    DriftReport,
    DriftScanFinished,
    DriftScanInput,
    DriftScanResult,
    DriftScope,
    FieldDrift,
    ResourceDrift,
)
from domain.incident.model import Incident, ResourceRef
from domain.kube.observation import Observation, Workload
from domain.notifications.model import Notification
from domain.policy.approval import DecisionInput
from domain.steps.change import DryRunResult
from domain.steps.drift import DriftDefaults
from domain.steps.gitops import ApplicationCheck, ApplicationStatus
from domain.steps.remediation import RemediationInput, RemediationResult
from domain.steps.sync import SyncInput, SyncProgress
from tests.conftest import wait_for_step
from tests.workflows.fakes import RemediationFakes, Sent
from workers.main import workflow_runner
from workflows.drift import DriftScanWorkflow, drift_incident
from workflows.remediation import RemediationWorkflow

DEPLOY = ResourceRef(namespace="shop", kind="Deployment", name="cart")


def drifted(app: str, replicas: int = 5) -> AppDrift:
    return AppDrift(
        application=app,
        project="shop",
        destination_namespace="shop",
        sync_status="OutOfSync",
        revision="a" * 40,
        resources=[
            ResourceDrift(
                group="apps",
                kind="Deployment",
                namespace="shop",
                name="cart",
                fields=[FieldDrift(path="/spec/replicas", desired=2, live=replicas)],
            )
        ],
        resources_scanned=3,
        disposition="sync",
        reason="drift_rules[0] syncs /spec/replicas",
    )


# ---- the scan ---------------------------------------------------------------------------------


@workflow.defn(name="RemediationWorkflow", sandboxed=False)
class StubRemediation:
    """Stands in for the incident: stays open until told, counting the drift signals it gets."""

    def __init__(self) -> None:
        self.signals: list[AppDrift] = []
        self.done = False

    @workflow.run
    async def run(self, input: RemediationInput) -> RemediationResult:
        await workflow.wait_condition(lambda: self.done)
        return RemediationResult(incident_id=input.incident.id, outcome="resolved")

    @workflow.signal
    def drift_observed(self, drift: AppDrift) -> None:
        self.signals.append(drift)

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.query
    def drift_signals(self) -> int:
        return len(self.signals)


@dataclass
class ScanFakes:
    apps: list[AppRef]
    drift: dict[str, AppDrift]
    page_size: int = 2
    history_limit: int = 5_000
    notify: bool = False
    pages: list[list[str]] = field(default_factory=list)
    findings: list[DriftFindingsInput] = field(default_factory=list)
    finished: list[DriftScanFinished] = field(default_factory=list)
    sent: Sent = field(default_factory=Sent)  # send_notification

    @property
    def notifications(self) -> list[Notification]:
        return self.sent.notifications

    def activities(self) -> list[Callable[..., Any]]:
        fakes = self

        @activity.defn(name="get_drift_defaults")
        async def get_drift_defaults(scope: DriftScope) -> DriftDefaults:
            placeholder = Incident(id="placeholder", source="drift")
            return DriftDefaults(
                remediation=RemediationInput(incident=placeholder, cooldown_seconds=3600),
                page_size=fakes.page_size,
                notify=fakes.notify,
                history_events_limit=fakes.history_limit,
            )

        @activity.defn(name="list_drift_applications")
        async def list_drift_applications(scope: DriftScope) -> list[AppRef]:
            return list(fakes.apps)

        @activity.defn(name="scan_drift_page")
        async def scan_drift_page(input: DriftPageInput) -> DriftPageResult:
            fakes.pages.append([a.name for a in input.applications])
            found = [fakes.drift[a.name] for a in input.applications if a.name in fakes.drift]
            return DriftPageResult(
                apps_scanned=len(input.applications),
                resources_scanned=3 * len(input.applications),
                drifted=found,
            )

        @activity.defn(name="record_drift_findings")
        async def record_drift_findings(input: DriftFindingsInput) -> int:
            fakes.findings.append(input)
            return len(input.drifted)

        @activity.defn(name="finish_drift_scan")
        async def finish_drift_scan(input: DriftScanFinished) -> DriftReport:
            fakes.finished.append(input)
            return DriftReport(
                scan_id=input.result.scan_id,
                scope=input.result.scope,
                started_at=input.started_at,
                finished_at=input.finished_at,
                status="finished",
                drifted_apps=input.result.drifted_apps,
            )

        return [
            get_drift_defaults,
            list_drift_applications,
            scan_drift_page,
            record_drift_findings,
            finish_drift_scan,
            fakes.sent.activity(),
        ]


async def scan(env: WorkflowEnvironment, queue: str, **input: Any) -> DriftScanResult:
    result: DriftScanResult = await env.client.execute_workflow(
        DriftScanWorkflow.run,
        DriftScanInput(**input),
        id=f"drift-scan-test-{uuid.uuid4()}",
        task_queue=queue,
    )
    return result


async def test_a_scan_pages_through_the_applications_and_opens_one_incident_per_drifted_one(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    apps = [AppRef(name=f"app-{i}", project="shop") for i in range(5)]
    fakes = ScanFakes(apps=apps, drift={"app-3": drifted("app-3")}, notify=True)
    queue = f"test-{uuid.uuid4()}"
    async with Worker(
        time_skipping_env.client,
        task_queue=queue,
        workflows=[DriftScanWorkflow, StubRemediation],
        workflow_runner=workflow_runner(),
        activities=fakes.activities(),
    ):
        with time_skipping_env.auto_time_skipping_disabled():
            result = await scan(time_skipping_env, queue)
            assert fakes.pages == [["app-0", "app-1"], ["app-2", "app-3"], ["app-4"]]
            assert (result.apps_scanned, result.resources_scanned, result.drifted_apps) == (5, 15, 1)
            assert result.incidents == {"argocd/app-3": "drift.argocd.app-3"}
            # The incident runs on after the scan (abandoned by it, not cancelled).
            child = time_skipping_env.client.get_workflow_handle("drift.argocd.app-3")
            assert (await child.describe()).status == WorkflowExecutionStatus.RUNNING
            started = await child.fetch_history()
            start = next(
                e for e in started.events if e.HasField("workflow_execution_started_event_attributes")
            )
            assert start.workflow_execution_started_event_attributes.parent_workflow_execution.workflow_id
            # Findings recorded with the incident that took them, the scan finished once, notified.
            assert [list(f.incidents.values()) for f in fakes.findings] == [["drift.argocd.app-3"]]
            assert len(fakes.finished) == 1 and fakes.finished[0].result.drifted_apps == 1
            assert [n.event for n in fakes.notifications] == ["drift_report"]
            await child.signal(StubRemediation.finish)


async def test_a_second_scan_adds_to_the_open_incident_instead_of_opening_another(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = ScanFakes(apps=[AppRef(name="cart", project="shop")], drift={"cart": drifted("cart")})
    queue = f"test-{uuid.uuid4()}"
    async with Worker(
        time_skipping_env.client,
        task_queue=queue,
        workflows=[DriftScanWorkflow, StubRemediation],
        workflow_runner=workflow_runner(),
        activities=fakes.activities(),
    ):
        # Without skipping: the open incident has no timer, so the server would skip to its end.
        with time_skipping_env.auto_time_skipping_disabled():
            first = await scan(time_skipping_env, queue)
            child = time_skipping_env.client.get_workflow_handle("drift.argocd.cart")
            run_id = (await child.describe()).run_id
            fakes.drift["cart"] = drifted("cart", replicas=7)
            second = await scan(time_skipping_env, queue)
        assert first.incidents == second.incidents == {"argocd/cart": "drift.argocd.cart"}
        assert (await child.describe()).run_id == run_id, "no second incident"
        assert await child.query(StubRemediation.drift_signals) == 1
        await child.signal(StubRemediation.finish)


async def test_report_only_scans_open_no_incident(time_skipping_env: WorkflowEnvironment) -> None:
    fakes = ScanFakes(apps=[AppRef(name="cart")], drift={"cart": drifted("cart")})
    queue = f"test-{uuid.uuid4()}"
    async with Worker(
        time_skipping_env.client,
        task_queue=queue,
        workflows=[DriftScanWorkflow, StubRemediation],
        workflow_runner=workflow_runner(),
        activities=fakes.activities(),
    ):
        result = await scan(time_skipping_env, queue, remediate=False)
    assert result.drifted_apps == 1 and result.incidents == {}
    assert fakes.findings[0].incidents == {}


async def test_a_long_scan_continues_as_new_and_keeps_its_totals(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    apps = [AppRef(name=f"app-{i:02}") for i in range(12)]
    fakes = ScanFakes(apps=apps, drift={}, page_size=1, history_limit=20)
    queue = f"test-{uuid.uuid4()}"
    async with Worker(
        time_skipping_env.client,
        task_queue=queue,
        workflows=[DriftScanWorkflow, StubRemediation],
        workflow_runner=workflow_runner(),
        activities=fakes.activities(),
    ):
        workflow_id = f"drift-scan-test-{uuid.uuid4()}"
        handle = await time_skipping_env.client.start_workflow(
            DriftScanWorkflow.run, DriftScanInput(), id=workflow_id, task_queue=queue
        )
        result: DriftScanResult = await handle.result()
        last = await time_skipping_env.client.get_workflow_handle(workflow_id).describe()
    assert last.run_id != handle.first_execution_run_id, "the scan continued as new"
    assert [p[0] for p in fakes.pages] == [a.name for a in apps], "every page once, in order"
    assert result.apps_scanned == 12 and result.resources_scanned == 36
    assert result.scan_id == workflow_id, "one scan id across the runs"
    assert len(fakes.finished) == 1


def test_a_drift_incident_targets_its_drifted_workloads() -> None:
    drift = drifted("cart").model_copy(
        update={
            "resources": [
                *drifted("cart").resources,
                ResourceDrift(kind="ConfigMap", namespace="shop", name="cart-config", fields=[]),
            ]
        }
    )
    incident = drift_incident("drift.argocd.cart", drift)
    assert incident.source == "drift" and incident.drift == drift
    assert incident.targets == [DEPLOY]
    assert incident.title == "Drift in Argo CD application cart (2 resources)"


# ---- the incident: an approved sync back to Git -------------------------------------------------


@dataclass
class SyncFakes(RemediationFakes):
    """The shared fakes (tests/workflows/fakes.py) for the drifted cart, and the Argo CD sync path."""

    observation: Observation = field(
        default_factory=lambda: Observation(
            incident_id="", workloads=[Workload(id="workload/shop/Deployment/cart", ref=DEPLOY)]
        )
    )
    root_cause: RootCause = "drift"
    summary: str = "cart drifted"
    plan: Plan = field(
        default_factory=lambda: Plan(actions=[SyncApplication(target=DEPLOY, application="cart")])
    )
    workload: ResourceRef = DEPLOY
    dry_run: DryRunResult = field(default_factory=lambda: DryRunResult(ok=True))
    # check_sync answers, one per call, the last repeated
    progress: list[str] = field(default_factory=lambda: ["waiting", "ready"])
    synced: list[SyncInput] = field(default_factory=list)

    def activities(self) -> list[Callable[..., Any]]:
        fakes = self

        @activity.defn(name="dry_run_sync")
        async def dry_run_sync(input: SyncInput) -> DryRunResult:
            fakes.calls.append("dry_run_sync")
            return fakes.dry_run

        @activity.defn(name="sync_resources")
        async def sync_resources(input: SyncInput) -> ApplicationCheck:
            fakes.calls.append("sync")
            fakes.synced.append(input)
            return ApplicationCheck(applications=[ApplicationStatus(name="cart", sync_requested=True)])

        @activity.defn(name="check_sync")
        async def check_sync(input: SyncInput) -> SyncProgress:
            fakes.calls.append("check_sync")
            state = fakes.progress.pop(0) if len(fakes.progress) > 1 else fakes.progress[0]
            return SyncProgress(state=state, reason=f"cart: {state}")  # type: ignore[arg-type]

        return [*super().activities(), dry_run_sync, sync_resources, check_sync]


async def run_incident(
    env: WorkflowEnvironment,
    fakes: SyncFakes,
    during_wait: Callable[[WorkflowHandle[Any, Any]], Any] | None = None,
    workflow_id: str = "",
) -> tuple[RemediationResult, WorkflowHandle[Any, RemediationResult]]:
    queue = f"test-{uuid.uuid4()}"
    workflow_id = workflow_id or f"drift.argocd.cart-{uuid.uuid4()}"
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[RemediationWorkflow],
        workflow_runner=workflow_runner(),
        activities=fakes.activities(),
    ):
        handle = await env.client.start_workflow(
            RemediationWorkflow.run,
            RemediationInput(
                incident=drift_incident(workflow_id, drifted("cart")),
                verify_interval_seconds=5,
                cooldown_seconds=600,
            ),
            id=workflow_id,
            task_queue=queue,
        )
        await wait_for_step(handle, "awaiting_approval")
        if during_wait is not None:
            await during_wait(handle)
        await handle.signal(RemediationWorkflow.approve, DecisionInput(approver="sam", decision="approve"))
        result = await asyncio.wait_for(handle.result(), timeout=60)
    assert all(a.incident.source == "drift" for a in fakes.analyzed)
    return result, handle


def steps(fakes: SyncFakes) -> list[tuple[str, str]]:
    return [(e.step, e.status) for e in fakes.audit]


async def test_an_approved_drift_sync_syncs_exactly_the_drifted_resources_and_verifies(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = SyncFakes()

    async def scan_again(handle: WorkflowHandle[Any, Any]) -> None:
        await handle.signal(RemediationWorkflow.drift_observed, drifted("cart", replicas=7))

    result, _ = await run_incident(time_skipping_env, fakes, scan_again)
    assert result.outcome == "resolved", result.reason
    assert fakes.calls[:3] == ["dry_run_sync", "snapshot", "sync"]
    assert fakes.calls.count("check_sync") == 2 and "check_rollout" in fakes.calls
    [request] = fakes.synced
    assert [(a.name, a.namespace, a.project) for a in request.applications] == [("cart", "argocd", "shop")]
    assert [(t.group, t.kind, t.namespace, t.name) for t in request.resources] == [
        ("apps", "Deployment", "shop", "cart")
    ]
    done = steps(fakes)
    assert ("drift_observed", "completed") in done, "the later scan is audited on the incident"
    assert done.index(("syncing", "completed")) < done.index(("verifying", "passed"))
    assert done[-1] == ("closed", "resolved")


async def test_drift_that_is_gone_before_the_sync_ends_without_action(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = SyncFakes(dry_run=DryRunResult(ok=False, nothing_to_do=True))
    result, _ = await run_incident(time_skipping_env, fakes)
    assert result.outcome == "no_action"
    assert "sync" not in fakes.calls and "snapshot" not in fakes.calls


async def test_a_failed_sync_restores_the_snapshot(time_skipping_env: WorkflowEnvironment) -> None:
    fakes = SyncFakes(progress=["waiting", "failed"])
    result, _ = await run_incident(time_skipping_env, fakes)
    assert result.outcome == "rolled_back"
    assert fakes.calls[-1] == "restore" or "restore" in fakes.calls
    assert "check_rollout" in fakes.calls  # the restored rollout is checked


async def test_a_sync_that_does_not_finish_in_time_is_rolled_back(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = SyncFakes(progress=["waiting"])
    result, _ = await run_incident(time_skipping_env, fakes)
    assert result.outcome == "rolled_back"
    assert "not synced within" in result.reason


async def test_a_report_only_drift_incident_stays_open_and_absorbs_later_scans(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = SyncFakes(summary="drift reported, not changed", plan=Plan())  # report only: no action
    queue = f"test-{uuid.uuid4()}"
    workflow_id = f"drift.argocd.cart-{uuid.uuid4()}"
    async with Worker(
        time_skipping_env.client,
        task_queue=queue,
        workflows=[RemediationWorkflow],
        workflow_runner=workflow_runner(),
        activities=fakes.activities(),
    ):
        handle = await time_skipping_env.client.start_workflow(
            RemediationWorkflow.run,
            RemediationInput(incident=drift_incident(workflow_id, drifted("cart")), cooldown_seconds=3600),
            id=workflow_id,
            task_queue=queue,
        )
        with time_skipping_env.auto_time_skipping_disabled():
            await wait_for_step(handle, "closed")
            await handle.signal(RemediationWorkflow.drift_observed, drifted("cart", replicas=9))
            deadline = asyncio.get_running_loop().time() + 30
            while ("drift_observed", "completed") not in steps(fakes):
                assert asyncio.get_running_loop().time() < deadline, steps(fakes)
                await asyncio.sleep(0.05)
        result = await asyncio.wait_for(handle.result(), timeout=60)
    assert result.outcome == "needs_review"
    assert steps(fakes).count(("drift_observed", "completed")) == 1
