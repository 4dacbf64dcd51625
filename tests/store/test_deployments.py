"""The deployment table and its repository (SQLite + PostgreSQL): one row per watch, started once
whoever starts it, finished with a verdict, listed newest first, redacted on the way in."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from store.deployments import DeploymentRepository, figures_of

PG_URL = "postgresql://shop:PgUrlPass55@db.shop:5432/shop"


def _app() -> str:
    # The PostgreSQL database is shared by the run: every test makes names of its own.
    return f"shop-{uuid.uuid4().hex[:8]}"


def _watch_id(app: str, revision: str) -> str:
    return f"deploy/argocd/{app}/{revision[:12]}"


def test_a_deploy_is_started_once_and_a_second_start_changes_nothing(session: Session) -> None:
    deploys = DeploymentRepository(session)
    app = _app()
    watch_id = _watch_id(app, "a" * 40)
    synced = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)

    first = deploys.start(
        watch_id,
        application=app,
        revision="a" * 40,
        previous_revision="b" * 40,
        project="shop",
        started_at=synced,
    )
    again = deploys.start(watch_id, application=app, revision="a" * 40, source="poll")

    assert (first.state, first.source, first.app_namespace, first.finished_at) == (
        "watching",
        "notification",
        "argocd",
        None,
    )
    assert again.started_at == synced and again.source == "notification" and again.project == "shop"
    assert again.previous_revision == "b" * 40 and figures_of(again) == {} and again.summary == ""


def test_a_finished_watch_keeps_its_verdict_when_started_again(session: Session) -> None:
    deploys = DeploymentRepository(session)
    app = _app()
    watch_id = _watch_id(app, "c" * 40)
    deploys.start(watch_id, application=app, revision="c" * 40)
    figures = {"rule": "error_ratio", "baseline": 0.001, "after": 0.02}

    finished = deploys.finish(
        watch_id, "degraded", "error ratio 20x baseline", figures, incident_id="incident-deploy-x"
    )
    deploys.start(watch_id, application=app, revision="c" * 40)
    row = deploys.get(watch_id)

    assert finished is not None and row is not None
    assert (row.state, row.summary, row.incident_id) == (
        "degraded",
        "error ratio 20x baseline",
        "incident-deploy-x",
    )
    assert figures_of(row) == figures and row.finished_at is not None


def test_finishing_takes_only_verdicts_and_an_unknown_watch_is_none(session: Session) -> None:
    deploys = DeploymentRepository(session)
    with pytest.raises(ValueError, match="not a deploy verdict: 'watching'"):
        deploys.finish("deploy/argocd/x/abc", "watching", "", {})
    assert deploys.finish(f"deploy/argocd/{_app()}/abcdef1", "verified", "fine", {}) is None
    with pytest.raises(TypeError, match="not a deployment field: colour"):
        deploys.start("deploy/argocd/x/abc", application="x", revision="abcdef1", colour="red")
    with pytest.raises(TypeError, match="a deployment needs revision"):
        deploys.start("deploy/argocd/x/abc", application="x", revision="")


def test_list_filters_by_application_and_state_newest_first(session: Session) -> None:
    deploys = DeploymentRepository(session)
    shop, cart = _app(), _app()
    base = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    for i, (app, revision) in enumerate([(shop, "1" * 40), (cart, "2" * 40), (shop, "3" * 40)]):
        deploys.start(
            _watch_id(app, revision),
            application=app,
            revision=revision,
            started_at=base + timedelta(minutes=i),
        )
    deploys.finish(_watch_id(shop, "1" * 40), "superseded", "a newer revision was deployed", {})

    assert [d.revision for d in deploys.list(application=shop)] == ["3" * 40, "1" * 40]
    assert [d.revision for d in deploys.list(application=shop, state="watching")] == ["3" * 40]
    assert [d.application for d in deploys.list(application=cart)] == [cart]
    assert len(deploys.list(application=shop, limit=1)) == 1


def test_summary_and_figures_are_redacted_on_the_way_in(session: Session) -> None:
    deploys = DeploymentRepository(session)
    app = _app()
    watch_id = _watch_id(app, "d" * 40)
    deploys.start(watch_id, application=app, revision="d" * 40)

    row = deploys.finish(
        watch_id,
        "inconclusive",
        f"no traffic; DATABASE_URL={PG_URL}",
        {"labels": {"dsn": PG_URL}, "rps": 0.0},
    )

    assert row is not None
    assert "PgUrlPass55" not in row.summary and "PgUrlPass55" not in row.figures
    assert figures_of(row)["rps"] == 0.0


def test_what_the_plan_chose_stays_under_the_verdicts_figures(session: Session) -> None:
    deploys = DeploymentRepository(session)
    app = _app()
    watch_id = _watch_id(app, "e" * 40)
    deploys.start(watch_id, application=app, revision="e" * 40)
    watch = {"selection": "changed", "changed": {"shop/Deployment/cart": ["its manifest changed"]}}

    assert deploys.planned(watch_id, {"watch": watch}) is not None
    deploys.finish(watch_id, "verified", "fine", {"workloads": ["shop/Deployment/cart"]})
    row = deploys.get(watch_id)

    assert row is not None
    assert figures_of(row) == {"watch": watch, "workloads": ["shop/Deployment/cart"]}
    assert deploys.planned(watch_id, {"watch": {}}) is None, "a finished watch keeps its plan"
    assert deploys.planned(_watch_id(app, "f" * 40), {"watch": watch}) is None
