"""The merge wait of a pull request: merged by medic where the policy lets it, otherwise by a
human, noticed by a `pull_request_event` signal or a poll of the host; closed by medic when it is
not merged in time, so that no later merge lands unwatched."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.remediation.state import Ending, RunState
from workflows.remediation.steps import StepFailed, Steps
from workflows.remediation.stubs import CLOSE_PULL_REQUEST, GET_PULL_REQUEST, MERGE_PULL_REQUEST
from workflows.runner import execute, failure_of

with workflow.unsafe.imports_passed_through():
    from domain.gitops.pull_requests import PullRequest, PullRequestEvent
    from domain.policy.decision import PolicyDecision
    from domain.steps.gitops import PullRequestInput


class MergeWait:
    def __init__(self, state: RunState, steps: Steps) -> None:
        self._state = state
        self._steps = steps

    async def wait(
        self, pr: PullRequest, policy: PolicyDecision, *, merge_now: bool = False
    ) -> PullRequest | Ending:
        """The merged pull request, or the outcome when it is closed unmerged (`rejected`) or not
        merged in time (`expired`).

        Where the policy lets the plan run without approval — or `merge_now`: its approval gate has
        passed already (a deploy's revert, opened before the gate) — medic merges it itself, unless
        the host already told of a human's merge or close; otherwise (and when the host refuses
        medic's merge) a human merges it. Either way the host's own answer decides.
        """
        state, steps = self._state, self._steps
        if (policy.auto_execute and policy.approvals_required == 0) or (
            merge_now and pr.number not in state.pr_events
        ):
            try:
                merged = await steps.run(
                    "merging",
                    MERGE_PULL_REQUEST,
                    PullRequestInput(
                        incident_id=state.incident.id,
                        number=pr.number,
                        actor="medic",
                        repository=pr.repository,
                    ),
                    summary=pr_summary,
                )
            except StepFailed:
                pass  # audited; a human merges it instead
            else:
                state.pull_requests[merged.number] = merged
                if merged.status == "merged":
                    return merged
        state.step = "awaiting_merge"
        started = workflow.now()
        settings = state.input
        timeout = (
            settings.pr_merge_timeout_seconds
            or policy.approval_timeout_seconds
            or settings.approval_timeout_seconds
        )
        deadline = started + timedelta(seconds=timeout)
        poll = timedelta(seconds=max(1, settings.pr_poll_seconds))
        await steps.audit(
            "awaiting_merge",
            "started",
            detail={
                "number": pr.number,
                "url": pr.url,
                "branch": pr.branch,
                "deadline": deadline.isoformat(),
            },
        )
        number = pr.number
        last_error = ""
        while True:
            event = state.pr_events.pop(number, None)
            if event is None:
                now = workflow.now()
                if now >= deadline:
                    break
                try:
                    await workflow.wait_condition(
                        lambda: number in state.pr_events, timeout=min(poll, deadline - now)
                    )
                    continue
                except TimeoutError:
                    pass  # time to poll
            try:
                current = await execute(
                    GET_PULL_REQUEST,
                    PullRequestInput(incident_id=state.incident.id, number=number, repository=pr.repository),
                )
            except ActivityError as err:
                # A missed look; the next poll (or a signal) tries again until the deadline.
                message, error_type = failure_of(err)
                if message != last_error:
                    last_error = message
                    await steps.audit("awaiting_merge", "info", detail={"error": message, "type": error_type})
                continue
            state.pull_requests[number] = current
            if current.status == "merged":
                await steps.audit(
                    "awaiting_merge",
                    "completed",
                    actor=current.merged_by or (event.actor if event else "") or "medic",
                    duration=workflow.now() - started,
                    detail={"number": number, "merge_commit": current.merge_commit, "via": _via(event)},
                )
                return current
            if current.status == "closed":
                who = current.closed_by or (event.actor if event else "") or "someone"
                await steps.audit(
                    "awaiting_merge",
                    "cancelled",
                    actor=who,
                    duration=workflow.now() - started,
                    detail={"number": number, "via": _via(event)},
                )
                return "rejected", f"pull request #{number} was closed without merging by {who}"
        await steps.audit("awaiting_merge", "expired", duration=workflow.now() - started)
        try:
            closed = await steps.call(
                "awaiting_merge",
                CLOSE_PULL_REQUEST,
                PullRequestInput(
                    incident_id=state.incident.id,
                    number=number,
                    actor="medic",
                    repository=pr.repository,
                    comment=f"medic: not merged within {timeout}s; the incident expired, so this pull "
                    "request is closed (a later merge would change the cluster with nobody watching).",
                ),
            )
            state.pull_requests[number] = closed
        except StepFailed:
            pass  # audited; the outcome stands
        return "expired", f"pull request #{number} was not merged within {timeout}s"

    async def close(self, pr: PullRequest, comment: str) -> None:
        """Close a pull request nobody may merge now, saying why on it; a host that refuses is
        audited, and the outcome stands."""
        state = self._state
        try:
            closed = await self._steps.call(
                "awaiting_approval",
                CLOSE_PULL_REQUEST,
                PullRequestInput(
                    incident_id=state.incident.id,
                    number=pr.number,
                    actor="medic",
                    comment=comment,
                    repository=pr.repository,
                ),
            )
        except StepFailed:
            return
        state.pull_requests[pr.number] = closed


def pr_summary(pr: PullRequest) -> dict[str, Any]:
    return pr.model_dump(mode="json", exclude_none=True)


def _via(event: PullRequestEvent | None) -> str:
    return "signal" if event is not None else "poll"
