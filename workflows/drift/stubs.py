"""Every activity the drift scan calls, typed: name, input, result and options."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows.runner import StepOptions, Stub

with workflow.unsafe.imports_passed_through():
    from domain.drift.model import (
        AppRef,
        DriftFindingsInput,
        DriftPageInput,
        DriftPageResult,
        DriftReport,
        DriftScanFinished,
        DriftScope,
    )
    from domain.notifications.model import Notification, NotifyResult
    from domain.steps.drift import DriftDefaults

LIST = StepOptions(
    timedelta(seconds=60), RetryPolicy(maximum_interval=timedelta(seconds=30), maximum_attempts=10)
)
# A page heartbeats after every Application; a worker that dies mid-page is noticed within a minute
# and the page is scanned again (a scan only reads).
PAGE = StepOptions(
    timedelta(minutes=10),
    RetryPolicy(maximum_interval=timedelta(seconds=60), maximum_attempts=10),
    heartbeat=timedelta(seconds=60),
)
STORE = StepOptions(timedelta(seconds=30), RetryPolicy(maximum_interval=timedelta(seconds=30)))
# A scan does not wait long for its report to be delivered: the next one is due.
NOTIFY = StepOptions(
    timedelta(seconds=30),
    RetryPolicy(maximum_interval=timedelta(minutes=2)),
    schedule_to_close=timedelta(minutes=10),
)

GET_DRIFT_DEFAULTS = Stub("get_drift_defaults", DriftScope, DriftDefaults, LIST)
LIST_DRIFT_APPLICATIONS = Stub("list_drift_applications", DriftScope, list[AppRef], LIST)
SCAN_DRIFT_PAGE = Stub("scan_drift_page", DriftPageInput, DriftPageResult, PAGE)
SCAN_UNMANAGED_MANIFESTS = Stub("scan_unmanaged_manifests", str, DriftPageResult, PAGE)
RECORD_DRIFT_FINDINGS = Stub("record_drift_findings", DriftFindingsInput, int, STORE)
FINISH_DRIFT_SCAN = Stub("finish_drift_scan", DriftScanFinished, DriftReport, STORE)
SEND_DRIFT_REPORT = Stub("send_notification", Notification, NotifyResult, NOTIFY)
