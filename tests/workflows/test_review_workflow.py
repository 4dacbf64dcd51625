"""ChangeReviewWorkflow on the time-skipping test server, every activity replaced by name: one
review per head, a newer head superseding an older one mid-review (never published), a failed
review saying why on the PR, a redelivered head not reviewed twice, and the end when the PR
closes."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.steps.review import (
    AffectedApplication,
    AffectedApplications,
    PublishInput,
    PublishResult,
    PullRequestClosed,
    ReviewOutcome,
    ReviewRequest,
    ReviewResult,
    ReviewTarget,
    review_workflow_id,
)
from tests.conftest import keep_history
from workers.main import workflow_runner
from workflows.review import ChangeReviewWorkflow
from workflows.review.workflow import HEAD_PUSHED, PULL_REQUEST_CLOSED


def request(sha: str, number: int = 7) -> ReviewRequest:
    target = ReviewTarget(
        host="github", repository="acme/gitops", number=number, head_ref="bump", head_sha=sha * 40
    )
    return ReviewRequest(target=target, delivery=f"d-{sha}")


@dataclass
class Fakes:
    # heads whose review waits until released (a slow render)
    slow: set[str] = field(default_factory=set)
    fail: set[str] = field(default_factory=set)
    released: asyncio.Event = field(default_factory=asyncio.Event)
    reviewed: list[str] = field(default_factory=list)
    published: list[PublishInput] = field(default_factory=list)
    started: list[str] = field(default_factory=list)

    def activities(self) -> list[object]:
        @activity.defn(name="find_affected_applications")
        async def find(req: ReviewRequest) -> AffectedApplications:
            return AffectedApplications(
                target=req.target, base_sha="b" * 40, applications=[AffectedApplication(name="shop")]
            )

        @activity.defn(name="review_change")
        async def review_change(affected: AffectedApplications) -> ReviewOutcome:
            sha = affected.target.head_sha
            self.started.append(sha)
            if sha in self.fail:
                raise ApplicationError(
                    "Argo CD at 127.0.0.1:1 refused", type="ArgoUnavailable", non_retryable=True
                )
            if sha in self.slow:
                while not self.released.is_set():
                    activity.heartbeat()
                    await asyncio.sleep(0.05)
            self.reviewed.append(sha)
            return ReviewOutcome(review_key=f"k@{sha}", head_sha=sha, decision="warn", summary="risk medium")

        @activity.defn(name="publish_review")
        async def publish(input: PublishInput) -> PublishResult:
            self.published.append(input)
            return PublishResult(parts=1)

        return [find, review_change, publish]


async def _until(condition: object, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def _start(
    env: WorkflowEnvironment, queue: str, first: ReviewRequest
) -> WorkflowHandle[object, ReviewResult]:
    return await env.client.start_workflow(
        ChangeReviewWorkflow.run,
        first,
        id=review_workflow_id(first.target),
        task_queue=queue,
        start_signal=HEAD_PUSHED,
        start_signal_args=[first],
    )


def _kinds(published: list[PublishInput]) -> list[str]:
    return [
        "pending" if p.pending else f"failure:{p.failure}" if p.failure else f"review:{p.review_key}"
        for p in published
    ]


async def test_each_head_is_reviewed_and_a_newer_one_supersedes_the_review_in_progress(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    a, b, c = "a" * 40, "b" * 40, "c" * 40
    fakes = Fakes(slow={b})
    queue = f"test-{uuid.uuid4()}"
    async with Worker(
        time_skipping_env.client,
        task_queue=queue,
        workflows=[ChangeReviewWorkflow],
        workflow_runner=workflow_runner(),
        activities=fakes.activities(),
    ):
        with time_skipping_env.auto_time_skipping_disabled():
            handle = await _start(time_skipping_env, queue, request("a"))
            await _until(lambda: len(fakes.published) == 2)
            # The same head again (a redelivery) is not reviewed twice.
            await handle.signal(HEAD_PUSHED, request("a"))
            await handle.signal(HEAD_PUSHED, request("b"))
            await _until(lambda: b in fakes.started)  # b's review hangs
            await handle.signal(HEAD_PUSHED, request("c"))
            await _until(lambda: len(fakes.published) == 5)
            # b's review was cancelled (the activity learns it at its next heartbeat) and never published.
            history = await handle.fetch_history()
            assert any(e.HasField("activity_task_cancel_requested_event_attributes") for e in history.events)
            assert fakes.reviewed == [a, c]
            assert _kinds(fakes.published) == [
                "pending",
                f"review:k@{a}",
                "pending",
                "pending",
                f"review:k@{c}",
            ]
            status = await handle.query("status", result_type=ReviewResult)
            assert (status.reviews, status.superseded, status.last and status.last.head_sha) == (2, 1, c)
            await handle.signal(PULL_REQUEST_CLOSED, PullRequestClosed(number=7, merged=True))
            result = await handle.result()
            assert result.state == "closed" and result.reviews == 2
            await keep_history(handle, "review-superseded-closed")
            fakes.released.set()


async def test_a_failed_review_says_why_on_the_pull_request_and_the_next_push_is_reviewed(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    a, b = "a" * 40, "b" * 40
    fakes = Fakes(fail={a})
    queue = f"test-{uuid.uuid4()}"
    async with Worker(
        time_skipping_env.client,
        task_queue=queue,
        workflows=[ChangeReviewWorkflow],
        workflow_runner=workflow_runner(),
        activities=fakes.activities(),
    ):
        with time_skipping_env.auto_time_skipping_disabled():
            handle = await _start(time_skipping_env, queue, request("a"))
            await _until(lambda: len(fakes.published) == 2)
            assert _kinds(fakes.published)[1] == "failure:Argo CD at 127.0.0.1:1 refused"
            await handle.signal(HEAD_PUSHED, request("b"))
            await _until(lambda: len(fakes.published) == 4)
            assert fakes.reviewed == [b]
        # Nobody pushes for the idle period: the workflow ends by itself.
        result = await handle.result()
        assert result.state == "idle" and result.reviews == 1
        await keep_history(handle, "review-failed-idle")
