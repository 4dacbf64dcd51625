"""A thin, blocking client over Argo CD's REST API (`/api/v1/applications...`), with a bearer token.

Objects come back as the JSON dicts the API sends. Every call has a timeout and no retries of its
own: Temporal retries activities. Failures are one of a small closed set of `ArgoError`s.

The pure helpers at the bottom answer "which Application owns this workload" from the tracking-id
annotation or the instance label Argo CD writes, and turn an Application into the observation's
typed `ArgoApplication`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

import httpx

from domain.incident import ResourceRef
from domain.observation import ArgoApplication

DEFAULT_TIMEOUT = 10.0
TRACKING_ANNOTATION = "argocd.argoproj.io/tracking-id"
INSTANCE_LABEL = "app.kubernetes.io/instance"


class ArgoError(Exception):
    """A request Argo CD did not answer as asked; `status` is the HTTP status (0: no answer)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ArgoNotFound(ArgoError):
    """404: no such Application (Argo CD may also answer 403 for one the token may not see)."""


class ArgoForbidden(ArgoError):
    """401 / 403: the token is missing, wrong, or may not do this."""


class ArgoInvalid(ArgoError):
    """4xx other than the above, or an answer that is not the expected JSON: retrying cannot help."""


class ArgoUnavailable(ArgoError):
    """5xx, 429, connection failures and timeouts: worth retrying later."""


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or response.reason_phrase
    # grpc-gateway errors: {"error": ..., "code": 5, "message": ...}
    if isinstance(body, dict) and (body.get("message") or body.get("error")):
        return str(body.get("message") or body.get("error"))[:500]
    return response.text[:500]


def classify(response: httpx.Response) -> ArgoError:
    """The `ArgoError` for a non-2xx answer."""
    status, message = response.status_code, _message(response)
    if status == 404:
        return ArgoNotFound(message, status)
    if status in (401, 403):
        return ArgoForbidden(message, status)
    if status == 429 or status >= 500:
        return ArgoUnavailable(message, status)
    return ArgoInvalid(message, status)


class ArgoClient:
    """Blocking calls to one Argo CD API server. Safe to share between threads."""

    def __init__(
        self,
        base_url: str,
        token: str = "",
        timeout: float = DEFAULT_TIMEOUT,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._base_url = base_url.rstrip("/")
        # No idle keep-alive connections: observe makes a few calls per incident, and a worker
        # never closes its clients, so pooled sockets would only outlive the server they talk to.
        self._http = httpx.Client(
            base_url=self._base_url,
            headers=headers,
            timeout=timeout,
            transport=transport,
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ArgoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        try:
            response = self._http.get(path, params=params)
        except httpx.TimeoutException as exc:
            raise ArgoUnavailable(f"Argo CD at {self._base_url} did not answer in time: {exc}") from exc
        except httpx.HTTPError as exc:
            raise ArgoUnavailable(f"Argo CD at {self._base_url} is unreachable: {exc}") from exc
        if response.status_code >= 300:
            raise classify(response)
        try:
            body = response.json()
        except ValueError as exc:
            raise ArgoInvalid(
                f"Argo CD sent something that is not JSON: {response.text[:200]!r}", response.status_code
            ) from exc
        if not isinstance(body, dict):
            raise ArgoInvalid("Argo CD sent JSON that is not an object", response.status_code)
        return body

    @staticmethod
    def _name(name: str) -> str:
        return quote(name, safe="")

    def get_application(self, name: str, app_namespace: str | None = None) -> dict[str, Any]:
        """GET /api/v1/applications/{name}: the Application with its spec and status."""
        params = {"appNamespace": app_namespace} if app_namespace else None
        return self._get(f"/api/v1/applications/{self._name(name)}", params)

    def list_applications(self, project: str | None = None) -> list[dict[str, Any]]:
        """GET /api/v1/applications (optionally of one project)."""
        params = {"projects": project} if project else None
        return list(self._get("/api/v1/applications", params).get("items") or [])

    def managed_resources(self, name: str, app_namespace: str | None = None) -> list[dict[str, Any]]:
        """GET /api/v1/applications/{name}/managed-resources: the resources Argo CD manages for the
        Application, each with its target and live state (JSON strings, as the API sends them)."""
        params = {"appNamespace": app_namespace} if app_namespace else None
        body = self._get(f"/api/v1/applications/{self._name(name)}/managed-resources", params)
        return list(body.get("items") or [])


# --- pure helpers ------------------------------------------------------------------------------


def _group_of(api_version: str) -> str:
    return api_version.split("/", 1)[0] if "/" in api_version else ""


def _app_key(app: dict[str, Any]) -> tuple[str, str]:
    meta = app.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def tracked_application(workload: dict[str, Any]) -> tuple[str | None, str] | None:
    """The Application a workload says it belongs to: (app namespace or None, app name), or None.

    The tracking-id annotation (`<app>:<group>/<kind>:<namespace>/<name>`) counts only when it
    describes this very object — Argo CD ignores a copied annotation too. `<app>` is
    `<app namespace>_<app name>` for Applications outside Argo CD's own namespace. The
    `app.kubernetes.io/instance` label (label tracking) is the fallback.
    """
    meta = workload.get("metadata") or {}
    annotation = str((meta.get("annotations") or {}).get(TRACKING_ANNOTATION) or "")
    if annotation:
        parts = annotation.split(":")
        if len(parts) == 3:
            app, group_kind, namespaced_name = parts
            group, _, kind = group_kind.rpartition("/")
            namespace, _, name = namespaced_name.rpartition("/")
            same_object = (
                kind == workload.get("kind")
                and group == _group_of(str(workload.get("apiVersion") or ""))
                and name == meta.get("name")
                and namespace == (meta.get("namespace") or "")
            )
            if app and same_object:
                app_namespace, _, app_name = app.rpartition("_")
                return (app_namespace or None), app_name
    label = str((meta.get("labels") or {}).get(INSTANCE_LABEL) or "")
    if label:
        return None, label
    return None


def _lists_resource(app: dict[str, Any], workload: dict[str, Any]) -> bool:
    meta = workload.get("metadata") or {}
    group = _group_of(str(workload.get("apiVersion") or ""))
    for resource in (app.get("status") or {}).get("resources") or []:
        if (
            resource.get("kind") == workload.get("kind")
            and (resource.get("group") or "") == group
            and resource.get("name") == meta.get("name")
            and (resource.get("namespace") or "") == (meta.get("namespace") or "")
        ):
            return True
    return False


def owning_application(workload: dict[str, Any], apps: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The Application (of `apps`) that manages the workload, or None.

    By the tracking-id annotation or instance label when the workload carries one (the label only
    counts when that Application lists the workload among its resources, since other tools set
    the same label); else the one Application whose status lists the workload.
    """
    tracked = tracked_application(workload)
    if tracked is not None:
        app_namespace, app_name = tracked
        via_annotation = bool(
            ((workload.get("metadata") or {}).get("annotations") or {}).get(TRACKING_ANNOTATION)
        )
        for app in apps:
            namespace, name = _app_key(app)
            if name != app_name or (app_namespace is not None and namespace != app_namespace):
                continue
            if via_annotation or _lists_resource(app, workload):
                return app
    listing = [app for app in apps if _lists_resource(app, workload)]
    return listing[0] if len(listing) == 1 else None


def application_sources(app: dict[str, Any]) -> list[dict[str, Any]]:
    """spec.sources, or [spec.source] for a single-source Application."""
    spec = app.get("spec") or {}
    if spec.get("sources"):
        return [dict(s) for s in spec["sources"]]
    return [dict(spec["source"])] if spec.get("source") else []


def to_argo_application(app: dict[str, Any], target_refs: Iterable[ResourceRef]) -> ArgoApplication:
    """The observation's view of an Application: sync and health, sources, and the status.resources
    entries of the given targets (all of them when no target matches, bounded)."""
    meta, spec, status = app.get("metadata") or {}, app.get("spec") or {}, app.get("status") or {}
    sync, health = status.get("sync") or {}, status.get("health") or {}
    namespace, name = str(meta.get("namespace") or "argocd"), str(meta.get("name") or "")
    keys = {(r.namespace, r.kind, r.name) for r in target_refs}
    resources = [
        dict(r)
        for r in status.get("resources") or []
        if (r.get("namespace") or "", r.get("kind"), r.get("name")) in keys
    ]
    revisions = [str(r) for r in sync.get("revisions") or []]
    return ArgoApplication(
        id=f"argocd/{namespace}/{name}",
        name=name,
        namespace=namespace,
        project=str(spec.get("project") or ""),
        sync_status=str(sync.get("status") or ""),
        health_status=str(health.get("status") or ""),
        health_message=str(health.get("message") or "")[:600],
        revision=str(sync.get("revision") or ",".join(revisions)),
        automated=bool((spec.get("syncPolicy") or {}).get("automated") is not None),
        sources=application_sources(app),
        resources=resources,
        destination_namespace=str((spec.get("destination") or {}).get("namespace") or ""),
        operation_phase=str((status.get("operationState") or {}).get("phase") or ""),
    )
