"""The files of a GitOps change: the edit a plan makes, and the revert of a merged fix — computed
on the GitOps clone at a given commit. Shared by the activities that prepare a change and the one
that opens its pull request (which computes it again at its base commit)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from domain.analysis.plan import Plan
from domain.gitops.edit import FileChange, file_changes, unified_diff
from domain.gitops.flow import applications_of_actions
from domain.kube.observation import ArgoApplication
from domain.redaction.text import redact_text
from domain.steps.gitops import FileDiff, GitOpsApplication, GitOpsChange
from integrations.git import GitError, GitRepo, run_git


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
    repo: GitRepo, plan: Plan, applications: list[ArgoApplication], base_commit: str
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


def revert_files(
    repo: GitRepo, paths: list[str], before: str, fix: str, current: str
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
