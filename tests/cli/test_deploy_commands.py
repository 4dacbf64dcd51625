"""`medic deploys list | show` over a migrated SQLite store: rows newest first, filters, JSON, one
deploy in full; an unknown watch or an unreadable store is one line and exit 1."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

import cli.main
from store import migrate
from store.db import make_engine, session_factory, transaction
from store.deployments import DeploymentRepository

runner = CliRunner()
SHA = "4f2c9e1b7a3d5c8e9f0a1b2c3d4e5f6a7b8c9d0e"
OLD = "0123456789abcdef0123456789abcdef01234567"
SYNCED = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'medic.db'}"
    migrate.upgrade(url)
    monkeypatch.setenv("MEDIC_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DATABASE_URL", url)
    engine = make_engine(url)
    try:
        with transaction(session_factory(engine)) as session:
            deploys = DeploymentRepository(session)
            deploys.start(
                "deploy/argocd/shop/0123456789ab",
                application="shop",
                revision=OLD,
                project="retail",
                started_at=SYNCED - timedelta(hours=1),
            )
            deploys.finish(
                "deploy/argocd/shop/0123456789ab",
                "verified",
                "no signal worse than its baseline",
                {"error_ratio": {"baseline": 0.001, "after": 0.0012}},
                finished_at=SYNCED - timedelta(minutes=50),
            )
            deploys.start(
                "deploy/argocd/shop/4f2c9e1b7a3d",
                application="shop",
                revision=SHA,
                previous_revision=OLD,
                project="retail",
                started_at=SYNCED,
            )
            deploys.finish(
                "deploy/argocd/shop/4f2c9e1b7a3d",
                "degraded",
                "error ratio 20x its baseline (0.1% → 2%)",
                {"rule": "error_ratio", "baseline": 0.001, "after": 0.02},
                incident_id="incident-deploy-shop.4f2c9e1b",
            )
            deploys.start(
                "deploy/apps/cart/aaaaaaaaaaaa",
                application="cart",
                app_namespace="apps",
                revision="a" * 40,
                source="poll",
                started_at=SYNCED - timedelta(minutes=5),
            )
    finally:
        engine.dispose()
    return url


def test_list_shows_deploys_newest_first(store: str) -> None:
    result = runner.invoke(cli.main.app, ["deploys", "list"])

    assert result.exit_code == 0, result.output
    header, *lines = result.stdout.splitlines()
    assert header.split() == ["STARTED", "APPLICATION", "REVISION", "STATE", "SUMMARY"]
    assert [line.split()[2:5] for line in lines] == [
        ["argocd/shop", SHA[:12], "degraded"],
        ["apps/cart", "a" * 12, "watching"],
        ["argocd/shop", OLD[:12], "verified"],
    ]
    assert lines[0].startswith("2026-12-04 10:00:00") and lines[0].endswith("(0.1% → 2%)")


def test_list_by_application_and_state_as_json(store: str) -> None:
    shop = runner.invoke(cli.main.app, ["deploys", "list", "--app", "shop", "--json"])
    watching = runner.invoke(cli.main.app, ["deploys", "list", "--state", "watching", "--json"])
    none = runner.invoke(cli.main.app, ["deploys", "list", "--app", "nothing"])

    assert shop.exit_code == 0, shop.output
    assert [(d["revision"], d["state"]) for d in json.loads(shop.stdout)] == [
        (SHA, "degraded"),
        (OLD, "verified"),
    ]
    (cart,) = json.loads(watching.stdout)
    assert (cart["application"], cart["source"], cart["finished_at"]) == ("cart", "poll", None)
    assert none.exit_code == 0 and none.stdout.strip() == "no deploys of nothing"


def test_show_prints_one_deploy_with_its_figures(store: str) -> None:
    text = runner.invoke(cli.main.app, ["deploys", "show", "deploy/argocd/shop/4f2c9e1b7a3d"])
    as_json = runner.invoke(cli.main.app, ["deploys", "show", "deploy/argocd/shop/4f2c9e1b7a3d", "--json"])

    assert text.exit_code == 0, text.output
    out = text.stdout
    assert "state     degraded: error ratio 20x its baseline (0.1% → 2%)" in out
    assert f"revision  {SHA} (was {OLD})" in out and "incident  incident-deploy-shop.4f2c9e1b" in out
    assert '"rule": "error_ratio"' in out
    shown = json.loads(as_json.stdout)
    assert shown["figures"] == {"rule": "error_ratio", "baseline": 0.001, "after": 0.02}
    assert shown["app_namespace"] == "argocd" and shown["project"] == "retail"


def test_showing_an_unknown_watch_says_there_is_none(store: str) -> None:
    result = runner.invoke(cli.main.app, ["deploys", "show", "deploy/argocd/shop/ffffffffffff"])
    assert result.exit_code == 1
    assert result.stderr.strip() == "no deploy watch deploy/argocd/shop/ffffffffffff"


@pytest.mark.parametrize("args", [["deploys", "list"], ["deploys", "show", "deploy/argocd/x/abcdef1"]])
def test_a_store_that_cannot_be_read_is_one_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    monkeypatch.setenv("MEDIC_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DATABASE_URL", url)

    result = runner.invoke(cli.main.app, args)

    assert result.exit_code == 1 and "Traceback" not in result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"cannot read the store at {url}: ") and "no such table" in line
