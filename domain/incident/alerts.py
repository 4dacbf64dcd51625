"""Alertmanager's webhook payload, version 4, field for field.

Field names keep Alertmanager's camelCase so that a payload round-trips unchanged; unknown
extra fields (a newer Alertmanager) are ignored rather than refused.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field

from domain.base import Frozen
from domain.kube.clusters import alert_is_here, cluster_slug

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


def group_workflow_id(receiver: str, group_key: str, cluster: str = "") -> str:
    """The workflow id of the incident for one alert group.

    Stable across repeats, updates and the resolved notification of the same group, so that every
    notification of a group reaches the same workflow. The digest keeps ids short and free of the
    quotes and braces that groupKey carries. With a cluster name (the medic of one cluster among
    several sharing a Temporal namespace) the id carries it, `incident-alert-<cluster>-<digest>`,
    so that the same group seen by two clusters' medics makes two incidents; without one it is
    `incident-alert-<digest>`, as it always was.
    """
    digest = hashlib.sha256(f"{receiver}\x00{group_key}".encode()).hexdigest()[:20]
    slug = cluster_slug(cluster)
    return f"incident-alert-{slug}-{digest}" if slug else f"incident-alert-{digest}"


@dataclass(frozen=True)
class ClusterSplit:
    """A group cut to this cluster's alerts (`group`: None when none is), and how many alerts of
    the notification were for each other cluster."""

    group: AlertGroup | None
    elsewhere: dict[str, int]

    @property
    def left_out(self) -> int:
        return sum(self.elsewhere.values())


def alerts_of_cluster(group: AlertGroup, label: str, names: frozenset[str]) -> ClusterSplit:
    """The group's alerts that are about this cluster (`domain.kube.clusters.alert_is_here`: no
    `label`, or one of `names`, or no names configured) and a count of the others by cluster. A
    group left with only resolved alerts is resolved; the group is returned itself when every
    alert is this cluster's."""
    ours = [a for a in group.alerts if alert_is_here(a.labels, label, names)]
    if len(ours) == len(group.alerts):
        return ClusterSplit(group, {})
    elsewhere: dict[str, int] = {}
    for alert in group.alerts:
        if not alert_is_here(alert.labels, label, names):
            cluster = alert.labels[label].strip()
            elsewhere[cluster] = elsewhere.get(cluster, 0) + 1
    if not ours:
        return ClusterSplit(None, elsewhere)
    status: AlertStatus = "firing" if any(a.status == "firing" for a in ours) else "resolved"
    return ClusterSplit(group.model_copy(update={"alerts": ours, "status": status}), elsewhere)


# What one notification may carry into a workflow's history. Each group travels three times in the
# request that starts its workflow (the start signal, and the incident's alerts and group), and
# Temporal refuses a payload over 2 MB: a group is fitted to GROUP_BUDGET_BYTES of JSON so that the
# whole request stays under 1 MB. Alertmanager's own `max_alerts` keeps real groups far below.
MAX_ALERTS = 200
MAX_ENTRIES = 64  # labels or annotations per mapping
MAX_KEY_CHARS = 256
MAX_VALUE_CHARS = 4096
MIN_VALUE_CHARS = 64
GROUP_BUDGET_BYTES = 192 * 1024

_MARKER = re.compile(r" …\[clipped by medic: (\d+) chars in all\]$")


@dataclass(frozen=True)
class Clipping:
    """A group made to fit, and what was taken out: values cut (each ends with a marker saying
    how long it was), mapping entries dropped, and alerts dropped (also added to truncatedAlerts,
    as Alertmanager counts the alerts its `max_alerts` drops)."""

    group: AlertGroup
    values_clipped: int = 0
    entries_dropped: int = 0
    alerts_dropped: int = 0

    def __add__(self, other: Clipping) -> Clipping:
        return Clipping(
            other.group,
            self.values_clipped + other.values_clipped,
            self.entries_dropped + other.entries_dropped,
            self.alerts_dropped + other.alerts_dropped,
        )


class _Clipper:
    def __init__(self, value_chars: int) -> None:
        self.value_chars = value_chars
        self.values = 0
        self.entries = 0

    def text(self, value: str, limit: int | None = None) -> str:
        limit = self.value_chars if limit is None else limit
        if len(value) <= limit:
            return value
        self.values += 1
        found = _MARKER.search(value)
        total = int(found.group(1)) if found else len(value)
        return f"{value[:limit]} …[clipped by medic: {total} chars in all]"

    def mapping(self, values: dict[str, str]) -> dict[str, str]:
        kept = list(values.items())[:MAX_ENTRIES]
        self.entries += len(values) - len(kept)
        out: dict[str, str] = {}
        for key, value in kept:
            out.setdefault(self.text(key, MAX_KEY_CHARS), self.text(value))
        return out

    def alert(self, alert: Alert) -> Alert:
        return alert.model_copy(
            update={
                "labels": self.mapping(alert.labels),
                "annotations": self.mapping(alert.annotations),
                "generatorURL": self.text(alert.generatorURL),
                "fingerprint": self.text(alert.fingerprint, MAX_KEY_CHARS),
            }
        )


def clip_group(
    group: AlertGroup, value_chars: int = MAX_VALUE_CHARS, max_alerts: int = MAX_ALERTS
) -> Clipping:
    """`group` with at most `max_alerts` alerts (the rest dropped and counted in truncatedAlerts),
    `MAX_ENTRIES` labels or annotations per mapping, keys of `MAX_KEY_CHARS` and other strings of
    `value_chars` characters, each cut one ending with a marker."""
    if _within(group, value_chars, max_alerts):
        return Clipping(group)  # what the copy below would make of it, without making it
    clipper = _Clipper(value_chars)
    alerts = group.alerts[:max_alerts]
    dropped = len(group.alerts) - len(alerts)
    clipped = group.model_copy(
        update={
            "groupKey": clipper.text(group.groupKey),
            "receiver": clipper.text(group.receiver),
            "externalURL": clipper.text(group.externalURL),
            "groupLabels": clipper.mapping(group.groupLabels),
            "commonLabels": clipper.mapping(group.commonLabels),
            "commonAnnotations": clipper.mapping(group.commonAnnotations),
            "alerts": [clipper.alert(a) for a in alerts],
            "truncatedAlerts": group.truncatedAlerts + dropped,
        }
    )
    return Clipping(clipped, clipper.values, clipper.entries, dropped)


def _mapping_within(values: dict[str, str], value_chars: int) -> bool:
    return (
        len(values) <= MAX_ENTRIES
        and max(map(len, values), default=0) <= MAX_KEY_CHARS
        and max(map(len, values.values()), default=0) <= value_chars
    )


def _within(group: AlertGroup, value_chars: int, max_alerts: int) -> bool:
    """Whether `clip_group` would leave `group` as it is: nothing over its bounds."""
    if len(group.alerts) > max_alerts:
        return False
    if max(len(group.groupKey), len(group.receiver), len(group.externalURL)) > value_chars:
        return False
    for mapping in (group.groupLabels, group.commonLabels, group.commonAnnotations):
        if not _mapping_within(mapping, value_chars):
            return False
    for alert in group.alerts:
        if len(alert.generatorURL) > value_chars or len(alert.fingerprint) > MAX_KEY_CHARS:
            return False
        if not (
            _mapping_within(alert.labels, value_chars) and _mapping_within(alert.annotations, value_chars)
        ):
            return False
    return True


def _json_size(model: Frozen) -> int:
    return len(model.model_dump_json().encode())


def fit_group(group: AlertGroup, budget_bytes: int = GROUP_BUDGET_BYTES) -> Clipping:
    """`group` within `budget_bytes` of JSON: alerts dropped from the end (counted in
    truncatedAlerts; the first is always kept), then, while one alert is still too big, every
    value clipped shorter, down to `MIN_VALUE_CHARS`."""
    result = Clipping(group)
    # Within the budget with a byte to spare, the loop below would keep every alert (it counts one
    # separator per alert, one more than the JSON has) and stop: the usual group is measured once.
    if _json_size(group) + 1 <= budget_bytes:
        return result
    value_chars = MAX_VALUE_CHARS
    while True:
        current = result.group
        overhead = _json_size(current.model_copy(update={"alerts": []}))
        kept, used = 0, overhead
        for alert in current.alerts:
            used += _json_size(alert) + 1
            if used > budget_bytes and kept > 0:
                break
            kept += 1
        if kept < len(current.alerts):
            dropped = len(current.alerts) - kept
            fitted = current.model_copy(
                update={"alerts": current.alerts[:kept], "truncatedAlerts": current.truncatedAlerts + dropped}
            )
            result += Clipping(fitted, alerts_dropped=dropped)
        if _json_size(result.group) <= budget_bytes or value_chars <= MIN_VALUE_CHARS:
            return result
        value_chars = max(MIN_VALUE_CHARS, value_chars // 4)
        result += clip_group(result.group, value_chars)


def clipped_values(group: AlertGroup) -> int:
    """How many strings of `group` were cut by `clip_group` (each ends with its marker)."""
    strings = [group.groupKey, group.receiver, group.externalURL]
    for mapping in (group.groupLabels, group.commonLabels, group.commonAnnotations):
        strings += [*mapping, *mapping.values()]
    for alert in group.alerts:
        strings += [alert.generatorURL, alert.fingerprint, *alert.labels, *alert.labels.values()]
        strings += [*alert.annotations, *alert.annotations.values()]
    return sum(1 for s in strings if _MARKER.search(s))
