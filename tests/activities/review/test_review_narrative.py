"""`review_change` with a model configured: the stored review carries the model's narrative, shown
after the verdict; a model that fails never fails the review nor changes its verdict. Real git (a
bare remote with two commits of plain manifests, rendered locally), a migrated SQLite store and the
real `anthropic` client against a loopback fake."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml
from pytest_httpserver import HTTPServer
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import ActivityEnvironment

from activities.review.steps import ChangeReviewActivities
from domain.review.render import NARRATIVE_HEADING
from domain.steps.review import AffectedApplications, ReviewOutcome, ReviewTarget
from integrations.git import GitRepo
from integrations.llm.anthropic_analyzer import AnthropicAnalyzer
from integrations.llm.narrative import NARRATIVE_TOOL_NAME, Narrator
from integrations.pull_requests import LocalPullRequestHost
from sandbox.gitops import seed_bare_repo
from store.db import make_engine, session_factory, transaction
from store.migrate import upgrade
from store.pull_requests import StorePullRequestRecords
from store.reviews import ChangeReviewRepository, report_of
from tests.domain.review_manifests import Manifest, changed, container, deployment
from tests.integrations.llm.payloads import anthropic_error, anthropic_tool_use

NARRATIVE = "checkout moves to a Recreate rollout with one replica: it goes down on every deploy."


@dataclass
class World:
    repo: GitRepo
    sessions: sessionmaker[Session]
    affected: AffectedApplications


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    tmp = tmp_path_factory.mktemp("review-narrative")
    before = deployment(replicas=3)

    def edit(d: Manifest) -> None:
        d["spec"]["replicas"] = 1
        d["spec"]["strategy"] = {"type": "Recreate"}
        container(d)["image"] = "registry.example.com/shop/checkout:latest"

    remote = tmp / "gitops.git"
    base = seed_bare_repo(remote, {"shop/checkout.yaml": yaml.safe_dump(before)})
    head = seed_bare_repo(remote, {"shop/checkout.yaml": yaml.safe_dump(changed(before, edit))})
    url = f"sqlite:///{tmp / 'medic.db'}"
    upgrade(url)
    target = ReviewTarget(host="local", repository=str(remote), head_ref="main", head_sha=head)
    return World(
        GitRepo(str(remote), tmp / "work"),
        session_factory(make_engine(url)),
        AffectedApplications(target=target, base_sha=base),
    )


@pytest.fixture
def model(httpserver: HTTPServer) -> Iterator[AnthropicAnalyzer]:
    analyzer = AnthropicAnalyzer.from_settings(
        api_key="sk-ant-test", model="claude-test", base_url=httpserver.url_for(""), timeout=1.0
    )
    try:
        yield analyzer
    finally:
        analyzer.close()


def _review(world: World, narrator: Narrator | None) -> tuple[ReviewOutcome, dict[str, Any]]:
    activities = ChangeReviewActivities(
        world.repo,
        LocalPullRequestHost(world.repo, StorePullRequestRecords(world.sessions)),
        None,
        world.sessions,
        narrator=narrator,
    )
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_id=f"review/test-{uuid.uuid4().hex[:8]}")
    outcome: ReviewOutcome = env.run(activities.review_change, world.affected)
    with transaction(world.sessions) as session:
        row = ChangeReviewRepository(session).get(outcome.review_key)
        assert row is not None
        return outcome, report_of(row)


def _same_verdict(a: ReviewOutcome, b: ReviewOutcome) -> bool:
    keep = ("risk", "decision", "monthly_delta_usd", "objects_changed", "summary")
    return all(getattr(a, name) == getattr(b, name) for name in keep)


def test_review_with_a_model_carries_its_narrative_after_the_verdict(
    world: World, httpserver: HTTPServer, model: AnthropicAnalyzer
) -> None:
    httpserver.expect_oneshot_request("/v1/messages", method="POST").respond_with_json(
        anthropic_tool_use({"narrative": NARRATIVE}, name=NARRATIVE_TOOL_NAME)
    )
    plain, plain_report = _review(world, None)

    outcome, report = _review(world, Narrator(model))

    assert _same_verdict(outcome, plain) and report["policy"] == plain_report["policy"]
    assert report["findings"] == plain_report["findings"]
    assert report["narrative"] == NARRATIVE
    [comment] = report["comment"]
    assert comment.index("**Policy:**") < comment.index(NARRATIVE_HEADING) < comment.index(NARRATIVE)
    # without a model: no narrative and no line about one
    assert plain_report["narrative"] == "" and plain_report["narrative_unavailable"] == ""
    assert "narrative" not in plain_report["comment"][0].lower()


def test_failing_model_never_fails_the_review_and_the_comment_says_why(
    world: World, httpserver: HTTPServer, model: AnthropicAnalyzer
) -> None:
    httpserver.expect_oneshot_request("/v1/messages", method="POST").respond_with_json(
        anthropic_error("api_error", "Internal server error"), status=500
    )
    plain, _ = _review(world, None)

    outcome, report = _review(world, Narrator(model))

    assert _same_verdict(outcome, plain)
    assert report["narrative"] == "" and "anthropic is unavailable" in report["narrative_unavailable"]
    [comment] = report["comment"]
    assert f"\nnarrative unavailable: {report['narrative_unavailable']}\n" in comment
    assert NARRATIVE_HEADING not in comment
