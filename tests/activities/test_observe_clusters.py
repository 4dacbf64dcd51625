"""observe with an Argo CD that deploys to several clusters (README "Clusters"): only an
Application whose destination is medic's own cluster owns a workload here; one of another cluster
with the same namespace/name does not, and one whose cluster cannot be resolved is an uncertain
owner no write may rely on. Through the real clients against the sandbox Argo CD."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from cli.eval import analyze, observe_scenario
from domain.analysis.offline import OfflineAnalyzer
from domain.gitops.flow import owning_applications
from sandbox.scenario import Scenario, load_scenario

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
EAST = {"name": "east", "server": "https://east.example:6443"}
TRACKING = "argocd.argoproj.io/tracking-id"


def gitops_scenario(*, tracked: bool = True) -> Scenario:
    """The throttled push-dispatcher of Application `notifications` (deployed in-cluster); without
    `tracked`, the Deployment carries no tracking annotation (ownership only by the listing)."""
    loaded = load_scenario(SCENARIOS / "cpu-throttling-limit-gitops-manifest.yaml")
    if tracked:
        return loaded
    objects: list[dict[str, Any]] = copy.deepcopy(loaded.cluster)
    for obj in objects:
        obj["metadata"].get("annotations", {}).pop(TRACKING, None)
    return loaded.model_copy(update={"cluster": objects})


def with_applications(scenario: Scenario, *destinations: tuple[str, dict[str, str]]) -> Scenario:
    """The scenario's Application once per (name, destination), each listing the same workload."""
    (app,) = scenario.argocd
    apps = []
    for name, destination in destinations:
        copied = copy.deepcopy(app)
        copied["metadata"]["name"] = name
        copied["spec"]["destination"] = {**destination, "namespace": "notifications"}
        apps.append(copied)
    return scenario.model_copy(update={"argocd": apps})


def test_an_application_of_another_cluster_with_the_same_workload_is_not_the_owner() -> None:
    scenario = with_applications(
        gitops_scenario(tracked=False),
        ("notifications-east", {"name": "east"}),
        ("notifications", {"server": "https://kubernetes.default.svc"}),
    )
    _, observation = observe_scenario(scenario, argocd_clusters=[EAST])
    (app,) = observation.argocd
    assert (app.name, app.destination_cluster, app.ownership_uncertain) == (
        "notifications",
        "https://kubernetes.default.svc",
        "",
    )


def test_the_only_application_listing_the_workload_is_of_another_cluster_so_none_owns_it() -> None:
    scenario = with_applications(gitops_scenario(tracked=False), ("notifications", {"name": "east"}))
    _, observation = observe_scenario(scenario, argocd_clusters=[EAST])
    assert observation.argocd == []
    assert any("no Argo CD Application manages it" in n for n in observation.notes)


def test_a_tracking_annotation_naming_an_application_of_another_cluster_is_not_ownership() -> None:
    scenario = with_applications(gitops_scenario(), ("notifications", {"server": EAST["server"]}))
    _, observation = observe_scenario(scenario, argocd_clusters=[EAST])
    assert observation.argocd == []
    assert any(
        "Application notifications is not its owner: it deploys to cluster east, not to in-cluster" in n
        for n in observation.notes
    ), observation.notes


def test_medic_on_the_other_cluster_sees_it_the_other_way_round() -> None:
    scenario = with_applications(
        gitops_scenario(tracked=False),
        ("notifications-east", {"name": "east"}),
        ("notifications", {"name": "in-cluster"}),
    )
    # configured by name only: the server comes from Argo CD's cluster list
    _, observation = observe_scenario(scenario, argocd_clusters=[EAST], cluster_name="east")
    assert [a.name for a in observation.argocd] == ["notifications-east"]


def test_an_unresolvable_destination_is_an_uncertain_owner_no_change_is_made_for() -> None:
    scenario = with_applications(gitops_scenario(), ("notifications", {"name": "west"}))
    incident, observation = observe_scenario(scenario, argocd_clusters=[EAST])
    (app,) = observation.argocd
    assert "its destination cluster 'west' is not a cluster Argo CD lists" in app.ownership_uncertain
    assert any("ownership uncertain" in n for n in observation.notes)
    diagnosis = analyze(OfflineAnalyzer(), incident, observation)
    assert diagnosis.plan.actions and all(a.mode == "gitops" for a in diagnosis.plan.actions)
    owners, reasons = owning_applications(diagnosis.plan, observation)
    assert owners == []
    assert reasons and "may not deploy to this cluster" in reasons[0]


def test_an_argo_cd_alert_about_another_clusters_application_observes_nothing_of_it() -> None:
    loaded = load_scenario(SCENARIOS / "argocd-outofsync-hand-scaled.yaml")
    apps = copy.deepcopy(loaded.argocd)
    for app in apps:
        app["spec"]["destination"] = {"name": "east", "namespace": app["spec"]["destination"]["namespace"]}
    _, observation = observe_scenario(loaded.model_copy(update={"argocd": apps}), argocd_clusters=[EAST])
    assert observation.argocd == [] and observation.argocd_diffs == []
    assert any("is not this cluster's: it deploys to cluster east" in n for n in observation.notes)


def test_an_argo_cd_alert_about_an_application_of_an_unknown_cluster_is_uncertain() -> None:
    loaded = load_scenario(SCENARIOS / "argocd-outofsync-hand-scaled.yaml")
    apps = copy.deepcopy(loaded.argocd)
    for app in apps:
        app["spec"]["destination"] = {"name": "west", "namespace": app["spec"]["destination"]["namespace"]}
    _, observation = observe_scenario(loaded.model_copy(update={"argocd": apps}))
    assert observation.argocd and all("'west'" in a.ownership_uncertain for a in observation.argocd)
