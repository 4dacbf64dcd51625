"""How each step of the remediation runs: timeouts, retry policies, and the failures the loop
treats as answers rather than faults."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

from workflows.runner import StepOptions


def _step(
    seconds: float,
    *,
    attempts: int = 0,
    retry_every: float | None = None,
    heartbeat: float | None = None,
    within: timedelta | None = None,
) -> StepOptions:
    """Options of a step: `seconds` per attempt, at most `attempts` attempts (0: until `within`, or
    forever), retried at most `retry_every` seconds apart, heartbeating every `heartbeat` seconds."""
    retry = RetryPolicy(
        maximum_attempts=attempts,
        maximum_interval=timedelta(seconds=retry_every) if retry_every is not None else None,
    )
    return StepOptions(
        timedelta(seconds=seconds),
        retry,
        heartbeat=timedelta(seconds=heartbeat) if heartbeat is not None else None,
        schedule_to_close=within,
    )


# Steps that may spend seconds in one call heartbeat every few seconds while they work
# (activities/heartbeat.py): a crashed worker's attempt is retried after this many seconds, not
# after its start-to-close timeout.
HEARTBEAT = 20

STORE = _step(30, retry_every=30)
# Memory helps the analysis; its failure never stops it, so a few attempts are enough.
RECALL = _step(30, retry_every=10, attempts=3)
OBSERVE = _step(60, retry_every=30, attempts=10, heartbeat=HEARTBEAT)
ANALYZE = _step(120, retry_every=60, attempts=5)
# A second opinion is optional: a few attempts, then the workflow goes on without it.
REVIEW = _step(120, retry_every=60, attempts=3)
VALIDATE = _step(30, attempts=5)
DRY_RUN = _step(60, retry_every=30, attempts=10)
SNAPSHOT = _step(60, retry_every=30, attempts=10)
# Execute and restore heartbeat between objects, so a dead worker's attempt is retried quickly;
# the retry finds the change already applied and does nothing.
EXECUTE = _step(120, retry_every=30, attempts=20, heartbeat=10)
CHECK = _step(30, retry_every=15, attempts=5)
# Git work (a clone or fetch, a push) and PR host calls; Temporal retries transient failures,
# a rate limit after the host's Retry-After, and a dead worker's attempt after HEARTBEAT seconds.
GIT = _step(300, retry_every=60, attempts=10, heartbeat=HEARTBEAT)
PR_WRITE = _step(60, retry_every=60, attempts=10, heartbeat=HEARTBEAT)
# A poll of the PR while waiting for its merge: a failed poll is only a missed look.
PR_POLL = _step(30, retry_every=10, attempts=3)
ARGO = _step(60, retry_every=15, attempts=5, heartbeat=HEARTBEAT)
SYNC = _step(60, retry_every=15, attempts=5, heartbeat=HEARTBEAT)
# Notifications never hold up the remediation: started and left to run, retried (a rate limit
# after the receiver's Retry-After) for up to an hour.
NOTIFY = _step(30, retry_every=300, within=timedelta(hours=1))
# How long a finished incident waits for its outstanding notifications before it closes anyway.
NOTIFY_DRAIN = timedelta(minutes=5)

# A sync request is made again (for an Application without automated sync) at most this often.
MAX_SYNC_REQUESTS = 3

# Execution modes histories recorded before GitOps mode could carry out: such a run sent a plan
# needing another one to a human (its replay still does; see PATCH_GITOPS_MODE).
EXECUTABLE_MODES = frozenset({"direct"})

# Analyzer failures (ApplicationError types from activities/analyze.py): output that must not be
# acted on goes to a human; a model that cannot answer hands over to the offline rules.
MODEL_OUTPUT_REJECTED = frozenset({"InvalidModelOutput", "InvalidDiagnosis"})
MODEL_NOT_USABLE = frozenset({"ModelUnavailable", "ModelRefused", "PromptTooLarge"})
# Of those, the ones that say the model itself cannot be used now (a refused key, an exhausted
# quota, an outage): reported on the incident, in the audit, as a notification and a metric. A
# prompt too large is this incident's problem, not the model's.
MODEL_UNUSABLE = frozenset({"ModelUnavailable", "ModelRefused"})

# The failure type of an activity that could not reach the store (activities/failures.py): the
# step runs again, for as long as the outage lasts, instead of failing the incident.
STORE_UNAVAILABLE = "StoreUnavailable"
