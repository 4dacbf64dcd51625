"""The analysis prompt: trusted instructions, and the incident and observation as fenced data.

Templates live in `prompts/` beside this module. Everything that came from the cluster, the alerts or
past records is rendered inside `<untrusted kind=... id=...>` blocks whose text is neutralised so it
cannot close its fence: it is NFKC-normalised (full-width look-alikes become ASCII), control
characters are made visible, and `&`, `<`, `>` are escaped as entities. Single-line values show
their line breaks as `\\n`, so a message cannot forge an item line of its own.

The whole prompt (system + user, UTF-8) stays under `PROMPT_BUDGET_BYTES`. When the full rendering is
too large, data is shortened step by step — log excerpts first (their tails are kept), then GitOps
file contents, then event messages, then metric samples (downsampled, first and last kept), then
alerts and past incidents — and never an item's id: every observed item stays citable.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from pydantic import BaseModel

from domain.analysis.plan import ACTION_KINDS, Diagnosis
from domain.incident.model import Incident
from domain.kube.observation import (
    ArgoApplication,
    ArgoResourceDiff,
    ArgoTreeNode,
    ContainerSpec,
    EventItem,
    GitOpsFile,
    LogExcerpt,
    MetricSeries,
    Observation,
    PodState,
    Workload,
)
from domain.redaction.text import redact_text
from integrations.llm.errors import PromptTooLarge
from integrations.llm.output import DIAGNOSIS_TOOL_NAME, REVIEW_TOOL_NAME

# "Under 24 KB" read strictly: 24,000 bytes, so it holds whether a KB is 1000 or 1024 bytes.
PROMPT_BUDGET_BYTES = 24_000
PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"

ROOT_CAUSES: dict[str, str] = {
    "oom": "a container is killed for exceeding its memory limit (OOMKilled, exit code 137)",
    "bad_release": "the newest revision (image or pod template change) fails; the previous one was healthy",
    "image_pull": "an image cannot be pulled (unknown tag or repository, ErrImagePull, ImagePullBackOff)",
    "config_error": "bad or missing configuration (a ConfigMap, an env var, a flag); a human must fix it",
    "saturation": "CPU at its limit, throttling and latency under load; more replicas help",
    "unschedulable": "pods cannot be scheduled (resources, affinity, taints); a human must act",
    "probe_failure": "liveness/readiness probes fail, typically after a probe change",
    "dependency": (
        "a downstream the workload needs (a database, an API, DNS, a certificate) fails it; a human must act"
    ),
    "drift": "the live state differs from Git (Argo CD OutOfSync)",
    "none": "nothing to fix: the alert resolved or no longer reflects a fault",
    "unknown": "the evidence does not explain the fault; a human must look",
}
ACTION_FIELDS: dict[str, str] = {
    "set_resources": (
        "`requests` and/or `limits`, maps of cpu | memory | ephemeral-storage to a Kubernetes quantity "
        '("512Mi", "500m"). For OOM raise the memory limit by a bounded factor (about 2x, at most 4x the '
        "current limit)."
    ),
    "set_image": "`image`, the full image reference (registry/repository:tag), e.g. the last working tag.",
    "scale": "`replicas`, the new replica count (saturation; within reason, never 0).",
    "restart": "no fields; a rolling restart of the workload.",
    "rollback_revision": "`revision`, an observed earlier revision number of the Deployment.",
    "sync_application": "`application`, the name of an observed Argo CD application (drift).",
}


# A past incident as memory recalls it: `domain.incident.memory.SimilarIncident`, or a mapping with the same
# keys (title, root_cause, summary, actions, outcome, reason; rolled_back_before).
PastIncident = Mapping[str, Any] | BaseModel


@dataclass(frozen=True)
class RenderedPrompt:
    """A rendered prompt. `size_bytes` counts system + user in UTF-8; `trimmed` says what was shortened."""

    system: str
    user: str
    size_bytes: int
    trimmed: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Limits:
    log_bytes: int = 6000  # per log excerpt; the tail is kept
    file_bytes: int = 3000  # per GitOps file; the head is kept
    event_message: int = 400  # characters per event message
    metric_samples: int = 30  # per series, evenly spaced, first and last kept
    alerts: int = 10
    alert_text: int = 400  # characters per label / annotation value
    annotation: int = 200  # characters per workload annotation value
    similar: int = 5
    similar_text: int = 400


_FULL = _Limits()
# Each step shortens more than the one before; the order is the trimming policy.
_STEPS: tuple[_Limits, ...] = (
    _FULL,
    replace(_FULL, log_bytes=3000),
    replace(_FULL, log_bytes=1500, file_bytes=1500),
    replace(_FULL, log_bytes=700, file_bytes=800),
    replace(_FULL, log_bytes=300, file_bytes=400),
    replace(_FULL, log_bytes=300, file_bytes=400, event_message=160),
    replace(_FULL, log_bytes=300, file_bytes=400, event_message=0),
    replace(_FULL, log_bytes=300, file_bytes=400, event_message=0, metric_samples=8),
    replace(_FULL, log_bytes=300, file_bytes=400, event_message=0, metric_samples=2),
    replace(
        _FULL,
        log_bytes=0,
        file_bytes=0,
        event_message=0,
        metric_samples=2,
        alerts=3,
        alert_text=120,
        annotation=60,
        similar=3,
        similar_text=120,
    ),
    replace(
        _FULL,
        log_bytes=0,
        file_bytes=0,
        event_message=0,
        metric_samples=0,
        alerts=1,
        alert_text=60,
        annotation=0,
        similar=1,
        similar_text=60,
    ),
)

# --- neutralising untrusted text -------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")


def _visible_control(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def neutralise(text: str) -> str:
    """Untrusted text made safe to place inside an `<untrusted>` block (multi-line kept).

    NFKC first, so look-alike brackets become the ASCII ones and are then escaped; `\\r` and other
    control or bidi characters become visible escapes; `&`, `<`, `>` become entities. Nothing in
    the result can read as `</untrusted>`.
    """
    text = unicodedata.normalize("NFKC", text).replace("\r\n", "\n")
    text = _CONTROL.sub(_visible_control, text)
    return html.escape(text, quote=False)


def _one_line(text: str) -> str:
    return neutralise(str(text)).replace("\n", "\\n")


def _attr(text: str) -> str:
    return html.escape(
        unicodedata.normalize("NFKC", _CONTROL.sub(_visible_control, text)).replace("\n", "\\n")
    )


def fence(kind: str, body: str, **labels: str) -> str:
    """An untrusted block. `body` must already be neutralised; labels are escaped here."""
    attrs = "".join(f' {name}="{_attr(value)}"' for name, value in labels.items() if value != "")
    return f'<untrusted kind="{_attr(kind)}"{attrs}>\n{body}\n</untrusted>'


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit, 0)] + f"…[+{len(text) - limit} chars]"


def _tail(text: str, limit: int) -> str:
    """The last `limit` bytes of a log, from a line start where possible, saying what was cut."""
    data = text.encode()
    if len(data) <= limit:
        return text
    if limit <= 0:
        return f"[log text omitted: {len(data)} bytes]"
    kept = data[-limit:].decode(errors="ignore")
    newline = kept.find("\n")
    if 0 <= newline < len(kept) // 2:
        kept = kept[newline + 1 :]
    return f"[… {len(data) - len(kept.encode())} earlier bytes trimmed]\n{kept}"


def _head(text: str, limit: int) -> str:
    data = text.encode()
    if len(data) <= limit:
        return text
    if limit <= 0:
        return f"[content omitted: {len(data)} bytes]"
    kept = data[:limit].decode(errors="ignore")
    newline = kept.rfind("\n")
    if newline > len(kept) // 2:
        kept = kept[:newline]
    return f"{kept}\n[… {len(data) - len(kept.encode())} more bytes trimmed]"


def _downsample(samples: Sequence[tuple[float, float]], keep: int) -> list[tuple[float, float]]:
    if len(samples) <= keep:
        return list(samples)
    if keep <= 0:
        return []
    if keep == 1:
        return [samples[-1]]
    step = (len(samples) - 1) / (keep - 1)
    return [samples[round(i * step)] for i in range(keep)]


def _known(value: bool | None) -> str:
    return "unknown" if value is None else str(value).lower()


def _num(value: float) -> str:
    return f"{value:.4g}"


# --- sections ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Section:
    title: str
    body: str


class _Renderer:
    def __init__(self, limits: _Limits, redact: Callable[[str], str]) -> None:
        self.limits = limits
        self.redact = redact

    def text(self, value: object, limit: int | None = None) -> str:
        """A single-line untrusted value: redacted, cut, neutralised."""
        raw = self.redact(str(value))
        return _one_line(raw if limit is None else _cut(raw, limit))

    def pairs(self, values: Mapping[str, str], limit: int) -> str:
        """`k=v, ...`; each pair is redacted as one text, so a value is judged by its key too."""
        rendered = []
        for key, value in sorted(values.items()):
            name, _, redacted = self.redact(f"{key}={value}").partition("=")
            rendered.append(f"{_one_line(_cut(name, 120))}={_one_line(_cut(redacted, limit))}")
        return ", ".join(rendered)

    def incident(self, incident: Incident) -> _Section:
        lines = [f"title: {self.text(incident.title, self.limits.alert_text)}", f"source: {incident.source}"]
        if incident.group is not None:
            lines.append(f"alert group status: {incident.group.status}")
        alerts = incident.alerts[: self.limits.alerts]
        for index, alert in enumerate(alerts, start=1):
            lines.append(
                f"alert {index}: status={alert.status} startsAt={alert.startsAt.isoformat()} "
                f"endsAt={alert.endsAt.isoformat()}"
            )
            lines.append(f"  labels: {self.pairs(alert.labels, self.limits.alert_text)}")
            if alert.annotations:
                lines.append(f"  annotations: {self.pairs(alert.annotations, self.limits.alert_text)}")
        if len(incident.alerts) > len(alerts):
            lines.append(f"({len(incident.alerts) - len(alerts)} more alerts not shown)")
        for target in incident.targets:
            container = f" container={self.text(target.container)}" if target.container else ""
            lines.append(f"target named by the alert: {self.text(target.key)}{container}")
        return _Section("Incident and alerts", fence("alert", "\n".join(lines), id=incident.id))

    def container_spec(self, spec: ContainerSpec) -> str:
        parts = [f"container {self.text(spec.name)} image={self.text(spec.image, 300)}"]
        if spec.requests:
            parts.append(f"requests {self.pairs(spec.requests, 40)}")
        if spec.limits:
            parts.append(f"limits {self.pairs(spec.limits, 40)}")
        return " ".join(parts)

    def workload(self, workload: Workload) -> str:
        lines = [
            f"id={_one_line(workload.id)} {workload.ref.kind} {self.text(workload.ref.namespace)}/"
            f"{self.text(workload.ref.name)} revision={workload.revision} generation={workload.generation} "
            f"observed_generation={workload.observed_generation} replicas={workload.replicas} "
            f"updated={workload.updated_replicas} ready={workload.ready_replicas} "
            f"available={workload.available_replicas}"
        ]
        lines += [f"  {self.container_spec(c)}" for c in workload.containers]
        lines += [
            f"  container {self.text(c.name)} reads: {self.text('; '.join(c.config_refs), 400)}"
            for c in workload.containers
            if c.config_refs
        ]
        if workload.labels:
            lines.append(f"  labels: {self.pairs(workload.labels, 120)}")
        if workload.annotations:
            lines.append(f"  annotations: {self.pairs(workload.annotations, self.limits.annotation)}")
        return fence("workload", "\n".join(lines), id=workload.id)

    def revisions(self, observation: Observation) -> str:
        lines = []
        for r in observation.revisions:
            containers = "; ".join(self.container_spec(c) for c in r.containers)
            lines.append(
                f"id={_one_line(r.id)} revision={r.revision} replicas={r.replicas} "
                f"ready={r.ready_replicas} {containers}"
            )
            if r.changes:
                since = f" since revision {r.previous_revision}" if r.previous_revision is not None else ""
                lines += [f"  changed{since}: {self.text(change, 300)}" for change in r.changes[:20]]
        return fence("revisions", "\n".join(lines))

    def pod(self, pod: PodState) -> list[str]:
        lines = [
            f"id={_one_line(pod.id)} owner={self.text(pod.owner) or 'none (bare Pod)'} "
            f"node={self.text(pod.node)} "
            f"phase={self.text(pod.phase)} ready={str(pod.ready).lower()}"
        ]
        kinds = ["init container"] * len(pod.init_containers) + ["container"] * len(pod.containers)
        for kind, c in zip(kinds, [*pod.init_containers, *pod.containers], strict=True):
            state = f"{c.state} {c.state_reason}".strip()
            message = (
                f" message={self.text(c.state_message, self.limits.event_message)}" if c.state_message else ""
            )
            last = ""
            if c.last_state_reason or c.last_exit_code is not None:
                last = f" last_terminated={self.text(c.last_state_reason)} exit_code={c.last_exit_code}"
            if c.last_state_message and self.limits.event_message > 0:
                last += f" last_message={self.text(c.last_state_message, self.limits.event_message)}"
            if c.state_exit_code is not None:
                state += f" exit_code={c.state_exit_code}"
            lines.append(
                f"  {kind} {self.text(c.name)}: {self.text(state)} ready={str(c.ready).lower()} "
                f"restarts={c.restart_count}{last} image={self.text(c.image, 300)}{message}"
            )
        return lines + self.pod_placement(pod)

    def pod_placement(self, pod: PodState) -> list[str]:
        """What a Pending or finished pod adds: the scheduler's message, its claims, exit codes."""
        lines = []
        if pod.scheduling_message:
            limit = self.limits.event_message or 120
            lines.append(f"  scheduler: {self.text(pod.scheduling_message, limit)}")
        if pod.node_selector:
            lines.append(f"  nodeSelector: {self.pairs(pod.node_selector, 120)}")
        if pod.claims:
            lines.append(f"  claims: {', '.join(self.text(c, 120) for c in pod.claims)}")
        exits = [
            f"{self.text(c.name)}={c.state_exit_code}"
            for c in pod.containers
            if c.state_exit_code is not None
        ]
        if exits:
            lines.append(f"  terminated with exit code: {', '.join(exits)}")
        return lines

    def placement(self, observation: Observation) -> list[_Section]:
        """Jobs, the claims pending pods mount, and the nodes."""
        sections = []
        if observation.jobs:
            lines = []
            for job in observation.jobs:
                lines.append(
                    f"id={_one_line(job.id)} Job {self.text(job.namespace)}/{self.text(job.name)} "
                    f"cronjob={self.text(job.cronjob) or '-'} active={job.active} succeeded={job.succeeded} "
                    f"failed={job.failed} completions={job.completions} backoffLimit={job.backoff_limit} "
                    f"activeDeadlineSeconds={job.active_deadline_seconds} "
                    f"argocd_tracking={self.text(job.tracking, 200) or '-'}"
                )
                lines += [f"  {self.container_spec(c)}" for c in job.containers]
                lines += [
                    f"  condition {self.text(c.type)}={self.text(c.status)} reason={self.text(c.reason)}: "
                    f"{self.text(c.message, self.limits.event_message or 80)}"
                    for c in job.conditions
                ]
            sections.append(_Section("Jobs", fence("jobs", "\n".join(lines))))
        if observation.claims:
            lines = [
                f"id={_one_line(c.id)} exists={str(c.exists).lower()} phase={self.text(c.phase)} "
                f"storageClassName={self.text(c.storage_class) or '-'} "
                f"storage_class_exists={_known(c.storage_class_exists)} "
                f"volume={self.text(c.volume) or '-'} requested={self.text(c.requested)} "
                f"accessModes={','.join(self.text(m) for m in c.access_modes)}"
                for c in observation.claims
            ]
            sections.append(_Section("PersistentVolumeClaims", fence("claims", "\n".join(lines))))
        if observation.nodes:
            lines = [
                f"id={_one_line(n.id)} conditions: {self.pairs(n.conditions, 20)} "
                f"unschedulable={str(n.unschedulable).lower()} allocatable: {self.pairs(n.allocatable, 40)} "
                f"taints: {', '.join(self.text(t, 120) for t in n.taints) or '-'} "
                f"labels: {self.pairs(n.labels, 80)}"
                for n in observation.nodes
            ]
            more = "" if observation.nodes_complete else "\n(not every node of the cluster is listed)"
            sections.append(_Section("Nodes", fence("nodes", "\n".join(lines) + more)))
        return sections

    def event(self, event: EventItem) -> str:
        message = ""
        if event.message and self.limits.event_message > 0:
            message = f": {self.text(event.message, self.limits.event_message)}"
        return (
            f"id={_one_line(event.id)} {self.text(event.type)} {self.text(event.reason)} "
            f"{self.text(event.object_kind)}/{self.text(event.object_name)} x{event.count} "
            f"last={self.text(event.last_seen)}{message}"
        )

    def log(self, log: LogExcerpt) -> str:
        body = neutralise(_tail(self.redact(log.text), self.limits.log_bytes).rstrip("\n"))
        return fence(
            "log",
            body,
            id=log.id,
            pod=log.pod,
            container=log.container,
            previous=str(log.previous).lower(),
            truncated="true" if log.truncated else "",
        )

    def argocd(self, app: ArgoApplication) -> str:
        lines = [
            f"id={_one_line(app.id)} application={self.text(app.name)} project={self.text(app.project)} "
            f"sync={self.text(app.sync_status)} health={self.text(app.health_status)} "
            f"revision={self.text(app.revision)} automated={str(app.automated).lower()}"
        ]
        if app.destination_namespace or app.operation_phase:
            lines.append(
                f"  destination namespace={self.text(app.destination_namespace)} "
                f"last sync operation={self.text(app.operation_phase) or 'unknown'}"
            )
        if app.health_message:
            lines.append(
                f"  health message: {self.text(app.health_message, self.limits.event_message or 80)}"
            )
        compact = self.limits.file_bytes or 300
        for source in app.sources:
            lines.append(f"  source: {self.text(json.dumps(source, separators=(',', ':')), compact)}")
        if app.resources:
            lines.append(
                f"  resources: {self.text(json.dumps(app.resources, separators=(',', ':')), compact)}"
            )
        if app.operation_message or app.operation_revision:
            lines.append(
                f"  last sync operation revision={self.text(app.operation_revision)} message: "
                f"{self.text(app.operation_message, self.limits.event_message or 80)}"
            )
        for entry in app.history:
            lines.append(
                f"  deployed: id={self.text(str(entry.get('id')))} "
                f"revision={self.text(str(entry.get('revision')))} "
                f"at={self.text(str(entry.get('deployedAt')))}"
            )
        for condition in app.conditions:
            lines.append(f"  condition: {self.text(condition, self.limits.event_message or 80)}")
        return fence("argocd_application", "\n".join(lines), id=app.id)

    def argocd_diff(self, diff: ArgoResourceDiff) -> str:
        where = f"{self.text(diff.kind)} {self.text(diff.namespace)}/{self.text(diff.name)}"
        if diff.live_missing:
            return f"id={_one_line(diff.id)} {where}: declared in Git, missing from the cluster"
        fields = "; ".join(
            f"{self.text(f.path)} git={self.text(f.desired)} live={self.text(f.live)}" for f in diff.fields
        )
        return f"id={_one_line(diff.id)} {where}: {fields}"

    def argocd_node(self, node: ArgoTreeNode) -> str:
        message = f": {self.text(node.message, self.limits.event_message)}" if node.message else ""
        parent = f" parent={self.text(node.parent)}" if node.parent else ""
        return (
            f"id={_one_line(node.id)} {self.text(node.kind)} {self.text(node.namespace)}/"
            f"{self.text(node.name)} health={self.text(node.health)}{parent}{message}"
        )

    def metric(self, series: MetricSeries) -> str:
        line = f"id={_one_line(series.id)} name={self.text(series.name)} query={self.text(series.query, 300)}"
        if not series.samples:
            return f"{line}\n  no samples"
        values = [v for _, v in series.samples]
        stats = (
            f"  {len(values)} samples from {series.samples[0][0]:.0f} to {series.samples[-1][0]:.0f}: "
            f"min={_num(min(values))} max={_num(max(values))} last={_num(values[-1])}"
        )
        shown = _downsample(series.samples, self.limits.metric_samples)
        if not shown:
            return f"{line}\n{stats}"
        points = " ".join(f"{t:.0f}:{_num(v)}" for t, v in shown)
        label = "samples" if len(shown) == len(series.samples) else f"{len(shown)} of them"
        return f"{line}\n{stats}\n  {label} (unix_ts:value): {points}"

    def gitops_file(self, item: GitOpsFile) -> str:
        body = neutralise(_head(self.redact(item.content), self.limits.file_bytes).rstrip("\n"))
        return fence(
            "gitops_file",
            body,
            id=item.id,
            path=item.path,
            role=item.role,
            application=item.application,
            revision=item.revision,
            truncated="true" if item.truncated else "",
        )

    def observation(self, observation: Observation) -> list[_Section]:
        sections = []
        if observation.workloads:
            sections.append(_Section("Workloads", "\n".join(self.workload(w) for w in observation.workloads)))
        if observation.revisions:
            sections.append(_Section("Revisions (ReplicaSets)", self.revisions(observation)))
        if observation.pods:
            lines = [line for pod in observation.pods for line in self.pod(pod)]
            sections.append(_Section("Pods", fence("pods", "\n".join(lines))))
        if observation.events:
            lines = [self.event(e) for e in observation.events]
            sections.append(
                _Section("Events (warnings first, newest first)", fence("events", "\n".join(lines)))
            )
        if observation.logs:
            sections.append(_Section("Logs", "\n".join(self.log(log) for log in observation.logs)))
        if observation.argocd:
            sections.append(
                _Section("Argo CD applications", "\n".join(self.argocd(a) for a in observation.argocd))
            )
        if observation.argocd_diffs:
            lines = [self.argocd_diff(d) for d in observation.argocd_diffs]
            sections.append(
                _Section("Argo CD: live state that differs from Git", fence("argocd_diffs", "\n".join(lines)))
            )
        if observation.argocd_tree:
            lines = [self.argocd_node(n) for n in observation.argocd_tree]
            sections.append(_Section("Argo CD: unhealthy resources", fence("argocd_tree", "\n".join(lines))))
        if observation.metrics:
            lines = [self.metric(m) for m in observation.metrics]
            sections.append(_Section("Metrics", fence("metrics", "\n".join(lines))))
        if observation.gitops_files:
            files = "\n".join(self.gitops_file(f) for f in observation.gitops_files)
            sections.append(_Section("GitOps files that define the targets", files))
        sections += self.placement(observation)
        if observation.notes:
            notes = "\n".join(self.text(n, 300) for n in observation.notes)
            sections.append(_Section("Notes from observation", fence("notes", notes)))
        return sections

    def similar(self, past: Sequence[PastIncident]) -> list[dict[str, Any]]:
        rendered = []
        limit = self.limits.similar_text
        for entry in past[: self.limits.similar]:
            item = entry.model_dump(mode="json") if isinstance(entry, BaseModel) else dict(entry)
            outcome = str(item.get("outcome", "unknown"))
            rolled_back = outcome == "rolled_back" or item.get("rolled_back_before") is True
            lines = [f"title: {self.text(item.get('title', ''), limit)}"]
            for key in ("workload", "root_cause", "summary"):
                if item.get(key):
                    lines.append(f"{key}: {self.text(item[key], limit)}")
            actions = item.get("actions") or []
            text = (
                actions
                if isinstance(actions, str)
                else json.dumps(actions, separators=(",", ":"), default=str)
            )
            lines.append(f"actions: {self.text(text, limit)}")
            lines.append(f"outcome: {self.text(outcome, 40)}")
            if item.get("reason"):
                lines.append(f"outcome reason: {self.text(item['reason'], limit)}")
            past_id = item.get("incident_id") or item.get("id")
            rendered.append(
                {
                    "outcome": _one_line(_cut(outcome, 40)),
                    "rolled_back": rolled_back,
                    "block": fence(
                        "past_incident", "\n".join(lines), **({"id": str(past_id)} if past_id else {})
                    ),
                }
            )
        return rendered


# --- rendering --------------------------------------------------------------------------------------


def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(PROMPTS_DIR)),
        undefined=StrictUndefined,
        autoescape=False,  # plain-text prompts; untrusted text is neutralised by `fence` callers
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


_ENV = _environment()


def _trimmed_notes(limits: _Limits, observation: Observation) -> tuple[str, ...]:
    notes = []
    if limits.log_bytes < _FULL.log_bytes and observation.logs:
        notes.append(f"log excerpts keep their last {limits.log_bytes} bytes")
    if limits.file_bytes < _FULL.file_bytes and observation.gitops_files:
        notes.append(f"GitOps files keep their first {limits.file_bytes} bytes")
    if limits.event_message < _FULL.event_message and observation.events:
        notes.append(
            f"event messages cut to {limits.event_message} characters"
            if limits.event_message
            else "event messages omitted"
        )
    if limits.metric_samples < _FULL.metric_samples and observation.metrics:
        notes.append(f"metric series downsampled to {limits.metric_samples} samples")
    if limits.alerts < _FULL.alerts:
        notes.append("alerts and past incidents shortened")
    return tuple(notes)


def _size(system: str, user: str) -> int:
    return len(system.encode()) + len(user.encode())


def _render_within_budget(
    system_template: str,
    user_template: str,
    context: Callable[[_Renderer], dict[str, Any]],
    observation: Observation,
    redact: Callable[[str], str],
    budget_bytes: int,
    tool_name: str,
) -> RenderedPrompt:
    system_context = {
        "tool_name": tool_name,
        "root_causes": ROOT_CAUSES,
        "action_kinds": {kind: ACTION_FIELDS[kind] for kind in ACTION_KINDS},
    }
    system = _ENV.get_template(system_template).render(**system_context)
    size = 0
    for limits in _STEPS:
        renderer = _Renderer(limits, redact)
        trimmed = _trimmed_notes(limits, observation)
        user = _ENV.get_template(user_template).render(
            tool_name=tool_name, trimmed=trimmed, **context(renderer)
        )
        size = _size(system, user)
        if size <= budget_bytes:
            return RenderedPrompt(system=system, user=user, size_bytes=size, trimmed=trimmed)
    raise PromptTooLarge(size, budget_bytes)


def render_prompt(
    incident: Incident,
    observation: Observation,
    similar: Sequence[PastIncident] = (),
    *,
    redact: Callable[[str], str] | None = None,
    budget_bytes: int = PROMPT_BUDGET_BYTES,
) -> RenderedPrompt:
    """The analysis prompt for one incident, within `budget_bytes` (system + user, UTF-8).

    `similar`: past incidents, most similar first (`domain.incident.memory.SimilarIncident`s, or mappings with
    `title`, `root_cause`, `actions`, `outcome`, optionally `incident_id`, `summary`, `reason`,
    `rolled_back_before`); a fix that was rolled back is flagged in trusted text.
    `redact`: applied to every untrusted value before it is rendered; defaults to
    `domain.redaction.text.redact_text` (defence in depth: observe redacts first). Item ids are not redacted.
    Every observed item's id is in the prompt whatever is trimmed. Raises `PromptTooLarge` only when
    even the most compact rendering does not fit.
    """
    clean = redact or redact_text

    def context(renderer: _Renderer) -> dict[str, Any]:
        return {
            "incident_id": _one_line(incident.id),
            "source": incident.source,
            "sections": [renderer.incident(incident), *renderer.observation(observation)],
            "similar": renderer.similar(similar),
        }

    return _render_within_budget(
        "system.md.j2", "user.md.j2", context, observation, clean, budget_bytes, DIAGNOSIS_TOOL_NAME
    )


def render_review_prompt(
    incident: Incident,
    observation: Observation,
    diagnosis: Diagnosis,
    *,
    redact: Callable[[str], str] | None = None,
    budget_bytes: int = PROMPT_BUDGET_BYTES,
) -> RenderedPrompt:
    """The second-opinion prompt: the same fenced observation plus the proposed diagnosis (also
    fenced: it was written by a model that read untrusted text)."""
    clean = redact or redact_text
    proposal = json.dumps(diagnosis.model_dump(mode="json", exclude={"analyzer"}), indent=1)

    def context(renderer: _Renderer) -> dict[str, Any]:
        return {
            "incident_id": _one_line(incident.id),
            "source": incident.source,
            "sections": [renderer.incident(incident), *renderer.observation(observation)],
            "proposal": fence("proposed_diagnosis", neutralise(proposal), analyzer=diagnosis.analyzer),
        }

    return _render_within_budget(
        "review_system.md.j2",
        "review_user.md.j2",
        context,
        observation,
        clean,
        budget_bytes,
        REVIEW_TOOL_NAME,
    )


__all__ = [
    "ACTION_FIELDS",
    "PROMPT_BUDGET_BYTES",
    "ROOT_CAUSES",
    "RenderedPrompt",
    "fence",
    "neutralise",
    "render_prompt",
    "render_review_prompt",
]
