"""A simulated Argo CD application controller that follows the sandbox's GitOps repository.

`ArgoController` holds a scenario's Applications and keeps their status the way Argo CD would,
from a real bare git repository (`<home>/gitops.git`) and the sandbox cluster:

- **Comparison.** Each Git source's `targetRevision` (a branch, tag, `HEAD` or a commit) resolves
  to a commit; the sources render at those commits (`sandbox.render`) and the desired objects are
  compared with the live ones. `status.sync` is `Synced` / `OutOfSync` at that revision
  (`revision`, or `revisions` per source for a multi-source Application), `Unknown` with a
  `ComparisonError` condition when rendering fails. The branch is resolved again only on a refresh
  (`?refresh=normal|hard`), a poll, the first look at an Application, and after a sync operation;
  in between, every read compares the last rendered state with the live cluster (live drift shows
  at once, as Argo CD's watch shows it).
- **Sync operations.** A sync request is checked as the API server checks it (another operation in
  progress; a revision other than `targetRevision` on an automated Application; a branch or tag
  that does not resolve — a 40-hex commit is taken as is), then recorded as the Application's
  `operation`. It runs on the controller's next step: the desired objects that differ are written
  to the live objects as a strategic merge patch (`sandbox.render.sync_patch`), which bumps
  generation and resourceVersion like a real apply and starts the cluster's rollout simulation;
  `status.operationState` ends `Succeeded`, `Failed` (an object the API server refused) or `Error`
  (the revision does not exist, the sources do not render), and `status.history` gains an entry.
  An Application the scenario declares `Synced` without a history starts with one entry: the
  revision its sources resolve to in the seeded repository, deployed at SIM_TIME (before the
  sandbox started), so the first deploy the sandbox makes has a revision before it.
- **Manifests.** `manifests` renders the sources at any branch, tag or commit of the repository
  (Argo CD's `GET .../manifests`) without comparing or syncing; a chart-less Helm source's partial
  objects come back whole (`full_manifest`: the live object with the rendered fields applied).
- **Automated sync.** On a refresh or poll of an Application with `syncPolicy.automated`, an
  `OutOfSync` comparison starts a sync of the compared revision — unless the last operation
  already synced that revision (then only with `selfHeal`) or failed on it, as Argo CD decides.
- **Health.** From the live objects with Argo CD's rules for Deployments (gitops-engine): paused →
  Suspended; generation not yet observed, fewer updated replicas than wanted or old replicas left →
  Progressing; progress deadline exceeded → Degraded. One deviation: the sandbox has no clock, so a
  finished rollout whose replicas are not available is Degraded at once (Argo CD says Progressing
  until `progressDeadlineSeconds` pass).

Deploys: a `DeployClock` given to the controller learns the wall-clock time at which a sync last
changed each workload (the sandbox Prometheus reads it to answer "before" or "after"), and with a
`DeployNotifier` every successful sync to a new revision is posted as an Argo CD Notifications
webhook, from a thread of its own (a failed post is logged and dropped: a lost notification).

Time: every API request is one controller step (pending operations advance, and the cluster
advances one step, as a read of its API does); `sync_reads` makes an operation wait that many
steps in phase `Running`. Objects the Application defines that the sandbox cluster does not hold
(it cannot create objects) are not simulated: they keep the status the scenario gave them. Nothing
is pruned. All state is behind one lock: the HTTP server calls in from its own threads.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from domain.kube.server_fields import LAST_APPLIED, SERVER_METADATA
from sandbox.cluster import REVISION, SIM_TIME, ApiError, SandboxCluster
from sandbox.gitops import GitError, run_git
from sandbox.render import (
    Desired,
    RenderError,
    Tree,
    in_sync,
    merge_diff,
    predicted_live,
    render_application,
    sync_patch,
    target_state,
)

FIELD_MANAGER = "argocd-controller"
_SHA = re.compile(r"^[0-9a-fA-F]{40}$")
_WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
# gitops-engine's order, best to worst
_HEALTH_ORDER = ["Healthy", "Suspended", "Progressing", "Missing", "Degraded", "Unknown"]
_TRACKING = "argocd.argoproj.io/tracking-id"
_INSTANCE = "app.kubernetes.io/instance"
# grpc codes in the gateway's error bodies
FAILED_PRECONDITION = 9
INVALID_ARGUMENT = 3
PERMISSION_DENIED = 7
NOT_FOUND = 5
UNKNOWN = 2


class Refusal(Exception):
    """A request the API server refuses: HTTP status, grpc code and message (grpc-gateway's body)."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error": self.message, "code": self.code, "message": self.message}


# --- the repository ------------------------------------------------------------------------------


class GitopsRepo:
    """Read-only access to a bare repository: refs resolved to commits, files read at a commit.

    Commits never change, so their file lists and contents are cached; refs are read every time.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env.update(
            {
                "GIT_DIR": str(self.path),
                "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_CONFIG_GLOBAL": os.devnull,
                "GIT_TERMINAL_PROMPT": "0",
                "LC_ALL": "C",
            }
        )
        self._env = env
        self._trees: dict[str, Tree] = {}
        self._commits: set[str] = set()
        self._blobs: dict[tuple[str, str], str | None] = {}

    def _git(self, *args: str) -> str:
        return run_git(list(args), env=self._env).decode(errors="replace")

    def resolve(self, revision: str) -> str | None:
        """The commit a branch, tag, `HEAD` or commit names, or None."""
        revision = revision.strip() or "HEAD"
        if revision.startswith("-") or not (self.path / "HEAD").exists():
            return None
        candidates = (
            [revision]
            if revision == "HEAD"
            else [f"refs/heads/{revision}", f"refs/tags/{revision}", revision]
        )
        for candidate in candidates:
            try:
                return self._git("rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}").strip()
            except GitError:
                continue
        return None

    def has_commit(self, sha: str) -> bool:
        """Whether the repository holds this commit (a full 40-hex name)."""
        if sha in self._commits:
            return True
        if _SHA.match(sha) and self.resolve(sha) == sha.lower():
            self._commits.add(sha)
            return True
        return False

    def tree(self, commit: str) -> Tree:
        """The repository at `commit` (which must exist)."""
        if commit not in self._trees:
            listing = self._git("ls-tree", "-r", "-z", "--name-only", commit)
            files = tuple(sorted(p for p in listing.split("\0") if p))
            self._trees[commit] = Tree(files, functools.partial(self._read, commit))
        return self._trees[commit]

    def _read(self, commit: str, path: str) -> str | None:
        key = (commit, path)
        if key not in self._blobs:
            try:
                self._blobs[key] = self._git("cat-file", "blob", f"{commit}:{path}")
            except GitError:
                self._blobs[key] = None
        return self._blobs[key]

    def forget(self) -> None:
        """Drop the caches (a hard refresh)."""
        self._trees.clear()
        self._commits.clear()
        self._blobs.clear()


# --- health --------------------------------------------------------------------------------------


def _condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return dict(condition)
    return {}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def workload_health(obj: dict[str, Any], *, rolling: bool = False) -> dict[str, str]:
    """Argo CD's health of a Deployment / StatefulSet / DaemonSet (see the module docstring).
    `rolling`: the cluster's rollout simulation has not finished yet."""
    kind, name = obj.get("kind"), (obj.get("metadata") or {}).get("name", "")
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    generation = int((obj.get("metadata") or {}).get("generation") or 0)
    observed = int(status.get("observedGeneration") or 0)
    if spec.get("paused"):
        return {"status": "Suspended", "message": f"{kind} is paused"}
    if rolling or generation > observed:
        return {
            "status": "Progressing",
            "message": "Waiting for rollout to finish: observed deployment generation less than desired "
            "generation",
        }
    if kind == "DaemonSet":
        wanted = int(status.get("desiredNumberScheduled") or 0)
        updated = int(status.get("updatedNumberScheduled") or 0)
        available = int(status.get("numberAvailable") or 0)
        current = int(status.get("currentNumberScheduled") or 0)
    else:
        wanted = int(spec.get("replicas", 1))
        updated = int(status.get("updatedReplicas") or 0)
        available = int(status.get("availableReplicas", status.get("readyReplicas", 0)) or 0)
        current = int(status.get("replicas") or 0)
    if _condition(obj, "Progressing").get("reason") == "ProgressDeadlineExceeded":
        return {"status": "Degraded", "message": f'{kind} "{name}" exceeded its progress deadline'}
    if updated < wanted:
        return {
            "status": "Progressing",
            "message": f"Waiting for rollout to finish: {updated} out of {wanted} new replicas have been "
            "updated...",
        }
    if current > updated:
        return {
            "status": "Progressing",
            "message": f"Waiting for rollout to finish: {current - updated} old replicas are pending "
            "termination...",
        }
    if available < updated:
        # Argo CD waits for the progress deadline; the sandbox's rollouts are already over.
        return {
            "status": "Degraded",
            "message": f'{kind} "{name}" has {_plural(updated - available, "unavailable replica")}',
        }
    return {"status": "Healthy", "message": ""}


def pod_health(pod: dict[str, Any]) -> dict[str, str]:
    status = pod.get("status") or {}
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in (
            "CrashLoopBackOff",
            "ImagePullBackOff",
            "ErrImagePull",
            "CreateContainerError",
        ):
            return {"status": "Degraded", "message": str(waiting.get("message") or waiting.get("reason"))}
    phase = status.get("phase")
    if phase == "Failed":
        return {"status": "Degraded", "message": str(status.get("message") or "")}
    if phase == "Succeeded":
        return {"status": "Healthy", "message": ""}
    if phase == "Running" and _condition(pod, "Ready").get("status") == "True":
        return {"status": "Healthy", "message": ""}
    return {"status": "Progressing", "message": ""}


def _worst(healths: Sequence[dict[str, str]]) -> dict[str, str]:
    worst = {"status": "Healthy", "message": ""}
    for health in healths:
        status = health.get("status", "")
        if status in _HEALTH_ORDER and _HEALTH_ORDER.index(status) > _HEALTH_ORDER.index(worst["status"]):
            worst = {"status": status, "message": health.get("message", "")}
    return worst


def _api_version(group: str, version: str) -> str:
    return f"{group}/{version}" if group else version


def _kubectl_name(kind: str, group: str, name: str) -> str:
    return f"{kind.lower()}.{group}/{name}" if group else f"{kind.lower()}/{name}"


_log = logging.getLogger(__name__)


# --- deploys -------------------------------------------------------------------------------------


class DeployClock:
    """When a sync last changed each workload, in unix seconds of `now` (wall-clock by default).

    Shared by the sandbox Argo CD (which marks) and the sandbox Prometheus (which reads);
    thread-safe. The sandbox cluster has no clock, but a deploy watch compares Prometheus windows in
    real time, so this one is.
    """

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self.now = now
        self._lock = threading.Lock()
        self._synced: dict[tuple[str, str], float] = {}
        self._original: dict[tuple[str, str], str] = {}
        # per workload, every sync that changed it: (when, whether it restored the original)
        self._syncs: dict[tuple[str, str], list[tuple[float, bool]]] = {}

    def mark(
        self,
        namespace: str,
        name: str,
        at: float | None = None,
        *,
        before: Mapping[str, Any] | None = None,
        after: Mapping[str, Any] | None = None,
    ) -> float:
        """Record a sync of the workload at `at` (default: now), to the millisecond (Prometheus'
        resolution); the time recorded. `before` and `after` are the workload's pod template
        before and after the sync: the first `before` is the workload as the sandbox started, and a
        sync whose `after` equals it (a revert) restores it (`changed_at`)."""
        at = round(self.now() if at is None else float(at), 3)
        key = (namespace, name)
        with self._lock:
            self._synced[key] = at
            if before is not None:
                self._original.setdefault(key, _digest(before))
            original = self._original.get(key)
            restored = original is not None and after is not None and _digest(after) == original
            self._syncs.setdefault(key, []).append((at, restored))
        return at

    def synced_at(self, namespace: str, name: str) -> float | None:
        """The last sync that changed the workload; None: none since the sandbox started."""
        with self._lock:
            return self._synced.get((namespace, name))

    def changed_at(self, namespace: str, name: str, at: float) -> bool:
        """Whether the workload differs from how the sandbox started at instant `at` (to the
        millisecond): a sync before `at` changed it, and no later sync before `at` restored it."""
        with self._lock:
            syncs = list(self._syncs.get((namespace, name), ()))
        state = False
        for synced, restored in syncs:
            if round(at * 1000) > round(synced * 1000):
                state = not restored
        return state


def _digest(obj: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _template(obj: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(((obj or {}).get("spec") or {}).get("template") or {})


def _rfc3339(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class DeployNotifier:
    """Posts Argo CD Notifications webhook bodies to `url` with a bearer `token`, in order, from one
    daemon thread: `send` never blocks; a post that fails is logged and dropped."""

    def __init__(self, url: str, token: str = "", *, timeout: float = 5.0) -> None:
        self.url = url
        self.token = token
        self.timeout = timeout
        self._queue: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def send(self, body: dict[str, Any]) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._deliver, name="sandbox-argocd-notify", daemon=True
                )
                self._thread.start()
        self._queue.put(body)

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued (for up to `timeout` seconds), then stop the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)

    def _deliver(self) -> None:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        with httpx.Client(timeout=self.timeout, headers=headers) as http:
            while (body := self._queue.get()) is not None:
                try:
                    response = http.post(self.url, json=body)
                    if response.status_code >= 300:
                        _log.warning(
                            "deploy notification of %s at %s refused: HTTP %s",
                            body.get("application"),
                            body.get("revision"),
                            response.status_code,
                        )
                except httpx.HTTPError as exc:
                    _log.warning(
                        "deploy notification of %s at %s lost: %s",
                        body.get("application"),
                        body.get("revision"),
                        exc,
                    )


# --- the controller ------------------------------------------------------------------------------


@dataclass
class _App:
    """One Application and what the controller keeps about it beside its status."""

    app: dict[str, Any]
    seed_resources: list[dict[str, Any]]  # status.resources as the scenario gave them
    compared: list[str] | None = None  # revision per source of the last comparison
    error: str = ""  # the last ComparisonError
    steps_left: int = 0  # before the pending operation runs
    desired: list[Desired] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str((self.app.get("metadata") or {}).get("name") or "")

    @property
    def namespace(self) -> str:
        return str((self.app.get("metadata") or {}).get("namespace") or "argocd")

    @property
    def spec(self) -> dict[str, Any]:
        return dict(self.app.get("spec") or {})

    @property
    def status(self) -> dict[str, Any]:
        status = self.app.setdefault("status", {})
        assert isinstance(status, dict)
        return status

    @property
    def multi_source(self) -> bool:
        return bool(self.spec.get("sources"))

    @property
    def sources(self) -> list[dict[str, Any]]:
        spec = self.spec
        if spec.get("sources"):
            return [dict(s) for s in spec["sources"]]
        return [dict(spec["source"])] if spec.get("source") else []

    @property
    def automated(self) -> dict[str, Any] | None:
        automated = (self.spec.get("syncPolicy") or {}).get("automated")
        if automated is None or (isinstance(automated, dict) and automated.get("enabled") is False):
            return None
        return dict(automated) if isinstance(automated, dict) else {}


class ArgoController:
    """Argo CD's application controller over a scenario's Applications (see the module docstring).

    Every public method is one API request: it takes the lock and advances the simulation a step.
    """

    def __init__(
        self,
        applications: list[dict[str, Any]],
        cluster: SandboxCluster,
        repo: str | Path,
        *,
        sync_reads: int = 0,
        deploy_clock: DeployClock | None = None,
        notifier: DeployNotifier | None = None,
        annotation_only: bool = False,
    ) -> None:
        self.cluster = cluster
        # Argo CD 3.x: an object is the Application's by the tracking-id annotation alone.
        self.annotation_only = annotation_only
        self.repo = GitopsRepo(repo)
        self.sync_reads = max(0, int(sync_reads))
        self.deploy_clock = deploy_clock
        self.notifier = notifier
        self._lock = threading.RLock()
        self._apps = [
            _App(copy.deepcopy(a), copy.deepcopy(list((a.get("status") or {}).get("resources") or [])))
            for a in applications
        ]
        for app in self._apps:
            self._seed_history(app)

    # --- requests --------------------------------------------------------------------------------

    def find(self, name: str, app_namespace: str = "", project: str = "") -> dict[str, Any]:
        """GET /api/v1/applications/{name}: the Application, its status current."""
        with self._lock:
            self._step()
            return self._view(self._get(name, app_namespace, project))

    def applications(self, project: str = "") -> list[dict[str, Any]]:
        """GET /api/v1/applications."""
        with self._lock:
            self._step()
            return [self._view(a) for a in self._apps if not project or a.spec.get("project") == project]

    def refresh(
        self, name: str, app_namespace: str = "", project: str = "", *, hard: bool = False
    ) -> dict[str, Any]:
        """GET /api/v1/applications/{name}?refresh=normal|hard: compare with the branch's head now
        (and start an automated sync when one is due); the refreshed Application."""
        with self._lock:
            self._step()
            app = self._get(name, app_namespace, project)
            if hard:
                self.repo.forget()
            self._refresh(app, auto=True)
            return self._view(app)

    def poll(self) -> None:
        """The controller's periodic reconciliation: every Application refreshed, automated syncs
        started where due."""
        with self._lock:
            self._step()
            for app in self._apps:
                self._refresh(app, auto=True)

    def sync(self, name: str, request: dict[str, Any]) -> dict[str, Any]:
        """POST /api/v1/applications/{name}/sync with an `applicationSyncRequest` body: the
        Application with its `operation` set (the operation runs on a later step)."""
        with self._lock:
            self._step()
            app = self._get(name, str(request.get("appNamespace") or ""), str(request.get("project") or ""))
            self._view(app)
            if app.app.get("operation"):
                raise Refusal(400, FAILED_PRECONDITION, "another operation is already in progress")
            dry_run = bool(request.get("dryRun"))
            revisions = self._requested_revisions(app, request, dry_run)
            strategy = request.get("strategy") or {}
            options = (request.get("syncOptions") or {}).get("items") or []
            self._start(
                app,
                revisions,
                initiated_by={"username": "admin"},
                prune=bool(request.get("prune")),
                dry_run=dry_run,
                strategy=strategy if isinstance(strategy, dict) else {},
                options=[str(o) for o in options],
                resources=[dict(r) for r in request.get("resources") or [] if isinstance(r, dict)],
            )
            return self._view(app)

    def managed_resources(self, name: str, query: dict[str, str]) -> list[dict[str, Any]]:
        """GET /api/v1/applications/{name}/managed-resources: per object Git defines, the target,
        live, normalized live and predicted live state as JSON strings, and whether they differ."""
        with self._lock:
            self._step()
            app = self._get(name, query.get("appNamespace", ""), query.get("project", ""))
            self._view(app)
            items = []
            for desired in app.desired:
                live = self.cluster.peek(*desired.key)
                target = target_state(desired)
                if live is None:
                    live_json, predicted, modified = "null", None, False
                else:
                    live_json = json.dumps(live)
                    predicted = predicted_live(desired, live)
                    modified = not in_sync(desired, live)
                items.append(
                    {
                        "group": desired.group,
                        "kind": desired.key[1],
                        "namespace": desired.key[2],
                        "name": desired.key[3],
                        "targetState": json.dumps(target),
                        "liveState": live_json,
                        "normalizedLiveState": live_json,
                        "predictedLiveState": json.dumps(predicted) if predicted is not None else "null",
                        "diff": json.dumps(merge_diff(live, predicted)) if live is not None else "",
                        "hook": False,
                        "modified": modified,
                        "resourceVersion": str(
                            ((live or {}).get("metadata") or {}).get("resourceVersion") or ""
                        ),
                    }
                )
            return [i for i in items if _matches_query(i, query)]

    def resource_tree(self, name: str, query: dict[str, str]) -> dict[str, Any]:
        """GET /api/v1/applications/{name}/resource-tree."""
        with self._lock:
            self._step()
            app = self._get(name, query.get("appNamespace", ""), query.get("project", ""))
            view = self._view(app)
            return resource_tree(self.cluster, (view.get("status") or {}).get("resources") or [])

    def manifests(
        self, name: str, query: dict[str, str], revisions: Sequence[str] = (), positions: Sequence[str] = ()
    ) -> dict[str, Any]:
        """GET /api/v1/applications/{name}/manifests: the objects the sources render to at `revision`
        (single source) or `revisions` at 1-based `sourcePositions` (multi-source), else at each
        source's `targetRevision` — a branch, tag or commit of the repository. Nothing is compared
        or synced. A chart-less Helm source's partial objects come back whole: the live object with
        the rendered fields applied, without what the server writes (see `full_manifest`)."""
        with self._lock:
            self._step()
            app = self._get(name, query.get("appNamespace", ""), query.get("project", ""))
            sources = app.sources
            wanted = [str(s.get("targetRevision") or "") for s in sources]
            if app.multi_source:
                for i, position in enumerate(positions):
                    try:
                        index = int(position)
                    except ValueError:
                        message = f"invalid source position {position!r}"
                        raise Refusal(400, INVALID_ARGUMENT, message) from None
                    if index <= 0 or index > len(sources):
                        raise Refusal(400, INVALID_ARGUMENT, f"source position {index} is out of range")
                    if i < len(revisions) and revisions[i]:
                        wanted[index - 1] = revisions[i]
            elif sources and query.get("revision"):
                wanted[0] = query["revision"]
            trees: list[Tree | None] = []
            resolved: list[str] = []
            for source, revision in zip(sources, wanted, strict=True):
                if source.get("chart"):
                    trees.append(None)
                    resolved.append(revision)
                    continue
                sha = self.repo.resolve(revision or "HEAD")
                if sha is None:
                    raise Refusal(
                        500,
                        UNKNOWN,
                        "error generating manifests: rpc error: code = Unknown desc = unable to resolve "
                        f"'{revision or 'HEAD'}' to a commit SHA",
                    )
                trees.append(self.repo.tree(sha))
                resolved.append(sha)
            destination = self._destination(app)
            try:
                rendering = render_application(
                    sources,
                    trees,
                    namespace=str(destination.get("namespace") or ""),
                    workloads=self._workloads(app),
                )
            except RenderError as exc:
                raise Refusal(500, UNKNOWN, f"error generating manifests: {exc}") from exc
            documents = []
            for desired in rendering.objects:
                live = self.cluster.peek(*desired.key) if desired.partial else None
                documents.append(json.dumps(full_manifest(desired, live)))
            git = [r for s, r in zip(sources, resolved, strict=True) if not s.get("chart")]
            return {
                "manifests": documents,
                "namespace": str(destination.get("namespace") or ""),
                "server": str(destination.get("server") or ""),
                "revision": (git or resolved or [""])[0],
                "sourceType": next((t for t in rendering.source_types if t), ""),
            }

    # --- the steps -------------------------------------------------------------------------------

    def _get(self, name: str, app_namespace: str, project: str) -> _App:
        for app in self._apps:
            if app.name == name and (not app_namespace or app.namespace == app_namespace):
                if project and app.spec.get("project") != project:
                    raise Refusal(403, PERMISSION_DENIED, "permission denied")
                return app
        raise Refusal(404, NOT_FOUND, f'applications.argoproj.io "{name}" not found')

    def _step(self) -> None:
        self.cluster.step()
        for app in self._apps:
            if not app.app.get("operation"):
                continue
            if app.steps_left > 0:
                app.steps_left -= 1
                app.status["operationState"] = {
                    "operation": copy.deepcopy(app.app["operation"]),
                    "phase": "Running",
                    "message": "",
                    "startedAt": SIM_TIME,
                }
                continue
            self._run(app)

    def _view(self, app: _App) -> dict[str, Any]:
        if app.compared is None:
            self._refresh(app, auto=False)
        else:
            self._compare(app)
        return copy.deepcopy(app.app)

    def _resolve(self, app: _App) -> list[str] | None:
        revisions = []
        for index, source in enumerate(app.sources):
            target = str(source.get("targetRevision") or "")
            if source.get("chart"):
                revisions.append(target)
                continue
            sha = self.repo.resolve(target or "HEAD")
            if sha is None:
                app.error = (
                    f"Failed to load target state: failed to generate manifest for source {index + 1} of "
                    f"{len(app.sources)}: rpc error: code = Unknown desc = unable to resolve "
                    f"'{target or 'HEAD'}' to a commit SHA"
                )
                return None
            revisions.append(sha)
        return revisions

    def _seed_history(self, app: _App) -> None:
        """An Application the scenario declares Synced, without a sync history, was deployed before
        the sandbox started: its history holds that deploy — the revisions its sources resolve to
        in the repository as seeded, at SIM_TIME — as a running Argo CD's would, so that the first
        deploy the sandbox makes has a revision before it."""
        status = app.status
        if status.get("history") or (status.get("sync") or {}).get("status") != "Synced":
            return
        revisions = self._resolve(app)
        app.error = ""
        if not revisions:
            return
        entry: dict[str, Any] = {"id": 0, "deployStartedAt": SIM_TIME, "deployedAt": SIM_TIME}
        if app.multi_source:
            entry.update(revisions=revisions, sources=app.sources)
        else:
            entry.update(revision=revisions[0], source=app.sources[0] if app.sources else {})
        status["history"] = [entry]

    def _refresh(self, app: _App, *, auto: bool) -> None:
        revisions = self._resolve(app)
        if revisions is not None:
            app.compared = revisions
            app.error = ""
        elif app.compared is None:
            app.compared = []
        app.status["reconciledAt"] = SIM_TIME
        self._compare(app)
        if auto:
            self._auto_sync(app)

    def _render(self, app: _App, revisions: Sequence[str]) -> list[Desired]:
        trees: list[Tree | None] = []
        for index, source in enumerate(app.sources):
            if source.get("chart"):
                trees.append(None)
                continue
            revision = revisions[index] if index < len(revisions) else ""
            if not revision or not self.repo.has_commit(revision):
                raise RenderError(
                    f"failed to generate manifest for source {index + 1} of {len(app.sources)}: rpc error: "
                    f"code = Unknown desc = unable to resolve git revision '{revision}': reference not found"
                )
            trees.append(self.repo.tree(revision))
        namespace = str(self._destination(app).get("namespace") or "")
        rendering = render_application(
            app.sources, trees, namespace=namespace, workloads=self._workloads(app)
        )
        if app.multi_source:
            app.status["sourceTypes"] = list(rendering.source_types)
        else:
            app.status["sourceType"] = (rendering.source_types or [""])[0]
        return rendering.objects

    @staticmethod
    def _destination(app: _App) -> dict[str, Any]:
        return dict(app.spec.get("destination") or {})

    def _workloads(self, app: _App) -> list[dict[str, Any]]:
        """The live workloads an Application manages (for chart-less Helm): those its scenario status
        lists, else those whose tracking-id annotation or (2.x) instance label names it."""
        found: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        for resource in app.seed_resources:
            if resource.get("kind") not in _WORKLOAD_KINDS:
                continue
            api_version = _api_version(str(resource.get("group") or ""), str(resource.get("version") or "v1"))
            live = self.cluster.peek(
                api_version,
                str(resource["kind"]),
                str(resource.get("namespace") or ""),
                str(resource["name"]),
            )
            if live is not None:
                found[(api_version, live["kind"], resource.get("namespace") or "", resource["name"])] = live
        if not found:
            for kind in _WORKLOAD_KINDS:
                for obj in self.cluster.objects(kind):
                    meta = obj.get("metadata") or {}
                    tracking = str((meta.get("annotations") or {}).get(_TRACKING) or "")
                    owner = tracking.split(":", 1)[0].rpartition("_")[2] if tracking else ""
                    labelled = (meta.get("labels") or {}).get(_INSTANCE) == app.name
                    if owner == app.name or (labelled and not tracking and not self.annotation_only):
                        found[(obj["apiVersion"], kind, meta.get("namespace", ""), meta["name"])] = obj
        return [found[k] for k in sorted(found)]

    def _compare(self, app: _App) -> None:
        """status.sync, status.resources, status.health and status.summary from the last rendered
        revisions and the live cluster."""
        status = app.status
        revisions = app.compared or []
        desired: list[Desired] = []
        error = app.error
        if not error:
            try:
                desired = self._render(app, revisions)
            except RenderError as exc:
                error = f"Failed to load target state: {exc}"
        app.desired = desired
        resources: list[dict[str, Any]] = []
        images: set[str] = set()
        seen: set[tuple[str, str, str, str]] = set()
        for d in desired:
            group, kind, namespace, name = d.group, d.key[1], d.key[2], d.key[3]
            seen.add((group, kind, namespace, name))
            live = self.cluster.peek(*d.key)
            if live is None:  # not simulated: as the scenario says
                resources.append(self._seed_entry(app, group, kind, namespace, name, d.version))
                continue
            entry: dict[str, Any] = {
                "group": group,
                "version": d.version,
                "kind": kind,
                "namespace": namespace,
                "name": name,
                "status": "Synced" if in_sync(d, live) else "OutOfSync",
            }
            if kind in _WORKLOAD_KINDS:
                health = workload_health(live, rolling=self.cluster.rollout_pending(namespace, name))
                entry["health"] = {k: v for k, v in health.items() if v}
                template = ((live.get("spec") or {}).get("template") or {}).get("spec") or {}
                images.update(str(c["image"]) for c in template.get("containers") or [] if c.get("image"))
            if not group:
                del entry["group"]
            resources.append(entry)
        if error or self._has_chart(app):
            # A chart renders more than the sandbox knows of; a failed rendering knows nothing.
            resources += [copy.deepcopy(r) for r in app.seed_resources if _resource_key(r) not in seen]
        out_of_sync = any(r.get("status") == "OutOfSync" for r in resources)
        sync: dict[str, Any] = {"status": "Unknown" if error else ("OutOfSync" if out_of_sync else "Synced")}
        if app.multi_source:
            sync["comparedTo"] = {"sources": app.sources, "destination": self._destination(app)}
            sync["revisions"] = list(revisions)
        else:
            sync["comparedTo"] = {
                "source": app.sources[0] if app.sources else {},
                "destination": self._destination(app),
            }
            sync["revision"] = revisions[0] if revisions else ""
        status["sync"] = sync
        status["resources"] = resources
        health = _worst([dict(r["health"]) for r in resources if r.get("health")])
        status["health"] = {k: v for k, v in health.items() if v}
        if images:
            status["summary"] = {**(status.get("summary") or {}), "images": sorted(images)}
        conditions = [c for c in status.get("conditions") or [] if c.get("type") != "ComparisonError"]
        if error:
            conditions.append({"type": "ComparisonError", "message": error, "lastTransitionTime": SIM_TIME})
        if conditions:
            status["conditions"] = conditions
        else:
            status.pop("conditions", None)

    @staticmethod
    def _has_chart(app: _App) -> bool:
        return any(s.get("chart") for s in app.sources)

    @staticmethod
    def _seed_entry(
        app: _App, group: str, kind: str, namespace: str, name: str, version: str
    ) -> dict[str, Any]:
        """The scenario's status entry of an object the sandbox does not simulate (else Synced)."""
        for seeded in app.seed_resources:
            if _resource_key(seeded) == (group, kind, namespace, name):
                return copy.deepcopy(seeded)
        entry = {"group": group, "version": version, "kind": kind, "namespace": namespace, "name": name}
        return {**{k: v for k, v in entry.items() if v or k in ("namespace", "name")}, "status": "Synced"}

    # --- operations ------------------------------------------------------------------------------

    def _requested_revisions(self, app: _App, request: dict[str, Any], dry_run: bool) -> list[str]:
        """The revision per source a sync request asks for, resolved as the API server does."""
        automated = app.automated is not None and not dry_run
        sources = app.sources
        if not sources:
            raise Refusal(400, FAILED_PRECONDITION, "application has no source")
        if app.multi_source:
            wanted = [""] * len(sources)
            positions = request.get("sourcePositions") or []
            revisions = request.get("revisions") or []
            for i, position in enumerate(positions):
                try:
                    index = int(position)
                except (TypeError, ValueError):
                    raise Refusal(400, INVALID_ARGUMENT, f"invalid source position {position!r}") from None
                if index <= 0 or index > len(sources):
                    raise Refusal(400, INVALID_ARGUMENT, "source position is out of range")
                wanted[index - 1] = str(revisions[i]) if i < len(revisions) else ""
            for index, revision in enumerate(wanted):
                target = str(sources[index].get("targetRevision") or "")
                if revision and revision != (target or "HEAD") and automated:
                    raise Refusal(
                        400,
                        FAILED_PRECONDITION,
                        f"Cannot sync source {sources[index].get('repoURL', '')} to {revision}: "
                        f"auto-sync currently set to {target}",
                    )
            return [
                self._resolve_for_sync(s, w or str(s.get("targetRevision") or ""))
                for s, w in zip(sources, wanted, strict=True)
            ]
        revision = str(request.get("revision") or "")
        target = str(sources[0].get("targetRevision") or "")
        if revision and revision != (target or "HEAD") and automated:
            raise Refusal(
                400, FAILED_PRECONDITION, f"Cannot sync to {revision}: auto-sync currently set to {target}"
            )
        return [self._resolve_for_sync(sources[0], revision or target)]

    def _resolve_for_sync(self, source: dict[str, Any], revision: str) -> str:
        if source.get("chart"):
            return revision
        if _SHA.match(revision):
            return revision.lower()  # a commit is taken as is; the controller finds out whether it exists
        sha = self.repo.resolve(revision or "HEAD")
        if sha is None:
            raise Refusal(
                400,
                FAILED_PRECONDITION,
                f"rpc error: code = Unknown desc = Unable to resolve '{revision}' to a commit SHA",
            )
        return sha

    def _start(
        self,
        app: _App,
        revisions: list[str],
        *,
        initiated_by: dict[str, Any],
        prune: bool,
        dry_run: bool,
        strategy: dict[str, Any],
        options: list[str],
        resources: list[dict[str, Any]],
    ) -> None:
        sync: dict[str, Any] = {"prune": prune, "dryRun": dry_run, "syncStrategy": strategy or {"hook": {}}}
        if app.multi_source:
            sync["revisions"] = revisions
        else:
            sync["revision"] = revisions[0]
        if options:
            sync["syncOptions"] = options
        if resources:
            sync["resources"] = resources
        app.app["operation"] = {"sync": sync, "initiatedBy": initiated_by, "retry": {}}
        app.status.pop("operationState", None)
        app.steps_left = self.sync_reads

    def _auto_sync(self, app: _App) -> None:
        policy = app.automated
        if policy is None or app.app.get("operation") or app.error:
            return
        if (app.status.get("sync") or {}).get("status") != "OutOfSync":
            return
        revisions = list(app.compared or [])
        last = app.status.get("operationState") or {}
        result = last.get("syncResult") or {}
        last_revisions = result.get("revisions") or ([result["revision"]] if result.get("revision") else [])
        last_dry_run = bool(((last.get("operation") or {}).get("sync") or {}).get("dryRun"))
        if last_revisions == revisions and not last_dry_run:
            if last.get("phase") != "Succeeded":
                return  # Argo CD: "Skipping auto-sync: failed previous sync attempt to …"
            if not policy.get("selfHeal"):
                return  # "most recent sync already to …"
        options = list((app.spec.get("syncPolicy") or {}).get("syncOptions") or [])
        self._start(
            app,
            revisions,
            initiated_by={"automated": True},
            prune=bool(policy.get("prune")),
            dry_run=False,
            strategy={},
            options=[str(o) for o in options],
            resources=[],
        )

    def _run(self, app: _App) -> None:
        operation = app.app.pop("operation")
        sync = operation.get("sync") or {}
        revisions = list(sync.get("revisions") or [sync.get("revision") or ""])
        dry_run = bool(sync.get("dryRun"))
        results: list[dict[str, Any]] = []
        phase, message = "Succeeded", "successfully synced (all tasks run)"
        try:
            desired = self._render(app, revisions)
        except RenderError as exc:
            phase, message, desired = "Error", f"ComparisonError: Failed to load target state: {exc}", []
        # a partial sync: the named objects only (a namespace left out matches any)
        wanted = {_resource_key(r) for r in sync.get("resources") or [] if isinstance(r, dict)}
        failures = []
        # workloads this sync wrote to, with their pod templates before and after
        changed: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = []
        for d in desired:
            group, kind, namespace, name = d.group, d.key[1], d.key[2], d.key[3]
            if wanted and not {(group, kind, namespace, name), (group, kind, "", name)} & wanted:
                continue
            live = self.cluster.peek(*d.key)
            if live is None:
                continue  # not simulated: the sandbox cannot create objects
            result = {
                "group": group,
                "version": d.version,
                "kind": kind,
                "namespace": namespace,
                "name": name,
                "status": "Synced",
                "hookPhase": "Running",
                "syncPhase": "Sync",
            }
            label = _kubectl_name(kind, group, name)
            if in_sync(d, live):
                result["message"] = f"{label} unchanged" + (" (dry run)" if dry_run else "")
            else:
                try:
                    patched = self.cluster.patch(
                        d.key[0],
                        kind,
                        namespace,
                        name,
                        sync_patch(d),
                        patch_type="strategic",
                        dry_run=dry_run,
                        field_manager=FIELD_MANAGER,
                    )
                    result["message"] = f"{label} configured" + (" (dry run)" if dry_run else "")
                    if not dry_run and kind in _WORKLOAD_KINDS:
                        changed.append((namespace, name, _template(live), _template(patched)))
                except ApiError as err:
                    result.update(status="SyncFailed", hookPhase="Failed", message=err.message)
                    failures.append(err.message)
            results.append({k: v for k, v in result.items() if v != "" or k in ("namespace", "name")})
        if failures:
            phase, message = "Failed", f"one or more objects failed to apply, reason: {failures[0]}"
        sync_result: dict[str, Any] = {"resources": results}
        if app.multi_source:
            sync_result.update(revisions=revisions, sources=app.sources)
        else:
            sync_result.update(revision=revisions[0], source=app.sources[0] if app.sources else {})
        app.status["operationState"] = {
            "operation": operation,
            "phase": phase,
            "message": message,
            "startedAt": SIM_TIME,
            "finishedAt": SIM_TIME,
            "syncResult": sync_result,
        }
        synced_at = self.deploy_clock.now() if self.deploy_clock is not None else time.time()
        if self.deploy_clock is not None:
            for namespace, name, before, after in changed:
                self.deploy_clock.mark(namespace, name, synced_at, before=before, after=after)
        previous: list[str] = []
        if phase == "Succeeded" and not dry_run:
            history = list(app.status.get("history") or [])
            if history:
                last_entry = history[-1]
                previous = list(last_entry.get("revisions") or [last_entry.get("revision") or ""])
            entry: dict[str, Any] = {
                "id": (max((int(h.get("id") or 0) for h in history), default=-1) + 1),
                # On the deploy clock (wall-clock time): the deploy poll reads which deploys are recent.
                "deployStartedAt": _rfc3339(synced_at),
                "deployedAt": _rfc3339(synced_at),
                "initiatedBy": operation.get("initiatedBy") or {},
            }
            if app.multi_source:
                entry.update(revisions=revisions, sources=app.sources)
            else:
                entry.update(revision=revisions[0], source=app.sources[0] if app.sources else {})
            app.status["history"] = (history + [entry])[-10:]  # Argo CD keeps revisionHistoryLimit (10)
        self._refresh(app, auto=False)
        if phase == "Succeeded" and not dry_run and revisions != previous and self.notifier is not None:
            self.notifier.send(self._notification(app, revisions, previous, synced_at))

    @staticmethod
    def _notification(
        app: _App, revisions: list[str], previous: list[str], synced_at: float
    ) -> dict[str, Any]:
        """The body of an Argo CD Notifications webhook on a sync to a new revision (the template
        the README's `argocd-notifications-cm` declares). A multi-source Application's revision is
        its first source's."""
        return {
            "application": app.name,
            "namespace": app.namespace,
            "project": str(app.spec.get("project") or "default"),
            "revision": revisions[0] if revisions else "",
            "previousRevision": previous[0] if previous else "",
            "syncedAt": _rfc3339(synced_at),
            "phase": "Succeeded",
            "health": str((app.status.get("health") or {}).get("status") or "Unknown"),
        }


def full_manifest(desired: Desired, live: dict[str, Any] | None) -> dict[str, Any]:
    """The object as Argo CD's manifests API would give it: the rendered object, or for a partial
    one (chart-less Helm) the live object with the rendered fields applied, less what the API
    server writes (status, server metadata, kubectl's last-applied copy). Renderings of two
    revisions then differ only where their values do."""
    if not desired.partial or live is None:
        return target_state(desired)
    whole = predicted_live(desired, live)
    whole.pop("status", None)
    meta = whole.setdefault("metadata", {})
    for key in SERVER_METADATA:
        meta.pop(key, None)
    annotations = meta.get("annotations") or {}
    annotations.pop(LAST_APPLIED, None)
    annotations.pop("deployment.kubernetes.io/revision", None)  # the Deployment controller's count
    if not annotations:
        meta.pop("annotations", None)
    return whole


def _resource_key(resource: dict[str, Any]) -> tuple[str, str, str, str]:
    return (
        str(resource.get("group") or ""),
        str(resource.get("kind") or ""),
        str(resource.get("namespace") or ""),
        str(resource.get("name") or ""),
    )


def _matches_query(item: dict[str, Any], query: dict[str, str]) -> bool:
    return all(
        not query.get(field_name) or str(item.get(key) or "") == query[field_name]
        for field_name, key in (
            ("namespace", "namespace"),
            ("name", "name"),
            ("group", "group"),
            ("kind", "kind"),
        )
    )


def resource_tree(cluster: SandboxCluster | None, resources: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """An `ApplicationTree` over the Application's resources: each as a node, with the
    ReplicaSets and Pods the cluster holds under its workloads (`parentRefs` link them)."""
    nodes: list[dict[str, Any]] = []
    for resource in resources:
        group, version = str(resource.get("group") or ""), str(resource.get("version") or "v1")
        kind, namespace, name = (
            str(resource.get("kind")),
            str(resource.get("namespace") or ""),
            str(resource.get("name")),
        )
        live = cluster.peek(_api_version(group, version), kind, namespace, name) if cluster else None
        node = _node(group, version, kind, namespace, name, live)
        if resource.get("health"):
            node["health"] = dict(resource["health"])
        nodes.append(node)
        if live is None or cluster is None or kind != "Deployment":
            continue
        for rs in cluster.objects("ReplicaSet", namespace):
            if not _owned_by(rs, "Deployment", name):
                continue
            rs_node = _node("apps", "v1", "ReplicaSet", namespace, rs["metadata"]["name"], rs, parent=live)
            nodes.append(rs_node)
            for pod in cluster.objects("Pod", namespace):
                if _owned_by(pod, "ReplicaSet", rs["metadata"]["name"]):
                    nodes.append(_node("", "v1", "Pod", namespace, pod["metadata"]["name"], pod, parent=rs))
    return {"nodes": nodes, "orphanedNodes": [], "hosts": []}


def _owned_by(obj: dict[str, Any], kind: str, name: str) -> bool:
    return any(
        ref.get("kind") == kind and ref.get("name") == name
        for ref in (obj.get("metadata") or {}).get("ownerReferences") or []
    )


def _node(
    group: str,
    version: str,
    kind: str,
    namespace: str,
    name: str,
    live: dict[str, Any] | None,
    *,
    parent: dict[str, Any] | None = None,
) -> dict[str, Any]:
    node: dict[str, Any] = {
        "group": group,
        "version": version,
        "kind": kind,
        "namespace": namespace,
        "name": name,
    }
    if live is not None:
        meta = live.get("metadata") or {}
        node.update(uid=meta.get("uid", ""), resourceVersion=meta.get("resourceVersion", ""))
        if meta.get("creationTimestamp"):
            node["createdAt"] = meta["creationTimestamp"]
    if parent is not None:
        parent_meta = parent.get("metadata") or {}
        parent_group = str(parent.get("apiVersion") or "").rpartition("/")[0]
        node["parentRefs"] = [
            {
                "group": parent_group,
                "kind": parent.get("kind"),
                "namespace": namespace,
                "name": parent_meta.get("name"),
                "uid": parent_meta.get("uid", ""),
            }
        ]
    if live is not None and kind == "Pod":
        statuses = (live.get("status") or {}).get("containerStatuses") or []
        ready = sum(1 for s in statuses if s.get("ready"))
        reason = next(
            (
                str(((s.get("state") or {}).get("waiting") or {}).get("reason"))
                for s in statuses
                if ((s.get("state") or {}).get("waiting") or {}).get("reason")
            ),
            str((live.get("status") or {}).get("phase") or ""),
        )
        node["info"] = [
            {"name": "Status Reason", "value": reason},
            {"name": "Containers", "value": f"{ready}/{len(statuses)}"},
            {"name": "Restart Count", "value": str(sum(int(s.get("restartCount") or 0) for s in statuses))},
        ]
        node["images"] = [str(c.get("image")) for c in (live.get("spec") or {}).get("containers") or []]
        node["health"] = {k: v for k, v in pod_health(live).items() if v}
    elif live is not None and kind == "ReplicaSet":
        spec, status = live.get("spec") or {}, live.get("status") or {}
        wanted, available = int(spec.get("replicas") or 0), int(status.get("availableReplicas") or 0)
        revision = ((live.get("metadata") or {}).get("annotations") or {}).get(REVISION, "")
        node["info"] = [{"name": "Revision", "value": f"Rev:{revision}"}]
        node["health"] = {"status": "Healthy"} if available >= wanted else {"status": "Progressing"}
    return node
