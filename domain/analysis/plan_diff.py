"""A plan as a reviewer reads it: per action, its target and a unified diff of YAML. Pure.

The "before" side is what observe saw of the target (its containers' images and resources, its
replicas, its revisions); the "after" side is that view with the action applied. Only the fields
an action changes are shown, in the shape of the Kubernetes object, so the diff reads like the
change `kubectl diff` would show for it. A target that was not observed has an empty "before".
"""

from __future__ import annotations

import difflib
from typing import Any

import yaml

from domain.analysis.plan import (
    Action,
    Plan,
    RollbackRevision,
    Scale,
    SetImage,
    SetResources,
    SyncApplication,
)
from domain.base import Frozen
from domain.kube.observation import ContainerSpec, Observation, Revision, Workload
from domain.kube.patches import RESTARTED_AT_ANNOTATION, restart_stamp


class ActionDiff(Frozen):
    index: int
    kind: str
    mode: str
    # "namespace/Kind/name", with ":container" when the action names one
    target: str
    file: str | None = None
    # one line: what changes ("memory limit 128Mi → 256Mi")
    summary: str
    before: str
    after: str
    # unified diff of `before` → `after`; empty when the action changes nothing visible here
    diff: str
    observed: bool = True


# (before, after, summary)
_Views = tuple[dict[str, Any], dict[str, Any], str]


def _yaml(document: dict[str, Any]) -> str:
    if not document:
        return ""
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False, allow_unicode=True)


def _container(workload: Workload | None, name: str | None) -> ContainerSpec | None:
    if workload is None:
        return None
    if name is None:
        return workload.containers[0] if len(workload.containers) == 1 else None
    return next((c for c in workload.containers if c.name == name), None)


def _containers_doc(containers: list[dict[str, Any]]) -> dict[str, Any]:
    return {"spec": {"template": {"spec": {"containers": containers}}}}


def _resources(limits: dict[str, str], requests: dict[str, str]) -> dict[str, Any]:
    return {k: dict(sorted(v.items())) for k, v in (("limits", limits), ("requests", requests)) if v}


def _change(label: str, before: Any, after: Any) -> str:
    return f"{label} {before if before not in (None, '') else '(unset)'} → {after}"


def _set_resources(action: SetResources, workload: Workload | None) -> _Views:
    container = _container(workload, action.target.container)
    name = action.target.container or (container.name if container else "?")
    limits = dict(container.limits) if container else {}
    requests = dict(container.requests) if container else {}
    before = _containers_doc([{"name": name, "resources": _resources(limits, requests)}]) if container else {}
    if container is not None:
        changed = _with_resources(container, action)
        new_limits, new_requests = changed.limits, changed.requests
    else:
        new_limits, new_requests = dict(action.limits), dict(action.requests)
    after = _containers_doc([{"name": name, "resources": _resources(new_limits, new_requests)}])
    changes = [
        _change(f"{resource} {section}", old.get(resource), value)
        for section, old, wanted in (("limit", limits, action.limits), ("request", requests, action.requests))
        for resource, value in sorted(wanted.items())
        if old.get(resource) != value
    ]
    return before, after, "; ".join(changes) or "resources unchanged"


def _set_image(action: SetImage, workload: Workload | None) -> _Views:
    container = _container(workload, action.target.container)
    name = action.target.container or (container.name if container else "?")
    before = _containers_doc([{"name": name, "image": container.image}]) if container else {}
    after = _containers_doc([{"name": name, "image": action.image}])
    return before, after, _change("image", container.image if container else None, action.image)


def _scale(action: Scale, workload: Workload | None) -> _Views:
    before = {"spec": {"replicas": workload.replicas}} if workload else {}
    after = {"spec": {"replicas": action.replicas}}
    return before, after, _change("replicas", workload.replicas if workload else None, action.replicas)


def _restart(incident_id: str, workload: Workload | None) -> _Views:
    before: dict[str, Any] = {"spec": {"template": {"metadata": {"annotations": {}}}}} if workload else {}
    stamp = restart_stamp(incident_id)
    after = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT_ANNOTATION: stamp}}}}}
    return before, after, "rolling restart of every pod"


def _revision(observation: Observation, workload: Workload | None, revision: int | None) -> Revision | None:
    if workload is None or revision is None:
        return None
    prefix = f"revision/{workload.ref.namespace}/"
    return next(
        (c for c in observation.revisions if c.revision == revision and c.id.startswith(prefix)), None
    )


def _revision_containers(observation: Observation, workload: Workload | None, revision: int | None) -> Any:
    found = _revision(observation, workload, revision)
    if found is None:
        return None
    return [
        {"name": c.name, "image": c.image, **({"resources": _resources(c.limits, c.requests)})}
        for c in found.containers
    ]


def _rollback(action: RollbackRevision, workload: Workload | None, observation: Observation) -> _Views:
    current = workload.revision if workload else None
    if workload is not None:
        containers = _revision_containers(observation, workload, current) or [
            {"name": c.name, "image": c.image, "resources": _resources(c.limits, c.requests)}
            for c in workload.containers
        ]
        before = _containers_doc(containers)
    else:
        before = {}
    wanted = _revision_containers(observation, workload, action.revision)
    after = (
        _containers_doc(wanted)
        if wanted is not None
        else {"spec": {"template": f"the pod template of revision {action.revision} (not observed)"}}
    )
    return before, after, _change("revision", current, action.revision)


def _sync(action: SyncApplication, observation: Observation) -> _Views:
    app = next((a for a in observation.argocd if a.name == action.application), None)
    before: dict[str, Any] = {}
    if app is not None:
        before = {"application": action.application, "sync": app.sync_status, "health": app.health_status}
    after = {"application": action.application, "sync": "Synced", "operation": "sync requested"}
    return before, after, f"sync Argo CD application {action.application}"


def _with_resources(container: ContainerSpec, action: SetResources) -> ContainerSpec:
    return container.model_copy(
        update={
            "limits": {**container.limits, **action.limits},
            "requests": {**container.requests, **action.requests},
        }
    )


def proposed_workload(action: Action, workload: Workload | None, observation: Observation) -> Workload | None:
    """`workload` (as observed) once `action` is made: its containers' images and resources, its
    replicas, or the containers of the revision it rolls back to. None when that cannot be told
    from what was observed: no workload, a container or revision that was not seen, an Argo CD
    sync (Git says what it changes). A restart changes only the pod template's annotations, which
    this model does not hold: the workload comes back as it was (see `RESTARTED_AT_ANNOTATION`)."""
    if workload is None or isinstance(action, SyncApplication):
        return None
    if isinstance(action, Scale):
        return workload.model_copy(update={"replicas": action.replicas})
    if isinstance(action, RollbackRevision):
        revision = _revision(observation, workload, action.revision)
        if revision is None:
            return None
        return workload.model_copy(
            update={"containers": list(revision.containers), "revision": action.revision}
        )
    if isinstance(action, (SetResources, SetImage)):
        container = _container(workload, action.target.container)
        if container is None:
            return None
        changed = (
            _with_resources(container, action)
            if isinstance(action, SetResources)
            else container.model_copy(update={"image": action.image})
        )
        containers = [changed if c.name == container.name else c for c in workload.containers]
        return workload.model_copy(update={"containers": containers})
    return workload


def _target(action: Action) -> str:
    target = action.target
    return target.key + (f":{target.container}" if target.container else "")


def action_diff(
    index: int, action: Action, observation: Observation | None, incident_id: str = ""
) -> ActionDiff:
    """One action's before/after view of its target, as YAML, and their unified diff."""
    seen = observation or Observation(incident_id=incident_id)
    workload = seen.workload(action.target)
    before: dict[str, Any]
    after: dict[str, Any]
    if isinstance(action, SetResources):
        before, after, summary = _set_resources(action, workload)
    elif isinstance(action, SetImage):
        before, after, summary = _set_image(action, workload)
    elif isinstance(action, Scale):
        before, after, summary = _scale(action, workload)
    elif isinstance(action, RollbackRevision):
        before, after, summary = _rollback(action, workload, seen)
    elif isinstance(action, SyncApplication):
        before, after, summary = _sync(action, seen)
    else:
        before, after, summary = _restart(incident_id, workload)
    old, new = _yaml(before), _yaml(after)
    label = _target(action)
    diff = "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"{label} (current)",
            tofile=f"{label} (proposed)",
            n=max(len(old.splitlines()), len(new.splitlines()), 3),
        )
    )
    return ActionDiff(
        index=index,
        kind=action.kind,
        mode=action.mode,
        target=label,
        file=action.file,
        summary=summary,
        before=old,
        after=new,
        diff=diff,
        observed=bool(before),
    )


def plan_diffs(plan: Plan, observation: Observation | None, incident_id: str = "") -> list[ActionDiff]:
    """Every action of `plan`, in order, as `action_diff` shows it."""
    return [action_diff(i, a, observation, incident_id) for i, a in enumerate(plan.actions)]
