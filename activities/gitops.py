"""GitOps mode: the file change of a plan, its pull request, its merge, and Argo CD's sync of it.

The activities, each one side effect (or none) and safe to retry:

- `prepare_gitops_change` (reads): the GitOps clone is fetched and the plan's file edit computed at
  the head of the branch the owning Applications deploy; the answer holds the redacted diffs and
  the base commit — never whole files (the history stays small), or the reasons no edit can be made
  with confidence.
- `prepare_gitops_revert` (reads): the files of a merged fix, put back as they were before it on
  top of the branch as it is now (a three-way merge per file: other changes made since stay).
- `open_pull_request`: the change computed again at its base commit — refused unless it is exactly
  the diff that was approved (`edit_hash`) — pushed as one commit on `medic/<incident id>` and
  opened as a PR. The host looks up the branch and the PR first, so a retry after any crash makes
  no second branch, commit or PR.
- `get_pull_request`, `merge_pull_request`, `close_pull_request`: the PR on its host.
- `sync_applications` / `check_applications`: Argo CD asked to compare with Git (a refresh) and, where
  no automated sync will run, to sync; then read until the Applications report the merge synced.

Errors become `ApplicationError`s with the integration's error type: refusals, conflicts,
missing permissions and missing objects are non-retryable; an unreachable host, git remote or
Argo CD is retried by Temporal (after a rate limit's Retry-After).
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.failures import classified
from domain.analysis.plan import Diagnosis, Plan
from domain.gitops.edit import FileChange, file_changes, unified_diff
from domain.gitops.flow import applications_of_actions, edit_hash, target_branch
from domain.gitops.pull_request_body import PullRequestText, fix_pull_request_text, revert_pull_request_text
from domain.gitops.pull_requests import PullRequest, PullRequestSpec, branch_for, labels_for
from domain.kube.observation import ArgoApplication
from domain.redaction.text import redact_text
from domain.steps.gitops import (
    ApplicationCheck,
    ApplicationsInput,
    ApplicationStatus,
    FileDiff,
    GitOpsApplication,
    GitOpsChange,
    OpenPullRequestInput,
    PrepareChangeInput,
    PrepareRevertInput,
    PullRequestInput,
)
from integrations.argocd import (
    ApplicationState,
    ArgoClient,
    ArgoOperationInProgress,
    application_state,
    same_commit,
)
from integrations.git import GitError, GitRefNotFound, GitRepo, run_git
from integrations.pull_requests import PullRequestHost

__all__ = ["GitOpsActivities"]


class ChangeRefused(Exception):
    """No change (or revert) can be made with confidence; the message says why."""


class GitOpsActivities:
    """The GitOps path's activities over one GitOps clone, one PR host and one Argo CD.

    `repo` is None when no GitOps repository is configured, `argocd` when no Argo CD is: the
    change is then refused with the reason (medic could neither make it nor see it land).
    `console_url` links each PR to its incident in the console.
    """

    def __init__(
        self,
        repo: GitRepo | None,
        host: PullRequestHost | None,
        argocd: ArgoClient | None,
        *,
        console_url: str = "",
    ) -> None:
        self._repo = repo
        self._host = host
        self._argocd = argocd
        self._console_url = console_url

    def close(self) -> None:
        if self._argocd is not None:
            self._argocd.close()
        closer = getattr(self._host, "close", None)
        if callable(closer):
            closer()

    # --- the change ----------------------------------------------------------------------------

    def _need_repo(self) -> GitRepo:
        if self._repo is None:
            raise ChangeRefused("no GitOps repository is configured (MEDIC_GITOPS_REPO)")
        return self._repo

    def _need_host(self) -> PullRequestHost:
        if self._host is None:
            raise ApplicationError(
                "no pull request host is configured", type="NotConfigured", non_retryable=True
            )
        return self._host

    def _need_argocd(self) -> ArgoClient:
        if self._argocd is None:
            raise ApplicationError(
                "no Argo CD is configured (ARGOCD_URL)", type="NotConfigured", non_retryable=True
            )
        return self._argocd

    def _default_branch(self, repo: GitRepo) -> str:
        try:
            out = run_git(["symbolic-ref", "--short", "refs/remotes/origin/HEAD"], cwd=repo.workdir)
        except GitError:
            return "main"
        name = out.decode().strip()
        return name.split("/", 1)[1] if name.startswith("origin/") else name or "main"

    def _fix_files(
        self, repo: GitRepo, plan: Plan, applications: list[ArgoApplication], base_commit: str
    ) -> tuple[list[FileChange], list[FileDiff], list[str]]:
        """The change of every file the plan's GitOps actions change, computed at `base_commit`,
        its redacted diff, and the values the repository already has."""
        owners, unowned = applications_of_actions(plan, applications)
        refused = list(unowned)
        for index, action in enumerate(plan.actions):
            if action.mode != "gitops":
                refused.append(
                    f"action {index} ({action.kind} {action.target.key}): a direct action changes no file"
                )
        files = repo.list_files(base_commit)
        cache: dict[str, str | None] = {}

        def read(path: str) -> str | None:
            if path not in cache:
                cache[path] = repo.read_file(path, base_commit)
            return cache[path]

        changes: list[FileChange] = []
        diffs: list[FileDiff] = []
        unchanged: list[str] = []
        for app in _unique(owners.values()):
            indices = sorted(i for i, owner in owners.items() if owner.id == app.id)
            actions = [plan.actions[i] for i in indices]
            edit = file_changes(
                actions, app.sources, read, files, destination_namespace=app.destination_namespace
            )
            for refusal in edit.refused:
                index = indices[refusal.action]
                where = f" in {refusal.file}" if refusal.file else ""
                target = plan.actions[index].target.key
                refused.append(f"action {index} ({refusal.kind} {target}){where}: {refusal.reason}")
            unchanged += [f"{f.file}: {f.description}" for f in edit.unchanged]
            for change in edit.changes:
                if any(c.path == change.path for c in changes):
                    refused.append(f"{change.path} would be changed for two Applications at once")
                    continue
                # `fields[].action` index the actions given; the PR body reads them against the plan.
                fields = [f.model_copy(update={"action": indices[f.action]}) for f in change.fields]
                changes.append(change.model_copy(update={"fields": fields}))
                diffs.append(
                    FileDiff(path=change.path, diff=redact_text(change.diff), description=change.description)
                )
        if refused:
            raise ChangeRefused("; ".join(refused))
        return changes, diffs, unchanged

    @activity.defn(name="prepare_gitops_change")
    def prepare_gitops_change(self, input: PrepareChangeInput) -> GitOpsChange:
        applications = [_application_ref(a) for a in input.applications]
        try:
            if self._argocd is None:
                raise ChangeRefused(
                    "no Argo CD is configured (ARGOCD_URL): medic could not follow the change"
                )
            repo = self._need_repo()
            branch, why = target_branch(input.applications)
            if why:
                raise ChangeRefused(why)
            with classified("reading the GitOps repository"):
                repo.sync()
                base = branch or self._default_branch(repo)
                try:
                    # A branch of the remote (a tag of the same name would resolve too).
                    base_commit = repo.head(f"refs/remotes/origin/{base}")
                except GitRefNotFound as err:
                    raise ChangeRefused(
                        f"the Applications deploy {base}, which is not a branch of the GitOps repository: "
                        "a pull request cannot change what they deploy"
                    ) from err
                activity.heartbeat("synced")
                _, diffs, unchanged = self._fix_files(repo, input.plan, input.applications, base_commit)
        except ChangeRefused as refusal:
            return GitOpsChange(refused=[str(refusal)], applications=applications)
        return GitOpsChange(
            base=base,
            base_commit=base_commit,
            files=diffs,
            edit_hash=edit_hash(diffs),
            unchanged=unchanged,
            applications=applications,
        )

    def _revert_files(
        self, repo: GitRepo, paths: list[str], before: str, fix: str, current: str
    ) -> tuple[list[FileChange], list[FileDiff]]:
        """Each of `paths` as it was at `before` (the fix's base), on top of `current`: the file
        itself when it still is as the fix (`fix`) left it, else a three-way merge that keeps the
        changes made since. A file the fix made, or one since removed or changed in the same
        lines, is refused."""
        changes: list[FileChange] = []
        diffs: list[FileDiff] = []
        for path in paths:
            old, new, now = (repo.read_file(path, rev) for rev in (before, fix, current))
            if old is None or new is None:
                raise ChangeRefused(f"{path} is not in both the fix and its base")
            if now is None:
                raise ChangeRefused(f"{path} no longer exists on the branch")
            if now == old:
                continue  # already as before the fix
            reverted = old if now == new else _merge_file(now, new, old, path)
            diff = unified_diff(path, now, reverted)
            description = f"put {path} back as it was before the fix"
            changes.append(
                FileChange(
                    path=path,
                    layout="revert",
                    before=now,
                    after=reverted,
                    diff=diff,
                    description=description,
                    fields=[],
                    method="line",
                )
            )
            diffs.append(FileDiff(path=path, diff=redact_text(diff), description=description))
        return changes, diffs

    @activity.defn(name="prepare_gitops_revert")
    def prepare_gitops_revert(self, input: PrepareRevertInput) -> GitOpsChange:
        fix = input.change
        common = {
            "kind": "revert",
            "base": fix.base,
            "applications": fix.applications,
            "reverts_base": fix.base_commit,
            "reverts_head": input.fix.head_commit,
        }
        try:
            repo = self._need_repo()
            with classified("reading the GitOps repository"):
                repo.sync()
                current = repo.head(fix.base)
                _, diffs = self._revert_files(
                    repo, [f.path for f in fix.files], fix.base_commit, input.fix.head_commit, current
                )
        except ChangeRefused as refusal:
            return GitOpsChange.model_validate({**common, "refused": [str(refusal)]})
        return GitOpsChange.model_validate(
            {**common, "base_commit": current, "files": diffs, "edit_hash": edit_hash(diffs)}
        )

    # --- the pull request ----------------------------------------------------------------------

    @activity.defn(name="open_pull_request")
    def open_pull_request(self, input: OpenPullRequestInput) -> PullRequest:
        change = input.change
        host = self._need_host()
        try:
            repo = self._need_repo()
            with classified("computing the change again"):
                repo.sync()
                if change.kind == "revert":
                    changes, diffs = self._revert_files(
                        repo,
                        _reverted_paths(change),
                        change.reverts_base,
                        change.reverts_head,
                        change.base_commit,
                    )
                else:
                    changes, diffs, _ = self._fix_files(
                        repo, input.plan, input.applications, change.base_commit
                    )
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
            return host.open_pull_request(spec)

    def _text(self, input: OpenPullRequestInput, changes: list[FileChange]) -> PullRequestText:
        """The PR's title, body and commit message (redacted by `domain.gitops.pull_request_body`)."""
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
            approvals=input.approvals,
            console_url=self._console_url,
        )

    @activity.defn(name="get_pull_request")
    def get_pull_request(self, input: PullRequestInput) -> PullRequest:
        host = self._need_host()
        with classified(f"reading pull request #{input.number}"):
            return host.get_pull_request(input.number)

    @activity.defn(name="merge_pull_request")
    def merge_pull_request(self, input: PullRequestInput) -> PullRequest:
        host = self._need_host()
        with classified(f"merging pull request #{input.number}"):
            return host.merge_pull_request(input.number, merged_by=input.actor)

    @activity.defn(name="close_pull_request")
    def close_pull_request(self, input: PullRequestInput) -> PullRequest:
        host = self._need_host()
        with classified(f"closing pull request #{input.number}"):
            pr = host.get_pull_request(input.number)
            if pr.status != "open":
                return pr
            if input.comment:
                host.comment(input.number, redact_text(input.comment))
            return host.close_pull_request(input.number, closed_by=input.actor)

    # --- Argo CD -------------------------------------------------------------------------------

    def _contains(self, revision: str, commit: str) -> bool:
        """Whether `revision` is `commit` or a later commit that contains it (Argo CD may compare
        with a newer head of the branch than the merge)."""
        if same_commit(revision, commit):
            return True
        if self._repo is None or not revision or not commit:
            return False
        try:
            run_git(["merge-base", "--is-ancestor", commit, revision], cwd=self._repo.workdir)
        except GitError:
            return False
        return True

    def _status(
        self, state: ApplicationState, commit: str, *, requested: bool = False, note: str = ""
    ) -> ApplicationStatus:
        synced = state.sync_status == "Synced" and any(
            self._contains(r, commit) for r in state.compared_revisions
        )
        operated = state.operation_revisions or (
            (state.operation_revision,) if state.operation_revision else ()
        )
        failed_here = state.operation_failed and (
            not operated or any(self._contains(r, commit) for r in operated)
        )
        return ApplicationStatus(
            name=state.name,
            sync_status=state.sync_status,
            health_status=state.health_status,
            health_message=redact_text(state.health_message),
            revision=",".join(state.compared_revisions),
            synced=synced,
            operation_phase=state.operation_phase,
            operation_message=redact_text(state.operation_message),
            operation_in_progress=state.operation_in_progress,
            operation_failed=failed_here,
            automated=state.automated,
            sync_requested=requested,
            note=note,
        )

    def _fetch(self) -> None:
        """Fetch the GitOps clone, so that a revision newer than the merge can be told apart."""
        if self._repo is None:
            return
        # Only `_contains` of a newer revision suffers from a failed fetch; the same commit matches.
        with contextlib.suppress(GitError):
            self._repo.sync()

    @activity.defn(name="sync_applications")
    def sync_applications(self, input: ApplicationsInput) -> ApplicationCheck:
        """Argo CD compares each Application with Git now (a refresh, which also lets an automated
        Application start its own sync); an Application without automated sync that is neither
        synced to the revision nor syncing is asked to sync its target revision (never pruning)."""
        argocd = self._need_argocd()
        self._fetch()
        statuses: list[ApplicationStatus] = []
        for app in input.applications:
            with classified(f"asking Argo CD to sync {app.name}"):
                state = application_state(argocd.refresh_application(app.name, app_namespace=app.namespace))
                status = self._status(state, input.revision)
                if status.synced or state.automated or state.operation_in_progress:
                    statuses.append(status)
                    continue
                try:
                    after = argocd.sync_application(app.name, app_namespace=app.namespace)
                    note = "sync requested"
                except ArgoOperationInProgress as err:
                    after, note = (
                        argocd.get_application(app.name, app.namespace),
                        f"not requested: {err.message}",
                    )
                statuses.append(
                    self._status(application_state(after), input.revision, requested=True, note=note)
                )
        return ApplicationCheck(applications=statuses)

    @activity.defn(name="check_applications")
    def check_applications(self, input: ApplicationsInput) -> ApplicationCheck:
        """Each Application as Argo CD reports it; one that is not synced to the revision and not
        syncing is refreshed first, so that its comparison includes the merge."""
        argocd = self._need_argocd()
        self._fetch()
        statuses: list[ApplicationStatus] = []
        for app in input.applications:
            with classified(f"reading the Argo CD Application {app.name}"):
                state = application_state(argocd.get_application(app.name, app.namespace))
                status = self._status(state, input.revision)
                if not status.synced and not status.operation_in_progress:
                    state = application_state(
                        argocd.refresh_application(app.name, app_namespace=app.namespace)
                    )
                    status = self._status(state, input.revision, note="refreshed")
                statuses.append(status)
        return ApplicationCheck(applications=statuses)


def _application_ref(app: ArgoApplication) -> GitOpsApplication:
    return GitOpsApplication(
        name=app.name, namespace=app.namespace, project=app.project, automated=app.automated
    )


def _unique(apps: Any) -> list[ArgoApplication]:
    seen: dict[str, ArgoApplication] = {}
    for app in apps:
        seen.setdefault(app.id, app)
    return list(seen.values())


def _reverted_paths(change: GitOpsChange) -> list[str]:
    return [f.path for f in change.files]


def _merge_file(current: str, base: str, other: str, path: str) -> str:
    """`git merge-file`: the changes from `base` to `other` made on `current`; a conflict refuses."""
    with tempfile.TemporaryDirectory(prefix="medic-revert-") as tmp:
        names = []
        for name, text in (("current", current), ("base", base), ("other", other)):
            file = Path(tmp) / name
            file.write_text(text)
            names.append(str(file))
        try:
            out = run_git(["merge-file", "-p", "--", *names], cwd=tmp)
        except GitError as err:
            raise ChangeRefused(
                f"{path} changed since the fix in the lines the fix changed: a human has to revert it"
            ) from err
    return out.decode()
