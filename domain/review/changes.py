"""A change set as a reviewer reads it: per Kubernetes object, its manifest before and after, and
a unified diff of the two. Pure.

Nothing secret enters the model: a Secret's `data` and `stringData` keep their keys but lose their
values, and every other value goes through the redaction of `domain/redaction/` (an env var named
like a password or a token keeps its name, not its value) before it is stored, diffed or cited.
Fields the API server writes (`status`, `managedFields`, `resourceVersion`, ...) are dropped, so a
live object compares with a rendered one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

import yaml

from domain.base import Frozen
from domain.gitops.edit import unified_diff as file_diff
from domain.kube.server_fields import LAST_APPLIED, SERVER_METADATA
from domain.redaction.text import PLACEHOLDER_RE, placeholder, redact_json

SECRET_VALUE = placeholder("secret_data")
SECRET_CHANGED = placeholder("secret_data_changed")
# After a redacted value that differs from the one before it.
CHANGED = " (changed)"

# libyaml's emitter where it is built in: a review of fifty applications dumps thousands of objects.
_Dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

Change = Literal["added", "deleted", "modified", "unchanged"]


class ObjectRef(Frozen):
    api_version: str
    kind: str
    # empty for cluster-scoped objects
    namespace: str = ""
    name: str

    def label(self) -> str:
        """`Kind namespace/name`, or `Kind name` for a cluster-scoped object."""
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"


class ObjectChange(Frozen):
    ref: ObjectRef
    # the Argo CD Application that renders the object, when the caller knows it
    application: str | None = None
    # redacted manifests; None when the object is added (before) or deleted (after)
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    # unified diff of the two as YAML with sorted keys; empty when they are equal
    diff: str = ""

    @property
    def change(self) -> Change:
        if self.before is None:
            return "added"
        if self.after is None:
            return "deleted"
        return "modified" if self.before != self.after else "unchanged"


class ChangeSet(Frozen):
    # every object of the renderings compared, unchanged ones included
    objects: list[ObjectChange] = []

    def changed(self) -> list[ObjectChange]:
        """The objects added, deleted or modified, in order."""
        return [obj for obj in self.objects if obj.change != "unchanged"]


def ref_of(manifest: Mapping[str, Any]) -> ObjectRef:
    metadata = manifest.get("metadata") or {}
    return ObjectRef(
        api_version=str(manifest.get("apiVersion", "")),
        kind=str(manifest.get("kind", "")),
        namespace=str(metadata.get("namespace") or ""),
        name=str(metadata.get("name", "")),
    )


def sanitize(manifest: Mapping[str, Any], previous: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The manifest without server-written fields, Secret values or secret-looking values.

    With `previous` (the same Secret before the change), a value that differs from it becomes
    SECRET_CHANGED instead of SECRET_VALUE, so that a changed Secret shows as changed without
    showing anything of either value."""
    out = {key: value for key, value in manifest.items() if key != "status"}
    metadata = dict(out.get("metadata") or {})
    for key in SERVER_METADATA:
        metadata.pop(key, None)
    annotations = metadata.get("annotations")
    if isinstance(annotations, Mapping) and LAST_APPLIED in annotations:
        metadata["annotations"] = {**annotations, LAST_APPLIED: placeholder("last_applied_configuration")}
    if metadata:
        out["metadata"] = metadata
    if out.get("kind") == "Secret":
        for field in ("data", "stringData"):
            values = out.get(field)
            if isinstance(values, Mapping):
                was = dig_mapping(previous, field) if previous is not None else values
                out[field] = {
                    key: SECRET_VALUE if was.get(key) == value else SECRET_CHANGED
                    for key, value in values.items()
                }
    redacted: dict[str, Any] = redact_json(out)
    return redacted


def mark_redacted_changes(before: Any, after: Any, clean: Any) -> Any:
    """`clean` (the sanitized `after`) with each redacted value whose raw value differs from
    `before` marked CHANGED, so that a rotated token shows as a change, and its object as
    modified, without showing either value. List items with a `name` (env vars, containers,
    volumes) are matched by name, others by position."""
    if isinstance(clean, str):
        if (
            before is not None
            and before != after
            and PLACEHOLDER_RE.search(clean)
            and clean != SECRET_CHANGED
        ):
            return clean if clean.endswith(CHANGED) else clean + CHANGED
        return clean
    if isinstance(clean, dict) and isinstance(after, Mapping):
        was = before if isinstance(before, Mapping) else {}
        return {key: mark_redacted_changes(was.get(key), after.get(key), item) for key, item in clean.items()}
    if isinstance(clean, list) and isinstance(after, list) and len(after) == len(clean):
        olds = before if isinstance(before, list) else []
        named = {item["name"]: item for item in olds if isinstance(item, Mapping) and "name" in item}
        out = []
        for index, (raw, item) in enumerate(zip(after, clean, strict=True)):
            if isinstance(raw, Mapping) and "name" in raw:
                old = named.get(raw["name"])
            else:
                old = olds[index] if index < len(olds) else None
            out.append(mark_redacted_changes(old, raw, item))
        return out
    return clean


def dig_mapping(manifest: Mapping[str, Any], field: str) -> Mapping[str, Any]:
    value = manifest.get(field)
    return value if isinstance(value, Mapping) else {}


def to_yaml(manifest: Mapping[str, Any] | None) -> str | None:
    """The manifest as YAML with sorted keys; None for no manifest (an object that does not exist)."""
    if manifest is None:
        return None
    return yaml.dump(
        dict(manifest), Dumper=_Dumper, sort_keys=True, default_flow_style=False, allow_unicode=True
    )


def unified_diff(ref: ObjectRef, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> str:
    """The two sides as YAML, diffed as git diffs a file (`a/Kind/namespace/name`, `/dev/null` for
    an object added or deleted)."""
    label = ref.label().replace(" ", "/")
    return file_diff(label, to_yaml(before), to_yaml(after))


def object_change(
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    application: str | None = None,
) -> ObjectChange:
    """One object's change, redacted and diffed. At least one side must be given."""
    side = after if after is not None else before
    if side is None:
        raise ValueError("an object change needs a manifest before or after")
    clean_before = sanitize(before) if before is not None else None
    clean_after = sanitize(after, before) if after is not None else None
    if before is not None and clean_after is not None:
        clean_after = mark_redacted_changes(before, after, clean_after)
    ref = ref_of(side)
    return ObjectChange(
        ref=ref,
        application=application,
        before=clean_before,
        after=clean_after,
        diff=unified_diff(ref, clean_before, clean_after),
    )


def _key(manifest: Mapping[str, Any]) -> tuple[str, str, str, str]:
    ref = ref_of(manifest)
    # The group, not the version: apps/v1beta2 → apps/v1 is the same object.
    group = ref.api_version.rpartition("/")[0]
    return group, ref.kind, ref.namespace, ref.name


def change_set(
    before: Iterable[Mapping[str, Any]],
    after: Iterable[Mapping[str, Any]],
    application: str | None = None,
) -> ChangeSet:
    """Pairs two renderings of the same objects (one application's, or plain manifests) by
    (API group, kind, namespace, name). Objects equal on both sides stay in, unchanged: rules read
    them as context (the workload a new disruption budget selects, the registries in use)."""
    old = {_key(m): m for m in before if m}
    new = {_key(m): m for m in after if m}
    return ChangeSet(
        objects=[object_change(old.get(k), new.get(k), application) for k in sorted(old.keys() | new.keys())]
    )
