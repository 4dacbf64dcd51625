"""The change review's activities: find the affected Applications of a pull request's head,
review the change, and publish the review on the pull request.

- `find_affected_applications` reads the PR again from its host (so a forged or stale webhook
  decides nothing: the head, base and files are the host's), the files it changes, and, with Argo
  CD, the Applications whose sources those files fall under (`domain.review.applications`).
- `review_change` renders each affected Application at the base and the head — through Argo CD's
  manifests API, as its repo server renders them, or, without Argo CD, locally from the GitOps
  clone with a real engine — and keeps the review in the store (`change_review`); the workflow
  carries only its key. Heartbeats after each Application and stops when the review is cancelled
  (a newer head superseded it). With a model configured, the review then gets the model's short
  narrative of it (`integrations.llm.narrative`: advisory, asked after the verdict, never changing
  it), or a line saying why there is none; a model's failure never fails the review.
- `publish_review` posts the stored review as the PR's one comment (updated in place, in parts
  below the host's limit) and sets the `medic/review` commit status; or sets a pending status, or
  an error status saying why a review failed.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote, urlencode

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError, CancelledError

from activities.failures import classified, store_failures
from activities.heartbeat import heartbeats
from activities.review.analysis import (
    Rendering,
    argo_rendering,
    local_renderings,
    report,
    review_renderings,
    summary_line,
)
from domain.review.applications import affected_applications, unreviewed_files
from domain.review.cost import Prices
from domain.review.render import MARKER
from domain.steps.review import (
    AffectedApplications,
    PublishInput,
    PublishResult,
    ReviewOutcome,
    ReviewRequest,
    StatusState,
)
from integrations.argocd import ArgoClient
from integrations.git import GitRepo
from integrations.llm.narrative import Narrator
from integrations.pull_requests import PullRequestHost, local_review_target
from policies import PolicyError
from store.db import transaction
from store.reviews import ChangeReviewRepository, report_of, review_key

__all__ = ["ChangeReviewActivities"]

# The description of a commit status per decision (GitHub shows 140 characters).
_STATE: dict[str, StatusState] = {"allow": "success", "warn": "neutral", "deny": "failure"}


class ChangeReviewActivities:
    """`prices` gives the prices of the moment (an OpenCost endpoint's, or None for OpenCost's
    default list prices); `repo_urls` are the remotes Applications name the GitOps repository by;
    `narrator`, with a model configured, writes each review's advisory narrative."""

    def __init__(
        self,
        repo: GitRepo | None,
        host: PullRequestHost | None,
        argocd: ArgoClient | None,
        sessions: sessionmaker[Session],
        *,
        repo_urls: tuple[str, ...] = (),
        policy_dir: str | None = None,
        protected_namespaces: tuple[str, ...] = (),
        prices: Callable[[], Prices | None] = lambda: None,
        console_url: str = "",
        narrator: Narrator | None = None,
    ) -> None:
        self._repo = repo
        self._host = host
        self._argocd = argocd
        self._sessions = sessions
        self._repo_urls = repo_urls
        self._policy_dir = policy_dir
        self._protected = protected_namespaces
        self._prices = prices
        self._console_url = console_url
        self._narrator = narrator

    def _need(self) -> tuple[GitRepo, PullRequestHost]:
        if self._repo is None or self._host is None:
            raise ApplicationError(
                "no GitOps repository is configured (MEDIC_GITOPS_REPO): nothing to review",
                type="NotConfigured",
                non_retryable=True,
            )
        return self._repo, self._host

    # --- find ---------------------------------------------------------------------------------

    @activity.defn(name="find_affected_applications")
    @heartbeats
    def find_affected_applications(self, request: ReviewRequest) -> AffectedApplications:
        repo, host = self._need()
        asked = request.target
        with classified("reading the pull request"):
            repo.sync()
            if asked.number:
                target = host.review_target(asked.number)
            else:
                target = local_review_target(repo.remote_url, asked.head_ref, asked.base_ref)
            files = host.changed_files(target)
            # The merge base, not the base branch's tip: what merged since is not this change.
            base = repo.merge_base(target.base_ref, target.head_sha)
        if self._argocd is None:
            # Local rendering finds its own applications: those whose rendering changed.
            return AffectedApplications(target=target, base_sha=base, changed_files=files)
        with classified("listing Argo CD Applications"):
            apps = self._argocd.list_applications()

        # Every Application's kustomization and chart files are probed: answer the misses from
        # one listing per revision instead of two git processes each.
        with classified("listing the repository's files"):
            at_head, at_base = set(repo.list_files(target.head_sha)), set(repo.list_files(base))

        def read(path: str) -> str | None:
            if path in at_head:
                return repo.read_file(path, target.head_sha)
            return repo.read_file(path, base) if path in at_base else None

        found = affected_applications(apps, files, self._repo_urls or (repo.remote_url,), read)
        return AffectedApplications(target=target, base_sha=base, changed_files=files, applications=found)

    # --- review -------------------------------------------------------------------------------

    def _argo_renderings(self, argocd: ArgoClient, affected: AffectedApplications) -> list[Rendering]:
        out = []
        for app in affected.applications:
            with classified(f"rendering Application {app.name}"):
                out.append(argo_rendering(argocd, app, affected.base_sha, affected.target.head_sha))
            activity.heartbeat(app.name)
            if activity.is_cancelled():
                raise CancelledError("superseded by a newer head")
        return out

    @activity.defn(name="review_change")
    @heartbeats
    @store_failures
    def review_change(self, affected: AffectedApplications) -> ReviewOutcome:
        repo, _ = self._need()
        target = affected.target
        if self._argocd is not None:
            renderings = self._argo_renderings(self._argocd, affected)
            unreviewed = unreviewed_files(affected.changed_files, affected.applications)
        else:
            with classified("rendering the GitOps repository"):
                repo.sync()
                renderings, unreviewed = local_renderings(repo.workdir, affected.base_sha, target.head_sha)
        with classified("reading prices"):
            prices = self._prices()
        try:
            found = review_renderings(
                renderings,
                prices=prices,
                policy_dir=self._policy_dir,
                extra_protected_namespaces=self._protected,
                unreviewed=unreviewed,
            )
        except PolicyError as err:
            raise ApplicationError(
                f"the review policy failed: {err}", type="PolicyError", non_retryable=True
            ) from err
        if self._narrator is not None:
            # After the verdict and from the review only; it sets the narrative and nothing else.
            found = self._narrator.narrated(found)
        workflow_id = activity.info().workflow_id or ""
        key = review_key(workflow_id, target.head_sha)
        outcome = ReviewOutcome(
            review_key=key,
            head_sha=target.head_sha,
            risk=found.risk,
            decision=found.verdict.decision if found.verdict else "allow",
            monthly_delta_usd=found.cost.monthly_delta_usd,
            objects_changed=len(found.changes.changed()),
            summary=summary_line(found),
        )
        with transaction(self._sessions) as session:
            ChangeReviewRepository(session).save(
                key,
                workflow_id=workflow_id,
                host=target.host,
                repository=target.repository,
                number=target.number,
                head_ref=target.head_ref,
                head_sha=target.head_sha,
                base_sha=affected.base_sha,
                state="reviewed" if affected.applications or self._argocd is None else "no_applications",
                risk=outcome.risk,
                decision=outcome.decision,
                monthly_delta_usd=outcome.monthly_delta_usd,
                objects_changed=outcome.objects_changed,
                summary=outcome.summary,
                report=report(found),
            )
        return outcome

    # --- publish ------------------------------------------------------------------------------

    @activity.defn(name="publish_review")
    @heartbeats
    @store_failures
    def publish_review(self, input: PublishInput) -> PublishResult:
        _, host = self._need()
        target = input.target
        # The console's page of this review once it is stored; its list of the repository's
        # reviews while it runs or after it failed (there is no review to show then).
        console = self._console_url.rstrip("/") + "/console/reviews" if self._console_url else ""
        if not console:
            url = ""
        elif input.review_key:
            url = f"{console}/{quote(input.review_key, safe='')}"
        else:
            url = f"{console}?{urlencode({'repository': target.repository})}"
        if input.pending or input.failure:
            state: StatusState = "pending" if input.pending else "error"
            text = "medic is reviewing this change" if input.pending else f"review failed: {input.failure}"
            with classified("setting the commit status"):
                host.set_commit_status(target, state, text, target_url=url)
            return PublishResult(status=state, url=url)
        with transaction(self._sessions) as session:
            row = ChangeReviewRepository(session).get(input.review_key)
            if row is None:
                raise ApplicationError(
                    f"no stored review {input.review_key}", type="ReviewMissing", non_retryable=True
                )
            parts: list[str] = list(report_of(row).get("comment") or [])
            decision, summary = row.decision, row.summary
        with classified("commenting on the pull request"):
            ids = host.upsert_comment(target, MARKER, parts)
            host.set_commit_status(target, _STATE[decision], summary, target_url=url)
        return PublishResult(comment_ids=ids, parts=len(parts), status=_STATE[decision], url=url)
