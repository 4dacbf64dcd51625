"""Is a workload's rollout finished, and is it healthy? Pure; mirrors `kubectl rollout status`.

Inputs are the workload and its pods as the API returns them (the pods listed by the workload's
selector, so old and new ones alike). A pod is *current* when it was made from the workload's
present pod template: its labels and annotations include the template's, and each template
container has the same image and resource quantities in the pod.

`baseline_restarts` is the caller's memory of restarts: the `restarts` value (the sum of
restartCount over the current pods, i.e. those of the new ReplicaSet) reported by the first check
that found the rollout done. Pass a negative number until then; restarts are then not compared.
A later total above the baseline means the new pods crash, even if they are momentarily Ready.
"""

from __future__ import annotations

from typing import Any

from domain.incident.model import ResourceRef
from domain.kube.quantity import QuantityError, parse_quantity
from domain.steps.change import RolloutCheck


def total_restarts(pods: list[dict[str, Any]]) -> int:
    """The sum of restartCount over every container (init containers included) of the pods."""
    total = 0
    for pod in pods:
        status = pod.get("status") or {}
        for key in ("initContainerStatuses", "containerStatuses"):
            for container in status.get(key) or []:
                total += int(container.get("restartCount") or 0)
    return total


def _same_quantity(a: Any, b: Any) -> bool:
    try:
        return parse_quantity(a) == parse_quantity(b)
    except QuantityError:
        return a == b


def is_current_pod(pod: dict[str, Any], template: dict[str, Any]) -> bool:
    """Whether the pod was created from this pod template (not from an older revision)."""
    metadata = pod.get("metadata") or {}
    if metadata.get("deletionTimestamp"):
        return False
    template_meta = template.get("metadata") or {}
    for field in ("labels", "annotations"):
        have = metadata.get(field) or {}
        if any(have.get(k) != v for k, v in (template_meta.get(field) or {}).items()):
            return False
    pod_containers = {c.get("name"): c for c in (pod.get("spec") or {}).get("containers") or []}
    for wanted in (template.get("spec") or {}).get("containers") or []:
        have = pod_containers.get(wanted.get("name"))
        if have is None or have.get("image") != wanted.get("image"):
            return False
        for section in ("limits", "requests"):
            have_section = (have.get("resources") or {}).get(section) or {}
            for resource, quantity in ((wanted.get("resources") or {}).get(section) or {}).items():
                if resource not in have_section or not _same_quantity(have_section[resource], quantity):
                    return False
    return True


def rollout_check(
    ref: ResourceRef, workload: dict[str, Any], pods: list[dict[str, Any]], baseline_restarts: int
) -> RolloutCheck:
    """Done: the controller saw the latest spec, every replica runs the present template, and no
    old pods remain — the template is rolled out, whether or not it works. Healthy: done, every
    replica available and ready, and restarts not above the baseline.

    Keeping availability out of `done` lets a rollback be verified as rolled out even when the
    restored template carries the original fault, and lets crash-looping new pods be caught by
    their rising restarts instead of waiting for the deadline."""
    metadata = workload.get("metadata") or {}
    spec = workload.get("spec") or {}
    status = workload.get("status") or {}
    generation = int(metadata.get("generation") or 0)
    observed = int(status.get("observedGeneration") or 0)
    if (workload.get("kind") or ref.kind) == "DaemonSet":
        desired = int(status.get("desiredNumberScheduled") or 0)
        updated = int(status.get("updatedNumberScheduled") or 0)
        total = int(status.get("currentNumberScheduled") or 0)
        available = int(status.get("numberAvailable") or 0)
        ready = int(status.get("numberReady") or 0)
    else:
        replicas = spec.get("replicas")
        desired = 1 if replicas is None else int(replicas)
        updated = int(status.get("updatedReplicas") or 0)
        total = int(status.get("replicas") or 0)
        available = int(status.get("availableReplicas") or 0)
        ready = int(status.get("readyReplicas") or 0)

    template = spec.get("template") or {}
    current = [p for p in pods if is_current_pod(p, template)]
    old = [p for p in pods if p not in current]
    restarts = total_restarts(current)

    reason = ""
    if observed < generation:
        reason = f"waiting for the controller to observe generation {generation} (observed {observed})"
    elif updated < desired:
        reason = f"{updated} of {desired} replicas updated"
    elif total > updated or old:
        reason = f"{max(total - updated, len(old))} old replicas pending termination"
    done = not reason

    problems: list[str] = []
    if available < desired:
        problems.append(f"{available} of {desired} updated replicas available")
    if ready < desired:
        problems.append(f"{ready} of {desired} replicas ready")
    if 0 <= baseline_restarts < restarts:
        problems.append(f"restarts increased from {baseline_restarts} to {restarts}")
    healthy = done and not problems
    if done and problems:
        reason = "; ".join(problems)
    elif not done and 0 <= baseline_restarts < restarts:
        reason = f"{reason}; restarts increased from {baseline_restarts} to {restarts}"
    return RolloutCheck(resource=ref, done=done, healthy=healthy, reason=reason, restarts=restarts)
