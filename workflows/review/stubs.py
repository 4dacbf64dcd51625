"""Every activity the change review calls, typed: name, input, result and options."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows.runner import StepOptions, Stub

with workflow.unsafe.imports_passed_through():
    from domain.steps.review import (
        AffectedApplications,
        PublishInput,
        PublishResult,
        ReviewOutcome,
        ReviewRequest,
    )

# Reads of the PR host, Git and Argo CD; a dead worker's attempt is noticed by its heartbeat.
FIND = StepOptions(
    timedelta(minutes=2),
    RetryPolicy(maximum_interval=timedelta(seconds=30), maximum_attempts=10),
    heartbeat=timedelta(seconds=20),
)
# Renders every affected Application twice (Argo CD's repo server may take seconds each) and
# heartbeats after each one.
REVIEW = StepOptions(
    timedelta(minutes=15),
    RetryPolicy(maximum_interval=timedelta(seconds=60), maximum_attempts=10),
    heartbeat=timedelta(seconds=60),
)
# Posting to the PR host: retried a while (rate limits say when), then given up — the next push
# reviews again.
PUBLISH = StepOptions(
    timedelta(minutes=2),
    RetryPolicy(maximum_interval=timedelta(minutes=2)),
    heartbeat=timedelta(seconds=20),
    schedule_to_close=timedelta(minutes=30),
)

FIND_AFFECTED_APPLICATIONS = Stub("find_affected_applications", ReviewRequest, AffectedApplications, FIND)
REVIEW_CHANGE = Stub("review_change", AffectedApplications, ReviewOutcome, REVIEW)
PUBLISH_REVIEW = Stub("publish_review", PublishInput, PublishResult, PUBLISH)
