"""A local bare repository standing in for the GitOps remote, seeded from a scenario's `gitops:`.

The seed commit is built with plumbing (no work tree) under a fixed identity and date, so the same
files always give the same tree, and a fresh repository the same commit. The user's git
configuration is not read (no signing, hooks or templates get in the way).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path, PurePosixPath

BRANCH = "main"
_IDENTITY = {
    "GIT_AUTHOR_NAME": "medic sandbox",
    "GIT_AUTHOR_EMAIL": "sandbox@medic.invalid",
    "GIT_COMMITTER_NAME": "medic sandbox",
    "GIT_COMMITTER_EMAIL": "sandbox@medic.invalid",
    "GIT_AUTHOR_DATE": "2026-11-23T18:00:00Z",
    "GIT_COMMITTER_DATE": "2026-11-23T18:00:00Z",
}


class GitError(Exception):
    """A git command of the seeding failed."""


def run_git(args: list[str], *, env: dict[str, str], input: bytes | None = None) -> bytes:
    try:
        done = subprocess.run(
            ["git", *args], env=env, input=input, capture_output=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitError(f"git {args[0]}: {exc}") from exc
    if done.returncode != 0:
        raise GitError(f"git {args[0]} failed: {done.stderr.decode(errors='replace').strip()[:500]}")
    return done.stdout


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        {
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0",
            "LC_ALL": "C",
            **_IDENTITY,
            **extra,
        }
    )
    return env


def _check_path(path: str) -> str:
    pure = PurePosixPath(path)
    if pure.is_absolute() or not pure.parts or any(p in ("", ".", "..", ".git") for p in pure.parts):
        raise ValueError(f"not a relative file path: {path!r}")
    return str(pure)


def seed_bare_repo(path: str | Path, files: dict[str, str], *, message: str = "seed GitOps files") -> str:
    """A bare repository at `path` whose `main` holds exactly `files` (path -> text); the commit sha.

    Idempotent: when `main` already holds these files, nothing changes. When it holds others (an
    earlier scenario, merged fixes), a new commit on top of it restores exactly `files`.
    """
    repo = Path(path).resolve()
    if not (repo / "HEAD").exists():
        repo.mkdir(parents=True, exist_ok=True)
        run_git(["init", "--quiet", "--bare", f"--initial-branch={BRANCH}", str(repo)], env=_env())
    git_dir = str(repo)
    index = repo / "medic-seed.index"
    index.unlink(missing_ok=True)
    env = _env(GIT_DIR=git_dir, GIT_INDEX_FILE=str(index))
    try:
        for name in sorted(files):
            rel = _check_path(name)
            blob = (
                run_git(["hash-object", "-w", "--stdin"], env=env, input=files[name].encode())
                .decode()
                .strip()
            )
            run_git(["update-index", "--add", "--cacheinfo", f"100644,{blob},{rel}"], env=env)
        tree = run_git(["write-tree"], env=env).decode().strip()
    finally:
        index.unlink(missing_ok=True)
    try:
        current = run_git(["rev-parse", "--verify", "--quiet", f"refs/heads/{BRANCH}^{{commit}}"], env=env)
        parent: str | None = current.decode().strip()
    except GitError:
        parent = None
    if parent is not None:
        current_tree = run_git(["rev-parse", f"{parent}^{{tree}}"], env=env).decode().strip()
        if current_tree == tree:
            return parent
    args = ["commit-tree", tree, "-m", message]
    if parent is not None:
        args += ["-p", parent]
    commit = run_git(args, env=env).decode().strip()
    run_git(["update-ref", f"refs/heads/{BRANCH}", commit, *([parent] if parent else [])], env=env)
    run_git(["symbolic-ref", "HEAD", f"refs/heads/{BRANCH}"], env=env)
    return commit
