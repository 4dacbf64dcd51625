"""What a deploy watch is about, what it measures, the rules it judges by and what it decides.

A deploy is an Argo CD Application synced to a new revision, seen by a notification or by the
poll of sync histories; both may see the same deploy, so a watch's id is derived from the
Application and the revision alone (`deploy_watch_id`) and a second sighting finds the first
watch. For each workload the deploy changed, the watch takes the same `Signals` over a baseline
window before the sync and over the analysis window after it; `WatchRules` says how long those
windows are and when a change in the signals is a degradation (defaults below, per Application in
policy data: `medic.config.deploy_watch`). `Verdict` is the outcome, with every rule that fired
and the figures it fired on, so that a person reads why without opening Prometheus.

Thresholds are "at least": a rule fires when the observed value equals its threshold (within
float rounding). `None` in a signal means no data, never zero.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from domain.base import Frozen
from domain.kube.clusters import cluster_slug

__all__ = [
    "DeployEvent",
    "DeployRegression",
    "DeploySource",
    "FiredRule",
    "RuleName",
    "Signals",
    "Verdict",
    "VerdictState",
    "WatchRules",
    "WorkloadFigures",
    "WorkloadRef",
    "deploy_watch_id",
]

DeploySource = Literal["notification", "poll"]
VerdictState = Literal["healthy", "degraded", "inconclusive"]
RuleName = Literal["health_degraded", "crash_loop", "oom_kill", "error_ratio", "p99_latency", "readiness"]

# Argo CD's namespace for Applications when none is named (its default install).
DEFAULT_APP_NAMESPACE = "argocd"
# A revision is shortened to this many characters in a watch's id: enough to be unique among an
# Application's revisions, short enough to read in the Temporal UI.
_ID_REVISION_CHARS = 12


class DeployEvent(Frozen):
    """An Application synced to `revision`, as a notification or the poll of its history saw it.

    `previous_revision` is the revision it ran before ("" when unknown, as for its first sync);
    `delivery` names the sighting (the notification's delivery id, or the poll's run), for the
    record only: two sightings of one deploy are one watch.
    """

    application: str = Field(min_length=1)
    app_namespace: str = Field(min_length=1)
    project: str = "default"
    revision: str = Field(min_length=1)
    previous_revision: str = ""
    # when the sync finished, as Argo CD reported it; None: the watch starts from when it is told
    synced_at: datetime | None = None
    source: DeploySource
    delivery: str = ""
    # the cluster name of the medic that watches it (README "Clusters"); "" when none is configured
    cluster: str = ""

    @property
    def watch_id(self) -> str:
        return deploy_watch_id(self.app_namespace, self.application, self.revision, self.cluster)


def deploy_watch_id(app_namespace: str, application: str, revision: str, cluster: str = "") -> str:
    """The id of the one watch of `application` (in `app_namespace`) at `revision`:
    `deploy/<namespace>/<application>/<revision's first 12 characters>`; a cluster's medic's
    (README "Clusters") begins `deploy-<cluster>/`, so that medics sharing a Temporal namespace
    never take each other's watch for their own."""
    namespace = app_namespace or DEFAULT_APP_NAMESPACE
    slug = cluster_slug(cluster)
    head = f"deploy-{slug}" if slug else "deploy"
    return f"{head}/{namespace}/{application}/{revision[:_ID_REVISION_CHARS]}"


class WorkloadRef(Frozen):
    """A workload the deploy changed (Deployment, StatefulSet, DaemonSet, Rollout...)."""

    namespace: str
    kind: str
    name: str

    @property
    def label(self) -> str:
        return f"{self.namespace}/{self.kind}/{self.name}"


class Signals(Frozen):
    """One workload's signals over one window; `None` is no data (Prometheus returned nothing).

    request_rate: requests per second, averaged over the window. error_ratio: the share of those
    requests that failed, 0..1. p99_ms: the 99th percentile of request latency, in milliseconds.
    restarts: container restarts during the window. ready_ratio: ready pods over desired pods,
    averaged over the window, 0..1. oom_kills: containers killed for memory during the window.
    A NaN (Prometheus' 0/0, say an error ratio with no requests) is taken as no data.
    """

    request_rate: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    error_ratio: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    p99_ms: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    restarts: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    ready_ratio: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    oom_kills: float | None = Field(default=None, ge=0, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _nan_is_no_data(cls, value: Any) -> Any:
        return None if isinstance(value, float) and math.isnan(value) else value

    @property
    def empty(self) -> bool:
        return all(v is None for v in self.model_dump().values())


class WatchRules(Frozen):
    """How a deploy is watched and when it is degraded. Every threshold is "at least".

    - windows: the baseline is the `baseline_window_seconds` before the sync; the analysis window
      is the `analysis_window_seconds` after it, sampled every `sample_interval_seconds`.
    - traffic floor: the error ratio and latency rules judge a workload only when its request rate
      after the sync is at least `min_request_rate` req/s; below it they do not fire, and the
      verdict says there was too little traffic to judge them.
    - error ratio: at least `error_ratio_factor` × the baseline AND at least `error_ratio_min`.
    - p99 latency: at least `p99_factor` × the baseline AND at least `p99_increase_ms` slower.
    - crash loop: at least `crash_loop_restarts` more container restarts after the sync than in
      the baseline window (a workload with no restart data before counts from zero: it is new).
    - OOM kill: at least `oom_kills` more OOM kills after the sync than in the baseline window
      (likewise from zero).
    - readiness: a ready ratio at least `ready_ratio_drop` lower than the baseline's (0.25: from
      100% of pods ready to 75%).
    - health: Argo CD reports the Application Degraded.
    """

    analysis_window_seconds: int = Field(default=600, gt=0)
    baseline_window_seconds: int = Field(default=600, gt=0)
    sample_interval_seconds: int = Field(default=60, gt=0)
    min_request_rate: float = Field(default=0.1, ge=0, allow_inf_nan=False)
    error_ratio_factor: float = Field(default=3.0, ge=0, allow_inf_nan=False)
    error_ratio_min: float = Field(default=0.01, ge=0, le=1, allow_inf_nan=False)
    p99_factor: float = Field(default=1.5, ge=0, allow_inf_nan=False)
    p99_increase_ms: float = Field(default=100.0, ge=0, allow_inf_nan=False)
    crash_loop_restarts: int = Field(default=2, ge=1)
    oom_kills: int = Field(default=1, ge=1)
    ready_ratio_drop: float = Field(default=0.25, gt=0, le=1, allow_inf_nan=False)

    @model_validator(mode="after")
    def _sampled_within_the_window(self) -> WatchRules:
        if self.sample_interval_seconds > self.analysis_window_seconds:
            raise ValueError(
                f"sample_interval_seconds ({self.sample_interval_seconds}) is longer than "
                f"analysis_window_seconds ({self.analysis_window_seconds})"
            )
        return self


class FiredRule(Frozen):
    """A rule that fired: on which workload (none for the Application's health), with the values
    it compared, the rule written out, and one line saying it all, e.g.
    "error ratio 2.10% vs 0.10% before (21.0×; rule: ≥3× and ≥1.00%)"."""

    rule: RuleName
    workload: WorkloadRef | None = None
    baseline: float | None = None
    observed: float | None = None
    threshold: str
    message: str


class WorkloadFigures(Frozen):
    """One workload's signals before and after the sync, and what the rules made of it alone."""

    workload: WorkloadRef
    baseline: Signals | None = None
    after: Signals | None = None
    state: VerdictState


class Verdict(Frozen):
    """The outcome of a watch (or of one sample, when it already shows a degradation).

    degraded: at least one rule fired (every one that did is in `fired`, the worst first);
    healthy: none fired and at least one could be judged; inconclusive: none could (no data, or
    too little traffic and no counters). `notes` says what could not be judged and why, one line
    each; `summary` is the one line for a notification ("deploy abc1234 of shop-cart made p99
    2.4× worse").
    """

    state: VerdictState
    summary: str
    fired: list[FiredRule] = []
    notes: list[str] = []
    health: str = ""
    figures: list[WorkloadFigures] = []


class DeployRegression(Frozen):
    """A deploy its watch judged degraded, as the incident it opens carries it (source `deploy`):
    which Application went from `previous_revision` to `revision`, the commits that brought
    ("<sha7> <subject>", newest first), the verdict with the rules that fired and their figures,
    and the workloads they fired on. The incident's plan reverts exactly these commits."""

    watch_id: str
    application: str = Field(min_length=1)
    app_namespace: str = DEFAULT_APP_NAMESPACE
    project: str = "default"
    revision: str = Field(min_length=1)
    previous_revision: str = ""
    commits: list[str] = []
    verdict: Verdict
    workloads: list[WorkloadRef] = []
