"""Memory of past incidents: what was seen, what was done, and how it ended.

Every closed incident is remembered as one `IncidentMemory`; before analysis, the most similar
memories are recalled (`RecallInput` → `RecallResult`) and shown to the analyzer with their
outcomes. A fix that ended `rolled_back` is flagged (`SimilarIncident.rolled_back_before`) so the
analyzer is warned not to propose it again blindly.

The helpers here are pure, so the workflow can build a memory deterministically at close and the
recall activity can derive its query from the incident and observation.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import Field

from domain.analysis.plan import Action, Diagnosis
from domain.base import Frozen
from domain.incident.model import Incident
from domain.kube.observation import Observation

# Bounds that keep payloads, stored rows and prompts small whatever the incident looked like.
MAX_SIGNALS = 24
MAX_QUERY_CHARS = 2000
MAX_ANNOTATION_CHARS = 300


class IncidentMemory(Frozen):
    """One closed incident, as later incidents are shown it."""

    incident_id: str
    title: str = ""
    alertname: str | None = None
    namespace: str | None = None
    # "namespace/Kind/name" of the workload the incident was about.
    workload: str | None = None
    root_cause: str | None = None
    summary: str = ""
    # What was done: kind, target, mode and the action's own fields (image, replicas, limits...).
    actions: list[dict[str, Any]] = Field(default_factory=list)
    outcome: str
    reason: str = ""
    closed_at: datetime
    # What the cluster showed: container state reasons and warning event reasons
    # ("OOMKilled", "CrashLoopBackOff", "FailedScheduling"). Searchable like the text above.
    signals: list[str] = Field(default_factory=list)


class SimilarIncident(IncidentMemory):
    """A recalled memory, with how similar it is to the incident at hand (0..1, higher is closer)."""

    score: float = 0.0
    # The fix of that incident was rolled back: do not repeat it without a reason it differs now.
    rolled_back_before: bool = False


class RecallInput(Frozen):
    incident: Incident
    observation: Observation
    limit: int = Field(default=3, ge=1, le=20)


class RecallResult(Frozen):
    similar: list[SimilarIncident] = Field(default_factory=list)


class RememberInput(Frozen):
    memory: IncidentMemory


class RecallKeys(Frozen):
    """What recall searches with: free text plus the structured fields that boost a match."""

    query_text: str = ""
    alertname: str | None = None
    namespace: str | None = None
    workload: str | None = None


def _unique(values: Iterable[str], limit: int) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        value = value.strip()
        if value and value not in seen:
            seen[value] = None
            if len(seen) >= limit:
                break
    return list(seen)


def alertname_of(incident: Incident) -> str | None:
    """The alert's name: the group's common label, else the first alert's."""
    if incident.group is not None:
        for labels in (incident.group.commonLabels, incident.group.groupLabels):
            if labels.get("alertname"):
                return labels["alertname"]
    for alert in incident.alerts:
        if alert.labels.get("alertname"):
            return alert.labels["alertname"]
    return None


def workload_of(incident: Incident, observation: Observation | None) -> str | None:
    """`namespace/Kind/name` of the workload: the observed one, else the alert's first target."""
    if observation is not None and observation.workloads:
        return observation.workloads[0].ref.key
    if incident.targets:
        return incident.targets[0].without_container().key
    return None


def namespace_of(incident: Incident, observation: Observation | None) -> str | None:
    workload = workload_of(incident, observation)
    if workload:
        return workload.split("/", 1)[0]
    if incident.group is not None:
        return incident.group.commonLabels.get("namespace") or incident.group.groupLabels.get("namespace")
    return None


def observed_signals(observation: Observation | None) -> list[str]:
    """Container state reasons and warning event reasons, in the order seen, without repeats."""
    if observation is None:
        return []
    reasons: list[str] = []
    for pod in observation.pods:
        for container in pod.containers:
            reasons.extend((container.state_reason, container.last_state_reason))
    reasons.extend(event.reason for event in observation.events if event.type != "Normal")
    return _unique(reasons, MAX_SIGNALS)


def recall_keys(incident: Incident, observation: Observation) -> RecallKeys:
    """The query for the incident at hand: alert title and summary, workload names, signals.

    Alert and cluster text is untrusted; the store treats `query_text` as plain words only.
    """
    annotations: list[str] = []
    if incident.group is not None:
        annotations.append(incident.group.commonAnnotations.get("summary", ""))
    annotations.extend(alert.annotations.get("summary", "") for alert in incident.alerts)
    workloads = [w.ref.key for w in observation.workloads] + [t.key for t in incident.targets]
    alertname = alertname_of(incident)
    parts = _unique(
        [
            incident.title,
            alertname or "",
            *(a[:MAX_ANNOTATION_CHARS] for a in annotations),
            *(key.replace("/", " ") for key in workloads),
            *observed_signals(observation),
        ],
        limit=64,
    )
    return RecallKeys(
        query_text=" ".join(parts)[:MAX_QUERY_CHARS],
        alertname=alertname,
        namespace=namespace_of(incident, observation),
        workload=workload_of(incident, observation),
    )


def action_summary(action: Action) -> dict[str, Any]:
    """An action as memory keeps it: kind, target key, mode and its own fields (no file paths)."""
    summary: dict[str, Any] = {"kind": action.kind, "target": action.target.key, "mode": action.mode}
    if action.target.container:
        summary["container"] = action.target.container
    summary.update(action.model_dump(mode="json", exclude={"kind", "target", "mode", "file"}))
    return summary


def memory_of(
    incident: Incident,
    *,
    outcome: str,
    closed_at: datetime,
    reason: str = "",
    observation: Observation | None = None,
    diagnosis: Diagnosis | None = None,
) -> IncidentMemory:
    """The memory of a closed incident. Pure: the workflow calls it with `workflow.now()`."""
    return IncidentMemory(
        incident_id=incident.id,
        title=incident.title,
        alertname=alertname_of(incident),
        namespace=namespace_of(incident, observation),
        workload=workload_of(incident, observation),
        root_cause=diagnosis.root_cause if diagnosis is not None else None,
        summary=diagnosis.summary if diagnosis is not None else "",
        actions=[action_summary(a) for a in diagnosis.plan.actions] if diagnosis is not None else [],
        outcome=outcome,
        reason=reason,
        closed_at=closed_at,
        signals=observed_signals(observation),
    )


def describe_similar(similar: Iterable[SimilarIncident]) -> list[str]:
    """One line per recalled incident, for a prompt or a status page; rolled-back fixes are flagged."""
    lines: list[str] = []
    for past in similar:
        actions = ", ".join(
            " ".join(
                [str(a.get("kind", "?")), str(a.get("target", ""))]
                + [f"{k}={v}" for k, v in a.items() if k not in ("kind", "target", "mode", "container")]
            )
            for a in past.actions
        )
        line = (
            f"{past.incident_id} (score {past.score:.2f}): {past.title or past.alertname or 'incident'}"
            f" on {past.workload or past.namespace or 'unknown target'}; root cause {past.root_cause or '?'};"
            f" actions [{actions or 'none'}]; outcome {past.outcome}"
        )
        if past.reason:
            line += f" ({past.reason[:200]})"
        if past.rolled_back_before:
            line += " — WARNING: this fix was rolled back; do not repeat it unless the cause differs"
        lines.append(line)
    return lines
