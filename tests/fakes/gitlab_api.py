"""GitLab's REST API v4 for merge requests, served on loopback over a real bare repository.

The fake speaks what python-gitlab sends and reads, in GitLab's JSON shapes, under
`{prefix}/api/v4` (a `prefix` such as `/gitlab` serves it as a self-managed GitLab under a path
does): `GET /user`, `GET /projects/:id` (the numeric id or the URL-encoded path), `GET|POST
/projects/:id/merge_requests` (filters `source_branch`, `target_branch`, `state`), `GET|PUT
/projects/:id/merge_requests/:iid` (`state_event` close/reopen, `add_labels`, `remove_labels`,
`labels`, `title`, `description`), `PUT .../merge_requests/:iid/merge`, `GET
.../merge_requests/:iid/diffs` and its older twin `.../changes` (from a real `git diff` of the
merge base and the head), `GET|POST .../merge_requests/:iid/notes`, `PUT|DELETE
.../notes/:note_id`, `POST /projects/:id/statuses/:sha` and `GET
/projects/:id/repository/commits/:sha/statuses`. Errors carry GitLab's bodies (`{"message": ...}`
or `{"error": ...}`): 409 `["Another open merge request already exists for this source branch:
!1"]` for a second MR of a branch, 405 for merging a closed or merged MR, 406 "Branch cannot be
merged" for a conflict. Lists are paged as GitLab pages them (`per_page`, default 20, at most
100; `page`; `X-Next-Page`, `X-Total` and a `Link` header while there are more).

Its git side is real: the project's repository is a local bare repository that clients push
branches to; MRs read their head from it, and a merge makes a real merge commit on the target
branch, so an Argo CD sandbox following the same bare repository syncs it.

For tests: `requests` records every call (`count()` counts them); `fail_next(status, times)`
answers the next requests with an error (502 by default); `drop_after_create(times)` creates the
MR and then closes the connection without an answer, `fail_after_create(status, times)` creates
it and answers 502, as a crash or a lost answer would; `stale_list(times)` leaves the next
listings empty, as a list lagging a create does; `rate_limit_next(times)` answers 429 with
GitLab's `Retry-After` and `RateLimit-*` headers; `redirect_next(url)` answers 302 to `url`, and
`link_base` makes the pages' `Link` headers point at another server; `merge_as(iid, username)` and
`close_as(iid, username)` act as a person in the web UI would; `note_as(iid, username, body)`
comments as someone else; `still_checking(times)` makes the next merges find the MR's
mergeability not yet worked out (405, and "checking" on the next read); `hook_payload(iid,
action)` is the "Merge Request Hook" body GitLab would post; `notes(iid)` and `statuses(sha)` read
what was written.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from sandbox.loopback import BackgroundHTTPServer

PROJECT_ID = 4242
PER_PAGE_DEFAULT = 20
PER_PAGE_MAX = 100
STATUS_STATES = ("pending", "running", "success", "failed", "canceled", "skipped")
# Developer (30) may push and merge; Reporter (20) may only read.
DEVELOPER, REPORTER, MAINTAINER = 30, 20, 40


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]


@dataclass
class _MergeRequest:
    iid: int
    title: str
    description: str
    source_branch: str
    target_branch: str
    sha: str
    base_sha: str
    author: str
    created_at: str
    updated_at: str
    state: str = "opened"
    merged_at: str | None = None
    merged_by: str | None = None
    merge_commit_sha: str | None = None
    closed_at: str | None = None
    closed_by: str | None = None
    labels: list[str] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)


class _Drop(Exception):
    """Close the connection without answering."""


class _Reply(Exception):
    def __init__(self, status: int, payload: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.payload = payload
        self.headers = headers or {}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _message(status: int, message: Any) -> _Reply:
    return _Reply(status, {"message": message})


def _labels(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [v.strip() for v in str(value or "").split(",") if v.strip()]


class SandboxGitLab(BackgroundHTTPServer):
    """GitLab's merge request API for project `namespace/name`, whose repository is the bare `repo`.

    `token` may write (Developer); `read_only_tokens` may read (Reporter) and get 403 on writes;
    anything else gets 401. `username` is the tokens' user (a project access token's bot).
    """

    thread_name = "sandbox-gitlab-api"

    def __init__(
        self,
        repo: str | Path,
        *,
        namespace: str = "acme",
        name: str = "gitops",
        token: str = "",
        read_only_tokens: tuple[str, ...] = (),
        username: str = "project_4242_bot",
        default_branch: str = "main",
        prefix: str = "",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.repo = Path(repo).resolve()
        self.namespace = namespace
        self.name = name
        self.token = token
        self.read_only_tokens = tuple(read_only_tokens)
        self.username = username
        self.default_branch = default_branch
        self.prefix = prefix.rstrip("/")
        self.requests: list[RecordedRequest] = []
        self.merge_requests: dict[int, _MergeRequest] = {}
        self._lock = threading.RLock()
        self._faults: list[int] = []
        self._drops = 0
        self._after_create: list[int] = []
        self._stale = 0
        self._rate_limits = 0
        self._redirects: list[str] = []
        self._checking = 0
        # reads that still show "checking" after a merge was refused for it
        self._checking_reads = 0
        self.link_base = ""
        self._next_note_id = 501
        self._next_status_id = 1
        # sha -> statuses, oldest first
        self._statuses: dict[str, list[dict[str, Any]]] = {}

    # --- for tests -------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """What `GitLabPullRequestHost(base_url=...)` and MEDIC_GITLAB_URL take."""
        return f"{self.url}{self.prefix}"

    @property
    def path_with_namespace(self) -> str:
        return f"{self.namespace}/{self.name}"

    def fail_next(self, status: int = 502, times: int = 1) -> None:
        with self._lock:
            self._faults.extend([status] * times)

    def drop_after_create(self, times: int = 1) -> None:
        with self._lock:
            self._drops += times

    def fail_after_create(self, status: int = 502, times: int = 1) -> None:
        with self._lock:
            self._after_create.extend([status] * times)

    def stale_list(self, times: int = 1) -> None:
        with self._lock:
            self._stale += times

    def rate_limit_next(self, times: int = 1) -> None:
        with self._lock:
            self._rate_limits += times

    def still_checking(self, times: int = 1) -> None:
        """The next `times` merges find the MR's mergeability not yet worked out, as right after it
        was opened: 405, and `detailed_merge_status` "checking" until then."""
        with self._lock:
            self._checking += times

    def redirect_next(self, url: str) -> None:
        """Answer the next request with a 302 to `url` (a moved or hostile server)."""
        with self._lock:
            self._redirects.append(url)

    def count(self, method: str, path_suffix: str = "") -> int:
        """How many `method` requests had a path ending in `path_suffix`."""
        with self._lock:
            return sum(1 for r in self.requests if r.method == method and r.path.endswith(path_suffix))

    def merge_as(self, iid: int, username: str) -> str:
        """Merge MR `iid` as `username` would in the web UI; the merge commit."""
        with self._lock:
            mr = self.merge_requests[iid]
            return self._merge(
                mr, username, f"Merge branch '{mr.source_branch}' into '{mr.target_branch}'\n\n{mr.title}"
            )

    def close_as(self, iid: int, username: str) -> None:
        """Close MR `iid` as `username` would in the web UI."""
        with self._lock:
            self._close(self.merge_requests[iid], username)

    def note_as(self, iid: int, username: str, body: str) -> int:
        """A note by `username` on MR `iid`; its id."""
        with self._lock:
            return int(self._note(self.merge_requests[iid], body, username)["id"])

    def notes(self, iid: int) -> list[dict[str, Any]]:
        """MR `iid`'s notes, oldest first, system notes too."""
        with self._lock:
            return [dict(n) for n in self.merge_requests[iid].notes]

    def statuses(self, sha: str) -> list[dict[str, Any]]:
        """The statuses set on `sha`, oldest first."""
        with self._lock:
            return [dict(s) for s in self._statuses.get(sha, [])]

    def hook_payload(self, iid: int, action: str, username: str = "carol") -> dict[str, Any]:
        """The body of the "Merge Request Hook" GitLab posts for `action` (open, update, close,
        reopen, merge) on MR `iid`, as `username`."""
        with self._lock:
            mr = self.merge_requests[iid]
            json_mr = self._mr_json(mr)
            return {
                "object_kind": "merge_request",
                "event_type": "merge_request",
                "user": self._user(username),
                "project": self._project_json(),
                "object_attributes": {
                    "id": json_mr["id"],
                    "iid": mr.iid,
                    "title": mr.title,
                    "description": mr.description,
                    "state": mr.state,
                    "action": action,
                    "source_branch": mr.source_branch,
                    "target_branch": mr.target_branch,
                    "merge_commit_sha": mr.merge_commit_sha,
                    "last_commit": {"id": mr.sha},
                    "url": json_mr["web_url"],
                    "author_id": json_mr["author"]["id"],
                    "updated_at": mr.updated_at,
                },
                "labels": [{"title": label} for label in mr.labels],
                "repository": {"name": self.name, "homepage": self._web_url()},
            }

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

    def _refresh(self, mr: _MergeRequest) -> None:
        """An open MR's head is its source branch's tip now (a push moves it)."""
        if mr.state == "opened":
            mr.sha = self._tip(mr.source_branch) or mr.sha

    def _merge(self, mr: _MergeRequest, username: str, message: str) -> str:
        if mr.state != "opened":
            raise _message(405, "405 Method Not Allowed")
        if self._checking:
            self._checking -= 1
            self._checking_reads += 1
            raise _message(405, "405 Method Not Allowed")
        head, base = self._tip(mr.source_branch), self._tip(mr.target_branch)
        if head is None or base is None:
            raise _message(406, "Branch cannot be merged")
        try:
            tree = self._git("merge-tree", "--write-tree", "--no-messages", base, head).split("\n", 1)[0]
        except subprocess.CalledProcessError:
            raise _message(406, "Branch cannot be merged") from None
        when = datetime.now(UTC)
        stamp = f"@{int(when.timestamp())} +0000"
        identity = {
            "GIT_AUTHOR_NAME": username,
            "GIT_AUTHOR_EMAIL": f"{username}@noreply.gitlab.example",
            "GIT_AUTHOR_DATE": stamp,
            "GIT_COMMITTER_NAME": username,
            "GIT_COMMITTER_EMAIL": f"{username}@noreply.gitlab.example",
            "GIT_COMMITTER_DATE": stamp,
        }
        text = message.rstrip() + "\n"
        commit = self._git(
            "commit-tree", tree, "-p", base, "-p", head, "-F", "-", input=text.encode(), extra=identity
        )
        try:
            self._git("update-ref", f"refs/heads/{mr.target_branch}", commit, base)
        except subprocess.CalledProcessError:
            raise _message(409, "The target branch was modified; try again") from None
        mr.sha = head
        mr.base_sha = base
        mr.state = "merged"
        mr.merged_at = mr.updated_at = _now()
        mr.merged_by = username
        mr.merge_commit_sha = commit
        return commit

    def _close(self, mr: _MergeRequest, username: str) -> None:
        if mr.state != "opened":
            return
        self._refresh(mr)
        mr.state = "closed"
        mr.closed_at = mr.updated_at = _now()
        mr.closed_by = username
        self._note(mr, "closed", username, system=True)

    # --- JSON shapes -----------------------------------------------------------------------------

    def _web_url(self) -> str:
        return f"{self.base_url}/{self.path_with_namespace}"

    def _user(self, username: str) -> dict[str, Any]:
        return {
            "id": sum(username.encode()) + 1000,
            "username": username,
            "name": username,
            "state": "active",
            "avatar_url": None,
            "web_url": f"{self.base_url}/{username}",
        }

    def _project_json(self, level: int | None = None) -> dict[str, Any]:
        project: dict[str, Any] = {
            "id": PROJECT_ID,
            "name": self.name,
            "path": self.name,
            "path_with_namespace": self.path_with_namespace,
            "namespace": {"id": 77, "name": self.namespace, "path": self.namespace, "kind": "group"},
            "default_branch": self.default_branch,
            "web_url": self._web_url(),
            "http_url_to_repo": f"{self._web_url()}.git",
            "visibility": "private",
        }
        if level is not None:
            project["permissions"] = {"project_access": {"access_level": level}, "group_access": None}
        return project

    def _mr_json(self, mr: _MergeRequest) -> dict[str, Any]:
        self._refresh(mr)
        mergeable = mr.state == "opened" and self._mergeable(mr)
        if self._checking_reads and mr.state == "opened":
            self._checking_reads -= 1
            merge_status = detailed = "checking"
        else:
            merge_status = "can_be_merged" if mergeable else "cannot_be_merged"
            detailed = "mergeable" if mergeable else "conflict" if mr.state == "opened" else "not_open"
        user = self._user
        return {
            "id": 90000 + mr.iid,
            "iid": mr.iid,
            "project_id": PROJECT_ID,
            "title": mr.title,
            "description": mr.description,
            "state": mr.state,
            "created_at": mr.created_at,
            "updated_at": mr.updated_at,
            "merged_by": user(mr.merged_by) if mr.merged_by else None,
            "merge_user": user(mr.merged_by) if mr.merged_by else None,
            "merged_at": mr.merged_at,
            "closed_by": user(mr.closed_by) if mr.closed_by else None,
            "closed_at": mr.closed_at,
            "target_branch": mr.target_branch,
            "source_branch": mr.source_branch,
            "source_project_id": PROJECT_ID,
            "target_project_id": PROJECT_ID,
            "author": user(mr.author),
            "labels": list(mr.labels),
            "draft": False,
            "work_in_progress": False,
            "merge_status": merge_status,
            "detailed_merge_status": detailed,
            "has_conflicts": mr.state == "opened" and not mergeable,
            "sha": mr.sha,
            "merge_commit_sha": mr.merge_commit_sha,
            "squash_commit_sha": None,
            "user_notes_count": sum(1 for n in mr.notes if not n["system"]),
            "should_remove_source_branch": None,
            "force_remove_source_branch": False,
            "squash": False,
            "web_url": f"{self._web_url()}/-/merge_requests/{mr.iid}",
            "references": {
                "short": f"!{mr.iid}",
                "relative": f"!{mr.iid}",
                "full": f"{self.path_with_namespace}!{mr.iid}",
            },
            "diff_refs": {"base_sha": mr.base_sha, "head_sha": mr.sha, "start_sha": mr.base_sha},
        }

    def _mergeable(self, mr: _MergeRequest) -> bool:
        head, base = self._tip(mr.source_branch), self._tip(mr.target_branch)
        if head is None or base is None:
            return False
        try:
            self._git("merge-tree", "--write-tree", "--no-messages", base, head)
        except subprocess.CalledProcessError:
            return False
        return True

    def _note(self, mr: _MergeRequest, body: str, username: str, *, system: bool = False) -> dict[str, Any]:
        now = _now()
        note = {
            "id": self._next_note_id,
            "type": None,
            "body": body,
            "author": self._user(username),
            "created_at": now,
            "updated_at": now,
            "system": system,
            "noteable_id": 90000 + mr.iid,
            "noteable_type": "MergeRequest",
            "noteable_iid": mr.iid,
            "project_id": PROJECT_ID,
            "resolvable": False,
            "confidential": False,
            "internal": False,
        }
        self._next_note_id += 1
        mr.notes.append(note)
        return note

    # --- requests --------------------------------------------------------------------------------

    def _authorise(self, method: str, headers: dict[str, str]) -> int:
        """The token's access level; refuses a request it may not make."""
        token = headers.get("private-token", "")
        scheme, _, credential = headers.get("authorization", "").partition(" ")
        if not token and scheme.lower() == "bearer":
            token = credential.strip()
        if not token or token not in (self.token, *self.read_only_tokens):
            raise _message(401, "401 Unauthorized")
        if method != "GET" and token != self.token:
            raise _message(403, "403 Forbidden")
        return DEVELOPER if token == self.token else REPORTER

    def _take_fault(self) -> None:
        with self._lock:
            if self._redirects:
                raise _Reply(302, {"message": "moved"}, {"Location": self._redirects.pop(0)})
            if self._rate_limits:
                self._rate_limits -= 1
                reset = int(datetime.now(UTC).timestamp()) + 60
                raise _Reply(
                    429,
                    {"message": "Retry later"},
                    {
                        "Retry-After": "60",
                        "RateLimit-Limit": "2000",
                        "RateLimit-Remaining": "0",
                        "RateLimit-Reset": str(reset),
                    },
                )
            if self._faults:
                status = self._faults.pop(0)
                raise _message(status, f"{status} {'Bad Gateway' if status >= 500 else 'injected fault'}")

    def respond(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: Any
    ) -> _Reply:
        with self._lock:
            self.requests.append(RecordedRequest(method, path, query, body, headers))
        self._take_fault()
        api = f"{self.prefix}/api/v4/"
        if not path.startswith(api):
            return _Reply(404, {"error": "404 Not Found"})
        level = self._authorise(method, headers)
        parts = [unquote(p) for p in path[len(api) :].strip("/").split("/")]
        if parts == ["user"] and method == "GET":
            return _Reply(200, {**self._user(self.username), "bot": True})
        if (
            len(parts) < 2
            or parts[0] != "projects"
            or parts[1]
            not in (
                str(PROJECT_ID),
                self.path_with_namespace,
            )
        ):
            return _message(404, "404 Project Not Found")
        rest = parts[2:]
        if not rest and method == "GET":
            return _Reply(200, self._project_json(level))
        with self._lock:
            return self._route(method, rest, query, body if isinstance(body, dict) else {})

    def _route(self, method: str, rest: list[str], query: dict[str, str], body: dict[str, Any]) -> _Reply:
        if len(rest) == 2 and rest[0] == "statuses" and method == "POST":
            return self._set_status(rest[1], {**query, **body})
        if (
            len(rest) == 4
            and rest[:2] == ["repository", "commits"]
            and rest[3] == "statuses"
            and method == "GET"
        ):
            return self._page(self.statuses(rest[2]), query, "/".join(rest))
        if rest == ["merge_requests"] and method == "GET":
            return self._page(self._list(query), query, "merge_requests")
        if rest == ["merge_requests"] and method == "POST":
            return self._create(body)
        if len(rest) >= 2 and rest[0] == "merge_requests" and rest[1].isdigit():
            mr = self.merge_requests.get(int(rest[1]))
            if mr is None:
                return _message(404, "404 Not found")
            tail = rest[2:]
            if not tail and method == "GET":
                return _Reply(200, self._mr_json(mr))
            if not tail and method == "PUT":
                return self._edit(mr, body)
            if tail == ["merge"] and method == "PUT":
                message = str(body.get("merge_commit_message") or "") or (
                    f"Merge branch '{mr.source_branch}' into '{mr.target_branch}'"
                )
                self._merge(mr, self.username, message)
                return _Reply(200, self._mr_json(mr))
            if tail in (["diffs"], ["changes"]) and method == "GET":
                diffs = self._diffs(mr)
                if tail == ["changes"]:
                    return _Reply(200, {**self._mr_json(mr), "changes": diffs, "overflow": False})
                return self._page(diffs, query, "/".join(rest))
            if tail == ["notes"] and method == "GET":
                notes = list(mr.notes)
                if query.get("sort", "desc") == "desc":
                    notes.reverse()
                return self._page(notes, query, "/".join(rest))
            if tail == ["notes"] and method == "POST":
                text = body.get("body")
                if not isinstance(text, str) or not text:
                    return _Reply(400, {"error": "body is missing"})
                return _Reply(201, self._note(mr, text, self.username))
            if len(tail) == 2 and tail[0] == "notes" and tail[1].isdigit():
                return self._note_by_id(mr, method, int(tail[1]), body)
        return _message(404, "404 Not Found")

    def _list(self, query: dict[str, str]) -> list[dict[str, Any]]:
        if self._stale:
            self._stale -= 1
            return []
        state = query.get("state", "all")
        source, target = query.get("source_branch"), query.get("target_branch")
        found = [
            mr
            for mr in sorted(self.merge_requests.values(), key=lambda m: m.iid, reverse=True)
            if (state == "all" or mr.state == state)
            and (not source or mr.source_branch == source)
            and (not target or mr.target_branch == target)
        ]
        return [self._mr_json(mr) for mr in found]

    def _create(self, body: dict[str, Any]) -> _Reply:
        for needed in ("source_branch", "target_branch", "title"):
            if not body.get(needed):
                return _Reply(400, {"error": f"{needed} is missing"})
        source, target = str(body["source_branch"]), str(body["target_branch"])
        head, base = self._tip(source), self._tip(target)
        if head is None:
            return _message(422, ["Source branch does not exist"])
        if base is None:
            return _message(422, ["Target branch does not exist"])
        for mr in self.merge_requests.values():
            if mr.source_branch == source and mr.target_branch == target and mr.state == "opened":
                return _message(
                    409, [f"Another open merge request already exists for this source branch: !{mr.iid}"]
                )
        iid = max(self.merge_requests, default=0) + 1
        now = _now()
        mr = _MergeRequest(
            iid=iid,
            title=str(body["title"]),
            description=str(body.get("description") or ""),
            source_branch=source,
            target_branch=target,
            sha=head,
            base_sha=base,
            author=self.username,
            created_at=now,
            updated_at=now,
            labels=_labels(body.get("labels")),
        )
        self.merge_requests[iid] = mr
        if self._drops:
            self._drops -= 1
            raise _Drop()
        if self._after_create:
            status = self._after_create.pop(0)
            return _message(status, f"{status} Bad Gateway")
        return _Reply(201, self._mr_json(mr))

    def _edit(self, mr: _MergeRequest, body: dict[str, Any]) -> _Reply:
        event = body.get("state_event")
        if event == "close":
            self._close(mr, self.username)
        elif event == "reopen" and mr.state == "closed":
            mr.state, mr.closed_at, mr.closed_by = "opened", None, None
        if "labels" in body:
            mr.labels = _labels(body["labels"])
        for label in _labels(body.get("add_labels")):
            if label not in mr.labels:
                mr.labels.append(label)
        removed = set(_labels(body.get("remove_labels")))
        mr.labels = [label for label in mr.labels if label not in removed]
        for key in ("title", "description"):
            if key in body:
                setattr(mr, key, str(body[key]))
        mr.updated_at = _now()
        return _Reply(200, self._mr_json(mr))

    def _note_by_id(self, mr: _MergeRequest, method: str, note_id: int, body: dict[str, Any]) -> _Reply:
        for i, note in enumerate(mr.notes):
            if note["id"] != note_id:
                continue
            if method == "GET":
                return _Reply(200, note)
            if note["author"]["username"] != self.username or note["system"]:
                return _message(403, "403 Forbidden")
            if method == "PUT":
                text = body.get("body")
                if not isinstance(text, str) or not text:
                    return _Reply(400, {"error": "body is missing"})
                note.update(body=text, updated_at=_now())
                return _Reply(200, note)
            if method == "DELETE":
                del mr.notes[i]
                return _Reply(204)
        return _message(404, "404 Note Not Found")

    def _diffs(self, mr: _MergeRequest) -> list[dict[str, Any]]:
        head = mr.sha
        try:
            base = self._git("merge-base", mr.base_sha if mr.state == "merged" else mr.target_branch, head)
            out = self._git("diff", "-z", "--name-status", "-M", base, head)
        except subprocess.CalledProcessError:
            return []
        fields = [f for f in out.split("\0") if f]
        diffs: list[dict[str, Any]] = []
        i = 0
        while i < len(fields):
            status = fields[i]
            if status.startswith(("R", "C")):
                old, new = fields[i + 1], fields[i + 2]
                i += 3
            else:
                old = new = fields[i + 1]
                i += 2
            patch = self._git("diff", base, head, "--", *dict.fromkeys([old, new]))
            diffs.append(
                {
                    "old_path": old,
                    "new_path": new,
                    "a_mode": "100644",
                    "b_mode": "100644",
                    "new_file": status == "A",
                    "renamed_file": status.startswith("R"),
                    "deleted_file": status == "D",
                    "generated_file": False,
                    "diff": patch.split("@@", 1)[1] if "@@" in patch else "",
                }
            )
        return diffs

    def _set_status(self, sha: str, body: dict[str, Any]) -> _Reply:
        state = body.get("state")
        if state not in STATUS_STATES:
            return _Reply(400, {"error": "state does not have a valid value"})
        try:
            full = self._git("rev-parse", "--verify", "--quiet", f"{sha}^{{commit}}")
        except subprocess.CalledProcessError:
            return _message(404, "404 Commit Not Found")
        description = body.get("description")
        if isinstance(description, str) and len(description) > 255:
            return _message(400, {"description": ["is too long (maximum is 255 characters)"]})
        status_id = self._next_status_id
        self._next_status_id += 1
        now = _now()
        status = {
            "id": status_id,
            "sha": full,
            "ref": body.get("ref"),
            "status": state,
            "name": str(body.get("name") or body.get("context") or "default"),
            "target_url": body.get("target_url"),
            "description": description,
            "created_at": now,
            "started_at": None,
            "finished_at": now if state not in ("pending", "running") else None,
            "allow_failure": False,
            "coverage": None,
            "author": self._user(self.username),
        }
        self._statuses.setdefault(full, []).append(status)
        return _Reply(201, status)

    def _page(self, items: list[dict[str, Any]], query: dict[str, str], path: str) -> _Reply:
        """One page of `items` as GitLab pages a list, with its headers."""
        try:
            per_page = min(max(int(query.get("per_page", PER_PAGE_DEFAULT)), 1), PER_PAGE_MAX)
            page = max(int(query.get("page", 1)), 1)
        except ValueError:
            per_page, page = PER_PAGE_DEFAULT, 1
        last = max((len(items) + per_page - 1) // per_page, 1)
        chunk = items[(page - 1) * per_page : page * per_page]
        headers = {
            "X-Page": str(page),
            "X-Per-Page": str(per_page),
            "X-Total": str(len(items)),
            "X-Total-Pages": str(last),
            "X-Next-Page": str(page + 1) if page < last else "",
        }
        if page < last:
            # `link_base` set: the links point elsewhere (a hostile or misconfigured server).
            root = self.link_base or self.base_url
            base = f"{root}/api/v4/projects/{quote(self.path_with_namespace, safe='')}/{path}"

            def link(n: int, rel: str) -> str:
                return f'<{base}?{urlencode({**query, "per_page": per_page, "page": n})}>; rel="{rel}"'

            headers["Link"] = ", ".join([link(page + 1, "next"), link(1, "first"), link(last, "last")])
        return _Reply(200, chunk, headers)

    # --- HTTP ------------------------------------------------------------------------------------

    def _make_handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True
            server_version = "nginx"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body: Any
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = {k: v[-1] for k, v in parse_qs(raw.decode(errors="replace")).items()}
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
                except Exception as exc:  # a bug in the fake is a 500, as GitLab would send
                    reply = _message(500, f"500 Internal Server Error: {type(exc).__name__}: {exc}")
                data = b"" if reply.status == 204 else json.dumps(reply.payload).encode()
                try:
                    self.send_response(reply.status)
                    if reply.status != 204:
                        self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
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

            def do_PUT(self) -> None:  # noqa: N802
                self._serve("PUT")

            def do_DELETE(self) -> None:  # noqa: N802
                self._serve("DELETE")

        return Handler
