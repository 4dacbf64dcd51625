"""Change review end to end on the dev server: people's pull requests against the GitOps
repository, reviewed by the worker's `ChangeReviewWorkflow` through the sandbox Argo CD's
manifests-at-revision API — on the local GitOps remote (`medic pr review`) and through the
GitHub fake (signed `pull_request` webhooks).

Three changes to the estate of `sandbox/scenarios/review-estate.yaml`: (a) an image tag bumped in
a Helm values file, (b) a raw manifest's replicas 3 → 12 and memory 512Mi → 2Gi (with a Secret and
a token in an env var, which must never show), (c) a Deployment in kube-system (protected). Each
gets one comment with the rendered diff, risk, findings and cost, and a `medic/review` status that
follows the policy; a second push to (b) updates the same comment.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import yaml

from cli.embedded import Stack
from domain.review.render import GITHUB_COMMENT_LIMIT, MARKER
from domain.steps.review import ReviewResult, ReviewTarget, review_workflow_id
from integrations.pull_requests import local_review_target
from sandbox.gitops import seed_bare_repo
from sandbox.scenario import load_scenario
from store.db import make_engine, session_factory, transaction
from store.reviews import ChangeReviewRepository, CommitStatusRepository, ReviewCommentRepository, report_of
from tests.e2e.test_gitops_loop import deliver_webhook
from tests.fakes.github_api import SandboxGitHub
from tests.fakes.opencost import MIXED_NODES, SandboxOpenCost

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SCENARIO = REPO / "sandbox" / "scenarios" / "review-estate.yaml"
GITHUB_TOKEN = "gh-e2e-review-token"
WEBHOOK_SECRET = "whsec-e2e-review"
API_TOKEN = "tok-live-9f8e7d6c5b4a39281706"
DB_PASSWORD = "hunter2-cart-db-password"
CART = "apps/shop/cart/deployment.yaml"
DNS = "apps/kube-system/dns/deployment.yaml"
VALUES = "values/ledger-values.yaml"


def _files() -> dict[str, str]:
    return load_scenario(SCENARIO).gitops


def image_bump() -> dict[str, str | None]:
    return {VALUES: _files()[VALUES].replace('tag: "2.8.1"', 'tag: "2.9.0"')}


def cart_scaled(replicas: int = 12) -> dict[str, str | None]:
    cart = yaml.safe_load(_files()[CART])
    cart["spec"]["replicas"] = replicas
    container = cart["spec"]["template"]["spec"]["containers"][0]
    container["resources"] = {"requests": {"cpu": "250m", "memory": "2Gi"}, "limits": {"memory": "2Gi"}}
    container["env"].append({"name": "PAYMENTS_API_TOKEN", "value": API_TOKEN})
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "cart-db", "namespace": "shop"},
        "stringData": {"password": DB_PASSWORD},
    }
    return {CART: yaml.safe_dump_all([cart, secret], sort_keys=False)}


def dns_change() -> dict[str, str | None]:
    return {DNS: _files()[DNS].replace("coredns:v1.11.1", "coredns:v1.11.3")}


def huge_config() -> dict[str, str | None]:
    data = {
        f"rule-{i:04d}": f"allow 10.{i // 250}.{i % 250}.0/24 port {8000 + i} # " + "x" * 40
        for i in range(1500)
    }
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cart-rules", "namespace": "shop"},
        "data": data,
    }
    return {"apps/shop/cart/rules.yaml": yaml.safe_dump(config)}


# The expected cost of (b) at OpenCost's default list prices: requests × replicas × 730 h.
def list_price_delta() -> float:
    cpu, mem, hours = 0.031611, 0.004237, 730
    before = 3 * (0.25 * cpu + 0.5 * mem) * hours
    after = 12 * (0.25 * cpu + 2 * mem) * hours
    return after - before


def push(remote: Path, branch: str, files: dict[str, str | None], base: str = "main") -> str:
    """A person's push to the bare remote: a commit writing `files` on `branch` (from `base`)."""
    with tempfile.TemporaryDirectory() as work:
        env = {**os.environ, "GIT_AUTHOR_NAME": "dana", "GIT_AUTHOR_EMAIL": "dana@example.com"}
        env |= {"GIT_COMMITTER_NAME": "dana", "GIT_COMMITTER_EMAIL": "dana@example.com"}

        def git(*args: str) -> str:
            return subprocess.run(
                ["git", "-C", work, *args], env=env, check=True, capture_output=True, text=True
            ).stdout.strip()

        subprocess.run(["git", "clone", "-q", str(remote), work], check=True, capture_output=True)
        exists = git("ls-remote", "--heads", "origin", branch)
        git("checkout", "-q", "-B", branch, f"origin/{branch}" if exists else f"origin/{base}")
        for path, text in files.items():
            target = Path(work) / path
            if text is None:
                target.unlink()
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
        git("add", "-A")
        git("commit", "-q", "-m", f"change {branch}")
        git("push", "-q", "origin", f"HEAD:refs/heads/{branch}")
        return git("rev-parse", "HEAD")


async def reviewed(stack: Stack, workflow_id: str, sha: str, timeout: float = 60) -> ReviewResult:
    """The review workflow's status once it has published its review of `sha`."""
    handle = stack.client.get_workflow_handle(workflow_id)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            status = await handle.query("status", result_type=ReviewResult)
            if status.last is not None and status.last.head_sha == sha:
                return status
        except Exception:  # not started yet
            pass
        assert asyncio.get_running_loop().time() < deadline, f"{workflow_id} did not review {sha[:12]}"
        await asyncio.sleep(0.2)


def sessions(stack: Stack) -> Any:
    return session_factory(make_engine(stack.settings.resolved_database_url))


def medic(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MEDIC_HOME": stack.settings.home,
        "TEMPORAL_ADDRESS": stack.settings.temporal_address,
        "MEDIC_GITOPS_REPO": stack.settings.gitops_repo_url,
        "MEDIC_TASK_QUEUE": stack.settings.task_queue,
    }
    return subprocess.run(
        [sys.executable, "-m", "cli", *args], env=env, capture_output=True, text=True, timeout=60
    )


def never_secret(text: str) -> None:
    assert API_TOKEN not in text and DB_PASSWORD not in text


async def test_local_remote_pull_requests_are_reviewed_with_one_comment_each(make_stack: Any) -> None:
    stack = await make_stack(SCENARIO)
    remote = Path(stack.settings.gitops_repo_url)
    heads = {
        "dana/ledger-2.9": push(remote, "dana/ledger-2.9", image_bump()),
        "dana/cart-sale": push(remote, "dana/cart-sale", cart_scaled()),
        "dana/dns": push(remote, "dana/dns", dns_change()),
    }
    ids = {}
    for branch, sha in heads.items():
        asked = medic(stack, "pr", "review", branch)
        assert asked.returncode == 0, asked.stderr
        ids[branch] = review_workflow_id(local_review_target(str(remote), branch))
        await reviewed(stack, ids[branch], sha)

    factory = sessions(stack)

    def stored(branch: str) -> tuple[list[str], str, dict[str, Any]]:
        with transaction(factory) as session:
            parts = [c.body for c in ReviewCommentRepository(session).parts(ids[branch], MARKER)]
            status = CommitStatusRepository(session).get(str(remote), heads[branch], "medic/review")
            row = ChangeReviewRepository(session).get(f"{ids[branch]}@{heads[branch]}")
            assert status is not None and row is not None
            return parts, status.state, report_of(row)

    # (a) the image bump, rendered by Argo CD from the Helm values at both revisions.
    parts, state, report = stored("dana/ledger-2.9")
    assert len(parts) == 1 and parts[0].startswith(MARKER)
    assert (
        "payments-ledger" in parts[0]
        and re.search(r"^-\s+image: registry.example/payments/ledger:2.8.1$", parts[0], re.M)
        and re.search(r"^\+\s+image: registry.example/payments/ledger:2.9.0$", parts[0], re.M)
    )
    assert [a["name"] for a in report["applications"]] == ["payments-ledger"]
    assert state == "success" and report["policy"]["decision"] == "allow"

    # (b) replicas and memory: the cost by hand within 1%, above the $100 warning: neutral.
    parts, state, report = stored("dana/cart-sale")
    assert report["cost"]["monthly_delta_usd"] == pytest.approx(list_price_delta(), rel=0.01)
    assert report["cost"]["basis"] == "OpenCost default list prices (GCP us-central1)"
    assert report["policy"]["decision"] == "warn" and state == "neutral"
    assert re.search(r"^-\s+replicas: 3$", parts[0], re.M)
    assert re.search(r"^\+\s+replicas: 12$", parts[0], re.M)
    never_secret(json.dumps(report))
    never_secret("".join(parts))

    # (c) kube-system is protected: the policy denies, the status fails.
    parts, state, report = stored("dana/dns")
    assert report["policy"]["decision"] == "deny" and state == "failure"
    assert any("kube-system" in d for d in report["policy"]["denials"])
    assert "risk **high**" in parts[0]

    # A second push to (b) updates the same comment in place.
    with transaction(factory) as session:
        before = [c.id for c in ReviewCommentRepository(session).parts(ids["dana/cart-sale"], MARKER)]
    again = push(remote, "dana/cart-sale", cart_scaled(10))
    assert medic(stack, "pr", "review", "dana/cart-sale").returncode == 0
    status = await reviewed(stack, ids["dana/cart-sale"], again)
    assert status.reviews == 2
    heads["dana/cart-sale"] = again
    parts, state, report = stored("dana/cart-sale")
    with transaction(factory) as session:
        after = [c.id for c in ReviewCommentRepository(session).parts(ids["dana/cart-sale"], MARKER)]
    assert after == before and re.search(r"^\+\s+replicas: 10$", parts[0], re.M)


async def deliver(stack: Stack, github: SandboxGitHub, number: int, action: str) -> httpx.Response:
    return await deliver_webhook(stack, github, number, action, token=GITHUB_TOKEN, secret=WEBHOOK_SECRET)


async def test_github_pull_requests_are_reviewed_through_the_signed_webhook(
    make_stack: Any, tmp_path: Path
) -> None:
    home = tmp_path / ".medic-github"
    remote = home / "gitops.git"
    seed_bare_repo(remote, load_scenario(SCENARIO).gitops)
    with (
        SandboxGitHub(remote, token=GITHUB_TOKEN, owner="acme", name="gitops") as github,
        SandboxOpenCost(MIXED_NODES) as opencost,
    ):
        stack = await make_stack(
            SCENARIO,
            home=str(home),
            github_token=GITHUB_TOKEN,
            github_repository=github.full_name,
            github_api_url=github.api_url,
            github_webhook_secret=WEBHOOK_SECRET,
            opencost_url=opencost.url,
        )
        changes = {"a": image_bump(), "b": cart_scaled(), "c": dns_change(), "huge": huge_config()}
        numbers = {
            key: github.open_pull_request_as("dana", f"dana/{key}", files) for key, files in changes.items()
        }
        for number in numbers.values():
            answer = await deliver(stack, github, number, "opened")
            assert answer.status_code == 202, answer.text
        target = {
            key: ReviewTarget(host="github", repository=github.full_name, number=n, head_ref="", head_sha="x")
            for key, n in numbers.items()
        }
        for key, number in numbers.items():
            await reviewed(stack, review_workflow_id(target[key]), github.pulls[number].head_sha)

        def comments(key: str) -> list[str]:
            return [c["body"] for c in github.comments(numbers[key]) if c["body"].startswith(MARKER)]

        def state(key: str) -> str:
            return github.statuses(github.pulls[numbers[key]].head_sha)[0]["state"]

        assert len(comments("a")) == 1 and "ledger:2.9.0" in comments("a")[0] and state("a") == "success"
        # (b) priced at the OpenCost fake's prices, said as the basis; warnings are `success` on GitHub.
        assert "OpenCost at 127.0.0.1" in comments("b")[0]
        b_status = github.statuses(github.pulls[numbers["b"]].head_sha)[0]
        assert b_status["state"] == "success" and b_status["description"].startswith("warnings:")
        # The status links to the review in the console.
        b_key = f"{review_workflow_id(target['b'])}@{github.pulls[numbers['b']].head_sha}"
        assert b_status["target_url"].endswith(f"/console/reviews/{quote(b_key, safe='')}")
        never_secret("".join(comments("b")))
        assert state("c") == "failure" and "kube-system" in comments("c")[0]
        # A report longer than GitHub's limit comes in numbered parts, none over it.
        huge = comments("huge")
        assert len(huge) >= 2 and all(len(body) <= GITHUB_COMMENT_LIMIT for body in huge)
        assert f"part 1 of {len(huge)}" in huge[0]

        # A second push to (b): the same comment, edited in place; the status on the new head.
        first = [c["id"] for c in github.comments(numbers["b"])]
        github.open_pull_request_as("dana", "dana/b", cart_scaled(10))
        assert (await deliver(stack, github, numbers["b"], "synchronize")).status_code == 202
        await reviewed(stack, review_workflow_id(target["b"]), github.pulls[numbers["b"]].head_sha)
        assert [c["id"] for c in github.comments(numbers["b"])] == first
        assert re.search(r"^\+\s+replicas: 10$", comments("b")[0], re.M)
