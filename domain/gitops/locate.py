"""Which file of the GitOps repository defines what an action would change — or why none can be
named with confidence. Pure: the repository is given as a file list and a reader.

An Argo CD Application's sources come in three layouts, each handled here:

- raw manifests: a source `path` directory of YAML files (multi-document files included; nested
  directories only with `directory.recurse`), matched by kind, namespace and name;
- Helm: values files named in `helm.valueFiles`, either `$<ref>/<path>` (a `ref:` source of the
  repository) or relative to an in-repository chart's path; the last file that sets a key wins, as
  in Helm (`resources`, `image.tag` / `image.repository`, `replicaCount`);
- Kustomize: the `path` directory's kustomization, followed through `resources:` / `bases:` /
  `components:` to the workload, with its `images:` and `replicas:` entries and its patches.

The answer is a `Located` (file, YAML path of the field, layout, confidence) or a `NotLocated`
with the reason: never a guess. `relevant_files` lists the files that define a target, bounded, for
the observation.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from domain.base import Frozen
from domain.incident.model import ResourceRef
from domain.kube.images import split_image
from domain.kube.observation import GitOpsFile

Reader = Callable[[str], str | None]
Layout = Literal["manifest", "helm_values", "kustomize"]
Confidence = Literal["high", "medium"]
YamlPath = tuple[str | int, ...]

MAX_FILE_BYTES = 8192
_KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_NO_FILE_ACTIONS = {
    "restart": "a restart changes nothing that Git defines; it is a direct action",
    "rollback_revision": "a rollback to a ReplicaSet revision is a direct action; in Git it is a "
    "set_image (or a revert) of the file that defines the workload",
    "sync_application": "a sync changes no file",
}


class Located(Frozen):
    """The file and the field an action changes. `yaml_path` leads from the document's root to the
    field (list items by index); its last key may be absent from the file yet (`detail` says so),
    in which case the edit adds it. `document` is the index within a multi-document file."""

    found: Literal[True] = True
    file: str
    yaml_path: YamlPath
    layout: Layout
    confidence: Confidence
    document: int = 0
    detail: str = ""
    # When the edit adds a Kustomize `images` / `replicas` entry: the `name` that entry must carry
    # (the image's name in the base manifest; the workload's name).
    entry_name: str = ""


class NotLocated(Frozen):
    found: Literal[False] = False
    reason: str
    layout: str = ""


Location = Located | NotLocated


# --- reading YAML ------------------------------------------------------------------------------


def _is_yaml(path: str) -> bool:
    return path.endswith((".yaml", ".yml"))


def _docs(read: Reader, path: str) -> list[Any]:
    text = read(path)
    if text is None:
        return []
    try:
        return list(yaml.safe_load_all(text))
    except yaml.YAMLError:
        return []


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _get(value: Any, path: Iterable[str | int]) -> Any:
    for key in path:
        if isinstance(key, int):
            if not isinstance(value, list) or key >= len(value):
                return None
            value = value[key]
        else:
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
    return value


def _join(base: str, rel: str) -> str:
    return posixpath.normpath(posixpath.join(base, rel)) if base else posixpath.normpath(rel)


def _is_dir(path: str, files: list[str]) -> bool:
    prefix = "" if path in ("", ".") else path.rstrip("/") + "/"
    return any(f.startswith(prefix) for f in files)


def _dir_files(path: str, files: list[str], recurse: bool) -> list[str]:
    prefix = "" if path in ("", ".") else path.rstrip("/") + "/"
    out = []
    for f in files:
        if not f.startswith(prefix) or not _is_yaml(f):
            continue
        if recurse or "/" not in f[len(prefix) :]:
            out.append(f)
    return sorted(out)


def _image_name(image: str) -> str:
    """`registry:5000/team/app:1.2@sha256:…` → `registry:5000/team/app`."""
    return split_image(image).repository


def _container_index(containers: Any, name: str | None) -> int | None:
    if not isinstance(containers, list):
        return None
    if name:
        return next((i for i, c in enumerate(containers) if _mapping(c).get("name") == name), None)
    return 0 if len(containers) == 1 else None


_CONTAINERS: YamlPath = ("spec", "template", "spec", "containers")


def _field_path(action: str, container: int) -> YamlPath:
    if action == "scale":
        return ("spec", "replicas")
    leaf = "resources" if action == "set_resources" else "image"
    return (*_CONTAINERS, container, leaf)


# --- raw manifests -----------------------------------------------------------------------------


@dataclass
class _Doc:
    file: str
    index: int
    doc: dict[str, Any]
    name: str = ""
    namespace: str | None = None

    def __post_init__(self) -> None:
        meta = _mapping(self.doc.get("metadata"))
        self.name = self.name or str(meta.get("name") or "")
        if self.namespace is None and meta.get("namespace"):
            self.namespace = str(meta["namespace"])


def _file_docs(read: Reader, path: str) -> list[_Doc]:
    return [_Doc(path, i, d) for i, d in enumerate(_docs(read, path)) if isinstance(d, dict)]


def _matches(doc: _Doc, target: ResourceRef, destination_namespace: str) -> bool:
    namespace = doc.namespace or destination_namespace or target.namespace
    return doc.doc.get("kind") == target.kind and doc.name == target.name and namespace == target.namespace


def _hpa_for(docs: Iterable[_Doc], target: ResourceRef) -> _Doc | None:
    for doc in docs:
        ref = _mapping(_get(doc.doc, ("spec", "scaleTargetRef")))
        if (
            doc.doc.get("kind") == "HorizontalPodAutoscaler"
            and ref.get("kind") == target.kind
            and ref.get("name") == target.name
        ):
            return doc
    return None


def _in_document(
    doc: _Doc, target: ResourceRef, action: str, layout: Layout, confidence: Confidence
) -> Location:
    """The field of `action` inside the workload document `doc`."""
    if action == "scale":
        path: YamlPath = ("spec", "replicas")
    else:
        index = _container_index(_get(doc.doc, _CONTAINERS), target.container)
        if index is None:
            return NotLocated(
                reason=f"{doc.file} defines {target.kind} {target.name} but not which container to change",
                layout=layout,
            )
        path = _field_path(action, index)
    present = _get(doc.doc, path) is not None
    return Located(
        file=doc.file,
        yaml_path=path,
        layout=layout,
        confidence=confidence if present else "medium",
        document=doc.index,
        detail="" if present else f"{'.'.join(map(str, path))} is not set yet; the edit adds it",
    )


def _locate_directory(
    path: str, recurse: bool, target: ResourceRef, action: str, read: Reader, files: list[str], dest: str
) -> Location:
    docs = [d for f in _dir_files(path, files, recurse) for d in _file_docs(read, f)]
    found = [d for d in docs if _matches(d, target, dest)]
    if not found:
        return NotLocated(
            reason=f"no {target.kind} {target.namespace}/{target.name} in the manifests under {path}/",
            layout="manifest",
        )
    if len(found) > 1:
        where = ", ".join(sorted({d.file for d in found}))
        return NotLocated(
            reason=f"{target.kind} {target.name} is defined more than once: {where}", layout="manifest"
        )
    if action == "scale" and (hpa := _hpa_for(docs, target)) is not None:
        return NotLocated(
            reason=f"HorizontalPodAutoscaler {hpa.name} ({hpa.file}) decides the replicas", layout="manifest"
        )
    return _in_document(found[0], target, action, "manifest", "high")


# --- Helm values -------------------------------------------------------------------------------


def _helm_value_files(source: dict[str, Any], sources: list[dict[str, Any]], files: list[str]) -> list[str]:
    """The repository paths of a Helm source's values files, lowest precedence first."""
    helm = _mapping(source.get("helm"))
    refs = {str(s["ref"]): s for s in sources if s.get("ref")}
    out: list[str] = []
    in_repo_chart = bool(source.get("path")) and not source.get("chart")
    if in_repo_chart and not helm.get("ignoreMissingValueFiles", False):
        default = _join(str(source["path"]), "values.yaml")
        if default in files:
            out.append(default)
    for entry in helm.get("valueFiles") or []:
        entry = str(entry)
        if entry.startswith("$"):
            ref, _, rel = entry[1:].partition("/")
            if ref in refs:
                out.append(posixpath.normpath(rel))
        elif in_repo_chart:
            out.append(_join(str(source["path"]), entry))
    return out


def helm_values_files(sources: list[dict[str, Any]], file: str, files: list[str]) -> list[str]:
    """The values files, lowest precedence first, of the Helm source whose values include `file`;
    empty when no source's do."""
    for source in sources:
        found = _helm_value_files(source, sources, files)
        if file in found:
            return found
    return []


def _helm_candidates(action: str, target: ResourceRef) -> list[tuple[YamlPath, Confidence]]:
    owners = [n for n in dict.fromkeys([target.container or "", target.name]) if n]
    if action == "set_resources":
        return [(("resources",), "high"), *[((o, "resources"), "medium") for o in owners]]
    if action == "set_image":
        return [(("image", "tag"), "high"), *[((o, "image", "tag"), "medium") for o in owners]]
    if action == "scale":
        return [(("replicaCount",), "high"), *[((o, "replicaCount"), "medium") for o in owners]]
    return []


def _locate_helm(value_files: list[str], target: ResourceRef, action: str, read: Reader) -> Location:
    present = [f for f in value_files if read(f) is not None]
    if not present:
        names = ", ".join(value_files) or "none"
        return NotLocated(
            reason=f"the Application's values files are not in the repository ({names})", layout="helm_values"
        )
    values = {f: next((d for d in _docs(read, f) if isinstance(d, dict)), {}) for f in present}
    if action == "scale":
        for f in reversed(present):
            if _get(values[f], ("autoscaling", "enabled")) is True:
                return NotLocated(
                    reason=f"autoscaling is enabled in {f}: the HPA decides the replicas",
                    layout="helm_values",
                )
    for path, confidence in _helm_candidates(action, target):
        for f in reversed(present):  # the last file that sets a key wins
            if _get(values[f], path) is not None:
                return Located(file=f, yaml_path=path, layout="helm_values", confidence=confidence)
        # image: {repository: …} without a tag: the chart falls back to its appVersion
        if path[-1] == "tag":
            for f in reversed(present):
                if isinstance(_get(values[f], path[:-1]), dict):
                    return Located(
                        file=f,
                        yaml_path=path,
                        layout="helm_values",
                        confidence="medium",
                        detail="image.tag is not set yet (the chart's appVersion applies); the edit adds it",
                    )
    keys = {"set_resources": "resources", "set_image": "image.tag", "scale": "replicaCount"}[action]
    return NotLocated(
        reason=f"no values file of the Application sets {keys} ({', '.join(present)}); "
        "where the chart reads it from is unknown",
        layout="helm_values",
    )


# --- Kustomize ---------------------------------------------------------------------------------


@dataclass
class _Patch:
    kustomization: str
    file: str
    doc: _Doc
    targets: set[tuple[str, int]]  # (file, index) of the resources it applies to


@dataclass
class _Build:
    root: str
    kustomizations: list[str] = field(default_factory=list)
    resources: list[_Doc] = field(default_factory=list)
    patches: list[_Patch] = field(default_factory=list)  # outermost first
    images: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)  # outermost first
    replicas: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _kustomization_file(path: str, files: list[str]) -> str | None:
    return next((f for n in _KUSTOMIZATION_NAMES if (f := _join(path, n)) in files), None)


def _selector_matches(selector: dict[str, Any], doc: _Doc) -> bool:
    kind, name = selector.get("kind"), selector.get("name")
    if kind and kind != doc.doc.get("kind"):
        return False
    if name:
        try:
            return re.fullmatch(str(name), doc.name) is not None
        except re.error:
            return str(name) == doc.name
    return True


def _kustomize(path: str, read: Reader, files: list[str], seen: frozenset[str] = frozenset()) -> _Build:
    build = _Build(root=path)
    kfile = _kustomization_file(path, files)
    if kfile is None or path in seen or len(seen) > 20:
        build.problems.append(f"no kustomization in {path}/" if kfile is None else f"{path}/ includes itself")
        return build
    k = _mapping(next(iter(_docs(read, kfile)), {}))
    build.kustomizations.append(kfile)
    for entry in [*(k.get("resources") or []), *(k.get("bases") or []), *(k.get("components") or [])]:
        entry = str(entry)
        if "://" in entry or entry.startswith(("git@", "github.com/")):
            build.problems.append(f"{kfile} includes a remote resource ({entry}) medic cannot read")
            continue
        rel = _join(path, entry)
        if rel in files:
            build.resources.extend(_file_docs(read, rel))
        elif _is_dir(rel, files):
            child = _kustomize(rel, read, files, seen | {path})
            build.kustomizations.extend(child.kustomizations)
            build.resources.extend(child.resources)
            build.patches.extend(child.patches)
            build.images.extend(child.images)
            build.replicas.extend(child.replicas)
            build.problems.extend(child.problems)
        else:
            build.problems.append(f"{kfile} includes {entry}, which is not in the repository")
    patches: list[_Patch] = []
    specs: list[tuple[dict[str, Any], Any]] = [
        (_mapping(p.get("target")), p.get("path") if isinstance(p, dict) else None)
        for p in k.get("patches") or []
    ]
    specs += [({}, p) for p in k.get("patchesStrategicMerge") or [] if isinstance(p, str) and "\n" not in p]
    for selector, rel_path in specs:
        if not rel_path:
            continue  # inline patches live in the kustomization; see the problems note below
        patch_file = _join(path, str(rel_path))
        for doc in _file_docs(read, patch_file):
            sel = selector or {"kind": doc.doc.get("kind"), "name": doc.name}
            targets = {(r.file, r.index) for r in build.resources if _selector_matches(sel, r)}
            patches.append(_Patch(kfile, patch_file, doc, targets))
    if any(isinstance(p, dict) and p.get("patch") for p in k.get("patches") or []):
        build.problems.append(f"{kfile} has inline patches, which medic does not edit")
    build.patches = patches + build.patches
    build.images = [(kfile, i, _mapping(e)) for i, e in enumerate(k.get("images") or [])] + build.images
    build.replicas = [(kfile, i, _mapping(e)) for i, e in enumerate(k.get("replicas") or [])] + build.replicas
    # This level's transformers apply to everything below it.
    prefix, suffix = str(k.get("namePrefix") or ""), str(k.get("nameSuffix") or "")
    for doc in build.resources:
        doc.name = f"{prefix}{doc.name}{suffix}"
        if k.get("namespace"):
            doc.namespace = str(k["namespace"])
    return build


def _kustomize_target(build: _Build, target: ResourceRef, dest: str) -> _Doc | NotLocated:
    found = [d for d in build.resources if _matches(d, target, dest)]
    if len(found) == 1:
        return found[0]
    problems = f" ({'; '.join(build.problems)})" if build.problems else ""
    if not found:
        return NotLocated(
            reason=f"the kustomization in {build.root}/ yields no {target.kind} {target.name}{problems}",
            layout="kustomize",
        )
    return NotLocated(
        reason=f"{target.kind} {target.name} appears more than once in {build.root}/", layout="kustomize"
    )


def _patches_for(build: _Build, doc: _Doc) -> list[_Patch]:
    return [p for p in build.patches if (doc.file, doc.index) in p.targets]


def _other_users(base_dir: str, build: _Build, read: Reader, files: list[str]) -> list[str]:
    """Kustomizations outside this build that include `base_dir` (changing it changes them too)."""
    users = []
    for f in files:
        if posixpath.basename(f) not in _KUSTOMIZATION_NAMES or f in build.kustomizations:
            continue
        k = _mapping(next(iter(_docs(read, f)), {}))
        entries = [*(k.get("resources") or []), *(k.get("bases") or []), *(k.get("components") or [])]
        here = posixpath.dirname(f)
        if any(
            (rel := _join(here, str(e))) == base_dir or base_dir.startswith(rel.rstrip("/") + "/")
            for e in entries
        ):
            users.append(f)
    return users


def _locate_kustomize(
    path: str, target: ResourceRef, action: str, read: Reader, files: list[str], dest: str
) -> Location:
    build = _kustomize(path, read, files)
    doc = _kustomize_target(build, target, dest)
    if isinstance(doc, NotLocated):
        return doc
    root_k = build.kustomizations[0]
    patches = _patches_for(build, doc)
    base_name = str(_mapping(doc.doc.get("metadata")).get("name") or "")
    if action == "scale":
        if (hpa := _hpa_for(build.resources, target)) is not None:
            return NotLocated(
                reason=f"HorizontalPodAutoscaler {hpa.name} ({hpa.file}) decides the replicas",
                layout="kustomize",
            )
        for kfile, i, entry in build.replicas:
            if entry.get("name") in (base_name, doc.name, target.name):
                confidence: Confidence = "high" if kfile == root_k else "medium"
                return Located(
                    file=kfile, yaml_path=("replicas", i, "count"), layout="kustomize", confidence=confidence
                )
        for patch in patches:
            if _get(patch.doc.doc, ("spec", "replicas")) is not None:
                return Located(
                    file=patch.file,
                    yaml_path=("spec", "replicas"),
                    layout="kustomize",
                    confidence="high" if patch.kustomization == root_k else "medium",
                    document=patch.doc.index,
                )
        return Located(
            file=root_k,
            yaml_path=("replicas",),
            layout="kustomize",
            confidence="medium",
            detail=f"no replicas entry or patch sets {target.name}'s replicas; the edit adds an entry",
            entry_name=base_name or target.name,
        )
    index = _container_index(_get(doc.doc, _CONTAINERS), target.container)
    container_name = target.container or (
        str(_mapping(_get(doc.doc, (*_CONTAINERS, index))).get("name")) if index is not None else ""
    )
    if action == "set_image":
        image = str(_get(doc.doc, (*_CONTAINERS, index, "image")) or "") if index is not None else ""
        if not image:
            return NotLocated(
                reason=f"{doc.file} gives container {container_name or '?'} no image", layout="kustomize"
            )
        name = _image_name(image)
        for kfile, i, entry in build.images:
            if entry.get("name") == name:
                return Located(
                    file=kfile,
                    yaml_path=("images", i, "newTag"),
                    layout="kustomize",
                    confidence="high" if kfile == root_k else "medium",
                )
        return Located(
            file=root_k,
            yaml_path=("images",),
            layout="kustomize",
            confidence="medium",
            detail=f"no images entry for {name} yet; the edit adds one",
            entry_name=name,
        )
    # set_resources: the outermost patch that sets the container's resources, else the base
    for patch in patches:
        containers = _get(patch.doc.doc, _CONTAINERS)
        at = _container_index(containers, container_name or None)
        if at is not None and _get(containers, (at, "resources")) is not None:
            return Located(
                file=patch.file,
                yaml_path=(*_CONTAINERS, at, "resources"),
                layout="kustomize",
                confidence="high" if patch.kustomization == root_k else "medium",
                document=patch.doc.index,
            )
    users = _other_users(posixpath.dirname(doc.file), build, read, files)
    if users:
        return NotLocated(
            reason=f"{target.name}'s resources are set in {doc.file}, which {', '.join(users)} also "
            "include; an overlay patch is needed",
            layout="kustomize",
        )
    located = _in_document(doc, target, action, "kustomize", "medium")
    return located


# --- the sources of an Application -------------------------------------------------------------


def _source_locations(
    sources: list[dict[str, Any]], target: ResourceRef, action: str, read: Reader, files: list[str], dest: str
) -> list[Location]:
    out: list[Location] = []
    for source in sources:
        helm = _mapping(source.get("helm"))
        path = source.get("path")
        if source.get("chart") or (path is not None and _join(str(path), "Chart.yaml") in files):
            out.append(_locate_helm(_helm_value_files(source, sources, files), target, action, read))
        elif path is not None:
            path = posixpath.normpath(str(path))
            if _kustomization_file(path, files) is not None:
                out.append(_locate_kustomize(path, target, action, read, files, dest))
            elif helm.get("valueFiles"):
                out.append(_locate_helm(_helm_value_files(source, sources, files), target, action, read))
            else:
                recurse = bool(_mapping(source.get("directory")).get("recurse"))
                out.append(_locate_directory(path, recurse, target, action, read, files, dest))
    return out


def locate_field(
    sources: list[dict[str, Any]],
    target: ResourceRef,
    action_kind: str,
    read: Reader,
    files: list[str],
    *,
    destination_namespace: str = "",
) -> Location:
    """Where in the repository `action_kind` on `target` is made, from the owning Application's
    `sources` (spec.source / spec.sources). `read(path)` gives a file's text or None; `files` lists
    the repository's paths. One answer or the reason there is none; several candidate files in
    different sources are ambiguous, hence not located."""
    if action_kind in _NO_FILE_ACTIONS:
        return NotLocated(reason=_NO_FILE_ACTIONS[action_kind])
    if action_kind not in ("set_resources", "set_image", "scale"):
        return NotLocated(reason=f"unknown action kind {action_kind!r}")
    if not sources:
        return NotLocated(reason="the Application has no source")
    locations = _source_locations(sources, target, action_kind, read, files, destination_namespace)
    found = [loc for loc in locations if isinstance(loc, Located)]
    if len({(loc.file, loc.yaml_path) for loc in found}) == 1:
        return found[0]
    if found:
        return NotLocated(
            reason="more than one source defines it: " + ", ".join(sorted({f.file for f in found}))
        )
    reasons = [loc.reason for loc in locations if isinstance(loc, NotLocated)]
    return NotLocated(reason="; ".join(reasons) or "no source of the Application is in the GitOps repository")


# --- the files to show --------------------------------------------------------------------------


def _bounded(text: str, limit: int) -> tuple[str, bool]:
    data = text.encode()
    if len(data) <= limit:
        return text, False
    return data[:limit].decode("utf-8", errors="ignore"), True


def _document_text(text: str, index: int) -> str:
    parts = re.split(r"(?m)^---[ \t]*$\n?", text)
    # a leading '---' makes an empty first part that yaml does not count as a document
    docs = [p for i, p in enumerate(parts) if i > 0 or p.strip()]
    return docs[index] if 0 <= index < len(docs) else text


def _application_files(application: str, read: Reader, files: list[str], limit: int = 50) -> list[str]:
    if not application:
        return []
    named = [f for f in files if _is_yaml(f) and application in posixpath.basename(f)]
    others = [
        f
        for f in files
        if _is_yaml(f) and f not in named and re.search(r"(^|/)(applications?|apps|argocd|argo-cd)/", f)
    ]
    out = []
    for f in (named + others)[:limit]:
        for doc in _file_docs(read, f):
            if doc.doc.get("kind") in ("Application", "ApplicationSet") and doc.name == application:
                out.append(f)
                break
    return out


def _defining_files(
    sources: list[dict[str, Any]], target: ResourceRef, read: Reader, files: list[str], dest: str
) -> list[tuple[str, str, int | None]]:
    """(path, role, document index of the target or None) for the files that define `target`."""
    out: list[tuple[str, str, int | None]] = []
    for source in sources:
        path = source.get("path")
        helm = _mapping(source.get("helm"))
        is_chart = source.get("chart") or (path is not None and _join(str(path), "Chart.yaml") in files)
        if is_chart or (
            path is not None and helm.get("valueFiles") and _kustomization_file(str(path), files) is None
        ):
            out += [(f, "helm_values", None) for f in _helm_value_files(source, sources, files) if f in files]
            continue
        if path is None:
            continue
        path = posixpath.normpath(str(path))
        if _kustomization_file(path, files) is not None:
            build = _kustomize(path, read, files)
            doc = _kustomize_target(build, target, dest)
            if isinstance(doc, NotLocated):
                out += [(k, "kustomization", None) for k in build.kustomizations[:1]]
                continue
            out += [(k, "kustomization", None) for k in build.kustomizations]
            out += [(p.file, "kustomize_patch", p.doc.index) for p in _patches_for(build, doc)]
            out.append((doc.file, "manifest", doc.index))
        else:
            recurse = bool(_mapping(source.get("directory")).get("recurse"))
            for f in _dir_files(path, files, recurse):
                for doc in _file_docs(read, f):
                    if _matches(doc, target, dest):
                        out.append((f, "manifest", doc.index))
    return out


def relevant_files(
    sources: list[dict[str, Any]],
    target: ResourceRef,
    read: Reader,
    files: list[str],
    *,
    application: str = "",
    revision: str = "",
    destination_namespace: str = "",
    max_bytes: int = MAX_FILE_BYTES,
) -> list[GitOpsFile]:
    """The files that define `target` (manifests, values files, kustomizations and their patches),
    then the Application's own manifest when the repository holds it; each at most `max_bytes`
    (of a large multi-document file, only the target's document)."""
    entries = _defining_files(sources, target, read, files, destination_namespace)
    entries += [(f, "application", None) for f in _application_files(application, read, files)]
    out: dict[str, GitOpsFile] = {}
    for path, role, index in entries:
        if path in out:
            continue
        text = read(path)
        if text is None:
            continue
        cut = False
        if len(text.encode()) > max_bytes and index is not None:
            text, cut = _document_text(text, index), True
        content, truncated = _bounded(text, max_bytes)
        out[path] = GitOpsFile(
            id=f"gitops/{path}",
            path=path,
            revision=revision,
            content=content,
            role=role,
            application=application,
            truncated=truncated or cut,
        )
    return list(out.values())
