"""The simulated Argo CD controller following a real bare GitOps repository, on the shared scenarios:
refresh, sync (explicit and automated), health from the sandbox cluster, managed resources."""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sandbox.argocd_sync import ArgoController, Refusal
from sandbox.cluster import SandboxCluster
from sandbox.gitops import run_git, seed_bare_repo
from sandbox.scenario import Scenario, load_named

APPS = "apps/v1"


def commit_files(repo: Path, files: dict[str, str], *, branch: str = "main", parent: str = "main") -> str:
    """A commit on `branch` (created or moved) whose parent is `parent`'s head, with `files` changed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    index = repo / "test-commit.index"
    env.update(
        GIT_DIR=str(repo),
        GIT_INDEX_FILE=str(index),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_AUTHOR_NAME="test",
        GIT_AUTHOR_EMAIL="test@medic.invalid",
        GIT_COMMITTER_NAME="test",
        GIT_COMMITTER_EMAIL="test@medic.invalid",
    )

    def git(*args: str, data: bytes | None = None) -> str:
        return run_git(list(args), env=env, input=data).decode().strip()

    try:
        head = git("rev-parse", f"refs/heads/{parent}")
        git("read-tree", head)
        for path, text in files.items():
            blob = git("hash-object", "-w", "--stdin", data=text.encode())
            git("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}")
        commit = git("commit-tree", git("write-tree"), "-p", head, "-m", f"change {', '.join(files)}")
        git("update-ref", f"refs/heads/{branch}", commit)
    finally:
        index.unlink(missing_ok=True)
    return commit


def edited(scenario: Scenario, path: str, old: str, new: str) -> dict[str, str]:
    text = scenario.gitops[path]
    assert old in text, f"{path} no longer holds {old!r}"
    return {path: text.replace(old, new)}


# scenario, Deployment (namespace, name), file, old text, new text, container field, new value
FIXES = [
    pytest.param(
        "oom-helm-values",
        ("payments", "ledger"),
        "values/ledger-values.yaml",
        "memory: 256Mi",
        "memory: 512Mi",
        ("resources", "limits", "memory"),
        "512Mi",
        id="helm-values",
    ),
    pytest.param(
        "crashloop-bad-release",
        ("shop", "checkout"),
        "manifests/shop/checkout/deployment.yaml",
        "checkout:1.14.0",
        "checkout:1.13.2",
        ("image",),
        "registry.example/shop/checkout:1.13.2",
        id="raw-manifest",
    ),
    pytest.param(
        "image-pull-typo",
        ("web", "storefront"),
        "overlays/prod/kustomization.yaml",
        "newTag: 4.2.O",
        "newTag: 4.1.9",
        ("image",),
        "registry.example/web/storefront:4.1.9",
        id="kustomize",
    ),
]


@dataclass
class Sim:
    scenario: Scenario
    cluster: SandboxCluster
    repo: Path
    seed: str
    argo: ArgoController

    @property
    def app_name(self) -> str:
        return str(self.scenario.argocd[0]["metadata"]["name"])

    def app(self) -> dict[str, Any]:
        return self.argo.find(self.app_name)

    def deployment(self, namespace: str, name: str) -> dict[str, Any]:
        live = self.cluster.peek(APPS, "Deployment", namespace, name)
        assert live is not None
        return live

    def container(self, namespace: str, name: str) -> dict[str, Any]:
        (container,) = self.deployment(namespace, name)["spec"]["template"]["spec"]["containers"]
        return dict(container)


def make_sim(
    tmp_path: Path, name: str, *, manual: bool = False, sync_reads: int = 0, rollout_reads: int = 0
) -> Sim:
    scenario = load_named(name)
    apps = copy.deepcopy(scenario.argocd)
    if manual:  # a manually synced Application: syncs happen only when asked
        for app in apps:
            app["spec"]["syncPolicy"].pop("automated", None)
    repo = tmp_path / "gitops.git"
    seed = seed_bare_repo(repo, scenario.gitops)
    cluster = SandboxCluster(scenario, rollout_reads=rollout_reads)
    return Sim(scenario, cluster, repo, seed, ArgoController(apps, cluster, repo, sync_reads=sync_reads))


def history_revisions(entry: dict[str, Any]) -> list[str]:
    return list(entry.get("revisions") or [entry["revision"]])


def revisions(app: dict[str, Any]) -> list[str]:
    sync = app["status"]["sync"]
    return list(sync.get("revisions") or [sync["revision"]])


def field(container: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = container
    for part in path:
        value = value[part]
    return value


# --- comparison ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["oom-helm-values", "crashloop-bad-release", "image-pull-typo"])
def test_the_seeded_repository_compares_synced_at_its_head(tmp_path: Path, name: str) -> None:
    sim = make_sim(tmp_path, name)
    app = sim.app()
    assert app["status"]["sync"]["status"] == "Synced"
    assert sim.seed in revisions(app)
    # health from the live workload agrees with what the scenario froze
    assert app["status"]["health"]["status"] == sim.scenario.argocd[0]["status"]["health"]["status"]
    assert "operation" not in app


def test_a_multi_source_application_reports_a_revision_per_source(tmp_path: Path) -> None:
    app = make_sim(tmp_path, "oom-helm-values").app()
    assert app["status"]["sync"]["revisions"][0] == "3.2.0"  # the chart source: its version
    assert "revision" not in app["status"]["sync"]
    assert app["status"]["sourceTypes"][0] == "Helm"


def test_a_commit_on_an_unmerged_branch_changes_nothing(tmp_path: Path) -> None:
    sim = make_sim(tmp_path, "crashloop-bad-release", manual=True)
    change = edited(sim.scenario, "manifests/shop/checkout/deployment.yaml", "1.14.0", "1.13.2")
    fix = commit_files(sim.repo, change, branch="medic/fix")
    app = sim.argo.refresh(sim.app_name)
    assert (app["status"]["sync"]["status"], revisions(app)) == ("Synced", [sim.seed])

    commit_files(sim.repo, {}, branch="main", parent="medic/fix")  # fast-forward: the merge
    merged = run_git(["rev-parse", "refs/heads/main"], env={"GIT_DIR": str(sim.repo)}).decode().strip()
    assert merged != fix  # a merge commit on top of the fix
    app = sim.argo.refresh(sim.app_name)
    assert (app["status"]["sync"]["status"], revisions(app)) == ("OutOfSync", [merged])


# --- explicit sync on each layout ----------------------------------------------------------------


@pytest.mark.parametrize(("name", "target", "path", "old", "new", "container_field", "value"), FIXES)
def test_a_fix_committed_to_git_reaches_the_live_deployment_through_a_sync(
    tmp_path: Path,
    name: str,
    target: tuple[str, str],
    path: str,
    old: str,
    new: str,
    container_field: tuple[str, ...],
    value: str,
) -> None:
    sim = make_sim(tmp_path, name, manual=True)
    before = sim.deployment(*target)
    revisions_before = revisions(sim.app())
    commit = commit_files(sim.repo, edited(sim.scenario, path, old, new))

    refreshed = sim.argo.refresh(sim.app_name)
    assert refreshed["status"]["sync"]["status"] == "OutOfSync"
    assert commit in revisions(refreshed)
    (entry,) = [r for r in refreshed["status"]["resources"] if r["kind"] == "Deployment"]
    assert entry["status"] == "OutOfSync"
    assert "operation" not in refreshed, "a manual Application does not sync by itself"
    assert sim.deployment(*target)["metadata"]["generation"] == before["metadata"]["generation"]

    requested = sim.argo.sync(sim.app_name, {"prune": False, "strategy": {"hook": {"force": False}}})
    sync = requested["operation"]["sync"]
    assert commit in (sync.get("revisions") or [sync.get("revision")]), "the branch resolved to its head"
    assert "operationState" not in requested["status"], "the controller has not run it yet"

    app = sim.app()
    operation = app["status"]["operationState"]
    assert operation["phase"] == "Succeeded", operation
    result = operation["syncResult"]
    assert commit in (result.get("revisions") or [result.get("revision")])
    assert [r["message"] for r in result["resources"] if r["kind"] == "Deployment"] == [
        f"deployment.apps/{target[1]} configured"
    ]
    after = sim.deployment(*target)
    assert field(sim.container(*target), container_field) == value
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1
    assert int(after["metadata"]["resourceVersion"]) > int(before["metadata"]["resourceVersion"])
    assert app["status"]["sync"]["status"] == "Synced" and commit in revisions(app)
    # the deploy the sandbox started with (the seeded commit), then this sync
    assert [entry["id"] for entry in app["status"]["history"]] == [0, 1]
    assert [history_revisions(entry) for entry in app["status"]["history"]] == [
        revisions_before,
        revisions(app),
    ]
    assert commit in history_revisions(app["status"]["history"][-1])
    # the fix satisfies heals_when: once the rollout is over, the workload is healthy
    assert sim.app()["status"]["health"]["status"] == "Healthy"


def test_health_is_progressing_while_the_rollout_runs_then_healthy(tmp_path: Path) -> None:
    sim = make_sim(tmp_path, "image-pull-typo", manual=True, rollout_reads=2)
    commit_files(sim.repo, edited(sim.scenario, "overlays/prod/kustomization.yaml", "4.2.O", "4.1.9"))
    sim.argo.refresh(sim.app_name)
    sim.argo.sync(sim.app_name, {})
    seen = [sim.app()["status"]["health"]["status"] for _ in range(5)]
    assert seen[0] == "Progressing" and seen[-1] == "Healthy", seen
    assert "Degraded" not in seen


def test_a_fix_that_does_not_heal_ends_degraded(tmp_path: Path) -> None:
    sim = make_sim(tmp_path, "oom-helm-values", manual=True)
    too_small = edited(sim.scenario, "values/ledger-values.yaml", "memory: 256Mi", "memory: 300Mi")
    commit = commit_files(sim.repo, too_small)
    sim.argo.refresh(sim.app_name)
    sim.argo.sync(sim.app_name, {"revisions": [commit], "sourcePositions": [2]})
    app = sim.app()
    assert app["status"]["sync"]["status"] == "Synced"
    app = sim.app()
    assert app["status"]["health"] == {
        "status": "Degraded",
        "message": 'Deployment "ledger" has 2 unavailable replicas',
    }


def test_a_sync_waits_in_phase_running_for_sync_reads(tmp_path: Path) -> None:
    sim = make_sim(tmp_path, "crashloop-bad-release", manual=True, sync_reads=2)
    commit_files(
        sim.repo, edited(sim.scenario, "manifests/shop/checkout/deployment.yaml", "1.14.0", "1.13.2")
    )
    sim.argo.sync(sim.app_name, {})
    running = sim.app()
    assert running["status"]["operationState"]["phase"] == "Running" and running.get("operation")
    with pytest.raises(Refusal) as refused:
        sim.argo.sync(sim.app_name, {})
    assert (refused.value.status, refused.value.message) == (400, "another operation is already in progress")
    done = sim.app()
    assert done["status"]["operationState"]["phase"] == "Succeeded" and "operation" not in done


# --- automated sync ------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "target", "path", "old", "new", "container_field", "value"), FIXES)
def test_an_automated_application_syncs_a_new_commit_on_refresh(
    tmp_path: Path,
    name: str,
    target: tuple[str, str],
    path: str,
    old: str,
    new: str,
    container_field: tuple[str, ...],
    value: str,
) -> None:
    sim = make_sim(tmp_path, name)
    sim.app()  # the first look compares with the seeded head
    commit = commit_files(sim.repo, edited(sim.scenario, path, old, new))
    assert sim.app()["status"]["sync"]["status"] == "Synced", "no new look at Git until a refresh"

    refreshed = sim.argo.refresh(sim.app_name)
    assert refreshed["status"]["sync"]["status"] == "OutOfSync"
    assert refreshed["operation"]["initiatedBy"] == {"automated": True}

    app = sim.app()
    assert app["status"]["operationState"]["phase"] == "Succeeded"
    assert app["status"]["sync"]["status"] == "Synced" and commit in revisions(app)
    assert field(sim.container(*target), container_field) == value
    # synced already: the next refresh starts nothing
    assert "operation" not in sim.argo.refresh(sim.app_name)


def test_a_poll_is_a_refresh_of_every_application(tmp_path: Path) -> None:
    sim = make_sim(tmp_path, "image-pull-typo")
    commit = commit_files(
        sim.repo, edited(sim.scenario, "overlays/prod/kustomization.yaml", "4.2.O", "4.1.9")
    )
    sim.argo.poll()
    sim.argo.poll()
    assert revisions(sim.app()) == [commit] and sim.app()["status"]["sync"]["status"] == "Synced"
    assert sim.container("web", "storefront")["image"] == "registry.example/web/storefront:4.1.9"


def test_self_heal_reverts_live_drift_on_refresh(tmp_path: Path) -> None:
    sim = make_sim(tmp_path, "oom-helm-values")
    sim.app()
    drift = {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "ledger", "resources": {"limits": {"memory": "1Gi"}}}]}
            }
        }
    }
    sim.cluster.patch(APPS, "Deployment", "payments", "ledger", drift)
    assert sim.app()["status"]["sync"]["status"] == "OutOfSync", "live drift shows without a refresh"
    sim.argo.refresh(sim.app_name)
    assert sim.app()["status"]["sync"]["status"] == "Synced"
    assert sim.container("payments", "ledger")["resources"]["limits"]["memory"] == "256Mi"


def test_without_self_heal_live_drift_stays(tmp_path: Path) -> None:
    sim = make_sim(tmp_path, "oom-helm-values")
    sim.argo._apps[0].app["spec"]["syncPolicy"]["automated"]["selfHeal"] = False
    sim.argo.refresh(sim.app_name)
    sim.argo.sync(sim.app_name, {})  # the last operation synced the head already
    sim.app()
    drift = {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "ledger", "image": "registry.example/payments/ledger:9"}]}
            }
        }
    }
    sim.cluster.patch(APPS, "Deployment", "payments", "ledger", drift)
    app = sim.argo.refresh(sim.app_name)
    assert app["status"]["sync"]["status"] == "OutOfSync" and "operation" not in app


def test_an_automated_application_refuses_a_pinned_other_revision(tmp_path: Path) -> None:
    sim = make_sim(tmp_path, "crashloop-bad-release")
    with pytest.raises(Refusal) as refused:
        sim.argo.sync(sim.app_name, {"revision": sim.seed})
    assert refused.value.status == 400
    assert refused.value.message == f"Cannot sync to {sim.seed}: auto-sync currently set to main"
    assert sim.argo.sync(sim.app_name, {"revision": "main"})["operation"]["sync"]["revision"] == sim.seed


# --- failures ------------------------------------------------------------------------------------


def test_a_sync_to_a_commit_that_does_not_exist_fails_the_operation(tmp_path: Path) -> None:
    sim = make_sim(tmp_path, "crashloop-bad-release", manual=True)
    before = sim.deployment("shop", "checkout")
    missing = "0123456789abcdef0123456789abcdef01234567"
    accepted = sim.argo.sync(sim.app_name, {"revision": missing})
    assert accepted["operation"]["sync"]["revision"] == missing, "a commit is not looked up by the API"
    app = sim.app()
    operation = app["status"]["operationState"]
    assert operation["phase"] == "Error"
    assert missing in operation["message"] and "ComparisonError" in operation["message"]
    assert sim.deployment("shop", "checkout") == before
    assert (app["status"]["sync"]["status"], revisions(app)) == ("Synced", [sim.seed])
    assert [history_revisions(entry) for entry in app["status"]["history"]] == [[sim.seed]]  # no new deploy


def test_a_sync_to_a_branch_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    sim = make_sim(tmp_path, "crashloop-bad-release", manual=True)
    with pytest.raises(Refusal) as refused:
        sim.argo.sync(sim.app_name, {"revision": "no-such-branch"})
    assert refused.value.status == 400 and "Unable to resolve 'no-such-branch'" in refused.value.message


def test_an_object_the_api_server_refuses_fails_the_sync(tmp_path: Path) -> None:
    sim = make_sim(tmp_path, "oom-helm-values", manual=True)
    invalid = edited(sim.scenario, "values/ledger-values.yaml", "memory: 256Mi", "memory: 128Mi")  # < request
    commit_files(sim.repo, invalid)
    sim.argo.refresh(sim.app_name)
    sim.argo.sync(sim.app_name, {})
    operation = sim.app()["status"]["operationState"]
    assert operation["phase"] == "Failed"
    assert operation["message"].startswith("one or more objects failed to apply, reason: ")
    (result,) = operation["syncResult"]["resources"]
    assert (
        result["status"] == "SyncFailed" and "must be less than or equal to memory limit" in result["message"]
    )
    assert sim.container("payments", "ledger")["resources"]["limits"]["memory"] == "256Mi"


def test_sources_that_do_not_render_are_a_comparison_error(tmp_path: Path) -> None:
    sim = make_sim(tmp_path, "image-pull-typo")
    broken = edited(
        sim.scenario, "overlays/prod/kustomization.yaml", "../../bases/storefront", "../../bases/gone"
    )
    commit_files(sim.repo, broken)
    app = sim.argo.refresh(sim.app_name)
    assert app["status"]["sync"]["status"] == "Unknown"
    (condition,) = app["status"]["conditions"]
    assert condition["type"] == "ComparisonError" and "bases/gone" in condition["message"]
    assert "operation" not in app, "nothing to sync to"


def test_a_dry_run_sync_changes_nothing(tmp_path: Path) -> None:
    sim = make_sim(tmp_path, "crashloop-bad-release", manual=True)
    commit_files(
        sim.repo, edited(sim.scenario, "manifests/shop/checkout/deployment.yaml", "1.14.0", "1.13.2")
    )
    sim.argo.refresh(sim.app_name)
    before = sim.deployment("shop", "checkout")
    sim.argo.sync(sim.app_name, {"dryRun": True})
    app = sim.app()
    operation = app["status"]["operationState"]
    assert operation["phase"] == "Succeeded"
    assert [r["message"] for r in operation["syncResult"]["resources"]] == [
        "deployment.apps/checkout configured (dry run)"
    ]
    assert sim.deployment("shop", "checkout") == before
    assert app["status"]["sync"]["status"] == "OutOfSync"
    assert [history_revisions(entry) for entry in app["status"]["history"]] == [[sim.seed]]  # no new deploy


# --- managed resources ---------------------------------------------------------------------------


def test_managed_resources_hold_the_diff_between_git_and_live(tmp_path: Path) -> None:
    sim = make_sim(tmp_path, "oom-helm-values", manual=True)
    commit_files(
        sim.repo, edited(sim.scenario, "values/ledger-values.yaml", "memory: 256Mi", "memory: 512Mi")
    )
    sim.argo.refresh(sim.app_name)
    (item,) = sim.argo.managed_resources(sim.app_name, {})
    assert (item["group"], item["kind"], item["namespace"], item["name"]) == (
        "apps",
        "Deployment",
        "payments",
        "ledger",
    )
    assert item["modified"] is True
    target, live = json.loads(item["targetState"]), json.loads(item["liveState"])
    predicted = json.loads(item["predictedLiveState"])

    def limits(obj: dict[str, Any]) -> dict[str, Any]:
        return dict(obj["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"])

    assert (limits(target)["memory"], limits(live)["memory"], limits(predicted)["memory"]) == (
        "512Mi",
        "256Mi",
        "512Mi",
    )
    assert json.loads(item["normalizedLiveState"]) == live
    assert "512Mi" in item["diff"]

    sim.argo.sync(sim.app_name, {})
    sim.app()
    (item,) = sim.argo.managed_resources(sim.app_name, {})
    assert item["modified"] is False and json.loads(item["diff"]) == {}


def test_objects_the_sandbox_cluster_does_not_hold_keep_the_scenarios_status(tmp_path: Path) -> None:
    sim = make_sim(tmp_path, "crashloop-bad-release")
    items = {i["kind"]: i for i in sim.argo.managed_resources(sim.app_name, {})}
    assert items["ConfigMap"]["liveState"] == "null" and items["ConfigMap"]["modified"] is False
    assert json.loads(items["ConfigMap"]["targetState"])["metadata"]["name"] == "checkout-config"
    assert [i["kind"] for i in sim.argo.managed_resources(sim.app_name, {"kind": "Deployment"})] == [
        "Deployment"
    ]
    statuses = {r["kind"]: r["status"] for r in sim.app()["status"]["resources"]}
    assert statuses == {"ConfigMap": "Synced", "Deployment": "Synced"}


def test_the_resource_tree_links_pods_to_their_deployment(tmp_path: Path) -> None:
    sim = make_sim(tmp_path, "crashloop-bad-release")
    tree = sim.argo.resource_tree(sim.app_name, {})
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for node in tree["nodes"]:
        by_kind.setdefault(node["kind"], []).append(node)
    assert {n["name"] for n in by_kind["ReplicaSet"]} == {"checkout-7d9f8b6c5", "checkout-577f48fc94"}
    assert all(n["parentRefs"][0]["kind"] == "Deployment" for n in by_kind["ReplicaSet"])
    failing = [p for p in by_kind["Pod"] if p["parentRefs"][0]["name"] == "checkout-7d9f8b6c5"]
    assert failing and all(p["health"]["status"] == "Degraded" for p in failing)
    assert tree["orphanedNodes"] == []


def test_an_unknown_application_or_project_is_refused(tmp_path: Path) -> None:
    sim = make_sim(tmp_path, "crashloop-bad-release")
    with pytest.raises(Refusal) as refused:
        sim.argo.find("nope")
    assert refused.value.status == 404
    with pytest.raises(Refusal) as refused:
        sim.argo.find(sim.app_name, project="other")
    assert refused.value.status == 403
