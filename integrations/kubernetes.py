"""A thin, blocking Kubernetes client over the official `kubernetes` package.

Objects come back as the plain JSON dicts the API sends (camelCase, nothing typed), so they can be
stored, diffed and passed through Temporal as they are. Every call has a timeout and no retries of
its own: Temporal retries activities. Failures are one of a small closed set of `KubeError`s, each
temporary or permanent (see `integrations.errors`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from domain.incident.model import WORKLOAD_KINDS, ResourceRef
from integrations.errors import IntegrationError, PermanentError, TemporaryError, unreachable

DEFAULT_TIMEOUT = (5.0, 30.0)  # (connect, read) seconds
STRATEGIC_MERGE = "application/strategic-merge-patch+json"

_PLURALS = {"Deployment": "deployments", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets"}

# (verb, API group, resource[/subresource]) of every call below that medic's activities make, in
# every namespace: reads of workloads, their ReplicaSets, pods, logs and events (observe, verify),
# and patch / update of the workloads it remediates (execute, rollback). `medic doctor` asks the
# API whether each is allowed. (A drift scan also reads objects of whatever kinds Argo CD manages:
# `get` on those, not listed here.)
REQUIRED_ACCESS: tuple[tuple[str, str, str], ...] = (
    *(
        (verb, "apps", _PLURALS[kind])
        for kind in sorted(WORKLOAD_KINDS)
        for verb in ("get", "patch", "update")
    ),
    ("get", "apps", "replicasets"),
    ("list", "apps", "replicasets"),
    ("get", "", "pods"),
    ("list", "", "pods"),
    ("get", "", "pods/log"),
    ("list", "", "events"),
    # Why pods stay Pending and Jobs fail: the claims pods mount, the StorageClasses those name,
    # the Jobs themselves and the nodes (conditions, taints, allocatable).
    ("get", "", "persistentvolumeclaims"),
    ("get", "storage.k8s.io", "storageclasses"),
    ("get", "batch", "jobs"),
    ("get", "batch", "cronjobs"),
    ("list", "", "nodes"),
)


class KubeError(IntegrationError):
    """A request the API did not carry out; `status` is the HTTP status (0: no answer)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class KubeNotFound(KubeError, PermanentError):
    """404: the object (or namespace) does not exist."""


class KubeConflict(KubeError, TemporaryError):
    """409: the object changed since it was read (stale resourceVersion), or already exists.
    Temporary: the next attempt reads the object again and decides afresh."""


class KubeInvalid(KubeError, PermanentError):
    """400 / 422 (and other refusals of the request itself): retrying the same request cannot help."""


class KubeForbidden(KubeError, PermanentError):
    """401 / 403: medic's identity may not do this."""


class KubeUnavailable(KubeError, TemporaryError):
    """5xx, 429, connection failures and timeouts: worth retrying later."""


def _message(exc: ApiException) -> str:
    body = exc.body
    if isinstance(body, bytes):
        body = body.decode(errors="replace")
    if body:
        try:
            status = json.loads(body)
        except ValueError:
            return str(body)[:500]
        if isinstance(status, dict) and status.get("message"):
            return str(status["message"])
    return str(exc.reason or "no message")


def classify(exc: ApiException) -> KubeError:
    """The `KubeError` for an `ApiException` from the official client."""
    status = int(exc.status or 0)
    message = _message(exc)
    if status == 404:
        return KubeNotFound(message, status)
    if status == 409:
        return KubeConflict(message, status)
    if status in (401, 403):
        return KubeForbidden(message, status)
    if status == 0 or status == 429 or status >= 500:
        return KubeUnavailable(message, status)
    return KubeInvalid(message, status)


def _label_selector(match_labels: Mapping[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in sorted(match_labels.items()))


class KubeClient:
    """Blocking calls that return the API's JSON. Safe to share between threads."""

    _APPS_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")

    def __init__(self, api_client: k8s.ApiClient, *, timeout: float | tuple[float, float] = DEFAULT_TIMEOUT):
        self._api_client = api_client
        self._core = k8s.CoreV1Api(api_client)
        self._apps = k8s.AppsV1Api(api_client)
        self._batch = k8s.BatchV1Api(api_client)
        self._storage = k8s.StorageV1Api(api_client)
        self._timeout = timeout

    @classmethod
    def from_settings(
        cls,
        api_url: str = "",
        kubeconfig: str = "",
        *,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> KubeClient:
        """`api_url`: talk plain HTTP(S) to that URL without credentials (the sandbox, a proxy).
        Otherwise the `kubeconfig` file, else the in-cluster service account, else ~/.kube/config.
        """
        configuration = k8s.Configuration()
        if api_url:
            configuration.host = api_url.rstrip("/")
        else:
            try:
                if kubeconfig:
                    k8s_config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
                else:
                    try:
                        k8s_config.load_incluster_config(client_configuration=configuration)
                    except k8s_config.ConfigException:
                        k8s_config.load_kube_config(client_configuration=configuration)
            except (k8s_config.ConfigException, OSError) as exc:
                raise KubeInvalid(f"no usable Kubernetes configuration: {exc}") from exc
        configuration.retries = False  # Temporal owns retries
        return cls(k8s.ApiClient(configuration), timeout=timeout)

    def close(self) -> None:
        self._api_client.close()

    # --- plumbing ------------------------------------------------------------------------------

    def _raw(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> bytes:
        try:
            response = call(*args, _preload_content=False, _request_timeout=self._timeout, **kwargs)
            try:
                return bytes(response.data)
            finally:
                response.release_conn()
        except ApiException as exc:
            raise classify(exc) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            host = str(getattr(self._api_client.configuration, "host", "") or "")
            raise KubeUnavailable(unreachable("the Kubernetes API", exc, host)) from exc

    def _json(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        data = self._raw(call, *args, **kwargs)
        try:
            parsed = json.loads(data)
        except ValueError as exc:
            raise KubeUnavailable(
                f"the Kubernetes API sent something that is not JSON: {data[:200]!r}"
            ) from exc
        if not isinstance(parsed, dict):
            raise KubeUnavailable("the Kubernetes API sent JSON that is not an object")
        return parsed

    def _items(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        return list(self._json(call, *args, **kwargs).get("items") or [])

    def _methods(self, kind: str, verb: str) -> Callable[..., Any]:
        if kind == "Pod":
            return getattr(self._core, f"{verb}_namespaced_pod")
        if kind in self._APPS_KINDS:
            snake = {
                "Deployment": "deployment",
                "StatefulSet": "stateful_set",
                "DaemonSet": "daemon_set",
                "ReplicaSet": "replica_set",
            }[kind]
            return getattr(self._apps, f"{verb}_namespaced_{snake}")
        raise KubeInvalid(f"medic does not handle objects of kind {kind!r}")

    # --- reads ---------------------------------------------------------------------------------

    def read_object(self, ref: ResourceRef) -> dict[str, Any]:
        """GET of a Deployment, StatefulSet, DaemonSet, ReplicaSet or Pod."""
        return self._json(self._methods(ref.kind, "read"), ref.name, ref.namespace)

    def find_workloads(self, name: str, namespace: str | None = None) -> list[ResourceRef]:
        """The Deployments, StatefulSets and DaemonSets named `name`, in `namespace` or (None) in
        every namespace: one field-selected LIST per kind."""
        selector = f"metadata.name={name}"
        found: list[ResourceRef] = []
        for kind, snake in (
            ("Deployment", "deployment"),
            ("StatefulSet", "stateful_set"),
            ("DaemonSet", "daemon_set"),
        ):
            if namespace:
                items = self._items(
                    getattr(self._apps, f"list_namespaced_{snake}"), namespace, field_selector=selector
                )
            else:
                items = self._items(
                    getattr(self._apps, f"list_{snake}_for_all_namespaces"), field_selector=selector
                )
            for item in items:
                meta = item.get("metadata") or {}
                if meta.get("name") == name:
                    found.append(
                        ResourceRef(namespace=str(meta.get("namespace") or ""), kind=kind, name=name)
                    )
        return found

    def list_replicasets(self, namespace: str, match_labels: Mapping[str, str]) -> list[dict[str, Any]]:
        return self._items(
            self._apps.list_namespaced_replica_set, namespace, label_selector=_label_selector(match_labels)
        )

    def list_pods(self, namespace: str, match_labels: Mapping[str, str]) -> list[dict[str, Any]]:
        return self._items(
            self._core.list_namespaced_pod, namespace, label_selector=_label_selector(match_labels)
        )

    def list_events(self, namespace: str, kind: str, name: str) -> list[dict[str, Any]]:
        """Events about one object; `namespace=""` searches every namespace (Node events)."""
        selector = f"involvedObject.kind={kind},involvedObject.name={name}"
        if namespace:
            return self._items(self._core.list_namespaced_event, namespace, field_selector=selector)
        return self._items(self._core.list_event_for_all_namespaces, field_selector=selector)

    def read_claim(self, namespace: str, name: str) -> dict[str, Any]:
        """GET of a PersistentVolumeClaim."""
        return self._json(self._core.read_namespaced_persistent_volume_claim, name, namespace)

    def read_storage_class(self, name: str) -> dict[str, Any]:
        """GET of a StorageClass (cluster-scoped)."""
        return self._json(self._storage.read_storage_class, name)

    def read_job(self, namespace: str, name: str) -> dict[str, Any]:
        """GET of a batch/v1 Job."""
        return self._json(self._batch.read_namespaced_job, name, namespace)

    def read_cronjob(self, namespace: str, name: str) -> dict[str, Any]:
        """GET of a batch/v1 CronJob."""
        return self._json(self._batch.read_namespaced_cron_job, name, namespace)

    def list_nodes(self, limit: int) -> tuple[list[dict[str, Any]], bool]:
        """At most `limit` nodes, and whether that is all of them (no continue token)."""
        listing = self._json(self._core.list_node, limit=limit)
        items = list(listing.get("items") or [])
        rest = (listing.get("metadata") or {}).get("continue")
        return items[:limit], not rest and len(items) <= limit

    def read_log(
        self, namespace: str, pod: str, container: str, previous: bool = False, limit_bytes: int = 16384
    ) -> str | None:
        """The container's log (at most `limit_bytes`), or None when there is none to read
        (no previous instance, pod gone, container not started)."""
        try:
            data = self._raw(
                self._core.read_namespaced_pod_log,
                pod,
                namespace,
                container=container,
                previous=previous,
                limit_bytes=limit_bytes,
            )
        except (KubeInvalid, KubeNotFound):
            return None
        return data.decode("utf-8", errors="replace")

    # --- writes --------------------------------------------------------------------------------

    def patch_object(
        self, ref: ResourceRef, patch: dict[str, Any], *, dry_run: bool, field_manager: str = "medic"
    ) -> dict[str, Any]:
        """Strategic merge patch; with `dry_run` the API validates and answers but stores nothing."""
        return self._json(
            self._methods(ref.kind, "patch"),
            ref.name,
            ref.namespace,
            patch,
            dry_run="All" if dry_run else None,
            field_manager=field_manager,
            _content_type=STRATEGIC_MERGE,
        )

    def replace_object(
        self, ref: ResourceRef, body: dict[str, Any], *, dry_run: bool, field_manager: str = "medic"
    ) -> dict[str, Any]:
        """PUT of the whole object; a stale `metadata.resourceVersion` raises `KubeConflict`."""
        return self._json(
            self._methods(ref.kind, "replace"),
            ref.name,
            ref.namespace,
            body,
            dry_run="All" if dry_run else None,
            field_manager=field_manager,
        )

    # --- about the API itself ------------------------------------------------------------------

    def server_version(self) -> str:
        """The API server's `gitVersion` (GET /version): proves it answers."""
        return str(self._get_path("/version").get("gitVersion") or "unknown")

    def access_allowed(self, verb: str, group: str, resource: str, namespace: str = "") -> tuple[bool, str]:
        """Whether medic's own identity may `verb` the `resource` (`pods/log`: a subresource) of
        `group` in `namespace` ("": every namespace), by a SelfSubjectAccessReview; with the
        authorizer's reason (often empty)."""
        plural, _, sub = resource.partition("/")
        body = k8s.V1SelfSubjectAccessReview(
            api_version="authorization.k8s.io/v1",
            kind="SelfSubjectAccessReview",
            spec=k8s.V1SelfSubjectAccessReviewSpec(
                resource_attributes=k8s.V1ResourceAttributes(
                    verb=verb,
                    group=group,
                    resource=plural,
                    subresource=sub or None,
                    namespace=namespace or None,
                )
            ),
        )
        review = self._json(k8s.AuthorizationV1Api(self._api_client).create_self_subject_access_review, body)
        status = review.get("status") or {}
        return bool(status.get("allowed")), str(status.get("reason") or status.get("evaluationError") or "")

    # --- any kind, by its apiVersion ------------------------------------------------------------

    def _get_path(self, path: str) -> dict[str, Any]:
        """GET of an API path, as JSON (errors classified like every other call)."""

        def call(**options: Any) -> Any:
            request = self._api_client.param_serialize(
                method="GET",
                resource_path=path,
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
            )
            response = self._api_client.call_api(*request, _request_timeout=options.get("_request_timeout"))
            if not 200 <= response.status <= 299:
                response.read()
                raise ApiException.from_response(http_resp=response, body=None, data=None)
            return response.response

        return self._json(call)

    def _api_resource(self, api_version: str, kind: str) -> tuple[str, bool] | None:
        """(plural, namespaced) of a kind, from the API's discovery document of its group version;
        None when the API does not serve that kind at that version."""
        prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        try:
            listing = self._get_path(prefix)
        except KubeNotFound:
            return None
        for resource in listing.get("resources") or []:
            # Subresources (`deployments/scale`) carry their parent's kind too.
            if resource.get("kind") == kind and "/" not in str(resource.get("name") or ""):
                return str(resource["name"]), bool(resource.get("namespaced"))
        return None

    def get_object(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """GET of an object of any kind (a core, apps, CRD... `apiVersion`), or None when it does not
        exist — also when the API serves no such kind (a CRD that is not installed). The kind's
        resource name and scope come from the API's discovery (one extra request per call); a
        cluster-scoped kind ignores `namespace`, a namespaced one needs it."""
        resource = self._api_resource(api_version, kind)
        if resource is None:
            return None
        plural, namespaced = resource
        prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        if namespaced:
            if not namespace:
                raise KubeInvalid(f"{kind} {name} is namespaced: a namespace is needed to read it")
            path = f"{prefix}/namespaces/{quote(namespace, safe='')}/{plural}/{quote(name, safe='')}"
        else:
            path = f"{prefix}/{plural}/{quote(name, safe='')}"
        try:
            return self._get_path(path)
        except KubeNotFound:
            return None
