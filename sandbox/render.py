"""What an Argo CD Application's sources ask for, rendered from a GitOps repository tree, and how that
compares with the live objects — the part of Argo CD's repo server and diffing the sandbox needs.

Pure: a repository is given as a `Tree` (its file list and a reader). Three layouts, the ones
`domain.gitops.locate` reads:

- Directory: the YAML / JSON objects under the source's `path` (`directory.recurse`, `include`,
  `exclude`), as Argo CD applies them.
- Kustomize: the `path` directory's kustomization, its `resources` / `bases` / `components` built
  recursively, then this level's transformers in kustomize's order — strategic-merge patches,
  `patches` (strategic merge or JSON 6902, from a file or inline, with a `target` selector),
  `namespace`, `namePrefix` / `nameSuffix`, `commonLabels` / `labels`, `commonAnnotations`,
  `patchesJson6902`, `replicas`, `images` — and the Application's own `kustomize.images` /
  `kustomize.replicas` overrides on top. Generators, components' special semantics, name-reference
  fix-ups and remote bases are not supported.
- Helm, chart-less: the sandbox has no charts, so a Helm source renders only what the common chart
  conventions say its values mean, onto the live workloads the Application manages: `replicaCount`
  → `spec.replicas` (unless `autoscaling.enabled`), `image.repository` / `image.tag` /
  `image.digest` → the container's image, `resources` → the container's resources. Values come
  from `helm.valueFiles` (`$ref/…` of a `ref` source, or relative to an in-repository chart),
  `helm.values` / `helm.valuesObject` and `helm.parameters`, in Helm's precedence. Such a desired
  object is partial: it holds only those fields.

The comparison follows Argo CD's: a live object is in sync when every field Git sets has that value
live (fields the API server or controllers add do not count); container `resources` must match
exactly, since Git defines them whole. A sync sends the desired object as a strategic merge patch
with `resources` replaced whole — fields removed from Git elsewhere are not removed live (kubectl's
three-way merge is not simulated).
"""

from __future__ import annotations

import copy
import fnmatch
import json
import posixpath
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jsonpatch
import yaml

from domain.kube.quantity import QuantityError, parse_quantity
from sandbox.cluster import MERGE_KEYS, ApiError, label_selector_matches, strategic_merge

Key = tuple[str, str, str, str]  # apiVersion, kind, namespace, name

_KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"})
_REPLICATED_KINDS = frozenset({"Deployment", "StatefulSet", "ReplicaSet", "ReplicationController"})
_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
# Kinds without a namespace: the namespace transformer and the destination namespace skip them.
CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "Node",
        "PersistentVolume",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "StorageClass",
        "PriorityClass",
        "IngressClass",
        "RuntimeClass",
        "CSIDriver",
        "APIService",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    }
)


class RenderError(Exception):
    """The sources cannot be rendered (what Argo CD reports as a ComparisonError)."""


@dataclass(frozen=True)
class Tree:
    """A repository at one commit: its file paths and a reader (None for a path it lacks)."""

    files: tuple[str, ...]
    reader: Callable[[str], str | None]
    _index: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", frozenset(self.files))

    def read(self, path: str) -> str | None:
        return self.reader(path) if path in self._index else None

    def has(self, path: str) -> bool:
        return path in self._index

    def is_dir(self, path: str) -> bool:
        prefix = "" if path in ("", ".") else path.rstrip("/") + "/"
        return any(f.startswith(prefix) for f in self.files)

    @classmethod
    def of(cls, files: Mapping[str, str]) -> Tree:
        """A tree over an in-memory mapping of path -> text (tests, scenarios)."""
        contents = dict(files)
        return cls(tuple(sorted(contents)), contents.get)


@dataclass(frozen=True)
class Desired:
    """One object as Git wants it. `partial`: only the fields a chart-less Helm rendering knows."""

    manifest: dict[str, Any]
    partial: bool = False
    source: int = 0  # index of the Application source it came from

    @property
    def key(self) -> Key:
        meta = self.manifest.get("metadata") or {}
        return (
            str(self.manifest.get("apiVersion") or ""),
            str(self.manifest.get("kind") or ""),
            str(meta.get("namespace") or ""),
            str(meta.get("name") or ""),
        )

    @property
    def group(self) -> str:
        api_version = self.key[0]
        return api_version.split("/", 1)[0] if "/" in api_version else ""

    @property
    def version(self) -> str:
        return self.key[0].rsplit("/", 1)[-1]


# --- small helpers -------------------------------------------------------------------------------


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _join(base: str, rel: str) -> str:
    return posixpath.normpath(posixpath.join(base, rel)) if base not in ("", ".") else posixpath.normpath(rel)


def _load_all(tree: Tree, path: str) -> list[Any]:
    text = tree.read(path)
    if text is None:
        raise RenderError(f"{path}: no such file in the repository")
    try:
        if path.endswith(".json"):
            return [json.loads(text)]
        return [d for d in yaml.safe_load_all(text) if d is not None]
    except (yaml.YAMLError, ValueError) as exc:
        raise RenderError(f"{path}: not valid YAML: {exc}") from exc


def _objects(tree: Tree, path: str) -> list[dict[str, Any]]:
    out = []
    for index, doc in enumerate(_load_all(tree, path)):
        if isinstance(doc, list):  # a JSON / YAML list of objects
            candidates = doc
        elif isinstance(doc, dict) and doc.get("kind") == "List" and isinstance(doc.get("items"), list):
            candidates = doc["items"]
        else:
            candidates = [doc]
        for obj in candidates:
            if not isinstance(obj, dict) or not obj.get("apiVersion") or not obj.get("kind"):
                raise RenderError(f"{path}: document {index} is not a Kubernetes object (apiVersion, kind)")
            if not _mapping(obj.get("metadata")).get("name"):
                raise RenderError(f"{path}: a {obj['kind']} without metadata.name")
            out.append(copy.deepcopy(obj))
    return out


def split_image(image: str) -> tuple[str, str, str]:
    """`registry:5000/team/app:1.2@sha256:…` → (`registry:5000/team/app`, `1.2`, `sha256:…`)."""
    name, _, digest = image.partition("@")
    slash, colon = name.rfind("/"), name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1 :], digest
    return name, "", digest


def _join_image(name: str, tag: str, digest: str) -> str:
    return name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def _containers(obj: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every container of an object wherever a pod spec holds it (pod, template, job template)."""
    stack: list[Any] = [obj.get("spec")]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in _CONTAINER_LISTS and isinstance(value, list):
                    yield from (c for c in value if isinstance(c, dict))
                else:
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)


def _clean(value: Any) -> Any:
    """A copy without null values (YAML `key:` means unset, not delete)."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return copy.deepcopy(value)


# --- directory -----------------------------------------------------------------------------------


def _globs(pattern: str) -> list[str]:
    pattern = pattern.strip()
    if pattern.startswith("{") and pattern.endswith("}"):
        return [p.strip() for p in pattern[1:-1].split(",") if p.strip()]
    return [pattern] if pattern else []


def render_directory(
    tree: Tree, path: str, directory: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The objects of the manifest files under `path` (a Directory source)."""
    directory = directory or {}
    prefix = "" if path in ("", ".") else path.rstrip("/") + "/"
    if prefix and not tree.is_dir(path):
        raise RenderError(f"{path}: app path does not exist")
    include = _globs(str(directory.get("include") or ""))
    exclude = _globs(str(directory.get("exclude") or ""))
    out = []
    for f in tree.files:
        if not f.startswith(prefix) or not f.endswith((".yaml", ".yml", ".json")):
            continue
        rel = f[len(prefix) :]
        if "/" in rel and not directory.get("recurse"):
            continue
        if include and not any(fnmatch.fnmatch(rel, g) or fnmatch.fnmatch(f, g) for g in include):
            continue
        if any(fnmatch.fnmatch(rel, g) or fnmatch.fnmatch(f, g) for g in exclude):
            continue
        out.extend(_objects(tree, f))
    return out


# --- JSON patch (RFC 6902) -----------------------------------------------------------------------


def apply_json6902(doc: dict[str, Any], ops: Sequence[Any]) -> dict[str, Any]:
    """`doc` with the RFC 6902 operations applied (add, remove, replace, move, copy, test); `doc` itself
    is left unchanged. A malformed operation, a location that does not exist or a failed test raises
    `RenderError` naming the operation."""
    result: Any = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, Mapping) or "op" not in op or "path" not in op:
            raise RenderError(f"not a JSON patch operation: {op!r}")
        kind, path = op["op"], op["path"]
        # One operation at a time, so an error names the operation that failed.
        try:
            result = jsonpatch.JsonPatch([op]).apply(result, in_place=True)
        except jsonpatch.InvalidJsonPatch as exc:
            raise RenderError(f"not a valid JSON patch operation {dict(op)!r}: {exc}") from exc
        except jsonpatch.JsonPatchTestFailed as exc:
            raise RenderError(f"JSON patch test failed at {path!r}: {exc}") from exc
        except jsonpatch.JsonPatchPathNotFound as exc:
            missing = op.get("from") if kind in ("move", "copy") else path
            raise RenderError(f"JSON patch {kind}: {missing!r} does not exist ({exc})") from exc
        except (jsonpatch.JsonPatchConflict, jsonpatch.JsonPointerException) as exc:
            raise RenderError(f"JSON patch {kind} at {path!r} cannot be applied: {exc}") from exc
    if not isinstance(result, dict):
        raise RenderError("a JSON patch replaced the whole object with something else")
    return result


# --- kustomize -----------------------------------------------------------------------------------


def _kustomization_file(tree: Tree, path: str) -> str | None:
    return next((f for n in _KUSTOMIZATION_NAMES if tree.has(f := _join(path, n))), None)


def is_kustomize(tree: Tree, path: str) -> bool:
    return _kustomization_file(tree, path) is not None


def _regex_match(pattern: Any, value: str) -> bool:
    if not pattern:
        return True
    try:
        return re.fullmatch(str(pattern), value) is not None
    except re.error:
        return str(pattern) == value


def _selected(selector: Mapping[str, Any], obj: dict[str, Any]) -> bool:
    api_version = str(obj.get("apiVersion") or "")
    group, version = api_version.split("/", 1) if "/" in api_version else ("", api_version)
    meta = _mapping(obj.get("metadata"))
    if selector.get("group") is not None and str(selector["group"]) != group:
        return False
    if selector.get("version") and str(selector["version"]) != version:
        return False
    if selector.get("kind") and str(selector["kind"]) != obj.get("kind"):
        return False
    if not _regex_match(selector.get("name"), str(meta.get("name") or "")):
        return False
    if not _regex_match(selector.get("namespace"), str(meta.get("namespace") or "")):
        return False
    labels = {str(k): str(v) for k, v in _mapping(meta.get("labels")).items()}
    annotations = {str(k): str(v) for k, v in _mapping(meta.get("annotations")).items()}
    try:
        if selector.get("labelSelector") and not label_selector_matches(
            str(selector["labelSelector"]), labels
        ):
            return False
        if selector.get("annotationSelector") and not label_selector_matches(
            str(selector["annotationSelector"]), annotations
        ):
            return False
    except ApiError as exc:
        raise RenderError(f"patch target selector: {exc.message}") from exc
    return True


def _smp(obj: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in patch.items() if k not in ("apiVersion", "kind")}
    meta = dict(_mapping(body.get("metadata")))
    meta.pop("name", None)
    meta.pop("namespace", None)
    if meta:
        body["metadata"] = meta
    else:
        body.pop("metadata", None)
    try:
        merged = strategic_merge(obj, body)
    except ApiError as exc:
        raise RenderError(f"strategic merge patch: {exc.message}") from exc
    if not isinstance(merged, dict):
        raise RenderError("a strategic merge patch deleted a whole object")
    return merged


def _patch_docs(tree: Tree, base: str, entry: Any) -> list[Any]:
    """The documents of a patch given as a file path or inline YAML."""
    if isinstance(entry, str) and "\n" not in entry and entry.strip():
        return _load_all(tree, _join(base, entry))
    if isinstance(entry, str):
        try:
            return [d for d in yaml.safe_load_all(entry) if d is not None]
        except yaml.YAMLError as exc:
            raise RenderError(f"inline patch is not valid YAML: {exc}") from exc
    if isinstance(entry, (dict, list)):
        return [entry]
    raise RenderError(f"cannot read patch {entry!r}")


def _apply_patch_docs(
    objects: list[dict[str, Any]], docs: list[Any], target: Mapping[str, Any] | None, where: str
) -> list[dict[str, Any]]:
    for doc in docs:
        if isinstance(doc, list):  # JSON 6902
            if not target:
                raise RenderError(f"{where}: a JSON 6902 patch needs a target")
            objects = [apply_json6902(o, doc) if _selected(target, o) else o for o in objects]
            continue
        if not isinstance(doc, dict):
            raise RenderError(f"{where}: a patch must be a mapping or a list of operations")
        selector: Mapping[str, Any] = target or {
            "kind": doc.get("kind"),
            "name": re.escape(str(_mapping(doc.get("metadata")).get("name") or "")),
        }
        matched = False
        out = []
        for obj in objects:
            if _selected(selector, obj):
                matched = True
                obj = _smp(obj, doc)
            out.append(obj)
        if not matched and not target:
            raise RenderError(
                f"{where}: the patch for {doc.get('kind')} {selector.get('name')} matches nothing"
            )
        objects = out
    return objects


def _set_labels(obj: dict[str, Any], labels: Mapping[str, Any], *, selectors: bool, templates: bool) -> None:
    if not labels:
        return
    values = {str(k): str(v) for k, v in labels.items()}
    obj.setdefault("metadata", {}).setdefault("labels", {}).update(values)
    spec = _mapping(obj.get("spec"))
    if obj.get("kind") in _WORKLOAD_KINDS or obj.get("kind") in ("Job", "ReplicationController"):
        if selectors and obj.get("kind") != "Job":
            selector = spec.setdefault("selector", {})
            if obj.get("kind") == "ReplicationController":
                selector.update(values)
            else:
                selector.setdefault("matchLabels", {}).update(values)
        if selectors or templates:
            spec.setdefault("template", {}).setdefault("metadata", {}).setdefault("labels", {}).update(values)
    elif obj.get("kind") == "Service" and selectors:
        spec.setdefault("selector", {}).update(values)


def _set_annotations(obj: dict[str, Any], annotations: Mapping[str, Any]) -> None:
    if not annotations:
        return
    values = {str(k): str(v) for k, v in annotations.items()}
    obj.setdefault("metadata", {}).setdefault("annotations", {}).update(values)
    if obj.get("kind") in _WORKLOAD_KINDS:
        template = _mapping(obj.get("spec")).setdefault("template", {})
        template.setdefault("metadata", {}).setdefault("annotations", {}).update(values)


def _image_entry(entry: Any) -> dict[str, Any]:
    """A kustomization `images` entry, or an Argo CD `kustomize.images` string
    (`name=newName:tag`, `name:tag`, `name@digest`), as {name, newName, newTag, digest}."""
    if isinstance(entry, dict):
        return entry
    text = str(entry)
    if "=" in text:
        name, _, ref = text.partition("=")
        new_name, tag, digest = split_image(ref)
        return {"name": name, "newName": new_name, "newTag": tag or None, "digest": digest or None}
    name, tag, digest = split_image(text)
    return {"name": name, "newTag": tag or None, "digest": digest or None}


def _apply_images(objects: list[dict[str, Any]], entries: Sequence[Any]) -> None:
    for raw in entries:
        entry = _image_entry(raw)
        for obj in objects:
            for container in _containers(obj):
                image = str(container.get("image") or "")
                name, tag, digest = split_image(image)
                if not image or name != entry.get("name"):
                    continue
                new_name = str(entry.get("newName") or name)
                if entry.get("digest"):
                    container["image"] = _join_image(new_name, "", str(entry["digest"]))
                elif entry.get("newTag") is not None:
                    container["image"] = _join_image(new_name, str(entry["newTag"]), "")
                else:
                    container["image"] = _join_image(new_name, tag, digest)


def _apply_replicas(objects: list[dict[str, Any]], entries: Sequence[Any], original: Sequence[str]) -> None:
    """`replicas` entries, matched by the current name or the one before this level's prefix."""
    for entry in entries:
        entry = _mapping(entry)
        for obj, before in zip(objects, original, strict=True):
            name = str(_mapping(obj.get("metadata")).get("name") or "")
            if obj.get("kind") in _REPLICATED_KINDS and entry.get("name") in (name, before):
                obj.setdefault("spec", {})["replicas"] = int(entry.get("count", 0))


def render_kustomize(
    tree: Tree, path: str, overrides: Mapping[str, Any] | None = None, _seen: frozenset[str] = frozenset()
) -> list[dict[str, Any]]:
    """`kustomize build <path>` for what the sandbox supports (see the module docstring); `overrides`
    are the Application source's `kustomize` settings, applied as one more level on top."""
    kfile = _kustomization_file(tree, path)
    if kfile is None:
        raise RenderError(f"no kustomization in {path}/")
    if path in _seen or len(_seen) > 20:
        raise RenderError(f"{path}/ includes itself")
    docs = _load_all(tree, kfile)
    k = _mapping(docs[0] if docs else {})
    objects: list[dict[str, Any]] = []
    for entry in [*(k.get("resources") or []), *(k.get("bases") or []), *(k.get("components") or [])]:
        entry = str(entry)
        if "://" in entry or entry.startswith(("git@", "github.com/")):
            raise RenderError(f"{kfile}: remote resource {entry} is not supported by the sandbox")
        rel = _join(path, entry)
        if tree.has(rel):
            objects.extend(_objects(tree, rel))
        elif tree.is_dir(rel):
            objects.extend(render_kustomize(tree, rel, None, _seen | {path}))
        else:
            raise RenderError(f"{kfile}: resource {entry} does not exist")
    if k.get("configMapGenerator") or k.get("secretGenerator") or k.get("helmCharts"):
        raise RenderError(f"{kfile}: generators are not supported by the sandbox")
    # Transformers keep the order and number of objects, so names line up by position.
    original = [str(_mapping(o.get("metadata")).get("name") or "") for o in objects]
    for entry in k.get("patchesStrategicMerge") or []:
        objects = _apply_patch_docs(objects, _patch_docs(tree, path, entry), None, kfile)
    for entry in k.get("patches") or []:
        entry = _mapping(entry)
        source = entry.get("patch") if entry.get("patch") is not None else entry.get("path")
        target = _mapping(entry.get("target")) or None
        objects = _apply_patch_docs(objects, _patch_docs(tree, path, source), target, kfile)
    namespace = k.get("namespace")
    prefix, suffix = str(k.get("namePrefix") or ""), str(k.get("nameSuffix") or "")
    for obj in objects:
        meta = obj.setdefault("metadata", {})
        if namespace and obj.get("kind") not in CLUSTER_SCOPED:
            meta["namespace"] = str(namespace)
        if (prefix or suffix) and obj.get("kind") not in ("Namespace", "CustomResourceDefinition"):
            meta["name"] = f"{prefix}{meta.get('name', '')}{suffix}"
        _set_labels(obj, _mapping(k.get("commonLabels")), selectors=True, templates=True)
        for labels in k.get("labels") or []:
            labels = _mapping(labels)
            _set_labels(
                obj,
                _mapping(labels.get("pairs")),
                selectors=bool(labels.get("includeSelectors")),
                templates=bool(labels.get("includeTemplates")),
            )
        _set_annotations(obj, _mapping(k.get("commonAnnotations")))
    for entry in k.get("patchesJson6902") or []:
        entry = _mapping(entry)
        source = entry.get("patch") if entry.get("patch") is not None else entry.get("path")
        docs = _patch_docs(tree, path, source)
        ops = docs[0] if len(docs) == 1 and isinstance(docs[0], list) else docs
        objects = _apply_patch_docs(objects, [ops], _mapping(entry.get("target")), kfile)
    _apply_replicas(objects, k.get("replicas") or [], original)
    _apply_images(objects, k.get("images") or [])
    overrides = overrides or {}
    if overrides:
        for obj in objects:
            meta = obj.setdefault("metadata", {})
            if overrides.get("namespace") and obj.get("kind") not in CLUSTER_SCOPED:
                meta["namespace"] = str(overrides["namespace"])
            if overrides.get("namePrefix") or overrides.get("nameSuffix"):
                meta["name"] = f"{overrides.get('namePrefix') or ''}{meta.get('name', '')}" + str(
                    overrides.get("nameSuffix") or ""
                )
            _set_labels(obj, _mapping(overrides.get("commonLabels")), selectors=True, templates=True)
            _set_annotations(obj, _mapping(overrides.get("commonAnnotations")))
        _apply_replicas(objects, overrides.get("replicas") or [], original)
        _apply_images(objects, overrides.get("images") or [])
    return objects


# --- Helm, chart-less ----------------------------------------------------------------------------


def _deep_merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _typed(value: str) -> Any:
    """How `helm --set` reads a value: booleans, null and integers are typed, the rest is text."""
    if value in ("true", "false"):
        return value == "true"
    if value == "null":
        return None
    if re.fullmatch(r"-?(0|[1-9][0-9]*)", value):
        return int(value)
    return value


def _set_path(values: dict[str, Any], dotted: str, value: Any) -> None:
    parts = [p.replace("\\.", ".") for p in re.split(r"(?<!\\)\.", dotted)]
    node = values
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[parts[-1]] = value


def helm_values(
    source: Mapping[str, Any], sources: Sequence[Mapping[str, Any]], trees: Sequence[Tree | None], index: int
) -> dict[str, Any]:
    """The values a Helm source renders with, in Helm's precedence: the in-repository chart's
    `values.yaml`, `helm.valueFiles` in order, `helm.values` / `helm.valuesObject`, `helm.parameters`."""
    helm = _mapping(source.get("helm"))
    ignore_missing = bool(helm.get("ignoreMissingValueFiles"))
    files: list[tuple[Tree, str]] = []
    own = trees[index] if index < len(trees) else None
    chart_path = str(source["path"]) if source.get("path") and not source.get("chart") else None
    if own is not None and chart_path is not None:
        default = _join(chart_path, "values.yaml")
        if own.has(default):
            files.append((own, default))
    refs = {str(s["ref"]): i for i, s in enumerate(sources) if s.get("ref")}
    for entry in helm.get("valueFiles") or []:
        entry = str(entry)
        if entry.startswith("$"):
            ref, _, rel = entry[1:].partition("/")
            ref_tree = trees[refs[ref]] if ref in refs and refs[ref] < len(trees) else None
            if ref_tree is None:
                raise RenderError(f"value file {entry}: no source with ref {ref!r} in the repository")
            files.append((ref_tree, posixpath.normpath(rel)))
        elif own is not None and chart_path is not None:
            files.append((own, _join(chart_path, entry)))
        # a value file inside a remote chart: the sandbox has no chart to read it from
    values: dict[str, Any] = {}
    for tree, path in files:
        if not tree.has(path):
            if ignore_missing:
                continue
            raise RenderError(f"{path}: value file does not exist in the repository")
        docs = _load_all(tree, path)
        top = docs[0] if docs else {}
        if not isinstance(top, dict):
            raise RenderError(f"{path}: values must be a mapping")
        values = _deep_merge(values, top)
    inline: Any = helm.get("valuesObject")
    if inline is None and helm.get("values"):
        try:
            inline = yaml.safe_load(str(helm["values"]))
        except yaml.YAMLError as exc:
            raise RenderError(f"helm.values is not valid YAML: {exc}") from exc
    if isinstance(inline, dict):
        values = _deep_merge(values, inline)
    for parameter in helm.get("parameters") or []:
        parameter = _mapping(parameter)
        if not parameter.get("name"):
            continue
        raw = str(parameter.get("value", ""))
        _set_path(values, str(parameter["name"]), raw if parameter.get("forceString") else _typed(raw))
    return values


def _main_container(containers: list[dict[str, Any]], names: Sequence[str]) -> dict[str, Any] | None:
    for name in names:
        for container in containers:
            if container.get("name") == name:
                return container
    return containers[0] if containers else None


def render_helm_values(
    values: Mapping[str, Any], workloads: Sequence[dict[str, Any]], chart: str = ""
) -> list[dict[str, Any]]:
    """Partial desired objects for the live `workloads`: only the fields the values set by the
    common chart conventions (the container named like the workload or the chart, else the first)."""
    out = []
    image = _mapping(values.get("image"))
    autoscaled = _mapping(values.get("autoscaling")).get("enabled") is True
    for workload in workloads:
        meta = _mapping(workload.get("metadata"))
        spec: dict[str, Any] = {}
        replicas = values.get("replicaCount")
        if (
            isinstance(replicas, int)
            and not isinstance(replicas, bool)
            and not autoscaled
            and workload.get("kind") in _REPLICATED_KINDS
        ):
            spec["replicas"] = replicas
        pod_spec = _mapping(_mapping(_mapping(workload.get("spec")).get("template")).get("spec"))
        containers = [c for c in pod_spec.get("containers") or [] if isinstance(c, dict)]
        live = _main_container(containers, [str(meta.get("name") or ""), chart])
        if live is not None:
            container: dict[str, Any] = {"name": live.get("name")}
            if image.get("repository") or image.get("tag") is not None or image.get("digest"):
                live_name, live_tag, _ = split_image(str(live.get("image") or ""))
                repository = str(image.get("repository") or live_name)
                if image.get("digest"):
                    container["image"] = _join_image(repository, "", str(image["digest"]))
                else:
                    tag = image.get("tag")
                    container["image"] = _join_image(
                        repository, str(tag) if tag not in (None, "") else live_tag, ""
                    )
            if isinstance(values.get("resources"), dict):
                container["resources"] = copy.deepcopy(values["resources"])
            if len(container) > 1:
                spec["template"] = {"spec": {"containers": [container]}}
        out.append(
            {
                "apiVersion": workload.get("apiVersion"),
                "kind": workload.get("kind"),
                "metadata": {"name": meta.get("name"), "namespace": meta.get("namespace", "")},
                "spec": spec,
            }
        )
    return out


# --- an Application's sources --------------------------------------------------------------------


def source_type(source: Mapping[str, Any], tree: Tree | None) -> str:
    """Argo CD's `sourceType` of a source: Helm, Kustomize or Directory ("" for a values-only ref)."""
    if source.get("chart"):
        return "Helm"
    path = source.get("path")
    if path is None or tree is None:
        return ""
    path = posixpath.normpath(str(path))
    if is_kustomize(tree, path):
        return "Kustomize"
    if tree.has(_join(path, "Chart.yaml")):
        return "Helm"
    return "Directory"


@dataclass
class Rendering:
    """The desired objects of an Application, or the error rendering them."""

    objects: list[Desired] = field(default_factory=list)
    source_types: list[str] = field(default_factory=list)


def render_application(
    sources: Sequence[Mapping[str, Any]],
    trees: Sequence[Tree | None],
    *,
    namespace: str,
    workloads: Sequence[dict[str, Any]] = (),
) -> Rendering:
    """Every object the Application's sources define, namespaced into `namespace` (the destination)
    where they name none. `trees[i]` is the repository at source i's revision (None: not a Git
    source). Helm sources render onto `workloads` (the live workloads the Application manages)."""
    rendering = Rendering()
    for index, source in enumerate(sources):
        tree = trees[index] if index < len(trees) else None
        kind = source_type(source, tree)
        rendering.source_types.append(kind)
        if kind == "":
            if source.get("path") is not None and tree is None:
                raise RenderError(f"source {index + 1}: the repository is not readable")
            continue  # a `ref` source: values for the others
        if kind == "Helm":
            values = helm_values(source, sources, trees, index)
            chart = str(source.get("chart") or posixpath.basename(str(source.get("path") or "")))
            objects = render_helm_values(values, workloads, chart)
            rendering.objects.extend(Desired(o, partial=True, source=index) for o in objects)
            continue
        assert tree is not None  # a path source always has its tree here
        path = posixpath.normpath(str(source.get("path")))
        if kind == "Kustomize":
            found = render_kustomize(tree, path, _mapping(source.get("kustomize")))
        else:
            found = render_directory(tree, path, _mapping(source.get("directory")))
        for obj in found:
            meta = obj.setdefault("metadata", {})
            if not meta.get("namespace") and obj.get("kind") not in CLUSTER_SCOPED and namespace:
                meta["namespace"] = namespace
            rendering.objects.append(Desired(obj, source=index))
    seen: dict[Key, int] = {}
    for d in rendering.objects:
        seen[d.key] = seen.get(d.key, 0) + 1
    doubled = sorted(f"{k[1]} {k[2]}/{k[3]}" for k, n in seen.items() if n > 1)
    if doubled:
        raise RenderError(f"defined more than once: {', '.join(doubled)}")
    return rendering


# --- comparison and apply ------------------------------------------------------------------------


def _same_scalar(want: Any, have: Any) -> bool:
    if want == have and type(want) is type(have):
        return True
    if isinstance(want, bool) or isinstance(have, bool):
        return False
    if isinstance(want, (str, int, float)) and isinstance(have, (str, int, float)):
        return str(want) == str(have)
    return False


def _same_quantity(want: Any, have: Any) -> bool:
    try:
        return parse_quantity(want) == parse_quantity(have)
    except QuantityError:
        return _same_scalar(want, have)


def _same_resources(want: Any, have: Any) -> bool:
    want, have = _mapping(want), _mapping(have)
    sections = {k for k, v in want.items() if v} | {k for k, v in have.items() if v}
    for section in sections:
        a, b = _mapping(want.get(section)), _mapping(have.get(section))
        if set(a) != set(b) or not all(_same_quantity(a[k], b[k]) for k in a):
            return False
    return True


def _covers(want: Any, have: Any, key: str = "") -> bool:
    if want is None:
        return True
    if isinstance(want, dict):
        if not isinstance(have, dict):
            return False
        if key == "resources" and ("limits" in want or "requests" in want or not want):
            return _same_resources(want, have)
        return all(_covers(v, have.get(k), k) for k, v in want.items())
    if isinstance(want, list):
        if not isinstance(have, list):
            return False
        merge_key = MERGE_KEYS.get(key)
        if merge_key and all(isinstance(w, dict) and merge_key in w for w in want):
            by_key = {h.get(merge_key): h for h in have if isinstance(h, dict)}
            return all(_covers(w, by_key.get(w[merge_key]), "") for w in want)
        return len(want) == len(have) and all(_covers(w, h) for w, h in zip(want, have, strict=True))
    return _same_scalar(want, have)


def target_state(desired: Desired) -> dict[str, Any]:
    """The desired object as compared: no status, nulls dropped."""
    manifest = _clean(desired.manifest)
    manifest.pop("status", None)
    return dict(manifest)


def in_sync(desired: Desired, live: dict[str, Any]) -> bool:
    """Whether the live object has every field Git sets (see the module docstring)."""
    target = target_state(desired)
    meta = _mapping(target.get("metadata"))
    live_meta = _mapping(live.get("metadata"))
    for section in ("labels", "annotations"):
        if not _covers(_mapping(meta.get(section)), _mapping(live_meta.get(section))):
            return False
    body = {k: v for k, v in target.items() if k not in ("apiVersion", "kind", "metadata")}
    return _covers(body, {k: v for k, v in live.items() if k not in ("apiVersion", "kind", "metadata")})


def sync_patch(desired: Desired) -> dict[str, Any]:
    """The strategic merge patch a sync sends: the desired object, container resources replaced whole."""
    patch = target_state(desired)
    meta = _mapping(patch.get("metadata"))
    patch["metadata"] = {k: meta[k] for k in ("labels", "annotations") if meta.get(k)}
    if not patch["metadata"]:
        del patch["metadata"]
    for container in _containers(patch):
        if isinstance(container.get("resources"), dict):
            container["resources"] = {"$patch": "replace", **container["resources"]}
    return patch


def predicted_live(desired: Desired, live: dict[str, Any]) -> dict[str, Any]:
    """The live object as it would be after a sync."""
    try:
        merged = strategic_merge(live, sync_patch(desired))
    except ApiError:
        return copy.deepcopy(live)
    return merged if isinstance(merged, dict) else copy.deepcopy(live)


def merge_diff(live: Any, predicted: Any) -> Any:
    """An RFC 7386 merge patch that turns `live` into `predicted` (`{}` when they are equal)."""
    if not isinstance(live, dict) or not isinstance(predicted, dict):
        return copy.deepcopy(predicted)
    out: dict[str, Any] = {}
    for key in live.keys() - predicted.keys():
        out[key] = None
    for key, value in predicted.items():
        if key not in live:
            out[key] = copy.deepcopy(value)
        elif live[key] != value:
            out[key] = merge_diff(live[key], value) if isinstance(value, dict) else copy.deepcopy(value)
    return out
