"""The incident a change request opens, and its diagnosis: the requested change as a plan. Pure.

A request's plan comes from its words (`domain.intent.parse`), never from a model's reading of the
cluster: the analyzer is `intent`. Its target is resolved here among the workloads observe found
for the name the request gave (in its namespace, or in every namespace): one workload is the
target; none, or more than one, is a refusal that says so and lists the candidates — a name is
never guessed. How the change is made (directly, or through the GitOps repository, and which file)
is chosen by the same rules as the offline analyzer's plans.
"""

from __future__ import annotations

from decimal import Decimal

from domain.analysis.offline import Change, change_mode_and_file
from domain.analysis.plan import (
    Action,
    Diagnosis,
    Evidence,
    Plan,
    RollbackRevision,
    Scale,
    SetImage,
    SetResources,
    SyncApplication,
)
from domain.analysis.plan import Restart as RestartAction
from domain.incident.model import Incident, ResourceRef
from domain.intent.model import IntentChange, IntentRequest
from domain.kube.images import split_image
from domain.kube.observation import ContainerSpec, Observation, Workload
from domain.kube.quantity import QuantityError, parse_quantity
from domain.redaction.text import redact_text

__all__ = ["ANALYZER", "IntentNotPlanned", "intent_diagnosis", "intent_incident", "matching_workloads"]

ANALYZER = "intent"
_TITLE_WORDS = 120
_CHANGE_OF: dict[str, Change] = {
    "set_image": "image",
    "scale": "replicas",
    "set_resources": "resources",
    "rollback_revision": "template",
    "restart": "template",
}


class IntentNotPlanned(ValueError):
    """The request cannot become a plan against what was observed; its message is one line."""


def intent_incident(workflow_id: str, request: IntentRequest) -> Incident:
    """The incident of a change request: source `intent`, a title naming who asked for what, the
    request kept with its words redacted. No targets: observe resolves the named workload."""
    words = redact_text(" ".join(request.words.split()))
    kept = request.model_copy(update={"words": words})
    what = request.change.describe() if request.change is not None else _clip(words)
    if request.change is not None and request.change.read_by:
        what += f" (read by {request.change.read_by})"
    return Incident(
        id=workflow_id,
        source="intent",
        title=f"Change requested by {request.requester}: {what}",
        created_at=request.created_at,
        intent=kept,
    )


def _clip(text: str) -> str:
    return text if len(text) <= _TITLE_WORDS else text[: _TITLE_WORDS - 1] + "…"


def matching_workloads(change: IntentChange, observation: Observation) -> list[Workload]:
    """The observed workloads the request's target names, in a stable order."""
    target = change.target
    found = [
        w
        for w in observation.workloads
        if w.ref.name == target.name
        and (target.namespace is None or w.ref.namespace == target.namespace)
        and (target.kind is None or w.ref.kind == target.kind)
    ]
    return sorted(found, key=lambda w: w.ref.key)


def intent_diagnosis(incident: Incident, observation: Observation) -> Diagnosis:
    """The requested change as a plan against the observed workload, or no plan and the reason
    (root cause `unknown`, so that the incident ends `needs_review` with it). The same request and
    observation always give the same plan. Raises ValueError when the incident carries no change."""
    request = incident.intent
    if request is None or request.change is None:
        raise ValueError(f"incident {incident.id} carries no requested change")
    change = request.change
    asked = f"{request.requester} asked (via {request.channel}): {request.words!r}"
    # The approvers must know when a model, not the grammar, turned the words into the change.
    read = f" (read by {change.read_by}: the grammar could not read the words)" if change.read_by else ""
    try:
        plan, evidence, why = _plan(change, observation)
    except IntentNotPlanned as refused:
        return Diagnosis(
            root_cause="unknown",
            summary=f"the request cannot be planned: {refused}",
            explanation=f"{asked}. Read as: {change.describe()}{read}. {refused}",
            confidence=1.0,
            analyzer=ANALYZER,
            next_steps=[f"Send the request again naming the workload exactly ({_example(change)})."],
        )
    return Diagnosis(
        root_cause="none",
        summary=f"requested by {request.requester}: {change.describe()}{read}",
        explanation=f"{asked}. Read as: {change.describe()}{read}. {why}",
        confidence=1.0,
        evidence=evidence,
        plan=plan,
        analyzer=ANALYZER,
    )


def _example(change: IntentChange) -> str:
    return f"say NAMESPACE/{change.target.name}"


def _plan(change: IntentChange, observation: Observation) -> tuple[Plan, list[Evidence], str]:
    if change.kind == "sync_application":
        return _sync_plan(change, observation)
    workload = _one_workload(change, observation)
    container = _container(change, workload)
    kind = change.kind
    mode, file, why = change_mode_and_file(observation, workload, _CHANGE_OF[kind], container)
    if mode == "gitops" and file is None:
        raise IntentNotPlanned(why)
    ref = workload.ref
    target = ResourceRef(namespace=ref.namespace, kind=ref.kind, name=ref.name, container=container)
    action: Action
    if kind == "scale":
        assert change.replicas is not None
        if change.replicas == workload.replicas:
            raise IntentNotPlanned(f"{_label(workload)} already runs {workload.replicas} replicas")
        action = Scale(target=target, mode=mode, file=file, replicas=change.replicas)
        impact = f"{_label(workload)} goes from {workload.replicas} to {change.replicas} replicas"
        undo = f"scale it back to {workload.replicas} replicas"
    elif kind == "set_image":
        current = _spec(workload, container).image
        image = change.image or _with_tag(current, change.image_tag or "")
        if image == current:
            raise IntentNotPlanned(f"container {container} of {_label(workload)} already runs {image}")
        action = SetImage(target=target, mode=mode, file=file, image=image)
        impact = f"container {container} of {_label(workload)} rolls out {image} (now {current})"
        undo = f"set the image back to {current}"
    elif kind == "set_resources":
        requests, limits = _resources(change, workload, container)
        action = SetResources(target=target, mode=mode, file=file, requests=requests, limits=limits)
        shown = ", ".join(
            [f"requests.{k}={v}" for k, v in requests.items()]
            + [f"limits.{k}={v}" for k, v in limits.items()]
        )
        impact = f"container {container} of {_label(workload)} gets {shown}; its pods are replaced"
        undo = "set the container's resources back to what they were"
    elif kind == "rollback_revision":
        revision = _revision(change, workload, observation)
        action = RollbackRevision(target=target, mode=mode, file=file, revision=revision)
        impact = f"{_label(workload)} rolls back to revision {revision}'s pod template"
        undo = f"roll forward to revision {workload.revision}" if workload.revision else "roll forward again"
    else:
        action = RestartAction(target=target, mode=mode, file=file)
        impact = f"the pods of {_label(workload)} are replaced one by one"
        undo = "nothing to undo: a restart changes no declared value"
    evidence = [Evidence(item_id=workload.id, note="the workload the request names")]
    for f in observation.gitops_files:
        if f.path == file:
            evidence.append(Evidence(item_id=f.id, note="the GitOps file to change"))
    return Plan(actions=[action], expected_impact=impact, rollback=undo), evidence, why


def _label(workload: Workload) -> str:
    return f"{workload.ref.kind} {workload.ref.namespace}/{workload.ref.name}"


def _one_workload(change: IntentChange, observation: Observation) -> Workload:
    found = matching_workloads(change, observation)
    where = f"in namespace {change.target.namespace}" if change.target.namespace else "in any namespace"
    if not found:
        raise IntentNotPlanned(f"no Deployment, StatefulSet or DaemonSet named {change.target.name} {where}")
    if len(found) > 1:
        candidates = ", ".join(f"{w.ref.namespace}/{w.ref.name} ({w.ref.kind})" for w in found)
        raise IntentNotPlanned(
            f"{change.target.name} names {len(found)} workloads: {candidates}; say which, as NAMESPACE/NAME"
        )
    return found[0]


def _container(change: IntentChange, workload: Workload) -> str:
    names = [c.name for c in workload.containers]
    if change.container is not None:
        if change.container not in names:
            raise IntentNotPlanned(
                f"{_label(workload)} has no container {change.container} "
                f"(it has: {', '.join(names) or 'none'})"
            )
        return change.container
    if len(names) == 1:
        return names[0]
    if change.kind == "set_image" and change.image:
        # The container that runs the same image repository is the only reading that fits.
        repository = split_image(change.image).repository
        same = [c.name for c in workload.containers if split_image(c.image).repository == repository]
        if len(same) == 1:
            return same[0]
    if change.kind in ("set_image", "set_resources"):
        raise IntentNotPlanned(
            f"{_label(workload)} has {len(names)} containers ({', '.join(names)}); name the one to change"
        )
    return names[0] if names else ""


def _spec(workload: Workload, container: str) -> ContainerSpec:
    return next(c for c in workload.containers if c.name == container)


def _with_tag(image: str, tag: str) -> str:
    return f"{split_image(image).repository}:{tag}"


def _quantity(value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        return parse_quantity(value)
    except QuantityError:
        return None


def _resources(
    change: IntentChange, workload: Workload, container: str
) -> tuple[dict[str, str], dict[str, str]]:
    """The fields to set. A limit asked for alone lowers a current request above it to it; a
    request asked for alone raises a current limit below it to it (a request may not exceed its
    limit, and the API refuses a pod template where it does)."""
    spec = _spec(workload, container)
    requests, limits = dict(change.requests), dict(change.limits)
    for name, value in change.limits.items():
        current = _quantity(spec.requests.get(name))
        if name not in requests and current is not None and current > parse_quantity(value):
            requests[name] = value
    for name, value in change.requests.items():
        current = _quantity(spec.limits.get(name))
        if name not in limits and current is not None and current < parse_quantity(value):
            limits[name] = value
    if all(spec.requests.get(k) == v for k, v in requests.items()) and all(
        spec.limits.get(k) == v for k, v in limits.items()
    ):
        raise IntentNotPlanned(f"container {container} of {_label(workload)} already has those resources")
    return requests, limits


def _revision(change: IntentChange, workload: Workload, observation: Observation) -> int:
    ref = workload.ref
    prefix = f"revision/{ref.namespace}/{ref.name}-"
    revisions = sorted(
        {r.revision for r in observation.revisions if r.id.startswith(prefix)} - {workload.revision or 0}
    )
    if change.revision is not None:
        if change.revision == workload.revision:
            raise IntentNotPlanned(f"{_label(workload)} already runs revision {change.revision}")
        if change.revision not in revisions:
            known = ", ".join(str(r) for r in revisions) or "none"
            raise IntentNotPlanned(
                f"{_label(workload)} has no revision {change.revision} (earlier ones: {known})"
            )
        return change.revision
    earlier = [r for r in revisions if workload.revision is None or r < workload.revision]
    if not earlier:
        raise IntentNotPlanned(f"{_label(workload)} has no earlier revision to roll back to")
    return earlier[-1]


def _sync_plan(change: IntentChange, observation: Observation) -> tuple[Plan, list[Evidence], str]:
    name = change.target.name
    apps = [a for a in observation.argocd if a.name == name]
    if not apps:
        raise IntentNotPlanned(f"no Argo CD application named {name} was observed")
    app = apps[0]
    managed = [w for w in observation.workloads if app.manages(w.ref.kind, w.ref.namespace, w.ref.name)]
    if not managed:
        raise IntentNotPlanned(f"Argo CD application {name} manages no workload medic observed")
    ref = managed[0].ref
    action = SyncApplication(target=ref, mode="direct", application=name)
    plan = Plan(
        actions=[action],
        expected_impact=f"Argo CD syncs application {name}: the Git state is applied again",
        rollback="Git is the source of truth: there is nothing to restore but what Git declares",
    )
    return plan, [Evidence(item_id=app.id, note="the application to sync")], f"Argo CD application {name}"
