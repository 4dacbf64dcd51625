"""Drift: the live cluster differing from what Git declares, found by a scheduled scan.

The models shared by the drift scan (workflows/drift/ and activities/drift/), the store's drift
reports, the schedules and the CLI: a scan's scope, the drift configuration (schedules and
`ignore_differences`), and what a scan found — per Argo CD Application, the resources whose
normalised live state differs from the desired state Argo CD rendered, field by field.

The comparison itself (`normalise`, `resource_drift`, `application_drift`) is pure and lives in
`domain/drift/diff.py`.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from domain.base import Frozen

ScopeKind = Literal["all", "project", "namespace"]
_SCOPE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


class DriftScope(Frozen):
    """Which Argo CD Applications a scan looks at: all of them, one project's, or those whose
    destination is one namespace. Written `all`, `project:NAME` or `namespace:NAME`."""

    kind: ScopeKind = "all"
    name: str = ""

    @model_validator(mode="after")
    def _named(self) -> DriftScope:
        if self.kind == "all":
            if self.name:
                raise ValueError("the scope `all` takes no name")
        elif not _SCOPE_NAME.match(self.name):
            raise ValueError(f"the scope {self.kind}:{self.name!r} needs a valid {self.kind} name")
        return self

    @classmethod
    def parse(cls, text: str) -> DriftScope:
        text = text.strip()
        if text in ("", "all"):
            return cls()
        kind, sep, name = text.partition(":")
        if not sep or kind not in ("project", "namespace"):
            raise ValueError(f"unknown scope {text!r}: expected all, project:NAME or namespace:NAME")
        return cls.model_validate({"kind": kind, "name": name})

    @property
    def label(self) -> str:
        return "all" if self.kind == "all" else f"{self.kind}:{self.name}"

    @property
    def slug(self) -> str:
        """For ids: `all`, `project-NAME`, `namespace-NAME`."""
        return "all" if self.kind == "all" else f"{self.kind}-{self.name}"


OverlapPolicy = Literal["skip", "buffer_one", "buffer_all", "cancel_other", "terminate_other", "allow_all"]
SCHEDULE_ID_PREFIX = "medic-drift-"


class ScheduleSpec(Frozen):
    """One Temporal Schedule of drift scans, as the drift configuration declares it.

    Exactly one of `cron` (standard 5-field expressions, UTC) and `every_seconds`. `jitter_seconds`
    delays each run by a random amount up to it (so that many medics do not hit Argo CD at once).
    `overlap` says what happens when a run is due while the last still runs (default: skip it);
    `catchup_window_seconds` how late a missed run (Temporal or the worker down) may still start.
    """

    model_config = ConfigDict(extra="forbid")

    scope: DriftScope = Field(default_factory=DriftScope)
    cron: list[str] = Field(default_factory=list)
    every_seconds: int = Field(default=0, ge=0)
    jitter_seconds: int = Field(default=0, ge=0)
    overlap: OverlapPolicy = "skip"
    catchup_window_seconds: int = Field(default=600, ge=60)
    paused: bool = False
    note: str = ""

    @field_validator("scope", mode="before")
    @classmethod
    def _scope(cls, value: Any) -> Any:
        return DriftScope.parse(value) if isinstance(value, str) else value

    @field_validator("cron", mode="before")
    @classmethod
    def _crons(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_timing(self) -> ScheduleSpec:
        if bool(self.cron) == bool(self.every_seconds):
            raise ValueError(f"schedule {self.scope.label}: give exactly one of cron and every_seconds")
        for expression in self.cron:
            if len(expression.split()) != 5:
                raise ValueError(
                    f"schedule {self.scope.label}: {expression!r} is not a 5-field cron expression"
                )
        if self.every_seconds and self.every_seconds < 60:
            raise ValueError(f"schedule {self.scope.label}: every_seconds must be at least 60")
        return self

    @property
    def schedule_id(self) -> str:
        return f"{SCHEDULE_ID_PREFIX}{self.scope.slug}"


class IgnoreDifference(Frozen):
    """Fields a drift comparison leaves out, like Argo CD's `ignoreDifferences`: for the resources
    matching group/kind/name/namespace (globs; None or `*`: any), the fields at `json_pointers`
    (RFC 6901, e.g. `/spec/replicas`) and at `paths` (dotted globs, e.g. `metadata.annotations.*`)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    group: str | None = None
    kind: str = "*"
    name: str = "*"
    namespace: str = "*"
    json_pointers: list[str] = Field(default_factory=list, alias="jsonPointers")
    paths: list[str] = Field(default_factory=list)

    @field_validator("json_pointers")
    @classmethod
    def _pointers(cls, value: list[str]) -> list[str]:
        for pointer in value:
            if not pointer.startswith("/"):
                raise ValueError(f"{pointer!r} is not a JSON pointer (it must start with /)")
        return value


class DriftConfig(Frozen):
    """The drift configuration (MEDIC_DRIFT_CONFIG, a YAML file; see README "Drift")."""

    model_config = ConfigDict(extra="forbid")

    schedules: list[ScheduleSpec] = Field(default_factory=list)
    ignore_differences: list[IgnoreDifference] = Field(default_factory=list)
    # Globs over `<Kind>.<dotted field path>`, for every resource: `*.metadata.annotations.last-modified`.
    ignore_paths: list[str] = Field(default_factory=list)
    # Also compare the plain manifests under `manifests_dir` of the GitOps repository with the live
    # objects, for resources no Argo CD Application manages.
    raw_manifests: bool = False
    manifests_dir: str = "manifests"
    # Applications per scan activity (each heartbeats per application).
    page_size: int = Field(default=25, ge=1, le=500)

    @model_validator(mode="after")
    def _one_schedule_per_scope(self) -> DriftConfig:
        seen: set[str] = set()
        for spec in self.schedules:
            if spec.schedule_id in seen:
                raise ValueError(f"two schedules for the scope {spec.scope.label}: one per scope")
            seen.add(spec.schedule_id)
        return self


# ---- what a scan finds -----------------------------------------------------------------------


class FieldDrift(Frozen):
    """One field whose live value differs from the desired one (values as JSON, shortened)."""

    path: str  # JSON pointer, e.g. /spec/replicas
    desired: Any = None
    live: Any = None


class ResourceDrift(Frozen):
    group: str = ""
    kind: str
    namespace: str = ""
    name: str
    fields: list[FieldDrift] = Field(default_factory=list)
    # Git declares it, the cluster does not have it.
    live_missing: bool = False

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.kind}/{self.name}"


class AppRef(Frozen):
    """An Argo CD Application in a scan's scope."""

    name: str
    namespace: str = "argocd"
    project: str = ""


Disposition = Literal["sync", "adopt", "report"]


class AppDrift(Frozen):
    """One Application's drift: its drifted resources and what policy says to do about it.

    `application` is "" for resources no Application manages (the raw-manifest comparison).
    """

    application: str
    app_namespace: str = "argocd"
    project: str = ""
    destination_namespace: str = ""
    sync_status: str = ""
    health_status: str = ""
    revision: str = ""
    resources: list[ResourceDrift] = Field(default_factory=list)
    resources_scanned: int = 0
    disposition: Disposition = "report"
    reason: str = ""

    @property
    def drifted(self) -> bool:
        return bool(self.resources)

    @property
    def key(self) -> str:
        return f"{self.app_namespace}/{self.application}" if self.application else "unmanaged"


def drift_workflow_id(app: AppDrift | AppRef) -> str:
    """The child RemediationWorkflow of an Application's drift: one per Application at a time."""
    if isinstance(app, AppRef):
        return f"drift.{app.namespace}.{app.name}"
    return f"drift.{app.app_namespace}.{app.application}"


# ---- the scan workflow's inputs and outputs ----------------------------------------------------


class DriftScanInput(Frozen):
    """A scan's input; a scan that continues as new carries its progress in the same model."""

    scope: DriftScope = Field(default_factory=DriftScope)
    # Set by the first run (its workflow id and start), kept across continue-as-new.
    scan_id: str = ""
    started_at: datetime | None = None
    # Progress: the inventory (sorted) and how far the scan got, and the running totals.
    applications: list[AppRef] = Field(default_factory=list)
    next_index: int = 0
    apps_scanned: int = 0
    resources_scanned: int = 0
    drifted_apps: int = 0
    incidents: dict[str, str] = Field(default_factory=dict)  # app key -> incident workflow id
    errors: list[str] = Field(default_factory=list)
    # Start a child RemediationWorkflow per drifted Application (off: report only).
    remediate: bool = True


class DriftPageInput(Frozen):
    scan_id: str
    applications: list[AppRef]


class DriftPageResult(Frozen):
    apps_scanned: int = 0
    resources_scanned: int = 0
    drifted: list[AppDrift] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)


class DriftScanResult(Frozen):
    scan_id: str
    scope: str
    apps_scanned: int = 0
    resources_scanned: int = 0
    drifted_apps: int = 0
    incidents: dict[str, str] = Field(default_factory=dict)
    errors: list[str] = Field(default_factory=list)
    duration_seconds: float = 0.0


# ---- drift reports in the store ----------------------------------------------------------------


class DriftFindingsInput(Frozen):
    """One page's drifted Applications, recorded as the scan goes (`record_drift_findings`)."""

    scan_id: str
    scope: str
    started_at: datetime
    drifted: list[AppDrift] = Field(default_factory=list)
    # app key -> the incident workflow id that took it
    incidents: dict[str, str] = Field(default_factory=dict)


class DriftScanFinished(Frozen):
    """The end of a scan (`finish_drift_scan`): its totals, and when."""

    result: DriftScanResult
    started_at: datetime
    finished_at: datetime


class DriftFinding(Frozen):
    """One drifted resource of a scan, as the store keeps it."""

    app_key: str
    application: str
    app_namespace: str = "argocd"
    project: str = ""
    resource: ResourceDrift
    disposition: Disposition = "report"
    reason: str = ""
    # When a scan first saw this resource drifted (carried over consecutive scans of it).
    first_seen: datetime
    incident_id: str = ""


class DriftReport(Frozen):
    """What one scan found: `medic drift report`, the metrics and the console read it."""

    scan_id: str
    scope: str
    started_at: datetime
    finished_at: datetime | None = None
    status: Literal["running", "finished"] = "running"
    apps_scanned: int = 0
    resources_scanned: int = 0
    drifted_apps: int = 0
    errors: list[str] = Field(default_factory=list)
    findings: list[DriftFinding] = Field(default_factory=list)
