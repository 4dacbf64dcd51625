"""Argo CD's own alerts and meta alerts end to end on the real Temporal dev server, one stack.

A Watchdog group posted to the gateway ends `no_action` with the reason. An `argocd_app_info`
OutOfSync alert on an Application whose Deployment was scaled by hand — labelled as the Prometheus
Operator scrapes it, with `namespace=argocd` and the Application's own namespace in
`exported_namespace` — becomes a `sync_application` plan for that Application and that Deployment;
once approved, Argo CD (the sandbox's, following a real bare GitOps repository) syncs it, and the
Application is Synced with Git's replica count again.

Real parts: the dev server, the embedded stack's gateway and worker, SQLite, the sandbox
Kubernetes API and Argo CD; the alert payloads are written from the public metric definitions."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from domain.policy.approval import DecisionInput
from domain.steps.remediation import RemediationResult
from integrations.argocd import ArgoClient, application_state
from tests.conftest import wait_for_step
from tests.e2e.test_drift_loop import estate_file
from workflows.remediation import RemediationWorkflow

pytestmark = pytest.mark.e2e

APPS = "apps/v1"
T0 = "2026-11-24T09:00:00Z"


def group(labels: dict[str, str], annotations: dict[str, str], expr: str) -> dict[str, Any]:
    alert = {
        "status": "firing",
        "labels": labels,
        "annotations": annotations,
        "startsAt": T0,
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": f"http://prometheus.example:9090/graph?g0.expr={expr}",
        "fingerprint": uuid.uuid4().hex[:16],
    }
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{labels["alertname"]}"}}:{uuid.uuid4().hex[:8]}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "medic",
        "groupLabels": {"alertname": labels["alertname"]},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": "http://alertmanager.example:9093",
        "alerts": [alert],
    }


async def post(stack: Any, body: dict[str, Any]) -> str:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{stack.gateway_url}/alerts/alertmanager",
            json=body,
            headers={"Authorization": f"Bearer {stack.settings.webhook_token}"},
        )
    assert response.status_code == 202, response.text
    return str(response.json()["workflow_ids"][0])


WATCHDOG = group(
    {"alertname": "Watchdog", "prometheus": "monitoring/k8s", "severity": "none"},
    {"summary": "An alert that should always be firing to certify that Alertmanager is working properly."},
    "vector%281%29",
)

OUT_OF_SYNC = group(
    {
        "alertname": "ArgoCdAppOutOfSync",
        "container": "application-controller",
        "dest_namespace": "shop",
        "dest_server": "https://kubernetes.default.svc",
        "exported_namespace": "argocd",
        "health_status": "Healthy",
        "job": "argocd-metrics",
        "name": "shop-cart",
        "namespace": "argocd",
        "pod": "argocd-application-controller-0",
        "project": "shop",
        "severity": "warning",
        "sync_status": "OutOfSync",
    },
    {"summary": "An ArgoCD Application is Out Of Sync."},
    "argocd_app_info%7Bsync_status%21%3D%22Synced%22%7D",
)


async def test_watchdog_is_no_action_and_a_hand_scaled_application_is_synced_back(
    make_stack: Any, tmp_path: Path, auto_policy_dir: Path
) -> None:
    stack = await make_stack(
        estate_file(tmp_path / "argocd-alerts.yaml", "argocd-alerts"), policy_dir=str(auto_policy_dir)
    )

    # The heartbeat of the alerting pipeline: nothing to fix, nothing changed.
    watchdog = stack.client.get_workflow_handle_for(RemediationWorkflow.run, await post(stack, WATCHDOG))
    quiet: RemediationResult = await asyncio.wait_for(watchdog.result(), timeout=60)
    assert quiet.outcome == "no_action", quiet.reason
    assert "Watchdog is the always-firing heartbeat of the alerting pipeline" in quiet.reason

    # An operator scales by hand, behind Argo CD's back (manual sync, no self-heal).
    stack.cluster.patch(
        APPS, "Deployment", "shop", "cart", {"spec": {"replicas": 5}}, field_manager="kubectl"
    )
    handle = stack.client.get_workflow_handle_for(RemediationWorkflow.run, await post(stack, OUT_OF_SYNC))
    waiting = await wait_for_step(handle, "awaiting_approval", timeout=60)
    diagnosis = waiting.diagnosis
    assert diagnosis is not None and diagnosis.root_cause == "drift", diagnosis
    assert [(a.kind, a.target.key, getattr(a, "application", "")) for a in diagnosis.plan.actions] == [
        ("sync_application", "shop/Deployment/cart", "shop-cart")
    ]
    assert waiting.approvals_required == 1

    await handle.signal(RemediationWorkflow.approve, DecisionInput(approver="sam", decision="approve"))
    result: RemediationResult = await asyncio.wait_for(handle.result(), timeout=120)
    assert result.outcome == "resolved", result.reason

    argocd = ArgoClient(stack.settings.argocd_url, stack.settings.argocd_token)
    try:
        state = application_state(argocd.get_application("shop-cart"))
    finally:
        argocd.close()
    assert state.sync_status == "Synced", state
    assert stack.cluster.peek(APPS, "Deployment", "shop", "cart")["spec"]["replicas"] == 2
