"""Which cluster an Application deploys to and an alert is about, seen from medic's own (README
"Clusters"), and the ids and queues that keep several clusters' medics apart in one Temporal
namespace."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.deploy.model import deploy_watch_id
from domain.deploy.poll import recent_deploys
from domain.incident.alerts import AlertGroup, alerts_of_cluster, group_workflow_id
from domain.kube.clusters import (
    IN_CLUSTER_NAME,
    IN_CLUSTER_SERVER,
    Cluster,
    alert_cluster_names,
    alert_is_here,
    application_placement,
    clusters_of,
    placement,
    server_key,
    this_cluster,
)
from domain.settings import TASK_QUEUE, settings_from_mapping
from integrations.temporal.intents import intent_workflow_id

EAST = Cluster(name="east", server="https://east.example:6443")
IN_CLUSTER = Cluster(name=IN_CLUSTER_NAME, server=IN_CLUSTER_SERVER)
LISTED = [IN_CLUSTER, EAST]


def test_argo_cds_cluster_list_is_read_by_name_and_server() -> None:
    items = [{"name": "east", "server": "https://east.example:6443", "config": {}}, {"info": {}}]
    assert clusters_of(items) == [EAST]


@pytest.mark.parametrize(
    ("name", "server", "listed", "expected"),
    [
        ("", "", [], IN_CLUSTER),
        # Argo CD's own cluster renamed in its list
        (
            "",
            "",
            [Cluster(name="hub", server=IN_CLUSTER_SERVER + "/")],
            Cluster(name="hub", server=IN_CLUSTER_SERVER),
        ),
        ("east", "", LISTED, EAST),
        ("", "https://EAST.example:6443/", LISTED, Cluster(name="east", server="https://EAST.example:6443/")),
        ("east", "", [], Cluster(name="east", server="")),
        ("in-cluster", "", [], IN_CLUSTER),
        ("edge", "https://edge:6443", LISTED, Cluster(name="edge", server="https://edge:6443")),
    ],
)
def test_this_cluster_is_configured_or_looked_up(
    name: str, server: str, listed: list[Cluster], expected: Cluster
) -> None:
    assert this_cluster(name, server, listed) == expected


def test_server_urls_compare_as_argo_cd_compares_them() -> None:
    assert server_key("HTTPS://Kubernetes.Default.SVC/") == IN_CLUSTER_SERVER
    assert server_key("https://h:6443/Path") != server_key("https://h:6443/path")


@pytest.mark.parametrize(
    ("destination", "where"),
    [
        ({"server": IN_CLUSTER_SERVER}, "here"),
        ({"server": IN_CLUSTER_SERVER + "/"}, "here"),
        ({"name": "in-cluster"}, "here"),
        ({"server": EAST.server}, "elsewhere"),
        ({"name": "east"}, "elsewhere"),
        ({"name": "west"}, "unknown"),
        ({"server": "https://west:6443"}, "unknown"),
        ({"namespace": "shop"}, "unknown"),
        (None, "unknown"),
    ],
)
def test_an_applications_destination_is_here_elsewhere_or_unknown(
    destination: dict[str, str] | None, where: str
) -> None:
    assert placement(destination, IN_CLUSTER, LISTED).where == where


def test_a_destination_by_name_resolves_through_the_list_to_this_clusters_server() -> None:
    here = Cluster(name="", server=EAST.server)  # configured by server; the list names it otherwise
    renamed = [Cluster(name="prod-east", server=EAST.server)]
    assert placement({"name": "prod-east"}, here, renamed).where == "here"


def test_without_the_cluster_list_only_this_clusters_own_names_are_certain() -> None:
    assert placement({"server": IN_CLUSTER_SERVER}, IN_CLUSTER, None).where == "here"
    assert placement({"name": "in-cluster"}, IN_CLUSTER, None).where == "here"
    other = placement({"name": "east"}, IN_CLUSTER, None)
    assert other.where == "unknown"
    assert other.reason == (
        "its destination cluster 'east' is not a cluster Argo CD lists"
        " (Argo CD's cluster list could not be read)"
    )


def test_the_reason_names_both_clusters() -> None:
    app = {"spec": {"destination": {"server": EAST.server, "namespace": "shop"}}}
    result = application_placement(app, IN_CLUSTER, LISTED)
    assert (result.where, result.destination) == ("elsewhere", EAST.server)
    assert result.reason == "it deploys to cluster east, not to in-cluster"


# --- alerts --------------------------------------------------------------------------------------


def test_alerts_are_this_clusters_without_the_label_or_without_a_configured_name() -> None:
    names = alert_cluster_names("prod-eu", ["eu", " "])
    assert names == frozenset({"prod-eu", "eu"})
    assert alert_is_here({"alertname": "X"}, "cluster", names)
    assert alert_is_here({"cluster": "eu"}, "cluster", names)
    assert not alert_is_here({"cluster": "prod-us"}, "cluster", names)
    assert alert_is_here({"cluster": "prod-us"}, "cluster", frozenset())
    assert not alert_is_here({"k8s_cluster": "prod-us"}, "k8s_cluster", names)


def _alert(cluster: str | None, status: str = "firing", name: str = "a") -> dict[str, object]:
    labels = {"alertname": "KubePodCrashLooping", "pod": name}
    if cluster is not None:
        labels["cluster"] = cluster
    now = datetime(2026, 1, 1, tzinfo=UTC).isoformat()
    return {"status": status, "labels": labels, "startsAt": now, "endsAt": now, "fingerprint": name}


def _group(*alerts: dict[str, object]) -> AlertGroup:
    return AlertGroup.model_validate(
        {"version": "4", "groupKey": "{}:{}", "status": "firing", "receiver": "medic", "alerts": list(alerts)}
    )


def test_a_mixed_group_keeps_this_clusters_alerts_and_counts_the_others() -> None:
    group = _group(_alert("prod-us", name="a"), _alert(None, "resolved", "b"), _alert("prod-us", name="c"))
    split = alerts_of_cluster(group, "cluster", frozenset({"prod-eu"}))
    assert split.group is not None
    assert [a.fingerprint for a in split.group.alerts] == ["b"]
    assert split.group.status == "resolved", "the firing alerts left were another cluster's"
    assert (split.elsewhere, split.left_out) == ({"prod-us": 2}, 2)


def test_a_group_all_of_other_clusters_is_left_whole() -> None:
    split = alerts_of_cluster(_group(_alert("prod-us"), _alert("ap")), "cluster", frozenset({"prod-eu"}))
    assert split.group is None and split.elsewhere == {"prod-us": 1, "ap": 1}


def test_a_group_of_this_cluster_is_returned_itself() -> None:
    group = _group(_alert("prod-eu"), _alert(None, name="b"))
    assert alerts_of_cluster(group, "cluster", frozenset({"prod-eu"})).group is group


# --- ids and queues ------------------------------------------------------------------------------


def test_a_cluster_name_goes_into_the_alert_groups_workflow_id() -> None:
    plain = group_workflow_id("medic", '{}:{alertname="X"}')
    assert plain.startswith("incident-alert-") and len(plain) == len("incident-alert-") + 20
    east = group_workflow_id("medic", '{}:{alertname="X"}', "Prod East/1")
    west = group_workflow_id("medic", '{}:{alertname="X"}', "prod-west")
    assert east == "incident-alert-prod-east-1-" + plain.removeprefix("incident-alert-")
    assert west != east and west.startswith("incident-alert-prod-west-")


def test_a_cluster_name_gives_its_medic_a_task_queue_of_its_own_unless_one_is_named() -> None:
    assert settings_from_mapping({}).task_queue == TASK_QUEUE
    assert settings_from_mapping({"MEDIC_CLUSTER_NAME": "prod-eu"}).task_queue == "medic-remediation-prod-eu"
    named = settings_from_mapping({"MEDIC_CLUSTER_NAME": "prod-eu", "MEDIC_TASK_QUEUE": "q"})
    assert named.task_queue == "q"
    aliases = settings_from_mapping({"MEDIC_CLUSTER_ALIASES": "eu, europe,"}).cluster_aliases
    assert aliases == ("eu", "europe")


def test_a_cluster_name_goes_into_the_deploy_watch_id_and_the_polls_events() -> None:
    assert deploy_watch_id("argocd", "cart", "a" * 40) == "deploy/argocd/cart/aaaaaaaaaaaa"
    assert deploy_watch_id("argocd", "cart", "a" * 40, "East 1") == "deploy-east-1/argocd/cart/aaaaaaaaaaaa"
    app = {
        "metadata": {"name": "cart", "namespace": "argocd"},
        "status": {"history": [{"id": 1, "revision": "b" * 40, "deployedAt": "2026-12-04T10:00:00Z"}]},
    }
    since = datetime(2026, 12, 4, 9, tzinfo=UTC)
    (plain,) = recent_deploys([app], since)
    (east,) = recent_deploys([app], since, cluster="east")
    assert (plain.watch_id, east.watch_id) == (
        "deploy/argocd/cart/bbbbbbbbbbbb",
        "deploy-east/argocd/cart/bbbbbbbbbbbb",
    )


def test_a_cluster_name_goes_into_a_change_requests_workflow_id() -> None:
    plain = intent_workflow_id("alice", "r-1")
    assert plain.startswith("intent-") and len(plain) == len("intent-") + 16
    assert intent_workflow_id("alice", "r-1", "east") == "intent-east-" + plain.removeprefix("intent-")
