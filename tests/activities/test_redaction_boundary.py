"""The cluster-read path's redaction boundary: every activity that reads the cluster returns a
redacted result, and the direct dry-run's diff of a pod template with planted secrets reaches
neither its result (the workflow history) nor the action row."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.testing import ActivityEnvironment

from activities.direct.dry_run import DryRunActivities
from activities.drift.scan import DriftActivities
from activities.gitops.argocd import ApplicationSyncActivities
from activities.observe import ObserveActivities
from activities.redaction import redacts_at_boundary, redacts_result
from activities.sync import ArgoSyncActivities
from cli.embedded import DEFAULT_SCENARIO
from domain.analysis.plan import Plan, Restart, SetResources
from domain.incident.model import ResourceRef
from domain.kube.observation import Observation
from domain.steps.change import PlanInput
from integrations.kubernetes import KubeClient
from sandbox.cluster import SandboxCluster
from sandbox.server import SandboxServer
from store.db import make_engine, session_factory, transaction
from store.migrate import upgrade
from store.repositories import IncidentRepository

AWS_KEY = "AKIAZ3MEDICBOUNDARY1"
VAULT = "hvs.CAESIBoundaryVaultTokenMedic0123456789"
PG_PASSWORD = "PgBoundaryPass55"
BASIC_PASSWORD = "BasicBoundaryPass55"
SECRETS = (AWS_KEY, VAULT, PG_PASSWORD, BASIC_PASSWORD)

CLUSTER_READS: list[Callable[..., Any]] = [
    ObserveActivities.observe_incident,
    DryRunActivities.dry_run_plan,
    ArgoSyncActivities.dry_run_sync,
    ArgoSyncActivities.sync_resources,
    ArgoSyncActivities.check_sync,
    ApplicationSyncActivities.sync_applications,
    ApplicationSyncActivities.check_applications,
    DriftActivities.scan_drift_page,
    DriftActivities.scan_unmanaged_manifests,
]


@pytest.mark.parametrize("activity", CLUSTER_READS, ids=lambda a: a.__name__)
def test_every_cluster_reading_activity_returns_through_the_redaction_boundary(
    activity: Callable[..., Any],
) -> None:
    assert redacts_at_boundary(activity), f"{activity.__qualname__} is not decorated with @redacts_result"


def test_a_result_the_activity_forgot_to_redact_leaves_redacted() -> None:
    @redacts_result
    def forgetful() -> Observation:
        return Observation(incident_id="i-1", notes=[f"read {AWS_KEY}"])

    assert AWS_KEY not in forgetful().model_dump_json()


@pytest.fixture
def planted(tmp_path: Path) -> Iterator[tuple[KubeClient, Any, Path]]:
    data = yaml.safe_load(DEFAULT_SCENARIO.read_text())
    deployment = next(o for o in data["cluster"] if o["kind"] == "Deployment")
    deployment["spec"]["template"]["metadata"]["annotations"] = {
        "example.com/aws": AWS_KEY,
        "example.com/vault": VAULT,
        "example.com/db": f"postgresql://cart:{PG_PASSWORD}@db.shop:5432/cart",
        "example.com/mirror": f"https://mirror:{BASIC_PASSWORD}@mirror.example.com/simple",
    }
    path = tmp_path / "planted.yaml"
    path.write_text(yaml.safe_dump(data))
    database = tmp_path / "medic.db"
    url = f"sqlite:///{database}"
    upgrade(url)
    engine = make_engine(url)
    with SandboxServer(SandboxCluster.from_file(path)) as server:
        kube = KubeClient.from_settings(server.url)
        try:
            yield kube, session_factory(engine), database
        finally:
            kube.close()
            engine.dispose()


def test_dry_run_diff_of_template_annotations_leaves_no_secret_in_result_or_action_row(
    planted: tuple[KubeClient, Any, Path],
) -> None:
    kube, sessions, database = planted
    with transaction(sessions) as session:
        IncidentRepository(session).upsert("incident-boundary.1", title="cart OOMKilled")
    workload = ResourceRef(namespace="shop", kind="Deployment", name="cart")
    container = workload.model_copy(update={"container": "cart"})
    plan = Plan(
        actions=[SetResources(target=container, limits={"memory": "256Mi"}), Restart(target=workload)]
    )
    input = PlanInput(incident_id="incident-boundary.1", plan=plan, plan_hash="sha256:boundary")

    result = ActivityEnvironment().run(DryRunActivities(kube, sessions).dry_run_plan, input)

    assert result.ok, result.problems
    shown = result.model_dump_json()
    assert "template.annotations" in shown  # the restart touches the template: its annotations show
    assert not [s for s in SECRETS if s in shown]
    connection = sqlite3.connect(database)
    try:
        rows = "\n".join(str(row) for row in connection.execute("SELECT detail FROM action"))
    finally:
        connection.close()
    assert "template.annotations" in rows
    assert not [s for s in SECRETS if s in rows]
