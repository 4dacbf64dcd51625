"""`medic demo` without arguments: a direct incident, then one on a Deployment Argo CD manages whose
fix is a pull request in the local GitOps remote — its diff printed, merged, synced, resolved —
then a person's branch of the same remote reviewed by the worker's change review."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from cli.demo import run_demo
from cli.devserver import DevServer, free_port
from domain.settings import Settings

pytestmark = pytest.mark.e2e


def test_demo_resolves_a_direct_and_a_gitops_incident(
    dev_server: DevServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(
        home=str(tmp_path / ".medic"),
        temporal_address=dev_server.address,
        task_queue=f"demo-{uuid.uuid4()}",
        verify_interval_seconds=1,
    )

    code = run_demo(settings, None, gateway_port=free_port(), interactive=False, keep=False)

    out = capsys.readouterr().out
    assert code == 0, out
    assert "Incident 1 of 2: cart" in out and "Incident 2 of 2: ledger" in out
    assert re.findall(r"3\. Outcome: (\w+)", out) == ["resolved", "resolved"]
    # The direct incident is patched; the GitOps one is a pull request in the local remote.
    direct, gitops = out.split("━━ Incident 1 of 2")[1].split("━━ Incident 2 of 2")
    gitops, review = gitops.split("━━ A change review")
    assert "▸ execute" in direct and "▸ pull request" not in direct
    assert "▸ execute" not in gitops and "▸ dry-run" not in gitops
    assert re.search(r"\$ git diff main\.\.\.medic/incident-alert-\S+", gitops)
    assert "-    memory: 256Mi" in gitops and "+    memory: 512Mi" in gitops
    assert "$ medic pr merge 1 --as demo-operator" in gitops
    assert "Argo CD synced the merge (payments-ledger Healthy)" in gitops
    assert "written by: argocd-controller (medic changed Git; Argo CD changed the cluster)" in gitops
    assert "Merge pull request #1 from medic/" in gitops
    # dana's branch (image 2.9.0, replicas 2 → 6), reviewed: the verdict with its cost, and the
    # comment's rendered diff of the Deployment Argo CD would apply.
    assert "values/ledger-values.yaml | 4 ++--" in review
    assert re.search(r"reviewed in [\d.]+ s: risk low, policy allow: .* \+\$25\.40/month", review)
    assert re.search(r"commit status medic/review on \w+: success", review)
    assert "+        image: registry.example/payments/ledger:2.9.0" in review
