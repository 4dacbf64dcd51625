"""The document the Rego policy is asked about: the plan, with current and proposed values.

The policy decides only from this input and its data file; building it is pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.analysis.plan import (
    Diagnosis,
    Plan,
    Restart,
    RevertDeploy,
    RollbackRevision,
    Scale,
    SetImage,
    SetResources,
    SyncApplication,
    reads_as_command,
    without_read_only_commands,
)
from domain.gitops.locate import Located, declared_value, locate_field
from domain.gitops.repositories import GitOpsRepositories, unwritable_sources
from domain.incident.model import Incident, ResourceRef
from domain.kube.images import split_image
from domain.kube.observation import ARGOCD_TRACKING, Observation, Workload
from domain.kube.patches import INCIDENT_ANNOTATION
from domain.kube.quantity import QuantityError, parse_quantity
from domain.review.plan_impact import PlanImpact


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(parse_quantity(text))
    except QuantityError:
        return None


def _image_repository(image: str) -> str:
    """`registry:5000/shop/checkout:1.2@sha256:…` → `registry:5000/shop/checkout`."""
    return split_image(image).repository


def _managing_applications(
    target: ResourceRef, workload: Workload | None, observation: Observation, incident: Incident
) -> list[str]:
    """The Argo CD Applications that manage the target: those whose resources list it, the one its
    tracking annotation names, and the drifted Application a drift incident is about. Where
    observe decided the target's ownership (`Observation.ownership`), that decision stands alone:
    the owner, or none when it is unmanaged or uncertain."""
    decided = observation.ownership_of(target.kind, target.namespace, target.name)
    names: set[str] = set()
    if decided is not None:
        if decided.state == "managed":
            names.add(decided.application)
    else:
        names = {
            app.name for app in observation.argocd if app.manages(target.kind, target.namespace, target.name)
        }
        if workload is not None and ARGOCD_TRACKING in workload.annotations:
            # `<application>:<group>/<kind>:<namespace>/<name>`
            names.add(workload.annotations[ARGOCD_TRACKING].split(":", 1)[0])
    drift = incident.drift if incident.source == "drift" else None
    if drift is not None and any(
        r.kind == target.kind and r.namespace == target.namespace and r.name == target.name
        for r in drift.resources
    ):
        names.add(drift.application)
    return sorted(n for n in names if n)


def _git_declared(
    target: ResourceRef, action_kind: str, managers: list[str], observation: Observation
) -> tuple[Any, str] | None:
    """The value Git declares for the field `action_kind` changes on the target (replicas, or a
    container's resources), read from the files observe collected (whole files only), and the file
    it is in; None when no observed file of a managing Application sets it."""
    files = {f.path: f.content for f in observation.gitops_files if not f.truncated}
    if not files:
        return None
    for app in observation.argocd:
        if app.name not in managers:
            continue
        loc = locate_field(
            app.sources,
            target,
            action_kind,
            files.get,
            sorted(files),
            destination_namespace=app.destination_namespace,
            application=app.name,
            application_set=app.application_set,
        )
        if not isinstance(loc, Located):
            continue
        value = declared_value(loc, files.get)
        if value is not None:
            return value, loc.file
    return None


def _declared_replicas(
    target: ResourceRef, managers: list[str], observation: Observation
) -> dict[str, Any] | None:
    declared = _git_declared(target.without_container(), "scale", managers, observation)
    if declared is None:
        return None
    value, file = declared
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        return None
    return {"replicas": value, "source": f"declared in {file}"}


def _declared_resources(
    target: ResourceRef, managers: list[str], observation: Observation
) -> dict[str, Any] | None:
    declared = _git_declared(target, "set_resources", managers, observation)
    if declared is None or not isinstance(declared[0], dict):
        return None
    value, file = declared
    baseline: dict[str, Any] = {"source": f"declared in {file}"}
    for section in ("limits", "requests"):
        quantities = value.get(section)
        if isinstance(quantities, dict):
            baseline[section] = {
                str(k): _number(str(v)) for k, v in quantities.items() if isinstance(v, (str, int, float))
            }
    return baseline


def _managed_by_gitops(target: Any, workload: Any, observation: Observation) -> bool:
    """Whether Argo CD manages the target: as observe decided, else (an observation made before it
    decided) by its tracking annotation or an application's resources."""
    decided = observation.ownership_of(target.kind, target.namespace, target.name)
    if decided is not None:
        return decided.state == "managed"
    if workload is not None and ARGOCD_TRACKING in workload.annotations:
        return True
    return any(app.manages(target.kind, target.namespace, target.name) for app in observation.argocd)


def _edited_file(app: Any, target: ResourceRef, action_kind: str, observation: Observation) -> str:
    """The file an edit of `action_kind` would change for `app`, from the files observe collected;
    "" when they do not locate one (then every Git source of the Application counts)."""
    if action_kind not in ("set_resources", "set_image", "scale"):
        return ""
    files = {f.path: f.content for f in observation.gitops_files if not f.truncated}
    if not files:
        return ""
    kind_target = target.without_container() if action_kind == "scale" else target
    loc = locate_field(
        app.sources,
        kind_target,
        action_kind,
        files.get,
        sorted(files),
        destination_namespace=app.destination_namespace,
    )
    return loc.file if isinstance(loc, Located) else ""


def _unwritable_applications(
    target: ResourceRef,
    action_kind: str,
    managers: list[str],
    observation: Observation,
    repositories: GitOpsRepositories,
) -> list[dict[str, Any]]:
    """The managing Applications (those observed) whose source an edit would change is in no
    repository medic may write, with those sources' `repoURL`s."""
    out = []
    for app in observation.argocd:
        if app.name not in managers:
            continue
        file = _edited_file(app, target, action_kind, observation)
        urls = unwritable_sources(app.sources, repositories, file)
        if urls:
            # `named`: the URLs as the refusal names them (one string: Rego's concat output does not
            # survive the policy engine's sprintf).
            out.append({"application": app.name, "repo_urls": urls, "named": ", ".join(urls)})
    return out


def _action_input(
    index: int,
    action: Any,
    observation: Observation,
    incident: Incident,
    repositories: GitOpsRepositories | None = None,
) -> dict[str, Any]:
    target = action.target
    workload = observation.workload(target)
    managers = _managing_applications(target, workload, observation, incident)
    decided = observation.ownership_of(target.kind, target.namespace, target.name)
    entry: dict[str, Any] = {
        "index": index,
        "kind": action.kind,
        "mode": action.mode,
        "target": {
            "namespace": target.namespace,
            "kind": target.kind,
            "name": target.name,
            "container": target.container,
        },
        # Effects the action has on the world; the policy forbids some of them outright.
        "effects": ["update"],
        "found": workload is not None,
        # Direct changes to what Argo CD manages would be reverted or fight the GitOps repository.
        "gitops_managed": _managed_by_gitops(target, workload, observation),
        # The Argo CD Applications that manage the target: the only ones a sync of it may name.
        "managing_applications": managers,
        # Who manages the target, as observe decided (`managed` | `unmanaged` | `uncertain`, ""
        # when it did not decide): an uncertain target is never changed directly, and the reason
        # (which Application, and what was missing) is the policy's message.
        "ownership": decided.state if decided is not None else "",
        "ownership_reason": decided.reason if decided is not None else "",
        # medic changed this workload for another incident before: its current values are not a
        # baseline (a repeated fix would ratchet from its own last step).
        "changed_by_medic": workload is not None
        and workload.annotations.get(INCIDENT_ANNOTATION, incident.id) != incident.id,
    }
    if repositories is not None:
        # Applications deploying from a repository medic may not write: never edited, and what
        # they manage never patched directly.
        entry["unwritable_applications"] = _unwritable_applications(
            target, action.kind, managers, observation, repositories
        )
    if target.kind == "Namespace":
        entry["effects"].append("namespace_change")
    container = None
    if workload is not None:
        container = next((c for c in workload.containers if c.name == target.container), None)
        entry["current"] = {"replicas": workload.replicas}
    if isinstance(action, SetResources):
        current: dict[str, Any] = {"limits": {}, "requests": {}}
        if container is not None:
            current = {
                "limits": {k: _number(v) for k, v in container.limits.items()},
                "requests": {k: _number(v) for k, v in container.requests.items()},
            }
        entry.setdefault("current", {}).update(current)
        entry["proposed"] = {
            "limits": {k: _number(v) for k, v in action.limits.items()},
            "requests": {k: _number(v) for k, v in action.requests.items()},
        }
        entry["container_found"] = container is not None
        declared = _declared_resources(target, managers, observation)
        if declared is not None:
            entry["baseline"] = declared
    elif isinstance(action, Scale):
        entry["proposed"] = {"replicas": action.replicas}
        baseline = _declared_replicas(target, managers, observation)
        if baseline is not None:
            entry["baseline"] = baseline
    elif isinstance(action, SetImage):
        entry["proposed"] = {"image": action.image, "image_repository": _image_repository(action.image)}
        entry["container_found"] = container is not None
        if container is not None:
            entry.setdefault("current", {})["image"] = container.image
        # The repositories this container has run from: now, or in any observed revision.
        # The repositories this container has run from: now, or in an observed revision of the target.
        images = {container.image} if container is not None else set()
        images |= {
            c.image
            for r in observation.revisions
            if r.name.startswith(f"{target.name}-")
            for c in r.containers
            if c.name == target.container
        }
        entry["known_image_repositories"] = sorted({_image_repository(i) for i in images})
        # Going back to an image an earlier revision of this container ran is safer than a new one.
        entry["image_known"] = any(
            c.name == target.container and c.image == action.image
            for r in observation.revisions
            for c in r.containers
        )
    elif isinstance(action, RollbackRevision):
        entry["proposed"] = {"revision": action.revision}
        entry["revision_known"] = any(r.revision == action.revision for r in observation.revisions)
    elif isinstance(action, Restart):
        entry["proposed"] = {}
    elif isinstance(action, SyncApplication):
        entry["proposed"] = {"application": action.application}
    elif isinstance(action, RevertDeploy):
        entry["proposed"] = {
            "application": action.application,
            "app_namespace": action.app_namespace,
            "revision": action.revision,
            "previous_revision": action.previous_revision,
        }
    return entry


def build_policy_input(
    incident: Incident,
    observation: Observation,
    plan: Plan,
    root_cause: str = "none",
    *,
    min_risk: str | None = None,
    analyzer: str = "",
    texts: Mapping[str, str] | None = None,
    impact: PlanImpact | None = None,
    repositories: GitOpsRepositories | None = None,
) -> dict[str, Any]:
    """The policy's input. `min_risk` is a second-opinion review's floor (medium | high): the
    policy's risk becomes the higher of its own and this, never lower. `analyzer` names who made the
    plan ("" when unknown: never auto-executed). `texts` are the diagnosis' free-text fields by name;
    they are display text and never read for actions, but those that read as a command to run are
    named in `flags.command_text_in`. `impact` (the plan's change review: `plan_impact`) becomes
    `impact`: its monthly cost delta and its downtime and rollback findings' messages.
    `repositories` (those medic may write) name, per action, the managing Applications that deploy
    from any other (`unwritable_applications`); None leaves that out."""
    flagged = sorted(name for name, text in (texts or {}).items() if reads_as_command(text))
    # A deploy's incident names its Application: only a revert of that Application is its plan.
    deploy = (
        {"application": incident.deploy.application, "app_namespace": incident.deploy.app_namespace}
        if incident.source == "deploy" and incident.deploy is not None
        else None
    )
    document: dict[str, Any] = {
        # The namespaces the incident is about: a plan's mode (policy data `modes`) comes from its
        # actions' namespaces, and from these when it has none.
        "incident": {
            "id": incident.id,
            "source": incident.source,
            "namespaces": sorted({t.namespace for t in incident.targets}),
        },
        "diagnosis": {"root_cause": root_cause, "analyzer": analyzer},
        "flags": {"command_text_in": flagged},
        "actions": [
            _action_input(i, a, observation, incident, repositories) for i, a in enumerate(plan.actions)
        ],
    }
    if deploy is not None:
        document["incident"]["deploy"] = deploy
    if min_risk is not None:
        document["review"] = {"min_risk": min_risk}
    if impact is not None:
        document["impact"] = {
            "monthly_delta_usd": impact.monthly_delta_usd,
            "downtime": impact.messages("downtime"),
            "rollback": impact.messages("rollback"),
        }
    return document


def diagnosis_policy_input(
    incident: Incident,
    observation: Observation,
    diagnosis: Diagnosis,
    *,
    min_risk: str | None = None,
    impact: PlanImpact | None = None,
    repositories: GitOpsRepositories | None = None,
) -> dict[str, Any]:
    """`build_policy_input` for a whole diagnosis: its plan, root cause, analyzer and free text."""
    texts = {
        "summary": diagnosis.summary,
        "explanation": diagnosis.explanation,
        "evidence": "\n".join(e.note for e in diagnosis.evidence),
        "expected_impact": diagnosis.plan.expected_impact,
        "rollback": diagnosis.plan.rollback,
        # next steps may show read-only commands (kubectl get, describe, logs); any other command is flagged
        "next_steps": "\n".join(without_read_only_commands(step) for step in diagnosis.next_steps),
    }
    return build_policy_input(
        incident,
        observation,
        diagnosis.plan,
        diagnosis.root_cause,
        min_risk=min_risk,
        analyzer=diagnosis.analyzer,
        texts=texts,
        impact=impact,
        repositories=repositories,
    )
