"""The offline, rule-based analyzer: deterministic, no network, always available.

An analyzer takes an `Observation` and returns a `Diagnosis` whose plan holds typed actions only.
The rules read the typed parts of the observation — pod and container states, revisions, metric
series, the Argo CD application and the GitOps files — and they are tried per workload in a fixed
order, most specific first:

    unschedulable → image_pull → config_error → oom → bad_release / probe_failure → saturation
    → none (the targets are healthy) → unknown

with the rules of `domain.analysis.rules.crash` at their places: bare Pods before all (no workload),
a crash's cause in its termination or logs before the release rule, a rollout that only tightened
a probe after it, CPU throttling under a limit before saturation.

Trust: event messages, logs and annotations are untrusted text. They may help pick a category
(an event's `FailedScheduling` reason, a registry's "manifest unknown"), and they are cited as
evidence, but no action parameter ever comes from them. Every image, limit, replica count and
revision in a plan is read from the workload's own spec, its revisions or the metric series.

Releases: the newest revision's template diff (`Revision.changes`, from observe) says whether only an
image changed (→ `set_image` back) or more (→ `rollback_revision`), and whether a probe changed;
without it, the typed containers are compared, and a new ReplicaSet whose containers look the same
means something else in the pod template changed.

Mode: a workload that Argo CD manages (its tracking annotation, an application listing it, or an
application named by its `app.kubernetes.io/instance` label) is changed through Git; the plan then
names the GitOps file to change, or none — with the reason in the explanation — when no single file
can be chosen with confidence, which leaves the plan for a human to finish.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, Literal, Protocol

import yaml

from domain.analysis.plan import (
    Action,
    Diagnosis,
    Evidence,
    Mode,
    Plan,
    RollbackRevision,
    RootCause,
    Scale,
    SetImage,
    SetResources,
)
from domain.analysis.rules import jobs, scheduling
from domain.analysis.rules.argocd import argocd_diagnosis
from domain.analysis.rules.meta import meta_alert_diagnosis
from domain.gitops.locate import Located, locate_field
from domain.incident.memory import SimilarIncident
from domain.incident.model import Incident, ResourceRef
from domain.kube.observation import (
    ARGOCD_INSTANCE_LABEL,
    ARGOCD_TRACKING,
    ArgoApplication,
    EventItem,
    GitOpsFile,
    MetricSeries,
    Observation,
    PodState,
    Revision,
    Workload,
)
from domain.kube.quantity import QuantityError, format_memory, parse_quantity

# --- OOM: an OOM-killed container's memory limit is doubled (or set to 1.25x the peak usage the
# metrics show, whichever is more), by at least 64Mi, and never beyond 4x — the policy's bound.
OOM_GROWTH = Decimal(2)
OOM_PEAK_HEADROOM = Decimal("1.25")
OOM_MAX_GROWTH = Decimal(4)
OOM_MIN_STEP = Decimal(64 * 2**20)

# --- saturation: size the scale-out so the estimated demand runs at 70% of the CPU limit, by at
# least one replica, at most 3x the current count and 50 replicas (the policy's bounds, mirrored
# here because the domain does not read the policy's data).
SATURATION_CPU_RATIO = 0.9  # CPU usage / limit at or above this is "at the limit"
SATURATION_THROTTLING = 0.25  # share of CFS periods throttled (the CPUThrottlingHigh threshold)
TARGET_UTILISATION = 0.7
MAX_SCALE_FACTOR = 3
MAX_REPLICAS = 50
# Alerts whose name says "not enough capacity": they may name the category, never a replica count.
_SATURATION_ALERT_WORDS = ("throttling", "latency", "saturat", "hpamaxedout", "cpuhigh")

MAX_POD_EVIDENCE = 5  # healthy pods cited; every failing one is

_PULL_REASONS = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
_CONFIG_REASONS = {"CreateContainerConfigError", "CreateContainerError"}
_CRASH_REASONS = {"CrashLoopBackOff", "Error", "RunContainerError"}
# Registry answers that mean "this image does not exist" (a typo, a tag never pushed) ...
_NOT_FOUND_WORDS = ("manifest unknown", "not found", "name unknown", "invalidimagename", "invalid reference")
# ... and ones that mean "you may not pull it": credentials or permissions, which no image fixes.
_AUTH_WORDS = (
    "unauthorized",
    "authentication required",
    "no basic auth credentials",
    "403 forbidden",
    "denied: requested access",
    "pull access denied",
    "requested access to the resource is denied",
)


class Analyzer(Protocol):
    name: str

    def analyze(
        self, incident: Incident, observation: Observation, similar: Sequence[SimilarIncident] = ()
    ) -> Diagnosis: ...


def _repeats_a_rolled_back_fix(
    diagnosis: Diagnosis, similar: Sequence[SimilarIncident]
) -> SimilarIncident | None:
    """A past incident on the same workload whose fix of the same kinds was rolled back."""
    kinds = sorted(a.kind for a in diagnosis.plan.actions)
    targets = {a.target.without_container().key for a in diagnosis.plan.actions}
    for past in similar:
        if not past.rolled_back_before or past.workload not in targets:
            continue
        if sorted(str(a.get("kind")) for a in past.actions) == kinds:
            return past
    return None


# --- reading the observation -------------------------------------------------------------------


def _revisions_of(observation: Observation, workload: Workload) -> list[Revision]:
    """The workload's revisions, newest first (a ReplicaSet is named `<deployment>-<hash>`)."""
    prefix = f"{workload.ref.name}-"
    own = [r for r in observation.revisions if r.name.startswith(prefix)]
    return sorted(own, key=lambda r: r.revision, reverse=True)


def _pods_of(observation: Observation, workload: Workload) -> list[PodState]:
    revisions = {r.name for r in _revisions_of(observation, workload)}
    prefix = f"{workload.ref.name}-"
    return [
        p
        for p in observation.pods
        if p.namespace == workload.ref.namespace and (p.owner in revisions or p.name.startswith(prefix))
    ]


def _events_of(observation: Observation, pods: Iterable[PodState]) -> list[EventItem]:
    names = {(p.namespace, p.name) for p in pods}
    return [e for e in observation.events if e.object_kind == "Pod" and (e.namespace, e.object_name) in names]


def _pod_healthy(pod: PodState) -> bool:
    return pod.ready and all(c.state != "waiting" for c in pod.containers)


def _pod_failing(pod: PodState) -> bool:
    return not pod.ready or any(
        c.state == "waiting" or c.state_reason in _CRASH_REASONS for c in pod.containers
    )


def _logs_of(observation: Observation, pods: Iterable[PodState]) -> list[str]:
    names = {p.name for p in pods}
    return [log.id for log in observation.logs if log.pod in names]


def _target(workload: Workload, container: str | None = None) -> ResourceRef:
    return ResourceRef(
        namespace=workload.ref.namespace, kind=workload.ref.kind, name=workload.ref.name, container=container
    )


def _alert_names(incident: Incident) -> list[str]:
    return [a.labels.get("alertname", "") for a in incident.alerts]


def _series(observation: Observation, name: str, workload: Workload) -> MetricSeries | None:
    """The workload's series of one metric: its own id first, else the only one of that name."""
    candidates = [m for m in observation.metrics if m.name == name and m.samples]
    own = [m for m in candidates if m.id.endswith(f"/{workload.ref.namespace}/{workload.ref.name}")]
    if own:
        return own[0]
    return candidates[0] if len(candidates) == 1 else None


def _values(series: MetricSeries | None) -> list[float]:
    if series is None:
        return []
    return [v for _, v in sorted(series.samples) if not math.isnan(v)]


def _quantity(text: str | None) -> Decimal | None:
    """A Kubernetes quantity (memory or CPU) as a number, or None when absent or malformed."""
    if text is None:
        return None
    try:
        return parse_quantity(text)
    except QuantityError:
        return None


# --- mode and the GitOps file ------------------------------------------------------------------


def _application(observation: Observation, workload: Workload) -> ArgoApplication | None:
    """The Argo CD application that manages the workload, when one was observed: the one observe
    decided owns it (`Observation.ownership`: none when uncertain), else — for an observation made
    before ownership was recorded — by its resources and tracking metadata."""
    ref = workload.ref
    decided = observation.ownership_of(ref.kind, ref.namespace, ref.name)
    if decided is not None:
        if decided.state != "managed":
            return None
        return next(
            (
                app
                for app in observation.argocd
                if app.name == decided.application and app.namespace == (decided.app_namespace or "argocd")
            ),
            None,
        )
    for app in observation.argocd:
        if app.manages(ref.kind, ref.namespace, ref.name):
            return app
    tracking = workload.annotations.get(ARGOCD_TRACKING, "")
    instance = workload.labels.get(ARGOCD_INSTANCE_LABEL, "")
    for app in observation.argocd:
        if (tracking and tracking.split(":", 1)[0] == app.name) or (instance and instance == app.name):
            return app
    return None


def _mode(observation: Observation, workload: Workload) -> Mode:
    """`gitops` for a workload Argo CD manages. A workload whose ownership is uncertain gets a
    `direct` plan: the policy refuses it (`ownership_uncertain`) and says why, so the incident
    waits for a human."""
    ref = workload.ref
    decided = observation.ownership_of(ref.kind, ref.namespace, ref.name)
    if decided is not None:
        return "gitops" if decided.state == "managed" else "direct"
    if ARGOCD_TRACKING in workload.annotations or _application(observation, workload) is not None:
        return "gitops"
    return "direct"


Change = Literal["resources", "image", "replicas", "template"]


def _documents(file: GitOpsFile) -> list[dict[str, Any]]:
    try:
        return [d for d in yaml.safe_load_all(file.content) if isinstance(d, dict)]
    except yaml.YAMLError:
        return []


def _role(file: GitOpsFile) -> str:
    if file.role:
        return file.role
    # A file without a role still says what it is.
    docs = _documents(file)
    if any(d.get("kind") == "Kustomization" for d in docs) or file.path.endswith("kustomization.yaml"):
        return "kustomization"
    if any(d.get("kind") == "Application" for d in docs):
        return "application"
    if any("apiVersion" in d and "kind" in d for d in docs):
        return "manifest"
    return "helm_values"


def _image_name(image: str) -> str:
    """`registry.example/web/storefront:4.2.O` → `registry.example/web/storefront`."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return name[: len(name) - len(last)] + last.split(":", 1)[0]


def _defines(doc: dict[str, Any], workload: Workload) -> bool:
    meta = doc.get("metadata") or {}
    return doc.get("kind") == workload.ref.kind and meta.get("name") == workload.ref.name


def _container_entry(doc: dict[str, Any], container: str | None) -> dict[str, Any] | None:
    spec = (((doc.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    return next((c for c in spec if isinstance(c, dict) and c.get("name") == container), None)


def _in_app_path(file: GitOpsFile, app: ArgoApplication | None) -> bool:
    if app is None:
        return False
    paths = {str(s.get("path", "")).strip("/") for s in app.sources if s.get("path")}
    directory = file.path.rsplit("/", 1)[0] if "/" in file.path else ""
    return directory in paths


def _one(files: list[GitOpsFile], app: ArgoApplication | None) -> GitOpsFile | None:
    """The single candidate, or the single one in the application's own source path."""
    if len(files) == 1:
        return files[0]
    own = [f for f in files if _in_app_path(f, app)]
    return own[0] if len(own) == 1 else None


_ACTION_KIND = {"resources": "set_resources", "replicas": "scale", "image": "set_image"}


def _choose_file(
    observation: Observation, workload: Workload, change: Change, container: str | None = None
) -> tuple[str | None, str]:
    """The GitOps file a change of this kind must edit, and how it was chosen (or why not): the
    place whose value wins, as the GitOps edit finds it in the observed files (an overlay's patch,
    the Application's own Helm settings, an ApplicationSet's generator), when the file the roles
    point at is another one or none."""
    file, why = _choose_file_by_role(observation, workload, change, container)
    app = _application(observation, workload)
    files = {f.path: f.content for f in observation.gitops_files if not f.truncated}
    if app is None or not files or change not in _ACTION_KIND:
        return file, why
    ref = workload.ref
    target = ResourceRef(namespace=ref.namespace, kind=ref.kind, name=ref.name, container=container)
    loc = locate_field(
        app.sources,
        target,
        _ACTION_KIND[change],
        files.get,
        sorted(files),
        destination_namespace=app.destination_namespace,
        application=app.name,
        application_set=app.application_set,
    )
    if not isinstance(loc, Located) or loc.file == file:
        return file, why
    return loc.file, f"{loc.file} sets the value that wins"


def _choose_file_by_role(
    observation: Observation, workload: Workload, change: Change, container: str | None = None
) -> tuple[str | None, str]:
    app = _application(observation, workload)
    files = [f for f in observation.gitops_files if _role(f) != "application"]
    if not files:
        return None, "no GitOps file defining the target was observed"
    roles: dict[str, list[GitOpsFile]] = {}
    for f in files:
        roles.setdefault(_role(f), []).append(f)

    if roles.get("helm_values"):
        chosen = _one(roles["helm_values"], app)
        if chosen is not None:
            return chosen.path, f"the Helm values file {chosen.path} sets the chart's values"
        return None, "several Helm values files could hold the value; a human must pick one"

    if roles.get("kustomization"):
        return _choose_kustomize_file(roles, workload, change, container, app)

    manifests = [f for f in roles.get("manifest", []) if any(_defines(d, workload) for d in _documents(f))]
    chosen = _one(manifests, app)
    if chosen is not None:
        return (
            chosen.path,
            f"{chosen.path} is the manifest that defines {workload.ref.kind} {workload.ref.name}",
        )
    if manifests:
        return None, "several manifests define the target; a human must pick one"
    return None, "no observed GitOps file defines the target"


def _choose_kustomize_file(
    roles: dict[str, list[GitOpsFile]],
    workload: Workload,
    change: Change,
    container: str | None,
    app: ArgoApplication | None,
) -> tuple[str | None, str]:
    kustomizations = roles.get("kustomization", [])
    overlays = [f for f in kustomizations if _in_app_path(f, app)]
    own = overlays[0] if len(overlays) == 1 else (kustomizations[0] if len(kustomizations) == 1 else None)
    patches_and_manifests = roles.get("kustomize_patch", []) + roles.get("manifest", [])

    if change == "image":
        spec = next((c for c in workload.containers if c.name == container), None)
        name = _image_name(spec.image) if spec else ""
        pinning = [
            f
            for f in kustomizations
            for d in _documents(f)
            if any(isinstance(i, dict) and i.get("name") == name for i in d.get("images") or [])
        ]
        chosen = _one(pinning, app)
        if chosen is not None:
            return chosen.path, f"{chosen.path} pins the image in its images: list"
        if own is not None and not pinning:
            return own.path, f"{own.path} is the application's kustomization; the image is pinned there"
        return None, "the image is pinned in several kustomizations; a human must pick one"

    if change == "replicas":
        counting = [
            f
            for f in kustomizations
            for d in _documents(f)
            if any(
                isinstance(r, dict) and r.get("name") == workload.ref.name for r in d.get("replicas") or []
            )
        ]
        if len(counting) == 1:
            return counting[0].path, f"{counting[0].path} sets the replica count in its replicas: list"
        setting = [
            f
            for f in patches_and_manifests
            for d in _documents(f)
            if (d.get("metadata") or {}).get("name") == workload.ref.name
            and "replicas" in (d.get("spec") or {})
        ]
        chosen = _one(setting, app)
        if chosen is not None:
            return chosen.path, f"{chosen.path} sets spec.replicas of the target"
        return None, "no single kustomize file sets the replica count; a human must pick one"

    if change == "resources":
        setting = [
            f
            for f in patches_and_manifests
            for d in _documents(f)
            if (d.get("metadata") or {}).get("name") == workload.ref.name
            and "resources" in (_container_entry(d, container) or {})
        ]
        chosen = _one(setting, app)
        if chosen is not None:
            return chosen.path, f"{chosen.path} sets the container's resources"
        return None, "no single kustomize file sets the container's resources; a human must pick one"

    return None, "a revision rollback spans the kustomize files; a human must revert the change in Git"


def _mode_and_file(
    observation: Observation, workload: Workload, change: Change, container: str | None = None
) -> tuple[Mode, str | None, str]:
    mode = _mode(observation, workload)
    if mode == "direct":
        return mode, None, "The workload is not managed by Argo CD, so it is changed directly"
    file, why = _choose_file(observation, workload, change, container)
    if file is None:
        return mode, None, f"Argo CD manages the workload, but {why}; the plan names no file and needs review"
    return mode, file, f"Argo CD manages the workload: the change goes through Git ({why})"


def change_mode_and_file(
    observation: Observation, workload: Workload, change: Change, container: str | None = None
) -> tuple[Mode, str | None, str]:
    """How a change of this kind to the workload is made (directly, or through Git), the GitOps file
    it edits (None when none fits), and one sentence saying why. For plans made outside the rules
    (a change request's, `domain.intent.plan`), chosen by the same rules as theirs."""
    return _mode_and_file(observation, workload, change, container)


def _gitops_evidence(observation: Observation, workload: Workload, file: str | None) -> list[Evidence]:
    evidence = []
    app = _application(observation, workload)
    if app is not None:
        evidence.append(Evidence(item_id=app.id, note=f"Argo CD application {app.name} manages the target"))
    for f in observation.gitops_files:
        if f.path == file:
            evidence.append(Evidence(item_id=f.id, note="the GitOps file to change"))
    return evidence


# --- next steps for the human -------------------------------------------------------------------
# Display text, never parsed. Commands are read-only (get, describe, logs, diff) and written in
# backticks; names come from the typed observation. Untrusted messages are only quoted, clipped.

QUOTE_LIMIT = 200


def _quote(text: str, limit: int = QUOTE_LIMIT) -> str:
    """An untrusted message on one line, clipped, for quoting in an explanation or a next step."""
    line = " ".join(text.split()).replace("`", "'").rstrip(".")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _object(workload: Workload) -> str:
    """`deployment/ledger`, as kubectl names it."""
    return f"{workload.ref.kind.lower()}/{workload.ref.name}"


def _kubectl(workload: Workload, verb: str, what: str) -> str:
    return f"`kubectl -n {workload.ref.namespace} {verb} {what}`"


def _first_message(
    events: Sequence[EventItem], pods: Sequence[PodState] = (), words: Sequence[str] = ()
) -> str:
    """The message to quote: the first Warning event's or waiting container's message that holds
    one of `words` (when given), else the first of either (quoted, clipped)."""
    messages = [e.message for e in events if e.type == "Warning" and e.message.strip()]
    messages += [c.state_message for p in pods for c in p.containers if c.state_message.strip()]
    for message in messages:
        line = " ".join(message.split())
        at = min((i for w in words if (i := line.lower().find(w)) >= 0), default=-1)
        if at >= 0:
            # keep the words that matter when a long message is clipped
            start = max(0, min(at - QUOTE_LIMIT + 60, len(line) - QUOTE_LIMIT + 1))
            return ("…" if start else "") + _quote(line[start:])
    return _quote(messages[0]) if messages else ""


def _sources(app: ArgoApplication) -> str:
    parts = []
    for source in app.sources[:2]:
        where = source.get("path") or source.get("chart") or ""
        repo = source.get("repoURL") or ""
        parts.append(f"{where} in {repo}".strip() if where else str(repo))
    return "; ".join(p for p in parts if p) or "its source repository"


_REFERENCED = re.compile(
    r'(?i)\b(configmap|secret)\s+"?(?:[a-z0-9-]{1,63}/)?([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?)"?'
)


def _referenced_objects(text: str) -> list[tuple[str, str]]:
    """The ConfigMaps and Secrets a kubelet message names (`configmap "x" not found`, `in ConfigMap
    ns/x`): names only, DNS-shaped, for a read-only next step."""
    found: list[tuple[str, str]] = []
    for match in _REFERENCED.finditer(text):
        item = (match.group(1).lower(), match.group(2).lower())
        if item not in found:
            found.append(item)
    return found[:3]


def _limits(workload: Workload) -> str:
    return "; ".join(
        f"{c.name}: " + ", ".join(f"{k}={v}" for k, v in sorted(c.limits.items()))
        for c in workload.containers
        if c.limits
    )


def _unique_steps(steps: list[str]) -> list[str]:
    return list(dict.fromkeys(steps))


def _managed_steps(observation: Observation, workload: Workload, what: str) -> list[str]:
    """For an Argo CD-managed workload with no typed fix: the change a human makes goes to Git."""
    if _mode(observation, workload) != "gitops":
        return []
    app = _application(observation, workload)
    if app is None:
        return [f"Argo CD manages {_object(workload)}: change {what} in Git, not in the cluster."]
    return [
        f"Argo CD application {app.name} manages {_object(workload)}: change {what} in Git "
        f"({_sources(app)}), not in the cluster. `argocd app get {app.name}` shows its state."
    ]


def _gitops_steps(
    observation: Observation,
    workload: Workload,
    file: str | None,
    what: str,
    change: Change,
    container: str | None = None,
) -> list[str]:
    """Where a human makes the change for an Argo CD-managed workload, and how to see it first."""
    if _mode(observation, workload) != "gitops":
        return []
    app = _application(observation, workload)
    name = app.name if app is not None else "the Argo CD application"
    diff = f" `argocd app diff {app.name}` shows what Argo CD would change." if app is not None else ""
    if file is not None:
        return [f"The fix goes through Git: {what} in {file} (application {name}).{diff}"]
    _, why = _choose_file(observation, workload, change, container)
    where = _sources(app) if app is not None else "the GitOps repository"
    return [
        f"Medic could not pick the one GitOps file to change ({why}). Find where {what} is set for "
        f"{workload.ref.kind} {workload.ref.namespace}/{workload.ref.name} ({where}), change it in a "
        f"pull request, and let {name} sync it.{diff}",
        "Do not edit the live object: Argo CD manages it and would revert or flag a hand edit.",
    ]


# --- the analyzer ------------------------------------------------------------------------------


class OfflineAnalyzer:
    name = "offline"

    def analyze(
        self, incident: Incident, observation: Observation, similar: Sequence[SimilarIncident] = ()
    ) -> Diagnosis:
        diagnosis = self._analyze(incident, observation)
        past = _repeats_a_rolled_back_fix(diagnosis, similar)
        if past is None:
            return diagnosis
        # The same fix failed verification before on this workload: say so, and let a human decide.
        return diagnosis.model_copy(
            update={
                "summary": f"{diagnosis.summary} The same fix was rolled back in {past.incident_id}; "
                "not repeating it without a human.",
                "explanation": f"{diagnosis.explanation} Past incident {past.incident_id} ({past.title}) "
                f"applied {', '.join(str(a.get('kind')) for a in past.actions)} and ended rolled_back: "
                f"{past.reason}",
                "plan": Plan(expected_impact="", rollback=""),
                "confidence": min(diagnosis.confidence, 0.4),
                "next_steps": [
                    f"Read why the same fix was rolled back: `medic incidents show {past.incident_id}`.",
                    *diagnosis.next_steps,
                ],
            }
        )

    def _analyze(
        self, incident: Incident, observation: Observation, *, alert_rules: bool = True
    ) -> Diagnosis:
        if alert_rules:  # alerts that are not about a workload: meta alerts, Argo CD's own
            found = meta_alert_diagnosis(incident) or argocd_diagnosis(
                incident, observation, lambda: self._analyze(incident, observation, alert_rules=False)
            )
            if found is not None:
                return found
        from domain.analysis.rules.crash import CrashRules  # the rules module imports this one

        if observation.jobs and (found := jobs.diagnose_jobs(observation, self.name)) is not None:
            return found
        crash = CrashRules(self)
        if not observation.workloads and (bare := crash.bare_pods(incident, observation)) is not None:
            return bare
        if not observation.workloads:
            notes = "; ".join(observation.notes) or "no target could be resolved from the alert's labels"
            named = sorted({f"{t.namespace}/{t.kind}/{t.name}" for t in incident.targets})
            namespaces = sorted({t.namespace for t in incident.targets if t.namespace})
            return self._diagnosis(
                "unknown",
                f"The alert's targets were not found in the cluster; a human must look ({notes}).",
                explanation=(
                    f"The alert {', '.join(sorted(set(_alert_names(incident)))) or '(unnamed)'} names "
                    f"{', '.join(named[:5]) or 'no workload'}, and none of it was found to observe "
                    f"({notes}). Without the object there is nothing to diagnose or change."
                ),
                confidence=0.1,
                next_steps=[
                    *(
                        f"Look for the alert's target: `kubectl -n {ns} get "
                        "deployments,statefulsets,daemonsets,pods`."
                        for ns in namespaces[:3]
                    ),
                    "Check the alert's labels against the cluster: the object may have been deleted or "
                    "renamed, or the rule may label it differently (a job, a service, another namespace).",
                ],
            )
        rules = (
            self._unschedulable,
            self._image_pull,
            self._config_error,
            self._oom,
            crash.crash,
            self._release,
            crash.probe_rollout,
        )
        for rule in rules:
            for workload in observation.workloads:
                found = rule(workload, observation)
                if found is not None:
                    return found
        for workload in observation.workloads:
            found = crash.throttling(workload, observation, incident) or self._saturation(
                workload, observation, incident
            )
            if found is not None:
                return found
        if incident.group is not None and incident.group.status == "resolved":
            return self._diagnosis("none", "The alert has resolved; nothing to fix.", confidence=0.8)
        return self._healthy_or_unknown(observation)

    def _diagnosis(
        self,
        root_cause: RootCause,
        summary: str,
        *,
        explanation: str = "",
        confidence: float,
        evidence: list[Evidence] | None = None,
        actions: list[Action] | None = None,
        impact: str = "",
        rollback: str = "",
        next_steps: list[str] | None = None,
    ) -> Diagnosis:
        return Diagnosis(
            root_cause=root_cause,
            summary=summary,
            explanation=explanation,
            next_steps=list(next_steps or []),
            confidence=confidence,
            evidence=_unique(evidence or []),
            plan=Plan(actions=actions or [], expected_impact=impact, rollback=rollback),
            analyzer=self.name,
        )

    # --- no automatic fix: unschedulable, config errors --------------------------------------------

    def _unschedulable(self, workload: Workload, observation: Observation) -> Diagnosis | None:
        # The reasons, next steps and the one bounded fix live in domain/analysis/rules/scheduling.py.
        pods, revisions = _pods_of(observation, workload), _revisions_of(observation, workload)
        app = _application(observation, workload)
        managed = (
            (app.name if app else "tracking annotation") if _mode(observation, workload) == "gitops" else ""
        )
        fix: tuple[list[Action], str, list[Evidence]] | None = None
        if (found := scheduling.bounded_fix(workload, revisions, pods, observation)) is not None:
            newest, previous, resource, new, old, largest, node = found
            mode, file, mode_note = _mode_and_file(observation, workload, "template")
            note = scheduling.fix_note(resource, new, old, largest, newest.revision, previous.revision)
            evidence = [
                Evidence(item_id=newest.id, note=f"revision {newest.revision}: requests more {resource}"),
                Evidence(item_id=previous.id, note=f"revision {previous.revision}: the last one that ran"),
                Evidence(item_id=node.id, note=f"the largest allocatable {resource}"),
                *_gitops_evidence(observation, workload, file),
            ]
            action = scheduling.rollback_action(workload, previous.revision, mode, file)
            actions: list[Action] = [action]
            fix = (actions, f"{note} {mode_note}.", evidence)
        subject = scheduling.subject_of(workload, managed)
        return scheduling.diagnose_pending(subject, pods, observation, self.name, fix=fix)

    def _config_error(self, workload: Workload, observation: Observation) -> Diagnosis | None:
        broken = [
            p
            for p in _pods_of(observation, workload)
            if any(c.state_reason in _CONFIG_REASONS for c in p.containers)
        ]
        if not broken:
            return None
        reasons = sorted(
            {c.state_reason for p in broken for c in p.containers if c.state_reason in _CONFIG_REASONS}
        )
        events = [e for e in _events_of(observation, broken) if e.type == "Warning"]
        ref = workload.ref
        message = _first_message(events, broken)
        referenced = _referenced_objects(" ".join([e.message for e in events] + [message]))
        steps = [
            f"Read the kubelet's message: {_kubectl(workload, 'describe pod', broken[0].name)} (Events)."
        ]
        if referenced:
            steps.append(
                "Check that the object exists with the keys the pod reads: "
                + ", ".join(_kubectl(workload, "get", f"{kind} {name} -o yaml") for kind, name in referenced)
                + "."
            )
        else:
            steps.append(
                f"List the ConfigMaps and Secrets {ref.kind} {ref.name}'s pod template references "
                f"(env, envFrom, volumes): {_kubectl(workload, 'get', f'{_object(workload)} -o yaml')}, "
                f"then {_kubectl(workload, 'get', 'configmaps,secrets')}."
            )
        steps.append(
            f"Create the missing object or key (or correct the reference in {ref.kind} {ref.name}); the "
            "pods start on their own once the configuration exists, no restart needed."
        )
        steps += _managed_steps(observation, workload, "the configuration or the reference")
        return self._diagnosis(
            "config_error",
            f"{workload.ref.name}'s containers cannot be created ({', '.join(reasons)}); no automatic fix.",
            explanation=(
                f"The kubelet cannot build {ref.kind} {ref.namespace}/{ref.name}'s container from its "
                "configuration"
                + (f': "{message}"' if message else "")
                + ". A ConfigMap, Secret or key it references is missing or invalid. Only whoever owns "
                "that configuration can say what the right value is; restarting or rolling back does not "
                "create it. A human must act."
            ),
            next_steps=steps,
            confidence=0.8,
            evidence=[Evidence(item_id=p.id, note=", ".join(reasons)) for p in broken]
            + [Evidence(item_id=e.id, note=e.reason) for e in events],
        )

    # --- image pull failures ------------------------------------------------------------------------

    def _image_pull(self, workload: Workload, observation: Observation) -> Diagnosis | None:
        pods = _pods_of(observation, workload)
        failing = [p for p in pods if any(c.state_reason in _PULL_REASONS for c in p.containers)]
        if not failing:
            return None
        events = [e for e in _events_of(observation, failing) if e.type == "Warning"]
        text = " ".join(
            [e.message.lower() for e in events]
            + [c.state_message.lower() + " " + c.state_reason.lower() for p in failing for c in p.containers]
        )
        evidence = [Evidence(item_id=p.id, note="image cannot be pulled") for p in failing] + [
            Evidence(item_id=e.id, note=f"kubelet: {e.reason}") for e in events
        ]
        auth = any(word in text for word in _AUTH_WORDS)
        message = _first_message(events, failing, _AUTH_WORDS if auth else _NOT_FOUND_WORDS)
        # the images the stuck containers ask for (the pods' spec), else the workload's
        pulled = sorted(
            {c.image for p in failing for c in p.containers if c.state_reason in _PULL_REASONS and c.image}
            or {c.image for c in workload.containers}
        )
        describe = _kubectl(workload, "describe pod", failing[0].name)
        if auth:
            return self._diagnosis(
                "image_pull",
                f"{workload.ref.name}'s image cannot be pulled: the registry refuses the credentials.",
                explanation=(
                    f"The registry answers {_object(workload)}'s pull of {', '.join(pulled)} with an "
                    "authentication or permission error"
                    + (f': "{message}"' if message else "")
                    + ". That is a credentials problem (imagePullSecrets, registry access, an expired "
                    "token), not a wrong image: changing the image would not fix it. A human must act."
                ),
                confidence=0.75,
                evidence=evidence,
                next_steps=[
                    f"Read the registry's answer: {describe} (Events, Failed).",
                    "See which pull secret the pods use: "
                    + _kubectl(
                        workload, "get pod", f"{failing[0].name} -o jsonpath='{{.spec.imagePullSecrets}}'"
                    )
                    + " (and the service accounts': "
                    + f"{_kubectl(workload, 'get', 'serviceaccounts -o yaml')}).",
                    f"Renew or correct that secret, or grant it read access to {', '.join(pulled)} at the "
                    "registry; the kubelet retries the pull on its own once the credentials work.",
                ],
            )
        revisions = _revisions_of(observation, workload)
        changes = _image_changes(workload, revisions, pods) if revisions else None
        not_found = any(word in text for word in _NOT_FOUND_WORDS)
        if changes is None or not not_found:
            reason = (
                "the registry does not say the image is unknown"
                if not not_found
                else "no earlier revision ran a different image that worked"
            )
            return self._diagnosis(
                "image_pull",
                f"{workload.ref.name}'s image cannot be pulled, and {reason}; a human must look.",
                explanation=(
                    f"The kubelet cannot pull {', '.join(pulled)} for {_object(workload)}"
                    + (f': "{message}"' if message else "")
                    + f". {reason[0].upper()}{reason[1:]}, so without a known-good image to return to, "
                    "no image change is proposed."
                ),
                confidence=0.5,
                evidence=evidence,
                next_steps=[
                    f"Read the kubelet's pull error: {describe} (Events).",
                    f"Check that {', '.join(pulled)} exists in the registry (the tag and the repository "
                    "name) and that the nodes can reach the registry.",
                    f"Set {_object(workload)} to an image that exists"
                    + (" in Git" if _mode(observation, workload) == "gitops" else "")
                    + f"; {_kubectl(workload, 'rollout history', _object(workload))} lists the "
                    "earlier revisions.",
                    *_managed_steps(observation, workload, "the image"),
                ],
            )
        newest, previous, changed = changes
        actions, mode_note = self._set_images_back(workload, observation, changed)
        images = ", ".join(f"{c}: {old}" for c, old in changed.items())
        return self._diagnosis(
            "image_pull",
            f"Revision {newest.revision} of {workload.ref.name} names an image the registry does not "
            f"have; go back to revision {previous.revision}'s image ({images}).",
            explanation=(
                f"The new pods are stuck pulling an image the registry reports as unknown (a wrong tag "
                f"or repository), while revision {previous.revision}'s pods run. The image comes from "
                f"revision {previous.revision}'s pod template, not from any message. {mode_note}."
            ),
            confidence=0.85,
            evidence=evidence
            + [
                Evidence(
                    item_id=newest.id, note=f"revision {newest.revision}: the image that cannot be pulled"
                ),
                Evidence(item_id=previous.id, note=f"revision {previous.revision}: the last working image"),
                Evidence(item_id=workload.id, note=f"{workload.ready_replicas}/{workload.replicas} ready"),
            ]
            + _gitops_evidence(observation, workload, actions[0].file),
            actions=actions,
            impact="the rollout completes on the previous image; the stuck pod is replaced",
            rollback="set the image back to the one in the snapshot (the unpullable one)",
            next_steps=_unique_steps(
                [
                    f"Read the registry's answer: {describe} (Events, Failed).",
                    *(
                        step
                        for action in actions
                        for step in _gitops_steps(
                            observation,
                            workload,
                            action.file,
                            f"the image of container {action.target.container} (back to {images})",
                            "image",
                            action.target.container,
                        )
                    ),
                    "Push the intended image (or correct its tag) before releasing revision "
                    f"{newest.revision}'s change again.",
                ]
            ),
        )

    def _set_images_back(
        self, workload: Workload, observation: Observation, changed: dict[str, str]
    ) -> tuple[list[Action], str]:
        actions: list[Action] = []
        note = ""
        for container, image in changed.items():
            mode, file, note = _mode_and_file(observation, workload, "image", container)
            actions.append(SetImage(target=_target(workload, container), mode=mode, file=file, image=image))
        return actions, note

    # --- OOM -----------------------------------------------------------------------------------------

    def _oom(self, workload: Workload, observation: Observation) -> Diagnosis | None:
        killed: dict[str, list[PodState]] = {}
        for pod in _pods_of(observation, workload):
            for c in pod.containers:
                if c.last_state_reason == "OOMKilled" or c.state_reason == "OOMKilled":
                    killed.setdefault(c.name, []).append(pod)
        for container in workload.containers:
            pods = killed.get(container.name)
            if not pods:
                continue
            evidence = [
                Evidence(item_id=p.id, note=f"container {container.name} was OOMKilled") for p in pods
            ]
            evidence += [
                Evidence(item_id=e.id, note=e.reason)
                for e in observation.events
                if e.reason in ("OOMKilling", "OOMKilled")
                and (e.object_kind != "Node" or e.object_name in {p.node for p in pods})
            ]
            current = _quantity(container.limits.get("memory"))
            if current is None or current <= 0:
                return self._diagnosis(
                    "oom",
                    f"{workload.ref.name}/{container.name} is OOMKilled but has no memory limit to raise.",
                    explanation=(
                        f"{len(pods)} pod(s) of {_object(workload)} show {container.name} OOMKilled, and "
                        "it has no memory limit: the kill comes from node memory pressure; the fix is "
                        "a limit and request sized by someone who knows the workload, or more node memory."
                    ),
                    confidence=0.6,
                    evidence=evidence,
                    next_steps=[
                        f"Confirm the kill: {_kubectl(workload, 'describe pod', pods[0].name)} (Last State: "
                        "OOMKilled)"
                        + (
                            f"; `kubectl describe node {pods[0].node}` shows memory pressure."
                            if pods[0].node
                            else "."
                        ),
                        f"Measure what {container.name} uses: "
                        f"{_kubectl(workload, 'top pod', f'{pods[0].name} --containers')}.",
                        f"Set a memory request and limit on container {container.name} of "
                        f"{workload.ref.kind} {workload.ref.namespace}/{workload.ref.name} from that use.",
                        *_managed_steps(observation, workload, "the container's resources"),
                    ],
                )
            usage = _series(observation, "memory_usage_ratio", workload)
            peak_ratio = max(_values(usage), default=0.0)
            limit = self._raised_limit(current, peak_ratio)
            if usage is not None:
                evidence.append(
                    Evidence(item_id=usage.id, note=f"memory use peaked at {peak_ratio:.0%} of the limit")
                )
            current_text = container.limits["memory"]
            mode, file, mode_note = _mode_and_file(observation, workload, "resources", container.name)
            evidence.append(Evidence(item_id=workload.id, note=f"memory limit is {current_text}"))
            evidence += _gitops_evidence(observation, workload, file)
            evidence += [
                Evidence(item_id=i, note="log of an OOM-killed pod") for i in _logs_of(observation, pods)
            ]
            sizing = (
                f"Memory use reached {peak_ratio:.0%} of the limit before the kills. "
                if usage is not None
                else ""
            )
            change = f"resources.limits.memory of container {container.name} ({current_text} → {limit})"
            steps = [
                f"Confirm the kill: {_kubectl(workload, 'describe pod', pods[0].name)} shows Last State: "
                "Terminated, Reason: OOMKilled (exit code 137).",
                f"See its memory use now: {_kubectl(workload, 'top pod', f'{pods[0].name} --containers')}; "
                "if it grows without bound, look for a leak in "
                f"{_kubectl(workload, 'logs', f'{pods[0].name} -c {container.name} --previous')} before "
                "raising the limit again.",
            ]
            if mode == "gitops":
                steps += _gitops_steps(observation, workload, file, change, "resources", container.name)
            else:
                steps.append(
                    f"Where medic may not make the change (a protected namespace, a refused plan), a human "
                    f"sets {change} on {workload.ref.kind} {workload.ref.namespace}/{workload.ref.name} "
                    "through the owning team's process."
                )
            return self._diagnosis(
                "oom",
                f"{workload.ref.name}/{container.name} is killed for exceeding its memory limit "
                f"({current_text}); raise it to {limit}.",
                next_steps=steps,
                explanation=(
                    f"{len(pods)} pod(s) of {_object(workload)} show {container.name} OOMKilled as its last "
                    f"termination. {sizing}The "
                    f"limit is doubled (at least 1.25x the observed peak, at least +64Mi, at most 4x); "
                    f"requests are left unchanged. {mode_note}."
                ),
                confidence=0.85,
                evidence=evidence,
                actions=[
                    SetResources(
                        target=_target(workload, container.name),
                        mode=mode,
                        file=file,
                        limits={"memory": limit},
                    )
                ],
                impact=f"{container.name} stops being OOMKilled; pods become ready.",
                rollback=f"restore the memory limit to {current_text} from the snapshot",
            )
        return None

    @staticmethod
    def _raised_limit(current: Decimal, peak_ratio: float) -> str:
        peak = current * Decimal(str(peak_ratio))
        proposed = max(current * OOM_GROWTH, current + OOM_MIN_STEP, peak * OOM_PEAK_HEADROOM)
        return format_memory(min(proposed, current * OOM_MAX_GROWTH))

    # --- bad releases and probe failures -----------------------------------------------------------

    def _release(self, workload: Workload, observation: Observation) -> Diagnosis | None:
        revisions = _revisions_of(observation, workload)
        if len(revisions) < 2:
            return None
        newest = revisions[0]
        # observe compared the newest template with this one; otherwise the next older revision
        previous = next((r for r in revisions if r.revision == newest.previous_revision), revisions[1])
        pods = _pods_of(observation, workload)
        new_pods = [p for p in pods if p.owner == newest.name]
        old_pods = [p for p in pods if p.owner == previous.name]
        failing = [p for p in new_pods if _pod_failing(p)]
        old_healthy = [p for p in old_pods if _pod_healthy(p)]
        if not failing or not (old_healthy or previous.ready_replicas > 0):
            return None
        evidence = [
            Evidence(item_id=newest.id, note=f"revision {newest.revision}: the new release"),
            Evidence(item_id=previous.id, note=f"revision {previous.revision}: the last healthy release"),
        ]
        evidence += [Evidence(item_id=p.id, note=f"revision {newest.revision} pod failing") for p in failing]
        evidence += [
            Evidence(item_id=p.id, note=f"revision {previous.revision} pod healthy") for p in old_healthy
        ]
        probe_events = [
            e
            for e in _events_of(observation, failing)
            if e.reason == "Unhealthy" or "probe" in e.message.lower()
        ]
        crash_events = [
            e for e in _events_of(observation, failing) if e.type == "Warning" and e not in probe_events
        ]
        evidence += [Evidence(item_id=e.id, note=e.reason) for e in probe_events + crash_events]
        evidence += [
            Evidence(item_id=i, note="log of a failing new pod") for i in _logs_of(observation, failing)
        ]

        changed_images = {
            c.name: old.image
            for c in newest.containers
            for old in previous.containers
            if old.name == c.name and old.image != c.image
        }
        # What changed besides images: observe's template diff when it made one (env, args, probes,
        # volumes...), else what the typed containers show.
        if newest.changes:
            other_changes = _grouped_subjects(
                [_change_subject(c) for c in newest.changes if not _IMAGE_CHANGE.search(c)]
            )
        else:
            other_changes = _visible_changes(newest, previous)
        probe_changed = any("probe" in c.lower() for c in other_changes)
        crashing = any(
            c.state_reason in _CRASH_REASONS or c.last_state_reason == "Error"
            for p in failing
            for c in p.containers
        )

        history = _kubectl(workload, "rollout history", f"{_object(workload)} --revision={newest.revision}")
        why_failing = (
            f"Why the new pods fail: {_kubectl(workload, 'logs', f'{failing[0].name} --previous')} and "
            f"{_kubectl(workload, 'describe pod', failing[0].name)} (Events)."
        )
        if changed_images and not other_changes:
            actions, mode_note = self._set_images_back(workload, observation, changed_images)
            evidence += _gitops_evidence(observation, workload, actions[0].file)
            images = ", ".join(f"{c} → {image}" for c, image in changed_images.items())
            steps = [f"See what revision {newest.revision} changed: {history}.", why_failing]
            for action in actions:
                steps += _gitops_steps(
                    observation,
                    workload,
                    action.file,
                    f"the image of container {action.target.container} ({images})",
                    "image",
                    action.target.container,
                )[:2]
            steps.append("Fix the release before rolling it out again; it fails the same way on a retry.")
            return self._diagnosis(
                "bad_release",
                f"Revision {newest.revision} of {workload.ref.name} changed the image and its pods fail "
                f"while revision {previous.revision}'s pods serve; set the image back ({images}).",
                explanation=(
                    f"Only the image differs between revisions {previous.revision} and {newest.revision}; "
                    f"{len(failing)} new pod(s) fail and {len(old_healthy)} old pod(s) are healthy. A "
                    f"restart would run the same broken release again, so the image of revision "
                    f"{previous.revision} is restored. {mode_note}."
                ),
                confidence=0.85,
                evidence=evidence,
                actions=actions,
                impact=f"the rollout returns to revision {previous.revision}'s image; pods become ready",
                rollback="set the image back to the new release from the snapshot",
                next_steps=_unique_steps(steps),
            )

        # More than the image changed, or the change is not visible in the typed revisions (a new
        # ReplicaSet always means a new pod template: env, args, probes, volumes).
        if newest.changes:
            probe = probe_changed and bool(probe_events) and not changed_images
        else:
            probe = bool(probe_events) and not changed_images and not crashing
        root_cause: RootCause = "probe_failure" if probe else "bad_release"
        what = ", ".join(other_changes) if other_changes else "the pod template (not the image)"
        if changed_images:
            what = "the image and " + what
        mode, file, mode_note = _mode_and_file(observation, workload, "template")
        evidence += _gitops_evidence(observation, workload, file)
        symptom = (
            "fail their health probes while the containers run"
            if probe
            else "fail (crash or never become ready)"
        )
        steps = [f"See what revision {newest.revision} changed: {history}.", why_failing]
        if probe:
            steps.append(
                "Compare the probe with what the container serves: "
                f"{_kubectl(workload, 'describe pod', failing[0].name)} shows the probe "
                "and its failures (Unhealthy events); correct the probe, or the endpoint, "
                "before releasing again."
            )
        steps += _gitops_steps(
            observation,
            workload,
            file,
            f"revision {newest.revision}'s change ({what}) — revert it",
            "template",
        )
        return self._diagnosis(
            root_cause,
            f"Revision {newest.revision} of {workload.ref.name} changed {what} and its pods {symptom}; "
            f"roll back to revision {previous.revision}.",
            explanation=(
                f"Revision {previous.revision}'s pods are healthy and revision {newest.revision}'s are not. "
                f"Because more than an image changed, the whole previous pod template is restored rather "
                f"than one field{'; the probe change is the likely cause' if probe else ''}. {mode_note}."
                + (
                    f" The template diff of revision {newest.revision}: {_changes_quoted(newest.changes)}."
                    if newest.changes
                    else ""
                )
            ),
            confidence=0.75 if probe else 0.7,
            evidence=evidence,
            actions=[
                RollbackRevision(target=_target(workload), mode=mode, file=file, revision=previous.revision)
            ],
            impact=f"the workload runs revision {previous.revision}'s template again; pods become ready",
            rollback=f"roll forward to revision {newest.revision}'s template from the snapshot",
            next_steps=steps,
        )

    # --- saturation ----------------------------------------------------------------------------------

    def _saturation(
        self, workload: Workload, observation: Observation, incident: Incident
    ) -> Diagnosis | None:
        pods = _pods_of(observation, workload)
        if not pods or not all(_pod_healthy(p) for p in pods):
            return None
        cpu = _series(observation, "cpu_usage_ratio", workload)
        throttling = _series(observation, "cpu_throttling", workload)
        latency = _series(observation, "latency_p99", workload)
        errors = _series(observation, "error_rate", workload)
        requests = _series(observation, "request_rate", workload)
        cpu_values, throttled = _values(cpu), _values(throttling)
        at_limit = bool(cpu_values) and cpu_values[-1] >= SATURATION_CPU_RATIO
        throttled_now = bool(throttled) and throttled[-1] >= SATURATION_THROTTLING
        alerted = [
            name for name in _alert_names(incident) if any(w in name.lower() for w in _SATURATION_ALERT_WORDS)
        ]
        if not (at_limit or throttled_now):
            if alerted and cpu is None and throttling is None:
                return self._diagnosis(
                    "saturation",
                    f"{alerted[0]} fires for {workload.ref.name}, but no CPU metrics were observed to size "
                    "a scale-out; a human must look.",
                    explanation=(
                        f"{alerted[0]} names {_object(workload)} ({workload.replicas} replicas, all ready), "
                        "but no CPU use or throttling series was observed for it. A replica count is never "
                        "taken from alert text; without metrics none is proposed."
                    ),
                    confidence=0.4,
                    evidence=[Evidence(item_id=workload.id, note=f"{workload.replicas} replicas, all ready")],
                    next_steps=[
                        f"See the pods' CPU and memory use: {_kubectl(workload, 'top', 'pods')}.",
                        "Check whether an autoscaler owns the replica count: "
                        f"{_kubectl(workload, 'get', 'hpa')}.",
                        f"If the pods are at their CPU limit, scale {_object(workload)} or raise its limit; "
                        "otherwise look at what the alert measures (its expression in Prometheus).",
                        *_managed_steps(observation, workload, "the replica count or the limits"),
                    ],
                )
            return None
        symptoms = [
            s
            for s, rising in (
                ("p99 latency", _rising(_values(latency))),
                ("error rate", _rising(_values(errors))),
            )
            if rising
        ]
        if not symptoms and not alerted:
            return None
        evidence = [Evidence(item_id=workload.id, note=f"{workload.replicas} replicas, all ready")]
        for series, note in (
            (cpu, "CPU use vs limit"),
            (throttling, "CPU throttling"),
            (latency, "p99 latency"),
            (errors, "error rate"),
            (requests, "request rate"),
        ):
            if series is not None:
                evidence.append(Evidence(item_id=series.id, note=note))
        evidence += [Evidence(item_id=p.id, note="pod healthy") for p in pods[:MAX_POD_EVIDENCE]]

        current = workload.replicas
        # Demand in units of today's capacity: CPU use at the window's start grown with the traffic
        # (throttled pods under-report what they need), else the CPU use now.
        load = _values(requests)
        if cpu_values and len(load) >= 2 and load[0] > 0:
            demand = cpu_values[0] * load[-1] / load[0]
            basis = f"traffic grew {load[-1] / load[0]:.2f}x from {cpu_values[0]:.0%} CPU use"
        else:
            demand = cpu_values[-1] if cpu_values else 1.0
            basis = f"CPU use is {demand:.0%} of the limit"
        wanted = max(current + 1, math.ceil(current * demand / TARGET_UTILISATION - 1e-9))
        ceiling = min(current * MAX_SCALE_FACTOR, MAX_REPLICAS)
        replicas = min(wanted, ceiling)
        pressure = "CPU at its limit" if at_limit else "CPU throttled"
        if workload.ref.kind == "DaemonSet" or current <= 0 or replicas <= current:
            reason = (
                f"it already runs {current} replicas, the most the bounds allow"
                if current > 0 and workload.ref.kind != "DaemonSet"
                else "it cannot be scaled"
            )
            return self._diagnosis(
                "saturation",
                f"{workload.ref.name} is saturated ({pressure}) but cannot be scaled out: {reason}.",
                explanation=(
                    f"{_object(workload)} runs {current} ready replicas with its {pressure}: {basis}. "
                    "Capacity beyond the bounds (more replicas, larger limits, a faster release) is a "
                    "human decision."
                ),
                confidence=0.7,
                evidence=evidence,
                next_steps=[
                    f"See the CPU use per pod: {_kubectl(workload, 'top', 'pods')}; and whether "
                    f"an autoscaler is at its maximum: {_kubectl(workload, 'get', 'hpa')} (ScalingLimited).",
                    f"Decide on more capacity: raise the replica bound (the autoscaler's maxReplicas) or "
                    f"the CPU limit of {_object(workload)} ({_limits(workload) or 'no limits set'}), "
                    "and check that the nodes can hold it.",
                    f"If a release made each request more expensive, compare revisions: "
                    f"{_kubectl(workload, 'rollout history', _object(workload))}.",
                    *_managed_steps(observation, workload, "the replica bound or the limits"),
                ],
            )
        mode, file, mode_note = _mode_and_file(observation, workload, "replicas")
        evidence += _gitops_evidence(observation, workload, file)
        capped = " (capped by the bounds)" if wanted > ceiling else ""
        return self._diagnosis(
            "saturation",
            f"{workload.ref.name} is saturated ({pressure}, {', '.join(symptoms) or 'alerting'} rising); "
            f"scale from {current} to {replicas} replicas.",
            explanation=(
                f"The pods are healthy but out of CPU: {basis}. Sized for {TARGET_UTILISATION:.0%} CPU use "
                f"per replica, {wanted} replicas are needed{capped}; scaling is bounded to "
                f"{MAX_SCALE_FACTOR}x and {MAX_REPLICAS} replicas. {mode_note}."
            ),
            confidence=0.75,
            evidence=evidence,
            actions=[Scale(target=_target(workload), mode=mode, file=file, replicas=replicas)],
            impact="CPU per pod falls below the limit; throttling, latency and errors recede",
            rollback=f"scale back to {current} replicas",
            next_steps=[
                f"If an autoscaler owns the replica count ({_kubectl(workload, 'get', 'hpa')}), raise its "
                "minReplicas/maxReplicas instead: it would undo a scale.",
                *_gitops_steps(
                    observation, workload, file, f"the replica count ({current} → {replicas})", "replicas"
                ),
            ],
        )

    # --- healthy or unknown ------------------------------------------------------------------------

    def _healthy_or_unknown(self, observation: Observation) -> Diagnosis:
        unhealthy = [w for w in observation.workloads if w.ready_replicas < w.replicas]
        waiting = [
            p for p in observation.pods if any(c.state == "waiting" for c in p.containers) or not p.ready
        ]
        # Healthy pods with errors or latency still climbing are not "nothing to fix".
        symptoms = [
            m
            for w in observation.workloads
            for name in ("error_rate", "latency_p99")
            if (m := _series(observation, name, w)) is not None and _rising(_values(m))
        ]
        if not unhealthy and not waiting and symptoms:
            workloads = [
                w for w in observation.workloads if any(m.id.endswith(f"/{w.ref.name}") for m in symptoms)
            ]
            workloads = workloads or list(observation.workloads)
            return self._diagnosis(
                "unknown",
                "The pods are healthy but errors or latency keep rising, and no rule explains why; "
                "a human must look.",
                explanation=(
                    f"{', '.join(_object(w) for w in workloads[:3])}: every replica is ready, yet "
                    f"{', '.join(sorted({m.name for m in symptoms}))} keep rising and CPU is not at its "
                    "limit, so neither a crash, a release nor saturation explains it. A downstream, the "
                    "traffic's shape or a change outside the workload may."
                ),
                confidence=0.3,
                evidence=[Evidence(item_id=m.id, note=f"{m.name} rising") for m in symptoms],
                next_steps=[
                    *(
                        "Read the recent logs for errors: "
                        f"{_kubectl(w, 'logs', f'{_object(w)} --since=15m')}."
                        for w in workloads[:2]
                    ),
                    "Check the downstreams it calls (databases, APIs, DNS) and anything that changed "
                    f"recently: {_kubectl(workloads[0], 'get', 'events --sort-by=.lastTimestamp')}.",
                ],
            )
        if not unhealthy and not waiting:
            return self._diagnosis(
                "none",
                "The targets are healthy now; the alert no longer reflects a fault.",
                explanation=(
                    "Every observed workload has all its replicas ready and no container is waiting or "
                    "crashing; no metric shows saturation. Nothing is changed."
                ),
                confidence=0.7,
                evidence=[Evidence(item_id=w.id, note="all replicas ready") for w in observation.workloads]
                + [Evidence(item_id=p.id, note="ready") for p in observation.pods[:MAX_POD_EVIDENCE]],
            )
        pod = waiting[0] if waiting else None
        subject = unhealthy[0] if unhealthy else observation.workloads[0]
        states = sorted({c.state_reason or c.last_state_reason for p in waiting for c in p.containers} - {""})
        ns = subject.ref.namespace
        steps = [
            f"Read the pod's state and events: `kubectl -n {pod.namespace} describe pod {pod.name}`."
            if pod is not None
            else f"Read the workload's conditions: {_kubectl(subject, 'describe', _object(subject))}.",
        ]
        if pod is not None and pod.containers:
            steps.append(
                f"Read what the container printed before it stopped: `kubectl -n {pod.namespace} logs "
                f"{pod.name} -c {pod.containers[0].name} --previous`."
            )
        steps.append(f"See what happened around it: `kubectl -n {ns} get events --sort-by=.lastTimestamp`.")
        return self._diagnosis(
            "unknown",
            "The workload is unhealthy but no rule explains why; a human must look.",
            explanation=(
                f"{_object(subject)} has {subject.ready_replicas}/{subject.replicas} replicas ready"
                + (f"; {len(waiting)} pod(s) are not ready" if waiting else "")
                + (f" ({', '.join(states)})" if states else "")
                + ". None of the rules (scheduling, image pull, configuration, OOM, release, saturation) "
                "matches what was observed."
            ),
            next_steps=steps,
            confidence=0.2,
            evidence=[Evidence(item_id=w.id, note="replicas not ready") for w in unhealthy]
            + [Evidence(item_id=p.id, note="not ready") for p in waiting],
        )


# --- helpers -------------------------------------------------------------------------------------


def _rising(values: list[float]) -> bool:
    """A symptom series that ends well above where it started (and is not flat at zero)."""
    if len(values) < 2 or values[-1] <= 0:
        return False
    return values[-1] >= 1.5 * values[0] if values[0] > 0 else True


_IMAGE_CHANGE = re.compile(r"^container \S+ image:")


def _change_subject(change: str) -> str:
    """`container x readinessProbe.periodSeconds: 10 → 5` → `container x readinessProbe.periodSeconds`
    (values dropped)."""
    return change.split(":", 1)[0].strip()


def _grouped_subjects(subjects: Sequence[str]) -> list[str]:
    """Changed fields under one object read as one: `container x securityContext.a` and
    `container x securityContext.b` → `container x securityContext (a, b)`."""
    groups: dict[str, list[str]] = {}
    for subject in subjects:
        head, _, rest = subject.partition(".")
        groups.setdefault(head, [])
        if rest and rest not in groups[head]:
            groups[head].append(rest)
    return [f"{head} ({', '.join(rests)})" if rests else head for head, rests in groups.items()]


MAX_QUOTED_CHANGES = 4


def _changes_quoted(changes: Sequence[str]) -> str:
    """The first changed fields of a template diff with their old and new values, for an
    explanation: `container x livenessProbe.initialDelaySeconds: 90 → 10; ...`."""
    shown = "; ".join(changes[:MAX_QUOTED_CHANGES])
    more = len(changes) - MAX_QUOTED_CHANGES
    return shown + (f" (and {more} more)" if more > 0 else "")


def _visible_changes(newest: Revision, previous: Revision) -> list[str]:
    """What, besides images, differs between two revisions' typed pod templates."""
    changes: list[str] = []
    new, old = {c.name: c for c in newest.containers}, {c.name: c for c in previous.containers}
    if set(new) != set(old):
        changes.append("the set of containers")
    for name in sorted(set(new) & set(old)):
        a, b = new[name], old[name]
        if a.requests != b.requests or a.limits != b.limits:
            changes.append(f"{name}'s resources")
    return changes


def _image_changes(
    workload: Workload, revisions: list[Revision], pods: list[PodState]
) -> tuple[Revision, Revision, dict[str, str]] | None:
    """The newest revision, the last revision before it that worked, and per container the image to
    return to — when the newest revision changed images and an earlier one ran them healthily."""
    newest = revisions[0]
    for previous in revisions[1:]:
        healthy = previous.ready_replicas > 0 or any(
            p.owner == previous.name and _pod_healthy(p) for p in pods
        )
        if not healthy:
            continue
        changed = {
            c.name: old.image
            for c in newest.containers
            for old in previous.containers
            if old.name == c.name and old.image != c.image
        }
        return (newest, previous, changed) if changed else None
    return None


def _unique(evidence: list[Evidence]) -> list[Evidence]:
    seen: set[str] = set()
    out = []
    for e in evidence:
        if e.item_id not in seen:
            seen.add(e.item_id)
            out.append(e)
    return out


__all__ = ["Analyzer", "OfflineAnalyzer"]
