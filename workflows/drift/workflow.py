"""DriftScanWorkflow: one scan of the Argo CD Applications in a scope for drift.

list the Applications → scan them page by page (Argo CD's own desired-vs-live comparison, normalised)
→ per drifted Application, a child RemediationWorkflow (one per Application at a time: a scan that
finds one open signals it instead) → record the findings → [raw manifests] → finish the report →
notify.

Started by a Temporal Schedule (`medic schedules apply`) or on demand (`medic drift scan`).
Orchestration only; the scan continues as new before its history grows large, carrying its
progress in its input.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError, FailureError, WorkflowAlreadyStartedError

from workflows.drift.stubs import (
    FINISH_DRIFT_SCAN,
    GET_DRIFT_DEFAULTS,
    LIST_DRIFT_APPLICATIONS,
    RECORD_DRIFT_FINDINGS,
    SCAN_DRIFT_PAGE,
    SCAN_UNMANAGED_MANIFESTS,
    SEND_DRIFT_REPORT,
)
from workflows.remediation import RemediationWorkflow
from workflows.runner import execute

with workflow.unsafe.imports_passed_through():
    from domain.drift.model import (
        AppDrift,
        DriftFindingsInput,
        DriftPageInput,
        DriftReport,
        DriftScanFinished,
        DriftScanInput,
        DriftScanResult,
        drift_workflow_id,
    )
    from domain.incident.model import WORKLOAD_KINDS, Incident, ResourceRef
    from domain.notifications.model import DriftedResource, DriftItem, Notification
    from domain.steps.drift import DriftDefaults


@workflow.defn
class DriftScanWorkflow:
    @workflow.init
    def __init__(self, input: DriftScanInput) -> None:
        self._state = input
        self._step = "starting"

    @workflow.run
    async def run(self, input: DriftScanInput) -> DriftScanResult:
        state = self._state
        if not state.scan_id:
            state = state.model_copy(
                update={"scan_id": workflow.info().workflow_id, "started_at": workflow.now()}
            )
        defaults = await execute(GET_DRIFT_DEFAULTS, state.scope)
        if not state.applications and state.next_index == 0:
            self._step = "listing"
            applications = await execute(LIST_DRIFT_APPLICATIONS, state.scope)
            state = state.model_copy(update={"applications": applications})
        self._state = state

        while state.next_index < len(state.applications):
            self._step = "scanning"
            page = state.applications[state.next_index : state.next_index + defaults.page_size]
            result = await execute(SCAN_DRIFT_PAGE, DriftPageInput(scan_id=state.scan_id, applications=page))
            incidents = await self._take(result.drifted, defaults, remediate=state.remediate)
            await self._record(state, result.drifted, incidents)
            state = state.model_copy(
                update={
                    "next_index": state.next_index + len(page),
                    "apps_scanned": state.apps_scanned + result.apps_scanned,
                    "resources_scanned": state.resources_scanned + result.resources_scanned,
                    "drifted_apps": state.drifted_apps + len(result.drifted),
                    "incidents": {**state.incidents, **incidents},
                    "errors": [*state.errors, *result.errors],
                }
            )
            self._state = state
            if state.next_index < len(state.applications) and self._history_is_long(defaults):
                workflow.continue_as_new(state)

        if defaults.raw_manifests:
            self._step = "manifests"
            unmanaged = await execute(SCAN_UNMANAGED_MANIFESTS, state.scan_id)
            # No Application to sync it from: reported, never remediated.
            await self._record(state, unmanaged.drifted, {})
            state = state.model_copy(
                update={
                    "resources_scanned": state.resources_scanned + unmanaged.resources_scanned,
                    "drifted_apps": state.drifted_apps + len(unmanaged.drifted),
                    "errors": [*state.errors, *unmanaged.errors],
                }
            )
            self._state = state

        self._step = "reporting"
        started = state.started_at or workflow.now()
        finished = workflow.now()
        result_ = DriftScanResult(
            scan_id=state.scan_id,
            scope=state.scope.label,
            apps_scanned=state.apps_scanned,
            resources_scanned=state.resources_scanned,
            drifted_apps=state.drifted_apps,
            incidents=state.incidents,
            errors=state.errors,
            duration_seconds=(finished - started).total_seconds(),
        )
        report = await execute(
            FINISH_DRIFT_SCAN, DriftScanFinished(result=result_, started_at=started, finished_at=finished)
        )
        if defaults.notify and state.drifted_apps:
            await self._notify(state, report)
        self._step = "finished"
        return result_

    @workflow.query
    def progress(self) -> DriftScanInput:
        """Where the scan is: its inventory, how far it got, and the running totals."""
        return self._state

    @workflow.query
    def step(self) -> str:
        return self._step

    # ---- steps ----------------------------------------------------------------------------------

    async def _take(
        self, drifted: list[AppDrift], defaults: DriftDefaults, *, remediate: bool
    ) -> dict[str, str]:
        """Hand each drifted Application to its incident: a new child RemediationWorkflow, or a
        signal to the one already open for it (started by this scan or an earlier one)."""
        incidents: dict[str, str] = {}
        if not remediate:
            return incidents
        for drift in drifted:
            if not drift.application:
                continue
            workflow_id = drift_workflow_id(drift)
            incident = drift_incident(workflow_id, drift)
            try:
                await workflow.start_child_workflow(
                    RemediationWorkflow.run,
                    defaults.remediation.model_copy(update={"incident": incident}),
                    id=workflow_id,
                    task_queue=workflow.info().task_queue,
                    # The incident outlives the scan: it may wait hours for an approval.
                    parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                )
            except WorkflowAlreadyStartedError:
                try:
                    await workflow.get_external_workflow_handle(workflow_id).signal(
                        RemediationWorkflow.drift_observed, drift
                    )
                except FailureError as err:
                    # It closed between the start and the signal: the next scan opens a new one.
                    workflow.logger.warning("could not signal %s: %s", workflow_id, err)
            incidents[drift.key] = workflow_id
        return incidents

    async def _record(
        self, state: DriftScanInput, drifted: list[AppDrift], incidents: dict[str, str]
    ) -> None:
        if not drifted:
            return
        await execute(
            RECORD_DRIFT_FINDINGS,
            DriftFindingsInput(
                scan_id=state.scan_id,
                scope=state.scope.label,
                started_at=state.started_at or workflow.now(),
                drifted=drifted,
                incidents=incidents,
            ),
        )

    async def _notify(self, state: DriftScanInput, report: DriftReport) -> None:
        """The drift report for the people who should know; its loss never fails the scan."""
        notification = Notification(
            event="drift_report",
            workflow_id=state.scan_id,
            seq=1,
            title=f"Drift scan {state.scope.label}: {state.drifted_apps} drifted",
            drift=drift_items(report),
            drift_scanned=state.apps_scanned,
            occurred_at=workflow.now(),
        )
        try:
            await execute(SEND_DRIFT_REPORT, notification)
        except ActivityError as err:
            workflow.logger.warning("the drift report of %s was not delivered: %s", state.scan_id, err)

    @staticmethod
    def _history_is_long(defaults: DriftDefaults) -> bool:
        """Continue as new well before Temporal's limits (or when the server suggests it)."""
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() > defaults.history_events_limit
        )


def drift_incident(workflow_id: str, drift: AppDrift) -> Incident:
    """The incident of an Application's drift; its targets are the drifted workloads."""
    targets: dict[str, ResourceRef] = {}
    for resource in drift.resources:
        if resource.kind in WORKLOAD_KINDS and resource.namespace:
            ref = ResourceRef(namespace=resource.namespace, kind=resource.kind, name=resource.name)
            targets.setdefault(ref.key, ref)
    count = len(drift.resources)
    plural = "" if count == 1 else "s"
    return Incident(
        id=workflow_id,
        source="drift",
        title=f"Drift in Argo CD application {drift.application} ({count} resource{plural})",
        targets=list(targets.values()),
        drift=drift,
    )


def drift_items(report: DriftReport) -> list[DriftItem]:
    """The report's findings grouped per Application, as notifications list them."""
    items: dict[str, DriftItem] = {}
    for finding in report.findings:
        resource = DriftedResource(
            kind=finding.resource.kind, name=finding.resource.name, namespace=finding.resource.namespace
        )
        item = items.get(finding.app_key)
        if item is None:
            item = DriftItem(application=finding.application or "unmanaged", project=finding.project)
        items[finding.app_key] = item.model_copy(update={"resources": [*item.resources, resource]})
    return list(items.values())
