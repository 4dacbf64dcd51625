"""`list_recent_deploys` against the sandbox Argo CD: each Application's latest sync-history entry
within the window is a deploy (single- and multi-source), one outside it or an Application never
synced is none, pages cut the list, and with the deploy watch off nothing is read."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

from activities.deploy.poll import DeployPollActivities
from domain.deploy.model import DeployEvent
from domain.deploy.poll import DeployPollPage, RecentDeploys
from integrations.argocd import ArgoClient
from sandbox.argocd_api import SandboxArgoCD

TOKEN = "poll-token"
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
SINCE = NOW - timedelta(minutes=15)


def at(minutes_ago: int) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def app(name: str, history: list[dict[str, Any]], namespace: str = "argocd") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "project": "shop",
            "source": {"repoURL": "https://git.example/gitops.git"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "shop"},
        },
        "status": {"history": history} if history else {},
    }


APPS = [
    # two syncs in the window: only the latest is a deploy, the earlier its previous revision
    app(
        "cart",
        [
            {"id": 0, "revision": "a" * 40, "deployedAt": at(60)},
            {"id": 1, "revision": "b" * 40, "deployedAt": at(10)},
            {"id": 2, "revision": "c" * 40, "deployedAt": at(2)},
        ],
    ),
    # synced an hour ago: outside the window
    app("ledger", [{"id": 0, "revision": "d" * 40, "deployedAt": at(60)}]),
    # multi-source: named by its first source's revision, as the notification names it
    app(
        "search",
        [
            {"id": 4, "revisions": ["e" * 40, "f" * 40], "deployedAt": at(30)},
            {"id": 5, "revisions": ["1" * 40, "2" * 40], "deployedAt": at(5)},
        ],
        namespace="team-a",
    ),
    # never synced
    app("fresh", []),
]


@pytest.fixture
def client() -> Iterator[ArgoClient]:
    with SandboxArgoCD(APPS, token=TOKEN) as argocd, ArgoClient(argocd.url, TOKEN, timeout=5.0) as argo:
        yield argo


def run(activities: DeployPollActivities, page: DeployPollPage) -> tuple[RecentDeploys, list[Any]]:
    env = ActivityEnvironment()
    beats: list[Any] = []
    env.on_heartbeat = lambda *details: beats.append(details)
    return env.run(activities.list_recent_deploys, page), beats


def test_the_latest_sync_in_the_window_of_each_application_is_a_deploy(client: ArgoClient) -> None:
    result, beats = run(DeployPollActivities(client), DeployPollPage(since=SINCE, delivery="deploy-poll-1"))
    assert result.applications == 4 and result.next_offset is None and not result.watch_off
    assert result.events == [
        DeployEvent(
            application="cart",
            app_namespace="argocd",
            project="shop",
            revision="c" * 40,
            previous_revision="b" * 40,
            synced_at=NOW - timedelta(minutes=2),
            source="poll",
            delivery="deploy-poll-1",
        ),
        DeployEvent(
            application="search",
            app_namespace="team-a",
            project="shop",
            revision="1" * 40,
            previous_revision="e" * 40,
            synced_at=NOW - timedelta(minutes=5),
            source="poll",
            delivery="deploy-poll-1",
        ),
    ]
    assert beats, "the listing heartbeats"


def test_a_wider_window_finds_the_older_deploy_and_pages_cut_the_list(client: ArgoClient) -> None:
    activities = DeployPollActivities(client)
    since = NOW - timedelta(hours=2)
    first, _ = run(activities, DeployPollPage(since=since, limit=2))
    assert [e.application for e in first.events] == ["cart", "ledger"] and first.next_offset == 2
    second, _ = run(activities, DeployPollPage(since=since, offset=2, limit=2))
    assert [e.application for e in second.events] == ["search"] and second.next_offset is None
    ledger = first.events[1]
    assert ledger.revision == "d" * 40 and ledger.previous_revision == ""


def test_nothing_is_listed_with_the_deploy_watch_off(client: ArgoClient) -> None:
    result, _ = run(DeployPollActivities(client, watch_on=False), DeployPollPage(since=SINCE))
    assert result.watch_off and result.events == [] and result.applications == 0


def test_without_argo_cd_the_poll_fails_for_good() -> None:
    from temporalio.exceptions import ApplicationError

    with pytest.raises(ApplicationError, match="no Argo CD is configured") as raised:
        run(DeployPollActivities(None), DeployPollPage(since=SINCE))
    assert raised.value.non_retryable and raised.value.type == "NotConfigured"


def test_a_deploy_to_another_cluster_is_left_to_its_medic() -> None:
    # README "Clusters": each cluster's medic watches the deploys Argo CD makes there
    edge = app("edge-cart", [{"id": 0, "revision": "9" * 40, "deployedAt": at(3)}])
    edge["spec"]["destination"] = {"name": "edge", "namespace": "shop"}
    edges = [{"name": "edge", "server": "https://edge:6443"}]
    with SandboxArgoCD([*APPS, edge], token=TOKEN, clusters=edges) as argocd:
        for cluster, expected in (("", {"cart", "search"}), ("edge", {"edge-cart"})):
            with ArgoClient(argocd.url, TOKEN, timeout=5.0, cluster_name=cluster) as argo:
                result, _ = run(DeployPollActivities(argo), DeployPollPage(since=SINCE, delivery="d"))
            assert {e.application for e in result.events} == expected, cluster
