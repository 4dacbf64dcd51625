"""The generated Argo CD estate and the fake Argo CD serving it (tests/fakes/estate.py)."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cli.devserver import DevServer
from domain.drift.diff import application_drift
from domain.drift.model import DriftConfig
from integrations.argocd import ArgoClient, ArgoForbidden, ArgoNotFound, ArgoUnavailable
from tests.fakes.estate import KINDS, Estate, EstateArgoCD, generate_estate

TOKEN = "estate-token"
REPO = Path(__file__).resolve().parents[2]


def contained(target: Any, live: Any) -> bool:
    """Every field `target` declares has the same value in `live` (lists element by element)."""
    if isinstance(target, dict):
        return isinstance(live, dict) and all(k in live and contained(v, live[k]) for k, v in target.items())
    if isinstance(target, list):
        return (
            isinstance(live, list)
            and len(target) == len(live)
            and all(contained(t, v) for t, v in zip(target, live, strict=True))
        )
    return bool(target == live)


def pointer(document: Any, path: str) -> Any:
    for part in path.lstrip("/").split("/"):
        document = document[int(part)] if isinstance(document, list) else document[part]
    return document


@pytest.fixture(scope="module")
def estate() -> Estate:
    return generate_estate(12, 200, drifted=5, seed=7)


@pytest.fixture(scope="module")
def argocd(estate: Estate) -> Iterator[EstateArgoCD]:
    with EstateArgoCD(estate, token=TOKEN) as server:
        yield server


@pytest.fixture
def client(argocd: EstateArgoCD) -> Iterator[ArgoClient]:
    with ArgoClient(argocd.url, TOKEN) as client:
        yield client


# ---- generation --------------------------------------------------------------------------------


@pytest.mark.parametrize(("apps", "resources"), [(50, 1000), (5, 100), (250, 5000), (7, 100), (3, 2)])
def test_sizes_and_even_spread(apps: int, resources: int) -> None:
    estate = generate_estate(apps, resources)
    assert len(estate.applications) == apps
    assert estate.resources == resources
    counts = [len(estate.managed[app["metadata"]["name"]]) for app in estate.applications]
    assert max(counts) - min(counts) <= 1
    assert len({app["metadata"]["name"] for app in estate.applications}) == apps


def test_a_realistic_mix_of_kinds() -> None:
    estate = generate_estate(50, 1000)
    kinds = Counter(item["kind"] for _, item in estate.items())
    assert set(kinds) == set(KINDS)
    assert kinds["Deployment"] == 250
    # resource names are unique in each namespace, though Applications share team namespaces
    keys = [(item["namespace"], item["kind"], item["name"]) for _, item in estate.items()]
    assert len(keys) == len(set(keys))
    deployment = next(json.loads(i["targetState"]) for _, i in estate.items() if i["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert {"resources", "env", "readinessProbe", "livenessProbe", "ports"} <= set(container)


def test_applications_have_the_v1alpha1_shape(estate: Estate) -> None:
    for app in estate.applications:
        assert app["metadata"]["namespace"] == "argocd"
        spec, status = app["spec"], app["status"]
        assert spec["project"] and spec["destination"]["namespace"]
        assert {"repoURL", "path", "targetRevision"} <= set(spec["source"])
        assert status["sync"]["status"] in ("Synced", "OutOfSync")
        assert len(status["sync"]["revision"]) == 40
        assert status["health"]["status"] == "Healthy"
        items = estate.managed[app["metadata"]["name"]]
        assert [(r["kind"], r["name"]) for r in status["resources"]] == [
            (i["kind"], i["name"]) for i in items
        ]
        assert all(r["namespace"] == spec["destination"]["namespace"] for r in status["resources"])


def test_reproducible_from_the_seed() -> None:
    assert generate_estate(4, 40, drifted=3, seed=1) == generate_estate(4, 40, drifted=3, seed=1)
    assert generate_estate(4, 40, drifted=3, seed=1) != generate_estate(4, 40, drifted=3, seed=2)


def test_without_drift_every_target_is_contained_in_its_live_state() -> None:
    estate = generate_estate(20, 400, seed=3)
    assert not estate.drifts
    for _, item in estate.items():
        target, live = json.loads(item["targetState"]), json.loads(item["liveState"])
        assert contained(target, live), f"{item['kind']}/{item['name']}"
        assert not item["modified"]
        # the live state carries what a normaliser has to leave out
        assert {"uid", "resourceVersion", "creationTimestamp", "managedFields"} <= set(live["metadata"])
        assert live != target
    assert all(app["status"]["sync"]["status"] == "Synced" for app in estate.applications)


def test_drifted_resources_differ_where_planted(estate: Estate) -> None:
    assert len(estate.drifts) == 5
    planted = {(d.application, d.key): d for d in estate.drifts}
    for app, item in estate.items():
        target, live = json.loads(item["targetState"]), json.loads(item["liveState"])
        drift = planted.get((app, f"{item['namespace']}/{item['kind']}/{item['name']}"))
        if drift is None:
            assert contained(target, live) and not item["modified"]
            continue
        assert item["modified"] and not contained(target, live)
        assert pointer(target, drift.path) == drift.desired != drift.live == pointer(live, drift.path)
        # a sync would bring it back
        assert contained(target, json.loads(item["predictedLiveState"]))
    for application in estate.applications:
        expected = "OutOfSync" if application["metadata"]["name"] in estate.drifted_apps else "Synced"
        assert application["status"]["sync"]["status"] == expected


def test_refuses_impossible_estates() -> None:
    with pytest.raises(ValueError):
        generate_estate(0, 10)
    with pytest.raises(ValueError):
        generate_estate(2, 10, drifted=11)


# ---- the fake Argo CD --------------------------------------------------------------------------


def test_lists_applications(estate: Estate, client: ArgoClient) -> None:
    apps = client.list_applications()
    assert apps == estate.applications


def test_filters_by_project(estate: Estate, argocd: EstateArgoCD, client: ArgoClient) -> None:
    projects = Counter(app["spec"]["project"] for app in estate.applications)
    assert len(projects) > 1
    for project, count in projects.items():
        apps = client.list_applications(project)
        assert len(apps) == count and {a["spec"]["project"] for a in apps} == {project}
    assert client.list_applications("nobody") == []
    first, second = sorted(projects)[:2]
    response = httpx.get(
        f"{argocd.url}/api/v1/applications",
        params=[("projects", first), ("projects", second)],
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert len(response.json()["items"]) == projects[first] + projects[second]


def test_gets_an_application_and_its_managed_resources(estate: Estate, client: ArgoClient) -> None:
    app = estate.applications[3]
    name, project = app["metadata"]["name"], app["spec"]["project"]
    assert client.get_application(name) == app
    assert client.get_application(name, "argocd", project=project) == app
    assert client.get_application(name, refresh="normal") == app
    items = client.managed_resources(name, "argocd")
    assert items == estate.managed[name]
    for item in items:
        assert {"group", "kind", "namespace", "name", "targetState", "liveState", "hook", "modified"} <= set(
            item
        )
        assert isinstance(item["targetState"], str) and isinstance(item["liveState"], str)
        assert json.loads(item["targetState"])["metadata"]["name"] == item["name"]
        assert item["group"] == ("apps" if item["kind"] == "Deployment" else "")


def test_unknown_application_is_a_grpc_gateway_404(
    estate: Estate, argocd: EstateArgoCD, client: ArgoClient
) -> None:
    response = httpx.get(
        f"{argocd.url}/api/v1/applications/missing", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 404
    assert response.json() == {
        "error": 'applications.argoproj.io "missing" not found',
        "code": 5,
        "message": 'applications.argoproj.io "missing" not found',
    }
    with pytest.raises(ArgoNotFound):
        client.managed_resources("missing")
    name = estate.applications[0]["metadata"]["name"]
    with pytest.raises(ArgoNotFound):
        client.get_application(name, "elsewhere")
    with pytest.raises(ArgoForbidden):  # Argo CD's answer for another project's Application
        client.get_application(name, project="not-its-project")
    response = httpx.get(
        f"{argocd.url}/api/v1/applications/{name}/resource-tree", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 404 and response.json()["code"] == 5


def test_token_is_checked(argocd: EstateArgoCD) -> None:
    with ArgoClient(argocd.url) as anonymous, pytest.raises(ArgoForbidden) as missing:
        anonymous.list_applications()
    assert missing.value.status == 401
    with ArgoClient(argocd.url, "wrong") as wrong, pytest.raises(ArgoForbidden) as refused:
        wrong.list_applications()
    assert refused.value.status == 403


def test_injected_faults_and_busy_time(argocd: EstateArgoCD, client: ArgoClient) -> None:
    argocd.fail_next(503)
    with pytest.raises(ArgoUnavailable):
        client.list_applications()
    before = argocd.busy_seconds
    client.list_applications()
    assert argocd.busy_seconds > before
    assert argocd.requests[-1][1] == "/api/v1/applications"


# ---- the drift benchmark at a tiny size -------------------------------------------------------


def _load_bench() -> Any:
    spec = importlib.util.spec_from_file_location("bench_drift", REPO / "bench" / "drift.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_drift_benchmark_runs_at_a_tiny_size(
    dev_server: DevServer, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = _load_bench()
    argv = ["--resources", "20", "--apps", "2", "--repeats", "1", "--warmup", "0", "--drifted", "0.1"]
    rows = bench.main([*argv, "--temporal", dev_server.address])
    assert [(row.resources, row.apps) for row in rows] == [(20, 2)]
    assert rows[0].drifted_apps >= 1
    # every application and resource scanned, exactly the planted drift found
    assert not rows[0].problems, rows[0].problems
    assert len(rows[0].seconds) == 1
    assert "resources/s" in capsys.readouterr().out


def test_the_drift_comparison_finds_exactly_the_planted_drift() -> None:
    """The estate's premise, checked with medic's own comparison: defaults, status and metadata
    noise are no drift; every planted change is, at its field."""
    estate = generate_estate(20, 400, drifted=12, seed=11)
    found = set()
    for app in estate.applications:
        drift = application_drift(app, estate.managed[app["metadata"]["name"]], DriftConfig())
        assert drift.resources_scanned == len(estate.managed[app["metadata"]["name"]])
        found |= {(drift.application, r.key, f.path) for r in drift.resources for f in r.fields}
    assert found == {(d.application, d.key, d.path) for d in estate.drifts}
