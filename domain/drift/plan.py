"""The diagnosis and plan of a drifted Argo CD Application, as the drift policy disposed it. Pure.

A drift incident carries the Application's drift and the disposition the drift policy gave it
(policies/drift.rego, `AppDrift.disposition`); no analyzer and no model is consulted:

- `sync`: Argo CD applies the Git state again — one `sync_application` per drifted resource;
- `adopt`: the live values are written into Git through a pull request — one typed GitOps action
  per drifted field (`scale`, `set_image`, `set_resources`; the resource fields of one container
  make one `set_resources`). A field no typed action can write leaves the plan empty, and the
  incident goes to a human with the reason;
- `report`: nothing changes; the summary says what drifted and why it is only reported.

A sync or an adoption acts only on resources the observation holds (the analyze step and the
policy refuse any other target), so a drifted resource that was not observed — missing from the
cluster, or of a kind observe does not read — also leaves the plan empty, with the reason.

An adopted value must also be what the observed workload holds: the scan's values may be
shortened or redacted, and a container's index in a field path is its index in the desired list,
so the container is looked up in the observed pod template and its live value compared. A
mismatch (or a cluster that changed since the scan) adopts nothing.

Values are shown short, redacted, and not at all for Secrets and container environments.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from domain.analysis.plan import (
    Action,
    Diagnosis,
    Evidence,
    Plan,
    Scale,
    SetImage,
    SetResources,
    SyncApplication,
)
from domain.drift.model import AppDrift, FieldDrift, ResourceDrift
from domain.incident.model import WORKLOAD_KINDS, Incident, ResourceRef
from domain.kube.observation import ArgoApplication, ContainerSpec, Observation, Workload
from domain.kube.quantity import QuantityError, parse_quantity
from domain.redaction.text import redact_text

ANALYZER = "drift-rules"
# How many drifted fields a summary names (the explanation names up to MAX_LISTED).
MAX_SHOWN = 3
MAX_LISTED = 20
MAX_VALUE_CHARS = 60

_CONTAINERS = ["", "spec", "template", "spec", "containers"]
_SCALABLE_KINDS = ("Deployment", "StatefulSet")
_RESOURCE_SECTIONS = ("limits", "requests")
# Path segments whose values may be credentials: never shown.
_HIDDEN_SEGMENTS = frozenset({"env", "envFrom"})


def drift_diagnosis(incident: Incident, observation: Observation) -> Diagnosis:
    """The diagnosis of a drift incident: root cause `drift`, analyzer `drift-rules`, and the plan
    of `incident.drift.disposition` (see the module's docstring). The same incident and
    observation always give the same plan (and plan hash). Raises ValueError when the incident
    carries no drift."""
    drift = incident.drift
    if drift is None:
        raise ValueError(f"incident {incident.id} carries no drift to plan from")
    changes = [_change(r, f) for r, f in _drifted_fields(drift)]
    shown = _bounded(changes, MAX_SHOWN)
    app = _app_label(drift)
    reason = drift.reason or f"the drift policy's disposition is {drift.disposition}"

    if drift.disposition == "sync":
        plan, refusal = _sync_plan(drift, observation)
        summary = f"sync {app} back to Git: {shown}"
        outcome = (
            f"Argo CD applies the Git state of {_keys(drift.resources)}; the live values above are "
            "overwritten."
        )
    elif drift.disposition == "adopt":
        plan, refusal = _adopt_plan(drift, observation)
        summary = f"adopt the live state of {app} into Git: {shown}"
        outcome = (
            f"A pull request sets {len(changes)} field(s) in the GitOps repository to their live "
            "values; once it is merged, Git declares what the cluster runs, and the cluster is not "
            "changed."
        )
    else:
        plan, refusal = _report_plan(), None
        summary = f"drift reported, not changed: {reason}. {_capital(app)}: {shown}"
        outcome = "Nothing is changed: a human decides whether Git or the cluster is right."
    if refusal is not None:
        summary = f"drift reported, not changed: {refusal}. {_capital(app)}: {shown}"
        outcome = f"Nothing is changed, and a human must act: {refusal}."

    where = f" at revision {drift.revision}" if drift.revision else ""
    project = f" (project {drift.project})" if drift.project else ""
    explanation = "\n".join(
        [
            f"{_capital(app)}{project} differs from Git{where}: {len(changes)} field(s) of "
            f"{len(drift.resources)} resource(s).",
            *(f"- {line}" for line in _listed(changes)),
            f"Drift policy: {drift.disposition} ({reason}).",
            outcome,
        ]
    )
    return Diagnosis(
        root_cause="drift",
        summary=summary,
        explanation=explanation,
        # A measured difference between Git and the cluster, not an inference.
        confidence=1.0,
        evidence=_evidence(drift, observation),
        plan=plan,
        analyzer=ANALYZER,
        next_steps=[] if plan.actions else _report_steps(drift),
    )


def _report_steps(drift: AppDrift) -> list[str]:
    """What a human does with drift medic only reports: look at it, then make Git or the cluster right."""
    first = drift.resources[0] if drift.resources else None
    steps = []
    if drift.application:
        steps.append(
            f"See the difference: `argocd app diff {drift.application}` (and `argocd app history "
            f"{drift.application}` for what Git last applied)."
        )
    if first is not None:
        where = f"-n {first.namespace} " if first.namespace else ""
        steps.append(
            f"See the live object and who changed it: `kubectl {where}get {first.kind.lower()} {first.name} "
            "-o yaml --show-managed-fields`."
        )
    target = f"application {drift.application}" if drift.application else "the resources"
    steps.append(
        f"If Git is right, sync {target} (the live values are overwritten); if the cluster is right, "
        "change the GitOps repository to the live values in a pull request first."
    )
    return steps


# --- the three plans ---------------------------------------------------------------------------


def _report_plan() -> Plan:
    return Plan(
        expected_impact="nothing changes: the drift is reported for a human to decide",
        rollback="nothing to roll back",
    )


def _sync_plan(drift: AppDrift, observation: Observation) -> tuple[Plan, str | None]:
    if not drift.application:
        return _report_plan(), "no Argo CD application manages these resources, so there is nothing to sync"
    unobserved = [r for r in drift.resources if observation.workload(_ref(r)) is None]
    if unobserved:
        return _report_plan(), (
            f"{_keys(unobserved)} {_was(unobserved)} not observed (missing from the cluster, or not a "
            f"workload medic reads), so medic cannot sync {drift.application}"
        )
    refs = list({_ref(r).key: _ref(r) for r in drift.resources}.values())
    actions: list[Action] = [
        SyncApplication(target=ref, mode="direct", application=drift.application) for ref in refs
    ]
    return (
        Plan(
            actions=actions,
            expected_impact=(
                f"Argo CD syncs application {drift.application}: it applies the Git state of "
                f"{_keys(drift.resources)}, and the live-only values are overwritten"
            ),
            rollback=(
                "Argo CD applies the Git state of these resources; rollback restores the live objects "
                "from the snapshot taken before (Argo CD then reports them OutOfSync again)"
            ),
        ),
        None,
    )


@dataclass
class _Resources:
    """The live resource values of one container, gathered from its drifted fields."""

    target: ResourceRef
    limits: dict[str, str] = field(default_factory=dict)
    requests: dict[str, str] = field(default_factory=dict)


def _adopt_plan(drift: AppDrift, observation: Observation) -> tuple[Plan, str | None]:
    refused: list[str] = []
    if not drift.application:
        refused.append("no Argo CD application manages these resources, so no GitOps file can be changed")
    # In the order of the fields; one set_resources per container, where its first field is.
    slots: list[Action | _Resources] = []
    gathered: dict[str, _Resources] = {}
    for resource in drift.resources:
        if resource.live_missing:
            refused.append(f"{resource.key} is missing from the cluster: there is no live state to adopt")
            continue
        workload = observation.workload(_ref(resource))
        if workload is None:
            refused.append(f"{resource.key} was not observed, so its live state cannot be adopted")
            continue
        for drifted in resource.fields:
            outcome = _adopt_field(resource, drifted, workload)
            if isinstance(outcome, str):
                refused.append(f"{drifted.path} of {resource.key} cannot be adopted: {outcome}")
            elif isinstance(outcome, _Resources):
                key = f"{outcome.target.key}/{outcome.target.container}"
                if key not in gathered:
                    gathered[key] = _Resources(target=outcome.target)
                    slots.append(gathered[key])
                gathered[key].limits.update(outcome.limits)
                gathered[key].requests.update(outcome.requests)
            else:
                slots.append(outcome)
    if refused:
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        return _report_plan(), refused[0] + more
    actions: list[Action] = [
        SetResources(target=s.target, mode="gitops", limits=s.limits, requests=s.requests)
        if isinstance(s, _Resources)
        else s
        for s in slots
    ]
    return (
        Plan(
            actions=actions,
            expected_impact=(
                f"a pull request against the GitOps repository writes the live values of "
                f"{_keys(drift.resources)} into Git; the cluster does not change"
            ),
            rollback=(
                "revert the pull request: Git declares the earlier values again, and Argo CD applies them"
            ),
        ),
        None,
    )


def _adopt_field(
    resource: ResourceDrift, drifted: FieldDrift, workload: Workload
) -> Action | _Resources | str:
    """The typed action that writes one drifted field's live value into Git, or why there is none."""
    parts = drifted.path.split("/")
    live = drifted.live
    ref = _ref(resource)
    if parts == ["", "spec", "replicas"]:
        if resource.kind not in _SCALABLE_KINDS:
            return f"a {resource.kind} is not scaled by a typed action"
        if not isinstance(live, int) or isinstance(live, bool) or live < 0:
            return "the live value is not a replica count"
        if workload.replicas != live:
            return f"the observed {resource.kind} has {workload.replicas} replicas, not the scanned {live}"
        return Scale(target=ref, mode="gitops", replicas=live)
    if parts[:5] != _CONTAINERS or len(parts) < 7:
        return "no typed action writes this field"
    if resource.kind not in WORKLOAD_KINDS:
        return f"a {resource.kind} has no pod template a typed action changes"
    container = _container(_unescape(parts[5]), workload)
    if container is None:
        return f"container {_unescape(parts[5])} is not in the observed {resource.kind}"
    target = ref.model_copy(update={"container": container.name})
    tail = [_unescape(p) for p in parts[6:]]
    if tail == ["image"]:
        if not isinstance(live, str) or not live:
            return "the live object has no image"
        if container.image != live:
            return f"the observed container {container.name} runs another image than the scan saw"
        return SetImage(target=target, mode="gitops", image=live)
    if tail[0] == "resources" and len(tail) <= 3:
        gathered = _resources(target, tail[1:], live)
        if isinstance(gathered, _Resources):
            for section, values in (("limits", gathered.limits), ("requests", gathered.requests)):
                observed = container.limits if section == "limits" else container.requests
                for name, quantity in values.items():
                    if not _same_quantity(observed.get(name), quantity):
                        return (
                            f"the observed container {container.name} has another resources.{section}.{name} "
                            "than the scan saw"
                        )
        return gathered
    return "no typed action writes this field"


def _resources(target: ResourceRef, below: list[str], live: object) -> _Resources | str:
    """The live values under `resources` (`below` is [], [section] or [section, name])."""
    if below:
        section = below[0]
        if section not in _RESOURCE_SECTIONS:
            return f"no typed action sets resources.{section}"
        values: object = {below[1]: live} if len(below) == 2 else live
        sections: object = {section: values}
    else:
        sections = live
    if not isinstance(sections, dict) or not sections:
        return "the live object has no such resources: removing them from Git is not a typed action"
    gathered = _Resources(target=target)
    for section, values in sections.items():
        if section not in _RESOURCE_SECTIONS:
            return f"no typed action sets resources.{section}"
        if not isinstance(values, dict) or not values:
            return f"the live object has no resources.{section}: removing it from Git is not a typed action"
        for name, quantity in values.items():
            if quantity is None:
                return (
                    f"the live object has no resources.{section}.{name}: removing it from Git is not "
                    "a typed action"
                )
            text = _quantity(quantity)
            if text is None:
                return f"the live resources.{section}.{name} is not a quantity a typed action can write"
            (gathered.limits if section == "limits" else gathered.requests)[str(name)] = text
    return gathered


def _quantity(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    text = str(value)
    try:
        parse_quantity(text)
    except QuantityError:
        return None
    return text


def _container(selector: str, workload: Workload) -> ContainerSpec | None:
    """A container of the observed workload by its name, or by its index in the pod template (the
    caller checks the live value, since the index is the desired list's)."""
    if selector.isdigit():
        index = int(selector)
        return workload.containers[index] if index < len(workload.containers) else None
    return next((c for c in workload.containers if c.name == selector), None)


def _same_quantity(observed: str | None, quantity: str) -> bool:
    try:
        return observed is not None and parse_quantity(observed) == parse_quantity(quantity)
    except QuantityError:
        return False


# --- text and evidence ---------------------------------------------------------------------------


def _drifted_fields(drift: AppDrift) -> Iterable[tuple[ResourceDrift, FieldDrift | None]]:
    for resource in drift.resources:
        if resource.live_missing:
            yield resource, None
        for drifted in resource.fields:
            yield resource, drifted


def _change(resource: ResourceDrift, drifted: FieldDrift | None) -> str:
    if drifted is None:
        return f"{resource.key}: declared in Git, missing from the cluster"
    desired = _show(resource, drifted.path, drifted.desired)
    live = _show(resource, drifted.path, drifted.live)
    return f"{resource.key} {drifted.path}: {desired} → {live}"


def _show(resource: ResourceDrift, path: str, value: object) -> str:
    if resource.kind == "Secret" or _HIDDEN_SEGMENTS.intersection(path.split("/")):
        return "(not shown)"
    if value is None:
        return "(absent)"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))
    text = redact_text(text)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def _evidence(drift: AppDrift, observation: Observation) -> list[Evidence]:
    evidence: dict[str, Evidence] = {}
    for resource in drift.resources:
        workload = observation.workload(_ref(resource))
        if workload is not None and workload.id not in evidence:
            paths = ", ".join(f.path for f in resource.fields) or "the whole object"
            evidence[workload.id] = Evidence(
                item_id=workload.id, note=_clip(f"live {resource.kind} differs from Git at {paths}")
            )
    app = _application(drift, observation)
    if app is not None:
        state = ", ".join(s for s in (app.sync_status, app.health_status) if s) or "state unknown"
        evidence.setdefault(app.id, Evidence(item_id=app.id, note=f"Argo CD application {app.name}: {state}"))
    return list(evidence.values())


def _application(drift: AppDrift, observation: Observation) -> ArgoApplication | None:
    if not drift.application:
        return None
    named = [a for a in observation.argocd if a.name == drift.application]
    exact = [a for a in named if a.namespace == drift.app_namespace]
    return next(iter(exact or named), None)


def _ref(resource: ResourceDrift) -> ResourceRef:
    return ResourceRef(namespace=resource.namespace, kind=resource.kind, name=resource.name)


def _app_label(drift: AppDrift) -> str:
    if drift.application:
        return f"Argo CD application {drift.application}"
    return "resources no Argo CD application manages"


def _keys(resources: Iterable[ResourceDrift]) -> str:
    keys = list(dict.fromkeys(r.key for r in resources))
    return _bounded(keys, MAX_SHOWN, ", ")


def _was(resources: list[ResourceDrift]) -> str:
    return "was" if len({r.key for r in resources}) == 1 else "were"


def _bounded(items: list[str], limit: int, sep: str = "; ") -> str:
    if len(items) <= limit:
        return sep.join(items) or "nothing"
    return sep.join(items[:limit]) + f" (and {len(items) - limit} more)"


def _listed(lines: list[str]) -> list[str]:
    if len(lines) <= MAX_LISTED:
        return lines
    return [*lines[:MAX_LISTED], f"... and {len(lines) - MAX_LISTED} more"]


def _unescape(segment: str) -> str:
    """A JSON pointer segment's text (RFC 6901: ~1 is /, ~0 is ~)."""
    return segment.replace("~1", "/").replace("~0", "~")


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]
