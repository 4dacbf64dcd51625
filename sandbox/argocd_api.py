"""A scenario's Argo CD Applications served as Argo CD's REST API on loopback.

Speaks the JSON shapes of the real API server: `GET /api/v1/applications` (`{"items": [...]}`,
`?projects=`), `GET /api/v1/applications/{name}` (`?appNamespace=`, `?project=`,
`?refresh=normal|hard`), `GET /api/v1/applications/{name}/managed-resources`,
`GET /api/v1/applications/{name}/resource-tree`, `GET /api/v1/applications/{name}/manifests`
(`?revision=`, or `?revisions=` repeated with `?sourcePositions=` for a multi-source Application:
`{"manifests": [<JSON string>, ...], "namespace", "server", "revision", "sourceType"}`; a revision
that does not resolve is Argo CD's 500 with grpc code 2) and `POST /api/v1/applications/{name}/sync`
(an `applicationSyncRequest`), `GET /api/v1/clusters` (`{"items": [{"name", "server", ...}]}`:
`in-cluster` and the `clusters` given), with grpc-gateway error bodies (`{"error", "code", "message"}`)
and an optional bearer-token check. Faults (an HTTP status, a late answer) can be injected.

`argocd_version` "3" plays Argo CD 3.x: Applications come without `status.resources[].health`
(the resource tree has it) and the controller finds an Application's workloads by the tracking-id
annotation alone (`sandbox.scenario.Scenario.argocd_version` seeds the objects' tracking to match).

Two modes. Without `repo`, the Applications are served as the scenario froze them (what the
analysis evaluation wants: the incident as it was); sync and manifests need the repository. With
`repo` — the sandbox's bare GitOps repository — a simulated application controller
(`sandbox.argocd_sync.ArgoController`) follows it: refresh and sync from Git, render at any
revision, write to the sandbox cluster, report sync and health from it.

`LoopbackServer` is the small stdlib threading server both API fakes here share.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from domain.kube.clusters import IN_CLUSTER_NAME, IN_CLUSTER_SERVER
from sandbox.argocd_sync import (
    FAILED_PRECONDITION,
    INVALID_ARGUMENT,
    ArgoController,
    DeployClock,
    DeployNotifier,
    Refusal,
    resource_tree,
)
from sandbox.cluster import SandboxCluster
from sandbox.loopback import BackgroundHTTPServer
from sandbox.render import (
    RenderError,
    Tree,
    in_sync,
    merge_diff,
    predicted_live,
    render_application,
    target_state,
)


def without_resource_health(answer: Any) -> Any:
    """An Application (or a list of them) as Argo CD 3.x sends it: status.resources without the
    per-resource `health`, which 3.x no longer persists (the resource tree has it)."""
    if isinstance(answer, dict) and isinstance(answer.get("items"), list):
        return {**answer, "items": [without_resource_health(a) for a in answer["items"]]}
    if not isinstance(answer, dict) or not isinstance(answer.get("status"), dict):
        return answer
    status = answer["status"]
    resources = [
        {k: v for k, v in r.items() if k != "health"} if isinstance(r, dict) else r
        for r in status.get("resources") or []
    ]
    return {**answer, "status": {**status, "resources": resources}} if "resources" in status else answer


class Query(dict[str, str]):
    """A request's query: the last value of each parameter, as a dict; `all(name)` every value of a
    parameter that repeats (`revisions=a&revisions=b`)."""

    def __init__(self, lists: Mapping[str, list[str]]) -> None:
        super().__init__({k: v[-1] for k, v in lists.items()})
        self._lists = {k: list(v) for k, v in lists.items()}

    def all(self, name: str) -> list[str]:
        return list(self._lists.get(name, []))


# (status, json body) for a request: method, path, query (last value of each parameter), headers.
Responder = Callable[[str, str, dict[str, str], dict[str, str], bytes], tuple[int, Any]]

_SUBRESOURCES = ("", "managed-resources", "resource-tree", "manifests", "sync")
# grpc codes Argo CD's gateway puts in error bodies
_GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 500: 13, 503: 14}


class LoopbackServer(BackgroundHTTPServer):
    """Serves JSON from a responder on 127.0.0.1 in a background thread (port 0: a free port).

    `start()` returns the base URL, `stop()` is idempotent, usable as a context manager.
    `fail_next(status, times)` answers the next requests with an error; `delay` holds every
    answer back that many seconds (a timeout for a client with a shorter one).
    """

    thread_name = "sandbox-api"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host=host, port=port)
        self._lock = threading.Lock()
        self._faults: list[int] = []
        self.delay = 0.0
        self.requests: list[tuple[str, str, dict[str, str]]] = []

    def respond(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> tuple[int, Any]:
        raise NotImplementedError

    def error_body(self, status: int, message: str) -> Any:
        return {"error": message}

    def fail_next(self, status: int, times: int = 1) -> None:
        with self._lock:
            self._faults.extend([status] * times)

    def _take_fault(self) -> int | None:
        with self._lock:
            return self._faults.pop(0) if self._faults else None

    def _make_handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True
            server_version = "medic-sandbox/1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                url = urlsplit(self.path)
                query = Query(parse_qs(url.query))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with outer._lock:
                    outer.requests.append((method, url.path, query))
                if outer.delay > 0:
                    outer._stopping.wait(outer.delay)
                fault = outer._take_fault()
                if fault is not None:
                    status, payload = fault, outer.error_body(fault, "injected fault")
                else:
                    try:
                        status, payload = outer.respond(method, url.path, query, headers, body)
                    except Exception as exc:  # a bug in a fake is a 500, as a real server would send
                        status, payload = 500, outer.error_body(500, f"{type(exc).__name__}: {exc}")
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def do_GET(self) -> None:  # noqa: N802 - the stdlib's naming
                self._serve("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._serve("POST")

        return Handler


class SandboxArgoCD(LoopbackServer):
    """Argo CD's application API over a scenario's `argocd:` list.

    With `token`, requests without `Authorization: Bearer <token>` get 401 (no token) or 403.
    With `cluster`, managed resources and the resource tree carry the live objects of the sandbox
    cluster. With `repo` (and `cluster`), Argo CD follows that bare repository (see the module
    docstring): `sync_reads` is how many requests a sync operation stays `Running` before it runs;
    `poll_interval` (seconds, 0: off) runs the controller's periodic reconciliation on a thread of
    its own, so that automated Applications pick up new commits without being asked to refresh.
    With `notify_url` (and `notify_token`, sent as a bearer token), a successful sync to a new
    revision posts an Argo CD Notifications webhook there (`sandbox.argocd_sync.DeployNotifier`);
    with `deploy_clock`, syncs record when they changed each workload (for the sandbox Prometheus).
    `clusters` (each a `name` and `server`) are the clusters it lists besides its own `in-cluster`.
    """

    thread_name = "sandbox-argocd-api"

    def __init__(
        self,
        applications: list[dict[str, Any]],
        *,
        token: str = "",
        cluster: SandboxCluster | None = None,
        repo: str | Path | None = None,
        sync_reads: int = 0,
        poll_interval: float = 0.0,
        gitops: Mapping[str, str] | None = None,
        notify_url: str = "",
        notify_token: str = "",
        deploy_clock: DeployClock | None = None,
        argocd_version: str = "2",
        clusters: Sequence[Mapping[str, str]] = (),
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        if argocd_version not in ("2", "3"):
            raise ValueError(f"argocd_version must be 2 or 3, not {argocd_version!r}")
        self.argocd_version = argocd_version
        self.notifier = DeployNotifier(notify_url, notify_token) if notify_url else None
        self.applications = copy.deepcopy(applications)
        # Frozen mode: the scenario's GitOps files, from which managed resources get their target
        # state (what Git declares), so that live changes show as diffs.
        self.gitops = dict(gitops) if gitops else None
        self.token = token
        self.cluster = cluster
        # Argo CD's cluster list: its own cluster, then the others it was given (name, server).
        self.clusters = [{"name": IN_CLUSTER_NAME, "server": IN_CLUSTER_SERVER}] + [
            {"name": str(c.get("name") or ""), "server": str(c.get("server") or "")} for c in clusters
        ]
        self.controller: ArgoController | None = None
        if repo is not None:
            if cluster is None:
                raise ValueError("an Argo CD that follows a repository needs the sandbox cluster to sync to")
            self.controller = ArgoController(
                applications,
                cluster,
                repo,
                sync_reads=sync_reads,
                deploy_clock=deploy_clock,
                notifier=self.notifier,
                annotation_only=argocd_version == "3",
            )
        self.poll_interval = max(0.0, float(poll_interval))
        self._poller: threading.Thread | None = None

    def start(self) -> str:
        url = super().start()
        if self.controller is not None and self.poll_interval > 0 and self._poller is None:
            self._poller = threading.Thread(target=self._poll, name="sandbox-argocd-poll", daemon=True)
            self._poller.start()
        return url

    def stop(self) -> None:
        super().stop()  # sets _stopping, which ends the poller's wait
        if self._poller is not None:
            self._poller.join(timeout=5)
            self._poller = None
        if self.notifier is not None:
            self.notifier.close()

    def _poll(self) -> None:
        controller = self.controller
        assert controller is not None
        while not self._stopping.wait(self.poll_interval):
            controller.poll()

    def error_body(self, status: int, message: str) -> Any:
        return {"error": message, "code": _GRPC_CODES.get(status, 2), "message": message}

    @staticmethod
    def _cluster_item(cluster: Mapping[str, str]) -> dict[str, Any]:
        # a `v1alpha1Cluster` as the API sends it: credentials are never part of the answer
        return {
            "name": cluster["name"],
            "server": cluster["server"],
            "config": {"tlsClientConfig": {"insecure": False}},
            "connectionState": {"status": "Successful", "message": ""},
            "info": {"applicationsCount": 0},
        }

    def _find(self, name: str, app_namespace: str) -> dict[str, Any] | None:
        for app in self.applications:
            meta = app.get("metadata") or {}
            if meta.get("name") == name and (
                not app_namespace or (meta.get("namespace") or "argocd") == app_namespace
            ):
                return app
        return None

    def _managed(self, app: dict[str, Any]) -> list[dict[str, Any]]:
        rendered = self._managed_from_git(app)
        if rendered is not None:
            return rendered
        items = []
        for resource in (app.get("status") or {}).get("resources") or []:
            group, version = resource.get("group") or "", resource.get("version") or "v1"
            live = None
            if self.cluster is not None:
                api_version = f"{group}/{version}" if group else version
                live = self.cluster.peek(
                    api_version, str(resource.get("kind")), resource.get("namespace") or "", resource["name"]
                )
            state = json.dumps(live) if live is not None else "null"
            items.append(
                {
                    "group": group,
                    "kind": resource.get("kind"),
                    "namespace": resource.get("namespace") or "",
                    "name": resource.get("name"),
                    "targetState": state,
                    "liveState": state,
                    "normalizedLiveState": state,
                    "predictedLiveState": state,
                    "hook": False,
                    "modified": resource.get("status") == "OutOfSync",
                }
            )
        return items

    def _managed_from_git(self, app: dict[str, Any]) -> list[dict[str, Any]] | None:
        """Managed resources with Git's target state, rendered from the scenario's GitOps files at
        the Application's sources (None: no files, no cluster, or the sources do not render)."""
        if self.gitops is None or self.cluster is None:
            return None
        spec, status = app.get("spec") or {}, app.get("status") or {}
        sources = [dict(s) for s in spec.get("sources") or []] or (
            [dict(spec["source"])] if spec.get("source") else []
        )
        tree = Tree.of(self.gitops)
        trees: list[Tree | None] = [None if s.get("chart") else tree for s in sources]
        workloads = []
        for resource in status.get("resources") or []:
            if resource.get("kind") not in ("Deployment", "StatefulSet", "DaemonSet"):
                continue
            version = resource.get("version") or "v1"
            group = resource.get("group") or ""
            live = self.cluster.peek(
                f"{group}/{version}" if group else version,
                str(resource["kind"]),
                resource.get("namespace") or "",
                resource["name"],
            )
            if live is not None:
                workloads.append(live)
        namespace = str((spec.get("destination") or {}).get("namespace") or "")
        try:
            rendering = render_application(sources, trees, namespace=namespace, workloads=workloads)
        except RenderError:
            return None
        if not rendering.objects:
            return None
        items = []
        for desired in rendering.objects:
            live = self.cluster.peek(*desired.key)
            predicted = predicted_live(desired, live) if live is not None else None
            live_json = json.dumps(live) if live is not None else "null"
            items.append(
                {
                    "group": desired.group,
                    "kind": desired.key[1],
                    "namespace": desired.key[2],
                    "name": desired.key[3],
                    "targetState": json.dumps(target_state(desired)),
                    "liveState": live_json,
                    "normalizedLiveState": live_json,
                    "predictedLiveState": json.dumps(predicted) if predicted is not None else "null",
                    "diff": json.dumps(merge_diff(live, predicted)) if live is not None else "",
                    "hook": False,
                    "modified": live is not None and not in_sync(desired, live),
                }
            )
        return items

    def respond(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> tuple[int, Any]:
        if self.token:
            auth = headers.get("authorization", "")
            if not auth:
                return 401, self.error_body(401, "no session information")
            if auth != f"Bearer {self.token}":
                return 403, self.error_body(403, "permission denied")
        parts = [unquote(p) for p in path.split("/") if p]
        if parts == ["api", "v1", "clusters"]:
            if method != "GET":
                return 405, self.error_body(405, f"method {method} not allowed")
            return 200, {"metadata": {}, "items": [self._cluster_item(c) for c in self.clusters]}
        sub = parts[4] if len(parts) == 5 else ""
        if parts[:3] != ["api", "v1", "applications"] or len(parts) > 5 or sub not in _SUBRESOURCES:
            return 404, self.error_body(404, "Not Found")
        if method != ("POST" if sub == "sync" else "GET"):
            return 405, self.error_body(405, f"method {method} not allowed")
        route = (method, sub)
        if self.controller is not None:
            try:
                status, answer = 200, self._follow(self.controller, route, parts, query, body)
            except Refusal as refusal:
                return refusal.status, refusal.body()
        else:
            status, answer = self._frozen(route, parts, query)
        if self.argocd_version == "3" and status == 200 and sub in ("", "sync"):
            answer = without_resource_health(answer)
        return status, answer

    def _follow(
        self,
        controller: ArgoController,
        route: tuple[str, str],
        parts: list[str],
        query: dict[str, str],
        body: bytes,
    ) -> Any:
        """An answer of the simulated Argo CD that follows the repository."""
        if len(parts) == 3:
            return {
                "metadata": {"resourceVersion": "1"},
                "items": controller.applications(project=query.get("projects") or query.get("project") or ""),
            }
        name, app_namespace, project = parts[3], query.get("appNamespace", ""), query.get("project", "")
        if route == ("GET", ""):
            refresh = query.get("refresh", "")
            if refresh:  # Argo CD: "hard" is hard, any other value a normal refresh
                return controller.refresh(name, app_namespace, project, hard=refresh == "hard")
            return controller.find(name, app_namespace, project)
        if route == ("GET", "managed-resources"):
            return {"items": controller.managed_resources(name, query)}
        if route == ("GET", "resource-tree"):
            return controller.resource_tree(name, query)
        if route == ("GET", "manifests"):
            every = query if isinstance(query, Query) else Query({k: [v] for k, v in query.items()})
            return controller.manifests(name, query, every.all("revisions"), every.all("sourcePositions"))
        try:
            request = json.loads(body or b"{}")
        except ValueError as exc:
            raise Refusal(400, INVALID_ARGUMENT, f"invalid request body: {exc}") from exc
        if not isinstance(request, dict):
            raise Refusal(400, INVALID_ARGUMENT, "the request body must be a JSON object")
        return controller.sync(name, request)

    def _frozen(self, route: tuple[str, str], parts: list[str], query: dict[str, str]) -> tuple[int, Any]:
        """An answer from the Applications as the scenario froze them."""
        if len(parts) == 3:
            project = query.get("projects") or query.get("project")
            items = [
                app
                for app in self.applications
                if not project or (app.get("spec") or {}).get("project") == project
            ]
            return 200, {"metadata": {"resourceVersion": "1"}, "items": items}
        app = self._find(parts[3], query.get("appNamespace", ""))
        if app is None:
            return 404, self.error_body(404, f'applications.argoproj.io "{parts[3]}" not found')
        if route == ("GET", ""):
            return 200, app
        if route == ("GET", "managed-resources"):
            return 200, {"items": self._managed(app)}
        if route == ("GET", "resource-tree"):
            return 200, resource_tree(self.cluster, (app.get("status") or {}).get("resources") or [])
        message = "this sandbox Argo CD serves a frozen scenario and follows no GitOps repository"
        return 400, {"error": message, "code": FAILED_PRECONDITION, "message": message}
