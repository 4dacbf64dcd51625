"""Real git, through the `git` command with argument lists (never a shell), for the GitOps
repository: a clone kept in a work directory, fetched on every `sync()`, and the few writes a
pull request needs (`commit_branch`, `merge_branch`), each idempotent.

Reads go to the remote-tracking refs (`origin/<branch>`), so what the work tree holds never
changes what is read. Writes never touch the work tree either: commits are built with plumbing
(`hash-object`, a temporary index, `write-tree`, `commit-tree`) and pushed by sha, never forced.
Prompts are off (GIT_TERMINAL_PROMPT=0): a remote that wants credentials fails instead of hanging.
Failures are `GitError`s, each temporary or permanent (see `integrations.errors`); remote URLs and
tokens in messages are masked.

Credentials: an https remote (GitHub, GitLab) is given a token, which git sends as basic auth
(user `x-access-token` for GitHub, `oauth2` for GitLab) through `http.<remote>.extraHeader` set
in the environment of each git command (GIT_CONFIG_COUNT/KEY/VALUE): never in the URL, the
command line or `.git/config`. The token may be a function (a GitHub App's installation token,
re-minted before it expires): it is asked for the token before every git command.
"""

from __future__ import annotations

import base64
import fcntl
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from domain.gitops.pull_requests import PullRequestSpec
from integrations.errors import IntegrationError, PermanentError, TemporaryError

DEFAULT_TIMEOUT = 120.0
_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")
_SHA = re.compile(r"^[0-9a-f]{7,40}$")


class GitError(IntegrationError):
    """A git command that failed; `command` is the argument list, `stderr` what git said."""

    def __init__(self, message: str, command: list[str] | None = None, stderr: str = "") -> None:
        super().__init__(message)
        self.command = command or []
        self.stderr = stderr


class GitFailed(GitError, PermanentError):
    """A git command failed for a reason other than the ones below (git missing, a command that
    exits non-zero on this clone), or the work directory is not the configured clone: running it
    again would fail the same way."""


class GitUnavailable(GitError, TemporaryError):
    """The remote could not be reached or read (network, auth, timeout): worth retrying later."""


class GitRefNotFound(GitError, PermanentError):
    """The branch, tag or commit does not exist (at the remote, after a fetch)."""


class GitPermissionDenied(GitError, PermanentError):
    """The remote refused the credentials or the write (401/403, a read-only token, a protected
    branch): retrying will not help until someone changes the permissions."""


class GitBranchConflict(GitError, PermanentError):
    """A branch medic would write exists at a commit that is not medic's (other content, another
    base, or moved since it was reviewed). medic never force-pushes over it."""

    def __init__(self, message: str, *, branch: str, found: str | None = None) -> None:
        super().__init__(message)
        self.branch = branch
        self.found = found


class GitMergeConflict(GitError, PermanentError):
    """The branch does not merge cleanly into its base."""


def _mask(text: str) -> str:
    return _CREDENTIALS.sub(r"\1***@", text)


_DENIED = re.compile(
    r"(?i)\b(40[13]\b|authentication failed|permission (to .* )?denied|access denied|"
    r"could not read username|invalid username or password|protected branch|write access)"
)


def git_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "GIT_OPTIONAL_LOCKS": "0"})
    return env


def run_git(
    args: list[str],
    *,
    cwd: str | Path | None = None,
    env: dict[str, str] | None = None,
    input: bytes | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    error: type[GitError] = GitFailed,
    secrets: Sequence[str] = (),
) -> bytes:
    """stdout of `git <args>`; a non-zero exit raises `error`, a timeout `GitUnavailable`.

    `secrets` never appear in the error's message, command or stderr."""

    def mask(text: str) -> str:
        text = _mask(text)
        for secret in secrets:
            if secret:
                text = text.replace(secret, "***")
        return text

    command = ["git", *args]
    try:
        done = subprocess.run(
            command,
            cwd=cwd,
            env=env or git_env(),
            input=input,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise GitUnavailable(f"git {args[0]} took longer than {timeout:g}s", command) from exc
    except OSError as exc:
        raise GitFailed(f"cannot run git: {exc}", command) from exc
    if done.returncode != 0:
        stderr = mask(done.stderr.decode(errors="replace").strip())
        if issubclass(error, GitUnavailable) and _DENIED.search(stderr):
            error = GitPermissionDenied
        raise error(f"git {args[0]} failed: {stderr[:500]}", [mask(a) for a in command], stderr)
    return done.stdout


class GitRepo:
    """A clone of `remote_url` in `workdir`, for reading files at a branch, tag or commit, and for
    the idempotent writes of a pull request (`commit_branch`, `merge_branch`).

    Safe to share between threads, and between processes sharing the work directory (a lock file
    beside it serialises `sync()` and every write). `token`, when given, authenticates to an
    http(s) remote as the basic-auth password of `token_user` (see the module docstring); it is
    never written anywhere. A callable `token` is called before each git command for the token to
    send (an `IntegrationError` it raises becomes a `GitPermissionDenied` or, when retryable, a
    `GitUnavailable`).
    """

    def __init__(
        self,
        remote_url: str,
        workdir: str | Path,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        token: str | Callable[[], str] = "",
        token_user: str = "x-access-token",
    ) -> None:
        self.remote_url = remote_url
        self.workdir = Path(workdir)
        self.timeout = timeout
        self._token = token
        self._token_user = token_user
        # every token sent so far (the last few): masked in every message
        self._sent: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"GitRepo({_mask(self.remote_url)!r}, {str(self.workdir)!r})"

    def _current_token(self) -> str:
        if not callable(self._token):
            token = self._token
        else:
            try:
                token = self._token()
            except IntegrationError as err:
                error = GitUnavailable if err.retryable else GitPermissionDenied
                raise error(f"no credentials for {_mask(self.remote_url)}: {err}") from err
        if token and token not in self._sent:
            self._sent = (*self._sent[-3:], token)
        return token

    def _secrets(self) -> tuple[str, ...]:
        if isinstance(self._token, str) and self._token and self._token not in self._sent:
            self._sent = (*self._sent[-3:], self._token)
        return tuple(s for token in self._sent for s in (token, self._auth_header(token)))

    def _auth_header(self, token: str) -> str:
        basic = base64.b64encode(f"{self._token_user}:{token}".encode()).decode()
        return f"Authorization: Basic {basic}"

    def _env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = git_env()
        if self._token and self.remote_url.startswith(("https://", "http://")):
            # Scoped to the remote's URL, so a redirect elsewhere never carries the token.
            index = int(env.get("GIT_CONFIG_COUNT") or 0)
            env[f"GIT_CONFIG_KEY_{index}"] = f"http.{self.remote_url}.extraHeader"
            env[f"GIT_CONFIG_VALUE_{index}"] = self._auth_header(self._current_token())
            env["GIT_CONFIG_COUNT"] = str(index + 1)
        if extra:
            env.update(extra)
        return env

    def _git(
        self,
        *args: str,
        error: type[GitError] = GitFailed,
        env: dict[str, str] | None = None,
        input: bytes | None = None,
    ) -> bytes:
        return run_git(
            list(args),
            cwd=self.workdir,
            env=env or self._env(),
            input=input,
            timeout=self.timeout,
            error=error,
            secrets=self._secrets(),
        )

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.workdir.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.workdir.parent / f".{self.workdir.name}.lock"
        with self._lock, open(lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _is_clone(self) -> bool:
        return (self.workdir / ".git").exists()

    def sync(self) -> str:
        """Clone (first time) or fetch, so the remote-tracking refs match the remote. Idempotent.

        Returns the commit of the remote's default branch. A work directory that holds a clone
        of another remote, or other files, is refused.
        """
        with self._locked():
            self._sync_locked()
        return self.head("HEAD")

    def _sync_locked(self) -> None:
        if self._is_clone():
            origin = self._git("remote", "get-url", "origin").decode().strip()
            if origin != self.remote_url:
                raise GitFailed(f"{self.workdir} is a clone of {_mask(origin)}, not of the configured remote")
            self._git("fetch", "--prune", "--quiet", "origin", error=GitUnavailable)
            # Follows a change of the remote's default branch.
            self._git("remote", "set-head", "origin", "--auto")
        else:
            if self.workdir.exists() and any(self.workdir.iterdir()):
                raise GitFailed(f"{self.workdir} exists and is not a clone")
            self._clone()

    def _clone(self) -> None:
        # Clone beside the target and rename, so a crash never leaves a half clone behind.
        parent = self.workdir.parent
        staging = Path(tempfile.mkdtemp(prefix=f".{self.workdir.name}-", dir=parent))
        try:
            run_git(
                ["clone", "--quiet", "--no-checkout", "--", self.remote_url, str(staging / "repo")],
                env=self._env(),
                timeout=self.timeout,
                error=GitUnavailable,
                secrets=self._secrets(),
            )
            if self.workdir.exists():
                self.workdir.rmdir()
            (staging / "repo").rename(self.workdir)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _resolve(self, ref: str) -> str:
        if ref in ("", "HEAD"):
            return "refs/remotes/origin/HEAD"
        if len(ref) == 40 and _SHA.match(ref):
            return ref
        if ref.startswith("refs/"):
            return ref
        for candidate in (f"refs/remotes/origin/{ref}", f"refs/tags/{ref}"):
            try:
                self._git("rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}")
                return candidate
            except GitError:
                continue
        if _SHA.match(ref):
            return ref
        raise GitRefNotFound(f"no branch, tag or commit {ref!r} in {_mask(self.remote_url)}")

    def head(self, ref: str = "main") -> str:
        """The commit (full sha) that `ref` (a branch, tag, commit or HEAD) names, as last synced."""
        if not self._is_clone():
            raise GitFailed(f"{self.workdir} is not a clone yet: call sync() first")
        rev = self._resolve(ref)
        out = self._git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", error=GitRefNotFound)
        return out.decode().strip()

    def list_files(self, ref: str = "main") -> list[str]:
        """Every file path (with `/`) in the tree of `ref`, sorted."""
        commit = self.head(ref)
        out = self._git("-c", "core.quotepath=off", "ls-tree", "-r", "-z", "--name-only", commit)
        return sorted(p for p in out.decode("utf-8", errors="replace").split("\0") if p)

    def read_file(self, path: str, ref: str = "main") -> str | None:
        """The text of `path` at `ref`, or None when it does not exist there (or is not a file)."""
        commit = self.head(ref)
        spec = f"{commit}:{path.lstrip('/')}"
        try:
            kind = self._git("cat-file", "-t", spec).decode().strip()
        except GitError:
            return None
        if kind != "blob":
            return None
        return self._git("cat-file", "blob", spec).decode("utf-8", errors="replace")

    # --- access, checked without changing anything (`medic doctor`) -----------------------------

    def commits(self, since: str, until: str, limit: int = 20) -> list[str]:
        """The commits `until` has and `since` has not, newest first, as "<sha7> <subject>" (at most
        `limit`); `since` empty: `until` alone."""
        span = [f"{self.head(since)}..{self.head(until)}"] if since else ["-1", self.head(until)]
        out = self._git("log", f"--max-count={limit}", "--format=%h %s", *span)
        return [line for line in out.decode("utf-8", errors="replace").splitlines() if line]

    def trailer_values(self, since: str, until: str, key: str) -> list[list[str]]:
        """For each commit `until` has and `since` has not (merges left out), newest first, the
        values of its `key` trailer ([] for a commit without one)."""
        span = f"{self.head(since)}..{self.head(until)}"
        out = self._git(
            "log", "--no-merges", f"--format=%x1e%(trailers:key={key},valueonly,separator=%x1f)", span
        )
        records = out.decode("utf-8", errors="replace").split("\x1e")[1:]
        return [[v.strip() for v in r.strip().split("\x1f") if v.strip()] for r in records]

    def changed_paths(self, since: str, until: str) -> list[tuple[str, str]]:
        """The files `until` changes against `since` (branches, tags or commits, as last synced):
        (status, path) with status A (added), D (deleted) or M (modified, or its type changed);
        a rename shows as the deletion and the addition it is. Sorted by path."""
        a, b = self.head(since), self.head(until)
        out = self._git("-c", "core.quotepath=off", "diff", "--name-status", "--no-renames", "-z", a, b)
        fields = [f for f in out.decode("utf-8", errors="replace").split("\0") if f]
        pairs = [(fields[i][:1], fields[i + 1]) for i in range(0, len(fields) - 1, 2)]
        return sorted(((s if s in ("A", "D") else "M"), path) for s, path in pairs)

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """Whether `ancestor` is `descendant` or in its history (both as last synced)."""
        return self._is_ancestor(self.head(ancestor), self.head(descendant))

    def merge_base(self, base: str, head: str) -> str:
        """The commit `head` branched from `base` (branches, tags or commits, as last synced): what
        a pull request of `head` into `base` is compared with, so that commits made on `base`
        since do not show as the change. `GitRefNotFound` when either is unknown or they share no
        history (a fork's head that was never fetched)."""
        a, b = self.head(base), self.head(head)
        try:
            return self._git("merge-base", a, b, error=GitRefNotFound).decode().strip()
        except GitRefNotFound:
            raise GitRefNotFound(
                f"{base!r} and {head!r} share no history in {_mask(self.remote_url)}"
            ) from None

    def remote_head(self) -> str | None:
        """The commit the remote's HEAD names now (`git ls-remote`: authenticates and reads, clones
        nothing), or None for an empty repository."""
        out = run_git(
            ["ls-remote", "--", self.remote_url, "HEAD"],
            env=self._env(),
            timeout=self.timeout,
            error=GitUnavailable,
            secrets=self._secrets(),
        )
        line = out.decode(errors="replace").strip().splitlines()
        return line[0].split()[0] if line else None

    def check_push(self) -> None:
        """Raise `GitPermissionDenied` unless the remote would take a push, without pushing.

        `git push --dry-run` of a throwaway branch (`medic-doctor-probe`) holding an empty commit
        made in a temporary repository: git authenticates and asks the remote's receive-pack for
        its refs (a read-only token, a remote that serves no receive-pack, is refused there) and
        sends nothing. A remote on the local file system is also checked for write permission on
        its object and ref directories, which receive-pack only needs when it writes."""
        local = _local_path(self.remote_url)
        if local is not None:
            git_dir = local if (local / "objects").is_dir() else local / ".git"
            for part in ("objects", "refs"):
                if (git_dir / part).is_dir() and not os.access(git_dir / part, os.W_OK | os.X_OK):
                    raise GitPermissionDenied(f"{git_dir / part} is not writable by this user")
        with tempfile.TemporaryDirectory(prefix="medic-push-probe-") as scratch:
            run_git(["init", "--quiet", scratch], timeout=self.timeout)
            identity = {
                "GIT_AUTHOR_NAME": "medic",
                "GIT_AUTHOR_EMAIL": "medic@localhost",
                "GIT_COMMITTER_NAME": "medic",
                "GIT_COMMITTER_EMAIL": "medic@localhost",
            }
            commit = (
                run_git(
                    ["commit-tree", _EMPTY_TREE, "-m", "medic doctor: push probe (never pushed)"],
                    cwd=scratch,
                    env={**git_env(), **identity},
                    timeout=self.timeout,
                )
                .decode()
                .strip()
            )
            try:
                run_git(
                    [
                        "push",
                        "--dry-run",
                        "--porcelain",
                        "--no-verify",
                        "--",
                        self.remote_url,
                        f"{commit}:refs/heads/{PUSH_PROBE_BRANCH}",
                    ],
                    cwd=scratch,
                    env=self._env(),
                    timeout=self.timeout,
                    error=GitUnavailable,
                    secrets=self._secrets(),
                )
            except GitUnavailable as err:
                if "[remote rejected]" in err.stderr or "403" in err.stderr:
                    raise GitPermissionDenied(err.message, err.command, err.stderr) from err
                raise

    # --- writes: one branch and one commit per pull request, pushed by sha, never forced ---------

    def branch_tip(self, branch: str) -> str | None:
        """The commit `branch` points at on the remote (fetched now), or None when it does not exist."""
        with self._locked():
            self._sync_locked()
            return self._tip(branch)

    def _tip(self, branch: str) -> str | None:
        try:
            out = self._git("rev-parse", "--verify", "--quiet", f"refs/remotes/origin/{branch}^{{commit}}")
        except GitError:
            return None
        return out.decode().strip() or None

    def commit_branch(self, spec: PullRequestSpec, author_name: str, author_email: str) -> str:
        """Make `spec.branch` on the remote hold one commit: `spec.files` on top of `spec.base_commit`.

        Idempotent: when the branch already holds exactly that (same parent, same tree), its
        commit is returned and nothing is pushed. Otherwise the commit is built with a fixed
        identity and date (`spec.created_at`, else the base commit's date), so a retry after a
        crash between commit and push builds the same sha, and pushed with
        `<sha>:refs/heads/<branch>` — a no-op when the branch is already there. A branch holding
        anything else raises `GitBranchConflict`; it is never overwritten. Returns the sha.
        """
        _check_branch(spec.branch)
        with self._locked():
            self._sync_locked()
            base = self._commit_of(spec.base_commit)
            tree = self._tree_with(base, spec.files)
            tip = self._tip(spec.branch)
            if tip is not None:
                if self._is_commit_on(tip, base, tree):
                    return tip
                raise GitBranchConflict(
                    f"branch {spec.branch} exists at {tip[:12]}, which is not this change on {base[:12]}; "
                    "not overwriting it",
                    branch=spec.branch,
                    found=tip,
                )
            when = spec.created_at or self._commit_date(base)
            commit = self._commit_tree(
                tree,
                [base],
                spec.commit_message,
                (author_name, author_email),
                (author_name, author_email),
                when,
            )
            return self._push_new(commit, spec.branch, base, tree)

    def merge_branch(
        self,
        branch: str,
        base: str,
        message: str,
        merged_by: str,
        *,
        expected_tip: str | None = None,
        committer_name: str = "medic",
        committer_email: str = "medic@localhost",
    ) -> str:
        """Merge `branch` into `base` on the remote with a merge commit; returns the merge commit.

        Idempotent: when `base` already contains the branch's tip, the commit that brought it in
        is returned and nothing is pushed. `expected_tip` (the commit that was reviewed) refuses
        a branch that moved since with `GitBranchConflict`; a conflicting merge raises
        `GitMergeConflict`. `merged_by` is recorded as a `Merged-by:` trailer. When someone else
        moves `base` between the fetch and the push, the merge is made again on the new base.
        """
        _check_branch(branch)
        _check_branch(base)
        with self._locked():
            for _ in range(_MERGE_ATTEMPTS):
                self._sync_locked()
                tip = self._tip(branch)
                if tip is None:
                    raise GitRefNotFound(f"no branch {branch!r} in {_mask(self.remote_url)}")
                if expected_tip is not None and tip != expected_tip:
                    raise GitBranchConflict(
                        f"branch {branch} moved to {tip[:12]} since {expected_tip[:12]} was reviewed; "
                        "not merging it",
                        branch=branch,
                        found=tip,
                    )
                base_tip = self._tip(base)
                if base_tip is None:
                    raise GitRefNotFound(f"no branch {base!r} in {_mask(self.remote_url)}")
                if self._is_ancestor(tip, base_tip):
                    return self._merged_by_commit(tip, base_tip)
                tree = self._merge_tree(base_tip, tip, branch, base)
                identity = (committer_name, committer_email)
                text = f"{message.rstrip()}\n\nMerged-by: {merged_by}\n"
                merge = self._commit_tree(tree, [base_tip, tip], text, identity, identity, datetime.now(UTC))
                if self._push(merge, base):
                    return merge
            raise GitUnavailable(f"{base} kept moving while merging {branch}; try again")

    # --- plumbing ---------------------------------------------------------------------------------

    def _commit_of(self, rev: str) -> str:
        out = self._git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", error=GitRefNotFound)
        return out.decode().strip()

    def _commit_date(self, commit: str) -> datetime:
        stamp = self._git("show", "-s", "--format=%ct", commit).decode().strip()
        return datetime.fromtimestamp(int(stamp), UTC)

    def _is_ancestor(self, ancestor: str, descendant: str) -> bool:
        try:
            self._git("merge-base", "--is-ancestor", ancestor, descendant)
        except GitError:
            return False
        return True

    def _is_commit_on(self, commit: str, parent: str, tree: str) -> bool:
        line = self._git("rev-list", "--parents", "-n", "1", commit).decode().split()
        found_tree = self._git("rev-parse", f"{commit}^{{tree}}").decode().strip()
        return line[1:] == [parent] and found_tree == tree

    def _tree_with(self, base: str, files: dict[str, str]) -> str:
        """The tree of `base` with `files` (path -> text) written over it, built in a temporary
        index so that neither the work tree nor the clone's index is touched."""
        fd, index = tempfile.mkstemp(prefix=".medic-index-", dir=self.workdir / ".git")
        os.close(fd)
        os.unlink(index)  # git wants to create the index itself
        env = self._env({"GIT_INDEX_FILE": index})
        try:
            self._git("read-tree", base, env=env)
            for path in sorted(files):
                rel = _check_path(path)
                mode = self._mode_at(base, rel)
                blob = (
                    self._git("hash-object", "-w", "--stdin", input=files[path].encode(), env=env)
                    .decode()
                    .strip()
                )
                self._git("update-index", "--add", "--cacheinfo", f"{mode},{blob},{rel}", env=env)
            return self._git("write-tree", env=env).decode().strip()
        finally:
            Path(index).unlink(missing_ok=True)

    def _mode_at(self, commit: str, path: str) -> str:
        out = self._git("ls-tree", "-z", commit, "--", path).decode()
        mode = out.split(" ", 1)[0] if out else ""
        # An executable file stays executable; anything else (new, or a link) becomes a file.
        return mode if mode in ("100644", "100755") else "100644"

    def _commit_tree(
        self,
        tree: str,
        parents: list[str],
        message: str,
        author: tuple[str, str],
        committer: tuple[str, str],
        when: datetime,
    ) -> str:
        if when.tzinfo is None:
            raise ValueError("commit dates must be timezone-aware")
        stamp = f"@{int(when.timestamp())} +0000"
        env = self._env(
            {
                "GIT_AUTHOR_NAME": author[0],
                "GIT_AUTHOR_EMAIL": author[1],
                "GIT_AUTHOR_DATE": stamp,
                "GIT_COMMITTER_NAME": committer[0],
                "GIT_COMMITTER_EMAIL": committer[1],
                "GIT_COMMITTER_DATE": stamp,
            }
        )
        args = ["-c", "commit.gpgSign=false", "-c", "i18n.commitEncoding=UTF-8", "commit-tree", tree]
        for parent in parents:
            args += ["-p", parent]
        text = message if message.endswith("\n") else f"{message}\n"
        return self._git(*args, "--no-gpg-sign", "-F", "-", input=text.encode(), env=env).decode().strip()

    def _push(self, commit: str, branch: str) -> bool:
        """Push `commit` to `branch` without force: True when the branch is (now) at `commit`,
        False when the remote refused because the branch is elsewhere (not a fast-forward)."""
        try:
            self._git(
                "push",
                "--quiet",
                "--no-verify",
                "origin",
                f"{commit}:refs/heads/{branch}",
                error=GitUnavailable,
            )
        except GitPermissionDenied:
            raise
        except GitUnavailable as err:
            if "[rejected]" in err.stderr or "non-fast-forward" in err.stderr or "fetch first" in err.stderr:
                return False
            if "[remote rejected]" in err.stderr:
                raise GitPermissionDenied(err.message, err.command, err.stderr) from err
            raise
        return True

    def _push_new(self, commit: str, branch: str, base: str, tree: str) -> str:
        """Push a new branch; the commit it holds afterwards (ours, or an equal one pushed by a
        concurrent attempt since the fetch)."""
        if self._push(commit, branch):
            return commit
        self._sync_locked()
        tip = self._tip(branch)
        if tip is not None and self._is_commit_on(tip, base, tree):
            return tip
        raise GitBranchConflict(
            f"branch {branch} was created at {tip[:12] if tip else '?'} by someone else; not overwriting it",
            branch=branch,
            found=tip,
        )

    def _merge_tree(self, base_tip: str, tip: str, branch: str, base: str) -> str:
        try:
            out = self._git("merge-tree", "--write-tree", "--no-messages", base_tip, tip)
        except GitError as err:
            raise GitMergeConflict(
                f"{branch} does not merge cleanly into {base}", err.command, err.stderr
            ) from err
        return out.decode().split("\n", 1)[0].strip()

    def _merged_by_commit(self, tip: str, base_tip: str) -> str:
        """The commit on `base`'s first-parent line that brought `tip` in: the merge commit whose
        other parent is `tip`, else `tip` itself (a fast-forward), else the first one containing it."""
        out = self._git("rev-list", "--first-parent", "--parents", f"{tip}..{base_tip}").decode()
        lines = [line.split() for line in out.splitlines() if line.strip()]
        for commit, *parents in reversed(lines):
            if tip in parents[1:]:
                return commit
        if not lines or lines[-1][1:2] == [tip]:
            return tip
        for commit, *_ in reversed(lines):
            if self._is_ancestor(tip, commit):
                return commit
        return base_tip


_MERGE_ATTEMPTS = 3
# The tree of no files, which every git knows; and the branch the push probe would create.
_EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
PUSH_PROBE_BRANCH = "medic-doctor-probe"


def is_local_remote(remote_url: str) -> bool:
    """Whether `remote_url` is a repository on this file system (a path or a file:// URL), as git
    reads it: anything with a scheme, or a colon before the first slash (scp-like `host:path`,
    `git@host:path`), is a remote elsewhere."""
    if remote_url.startswith("file://"):
        return True
    if not remote_url or "://" in remote_url:
        return False
    return ":" not in remote_url.split("/", 1)[0]


def _local_path(remote_url: str) -> Path | None:
    """The directory of a remote on this file system (a path or a file:// URL), else None."""
    if remote_url.startswith("file://"):
        return Path(remote_url[len("file://") :])
    if "://" in remote_url or re.match(r"^[^/]+@[^:]+:", remote_url):  # scp-like user@host:path
        return None
    return Path(remote_url).expanduser()


_BRANCH = re.compile(r"^(?!/)(?!.*(?:\.\.|//|@\{|\.lock$|/$|\.$))[A-Za-z0-9._/-]+$")


def _check_branch(branch: str) -> str:
    if not _BRANCH.match(branch) or branch.startswith(("-", ".")):
        raise ValueError(f"not a branch name medic writes: {branch!r}")
    return branch


def _check_path(path: str) -> str:
    pure = PurePosixPath(path)
    if pure.is_absolute() or not pure.parts or any(p in ("", ".", "..", ".git") for p in pure.parts):
        raise ValueError(f"not a relative file path: {path!r}")
    return str(pure)
