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
from domain.analysis.plan import RevertDeploy
from domain.gitops.flow import edit_hash, target_branch
from domain.gitops.repositories import (
    REPOSITORIES_FILE_VARIABLE,
    GitOpsRepositories,
    GitOpsRepository,
    edit_refusal,
)
from domain.kube.observation import ArgoApplication
from domain.review.applications import affected_applications, unreviewed_files
from domain.steps.gitops import GitOpsApplication, GitOpsChange, PrepareChangeInput, PrepareRevertInput
from integrations.argocd import ArgoClient
from integrations.git import GitRefNotFound, GitRepo
from integrations.gitops_clones import GitOpsClones


class GitOpsChangeActivities:
    """`repo` is None when no GitOps repository is configured, `argocd` when no Argo CD is: the
    change is then refused with the reason (medic could neither make it nor see it land).
    `repositories` are those medic may write, the first the one `repo` is a clone of (default: that
    clone's remote known by `repo_urls`); `clones` gives the clone of each of them (default: `repo`
    alone). A change is computed in the clone of the repository holding the file it changes; an
    edit of an Application deploying from a repository in none of them is refused with the
    repository named."""

    def __init__(
        self,
        repo: GitRepo | None,
        argocd: ArgoClient | None,
        *,
        repo_urls: tuple[str, ...] = (),
        repositories: GitOpsRepositories | None = None,
        clones: GitOpsClones | None = None,
    ) -> None:
        self._repo = repo
        self._argocd = argocd
        # the URLs Applications name the GitOps repository by (its remote when none are given)
        self._repo_urls = repo_urls
        self._repositories = repositories
        self._clones = clones or GitOpsClones(repositories or GitOpsRepositories(), repo)

    def _writable(self, repo: GitRepo) -> GitOpsRepositories:
        if self._repositories is not None:
            return self._repositories
        return GitOpsRepositories(
            repositories=(GitOpsRepository(url=repo.remote_url, aliases=self._repo_urls),)
        )

    def _need_repo(self, name: str = "") -> GitRepo:
        repo = self._clones.clone(name) if name else self._repo
        if repo is None:
            if name:
                raise ChangeRefused(
                    f"medic has no clone of {name}: it is not in {REPOSITORIES_FILE_VARIABLE}"
                )
            raise ChangeRefused("no GitOps repository is configured (MEDIC_GITOPS_REPO)")
        return repo

    def _urls(self, name: str, repo: GitRepo) -> tuple[str, ...]:
        """The URLs Applications name repository `name` by."""
        entry = self._clones.repository(name) if name else None
        if entry is not None:
            return entry.names()
        return self._repo_urls or (repo.remote_url,)

    def _candidates(self, applications: list[ArgoApplication]) -> list[str]:
        """The repositories a fix of `applications` may be in, the configured one first: those
        their Git sources are in ("" alone when none is mapped)."""
        names = [n for app in applications for n in self._clones.holding(app.sources)]
        unique = list(dict.fromkeys(names)) or [""]
        return sorted(unique, key=lambda n: n != "")

    def _base(self, repo: GitRepo, branch: str) -> tuple[str, str]:
        """The branch the change goes to (the Applications' one, else the default) and its tip,
        the clone synced first."""
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
        return base, base_commit

    @activity.defn(name="prepare_gitops_change")
    @heartbeats
    def prepare_gitops_change(self, input: PrepareChangeInput) -> GitOpsChange:
        applications = [application_ref(a) for a in input.applications]
        try:
            if self._argocd is None:
                raise ChangeRefused(
                    "no Argo CD is configured (ARGOCD_URL): medic could not follow the change"
                )
            branch, why = target_branch(input.applications)
            if why:
                raise ChangeRefused(why)
            revert = deploy_revert_of(input.plan)
            if revert is not None:
                return self._deploy_revert(input, revert, branch, applications)
            return self._fix(input, branch, applications)
        except ChangeRefused as refusal:
            return GitOpsChange(refused=[str(refusal)], applications=applications)

    def _fix(
        self, input: PrepareChangeInput, branch: str, applications: list[GitOpsApplication]
    ) -> GitOpsChange:
        """The plan's edit, in the first repository (the configured one first) that holds every
        file it changes."""
        refusals: list[tuple[str, str]] = []
        for name in self._candidates(input.applications):
            try:
                repo = self._need_repo(name)
                with classified("reading the GitOps repository"):
                    base, base_commit = self._base(repo, branch)
                    _, diffs, unchanged = fix_files(
                        repo,
                        input.plan,
                        input.applications,
                        base_commit,
                        self._writable(repo),
                        repository=self._clones.repository(name) if name else None,
                    )
            except ChangeRefused as refusal:
                refusals.append((name, str(refusal)))
                continue
            return GitOpsChange(
                base=base,
                base_commit=base_commit,
                files=diffs,
                edit_hash=edit_hash(diffs),
                unchanged=unchanged,
                applications=[a.model_copy(update={"repository": name}) for a in applications],
                repository=name,
            )
        if len(refusals) == 1:
            raise ChangeRefused(refusals[0][1])
        raise ChangeRefused(
            "; ".join(f"in {name or 'the GitOps repository'}: {why}" for name, why in refusals)
        )

    def _deploy_revert(
        self,
        input: PrepareChangeInput,
        revert: RevertDeploy,
        branch: str,
        applications: list[GitOpsApplication],
    ) -> GitOpsChange:
        """The revert of a degraded deploy, in the repository its Application deploys from."""
        assert self._argocd is not None
        if len(input.plan.actions) != 1:
            raise ChangeRefused("the revert of a deploy is a plan of its own, with no other action")
        with classified(f"reading Application {revert.application}"):
            app = self._argocd.get_application(revert.application, revert.app_namespace or None)
        spec = app.get("spec") or {}
        sources = spec.get("sources") or ([spec["source"]] if spec.get("source") else [])
        names = self._clones.holding(sources) or [""]
        if len(names) > 1:
            raise ChangeRefused(
                f"Application {revert.application} deploys from several repositories "
                f"({', '.join(n or 'the GitOps repository' for n in names)}): a revert pull request "
                "changes one, so a human has to revert the deploy"
            )
        name = names[0]
        repo = self._need_repo(name)
        refusal = edit_refusal(
            revert.application,
            sources,
            self._writable(repo),
            repository=self._clones.repository(name) if name else None,
        )
        if refusal is not None:
            raise ChangeRefused(refusal)
        urls = self._urls(name, repo)
        with classified("reading the GitOps repository"):
            base, base_commit = self._base(repo, branch)

            def reads(paths: list[str]) -> list[str]:
                def read(path: str) -> str | None:
                    return repo.read_file(path, revert.revision)

                affected = affected_applications([app], paths, urls, read)
                return [p for p in paths if p not in unreviewed_files(paths, affected)]

            _, diffs = deploy_revert_files(repo, revert, base_commit, reads)
        # `open_pull_request` computes it again from the range.
        return GitOpsChange(
            kind="revert",
            base=base,
            base_commit=base_commit,
            files=diffs,
            edit_hash=edit_hash(diffs),
            applications=[a.model_copy(update={"repository": name}) for a in applications],
            reverts_base=revert.previous_revision,
            reverts_head=revert.revision,
            repository=name,
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
        if fix.repository:
            common["repository"] = fix.repository
        try:
            repo = self._need_repo(fix.repository)
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
