"""A generated Argo CD estate, and a fast fake of Argo CD's API serving it, for drift benchmarks and tests.

`generate_estate(applications, resources, drifted=..., seed=...)` builds Argo CD Applications
(v1alpha1, as the API sends them) and, per Application, its managed resources as
`GET /api/v1/applications/{name}/managed-resources` answers them: a mix of Deployments (containers
with resources, env, probes), Services, ConfigMaps and ServiceAccounts, spread evenly over the
Applications. Each resource's `targetState` is the manifest Argo CD rendered from Git; its
`liveState` is that manifest as the API server keeps it — server-set defaults filled in
(`imagePullPolicy`, `terminationMessagePath`, probe thresholds, the Service's `clusterIP`,
`protocol: TCP`, ...), a `status`, and metadata a comparison must not count (`managedFields`,
`resourceVersion`, `uid`, `creationTimestamp`, `generation`, the last-applied annotation). So every
target is contained in its live state, and a correct normaliser finds no drift — except in the
`drifted` resources, changed live (a Deployment's replicas, a ConfigMap value, a Service port, a
ServiceAccount's token automount), whose Applications are `OutOfSync`. `Estate.drifts` says
exactly what was changed, for tests to compare a scan's findings with.

`EstateArgoCD(estate, token=...)` serves the estate on loopback: `GET /api/v1/applications`
(`?projects=`, repeatable), `GET /api/v1/applications/{name}` (`?appNamespace=`, `?project=`,
`?refresh=` accepted and ignored: a generated estate does not change) and
`GET /api/v1/applications/{name}/managed-resources`, with grpc-gateway error bodies. Every answer
is serialised once, when the server is made, so that the fake's own cost per request is a dict
lookup and a socket write.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from sandbox.argocd_api import LoopbackServer

APP_NAMESPACE = "argocd"
REPO_URL = "https://git.example/platform/gitops.git"
MANAGER = "argocd-controller"
# Teams: each is an Argo CD project and the destination namespace of its Applications.
TEAMS = ("payments", "checkout", "search", "identity", "catalog", "billing", "shipping", "platform")
COMPONENTS = ("api", "worker", "web", "gateway", "indexer", "notifier", "scheduler", "cache")
# The kinds a component is made of, in the order an Application's resources are generated.
KINDS = ("Deployment", "Service", "ConfigMap", "ServiceAccount")
_GROUPS = {"Deployment": "apps", "Service": "", "ConfigMap": "", "ServiceAccount": ""}
_API_VERSIONS = {"Deployment": "apps/v1", "Service": "v1", "ConfigMap": "v1", "ServiceAccount": "v1"}
_CREATED = "2024-05-14T09:12:31Z"
_UPDATED = "2024-06-02T17:45:08Z"


@dataclass(frozen=True)
class PlantedDrift:
    """One resource changed live: the field (a JSON pointer) and its desired and live values."""

    application: str
    group: str
    kind: str
    namespace: str
    name: str
    path: str
    desired: Any
    live: Any

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.kind}/{self.name}"


@dataclass
class Estate:
    """Argo CD Applications (JSON as the API sends them) and each one's managed resources (the
    items of its managed-resources answer, states as JSON strings), keyed by Application name."""

    applications: list[dict[str, Any]]
    managed: dict[str, list[dict[str, Any]]]
    drifts: list[PlantedDrift] = field(default_factory=list)

    @property
    def resources(self) -> int:
        return sum(len(items) for items in self.managed.values())

    @property
    def drifted_apps(self) -> set[str]:
        return {d.application for d in self.drifts}

    def application(self, name: str) -> dict[str, Any]:
        for app in self.applications:
            if app["metadata"]["name"] == name:
                return app
        raise KeyError(name)

    def items(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(application name, managed resource item) for every resource of the estate."""
        for name, items in self.managed.items():
            for item in items:
                yield name, item


# ---- generation --------------------------------------------------------------------------------


def generate_estate(applications: int, resources: int, *, drifted: int = 0, seed: int = 0) -> Estate:
    """`resources` managed resources spread evenly over `applications` Applications (the first
    `resources % applications` have one more), `drifted` of them, chosen at random, changed live;
    all reproducible from `seed`."""
    if applications < 1:
        raise ValueError("an estate needs at least one application")
    if resources < 0 or drifted < 0:
        raise ValueError("resources and drifted cannot be negative")
    if drifted > resources:
        raise ValueError(f"cannot drift {drifted} of {resources} resources")
    rng = random.Random(seed)
    per_app, extra = divmod(resources, applications)
    teams = TEAMS[: min(len(TEAMS), applications)]

    counts = [per_app + (1 if i < extra else 0) for i in range(applications)]
    # (application index, resource index within it) of the resources to change live
    everything = [(a, j) for a, n in enumerate(counts) for j in range(n)]
    chosen = rng.sample(everything, drifted)
    to_drift = set(chosen)

    apps: list[dict[str, Any]] = []
    managed: dict[str, list[dict[str, Any]]] = {}
    drifts: list[PlantedDrift] = []
    for a in range(applications):
        team = teams[a % len(teams)]
        name = f"{team}-{a:04d}"
        revision = hashlib.sha1(f"{seed}:{name}".encode()).hexdigest()
        items: list[dict[str, Any]] = []
        statuses: list[dict[str, Any]] = []
        images: set[str] = set()
        for j in range(counts[a]):
            kind = KINDS[j % len(KINDS)]
            component = _component_name(j // len(KINDS))
            desired = _desired(kind, name, team, component, rng)
            if kind == "Deployment":
                images.update(c["image"] for c in desired["spec"]["template"]["spec"]["containers"])
            live = _live(desired, rng)
            drift = _drift(live, name) if (a, j) in to_drift else None
            if drift is not None:
                drifts.append(drift)
            items.append(_managed_item(desired, live, drift is not None))
            statuses.append(_resource_status(desired, drift is not None))
        apps.append(_application(name, team, revision, statuses, sorted(images)))
        managed[name] = items
    return Estate(applications=apps, managed=managed, drifts=drifts)


def _component_name(index: int) -> str:
    base = COMPONENTS[index % len(COMPONENTS)]
    return base if index < len(COMPONENTS) else f"{base}-{index // len(COMPONENTS)}"


def _labels(app: str, component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": component,
        "app.kubernetes.io/instance": app,
        "app.kubernetes.io/part-of": app.rsplit("-", 1)[0],
        "app.kubernetes.io/managed-by": "argocd",
    }


def _desired(kind: str, app: str, team: str, component: str, rng: random.Random) -> dict[str, Any]:
    """The manifest as Argo CD rendered it from Git (with its instance label)."""
    base = f"{app}-{component}"
    labels = _labels(app, component)
    selector = {"app.kubernetes.io/name": component, "app.kubernetes.io/instance": app}
    if kind == "ConfigMap":
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{base}-config", "namespace": team, "labels": labels},
            "data": {
                "LOG_FORMAT": "json",
                "CACHE_TTL_SECONDS": str(rng.choice((30, 60, 300))),
                "UPSTREAM_URL": f"http://{team}-gateway.{team}.svc.cluster.local",
                "FEATURE_FLAGS": rng.choice(("", "beta-search", "beta-search,new-checkout")),
            },
        }
    if kind == "ServiceAccount":
        return {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": base, "namespace": team, "labels": labels},
            "automountServiceAccountToken": False,
        }
    if kind == "Service":
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": base, "namespace": team, "labels": labels},
            "spec": {
                "selector": selector,
                "ports": [
                    {"name": "http", "port": 80, "targetPort": "http"},
                    {"name": "metrics", "port": 9090, "targetPort": "metrics"},
                ],
            },
        }
    cpu, memory = rng.choice((("100m", "128Mi"), ("250m", "256Mi"), ("500m", "512Mi")))
    version = f"{rng.randint(1, 4)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}"
    probe = {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": base, "namespace": team, "labels": labels},
        "spec": {
            "replicas": rng.choice((1, 2, 3)),
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": labels, "annotations": {"prometheus.io/scrape": "true"}},
                "spec": {
                    "serviceAccountName": base,
                    "containers": [
                        {
                            "name": component,
                            "image": f"registry.example/{team}/{component}:{version}",
                            "args": ["--listen=:8080", "--metrics=:9090"],
                            "ports": [
                                {"name": "http", "containerPort": 8080},
                                {"name": "metrics", "containerPort": 9090},
                            ],
                            "env": [
                                {"name": "LOG_LEVEL", "value": rng.choice(("info", "debug", "warn"))},
                                {"name": "GOMAXPROCS", "value": "2"},
                                {
                                    "name": "POD_NAMESPACE",
                                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
                                },
                            ],
                            "envFrom": [{"configMapRef": {"name": f"{base}-config"}}],
                            "resources": {
                                "requests": {"cpu": cpu, "memory": memory},
                                "limits": {"memory": memory},
                            },
                            "readinessProbe": copy.deepcopy(probe),
                            "livenessProbe": dict(copy.deepcopy(probe), initialDelaySeconds=15),
                        }
                    ],
                },
            },
        },
    }


def _uid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _managed_fields(desired: dict[str, Any], status: bool) -> list[dict[str, Any]]:
    """Server-side field ownership, shaped like the real thing (its content is never compared)."""

    def fields(value: Any) -> Any:
        if isinstance(value, dict):
            return {f"f:{k}": fields(v) for k, v in value.items() if k not in ("apiVersion", "kind")}
        if isinstance(value, list):
            keyed = [v for v in value if isinstance(v, dict) and "name" in v]
            return {"k:" + _compact({"name": v["name"]}): fields(v) for v in keyed}
        return {}

    entries = [
        {
            "manager": MANAGER,
            "operation": "Update",
            "apiVersion": desired["apiVersion"],
            "time": _UPDATED,
            "fieldsType": "FieldsV1",
            "fieldsV1": fields({k: v for k, v in desired.items() if k != "metadata"})
            | {"f:metadata": {"f:labels": {".": {}}, "f:annotations": {".": {}}}},
        }
    ]
    if status:
        entries.append(
            {
                "manager": "kube-controller-manager",
                "operation": "Update",
                "apiVersion": desired["apiVersion"],
                "time": _UPDATED,
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:status": {"f:replicas": {}, "f:conditions": {".": {}}}},
                "subresource": "status",
            }
        )
    return entries


def _live(desired: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """The object as the API server keeps it: desired + defaults + status + metadata noise."""
    live = copy.deepcopy(desired)
    kind = desired["kind"]
    meta = live["metadata"]
    meta["uid"] = _uid(rng)
    meta["resourceVersion"] = str(rng.randint(100_000, 9_999_999))
    meta["creationTimestamp"] = _CREATED
    meta["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": json.dumps(desired, separators=(",", ":")) + "\n"
    }
    meta["managedFields"] = _managed_fields(desired, status=kind == "Deployment")
    if kind == "Deployment":
        meta["generation"] = rng.randint(1, 12)
        meta["annotations"]["deployment.kubernetes.io/revision"] = str(rng.randint(1, 9))
        spec = live["spec"]
        spec.update(
            progressDeadlineSeconds=600,
            revisionHistoryLimit=10,
            strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
        )
        template = spec["template"]
        template["metadata"]["creationTimestamp"] = None
        pod = template["spec"]
        pod.update(
            dnsPolicy="ClusterFirst",
            restartPolicy="Always",
            schedulerName="default-scheduler",
            securityContext={},
            serviceAccount=pod["serviceAccountName"],
            terminationGracePeriodSeconds=30,
        )
        for container in pod["containers"]:
            container.update(
                imagePullPolicy="IfNotPresent",
                terminationMessagePath="/dev/termination-log",
                terminationMessagePolicy="File",
            )
            for port in container["ports"]:
                port["protocol"] = "TCP"
            for env in container["env"]:
                if "valueFrom" in env:
                    env["valueFrom"]["fieldRef"]["apiVersion"] = "v1"
            for probe_name in ("readinessProbe", "livenessProbe"):
                probe = container[probe_name]
                probe["httpGet"]["scheme"] = "HTTP"
                probe.update(timeoutSeconds=1, successThreshold=1, failureThreshold=3)
        replicas = spec["replicas"]
        live["status"] = _deployment_status(replicas, meta["generation"])
    elif kind == "Service":
        ip = f"10.96.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        spec = live["spec"]
        spec.update(
            type="ClusterIP",
            clusterIP=ip,
            clusterIPs=[ip],
            internalTrafficPolicy="Cluster",
            ipFamilies=["IPv4"],
            ipFamilyPolicy="SingleStack",
            sessionAffinity="None",
        )
        for port in spec["ports"]:
            port["protocol"] = "TCP"
        live["status"] = {"loadBalancer": {}}
    return live


def _deployment_status(replicas: int, generation: int) -> dict[str, Any]:
    return {
        "observedGeneration": generation,
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
        "conditions": [
            {
                "type": "Available",
                "status": "True",
                "lastUpdateTime": _UPDATED,
                "lastTransitionTime": _UPDATED,
                "reason": "MinimumReplicasAvailable",
                "message": "Deployment has minimum availability.",
            },
            {
                "type": "Progressing",
                "status": "True",
                "lastUpdateTime": _UPDATED,
                "lastTransitionTime": _CREATED,
                "reason": "NewReplicaSetAvailable",
                "message": "ReplicaSet has successfully progressed.",
            },
        ],
    }


def _drift(live: dict[str, Any], app: str) -> PlantedDrift:
    """Change one declared field of `live` in place, as a hand edit on the cluster would."""
    kind = live["kind"]
    if kind == "Deployment":
        desired = live["spec"]["replicas"]
        changed: Any = desired + 2
        live["spec"]["replicas"] = changed
        live["status"] = _deployment_status(changed, live["metadata"]["generation"] + 1)
        live["metadata"]["generation"] += 1
        path = "/spec/replicas"
    elif kind == "ConfigMap":
        desired = live["data"]["LOG_FORMAT"]
        changed = "text"
        live["data"]["LOG_FORMAT"] = changed
        path = "/data/LOG_FORMAT"
    elif kind == "Service":
        desired = live["spec"]["ports"][0]["port"]
        changed = 8080
        live["spec"]["ports"][0]["port"] = changed
        path = "/spec/ports/0/port"
    else:
        desired = live["automountServiceAccountToken"]
        changed = True
        live["automountServiceAccountToken"] = changed
        path = "/automountServiceAccountToken"
    meta = live["metadata"]
    meta["resourceVersion"] = str(int(meta["resourceVersion"]) + 1)
    return PlantedDrift(
        application=app,
        group=_GROUPS[kind],
        kind=kind,
        namespace=meta["namespace"],
        name=meta["name"],
        path=path,
        desired=desired,
        live=changed,
    )


def _merge(base: Any, over: Any) -> Any:
    """`over` applied onto `base` (dicts merged, anything else replaced): what a sync would leave."""
    if isinstance(base, dict) and isinstance(over, dict):
        merged = dict(base)
        for key, value in over.items():
            merged[key] = _merge(base.get(key), value)
        return merged
    if isinstance(base, list) and isinstance(over, list) and len(base) == len(over):
        return [_merge(b, o) for b, o in zip(base, over, strict=True)]
    return copy.deepcopy(over)


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _managed_item(desired: dict[str, Any], live: dict[str, Any], modified: bool) -> dict[str, Any]:
    live_json = _compact(live)
    predicted = _compact(_merge(live, desired)) if modified else live_json
    meta = desired["metadata"]
    return {
        "group": _GROUPS[desired["kind"]],
        "kind": desired["kind"],
        "namespace": meta["namespace"],
        "name": meta["name"],
        "targetState": _compact(desired),
        "liveState": live_json,
        "normalizedLiveState": live_json,
        "predictedLiveState": predicted,
        "resourceVersion": live["metadata"]["resourceVersion"],
        "hook": False,
        "modified": modified,
    }


def _resource_status(desired: dict[str, Any], modified: bool) -> dict[str, Any]:
    kind = desired["kind"]
    entry: dict[str, Any] = {
        "group": _GROUPS[kind],
        "version": _API_VERSIONS[kind].rsplit("/", 1)[-1],
        "kind": kind,
        "namespace": desired["metadata"]["namespace"],
        "name": desired["metadata"]["name"],
        "status": "OutOfSync" if modified else "Synced",
    }
    if kind in ("Deployment", "Service"):
        entry["health"] = {"status": "Healthy"}
    return entry


def _application(
    name: str, team: str, revision: str, resources: list[dict[str, Any]], images: list[str]
) -> dict[str, Any]:
    out_of_sync = any(r["status"] == "OutOfSync" for r in resources)
    source = {"repoURL": REPO_URL, "path": f"apps/{team}/{name}", "targetRevision": "main"}
    destination = {"server": "https://kubernetes.default.svc", "namespace": team}
    return {
        "metadata": {
            "name": name,
            "namespace": APP_NAMESPACE,
            "uid": _uid(random.Random(f"app:{name}")),
            "resourceVersion": str(int(revision[:6], 16)),
            "generation": 3,
            "creationTimestamp": _CREATED,
            "labels": {"team": team},
        },
        "spec": {
            "project": team,
            "source": source,
            "destination": destination,
            "syncPolicy": {"syncOptions": ["CreateNamespace=true"]},
        },
        "status": {
            "resources": resources,
            "sync": {
                "status": "OutOfSync" if out_of_sync else "Synced",
                "revision": revision,
                "comparedTo": {"source": source, "destination": destination},
            },
            "health": {"status": "Healthy"},
            "reconciledAt": _UPDATED,
            "sourceType": "Directory",
            "summary": {"images": images} if images else {},
        },
    }


# ---- the fake Argo CD --------------------------------------------------------------------------

_GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 405: 12, 500: 13, 503: 14}


def _error(status: int, message: str) -> bytes:
    return _compact({"error": message, "code": _GRPC_CODES.get(status, 2), "message": message}).encode()


class EstateArgoCD(LoopbackServer):
    """Argo CD's application API over a generated `Estate`, answers serialised in advance.

    With `token`, requests without `Authorization: Bearer <token>` get 401 (none) or 403 (another).
    `requests` records (method, path, query) as the base server does; `busy_seconds` sums the time
    spent answering, so a benchmark can tell the fake's share of a scan.
    """

    thread_name = "estate-argocd-api"

    def __init__(self, estate: Estate, *, token: str = "", host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host=host, port=port)
        self.estate = estate
        self.token = token
        self.busy_seconds = 0.0
        self._app_bytes: dict[tuple[str, str], bytes] = {}
        self._managed_bytes: dict[tuple[str, str], bytes] = {}
        self._projects: dict[tuple[str, str], str] = {}
        by_project: dict[str, list[bytes]] = {}
        encoded: list[bytes] = []
        for app in estate.applications:
            meta = app["metadata"]
            key = (meta["name"], meta.get("namespace") or APP_NAMESPACE)
            data = _compact(app).encode()
            project = app["spec"].get("project") or "default"
            self._app_bytes[key] = data
            self._projects[key] = project
            self._managed_bytes[key] = _compact({"items": estate.managed.get(meta["name"], [])}).encode()
            encoded.append(data)
            by_project.setdefault(project, []).append(data)
        self._list_all = self._list(encoded)
        self._list_by_project = {project: self._list(items) for project, items in by_project.items()}

    @staticmethod
    def _list(items: list[bytes]) -> bytes:
        return b'{"metadata":{"resourceVersion":"1"},"items":[' + b",".join(items) + b"]}"

    def error_body(self, status: int, message: str) -> Any:
        return json.loads(_error(status, message))

    def respond(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> tuple[int, Any]:
        status, data = self.answer(method, path, {k: [v] for k, v in query.items()}, headers)
        return status, json.loads(data)

    def answer(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str]
    ) -> tuple[int, bytes]:
        """(status, JSON body) for a request; `query` holds every value of each parameter."""
        if self.token:
            auth = headers.get("authorization", "")
            if not auth:
                return 401, _error(401, "no session information")
            if auth != f"Bearer {self.token}":
                return 403, _error(403, "permission denied")
        parts = [unquote(p) for p in path.split("/") if p]
        if parts[:3] != ["api", "v1", "applications"] or len(parts) > 5:
            return 404, _error(404, "Not Found")
        if len(parts) == 5 and parts[4] != "managed-resources":
            return 404, _error(404, "Not Found")
        if method != "GET":
            return 405, _error(405, f"method {method} not allowed")
        if len(parts) == 3:
            projects = [p for value in query.get("projects", []) for p in value.split(",") if p]
            if not projects:
                return 200, self._list_all
            if len(projects) == 1:
                return 200, self._list_by_project.get(projects[0], self._list([]))
            wanted = set(projects)
            return 200, self._list(
                [data for key, data in self._app_bytes.items() if self._projects[key] in wanted]
            )
        name = parts[3]
        app_namespace = (query.get("appNamespace") or [""])[-1] or APP_NAMESPACE
        key = (name, app_namespace)
        if key not in self._app_bytes:
            return 404, _error(404, f'applications.argoproj.io "{name}" not found')
        project = (query.get("project") or [""])[-1]
        if project and self._projects[key] != project:
            return 403, _error(403, "permission denied")
        if len(parts) == 4:
            return 200, self._app_bytes[key]
        return 200, self._managed_bytes[key]

    def _make_handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self
        busy_lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True
            server_version = "medic-estate/1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self, method: str) -> None:
                started = time.perf_counter()
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                with outer._lock:
                    outer.requests.append((method, url.path, {k: v[-1] for k, v in query.items()}))
                if outer.delay > 0:
                    outer._stopping.wait(outer.delay)
                fault = outer._take_fault()
                if fault is not None:
                    status, data = fault, _error(fault, "injected fault")
                else:
                    try:
                        headers = {"authorization": self.headers.get("Authorization", "")}
                        status, data = outer.answer(method, url.path, query, headers)
                    except Exception as exc:  # a bug in the fake is a 500, as a real server would send
                        status, data = 500, _error(500, f"{type(exc).__name__}: {exc}")
                # Counted before the answer is sent, so that a client that has its answer also
                # sees the time it took (counting after the write raced with the reader).
                elapsed = time.perf_counter() - started
                with busy_lock:
                    outer.busy_seconds += elapsed
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up

            def do_GET(self) -> None:  # noqa: N802 - the stdlib's naming
                self._serve("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._serve("POST")

        return Handler
