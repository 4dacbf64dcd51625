"""The files of a GitOps change: the edit a plan makes, and the revert of a merged fix — computed
on the GitOps clone at a given commit. Shared by the activities that prepare a change and the one
that opens its pull request (which computes it again at its base commit)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from domain.analysis.plan import Plan, RevertDeploy
from domain.gitops.edit import FileChange, file_changes, unified_diff
from domain.gitops.flow import applications_of_actions
from domain.gitops.repositories import GitOpsRepositories, GitOpsRepository, edit_refusal
from domain.kube.observation import ArgoApplication
from domain.redaction.text import redact_text
from domain.steps.gitops import FileDiff, GitOpsApplication, GitOpsChange
from integrations.git import GitError, GitRefNotFound, GitRepo, run_git


class ChangeRefused(Exception):
    """No change (or revert) can be made with confidence; the message says why."""


def default_branch(repo: GitRepo) -> str:
    try:
        out = run_git(["symbolic-ref", "--short", "refs/remotes/origin/HEAD"], cwd=repo.workdir)
    except GitError:
        return "main"
    name = out.decode().strip()
    return name.split("/", 1)[1] if name.startswith("origin/") else name or "main"


def fix_files(
    repo: GitRepo,
    plan: Plan,
    applications: list[ArgoApplication],
    base_commit: str,
    repositories: GitOpsRepositories | None = None,
    *,
    repository: GitOpsRepository | None = None,
) -> tuple[list[FileChange], list[FileDiff], list[str]]:
    """The change of every file the plan's GitOps actions change, computed at `base_commit` of
    `repo`, its redacted diff, and the values the repository already has. With `repositories`, a
    file whose Application source is not in `repository` (the one `repo` is a clone of; default
    the configured one) is refused (`domain.gitops.repositories.edit_refusal`): it would be another
    repository's file."""
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
            actions,
            app.sources,
            read,
            files,
            destination_namespace=app.destination_namespace,
            application=app.name,
            application_set=app.application_set,
        )
        for refusal in edit.refused:
            index = indices[refusal.action]
            where = f" in {refusal.file}" if refusal.file else ""
            target = plan.actions[index].target.key
            refused.append(f"action {index} ({refusal.kind} {target}){where}: {refusal.reason}")
        unchanged += [f"{f.file}: {f.description}" for f in edit.unchanged]
        for change in edit.changes:
            refusal_of_repository = (
                edit_refusal(app.name, app.sources, repositories, change.path, repository=repository)
                if repositories
                else None
            )
            if refusal_of_repository is not None:
                refused.append(refusal_of_repository)
                continue
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


def revert_files(
    repo: GitRepo, paths: list[str], before: str, fix: str, current: str, *, what: str = "the fix"
) -> tuple[list[FileChange], list[FileDiff]]:
    """Each of `paths` as it was at `before` (the fix's base), on top of `current`: the file
    itself when it still is as the fix (`fix`) left it, else a three-way merge that keeps the
    changes made since. A file the fix made, or one since removed or changed in the same
    lines, is refused. `what` names the change reverted in descriptions and reasons ("the fix",
    "the deploy")."""
    changes: list[FileChange] = []
    diffs: list[FileDiff] = []
    for path in paths:
        old, new, now = (repo.read_file(path, rev) for rev in (before, fix, current))
        if old is None or new is None:
            raise ChangeRefused(f"{path} is not in both {what} and its base")
        if now is None:
            raise ChangeRefused(f"{path} no longer exists on the branch")
        if now == old:
            continue  # already as before the fix
        reverted = old if now == new else _merge_file(now, new, old, path, what)
        diff = unified_diff(path, now, reverted)
        description = f"put {path} back as it was before {what}"
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


def deploy_revert_files(
    repo: GitRepo,
    action: RevertDeploy,
    current: str,
    reads: Callable[[list[str]], list[str]] | None = None,
) -> tuple[list[FileChange], list[FileDiff]]:
    """The revert of the deploy's commits (`previous_revision`..`revision`) on top of `current`,
    the tip of the branch the Application deploys: every file the deploy changed that the
    Application reads (`reads` picks them; None: every one) put back as it was before it,
    three-way (`revert_files`) — a commit of the range that changed another Application's files
    stays. Refused when either revision is not in the repository, the deploy is not on the branch,
    it changed no file the Application reads, or it added or deleted one."""
    app = action.application
    for name, revision in (("previous revision", action.previous_revision), ("revision", action.revision)):
        try:
            repo.head(revision)
        except GitRefNotFound as err:
            raise ChangeRefused(
                f"the deploy's {name} {revision[:12]} of {app} is not in the GitOps repository: "
                "the deploy may come from another repository"
            ) from err
    if not repo.is_ancestor(action.revision, current):
        raise ChangeRefused(
            f"the deploy's revision {action.revision[:12]} of {app} is not on the branch it deploys "
            f"(tip {current[:12]}): a pull request there cannot revert it"
        )
    changed = repo.changed_paths(action.previous_revision, action.revision)
    if reads is not None:
        read = set(reads([path for _, path in changed]))
        changed = [(status, path) for status, path in changed if path in read]
    if not changed:
        raise ChangeRefused(
            f"the deploy {action.previous_revision[:12]}..{action.revision[:12]} of {app} changes no file "
            "the Application reads"
        )
    made = [path for status, path in changed if status != "M"]
    if made:
        verbs = {path: ("added" if status == "A" else "deleted") for status, path in changed if status != "M"}
        listed = ", ".join(f"{path} ({verbs[path]})" for path in made[:5])
        more = f" and {len(made) - 5} more" if len(made) > 5 else ""
        raise ChangeRefused(
            f"the deploy added or deleted files ({listed}{more}): medic reverts only changes to files "
            "that exist on both sides, so a human has to revert it"
        )
    paths = [path for _, path in changed]
    changes, diffs = revert_files(
        repo, paths, action.previous_revision, action.revision, current, what="the deploy"
    )
    if not changes:
        raise ChangeRefused(
            f"the branch already has every file the deploy {action.revision[:12]} changed as it was "
            "before it: there is nothing to revert"
        )
    return changes, diffs


def deploy_revert_of(plan: Plan) -> RevertDeploy | None:
    """The plan's revert of a deploy, when it is one (a deploy watch's plan is that action alone)."""
    return next((a for a in plan.actions if isinstance(a, RevertDeploy)), None)


def application_ref(app: ArgoApplication) -> GitOpsApplication:
    return GitOpsApplication(
        name=app.name, namespace=app.namespace, project=app.project, automated=app.automated
    )


def _unique(apps: Any) -> list[ArgoApplication]:
    seen: dict[str, ArgoApplication] = {}
    for app in apps:
        seen.setdefault(app.id, app)
    return list(seen.values())


def reverted_paths(change: GitOpsChange) -> list[str]:
    return [f.path for f in change.files]


def _merge_file(current: str, base: str, other: str, path: str, what: str = "the fix") -> str:
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
                f"{path} changed again since {what} in the lines {what} changed: a human has to revert it"
            ) from err
    return out.decode()
