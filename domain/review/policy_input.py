"""The document the review policy (policies/review.rego) is asked about. Pure.

One entry per changed object: what it is, which Application renders it, how it changes and, for
a workload, its replicas and containers before and after (images with their registry and
repository, CPU and memory requests in base units: cores and bytes) and the pod-level host flags.
Beside them, the review's findings (each citing its object as `Kind/namespace/name`, the label
its diff carries), the cost (`monthly_delta_usd` and its basis) and the namespaces the change
touches. The policy decides only from this and its data; it never sees a diff, and the manifests
it reads from are already redacted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.kube.images import split_image
from domain.kube.quantity import QuantityError, parse_quantity
from domain.review.changes import ObjectChange, ObjectRef
from domain.review.review import Review
from domain.review.workloads import REPLICATED, containers, dig, pod_spec, pod_spec_path, replicas

# Pod-level flags that share the node's namespaces, after the change.
_HOST_FLAGS = {"hostNetwork": "host_network", "hostPID": "host_pid", "hostIPC": "host_ipc"}


def object_ref(ref: ObjectRef) -> str:
    """`Kind/namespace/name`, or `Kind/name` for a cluster-scoped object (as its diff is labelled)."""
    return ref.label().replace(" ", "/")


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(parse_quantity(value))
    except QuantityError:
        return None


def _requests(container: Mapping[str, Any] | None) -> dict[str, float | None]:
    if container is None:
        return {"cpu": None, "memory": None}
    # Kubernetes defaults a missing request to the limit (as the cost estimate counts it).
    limits = dig(container, "resources", "limits") or {}
    requests = dig(container, "resources", "requests") or {}
    merged = {**limits, **requests}
    return {"cpu": _number(merged.get("cpu")), "memory": _number(merged.get("memory"))}


def _image(container: Mapping[str, Any] | None) -> str | None:
    image = container.get("image") if container is not None else None
    return image if isinstance(image, str) and image else None


def _container_input(
    path: str, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> dict[str, Any]:
    side = after if after is not None else before or {}
    image_before, image_after = _image(before), _image(after)
    image = split_image(image_after or image_before or "")
    old, new = _requests(before), _requests(after)
    return {
        "name": str(side.get("name", "?")),
        # the container's field, as findings cite it: spec.template.spec.containers[app]
        "path": path,
        "init": ".initContainers[" in path,
        "image": {"before": image_before, "after": image_after},
        # of the image after the change (before it, for a container the change removes)
        "registry": image.registry if image.repository else "",
        "repository": image.repository,
        "requests": {name: {"before": old[name], "after": new[name]} for name in ("cpu", "memory")},
        "privileged": dig(after, "securityContext", "privileged") is True,
    }


def _workload_input(change: ObjectChange) -> dict[str, Any] | None:
    side = change.after if change.after is not None else change.before
    if pod_spec_path(change.ref.kind) is None or side is None:
        return None
    old = dict(containers(change.before))
    new = dict(containers(change.after))
    found = pod_spec(change.after)
    spec = found[1] if found is not None else {}
    # None where the object does not exist, and for kinds that keep no number of pods
    counted = change.ref.kind in REPLICATED
    return {
        "replicas": {
            "before": replicas(change.before) if counted and change.before is not None else None,
            "after": replicas(change.after) if counted and change.after is not None else None,
        },
        "containers": [
            _container_input(path, old.get(path), new.get(path))
            for path in [*old, *(p for p in new if p not in old)]
        ],
        **{flag: spec.get(field) is True for field, flag in _HOST_FLAGS.items()},
    }


def _object_input(change: ObjectChange) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "ref": object_ref(change.ref),
        "api_version": change.ref.api_version,
        "kind": change.ref.kind,
        "namespace": change.ref.namespace,
        "name": change.ref.name,
        "application": change.application,
        "change": change.change,
    }
    workload = _workload_input(change)
    if workload is not None:
        entry["workload"] = workload
    return entry


def touched_namespaces(review: Review) -> list[str]:
    """The namespaces the change touches: of its namespaced objects, and the Namespace objects it
    changes themselves."""
    names = set()
    for change in review.changes.changed():
        if change.ref.namespace:
            names.add(change.ref.namespace)
        elif change.ref.kind == "Namespace" and change.ref.name:
            names.add(change.ref.name)
    return sorted(names)


def review_policy_input(review: Review) -> dict[str, Any]:
    """The review policy's input (see policies/review.rego). JSON-serialisable; the same review
    always gives the same document."""
    return {
        "objects": [_object_input(change) for change in review.changes.changed()],
        "findings": [
            {
                "category": f.category,
                "severity": f.severity,
                "object": object_ref(f.object),
                "field": f.field,
                "message": f.message,
            }
            for f in review.findings
        ],
        "cost": {"monthly_delta_usd": review.cost.monthly_delta_usd, "basis": review.cost.basis},
        "namespaces": touched_namespaces(review),
    }
