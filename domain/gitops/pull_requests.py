"""Pull requests against the GitOps repository: what medic asks a PR host for, and what it gets.

A GitOps fix is one branch, one commit and one pull request per incident (`medic/<incident id>`),
and a revert is the same again on `medic/<incident id>-revert`. Hosts (a local bare repository
with records in the store, GitHub or GitLab) make opening idempotent: they look up the branch, the commit
and the PR before creating any, so a retried activity never makes a second one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field

from domain.base import Frozen

PullRequestHostKind = Literal["local", "github", "gitlab"]
PullRequestStatus = Literal["open", "merged", "closed"]
PullRequestKind = Literal["fix", "revert"]

BRANCH_PREFIX = "medic/"
# Labels every medic PR carries (the kind adds `medic:fix` or `medic:revert`).
BASE_LABELS = ("medic", "automated-remediation")


def branch_for(incident_id: str, kind: PullRequestKind = "fix") -> str:
    """The branch of an incident's fix (`medic/<incident id>`) or revert (`...-revert`)."""
    suffix = "-revert" if kind == "revert" else ""
    return f"{BRANCH_PREFIX}{incident_id}{suffix}"


def incident_of_branch(branch: str) -> tuple[str, PullRequestKind] | None:
    """The incident id and PR kind a medic branch belongs to; None for any other branch."""
    if not branch.startswith(BRANCH_PREFIX):
        return None
    rest = branch[len(BRANCH_PREFIX) :]
    if rest.endswith("-revert"):
        return rest[: -len("-revert")], "revert"
    return rest, "fix"


def labels_for(kind: PullRequestKind, risk: str | None = None) -> list[str]:
    labels = [*BASE_LABELS, f"medic:{kind}"]
    if risk:
        labels.append(f"risk:{risk}")
    return labels


class PullRequestSpec(Frozen):
    """Everything a host needs to open one PR. `files` holds the full new text of each changed
    file; the branch starts at `base_commit`, the commit the edit was computed on."""

    incident_id: str
    kind: PullRequestKind = "fix"
    branch: str
    base: str = "main"
    base_commit: str
    title: str
    body: str
    commit_message: str
    labels: list[str] = Field(default_factory=list)
    files: dict[str, str]
    # The author and committer date of the branch's commit (the incident's time, say): a retry
    # after a crash between commit and push then builds the very same commit. None: the date of
    # `base_commit`, which is just as deterministic.
    created_at: datetime | None = None


class PullRequest(Frozen):
    """A PR as its host reports it now."""

    host: PullRequestHostKind
    number: int
    url: str
    incident_id: str
    kind: PullRequestKind = "fix"
    branch: str
    base: str = "main"
    head_commit: str
    status: PullRequestStatus = "open"
    merge_commit: str | None = None
    merged_by: str | None = None
    closed_by: str | None = None
    updated_at: datetime | None = None
    title: str = ""
    # the GitOps repository it is in: its `url` in the repositories medic may write; "" the
    # configured one (MEDIC_GITOPS_REPO)
    repository: str = ""


class PullRequestEvent(Frozen):
    """The payload of the workflow's `pull_request_event` signal: a PR was merged or closed
    (from `medic pr merge|close`, the GitHub or GitLab webhook, or polling)."""

    model_config = ConfigDict(extra="forbid")

    number: int
    status: PullRequestStatus
    merge_commit: str | None = None
    actor: str = ""
