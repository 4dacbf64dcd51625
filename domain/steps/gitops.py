"""The GitOps path: the file change, the pull request, and Argo CD's sync of the merge."""

from __future__ import annotations

from pydantic import Field

from domain.analysis.plan import Diagnosis, Plan
from domain.base import Frozen
from domain.gitops.pull_requests import PullRequest, PullRequestKind
from domain.kube.observation import ArgoApplication
from domain.policy.approval import Approval
from domain.policy.decision import PolicyDecision
from domain.review.plan_impact import PlanImpact


class GitOpsApplication(Frozen):
    """An Argo CD Application a GitOps change goes through: what the sync and its checks need."""

    name: str
    namespace: str = "argocd"
    project: str = ""
    automated: bool = False
    # the GitOps repository the change is in (`GitOpsChange.repository`), whose clone tells a
    # later commit of the branch from another
    repository: str = ""


class FileDiff(Frozen):
    """One file of a GitOps change: its unified diff (redacted) and what it changes. The file's
    full text stays out of the history: `open_pull_request` computes it again at `base_commit`."""

    path: str
    diff: str
    description: str = ""


class PrepareChangeInput(Frozen):
    """A plan's GitOps actions and the Applications that own their targets (from observe)."""

    incident_id: str
    plan: Plan
    plan_hash: str
    applications: list[ArgoApplication]


class GitOpsChange(Frozen):
    """The file changes a pull request makes, computed at `base_commit` of branch `base` — or the
    reasons none can be made with confidence (`refused`). `edit_hash` digests the diffs: the pull
    request opened later must make exactly these (it is refused otherwise). A revert also names
    the fix it undoes (`reverts_base`..`reverts_head`)."""

    kind: PullRequestKind = "fix"
    base: str = ""
    base_commit: str = ""
    files: list[FileDiff] = Field(default_factory=list)
    edit_hash: str = ""
    refused: list[str] = Field(default_factory=list)
    # values the repository already has (no change needed), one line each
    unchanged: list[str] = Field(default_factory=list)
    applications: list[GitOpsApplication] = Field(default_factory=list)
    reverts_base: str = ""
    reverts_head: str = ""
    # the GitOps repository whose clone the change is computed in and whose host gets its pull
    # request: its `url` in the repositories medic may write; "" the configured one
    repository: str = ""


class OpenPullRequestInput(Frozen):
    """What `open_pull_request` needs: the change (recomputed at its base commit and checked
    against `change.edit_hash`) and what the PR body tells its reviewers."""

    incident_id: str
    change: GitOpsChange
    plan: Plan
    plan_hash: str
    # the owning Applications' sources, to compute a fix's files again
    applications: list[ArgoApplication] = Field(default_factory=list)
    title: str = ""
    diagnosis: Diagnosis | None = None
    policy: PolicyDecision | None = None
    # the plan's cost delta and downtime findings, for the body's Impact section
    impact: PlanImpact | None = None
    approvals: list[Approval] = Field(default_factory=list)
    # a revert: why the fix is undone, and the fix's pull request
    reason: str = ""
    fix: PullRequest | None = None
    # the revert of a degraded deploy: its commits ("<sha7> <subject>") and the rules that fired,
    # one line each with their figures (from the incident's `deploy`)
    commits: list[str] = Field(default_factory=list)
    fired: list[str] = Field(default_factory=list)


class PrepareRevertInput(Frozen):
    """The fix to undo: its change (base commit, Applications) and its merged pull request."""

    incident_id: str
    change: GitOpsChange
    fix: PullRequest


class PullRequestInput(Frozen):
    """One pull request of an incident, for reading, merging or closing it."""

    incident_id: str
    number: int
    actor: str = "medic"
    # closing: a comment left on the PR first, saying why
    comment: str = ""
    # the GitOps repository the PR is in (`PullRequest.repository`); "" the configured one
    repository: str = ""


class ApplicationsInput(Frozen):
    """The Applications to sync to (or check against) `revision`, a commit of their branch."""

    incident_id: str
    applications: list[GitOpsApplication]
    revision: str


class ApplicationStatus(Frozen):
    """One Application as Argo CD reports it, and whether it is synced to the revision asked."""

    name: str
    sync_status: str = ""
    health_status: str = ""
    health_message: str = ""
    revision: str = ""
    # Synced at the revision asked for, or at a later commit of the branch that contains it
    synced: bool = False
    operation_phase: str = ""
    operation_message: str = ""
    operation_in_progress: bool = False
    # the last operation failed on the revision asked for (or a later one)
    operation_failed: bool = False
    automated: bool = False
    # a sync request was made by this call
    sync_requested: bool = False
    note: str = ""


class ApplicationCheck(Frozen):
    applications: list[ApplicationStatus] = Field(default_factory=list)
