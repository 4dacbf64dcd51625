"""medic's clones of the GitOps repositories it may write, and the pull request host of each.

The configured repository (MEDIC_GITOPS_REPO) keeps its clone in the GitOps work directory; each
further repository of MEDIC_GITOPS_REPOSITORIES_FILE gets one beside it, in
`<work dir>.repositories/<its normalised URL>`, made the first time a change needs it. A
repository is named by its `url` in the mapping (`GitOpsRepositories`); "" names the configured
one (what runs recorded before there were several answer).
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from domain.gitops.repositories import (
    GitOpsRepositories,
    GitOpsRepository,
    edited_sources,
    normalize_repo_url,
)
from integrations.git import GitRepo
from integrations.pull_requests import PullRequestHost

HostFactory = Callable[[GitOpsRepository, GitRepo], PullRequestHost]
CloneFactory = Callable[[GitOpsRepository, str], GitRepo]


def repository_workdir(base: str, url: str) -> str:
    """The work directory of a further repository's clone: beside the GitOps work directory
    `base`, named from the repository's normalised URL (and a short digest of it, so that two
    URLs that read alike after the name is made safe never share one)."""
    normal = normalize_repo_url(url)
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", normal).strip("-.")[:80] or "repository"
    digest = hashlib.sha256(normal.encode()).hexdigest()[:8]
    root = Path(base)
    return str(root.parent / f"{root.name}.repositories" / f"{name}-{digest}")


class GitOpsClones:
    """The clone and the pull request host of each repository medic may write.

    `repo` and `host` are those of the configured repository (the first of `repositories`, or the
    one clone when there is no mapping); the others are made by `clone` (a repository and its work
    directory) and `host` factories, once each, when first asked for."""

    def __init__(
        self,
        repositories: GitOpsRepositories,
        repo: GitRepo | None,
        host: PullRequestHost | None = None,
        *,
        workdir: str = "",
        clone: CloneFactory | None = None,
        make_host: HostFactory | None = None,
    ) -> None:
        self.repositories = repositories
        self._repo = repo
        self._host = host
        self._workdir = workdir
        self._clone = clone
        self._make_host = make_host
        self._lock = threading.Lock()
        self._clones: dict[str, GitRepo] = {}
        self._hosts: dict[str, PullRequestHost] = {}

    def repository(self, name: str) -> GitOpsRepository | None:
        """The mapped repository `name` (any of its URLs) names; "" the configured one."""
        if not name:
            return self.repositories.primary()
        return self.repositories.find(name)

    def name_of(self, repository: GitOpsRepository | None) -> str:
        """How a change and its pull request name `repository`: "" for the configured one, else its url."""
        if repository is None or repository == self.repositories.primary():
            return ""
        return repository.url

    def _known(self, name: str) -> bool:
        """Whether `name` is "" (the configured repository) or names one medic may write."""
        return not name or self.repository(name) is not None

    def _further(self, name: str) -> GitOpsRepository | None:
        """The further repository `name` names; None for the configured one (or an unknown one)."""
        repository = self.repository(name) if name else None
        return None if repository == self.repositories.primary() else repository

    def clone(self, name: str = "") -> GitRepo | None:
        """The clone of repository `name`; None when it is not one medic may write (or nothing is
        configured)."""
        if not self._known(name):
            return None
        repository = self._further(name)
        if repository is None:
            return self._repo
        with self._lock:
            if repository.url not in self._clones:
                if self._clone is None or not self._workdir:
                    return None
                self._clones[repository.url] = self._clone(
                    repository, repository_workdir(self._workdir, repository.url)
                )
            return self._clones[repository.url]

    def host(self, name: str = "") -> PullRequestHost | None:
        """The pull request host of repository `name`; None when there is none."""
        if not self._known(name):
            return None
        repository = self._further(name)
        if repository is None:
            return self._host
        repo = self.clone(name)
        if repo is None or self._make_host is None:
            return None
        with self._lock:
            if repository.url not in self._hosts:
                self._hosts[repository.url] = self._make_host(repository, repo)
            return self._hosts[repository.url]

    def holding(self, sources: Sequence[Mapping[str, Any]], file: str = "") -> list[str]:
        """The names of the mapped repositories that hold the sources an edit of `file` (every Git
        source when it is not known) would change, each once, the configured one first; sources
        medic may not write are left out (`domain.gitops.repositories.unwritable_sources` names
        them)."""
        names: list[str] = []
        for source in edited_sources(sources, file):
            found = self.repositories.find(str(source.get("repoURL") or ""))
            if found is not None:
                names.append(self.name_of(found))
        unique = list(dict.fromkeys(names))
        return sorted(unique, key=lambda n: n != "")

    def clone_for(self, sources: Sequence[Mapping[str, Any]]) -> GitRepo | None:
        """The clone of the repository an Application's files are read from: the one its Git
        sources are in (the configured one when they are in several, or in none medic knows)."""
        names = self.holding(sources)
        return self.clone(names[0] if len(names) == 1 else "")
