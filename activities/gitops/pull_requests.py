"""The pull request of a GitOps change on its host: opened (the change computed again at its base
commit, refused unless it is exactly the diff that was approved, pushed as one commit on
`medic/<incident id>`), read, merged and closed. The host looks up the branch and the PR first, so
a retry after any crash makes no second branch, commit or PR."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.failures import classified, store_failures
from activities.gitops.files import (
    ChangeRefused,
    deploy_revert_of,
    fix_files,
    revert_files,
    reverted_paths,
)
from activities.heartbeat import heartbeats
from domain.analysis.plan import Diagnosis
from domain.gitops.edit import FileChange
from domain.gitops.flow import edit_hash
from domain.gitops.pull_request_body import (
    PullRequestText,
    deploy_revert_pull_request_text,
    fix_pull_request_text,
    revert_pull_request_text,
)
from domain.gitops.pull_requests import PullRequest, PullRequestSpec, branch_for, labels_for
from domain.gitops.repositories import REPOSITORIES_FILE_VARIABLE
from domain.redaction.text import redact_text
from domain.steps.gitops import OpenPullRequestInput, PullRequestInput
from integrations.git import GitRepo
from integrations.gitops_clones import GitOpsClones
from integrations.pull_requests import PullRequestHost


class PullRequestActivities:
    """`repo` and `host` are the configured GitOps repository's clone and pull request host;
    `clones` gives those of every repository medic may write (default: these alone). A change and
    its pull request use the clone and host of the repository they name (`repository`; "" the
    configured one), and every pull request answered names it. `console_url` links each PR to its
    incident in the console."""

    def __init__(
        self,
        repo: GitRepo | None,
        host: PullRequestHost | None,
        *,
        console_url: str = "",
        clones: GitOpsClones | None = None,
    ) -> None:
        self._repo = repo
        self._host = host
        self._console_url = console_url
        self._clones = clones

    def _need_repo(self, repository: str = "") -> GitRepo:
        repo = self._clones.clone(repository) if repository and self._clones else self._repo
        if repo is None:
            if repository:
                raise ChangeRefused(
                    f"medic has no clone of {repository}: it is not in {REPOSITORIES_FILE_VARIABLE}"
                )
            raise ChangeRefused("no GitOps repository is configured (MEDIC_GITOPS_REPO)")
        return repo

    def _need_host(self, repository: str = "") -> PullRequestHost:
        if repository:
            host = self._clones.host(repository) if self._clones else None
            if host is None:
                raise ApplicationError(
                    f"no pull request host is configured for {repository}",
                    type="NotConfigured",
                    non_retryable=True,
                )
            return host
        if self._host is None:
            raise ApplicationError(
                "no pull request host is configured", type="NotConfigured", non_retryable=True
            )
        return self._host

    @activity.defn(name="open_pull_request")
    @heartbeats
    @store_failures
    def open_pull_request(self, input: OpenPullRequestInput) -> PullRequest:
        change = input.change
        host = self._need_host(change.repository)
        try:
            repo = self._need_repo(change.repository)
            with classified("computing the change again"):
                repo.sync()
                revert = deploy_revert_of(input.plan) if input.fix is None else None
                if change.kind == "revert":
                    # the files the revert was prepared with (for a deploy's, those its Application reads)
                    changes, diffs = revert_files(
                        repo,
                        reverted_paths(change),
                        change.reverts_base,
                        change.reverts_head,
                        change.base_commit,
                        what="the deploy" if revert is not None else "the fix",
                    )
                else:
                    changes, diffs, _ = fix_files(repo, input.plan, input.applications, change.base_commit)
        except ChangeRefused as refusal:
            raise ApplicationError(str(refusal), type="ChangeRefused", non_retryable=True) from refusal
        if edit_hash(diffs) != change.edit_hash or not changes:
            raise ApplicationError(
                f"the change computed at {change.base_commit[:12]} is not the one decided on "
                f"({edit_hash(diffs)} != {change.edit_hash}); not opening a pull request",
                type="ChangeMismatch",
                non_retryable=True,
            )
        activity.heartbeat("computed")
        text = self._text(input, changes)
        spec = PullRequestSpec(
            incident_id=input.incident_id,
            kind=change.kind,
            branch=branch_for(input.incident_id, change.kind),
            base=change.base,
            base_commit=change.base_commit,
            title=text.title,
            body=text.body,
            commit_message=text.commit_message,
            labels=labels_for(change.kind, input.policy.risk if input.policy else None),
            files={c.path: c.after for c in changes},
        )
        with classified(f"opening the pull request of {spec.branch}"):
            return _in(change.repository, host.open_pull_request(spec))

    def _text(self, input: OpenPullRequestInput, changes: list[FileChange]) -> PullRequestText:
        """The PR's title, body and commit message (redacted by `domain.gitops.pull_request_body`)."""
        revert = deploy_revert_of(input.plan) if input.fix is None else None
        if input.change.kind == "revert" and revert is not None:
            return deploy_revert_pull_request_text(
                input.incident_id,
                revert,
                input.diagnosis,
                changes,
                commits=input.commits,
                fired=input.fired,
                console_url=self._console_url,
            )
        if input.change.kind == "revert":
            if input.fix is None:
                raise ApplicationError(
                    "a revert needs the fix it undoes", type="BadInput", non_retryable=True
                )
            return revert_pull_request_text(
                input.incident_id, input.fix, input.reason, changes, console_url=self._console_url
            )
        diagnosis = input.diagnosis or Diagnosis(
            root_cause="unknown", summary=input.title or "medic fix", plan=input.plan
        )
        return fix_pull_request_text(
            input.incident_id,
            diagnosis,
            changes,
            decision=input.policy,
            impact=input.impact,
            approvals=input.approvals,
            console_url=self._console_url,
        )

    @activity.defn(name="get_pull_request")
    @store_failures
    def get_pull_request(self, input: PullRequestInput) -> PullRequest:
        host = self._need_host(input.repository)
        with classified(f"reading pull request #{input.number}"):
            return _in(input.repository, host.get_pull_request(input.number))

    @activity.defn(name="merge_pull_request")
    @heartbeats
    @store_failures
    def merge_pull_request(self, input: PullRequestInput) -> PullRequest:
        host = self._need_host(input.repository)
        with classified(f"merging pull request #{input.number}"):
            return _in(input.repository, host.merge_pull_request(input.number, merged_by=input.actor))

    @activity.defn(name="close_pull_request")
    @heartbeats
    @store_failures
    def close_pull_request(self, input: PullRequestInput) -> PullRequest:
        host = self._need_host(input.repository)
        with classified(f"closing pull request #{input.number}"):
            pr = host.get_pull_request(input.number)
            if pr.status != "open":
                return _in(input.repository, pr)
            if input.comment:
                host.comment(input.number, redact_text(input.comment))
            return _in(input.repository, host.close_pull_request(input.number, closed_by=input.actor))


def _in(repository: str, pr: PullRequest) -> PullRequest:
    """`pr` naming the repository it is in (hosts answer without it)."""
    return pr.model_copy(update={"repository": repository}) if repository else pr
