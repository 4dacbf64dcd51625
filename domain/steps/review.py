"""The payloads of a change review (`workflows/review/`): which pull request and head, which
Argo CD Applications its files touch, and what the review concluded.

A review's report (rendered diffs, findings, cost, the policy's verdict) is kept in the store
(`change_review`), not carried through Temporal: a review of fifty Applications holds thousands of
manifests. The workflow passes its key.
"""

from __future__ import annotations

import hashlib
from typing import Literal

from domain.base import Frozen

ReviewHost = Literal["github", "gitlab", "local"]
ReviewState = Literal["reviewed", "superseded", "failed", "no_applications"]
Decision = Literal["allow", "warn", "deny"]
# The commit status a review sets: GitHub's status states; `neutral` is a warning, sent to
# hosts without a neutral state as `success` with the warnings in its description.
StatusState = Literal["pending", "success", "neutral", "failure", "error"]
STATUS_CONTEXT = "medic/review"


class ReviewTarget(Frozen):
    """One head of one pull request (or, on the local host, of one branch)."""

    host: ReviewHost
    # owner/name on a PR host; the remote's URL or path on the local host
    repository: str
    # the PR's number; 0 for a branch on the local host, which has no numbers for people's PRs
    number: int = 0
    base_ref: str = "main"
    head_ref: str
    head_sha: str
    # empty: the merge base of head and base_ref, found by the review
    base_sha: str = ""
    title: str = ""
    author: str = ""


def review_workflow_id(target: ReviewTarget) -> str:
    """One review workflow per pull request: host, repository and number (branch on the local
    host). Long repository paths are shortened by a digest, not cut."""
    which = str(target.number) if target.number else target.head_ref
    key = f"{target.host}/{target.repository}/{which}"
    if len(key) > 200:
        key = f"{target.host}/{hashlib.sha256(key.encode()).hexdigest()[:32]}/{which[-80:]}"
    return f"review/{key}"


class ReviewRequest(Frozen):
    """The workflow's input and its `head_pushed` signal: review this head."""

    target: ReviewTarget
    # the webhook delivery (or CLI call) that asked, for the audit
    delivery: str = ""


class PullRequestClosed(Frozen):
    """The `pull_request_closed` signal: the PR was merged or closed; the review workflow ends."""

    number: int = 0
    head_ref: str = ""
    merged: bool = False


class AffectedApplication(Frozen):
    name: str
    # the Application's own namespace (Argo CD's apps-in-any-namespace); empty: Argo CD's
    namespace: str = ""
    project: str = ""
    # why it is affected, one line each: "apps/shop/values.yaml changed under source path apps/shop"
    reasons: list[str] = []
    # a multi-source Application's sources (1-based, as Argo CD counts them) from the reviewed
    # repository, rendered at the base and the head; empty: a single-source Application
    source_positions: list[int] = []


class AffectedApplications(Frozen):
    target: ReviewTarget
    base_sha: str
    changed_files: list[str] = []
    applications: list[AffectedApplication] = []


class ReviewOutcome(Frozen):
    """What `review_change` stored, in brief: the store's key and the verdict."""

    review_key: str
    head_sha: str
    risk: Literal["low", "medium", "high"] = "low"
    decision: Decision = "allow"
    monthly_delta_usd: float = 0.0
    objects_changed: int = 0
    # one line: what the review says, for the status description and the audit
    summary: str = ""


class PublishInput(Frozen):
    """What `publish_review` posts: the stored review of `review_key` (comment and status), or,
    without a key, a pending status while the review runs or an error status saying why it
    failed."""

    target: ReviewTarget
    review_key: str = ""
    pending: bool = False
    # one line: why the review could not be made
    failure: str = ""


class PublishResult(Frozen):
    comment_ids: list[int] = []
    parts: int = 0
    status: StatusState = "success"
    url: str = ""


class ReviewResult(Frozen):
    """How a review workflow ended (or continued as new): the heads it reviewed and the last
    verdict. Also its continue-as-new carry-over."""

    workflow_id: str = ""
    reviews: int = 0
    superseded: int = 0
    last: ReviewOutcome | None = None
    state: Literal["closed", "idle", "continued"] = "closed"
