"""Store rows shaped for the console's pages and the JSON API. No I/O.

Stored documents (alert group, diagnosis, plan, policy decision, observation) are validated back
into their domain models; a document that no longer validates (written by an older medic) is
shown as it is rather than failing the page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote

from markupsafe import Markup, escape
from pydantic import BaseModel, ValidationError

from domain.analysis.plan import Action, Diagnosis, Plan, next_steps_of
from domain.analysis.plan_diff import ActionDiff, plan_diffs
from domain.incident.model import OUTCOMES
from domain.kube.observation import Observation
from domain.policy.approval import approval_refusal, identity_key
from domain.policy.decision import PolicyDecision
from domain.review.plan_impact import PlanImpact, plan_impact
from domain.steps.remediation import WorkflowStatus
from store.models import Approval, AuditEvent, ChangeReview, Incident

# What the incident row's `status` holds: the steps the workflow records, then the outcome.
STATUSES: tuple[str, ...] = (
    "received",
    "observing",
    "validated",
    "awaiting_approval",
    "awaiting_merge",  # GitOps mode: a pull request waits for its merge
    *OUTCOMES,
)
RISKS: tuple[str, ...] = ("low", "medium", "high", "deny")
AUDIT_STATUSES: tuple[str, ...] = (
    "started",
    "completed",
    "failed",
    "skipped",
    "passed",
    "approve",
    "reject",
    "expired",
    "cancelled",
    "info",
    *OUTCOMES,
)

M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], document: Any) -> M | None:
    if not document:
        return None
    try:
        return model.model_validate(document)
    except ValidationError:
        return None


def anchor(item_id: str) -> str:
    """The element id of an observation item on the incident page (`item-<item id>`)."""
    return "item-" + re.sub(r"\s", "_", item_id)


_CODE_SPAN = re.compile(r"`([^`\n]+)`")


def code_spans(text: str) -> Markup:
    """Display text with its `backticked` spans (a next step's read-only command) as <code>; the
    rest escaped like any other text."""
    escaped = str(escape(text))
    return Markup(_CODE_SPAN.sub(lambda m: f"<code>{m.group(1)}</code>", escaped))


def timestamp(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ") if value else ""


def age(value: datetime | None, now: datetime | None = None) -> str:
    if value is None:
        return ""
    seconds = int(((now or datetime.now(UTC)) - value).total_seconds())
    if seconds < 60:
        return f"{max(seconds, 0)}s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if days:
        return f"{days}d {hours % 24}h"
    if hours:
        return f"{hours}h {minutes % 60}m"
    return f"{minutes}m"


def duration(ms: int | None) -> str:
    if ms is None:
        return ""
    if ms < 1000:
        return f"{ms} ms"
    seconds = ms / 1000
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)}m {int(seconds % 60)}s"


def compact(detail: Any, limit: int = 300) -> str:
    text = json.dumps(detail, separators=(", ", ": "), default=str, ensure_ascii=False) if detail else ""
    return text if len(text) <= limit else text[:limit] + "…"


def sparkline(samples: Sequence[Sequence[float]], width: int = 160, height: int = 28) -> str:
    """SVG polyline points for a metric series, scaled into width × height."""
    values = [float(s[1]) for s in samples if len(s) >= 2]
    if len(values) < 2:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = width / (len(values) - 1)
    return " ".join(
        f"{i * step:.1f},{height - 2 - (v - low) / span * (height - 4):.1f}" for i, v in enumerate(values)
    )


def incident_row(incident: Incident, now: datetime | None = None) -> dict[str, Any]:
    """The list columns of an incident (also the JSON API's list entries)."""
    return {
        "id": incident.id,
        "title": incident.title,
        "status": incident.status,
        "outcome": incident.outcome,
        "risk": incident.risk,
        "root_cause": incident.root_cause,
        "namespace": incident.namespace,
        "target": incident.target,
        "summary": incident.summary,
        "reason": incident.reason,
        "model_unusable": incident.model_unusable,
        "plan_hash": incident.plan_hash,
        "created_at": incident.created_at,
        "updated_at": incident.updated_at,
        "closed_at": incident.closed_at,
        "age": age(incident.created_at, now),
    }


@dataclass(frozen=True)
class ModelBanner:
    """The banner every console page shows while the latest analysis found the model unusable."""

    incident_id: str
    reason: str
    at: datetime


def model_banner(incident: Incident | None) -> ModelBanner | None:
    if incident is None or not incident.model_unusable:
        return None
    return ModelBanner(incident_id=incident.id, reason=incident.model_unusable, at=incident.created_at)


def approval_row(approval: Approval) -> dict[str, Any]:
    return {
        "approver": approval.approver,
        "decision": approval.decision,
        "reason": approval.reason,
        "plan_hash": approval.plan_hash,
        "via": approval.via,
        "decided_at": approval.decided_at,
    }


def audit_row(event: AuditEvent) -> dict[str, Any]:
    return {
        "incident_id": event.incident_id,
        "seq": event.seq,
        "step": event.step,
        "status": event.status,
        "actor": event.actor,
        "plan_hash": event.plan_hash,
        "duration_ms": event.duration_ms,
        "occurred_at": event.occurred_at,
        "detail": event.detail,
    }


@dataclass
class IncidentDetail:
    """Everything the incident page shows, from the store alone."""

    row: dict[str, Any]
    alert_group: dict[str, Any] | None
    alerts: list[dict[str, Any]]
    diagnosis: Diagnosis | None
    plan: Plan | None
    diffs: list[ActionDiff]
    policy: PolicyDecision | None
    observation: Observation | None
    evidence: list[dict[str, Any]]
    approvals: list[dict[str, Any]]
    audit: list[dict[str, Any]]
    raw: dict[str, Any] = field(default_factory=dict)
    # GitOps mode: the file changes (the fix, then a revert) with their diffs, and the pull
    # requests as last recorded, from the audit trail
    gitops_changes: list[dict[str, Any]] = field(default_factory=list)
    pull_requests: list[dict[str, Any]] = field(default_factory=list)
    # The plan's monthly cost delta and downtime and rollback findings, shown beside the decision
    impact: PlanImpact | None = None

    @property
    def next_steps(self) -> list[str]:
        """What the diagnosis tells a human to do next; [] for a record made before diagnoses
        carried next steps."""
        return next_steps_of(self.diagnosis if self.diagnosis is not None else self.raw.get("diagnosis"))

    @property
    def awaiting(self) -> bool:
        return self.row["status"] == "awaiting_approval"

    @property
    def sentence(self) -> str:
        """The plan in one sentence, as the decision panel states it (`plan_sentence`)."""
        return plan_sentence(self.plan, self.diffs, self.gitops_changes, self.pull_requests)

    @property
    def change(self) -> dict[str, Any] | None:
        """The GitOps change being decided on: the latest recorded (a revert follows its fix)."""
        return self.gitops_changes[-1] if self.gitops_changes else None

    @property
    def change_pull_requests(self) -> list[dict[str, Any]]:
        """The pull requests of the change being decided on (`change`)."""
        change = self.change
        kind = change["kind"] if change else "fix"
        return [pr for pr in self.pull_requests if pr.get("kind", "fix") == kind]

    @property
    def approvals_given(self) -> list[dict[str, Any]]:
        """The approvals of the plan now decided on (its hash), in the order given."""
        plan_hash = self.row["plan_hash"]
        return [a for a in self.approvals if a["decision"] == "approve" and a["plan_hash"] == plan_hash]

    @property
    def approvals_required(self) -> int:
        return max(self.policy.approvals_required, 1) if self.policy else 1

    def with_live(self, status: WorkflowStatus | None) -> IncidentDetail:
        """This incident as its workflow says it is now (the `status` query), where the store has
        not caught up yet: the step the workflow is at, and decisions it took that the store has
        not recorded. `status` None (not asked, or no answer) leaves the store's view."""
        if status is None or status.incident_id != self.row["id"]:
            return self
        row = dict(self.row)
        if row["outcome"] is None:
            row["status"] = status.outcome or status.step
        if status.plan_hash:
            row["plan_hash"] = status.plan_hash
        known = {(identity_key(a["approver"]), a["plan_hash"]) for a in self.approvals}
        approvals = list(self.approvals) + [
            {
                "approver": a.approver,
                "decision": a.decision,
                "reason": a.reason,
                "plan_hash": a.plan_hash,
                "via": a.via,
                "decided_at": a.at,
            }
            for a in status.approvals
            if (identity_key(a.approver), a.plan_hash) not in known
        ]
        return replace(self, row=row, approvals=approvals)

    def refusal_for(self, name: str, groups: Sequence[str]) -> str | None:
        """Why this user cannot decide now, as far as the store can tell; None when they can.

        The workflow has the last word (its `decide` validator): this only spares a click.
        """
        if not self.awaiting:
            return f"incident is not waiting for approval (status: {self.row['status']})"
        plan_hash = self.row["plan_hash"]
        key = identity_key(name)
        if any(identity_key(a["approver"]) == key and a["plan_hash"] == plan_hash for a in self.approvals):
            return f"{name} has already decided on this plan"
        return approval_refusal(self.policy.approvers if self.policy else None, name, list(groups))

    def as_json(self) -> dict[str, Any]:
        return {
            **self.row,
            "alert_group": self.alert_group,
            "diagnosis": self.raw.get("diagnosis"),
            "plan": self.raw.get("plan"),
            "plan_diff": [d.model_dump(mode="json") for d in self.diffs],
            "policy_decision": self.raw.get("policy_decision"),
            "observation": self.raw.get("observation"),
            "approvals": self.approvals,
            "audit": self.audit,
            "gitops_changes": self.gitops_changes,
            "pull_requests": self.pull_requests,
            "impact": self.impact.model_dump(mode="json") if self.impact else None,
        }


def _target_words(action: Action) -> str:
    target = action.target
    words = f"{target.namespace}/{target.kind}/{target.name}"
    return words + (f" (container {target.container})" if target.container else "")


def _action_words(action: Action, diff: ActionDiff | None) -> str:
    """What one action does, from → to where the observation tells the "from"."""
    target = _target_words(action)
    change = diff.summary if diff is not None else ""
    if action.kind in ("set_resources", "set_image", "scale"):
        return f"change {change or action.kind} of {target}"
    if action.kind == "rollback_revision":
        return f"roll {target} back ({change or f'to revision {action.revision}'})"
    if action.kind == "restart":
        return f"restart every pod of {target}"
    if action.kind == "sync_application":
        return f"sync Argo CD application {action.application}"
    if action.kind == "revert_deploy":
        return (
            f"revert the deploy of Argo CD application {action.application} "
            f"({action.previous_revision[:12]} → {action.revision[:12]})"
        )
    return f"{action.kind} on {target}"


def plan_sentence(
    plan: Plan | None,
    diffs: Sequence[ActionDiff],
    changes: Sequence[dict[str, Any]] = (),
    pull_requests: Sequence[dict[str, Any]] = (),
) -> str:
    """The plan in one sentence: what each action changes (from → to where observed), and how —
    a pull request against the GitOps files it edits, or directly in the cluster.

    E.g. "Change memory limit 128Mi → 256Mi of shop/Deployment/cart (container cart), directly
    in the cluster." An empty plan says so."""
    if plan is None or not plan.actions:
        return "No change is planned."
    by_index = {d.index: d for d in diffs}
    words = "; then ".join(_action_words(a, by_index.get(i)) for i, a in enumerate(plan.actions))
    if any(a.mode == "gitops" for a in plan.actions):
        files = [str(f.get("path")) for f in (changes[-1]["files"] if changes else []) if f.get("path")]
        files = files or sorted({a.file for a in plan.actions if a.file})
        kind = changes[-1]["kind"] if changes else "fix"
        opened = [pr for pr in pull_requests if pr.get("kind", "fix") == kind and pr.get("number")]
        how = f"pull request #{opened[-1]['number']}" if opened else "a pull request"
        how = f"by {how}" + (f" against {', '.join(files)}" if files else " against the GitOps repository")
    else:
        how = "directly in the cluster"
    return f"{words[0].upper()}{words[1:]}, {how}."


# Audit steps that record a GitOps change (its `files` with diffs) or a pull request's state.
_CHANGE_STEPS = ("preparing_change", "reverting")
_PR_STEPS = ("opening_pull_request", "merging")


def gitops_records(audit: Sequence[AuditEvent]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The GitOps changes (each with `kind`, `base`, `base_commit`, `files` of path, description
    and diff) and the pull requests (by number, the latest state recorded) an audit trail holds."""
    changes: list[dict[str, Any]] = []
    prs: dict[int, dict[str, Any]] = {}
    for event in audit:
        detail = event.detail or {}
        if event.step in _CHANGE_STEPS and event.status == "completed" and detail.get("files"):
            changes.append(
                {
                    "kind": detail.get("kind", "fix"),
                    "base": detail.get("base", ""),
                    "base_commit": detail.get("base_commit", ""),
                    "files": list(detail.get("files") or []),
                }
            )
        elif event.step in _PR_STEPS and event.status == "completed" and detail.get("number"):
            prs[int(detail["number"])] = dict(detail)
        elif event.step == "awaiting_merge" and detail.get("number") and int(detail["number"]) in prs:
            pr = prs[int(detail["number"])]
            if event.status == "completed":
                pr.update(status="merged", merge_commit=detail.get("merge_commit"), merged_by=event.actor)
            elif event.status == "cancelled":
                pr.update(status="closed", closed_by=event.actor)
    return changes, list(prs.values())


def impact_of(policy_decision: Any, plan: Plan | None, observation: Observation | None) -> PlanImpact | None:
    """The impact validate recorded with the policy decision; for a record made before impacts
    were recorded, the same review of the stored plan and observation (pure, no I/O)."""
    stored = policy_decision.get("impact") if isinstance(policy_decision, dict) else None
    if stored:
        return parse(PlanImpact, stored)
    if plan is None or not plan.actions or observation is None:
        return None
    return plan_impact(plan, observation)


def incident_detail(
    incident: Incident,
    approvals: Sequence[Approval],
    audit: Sequence[AuditEvent],
    now: datetime | None = None,
) -> IncidentDetail:
    diagnosis = parse(Diagnosis, incident.diagnosis)
    plan = parse(Plan, incident.plan) or (diagnosis.plan if diagnosis else None)
    observation = parse(Observation, incident.observation)
    observed = observation.item_ids() if observation else set()
    evidence = [
        {"item_id": e.item_id, "note": e.note, "anchor": anchor(e.item_id), "observed": e.item_id in observed}
        for e in (diagnosis.evidence if diagnosis else [])
    ]
    group = incident.alert_group or None
    alerts = list((group or {}).get("alerts") or [])
    changes, pull_requests = gitops_records(audit)
    return IncidentDetail(
        impact=impact_of(incident.policy_decision, plan, observation),
        row=incident_row(incident, now),
        alert_group=group,
        alerts=alerts,
        diagnosis=diagnosis,
        plan=plan,
        diffs=plan_diffs(plan, observation, incident.id) if plan else [],
        policy=parse(PolicyDecision, incident.policy_decision),
        observation=observation,
        evidence=evidence,
        approvals=[approval_row(a) for a in approvals],
        audit=[audit_row(e) for e in audit],
        gitops_changes=changes,
        pull_requests=pull_requests,
        raw={
            "diagnosis": incident.diagnosis,
            "plan": incident.plan,
            "policy_decision": incident.policy_decision,
            "observation": incident.observation,
        },
    )


# ---- change reviews ---------------------------------------------------------------------------------

# What a change review row's `decision` and `state` hold (store.models.ChangeReview).
REVIEW_DECISIONS: tuple[str, ...] = ("allow", "warn", "deny")
REVIEW_STATES: tuple[str, ...] = ("reviewed", "superseded", "failed", "no_applications")
SHORT_SHA = 7


def review_path(key: str) -> str:
    """The console page of review `key`: the key quoted whole, so its `/` and `@` survive."""
    return "/console/reviews/" + quote(key, safe="")


def money(value: float | None) -> str:
    """A monthly cost delta as the review comment writes it: `+$12.00/month`."""
    amount = float(value or 0.0)
    return f"{'+' if amount >= 0 else '-'}${abs(amount):,.2f}/month"


def usd(value: Any) -> str:
    """A monthly price, `$13.08`; `-` for none (an object that is not there on that side)."""
    return f"${float(value):,.2f}" if isinstance(value, int | float) else "-"


def review_row(review: ChangeReview, now: datetime | None = None) -> dict[str, Any]:
    """The list columns of a change review (also the JSON API's list entries)."""
    return {
        "key": review.key,
        "url": review_path(review.key),
        "workflow_id": review.workflow_id,
        "host": review.host,
        "repository": review.repository,
        "number": review.number,
        "head_ref": review.head_ref,
        # what the reviewed change is called on its host: the pull request, or the local branch
        "change": f"#{review.number}" if review.number else review.head_ref,
        "head_sha": review.head_sha,
        "head_short": review.head_sha[:SHORT_SHA],
        "base_sha": review.base_sha,
        "state": review.state,
        "risk": review.risk,
        "decision": review.decision,
        "monthly_delta_usd": review.monthly_delta_usd,
        "monthly_delta": money(review.monthly_delta_usd),
        "objects_changed": review.objects_changed,
        "summary": review.summary,
        "created_at": review.created_at,
        "updated_at": review.updated_at,
        "age": age(review.created_at, now),
    }


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _texts(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


@dataclass
class ReviewDetail:
    """Everything a review's page shows, from its row and its stored report (`to_json` and the
    comment's parts); a report written by an older medic, or none, shows what it has."""

    row: dict[str, Any]
    policy: dict[str, Any] | None
    denials: list[str]
    warnings: list[str]
    reasons: list[str]
    findings: list[dict[str, Any]]
    cost: dict[str, Any]
    rollout: list[str]
    rollback: str
    applications: list[dict[str, Any]]
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def severities(self) -> dict[str, int]:
        """How many findings of each severity, in the order first seen."""
        counts: dict[str, int] = {}
        for finding in self.findings:
            severity = str(finding.get("severity") or "")
            counts[severity] = counts.get(severity, 0) + 1
        return counts

    @property
    def objects(self) -> int:
        return sum(len(a["objects"]) for a in self.applications)

    def as_json(self) -> dict[str, Any]:
        """The row and the report without its comment (the comment is the same review in
        Markdown, up to hundreds of kilobytes)."""
        report = {k: v for k, v in self.report.items() if k != "comment"}
        return {**report, **self.row, "comment_parts": len(_texts(self.report.get("comment")))}


def review_detail(review: ChangeReview, report: dict[str, Any], now: datetime | None = None) -> ReviewDetail:
    """`report` is `store.reviews.report_of(review)`."""
    policy = report.get("policy") if isinstance(report.get("policy"), dict) else None
    stored_cost = report.get("cost")
    cost: dict[str, Any] = stored_cost if isinstance(stored_cost, dict) else {}
    applications = [
        {"name": str(a.get("name") or ""), "objects": _dicts(a.get("objects"))}
        for a in _dicts(report.get("applications"))
    ]
    findings = []
    for f in _dicts(report.get("findings")):
        target = f.get("object")
        ref = target.get("ref") if isinstance(target, dict) else target
        findings.append({**f, "ref": str(ref or "")})
    return ReviewDetail(
        row=review_row(review, now),
        policy=policy,
        denials=_texts((policy or {}).get("denials")),
        warnings=_texts((policy or {}).get("warnings")),
        reasons=_texts(report.get("reasons")),
        findings=findings,
        cost={
            "monthly_delta": money(cost.get("monthly_delta_usd", review.monthly_delta_usd)),
            "basis": str(cost.get("basis") or ""),
            "objects": _dicts(cost.get("objects")),
        },
        rollout=_texts(report.get("rollout")),
        rollback=str(report.get("rollback") or ""),
        applications=applications,
        report=report,
    )
