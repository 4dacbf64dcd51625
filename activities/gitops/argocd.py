"""Argo CD and a merged change: each Application asked to compare with Git (a refresh) and, where no
automated sync will run, to sync; then read until it reports the merge synced."""

from __future__ import annotations

import contextlib

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.failures import classified
from activities.heartbeat import heartbeats
from activities.redaction import redacts_result
from domain.redaction.text import redact_text
from domain.steps.gitops import ApplicationCheck, ApplicationsInput, ApplicationStatus, GitOpsApplication
from integrations.argocd import (
    ApplicationState,
    ArgoClient,
    ArgoOperationInProgress,
    application_state,
    same_commit,
)
from integrations.git import GitError, GitRepo, run_git
from integrations.gitops_clones import GitOpsClones


class ApplicationSyncActivities:
    """The clone of an Application's GitOps repository (`repo`, the configured one's, or of the
    repository it names, from `clones`) tells whether a revision Argo CD compared with contains
    the merge."""

    def __init__(
        self, argocd: ArgoClient | None, repo: GitRepo | None, *, clones: GitOpsClones | None = None
    ) -> None:
        self._argocd = argocd
        self._repo = repo
        self._clones = clones

    def _clone(self, repository: str) -> GitRepo | None:
        if repository and self._clones is not None:
            return self._clones.clone(repository)
        return self._repo

    def _need_argocd(self) -> ArgoClient:
        if self._argocd is None:
            raise ApplicationError(
                "no Argo CD is configured (ARGOCD_URL)", type="NotConfigured", non_retryable=True
            )
        return self._argocd

    def _contains(self, revision: str, commit: str, repo: GitRepo | None) -> bool:
        """Whether `revision` is `commit` or a later commit that contains it (Argo CD may compare
        with a newer head of the branch than the merge) in `repo`."""
        if same_commit(revision, commit):
            return True
        if repo is None or not revision or not commit:
            return False
        try:
            run_git(["merge-base", "--is-ancestor", commit, revision], cwd=repo.workdir)
        except GitError:
            return False
        return True

    def _status(
        self,
        state: ApplicationState,
        commit: str,
        *,
        requested: bool = False,
        note: str = "",
        repo: GitRepo | None = None,
    ) -> ApplicationStatus:
        synced = state.sync_status == "Synced" and any(
            self._contains(r, commit, repo) for r in state.compared_revisions
        )
        operated = state.operation_revisions or (
            (state.operation_revision,) if state.operation_revision else ()
        )
        failed_here = state.operation_failed and (
            not operated or any(self._contains(r, commit, repo) for r in operated)
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

    def _fetch(self, applications: list[GitOpsApplication]) -> dict[str, GitRepo | None]:
        """Fetch the clone of each Application's repository, so that a revision newer than the
        merge can be told apart; the clones by repository."""
        clones = {name: self._clone(name) for name in dict.fromkeys(a.repository for a in applications)}
        for repo in clones.values():
            if repo is None:
                continue
            # Only `_contains` of a newer revision suffers from a failed fetch; the same commit matches.
            with contextlib.suppress(GitError):
                repo.sync()
        return clones

    @activity.defn(name="sync_applications")
    @redacts_result
    @heartbeats
    def sync_applications(self, input: ApplicationsInput) -> ApplicationCheck:
        """Argo CD compares each Application with Git now (a refresh, which also lets an automated
        Application start its own sync); an Application without automated sync that is neither
        synced to the revision nor syncing is asked to sync its target revision (never pruning)."""
        argocd = self._need_argocd()
        clones = self._fetch(input.applications)
        statuses: list[ApplicationStatus] = []
        for app in input.applications:
            with classified(f"asking Argo CD to sync {app.name}"):
                state = application_state(argocd.refresh_application(app.name, app_namespace=app.namespace))
                status = self._status(state, input.revision, repo=clones[app.repository])
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
                    self._status(
                        application_state(after),
                        input.revision,
                        requested=True,
                        note=note,
                        repo=clones[app.repository],
                    )
                )
        return ApplicationCheck(applications=statuses)

    @activity.defn(name="check_applications")
    @redacts_result
    @heartbeats
    def check_applications(self, input: ApplicationsInput) -> ApplicationCheck:
        """Each Application as Argo CD reports it; one that is not synced to the revision and not
        syncing is refreshed first, so that its comparison includes the merge."""
        argocd = self._need_argocd()
        clones = self._fetch(input.applications)
        statuses: list[ApplicationStatus] = []
        for app in input.applications:
            with classified(f"reading the Argo CD Application {app.name}"):
                state = application_state(argocd.get_application(app.name, app.namespace))
                status = self._status(state, input.revision, repo=clones[app.repository])
                if not status.synced and not status.operation_in_progress:
                    state = application_state(
                        argocd.refresh_application(app.name, app_namespace=app.namespace)
                    )
                    status = self._status(
                        state, input.revision, note="refreshed", repo=clones[app.repository]
                    )
                statuses.append(status)
        return ApplicationCheck(applications=statuses)
