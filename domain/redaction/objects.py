"""Redaction of whole payloads (an observation, an incident with its alerts), field by field, with
`domain.redaction.text`."""

from __future__ import annotations

from domain.incident.alerts import Alert, AlertGroup
from domain.incident.model import Incident
from domain.kube.observation import (
    ArgoApplication,
    ContainerState,
    EventItem,
    GitOpsFile,
    LogExcerpt,
    MetricSeries,
    Observation,
    PodState,
    Workload,
)
from domain.redaction.text import redact_json, redact_mapping, redact_text


def _container(state: ContainerState) -> ContainerState:
    return state.model_copy(
        update={
            "state_reason": redact_text(state.state_reason),
            "state_message": redact_text(state.state_message),
            "last_state_reason": redact_text(state.last_state_reason),
        }
    )


def _workload(w: Workload) -> Workload:
    return w.model_copy(
        update={"labels": redact_mapping(w.labels), "annotations": redact_mapping(w.annotations)}
    )


def _pod(p: PodState) -> PodState:
    return p.model_copy(update={"containers": [_container(c) for c in p.containers]})


def _event(e: EventItem) -> EventItem:
    return e.model_copy(update={"reason": redact_text(e.reason), "message": redact_text(e.message)})


def _log(log: LogExcerpt) -> LogExcerpt:
    return log.model_copy(update={"text": redact_text(log.text)})


def _argo(a: ArgoApplication) -> ArgoApplication:
    return a.model_copy(
        update={
            "health_message": redact_text(a.health_message),
            "sources": [redact_json(s) for s in a.sources],
            "resources": [redact_json(r) for r in a.resources],
        }
    )


def _metric(m: MetricSeries) -> MetricSeries:
    return m.model_copy(update={"query": redact_text(m.query)})


def _gitops(f: GitOpsFile) -> GitOpsFile:
    return f.model_copy(update={"content": redact_text(f.content)})


def redact_observation(obs: Observation) -> Observation:
    """A copy of `obs` with every free-text field redacted: workload labels and annotations,
    container state reasons and messages, event reasons and messages, log text, Argo CD health
    messages and sources, metric queries, GitOps file contents and notes. Ids, names, images,
    quantities, revisions, counts and samples are unchanged, so evidence ids still resolve."""
    return obs.model_copy(
        update={
            "workloads": [_workload(w) for w in obs.workloads],
            "pods": [_pod(p) for p in obs.pods],
            "events": [_event(e) for e in obs.events],
            "logs": [_log(log) for log in obs.logs],
            "argocd": [_argo(a) for a in obs.argocd],
            "metrics": [_metric(m) for m in obs.metrics],
            "gitops_files": [_gitops(f) for f in obs.gitops_files],
            "notes": [redact_text(n) for n in obs.notes],
        }
    )


def _alert(alert: Alert) -> Alert:
    return alert.model_copy(
        update={
            "labels": redact_mapping(alert.labels),
            "annotations": redact_mapping(alert.annotations),
            "generatorURL": redact_text(alert.generatorURL),
        }
    )


def _group_of(group: AlertGroup) -> AlertGroup:
    return group.model_copy(
        update={
            "groupKey": redact_text(group.groupKey),
            "groupLabels": redact_mapping(group.groupLabels),
            "commonLabels": redact_mapping(group.commonLabels),
            "commonAnnotations": redact_mapping(group.commonAnnotations),
            "externalURL": redact_text(group.externalURL),
            "alerts": [_alert(a) for a in group.alerts],
        }
    )


def redact_incident(incident: Incident) -> Incident:
    """A copy of `incident` with its title, every alert's labels, annotations and generator URL,
    and the group's key, labels, common annotations and external URL redacted. Ids, fingerprints,
    times and targets are unchanged. Only for text that leaves the process: the workflow keeps
    the original (its id derives from the unredacted group key)."""
    return incident.model_copy(
        update={
            "title": redact_text(incident.title),
            "alerts": [_alert(a) for a in incident.alerts],
            "group": _group_of(incident.group) if incident.group is not None else None,
        }
    )
