"""ChangeReviewWorkflow: one per pull request; reviews each head pushed to it.

Started (signal-with-start) by the PR host's webhook or `medic review pr`, signalled
`head_pushed` on every push and `pull_request_closed` when the PR is merged or closed. A head
pushed while an older one is being reviewed supersedes it: the older review is not published.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.steps.review import PullRequestClosed, ReviewRequest, ReviewResult

HEAD_PUSHED = "head_pushed"
PULL_REQUEST_CLOSED = "pull_request_closed"


@workflow.defn
class ChangeReviewWorkflow:
    @workflow.init
    def __init__(self, request: ReviewRequest) -> None:
        self._pending: ReviewRequest | None = request
        self._closed: PullRequestClosed | None = None

    @workflow.signal(name=HEAD_PUSHED)
    def head_pushed(self, request: ReviewRequest) -> None:
        self._pending = request

    @workflow.signal(name=PULL_REQUEST_CLOSED)
    def pull_request_closed(self, closed: PullRequestClosed) -> None:
        self._closed = closed

    @workflow.run
    async def run(self, request: ReviewRequest) -> ReviewResult:
        raise NotImplementedError("the review loop lands with the review activities")
