"""Drift scan: which Applications to look at, and how each one's live state differs from Git.

The activities, all reads (sync, on the worker's thread pool: the clients block):

- `list_drift_applications`: the Argo CD Applications in a scan's scope, as small sorted refs.
- `scan_drift_page`: for a page of Applications, each one's managed resources compared by
  `domain.drift.diff.application_drift`, the drifted ones given their disposition by the drift
  policy. Heartbeats after each Application. The result holds the drifted Applications only.
- `scan_unmanaged_manifests`: the plain manifests under the drift configuration's `manifests_dir`
  of the GitOps repository compared with the live objects, for resources no Application manages.

Errors become `ApplicationError`s with the integration's error type: an unreachable Argo CD, git
remote or Kubernetes API is retried by Temporal; refusals (a wrong token, a bad request) are
final. An Application that vanished between listing and scanning is only noted in `errors`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, get_args

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.failures import activity_failure, classified
from activities.redaction import redacts_result
from domain.drift.diff import application_drift, manifest_objects, resource_drift
from domain.drift.model import (
    AppDrift,
    AppRef,
    Disposition,
    DriftConfig,
    DriftPageInput,
    DriftPageResult,
    DriftScope,
    ResourceDrift,
)
from domain.kube.ownership import Tracking, carries_tracking
from integrations.argocd import ArgoClient, ArgoNotFound
from integrations.git import GitRepo
from integrations.kubernetes import KubeClient, KubeError, KubeUnavailable

__all__ = ["DriftActivities", "Dispose"]

# The drift policy: what to do about an Application's drift, and why.
Dispose = Callable[[AppDrift], tuple[str, str]]

NO_POLICY = ("report", "no drift policy configured")
UNMANAGED_REASON = "no Argo CD Application manages these resources"
MANIFEST_SUFFIXES = (".yaml", ".yml")


def _app_ref(app: dict[str, Any]) -> AppRef:
    meta, spec = app.get("metadata") or {}, app.get("spec") or {}
    return AppRef(
        name=str(meta.get("name") or ""),
        namespace=str(meta.get("namespace") or "argocd"),
        project=str(spec.get("project") or ""),
    )


class DriftActivities:
    """The drift scan's reads over one Argo CD, one Kubernetes API and one GitOps clone.

    `argocd` None: no Argo CD is configured, listing fails (non-retryable `NotConfigured`). `kube`
    or `repo` None: the raw-manifest comparison has nothing to compare with and reports so.
    `disposition` is the drift policy (sync, adopt or report, and why) applied to each drifted
    Application; without one every drifted Application is reported.
    """

    def __init__(
        self,
        argocd: ArgoClient | None,
        kube: KubeClient | None,
        repo: GitRepo | None,
        config: DriftConfig,
        disposition: Dispose | None = None,
    ) -> None:
        self._argocd = argocd
        self._kube = kube
        self._repo = repo
        self._config = config
        self._disposition = disposition

    def close(self) -> None:
        """Close the Argo CD client (not the Kubernetes client, which the worker shares)."""
        if self._argocd is not None:
            self._argocd.close()

    def _need_argocd(self) -> ArgoClient:
        if self._argocd is None:
            raise ApplicationError(
                "no Argo CD is configured (ARGOCD_URL): drift is found through its Applications",
                type="NotConfigured",
                non_retryable=True,
            )
        return self._argocd

    def _disposed(self, drift: AppDrift) -> AppDrift:
        disposition, reason = self._disposition(drift) if self._disposition is not None else NO_POLICY
        if disposition not in get_args(Disposition):
            raise ApplicationError(
                f"the drift policy answered {disposition!r} for {drift.key}, not sync, adopt or report",
                type="PolicyError",
                non_retryable=True,
            )
        return drift.model_copy(update={"disposition": disposition, "reason": reason})

    # --- the inventory --------------------------------------------------------------------------

    @activity.defn(name="list_drift_applications")
    def list_drift_applications(self, scope: DriftScope) -> list[AppRef]:
        """The Applications in `scope`, sorted by (namespace, name): all of them, one project's
        (asked of Argo CD with `?projects=`), or those whose destination is one namespace; never
        one that deploys to another cluster than this medic's."""
        argocd = self._need_argocd()
        with classified(f"listing the Argo CD Applications ({scope.label})"):
            apps = argocd.list_applications(project=scope.name if scope.kind == "project" else None)
        if scope.kind == "project":
            # Argo CD filters already; an older server may ignore the parameter.
            apps = [a for a in apps if (a.get("spec") or {}).get("project") == scope.name]
        elif scope.kind == "namespace":
            apps = [
                a
                for a in apps
                if ((a.get("spec") or {}).get("destination") or {}).get("namespace") == scope.name
            ]
        # another cluster's Applications are its medic's to scan (README "Clusters")
        apps = [a for a in apps if argocd.placement(a).where != "elsewhere"]
        refs = [_app_ref(a) for a in apps]
        return sorted((r for r in refs if r.name), key=lambda r: (r.namespace, r.name))

    # --- one page of Applications ---------------------------------------------------------------

    @activity.defn(name="scan_drift_page")
    @redacts_result
    def scan_drift_page(self, input: DriftPageInput) -> DriftPageResult:
        """Each Application of the page read with its managed resources and compared; the drifted
        ones with their disposition. A retried attempt scans the whole page again: the findings
        are only returned at the end, so there is nothing to resume from, and a page is small."""
        argocd = self._need_argocd()
        drifted: list[AppDrift] = []
        errors: list[str] = []
        apps_scanned = resources_scanned = 0
        for index, ref in enumerate(input.applications):
            key = f"{ref.namespace}/{ref.name}"
            try:
                with classified(f"reading the Argo CD Application {key}"):
                    try:
                        app = argocd.get_application(ref.name, ref.namespace)
                        managed = argocd.managed_resources(ref.name, ref.namespace)
                    except ArgoNotFound:
                        errors.append(f"{key}: the Application no longer exists; skipped")
                        continue
                try:
                    drift = application_drift(app, managed, self._config)
                except ValueError as err:
                    errors.append(f"{key}: Argo CD's managed resources could not be compared: {err}")
                    continue
                apps_scanned += 1
                resources_scanned += drift.resources_scanned
                if drift.drifted:
                    drifted.append(self._disposed(drift))
            finally:
                activity.heartbeat(index)
        return DriftPageResult(
            apps_scanned=apps_scanned, resources_scanned=resources_scanned, drifted=drifted, errors=errors
        )

    # --- what no Application manages ------------------------------------------------------------

    @activity.defn(name="scan_unmanaged_manifests")
    @redacts_result
    def scan_unmanaged_manifests(self, scan_id: str) -> DriftPageResult:
        """The plain manifests under `manifests_dir` of the GitOps repository (every `*.yaml` /
        `*.yml` at the head of its default branch) compared with the live objects — except Secrets
        (never read) and objects Argo CD tracks (its annotation or label, in Git or live): those
        are its Applications' drift. One AppDrift (`application` "") holds every drifted resource,
        disposition `report`: there is no Application to sync them from. Heartbeats per file.

        Empty when the configuration does not ask for it; a file that is not YAML, or an object
        medic may not read, is noted in `errors` and the rest compared."""
        if not self._config.raw_manifests:
            return DriftPageResult()
        if self._repo is None or self._kube is None:
            missing = "GitOps repository (MEDIC_GITOPS_REPO)" if self._repo is None else "Kubernetes API"
            return DriftPageResult(errors=[f"raw manifests: no {missing} is configured; not compared"])
        repo, kube = self._repo, self._kube
        # Objects Argo CD tracks (by the method it is configured with) are its to compare.
        tracking = self._argocd.tracking if self._argocd is not None else Tracking()
        directory = self._config.manifests_dir.strip("/")
        with classified("reading the GitOps repository"):
            head = repo.sync()
            paths = [
                p
                for p in repo.list_files(head)
                if (not directory or p.startswith(directory + "/")) and p.endswith(MANIFEST_SUFFIXES)
            ]
        activity.heartbeat("synced")
        found: list[ResourceDrift] = []
        errors: list[str] = []
        scanned = 0
        for path in paths:
            with classified(f"reading {path}"):
                text = repo.read_file(path, head)
            try:
                objects = manifest_objects(text or "")
            except ValueError as err:
                errors.append(f"{path}: {err}")
                objects = []
            for obj in objects:
                if obj["kind"] == "Secret" or carries_tracking(obj, tracking):
                    continue
                api_version, kind, meta = str(obj["apiVersion"]), str(obj["kind"]), obj["metadata"]
                namespace, name = str(meta.get("namespace") or ""), str(meta["name"])
                where = f"{path}: {kind} {namespace}/{name}".replace(" /", " ")
                try:
                    live = kube.get_object(api_version, kind, namespace or "default", name)
                except KubeUnavailable as err:
                    raise activity_failure(err, f"reading {where}") from err
                except KubeError as err:
                    # Forbidden or refused: medic's role may not cover every kind in Git.
                    errors.append(f"{where}: not compared: {err.message}")
                    continue
                if live is not None and carries_tracking(live, tracking):
                    continue
                scanned += 1
                group = api_version.split("/", 1)[0] if "/" in api_version else ""
                if live is not None:
                    namespace = str((live.get("metadata") or {}).get("namespace") or "")
                drift = resource_drift(
                    obj, live, group=group, kind=kind, namespace=namespace, name=name, config=self._config
                )
                if drift is not None:
                    found.append(drift)
            activity.heartbeat(path)
        drifted: list[AppDrift] = []
        if found:
            found.sort(key=lambda r: (r.group, r.kind, r.namespace, r.name))
            drifted.append(
                AppDrift(
                    application="",
                    revision=head,
                    resources=found,
                    resources_scanned=scanned,
                    disposition="report",
                    reason=UNMANAGED_REASON,
                )
            )
        return DriftPageResult(resources_scanned=scanned, drifted=drifted, errors=errors)
