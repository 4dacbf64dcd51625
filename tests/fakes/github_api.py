"""GitHub's REST API for pull requests, served on loopback over a real bare repository.

The fake speaks what PyGithub sends and reads, in GitHub's JSON shapes: `GET /repos/{o}/{r}`,
`GET|POST /repos/{o}/{r}/pulls` (filters `state`, `head`, `base`), `GET|PATCH
/repos/{o}/{r}/pulls/{n}`, `GET|PUT /repos/{o}/{r}/pulls/{n}/merge`, `GET /repos/{o}/{r}/issues/{n}`,
`POST /repos/{o}/{r}/issues/{n}/labels`, `GET|POST /repos/{o}/{r}/issues/{n}/comments`,
`GET|PATCH|DELETE /repos/{o}/{r}/issues/comments/{id}` (bodies over GitHub's 65,536 characters
refused with its 422), `GET /repos/{o}/{r}/pulls/{n}/files` (from a real `git diff` of the merge
base and the head), `POST /repos/{o}/{r}/statuses/{sha}`, `GET /repos/{o}/{r}/commits/{sha}/statuses`
(and its older twin `GET /repos/{o}/{r}/statuses/{sha}`), and `GET /user`; errors with GitHub's
bodies (`{"message", "documentation_url", "status"}`, 422 `Validation Failed` with `errors`). A
`prefix` of `/api/v3` serves it the way GitHub Enterprise does. Lists of files, comments and
statuses are paged as GitHub pages them (`per_page`, default 30, at most 100; `page`; a `Link`
header with `next` and `last` while there are more), so a client must follow the pages.

Its git side is real: the "GitHub repository" is a local bare repository that clients push
branches to; PRs read their head from it, and a merge makes a real merge commit on the base
branch (committer `GitHub <noreply@github.com>`), so an Argo CD sandbox following the same bare
repository syncs it.

For tests: `requests` records every call (`count()` counts them); `fail_next(status, times)`
answers the next requests with an error (502 by default); `drop_after_create(times)` creates
the PR and then closes the connection without an answer, as a crash or a lost response would;
`rate_limit_next(times)` answers 403 "API rate limit exceeded" with GitHub's headers;
`merge_as(number, login)` merges as a person would in the web UI; `push_as(login, branch, files)`
pushes a person's commit to the bare repository, `open_pull_request_as(login, branch, files)` that
and the PR;
`comment_as(number, login, body)` comments as someone else; `comments(number)` and
`statuses(sha)` read what was written.

As a GitHub App (`app_id` and the app's `app_public_key`, PEM): `GET /repos/{o}/{r}/installation`
and `POST /app/installations/{id}/access_tokens` take only the app's JWT (`Authorization: Bearer`),
whose RS256 signature is checked with the public key and whose `iss` (the app id), `iat` and `exp`
(in the future, at most ten minutes after `iat`) are checked as GitHub checks them (401 with
GitHub's messages otherwise); a JWT is refused everywhere else. Each minted installation token
(`ghs_…`) may write until its `expires_at`, `token_lifetime` after it was minted by the fake's
clock; after that it gets 401 "Bad credentials", as on GitHub. `advance(seconds)` moves the fake's
clock (nothing sleeps); `minted` lists the tokens in the order they were minted, `used_tokens` the
credential of every API request; `GET /user` with an installation token is refused (403), as
GitHub refuses it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import jwt

from sandbox.loopback import BackgroundHTTPServer

DOCS = "https://docs.github.com/rest"
_LABEL_COLOR = "ededed"
# GitHub's limits: a comment's body, a status's description, a page of a list.
COMMENT_LIMIT = 65536
STATUS_DESCRIPTION_LIMIT = 140
PER_PAGE_DEFAULT = 30
PER_PAGE_MAX = 100
STATUS_STATES = ("error", "failure", "pending", "success")


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    body: Any


@dataclass
class _Pull:
    number: int
    title: str
    body: str
    head: str
    base: str
    head_sha: str
    base_sha: str
    user: str
    created_at: str
    updated_at: str
    state: str = "open"
    closed_at: str | None = None
    merged_at: str | None = None
    merged_by: str | None = None
    merge_commit_sha: str | None = None
    labels: list[str] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)


class _Drop(Exception):
    """Close the connection without answering."""


class _Reply(Exception):
    def __init__(self, status: int, payload: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.payload = payload
        self.headers = headers or {}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_MERGED_CANNOT_REOPEN = "state cannot be changed. The pull request cannot be reopened because it was merged."


def _id(text: str) -> int:
    return zlib.crc32(text.encode()) % 10**8


def _custom(message: str, resource: str = "PullRequest") -> dict[str, str]:
    return {"resource": resource, "code": "custom", "message": message}


def _error(status: int, message: str, **extra: Any) -> _Reply:
    return _Reply(status, {"message": message, **extra, "documentation_url": DOCS, "status": str(status)})


def _comment_refused(text: Any) -> _Reply | None:
    """GitHub's 422 for a comment body that is missing or longer than it takes; None when fine."""
    if not isinstance(text, str) or not text:
        return _error(
            422, "Validation Failed", errors=[{"resource": "IssueComment", "code": "missing_field"}]
        )
    if len(text) > COMMENT_LIMIT:
        return _error(
            422,
            "Validation Failed",
            errors=[
                {
                    "resource": "IssueComment",
                    "code": "unprocessable",
                    "field": "data",
                    "message": f"Body is too long (maximum is {COMMENT_LIMIT} characters)",
                }
            ],
        )
    return None


def _renamed_to(name: str) -> str:
    """The new path of a `--numstat` rename: `old => new`, or `a/{old => new}/b`."""
    if "{" in name:
        head, _, rest = name.partition("{")
        inner, _, tail = rest.partition("}")
        new = inner.split(" => ", 1)[1]
        return (head + new + tail).replace("//", "/")
    return name.split(" => ", 1)[1]


class SandboxGitHub(BackgroundHTTPServer):
    """GitHub's pull request API for `owner/name`, whose git repository is the bare `repo`.

    `token` is the token with write access; `read_only_tokens` may read but get 403 on writes;
    anything else gets 401 "Bad credentials". `login` is the user the tokens belong to.
    """

    thread_name = "sandbox-github-api"

    def __init__(
        self,
        repo: str | Path,
        *,
        owner: str = "acme",
        name: str = "gitops",
        token: str = "",
        read_only_tokens: tuple[str, ...] = (),
        login: str = "medic-bot",
        default_branch: str = "main",
        prefix: str = "",
        host: str = "127.0.0.1",
        port: int = 0,
        app_id: str = "",
        app_public_key: str = "",
        installation_id: int = 4242,
        token_lifetime: timedelta = timedelta(hours=1),
    ) -> None:
        super().__init__(host=host, port=port)
        self.app_id = app_id
        self.app_public_key = app_public_key
        self.installation_id = installation_id
        self.token_lifetime = token_lifetime
        self.minted: list[str] = []
        self.used_tokens: list[str] = []
        # installation token -> when it expires (by the fake's clock)
        self._installation_tokens: dict[str, datetime] = {}
        self._offset = timedelta(0)
        self.repo = Path(repo).resolve()
        self.owner = owner
        self.name = name
        self.token = token
        self.read_only_tokens = tuple(read_only_tokens)
        self.login = login
        self.default_branch = default_branch
        self.prefix = prefix.rstrip("/")
        self.requests: list[RecordedRequest] = []
        self.pulls: dict[int, _Pull] = {}
        self._lock = threading.RLock()
        self._faults: list[int] = []
        self._drops = 0
        self._rate_limits = 0
        self._next_id = 1
        self._next_comment_id = 9001
        self._next_status_id = 1
        # sha -> statuses, oldest first
        self._statuses: dict[str, list[dict[str, Any]]] = {}

    # --- for tests -------------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        """What `GitHubPullRequestHost(base_url=...)` takes."""
        return f"{self.url}{self.prefix}"

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def now(self) -> datetime:
        """The fake's clock: the real one, moved on by `advance`."""
        return datetime.now(UTC) + self._offset

    def advance(self, seconds: float) -> None:
        """Move the fake's clock on, so tokens expire without anyone waiting."""
        with self._lock:
            self._offset += timedelta(seconds=seconds)

    def fail_next(self, status: int = 502, times: int = 1) -> None:
        with self._lock:
            self._faults.extend([status] * times)

    def drop_after_create(self, times: int = 1) -> None:
        with self._lock:
            self._drops += times

    def rate_limit_next(self, times: int = 1) -> None:
        with self._lock:
            self._rate_limits += times

    def count(self, method: str, path_suffix: str = "") -> int:
        """How many `method` requests had a path ending in `path_suffix`."""
        with self._lock:
            return sum(1 for r in self.requests if r.method == method and r.path.endswith(path_suffix))

    def merge_as(self, number: int, login: str) -> str:
        """Merge PR `number` as `login` would in the web UI; the merge commit."""
        with self._lock:
            pull = self.pulls[number]
            return self._merge(pull, login, f"Merge pull request #{number} from {self.owner}/{pull.head}", "")

    def push_as(
        self,
        login: str,
        branch: str,
        files: dict[str, str | None],
        *,
        base: str | None = None,
        message: str = "change",
    ) -> str:
        """A person's push: a commit writing `files` (None deletes one) on the tip of `branch`, or
        of `base` when `branch` does not exist yet. The new commit."""
        with self._lock:
            parent = self._tip(branch) or self._tip(base or self.default_branch)
            if parent is None:
                raise ValueError(f"no branch {base or self.default_branch} in {self.repo}")
            # A scratch index (and an empty work tree, which update-index insists on) beside the
            # bare repository: the branch is built without a checkout.
            scratch = Path(tempfile.mkdtemp(prefix="fake-push-"))
            index = {"GIT_INDEX_FILE": str(scratch / "index"), "GIT_WORK_TREE": str(scratch)}
            try:
                self._git("read-tree", parent, extra=index)
                for path, text in files.items():
                    if text is None:
                        self._git("update-index", "--force-remove", "--", path, extra=index)
                        continue
                    blob = self._git("hash-object", "-w", "--stdin", input=text.encode())
                    self._git("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", extra=index)
                tree = self._git("write-tree", extra=index)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            identity = {
                "GIT_AUTHOR_NAME": login,
                "GIT_AUTHOR_EMAIL": f"{login}@users.noreply.github.com",
                "GIT_COMMITTER_NAME": login,
                "GIT_COMMITTER_EMAIL": f"{login}@users.noreply.github.com",
            }
            commit = self._git("commit-tree", tree, "-p", parent, "-m", message, extra=identity)
            self._git("update-ref", f"refs/heads/{branch}", commit, parent if self._tip(branch) else "")
            return commit

    def open_pull_request_as(
        self,
        login: str,
        branch: str,
        files: dict[str, str | None],
        *,
        title: str = "",
        base: str | None = None,
    ) -> int:
        """A person's PR: `push_as` of `files` to `branch` (from `base`, the default branch unless
        given), and, unless the branch has an open PR already (a second push), the PR `login`
        opens for it. The PR's number."""
        with self._lock:
            base = base or self.default_branch
            self.push_as(login, branch, files, base=base, message=title or "change")
            for pull in self.pulls.values():
                if pull.head == branch and pull.state == "open":
                    pull.updated_at = _now()
                    return pull.number
            reply = self._create({"head": branch, "base": base, "title": title or "change"})
            if reply.status != 201:
                raise ValueError(f"the fake refused the PR: {reply.payload}")
            number = int(reply.payload["number"])
            self.pulls[number].user = login
            return number

    def comment_as(self, number: int, login: str, body: str) -> int:
        """A comment by `login` on PR `number`; its id."""
        with self._lock:
            return int(self._comment(self.pulls[number], {"body": body}, login=login).payload["id"])

    def comments(self, number: int) -> list[dict[str, Any]]:
        """PR `number`'s comments, oldest first, as the API returns them."""
        with self._lock:
            return [dict(c) for c in self.pulls[number].comments]

    def statuses(self, sha: str) -> list[dict[str, Any]]:
        """The statuses set on `sha`, newest first (as the API lists them)."""
        with self._lock:
            return [dict(s) for s in reversed(self._statuses.get(sha, []))]

    # --- git -------------------------------------------------------------------------------------

    def _git(self, *args: str, input: bytes | None = None, extra: dict[str, str] | None = None) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env.update(
            {
                "GIT_DIR": str(self.repo),
                "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_CONFIG_GLOBAL": os.devnull,
                "LC_ALL": "C",
            }
        )
        env.update(extra or {})
        done = subprocess.run(
            ["git", *args], env=env, input=input, capture_output=True, timeout=60, check=False
        )
        if done.returncode != 0:
            raise subprocess.CalledProcessError(done.returncode, args, done.stdout, done.stderr)
        return done.stdout.decode().strip()

    def _tip(self, branch: str) -> str | None:
        try:
            return self._git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}")
        except subprocess.CalledProcessError:
            return None

    def _mergeable(self, pull: _Pull) -> bool:
        head, base = self._tip(pull.head), self._tip(pull.base)
        if head is None or base is None:
            return False
        try:
            self._git("merge-tree", "--write-tree", "--no-messages", base, head)
        except subprocess.CalledProcessError:
            return False
        return True

    def _merge(self, pull: _Pull, login: str, title: str, message: str) -> str:
        head, base = self._tip(pull.head), self._tip(pull.base)
        if head is None or base is None:
            raise _error(405, "Pull Request is not mergeable")
        try:
            tree = self._git("merge-tree", "--write-tree", "--no-messages", base, head).split("\n", 1)[0]
        except subprocess.CalledProcessError:
            raise _error(405, "Pull Request is not mergeable") from None
        when = datetime.now(UTC)
        stamp = f"@{int(when.timestamp())} +0000"
        identity = {
            "GIT_AUTHOR_NAME": login,
            "GIT_AUTHOR_EMAIL": f"{login}@users.noreply.github.com",
            "GIT_AUTHOR_DATE": stamp,
            "GIT_COMMITTER_NAME": "GitHub",
            "GIT_COMMITTER_EMAIL": "noreply@github.com",
            "GIT_COMMITTER_DATE": stamp,
        }
        text = f"{title}\n\n{message}".rstrip() + "\n"
        commit = self._git(
            "commit-tree", tree, "-p", base, "-p", head, "-F", "-", input=text.encode(), extra=identity
        )
        try:
            self._git("update-ref", f"refs/heads/{pull.base}", commit, base)
        except subprocess.CalledProcessError:
            raise _error(409, "Base branch was modified. Review and try the merge again.") from None
        pull.head_sha = head
        pull.base_sha = base
        pull.state = "closed"
        pull.merged_at = pull.closed_at = pull.updated_at = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        pull.merged_by = login
        pull.merge_commit_sha = commit
        return commit

    # --- JSON shapes -----------------------------------------------------------------------------

    def _api(self) -> str:
        return f"{self.url}{self.prefix}/repos/{self.owner}/{self.name}"

    def _user(self, login: str) -> dict[str, Any]:
        return {
            "login": login,
            "id": _id(login),
            "node_id": f"U_{login}",
            "avatar_url": f"{self.url}/avatars/{login}",
            "url": f"{self.url}{self.prefix}/users/{login}",
            "html_url": f"{self.url}/{login}",
            "type": "Bot" if login.endswith("[bot]") else "User",
            "site_admin": False,
        }

    def _repository(self, push: bool = True) -> dict[str, Any]:
        """The repository as its reader sees it: `permissions` are the token's (GitHub answers them
        for the authenticated user; a read-only token gets `push: false`)."""
        return {
            "id": 1296269,
            "node_id": "R_gitops",
            "name": self.name,
            "full_name": self.full_name,
            "private": True,
            "owner": self._user(self.owner),
            "html_url": f"{self.url}/{self.full_name}",
            "url": self._api(),
            "clone_url": f"{self.url}/{self.full_name}.git",
            "default_branch": self.default_branch,
            "visibility": "private",
            "permissions": {"admin": False, "maintain": False, "push": push, "triage": push, "pull": True},
            "allow_merge_commit": True,
            "allow_squash_merge": True,
            "allow_rebase_merge": True,
            "delete_branch_on_merge": False,
        }

    def _label(self, name: str) -> dict[str, Any]:
        return {
            "id": _id(name),
            "node_id": f"LA_{name}",
            "url": f"{self._api()}/labels/{name}",
            "name": name,
            "color": _LABEL_COLOR,
            "default": False,
            "description": None,
        }

    def _ref(self, branch: str, sha: str) -> dict[str, Any]:
        return {
            "label": f"{self.owner}:{branch}",
            "ref": branch,
            "sha": sha,
            "user": self._user(self.owner),
            "repo": self._repository(),
        }

    def _pull_json(self, pull: _Pull, *, full: bool) -> dict[str, Any]:
        if pull.state == "open":
            pull.head_sha = self._tip(pull.head) or pull.head_sha
            pull.base_sha = self._tip(pull.base) or pull.base_sha
        url = f"{self._api()}/pulls/{pull.number}"
        html = f"{self.url}/{self.full_name}/pull/{pull.number}"
        data: dict[str, Any] = {
            "url": url,
            "id": 1000 + pull.number,
            "node_id": f"PR_{pull.number}",
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": f"{self._api()}/issues/{pull.number}",
            "commits_url": f"{url}/commits",
            "review_comments_url": f"{url}/comments",
            "comments_url": f"{self._api()}/issues/{pull.number}/comments",
            "statuses_url": f"{self._api()}/statuses/{pull.head_sha}",
            "number": pull.number,
            "state": pull.state,
            "locked": False,
            "title": pull.title,
            "user": self._user(pull.user),
            "body": pull.body,
            "labels": [self._label(n) for n in pull.labels],
            "milestone": None,
            "active_lock_reason": None,
            "created_at": pull.created_at,
            "updated_at": pull.updated_at,
            "closed_at": pull.closed_at,
            "merged_at": pull.merged_at,
            "merge_commit_sha": pull.merge_commit_sha,
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "head": self._ref(pull.head, pull.head_sha),
            "base": self._ref(pull.base, pull.base_sha),
            "author_association": "MEMBER",
            "auto_merge": None,
            "draft": False,
        }
        if full:
            mergeable = pull.state == "open" and self._mergeable(pull)
            data.update(
                {
                    "merged": pull.merged_at is not None,
                    "mergeable": mergeable if pull.state == "open" else None,
                    "rebaseable": mergeable if pull.state == "open" else None,
                    "mergeable_state": ("clean" if mergeable else "dirty")
                    if pull.state == "open"
                    else "unknown",
                    "merged_by": self._user(pull.merged_by) if pull.merged_by else None,
                    "comments": len(pull.comments),
                    "review_comments": 0,
                    "maintainer_can_modify": False,
                    "commits": 1,
                    "additions": 0,
                    "deletions": 0,
                    "changed_files": 0,
                }
            )
        return data

    def _issue_json(self, pull: _Pull) -> dict[str, Any]:
        html = f"{self.url}/{self.full_name}/pull/{pull.number}"
        return {
            "url": f"{self._api()}/issues/{pull.number}",
            "id": 5000 + pull.number,
            "node_id": f"I_{pull.number}",
            "number": pull.number,
            "html_url": html,
            "title": pull.title,
            "body": pull.body,
            "user": self._user(pull.user),
            "labels": [self._label(n) for n in pull.labels],
            "state": pull.state,
            "locked": False,
            "comments": len(pull.comments),
            "created_at": pull.created_at,
            "updated_at": pull.updated_at,
            "closed_at": pull.closed_at,
            "author_association": "MEMBER",
            "pull_request": {
                "url": f"{self._api()}/pulls/{pull.number}",
                "html_url": html,
                "diff_url": f"{html}.diff",
                "patch_url": f"{html}.patch",
                "merged_at": pull.merged_at,
            },
        }

    # --- routing ---------------------------------------------------------------------------------

    def _credential(self, headers: dict[str, str]) -> str:
        scheme, _, credential = headers.get("authorization", "").partition(" ")
        return credential.strip() if scheme.lower() in ("token", "bearer") else ""

    def _authorise(self, method: str, headers: dict[str, str]) -> bool:
        """Refuses a request its token may not make; True when the token may write."""
        token = self._credential(headers)
        with self._lock:
            self.used_tokens.append(token)
            expires = self._installation_tokens.get(token)
        if expires is not None:
            if expires <= self.now():
                raise _error(401, "Bad credentials")
            return True
        if token.count(".") == 2 and self.app_id:
            raise _error(
                401,
                "A JSON web token could not be decoded"
                if not self._jwt_ok(token)
                else "'Authorization' header is a JSON web token: this endpoint takes an installation token",
            )
        if not token or token not in (self.token, *self.read_only_tokens):
            raise _error(401, "Bad credentials")
        if method != "GET" and token != self.token:
            raise _error(403, "Resource not accessible by personal access token")
        return token == self.token

    def _jwt_ok(self, token: str) -> bool:
        try:
            self._check_jwt(token)
        except _Reply:
            return False
        return True

    def _check_jwt(self, token: str) -> None:
        """GitHub's checks of an app's JWT: RS256 by the app's key, `iss` the app id, issued in the
        past (a minute of drift allowed), expiring in the future at most ten minutes after `iat`."""
        if not self.app_id or not self.app_public_key:
            raise _error(401, "A JSON web token could not be decoded")
        try:
            claims = jwt.decode(
                token,
                self.app_public_key,
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_iat": False, "require": ["iat", "exp", "iss"]},
            )
        except jwt.PyJWTError:
            raise _error(401, "A JSON web token could not be decoded") from None
        now = int(self.now().timestamp())
        if str(claims["iss"]) != str(self.app_id):
            raise _error(
                401, f"Integration not found: 'Issuer' claim ('iss') {claims['iss']!r} is not an app"
            )
        if int(claims["exp"]) <= now:
            raise _error(
                401,
                "'Expiration time' claim ('exp') must be a numeric value representing the future time "
                "at which the assertion expires",
            )
        if int(claims["iat"]) > now + 60:
            raise _error(
                401,
                "'Issued at' claim ('iat') must be an Integer representing the time that the "
                "assertion was issued",
            )
        if int(claims["exp"]) - int(claims["iat"]) > 600:
            raise _error(401, "'Expiration time' claim ('exp') is too far in the future")

    def _app_request(self, method: str, path: str, headers: dict[str, str]) -> _Reply | None:
        """The app's own endpoints (JWT only); None for any other path."""
        parts = [unquote(p) for p in path.strip("/").split("/")]
        installation = parts[3:] == ["installation"] and parts[:1] == ["repos"] and method == "GET"
        mint = (
            method == "POST"
            and len(parts) == 4
            and parts[:2] == ["app", "installations"]
            and parts[3] == "access_tokens"
        )
        if not (installation or mint):
            return None
        self._check_jwt(self._credential(headers))
        if installation:
            if (parts[1], parts[2]) != (self.owner, self.name):
                return _error(404, "Not Found")
            return _Reply(
                200,
                {
                    "id": self.installation_id,
                    "app_id": int(self.app_id) if self.app_id.isdigit() else self.app_id,
                    "target_type": "Organization",
                    "account": self._user(self.owner),
                    "repository_selection": "selected",
                    "access_tokens_url": (
                        f"{self.url}{self.prefix}/app/installations/{self.installation_id}/access_tokens"
                    ),
                    "permissions": {
                        "contents": "write",
                        "pull_requests": "write",
                        "statuses": "write",
                        "metadata": "read",
                    },
                    "events": ["pull_request"],
                },
            )
        if parts[2] != str(self.installation_id):
            return _error(404, "Not Found")
        token = "ghs_" + secrets.token_hex(18)
        with self._lock:
            expires = self.now() + self.token_lifetime
            self._installation_tokens[token] = expires
            self.minted.append(token)
        return _Reply(
            201,
            {
                "token": token,
                "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "permissions": {
                    "contents": "write",
                    "pull_requests": "write",
                    "statuses": "write",
                    "metadata": "read",
                },
                "repository_selection": "selected",
            },
        )

    def installation_token_valid(self, token: str) -> bool:
        """Whether `token` is an installation token the fake minted that has not expired (for a
        git server in front of the same repository)."""
        with self._lock:
            expires = self._installation_tokens.get(token)
        return expires is not None and expires > self.now()

    def _take_fault(self) -> int | None:
        with self._lock:
            if self._rate_limits:
                self._rate_limits -= 1
                reset = int(datetime.now(UTC).timestamp()) + 60
                raise _Reply(
                    403,
                    {
                        "message": "API rate limit exceeded for user ID 1.",
                        "documentation_url": DOCS,
                        "status": "403",
                    },
                    {
                        "X-RateLimit-Limit": "5000",
                        "X-RateLimit-Remaining": "0",
                        "X-RateLimit-Reset": str(reset),
                        "X-RateLimit-Resource": "core",
                    },
                )
            return self._faults.pop(0) if self._faults else None

    def respond(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: Any
    ) -> _Reply:
        with self._lock:
            self.requests.append(RecordedRequest(method, path, query, body))
        fault = self._take_fault()
        if fault is not None:
            return _error(fault, "Server Error" if fault >= 500 else "injected fault")
        if self.prefix:
            if not path.startswith(f"{self.prefix}/"):
                return _error(404, "Not Found")
            path = path[len(self.prefix) :]
        app = self._app_request(method, path, headers)
        if app is not None:
            return app
        writer = self._authorise(method, headers)
        if path.rstrip("/") == "/user" and method == "GET":
            if self._credential(headers) in self._installation_tokens:
                return _error(403, "Resource not accessible by integration")
            return _Reply(200, {**self._user(self.login), "name": self.login})
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if len(parts) < 3 or parts[0] != "repos" or (parts[1], parts[2]) != (self.owner, self.name):
            return _error(404, "Not Found")
        rest = parts[3:]
        if not rest and method == "GET":
            return _Reply(200, self._repository(push=writer))
        with self._lock:
            return self._route(method, rest, query, body)

    def _route(self, method: str, rest: list[str], query: dict[str, str], body: Any) -> _Reply:
        if len(rest) == 3 and rest[:2] == ["issues", "comments"] and rest[2].isdigit():
            return self._comment_by_id(method, int(rest[2]), body)
        if len(rest) == 2 and rest[0] == "statuses" and method == "POST":
            return self._set_status(rest[1], body)
        if len(rest) == 2 and rest[0] == "statuses" and method == "GET":
            return self._page(self.statuses(rest[1]), query, "/".join(rest))
        if len(rest) == 3 and rest[0] == "commits" and rest[2] == "statuses" and method == "GET":
            return self._page(self.statuses(self._tip(rest[1]) or rest[1]), query, "/".join(rest))
        if rest == ["pulls"] and method == "GET":
            return _Reply(200, self._list(query))
        if rest == ["pulls"] and method == "POST":
            return self._create(body)
        if len(rest) >= 2 and rest[0] in ("pulls", "issues") and rest[1].isdigit():
            pull = self.pulls.get(int(rest[1]))
            if pull is None:
                return _error(404, "Not Found")
            tail = rest[2:]
            if rest[0] == "pulls":
                if not tail and method == "GET":
                    return _Reply(200, self._pull_json(pull, full=True))
                if not tail and method == "PATCH":
                    return self._edit(pull, body)
                if tail == ["merge"] and method == "GET":
                    return _Reply(204) if pull.merged_at else _error(404, "Not Found")
                if tail == ["merge"] and method == "PUT":
                    return self._merge_request(pull, body)
                if tail == ["files"] and method == "GET":
                    return self._page(self._files(pull), query, "/".join(rest))
            else:
                if not tail and method == "GET":
                    return _Reply(200, self._issue_json(pull))
                if tail == ["labels"] and method == "POST":
                    return self._add_labels(pull, body)
                if tail == ["comments"] and method == "GET":
                    return self._page(list(pull.comments), query, "/".join(rest))
                if tail == ["comments"] and method == "POST":
                    return self._comment(pull, body)
        return _error(404, "Not Found")

    def _list(self, query: dict[str, str]) -> list[dict[str, Any]]:
        state = query.get("state", "open")
        head = query.get("head")
        if head and ":" in head:
            owner, _, head = head.partition(":")
            if owner != self.owner:
                return []
        base = query.get("base")
        found = [
            p
            for p in sorted(self.pulls.values(), key=lambda p: p.number, reverse=True)
            if (state == "all" or p.state == state)
            and (not head or p.head == head)
            and (not base or p.base == base)
        ]
        return [self._pull_json(p, full=False) for p in found]

    def _create(self, body: Any) -> _Reply:
        if not isinstance(body, dict) or not body.get("head") or not body.get("base"):
            return _error(
                422, "Validation Failed", errors=[{"resource": "PullRequest", "code": "missing_field"}]
            )
        head = str(body["head"])
        if ":" in head:
            owner, _, head = head.partition(":")
            if owner != self.owner:
                return _error(
                    422,
                    "Validation Failed",
                    errors=[{"resource": "PullRequest", "field": "head", "code": "invalid"}],
                )
        base = str(body["base"])
        head_sha, base_sha = self._tip(head), self._tip(base)
        if head_sha is None:
            return _error(
                422,
                "Validation Failed",
                errors=[{"resource": "PullRequest", "field": "head", "code": "invalid"}],
            )
        if base_sha is None:
            return _error(
                422,
                "Validation Failed",
                errors=[{"resource": "PullRequest", "field": "base", "code": "invalid"}],
            )
        if any(p.head == head and p.base == base and p.state == "open" for p in self.pulls.values()):
            return _error(
                422,
                "Validation Failed",
                errors=[_custom(f"A pull request already exists for {self.owner}:{head}.")],
            )
        if head_sha == base_sha or self._git_is_ancestor(head_sha, base_sha):
            return _error(
                422,
                "Validation Failed",
                errors=[_custom(f"No commits between {base} and {head}")],
            )
        number = self._next_id
        self._next_id += 1
        now = _now()
        pull = _Pull(
            number=number,
            title=str(body.get("title") or ""),
            body=str(body.get("body") or ""),
            head=head,
            base=base,
            head_sha=head_sha,
            base_sha=base_sha,
            user=self.login,
            created_at=now,
            updated_at=now,
        )
        self.pulls[number] = pull
        if self._drops:
            self._drops -= 1
            raise _Drop()
        return _Reply(201, self._pull_json(pull, full=True), {"Location": f"{self._api()}/pulls/{number}"})

    def _git_is_ancestor(self, ancestor: str, descendant: str) -> bool:
        try:
            self._git("merge-base", "--is-ancestor", ancestor, descendant)
        except subprocess.CalledProcessError:
            return False
        return True

    def _edit(self, pull: _Pull, body: Any) -> _Reply:
        body = body if isinstance(body, dict) else {}
        if "title" in body:
            pull.title = str(body["title"])
        if "body" in body:
            pull.body = str(body["body"])
        state = body.get("state")
        if state == "closed" and pull.state == "open":
            pull.state = "closed"
            pull.closed_at = _now()
        elif state == "open" and pull.state == "closed":
            if pull.merged_at:
                return _error(422, "Validation Failed", errors=[_custom(_MERGED_CANNOT_REOPEN)])
            pull.state = "open"
            pull.closed_at = None
        pull.updated_at = _now()
        return _Reply(200, self._pull_json(pull, full=True))

    def _merge_request(self, pull: _Pull, body: Any) -> _Reply:
        body = body if isinstance(body, dict) else {}
        if pull.state != "open":
            return _error(405, "Pull Request is not mergeable")
        method = body.get("merge_method", "merge")
        if method != "merge":
            return _error(405, f"{method} merges are not allowed on this repository.")
        head = self._tip(pull.head)
        if body.get("sha") and body["sha"] != head:
            return _error(409, "Head branch was modified. Review and try the merge again.")
        title = str(
            body.get("commit_title") or f"Merge pull request #{pull.number} from {self.owner}/{pull.head}"
        )
        commit = self._merge(pull, self.login, title, str(body.get("commit_message") or pull.title))
        return _Reply(200, {"sha": commit, "merged": True, "message": "Pull Request successfully merged"})

    def _add_labels(self, pull: _Pull, body: Any) -> _Reply:
        names = body.get("labels") if isinstance(body, dict) else body
        if not isinstance(names, list):
            return _error(422, "Validation Failed", errors=[{"resource": "Label", "code": "invalid"}])
        for name in names:
            name = name.get("name") if isinstance(name, dict) else name
            if isinstance(name, str) and name not in pull.labels:
                pull.labels.append(name)
        pull.updated_at = _now()
        return _Reply(200, [self._label(n) for n in pull.labels])

    def _comment(self, pull: _Pull, body: Any, *, login: str | None = None) -> _Reply:
        text = body.get("body") if isinstance(body, dict) else None
        refused = _comment_refused(text)
        if refused is not None:
            return refused
        comment_id = self._next_comment_id
        self._next_comment_id += 1
        now = _now()
        comment = {
            "id": comment_id,
            "node_id": f"IC_{comment_id}",
            "url": f"{self._api()}/issues/comments/{comment_id}",
            "html_url": f"{self.url}/{self.full_name}/pull/{pull.number}#issuecomment-{comment_id}",
            "issue_url": f"{self._api()}/issues/{pull.number}",
            "body": text,
            "user": self._user(login or self.login),
            "created_at": now,
            "updated_at": now,
            "author_association": "MEMBER",
        }
        pull.comments.append(comment)
        return _Reply(201, comment)

    def _find_comment(self, comment_id: int) -> tuple[_Pull, int] | None:
        for pull in self.pulls.values():
            for i, comment in enumerate(pull.comments):
                if comment["id"] == comment_id:
                    return pull, i
        return None

    def _comment_by_id(self, method: str, comment_id: int, body: Any) -> _Reply:
        found = self._find_comment(comment_id)
        if found is None:
            return _error(404, "Not Found")
        pull, i = found
        if method == "GET":
            return _Reply(200, pull.comments[i])
        if method == "DELETE":
            del pull.comments[i]
            return _Reply(204)
        if method == "PATCH":
            text = body.get("body") if isinstance(body, dict) else None
            refused = _comment_refused(text)
            if refused is not None:
                return refused
            pull.comments[i] = {**pull.comments[i], "body": text, "updated_at": _now()}
            return _Reply(200, pull.comments[i])
        return _error(404, "Not Found")

    def _files(self, pull: _Pull) -> list[dict[str, Any]]:
        """The PR's files as GitHub lists them: the diff of the merge base and the head, renames
        found (`renamed`, with `previous_filename`)."""
        head = self._tip(pull.head) if pull.state == "open" else pull.head_sha
        base = self._tip(pull.base) if pull.state == "open" else pull.base_sha
        if not head or not base:
            return []
        spec = f"{base}...{head}"
        counts: dict[str, tuple[int, int]] = {}
        numstat = self._git("-c", "core.quotepath=off", "diff", "--numstat", "-M", spec)
        for line in numstat.splitlines():
            plus, minus, path = line.split("\t", 2)
            if " => " in path:  # a rename: "old => new" or "dir/{old => new}"
                path = _renamed_to(path)
            counts[path] = (int(plus) if plus.isdigit() else 0, int(minus) if minus.isdigit() else 0)
        raw = self._git("-c", "core.quotepath=off", "diff", "--raw", "-z", "-M", spec)
        fields = raw.split("\0")
        files: list[dict[str, Any]] = []
        i = 0
        statuses = {
            "A": "added",
            "D": "removed",
            "M": "modified",
            "R": "renamed",
            "C": "copied",
            "T": "changed",
        }
        while i + 1 < len(fields) and fields[i].startswith(":"):
            meta = fields[i].split()
            letter = meta[4][0]
            previous = None
            if letter in ("R", "C"):
                previous, name = fields[i + 1], fields[i + 2]
                i += 3
            else:
                name = fields[i + 1]
                i += 2
            sha = meta[3] if letter != "D" else meta[2]
            added, deleted = counts.get(name, (0, 0))
            entry: dict[str, Any] = {
                "sha": sha,
                "filename": name,
                "status": statuses.get(letter, "modified"),
                "additions": added,
                "deletions": deleted,
                "changes": added + deleted,
                "blob_url": f"{self.url}/{self.full_name}/blob/{head}/{name}",
                "raw_url": f"{self.url}/{self.full_name}/raw/{head}/{name}",
                "contents_url": f"{self._api()}/contents/{name}?ref={head}",
            }
            if previous is not None:
                entry["previous_filename"] = previous
            files.append(entry)
        return files

    def _set_status(self, sha: str, body: Any) -> _Reply:
        body = body if isinstance(body, dict) else {}
        state = body.get("state")
        if state not in STATUS_STATES:
            return _error(
                422,
                "Validation Failed",
                errors=[
                    {
                        "resource": "Status",
                        "code": "custom",
                        "field": "state",
                        "message": "state is not included in the list",
                    }
                ],
            )
        description = body.get("description")
        if isinstance(description, str) and len(description) > STATUS_DESCRIPTION_LIMIT:
            return _error(
                422,
                "Validation Failed",
                errors=[
                    {
                        "resource": "Status",
                        "code": "custom",
                        "field": "description",
                        "message": "description is too long "
                        f"(maximum is {STATUS_DESCRIPTION_LIMIT} characters)",
                    }
                ],
            )
        try:
            full = self._git("rev-parse", "--verify", "--quiet", f"{sha}^{{commit}}")
        except subprocess.CalledProcessError:
            return _error(422, f"No commit found for SHA: {sha}")
        status_id = self._next_status_id
        self._next_status_id += 1
        now = _now()
        status = {
            "url": f"{self._api()}/statuses/{full}",
            "avatar_url": f"{self.url}/avatars/{self.login}",
            "id": status_id,
            "node_id": f"SC_{status_id}",
            "state": state,
            "description": description,
            "target_url": body.get("target_url"),
            "context": str(body.get("context") or "default"),
            "created_at": now,
            "updated_at": now,
            "creator": self._user(self.login),
        }
        self._statuses.setdefault(full, []).append(status)
        return _Reply(201, status, {"Location": status["url"]})

    def _page(self, items: list[dict[str, Any]], query: dict[str, str], path: str) -> _Reply:
        """One page of `items` as GitHub pages a list, with its `Link` header."""
        try:
            per_page = min(max(int(query.get("per_page", PER_PAGE_DEFAULT)), 1), PER_PAGE_MAX)
            page = max(int(query.get("page", 1)), 1)
        except ValueError:
            per_page, page = PER_PAGE_DEFAULT, 1
        last = max((len(items) + per_page - 1) // per_page, 1)
        chunk = items[(page - 1) * per_page : page * per_page]
        headers: dict[str, str] = {}
        if page < last:

            def link(n: int, rel: str) -> str:
                params = urlencode({**query, "per_page": per_page, "page": n})
                return f'<{self._api()}/{path}?{params}>; rel="{rel}"'

            headers["Link"] = ", ".join([link(page + 1, "next"), link(last, "last")])
        return _Reply(200, chunk, headers)

    # --- HTTP ------------------------------------------------------------------------------------

    def _make_handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True
            server_version = "GitHub.com"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                url = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(url.query).items()}
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    reply = outer.respond(method, url.path, query, headers, body)
                except _Drop:
                    self.close_connection = True
                    return
                except _Reply as raised:
                    reply = raised
                except Exception as exc:  # a bug in the fake is a 500, as GitHub would send
                    reply = _error(500, f"{type(exc).__name__}: {exc}")
                data = b"" if reply.status == 204 else json.dumps(reply.payload).encode()
                try:
                    self.send_response(reply.status)
                    if reply.status != 204:
                        self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    self.send_header("X-GitHub-Media-Type", "github.v3; format=json")
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_GET(self) -> None:  # noqa: N802 - the stdlib's naming
                self._serve("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._serve("POST")

            def do_PATCH(self) -> None:  # noqa: N802
                self._serve("PATCH")

            def do_PUT(self) -> None:  # noqa: N802
                self._serve("PUT")

            def do_DELETE(self) -> None:  # noqa: N802
                self._serve("DELETE")

        return Handler
