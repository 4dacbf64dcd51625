"""Prepare a GitOps change (reads only): the plan's file edit at the head of the branch the owning
Applications deploy — or, for a degraded deploy's plan (`revert_deploy`), the revert of the
deploy's commits there — or the revert of a merged fix on top of the branch as it is now. The answer
holds the redacted diffs and the base commit — never whole files (the history stays small) — or
the reasons no edit can be made with confidence."""

from __future__ import annotations

from temporalio import activity

from activities.failures import classified
from activities.gitops.files import (
    ChangeRefused,
    application_ref,
    default_branch,
    deploy_revert_files,
    deploy_revert_of,
    fix_files,
    revert_files,
)
from activities.heartbeat import heartbeats
from domain.gitops.flow import edit_hash, target_branch
from domain.gitops.repositories import GitOpsRepositories, GitOpsRepository, edit_refusal
from domain.review.applications import affected_applications, unreviewed_files
from domain.steps.gitops import GitOpsChange, PrepareChangeInput, PrepareRevertInput
from integrations.argocd import ArgoClient
from integrations.git import GitRefNotFound, GitRepo


class GitOpsChangeActivities:
    """`repo` is None when no GitOps repository is configured, `argocd` when no Argo CD is: the
    change is then refused with the reason (medic could neither make it nor see it land).
    `repositories` are those medic may write, the first the one `repo` is a clone of (default: that
    clone's remote known by `repo_urls`); an edit of an Application deploying from any other is
    refused with the repository named."""

    def __init__(
        self,
        repo: GitRepo | None,
        argocd: ArgoClient | None,
        *,
        repo_urls: tuple[str, ...] = (),
        repositories: GitOpsRepositories | None = None,
    ) -> None:
        self._repo = repo
        self._argocd = argocd
        # the URLs Applications name the GitOps repository by (its remote when none are given)
        self._repo_urls = repo_urls
        self._repositories = repositories

    def _writable(self, repo: GitRepo) -> GitOpsRepositories:
        if self._repositories is not None:
            return self._repositories
        return GitOpsRepositories(
            repositories=(GitOpsRepository(url=repo.remote_url, aliases=self._repo_urls),)
        )

    def _need_repo(self) -> GitRepo:
        if self._repo is None:
            raise ChangeRefused("no GitOps repository is configured (MEDIC_GITOPS_REPO)")
        return self._repo

    @activity.defn(name="prepare_gitops_change")
    @heartbeats
    def prepare_gitops_change(self, input: PrepareChangeInput) -> GitOpsChange:
        applications = [application_ref(a) for a in input.applications]
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
                base = branch or default_branch(repo)
                try:
                    # A branch of the remote (a tag of the same name would resolve too).
                    base_commit = repo.head(f"refs/remotes/origin/{base}")
                except GitRefNotFound as err:
                    raise ChangeRefused(
                        f"the Applications deploy {base}, which is not a branch of the GitOps repository: "
                        "a pull request cannot change what they deploy"
                    ) from err
                activity.heartbeat("synced")
                revert = deploy_revert_of(input.plan)
                if revert is not None:
                    if len(input.plan.actions) != 1:
                        raise ChangeRefused(
                            "the revert of a deploy is a plan of its own, with no other action"
                        )
                    with classified(f"reading Application {revert.application}"):
                        app = self._argocd.get_application(revert.application, revert.app_namespace or None)
                    spec = app.get("spec") or {}
                    sources = spec.get("sources") or ([spec["source"]] if spec.get("source") else [])
                    refusal = edit_refusal(revert.application, sources, self._writable(repo))
                    if refusal is not None:
                        raise ChangeRefused(refusal)
                    urls = self._repo_urls or (repo.remote_url,)

                    def reads(paths: list[str]) -> list[str]:
                        def read(path: str) -> str | None:
                            return repo.read_file(path, revert.revision)

                        affected = affected_applications([app], paths, urls, read)
                        return [p for p in paths if p not in unreviewed_files(paths, affected)]

                    _, diffs = deploy_revert_files(repo, revert, base_commit, reads)
                    unchanged: list[str] = []
                else:
                    _, diffs, unchanged = fix_files(
                        repo, input.plan, input.applications, base_commit, self._writable(repo)
                    )
        except ChangeRefused as refusal:
            return GitOpsChange(refused=[str(refusal)], applications=applications)
        if revert is not None:
            # The revert of a degraded deploy: `open_pull_request` computes it again from the range.
            return GitOpsChange(
                kind="revert",
                base=base,
                base_commit=base_commit,
                files=diffs,
                edit_hash=edit_hash(diffs),
                applications=applications,
                reverts_base=revert.previous_revision,
                reverts_head=revert.revision,
            )
        return GitOpsChange(
            base=base,
            base_commit=base_commit,
            files=diffs,
            edit_hash=edit_hash(diffs),
            unchanged=unchanged,
            applications=applications,
        )

    @activity.defn(name="prepare_gitops_revert")
    @heartbeats
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
                _, diffs = revert_files(
                    repo, [f.path for f in fix.files], fix.base_commit, input.fix.head_commit, current
                )
        except ChangeRefused as refusal:
            return GitOpsChange.model_validate({**common, "refused": [str(refusal)]})
        return GitOpsChange.model_validate(
            {**common, "base_commit": current, "files": diffs, "edit_hash": edit_hash(diffs)}
        )
