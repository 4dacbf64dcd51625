"""A thin, blocking client over Argo CD's REST API (`/api/v1/applications...`), with a bearer token.

Objects come back as the JSON dicts the API sends (v2.x shapes: `v1alpha1Application`,
`applicationManagedResourcesResponse`, `v1alpha1ApplicationTree`). Every call has a timeout and no
retries of its own: Temporal retries activities. Failures are one of a small closed set of
`ArgoError`s, each temporary or permanent (see `integrations.errors`).

For the change review: `application_manifests` asks Argo CD to render an Application at a
revision (a pull request's base and head), without comparing or syncing anything.

For the GitOps path: `refresh_application` asks Argo CD to compare with Git now,
`sync_application` starts a sync operation (never pruning), and the pure `application_state` /
`synced_to` read what came of it. A sync is asynchronous in Argo CD: the answer to the request
carries the `operation`, and later reads show `status.operationState` and the new comparison.

The client carries the `Tracking` it was configured with (how this Argo CD marks what it manages:
`domain.kube.ownership` decides ownership from it). The pure helpers at the bottom turn an
Application into the observation's typed `ArgoApplication` or the small `ApplicationState`.

Which cluster medic is on (README "Clusters"): `clusters` reads Argo CD's cluster list
(`/api/v1/clusters`, kept a few minutes) and resolves the configured name or server against it;
`placement` says whether an Application deploys here, elsewhere, or to a cluster that cannot be
resolved (the rules are `domain.kube.clusters`, pure).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal
from urllib.parse import quote

import httpx

from domain.base import Frozen
from domain.incident.model import ResourceRef
from domain.kube.clusters import Cluster, Placement, application_placement, clusters_of, this_cluster
from domain.kube.observation import ArgoApplication
from domain.kube.ownership import Tracking
from integrations.errors import IntegrationError, PermanentError, TemporaryError, unreachable

DEFAULT_TIMEOUT = 10.0
# how long Argo CD's cluster list is trusted, and how soon a failed read of it is tried again
CLUSTERS_TTL_SECONDS = 300.0
CLUSTERS_RETRY_SECONDS = 30.0


class ArgoError(IntegrationError):
    """A request Argo CD did not answer as asked; `status` is the HTTP status (0: no answer)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class ArgoNotFound(ArgoError, PermanentError):
    """404: no such Application (Argo CD may also answer 403 for one the token may not see)."""


class ArgoForbidden(ArgoError, PermanentError):
    """401 / 403: the token is missing, wrong, or may not do this."""


class ArgoInvalid(ArgoError, PermanentError):
    """4xx other than the above, or an answer that is not the expected JSON: retrying cannot help."""


class ArgoUnavailable(ArgoError, TemporaryError):
    """5xx, 429, connection failures and timeouts: worth retrying later."""


class ArgoOperationInProgress(ArgoUnavailable):
    """A sync refused because another operation (often an automated sync) is running: retry once it
    is over, or wait for that one — it may well be syncing the same commit."""


RefreshMode = Literal["normal", "hard"]
# query parameters; a list value repeats the parameter (`revisions=a&revisions=b`)
Params = Mapping[str, str | list[str]]
SyncStrategy = Literal["hook", "apply"]
_IN_PROGRESS = "another operation is already in progress"
_UNRESOLVED = re.compile(
    r"unable to resolve .* to a commit SHA|unable to resolve git revision", re.IGNORECASE
)


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
    if status in (400, 409) and _IN_PROGRESS in message:
        return ArgoOperationInProgress(message, status)
    if status in (401, 403):
        return ArgoForbidden(message, status)
    if status >= 500 and _UNRESOLVED.search(message):
        # Argo CD sends a revision that does not exist as an internal error (grpc Unknown): asking
        # again cannot make it resolve
        return ArgoInvalid(message, status)
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
        tracking: Tracking | None = None,
        cluster_name: str = "",
        cluster_server: str = "",
    ) -> None:
        self.tracking = tracking or Tracking()
        headers = {"Accept": "application/json"}
        # the cluster medic operates on, as configured; `clusters` resolves the rest
        self._cluster = (cluster_name, cluster_server)
        self._clusters: tuple[float, Cluster, list[Cluster] | None] | None = None
        self._clusters_lock = threading.Lock()
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

    def _get(self, path: str, params: Params | None = None) -> dict[str, Any]:
        return self._request("GET", path, params=params)

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, params=params, json=body)
        except httpx.TimeoutException as exc:
            raise ArgoUnavailable(f"Argo CD at {self._base_url} did not answer in time: {exc}") from exc
        except httpx.HTTPError as exc:
            raise ArgoUnavailable(unreachable("Argo CD", exc, str(self._base_url))) from exc
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

    @staticmethod
    def _scope(app_namespace: str | None, project: str | None) -> dict[str, str]:
        params = {}
        if app_namespace:
            params["appNamespace"] = app_namespace
        if project:
            params["project"] = project
        return params

    def get_application(
        self,
        name: str,
        app_namespace: str | None = None,
        *,
        refresh: RefreshMode | None = None,
        project: str | None = None,
    ) -> dict[str, Any]:
        """GET /api/v1/applications/{name}: the Application with its spec and status.

        With `refresh`, Argo CD first compares the Application with Git again (`normal`: resolve
        the target revision anew; `hard`: also drop its manifest cache) and answers when that is
        done, so the status is current; an automated Application may start a sync meanwhile."""
        params = self._scope(app_namespace, project)
        if refresh:
            params["refresh"] = refresh
        return self._get(f"/api/v1/applications/{self._name(name)}", params or None)

    def refresh_application(
        self, name: str, *, hard: bool = False, app_namespace: str | None = None, project: str | None = None
    ) -> dict[str, Any]:
        """The Application after Argo CD compared it with Git again (see `get_application`)."""
        return self.get_application(
            name, app_namespace, refresh="hard" if hard else "normal", project=project
        )

    def list_applications(self, project: str | None = None) -> list[dict[str, Any]]:
        """GET /api/v1/applications (optionally of one project)."""
        params = {"projects": project} if project else None
        return list(self._get("/api/v1/applications", params).get("items") or [])

    def list_clusters(self) -> list[dict[str, Any]]:
        """GET /api/v1/clusters: the clusters Argo CD deploys to, each with its `name` and `server`
        (credentials are not sent: Argo CD leaves them out of this answer)."""
        return list(self._get("/api/v1/clusters").get("items") or [])

    def clusters(self) -> tuple[Cluster, list[Cluster] | None]:
        """(this cluster, Argo CD's cluster list or None when it could not be read): the configured
        name and server, the missing one looked up in the list (`domain.kube.clusters.this_cluster`).
        Kept for `CLUSTERS_TTL_SECONDS` (a failed read for `CLUSTERS_RETRY_SECONDS`)."""
        now = time.monotonic()
        with self._clusters_lock:
            cached = self._clusters
            if cached is not None and now < cached[0]:
                return cached[1], cached[2]
            listed: list[Cluster] | None
            try:
                listed = clusters_of(self.list_clusters())
                until = now + CLUSTERS_TTL_SECONDS
            except ArgoError:
                listed, until = None, now + CLUSTERS_RETRY_SECONDS
            here = this_cluster(*self._cluster, listed or ())
            self._clusters = (until, here, listed)
            return here, listed

    def placement(self, app: Mapping[str, Any]) -> Placement:
        """Where the Application deploys, seen from this cluster (`here`, `elsewhere`, `unknown`)."""
        here, listed = self.clusters()
        return application_placement(app, here, listed)

    def sync_application(
        self,
        name: str,
        *,
        revision: str = "",
        revisions: Sequence[str] = (),
        source_positions: Sequence[int] = (),
        dry_run: bool = False,
        strategy: SyncStrategy = "hook",
        force: bool = False,
        sync_options: Sequence[str] = (),
        resources: Sequence[SyncResource] = (),
        app_namespace: str | None = None,
        project: str | None = None,
    ) -> dict[str, Any]:
        """POST /api/v1/applications/{name}/sync: start a sync operation; the Application with its
        `operation` set (the outcome shows in later reads: `status.operationState`).

        `revision` (single source) or `revisions` with 1-based `source_positions` (multi-source)
        pin what to sync; left out, Argo CD syncs each source's `targetRevision`. Argo CD refuses a
        pinned revision other than `targetRevision` on an automated Application (`ArgoInvalid`),
        and any sync while another operation runs (`ArgoOperationInProgress`). Never prunes:
        medic deletes nothing, so `prune` is always false.
        """
        body: dict[str, Any] = {
            "name": name,
            "prune": False,
            "dryRun": dry_run,
            "strategy": {strategy: {"force": force}},
        }
        if revision:
            body["revision"] = revision
        if revisions or source_positions:
            if len(revisions) != len(source_positions):
                raise ValueError("revisions and source_positions go in pairs")
            body["revisions"] = list(revisions)
            body["sourcePositions"] = [int(p) for p in source_positions]
        if sync_options:
            body["syncOptions"] = {"items": list(sync_options)}
        if resources:
            body["resources"] = [r.model_dump() for r in resources]
        body.update(self._scope(app_namespace, project))
        return self._request("POST", f"/api/v1/applications/{self._name(name)}/sync", body=body)

    def managed_resources(
        self, name: str, app_namespace: str | None = None, *, project: str | None = None
    ) -> list[dict[str, Any]]:
        """GET /api/v1/applications/{name}/managed-resources: the resources Argo CD manages for the
        Application, each with `kind, namespace, name, group`, its `targetState`, `liveState`,
        `normalizedLiveState` and `predictedLiveState` (JSON strings, as the API sends them, "null"
        for none), `diff` and `modified`."""
        params = self._scope(app_namespace, project) or None
        body = self._get(f"/api/v1/applications/{self._name(name)}/managed-resources", params)
        return list(body.get("items") or [])

    def resource_tree(
        self, name: str, app_namespace: str | None = None, *, project: str | None = None
    ) -> dict[str, Any]:
        """GET /api/v1/applications/{name}/resource-tree: `nodes` (each with group, version, kind,
        namespace, name, uid, `parentRefs`, `health`, `info`, `images`), `orphanedNodes`, `hosts`."""
        params = self._scope(app_namespace, project) or None
        return self._get(f"/api/v1/applications/{self._name(name)}/resource-tree", params)

    def application_manifests(
        self,
        name: str,
        *,
        revision: str | None = None,
        revisions: Sequence[str] = (),
        source_positions: Sequence[int] = (),
        app_namespace: str | None = None,
        project: str | None = None,
    ) -> list[dict[str, Any]]:
        """GET /api/v1/applications/{name}/manifests: the objects the Application's sources render
        to, as Argo CD's repo server generates them, at `revision` (single source) or at `revisions`
        paired with 1-based `source_positions` (multi-source); left out, at each source's
        `targetRevision`. Argo CD sends each manifest as a JSON string; they come back parsed, in
        its order. A revision that does not resolve is an Argo CD error (`ArgoInvalid` or
        `ArgoUnavailable`, as Argo CD's status says)."""
        if len(revisions) != len(source_positions):
            raise ValueError("revisions and source_positions go in pairs")
        params: dict[str, str | list[str]] = dict(self._scope(app_namespace, project))
        if revision:
            params["revision"] = revision
        if revisions:
            params["sourcePositions"] = [str(int(p)) for p in source_positions]
            params["revisions"] = [str(r) for r in revisions]
        body = self._get(f"/api/v1/applications/{self._name(name)}/manifests", params)
        manifests = []
        for index, text in enumerate(body.get("manifests") or []):
            try:
                manifest = json.loads(text) if isinstance(text, str) else text
            except ValueError as exc:
                raise ArgoInvalid(
                    f"Argo CD sent manifest {index + 1} of {name} that is not JSON: {exc}"
                ) from exc
            if not isinstance(manifest, dict):
                raise ArgoInvalid(f"Argo CD sent manifest {index + 1} of {name} that is not an object")
            manifests.append(manifest)
        return manifests


class SyncResource(Frozen):
    """One object a partial sync is limited to (`v1alpha1SyncOperationResource`)."""

    group: str = ""
    kind: str
    name: str
    namespace: str = ""


# --- pure helpers ------------------------------------------------------------------------------


def application_sources(app: dict[str, Any]) -> list[dict[str, Any]]:
    """spec.sources, or [spec.source] for a single-source Application."""
    spec = app.get("spec") or {}
    if spec.get("sources"):
        return [dict(s) for s in spec["sources"]]
    return [dict(spec["source"])] if spec.get("source") else []


def application_set_of(app: dict[str, Any]) -> str:
    """The ApplicationSet that generated the Application (its ownerReference), or ""."""
    for owner in (app.get("metadata") or {}).get("ownerReferences") or []:
        if isinstance(owner, dict) and owner.get("kind") == "ApplicationSet" and owner.get("name"):
            return str(owner["name"])
    return ""


def to_argo_application(
    app: dict[str, Any], target_refs: Iterable[ResourceRef], *, ownership_uncertain: str = ""
) -> ArgoApplication:
    """The observation's view of an Application: sync and health, sources, and the status.resources
    entries of the given targets (all of them when no target matches, bounded); with
    `ownership_uncertain`, why it may not own them."""
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
        application_set=application_set_of(app),
        resources=resources,
        destination_namespace=str((spec.get("destination") or {}).get("namespace") or ""),
        destination_cluster=str(
            (spec.get("destination") or {}).get("server") or (spec.get("destination") or {}).get("name") or ""
        ),
        ownership_uncertain=ownership_uncertain,
        operation_phase=str((status.get("operationState") or {}).get("phase") or ""),
        operation_message=str((status.get("operationState") or {}).get("message") or "")[:600],
        operation_revision=_operation_revision(status.get("operationState") or {}),
        history=_history(status.get("history") or []),
        conditions=[
            f"{c.get('type', '')}: {c.get('message', '')}"[:300]
            for c in (status.get("conditions") or [])[:MAX_CONDITIONS]
            if isinstance(c, dict)
        ],
    )


MAX_HISTORY = 3  # deployments of an Application kept in the observation, newest first
MAX_CONDITIONS = 3


def _operation_revision(operation: dict[str, Any]) -> str:
    result = operation.get("syncResult") or {}
    revisions = [str(r) for r in result.get("revisions") or [] if r]
    if result.get("revision") or revisions:
        return str(result.get("revision") or ",".join(revisions))
    # A sync that failed before applying has no result: the revision it was asked to sync.
    requested = (operation.get("operation") or {}).get("sync") or {}
    return str(requested.get("revision") or "")


def _history(entries: list[Any]) -> list[dict[str, Any]]:
    """status.history (oldest first, as Argo CD keeps it), newest first and bounded."""
    out = []
    for entry in reversed([e for e in entries if isinstance(e, dict)]):
        revisions = [str(r) for r in entry.get("revisions") or [] if r]
        out.append(
            {
                "id": entry.get("id"),
                "revision": str(entry.get("revision") or ",".join(revisions)),
                "deployedAt": str(entry.get("deployedAt") or ""),
            }
        )
        if len(out) >= MAX_HISTORY:
            break
    return out


# --- the state of an Application, for the GitOps path -------------------------------------------

_HEX = re.compile(r"^[0-9a-fA-F]{7,40}$")
_RUNNING_PHASES = ("Running", "Terminating")
_FAILED_PHASES = ("Failed", "Error")


class ApplicationState(Frozen):
    """What the GitOps path needs of an Application's status, read by `application_state`.

    `revision` / `revisions` are what Argo CD last compared with (`status.sync`: the resolved
    target revision; `revisions`, one per source, for a multi-source Application — a chart source's
    entry is its chart version). `operation_*` are of the last (or current) operation
    (`status.operationState`); `operation_requested` is a requested one the controller has not
    picked up yet (the top-level `operation`).
    """

    name: str
    namespace: str = ""
    project: str = ""
    sync_status: str = ""  # Synced | OutOfSync | Unknown
    revision: str = ""
    revisions: tuple[str, ...] = ()
    health_status: str = ""  # Healthy | Progressing | Degraded | Suspended | Missing | Unknown
    health_message: str = ""
    operation_requested: bool = False
    operation_phase: str = ""  # Running | Terminating | Succeeded | Failed | Error
    operation_message: str = ""
    operation_revision: str = ""
    operation_revisions: tuple[str, ...] = ()
    operation_started_at: str = ""
    operation_finished_at: str = ""
    automated: bool = False
    self_heal: bool = False
    target_revisions: tuple[str, ...] = ()  # spec: targetRevision per source
    conditions: tuple[str, ...] = ()  # "Type: message" of status.conditions

    @property
    def compared_revisions(self) -> tuple[str, ...]:
        return self.revisions or ((self.revision,) if self.revision else ())

    @property
    def operation_in_progress(self) -> bool:
        return self.operation_requested or self.operation_phase in _RUNNING_PHASES

    @property
    def operation_failed(self) -> bool:
        return self.operation_phase in _FAILED_PHASES


def application_state(app: Mapping[str, Any]) -> ApplicationState:
    """The `ApplicationState` of an Application as the API returns it."""
    meta, spec, status = app.get("metadata") or {}, app.get("spec") or {}, app.get("status") or {}
    sync, health = status.get("sync") or {}, status.get("health") or {}
    operation = status.get("operationState") or {}
    result = operation.get("syncResult") or {}
    policy = spec.get("syncPolicy") or {}
    automated = policy.get("automated")
    enabled = automated is not None and not (
        isinstance(automated, dict) and automated.get("enabled") is False
    )
    return ApplicationState(
        name=str(meta.get("name") or ""),
        namespace=str(meta.get("namespace") or ""),
        project=str(spec.get("project") or ""),
        sync_status=str(sync.get("status") or ""),
        revision=str(sync.get("revision") or ""),
        revisions=tuple(str(r) for r in sync.get("revisions") or []),
        health_status=str(health.get("status") or ""),
        health_message=str(health.get("message") or "")[:600],
        operation_requested=bool(app.get("operation")),
        operation_phase=str(operation.get("phase") or ""),
        operation_message=str(operation.get("message") or "")[:600],
        operation_revision=str(result.get("revision") or ""),
        operation_revisions=tuple(str(r) for r in result.get("revisions") or []),
        operation_started_at=str(operation.get("startedAt") or ""),
        operation_finished_at=str(operation.get("finishedAt") or ""),
        automated=enabled,
        self_heal=enabled and bool((automated or {}).get("selfHeal")),
        target_revisions=tuple(str(s.get("targetRevision") or "") for s in application_sources(dict(app))),
        conditions=tuple(
            f"{c.get('type', '')}: {c.get('message', '')}"[:600] for c in status.get("conditions") or []
        ),
    )


def same_commit(a: str, b: str) -> bool:
    """Whether two commit names are the same commit: equal, or one an abbreviation (7+ hex) of the
    other."""
    a, b = a.strip().lower(), b.strip().lower()
    if not a or not b:
        return False
    if a == b:
        return True
    short, long = sorted((a, b), key=len)
    return bool(_HEX.match(short) and _HEX.match(long) and long.startswith(short))


def synced_to(app: Mapping[str, Any] | ApplicationState, commit: str) -> bool:
    """Whether Argo CD reports the Application `Synced` at `commit`: the live state matches Git at
    that commit (for a multi-source Application, at one of its sources' revisions)."""
    state = app if isinstance(app, ApplicationState) else application_state(app)
    return state.sync_status == "Synced" and any(same_commit(r, commit) for r in state.compared_revisions)
