"""Redaction of whole payloads (an observation, a dry-run, a drift page, an incident with its alerts),
field by field, with `domain.redaction.text`.

`redact_step_result` is the one boundary of the cluster-read path: every activity that reads the
cluster (observe, the direct and the Argo CD sync dry-runs, the sync checks, the drift scan) has its
result passed through it before it returns (`activities/redaction.py`), so what reaches the
workflow history, and from there the store, prompts and notifications, holds no secret whatever
the activity forgot. The snapshot is the one exception: it is sealed, not redacted, because it
must hold the exact spec to restore it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

from pydantic import BaseModel

from domain.drift.model import AppDrift, DriftPageResult, FieldDrift
from domain.incident.alerts import Alert, AlertGroup
from domain.incident.model import Incident
from domain.kube.observation import JobState, Observation, PodState
from domain.redaction.text import redact_json, redact_mapping, redact_text
from domain.steps.change import DryRunResult
from domain.steps.gitops import ApplicationCheck
from domain.steps.sync import SyncProgress

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
    return p.model_copy(
        update={
            "containers": containers,
            "scheduling_message": redact_text(p.scheduling_message),
            "node_selector": redact_mapping(p.node_selector),
        }
    )


def _job(job: JobState) -> JobState:
    conditions = [redacted(c, text=("reason", "message")) for c in job.conditions]
    return redacted(job, mappings=("labels", "annotations")).model_copy(update={"conditions": conditions})


def redact_observation(obs: Observation) -> Observation:
    """A copy of `obs` with every free-text field redacted: workload labels and annotations,
    container state reasons and messages, event reasons and messages, log text, Argo CD health
    messages and sources, metric queries, GitOps file contents, the newest revision's template
    changes (container args and command included), the scheduler's message on each pod, Job
    conditions, labels and annotations, node taints and labels, and notes. Ids, names, images, quantities,
    revisions, counts and samples are unchanged, so evidence ids still resolve."""
    return redacted(obs, text=("notes",)).model_copy(
        update={
            "workloads": [redacted(w, mappings=("labels", "annotations")) for w in obs.workloads],
            "revisions": [redacted(r, text=("changes",)) for r in obs.revisions],
            "pods": [_pod(p) for p in obs.pods],
            "events": [redacted(e, text=("reason", "message")) for e in obs.events],
            "logs": [redacted(log, text=("text",)) for log in obs.logs],
            "argocd": [
                redacted(
                    a,
                    text=("health_message", "operation_message", "conditions"),
                    json=("sources", "resources"),
                )
                for a in obs.argocd
            ],
            "metrics": [redacted(m, text=("query",)) for m in obs.metrics],
            "gitops_files": [redacted(f, text=("content",)) for f in obs.gitops_files],
            "argocd_diffs": [
                d.model_copy(update={"fields": [redacted(f, text=("desired", "live")) for f in d.fields]})
                for d in obs.argocd_diffs
            ],
            "argocd_tree": [redacted(n, text=("message",)) for n in obs.argocd_tree],
            "jobs": [_job(j) for j in obs.jobs],
            "nodes": [redacted(n, text=("taints",), mappings=("labels",)) for n in obs.nodes],
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


def redact_dry_run(result: DryRunResult) -> DryRunResult:
    """A dry-run's problems and diffs redacted: every before/after value (template annotations,
    container resources, Argo CD's live and predicted states) with `redact_json`, so a value under
    a secret-sounding key is replaced entirely and any other string loses its token shapes."""
    return redacted(result, text=("problems",), json=("diffs",))


def _field_drift(field: FieldDrift) -> FieldDrift:
    # Under the field's own name (the pointer's last segment), so that a value at
    # `/data/DB_PASSWORD` is replaced entirely, not only where it looks like a token.
    leaf = field.path.rsplit("/", 1)[-1].replace("~1", "/").replace("~0", "~") or "value"
    values: dict[str, Any] = redact_json({"desired": {leaf: field.desired}, "live": {leaf: field.live}})
    return field.model_copy(update={"desired": values["desired"][leaf], "live": values["live"][leaf]})


def redact_app_drift(app: AppDrift) -> AppDrift:
    """An Application's drift with every field's desired and live value redacted in the light of
    its key, and the disposition's reason redacted."""
    resources = [
        resource.model_copy(update={"fields": [_field_drift(f) for f in resource.fields]})
        for resource in app.resources
    ]
    return app.model_copy(update={"resources": resources, "reason": redact_text(app.reason)})


def redact_drift_page(page: DriftPageResult) -> DriftPageResult:
    """A drift scan page with every drifted Application and every error message redacted."""
    return redacted(page, text=("errors",)).model_copy(
        update={"drifted": [redact_app_drift(app) for app in page.drifted]}
    )


def _application_check(check: ApplicationCheck) -> ApplicationCheck:
    return check.model_copy(
        update={
            "applications": [
                redacted(a, text=("health_message", "operation_message")) for a in check.applications
            ]
        }
    )


_STEP_RESULTS: dict[type[BaseModel], Callable[[Any], BaseModel]] = {
    Observation: redact_observation,
    DryRunResult: redact_dry_run,
    DriftPageResult: redact_drift_page,
    ApplicationCheck: _application_check,
    SyncProgress: lambda p: redacted(p, text=("reason",), json=("resources",)),
}


def redact_step_result(result: ModelT) -> ModelT:
    """`result` of a cluster-reading activity with every field that can carry cluster text
    redacted. Idempotent. A type without a rule here is a `TypeError`: a new cluster-read result
    must say which of its fields are redacted before it can cross the boundary."""
    rule = _STEP_RESULTS.get(type(result))
    if rule is None:
        raise TypeError(f"{type(result).__name__} has no redaction rule in domain.redaction.objects")
    return cast(ModelT, rule(result))
