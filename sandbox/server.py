"""The sandbox cluster served as a Kubernetes API over plain HTTP on loopback.

It speaks enough of the wire format for the official `kubernetes` client: typed GET / LIST with
label and field selectors, PATCH (strategic merge, JSON merge), PUT, pod logs, `dryRun=All`,
`fieldManager`, `Status` bodies for errors, and SelfSubjectAccessReviews (everything allowed but
what the server is told to deny). A stdlib threading server keeps it dependency-free
and lets a slow (delayed) response run beside other requests.

    python -m sandbox.server ../shared/scenarios/oom-helm-values.yaml --port 18443
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sandbox.cluster import RESOURCES, ApiError, PatchType, SandboxCluster
from sandbox.loopback import BackgroundHTTPServer
from sandbox.scenario import ScenarioError

_PATCH_TYPES: dict[str, PatchType] = {
    "application/strategic-merge-patch+json": "strategic",
    "application/merge-patch+json": "merge",
}
_GROUPS = {"apps": "v1", "batch": "v1", "storage.k8s.io": "v1"}
ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
# (verb, group, resource or resource/subresource) the sandbox's authorizer refuses
Access = tuple[str, str, str]


def _review(body: Any, denied: frozenset[Access]) -> dict[str, Any]:
    """The answer to a SelfSubjectAccessReview, as the API server sends it (201, `status` added)."""
    # As the API server does, a body without kind / apiVersion takes the endpoint's.
    if not isinstance(body, dict) or body.get("kind", "SelfSubjectAccessReview") != "SelfSubjectAccessReview":
        raise ApiError(400, "the request body is not a SelfSubjectAccessReview")
    attributes = (body.get("spec") or {}).get("resourceAttributes")
    if not isinstance(attributes, dict) or not attributes.get("verb"):
        raise ApiError(422, "spec.resourceAttributes.verb: Required value", reason="Invalid")
    resource = str(attributes.get("resource") or "")
    if attributes.get("subresource"):
        resource = f"{resource}/{attributes['subresource']}"
    key = (str(attributes["verb"]), str(attributes.get("group") or ""), resource)
    status: dict[str, Any] = {"allowed": key not in denied}
    if key in denied:
        status["reason"] = "the sandbox's authorizer denies it"
    else:
        status["reason"] = "the sandbox allows every request"
    return {
        "kind": "SelfSubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": None},
        "spec": body.get("spec"),
        "status": status,
    }


def _list_kind(kind: str) -> str:
    return f"{kind}List"


class _Route:
    """A parsed resource path: `/api/v1/namespaces/ns/pods/name/log` and friends."""

    def __init__(
        self, api_version: str, plural: str, namespace: str | None, name: str | None, sub: str | None
    ):
        self.api_version = api_version
        self.plural = plural
        self.namespace = namespace
        self.name = name
        self.sub = sub

    @property
    def kind(self) -> str:
        return RESOURCES[self.plural][1]


def _parse_route(path: str) -> _Route | None:
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        api_version, rest = "v1", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        api_version, rest = f"{parts[1]}/{parts[2]}", parts[3:]
    else:
        return None
    namespace: str | None = None
    if rest[:1] == ["namespaces"] and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        return None
    plural = rest[0]
    if plural not in RESOURCES or RESOURCES[plural][0] != api_version:
        return None
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    return _Route(api_version, plural, namespace, name, sub)


def _discovery(path: str) -> dict[str, Any] | None:
    if path == "/api":
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
        }
    if path == "/apis":
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [
                {
                    "name": group,
                    "versions": [{"groupVersion": f"{group}/{v}", "version": v}],
                    "preferredVersion": {"groupVersion": f"{group}/{v}", "version": v},
                }
                for group, v in _GROUPS.items()
            ],
        }
    if path == "/version":
        return {"major": "1", "minor": "31", "gitVersion": "v1.31.0-medic-sandbox", "platform": "linux/amd64"}
    for api_version in ("v1", *(f"{g}/{v}" for g, v in _GROUPS.items())):
        prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        if path == prefix:
            return {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": api_version,
                "resources": [
                    {
                        "name": plural,
                        "singularName": kind.lower(),
                        "namespaced": namespaced,
                        "kind": kind,
                        "verbs": ["get", "list", "patch", "update"],
                    }
                    for plural, (av, kind, namespaced) in RESOURCES.items()
                    if av == api_version
                ],
            }
    return None


def _handler(
    cluster: SandboxCluster, stopping: threading.Event, quiet: bool, denied: frozenset[Access]
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out as two writes; without this, Nagle + delayed ACK add 40 ms each.
        disable_nagle_algorithm = True
        server_version = "medic-sandbox/1"

        def log_message(self, format: str, *args: Any) -> None:
            if not quiet:
                super().log_message(format, *args)

        # --- plumbing ------------------------------------------------------------------------

        def _send(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, code: int, payload: dict[str, Any]) -> None:
            self._send(code, json.dumps(payload).encode(), "application/json")

        def _error(self, err: ApiError) -> None:
            self._json(err.code, err.status())

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                return json.loads(raw or b"null")
            except json.JSONDecodeError as exc:
                raise ApiError(400, f"the request body is not valid JSON: {exc}") from exc

        def _dispatch(self, method: str) -> None:
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            try:
                if method == "GET" and (found := _discovery(url.path.rstrip("/") or "/")) is not None:
                    self._json(200, found)
                    return
                route = _parse_route(url.path)
                if route is None:
                    raise ApiError(404, "the server could not find the requested resource")
                dry_run = query.get("dryRun", "")
                if dry_run not in ("", "All"):
                    raise ApiError(400, f'Invalid dry run value: "{dry_run}"')
                if method == "GET":
                    self._get(route, query)
                elif method in ("PATCH", "PUT"):
                    self._write(method, route, dry_run == "All", query.get("fieldManager", ""))
                else:
                    raise ApiError(
                        405, f"the server does not allow this method on the requested resource: {method}"
                    )
            except ApiError as err:
                self._error(err)

        # --- verbs -----------------------------------------------------------------------------

        def _get(self, route: _Route, query: dict[str, str]) -> None:
            if route.plural == "namespaces" and route.namespace is None and route.name is not None:
                self._json(200, cluster.get("v1", "Namespace", "", route.name))
                return
            if route.sub == "log" and route.plural == "pods" and route.name and route.namespace:
                text = cluster.read_log(
                    route.namespace,
                    route.name,
                    query.get("container"),
                    previous=query.get("previous", "false").lower() == "true",
                    tail_lines=_int_param(query, "tailLines"),
                    limit_bytes=_int_param(query, "limitBytes"),
                )
                self._send(200, text.encode(), "text/plain")
                return
            if route.sub is not None:
                raise ApiError(404, "the server could not find the requested resource")
            if route.name is not None:
                self._json(200, cluster.get(route.api_version, route.kind, route.namespace or "", route.name))
                return
            items = cluster.list_objects(
                route.api_version,
                route.kind,
                route.namespace,
                label_selector=query.get("labelSelector", ""),
                field_selector=query.get("fieldSelector", ""),
            )
            for item in items:  # items of a typed list carry no kind / apiVersion on the wire
                item.pop("kind", None)
                item.pop("apiVersion", None)
            self._json(
                200,
                {
                    "kind": _list_kind(route.kind),
                    "apiVersion": route.api_version,
                    "metadata": {"resourceVersion": cluster.resource_version()},
                    "items": items,
                },
            )

        def _write(self, method: str, route: _Route, dry_run: bool, field_manager: str) -> None:
            if route.name is None or route.sub is not None:
                raise ApiError(405, f"{method} needs a single named object")
            body = self._body()
            namespace = route.namespace or ""
            if method == "PATCH":
                content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
                patch_type = _PATCH_TYPES.get(content_type)
                if patch_type is None:
                    raise ApiError(415, f"the sandbox does not support patch type {content_type!r}")
                result = cluster.patch(
                    route.api_version,
                    route.kind,
                    namespace,
                    route.name,
                    body,
                    patch_type=patch_type,
                    dry_run=dry_run,
                    field_manager=field_manager,
                )
            else:
                result = cluster.replace(
                    route.api_version,
                    route.kind,
                    namespace,
                    route.name,
                    body,
                    dry_run=dry_run,
                    field_manager=field_manager,
                )
            if route.kind == "Deployment" and not dry_run and cluster.write_delay > 0:
                # Applied already; only the answer is late (a crash test kills the caller meanwhile).
                stopping.wait(cluster.write_delay)
            self._json(200, result)

        def do_GET(self) -> None:  # noqa: N802 - the stdlib's naming
            self._dispatch("GET")

        def do_PATCH(self) -> None:  # noqa: N802
            self._dispatch("PATCH")

        def do_PUT(self) -> None:  # noqa: N802
            self._dispatch("PUT")

        def do_POST(self) -> None:  # noqa: N802
            try:
                body = self._body()
                if urlsplit(self.path).path.rstrip("/") == ACCESS_REVIEWS:
                    self._json(201, _review(body, denied))
                    return
            except ApiError as err:
                self._error(err)
                return
            self._dispatch("POST")

        def do_DELETE(self) -> None:  # noqa: N802
            self._dispatch("DELETE")

    return Handler


def _int_param(query: dict[str, str], name: str) -> int | None:
    if name not in query:
        return None
    try:
        return int(query[name])
    except ValueError:
        raise ApiError(400, f"{name}: invalid integer {query[name]!r}") from None


class SandboxServer(BackgroundHTTPServer):
    """Serves a `SandboxCluster` on 127.0.0.1 in a background thread.

    `start()` returns the base URL (port 0 picks a free port); `stop()` is idempotent. Usable as a
    context manager.
    """

    thread_name = "sandbox-kube-api"

    def __init__(
        self,
        cluster: SandboxCluster,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        quiet: bool = True,
        denied: Iterable[Access] = (),
    ) -> None:
        super().__init__(host=host, port=port)
        self.cluster = cluster
        self._quiet = quiet
        self._denied = frozenset(denied)

    def _make_handler(self) -> type[BaseHTTPRequestHandler]:
        return _handler(self.cluster, self._stopping, self._quiet, self._denied)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.server",
        description="Serve a scenario's cluster as a Kubernetes API on loopback.",
    )
    parser.add_argument("scenario", type=Path, help="scenario YAML file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--rollout-reads",
        type=int,
        default=0,
        help="reads that still see a rollout in progress after a spec change",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    try:
        cluster = SandboxCluster.from_file(args.scenario, rollout_reads=args.rollout_reads)
    except ScenarioError as err:
        print(err, file=sys.stderr)
        return 2
    server = SandboxServer(cluster, host=args.host, port=args.port, quiet=not args.verbose)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    with server:
        print(server.url, flush=True)
        done.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
