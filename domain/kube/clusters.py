"""Which Argo CD cluster medic operates on, and whether an Application or an alert is about it. Pure.

One Argo CD may deploy to several clusters: an Application names its cluster in
`spec.destination`, by `server` (the API server URL Argo CD registered) or by `name` (the
cluster's name in Argo CD's cluster list). medic runs in one of them (README "Clusters"), so an
Application is the owner of a workload medic sees only when its destination resolves to that
cluster; one deploying the same namespace/name elsewhere is not, and one whose destination
cannot be resolved is an uncertain owner (never a reason to write directly).

Alerts name their cluster by a label (`cluster` unless configured); an alert for another cluster
is not this medic's to handle.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from domain.base import Frozen

IN_CLUSTER_NAME = "in-cluster"
IN_CLUSTER_SERVER = "https://kubernetes.default.svc"

Where = Literal["here", "elsewhere", "unknown"]


class Cluster(Frozen):
    """A cluster as Argo CD's cluster list names it: its name and API server URL ("" unknown)."""

    name: str = ""
    server: str = ""

    def label(self) -> str:
        return self.name or self.server or "an unnamed cluster"


class Placement(Frozen):
    """Where an Application deploys, seen from this cluster: `here`, `elsewhere` (a cluster of
    Argo CD's list other than this one) or `unknown` (its destination names no cluster medic can
    find), with a one-line reason for the last two."""

    where: Where
    destination: str = ""  # the cluster as the Application names it
    reason: str = ""


def server_key(server: str) -> str:
    """An API server URL as Argo CD compares them: no trailing slash, scheme and host lowercased."""
    text = server.strip().rstrip("/")
    scheme, sep, rest = text.partition("://")
    if not sep:
        return text.lower()
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}://{host.lower()}{slash}{path}"


def clusters_of(items: Iterable[Mapping[str, Any]]) -> list[Cluster]:
    """The clusters of Argo CD's `GET /api/v1/clusters` items (`name`, `server`)."""
    return [
        Cluster(name=str(item.get("name") or ""), server=str(item.get("server") or ""))
        for item in items
        if isinstance(item, Mapping) and (item.get("name") or item.get("server"))
    ]


def this_cluster(name: str, server: str, listed: Sequence[Cluster] = ()) -> Cluster:
    """The cluster medic operates on: the configured name and server, the one missing looked up in
    Argo CD's list; neither configured, Argo CD's own cluster (`in-cluster`,
    https://kubernetes.default.svc, under the name the list gives it). A part that is neither
    configured nor listed stays "" (that cluster is then matched by the other part only)."""
    name, server = name.strip(), server.strip()
    if not name and not server:
        server = IN_CLUSTER_SERVER
        name = next((c.name for c in listed if server_key(c.server) == server_key(server)), IN_CLUSTER_NAME)
        return Cluster(name=name, server=server)
    if not server:
        server = next((c.server for c in listed if c.name == name), "")
        if not server and name == IN_CLUSTER_NAME:
            server = IN_CLUSTER_SERVER
    if not name:
        name = next((c.name for c in listed if server_key(c.server) == server_key(server)), "")
        if not name and server_key(server) == server_key(IN_CLUSTER_SERVER):
            name = IN_CLUSTER_NAME
    return Cluster(name=name, server=server)


def placement(
    destination: Mapping[str, Any] | None, here: Cluster, listed: Sequence[Cluster] | None
) -> Placement:
    """Where an Application with this `spec.destination` deploys, seen from `here`.

    `listed` is Argo CD's cluster list (None: it could not be read). A `server` is compared with
    this cluster's server, a `name` with this cluster's name, then resolved to a server through
    the list. A destination that names a cluster the list does not hold (or that cannot be looked
    up), or names none at all, is `unknown`: medic cannot tell whether the Application deploys here.
    """
    destination = destination or {}
    server = str(destination.get("server") or "").strip()
    name = str(destination.get("name") or "").strip()
    clusters = list(listed or ())
    unread = " (Argo CD's cluster list could not be read)" if listed is None else ""
    if server:
        if here.server and server_key(server) == server_key(here.server):
            return Placement(where="here", destination=server)
        known = next((c for c in clusters if server_key(c.server) == server_key(server)), None)
        if known is None:
            return Placement(
                where="unknown",
                destination=server,
                reason=f"its destination server {server} is not a cluster Argo CD lists{unread}",
            )
        if not here.server and known.name and known.name == here.name:
            return Placement(where="here", destination=server)
        if not here.server:
            return Placement(
                where="unknown",
                destination=server,
                reason=f"this cluster's server is not known, so {server} cannot be compared with it",
            )
        return Placement(
            where="elsewhere",
            destination=server,
            reason=f"it deploys to cluster {known.label()}, not to {here.label()}",
        )
    if name:
        if here.name and name == here.name:
            return Placement(where="here", destination=name)
        known = next((c for c in clusters if c.name == name), None)
        if known is None:
            return Placement(
                where="unknown",
                destination=name,
                reason=f"its destination cluster {name!r} is not a cluster Argo CD lists{unread}",
            )
        if here.server and server_key(known.server) == server_key(here.server):
            return Placement(where="here", destination=name)
        return Placement(
            where="elsewhere", destination=name, reason=f"it deploys to cluster {name}, not to {here.label()}"
        )
    return Placement(where="unknown", reason="its destination names no cluster")


def application_placement(
    app: Mapping[str, Any], here: Cluster, listed: Sequence[Cluster] | None
) -> Placement:
    """`placement` of an Application (as Argo CD's API sends it), by its `spec.destination`."""
    spec = app.get("spec") or {}
    return placement(spec.get("destination") if isinstance(spec, Mapping) else None, here, listed)


# --- alerts ------------------------------------------------------------------------------------


def alert_cluster_names(name: str, aliases: Iterable[str]) -> frozenset[str]:
    """The values of the cluster label that mean this cluster; empty: every alert is this one's."""
    return frozenset(n.strip() for n in (name, *aliases) if n.strip())


def alert_is_here(labels: Mapping[str, str], label: str, names: frozenset[str]) -> bool:
    """Whether an alert with these labels is about this cluster: it carries no `label`, or its value
    is one of `names`, or no names are configured (a medic that knows no cluster name takes all)."""
    value = str(labels.get(label) or "").strip() if label else ""
    return not names or not value or value in names


# --- workflow ids ----------------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^a-z0-9-]+")


def cluster_slug(name: str) -> str:
    """A cluster name as it may stand in a workflow id or task queue: lowercase letters, digits
    and dashes, at most 63 characters; "" for no name."""
    return _UNSAFE.sub("-", name.strip().lower()).strip("-")[:63]
