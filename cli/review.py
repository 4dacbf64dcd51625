"""`medic review` (a change reviewed in a CI pipeline or on a laptop, without Temporal) and
`medic pr review` (a pull request's review asked of the worker).

`medic review --repo DIR --base REF --head REF [--json]` renders every affected application at
both refs — through Argo CD's manifests API when MEDIC_ARGOCD_URL is set (the refs must be pushed
where Argo CD fetches), otherwise locally from DIR with a real engine (kustomize, helm, plain
manifests: `integrations/render.py`) — and prints the same report a pull request gets (`--json`:
`domain/review/render.py`'s JSON). Exit codes: 0 the policy allows (warnings included), 1 the
policy denies, 2 the review could not be made (a bad ref, a missing engine, Argo CD refusing).

`medic pr review BRANCH` (local GitOps remote) or `medic pr review --number N` (the configured PR
host) starts the pull request's `ChangeReviewWorkflow`, or tells the running one about the new
head, as the host's webhook does.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.config import local_gitops_remote, settings

if TYPE_CHECKING:
    from temporalio.client import Client

    from domain.steps.review import ReviewTarget

ALLOWED, DENIED, ERROR = 0, 1, 2

RepoOption = Annotated[Path, typer.Option("--repo", help="The Git repository (a work tree or a bare one).")]
BaseOption = Annotated[str, typer.Option("--base", help="The ref the change is made against (e.g. main).")]
HeadOption = Annotated[
    str, typer.Option("--head", help="The ref holding the change (branch, tag or commit).")
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the review as JSON.")]


def _fail(message: str) -> None:
    typer.echo(f"medic review: {message}", err=True)
    raise typer.Exit(ERROR)


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        _fail(f"git {' '.join(args)}: {(done.stderr.strip().splitlines() or ['failed'])[-1]}")
    return done.stdout.strip()


def _commit(repo: Path, ref: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        _fail(f"no commit {ref!r} in {repo}")
    return done.stdout.strip()


def _argo_renderings(repo: Path, base: str, head: str) -> tuple[list[Any], list[str]]:
    from activities.review.analysis import argo_rendering
    from domain.review.applications import affected_applications, unreviewed_files
    from integrations.argocd import ArgoClient

    s = settings()
    merge_base = _git(repo, "merge-base", base, head)
    files = [f for f in _git(repo, "diff", "--name-only", merge_base, head).splitlines() if f]
    remotes = {line.split()[1] for line in _git(repo, "remote", "-v").splitlines() if line.split()[1:]}
    urls = tuple(
        sorted(remotes | ({s.gitops_repo_url} if s.gitops_repo_url else set()) | set(s.gitops_repo_aliases))
    )

    def read(path: str) -> str | None:
        for ref in (head, merge_base):
            done = subprocess.run(
                ["git", "-C", str(repo), "show", f"{ref}:{path}"], capture_output=True, text=True, check=False
            )
            if done.returncode == 0:
                return done.stdout
        return None

    out = []
    with ArgoClient(s.argocd_url, s.argocd_token) as argocd:
        apps = affected_applications(argocd.list_applications(), files, urls, read)
        for app in apps:
            out.append(argo_rendering(argocd, app, merge_base, head))
    return out, unreviewed_files(files, apps)


def _prices() -> Any:
    s = settings()
    if not s.opencost_url:
        return None
    from integrations.opencost import OpenCostClient

    return OpenCostClient(s.opencost_url).prices()


def review_command(
    repo: RepoOption = Path("."),
    base: BaseOption = "main",
    head: HeadOption = "HEAD",
    as_json: JsonFlag = False,
) -> None:
    """Review the change between two refs of a GitOps repository: rendered diff, risk, downtime,
    rollback, security and monthly cost, and the policy's verdict (exit 1 when it denies)."""
    from activities.review.analysis import local_renderings, review_renderings
    from domain.review.render import render_markdown, to_json
    from integrations.errors import IntegrationError
    from policies import PolicyError

    repo = repo.resolve()
    if not repo.exists():
        _fail(f"no repository at {repo}")
    base_sha, head_sha = _commit(repo, base), _commit(repo, head)
    try:
        if settings().argocd_url:
            renderings, unreviewed = _argo_renderings(repo, base_sha, head_sha)
        else:
            renderings, unreviewed = local_renderings(
                repo, _git(repo, "merge-base", base_sha, head_sha), head_sha
            )
        found = review_renderings(
            renderings,
            prices=_prices(),
            policy_dir=settings().policy_dir or None,
            extra_protected_namespaces=settings().protected_namespaces,
            unreviewed=unreviewed,
        )
    except (IntegrationError, PolicyError) as err:
        _fail(str(err))
        return
    if as_json:
        typer.echo(json.dumps({**to_json(found), "base": base_sha, "head": head_sha}, indent=2))
    else:
        typer.echo("\n".join(render_markdown(found, limit=10**9)))
    verdict = found.verdict
    raise typer.Exit(DENIED if verdict is not None and verdict.decision == "deny" else ALLOWED)


# ---- medic pr review ----------------------------------------------------------------------------

REVIEW_WORKFLOW = "ChangeReviewWorkflow"
HEAD_PUSHED = "head_pushed"


def pr_review_command(
    branch: Annotated[str, typer.Argument(help="The branch of the local GitOps remote to review.")] = "",
    number: Annotated[int, typer.Option("--number", help="A pull request's number on the PR host.")] = 0,
    base: Annotated[str, typer.Option("--base", help="The branch the change goes into.")] = "main",
) -> None:
    """Ask the worker to review a pull request (or a branch of the local GitOps remote): its
    review workflow is started, or told about the new head, as the host's webhook does."""
    import asyncio
    import secrets

    from cli.schedules import connect_or_fail, exit_now
    from integrations.pull_requests import (
        PullRequestError,
        local_review_target,
        pull_request_host_from_settings,
    )

    s = settings()
    if bool(branch) == bool(number):
        typer.echo("name a branch of the local GitOps remote, or a pull request with --number", err=True)
        raise typer.Exit(ERROR)
    try:
        if number:
            from cli.config import sessions
            from integrations.pull_requests import gitops_clone
            from store.pull_requests import StorePullRequestRecords
            from store.reviews import StoreReviewRecords

            host = pull_request_host_from_settings(
                s,
                StorePullRequestRecords(sessions()),
                repo=gitops_clone(s),
                reviews=StoreReviewRecords(sessions()),
            )
            target: ReviewTarget = host.review_target(number)
        else:
            remote = local_gitops_remote(s)
            target = local_review_target(remote, branch, base)
    except (PullRequestError, ValueError) as err:
        typer.echo(f"cannot read the pull request: {err}", err=True)
        raise typer.Exit(ERROR) from None

    async def go() -> str:
        client = await connect_or_fail(s)
        return await ask_for_review(client, target, s.task_queue, delivery=f"cli-{secrets.token_hex(4)}")

    workflow_id = asyncio.run(go())
    typer.echo(f"review of {target.head_ref} at {target.head_sha[:12]} asked of {workflow_id}")
    exit_now(0)


async def ask_for_review(client: Client, target: ReviewTarget, task_queue: str, delivery: str = "") -> str:
    """Start the review workflow of `target`'s pull request with its head (signal-with-start),
    or tell the running one about the head, as the host's webhook does; the workflow's id."""
    from domain.steps.review import ReviewRequest, review_workflow_id

    request = ReviewRequest(target=target, delivery=delivery)
    workflow_id = review_workflow_id(target)
    await client.start_workflow(
        REVIEW_WORKFLOW,
        request,
        id=workflow_id,
        task_queue=task_queue,
        start_signal=HEAD_PUSHED,
        start_signal_args=[request],
    )
    return workflow_id
