"""Every activity the deploy watch calls, typed: name, input, result and options."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows.runner import StepOptions, Stub

with workflow.unsafe.imports_passed_through():
    from domain.deploy.model import DeployEvent
    from domain.deploy.poll import DeployPollPage, RecentDeploys
    from domain.deploy.watch import (
        DeployWatchPlan,
        FinishWatch,
        SampleInput,
        SampleResult,
    )

# Reads of Argo CD, Git and the store; retried a while (the watch has minutes, not hours).
READ = StepOptions(
    timedelta(seconds=60),
    RetryPolicy(maximum_interval=timedelta(seconds=20)),
    heartbeat=timedelta(seconds=20),
    schedule_to_close=timedelta(minutes=10),
)
# A sample is a handful of Prometheus range queries per workload.
SAMPLE = StepOptions(
    timedelta(seconds=60),
    RetryPolicy(maximum_interval=timedelta(seconds=20)),
    schedule_to_close=timedelta(minutes=5),
)
# The verdict is recorded however long the store is away.
STORE = StepOptions(timedelta(seconds=30), RetryPolicy(maximum_interval=timedelta(seconds=60)))

PLAN_DEPLOY_WATCH = Stub("plan_deploy_watch", DeployEvent, DeployWatchPlan, READ)
SAMPLE_DEPLOY_SIGNALS = Stub("sample_deploy_signals", SampleInput, SampleResult, SAMPLE)
FINISH_DEPLOY_WATCH = Stub("finish_deploy_watch", FinishWatch, bool, STORE)

# The poll's listing: one Argo CD request per page; a poll that cannot list is tried again by the
# next one, so it does not try for long.
LIST = StepOptions(
    timedelta(seconds=120),
    RetryPolicy(maximum_interval=timedelta(seconds=20)),
    heartbeat=timedelta(seconds=30),
    schedule_to_close=timedelta(minutes=4),
)
LIST_RECENT_DEPLOYS = Stub("list_recent_deploys", DeployPollPage, RecentDeploys, LIST)
