"""Diagnoses and plans: typed actions only, never a free-form command."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from domain.base import Frozen
from domain.incident.model import ResourceRef

RootCause = Literal[
    "oom",
    "bad_release",
    "image_pull",
    "config_error",
    "saturation",
    "unschedulable",
    "probe_failure",
    "drift",
    "none",
    "unknown",
]
Mode = Literal["direct", "gitops"]
ACTION_KINDS: tuple[str, ...] = (
    "set_resources",
    "set_image",
    "scale",
    "restart",
    "rollback_revision",
    "sync_application",
)


class _ActionBase(Frozen):
    model_config = ConfigDict(extra="forbid")

    target: ResourceRef
    mode: Mode = "direct"
    # gitops: the file in the GitOps repository that defines the target
    file: str | None = None


class SetResources(_ActionBase):
    kind: Literal["set_resources"] = "set_resources"
    requests: dict[str, str] = Field(default_factory=dict)
    limits: dict[str, str] = Field(default_factory=dict)


class SetImage(_ActionBase):
    kind: Literal["set_image"] = "set_image"
    image: str


class Scale(_ActionBase):
    kind: Literal["scale"] = "scale"
    replicas: int = Field(ge=0)


class Restart(_ActionBase):
    kind: Literal["restart"] = "restart"


class RollbackRevision(_ActionBase):
    kind: Literal["rollback_revision"] = "rollback_revision"
    revision: int = Field(ge=1)


class SyncApplication(_ActionBase):
    kind: Literal["sync_application"] = "sync_application"
    application: str


Action = Annotated[
    SetResources | SetImage | Scale | Restart | RollbackRevision | SyncApplication,
    Field(discriminator="kind"),
]


class Plan(Frozen):
    actions: list[Action] = Field(default_factory=list)
    expected_impact: str = ""
    rollback: str = ""

    def plan_hash(self) -> str:
        """A short digest of exactly what would be done; approvals are bound to it."""
        canonical = json.dumps(
            [a.model_dump(mode="json") for a in self.actions], sort_keys=True, separators=(",", ":")
        )
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class Evidence(Frozen):
    item_id: str
    note: str


class Diagnosis(Frozen):
    root_cause: RootCause
    summary: str
    explanation: str = ""
    confidence: float = Field(default=0.5, ge=0.0, le=1.0)
    evidence: list[Evidence] = Field(default_factory=list)
    plan: Plan = Field(default_factory=Plan)
    analyzer: str = "offline"
