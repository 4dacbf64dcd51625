"""Ownership fails closed, on the real Temporal dev server with the sandbox cluster and Argo CD: a
workload whose Argo CD tracking cannot be confirmed is never patched; the incident ends
`needs_review` with the reason."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.scenario import SHARED_SCENARIOS
from tests.e2e.test_remediation_loop import audit_steps, deployment, post_alert
from workflows.remediation import RemediationWorkflow

pytestmark = pytest.mark.e2e


def labelled_for(tmp_path: Path, application: str) -> Path:
    """saturation-direct-scale with query-api (deployed by CI, listed by no Application) carrying
    the instance label of Argo CD Application `application`."""
    source = SHARED_SCENARIOS / "saturation-direct-scale.yaml"
    if not source.exists():
        pytest.fail(f"shared scenario {source} is missing")
    data = yaml.safe_load(source.read_text())
    for obj in data["cluster"]:
        if obj["kind"] == "Deployment" and obj["metadata"]["name"] == "query-api":
            obj["metadata"]["labels"]["app.kubernetes.io/instance"] = application
    path = tmp_path / "saturation-labelled.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


async def assert_needs_review_without_a_write(stack: Any, scenario: Path, *reasons: str) -> None:
    before = deployment(stack, "search", "query-api")
    workflow_id = await post_alert(stack, scenario)
    handle = stack.client.get_workflow_handle_for(RemediationWorkflow.run, workflow_id)
    result = await asyncio.wait_for(handle.result(), 90)

    assert result.outcome == "needs_review", result.reason
    assert "\n" not in result.reason
    for reason in reasons:
        assert reason in result.reason, result.reason
    assert deployment(stack, "search", "query-api")["spec"] == before["spec"]
    assert stack.cluster.field_managers("apps/v1", "Deployment", "search", "query-api") == []
    steps = {s for s, _, _ in audit_steps(stack, result.incident_id)}
    assert not {"awaiting_approval", "dry_run", "snapshot", "executing"} & steps


async def test_a_label_naming_an_application_that_does_not_list_the_workload_ends_in_review(
    make_stack: Any, tmp_path: Path
) -> None:
    scenario = labelled_for(tmp_path, "search-indexer")
    stack = await make_stack(scenario)
    await assert_needs_review_without_a_write(
        stack,
        scenario,
        "policy denied the plan: action 0 (scale on search/Deployment/query-api): Argo CD owner "
        "uncertain: instance label names Application search-indexer, which does not list it (status or "
        "managed-resources)",
    )


async def test_argo_cd_unreachable_for_a_tracked_workload_ends_in_review(
    make_stack: Any, tmp_path: Path
) -> None:
    scenario = labelled_for(tmp_path, "search-indexer")
    stack = await make_stack(scenario)
    assert stack.argocd is not None
    stack.argocd.fail_next(503, times=1000)
    await assert_needs_review_without_a_write(
        stack,
        scenario,
        "Argo CD owner uncertain: instance label names Application search-indexer, which Argo CD could "
        "not read",
    )
