"""Pull request hosts: where medic opens, merges and closes the PR of a GitOps change.

Three hosts speak the same `PullRequestHost` protocol:

- `LocalPullRequestHost`, the embedded default: a "PR" is a branch in the local bare repository
  that Argo CD follows, plus a record in the store (`PullRequestRecords`, implemented by
  `store.pull_requests`); `medic pr merge` merges it. Only over a local bare repository: over a
  real remote its merge would push straight to the base branch, so the settings that would pick
  it there are refused (`check_local_remote`).
- `GitHubPullRequestHost`: github.com or GitHub Enterprise through PyGithub, the branch pushed
  with the token as `x-access-token` (see `integrations.git`): a personal token (GITHUB_TOKEN) or
  a GitHub App's installation token, re-minted before it expires (`integrations.github_app`).
- `GitLabPullRequestHost` (`integrations.gitlab_merge_requests`): merge requests on gitlab.com or
  a self-managed GitLab through python-gitlab.

Both also serve a change review (`workflows/review/`) of any pull request, a person's too:
`review_target` reads the PR's head, `changed_files` lists what it changes, `upsert_comment`
keeps the review's one comment (in parts) up to date in place, and `set_commit_status` sets the
`medic/review` status on the head. The local host, which has no PR numbers for people's
branches, reviews a branch (`local_review_target`) and keeps comments and statuses in the store
(`ReviewRecords`, implemented by `store.reviews`).

Every write is idempotent, because activities are retried (design rule 4): opening looks the PR
up by branch before pushing or creating anything, so a retry after any crash — before the push,
after the push, after the PR was created but its response lost — ends with one branch, one
commit and one PR. Merging a merged PR returns it as it is.

Errors are a small closed set (`PullRequestError` and its subclasses), each temporary or
permanent (see `integrations.errors`): `retryable` tells whether Temporal should try again,
`retry_after` how soon (rate limits). PyGithub's own retries are off: every attempt shows in the
workflow's history.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable
from urllib.parse import urlsplit

from domain.gitops.pull_requests import (
    PullRequest,
    PullRequestEvent,
    PullRequestHostKind,
    PullRequestKind,
    PullRequestSpec,
    PullRequestStatus,
    incident_of_branch,
)
from domain.gitops.repositories import GitOpsRepository
from domain.settings import Settings
from domain.steps.review import STATUS_CONTEXT, ReviewTarget, StatusState, review_workflow_id
from integrations.errors import IntegrationError, PermanentError, TemporaryError
from integrations.git import (
    GitBranchConflict,
    GitError,
    GitMergeConflict,
    GitPermissionDenied,
    GitRefNotFound,
    GitRepo,
    GitUnavailable,
    _local_path,
    _mask,
    is_local_remote,
    run_git,
)
from integrations.retry_after import retry_after_seconds

if TYPE_CHECKING:
    from github.Auth import Auth as GitHubAuth

log = logging.getLogger(__name__)

DEFAULT_GITHUB_API_URL = "https://api.github.com"
# PyGithub's default pacing between calls (GitHub asks integrations to space out writes).
SECONDS_BETWEEN_REQUESTS = 0.25
SECONDS_BETWEEN_WRITES = 1.0
GITHUB_TIMEOUT_SECONDS = 30
# GitHub's limit on a commit status's description, in characters.
STATUS_DESCRIPTION_LIMIT = 140

__all__ = [
    "DEFAULT_GITHUB_API_URL",
    "GitHubPullRequestHost",
    "LocalPullRequestHost",
    "PullRequestConflict",
    "PullRequestError",
    "PullRequestFailed",
    "PR_HOST_FIX",
    "PullRequestForbidden",
    "PullRequestHost",
    "PullRequestHostConfigError",
    "PullRequestNotFound",
    "PullRequestRecords",
    "PullRequestUnavailable",
    "ReviewRecords",
    "check_local_remote",
    "git_token",
    "github_auth_from_settings",
    "github_remote_url",
    "gitops_clone",
    "local_review_target",
    "status_description",
    "pull_request_event",
    "pull_request_host",
    "pull_request_host_from_settings",
    "pull_request_host_kind",
    "settings_host_kind",
]


# --- errors --------------------------------------------------------------------------------------


class PullRequestError(IntegrationError):
    """A PR host refused or failed an operation. Only `PullRequestUnavailable` is retryable."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PullRequestFailed(PullRequestError, PermanentError):
    """The host refused or failed the operation for a reason none of the others name (an
    unexpected 4xx, a git failure that is not a conflict, a refusal or an outage)."""


class PullRequestNotFound(PullRequestError, PermanentError):
    """No such PR (number), branch or base."""


class PullRequestConflict(PullRequestError, PermanentError):
    """The branch exists with content that is not medic's, the PR does not merge cleanly, or it
    was closed without merging: a person has to look."""


class PullRequestUnavailable(PullRequestError, TemporaryError):
    """The host could not be reached or answered 5xx / a rate limit: try again (after
    `retry_after` seconds when the host said)."""


class PullRequestForbidden(PullRequestError, PermanentError):
    """Bad credentials or missing permissions (401/403): retrying will not help."""


# --- the protocol --------------------------------------------------------------------------------


@runtime_checkable
class PullRequestHost(Protocol):
    """Where medic's pull requests live. Every method is safe to call again after any failure."""

    kind: PullRequestHostKind

    def open_pull_request(self, spec: PullRequestSpec) -> PullRequest:
        """The PR of `spec.branch`: the existing one (whatever its state), else a new one on a
        branch holding exactly `spec.files` on `spec.base_commit`. Never a second branch,
        commit or PR."""
        ...

    def get_pull_request(self, number: int) -> PullRequest:
        """The PR as the host reports it now; `PullRequestNotFound` if there is none."""
        ...

    def find_pull_request(self, branch: str) -> PullRequest | None:
        """The PR whose head is `branch`, in any state, or None."""
        ...

    def merge_pull_request(self, number: int, *, merged_by: str) -> PullRequest:
        """Merge the PR (a merge commit on its base); a merged PR is returned as it is. A closed
        or unmergeable PR raises `PullRequestConflict`."""
        ...

    def close_pull_request(self, number: int, *, closed_by: str) -> PullRequest:
        """Close the PR without merging; a closed or merged PR is returned as it is."""
        ...

    def comment(self, number: int, text: str) -> None:
        """Add a comment, unless the PR already has one with exactly this text."""
        ...

    def review_target(self, number: int) -> ReviewTarget:
        """The head of open PR `number` to review (refs, head sha, title, author); the merge base
        is left to the review (`base_sha` empty). `PullRequestNotFound` if there is no such PR,
        `PullRequestConflict` if it is merged or closed."""
        ...

    def changed_files(self, target: ReviewTarget) -> list[str]:
        """The paths the PR changes against its merge base, each once, a renamed file under both
        its names."""
        ...

    def upsert_comment(self, target: ReviewTarget, marker: str, parts: list[str]) -> list[int]:
        """Make the PR's comments that start with `marker` read `parts`, in order: the existing
        ones edited in place (those already equal untouched), missing ones added, surplus ones
        deleted. Every part must start with `marker`. The comment ids, in order. Running it again
        with the same parts changes nothing."""
        ...

    def set_commit_status(
        self,
        target: ReviewTarget,
        state: StatusState,
        description: str,
        context: str = STATUS_CONTEXT,
        target_url: str = "",
    ) -> None:
        """Set the status `context` of `target.head_sha` (the last one set wins)."""
        ...


class PullRequestRecords(Protocol):
    """The local host's PR records (the store implements it: `store.pull_requests`).

    `create` assigns the next number of its host when `pr.number` is 0, and returns the record
    that already exists for `pr.branch` instead of making a second one.
    """

    def get(self, number: int) -> PullRequest | None: ...

    def find(self, branch: str) -> PullRequest | None: ...

    def create(self, pr: PullRequest) -> PullRequest: ...

    def update(self, number: int, **fields: Any) -> PullRequest | None: ...

    def add_comment(self, number: int, text: str) -> bool:
        """Add `text` unless the PR has that comment already; whether it was added."""
        ...


class ReviewRecords(Protocol):
    """The local host's review comments and commit statuses (the store implements it:
    `store.reviews.StoreReviewRecords`). Each call is a transaction of its own."""

    def upsert_comments(self, key: str, marker: str, parts: list[str]) -> list[int]:
        """Make the comments of `key` under `marker` read `parts` (part i in place, surplus parts
        deleted); their ids in order."""
        ...

    def set_status(
        self, repository: str, sha: str, context: str, state: str, description: str, target_url: str = ""
    ) -> None: ...


def status_description(state: StatusState, description: str) -> str:
    """`description` as a status carries it: one line, a warning (`neutral`) starting
    "warnings:", cut to GitHub's 140 characters with an ellipsis."""
    text = " ".join(description.split())
    if state == "neutral" and not text.lower().startswith("warnings:"):
        text = f"warnings: {text}" if text else "warnings"
    if len(text) > STATUS_DESCRIPTION_LIMIT:
        text = text[: STATUS_DESCRIPTION_LIMIT - 1].rstrip() + "…"
    return text


def _check_parts(marker: str, parts: list[str]) -> None:
    # A part without the marker would not be found again: the next run would add it a second time.
    if not marker:
        raise ValueError("a review comment needs a marker to be found again")
    for i, part in enumerate(parts):
        if not part.startswith(marker):
            raise ValueError(f"comment part {i + 1} does not start with the marker {marker!r}")


# A host's comment (a PyGithub comment, a python-gitlab note).
C = TypeVar("C")


def place_parts(
    ours: Sequence[C],
    parts: list[str],
    *,
    body: Callable[[C], str | None],
    ident: Callable[[C], int],
    edit: Callable[[C, str], None],
    create: Callable[[str], int],
    delete: Callable[[C], None],
) -> list[int]:
    """A review comment's `parts` written over the host's comments `ours` (the marked ones, in
    order): the i-th part edits the i-th comment where its text changed, a part beyond them is
    created, a comment beyond the parts is deleted. The ids of the comments holding the parts."""
    ids: list[int] = []
    for i, part in enumerate(parts):
        if i < len(ours):
            if body(ours[i]) != part:
                edit(ours[i], part)
            ids.append(ident(ours[i]))
        else:
            ids.append(create(part))
    for surplus in ours[len(parts) :]:
        delete(surplus)
    return ids


def pull_request_event(pr: PullRequest, actor: str = "") -> PullRequestEvent | None:
    """The `pull_request_event` signal for a PR that was merged or closed; None while it is open."""
    if pr.status == "open":
        return None
    return PullRequestEvent(number=pr.number, status=pr.status, merge_commit=pr.merge_commit, actor=actor)


# --- git errors in PR terms ----------------------------------------------------------------------


@contextmanager
def _git_errors() -> Iterator[None]:
    try:
        yield
    except (GitBranchConflict, GitMergeConflict) as err:
        raise PullRequestConflict(err.message) from err
    except GitPermissionDenied as err:
        raise PullRequestForbidden(f"the git remote refused the write: {err.message}") from err
    except GitUnavailable as err:
        raise PullRequestUnavailable(err.message) from err
    except GitRefNotFound as err:
        raise PullRequestNotFound(err.message) from err
    except GitError as err:
        raise PullRequestFailed(err.message) from err


def _identity(branch: str) -> tuple[str, PullRequestKind]:
    return incident_of_branch(branch) or ("", "fix")


# --- local ---------------------------------------------------------------------------------------


class LocalPullRequestHost:
    """PRs without a forge: a branch in the bare repository `repo` points at, and a record.

    The URL is `local://<repository path>#<number>`. Merging makes a real merge commit on the
    base branch and pushes it, so an Argo CD following the repository syncs it — which is why
    `repo` must be a local bare repository (`PullRequestHostConfigError` otherwise).
    """

    kind: PullRequestHostKind = "local"

    def __init__(
        self,
        repo: GitRepo,
        records: PullRequestRecords,
        *,
        author_name: str = "medic",
        author_email: str = "medic@localhost",
        reviews: ReviewRecords | None = None,
    ) -> None:
        check_local_remote(repo.remote_url)
        self.repo = repo
        self.records = records
        self.author_name = author_name
        self.author_email = author_email
        self.reviews = reviews

    def url_of(self, number: int) -> str:
        return f"local://{self.repo.remote_url}#{number}"

    def _with_url(self, pr: PullRequest) -> PullRequest:
        url = self.url_of(pr.number)
        if pr.url == url:
            return pr
        return self.records.update(pr.number, url=url) or pr.model_copy(update={"url": url})

    def open_pull_request(self, spec: PullRequestSpec) -> PullRequest:
        existing = self.records.find(spec.branch)
        if existing is not None:
            return self._with_url(existing)
        # The branch first, then the record: a crash between them leaves a branch that the next
        # attempt recognises as its own (same commit) and records.
        with _git_errors():
            head = self.repo.commit_branch(spec, self.author_name, self.author_email)
        created = self.records.create(
            PullRequest(
                host="local",
                number=0,
                url="",
                incident_id=spec.incident_id,
                kind=spec.kind,
                branch=spec.branch,
                base=spec.base,
                head_commit=head,
                title=spec.title,
            )
        )
        return self._with_url(created)

    def get_pull_request(self, number: int) -> PullRequest:
        pr = self.records.get(number)
        if pr is None:
            raise PullRequestNotFound(f"no pull request #{number} in {self.repo.remote_url}")
        return pr

    def find_pull_request(self, branch: str) -> PullRequest | None:
        return self.records.find(branch)

    def merge_pull_request(self, number: int, *, merged_by: str) -> PullRequest:
        pr = self.get_pull_request(number)
        if pr.status == "merged":
            return pr
        if pr.status == "closed":
            raise PullRequestConflict(f"pull request #{number} is closed; reopen it to merge")
        message = f"Merge pull request #{number} from {pr.branch}\n\n{pr.title}".rstrip()
        with _git_errors():
            merge = self.repo.merge_branch(
                pr.branch,
                pr.base,
                message,
                merged_by,
                expected_tip=pr.head_commit,
                committer_name=self.author_name,
                committer_email=self.author_email,
            )
        updated = self.records.update(number, status="merged", merge_commit=merge, merged_by=merged_by)
        if updated is None:  # pragma: no cover - the record was read above
            raise PullRequestNotFound(f"pull request #{number} disappeared while merging")
        return updated

    def close_pull_request(self, number: int, *, closed_by: str) -> PullRequest:
        pr = self.get_pull_request(number)
        if pr.status != "open":
            return pr
        updated = self.records.update(number, status="closed", closed_by=closed_by)
        if updated is None:  # pragma: no cover
            raise PullRequestNotFound(f"pull request #{number} disappeared while closing")
        return updated

    def comment(self, number: int, text: str) -> None:
        self.get_pull_request(number)
        self.records.add_comment(number, text)

    def review_target(self, number: int) -> ReviewTarget:
        """medic's own PR `number` as a review target; people's branches have no number here:
        see `local_review_target`."""
        pr = self.get_pull_request(number)
        if pr.status != "open":
            raise PullRequestConflict(f"pull request #{number} is {pr.status}: nothing to review")
        tips = _remote_tips(self.repo.remote_url, [pr.branch])
        return ReviewTarget(
            host="local",
            repository=self.repo.remote_url,
            number=number,
            base_ref=pr.base,
            head_ref=pr.branch,
            head_sha=tips.get(pr.branch) or pr.head_commit,
            title=pr.title,
            author=self.author_name,
        )

    def changed_files(self, target: ReviewTarget) -> list[str]:
        """`git diff --name-only base...head` (from the merge base) on the remote itself when it
        is a directory here, else on the synced clone. Renames count as a deletion and an
        addition, so both names are listed, as GitHub lists them."""
        path = _local_path(target.repository or self.repo.remote_url)
        with _git_errors():
            if path is not None and path.exists():
                return _diff_names(["--git-dir", str(path)], target, "refs/heads/")
            self.repo.sync()
            return _diff_names(["-C", str(self.repo.workdir)], target, "refs/remotes/origin/")

    def _reviews(self) -> ReviewRecords:
        if self.reviews is None:
            raise PullRequestFailed(
                "the local host keeps review comments and statuses in the store: none given"
            )
        return self.reviews

    def upsert_comment(self, target: ReviewTarget, marker: str, parts: list[str]) -> list[int]:
        """The comments live in the store under the target's review (its workflow id)."""
        _check_parts(marker, parts)
        return self._reviews().upsert_comments(review_workflow_id(target), marker, list(parts))

    def set_commit_status(
        self,
        target: ReviewTarget,
        state: StatusState,
        description: str,
        context: str = STATUS_CONTEXT,
        target_url: str = "",
    ) -> None:
        """Kept in the store as given (`neutral` stays neutral: no forge to translate for)."""
        self._reviews().set_status(
            target.repository or self.repo.remote_url,
            target.head_sha,
            context,
            state,
            status_description(state, description),
            target_url,
        )


def _remote_tips(remote: str, branches: list[str]) -> dict[str, str]:
    """The commit each of `branches` points at on `remote` now (`git ls-remote`: clones nothing);
    a branch the remote lacks is absent."""
    with _git_errors():
        out = run_git(
            ["ls-remote", "--heads", "--", remote, *(f"refs/heads/{b}" for b in branches)],
            error=GitUnavailable,
        )
    tips: dict[str, str] = {}
    for line in out.decode(errors="replace").splitlines():
        sha, _, ref = line.partition("\t")
        tips[ref.strip().removeprefix("refs/heads/")] = sha.strip()
    return tips


def _diff_names(where: list[str], target: ReviewTarget, prefix: str) -> list[str]:
    base = target.base_sha or f"{prefix}{target.base_ref}"
    out = run_git(
        [
            *where,
            "-c",
            "core.quotepath=off",
            "diff",
            "--name-only",
            "--no-renames",
            "-z",
            f"{base}...{target.head_sha}",
            "--",
        ],
        error=GitRefNotFound,
    )
    return list(dict.fromkeys(p for p in out.decode("utf-8", errors="replace").split("\0") if p))


def local_review_target(remote: str, head_ref: str, base_ref: str = "main") -> ReviewTarget:
    """Branch `head_ref` of the local host's `remote` (a path or URL git takes) as a review target,
    number 0: its head read from the remote now, its title and author from that commit when the
    remote is a directory here. `PullRequestNotFound` when either branch does not exist."""
    tips = _remote_tips(remote, [head_ref, base_ref])
    missing = [b for b in (head_ref, base_ref) if b not in tips]
    if missing:
        raise PullRequestNotFound(f"no branch {', '.join(missing)} in {remote}")
    title = author = ""
    path = _local_path(remote)
    if path is not None and path.exists():
        with _git_errors():
            out = run_git(["--git-dir", str(path), "log", "-1", "--format=%s%x00%an", tips[head_ref]])
        title, _, author = out.decode("utf-8", errors="replace").strip().partition("\0")
    return ReviewTarget(
        host="local",
        repository=remote,
        number=0,
        base_ref=base_ref,
        head_ref=head_ref,
        head_sha=tips[head_ref],
        title=title,
        author=author,
    )


# --- GitHub --------------------------------------------------------------------------------------

_T = TypeVar("_T")
_UNKNOWN = object()


def github_remote_url(github_repository: str, api_url: str = DEFAULT_GITHUB_API_URL) -> str:
    """The https clone URL of `owner/name` on the GitHub whose REST API is `api_url`
    (`https://api.github.com` → github.com, `https://ghe.example/api/v3` → ghe.example)."""
    parts = urlsplit(api_url)
    host = parts.netloc
    if host == "api.github.com":
        host = "github.com"
    elif host.startswith("api."):
        host = host[len("api.") :]
    return f"{parts.scheme or 'https'}://{host}/{github_repository}.git"


def github_auth_from_settings(settings: Settings) -> str | GitHubAuth:
    """What authenticates to GitHub: GITHUB_TOKEN, or the GitHub App (MEDIC_GITHUB_APP_ID and its
    private key, MEDIC_GITHUB_APP_PRIVATE_KEY or _FILE) as a `GitHubAppAuth`, the same object for
    the same settings (its token serves the API and git alike); "" when neither is set. A key
    that cannot be read or is not a PEM RSA key raises ValueError, one line naming the variable."""
    if not settings.github_app_id:
        return settings.github_token
    variable, key = "MEDIC_GITHUB_APP_PRIVATE_KEY", settings.github_app_private_key
    if settings.github_app_private_key_file:
        variable = "MEDIC_GITHUB_APP_PRIVATE_KEY_FILE"
        try:
            with open(settings.github_app_private_key_file, encoding="utf-8") as file:
                key = file.read()
        except (OSError, UnicodeDecodeError) as err:
            reason = getattr(err, "strerror", None) or type(err).__name__
            raise ValueError(
                f"{variable} {settings.github_app_private_key_file} cannot be read: {reason}"
            ) from None
    if not key.strip():
        raise ValueError(
            "MEDIC_GITHUB_APP_ID is set without the app's private key: set MEDIC_GITHUB_APP_PRIVATE_KEY "
            "or MEDIC_GITHUB_APP_PRIVATE_KEY_FILE"
        )
    if not settings.github_repository:
        raise ValueError("MEDIC_GITHUB_APP_ID is set without GITHUB_REPOSITORY (owner/name)")
    return _github_app_auth(
        settings.github_app_id,
        key,
        settings.github_repository,
        settings.github_api_url or DEFAULT_GITHUB_API_URL,
        settings.github_app_installation_id,
        variable,
    )


@lru_cache(maxsize=8)
def _github_app_auth(
    app_id: str, key: str, repository: str, api_url: str, installation_id: int | None, variable: str
) -> GitHubAuth:
    # One per configuration: the API and every clone share its token, minted once an hour.
    from integrations.github_app import GitHubAppAuth

    return GitHubAppAuth(
        app_id, key, repository, api_url, installation_id=installation_id, key_variable=variable
    )


def git_token(auth: str | GitHubAuth) -> str | Callable[[], str]:
    """The token `GitRepo` sends for `auth`: the personal token, or a function reading the app's
    current installation token before each git command."""
    if isinstance(auth, str):
        return auth
    return lambda: auth.token


def _retry_after(headers: dict[str, Any] | None) -> float | None:
    if not headers:
        return None
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    asked = retry_after_seconds(lowered)
    if asked is not None:
        return asked
    if str(lowered.get("x-ratelimit-remaining", "")) == "0" and lowered.get("x-ratelimit-reset"):
        try:
            return max(0.0, float(lowered["x-ratelimit-reset"]) - datetime.now(UTC).timestamp())
        except ValueError:
            return None
    return None


def _message(err: Any) -> str:
    data = getattr(err, "data", None)
    if isinstance(data, dict):
        text = str(data.get("message") or "")
        details = [
            str(e.get("message") or e.get("code") or "")
            for e in data.get("errors") or []
            if isinstance(e, dict)
        ]
        return "; ".join(t for t in [text, *details] if t)
    return str(getattr(err, "message", None) or err)


class GitHubPullRequestHost:
    """PRs on GitHub (or GitHub Enterprise: `base_url` https://ghe.example/api/v3).

    `repo` must be a clone of the same repository, authenticated with the same token (see
    `github_remote_url` and `GitRepo(token=...)`; `token` is a personal token or PyGithub `Auth`,
    such as a `GitHubAppAuth`): the branch is pushed with git, the PR opened,
    labelled, merged and closed through the REST API. `seconds_between_*` pace the calls the way
    PyGithub does by default; tests against a loopback fake pass None.
    """

    kind: PullRequestHostKind = "github"

    def __init__(
        self,
        repo: GitRepo,
        github_repository: str,
        token: str | GitHubAuth,
        base_url: str = DEFAULT_GITHUB_API_URL,
        *,
        author_name: str = "medic",
        author_email: str = "medic@localhost",
        timeout: int = GITHUB_TIMEOUT_SECONDS,
        seconds_between_requests: float | None = SECONDS_BETWEEN_REQUESTS,
        seconds_between_writes: float | None = SECONDS_BETWEEN_WRITES,
    ) -> None:
        from github import Auth, Github

        owner, _, name = github_repository.partition("/")
        if not owner or not name or "/" in name:
            raise ValueError(f"GITHUB_REPOSITORY must be owner/name, not {github_repository!r}")
        self.repo = repo
        self.github_repository = github_repository
        self.owner = owner
        self.author_name = author_name
        self.author_email = author_email
        # retry=None: no retries inside PyGithub (Temporal retries the activity, visibly); lazy:
        # objects are fetched when read, so naming the repository costs no request.
        self._github = Github(
            auth=Auth.Token(token) if isinstance(token, str) else token,
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            retry=None,
            seconds_between_requests=seconds_between_requests,
            seconds_between_writes=seconds_between_writes,
            lazy=True,
        )
        self._repository = self._github.get_repo(github_repository)
        self._login: object = _UNKNOWN

    def close(self) -> None:
        self._github.close()

    def _own_login(self) -> str | None:
        """The token's own user (GET /user, asked once), or None when the token may not read it
        (a GitHub App's installation token): then comments are matched by their marker alone."""
        from github import GithubException

        if self._login is _UNKNOWN:
            try:
                self._login = self._github.get_user().login
            except GithubException as err:
                if err.status not in (401, 403, 404):
                    raise
                self._login = None
        return self._login if isinstance(self._login, str) else None

    def _call(self, what: str, call: Callable[[], _T]) -> _T:
        """`call()` with PyGithub's and the network's exceptions turned into ours."""
        import requests
        from github import GithubException, RateLimitExceededException

        try:
            return call()
        except RateLimitExceededException as err:
            raise PullRequestUnavailable(
                f"{what}: GitHub rate limit: {_message(err)}", retry_after=_retry_after(err.headers)
            ) from err
        except GithubException as err:
            status, message = err.status, _message(err)
            if status == 401:
                raise PullRequestForbidden(f"{what}: GitHub refused the token: {message}") from err
            if status == 403:
                raise PullRequestForbidden(
                    f"{what}: not allowed on {self.github_repository}: {message}"
                ) from err
            if status == 404:
                raise PullRequestNotFound(
                    f"{what}: not found on {self.github_repository}: {message}"
                ) from err
            if status in (405, 409, 422):
                raise PullRequestConflict(f"{what}: {message}") from err
            if status == 429 or status >= 500:
                raise PullRequestUnavailable(
                    f"{what}: GitHub answered {status}: {message}", retry_after=_retry_after(err.headers)
                ) from err
            raise PullRequestFailed(f"{what}: GitHub answered {status}: {message}") from err
        except requests.RequestException as err:
            raise PullRequestUnavailable(f"{what}: GitHub unreachable: {type(err).__name__}") from err

    def _convert(self, pull: Any, *, closed_by: str | None = None) -> PullRequest:
        incident_id, kind = _identity(pull.head.ref)
        merged = pull.merged_at is not None
        status: PullRequestStatus = "merged" if merged else ("closed" if pull.state == "closed" else "open")
        merged_by = pull.merged_by.login if merged and pull.merged_by is not None else None
        return PullRequest(
            host="github",
            number=pull.number,
            url=pull.html_url,
            incident_id=incident_id,
            kind=kind,
            branch=pull.head.ref,
            base=pull.base.ref,
            head_commit=pull.head.sha,
            status=status,
            merge_commit=pull.merge_commit_sha if merged else None,
            merged_by=merged_by,
            closed_by=closed_by if status == "closed" else None,
            updated_at=pull.updated_at,
            title=pull.title or "",
        )

    def _find(self, branch: str) -> Any | None:
        pulls = self._repository.get_pulls(state="all", head=f"{self.owner}:{branch}")
        found = [p for p in pulls if p.head.ref == branch]
        # One PR per branch is the rule; should a person have opened another, the open one counts.
        for pull in found:
            if pull.state == "open":
                return pull
        return found[0] if found else None

    def permissions(self) -> dict[str, bool]:
        """What the token may do on the repository (GET /repos/{owner}/{name}: `permissions`, e.g.
        `push`, `pull`, `admin`), as GitHub answers for the token's user; changes nothing."""

        def go() -> dict[str, bool]:
            # The repository was named lazily: this read fetches it.
            granted = self._repository.permissions
            if granted is None:
                return {}
            return {
                name: bool(getattr(granted, name, False))
                for name in ("admin", "maintain", "push", "triage", "pull")
            }

        return self._call("reading the repository's permissions", go)

    def find_pull_request(self, branch: str) -> PullRequest | None:
        def go() -> PullRequest | None:
            pull = self._find(branch)
            return self._convert(pull) if pull is not None else None

        return self._call(f"looking up the PR of {branch}", go)

    def get_pull_request(self, number: int) -> PullRequest:
        return self._call(f"reading PR #{number}", lambda: self._convert(self._repository.get_pull(number)))

    def open_pull_request(self, spec: PullRequestSpec) -> PullRequest:
        existing = self._call(f"looking up the PR of {spec.branch}", lambda: self._find(spec.branch))
        if existing is None:
            with _git_errors():
                self.repo.commit_branch(spec, self.author_name, self.author_email)
            existing = self._create(spec)
        self._call(f"labelling PR #{existing.number}", lambda: self._ensure_labels(existing, spec.labels))
        return self._call(f"reading PR #{existing.number}", lambda: self._convert(existing))

    def _create(self, spec: PullRequestSpec) -> Any:
        from github import GithubException

        def create() -> Any:
            try:
                return self._repository.create_pull(
                    base=spec.base,
                    head=spec.branch,
                    title=spec.title,
                    body=spec.body,
                    maintainer_can_modify=False,
                )
            except GithubException as err:
                # Made by an earlier attempt whose answer was lost: GitHub refuses a second one.
                if err.status == 422 and "already exists" in _message(err).lower():
                    found = self._find(spec.branch)
                    if found is not None:
                        return found
                raise

        return self._call(f"opening a PR for {spec.branch}", create)

    def _ensure_labels(self, pull: Any, labels: list[str]) -> None:
        have = {label.name for label in pull.labels}
        missing = [label for label in labels if label not in have]
        if missing:
            pull.add_to_labels(*missing)

    def merge_pull_request(self, number: int, *, merged_by: str) -> PullRequest:
        from github import GithubException

        def merge() -> PullRequest:
            pull = self._repository.get_pull(number)
            if pull.merged_at is not None:
                return self._convert(pull)
            if pull.state == "closed":
                raise PullRequestConflict(f"PR #{number} is closed; reopen it to merge")
            try:
                pull.merge(
                    merge_method="merge",
                    commit_title=f"Merge pull request #{number} from {pull.head.ref}",
                    commit_message=f"{pull.title}\n\nMerged-by: {merged_by}",
                )
            except GithubException as err:
                # 405 "not mergeable" also answers a merge that raced an earlier attempt's.
                if err.status == 405:
                    again = self._repository.get_pull(number)
                    if again.merged_at is not None:
                        return self._convert(again)
                    raise PullRequestConflict(f"PR #{number} is not mergeable: {_message(err)}") from err
                raise
            return self._convert(self._repository.get_pull(number))

        return self._call(f"merging PR #{number}", merge)

    def close_pull_request(self, number: int, *, closed_by: str) -> PullRequest:
        def close() -> PullRequest:
            pull = self._repository.get_pull(number)
            if pull.merged_at is not None or pull.state == "closed":
                return self._convert(pull, closed_by=closed_by)
            pull.edit(state="closed")
            return self._convert(self._repository.get_pull(number), closed_by=closed_by)

        return self._call(f"closing PR #{number}", close)

    def comment(self, number: int, text: str) -> None:
        def post() -> None:
            pull = self._repository.get_pull(number)
            if any(c.body == text for c in pull.get_issue_comments()):
                return
            pull.create_issue_comment(text)

        self._call(f"commenting on PR #{number}", post)

    def review_target(self, number: int) -> ReviewTarget:
        def read() -> ReviewTarget:
            pull = self._repository.get_pull(number)
            if pull.merged_at is not None or pull.state != "open":
                state = "merged" if pull.merged_at is not None else pull.state
                raise PullRequestConflict(f"PR #{number} is {state}: nothing to review")
            return ReviewTarget(
                host="github",
                repository=self.github_repository,
                number=number,
                base_ref=pull.base.ref,
                head_ref=pull.head.ref,
                head_sha=pull.head.sha,
                title=pull.title or "",
                author=pull.user.login if pull.user is not None else "",
            )

        return self._call(f"reading PR #{number}", read)

    def changed_files(self, target: ReviewTarget) -> list[str]:
        """The PR's files as GitHub lists them now (`GET .../pulls/{n}/files`, every page; GitHub
        lists at most 3000), a renamed file's previous name after its new one."""

        def read() -> list[str]:
            names: list[str] = []
            for changed in self._repository.get_pull(target.number).get_files():
                names.append(changed.filename)
                if changed.status == "renamed" and changed.previous_filename:
                    names.append(changed.previous_filename)
            return list(dict.fromkeys(names))

        return self._call(f"listing the files of PR #{target.number}", read)

    def upsert_comment(self, target: ReviewTarget, marker: str, parts: list[str]) -> list[int]:
        """Comments written by the token's own user only, when GitHub says who that is."""
        _check_parts(marker, parts)

        def upsert() -> list[int]:
            issue = self._repository.get_issue(target.number)
            login = self._own_login()
            ours = [
                c
                for c in issue.get_comments()
                if (c.body or "").startswith(marker) and (login is None or c.user.login == login)
            ]
            return place_parts(
                ours,
                parts,
                body=lambda c: c.body,
                ident=lambda c: c.id,
                edit=lambda c, text: c.edit(text),
                create=lambda text: issue.create_comment(text).id,
                delete=lambda c: c.delete(),
            )

        return self._call(f"updating the review comment on PR #{target.number}", upsert)

    def set_commit_status(
        self,
        target: ReviewTarget,
        state: StatusState,
        description: str,
        context: str = STATUS_CONTEXT,
        target_url: str = "",
    ) -> None:
        """GitHub has no neutral status: `neutral` is sent as `success`, its description starting
        "warnings:"."""
        from github.GithubObject import NotSet

        sent = "success" if state == "neutral" else state

        def post() -> None:
            # Named lazily: no request reads the commit before the status is posted.
            self._repository.get_commit(target.head_sha).create_status(
                state=sent,
                target_url=target_url or NotSet,
                description=status_description(state, description),
                context=context,
            )

        self._call(f"setting the {context} status of {target.head_sha[:12]}", post)


# --- choosing one --------------------------------------------------------------------------------

# What to set when a real remote has no PR host (the local host would push to its base branch).
PR_HOST_FIX = "set GITHUB_TOKEN and GITHUB_REPOSITORY, or GITLAB_TOKEN and MEDIC_GITLAB_PROJECT"


class PullRequestHostConfigError(ValueError):
    """The settings name no pull request host medic may use: GitHub and GitLab both configured, or
    a GitOps remote that is not a local bare repository without either. One line, naming the fix."""


def pull_request_host_kind(
    github_token: object = "",
    github_repository: str = "",
    gitlab_token: str = "",
    gitlab_project: str = "",
) -> PullRequestHostKind:
    """`github` when a GitHub token and repository are configured, `gitlab` when a GitLab token and
    project are, else `local`; both GitHub and GitLab is a `PullRequestHostConfigError`."""
    github = bool(github_token and github_repository)
    gitlab = bool(gitlab_token and gitlab_project)
    if github and gitlab:
        raise PullRequestHostConfigError(
            f"both GitHub ({github_repository}) and GitLab ({gitlab_project}) are configured as the "
            "pull request host: unset GITHUB_TOKEN/GITHUB_REPOSITORY or GITLAB_TOKEN/MEDIC_GITLAB_PROJECT"
        )
    return "github" if github else "gitlab" if gitlab else "local"


def settings_host_kind(settings: Settings) -> PullRequestHostKind:
    """`pull_request_host_kind` of the settings' GitHub and GitLab variables."""
    return pull_request_host_kind(
        settings.github_token or settings.github_app_id,
        settings.github_repository,
        settings.gitlab_token,
        settings.gitlab_project,
    )


def check_local_remote(remote_url: str) -> None:
    """Refuse the local host over a real remote: its merge pushes straight to the base branch,
    bypassing review. Allowed only for a local bare repository (a path or file:// URL: the
    embedded stack's, the sandbox's)."""
    if not is_local_remote(remote_url):
        raise PullRequestHostConfigError(
            f"the GitOps remote {_mask(remote_url)} is not a local bare repository and no pull request "
            "host is configured: medic's local host would merge by pushing straight to its base "
            f"branch, bypassing review; {PR_HOST_FIX}"
        )


def pull_request_host(
    repo: GitRepo,
    *,
    records: PullRequestRecords | None = None,
    github_token: str | GitHubAuth = "",
    github_repository: str = "",
    github_api_url: str = DEFAULT_GITHUB_API_URL,
    gitlab_token: str = "",
    gitlab_project: str = "",
    gitlab_url: str = "",
    author_name: str = "medic",
    author_email: str = "medic@localhost",
    reviews: ReviewRecords | None = None,
) -> PullRequestHost:
    """The configured host: GitHub when GITHUB_TOKEN and GITHUB_REPOSITORY are set, GitLab when
    GITLAB_TOKEN and MEDIC_GITLAB_PROJECT are (both: `PullRequestHostConfigError`), else the local
    one — only over a local bare repository (`check_local_remote`) — which needs the store's
    `records` (and `reviews` for a change review's comments and statuses). `repo` is the clone to
    push from (for GitHub or GitLab, a clone of the repository made with its token)."""
    kind = pull_request_host_kind(github_token, github_repository, gitlab_token, gitlab_project)
    if kind == "github":
        return GitHubPullRequestHost(
            repo,
            github_repository,
            github_token,
            github_api_url or DEFAULT_GITHUB_API_URL,
            author_name=author_name,
            author_email=author_email,
        )
    if kind == "gitlab":
        from integrations.gitlab_merge_requests import DEFAULT_GITLAB_URL, GitLabPullRequestHost

        return GitLabPullRequestHost(
            repo,
            gitlab_project,
            gitlab_token,
            gitlab_url or DEFAULT_GITLAB_URL,
            author_name=author_name,
            author_email=author_email,
        )
    check_local_remote(repo.remote_url)
    if records is None:
        raise ValueError("the local pull request host keeps its records in the store: pass `records`")
    return LocalPullRequestHost(
        repo, records, author_name=author_name, author_email=author_email, reviews=reviews
    )


def gitops_clone(settings: Settings) -> GitRepo | None:
    """medic's clone of the GitOps repository: MEDIC_GITOPS_REPO, or with GitHub (GitLab)
    configured and no URL given, the repository's (project's) https URL; None when neither is
    configured. The GitHub or GitLab token goes only to a remote on that host's own address."""
    kind = settings_host_kind(settings)
    host_url, token_user = "", "x-access-token"
    if kind == "github":
        host_url = github_remote_url(settings.github_repository, settings.github_api_url)
    elif kind == "gitlab":
        from integrations.gitlab_merge_requests import GIT_TOKEN_USER, gitlab_remote_url

        host_url, token_user = gitlab_remote_url(settings.gitlab_project, settings.gitlab_url), GIT_TOKEN_USER
        if not host_url and not settings.gitops_repo_url:
            raise PullRequestHostConfigError(
                f"MEDIC_GITLAB_PROJECT={settings.gitlab_project} is a numeric id, whose clone URL "
                "medic cannot derive: set MEDIC_GITOPS_REPO to the project's https clone URL"
            )
    remote = settings.gitops_repo_url or host_url
    if not remote:
        return None
    token: str | Callable[[], str] = ""
    if kind == "github":
        token = git_token(github_auth_from_settings(settings))
    elif kind == "gitlab":
        token = settings.gitlab_token
    if kind == "gitlab" and not host_url:
        # a numeric project id: the token goes to the GitLab API's own host
        host_url = settings.gitlab_url
    return GitRepo(
        remote,
        settings.resolved_gitops_workdir,
        token=token if _same_host(remote, host_url) else "",
        token_user=token_user,
    )


def _same_host(remote: str, host_url: str) -> bool:
    """Whether a remote is on the host of `host_url` (a PR host's web or API address): the only
    remote its credentials may go to."""
    where = urlsplit(remote).netloc
    return bool(host_url) and bool(where) and where == urlsplit(host_url).netloc


def pull_request_host_from_settings(
    settings: Settings,
    records: PullRequestRecords | None = None,
    *,
    repo: GitRepo | None = None,
    reviews: ReviewRecords | None = None,
) -> PullRequestHost:
    """`pull_request_host` as configured: GITHUB_TOKEN + GITHUB_REPOSITORY (+ GITHUB_API_URL) pick
    GitHub, GITLAB_TOKEN + MEDIC_GITLAB_PROJECT (+ MEDIC_GITLAB_URL) GitLab, else the local host
    over MEDIC_GITOPS_REPO — a local bare repository only — with `records`. Without `repo`, the
    clone is MEDIC_GITOPS_REPO (for GitHub or GitLab, by default the repository's https URL) in
    the work directory; the token goes only to a remote on its host's own address.
    `PullRequestHostConfigError` (a `ValueError`) when the settings name no usable host."""
    if repo is None:
        repo = gitops_clone(settings)
        if repo is None:
            raise ValueError("no GitOps repository configured: set MEDIC_GITOPS_REPO")
    return pull_request_host(
        repo,
        records=records,
        github_token=github_auth_from_settings(settings),
        github_repository=settings.github_repository,
        github_api_url=settings.github_api_url,
        gitlab_token=settings.gitlab_token,
        gitlab_project=settings.gitlab_project,
        gitlab_url=settings.gitlab_url,
        author_name=settings.pr_author_name,
        author_email=settings.pr_author_email,
        reviews=reviews,
    )


def repository_clone(entry: GitOpsRepository, settings: Settings, workdir: str) -> GitRepo:
    """medic's clone (in `workdir`) of a repository of MEDIC_GITOPS_REPOSITORIES_FILE: its
    `clone_url` (default `url`). The GitHub (GitLab) credentials go only to a remote on the host of
    the GitHub (GitLab) its pull requests go to."""
    remote = entry.remote
    route = entry.pull_requests
    token: str | Callable[[], str] = ""
    if route.host == "github":
        github_url = github_remote_url(
            route.repository, route.api_url or settings.github_api_url or DEFAULT_GITHUB_API_URL
        )
        if _same_host(remote, github_url):
            token = git_token(github_auth_from_settings(settings))
    elif route.host == "gitlab":
        from integrations.gitlab_merge_requests import GIT_TOKEN_USER

        if _same_host(remote, route.api_url or settings.gitlab_url):
            return GitRepo(remote, workdir, token=settings.gitlab_token, token_user=GIT_TOKEN_USER)
    return GitRepo(remote, workdir, token=token)


def pull_request_host_for_repository(
    entry: GitOpsRepository,
    repo: GitRepo,
    settings: Settings,
    records: PullRequestRecords | None = None,
    *,
    reviews: ReviewRecords | None = None,
) -> PullRequestHost:
    """The host of a repository's pull requests, as its `pull_requests` entry says: `github` (its
    `repository` on its `api_url`, default GITHUB_API_URL, with medic's GitHub credentials — the
    personal token or the GitHub App), `gitlab` (its project on its `api_url`, default
    MEDIC_GITLAB_URL, with GITLAB_TOKEN) or `local`, only for a local bare repository (a branch and a
    record in the store, `records`). `repo` is the repository's clone. A host that cannot be built
    raises ValueError, one line naming the repository and the fix."""
    route = entry.pull_requests
    if route.host == "github":
        auth = github_auth_from_settings(settings)
        if not auth:
            raise ValueError(
                f"{entry.url}: its pull requests go to GitHub ({route.repository}), but neither GITHUB_TOKEN "
                "nor the GitHub App (MEDIC_GITHUB_APP_ID) is configured"
            )
        return pull_request_host(
            repo,
            github_token=auth,
            github_repository=route.repository,
            github_api_url=route.api_url or settings.github_api_url,
            author_name=settings.pr_author_name,
            author_email=settings.pr_author_email,
        )
    if route.host == "local":
        if _local_path(entry.remote) is None:
            raise ValueError(
                f"{entry.url}: the local pull request host merges straight into the repository, so it "
                "serves only a local bare repository; give the entry pull_requests: {host: github, "
                "repository: owner/name}"
            )
        return pull_request_host(
            repo,
            records=records,
            author_name=settings.pr_author_name,
            author_email=settings.pr_author_email,
            reviews=reviews,
        )
    if route.host == "gitlab":
        if not settings.gitlab_token:
            raise ValueError(
                f"{entry.url}: its merge requests go to GitLab ({route.repository}), but GITLAB_TOKEN "
                "is not configured"
            )
        return pull_request_host(
            repo,
            gitlab_token=settings.gitlab_token,
            gitlab_project=route.repository,
            gitlab_url=route.api_url or settings.gitlab_url,
            author_name=settings.pr_author_name,
            author_email=settings.pr_author_email,
        )
    raise ValueError(f"{entry.url}: pull requests on {route.host} are not supported")
