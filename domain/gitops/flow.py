"""The rules of the GitOps path that the workflow and its activities share. Pure.

- Which observed Argo CD Application owns each action's target, and which branch of the GitOps
  repository a pull request for it must go to (never a guess: an unclear owner or a tag, commit
  or chart version as the tracked revision is a reason, not an answer).
- The digest that binds an approved diff to the pull request opened for it.
- What the Applications' states after a merge mean: ready to verify, failed, or not there yet.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any, Literal

from domain.analysis.plan import Plan, RevertDeploy
from domain.kube.observation import ArgoApplication, Observation
from domain.steps.gitops import ApplicationCheck, ApplicationStatus, FileDiff

_HEX = re.compile(r"^[0-9a-fA-F]{7,40}$")
_DEFAULT_BRANCH = ("", "HEAD")

Verdict = Literal["ready", "failed", "waiting"]


def applications_of_actions(
    plan: Plan, applications: Sequence[ArgoApplication]
) -> tuple[dict[int, ArgoApplication], list[str]]:
    """For each of the plan's GitOps actions (by index), the Application of `applications` that
    owns its target, and the reasons for the actions whose owner is unclear.

    A `revert_deploy` is owned by the Application it names. Otherwise an Application owns a
    target when its status lists it (observe keeps those entries); when
    there is exactly one Application, it owns them all (observe keeps only Applications that
    manage a target). An owner whose cluster observe could not resolve (`ownership_uncertain`,
    README "Clusters") is a reason, never an owner.
    """
    owners: dict[int, ArgoApplication] = {}
    reasons: list[str] = []
    for index, action in enumerate(plan.actions):
        if action.mode != "gitops":
            continue
        ref = action.target
        if isinstance(action, RevertDeploy):
            # The Application the deploy was of, by its name (and namespace, when named).
            named = [
                a
                for a in applications
                if a.name == action.application
                and (not action.app_namespace or a.namespace == action.app_namespace)
            ]
            if len(named) != 1:
                why = "several were seen" if named else "it was not observed"
                reasons.append(f"action {index} ({action.kind} of Application {action.application}): {why}")
                continue
            if named[0].ownership_uncertain:
                reasons.append(
                    f"action {index} ({action.kind} of Application {action.application}): "
                    + named[0].ownership_uncertain
                )
                continue
            owners[index] = named[0]
            continue
        found = [a for a in applications if a.manages(ref.kind, ref.namespace, ref.name)]
        if not found and len(applications) == 1:
            found = list(applications)
        if len(found) != 1:
            why = "several Applications list it" if found else "no Argo CD Application was seen managing it"
            reasons.append(f"action {index} ({action.kind} {ref.key}): {why}")
            continue
        if found[0].ownership_uncertain:
            reasons.append(f"action {index} ({action.kind} {ref.key}): {found[0].ownership_uncertain}")
            continue
        owners[index] = found[0]
    return owners, reasons


def owning_applications(plan: Plan, observation: Observation) -> tuple[list[ArgoApplication], list[str]]:
    """The observed Applications that own the targets of the plan's GitOps actions (each once, in
    the order of the actions), and the reasons for the actions whose owner is unclear."""
    owners, reasons = applications_of_actions(plan, observation.argocd)
    apps: dict[str, ArgoApplication] = {}
    for app in owners.values():
        apps.setdefault(app.id, app)
    return list(apps.values()), reasons


def git_source(app: ArgoApplication) -> dict[str, Any] | None:
    """The source of the Application that reads the GitOps repository (a `path` or a `ref`
    source), as observe reads it; None for an Application made of charts only."""
    sources = [s for s in app.sources if s.get("path") is not None or s.get("ref")]
    return sources[0] if sources else None


def target_branch(apps: Sequence[ArgoApplication]) -> tuple[str, str]:
    """(branch, reason): the branch of the GitOps repository the Applications deploy — "" for the
    repository's default branch — or ("", why no pull request can change what they deploy)."""
    branches: set[str] = set()
    for app in apps:
        source = git_source(app)
        if source is None:
            return "", f"Application {app.name} reads no file of the GitOps repository"
        revision = str(source.get("targetRevision") or "").strip()
        if revision.startswith("refs/heads/"):
            revision = revision[len("refs/heads/") :]
        if revision.startswith("refs/") or _HEX.match(revision):
            return "", (
                f"Application {app.name} tracks {revision}, not a branch: a pull request cannot "
                "change what it deploys"
            )
        branches.add("" if revision in _DEFAULT_BRANCH else revision)
    if len(branches) > 1:
        return "", "the Applications track different branches: " + ", ".join(
            sorted(b or "HEAD" for b in branches)
        )
    return (branches.pop() if branches else ""), ""


def edit_hash(files: Sequence[FileDiff]) -> str:
    """A short digest of exactly which files change and how (their diffs): an approval of a diff
    holds only for a pull request that makes that diff."""
    digest = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.path):
        digest.update(f.path.encode() + b"\0" + f.diff.encode() + b"\0")
    return digest.hexdigest()[:16]


def verdict(
    check: ApplicationCheck, *, degraded_persists: bool = True, require_healthy: bool = True
) -> tuple[Verdict, str]:
    """What the Applications' states say after a merge: `ready` (every one synced to the merge,
    no operation running, and Healthy unless `require_healthy` is off — a revert restores a state
    that was not), `failed` (a sync operation failed on it, or, when health is required, an
    Application synced to it is Degraded and `degraded_persists` — the caller counts consecutive
    checks, see `degraded`), else `waiting`; with a one-line reason."""
    if not check.applications:
        return "waiting", "no Application state yet"
    failed = [a for a in check.applications if a.operation_failed and not a.operation_in_progress]
    if failed:
        return "failed", "; ".join(
            f"the sync of {a.name} failed: {a.operation_message or a.operation_phase}" for a in failed
        )
    settled = [a for a in check.applications if a.synced and not a.operation_in_progress]
    if len(settled) == len(check.applications) and (
        not require_healthy or all(a.health_status == "Healthy" for a in settled)
    ):
        health = ", ".join(f"{a.name} {a.health_status or 'Unknown'}" for a in settled)
        return "ready", f"Argo CD synced the merge ({health})"
    stuck = [a for a in settled if a.health_status == "Degraded"]
    if require_healthy and stuck and degraded_persists:
        return "failed", "; ".join(
            f"{a.name} is Degraded after the sync: {a.health_message or 'no message'}" for a in stuck
        )
    return "waiting", "; ".join(_waiting_reason(a) for a in check.applications if not _ready(a)) or "waiting"


def degraded(check: ApplicationCheck) -> bool:
    """Whether an Application synced to the merge reports Degraded (a failure once it persists)."""
    return any(
        a.synced and not a.operation_in_progress and a.health_status == "Degraded" for a in check.applications
    )


def _ready(a: ApplicationStatus) -> bool:
    return a.synced and not a.operation_in_progress and a.health_status == "Healthy"


def _waiting_reason(a: ApplicationStatus) -> str:
    if a.operation_in_progress:
        return f"{a.name}: a sync is running"
    if not a.synced:
        return f"{a.name}: {a.sync_status or 'Unknown'} at {a.revision[:12] or 'no revision'}"
    return f"{a.name}: {a.health_status or 'Unknown'} {a.health_message}".rstrip()


def needs_sync(check: ApplicationCheck) -> list[str]:
    """The Applications without automated sync that are neither synced to the merge nor syncing:
    they need a sync request (again)."""
    return [
        a.name
        for a in check.applications
        if not a.automated and not a.synced and not a.operation_in_progress and not a.operation_failed
    ]
