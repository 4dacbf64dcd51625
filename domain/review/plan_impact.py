"""What one of medic's own remediation plans would cost and risk: the change review, run on the
workloads a plan changes. Pure.

Each action's target is taken as observe saw it (its containers' images and resources, replicas,
rollout strategy) and changed as `domain.analysis.plan_diff.proposed_workload` says the action
changes it, the same view the console's plan diff shows. Both sides become manifests, and
`domain.review` pairs, prices and judges them as it does a pull request's objects. Several actions
on one workload add up: the later ones start from what the earlier ones made.

Nothing is guessed: an action whose target, container or revision was not observed, and an Argo
CD sync (Git, not the plan, says what it changes), is listed as not assessed. A workload observed
before rollout strategies were recorded is judged as the API server's default
(RollingUpdate, maxUnavailable 25%) would be, and the summary says so.
"""

from __future__ import annotations

from typing import Any

from domain.analysis.plan import (
    Action,
    Plan,
    Restart,
    RollbackRevision,
    SetImage,
    SetResources,
    SyncApplication,
)
from domain.analysis.plan_diff import proposed_workload
from domain.base import Frozen
from domain.kube.observation import Observation, Workload
from domain.kube.patches import RESTARTED_AT_ANNOTATION, restart_stamp
from domain.review.changes import change_set
from domain.review.cost import DEFAULT_BASIS, Prices, signed_usd
from domain.review.findings import Finding
from domain.review.review import review

_APPS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")
_ROLLED = ("Deployment", "StatefulSet")


class PlanImpact(Frozen):
    """The monthly cost delta and the downtime and rollback findings of a plan, with what could
    not be assessed and a one-line `summary` for the approval views."""

    monthly_delta_usd: float = 0
    basis: str = DEFAULT_BASIS
    downtime: list[Finding] = []
    rollback: list[Finding] = []
    # "<action>: why", one per action that could not be assessed
    not_assessed: list[str] = []
    # what the assessment assumed, one line each
    notes: list[str] = []
    summary: str = ""

    def messages(self, category: str) -> list[str]:
        """The messages of the downtime or rollback findings."""
        return [f.message for f in (self.downtime if category == "downtime" else self.rollback)]


def _int_or_str(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def workload_manifest(
    workload: Workload, template_annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    """The observed workload as a manifest: what the review rules and prices read of it."""
    kind = workload.ref.kind
    containers = [
        {
            "name": c.name,
            "image": c.image,
            "resources": {k: dict(v) for k, v in (("limits", c.limits), ("requests", c.requests)) if v},
        }
        for c in workload.containers
    ]
    template: dict[str, Any] = {"spec": {"containers": containers}}
    if template_annotations:
        template["metadata"] = {"annotations": dict(template_annotations)}
    spec: dict[str, Any] = {"template": template}
    if kind != "DaemonSet":
        spec["replicas"] = workload.replicas
    if kind == "Deployment" and workload.strategy:
        strategy: dict[str, Any] = {"type": workload.strategy}
        if workload.strategy == "RollingUpdate" and workload.max_unavailable:
            strategy["rollingUpdate"] = {"maxUnavailable": _int_or_str(workload.max_unavailable)}
        spec["strategy"] = strategy
    elif kind == "StatefulSet" and workload.strategy:
        spec["updateStrategy"] = {"type": workload.strategy}
    return {
        "apiVersion": "apps/v1" if kind in _APPS else "v1",
        "kind": kind,
        "metadata": {"name": workload.ref.name, "namespace": workload.ref.namespace},
        "spec": spec,
    }


def _label(index: int, action: Action) -> str:
    target = action.target
    where = target.key + (f":{target.container}" if target.container else "")
    return f"action {index + 1} ({action.kind} {where})"


def _why_not(action: Action, workload: Workload | None) -> str:
    if isinstance(action, SyncApplication):
        return "an Argo CD sync applies what Git holds, which the plan does not say"
    if workload is None:
        return "its target was not observed"
    if isinstance(action, RollbackRevision):
        return f"revision {action.revision} was not observed"
    if isinstance(action, (SetResources, SetImage)):
        name = action.target.container
        return f"container {name} was not observed" if name else "the target has several containers"
    return "what it changes was not observed"


def _first(findings: list[Finding]) -> str:
    more = f" (+{len(findings) - 1} more)" if len(findings) > 1 else ""
    return findings[0].message + more


def _summary(impact: PlanImpact, actions: int) -> str:
    if not actions:
        return "no actions"
    if len(impact.not_assessed) == actions:
        return "not assessed: " + "; ".join(impact.not_assessed)
    downtime = _first(impact.downtime) if impact.downtime else "none found"
    if not impact.downtime and impact.notes:
        downtime += " (rollout strategy not observed)"
    parts = [f"{signed_usd(impact.monthly_delta_usd)}/month ({impact.basis})", f"downtime: {downtime}"]
    if impact.rollback:
        parts.append(f"rollback: {_first(impact.rollback)}")
    if impact.not_assessed:
        parts.append(f"{len(impact.not_assessed)} of {actions} action(s) not assessed")
    return "; ".join(parts)


def plan_impact(plan: Plan, observation: Observation, prices: Prices | None = None) -> PlanImpact:
    """The cost delta, downtime and rollback findings of `plan` on the workloads `observation`
    holds. The same plan and observation always give the same impact."""
    before: dict[str, dict[str, Any]] = {}
    current: dict[str, tuple[Workload, dict[str, str]]] = {}
    not_assessed: list[str] = []
    notes: list[str] = []
    for index, action in enumerate(plan.actions):
        key = action.target.without_container().key
        seen = current.get(key)
        workload, annotations = seen if seen else (observation.workload(action.target), {})
        changed = proposed_workload(action, workload, observation)
        if workload is None or changed is None:
            not_assessed.append(f"{_label(index, action)}: {_why_not(action, workload)}")
            continue
        if key not in before:
            before[key] = workload_manifest(workload, annotations)
            if workload.ref.kind in _ROLLED and not workload.strategy:
                notes.append(f"{key}: rollout strategy not observed; judged as the default RollingUpdate")
        if isinstance(action, Restart):
            annotations = {**annotations, RESTARTED_AT_ANNOTATION: restart_stamp(observation.incident_id)}
        current[key] = (changed, annotations)
    after = [workload_manifest(w, a) for w, a in current.values()]
    result = review(change_set(before.values(), after), prices)
    impact = PlanImpact(
        monthly_delta_usd=result.cost.monthly_delta_usd,
        basis=result.cost.basis,
        downtime=[f for f in result.findings if f.category == "downtime"],
        rollback=[f for f in result.findings if f.category == "rollback"],
        not_assessed=not_assessed,
        notes=notes,
    )
    return impact.model_copy(update={"summary": _summary(impact, len(plan.actions))})
