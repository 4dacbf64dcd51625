"""The GitOps path: a plan on objects Argo CD manages, made as a pull request against the GitOps
repository.

file change → [approval] → pull request → merge → Argo CD sync → verify →
(revert pull request → [approval] → merge → sync → verify)

The file change is computed before the approval, so the approvers decide on the exact diff; a
change that cannot be made with confidence goes to a human without one.

A degraded deploy's incident (source `deploy`, a `revert_deploy` plan) opens its revert pull
request BEFORE the approval, so that the approvers and the notification see the actual pull
request: file change → pull request → [approval] → merge by medic (or a human, where the host
refuses medic's) → Argo CD sync → verify (Healthy required). A human merging (or closing) it on
the host while it waits for approval is the decision. A rejected or expired approval closes
the pull request saying why; a revert that does not recover ends `failed` (no revert of a revert).
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

from workflows.remediation.merge import pr_summary
from workflows.remediation.state import Ending, targets_of
from workflows.remediation.steps import StepFailed
from workflows.remediation.stubs import (
    GET_PULL_REQUEST,
    OPEN_PULL_REQUEST,
    PREPARE_GITOPS_CHANGE,
    PREPARE_GITOPS_REVERT,
)
from workflows.remediation.toolkit import Toolkit

with workflow.unsafe.imports_passed_through():
    from domain.analysis.plan import Diagnosis, Plan
    from domain.gitops.flow import owning_applications
    from domain.gitops.pull_requests import PullRequest
    from domain.incident.model import ResourceRef
    from domain.kube.observation import ArgoApplication, Observation
    from domain.policy.decision import PolicyDecision
    from domain.steps.gitops import (
        GitOpsChange,
        OpenPullRequestInput,
        PrepareChangeInput,
        PrepareRevertInput,
        PullRequestInput,
    )
    from domain.steps.record import IncidentUpdate


class GitOpsPath:
    def __init__(self, kit: Toolkit) -> None:
        self._kit = kit

    async def remediate(
        self, observation: Observation, diagnosis: Diagnosis, policy: PolicyDecision
    ) -> Ending:
        """A pull request merged, synced by Argo CD and verified as a direct change is — and, when
        verification fails, reverted by another pull request."""
        state = self._kit.state
        plan = diagnosis.plan
        applications, unowned = owning_applications(plan, observation)
        if unowned:
            return "needs_review", "the plan cannot be made through Git: " + "; ".join(unowned)
        change = await self._kit.steps.run(
            "preparing_change",
            PREPARE_GITOPS_CHANGE,
            PrepareChangeInput(
                incident_id=state.incident.id, plan=plan, plan_hash=state.plan_hash, applications=applications
            ),
            summary=change_summary,
        )
        state.change = change
        if change.refused:
            return "needs_review", "no GitOps change can be made with confidence: " + "; ".join(
                change.refused
            )
        if not change.files:
            return "needs_review", (
                "the GitOps repository already holds what the plan asks for ("
                + "; ".join(change.unchanged)
                + "), yet the cluster differs: Argo CD's sync needs a human's look"
            )
        if state.incident.source == "deploy":
            return await self._revert_deploy(change, plan, applications, policy)
        decided = await self._kit.gate.wait(policy)
        if decided is not None:
            return decided
        targets = targets_of(plan)
        fix = await self._open_pull_request(change, plan, applications)
        merged = await self._kit.merges.wait(fix, policy)
        if not isinstance(merged, PullRequest):
            return merged
        commit = merged.merge_commit or merged.head_commit
        verification = await self._kit.convergence.converge(
            change.applications, commit, targets, require_healthy=True
        )
        if verification.ok:
            return "resolved", f"pull request #{merged.number} merged and synced; {verification.reason}"
        return await self._revert(
            change, merged, policy, plan, applications, targets, f"verification failed: {verification.reason}"
        )

    async def _revert_deploy(
        self, change: GitOpsChange, plan: Plan, applications: list[ArgoApplication], policy: PolicyDecision
    ) -> Ending:
        """A degraded deploy undone: its revert pull request opened, then decided on, merged by
        medic, synced and verified Healthy; closed when the decision is no."""
        kit, state = self._kit, self._kit.state
        pr = await self._open_pull_request(change, plan, applications, status=None)

        async def on_host() -> bool:
            """A human merged or closed the revert on its host (a `pull_request_event`, confirmed
            by the host: an event it does not confirm is dropped)."""
            state.pr_events.pop(pr.number, None)
            try:
                current = await kit.steps.call(
                    "awaiting_approval",
                    GET_PULL_REQUEST,
                    PullRequestInput(
                        incident_id=state.incident.id, number=pr.number, repository=pr.repository
                    ),
                )
            except StepFailed:
                return False
            state.pull_requests[pr.number] = current
            return current.status != "open"

        decided = await kit.gate.wait(
            policy, decided_elsewhere=(lambda: pr.number in state.pr_events, on_host)
        )
        on_the_host = state.pull_requests[pr.number]
        if decided is None and on_the_host.status == "closed":
            who = on_the_host.closed_by or "someone"
            return "rejected", f"revert pull request #{pr.number} was closed without merging by {who}"
        if decided is not None:
            outcome, why = decided
            await kit.merges.close(
                pr,
                f"medic: this revert was not approved ({outcome}: {why}), so it is closed unmerged; "
                "the deploy stays as it is.",
            )
            return decided
        if on_the_host.status == "merged":
            merged: PullRequest | Ending = on_the_host  # a human's merge on the host decided
        else:
            merged = await kit.merges.wait(pr, policy, merge_now=True)
        if not isinstance(merged, PullRequest):
            return merged
        commit = merged.merge_commit or merged.head_commit
        verification = await kit.convergence.converge(
            change.applications, commit, targets_of(plan), require_healthy=True
        )
        if verification.ok:
            return (
                "resolved",
                f"revert pull request #{merged.number} merged and synced; {verification.reason}",
            )
        return "failed", (
            f"the revert (pull request #{merged.number}) did not recover the deploy: {verification.reason}"
        )

    async def _revert(
        self,
        change: GitOpsChange,
        fix: PullRequest,
        policy: PolicyDecision,
        plan: Plan,
        applications: list[ArgoApplication],
        targets: list[ResourceRef],
        why: str,
    ) -> Ending:
        """Undo a merged fix with a revert pull request (by default decided on as the fix was),
        then wait for its merge, Argo CD's sync and the rollout."""
        state = self._kit.state
        try:
            revert = await self._kit.steps.run(
                "reverting",
                PREPARE_GITOPS_REVERT,
                PrepareRevertInput(incident_id=state.incident.id, change=change, fix=fix),
                summary=change_summary,
            )
        except StepFailed as failed:
            return "failed", f"{why}; the revert could not be prepared: {failed}"
        if revert.refused:
            return "failed", f"{why}; no revert can be made with confidence: " + "; ".join(revert.refused)
        state.change = revert
        if revert.files:
            if state.input.revert_needs_approval:
                self._kit.gate.start_round("revert", revert.edit_hash)
                decided = await self._kit.gate.wait(policy)
                if decided is not None:
                    return (
                        "failed",
                        f"{why}; the revert pull request was not approved ({decided[0]}: {decided[1]})",
                    )
            try:
                pr = await self._open_pull_request(revert, plan, applications, reason=why, fix=fix)
            except StepFailed as failed:
                return "failed", f"{why}; the revert pull request could not be opened: {failed}"
            merged = await self._kit.merges.wait(pr, policy)
            if not isinstance(merged, PullRequest):
                return "failed", f"{why}; revert pull request #{pr.number}: {merged[1]}"
            commit, how = merged.merge_commit or merged.head_commit, f"pull request #{merged.number}"
        else:
            # The branch no longer holds the fix (a human reverted it already): sync what it holds.
            commit, how = revert.base_commit, f"commit {revert.base_commit[:12]} (the fix was already undone)"
        after = await self._kit.convergence.converge(
            revert.applications or change.applications,
            commit,
            targets,
            require_healthy=False,
            step="verifying_rollback",
        )
        if not after.ok:
            return "failed", f"{why}; the revert ({how}) did not finish rolling out: {after.reason}"
        return "rolled_back", f"{why}; reverted by {how}"

    async def _open_pull_request(
        self,
        change: GitOpsChange,
        plan: Plan,
        applications: list[ArgoApplication],
        *,
        reason: str = "",
        fix: PullRequest | None = None,
        status: str | None = "awaiting_merge",
    ) -> PullRequest:
        state = self._kit.state
        pr = await self._kit.steps.run(
            "opening_pull_request",
            OPEN_PULL_REQUEST,
            OpenPullRequestInput(
                incident_id=state.incident.id,
                change=change,
                plan=plan,
                plan_hash=state.plan_hash,
                applications=applications,
                title=state.incident.title,
                diagnosis=state.diagnosis,
                policy=state.policy,
                impact=state.impact,
                approvals=state.approval.round_approvals(),
                reason=reason,
                fix=fix,
            ),
            summary=pr_summary,
        )
        state.pull_requests[pr.number] = pr
        if status is not None:
            await self._kit.record.update(IncidentUpdate(incident_id=state.incident.id, status=status))
        return pr


def change_summary(change: GitOpsChange) -> dict[str, Any]:
    return {
        "kind": change.kind,
        "base": change.base,
        "base_commit": change.base_commit,
        "edit_hash": change.edit_hash,
        "files": [f.model_dump(mode="json") for f in change.files],
        "refused": change.refused,
        "unchanged": change.unchanged,
        "applications": [a.name for a in change.applications],
    }
