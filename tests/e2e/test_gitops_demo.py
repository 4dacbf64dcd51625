"""`medic demo` without arguments: a direct incident, then one on a Deployment Argo CD manages whose
fix is a pull request in the local GitOps remote — its diff printed, merged, synced, resolved —
then a person's branch of the same remote reviewed by the worker's change review, then a bad
deploy of store-checkout found degraded by its watch and reverted."""

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
    assert re.findall(r"\d\. Outcome: (\w+)", out) == ["resolved", "resolved", "resolved"]
    # The direct incident is patched; the GitOps one is a pull request in the local remote.
    direct, gitops = out.split("━━ Incident 1 of 2")[1].split("━━ Incident 2 of 2")
    gitops, review = gitops.split("━━ A change review")
    review, deploy = review.split("━━ A bad deploy")
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
    # dana's release of checkout, synced by Argo CD: its watch finds it degraded by the error ratio
    # rule with its numbers, and the incident's revert pull request, approved as `medic approve`
    # would, is merged and synced; the revert's own deploy is verified with the ratio back.
    assert "✗ error ratio 4.00% vs 0.20% before (20.0×; rule: ≥3× and ≥1.00%)" in deploy
    assert re.search(r"verdict +degraded: deploy \w+ of store-checkout", deploy)
    assert re.search(
        r"▸ pull request +completed.*\n"
        r" +#2 medic/incident-deploy\.argocd\.store-checkout\.\S+-revert → main \(open\)",
        deploy,
    )
    assert "-        image: registry.example/store/checkout:3.2.0" in deploy
    assert "+        image: registry.example/store/checkout:3.1.4" in deploy
    assert "ledger-values.yaml" not in deploy  # the revert undoes dana's commit alone
    assert re.search(
        r"\$ medic approve incident-deploy\.argocd\.store-checkout\.\S+ --as demo-operator", deploy
    )
    assert "1/1 approvals" in deploy
    assert "5. Outcome: resolved — revert pull request #2 merged and synced" in deploy
    revert = deploy.split("6. The revert is a deploy too")[1]
    assert re.search(r"verdict +verified: deploy \w+ of store-checkout is healthy", revert)
    assert "samples after the sync    error ratio 0.20%" in revert
