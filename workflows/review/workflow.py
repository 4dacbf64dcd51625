"""ChangeReviewWorkflow: one per pull request; reviews each head pushed to it.

Started (signal-with-start) by the PR host's webhook or `medic pr review`, signalled `head_pushed`
on every push and `pull_request_closed` when the PR is merged or closed:

    head → [pending status] → find the affected Applications → render, diff, analyse, decide
         → comment (one, updated in place) and commit status → wait for the next head

A head pushed while an older one is being reviewed supersedes it: the older review is cancelled
(its activity heartbeats, so it stops at the next Application) and never published. A review that
fails after its retries sets an `error` status saying why, and the workflow waits for the next
push. The workflow ends when the PR closes or after `IDLE` without a push, and continues as new
(with the waiting head as its input) before its history grows long.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.review.stubs import FIND_AFFECTED_APPLICATIONS, PUBLISH_REVIEW, REVIEW_CHANGE
from workflows.runner import execute, failure_of, start

with workflow.unsafe.imports_passed_through():
    from domain.steps.review import (
        PublishInput,
        PullRequestClosed,
        ReviewOutcome,
        ReviewRequest,
        ReviewResult,
    )

HEAD_PUSHED = "head_pushed"
PULL_REQUEST_CLOSED = "pull_request_closed"
# A PR nobody pushes to for this long is left; its next push starts a new review workflow.
IDLE = timedelta(days=30)
# Heads reviewed by one run before it continues as new (each review is a dozen events).
REVIEWS_PER_RUN = 100


@workflow.defn
class ChangeReviewWorkflow:
    @workflow.init
    def __init__(self, request: ReviewRequest) -> None:
        self._pending: ReviewRequest | None = request
        self._closed: PullRequestClosed | None = None
        self._result = ReviewResult(workflow_id=workflow.info().workflow_id)
        self._reviewing = ""

    @workflow.signal(name=HEAD_PUSHED)
    def head_pushed(self, request: ReviewRequest) -> None:
        sha = request.target.head_sha
        last = self._result.last
        # A head already waiting, under review or reviewed (a redelivery, a reopen) is not
        # reviewed again.
        if sha in (self._reviewing, last.head_sha if last else ""):
            return
        if self._pending is None or self._pending.target.head_sha != sha:
            self._pending = request

    @workflow.signal(name=PULL_REQUEST_CLOSED)
    def pull_request_closed(self, closed: PullRequestClosed) -> None:
        self._closed = closed

    @workflow.query(name="status")
    def status(self) -> ReviewResult:
        return self._result

    def _waiting(self) -> bool:
        return self._pending is not None or self._closed is not None

    @workflow.run
    async def run(self, request: ReviewRequest) -> ReviewResult:
        while True:
            if self._closed is not None:
                return self._ended("closed")
            if self._pending is None:
                if not await self._wait_for_push():
                    return self._ended("idle")
                continue
            if self._result.reviews >= REVIEWS_PER_RUN or workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(self._pending)
            current, self._pending = self._pending, None
            await self._review(current)

    async def _wait_for_push(self) -> bool:
        try:
            await workflow.wait_condition(self._waiting, timeout=IDLE)
        except TimeoutError:
            return False
        return True

    def _ended(self, state: str) -> ReviewResult:
        self._result = self._result.model_copy(update={"state": state})
        return self._result

    async def _review(self, request: ReviewRequest) -> None:
        self._reviewing = request.target.head_sha
        try:
            await self._review_head(request)
        finally:
            self._reviewing = ""

    async def _review_head(self, request: ReviewRequest) -> None:
        target = request.target
        try:
            await execute(PUBLISH_REVIEW, PublishInput(target=target, pending=True))
            affected = await execute(FIND_AFFECTED_APPLICATIONS, request)
            if self._waiting():
                return self._superseded()
            handle = start(REVIEW_CHANGE, affected)
            await workflow.wait_condition(lambda: handle.done() or self._waiting())
            if not handle.done():
                handle.cancel()
                with contextlib.suppress(ActivityError):  # cancelled, as asked
                    await handle
                return self._superseded()
            outcome: ReviewOutcome = await handle
            if self._waiting():
                return self._superseded()
            await execute(PUBLISH_REVIEW, PublishInput(target=target, review_key=outcome.review_key))
        except ActivityError as err:
            reason, _ = failure_of(err)
            workflow.logger.warning("review of %s failed: %s", target.head_sha, reason)
            try:
                await execute(PUBLISH_REVIEW, PublishInput(target=target, failure=reason))
            except ActivityError as publish_err:
                workflow.logger.warning("could not say so on the PR: %s", failure_of(publish_err)[0])
            return None
        self._result = self._result.model_copy(update={"reviews": self._result.reviews + 1, "last": outcome})
        return None

    def _superseded(self) -> None:
        self._result = self._result.model_copy(update={"superseded": self._result.superseded + 1})
