"""Which Argo CD Application owns a Kubernetes object, decided from what Argo CD and the object say.

Argo CD marks what it manages in one of three ways (its `application.resourceTrackingMethod`):

- `label` (2.x's default): the instance label (`app.kubernetes.io/instance`, or argocd-cm's
  `application.instanceLabelKey`) holds the Application's name. Helm charts set the same label to
  their release name, so the label alone proves nothing.
- `annotation` (3.x's default): `argocd.argoproj.io/tracking-id: <app>:<group>/<kind>:<namespace>/<name>`,
  `<app>` being `<app namespace>_<app name>` for an Application outside Argo CD's own namespace.
  It counts only when it describes this very object (Argo CD ignores a copied annotation too).
- `annotation+label`: the annotation tracks; the label is written for information only.

medic reads the method it is configured with (`Tracking`); `annotation+label`, its default, reads
the annotation and falls back to the label, so that it understands 2.x and 3.x estates alike.

The decision is pure (`decide_ownership`): the caller reads the Application the object's tracking
names (and, when that Application's `status.resources` does not list the object, its
managed-resources), or lists the Applications, and hands over what it got, errors included. It
fails closed: an object whose tracking names an Application that does not list it, that cannot be
read, or an Argo CD that cannot be asked, is `uncertain` — never `unmanaged` — so that nothing is
changed directly under Argo CD's feet.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from domain.base import Frozen

TRACKING_ANNOTATION = "argocd.argoproj.io/tracking-id"
DEFAULT_INSTANCE_LABEL = "app.kubernetes.io/instance"

TrackingMethod = Literal["annotation", "label", "annotation+label"]
TRACKING_METHODS: tuple[TrackingMethod, ...] = ("annotation", "label", "annotation+label")

OwnershipState = Literal["managed", "unmanaged", "uncertain"]


class Tracking(Frozen):
    """How the Argo CD medic works with marks what it manages (see the module docstring)."""

    method: TrackingMethod = "annotation+label"
    instance_label: str = DEFAULT_INSTANCE_LABEL

    @property
    def reads_annotation(self) -> bool:
        return self.method in ("annotation", "annotation+label")

    @property
    def reads_label(self) -> bool:
        return self.method in ("label", "annotation+label")


class Claim(Frozen):
    """The Application an object's tracking metadata names: its namespace ("" when the tracking
    does not say: the label, or an annotation of an Application in Argo CD's own namespace)."""

    application: str
    app_namespace: str = ""
    via: Literal["annotation", "label"]

    @property
    def said(self) -> str:
        what = "tracking-id annotation" if self.via == "annotation" else "instance label"
        return f"{what} names Application {self.qualified}"

    @property
    def qualified(self) -> str:
        return f"{self.app_namespace}/{self.application}" if self.app_namespace else self.application


class Ownership(Frozen):
    """What observe concluded about who manages one object: `managed` by `application`,
    `unmanaged` (no tracking metadata and no Application lists it), or `uncertain` (then `reason`
    says, in one line, which Application and what was missing). medic never changes an uncertain
    object directly."""

    kind: str
    namespace: str = ""
    name: str
    state: OwnershipState
    application: str = ""
    app_namespace: str = ""
    reason: str = ""
    # How the owner was established: "status.resources", "managed-resources" (the Application's
    # status did not list it; its managed-resources did), or "" when not managed.
    listed_in: str = ""

    def names(self, kind: str, namespace: str, name: str) -> bool:
        return (self.kind, self.namespace or "", self.name) == (kind, namespace or "", name)


def _group_of(api_version: str) -> str:
    return api_version.split("/", 1)[0] if "/" in api_version else ""


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def annotation_claim(obj: Mapping[str, Any]) -> Claim | None:
    """The Application the object's tracking-id annotation names, when it describes this object."""
    meta = _meta(obj)
    annotation = str((meta.get("annotations") or {}).get(TRACKING_ANNOTATION) or "")
    parts = annotation.split(":")
    if len(parts) != 3:
        return None
    app, group_kind, namespaced_name = parts
    group, _, kind = group_kind.rpartition("/")
    namespace, _, name = namespaced_name.rpartition("/")
    same_object = (
        kind == obj.get("kind")
        and group == _group_of(str(obj.get("apiVersion") or ""))
        and name == meta.get("name")
        and namespace == (meta.get("namespace") or "")
    )
    if not (app and same_object):
        return None
    app_namespace, _, app_name = app.rpartition("_")
    return Claim(application=app_name, app_namespace=app_namespace, via="annotation")


def tracking_claim(obj: Mapping[str, Any], tracking: Tracking) -> Claim | None:
    """The Application the object's tracking metadata names under `tracking`, or None."""
    if tracking.reads_annotation:
        claim = annotation_claim(obj)
        if claim is not None:
            return claim
    if tracking.reads_label:
        label = str((_meta(obj).get("labels") or {}).get(tracking.instance_label) or "")
        if label:
            return Claim(application=label, via="label")
    return None


def carries_tracking(obj: Mapping[str, Any], tracking: Tracking) -> bool:
    """Whether the object carries tracking metadata medic reads (valid for this object or not)."""
    meta = _meta(obj)
    if tracking.reads_annotation and (meta.get("annotations") or {}).get(TRACKING_ANNOTATION):
        return True
    return bool(tracking.reads_label and (meta.get("labels") or {}).get(tracking.instance_label))


def lists_object(resources: Iterable[Mapping[str, Any]], obj: Mapping[str, Any]) -> bool:
    """Whether `resources` (an Application's `status.resources`, or its managed-resources items —
    both carry group, kind, namespace, name) include the object."""
    meta = _meta(obj)
    key = (
        _group_of(str(obj.get("apiVersion") or "")),
        obj.get("kind"),
        meta.get("namespace") or "",
        meta.get("name"),
    )
    return any(
        (r.get("group") or "", r.get("kind"), r.get("namespace") or "", r.get("name")) == key
        for r in resources
        if isinstance(r, Mapping)
    )


def status_resources(app: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list((app.get("status") or {}).get("resources") or [])


def app_key(app: Mapping[str, Any]) -> tuple[str, str]:
    """(namespace, name) of an Application as the API returns it."""
    meta = _meta(app)
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


@dataclass(frozen=True)
class ClaimedRead:
    """What reading the claimed Application gave: the Application (None: Argo CD answered that it
    has none), or `error` (it could not be read: unreachable, refused); and, when its
    status.resources did not list the object, its managed-resources items (None: not asked) or
    `managed_error`."""

    app: Mapping[str, Any] | None = None
    error: str = ""
    managed: Sequence[Mapping[str, Any]] | None = None
    managed_error: str = ""
    # why the claimed Application deploys to another cluster (it owns nothing here), else ""
    elsewhere: str = ""


@dataclass(frozen=True)
class Listing:
    """Every Application Argo CD lists (`apps`), or the `error` listing them gave."""

    apps: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    error: str = ""


def _ownership(obj: Mapping[str, Any], state: OwnershipState, **fields: str) -> Ownership:
    meta = _meta(obj)
    return Ownership(
        kind=str(obj.get("kind") or ""),
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        state=state,
        **fields,
    )


def decide_ownership(
    obj: Mapping[str, Any],
    tracking: Tracking,
    *,
    claimed: ClaimedRead | None = None,
    listing: Listing | None = None,
) -> tuple[Ownership, Mapping[str, Any] | None]:
    """Who owns `obj`, and the owning Application (None unless managed).

    With a claim (`tracking_claim`), `claimed` is what reading that Application gave: it owns the
    object when its status.resources or its managed-resources list the object; a claimed
    Application that exists and lists it nowhere, or cannot be read, makes the object uncertain.
    An annotation naming an Application Argo CD does not have, or one of another cluster
    (`claimed.elsewhere`), is uncertain too (the annotation is Argo CD's own mark); a label naming
    none is not a claim (Helm sets the same label), and the listing decides. Without a (standing)
    claim, `listing` decides: the one Application whose status.resources list the object owns it,
    several make it uncertain, none leave it unmanaged; a listing that failed leaves an object with
    tracking metadata uncertain.
    """
    claim = tracking_claim(obj, tracking)
    if claim is not None and claimed is not None:
        if claimed.error:
            return _ownership(
                obj, "uncertain", reason=f"{claim.said}, which Argo CD could not read: {claimed.error}"
            ), None
        if claimed.app is not None:
            namespace, app_name = app_key(claimed.app)
            owner = {"application": app_name, "app_namespace": namespace}
            if lists_object(status_resources(claimed.app), obj):
                return _ownership(obj, "managed", listed_in="status.resources", **owner), claimed.app
            if claimed.managed is not None and lists_object(claimed.managed, obj):
                return _ownership(obj, "managed", listed_in="managed-resources", **owner), claimed.app
            missing = (
                f"whose managed-resources could not be read: {claimed.managed_error}"
                if claimed.managed_error
                else "which does not list it (status or managed-resources)"
            )
            return _ownership(obj, "uncertain", reason=f"{claim.said}, {missing}", **owner), None
        if claim.via == "annotation":
            missing = (
                f"which deploys elsewhere: {claimed.elsewhere}"
                if claimed.elsewhere
                else "which Argo CD does not have"
            )
            return _ownership(
                obj,
                "uncertain",
                reason=f"{claim.said}, {missing}",
                application=claim.application,
                app_namespace=claim.app_namespace,
            ), None
        # A label naming no Application: Helm's release label, most likely; the listing decides.
    carried = carries_tracking(obj, tracking)
    if listing is None:
        return _ownership(obj, "unmanaged"), None
    if listing.error:
        if carried:
            return _ownership(
                obj,
                "uncertain",
                reason=f"tracked by Argo CD, which could not be read: {listing.error}",
            ), None
        return _ownership(obj, "unmanaged"), None
    owners = [app for app in listing.apps if lists_object(status_resources(app), obj)]
    if len(owners) > 1:
        names = ", ".join(sorted("/".join(app_key(a)) for a in owners))
        return _ownership(obj, "uncertain", reason=f"several Applications list it: {names}"), None
    if owners:
        namespace, app_name = app_key(owners[0])
        return _ownership(
            obj, "managed", application=app_name, app_namespace=namespace, listed_in="status.resources"
        ), owners[0]
    return _ownership(obj, "unmanaged"), None


def with_listed(
    app: Mapping[str, Any], obj: Mapping[str, Any], managed: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The Application with the object's managed-resources entry added to its status.resources
    (as `group, version, kind, namespace, name, status`), for an Application whose persisted
    status did not list it: downstream readers then see one list."""
    meta = _meta(obj)
    entry: dict[str, Any] = {
        "group": _group_of(str(obj.get("apiVersion") or "")),
        "version": str(obj.get("apiVersion") or "v1").rpartition("/")[2],
        "kind": str(obj.get("kind") or ""),
        "namespace": str(meta.get("namespace") or ""),
        "name": str(meta.get("name") or ""),
    }
    for item in managed:
        if lists_object([item], obj) and item.get("diff") is not None:
            entry["status"] = "OutOfSync" if item.get("modified") else "Synced"
    copied = dict(app)
    status = dict(copied.get("status") or {})
    status["resources"] = [*status_resources(app), entry]
    copied["status"] = status
    return copied


def resource_health(
    tree: Mapping[str, Any], group: str, kind: str, namespace: str, name: str
) -> dict[str, str]:
    """A resource's health (`status`, `message`) from an Application's resource tree — where Argo CD
    3.x keeps per-resource health (it no longer persists it in status.resources) — or {}."""
    for node in tree.get("nodes") or []:
        if not isinstance(node, Mapping):
            continue
        if (node.get("group") or "", node.get("kind"), node.get("namespace") or "", node.get("name")) == (
            group or "",
            kind,
            namespace or "",
            name,
        ):
            health = node.get("health") or {}
            return {k: str(v) for k, v in health.items() if k in ("status", "message") and v}
    return {}


def with_tree_health(app: Mapping[str, Any], tree: Mapping[str, Any]) -> dict[str, Any]:
    """The Application with each status.resources entry's health taken from its resource tree
    (`resource_health`); an entry the tree has no health for keeps what it had."""
    resources = []
    for entry in status_resources(app):
        health = resource_health(
            tree,
            str(entry.get("group") or ""),
            str(entry.get("kind") or ""),
            str(entry.get("namespace") or ""),
            str(entry.get("name") or ""),
        )
        resources.append({**entry, "health": health} if health else dict(entry))
    status = dict(app.get("status") or {})
    if "resources" in status:
        status["resources"] = resources
    return {**app, "status": status}
