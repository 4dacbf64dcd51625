"""Failed Jobs: the cause from the Job's condition, its pods' terminations and logs; never a plan."""

from __future__ import annotations

import pytest

from domain.analysis.offline import OfflineAnalyzer
from domain.analysis.rules.jobs import diagnose_jobs
from domain.incident.model import Incident
from domain.kube.observation import (
    ContainerState,
    EventItem,
    JobCondition,
    JobState,
    LogExcerpt,
    Observation,
    PodState,
)

INCIDENT = Incident(id="incident-jobs")
BACKOFF = JobCondition(
    type="Failed",
    status="True",
    reason="BackoffLimitExceeded",
    message="Job has reached the specified backoff limit",
)


def _job(
    cronjob: str = "", conditions: tuple[JobCondition, ...] = (BACKOFF,), tracking: str = ""
) -> JobState:
    return JobState(
        id="job/billing/invoice-export-29389440",
        name="invoice-export-29389440",
        namespace="billing",
        cronjob=cronjob,
        failed=3,
        backoff_limit=2,
        conditions=list(conditions),
        tracking=tracking,
    )


def _failed_pod(suffix: str, exit_code: int = 1, reason: str = "Error") -> PodState:
    return PodState(
        id=f"pod/billing/invoice-export-29389440-{suffix}",
        name=f"invoice-export-29389440-{suffix}",
        namespace="billing",
        owner="invoice-export-29389440",
        node="ip-10-0-1-17.eu-west-1.compute.internal",
        phase="Failed",
        containers=[
            ContainerState(name="export", state="terminated", state_reason=reason, state_exit_code=exit_code)
        ],
    )


def _log(suffix: str, text: str) -> LogExcerpt:
    return LogExcerpt(
        id=f"log/billing/invoice-export-29389440-{suffix}/export",
        pod=f"invoice-export-29389440-{suffix}",
        container="export",
        text=text,
    )


def _observation(job: JobState, pods: list[PodState], logs: list[LogExcerpt]) -> Observation:
    return Observation(
        incident_id=INCIDENT.id,
        jobs=[job],
        pods=pods,
        logs=logs,
        events=[
            EventItem(
                id="event/billing/invoice-export-29389440.1",
                namespace="billing",
                object_kind="Job",
                object_name=job.name,
                reason="BackoffLimitExceeded",
                type="Warning",
                message="Job has reached the specified backoff limit",
            )
        ],
    )


@pytest.mark.parametrize(
    ("line", "root_cause"),
    [
        ("KeyError: 'S3_EXPORT_BUCKET'", "config_error"),
        ("FATAL: environment variable DATABASE_URL is not set", "config_error"),
        (
            'psycopg2.OperationalError: connection to server at "10.96.14.3", port 5432 failed: '
            "Connection refused",
            "dependency",
        ),
        ("dial tcp: lookup ledger-db.billing.svc.cluster.local: no such host", "dependency"),
        ("x509: certificate has expired or is not yet valid", "dependency"),
        ("java.lang.OutOfMemoryError: Java heap space", "oom"),
    ],
)
def test_the_logs_name_the_cause_of_a_backoff_limit_failure(line: str, root_cause: str) -> None:
    observation = _observation(_job(), [_failed_pod("abcde")], [_log("abcde", f"starting export\n{line}\n")])
    diagnosis = OfflineAnalyzer().analyze(INCIDENT, observation)
    assert diagnosis.root_cause == root_cause
    assert diagnosis.plan.actions == []
    assert line[:40] in diagnosis.explanation and "BackoffLimitExceeded" in diagnosis.explanation
    assert "log/billing/invoice-export-29389440-abcde/export" in {e.item_id for e in diagnosis.evidence}
    assert any("kubectl describe job invoice-export-29389440" in s for s in diagnosis.next_steps)


def test_a_command_that_does_not_exist_is_read_from_the_exit_code() -> None:
    observation = _observation(_job(), [_failed_pod("fghij", exit_code=127, reason="StartError")], [])
    diagnosis = OfflineAnalyzer().analyze(INCIDENT, observation)
    assert diagnosis.root_cause == "config_error" and "exit code 127" in diagnosis.explanation


def test_a_cronjobs_job_names_the_cronjob_and_how_to_run_it_again() -> None:
    job = _job(cronjob="invoice-export", tracking="billing-jobs:batch/CronJob:billing/invoice-export")
    observation = _observation(job, [_failed_pod("abcde")], [_log("abcde", "KeyError: 'EXPORT_BUCKET'")])
    diagnosis = OfflineAnalyzer().analyze(INCIDENT, observation)
    assert diagnosis.root_cause == "config_error"
    assert "CronJob invoice-export" in diagnosis.summary
    steps = " ".join(diagnosis.next_steps)
    assert "from the jobTemplate of CronJob billing/invoice-export" in steps
    assert "billing-jobs" in steps and "EXPORT_BUCKET" in steps


def test_a_downstream_failure_leaves_the_job_alone_and_says_to_run_it_again_later() -> None:
    job = _job(cronjob="invoice-export", tracking="billing-jobs:batch/CronJob:billing/invoice-export")
    observation = _observation(job, [_failed_pod("abcde")], [_log("abcde", "ECONNREFUSED 10.96.0.12:6379")])
    diagnosis = OfflineAnalyzer().analyze(INCIDENT, observation)
    assert diagnosis.root_cause == "dependency"
    steps = " ".join(diagnosis.next_steps)
    assert "needs no change" in steps and "from the jobTemplate of CronJob billing/invoice-export" in steps


def test_an_unexplained_failure_quotes_the_last_error_and_stays_unknown() -> None:
    logs = [_log("abcde", "row 1812 of 5000\nERROR export aborted: checksum mismatch in batch 37\n")]
    diagnosis = OfflineAnalyzer().analyze(INCIDENT, _observation(_job(), [_failed_pod("abcde")], logs))
    assert diagnosis.root_cause == "unknown" and diagnosis.plan.actions == []
    assert "checksum mismatch in batch 37" in diagnosis.explanation and diagnosis.next_steps


def test_a_deadline_is_named_as_such() -> None:
    deadline = JobCondition(
        type="Failed",
        status="True",
        reason="DeadlineExceeded",
        message="Job was active longer than specified deadline",
    )
    job = _job(conditions=(deadline,)).model_copy(update={"active_deadline_seconds": 3600})
    diagnosis = OfflineAnalyzer().analyze(INCIDENT, _observation(job, [], []))
    assert "activeDeadlineSeconds (3600s)" in diagnosis.explanation and diagnosis.next_steps


def test_a_job_that_completed_is_not_diagnosed() -> None:
    done = JobCondition(type="Complete", status="True")
    job = _job(conditions=(done,)).model_copy(update={"failed": 0, "succeeded": 1})
    observation = Observation(incident_id=INCIDENT.id, jobs=[job])
    assert diagnose_jobs(observation, "offline") is None


def test_a_job_still_running_is_unknown_with_its_last_log_line() -> None:
    job = _job(conditions=()).model_copy(update={"failed": 0, "active": 1})
    running = PodState(
        id="pod/billing/invoice-export-29389440-zzzzz",
        name="invoice-export-29389440-zzzzz",
        namespace="billing",
        owner=job.name,
        node="ip-10-0-1-17.eu-west-1.compute.internal",
        phase="Running",
        ready=True,
        containers=[ContainerState(name="export", ready=True, state="running")],
    )
    logs = [_log("zzzzz", "exported 1200/90000 rows\nexported 1210/90000 rows\n")]
    diagnosis = diagnose_jobs(
        Observation(incident_id=INCIDENT.id, jobs=[job], pods=[running], logs=logs), "offline"
    )
    assert diagnosis is not None and diagnosis.root_cause == "unknown"
    assert (
        "exported 1210/90000 rows" in diagnosis.explanation
        and "activeDeadlineSeconds" in diagnosis.explanation
    )
    assert diagnosis.next_steps
