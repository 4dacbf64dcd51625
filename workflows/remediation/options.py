"""How each step of the remediation runs: timeouts, retry policies, and the failures the loop
treats as answers rather than faults."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

from workflows.runner import StepOptions

_STORE_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30))
STORE = StepOptions(timedelta(seconds=30), _STORE_RETRY)
# Memory helps the analysis; its failure never stops it, so a few attempts are enough.
RECALL = StepOptions(
    timedelta(seconds=30), RetryPolicy(maximum_interval=timedelta(seconds=10), maximum_attempts=3)
)
OBSERVE = StepOptions(
    timedelta(seconds=60), RetryPolicy(maximum_interval=timedelta(seconds=30), maximum_attempts=10)
)
ANALYZE = StepOptions(
    timedelta(seconds=120), RetryPolicy(maximum_interval=timedelta(seconds=60), maximum_attempts=5)
)
# A second opinion is optional: a few attempts, then the workflow goes on without it.
REVIEW = StepOptions(
    timedelta(seconds=120), RetryPolicy(maximum_interval=timedelta(seconds=60), maximum_attempts=3)
)
VALIDATE = StepOptions(timedelta(seconds=30), RetryPolicy(maximum_attempts=5))
DRY_RUN = StepOptions(
    timedelta(seconds=60), RetryPolicy(maximum_interval=timedelta(seconds=30), maximum_attempts=10)
)
SNAPSHOT = StepOptions(
    timedelta(seconds=60), RetryPolicy(maximum_interval=timedelta(seconds=30), maximum_attempts=10)
)
# Execute and restore heartbeat between objects, so a dead worker's attempt is retried quickly;
# the retry finds the change already applied and does nothing.
EXECUTE = StepOptions(
    timedelta(seconds=120),
    RetryPolicy(maximum_interval=timedelta(seconds=30), maximum_attempts=20),
    heartbeat=timedelta(seconds=10),
)
CHECK = StepOptions(
    timedelta(seconds=30), RetryPolicy(maximum_interval=timedelta(seconds=15), maximum_attempts=5)
)
# Git work (a clone or fetch, a push) and PR host calls; Temporal retries transient failures,
# a rate limit after the host's Retry-After.
GIT = StepOptions(
    timedelta(seconds=300), RetryPolicy(maximum_interval=timedelta(seconds=60), maximum_attempts=10)
)
PR_WRITE = StepOptions(
    timedelta(seconds=60), RetryPolicy(maximum_interval=timedelta(seconds=60), maximum_attempts=10)
)
# A poll of the PR while waiting for its merge: a failed poll is only a missed look.
PR_POLL = StepOptions(
    timedelta(seconds=30), RetryPolicy(maximum_interval=timedelta(seconds=10), maximum_attempts=3)
)
ARGO = StepOptions(
    timedelta(seconds=60), RetryPolicy(maximum_interval=timedelta(seconds=15), maximum_attempts=5)
)
SYNC = StepOptions(
    timedelta(seconds=60),
    RetryPolicy(maximum_interval=timedelta(seconds=15), maximum_attempts=5),
    heartbeat=timedelta(seconds=30),
)
# Notifications never hold up the remediation: started and left to run, retried (a rate limit
# after the receiver's Retry-After) for up to an hour.
NOTIFY = StepOptions(
    timedelta(seconds=30),
    RetryPolicy(maximum_interval=timedelta(minutes=5)),
    schedule_to_close=timedelta(hours=1),
)
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
