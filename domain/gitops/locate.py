"""Which file of the GitOps repository defines what an action would change — or why none can be
named with confidence. Pure: the repository is given as a file list and a reader.

An Argo CD Application's sources come in three layouts, each handled here, and the place named is
the one whose value wins:

- raw manifests: a source `path` directory of YAML files (multi-document files included; nested
  directories only with `directory.recurse`), matched by kind, namespace and name;
- Helm: `helm.parameters` over `helm.valuesObject` over `helm.values` over the values files named
  in `helm.valueFiles` (`$<ref>/<path>` through a `ref:` source, or relative to an in-repository
  chart's path; the last file that sets a key wins) — `resources`, `image.tag` /
  `image.repository`, `replicaCount`. The Application's own settings are edited in its manifest
  when the repository holds it; for an ApplicationSet-generated Application, in the generator's
  source (a `list` element, a `git` files config file) the template's placeholder reads;
- Kustomize: the `path` directory's kustomization, followed through `resources:` / `bases:` /
  `components:` to the workload, with its `images:` and `replicas:` entries and its patches
  (strategic merge and JSON 6902, in files or inline): the patch applied last that sets the field
  wins, else the base.

The answer is a `Located` (file, YAML path of the field, layout, confidence) or a `NotLocated`
with the reason: never a guess. `relevant_files` lists the files that define a target, bounded, for
the observation.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml
from pydantic import Field

from domain.base import Frozen
from domain.incident.model import ResourceRef
from domain.kube.images import split_image
from domain.kube.observation import GitOpsFile

Reader = Callable[[str], str | None]
Layout = Literal["manifest", "helm_values", "kustomize", "application", "applicationset"]
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
    # When the field is in YAML held by a block scalar of `file` (an inline Kustomize patch, an
    # Application's helm.values): that scalar's path; `yaml_path` and `inline_document` then lead
    # within the scalar's text.
    inline: YamlPath = ()
    inline_document: int = 0
    # When the field is set piecewise (a JSON patch's operations, Helm parameters, an
    # ApplicationSet generator's parameters): (the part below the field, dotted, "" for all of it;
    # the path of the value that sets it). A part the action sets that none covers is refused.
    subpaths: list[tuple[str, YamlPath]] = Field(default_factory=list)


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


@dataclass(frozen=True)
class _Owner:
    """The Application whose sources are located: its name, and the ApplicationSet that
    generated it (its manifest is then never edited: the generator's source is)."""

    application: str = ""
    application_set: str = ""


_HELM_LAYERS = {
    "parameters": "helm.parameters",
    "valuesObject": "helm.valuesObject",
    "values": "helm.values",
}


def _parameter_parts(helm: dict[str, Any], path: YamlPath) -> list[tuple[str, int]] | str:
    """(the part below `path`, dotted, "" for all of it; the parameter's index) of every
    `helm.parameters` entry that sets `path` or a part of it; a reason when one sets more."""
    dotted = ".".join(map(str, path))
    out: list[tuple[str, int]] = []
    for j, parameter in enumerate(helm.get("parameters") or []):
        name = str(_mapping(parameter).get("name") or "")
        if name == dotted or name.startswith(dotted + "."):
            out.append((name[len(dotted) + 1 :], j))
        elif dotted.startswith(name + ".") and name:
            return f"the helm parameter {name} sets all of {dotted} as one string"
    return out


def _spec_layer(helm: dict[str, Any], path: YamlPath) -> tuple[str, Any] | NotLocated | None:
    """The layer of the Application's own Helm settings that sets `path` — parameters, then
    valuesObject, then values, as Argo CD ranks them — and what it says; None when none does."""
    parameters = _parameter_parts(helm, path)
    if isinstance(parameters, str):
        return NotLocated(reason=parameters, layout="helm_values")
    if parameters:
        return "parameters", parameters
    if _get(_mapping(helm.get("valuesObject")), path) is not None:
        return "valuesObject", None
    values = helm.get("values")
    if isinstance(values, str) and values.strip():
        try:
            parsed = yaml.safe_load(values)
        except yaml.YAMLError:
            return NotLocated(reason="the Application's helm.values is not valid YAML", layout="helm_values")
        if _get(_mapping(parsed), path) is not None:
            return "values", None
    return None


def _manifests(name: str, kind: str, read: Reader, files: list[str]) -> list[_Doc]:
    return [
        doc
        for f in _application_files(name, read, files)
        for doc in _file_docs(read, f)
        if doc.doc.get("kind") == kind and doc.name == name
    ]


def _in_application(
    owner: _Owner,
    layer: str,
    found: Any,
    source: dict[str, Any],
    index: int,
    path: YamlPath,
    confidence: Confidence,
    read: Reader,
    files: list[str],
) -> Location:
    """The place in the Application's manifest of the layer of its Helm settings that wins."""
    what = _HELM_LAYERS[layer]
    if owner.application_set:
        return _through_application_set(owner, layer, found, index, path, read, files)
    if not owner.application:
        return NotLocated(
            reason=f"the value that wins is set in the Application's {what}, and which manifest "
            "defines the Application is unknown",
            layout="helm_values",
        )
    manifests = _manifests(owner.application, "Application", read, files)
    if len(manifests) != 1:
        return NotLocated(
            reason=f"the value that wins is set in Application {owner.application}'s {what}, and its "
            + (
                "manifest is not in the GitOps repository"
                if not manifests
                else "manifest is defined more than once: " + ", ".join(sorted({m.file for m in manifests}))
            ),
            layout="helm_values",
        )
    (manifest,) = manifests
    spec = _mapping(manifest.doc.get("spec"))
    src: YamlPath = (
        ("spec", "sources", index) if isinstance(spec.get("sources"), list) else ("spec", "source")
    )
    helm_path: YamlPath = (*src, "helm", layer)
    if _get(manifest.doc, helm_path) != _mapping(source.get("helm")).get(layer):
        return NotLocated(
            reason=f"{manifest.file} gives Application {owner.application} another {what} than the one "
            "Argo CD runs; the Application is not synced from Git",
            layout="application",
        )
    common: dict[str, Any] = {
        "file": manifest.file,
        "document": manifest.index,
        "layout": "application",
        "confidence": confidence,
    }
    if layer == "parameters":
        subpaths = [(part, (*helm_path, j, "value")) for part, j in found]
        return Located(yaml_path=(), subpaths=subpaths, **common)
    if layer == "values":
        return Located(yaml_path=path, inline=helm_path, **common)
    return Located(yaml_path=(*helm_path, *path), **common)


def _locate_helm(
    source: dict[str, Any],
    index: int,
    sources: list[dict[str, Any]],
    target: ResourceRef,
    action: str,
    read: Reader,
    files: list[str],
    owner: _Owner,
) -> Location:
    """The Helm setting that wins for the field: `helm.parameters`, then `helm.valuesObject`, then
    `helm.values` (all in the Application), then the values files, the last first."""
    value_files = _helm_value_files(source, sources, files)
    helm = _mapping(source.get("helm"))
    present = [f for f in value_files if read(f) is not None]
    values = {f: next((d for d in _docs(read, f) if isinstance(d, dict)), {}) for f in present}
    if action == "scale":
        layers = [_mapping(helm.get("valuesObject")), _mapping(_safe_load(helm.get("values")))]
        for where, layer in [
            *zip(["helm.valuesObject", "helm.values"], layers, strict=True),
            *((f, values[f]) for f in reversed(present)),
        ]:
            if _get(layer, ("autoscaling", "enabled")) is True:
                return NotLocated(
                    reason=f"autoscaling is enabled in {where}: the HPA decides the replicas",
                    layout="helm_values",
                )
    for path, confidence in _helm_candidates(action, target):
        spec = _spec_layer(helm, path)
        if isinstance(spec, NotLocated):
            return spec
        if spec is not None:
            if action == "set_image":
                return NotLocated(
                    reason=f"{'.'.join(map(str, path))} is set in the Application's {_HELM_LAYERS[spec[0]]}; "
                    "medic sets image tags in values files only",
                    layout="helm_values",
                )
            return _in_application(owner, spec[0], spec[1], source, index, path, confidence, read, files)
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
    if not present:
        names = ", ".join(value_files) or "none"
        return NotLocated(
            reason=f"the Application's values files are not in the repository ({names})", layout="helm_values"
        )
    keys = {"set_resources": "resources", "set_image": "image.tag", "scale": "replicaCount"}[action]
    return NotLocated(
        reason=f"no values file of the Application sets {keys} ({', '.join(present)}); "
        "where the chart reads it from is unknown",
        layout="helm_values",
    )


def _safe_load(text: Any) -> Any:
    if not isinstance(text, str):
        return None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None


# --- ApplicationSets ---------------------------------------------------------------------------


_PLACEHOLDER = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}")
_PARAMETER = re.compile(r"^\.?([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)$")


def _parameter_name(expression: str, go: bool) -> str | None:
    """`memory` (fasttemplate) or `.memory` (goTemplate): the parameter a placeholder names; None
    for anything else (functions, pipes)."""
    match = _PARAMETER.match(expression)
    if match is None or go != expression.startswith("."):
        return None
    return match.group(1)


def _lookup(params: dict[str, Any], name: str) -> Any:
    if name in params:
        return params[name]
    return _get(params, name.split("."))


def _render(text: str, params: dict[str, Any], go: bool) -> str | None:
    """`text` with its placeholders filled from `params`; None when one cannot be."""
    missing = False

    def fill(match: re.Match[str]) -> str:
        nonlocal missing
        name = _parameter_name(match.group(1), go)
        value = _lookup(params, name) if name is not None else None
        if value is None or isinstance(value, (dict, list)):
            missing = True
            return ""
        return str(value)

    out = _PLACEHOLDER.sub(fill, text)
    return None if missing else out


def _placeholder(value: Any, go: bool) -> str | None:
    """The parameter a value that is exactly one placeholder names, else None."""
    if not isinstance(value, str):
        return None
    match = _PLACEHOLDER.fullmatch(value.strip())
    return _parameter_name(match.group(1), go) if match else None


def _glob(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def _path_params(file: str, go: bool) -> dict[str, Any]:
    directory = posixpath.dirname(file)
    base = posixpath.basename(directory)
    normalized = re.sub(r"[^a-zA-Z0-9-]", "-", base)
    if go:
        segments = directory.split("/")
        return {
            "path": {
                "path": directory,
                "basename": base,
                "filename": posixpath.basename(file),
                "basenameNormalized": normalized,
                "filenameNormalized": re.sub(r"[^a-zA-Z0-9-]", "-", posixpath.basename(file)),
                "segments": segments,
            }
        }
    out: dict[str, Any] = {
        "path": directory,
        "path.basename": base,
        "path.filename": posixpath.basename(file),
        "path.basenameNormalized": normalized,
    }
    out.update({f"path[{i}]": s for i, s in enumerate(directory.split("/"))})
    return out


def _normal_url(url: Any) -> str:
    text = str(url or "").strip().rstrip("/")
    return text[:-4] if text.endswith(".git") else text


@dataclass(frozen=True)
class _Element:
    """One set of parameters a generator produced: where its values are written."""

    file: str
    document: int
    base: YamlPath  # the path of the parameters' mapping in `file`
    params: dict[str, Any]
    values: dict[str, Any]  # the parameters written in `file` (a config file's, an element's)


def _generated(
    appset: _Doc, generator: dict[str, Any], g: int, go: bool, read: Reader, files: list[str]
) -> list[_Element] | str:
    """The parameter sets of one generator, or why medic does not follow it."""
    kinds = [k for k in generator if k not in ("selector", "values")]
    if generator.get("selector") or generator.get("values"):
        return "a generator with a selector or values"
    if kinds == ["list"]:
        listed = _mapping(generator["list"])
        if listed.get("elementsYaml"):
            return "a list generator with elementsYaml"
        base: YamlPath = ("spec", "generators", g, "list", "elements")
        return [
            _Element(appset.file, appset.index, (*base, e), element, element)
            for e, element in enumerate(listed.get("elements") or [])
            if isinstance(element, dict)
        ]
    if kinds == ["git"]:
        git = _mapping(generator["git"])
        if not git.get("files"):
            return "a git directories generator (its parameters are paths, not values)"
        include = [
            _glob(str(_mapping(f).get("path"))) for f in git["files"] if not _mapping(f).get("exclude")
        ]
        exclude = [_glob(str(_mapping(f).get("path"))) for f in git["files"] if _mapping(f).get("exclude")]
        out = []
        for f in files:
            if not any(p.fullmatch(f) for p in include) or any(p.fullmatch(f) for p in exclude):
                continue
            docs = _docs(read, f)
            if len(docs) != 1 or not isinstance(docs[0], dict):
                return f"the git files generator reads {f}, which is not one mapping"
            out.append(_Element(f, 0, (), {**_path_params(f, go), **docs[0]}, docs[0]))
        return out
    return f"a {'/'.join(kinds) or 'empty'} generator"


def _template_parts(template: Any, layer: str, found: Any, path: YamlPath, go: bool) -> dict[str, str] | str:
    """(the part of the field, dotted → the parameter that sets it in the template), or why the
    template does not set it through parameters."""
    helm = _mapping(template)
    if layer == "parameters":
        by_name = {
            str(_mapping(p).get("name")): _mapping(p).get("value") for p in helm.get("parameters") or []
        }
        dotted = ".".join(map(str, path))
        out = {}
        for part, _ in found:
            name = f"{dotted}.{part}" if part else dotted
            param = _placeholder(by_name.get(name), go)
            if param is None and "{{" not in str(by_name.get(name) or ""):
                return f"the template's helm parameter {name} is the same for every Application it generates"
            if param is None:
                return f"the template's helm parameter {name} is not a single generator parameter"
            out[part] = param
        return out
    if layer == "values":
        return "the template's helm.values is one text, which medic does not edit"
    node = _get(_mapping(helm.get("valuesObject")), path)
    if node is None:
        return "the template's helm.valuesObject does not set it"
    out = {}

    def walk(value: Any, part: tuple[str, ...]) -> None:
        if isinstance(value, dict):
            for key, child in value.items():
                walk(child, (*part, str(key)))
        elif (param := _placeholder(value, go)) is not None:
            out[".".join(part)] = param

    walk(node, ())
    if not out:
        return "the template's helm.valuesObject sets it for every Application it generates"
    return out


def _through_application_set(
    owner: _Owner, layer: str, found: Any, index: int, path: YamlPath, read: Reader, files: list[str]
) -> Location:
    """The generator's source of the value that wins for a generated Application: the element of a
    list generator, or the config file of a git files generator, that the template's placeholder
    reads — never the generated Application."""
    name, app = owner.application_set, owner.application
    what = f"Application {app} is generated by ApplicationSet {name}"
    sets = _manifests(name, "ApplicationSet", read, files)
    if len(sets) != 1:
        where = "whose manifest is not in the GitOps repository" if not sets else "defined more than once"
        return NotLocated(
            reason=f"{what}, {where}; medic never edits a generated Application", layout="helm_values"
        )
    (appset,) = sets
    spec = _mapping(appset.doc.get("spec"))
    if spec.get("templatePatch"):
        return NotLocated(
            reason=f"{what}, whose templatePatch medic does not evaluate", layout="applicationset"
        )
    go = bool(spec.get("goTemplate"))
    template = _mapping(spec.get("template"))
    template_spec = _mapping(template.get("spec"))
    source = (
        _get(template_spec, ("sources", index))
        if isinstance(template_spec.get("sources"), list)
        else template_spec.get("source")
    )
    parts = _template_parts(_mapping(source).get("helm"), layer, found, path, go)
    if isinstance(parts, str):
        return NotLocated(reason=f"{what}: {parts}", layout="applicationset")
    template_name = str(_mapping(template.get("metadata")).get("name") or "")
    elements: list[_Element] = []
    for g, generator in enumerate(spec.get("generators") or []):
        made = _generated(appset, _mapping(generator), g, go, read, files)
        if isinstance(made, str):
            return NotLocated(
                reason=f"{what}, through {made}, which medic does not follow", layout="applicationset"
            )
        elements += [e for e in made if _render(template_name, e.params, go) == app]
    if len(elements) != 1:
        return NotLocated(
            reason=f"{what}, and {'more than one' if elements else 'no'} generator element gives its name",
            layout="applicationset",
        )
    (element,) = elements
    subpaths: list[tuple[str, YamlPath]] = []
    for part, param in sorted(parts.items()):
        value = _get(element.values, param.split("."))
        if value is None or isinstance(value, list):
            return NotLocated(
                reason=f"{what}, and its generator element in {element.file} does not write {param}",
                layout="applicationset",
            )
        subpaths.append((part, (*element.base, *param.split("."))))
    return Located(
        file=element.file,
        document=element.document,
        yaml_path=(),
        subpaths=subpaths,
        layout="applicationset",
        confidence="medium",
        detail=f"{what}; the value comes from its generator",
    )


# --- Kustomize ---------------------------------------------------------------------------------


@dataclass
class _Patch:
    """One patch of a kustomization: a strategic merge patch (`body` a mapping) or a JSON 6902
    patch (`body` a list of operations), in its own file or inline in the kustomization (`inline`:
    the path there of the string that holds it). `targets` are the (file, index) of the resources
    it applies to; None when its selector cannot be evaluated (`why`)."""

    kustomization: str
    file: str
    index: int  # document within the file, or within the inline string
    body: Any
    targets: set[tuple[str, int]] | None
    inline: YamlPath = ()
    why: str = ""

    @property
    def json(self) -> bool:
        return isinstance(self.body, list)

    @property
    def where(self) -> str:
        return f"{self.file} {_dotted(self.inline)}" if self.inline else self.file


@dataclass
class _Build:
    root: str
    kustomizations: list[str] = field(default_factory=list)
    resources: list[_Doc] = field(default_factory=list)
    patches: list[_Patch] = field(default_factory=list)  # the one applied last (which wins) first
    images: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)  # outermost first
    replicas: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    # Why the value that wins cannot be told from the files: plugins that may rewrite anything.
    unsure: list[str] = field(default_factory=list)
    # (kustomization, the field paths a replacement writes; None: unknown) of every replacement
    replacements: list[tuple[str, list[str] | None]] = field(default_factory=list)
    variables: list[str] = field(default_factory=list)  # kustomizations with `vars:`
    parents: dict[str, str] = field(default_factory=dict)  # kustomization → the one including it


def _dotted(path: YamlPath) -> str:
    out = ""
    for key in path:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out


def _kustomization_file(path: str, files: list[str]) -> str | None:
    return next((f for n in _KUSTOMIZATION_NAMES if (f := _join(path, n)) in files), None)


def _selector_matches(selector: dict[str, Any], doc: _Doc) -> bool:
    kind, name, namespace = selector.get("kind"), selector.get("name"), selector.get("namespace")
    if kind and kind != doc.doc.get("kind"):
        return False
    if namespace and doc.namespace and namespace != doc.namespace:
        return False
    if name:
        try:
            return re.fullmatch(str(name), doc.name) is not None
        except re.error:
            return str(name) == doc.name
    return True


def _is_remote(entry: str) -> bool:
    return "://" in entry or entry.startswith(("git@", "github.com/", "gitlab.com/", "bitbucket.org/"))


def _patch_specs(k: dict[str, Any]) -> list[tuple[dict[str, Any], str | None, str | None, YamlPath]]:
    """(field, target selector, file, inline text, inline path) of every patch, in the order
    Kustomize applies them: `patchesStrategicMerge`, then `patches`, then `patchesJson6902`."""
    out: list[tuple[dict[str, Any], str | None, str | None, YamlPath]] = []
    for n, p in enumerate(k.get("patchesStrategicMerge") or []):
        if isinstance(p, str):
            inline = "\n" in p
            out.append(
                (
                    {},
                    None if inline else p,
                    p if inline else None,
                    ("patchesStrategicMerge", n) if inline else (),
                )
            )
    for name in ("patches", "patchesJson6902"):
        for n, p in enumerate(k.get(name) or []):
            p = _mapping(p)
            if isinstance(p.get("patch"), str):
                out.append((_mapping(p.get("target")), None, p["patch"], (name, n, "patch")))
            elif p.get("path"):
                out.append((_mapping(p.get("target")), str(p["path"]), None, ()))
    return out


def _read_patches(
    kfile: str, k: dict[str, Any], path: str, pool: list[_Doc], read: Reader, files: list[str]
) -> tuple[list[_Patch], list[str], list[str]]:
    """This kustomization's patches in the order applied, with the resources of `pool` each
    applies to; the problems of those that are missing; and the patches that cannot be read
    (any of them may set the field)."""
    patches: list[_Patch] = []
    problems: list[str] = []
    unsure: list[str] = []
    for selector, rel_path, text, inline in _patch_specs(k):
        if rel_path is not None:
            file = _join(path, rel_path)
            if file not in files:
                problems.append(f"{kfile} patches with {rel_path}, which is not in the repository")
                continue
            text = read(file)
        else:
            file = kfile
        try:
            docs = list(yaml.safe_load_all(text or ""))
        except yaml.YAMLError:
            unsure.append(f"the patch {_dotted(inline) or file} of {kfile} is not valid YAML")
            continue
        unreadable = [key for key in ("labelSelector", "annotationSelector") if selector.get(key)]
        for index, body in enumerate(docs):
            if not isinstance(body, (dict, list)):
                continue
            if isinstance(body, list) and not selector:
                problems.append(f"the JSON patch {file} of {kfile} names no target")
                continue
            if unreadable:
                why = (
                    f"the patch {_dotted(inline) or file} of {kfile} selects its targets by "
                    f"{' and '.join(unreadable)}, which medic does not evaluate"
                )
                patches.append(_Patch(kfile, file, index, body, None, inline, why))
                continue
            sel = selector
            if not sel and isinstance(body, dict):
                meta = _mapping(body.get("metadata"))
                sel = {"kind": body.get("kind"), "name": re.escape(str(meta.get("name") or ""))}
            targets = {(r.file, r.index) for r in pool if _selector_matches(sel, r)}
            patches.append(_Patch(kfile, file, index, body, targets, inline))
    return patches, problems, unsure


def _kustomize(
    path: str,
    read: Reader,
    files: list[str],
    seen: frozenset[str] = frozenset(),
    parent: list[_Doc] | None = None,
) -> _Build:
    """The build of the kustomization in `path`: its resources and everything that changes them.
    A component (`parent` given) patches the resources of the kustomization that includes it."""
    build = _Build(root=path)
    kfile = _kustomization_file(path, files)
    if kfile is None or path in seen or len(seen) > 20:
        build.problems.append(f"no kustomization in {path}/" if kfile is None else f"{path}/ includes itself")
        return build
    k = _mapping(next(iter(_docs(read, kfile)), {}))
    if not k:
        build.problems.append(f"{kfile} is empty or not valid YAML")
    build.kustomizations.append(kfile)
    below: list[_Patch] = []
    for key in ("resources", "bases", "components"):
        component_patches: list[_Patch] = []
        for entry in k.get(key) or []:
            entry = str(entry)
            if _is_remote(entry):
                message = f"{kfile} includes a remote {key[:-1]} ({entry}) medic cannot read"
                (build.unsure if key == "components" else build.problems).append(message)
                continue
            rel = _join(path, entry)
            if rel in files and key != "components":
                build.resources.extend(_file_docs(read, rel))
            elif _is_dir(rel, files):
                pool = [*(parent or []), *build.resources] if key == "components" else None
                child = _kustomize(rel, read, files, seen | {path}, pool)
                build.kustomizations.extend(child.kustomizations)
                build.resources.extend(child.resources)
                if key == "components":
                    component_patches = child.patches + component_patches
                else:
                    below.extend(child.patches)
                build.images.extend(child.images)
                build.replicas.extend(child.replicas)
                build.problems.extend(child.problems)
                build.unsure.extend(child.unsure)
                build.replacements.extend(child.replacements)
                build.variables.extend(child.variables)
                build.parents.update(child.parents)
                if child.kustomizations:
                    build.parents[child.kustomizations[0]] = kfile
            else:
                build.problems.append(f"{kfile} includes {entry}, which is not in the repository")
        below = component_patches + below
    for plugins in ("generators", "transformers"):
        if k.get(plugins):
            build.unsure.append(f"{kfile} runs {plugins} plugins, whose output medic cannot evaluate")
    if k.get("helmCharts"):
        build.problems.append(f"{kfile} inflates Helm charts, which medic does not render")
    for replacement in k.get("replacements") or []:
        replacement = _mapping(replacement)
        if replacement.get("path"):
            build.replacements.append((kfile, None))
            continue
        paths = [
            str(p) for t in replacement.get("targets") or [] for p in _mapping(t).get("fieldPaths") or []
        ]
        build.replacements.append((kfile, paths))
    if k.get("vars"):
        build.variables.append(kfile)
    own, problems, unsure = _read_patches(kfile, k, path, [*(parent or []), *build.resources], read, files)
    build.problems.extend(problems)
    build.unsure.extend(unsure)
    build.patches = list(reversed(own)) + below
    build.images = [(kfile, i, _mapping(e)) for i, e in enumerate(k.get("images") or [])] + build.images
    build.replicas = [(kfile, i, _mapping(e)) for i, e in enumerate(k.get("replicas") or [])] + build.replicas
    # This level's transformers apply to everything below it.
    prefix, suffix = str(k.get("namePrefix") or ""), str(k.get("nameSuffix") or "")
    for doc in build.resources:
        doc.name = f"{prefix}{doc.name}{suffix}"
        if k.get("namespace"):
            doc.namespace = str(k["namespace"])
    return build


def _pointer(path: Any) -> tuple[str, ...] | None:
    text = str(path or "")
    if not text.startswith("/"):
        return None
    return tuple(p.replace("~1", "/").replace("~0", "~") for p in text.split("/")[1:])


def _json_setting(patch: _Patch, field_path: tuple[str, ...]) -> list[tuple[str, YamlPath]] | str:
    """Where the JSON 6902 `patch` sets the field at `field_path` (its parts as a JSON pointer's):
    (the part of the field below it, dotted; "" for all of it, and the operation's value path),
    the later operation winning; empty when it does not touch the field; a reason when it touches
    it in a way medic does not edit (remove, move, copy)."""
    found: dict[str, YamlPath] = {}
    for i, op in enumerate(patch.body):
        op = _mapping(op)
        verb = str(op.get("op") or "")
        for key in ("path", "from") if verb in ("move", "copy") else ("path",):
            parts = _pointer(op.get(key))
            if parts is None:
                return f"the JSON patch in {patch.where} has an operation without a path"
            touches = parts[: len(field_path)] == field_path or field_path[: len(parts)] == parts
            if not touches or verb == "test" or (verb == "copy" and key == "from"):
                continue
            if verb not in ("add", "replace"):
                return f"the JSON patch in {patch.where} {verb}s {op.get(key)}, which medic does not edit"
            if len(parts) <= len(field_path):
                rest = tuple(int(p) if p.isdigit() else p for p in field_path[len(parts) :])
                found = {"": (i, "value", *rest)}
            else:
                found[".".join(parts[len(field_path) :])] = (i, "value")
    return sorted(found.items())


def _kustomize_unsure(build: _Build, doc: _Doc, path: YamlPath, leaf: str) -> str:
    """Why the value of `path` in the built `doc` cannot be told from the files, or ''."""
    if build.unsure:
        return "; ".join(build.unsure)
    for kfile, paths in build.replacements:
        if paths is None:
            return f"{kfile} has replacements from a file, which medic does not evaluate"
        field_keys = [str(key) for key in path if not isinstance(key, int)]
        for written in paths:
            keys = [key for key in written.split(".") if not key.startswith("[") and not key.isdigit()]
            if leaf in keys or field_keys[: len(keys)] == keys:  # the field, in it, or around it
                return f"a replacement in {kfile} writes {leaf} fields, which medic does not evaluate"
    if build.variables and "$(" in json.dumps(_get(doc.doc, path), default=str):
        return f"{doc.file} sets it through a variable of {', '.join(build.variables)}"
    return ""


def _patch_sets(patch: _Patch, container: str | None, json_path: tuple[str, ...]) -> Location | None:
    """Where `patch` sets the field at `json_path` of the workload (a container's `resources`
    when `container` is given — matched by name in a strategic merge patch —, else
    `spec.replicas`); None when it does not; a NotLocated when it may but medic cannot tell."""
    confidence: Confidence = "high"
    common: dict[str, Any] = {
        "file": patch.file,
        "layout": "kustomize",
        "document": 0 if patch.inline else patch.index,
        "inline": patch.inline,
        "inline_document": patch.index if patch.inline else 0,
    }
    if patch.json:
        found = _json_setting(patch, json_path)
        if isinstance(found, str):
            return NotLocated(reason=found, layout="kustomize")
        if not found:
            return None
        if patch.targets is None:
            return NotLocated(reason=patch.why, layout="kustomize")
        whole = dict(found).get("")
        return Located(
            yaml_path=whole or (),
            confidence=confidence,
            subpaths=[] if whole is not None and len(found) == 1 else found,
            **common,
        )
    smp_path: YamlPath = ("spec", "replicas")
    if container is not None:
        at = _container_index(_get(patch.body, _CONTAINERS), container or None)
        if at is None:
            return None
        smp_path = (*_CONTAINERS, at, "resources")
    if _get(patch.body, smp_path) is None:
        return None
    if patch.targets is None:
        return NotLocated(reason=patch.why, layout="kustomize")
    return Located(yaml_path=smp_path, confidence=confidence, **common)


def _winning_patch(
    build: _Build,
    doc: _Doc,
    container: str | None,
    json_path: tuple[str, ...],
    read: Reader,
    files: list[str],
) -> tuple[_Patch, Location] | None:
    """The patch applied last among those that set the field of `doc`, and where it sets it. A
    patch of an included kustomization that others include too is not edited: the change would
    reach them as well."""
    for patch in build.patches:
        if patch.targets is not None and (doc.file, doc.index) not in patch.targets:
            continue
        found = _patch_sets(patch, container, json_path)
        if not isinstance(found, Located) or patch.kustomization == build.kustomizations[0]:
            if found is not None:
                return patch, found
            continue
        users = _other_users(posixpath.dirname(patch.kustomization), build, read, files)
        if users:
            return patch, NotLocated(
                reason=f"the value that wins is set by a patch in {found.file}, which {', '.join(users)} "
                "also include; an overlay patch is needed",
                layout="kustomize",
            )
        return patch, found.model_copy(update={"confidence": "medium"})
    return None


def _includes(build: _Build, outer: str, inner: str) -> bool:
    """Whether kustomization `outer` includes `inner`, directly or through others."""
    while inner in build.parents:
        inner = build.parents[inner]
        if inner == outer:
            return True
    return False


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
    return [p for p in build.patches if p.targets is None or (doc.file, doc.index) in p.targets]


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
    base_name = str(_mapping(doc.doc.get("metadata")).get("name") or "")
    if action == "scale":
        if (hpa := _hpa_for(build.resources, target)) is not None:
            return NotLocated(
                reason=f"HorizontalPodAutoscaler {hpa.name} ({hpa.file}) decides the replicas",
                layout="kustomize",
            )
        if why := _kustomize_unsure(build, doc, ("spec", "replicas"), "replicas"):
            return NotLocated(
                reason=f"which value of {target.name}'s replicas wins is unknown: {why}", layout="kustomize"
            )
        patched = _winning_patch(build, doc, None, ("spec", "replicas"), read, files)
        for kfile, i, entry in build.replicas:
            if entry.get("name") not in (base_name, doc.name, target.name):
                continue
            # A kustomization's replicas entries apply after its patches and before those of the
            # kustomizations that include it.
            if patched is not None and _includes(build, patched[0].kustomization, kfile):
                return patched[1]
            confidence: Confidence = "high" if kfile == root_k else "medium"
            return Located(
                file=kfile, yaml_path=("replicas", i, "count"), layout="kustomize", confidence=confidence
            )
        if patched is not None:
            return patched[1]
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
    # set_resources: the patch applied last that sets the container's resources, else the base
    if index is None:
        return NotLocated(
            reason=f"{doc.file} defines {target.kind} {target.name} but not which container to change",
            layout="kustomize",
        )
    field_path = (*_CONTAINERS, index, "resources")
    if why := _kustomize_unsure(build, doc, field_path, "resources"):
        return NotLocated(
            reason=f"which value of {target.name}'s resources wins is unknown: {why}", layout="kustomize"
        )
    json_path = tuple(str(p) for p in field_path)
    if (patched := _winning_patch(build, doc, container_name, json_path, read, files)) is not None:
        return patched[1]
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
    sources: list[dict[str, Any]],
    target: ResourceRef,
    action: str,
    read: Reader,
    files: list[str],
    dest: str,
    owner: _Owner,
) -> list[Location]:
    out: list[Location] = []
    for index, source in enumerate(sources):
        helm = _mapping(source.get("helm"))
        path = source.get("path")
        if source.get("chart") or (path is not None and _join(str(path), "Chart.yaml") in files):
            out.append(_locate_helm(source, index, sources, target, action, read, files, owner))
        elif path is not None:
            path = posixpath.normpath(str(path))
            if _kustomization_file(path, files) is not None:
                out.append(_locate_kustomize(path, target, action, read, files, dest))
            elif helm.get("valueFiles"):
                out.append(_locate_helm(source, index, sources, target, action, read, files, owner))
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
    application: str = "",
    application_set: str = "",
) -> Location:
    """Where in the repository `action_kind` on `target` is made, from the owning Application's
    `sources` (spec.source / spec.sources). `read(path)` gives a file's text or None; `files` lists
    the repository's paths. One answer or the reason there is none; several candidate files in
    different sources are ambiguous, hence not located. `application` names the Application (its
    manifest is the place when its own Helm parameters or values win); `application_set` the
    ApplicationSet that generated it, whose generator is then the place."""
    if action_kind in _NO_FILE_ACTIONS:
        return NotLocated(reason=_NO_FILE_ACTIONS[action_kind])
    if action_kind not in ("set_resources", "set_image", "scale"):
        return NotLocated(reason=f"unknown action kind {action_kind!r}")
    if not sources:
        return NotLocated(reason="the Application has no source")
    owner = _Owner(application, application_set)
    locations = _source_locations(sources, target, action_kind, read, files, destination_namespace, owner)
    found = [loc for loc in locations if isinstance(loc, Located)]
    if len({(loc.file, loc.document, loc.inline, loc.yaml_path, str(loc.subpaths)) for loc in found}) == 1:
        return found[0]
    if found:
        return NotLocated(
            reason="more than one source defines it: " + ", ".join(sorted({f.file for f in found}))
        )
    reasons = [loc.reason for loc in locations if isinstance(loc, NotLocated)]
    return NotLocated(reason="; ".join(reasons) or "no source of the Application is in the GitOps repository")


def declared_value(loc: Located, read: Reader) -> Any:
    """The value the located place declares for the field (None when unset or unreadable); a
    field set piecewise (`subpaths`) is put together from its parts."""
    docs = _docs(read, loc.file)
    doc = docs[loc.document] if loc.document < len(docs) else None
    if loc.inline:
        text = _get(doc, loc.inline)
        try:
            inner = list(yaml.safe_load_all(text)) if isinstance(text, str) else []
        except yaml.YAMLError:
            inner = []
        doc = inner[loc.inline_document] if loc.inline_document < len(inner) else None
    if not loc.subpaths:
        return _get(doc, loc.yaml_path)
    out: Any = None
    for part, path in sorted(loc.subpaths):
        value = _get(doc, path)
        if not part:
            out = json.loads(json.dumps(value, default=str))
            continue
        if not isinstance(out, dict):
            out = {}
        node = out
        *parents, leaf = part.split(".")
        for key in parents:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[leaf] = value
    return out


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
        if _is_yaml(f)
        and f not in named
        and re.search(r"(^|/)(applications?|applicationsets?|apps|argocd|argo-cd)/", f)
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
            out += [
                (p.file, "kustomize_patch", None if p.inline else p.index) for p in _patches_for(build, doc)
            ]
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
    application_set: str = "",
    revision: str = "",
    destination_namespace: str = "",
    max_bytes: int = MAX_FILE_BYTES,
) -> list[GitOpsFile]:
    """The files that define `target` (manifests, values files, kustomizations and their patches),
    then the Application's own manifest when the repository holds it, then the places that win for
    its replicas and resources when they are elsewhere (an ApplicationSet, a generator's config
    file); each at most `max_bytes` (of a large multi-document file, only the target's document)."""
    entries = _defining_files(sources, target, read, files, destination_namespace)
    entries += [(f, "application", None) for f in _application_files(application, read, files)]
    owner = {"application": application, "application_set": application_set}
    for kind in ("set_resources", "scale"):
        loc = locate_field(
            sources, target, kind, read, files, destination_namespace=destination_namespace, **owner
        )
        if isinstance(loc, Located) and loc.layout in ("application", "applicationset"):
            entries.append((loc.file, loc.layout, loc.document))
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
