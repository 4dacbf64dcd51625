"""Drift end to end on the real Temporal dev server: a live `kubectl scale` of an Argo CD-managed
Deployment is found by a scan, becomes exactly one incident (a second scan adds to it), and its
approved plan has Argo CD sync it back to Git, verified by Argo CD reporting it Synced again.

Real parts: the dev server, the worker and gateway of the embedded stack, SQLite, a bare GitOps
repository the sandbox Argo CD follows, and the sandbox Kubernetes API; Argo CD's controller (the
sandbox's) is the only writer of the Deployment besides the `kubectl scale`."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from domain.drift.model import DriftScanInput, DriftScanResult, DriftScope
from domain.policy.approval import DecisionInput
from domain.steps.remediation import RemediationResult
from integrations.argocd import ArgoClient, application_state
from policies import POLICY_DIR
from store.db import make_engine, session_factory
from store.drift import DriftRepository
from store.repositories import AuditRepository
from tests.activities.drift.test_scan import scenario as drift_estate
from tests.conftest import keep_history, wait_for_step
from workflows.drift import DriftScanWorkflow
from workflows.remediation import RemediationWorkflow

pytestmark = pytest.mark.e2e

APPS = "apps/v1"


def sync_replicas_policy(directory: Path) -> Path:
    """The packaged policy, with one drift rule: replicas of Deployments in `shop` are synced back,
    and anyone allowed to approve (the shipped data names the group sre; this test approves by a
    signal, whose groups are never believed)."""
    shutil.copytree(POLICY_DIR, directory, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    data_file = directory / "data.json"
    data = json.loads(data_file.read_text())
    data["medic"]["config"]["drift_rules"] = [
        {"namespaces": ["shop"], "kinds": ["Deployment"], "fields": ["/spec/replicas"], "action": "sync"}
    ]
    data["medic"]["config"]["approvers"] = [{"principals": ["*"], "namespaces": ["*"], "max_risk": "high"}]
    data_file.write_text(json.dumps(data))
    return directory


def estate_file(path: Path, name: str = "drift-replicas") -> Path:
    """The drift scan's estate of three in-sync Argo CD Applications, as a scenario file."""
    world = drift_estate()
    document = {
        "name": name,
        "summary": "three Argo CD Applications in sync; a test scales one of them by hand",
        "alert": {},
        "cluster": world.cluster,
        "argocd": world.argocd,
        "gitops": world.gitops,
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


async def scan(stack: Any, scope: str = "all") -> DriftScanResult:
    result: DriftScanResult = await stack.client.execute_workflow(
        DriftScanWorkflow.run,
        DriftScanInput(scope=DriftScope.parse(scope)),
        id=f"drift-scan-e2e-{uuid.uuid4().hex[:8]}",
        task_queue=stack.settings.task_queue,
    )
    return result


def live_replicas(stack: Any, namespace: str, name: str) -> int:
    obj = stack.cluster.peek(APPS, "Deployment", namespace, name)
    return int(obj["spec"]["replicas"])


async def test_a_scaled_deployment_is_one_incident_synced_back_after_approval(
    make_stack: Any, tmp_path: Path
) -> None:
    stack = await make_stack(
        estate_file(tmp_path / "drift-replicas.yaml"),
        policy_dir=str(sync_replicas_policy(tmp_path / "policy")),
        incident_cooldown_seconds=3600,
    )
    clean = await scan(stack)
    assert (clean.apps_scanned, clean.drifted_apps, clean.errors) == (3, 0, []), clean

    # An operator scales by hand, behind Argo CD's back (no self-heal on these Applications).
    stack.cluster.patch(
        APPS, "Deployment", "shop", "cart", {"spec": {"replicas": 5}}, field_manager="kubectl"
    )
    first = await scan(stack)
    assert first.drifted_apps == 1, first
    assert first.incidents == {"argocd/shop-cart": "drift.argocd.shop-cart"}
    handle = stack.client.get_workflow_handle_for(RemediationWorkflow.run, "drift.argocd.shop-cart")
    waiting = await wait_for_step(handle, "awaiting_approval", timeout=60)
    assert waiting.diagnosis is not None and waiting.diagnosis.root_cause == "drift"
    assert [a.kind for a in waiting.diagnosis.plan.actions] == ["sync_application"]
    assert waiting.approvals_required == 1
    run_id = (await handle.describe()).run_id

    # A second scan while the incident waits adds to it: no second incident.
    second = await scan(stack)
    assert second.incidents == first.incidents
    assert (await handle.describe()).run_id == run_id

    await handle.signal(RemediationWorkflow.approve, DecisionInput(approver="sam", decision="approve"))
    await wait_for_step(handle, "closed", timeout=90)
    status = await handle.query(RemediationWorkflow.status)
    assert status.outcome == "resolved", status.reason

    # Argo CD reports the Application Synced again, and the live object is Git's.
    argocd = ArgoClient(stack.settings.argocd_url, stack.settings.argocd_token)
    try:
        state = application_state(argocd.get_application("shop-cart"))
    finally:
        argocd.close()
    assert state.sync_status == "Synced", state
    assert live_replicas(stack, "shop", "cart") == 2
    after = await scan(stack)
    assert after.drifted_apps == 0, after

    sessions = session_factory(make_engine(stack.settings.resolved_database_url))
    with sessions() as session:
        steps = [(e.step, e.status) for e in AuditRepository(session).list(incident_id=status.incident_id)]
        report = DriftRepository(session).report(scan_id=first.scan_id)
    assert ("drift_observed", "completed") in steps, "the second scan is on the incident's record"
    assert ("syncing", "completed") in steps and ("verifying", "passed") in steps
    assert report is not None and [f.resource.key for f in report.findings] == ["shop/Deployment/cart"]
    assert report.findings[0].incident_id == "drift.argocd.shop-cart"
    assert [f.path for f in report.findings[0].resource.fields] == ["/spec/replicas"]

    result: RemediationResult = await asyncio.wait_for(handle.result(), timeout=30)
    assert result.outcome == "resolved"
    await keep_history(handle, "remediation-drift-resolved")
    await keep_history(stack.client.get_workflow_handle(first.scan_id), "drift-scan-opened-incident")
    await keep_history(stack.client.get_workflow_handle(second.scan_id), "drift-scan-signalled-incident")
