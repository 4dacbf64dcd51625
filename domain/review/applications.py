"""Which Argo CD Applications a change to the GitOps repository touches, and why. Pure: the
repository is given as a reader of one file at a time (None for a path it lacks or a directory).

An Application is affected when one of its sources (`spec.source`, or each of `spec.sources`)
reads a changed file of the repository under review:

- **Its path.** The source's `repoURL` is the repository and a changed file lies under its `path`
  (`.` or empty: the whole repository). A plain directory source without `directory.recurse`
  reads only the files directly in its path, as Argo CD does; a Kustomize or Helm path (a
  kustomization or a `Chart.yaml` there) reads everything below it.
- **A Helm value file elsewhere.** A `helm.valueFiles` entry `$<ref>/<file>` names a file of the
  sibling source whose `ref:` is `<ref>`; it counts when that source's `repoURL` is the
  repository. A relative entry of an in-repository chart counts when it leaves the chart's path
  (`../values/prod.yaml`).
- **Kustomize reaching out.** A kustomization's `resources`, `bases`, `components`, `crds`,
  generators' and transformers' files and its patch files are followed, recursively through the
  kustomizations they reach; a changed file under a directory reached outside the source's path
  (`../../base`), or a file named there, counts. Remote references (URLs) are not followed.

Repository URLs are compared normalised, as Argo CD compares them: scheme, user and port dropped,
in lower case (hosts and GitHub's and GitLab's paths ignore case), a trailing `/` or `.git` dropped
(a local path keeps its case), so `git@github.com:acme/gitops.git`, `ssh://git@github.com/acme/gitops` and
`https://GitHub.com/acme/gitops/` are one repository.

Each reason is one line naming the changed file and how the Application reads it. Applications come
back ordered by (namespace, name); a file that changed in several ways is named once per way.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

import yaml

from domain.gitops.repositories import normalize_repo_url
from domain.steps.review import AffectedApplication

Reader = Callable[[str], str | None]

_KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
# Kustomization fields whose entries are files or directories (strings).
_REFERENCE_LISTS = ("resources", "bases", "components", "crds", "transformers", "generators", "validators")
# Kustomization fields whose entries are files, as strings or as {path: ...}.
_FILE_LISTS = ("patchesStrategicMerge", "patches", "patchesJson6902", "replacements")
_GENERATORS = ("configMapGenerator", "secretGenerator")
MAX_KUSTOMIZATIONS = 200  # followed per source: a guard against a pathological repository


# The repository URL of `local_applications`' stand-ins.
LOCAL_REPOSITORY = "local:"


def _clean_path(path: Any) -> str:
    """A repository-relative directory: '' for the whole repository."""
    text = str(path or "").strip().lstrip("/")
    normal = posixpath.normpath(text) if text else ""
    return "" if normal in (".", "") else normal


def _under(file: str, directory: str) -> bool:
    return not directory or file == directory or file.startswith(directory + "/")


def _directly_in(file: str, directory: str) -> bool:
    return posixpath.dirname(file) == directory


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def application_sources(app: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """spec.sources, or [spec.source] for a single-source Application."""
    spec = _mapping(app.get("spec"))
    sources = spec.get("sources")
    if isinstance(sources, list) and sources:
        return [_mapping(s) for s in sources]
    return [_mapping(spec["source"])] if isinstance(spec.get("source"), Mapping) else []


def _kustomization(directory: str, read: Reader) -> tuple[str, Mapping[str, Any]] | None:
    for name in _KUSTOMIZATION_NAMES:
        file = posixpath.join(directory, name) if directory else name
        text = read(file)
        if text is None:
            continue
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError:
            doc = None
        return file, _mapping(doc)
    return None


def _is_remote(entry: str) -> bool:
    return "://" in entry or entry.startswith(("git@", "github.com/", "gitlab.com/", "bitbucket.org/"))


def _references(doc: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(files or directories, files only) a kustomization names, as written."""
    either: list[str] = []
    files: list[str] = []
    for key in _REFERENCE_LISTS:
        either.extend(str(e) for e in doc.get(key) or [] if isinstance(e, str))
    for key in _FILE_LISTS:
        for entry in doc.get(key) or []:
            if isinstance(entry, str) and "\n" not in entry and ":" not in entry:
                files.append(entry)  # an inline patch is YAML, not a path
            elif isinstance(entry, Mapping) and isinstance(entry.get("path"), str):
                files.append(entry["path"])
    for key in _GENERATORS:
        for generator in doc.get(key) or []:
            generator = _mapping(generator)
            named = [*(generator.get("files") or []), *(generator.get("envs") or [])]
            if generator.get("env"):
                named.append(generator["env"])
            files.extend(str(f).rpartition("=")[2] for f in named if isinstance(f, str))
    return [e for e in either if not _is_remote(e)], [f for f in files if not _is_remote(f)]


def _kustomize_reach(root: str, read: Reader) -> list[tuple[str, bool, str]]:
    """What the kustomization at `root` reaches outside `root`: (path, is a directory, the
    kustomization file that names it), recursively, each path once."""
    reached: list[tuple[str, bool, str]] = []
    seen_dirs = {root}
    seen_files: set[str] = set()
    queue = [root]
    while queue and len(seen_dirs) <= MAX_KUSTOMIZATIONS:
        directory = queue.pop(0)
        found = _kustomization(directory, read)
        if found is None:
            continue
        kfile, doc = found
        either, files = _references(doc)
        for entry in either:
            target = _clean_path(posixpath.join(directory, entry))
            if target.startswith(".."):
                continue  # outside the repository
            if read(target) is not None:  # a file
                if not _under(target, root) and target not in seen_files:
                    seen_files.add(target)
                    reached.append((target, False, kfile))
                continue
            if target in seen_dirs:
                continue
            seen_dirs.add(target)
            queue.append(target)
            if not _under(target, root):
                reached.append((target, True, kfile))
        for entry in files:
            target = _clean_path(posixpath.join(directory, entry))
            if target.startswith("..") or _under(target, root) or target in seen_files:
                continue
            seen_files.add(target)
            reached.append((target, False, kfile))
    # a file inside a directory reached is said once, by the directory
    dirs = [path for path, is_dir, _ in reached if is_dir]
    return [r for r in reached if r[1] or not any(_under(r[0], d) for d in dirs)]


class _Reasons:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, line: str) -> None:
        if line not in self.lines:
            self.lines.append(line)


def _source_reasons(
    index: int,
    sources: list[Mapping[str, Any]],
    changed: list[str],
    ours: Callable[[Any], bool],
    read: Reader,
    reasons: _Reasons,
) -> None:
    source = sources[index]
    helm = _mapping(source.get("helm"))
    value_files = [str(v) for v in helm.get("valueFiles") or [] if isinstance(v, str)]
    refs = {str(s.get("ref")): s for s in sources if s.get("ref")}
    for value_file in value_files:
        if not value_file.startswith("$"):
            continue
        ref, _, rest = value_file[1:].partition("/")
        sibling = refs.get(ref)
        if sibling is None or not ours(sibling.get("repoURL")):
            continue
        file = _clean_path(rest)
        if file in changed:
            reasons.add(f"{file} changed, a Helm value file of the Application ({value_file})")
    if not ours(source.get("repoURL")) or source.get("chart") or source.get("path") is None:
        return
    path = _clean_path(source.get("path"))
    where = path or "the repository root"
    kustomization = _kustomization(path, read)
    chart = read(posixpath.join(path, "Chart.yaml") if path else "Chart.yaml") is not None
    recurse = bool(_mapping(source.get("directory")).get("recurse"))
    whole = kustomization is not None or chart or recurse
    for file in changed:
        if (_under(file, path) if whole else _directly_in(file, path)) and file != path:
            reasons.add(f"{file} changed under source path {where}")
    for value_file in value_files:
        if value_file.startswith("$") or _is_remote(value_file):
            continue
        file = _clean_path(posixpath.join(path, value_file))
        if file in changed and not _under(file, path):
            reasons.add(f"{file} changed, a Helm value file of the chart at {where} ({value_file})")
    if kustomization is None:
        return
    for target, is_dir, kfile in _kustomize_reach(path, read):
        if is_dir:
            for file in changed:
                if _under(file, target):
                    reasons.add(f"{file} changed under {target}, which {kfile} reaches")
        elif target in changed:
            reasons.add(f"{target} changed, named by {kfile}")


def unreviewed_files(changed_files: Iterable[str], affected: Iterable[AffectedApplication]) -> list[str]:
    """The changed files no affected Application reads (each reason names its file first): what
    a review rendering those Applications does not look at."""
    reasons = [r for app in affected for r in app.reasons]
    changed = sorted({_clean_path(f) for f in changed_files if _clean_path(f)})
    return [f for f in changed if not any(r.startswith(f"{f} changed") for r in reasons)]


def local_applications(paths: Iterable[str]) -> list[dict[str, Any]]:
    """Application-shaped stand-ins for the directories a repository without Argo CD renders
    (`integrations.render.repository_applications`), so that `affected_applications` and
    `unreviewed_files` read them as they read Argo CD's (Kustomize bases included)."""
    return [
        {
            "metadata": {"name": path},
            "spec": {"source": {"repoURL": LOCAL_REPOSITORY, "path": "" if path == "." else path}},
        }
        for path in paths
    ]


def affected_applications(
    apps: Iterable[Mapping[str, Any]],
    changed_files: Iterable[str],
    repo_urls: Collection[str],
    read_file: Reader,
) -> list[AffectedApplication]:
    """The Applications (as Argo CD's API returns them) that read one of `changed_files` of the
    repository known by `repo_urls` (see the module docstring), ordered by (namespace, name), each
    with its reasons. `read_file` reads the repository at the head under review (None: no such file)."""
    repos = {normalize_repo_url(u) for u in repo_urls if u}
    changed = sorted({_clean_path(f) for f in changed_files if _clean_path(f)})

    def ours(url: Any) -> bool:
        return isinstance(url, str) and bool(url) and normalize_repo_url(url) in repos

    out = []
    for app in apps:
        meta, spec = _mapping(app.get("metadata")), _mapping(app.get("spec"))
        sources = application_sources(app)
        reasons = _Reasons()
        for index in range(len(sources)):
            _source_reasons(index, sources, changed, ours, read_file, reasons)
        if reasons.lines:
            out.append(
                AffectedApplication(
                    name=str(meta.get("name") or ""),
                    namespace=str(meta.get("namespace") or ""),
                    project=str(spec.get("project") or ""),
                    reasons=reasons.lines,
                    # A multi-source Application is rendered at a revision per source position:
                    # those of this repository's sources (charts from elsewhere keep theirs).
                    source_positions=(
                        [
                            i + 1
                            for i, s in enumerate(sources)
                            if ours(s.get("repoURL")) and not s.get("chart")
                        ]
                        if spec.get("sources")
                        else []
                    ),
                )
            )
    return sorted(out, key=lambda a: (a.namespace, a.name))
