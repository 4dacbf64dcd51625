"""The GitOps path's pure rules: owners, target branches, the approved-diff digest, and what Argo CD's
states after a merge mean."""

from __future__ import annotations

from typing import Any

import pytest

from domain.analysis.plan import Plan, RevertDeploy, SetResources
from domain.gitops.flow import (
    degraded,
    edit_hash,
    needs_sync,
    owning_applications,
    target_branch,
    verdict,
)
from domain.incident.model import ResourceRef
from domain.kube.observation import ArgoApplication, Observation
from domain.steps.gitops import ApplicationCheck, ApplicationStatus, FileDiff

LEDGER = ResourceRef(namespace="payments", kind="Deployment", name="ledger", container="ledger")
CART = ResourceRef(namespace="shop", kind="Deployment", name="cart", container="cart")


def app(name: str, *targets: ResourceRef, revision: str = "main", **extra: Any) -> ArgoApplication:
    return ArgoApplication(
        id=f"argocd/argocd/{name}",
        name=name,
        sources=[
            {"repoURL": "https://git.example/gitops.git", "path": f"apps/{name}", "targetRevision": revision}
        ],
        resources=[{"kind": t.kind, "namespace": t.namespace, "name": t.name} for t in targets],
        **extra,
    )


def plan(*targets: ResourceRef) -> Plan:
    return Plan(actions=[SetResources(target=t, mode="gitops", limits={"memory": "1Gi"}) for t in targets])


def test_each_target_is_owned_by_the_application_that_lists_it() -> None:
    ledger, cart = app("ledger", LEDGER), app("cart", CART)
    observation = Observation(incident_id="i", argocd=[cart, ledger])
    assert owning_applications(plan(LEDGER, CART), observation) == ([ledger, cart], [])


def test_an_owner_whose_cluster_is_uncertain_is_a_reason_not_an_owner() -> None:
    # README "Clusters": observe could not tell whether the Application deploys to this cluster
    why = "Application ledger may not deploy to this cluster: its destination cluster 'west' is unknown"
    uncertain = app("ledger", LEDGER, ownership_uncertain=why)
    revert = RevertDeploy(
        target=LEDGER.without_container(),
        application="ledger",
        revision="a" * 40,
        previous_revision="b" * 40,
    )
    observation = Observation(incident_id="i", argocd=[uncertain])
    for uncertain_plan in (plan(LEDGER), Plan(actions=[revert])):
        owners, reasons = owning_applications(uncertain_plan, observation)
        assert owners == [] and len(reasons) == 1 and reasons[0].endswith(why)


def test_a_lone_application_owns_what_it_does_not_list_but_several_make_it_unclear() -> None:
    lone = Observation(incident_id="i", argocd=[app("ledger")])
    assert owning_applications(plan(LEDGER), lone)[1] == []
    (reason,) = owning_applications(plan(LEDGER), Observation(incident_id="i", argocd=[app("a"), app("b")]))[
        1
    ]
    assert "no Argo CD Application was seen managing it" in reason
    (reason,) = owning_applications(
        plan(LEDGER), Observation(incident_id="i", argocd=[app("a", LEDGER), app("b", LEDGER)])
    )[1]
    assert "several Applications list it" in reason


@pytest.mark.parametrize(
    ("revisions", "branch", "reason"),
    [
        (["main"], "main", ""),
        (["HEAD"], "", ""),
        ([""], "", ""),
        (["refs/heads/release"], "release", ""),
        (["v1.2.0", "v1.2.0"], "v1.2.0", ""),  # a name: whether it is a branch, the repository says
        (["refs/tags/v1"], "", "tracks refs/tags/v1, not a branch"),
        (["9b2d7c1e4f6a"], "", "tracks 9b2d7c1e4f6a, not a branch"),
        (["main", "release"], "", "different branches: main, release"),
    ],
)
def test_the_branch_a_pull_request_goes_to(revisions: list[str], branch: str, reason: str) -> None:
    apps = [app(f"app{i}", revision=r) for i, r in enumerate(revisions)]
    found, why = target_branch(apps)
    assert found == branch and reason in why and bool(why) == bool(reason)


def test_an_application_of_charts_only_reads_no_file() -> None:
    charts = ArgoApplication(
        id="argocd/argocd/x", name="x", sources=[{"chart": "x", "targetRevision": "1.0"}]
    )
    assert "reads no file of the GitOps repository" in target_branch([charts])[1]


def test_the_edit_hash_binds_paths_and_diffs_not_their_order_or_descriptions() -> None:
    a, b = FileDiff(path="a.yaml", diff="-x\n+y\n"), FileDiff(path="b.yaml", diff="-1\n+2\n")
    assert edit_hash([a, b]) == edit_hash([b, a.model_copy(update={"description": "other words"})])
    assert edit_hash([a, b]) != edit_hash([a, b.model_copy(update={"diff": "-1\n+3\n"})])
    assert edit_hash([a]) != edit_hash([a.model_copy(update={"path": "c.yaml"})])


def status(**fields: Any) -> ApplicationStatus:
    return ApplicationStatus(name="ledger", **{"sync_status": "Synced", "synced": True, **fields})


def check(*statuses: ApplicationStatus) -> ApplicationCheck:
    return ApplicationCheck(applications=list(statuses))


def test_synced_and_healthy_is_ready_and_anything_short_of_it_waits() -> None:
    assert verdict(check(status(health_status="Healthy")))[0] == "ready"
    assert verdict(check(status(health_status="Progressing")))[0] == "waiting"
    assert verdict(check(status(health_status="Healthy", operation_in_progress=True)))[0] == "waiting"
    state, reason = verdict(check(status(synced=False, sync_status="OutOfSync", revision="abc")))
    assert state == "waiting" and "OutOfSync at abc" in reason
    assert verdict(check())[0] == "waiting"


def test_a_revert_is_ready_once_synced_whatever_its_health() -> None:
    assert verdict(check(status(health_status="Degraded")), require_healthy=False)[0] == "ready"


def test_a_failed_sync_fails_at_once_and_degraded_only_once_it_persists() -> None:
    state, reason = verdict(
        check(status(operation_failed=True, operation_message="one or more objects failed"))
    )
    assert state == "failed" and "one or more objects failed" in reason
    sick = check(status(health_status="Degraded", health_message="1 unavailable replica"))
    assert degraded(sick)
    assert verdict(sick, degraded_persists=False)[0] == "waiting"
    state, reason = verdict(sick, degraded_persists=True)
    assert state == "failed" and "Degraded after the sync: 1 unavailable replica" in reason


def test_only_manual_applications_neither_synced_nor_syncing_need_a_sync_request() -> None:
    assert needs_sync(check(status(synced=False, automated=False))) == ["ledger"]
    assert needs_sync(check(status(synced=False, automated=True))) == []
    assert needs_sync(check(status(synced=False, operation_in_progress=True))) == []
    assert needs_sync(check(status(synced=True))) == []
