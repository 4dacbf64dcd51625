"""The sandbox Argo CD on a deploy: one Argo CD Notifications webhook per new revision (to a
loopback receiver), a lost one dropped without holding the sync, and the sync time recorded for the
sandbox Prometheus, which then answers the workload's "after" figures."""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer

from integrations.prometheus import PrometheusClient, signal_queries, workload_signals
from sandbox.argocd_api import SandboxArgoCD
from sandbox.argocd_sync import DeployClock
from sandbox.cluster import SandboxCluster
from sandbox.gitops import seed_bare_repo
from sandbox.prometheus_api import SandboxPrometheus
from sandbox.scenario import DeploySignals, Scenario, SignalValues, load_named
from tests.sandbox.test_argocd_sync import commit_files, edited

TOKEN = "argo-token"
NOTIFY_TOKEN = "notify-token"
DEPLOYMENT = "manifests/shop/checkout/deployment.yaml"


@dataclass
class Deploys:
    scenario: Scenario
    repo: Path
    seed: str
    argo: SandboxArgoCD
    http: httpx.Client
    app: str

    def sync(self) -> dict[str, Any]:
        """Refresh, sync, and read until the operation has run; the Application."""
        self.http.get(f"/api/v1/applications/{self.app}", params={"refresh": "normal"}).raise_for_status()
        self.http.post(f"/api/v1/applications/{self.app}/sync", json={"prune": False}).raise_for_status()
        app = self.http.get(f"/api/v1/applications/{self.app}").json()
        assert app["status"]["operationState"]["phase"] == "Succeeded", app["status"]["operationState"]
        return dict(app)


def start_argo(tmp_path: Path, notify_url: str, clock: DeployClock | None = None) -> Iterator[Deploys]:
    scenario = load_named("crashloop-bad-release")
    apps = copy.deepcopy(scenario.argocd)
    for app in apps:  # manual: syncs happen when the test asks
        app["spec"]["syncPolicy"].pop("automated", None)
    repo = tmp_path / "gitops.git"
    seed = seed_bare_repo(repo, scenario.gitops)
    argo = SandboxArgoCD(
        apps,
        token=TOKEN,
        cluster=SandboxCluster(scenario),
        repo=repo,
        notify_url=notify_url,
        notify_token=NOTIFY_TOKEN,
        deploy_clock=clock,
    )
    with argo, httpx.Client(base_url=argo.url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        yield Deploys(scenario, repo, seed, argo, http, str(apps[0]["metadata"]["name"]))


@pytest.fixture
def deploys(tmp_path: Path, httpserver: HTTPServer) -> Iterator[Deploys]:
    httpserver.expect_request(
        "/webhooks/argocd", method="POST", headers={"Authorization": f"Bearer {NOTIFY_TOKEN}"}
    ).respond_with_json({"accepted": True}, status=202)
    yield from start_argo(tmp_path, httpserver.url_for("/webhooks/argocd"))


def posted(httpserver: HTTPServer, count: int) -> list[dict[str, Any]]:
    """The bodies received once there are `count` (polled with a deadline)."""
    deadline = time.monotonic() + 5
    while len(httpserver.log) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return [json.loads(request.get_data()) for request, _ in httpserver.log]


def test_a_sync_to_a_new_revision_posts_one_notification(deploys: Deploys, httpserver: HTTPServer) -> None:
    change = edited(deploys.scenario, DEPLOYMENT, "checkout:1.14.0", "checkout:1.13.2")
    first = commit_files(deploys.repo, change)
    app = deploys.sync()
    (body,) = posted(httpserver, 1)
    assert body == {
        "application": deploys.app,
        "namespace": app["metadata"].get("namespace", "argocd"),
        "project": app["spec"]["project"],
        "revision": first,
        "previousRevision": deploys.seed,  # the deploy the sandbox started with
        "syncedAt": body["syncedAt"],
        "phase": "Succeeded",
        "health": app["status"]["health"]["status"],
    }
    assert body["syncedAt"].endswith("Z")

    deploys.sync()  # the same revision again: no new deploy
    change = edited(deploys.scenario, DEPLOYMENT, "checkout:1.14.0", "checkout:1.13.1")
    second = commit_files(deploys.repo, change)
    deploys.sync()
    # Notifications go out in order from one thread: one for the repeated sync would come second.
    bodies = posted(httpserver, 2)
    assert [(b["revision"], b["previousRevision"]) for b in bodies] == [
        (first, deploys.seed),
        (second, first),
    ]


def test_a_lost_notification_is_logged_and_the_sync_goes_on(
    tmp_path: Path, httpserver: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    httpserver.expect_request("/webhooks/argocd").respond_with_data("down", status=503)
    caplog.set_level(logging.WARNING, logger="sandbox.argocd_sync")
    for deploys in start_argo(tmp_path, httpserver.url_for("/webhooks/argocd")):
        commit_files(deploys.repo, edited(deploys.scenario, DEPLOYMENT, "checkout:1.14.0", "checkout:1.13.2"))
        deploys.sync()
        posted(httpserver, 1)
        deploys.argo.stop()  # drains the notifier
    assert any("refused: HTTP 503" in r.getMessage() for r in caplog.records)


def test_a_sync_records_its_time_and_prometheus_answers_after_it(tmp_path: Path) -> None:
    clock = DeployClock()
    before = SignalValues(
        request_rate=50, error_ratio=0.001, p99_ms=120, restarts=0, ready_ratio=1, oom_kills=0
    )
    after = SignalValues(
        request_rate=50, error_ratio=0.01, p99_ms=120, restarts=4, ready_ratio=0.5, oom_kills=0
    )
    signals = {"shop/checkout": DeploySignals(before=before, after=after)}
    with (
        SandboxPrometheus(
            {}, deploy_signals=signals, signal_queries=signal_queries, clock=clock
        ) as prometheus,
        PrometheusClient(prometheus.url, timeout=2.0) as client,
    ):
        for deploys in start_argo(tmp_path, "", clock):
            assert clock.synced_at("shop", "checkout") is None
            commit_files(
                deploys.repo, edited(deploys.scenario, DEPLOYMENT, "checkout:1.14.0", "checkout:1.13.2")
            )
            deploys.sync()
        synced = clock.synced_at("shop", "checkout")
        assert synced is not None and abs(synced - time.time()) < 60
        baseline = workload_signals(client, "shop", "Deployment", "checkout", synced - 600, synced)
        watched = workload_signals(client, "shop", "Deployment", "checkout", synced + 1, synced + 601)
    assert baseline == pytest.approx(before.model_dump())
    assert watched == pytest.approx(after.model_dump())


def test_a_sync_that_puts_the_workload_back_serves_the_values_from_before_again(tmp_path: Path) -> None:
    clock = DeployClock()
    before = SignalValues(request_rate=50, error_ratio=0.001, p99_ms=120)
    after = SignalValues(request_rate=50, error_ratio=0.05, p99_ms=120)
    signals = {"shop/checkout": DeploySignals(before=before, after=after)}
    with (
        SandboxPrometheus(
            {}, deploy_signals=signals, signal_queries=signal_queries, clock=clock
        ) as prometheus,
        PrometheusClient(prometheus.url, timeout=2.0) as client,
    ):
        for deploys in start_argo(tmp_path, "", clock):
            bad = edited(deploys.scenario, DEPLOYMENT, "checkout:1.14.0", "checkout:1.15.0")
            commit_files(deploys.repo, bad)
            deploys.sync()
            deployed = clock.synced_at("shop", "checkout")
            assert deployed is not None
            # the revert: the manifest as it was (a new commit, the same pod template)
            commit_files(deploys.repo, {DEPLOYMENT: deploys.scenario.gitops[DEPLOYMENT] + "# reverted\n"})
            deploys.sync()
            reverted = clock.synced_at("shop", "checkout")
        assert reverted is not None and reverted > deployed

        def ratio(at: float) -> float | None:
            return prometheus.signal_value("shop/checkout", "error_ratio", at)

        assert ratio(deployed) == pytest.approx(0.001)
        assert ratio(reverted) == pytest.approx(0.05)  # between the deploy and its revert
        assert ratio(reverted + 0.001) == pytest.approx(0.001)
        # the revert's own watch: its baseline is the bad deploy, its window the values from before
        assert workload_signals(client, "shop", "Deployment", "checkout", reverted + 1, reverted + 61)[
            "error_ratio"
        ] == pytest.approx(0.001)
