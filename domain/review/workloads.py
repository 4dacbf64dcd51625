"""Where the parts of a workload sit in its manifest: replicas, pod spec, containers. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Kinds that keep a number of identical pods running.
REPLICATED = ("Deployment", "StatefulSet", "ReplicaSet")
# Kinds whose manifest holds a pod template at spec.template.
TEMPLATED = (*REPLICATED, "DaemonSet", "Job")


def dig(manifest: Mapping[str, Any] | None, *path: str) -> Any:
    """The value at `path`, or None where any step is missing or not a mapping."""
    value: Any = manifest
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def replicas(manifest: Mapping[str, Any] | None) -> int:
    """spec.replicas, defaulting as the API server does (1)."""
    value = dig(manifest, "spec", "replicas")
    return value if isinstance(value, int) else 1


def pod_spec_path(kind: str) -> tuple[str, ...] | None:
    if kind in TEMPLATED:
        return ("spec", "template", "spec")
    if kind == "CronJob":
        return ("spec", "jobTemplate", "spec", "template", "spec")
    if kind == "Pod":
        return ("spec",)
    return None


def pod_spec(manifest: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]] | None:
    """(dotted path, pod spec) of a manifest that runs pods, or None."""
    path = pod_spec_path(str(dig(manifest, "kind") or ""))
    spec = dig(manifest, *path) if path else None
    if path is None or not isinstance(spec, Mapping):
        return None
    return ".".join(path), dict(spec)


def containers(manifest: Mapping[str, Any] | None, *, init: bool = True) -> list[tuple[str, dict[str, Any]]]:
    """(dotted path, container) for every container of the pod spec, init containers too unless
    `init` is False."""
    found = pod_spec(manifest)
    if found is None:
        return []
    base, spec = found
    fields = ("initContainers", "containers") if init else ("containers",)
    out = []
    for field in fields:
        for item in spec.get(field) or []:
            if isinstance(item, Mapping):
                out.append((f"{base}.{field}[{item.get('name', '?')}]", dict(item)))
    return out


def by_name(items: list[tuple[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    return {path: item for path, item in items}
