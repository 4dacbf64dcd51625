"""Real git, through the `git` command with argument lists (never a shell), for reading the GitOps
repository: a clone kept in a work directory, fetched on every `sync()`.

Reads go to the remote-tracking refs (`origin/<branch>`), so what the work tree holds never
changes what is read. Prompts are off (GIT_TERMINAL_PROMPT=0): a remote that wants credentials
fails instead of hanging. Failures are `GitError`s; remote URLs in messages have credentials masked.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DEFAULT_TIMEOUT = 120.0
_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")
_SHA = re.compile(r"^[0-9a-f]{7,40}$")


class GitError(Exception):
    """A git command that failed; `command` is the argument list, `stderr` what git said."""

    def __init__(self, message: str, command: list[str] | None = None, stderr: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.command = command or []
        self.stderr = stderr


class GitUnavailable(GitError):
    """The remote could not be reached or read (network, auth, timeout): worth retrying later."""


class GitRefNotFound(GitError):
    """The branch, tag or commit does not exist (at the remote, after a fetch)."""


def _mask(text: str) -> str:
    return _CREDENTIALS.sub(r"\1***@", text)


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
    error: type[GitError] = GitError,
) -> bytes:
    """stdout of `git <args>`; a non-zero exit raises `error`, a timeout `GitUnavailable`."""
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
        raise GitError(f"cannot run git: {exc}", command) from exc
    if done.returncode != 0:
        stderr = _mask(done.stderr.decode(errors="replace").strip())
        raise error(f"git {args[0]} failed: {stderr[:500]}", [_mask(a) for a in command], stderr)
    return done.stdout


class GitRepo:
    """A clone of `remote_url` in `workdir`, for reading files at a branch, tag or commit.

    Safe to share between threads, and between processes sharing the work directory (a lock file
    beside it serialises `sync()`).
    """

    def __init__(self, remote_url: str, workdir: str | Path, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.remote_url = remote_url
        self.workdir = Path(workdir)
        self.timeout = timeout
        self._lock = threading.Lock()

    def _git(self, *args: str, error: type[GitError] = GitError) -> bytes:
        return run_git(list(args), cwd=self.workdir, timeout=self.timeout, error=error)

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
            if self._is_clone():
                origin = self._git("remote", "get-url", "origin").decode().strip()
                if origin != self.remote_url:
                    raise GitError(
                        f"{self.workdir} is a clone of {_mask(origin)}, not of the configured remote"
                    )
                self._git("fetch", "--prune", "--quiet", "origin", error=GitUnavailable)
                # Follows a change of the remote's default branch.
                run_git(["remote", "set-head", "origin", "--auto"], cwd=self.workdir, timeout=self.timeout)
            else:
                if self.workdir.exists() and any(self.workdir.iterdir()):
                    raise GitError(f"{self.workdir} exists and is not a clone")
                self._clone()
        return self.head("HEAD")

    def _clone(self) -> None:
        # Clone beside the target and rename, so a crash never leaves a half clone behind.
        parent = self.workdir.parent
        staging = Path(tempfile.mkdtemp(prefix=f".{self.workdir.name}-", dir=parent))
        try:
            run_git(
                ["clone", "--quiet", "--no-checkout", "--", self.remote_url, str(staging / "repo")],
                timeout=self.timeout,
                error=GitUnavailable,
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
            raise GitError(f"{self.workdir} is not a clone yet: call sync() first")
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
