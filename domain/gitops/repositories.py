"""The Git repositories medic may write, and which Argo CD sources they cover. Pure.

An Argo CD Application names its repositories by `repoURL` (each of `spec.source` /
`spec.sources`); medic is configured with the repositories it may write: the GitOps repository
(MEDIC_GITOPS_REPO, its aliases, and with GitHub the repository's clone URL), and any listed in
the file MEDIC_GITOPS_REPOSITORIES_FILE (`repositories_from_yaml`). URLs are compared normalised
(`normalize_repo_url`): `git@github.com:acme/gitops.git`, `ssh://git@github.com/acme/gitops` and
`https://GitHub.com/acme/gitops/` are one repository.

An Application whose source — the one holding the file an edit would change — is in none of them
is never edited, and nothing it manages is patched directly either (`unwritable_sources`,
`not_writable_reason`): the reason names the repository that would need access. One that is in
them is edited in its own repository's clone, with a pull request there (`edit_refusal` keeps a
change to one repository).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import yaml
from pydantic import ConfigDict, Field, ValidationError, field_validator

from domain.base import Frozen

REPOSITORIES_FILE_VARIABLE = "MEDIC_GITOPS_REPOSITORIES_FILE"
_SCP_LIKE = re.compile(r"^(?:[^@/:]+@)?([^/:]+):(?!//)(.+)$")

PullRequestHostName = Literal["github", "gitlab", "local"]


def _strip_tail(text: str) -> str:
    text = text.rstrip("/")
    if text.endswith(".git"):
        text = text[: -len(".git")]
    return text.rstrip("/")


def normalize_repo_url(url: str) -> str:
    """`host/owner/name` of a Git URL in any of its spellings (https, ssh, scp-like, with or without
    `.git`, trailing slashes, user info, a port), in lower case; a local path stays a path
    (`file://` dropped, its case kept)."""
    text = url.strip()
    scheme, sep, rest = text.partition("://")
    if sep:
        if scheme.lower() == "file":
            return _strip_tail(rest)
        authority, _, path = rest.partition("/")
        host = authority.rpartition("@")[2].lower()
        if ":" in host and host.rsplit(":", 1)[1].isdigit():
            host = host.rsplit(":", 1)[0]  # a port says how to reach it, not which repository
        return _strip_tail(f"{host}/{path}").lower()
    scp = _SCP_LIKE.match(text)
    if scp and not text.startswith(("/", ".")):
        return _strip_tail(f"{scp.group(1)}/{scp.group(2).lstrip('/')}").lower()
    return _strip_tail(text)


def same_repository(a: str, b: str) -> bool:
    """Whether two Git URLs name one repository (see `normalize_repo_url`)."""
    return bool(a.strip()) and bool(b.strip()) and normalize_repo_url(a) == normalize_repo_url(b)


class PullRequestRoute(Frozen):
    """Where a repository's pull requests go: `github` (`repository` owner/name on `api_url`, with
    medic's GitHub credentials), `gitlab` (merge requests of the project `repository`, group/name or
    its numeric id, on the GitLab at `api_url`, with medic's GitLab token) or `local` (a branch in
    the repository itself)."""

    model_config = ConfigDict(extra="forbid")

    host: PullRequestHostName = "local"
    repository: str = ""
    api_url: str = ""


class GitOpsRepository(Frozen):
    """One repository medic may write: `url` as Argo CD names it, other names of it (`aliases`),
    the URL medic clones (`clone_url`, default `url`) and where its pull requests go."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1)
    aliases: tuple[str, ...] = ()
    clone_url: str = ""
    pull_requests: PullRequestRoute = PullRequestRoute()

    @field_validator("url", "clone_url")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if value != value.strip() or "\n" in value:
            raise ValueError("must be one URL without spaces around it")
        return value

    @property
    def remote(self) -> str:
        return self.clone_url or self.url

    def names(self) -> tuple[str, ...]:
        return (self.url, *self.aliases, *((self.clone_url,) if self.clone_url else ()))

    def covers(self, url: str) -> bool:
        return any(same_repository(url, name) for name in self.names())


class GitOpsRepositories(Frozen):
    """The repositories medic may write; the first is the one its clone (MEDIC_GITOPS_REPO) is of."""

    repositories: tuple[GitOpsRepository, ...] = ()

    def find(self, url: str) -> GitOpsRepository | None:
        """The repository `url` names, or None when medic may not write it."""
        return next((r for r in self.repositories if r.covers(url)), None)

    def writable(self, url: str) -> bool:
        return self.find(url) is not None

    def names(self) -> tuple[str, ...]:
        """Every URL of every repository, each once."""
        return tuple(dict.fromkeys(n for r in self.repositories for n in r.names() if n))

    def primary(self) -> GitOpsRepository | None:
        return self.repositories[0] if self.repositories else None


def default_repositories(
    gitops_repo_url: str = "",
    aliases: Sequence[str] = (),
    github_url: str = "",
    github_repository: str = "",
    github_api_url: str = "",
) -> GitOpsRepositories:
    """The mapping without a file: the configured repository (`gitops_repo_url`, else the GitHub
    repository's clone URL) with its aliases and the GitHub clone URL; empty when none is set."""
    url = gitops_repo_url or github_url
    if not url:
        return GitOpsRepositories()
    others = [a for a in (*aliases, github_url) if a and a != url]
    route = (
        PullRequestRoute(host="github", repository=github_repository, api_url=github_api_url)
        if github_repository
        else PullRequestRoute()
    )
    return GitOpsRepositories(
        repositories=(GitOpsRepository(url=url, aliases=tuple(dict.fromkeys(others)), pull_requests=route),)
    )


def repositories_from_yaml(text: str, defaults: GitOpsRepositories | None = None) -> GitOpsRepositories:
    """The repositories a MEDIC_GITOPS_REPOSITORIES_FILE lists, after `defaults` (the configured
    repository): a YAML list of {url, aliases, clone_url, pull_requests: {host, repository,
    api_url}}, or a mapping with that list under `repositories`. An entry naming a repository of
    `defaults` adds its names to it. A file that does not fit raises ValueError, one line naming
    the entry and the field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ValueError(f"{REPOSITORIES_FILE_VARIABLE} is not YAML{where}") from None
    if isinstance(data, Mapping) and set(data) == {"repositories"}:
        data = data["repositories"]
    if data is None:
        data = []
    if not isinstance(data, list):
        raise ValueError(f"{REPOSITORIES_FILE_VARIABLE} must be a list of repositories (url, aliases, ...)")
    merged = list(defaults.repositories if defaults is not None else ())
    for index, entry in enumerate(data, start=1):
        try:
            repository = GitOpsRepository.model_validate(entry)
        except ValidationError as err:
            raise ValueError(f"{REPOSITORIES_FILE_VARIABLE} entry {index}: {_one_line(err)}") from None
        repository = _checked_route(repository, index)
        known = next((i for i, r in enumerate(merged) if any(r.covers(n) for n in repository.names())), None)
        if known is None:
            merged.append(repository)
            continue
        # The configured repository, named again: its names grow, its clone and host stay.
        have = merged[known]
        extra = [n for n in repository.names() if n not in have.names()]
        merged[known] = have.model_copy(update={"aliases": (*have.aliases, *extra)})
    return GitOpsRepositories(repositories=tuple(merged))


def _checked_route(repository: GitOpsRepository, index: int) -> GitOpsRepository:
    route = repository.pull_requests
    if route.host == "github" and not re.fullmatch(r"[^/\s]+/[^/\s]+", route.repository):
        raise ValueError(
            f"{REPOSITORIES_FILE_VARIABLE} entry {index} ({repository.url}): pull_requests.repository "
            f"must be owner/name, not {route.repository!r}"
        )
    if route.host == "gitlab" and not (route.repository.isdigit() or "/" in route.repository.strip("/")):
        raise ValueError(
            f"{REPOSITORIES_FILE_VARIABLE} entry {index} ({repository.url}): pull_requests.repository "
            f"must be the GitLab project's path (group/name) or id, not {route.repository!r}"
        )
    return repository


def _one_line(err: ValidationError) -> str:
    parts = []
    for error in err.errors():
        where = ".".join(str(p) for p in error["loc"]) or "entry"
        message = str(error["msg"]).removeprefix("Value error, ").removeprefix("Input ")
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


# --- the sources an edit would change ----------------------------------------------------------


def _is_git_source(source: Mapping[str, Any]) -> bool:
    """A source whose files medic could edit: a directory of a Git repository (`path`) or a
    repository of value files (`ref`); a packaged chart of a Helm repository is neither."""
    return source.get("path") is not None or bool(source.get("ref"))


def _clean(path: Any) -> str:
    text = str(path or "").strip().lstrip("/")
    normal = posixpath.normpath(text) if text else ""
    return "" if normal in (".", "") else normal


def source_of_file(sources: Sequence[Mapping[str, Any]], file: str) -> Mapping[str, Any] | None:
    """The source that holds `file` (a repository path, as `domain.gitops.locate` answers it): the
    `ref:` source a `$ref/<file>` value file names, else the one path source it lies under; None
    when that is not one source."""
    refs = {str(s["ref"]): s for s in sources if s.get("ref")}
    for source in sources:
        helm = source.get("helm")
        for entry in (helm.get("valueFiles") or []) if isinstance(helm, Mapping) else []:
            ref, _, rel = str(entry).removeprefix("$").partition("/")
            if str(entry).startswith("$") and ref in refs and posixpath.normpath(rel) == file:
                return refs[ref]
    under = [
        s
        for s in sources
        if s.get("path") is not None
        and (not _clean(s["path"]) or file == _clean(s["path"]) or file.startswith(_clean(s["path"]) + "/"))
    ]
    return under[0] if len(under) == 1 else None


def edited_sources(sources: Sequence[Mapping[str, Any]], file: str = "") -> list[Mapping[str, Any]]:
    """The sources an edit of the Application could change: the one holding `file` when it is
    known and is one source; else every Git source (every source when it has none): when it is
    not known which one would change, all of them have to be writable."""
    if file:
        holder = source_of_file(sources, file)
        if holder is not None:
            return [holder]
    git = [s for s in sources if _is_git_source(s)]
    return git or list(sources)


def unwritable_sources(
    sources: Sequence[Mapping[str, Any]], repositories: GitOpsRepositories, file: str = ""
) -> list[str]:
    """The `repoURL`s of the sources an edit would change (`edited_sources`) that medic may not
    write, each once, in source order."""
    urls = [str(s.get("repoURL") or "") for s in edited_sources(sources, file)]
    return list(dict.fromkeys(u or "(no repoURL)" for u in urls if not (u and repositories.writable(u))))


def not_writable_reason(application: str, urls: Iterable[str]) -> str:
    """One line: why an Application is not edited, and what would let medic write it."""
    named = ", ".join(urls)
    return (
        f"Application {application} deploys from {named}, which medic may not write; "
        f"add it to {REPOSITORIES_FILE_VARIABLE}"
    )


def edit_refusal(
    application: str,
    sources: Sequence[Mapping[str, Any]],
    repositories: GitOpsRepositories,
    file: str = "",
    *,
    repository: GitOpsRepository | None = None,
) -> str | None:
    """Why an edit of `application` (of `file`, when known) is not made in `repository` (default:
    the first, the configured one), or None when the sources it would change are all in it. A
    source in no mapped repository gets `not_writable_reason`; one in another mapped repository
    is another clone's change (and another pull request's)."""
    urls = unwritable_sources(sources, repositories, file)
    if urls:
        return not_writable_reason(application, urls)
    here = repository or repositories.primary()
    elsewhere = list(
        dict.fromkeys(
            url
            for s in edited_sources(sources, file)
            if (url := str(s.get("repoURL") or "")) and repositories.find(url) != here
        )
    )
    if here is not None and elsewhere:
        return (
            f"Application {application} deploys from {', '.join(elsewhere)}, not from {here.url}, "
            "the repository this change is made in: one pull request changes one repository"
        )
    return None
