"""The Argo CD sync path: drifted resources brought back to Git by a sync of exactly them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from domain.base import Frozen
from domain.steps.gitops import GitOpsApplication


class SyncTarget(Frozen):
    """One resource an Argo CD sync of drift is limited to."""

    group: str = ""
    kind: str
    namespace: str = ""
    name: str
    # The Application that manages it ("": any of the input's Applications).
    application: str = ""


class SyncInput(Frozen):
    """A sync of drifted resources back to Git: the Applications and exactly the resources."""

    incident_id: str
    applications: list[GitOpsApplication]
    resources: list[SyncTarget]


class SyncProgress(Frozen):
    """Where a sync of drifted resources stands (`check_sync`): waiting, ready, or failed."""

    state: Literal["waiting", "ready", "failed"]
    reason: str = ""
    resources: list[dict[str, str]] = Field(default_factory=list)
