"""A direct change: dry-run, snapshot, execute, verify and roll back."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from domain.analysis.plan import Plan
from domain.base import Frozen
from domain.incident.model import ResourceRef


class PlanInput(Frozen):
    """A plan bound to its incident and hash: what dry-run, snapshot and execute act on."""

    incident_id: str
    plan: Plan
    plan_hash: str


class DryRunResult(Frozen):
    ok: bool
    problems: list[str] = Field(default_factory=list)
    diffs: list[dict[str, Any]] = Field(default_factory=list)
    # Nothing left to change (an Argo CD sync of resources that already match Git).
    nothing_to_do: bool = False


class SnapshotResult(Frozen):
    resources: list[ResourceRef] = Field(default_factory=list)


class CheckRolloutInput(Frozen):
    incident_id: str
    targets: list[ResourceRef]
    # Restart totals per target key at the first completed check; None before that.
    baseline_restarts: dict[str, int] = Field(default_factory=dict)


class RestoreInput(Frozen):
    incident_id: str
    targets: list[ResourceRef]


class Snapshot(Frozen):
    incident_id: str
    resource: ResourceRef
    resource_version: str = ""
    generation: int = 0
    # The object's spec (and the labels/annotations medic may touch), as read before the change.
    content: dict[str, Any]


class AppliedChange(Frozen):
    action_index: int
    resource: ResourceRef
    changed: bool
    generation: int = 0
    detail: str = ""


class ExecutionResult(Frozen):
    changes: list[AppliedChange] = Field(default_factory=list)


class RolloutCheck(Frozen):
    resource: ResourceRef
    done: bool
    healthy: bool
    reason: str = ""
    restarts: int = 0


class Verification(Frozen):
    ok: bool
    finished: bool
    checks: list[RolloutCheck] = Field(default_factory=list)
    reason: str = ""
