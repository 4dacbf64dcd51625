"""The drift comparison: is the live object still what Git declares? Pure functions, no I/O.

`resource_drift` compares one desired object (what Argo CD rendered from Git, or a plain manifest)
with the live one, after `normalise` removed what the API server adds on its own. The comparison
is "desired ⊆ live": only the fields the desired object sets are looked at, so defaults the server
fills in (`strategy`, `terminationMessagePath`, `clusterIP`, ...) never count as drift. What the
caller can rely on:

- Lists of named things are matched by their merge key, not by position: containers, init and
  ephemeral containers, volumes, env and imagePullSecrets by `name`; ports by `name` (else
  `containerPort` / `port` with the protocol); volumeMounts by `mountPath`; volumeDevices by
  `devicePath`; hostAliases by `ip`. A live item the desired list does not name is drift too (a
  container or env var added by hand), reported once at the list as the two lists' keys.
  `finalizers` only need to be present (controllers add their own). Other lists are positional:
  lists of scalars (`args`, `command`) are compared whole, lists of objects (`tolerations`) item
  by item, with their lengths.
- Quantities are compared as numbers where Kubernetes reads quantities (under `resources`,
  `sizeLimit`, a PersistentVolume's `capacity`, a ResourceQuota's `hard`, a LimitRange's
  `limits`): `1Gi` equals `1024Mi`, `0.5` equals `500m`, `1` equals `"1"`. Anywhere else a number
  and a numeric string differ, as they do for Kubernetes (`targetPort: 8080` is not `"8080"`).
- A desired empty value (`""`, `false`, `0`, `[]`, `{}`) the live object leaves out is not drift:
  the API server omits empty fields when it serialises.
- A Secret's `data` and `stringData` are never looked at, on either side: secrets are never read.
- Field paths are JSON pointers (RFC 6901) into the desired object (`/spec/replicas`,
  `/metadata/annotations/example.com~1owner`, `/spec/template/spec/containers/0/image` with the
  index of the desired list; an item only the live positional list has, at its live index). Values
  shown are redacted and shortened: no secret and no large blob reaches a workflow history or the
  store.
- Output is deterministic: mapping keys in sorted order, list items in the desired order,
  resources sorted by group, kind, namespace, name.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from fnmatch import fnmatchcase
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from domain.drift.model import AppDrift, DriftConfig, FieldDrift, IgnoreDifference, ResourceDrift
from domain.kube.quantity import QuantityError, parse_quantity
from domain.kube.server_fields import LAST_APPLIED, SERVER_METADATA
from domain.redaction.text import redact_json

__all__ = [
    "application_drift",
    "application_ignores",
    "drift_config_from_yaml",
    "json_pointer",
    "manifest_objects",
    "normalise",
    "resource_drift",
]

MAX_STRING = 200
MAX_JSON = 500

_SERVER_ANNOTATIONS = (LAST_APPLIED, "deployment.kubernetes.io/revision")
_SECRET_FIELDS = ("data", "stringData")

_BY_NAME = ("containers", "initContainers", "ephemeralContainers", "volumes", "env", "imagePullSecrets")
_QUANTITY_PARENTS = ("resources", "capacity")


class _Absent:
    """A field the live object does not have (None is a value a live object can hold)."""

    def __repr__(self) -> str:
        return "<absent>"


_ABSENT = _Absent()


# --- the configuration ---------------------------------------------------------------------------


def _yaml() -> YAML:
    # YAML 1.2, safe: `yes`/`no` stay strings, no arbitrary objects.
    return YAML(typ="safe", pure=True)


def drift_config_from_yaml(text: str) -> DriftConfig:
    """The drift configuration in YAML (see `DriftConfig`); empty text is the default configuration.

    Raises ValueError naming the problem: YAML that does not parse, a top level that is not a
    mapping, or fields the configuration does not accept (with where they are).
    """
    if not text.strip():
        return DriftConfig()
    try:
        data = _yaml().load(text)
    except YAMLError as exc:
        raise ValueError(f"the drift configuration is not valid YAML: {exc}") from exc
    if data is None:
        return DriftConfig()
    if not isinstance(data, dict):
        raise ValueError(f"the drift configuration must be a YAML mapping, not a {type(data).__name__}")
    try:
        return DriftConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<top>'}: {err['msg']}" for err in exc.errors()
        )
        raise ValueError(f"the drift configuration is invalid: {problems}") from exc


def _jsonable(value: Any) -> Any:
    """YAML's extra scalar types as Kubernetes would read them (timestamps become strings)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def manifest_objects(text: str) -> list[dict[str, Any]]:
    """The Kubernetes objects of a (multi-document) YAML manifest file: every document that has
    `apiVersion`, `kind` and `metadata.name`, the items of a `List` expanded. Other documents
    (empty ones, kustomization files, values files) are left out. Raises ValueError on YAML that
    does not parse."""
    try:
        documents = list(_yaml().load_all(text))
    except YAMLError as exc:
        raise ValueError(f"not valid YAML: {exc}") from exc
    objects: list[dict[str, Any]] = []

    def add(doc: Any) -> None:
        if not isinstance(doc, dict):
            return
        if doc.get("kind") == "List" and isinstance(doc.get("items"), list):
            for item in doc["items"]:
                add(item)
            return
        meta = doc.get("metadata")
        if doc.get("apiVersion") and doc.get("kind") and isinstance(meta, dict) and meta.get("name"):
            objects.append(_jsonable(doc))

    for document in documents:
        add(document)
    return objects


# --- normalising ---------------------------------------------------------------------------------


def _without_nulls(value: Any) -> Any:
    # A null in a manifest sets nothing (`creationTimestamp: null` in rendered output).
    if isinstance(value, Mapping):
        return {str(k): _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_without_nulls(v) for v in value]
    return copy.deepcopy(value)


def normalise(obj: Mapping[str, Any], *, kind: str) -> dict[str, Any]:
    """The object without what the API server and controllers add on their own: `status`, nulls,
    the server's metadata (managedFields, resourceVersion, uid, generation, creationTimestamp,
    selfLink, ownerReferences, deletion marks) and the annotations kubectl and the Deployment
    controller write. A Secret also loses `data` and `stringData`, unread. The input is unchanged.

    Argo CD's tracking-id annotation is kept: Git's rendered object carries it too, and the subset
    comparison only looks at it when the desired object has it.
    """
    out: dict[str, Any] = _without_nulls(obj)
    out.pop("status", None)
    if kind == "Secret":
        for name in _SECRET_FIELDS:
            out.pop(name, None)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        for name in SERVER_METADATA:
            meta.pop(name, None)
        annotations = meta.get("annotations")
        if isinstance(annotations, dict):
            for name in _SERVER_ANNOTATIONS:
                annotations.pop(name, None)
            if not annotations:
                del meta["annotations"]
    return out


# --- paths and ignore rules ----------------------------------------------------------------------


def json_pointer(tokens: Sequence[str]) -> str:
    """RFC 6901: `~` is written `~0` and `/` is written `~1` in each token."""
    return "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens)


def _glob_covers(glob: str, dotted: str) -> bool:
    # A glob names a field and everything under it.
    return fnmatchcase(dotted, glob) or fnmatchcase(dotted, glob + ".*")


def _matches(rule: IgnoreDifference, group: str, kind: str, namespace: str, name: str) -> bool:
    return (
        (rule.group is None or fnmatchcase(group, rule.group))
        and fnmatchcase(kind, rule.kind or "*")
        and fnmatchcase(name, rule.name or "*")
        and fnmatchcase(namespace, rule.namespace or "*")
    )


@dataclass(frozen=True)
class _Ignored:
    kind: str
    pointers: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()  # dotted globs without the kind
    kinded: tuple[str, ...] = ()  # dotted globs over `<Kind>.<path>`

    def covers(self, tokens: Sequence[str]) -> bool:
        if not tokens:
            return False
        pointer = json_pointer(tokens)
        if any(pointer == p or pointer.startswith(p + "/") for p in self.pointers):
            return True
        dotted = ".".join(tokens)
        return any(_glob_covers(g, dotted) for g in self.paths) or any(
            _glob_covers(g, f"{self.kind}.{dotted}") for g in self.kinded
        )


def _ignored(
    rules: Sequence[IgnoreDifference],
    ignore_paths: Sequence[str],
    group: str,
    kind: str,
    namespace: str,
    name: str,
) -> _Ignored:
    matching = [r for r in rules if _matches(r, group, kind, namespace, name)]
    return _Ignored(
        kind=kind,
        pointers=tuple(p.rstrip("/") for r in matching for p in r.json_pointers if p.rstrip("/")),
        paths=tuple(p for r in matching for p in r.paths),
        kinded=tuple(ignore_paths),
    )


# --- showing values ------------------------------------------------------------------------------


def _shorten(value: Any) -> Any:
    if isinstance(value, str):
        return value if len(value) <= MAX_STRING else value[:MAX_STRING] + "…"
    if isinstance(value, dict | list):
        short: Any = (
            {k: _shorten(v) for k, v in value.items()}
            if isinstance(value, dict)
            else [_shorten(v) for v in value]
        )
        size = len(json.dumps(short, sort_keys=True, default=str))
        if size > MAX_JSON:
            what = (
                f"object with {len(value)} keys" if isinstance(value, dict) else f"list of {len(value)} items"
            )
            return f"<{what}, {size} characters of JSON>"
        return short
    return value


def _shown(value: Any, key: str, parent: Mapping[str, Any] | None) -> Any:
    """A value as a FieldDrift shows it: redacted in the light of its key (and of an env pair's
    name), then shortened."""
    if value is _ABSENT:
        return None
    context: dict[str, Any] = {}
    if parent is not None and key == "value" and isinstance(parent.get("name"), str):
        context["name"] = parent["name"]
    context[key] = value
    # The value is the last entry whatever redaction made of its key.
    return _shorten(list(redact_json(context).values())[-1])


# --- comparing -----------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _quantity_field(tokens: Sequence[str], kind: str) -> bool:
    if any(t in _QUANTITY_PARENTS for t in tokens[:-1]) or (tokens and tokens[-1] == "sizeLimit"):
        return True
    if kind == "ResourceQuota" and "hard" in tokens:
        return True
    return kind == "LimitRange" and "limits" in tokens


def _same_scalar(desired: Any, live: Any, tokens: Sequence[str], kind: str) -> bool:
    if isinstance(desired, bool) or isinstance(live, bool):
        return isinstance(desired, bool) and isinstance(live, bool) and desired == live
    if _is_number(desired) and _is_number(live):
        return bool(desired == live)
    if type(desired) is type(live) and desired == live:
        return True
    quantities = (str, int, float)
    if isinstance(desired, quantities) and isinstance(live, quantities) and _quantity_field(tokens, kind):
        try:
            return parse_quantity(desired) == parse_quantity(live)
        except QuantityError:
            return False
    return False


def _is_empty(value: Any) -> bool:
    if isinstance(value, bool):
        return value is False
    if _is_number(value):
        return bool(value == 0)
    return value == "" or value == [] or value == {}


def _port_key(item: Mapping[str, Any]) -> Hashable | None:
    if item.get("name"):
        return ("name", str(item["name"]))
    protocol = str(item.get("protocol") or "TCP")
    for number in ("containerPort", "port"):
        if item.get(number) is not None:
            return (number, str(item[number]), protocol)
    return None


def _key_function(field_name: str) -> Callable[[Mapping[str, Any]], Hashable | None] | None:
    if field_name in _BY_NAME:
        return lambda item: ("name", str(item["name"])) if item.get("name") is not None else None
    if field_name == "ports":
        return _port_key
    single = {"volumeMounts": "mountPath", "volumeDevices": "devicePath", "hostAliases": "ip"}.get(field_name)
    if single is not None:
        return lambda item: (single, str(item[single])) if item.get(single) is not None else None
    return None


def _keyed(
    items: list[Any], key: Callable[[Mapping[str, Any]], Hashable | None]
) -> dict[Hashable, int] | None:
    """Each item's key → its index; None when an item is not an object, has no key, or a key repeats
    (then the list is compared by position)."""
    found: dict[Hashable, int] = {}
    for index, item in enumerate(items):
        k = key(item) if isinstance(item, Mapping) else None
        if k is None or k in found:
            return None
        found[k] = index
    return found


def _label(k: Hashable) -> str:
    return str(k[1]) if isinstance(k, tuple) and len(k) > 1 else str(k)


@dataclass
class _Walk:
    kind: str
    ignored: _Ignored
    fields: list[FieldDrift] = field(default_factory=list)

    def drift(
        self, tokens: list[str], desired: Any, live: Any, parent: Mapping[str, Any] | None = None
    ) -> None:
        key = tokens[-1] if tokens else ""
        self.fields.append(
            FieldDrift(
                path=json_pointer(tokens),
                desired=_shown(desired, key, parent),
                live=_shown(live, key, parent),
            )
        )

    def compare(self, desired: Any, live: Any, tokens: list[str], parent: Mapping[str, Any] | None) -> None:
        if self.ignored.covers(tokens):
            return
        if live is _ABSENT and _is_empty(desired):
            return
        if isinstance(desired, Mapping):
            if live is _ABSENT:
                for k in sorted(desired):
                    self.compare(desired[k], _ABSENT, [*tokens, k], desired)
            elif isinstance(live, Mapping):
                for k in sorted(desired):
                    self.compare(desired[k], live.get(k, _ABSENT), [*tokens, k], desired)
            else:
                self.drift(tokens, desired, live, parent)
            return
        if isinstance(desired, list):
            if isinstance(live, list):
                self.compare_lists(desired, live, tokens)
            else:
                self.drift(tokens, desired, live, parent)
            return
        if live is _ABSENT or not _same_scalar(desired, live, tokens, self.kind):
            self.drift(tokens, desired, live, parent)

    def compare_lists(self, desired: list[Any], live: list[Any], tokens: list[str]) -> None:
        name = tokens[-1] if tokens else ""
        if name == "finalizers":
            # Controllers add finalizers of their own; the declared ones must be there.
            if any(f not in live for f in desired):
                self.drift(tokens, desired, live)
            return
        key = _key_function(name)
        if key is not None:
            desired_keys = _keyed(desired, key)
            live_keys = _keyed(live, key)
            if desired_keys is not None and live_keys is not None:
                for k, index in desired_keys.items():
                    item_tokens = [*tokens, str(index)]
                    if k in live_keys:
                        self.compare(desired[index], live[live_keys[k]], item_tokens, None)
                    elif not self.ignored.covers(item_tokens):
                        self.drift(item_tokens, desired[index], _ABSENT)
                if live_keys.keys() - desired_keys.keys():
                    self.drift(tokens, [_label(k) for k in desired_keys], [_label(k) for k in live_keys])
                return
        if all(not isinstance(v, Mapping | list) for v in [*desired, *live]):
            same = len(desired) == len(live) and all(
                _same_scalar(d, v, [*tokens, str(i)], self.kind)
                for i, (d, v) in enumerate(zip(desired, live, strict=True))
            )
            if not same:
                self.drift(tokens, desired, live)
            return
        for index, item in enumerate(desired):
            self.compare(item, live[index] if index < len(live) else _ABSENT, [*tokens, str(index)], None)
        for index in range(len(desired), len(live)):
            item_tokens = [*tokens, str(index)]
            if not self.ignored.covers(item_tokens):
                self.drift(item_tokens, _ABSENT, live[index])


def resource_drift(
    desired: Mapping[str, Any],
    live: Mapping[str, Any] | None,
    *,
    group: str,
    kind: str,
    namespace: str,
    name: str,
    config: DriftConfig,
    extra_ignores: Sequence[IgnoreDifference] = (),
) -> ResourceDrift | None:
    """How the live object differs from the desired one (see the module docstring), or None when it
    does not. `live` None: the cluster does not have the object (`live_missing`).

    `config.ignore_differences` (and `extra_ignores`, e.g. the Application's own) whose
    group/kind/namespace/name globs match leave out the fields at their JSON pointers and dotted
    paths and everything under them; `config.ignore_paths` globs over `<Kind>.<dotted path>` do the
    same for every resource.
    """
    if live is None:
        return ResourceDrift(group=group, kind=kind, namespace=namespace, name=name, live_missing=True)
    ignored = _ignored(
        [*config.ignore_differences, *extra_ignores], config.ignore_paths, group, kind, namespace, name
    )
    walk = _Walk(kind=kind, ignored=ignored)
    want, have = normalise(desired, kind=kind), normalise(live, kind=kind)
    # apiVersion may differ (the API serves the object at the version asked for); kind is the key.
    want.pop("apiVersion", None)
    walk.compare(want, have, [], None)
    if not walk.fields:
        return None
    return ResourceDrift(group=group, kind=kind, namespace=namespace, name=name, fields=walk.fields)


# --- an Argo CD Application ----------------------------------------------------------------------


def _state(raw: Any, what: str) -> dict[str, Any] | None:
    """A managed resource's `targetState` / `liveState`: a JSON string ("null" or "" for none)."""
    if raw is None:
        return None
    if isinstance(raw, Mapping):
        return dict(raw)
    if not isinstance(raw, str):
        raise ValueError(f"{what} is neither JSON text nor an object")
    if raw.strip() in ("", "null"):
        return None
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"{what} is not JSON: {exc}") from exc
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError(f"{what} is JSON but not an object")
    return value


def application_ignores(app: Mapping[str, Any]) -> list[IgnoreDifference]:
    """The Application's own `spec.ignoreDifferences` that name JSON pointers (jq expressions and
    managed-fields managers are Argo CD's to evaluate). Argo CD reads a missing group as the core
    group, not as any group."""
    rules: list[IgnoreDifference] = []
    for entry in (app.get("spec") or {}).get("ignoreDifferences") or []:
        if not isinstance(entry, Mapping):
            continue
        pointers = [str(p) for p in entry.get("jsonPointers") or [] if str(p).startswith("/")]
        if not pointers:
            continue
        rules.append(
            IgnoreDifference(
                group=str(entry.get("group") or ""),
                kind=str(entry.get("kind") or "*"),
                name=str(entry.get("name") or "*"),
                namespace=str(entry.get("namespace") or "*"),
                json_pointers=pointers,
            )
        )
    return rules


def application_drift(
    app: Mapping[str, Any], managed: Sequence[Mapping[str, Any]], config: DriftConfig
) -> AppDrift:
    """An Argo CD Application's drift from its managed resources (the `items` of
    GET /api/v1/applications/{name}/managed-resources): each resource's `targetState` (what Argo CD
    rendered from Git) compared with its `liveState` by `resource_drift`, with the configuration's
    and the Application's own ignore rules. Only drifted resources are kept, sorted.

    Left out, and not counted in `resources_scanned`: hooks (`hook: true`; they run and go, their
    live state is not meant to match), and resources with no target state — live objects Git no
    longer declares. Those have no desired field to compare; whether to delete them is Argo CD's
    prune, which medic never does, so reporting them would start remediations that cannot act.

    Disposition and reason keep their defaults: the drift policy sets them. Raises ValueError when
    a state is not JSON.
    """
    meta, spec, status = app.get("metadata") or {}, app.get("spec") or {}, app.get("status") or {}
    sync = status.get("sync") or {}
    revisions = [str(r) for r in sync.get("revisions") or [] if r]
    own_ignores = application_ignores(app)
    drifted: list[ResourceDrift] = []
    scanned = 0
    for item in managed:
        if item.get("hook"):
            continue
        group, kind = str(item.get("group") or ""), str(item.get("kind") or "")
        namespace, name = str(item.get("namespace") or ""), str(item.get("name") or "")
        where = f"{kind} {namespace}/{name}".replace(" /", " ")
        target = _state(item.get("targetState"), f"the target state of {where}")
        if target is None:
            continue
        scanned += 1
        live = _state(item.get("liveState"), f"the live state of {where}")
        found = resource_drift(
            target,
            live,
            group=group,
            kind=kind,
            namespace=namespace,
            name=name,
            config=config,
            extra_ignores=own_ignores,
        )
        if found is not None:
            drifted.append(found)
    drifted.sort(key=lambda r: (r.group, r.kind, r.namespace, r.name))
    return AppDrift(
        application=str(meta.get("name") or ""),
        app_namespace=str(meta.get("namespace") or "argocd"),
        project=str(spec.get("project") or ""),
        destination_namespace=str((spec.get("destination") or {}).get("namespace") or ""),
        sync_status=str(sync.get("status") or ""),
        health_status=str((status.get("health") or {}).get("status") or ""),
        revision=str(sync.get("revision") or (revisions[0] if revisions else "")),
        resources=drifted,
        resources_scanned=scanned,
    )
