"""An in-memory Kubernetes cluster seeded from a scenario, with a deterministic rollout simulation.

It holds objects the way the API server returns them and applies writes with the API server's
rules that medic relies on: resourceVersion on every write, metadata.generation on spec changes,
strategic-merge and JSON merge patches, PUT with an optimistic-concurrency check, dryRun=All.

After a Deployment's spec changes, the deployment controller is simulated: the next read (or the
Nth, see `rollout_reads`) finds the rollout finished — a ReplicaSet for the new pod template whose
pods replaced the old ones. Whether those pods are healthy is decided by the scenario's
`heals_when`: met → Running and Ready; not met → CrashLoopBackOff with a restart count that grows
on every read. A spec equal to the seed's brings back the seed's ReplicaSets and pods as they were,
so a restored snapshot returns the cluster to the incident's (unhealthy but stable) state.

No clocks and no threads: time advances one step per read request.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from collections.abc import ItemsView, Iterator, ValuesView
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from domain.kube.quantity import QuantityError, parse_quantity
from sandbox.scenario import HealCondition, Scenario, load_scenario

PatchType = Literal["strategic", "merge"]

REVISION = "deployment.kubernetes.io/revision"
TEMPLATE_HASH = "pod-template-hash"
# A fixed instant for timestamps the simulation writes: the sandbox never reads a clock.
SIM_TIME = "2026-11-23T19:00:00Z"

# plural -> (apiVersion, kind, namespaced)
RESOURCES: dict[str, tuple[str, str, bool]] = {
    "pods": ("v1", "Pod", True),
    "events": ("v1", "Event", True),
    "configmaps": ("v1", "ConfigMap", True),
    "services": ("v1", "Service", True),
    "namespaces": ("v1", "Namespace", False),
    "nodes": ("v1", "Node", False),
    "deployments": ("apps/v1", "Deployment", True),
    "replicasets": ("apps/v1", "ReplicaSet", True),
    "statefulsets": ("apps/v1", "StatefulSet", True),
    "daemonsets": ("apps/v1", "DaemonSet", True),
    "persistentvolumeclaims": ("v1", "PersistentVolumeClaim", True),
    "persistentvolumes": ("v1", "PersistentVolume", False),
    "storageclasses": ("storage.k8s.io/v1", "StorageClass", False),
    "jobs": ("batch/v1", "Job", True),
    "cronjobs": ("batch/v1", "CronJob", True),
}
_KIND_TO_PLURAL = {(api, kind): plural for plural, (api, kind, _) in RESOURCES.items()}
_SPEC_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"}

# Lists that strategic merge patch merges element-wise, and the key that identifies an element.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "conditions": "type",
}
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


class ApiError(Exception):
    """A refusal the API server would send as a `Status` object."""

    REASONS = {
        400: "BadRequest",
        404: "NotFound",
        405: "MethodNotAllowed",
        409: "Conflict",
        415: "UnsupportedMediaType",
        422: "Invalid",
        500: "InternalError",
    }

    def __init__(self, code: int, message: str, *, reason: str = "", details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or self.REASONS.get(code, "Unknown")
        self.details = details or {}

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def _group_resource(api_version: str, kind: str) -> str:
    group = api_version.split("/")[0] if "/" in api_version else ""
    plural = _KIND_TO_PLURAL.get((api_version, kind), kind.lower() + "s")
    return f"{plural}.{group}" if group else plural


def not_found(api_version: str, kind: str, name: str) -> ApiError:
    group = api_version.split("/")[0] if "/" in api_version else ""
    return ApiError(
        404,
        f'{_group_resource(api_version, kind)} "{name}" not found',
        details={"name": name, "group": group, "kind": plural_of(api_version, kind)},
    )


def plural_of(api_version: str, kind: str) -> str:
    """The plural resource name of a kind (`Deployment` → `deployments`)."""
    return _KIND_TO_PLURAL.get((api_version, kind), kind.lower() + "s")


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _short_hash(text: str, length: int) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    return "".join(_SAFE_ALPHABET[b % len(_SAFE_ALPHABET)] for b in digest[:length])


# --- patches -------------------------------------------------------------------------------------


def _without_directives(value: Any) -> Any:
    """A fresh value from a patch: directives and nulls dropped (nothing to merge into)."""
    if isinstance(value, dict):
        return {
            k: _without_directives(v) for k, v in value.items() if not k.startswith("$") and v is not None
        }
    if isinstance(value, list):
        return [_without_directives(v) for v in value]
    return copy.deepcopy(value)


_DELETE = object()


def strategic_merge(original: Any, patch: Any) -> Any:
    """Kubernetes strategic merge patch for the built-in kinds medic touches.

    Maps merge recursively, `null` deletes a key, lists named in `MERGE_KEYS` merge element-wise
    by their key, other lists are replaced. Directives: `$patch: replace` / `$patch: delete` on a
    map or a list element; `$setElementOrder/...` and `$retainKeys` are accepted and ignored.
    """
    if not isinstance(patch, dict):
        return _without_directives(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return _without_directives(patch)
    if directive == "delete":
        return _DELETE
    if directive is not None:
        raise ApiError(400, f"unknown patch directive: {directive!r}")
    result = copy.deepcopy(original) if isinstance(original, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            merged = strategic_merge(result.get(key), value)
            if merged is _DELETE:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list) and key in MERGE_KEYS:
            result[key] = _merge_list(result.get(key), value, MERGE_KEYS[key], key)
        else:
            result[key] = _without_directives(value)
    return result


def _merge_list(original: Any, patch: list[Any], merge_key: str, field_name: str) -> list[Any]:
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return [
            _without_directives(item) for item in patch if not (isinstance(item, dict) and "$patch" in item)
        ]
    result = copy.deepcopy(original) if isinstance(original, list) else []
    for item in patch:
        if not isinstance(item, dict) or merge_key not in item:
            raise ApiError(
                422,
                f"{field_name}: every element of a strategic merge patch needs the merge key {merge_key!r}",
            )
        index = next(
            (i for i, e in enumerate(result) if isinstance(e, dict) and e.get(merge_key) == item[merge_key]),
            None,
        )
        if item.get("$patch") == "delete":
            if index is not None:
                result.pop(index)
            continue
        if index is None:
            result.append(_without_directives(item))
        else:
            result[index] = strategic_merge(result[index], item)
    return result


def json_merge(original: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(original) if isinstance(original, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = json_merge(result.get(key), value)
    return result


# --- selectors -----------------------------------------------------------------------------------


def _parse_selector_terms(selector: str) -> list[str]:
    terms, depth, current = [], 0, ""
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append(current.strip())
            current = ""
        else:
            current += char
    if current.strip():
        terms.append(current.strip())
    return terms


def label_selector_matches(selector: str, labels: dict[str, str]) -> bool:
    """Equality- and set-based label selectors (`a=b,c!=d,e in (f,g),!h,i`)."""
    for term in _parse_selector_terms(selector):
        lowered = term.replace("  ", " ")
        if " notin " in lowered:
            key, values = lowered.split(" notin ", 1)
            if labels.get(key.strip()) in _set_values(values):
                return False
        elif " in " in lowered:
            key, values = lowered.split(" in ", 1)
            if labels.get(key.strip()) not in _set_values(values):
                return False
        elif "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = term.split("==", 1) if "==" in term else term.split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True


def _set_values(text: str) -> set[str]:
    text = text.strip()
    if not (text.startswith("(") and text.endswith(")")):
        raise ApiError(400, f"unable to parse requirement: values {text!r} must be in parentheses")
    return {v.strip() for v in text[1:-1].split(",") if v.strip()}


def _path_value(obj: dict[str, Any], path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


def field_selector_matches(selector: str, obj: dict[str, Any]) -> bool:
    """`path=value`, `path==value` and `path!=value` terms on dotted field paths."""
    for term in _parse_selector_terms(selector):
        if "!=" in term:
            path, value = term.split("!=", 1)
            if _path_value(obj, path.strip()) == value.strip():
                return False
        elif "=" in term:
            path, value = term.split("==", 1) if "==" in term else term.split("=", 1)
            if _path_value(obj, path.strip()) != value.strip():
                return False
        else:
            raise ApiError(400, f"invalid field selector term: {term!r}")
    return True


# --- validation ----------------------------------------------------------------------------------


def _invalid(kind: str, api_version: str, name: str, causes: list[tuple[str, str]]) -> ApiError:
    group = api_version.split("/")[0] if "/" in api_version else ""
    qualified = f"{kind}.{group}" if group else kind
    text = ", ".join(f"{path}: {message}" for path, message in causes)
    return ApiError(
        422,
        f'{qualified} "{name}" is invalid: {text}',
        details={
            "name": name,
            "group": group,
            "kind": kind,
            "causes": [{"reason": "FieldValueInvalid", "message": m, "field": p} for p, m in causes],
        },
    )


def _validate_pod_template(template: Any, path: str) -> list[tuple[str, str]]:
    causes: list[tuple[str, str]] = []
    if not isinstance(template, dict):
        return [(path, "Required value")]
    containers = (template.get("spec") or {}).get("containers")
    if not isinstance(containers, list) or not containers:
        return [(f"{path}.spec.containers", "Required value")]
    seen: set[str] = set()
    for index, container in enumerate(containers):
        where = f"{path}.spec.containers[{index}]"
        if not isinstance(container, dict):
            causes.append((where, "Invalid value: must be an object"))
            continue
        name = container.get("name")
        if not isinstance(name, str) or not name:
            causes.append((f"{where}.name", "Required value"))
        elif name in seen:
            causes.append((f"{where}.name", f'Duplicate value: "{name}"'))
        else:
            seen.add(name)
        if not isinstance(container.get("image"), str) or not container.get("image"):
            causes.append((f"{where}.image", "Required value"))
        resources = container.get("resources") or {}
        parsed: dict[str, dict[str, Any]] = {}
        for section in ("limits", "requests"):
            for resource, quantity in (resources.get(section) or {}).items():
                try:
                    parsed.setdefault(section, {})[resource] = parse_quantity(quantity)
                except QuantityError:
                    causes.append(
                        (
                            f"{where}.resources.{section}[{resource}]",
                            f'Invalid value: "{quantity}": quantities must match the regular expression',
                        )
                    )
        for resource, request in parsed.get("requests", {}).items():
            limit = parsed.get("limits", {}).get(resource)
            if limit is not None and request > limit:
                causes.append(
                    (
                        f"{where}.resources.requests",
                        f'Invalid value: "{resources["requests"][resource]}": must be less than or '
                        f"equal to {resource} limit of {resources['limits'][resource]}",
                    )
                )
    return causes


def validate_workload(obj: dict[str, Any], previous: dict[str, Any] | None) -> None:
    """What the API server checks on a workload write that medic could get wrong."""
    kind, api_version = obj.get("kind", ""), obj.get("apiVersion", "")
    name = obj.get("metadata", {}).get("name", "")
    if kind not in _SPEC_KINDS:
        return
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        raise _invalid(kind, api_version, name, [("spec", "Required value")])
    causes: list[tuple[str, str]] = []
    replicas = spec.get("replicas", 1)
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        causes.append(("spec.replicas", f"Invalid value: {replicas!r}: must be greater than or equal to 0"))
    if kind != "ReplicaSet" or spec.get("template") is not None:
        causes.extend(_validate_pod_template(spec.get("template"), "spec.template"))
    selector = spec.get("selector")
    if previous is not None and selector != (previous.get("spec") or {}).get("selector"):
        causes.append(("spec.selector", f"Invalid value: {_canonical(selector)}: field is immutable"))
    match_labels = (selector or {}).get("matchLabels") or {}
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if kind != "ReplicaSet" and any(template_labels.get(k) != v for k, v in match_labels.items()):
        causes.append(
            (
                "spec.template.metadata.labels",
                f"Invalid value: {_canonical(template_labels)}: `selector` does not match template `labels`",
            )
        )
    if causes:
        raise _invalid(kind, api_version, name, causes)


# --- the cluster ---------------------------------------------------------------------------------

Key = tuple[str, str, str, str]  # apiVersion, kind, namespace, name


def _key(obj: dict[str, Any]) -> Key:
    metadata = obj.get("metadata") or {}
    return (obj["apiVersion"], obj["kind"], metadata.get("namespace") or "", metadata["name"])


def _owner(obj: dict[str, Any], kind: str) -> str | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("kind") == kind:
            return ref.get("name")
    return None


def _revision(obj: dict[str, Any]) -> int:
    try:
        return int(((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def _template_without_hash(template: dict[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(template or {})
    labels = (result.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(TEMPLATE_HASH, None)
    return result


@dataclass
class _Rollout:
    """A deployment whose spec changed and whose controller has not caught up yet."""

    reads_left: int


@dataclass
class _Seed:
    """What a deployment looked like in the scenario, to return to when its spec is restored."""

    spec: dict[str, Any]
    status: dict[str, Any]
    annotations: dict[str, str]
    replicasets: list[dict[str, Any]]
    pods: list[dict[str, Any]]
    current_rs: str | None


@dataclass
class FieldManagerRecord:
    manager: str
    operation: str
    resource_version: str


@dataclass
class _PodSim:
    failing: bool
    logs: dict[str, str] = field(default_factory=dict)
    previous_logs: dict[str, str] = field(default_factory=dict)


class _Objects:
    """The cluster's objects by key, indexed by (kind, namespace): a namespaced list, an owner
    lookup or a namespace check reads one namespace's objects, not the whole cluster's, so that a
    sandbox seeded with thousands of workloads (`sandbox/fleet.py`) answers as fast as one with a
    single workload. Also the failing pods' keys, the only pods a simulation step changes."""

    def __init__(self) -> None:
        self._all: dict[Key, dict[str, Any]] = {}
        self._index: dict[tuple[str, str], dict[Key, None]] = {}
        self._per_namespace: dict[str, int] = {}

    def __getitem__(self, key: Key) -> dict[str, Any]:
        return self._all[key]

    def __setitem__(self, key: Key, obj: dict[str, Any]) -> None:
        if key not in self._all:
            self._index.setdefault((key[1], key[2]), {})[key] = None
            self._per_namespace[key[2]] = self._per_namespace.get(key[2], 0) + 1
        self._all[key] = obj

    def __contains__(self, key: object) -> bool:
        return key in self._all

    def __iter__(self) -> Iterator[Key]:
        return iter(self._all)

    def get(self, key: Key) -> dict[str, Any] | None:
        return self._all.get(key)

    def pop(self, key: Key) -> dict[str, Any] | None:
        obj = self._all.pop(key, None)
        if obj is not None:
            self._index[(key[1], key[2])].pop(key, None)
            self._per_namespace[key[2]] -= 1
            if not self._per_namespace[key[2]]:
                del self._per_namespace[key[2]]
        return obj

    def items(self) -> ItemsView[Key, dict[str, Any]]:
        return self._all.items()

    def values(self) -> ValuesView[dict[str, Any]]:
        return self._all.values()

    def keys_of(self, kind: str, namespace: str | None, *, ordered: bool = True) -> list[Key]:
        """The keys of a kind's objects in one namespace (None: in every namespace), sorted
        (`ordered` off: in the order they were first stored)."""
        if namespace is not None:
            keys = list(self._index.get((kind, namespace), ()))
        else:
            keys = [k for (each, _), found in self._index.items() if each == kind for k in found]
        return sorted(keys) if ordered else keys

    def namespaces(self) -> set[str]:
        """The namespaces at least one object is in."""
        return {ns for ns in self._per_namespace if ns}


class SandboxCluster:
    """The scenario's cluster in memory. Thread-safe; every public method is one API request."""

    def __init__(self, scenario: Scenario, *, rollout_reads: int = 0) -> None:
        """`rollout_reads`: reads that still see the old state after a spec change (0: the next read
        sees the rollout finished)."""
        self.scenario = scenario
        self.rollout_reads = rollout_reads
        self._lock = threading.RLock()
        self._objects = _Objects()
        self._managers: dict[Key, list[FieldManagerRecord]] = {}
        self._rollouts: dict[Key, _Rollout] = {}
        self._pods: dict[Key, _PodSim] = {}
        self._failing: dict[Key, None] = {}  # pods whose simulation fails, in creation order
        self._logs: dict[str, str] = dict(scenario.logs)
        self._previous_logs: dict[str, str] = dict(scenario.previous_logs)
        self._write_delay = 0.0
        self._rv = 0
        self._counter = 0
        for obj in scenario.cluster:
            obj = copy.deepcopy(obj)
            self._rv = max(self._rv, _int(obj.get("metadata", {}).get("resourceVersion")))
            self._objects[_key(obj)] = obj
        self._rv = max(self._rv, 1000)
        for obj in self._objects.values():
            obj["metadata"].setdefault("resourceVersion", self._next_rv())
            obj["metadata"].setdefault("uid", self._uid(obj))
            if obj["kind"] in _SPEC_KINDS:
                obj["metadata"].setdefault("generation", 1)
        # The scenario's heal conditions by workload: one lookup per rollout, however many workloads.
        self._heals: dict[tuple[str, str, str], list[HealCondition]] = {}
        for condition in scenario.heals_when:
            self._heals.setdefault((condition.kind, condition.namespace, condition.name), []).append(
                condition
            )
        self._seeds = {
            key: self._seed_of(obj) for key, obj in self._objects.items() if obj["kind"] == "Deployment"
        }

    @classmethod
    def from_file(cls, path: str | Path, *, rollout_reads: int = 0) -> SandboxCluster:
        return cls(load_scenario(path), rollout_reads=rollout_reads)

    # --- configuration -----------------------------------------------------------------------

    @property
    def write_delay(self) -> float:
        """Seconds the server holds back the response to a Deployment PATCH/PUT (already applied)."""
        return self._write_delay

    def set_write_delay(self, seconds: float) -> None:
        self._write_delay = max(0.0, float(seconds))

    # --- reads ---------------------------------------------------------------------------------

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any]:
        with self._lock:
            self.step()
            if (api_version, kind) == ("v1", "Namespace"):
                return self._namespace(name)
            obj = self._objects.get((api_version, kind, namespace, name))
            if obj is None:
                raise not_found(api_version, kind, name)
            return copy.deepcopy(obj)

    def list_objects(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str = "",
        field_selector: str = "",
    ) -> list[dict[str, Any]]:
        """Objects of a kind, in one namespace or (None) all, filtered like the API does."""
        with self._lock:
            self.step()
            if (api_version, kind) == ("v1", "Namespace"):
                candidates = [self._namespace(n) for n in self.namespaces()]
            else:
                candidates = [
                    self._objects[key]
                    for key in self._objects.keys_of(kind, namespace)
                    if key[0] == api_version
                ]
            return [
                copy.deepcopy(o)
                for o in candidates
                if label_selector_matches(label_selector, (o.get("metadata") or {}).get("labels") or {})
                and field_selector_matches(field_selector, o)
            ]

    def namespaces(self) -> list[str]:
        with self._lock:
            names = self._objects.namespaces() | {"default", "kube-system"}
            return sorted(names)

    def resource_version(self) -> str:
        return str(self._rv)

    def read_log(
        self,
        namespace: str,
        pod: str,
        container: str | None = None,
        *,
        previous: bool = False,
        tail_lines: int | None = None,
        limit_bytes: int | None = None,
    ) -> str:
        """A container's log as `GET .../pods/{pod}/log` returns it."""
        with self._lock:
            self.step()
            obj = self._objects.get(("v1", "Pod", namespace, pod))
            if obj is None:
                raise not_found("v1", "Pod", pod)
            names = [c.get("name") for c in (obj.get("spec") or {}).get("containers") or []]
            if container is None:
                if len(names) != 1:
                    raise ApiError(
                        400,
                        f"a container name must be specified for pod {pod}, "
                        f"choose one of: [{' '.join(str(n) for n in names)}]",
                    )
                container = str(names[0])
            # An init container's log is read by its name too, as the real API allows.
            init_names = [c.get("name") for c in (obj.get("spec") or {}).get("initContainers") or []]
            if container not in names + init_names:
                raise ApiError(400, f"container {container} is not valid for pod {pod}")
            key = f"{namespace}/{pod}/{container}"
            if previous:
                text = self._previous_logs.get(key)
                if text is None:
                    raise ApiError(
                        400, f'previous terminated container "{container}" in pod "{pod}" not found'
                    )
            else:
                text = self._logs.get(key, "")
        if tail_lines is not None:
            lines = text.splitlines(keepends=True)
            text = "".join(lines[-tail_lines:]) if tail_lines > 0 else ""
        if limit_bytes is not None:
            text = text.encode()[:limit_bytes].decode(errors="ignore")
        return text

    def peek(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The stored object without advancing the simulation (for tests and tooling)."""
        with self._lock:
            obj = self._objects.get((api_version, kind, namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def objects(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """Every stored object of a kind, without advancing the simulation."""
        with self._lock:
            return [copy.deepcopy(self._objects[key]) for key in self._objects.keys_of(kind, namespace)]

    def field_managers(
        self, api_version: str, kind: str, namespace: str, name: str
    ) -> list[FieldManagerRecord]:
        with self._lock:
            return list(self._managers.get((api_version, kind, namespace, name), []))

    # --- writes --------------------------------------------------------------------------------

    def patch(
        self,
        api_version: str,
        kind: str,
        namespace: str,
        name: str,
        patch: Any,
        *,
        patch_type: PatchType = "strategic",
        dry_run: bool = False,
        field_manager: str = "",
    ) -> dict[str, Any]:
        with self._lock:
            current = self._objects.get((api_version, kind, namespace, name))
            if current is None:
                raise not_found(api_version, kind, name)
            if not isinstance(patch, dict):
                raise ApiError(400, "the patch must be a JSON object")
            wanted_rv = (patch.get("metadata") or {}).get("resourceVersion")
            if wanted_rv is not None and str(wanted_rv) != current["metadata"]["resourceVersion"]:
                raise self._conflict(api_version, kind, name)
            merged = (
                strategic_merge(current, patch) if patch_type == "strategic" else json_merge(current, patch)
            )
            return self._write(
                current, merged, dry_run=dry_run, field_manager=field_manager, operation="Update"
            )

    def replace(
        self,
        api_version: str,
        kind: str,
        namespace: str,
        name: str,
        body: dict[str, Any],
        *,
        dry_run: bool = False,
        field_manager: str = "",
    ) -> dict[str, Any]:
        with self._lock:
            current = self._objects.get((api_version, kind, namespace, name))
            if current is None:
                raise not_found(api_version, kind, name)
            if not isinstance(body, dict):
                raise ApiError(400, "the body must be a JSON object")
            metadata = body.get("metadata") or {}
            if metadata.get("name") not in (None, name) or metadata.get("namespace") not in (
                None,
                "",
                namespace,
            ):
                raise ApiError(400, "the name or namespace of the object does not match the request")
            # Without a resourceVersion the update is unconditional, as the API allows for workloads.
            wanted_rv = metadata.get("resourceVersion")
            if wanted_rv and str(wanted_rv) != current["metadata"]["resourceVersion"]:
                raise self._conflict(api_version, kind, name)
            merged = copy.deepcopy(body)
            merged.setdefault("apiVersion", api_version)
            merged.setdefault("kind", kind)
            return self._write(
                current, merged, dry_run=dry_run, field_manager=field_manager, operation="Update"
            )

    # --- simulation ----------------------------------------------------------------------------

    def step(self) -> None:
        """Advance the simulation by one step: pending rollouts move on, failing pods restart."""
        with self._lock:
            for key in list(self._rollouts):
                rollout = self._rollouts[key]
                if rollout.reads_left > 0:
                    rollout.reads_left -= 1
                    continue
                del self._rollouts[key]
                if key in self._objects:
                    self._complete_rollout(key)
            for key in self._failing:
                pod = self._objects.get(key)
                if pod is None:
                    continue
                for status in (pod.get("status") or {}).get("containerStatuses") or []:
                    status["restartCount"] = int(status.get("restartCount", 0)) + 1
                pod["metadata"]["resourceVersion"] = self._next_rv()

    def rollout_pending(self, namespace: str, name: str) -> bool:
        with self._lock:
            return ("apps/v1", "Deployment", namespace, name) in self._rollouts

    # --- internals -----------------------------------------------------------------------------

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _uid(self, obj: dict[str, Any]) -> str:
        digest = hashlib.sha256(
            _canonical(list(_key(obj))).encode() + str(self._counter).encode()
        ).hexdigest()
        self._counter += 1
        return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"

    def _conflict(self, api_version: str, kind: str, name: str) -> ApiError:
        return ApiError(
            409,
            f'Operation cannot be fulfilled on {_group_resource(api_version, kind)} "{name}": '
            "the object has been modified; please apply your changes to the latest version "
            "and try again",
            details={"name": name, "kind": plural_of(api_version, kind)},
        )

    def _namespace(self, name: str) -> dict[str, Any]:
        if name not in self.namespaces():
            raise not_found("v1", "Namespace", name)
        return {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        }

    def _write(
        self,
        current: dict[str, Any],
        proposed: dict[str, Any],
        *,
        dry_run: bool,
        field_manager: str,
        operation: str,
    ) -> dict[str, Any]:
        api_version, kind = current["apiVersion"], current["kind"]
        name = current["metadata"]["name"]
        if proposed.get("apiVersion") != api_version or proposed.get("kind") != kind:
            raise ApiError(400, f"apiVersion and kind of {name} cannot be changed")
        new = copy.deepcopy(proposed)
        metadata = new.setdefault("metadata", {})
        if not isinstance(metadata, dict):
            raise ApiError(400, "metadata must be an object")
        # Fields the server owns: whatever the client sent, the stored values stand.
        for owned in ("name", "namespace", "uid", "creationTimestamp", "generation", "resourceVersion"):
            if owned in current["metadata"]:
                metadata[owned] = current["metadata"][owned]
            else:
                metadata.pop(owned, None)
        metadata.pop("managedFields", None)
        if "status" in current:
            new["status"] = copy.deepcopy(current["status"])
        else:
            new.pop("status", None)
        validate_workload(new, current)
        spec_changed = _canonical(new.get("spec")) != _canonical(current.get("spec"))
        if spec_changed and kind in _SPEC_KINDS:
            metadata["generation"] = int(current["metadata"].get("generation", 1)) + 1
        if _canonical(new) == _canonical(current):
            return copy.deepcopy(current)  # a no-op write keeps the resourceVersion, as the API does
        if dry_run:
            return new
        metadata["resourceVersion"] = self._next_rv()
        key = _key(current)
        self._objects[key] = new
        if field_manager:
            self._managers.setdefault(key, []).append(
                FieldManagerRecord(field_manager, operation, metadata["resourceVersion"])
            )
        if spec_changed and kind == "Deployment":
            self._rollouts[key] = _Rollout(reads_left=self.rollout_reads)
        return copy.deepcopy(new)

    def _owned(self, kind: str, namespace: str, owner_kind: str, owner: str) -> list[Key]:
        return [
            k
            for k in self._objects.keys_of(kind, namespace, ordered=False)
            if _owner(self._objects[k], owner_kind) == owner
        ]

    def _seed_of(self, deployment: dict[str, Any]) -> _Seed:
        namespace, name = deployment["metadata"].get("namespace", ""), deployment["metadata"]["name"]
        replicasets = [
            copy.deepcopy(self._objects[k]) for k in self._owned("ReplicaSet", namespace, "Deployment", name)
        ]
        pods = [
            copy.deepcopy(self._objects[k])
            for rs in replicasets
            for k in self._owned("Pod", namespace, "ReplicaSet", rs["metadata"]["name"])
        ]
        current = max(replicasets, key=_revision, default=None)
        return _Seed(
            spec=copy.deepcopy(deployment.get("spec") or {}),
            status=copy.deepcopy(deployment.get("status") or {}),
            annotations=dict(deployment["metadata"].get("annotations") or {}),
            replicasets=replicasets,
            pods=pods,
            current_rs=current["metadata"]["name"] if current else None,
        )

    def _store(self, obj: dict[str, Any]) -> None:
        obj["metadata"]["resourceVersion"] = self._next_rv()
        self._objects[_key(obj)] = obj

    def _delete(self, key: Key) -> None:
        self._objects.pop(key)
        self._pods.pop(key, None)
        self._failing.pop(key, None)
        self._managers.pop(key, None)

    def _complete_rollout(self, key: Key) -> None:
        deployment = self._objects[key]
        namespace, name = key[2], key[3]
        seed = self._seeds.get(key)
        if seed is not None and _canonical(deployment.get("spec")) == _canonical(seed.spec):
            self._restore_seed(deployment, seed)
            return
        template = deployment["spec"]["template"]
        replicas = int(deployment["spec"].get("replicas", 1))
        owned = self._owned("ReplicaSet", namespace, "Deployment", name)
        top = max((_revision(self._objects[k]) for k in owned), default=0)
        target: Key | None = None
        for rs_key in owned:
            rs = self._objects[rs_key]
            known = (
                seed.spec.get("template")
                if seed and rs_key[3] == seed.current_rs
                else _template_without_hash(rs["spec"].get("template") or {})
            )
            if _canonical(known) == _canonical(template):
                target = rs_key
        pod_hash = _short_hash(_canonical(template), 10)
        if target is None:
            rs_name = f"{name}-{pod_hash}"
            target = ("apps/v1", "ReplicaSet", namespace, rs_name)
            revision = top + 1
        else:
            rs_name = target[3]
            pod_hash = (self._objects[target]["metadata"].get("labels") or {}).get(TEMPLATE_HASH, pod_hash)
            current_revision = _revision(self._objects[target])
            revision = current_revision if current_revision == top else top + 1
        selector_labels = dict((deployment["spec"].get("selector") or {}).get("matchLabels") or {})
        template_with_hash = copy.deepcopy(template)
        template_with_hash.setdefault("metadata", {}).setdefault("labels", {})[TEMPLATE_HASH] = pod_hash
        healthy = all(c.holds(deployment) for c in self._heals.get(("Deployment", namespace, name), ()))
        previous = self._objects.get(target) or {}
        rs_obj = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": rs_name,
                "namespace": namespace,
                "uid": (previous.get("metadata") or {}).get("uid") or self._uid(deployment),
                "creationTimestamp": (previous.get("metadata") or {}).get("creationTimestamp", SIM_TIME),
                "generation": int((previous.get("metadata") or {}).get("generation", 0)) + 1,
                "labels": dict(template_with_hash["metadata"]["labels"]),
                "annotations": {
                    "deployment.kubernetes.io/desired-replicas": str(replicas),
                    REVISION: str(revision),
                },
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": name,
                        "uid": deployment["metadata"].get("uid", ""),
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {**selector_labels, TEMPLATE_HASH: pod_hash}},
                "template": template_with_hash,
            },
            "status": {
                "replicas": replicas,
                "fullyLabeledReplicas": replicas,
                "readyReplicas": replicas if healthy else 0,
                "availableReplicas": replicas if healthy else 0,
                "observedGeneration": 1,
            },
        }
        # Every other ReplicaSet scales to zero; all their pods (and the target's old ones) go.
        for rs_key in owned:
            for pod_key in self._owned("Pod", namespace, "ReplicaSet", rs_key[3]):
                self._delete(pod_key)
            if rs_key != target:
                old = self._objects[rs_key]
                old["spec"]["replicas"] = 0
                old["status"] = {
                    "replicas": 0,
                    "observedGeneration": old.get("status", {}).get("observedGeneration", 1),
                }
                self._store(old)
        self._store(rs_obj)
        nodes = sorted(
            {(p.get("spec") or {}).get("nodeName", "") for p in (seed.pods if seed else [])} - {""}
        ) or ["node-a"]
        failure = self._failure_template(seed, namespace)
        generation = int(deployment["metadata"].get("generation", 1))
        for index in range(replicas):
            pod_name = f"{rs_name}-{_short_hash(f'{rs_name}/{generation}/{index}', 5)}"
            self._create_pod(
                pod_name, namespace, rs_obj, template_with_hash, nodes[index % len(nodes)], healthy, failure
            )
        deployment["metadata"].setdefault("annotations", {})[REVISION] = str(revision)
        deployment["status"] = {
            "observedGeneration": generation,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas if healthy else 0,
            "availableReplicas": replicas if healthy else 0,
            "unavailableReplicas": 0 if healthy else replicas,
            "conditions": [
                {
                    "type": "Available",
                    "status": "True" if healthy or replicas == 0 else "False",
                    "reason": "MinimumReplicasAvailable" if healthy else "MinimumReplicasUnavailable",
                },
                {
                    "type": "Progressing",
                    "status": "True",
                    "reason": "NewReplicaSetAvailable" if healthy else "ReplicaSetUpdated",
                    "message": f'ReplicaSet "{rs_name}" has successfully progressed.'
                    if healthy
                    else f'ReplicaSet "{rs_name}" is progressing.',
                },
            ],
        }
        self._store(deployment)
        self._event(
            namespace,
            deployment,
            "ScalingReplicaSet",
            "Normal",
            f"Scaled up replica set {rs_name} to {replicas}",
            f"{name}.{_short_hash(rs_name + str(generation), 16)}",
        )

    def _failure_template(self, seed: _Seed | None, namespace: str) -> dict[str, dict[str, Any]]:
        """Per container: how the seed's failing pods failed, for new pods that fail the same way."""
        found: dict[str, dict[str, Any]] = {}
        for pod in seed.pods if seed else []:
            for status in (pod.get("status") or {}).get("containerStatuses") or []:
                name = status.get("name", "")
                if status.get("ready") or name in found:
                    continue
                key = f"{namespace}/{pod['metadata']['name']}/{name}"
                found[name] = {
                    "state": copy.deepcopy(status.get("state") or {}),
                    "lastState": copy.deepcopy(status.get("lastState") or {}),
                    "logs": self.scenario.logs.get(key),
                    "previous": self.scenario.previous_logs.get(key),
                }
        return found

    def _create_pod(
        self,
        pod_name: str,
        namespace: str,
        rs: dict[str, Any],
        template: dict[str, Any],
        node: str,
        healthy: bool,
        failure: dict[str, dict[str, Any]],
    ) -> None:
        spec = copy.deepcopy(template.get("spec") or {})
        spec["nodeName"] = node
        statuses = []
        sim = _PodSim(failing=not healthy)
        for container in spec.get("containers") or []:
            cname = container.get("name", "")
            if healthy:
                statuses.append(
                    {
                        "name": cname,
                        "image": container.get("image", ""),
                        "ready": True,
                        "started": True,
                        "restartCount": 0,
                        "state": {"running": {"startedAt": SIM_TIME}},
                        "lastState": {},
                    }
                )
                continue
            how = failure.get(cname) or {}
            state = how.get("state") or {}
            if "waiting" not in state:
                state = {
                    "waiting": {
                        "reason": "CrashLoopBackOff",
                        "message": f"back-off 10s restarting failed container={cname} pod={pod_name}",
                    }
                }
            last = how.get("lastState") or {}
            if "terminated" not in last:
                last = {
                    "terminated": {
                        "reason": "Error",
                        "exitCode": 1,
                        "startedAt": SIM_TIME,
                        "finishedAt": SIM_TIME,
                    }
                }
            statuses.append(
                {
                    "name": cname,
                    "image": container.get("image", ""),
                    "ready": False,
                    "started": False,
                    "restartCount": 1,
                    "state": state,
                    "lastState": last,
                }
            )
            log_key = f"{namespace}/{pod_name}/{cname}"
            if how.get("logs") is not None:
                self._logs[log_key] = how["logs"]
            if how.get("previous") is not None:
                self._previous_logs[log_key] = how["previous"]
        pod: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": pod_name,
                "namespace": namespace,
                "uid": self._uid(rs),
                "creationTimestamp": SIM_TIME,
                "labels": dict((template.get("metadata") or {}).get("labels") or {}),
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "ReplicaSet",
                        "name": rs["metadata"]["name"],
                        "uid": rs["metadata"]["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": spec,
            "status": {
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": "True" if healthy else "False"}],
                "containerStatuses": statuses,
            },
        }
        annotations = (template.get("metadata") or {}).get("annotations")
        if annotations:
            pod["metadata"]["annotations"] = dict(annotations)
        self._store(pod)
        self._pods[_key(pod)] = sim
        if sim.failing:
            self._failing[_key(pod)] = None
        else:
            self._failing.pop(_key(pod), None)

    def _restore_seed(self, deployment: dict[str, Any], seed: _Seed) -> None:
        namespace, name = deployment["metadata"].get("namespace", ""), deployment["metadata"]["name"]
        seed_names = {rs["metadata"]["name"] for rs in seed.replicasets}
        owned = self._owned("ReplicaSet", namespace, "Deployment", name)
        top = max((_revision(self._objects[k]) for k in owned), default=0)
        for rs_key in owned:
            for pod_key in self._owned("Pod", namespace, "ReplicaSet", rs_key[3]):
                self._delete(pod_key)
            if rs_key[3] not in seed_names:
                old = self._objects[rs_key]
                old["spec"]["replicas"] = 0
                old["status"] = {"replicas": 0}
                self._store(old)
        revision = top
        for rs in seed.replicasets:
            restored = copy.deepcopy(rs)
            if rs["metadata"]["name"] == seed.current_rs and _revision(rs) < top:
                # The controller gives a revived template the next revision number.
                revision = top + 1
                restored["metadata"].setdefault("annotations", {})[REVISION] = str(revision)
            self._store(restored)
        for pod in seed.pods:
            self._store(copy.deepcopy(pod))
        status = copy.deepcopy(seed.status)
        status["observedGeneration"] = int(deployment["metadata"].get("generation", 1))
        deployment["status"] = status
        if revision:
            deployment["metadata"].setdefault("annotations", {})[REVISION] = str(revision)
        self._store(deployment)

    def _event(
        self, namespace: str, involved: dict[str, Any], reason: str, type_: str, message: str, event_name: str
    ) -> None:
        meta = involved["metadata"]
        self._store(
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": event_name, "namespace": namespace},
                "involvedObject": {
                    "apiVersion": involved["apiVersion"],
                    "kind": involved["kind"],
                    "name": meta["name"],
                    "namespace": namespace,
                    "uid": meta.get("uid", ""),
                },
                "reason": reason,
                "type": type_,
                "message": message,
                "count": 1,
                "source": {"component": "deployment-controller"},
                "firstTimestamp": SIM_TIME,
                "lastTimestamp": SIM_TIME,
            }
        )


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
