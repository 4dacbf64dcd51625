"""Every activity the remediation workflow calls, typed: name, input, result and options.

The names are the activities' registered names (`activities/`); `tests/workers/test_stubs.py`
holds each stub against the worker's registrations.
"""

from __future__ import annotations

from temporalio import workflow

from workflows.remediation.options import (
    ANALYZE,
    ARGO,
    CHECK,
    DRY_RUN,
    EXECUTE,
    GIT,
    NOTIFY,
    OBSERVE,
    PR_POLL,
    PR_WRITE,
    RECALL,
    REVIEW,
    SNAPSHOT,
    STORE,
    SYNC,
    VALIDATE,
)
from workflows.runner import Stub

with workflow.unsafe.imports_passed_through():
    from domain.analysis.plan import Diagnosis
    from domain.gitops.pull_requests import PullRequest
    from domain.incident.memory import RecallInput, RecallResult, RememberInput
    from domain.kube.observation import Observation
    from domain.notifications.model import Notification, NotifyResult
    from domain.steps.analyze import AnalyzeInput, ReviewInput, ReviewResult
    from domain.steps.change import (
        CheckRolloutInput,
        DryRunResult,
        ExecutionResult,
        PlanInput,
        RestoreInput,
        SnapshotResult,
        Verification,
    )
    from domain.steps.gitops import (
        ApplicationCheck,
        ApplicationsInput,
        GitOpsChange,
        OpenPullRequestInput,
        PrepareChangeInput,
        PrepareRevertInput,
        PullRequestInput,
    )
    from domain.steps.observe import ObserveInput
    from domain.steps.record import ApprovalRecord, AuditInput, IncidentUpdate
    from domain.steps.sync import SyncInput, SyncProgress
    from domain.steps.validate import ValidateInput, ValidateResult

NONE = type(None)

# record
RECORD_INCIDENT = Stub("record_incident", IncidentUpdate, NONE, STORE)
RECORD_AUDIT = Stub("record_audit", AuditInput, NONE, STORE)
RECORD_APPROVAL = Stub("record_approval", ApprovalRecord, NONE, STORE)
# observe, recall, analyze, validate
OBSERVE_INCIDENT = Stub("observe_incident", ObserveInput, Observation, OBSERVE)
RECALL_SIMILAR_INCIDENTS = Stub("recall_similar_incidents", RecallInput, RecallResult, RECALL)
# Remembering is a store write like the others: retried without bound, so an outage loses nothing.
REMEMBER_INCIDENT = Stub("remember_incident", RememberInput, NONE, STORE)
ANALYZE_INCIDENT = Stub("analyze_incident", AnalyzeInput, Diagnosis, ANALYZE)
REVIEW_DIAGNOSIS = Stub("review_diagnosis", ReviewInput, ReviewResult, REVIEW)
VALIDATE_PLAN = Stub("validate_plan", ValidateInput, ValidateResult, VALIDATE)
# a direct change
DRY_RUN_PLAN = Stub("dry_run_plan", PlanInput, DryRunResult, DRY_RUN)
SNAPSHOT_RESOURCES = Stub("snapshot_resources", PlanInput, SnapshotResult, SNAPSHOT)
EXECUTE_PLAN = Stub("execute_plan", PlanInput, ExecutionResult, EXECUTE)
CHECK_ROLLOUT = Stub("check_rollout", CheckRolloutInput, Verification, CHECK)
RESTORE_SNAPSHOTS = Stub("restore_snapshots", RestoreInput, ExecutionResult, EXECUTE)
# the GitOps path
PREPARE_GITOPS_CHANGE = Stub("prepare_gitops_change", PrepareChangeInput, GitOpsChange, GIT)
PREPARE_GITOPS_REVERT = Stub("prepare_gitops_revert", PrepareRevertInput, GitOpsChange, GIT)
OPEN_PULL_REQUEST = Stub("open_pull_request", OpenPullRequestInput, PullRequest, GIT)
MERGE_PULL_REQUEST = Stub("merge_pull_request", PullRequestInput, PullRequest, PR_WRITE)
GET_PULL_REQUEST = Stub("get_pull_request", PullRequestInput, PullRequest, PR_POLL)
CLOSE_PULL_REQUEST = Stub("close_pull_request", PullRequestInput, PullRequest, PR_WRITE)
SYNC_APPLICATIONS = Stub("sync_applications", ApplicationsInput, ApplicationCheck, ARGO)
CHECK_APPLICATIONS = Stub("check_applications", ApplicationsInput, ApplicationCheck, ARGO)
# the Argo CD sync path
DRY_RUN_SYNC = Stub("dry_run_sync", SyncInput, DryRunResult, SYNC)
SYNC_RESOURCES = Stub("sync_resources", SyncInput, ApplicationCheck, SYNC)
CHECK_SYNC = Stub("check_sync", SyncInput, SyncProgress, CHECK)
# notify
SEND_NOTIFICATION = Stub("send_notification", Notification, NotifyResult, NOTIFY)
