"""Redaction of whole payloads (an observation, an incident with its alerts), field by field, with
`domain.redaction.text`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from pydantic import BaseModel

from domain.incident.alerts import Alert, AlertGroup
from domain.incident.model import Incident
from domain.kube.observation import Observation, PodState
from domain.redaction.text import redact_json, redact_mapping, redact_text

ModelT = TypeVar("ModelT", bound=BaseModel)


def redacted(
    model: ModelT,
    *,
    text: Iterable[str] = (),
    mappings: Iterable[str] = (),
    json: Iterable[str] = (),
) -> ModelT:
    """A copy of `model` with the named fields redacted: `text` fields (strings, or lists of
    strings) with `redact_text`, `mappings` (str → str) with `redact_mapping`, `json` fields (any
    JSON-like value) with `redact_json`. Other fields are unchanged."""
    update: dict[str, Any] = {}
    for name in text:
        value = getattr(model, name)
        update[name] = [redact_text(v) for v in value] if isinstance(value, list) else redact_text(value)
    update |= {name: redact_mapping(getattr(model, name)) for name in mappings}
    update |= {name: redact_json(getattr(model, name)) for name in json}
    return model.model_copy(update=update)


def _pod(p: PodState) -> PodState:
    containers = [
        redacted(c, text=("state_reason", "state_message", "last_state_reason")) for c in p.containers
    ]
    return p.model_copy(update={"containers": containers})


def redact_observation(obs: Observation) -> Observation:
    """A copy of `obs` with every free-text field redacted: workload labels and annotations,
    container state reasons and messages, event reasons and messages, log text, Argo CD health
    messages and sources, metric queries, GitOps file contents and notes. Ids, names, images,
    quantities, revisions, counts and samples are unchanged, so evidence ids still resolve."""
    return redacted(obs, text=("notes",)).model_copy(
        update={
            "workloads": [redacted(w, mappings=("labels", "annotations")) for w in obs.workloads],
            "pods": [_pod(p) for p in obs.pods],
            "events": [redacted(e, text=("reason", "message")) for e in obs.events],
            "logs": [redacted(log, text=("text",)) for log in obs.logs],
            "argocd": [
                redacted(a, text=("health_message",), json=("sources", "resources")) for a in obs.argocd
            ],
            "metrics": [redacted(m, text=("query",)) for m in obs.metrics],
            "gitops_files": [redacted(f, text=("content",)) for f in obs.gitops_files],
        }
    )


def _alert(alert: Alert) -> Alert:
    return redacted(alert, mappings=("labels", "annotations"), text=("generatorURL",))


def _group_of(group: AlertGroup) -> AlertGroup:
    return redacted(
        group,
        text=("groupKey", "externalURL"),
        mappings=("groupLabels", "commonLabels", "commonAnnotations"),
    ).model_copy(update={"alerts": [_alert(a) for a in group.alerts]})


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
