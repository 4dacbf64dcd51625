"""Which workloads a deploy changed, from the Application's rendered manifests before and after. Pure.

A Deployment, StatefulSet or DaemonSet is changed when its rendered object differs (any field, or
it is new), or when it references by name a ConfigMap or Secret whose rendered object differs —
through `envFrom`, an env var's `valueFrom`, or a `configMap` / `secret` / projected volume.
Objects pair by (API group, kind, namespace, name), as the change review pairs them
(`domain.review.changes.ref_of`); a manifest without a namespace is in the Application's
destination namespace.

Every object is compared by a digest of its JSON (keys sorted, fields the API server writes
dropped), never by its content: Argo CD's manifests API sends Secrets with their values, and
nothing here keeps them — only which objects changed, by name.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from domain.base import Frozen
from domain.deploy.model import WorkloadRef
from domain.kube.server_fields import SERVER_METADATA
from domain.review.applications import application_sources
from domain.review.changes import ref_of
from domain.review.workloads import containers, pod_spec

__all__ = ["WATCHED_KINDS", "ChangedWorkload", "DeployChanges", "deploy_changes", "rendering_at"]

WATCHED_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet"})
_CONFIG_KINDS = frozenset({"ConfigMap", "Secret"})

# (API group, kind, namespace, name)
Key = tuple[str, str, str, str]


class ChangedWorkload(Frozen):
    """A workload the deploy changed, and why, in words: "its manifest changed", "it is new",
    "it mounts ConfigMap shop/cart-config, which changed"."""

    workload: WorkloadRef
    reasons: list[str]


class DeployChanges(Frozen):
    """The workloads a deploy changed (sorted by namespace, kind, name), and every other object it
    changed (`Kind namespace/name` labels: a Service, a ConfigMap no workload references...)."""

    workloads: list[ChangedWorkload] = []
    others: list[str] = []

    @property
    def refs(self) -> list[WorkloadRef]:
        return [w.workload for w in self.workloads]


def _key(manifest: Mapping[str, Any], namespace: str) -> Key:
    ref = ref_of(manifest)
    # The group, not the version: apps/v1beta2 → apps/v1 is the same object.
    return ref.api_version.rpartition("/")[0], ref.kind, ref.namespace or namespace, ref.name


def digest(manifest: Mapping[str, Any]) -> str:
    """A digest of the object as rendered, without `status` and the metadata the server writes."""
    out = {k: v for k, v in manifest.items() if k != "status"}
    metadata = out.get("metadata")
    if isinstance(metadata, Mapping):
        out["metadata"] = {k: v for k, v in metadata.items() if k not in SERVER_METADATA}
    text = json.dumps(out, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _digests(manifests: Iterable[Mapping[str, Any]], namespace: str) -> dict[Key, str]:
    return {_key(m, namespace): digest(m) for m in manifests if m and m.get("kind")}


def _name(value: Any, field: str) -> str | None:
    if isinstance(value, Mapping) and value.get(field):
        return str(value[field])
    return None


def _volume_references(volume: Mapping[str, Any]) -> set[tuple[str, str]]:
    found = set()
    if (name := _name(volume.get("configMap"), "name")) is not None:
        found.add(("ConfigMap", name))
    if (name := _name(volume.get("secret"), "secretName")) is not None:
        found.add(("Secret", name))
    projected = volume.get("projected")
    for source in (projected.get("sources") or []) if isinstance(projected, Mapping) else []:
        if not isinstance(source, Mapping):
            continue
        if (name := _name(source.get("configMap"), "name")) is not None:
            found.add(("ConfigMap", name))
        if (name := _name(source.get("secret"), "name")) is not None:
            found.add(("Secret", name))
    return found


def references(manifest: Mapping[str, Any]) -> set[tuple[str, str]]:
    """(kind, name) of every ConfigMap and Secret the workload's pods reference by name."""
    found: set[tuple[str, str]] = set()
    spec = pod_spec(manifest)
    if spec is None:
        return found
    for volume in spec[1].get("volumes") or []:
        if isinstance(volume, Mapping):
            found |= _volume_references(volume)
    for _path, container in containers(manifest):
        for source in container.get("envFrom") or []:
            if not isinstance(source, Mapping):
                continue
            if (name := _name(source.get("configMapRef"), "name")) is not None:
                found.add(("ConfigMap", name))
            if (name := _name(source.get("secretRef"), "name")) is not None:
                found.add(("Secret", name))
        for env in container.get("env") or []:
            origin = env.get("valueFrom") if isinstance(env, Mapping) else None
            if not isinstance(origin, Mapping):
                continue
            if (name := _name(origin.get("configMapKeyRef"), "name")) is not None:
                found.add(("ConfigMap", name))
            if (name := _name(origin.get("secretKeyRef"), "name")) is not None:
                found.add(("Secret", name))
    return found


def _label(key: Key) -> str:
    _group, kind, namespace, name = key
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


def deploy_changes(
    before: Iterable[Mapping[str, Any]], after: Iterable[Mapping[str, Any]], *, namespace: str = ""
) -> DeployChanges:
    """The workloads of `after` that differ from `before` (or are new there), or that reference a
    ConfigMap or Secret that differs (or is new, or is gone); `namespace` is the Application's
    destination namespace, for manifests that name none. Workloads only in `before` are gone: there
    is nothing left to watch."""
    after = [m for m in after if m and m.get("kind")]
    old, new = _digests(before, namespace), _digests(after, namespace)
    changed = {key for key in old.keys() | new.keys() if old.get(key) != new.get(key)}
    configs = {(kind, ns, name) for _g, kind, ns, name in changed if kind in _CONFIG_KINDS}
    used: set[Key] = set()
    workloads = []
    for manifest in after:
        key = _key(manifest, namespace)
        _group, kind, ns, name = key
        if kind not in WATCHED_KINDS:
            continue
        reasons = []
        if key in changed:
            reasons.append("it is new" if key not in old else "its manifest changed")
        for ref_kind, ref_name in sorted(references(manifest)):
            if (ref_kind, ns, ref_name) in configs:
                used |= {k for k in changed if k[1:] == (ref_kind, ns, ref_name)}
                reasons.append(f"it references {ref_kind} {ns}/{ref_name}, which changed")
        if reasons:
            workloads.append(
                ChangedWorkload(workload=WorkloadRef(namespace=ns, kind=kind, name=name), reasons=reasons)
            )
    workloads.sort(key=lambda w: (w.workload.namespace, w.workload.kind, w.workload.name))
    watched = {(w.workload.kind, w.workload.namespace, w.workload.name) for w in workloads}
    others = sorted(_label(k) for k in changed if k not in used and (k[1], k[2], k[3]) not in watched)
    return DeployChanges(workloads=workloads, others=others)


def rendering_at(app: Mapping[str, Any], revision: str) -> dict[str, Any] | str:
    """How to ask Argo CD's manifests API for `app` rendered at the deploy's `revision`: the
    `revision` (single source) or the `revisions` and 1-based `source_positions` of its Git
    sources (multi-source, as the change review renders one: a Helm chart source keeps its
    version). A string says why it cannot be asked: a multi-source Application whose Git sources
    are in more than one repository (which of them the revision belongs to is unknown)."""
    spec = app.get("spec")
    if not (isinstance(spec, Mapping) and spec.get("sources")):
        return {"revision": revision}
    sources = application_sources(app)
    git = [(i, s) for i, s in enumerate(sources, start=1) if not s.get("chart")]
    repositories = {str(s.get("repoURL") or "").rstrip("/").removesuffix(".git") for _i, s in git}
    if len(repositories) != 1:
        return f"its sources are in {len(repositories)} Git repositories, the revision's is unknown"
    positions = tuple(i for i, _s in git)
    return {"revisions": (revision,) * len(positions), "source_positions": positions}
