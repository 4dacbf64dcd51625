"""snapshot_resources seals what it stores; restore_snapshots opens it and restores the exact spec.

The activities run against the sandbox API and a migrated SQLite store; the Deployment carries a
literal env value that must never reach the database in plaintext.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from cryptography.fernet import Fernet
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.direct.dry_run import DryRunActivities
from activities.direct.execute import ExecuteActivities
from activities.direct.rollback import RollbackActivities
from activities.direct.snapshot import SnapshotActivities
from activities.direct.verify import VerifyActivities
from cli.embedded import DEFAULT_SCENARIO
from domain.analysis.plan import Plan, SetResources
from domain.incident.model import ResourceRef
from domain.settings import settings_from_mapping
from domain.steps.change import PlanInput, RestoreInput
from integrations.kubernetes import KubeClient
from integrations.sealing import SnapshotSealer
from sandbox.cluster import SandboxCluster
from sandbox.server import SandboxServer
from store.db import make_engine, session_factory, transaction
from store.migrate import upgrade
from store.repositories import IncidentRepository, SnapshotRepository
from workers.main import WorkerConfigError, snapshot_sealer
from workers.main import main as worker_main

SECRET = "hunter2-3f9c1d7e5b2a"
CART = ResourceRef(namespace="shop", kind="Deployment", name="cart")


@dataclass
class Setup:
    cluster: SandboxCluster
    kube: KubeClient
    sessions: Any
    database: Path
    key: bytes

    def activities(self, *keys: bytes) -> SimpleNamespace:
        """The direct path's activities, wired as the worker wires them, with these sealing keys."""
        sealer = SnapshotSealer(list(keys) or [self.key])
        return SimpleNamespace(
            dry_run_plan=DryRunActivities(self.kube, self.sessions).dry_run_plan,
            snapshot_resources=SnapshotActivities(self.kube, self.sessions, sealer).snapshot_resources,
            execute_plan=ExecuteActivities(self.kube, self.sessions).execute_plan,
            check_rollout=VerifyActivities(self.kube).check_rollout,
            restore_snapshots=RollbackActivities(self.kube, self.sessions, sealer).restore_snapshots,
        )

    def live(self) -> dict[str, Any]:
        live = self.cluster.peek("apps/v1", "Deployment", "shop", "cart")
        assert live is not None
        return live

    def raw_snapshots(self) -> list[str]:
        connection = sqlite3.connect(self.database)
        try:
            return [str(row[0]) for row in connection.execute("SELECT content FROM snapshot")]
        finally:
            connection.close()

    def incident(self, incident_id: str) -> str:
        with transaction(self.sessions) as session:
            IncidentRepository(session).upsert(incident_id, title="cart OOMKilled")
        return incident_id


def scenario_with_secret_env(tmp_path: Path) -> Path:
    data = yaml.safe_load(DEFAULT_SCENARIO.read_text())
    deployment = next(o for o in data["cluster"] if o["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "DB_PASSWORD", "value": SECRET},
        {"name": "LOG_LEVEL", "value": "info"},
    ]
    path = tmp_path / "demo-oom-with-env.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    database = tmp_path / "medic.db"
    url = f"sqlite:///{database}"
    upgrade(url)
    engine = make_engine(url)
    cluster = SandboxCluster.from_file(scenario_with_secret_env(tmp_path))
    with SandboxServer(cluster) as server:
        kube = KubeClient.from_settings(server.url)
        try:
            yield Setup(cluster, kube, session_factory(engine), database, Fernet.generate_key())
        finally:
            kube.close()
            engine.dispose()


def raise_memory(incident_id: str) -> PlanInput:
    target = ResourceRef(namespace="shop", kind="Deployment", name="cart", container="cart")
    plan = Plan(actions=[SetResources(target=target, limits={"memory": "256Mi"})])
    return PlanInput(incident_id=incident_id, plan=plan, plan_hash="sha256:test-plan")


def env_of(live: dict[str, Any]) -> list[dict[str, Any]]:
    return list(live["spec"]["template"]["spec"]["containers"][0]["env"])


def test_snapshot_is_sealed_in_the_store_and_restores_the_exact_spec(setup: Setup) -> None:
    activities = setup.activities()
    env = ActivityEnvironment()
    before = setup.live()
    assert {"name": "DB_PASSWORD", "value": SECRET} in env_of(before)
    input = raise_memory(setup.incident("incident-sealed.1"))

    env.run(activities.snapshot_resources, input)

    (raw,) = setup.raw_snapshots()
    assert SECRET not in raw
    assert "DB_PASSWORD" not in raw and "registry.example" not in raw, "nothing of the spec is readable"
    assert json.loads(raw)["sealed"] == "fernet"
    with transaction(setup.sessions) as session:
        (snapshot,) = SnapshotRepository(session).list(input.incident_id)
    opened = SnapshotSealer([setup.key]).open(snapshot.content)
    assert opened["spec"] == before["spec"]

    env.run(activities.execute_plan, input)
    changed = setup.live()
    assert changed["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] == "256Mi"
    assert changed["spec"] != before["spec"]

    result = env.run(
        activities.restore_snapshots, RestoreInput(incident_id=input.incident_id, targets=[CART])
    )

    assert [c.changed for c in result.changes] == [True]
    after = setup.live()
    assert after["spec"] == before["spec"]
    assert {"name": "DB_PASSWORD", "value": SECRET} in env_of(after)
    env.run(activities.restore_snapshots, RestoreInput(incident_id=input.incident_id, targets=[CART]))
    assert setup.live()["spec"] == before["spec"], "a retried restore opens the same snapshot again"
    assert all(SECRET not in raw for raw in setup.raw_snapshots())


def test_a_rotated_key_list_still_restores_an_older_snapshot(setup: Setup) -> None:
    env = ActivityEnvironment()
    before = setup.live()
    input = raise_memory(setup.incident("incident-rotated.1"))
    env.run(setup.activities().snapshot_resources, input)
    env.run(setup.activities().execute_plan, input)

    rotated = setup.activities(Fernet.generate_key(), setup.key)
    env.run(rotated.restore_snapshots, RestoreInput(incident_id=input.incident_id, targets=[CART]))

    assert setup.live()["spec"] == before["spec"]


def test_a_wrong_key_refuses_to_restore_and_changes_nothing(setup: Setup) -> None:
    env = ActivityEnvironment()
    input = raise_memory(setup.incident("incident-wrong-key.1"))
    env.run(setup.activities().snapshot_resources, input)
    env.run(setup.activities().execute_plan, input)
    changed = setup.live()

    with pytest.raises(ApplicationError) as raised:
        env.run(
            setup.activities(Fernet.generate_key()).restore_snapshots,
            RestoreInput(incident_id=input.incident_id, targets=[CART]),
        )

    assert raised.value.type == "SealingError" and raised.value.non_retryable
    assert "cannot be opened with any configured key" in str(raised.value)
    assert setup.live()["spec"] == changed["spec"]


def test_a_legacy_plaintext_snapshot_still_restores(setup: Setup) -> None:
    env = ActivityEnvironment()
    before = setup.live()
    incident_id = setup.incident("incident-legacy.1")
    legacy = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "cart",
            "namespace": "shop",
            "labels": before["metadata"].get("labels", {}),
            "annotations": before["metadata"].get("annotations", {}),
        },
        "spec": before["spec"],
    }
    with transaction(setup.sessions) as session:  # as a row stored before snapshots were sealed
        SnapshotRepository(session).save_if_absent(incident_id, CART.key, legacy)
    input = raise_memory(incident_id)
    env.run(setup.activities().snapshot_resources, input)  # the stored snapshot stands
    env.run(setup.activities().execute_plan, input)

    env.run(setup.activities().restore_snapshots, RestoreInput(incident_id=incident_id, targets=[CART]))

    assert setup.live()["spec"] == before["spec"]


def test_a_worker_without_snapshot_keys_refuses_to_start_and_says_what_to_set() -> None:
    settings = settings_from_mapping({"TEMPORAL_ADDRESS": "127.0.0.1:1"})
    assert settings.snapshot_keys == ""
    with pytest.raises(SystemExit) as refused:  # before connecting to Temporal
        worker_main(settings)
    message = str(refused.value.code)
    assert "set MEDIC_SNAPSHOT_KEYS" in message
    assert "python -c" in message and "Fernet.generate_key()" in message
    with pytest.raises(WorkerConfigError, match="not a Fernet key"):
        snapshot_sealer(settings_from_mapping({"MEDIC_SNAPSHOT_KEYS": "not-a-key"}))


def test_a_worker_seals_with_the_first_configured_key() -> None:
    new, old = Fernet.generate_key(), Fernet.generate_key()
    settings = settings_from_mapping({"MEDIC_SNAPSHOT_KEYS": f"{new.decode()},{old.decode()}"})
    assert new.decode() not in repr(settings)
    sealed = snapshot_sealer(settings).seal({"spec": {"replicas": 1}})
    assert SnapshotSealer([new]).open(sealed) == {"spec": {"replicas": 1}}
