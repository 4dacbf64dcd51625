"""GitLab merge requests: the `PullRequestHost` of a GitOps repository on gitlab.com or a
self-managed GitLab, through python-gitlab (REST API v4).

A medic "pull request" here is a merge request: its number is the MR's `iid` (`!12` in GitLab's
words), its head the source branch, its base the target branch. The branch is pushed with git
(the token as the password of `oauth2`, see `integrations.git`), the MR opened, labelled,
commented on (notes), merged and closed through the API.

The guarantees are the GitHub host's (`integrations.pull_requests`): opening looks the MR up by
its source branch before pushing or creating anything, and GitLab's 409 "Another open merge
request already exists for this source branch" — the answer to a retry whose first create went
through but whose answer was lost — is looked up and returned, so every retry ends with one
branch, one commit and one MR. An MR merged or closed by a person in the web UI is reported as
such (merged by its merger). Errors are the `PullRequestError` family; python-gitlab's own
retries (on 429 and 5xx) are off, so every attempt shows in the workflow's history, and a rate
limit carries the delay GitLab asked for.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import gitlab
import requests
from gitlab.exceptions import GitlabError

from domain.gitops.pull_requests import (
    PullRequest,
    PullRequestHostKind,
    PullRequestSpec,
    PullRequestStatus,
    incident_of_branch,
)
from domain.steps.review import STATUS_CONTEXT, ReviewTarget, StatusState
from integrations.git import GitRepo
from integrations.pull_requests import (
    PullRequestConflict,
    PullRequestFailed,
    PullRequestForbidden,
    PullRequestNotFound,
    PullRequestUnavailable,
    _check_parts,
    _git_errors,
    place_parts,
    status_description,
)
from integrations.retry_after import retry_after_seconds

DEFAULT_GITLAB_URL = "https://gitlab.com"
GITLAB_TIMEOUT_SECONDS = 30
# The basic-auth user git sends a GitLab token as (OAuth, personal and project access tokens).
GIT_TOKEN_USER = "oauth2"
# GitLab's word for an MR whose mergeability it has not worked out yet (just opened, just pushed
# to): a merge refused then may well go through a moment later.
_STILL_CHECKING = frozenset(
    {"checking", "unchecked", "preparing", "approvals_syncing", "cannot_be_merged_recheck"}
)
# medic's status states in GitLab's commit-status words (GitLab has no neutral or error state).
_STATUS_STATES: dict[str, str] = {
    "pending": "pending",
    "success": "success",
    "neutral": "success",
    "failure": "failed",
    "error": "failed",
}

__all__ = [
    "DEFAULT_GITLAB_URL",
    "GIT_TOKEN_USER",
    "GitLabPullRequestHost",
    "gitlab_remote_url",
]

_T = TypeVar("_T")
_UNKNOWN = object()


class _HostBoundSession(requests.Session):
    """A session whose `PRIVATE-TOKEN` header never follows a redirect to another host (requests
    drops only `Authorization` there by itself)."""

    def rebuild_auth(self, prepared_request: Any, response: Any) -> None:
        if self.should_strip_auth(response.request.url, prepared_request.url):
            prepared_request.headers.pop("PRIVATE-TOKEN", None)
        super().rebuild_auth(prepared_request, response)


class _NoRetryGitlab(gitlab.Gitlab):
    """python-gitlab without its own retries — a 429 or 5xx is raised at once (Temporal retries the
    activity, visibly), never slept on inside a call — and whose token goes to its own API only: a
    full URL elsewhere (a next page's link) is refused before anything is sent."""

    def http_request(self, verb: str, path: str, *args: Any, **kwargs: Any) -> Any:
        if "://" in path and not (path == self.api_url or path.startswith(f"{self.api_url}/")):
            raise GitlabError(
                f"refusing to send the token to {urlsplit(path).netloc or path}: not {self.api_url}"
            )
        kwargs.update(obey_rate_limit=False, retry_transient_errors=False, max_retries=0)
        return super().http_request(verb, path, *args, **kwargs)


def gitlab_remote_url(project: str, base_url: str = DEFAULT_GITLAB_URL) -> str:
    """The https clone URL of project `group/repo` on the GitLab at `base_url` (a self-managed one
    under a path keeps it: https://example.com/gitlab → https://example.com/gitlab/group/repo.git);
    "" for a numeric project id, whose path only the API knows."""
    if not project or project.isdigit():
        return ""
    return f"{base_url.rstrip('/')}/{project.strip('/')}.git"


def _message(err: Any) -> str:
    """GitLab's error message: a string, a list (`["Another open merge request ..."]`) or a map of
    field → problems (`{"title": ["can't be blank"]}`), as one line."""
    text = getattr(err, "error_message", None) or str(err)
    if isinstance(text, list):
        return "; ".join(str(t) for t in text)
    if isinstance(text, dict):
        return "; ".join(
            f"{key} {', '.join(map(str, value)) if isinstance(value, list) else value}"
            for key, value in text.items()
        )
    return " ".join(str(text).split())


def _time(text: Any) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


def _login(user: Any) -> str | None:
    if isinstance(user, Mapping):
        name = user.get("username")
        return str(name) if name else None
    return None


class GitLabPullRequestHost:
    """Merge requests of `project` (its path, `group/sub/repo`, or its numeric id) on the GitLab
    at `base_url` (https://gitlab.com, or a self-managed instance's root URL).

    `repo` must be a clone of the same project, authenticated with the same token for an https
    remote on the same host (`gitlab_remote_url`, `GitRepo(token=..., token_user=GIT_TOKEN_USER)`).
    The token (a project access token with the `api` scope, Developer role or above) is sent as
    `PRIVATE-TOKEN` to `base_url` only.
    """

    kind: PullRequestHostKind = "gitlab"

    def __init__(
        self,
        repo: GitRepo,
        project: str,
        token: str,
        base_url: str = DEFAULT_GITLAB_URL,
        *,
        author_name: str = "medic",
        author_email: str = "medic@localhost",
        timeout: float = GITLAB_TIMEOUT_SECONDS,
    ) -> None:
        project = project.strip().strip("/")
        if not project or (not project.isdigit() and "/" not in project):
            raise ValueError(
                f"MEDIC_GITLAB_PROJECT must be a project's path (group/repo) or numeric id, not {project!r}"
            )
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"MEDIC_GITLAB_URL must be GitLab's http(s) root URL, not {base_url!r}")
        self.repo = repo
        self.project = project
        self.base_url = base_url.rstrip("/")
        self.author_name = author_name
        self.author_email = author_email
        self._gitlab = _NoRetryGitlab(
            self.base_url,
            private_token=token,
            timeout=timeout,
            retry_transient_errors=False,
            session=_HostBoundSession(),
            # a next page's link naming another host is read from this base URL instead
            keep_base_url=True,
        )
        # The last response's headers, per thread (activities share a host): a 429's Retry-After.
        self._seen = threading.local()
        self._gitlab.session.hooks["response"].append(self._remember)
        # lazy: naming the project costs no request.
        self._project = self._gitlab.projects.get(project, lazy=True)
        self._username: object = _UNKNOWN

    def close(self) -> None:
        self._gitlab.session.close()

    def _remember(self, response: Any, *args: Any, **kwargs: Any) -> None:
        self._seen.headers = response.headers

    # --- errors ----------------------------------------------------------------------------------

    def _call(self, what: str, call: Callable[[], _T]) -> _T:
        """`call()` with python-gitlab's and the network's exceptions turned into ours."""
        self._seen.headers = None
        try:
            return call()
        except GitlabError as err:
            status, message = err.response_code or 0, _message(err)
            if status == 401:
                raise PullRequestForbidden(f"{what}: GitLab refused the token: {message}") from err
            if status == 403:
                raise PullRequestForbidden(f"{what}: not allowed on {self.project}: {message}") from err
            if status == 404:
                raise PullRequestNotFound(f"{what}: not found on {self.project}: {message}") from err
            if status in (405, 406, 409, 422):
                raise PullRequestConflict(f"{what}: {message}") from err
            if status == 429:
                raise PullRequestUnavailable(
                    f"{what}: GitLab rate limit: {message}", retry_after=self._retry_after()
                ) from err
            if status >= 500:
                raise PullRequestUnavailable(
                    f"{what}: GitLab answered {status}: {message}", retry_after=self._retry_after()
                ) from err
            if not status:
                raise PullRequestFailed(f"{what}: {message}") from err
            raise PullRequestFailed(f"{what}: GitLab answered {status}: {message}") from err
        except requests.RequestException as err:
            raise PullRequestUnavailable(f"{what}: GitLab unreachable: {type(err).__name__}") from err

    def _retry_after(self) -> float | None:
        headers = getattr(self._seen, "headers", None)
        if not headers:
            return None
        asked = retry_after_seconds(headers)
        if asked is not None:
            return asked
        reset = headers.get("ratelimit-reset")
        if reset:
            try:
                return max(0.0, float(reset) - datetime.now().timestamp())
            except ValueError:
                return None
        return None

    # --- reading ---------------------------------------------------------------------------------

    def _convert(self, mr: Any, *, closed_by: str | None = None) -> PullRequest:
        attrs: dict[str, Any] = mr.attributes if hasattr(mr, "attributes") else dict(mr)
        branch = str(attrs.get("source_branch") or "")
        incident_id, kind = incident_of_branch(branch) or ("", "fix")
        state = attrs.get("state")
        status: PullRequestStatus = (
            "merged" if state == "merged" else "closed" if state == "closed" else "open"
        )
        merged_by = _login(attrs.get("merge_user")) or _login(attrs.get("merged_by"))
        return PullRequest(
            host="gitlab",
            number=int(attrs["iid"]),
            url=str(attrs.get("web_url") or ""),
            incident_id=incident_id,
            kind=kind,
            branch=branch,
            base=str(attrs.get("target_branch") or "main"),
            head_commit=str(attrs.get("sha") or ""),
            status=status,
            merge_commit=(attrs.get("merge_commit_sha") or attrs.get("squash_commit_sha"))
            if status == "merged"
            else None,
            merged_by=merged_by if status == "merged" else None,
            closed_by=(closed_by or _login(attrs.get("closed_by"))) if status == "closed" else None,
            updated_at=_time(attrs.get("updated_at")),
            title=str(attrs.get("title") or ""),
        )

    def _get(self, number: int) -> Any:
        return self._project.mergerequests.get(number)

    def _find(self, branch: str) -> Any | None:
        found = [
            mr
            for mr in self._project.mergerequests.list(source_branch=branch, state="all", get_all=True)
            if mr.source_branch == branch
        ]
        # One MR per branch is the rule; should a person have opened another, the open one counts.
        for mr in found:
            if mr.state == "opened":
                return mr
        return found[0] if found else None

    def find_pull_request(self, branch: str) -> PullRequest | None:
        def go() -> PullRequest | None:
            mr = self._find(branch)
            return self._convert(mr) if mr is not None else None

        return self._call(f"looking up the merge request of {branch}", go)

    def get_pull_request(self, number: int) -> PullRequest:
        return self._call(f"reading merge request !{number}", lambda: self._convert(self._get(number)))

    def permissions(self) -> dict[str, bool]:
        """What the token may do on the project (GET /projects/:id, its `permissions`: Developer
        (30) or above may push and merge), as GitLab answers for the token's user; changes
        nothing."""

        def go() -> dict[str, bool]:
            data = self._gitlab.projects.get(self.project).attributes.get("permissions") or {}
            levels = [
                int(access.get("access_level") or 0)
                for access in (data.get("project_access"), data.get("group_access"))
                if isinstance(access, Mapping)
            ]
            level = max(levels, default=0)
            return {"pull": level >= 10, "push": level >= 30, "merge": level >= 30, "admin": level >= 50}

        return self._call(f"reading the permissions on {self.project}", go)

    # --- writing ---------------------------------------------------------------------------------

    def open_pull_request(self, spec: PullRequestSpec) -> PullRequest:
        existing = self._call(
            f"looking up the merge request of {spec.branch}", lambda: self._find(spec.branch)
        )
        if existing is None:
            with _git_errors():
                self.repo.commit_branch(spec, self.author_name, self.author_email)
            existing = self._create(spec)
        mr = existing
        self._call(f"labelling merge request !{mr.iid}", lambda: self._ensure_labels(mr, spec.labels))
        return self._call(f"reading merge request !{mr.iid}", lambda: self._convert(self._get(mr.iid)))

    def _create(self, spec: PullRequestSpec) -> Any:
        def create() -> Any:
            try:
                return self._project.mergerequests.create(
                    {
                        "source_branch": spec.branch,
                        "target_branch": spec.base,
                        "title": spec.title,
                        "description": spec.body,
                        "labels": ",".join(spec.labels),
                        "remove_source_branch": False,
                    }
                )
            except GitlabError as err:
                # Made by an earlier attempt whose answer was lost: GitLab refuses a second one
                # for the branch with 409 "Another open merge request already exists".
                if err.response_code == 409:
                    found = self._find(spec.branch)
                    if found is not None:
                        return found
                raise

        return self._call(f"opening a merge request for {spec.branch}", create)

    def _ensure_labels(self, mr: Any, labels: list[str]) -> None:
        have = set(mr.labels or [])
        missing = [label for label in labels if label not in have]
        if missing:
            self._project.mergerequests.update(mr.iid, {"add_labels": ",".join(missing)})

    def merge_pull_request(self, number: int, *, merged_by: str) -> PullRequest:
        def merge() -> PullRequest:
            mr = self._get(number)
            if mr.state == "merged":
                return self._convert(mr)
            if mr.state == "closed":
                raise PullRequestConflict(f"merge request !{number} is closed; reopen it to merge")
            message = (
                f"Merge branch '{mr.source_branch}' into '{mr.target_branch}'\n\n{mr.title}\n\n"
                f"Merged-by: {merged_by}\nSee merge request {self.project}!{number}"
            )
            try:
                mr.merge(merge_commit_message=message, should_remove_source_branch=False)
            except GitlabError as err:
                # 405/406/409/422 "not mergeable" also answers a merge that raced an earlier
                # attempt's: the MR may be merged by now.
                if err.response_code in (405, 406, 409, 422):
                    again = self._get(number)
                    if again.state == "merged":
                        return self._convert(again)
                    checking = {
                        again.attributes.get("detailed_merge_status"),
                        again.attributes.get("merge_status"),
                    } & _STILL_CHECKING
                    if again.state == "opened" and checking:
                        raise PullRequestUnavailable(
                            f"merge request !{number} cannot be merged yet: GitLab is still checking "
                            f"whether it can ({', '.join(sorted(str(c) for c in checking))})",
                            retry_after=5.0,
                        ) from err
                    raise PullRequestConflict(
                        f"merge request !{number} is not mergeable: {_message(err)}"
                    ) from err
                raise
            return self._convert(self._get(number))

        return self._call(f"merging merge request !{number}", merge)

    def close_pull_request(self, number: int, *, closed_by: str) -> PullRequest:
        def close() -> PullRequest:
            mr = self._get(number)
            if mr.state in ("merged", "closed"):
                return self._convert(mr, closed_by=closed_by)
            self._project.mergerequests.update(number, {"state_event": "close"})
            return self._convert(self._get(number), closed_by=closed_by)

        return self._call(f"closing merge request !{number}", close)

    def _notes(self, number: int) -> tuple[Any, list[Any]]:
        """The MR (lazily named) and its notes by people and bots, oldest first (GitLab's own
        system notes — "added 1 commit", "changed the description" — left out)."""
        mr = self._project.mergerequests.get(number, lazy=True)
        notes = mr.notes.list(get_all=True, sort="asc", order_by="created_at")
        return mr, [note for note in notes if not getattr(note, "system", False)]

    def comment(self, number: int, text: str) -> None:
        def post() -> None:
            mr, notes = self._notes(number)
            if any(note.body == text for note in notes):
                return
            mr.notes.create({"body": text})

        self._call(f"commenting on merge request !{number}", post)

    # --- change review ---------------------------------------------------------------------------

    def review_target(self, number: int) -> ReviewTarget:
        def read() -> ReviewTarget:
            mr = self._get(number)
            if mr.state not in ("opened", "locked"):
                raise PullRequestConflict(f"merge request !{number} is {mr.state}: nothing to review")
            return ReviewTarget(
                host="gitlab",
                repository=self.project,
                number=number,
                base_ref=mr.target_branch,
                head_ref=mr.source_branch,
                head_sha=mr.sha or "",
                title=mr.title or "",
                author=_login(mr.attributes.get("author")) or "",
            )

        return self._call(f"reading merge request !{number}", read)

    def changed_files(self, target: ReviewTarget) -> list[str]:
        """The MR's files as GitLab lists them now (`GET .../merge_requests/:iid/diffs`, every
        page; GitLab 15.7 or later), a renamed file's previous name after its new one."""

        def read() -> list[str]:
            path = f"{self._project.mergerequests.path}/{target.number}/diffs"
            names: list[str] = []
            for diff in self._gitlab.http_list(path, get_all=True):
                if not isinstance(diff, Mapping):
                    continue
                names.append(str(diff.get("new_path") or diff.get("old_path") or ""))
                if diff.get("renamed_file") and diff.get("old_path"):
                    names.append(str(diff["old_path"]))
            return list(dict.fromkeys(n for n in names if n))

        return self._call(f"listing the files of merge request !{target.number}", read)

    def _own_username(self) -> str | None:
        """The token's own user (GET /user, asked once; a project access token's bot user), or
        None when GitLab will not say: then notes are matched by their marker alone."""
        if self._username is _UNKNOWN:
            try:
                self._gitlab.auth()
                user = self._gitlab.user
                self._username = user.username if user is not None else None
            except GitlabError as err:
                if err.response_code not in (401, 403, 404):
                    raise
                self._username = None
        return self._username if isinstance(self._username, str) else None

    def upsert_comment(self, target: ReviewTarget, marker: str, parts: list[str]) -> list[int]:
        """Notes written by the token's own user only, when GitLab says who that is."""
        _check_parts(marker, parts)

        def upsert() -> list[int]:
            username = self._own_username()
            mr, notes = self._notes(target.number)
            ours = [
                note
                for note in notes
                if (note.body or "").startswith(marker)
                and (username is None or _login(note.attributes.get("author")) == username)
            ]
            return place_parts(
                ours,
                parts,
                body=lambda note: note.body,
                ident=lambda note: int(note.id),
                edit=lambda note, text: mr.notes.update(note.id, {"body": text}),
                create=lambda text: int(mr.notes.create({"body": text}).id),
                delete=lambda note: mr.notes.delete(note.id),
            )

        return self._call(f"updating the review note on merge request !{target.number}", upsert)

    def set_commit_status(
        self,
        target: ReviewTarget,
        state: StatusState,
        description: str,
        context: str = STATUS_CONTEXT,
        target_url: str = "",
    ) -> None:
        """GitLab's commit status (`POST /projects/:id/statuses/:sha`, `name` the context). GitLab
        has neither a neutral nor an error state: `neutral` is sent as `success`, its description
        starting "warnings:", and `error` as `failed`."""
        data: dict[str, Any] = {
            "state": _STATUS_STATES[state],
            "name": context,
            "description": status_description(state, description),
        }
        if target_url:
            data["target_url"] = target_url

        def post() -> None:
            # Named lazily: no request reads the commit before the status is posted.
            self._project.commits.get(target.head_sha, lazy=True).statuses.create(data)

        self._call(f"setting the {context} status of {target.head_sha[:12]}", post)
