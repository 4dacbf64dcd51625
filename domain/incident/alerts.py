"""Alertmanager's webhook payload, version 4, field for field.

Field names keep Alertmanager's camelCase so that a payload round-trips unchanged; unknown
extra fields (a newer Alertmanager) are ignored rather than refused.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field

from domain.base import Frozen

AlertStatus = Literal["firing", "resolved"]


class Alert(Frozen):
    model_config = ConfigDict(extra="ignore")

    status: AlertStatus
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: datetime
    endsAt: datetime
    generatorURL: str = ""
    fingerprint: str


class AlertGroup(Frozen):
    """One notification: the alerts of one group, as Alertmanager posts them."""

    model_config = ConfigDict(extra="ignore")

    version: Literal["4"]
    groupKey: str = Field(min_length=1)
    truncatedAlerts: int = Field(default=0, ge=0)
    status: AlertStatus
    receiver: str = Field(min_length=1)
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""
    alerts: list[Alert] = Field(min_length=1)


def group_workflow_id(receiver: str, group_key: str) -> str:
    """The workflow id of the incident for one alert group.

    Stable across repeats, updates and the resolved notification of the same group, so that every
    notification of a group reaches the same workflow. The digest keeps ids short and free of the
    quotes and braces that groupKey carries.
    """
    digest = hashlib.sha256(f"{receiver}\x00{group_key}".encode()).hexdigest()[:20]
    return f"incident-alert-{digest}"
