"""What the console's deploy pages show of a `deployment` row: the list's columns, and one watch's
page — the workloads watched and why, each workload's signals before and after the sync, the rules
that fired with their numbers, the commits. Read from the row's figures JSON as the watch wrote it
(`activities.deploy.watch`); a row from an older medic, or one still watching, shows what it has.
Nothing here is markup: the templates escape every value."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from gateway.views import SHORT_SHA, age
from store.deployments import deployment_fields, figures_of
from store.models import Deployment

# The signals of a workload, in the order the page shows them, with how each is written.
SIGNALS: tuple[tuple[str, str], ...] = (
    ("request_rate", "req/s"),
    ("error_ratio", "errors"),
    ("p99_ms", "p99"),
    ("restarts", "restarts"),
    ("ready_ratio", "ready"),
    ("oom_kills", "OOM kills"),
)


def deploy_path(watch_id: str) -> str:
    """The console page of watch `watch_id` (`deploy/<ns>/<app>/<rev12>`): quoted whole."""
    return "/console/deploys/" + quote(watch_id, safe="")


def signal(name: str, value: Any) -> str:
    """One signal's value as read: a ratio in percent, a latency in ms, "-" for no data."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "-"
    if name in ("error_ratio", "ready_ratio"):
        return f"{value * 100:.2f}%"
    if name == "p99_ms":
        return f"{value:.0f} ms"
    if name == "request_rate":
        return f"{value:.2f}"
    return f"{value:g}"


def deploy_row(row: Deployment, now: datetime | None = None) -> dict[str, Any]:
    """The list columns of a deploy watch."""
    return {
        **deployment_fields(row),
        "url": deploy_path(row.watch_id),
        "revision_short": row.revision[:SHORT_SHA],
        "age": age(row.started_at, now),
    }


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _label(workload: Any) -> str:
    w = _dict(workload)
    return f"{w.get('namespace', '')}/{w.get('kind', '')}/{w.get('name', '')}" if w else ""


@dataclass
class DeployDetail:
    row: dict[str, Any]
    commits: list[str] = field(default_factory=list)
    # the workloads watched, each with why ("" when the watch took every workload)
    watched: list[tuple[str, str]] = field(default_factory=list)
    note: str = ""
    health: str = ""
    fired: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # per workload: its label, its state, and (signal label, before, after) rows
    figures: list[dict[str, Any]] = field(default_factory=list)
    # other objects the revision changed
    others: list[str] = field(default_factory=list)


def deploy_detail(row: Deployment, now: datetime | None = None) -> DeployDetail:
    figures = figures_of(row)
    watch, verdict = _dict(figures.get("watch")), _dict(figures.get("verdict"))
    reasons = _dict(watch.get("changed"))
    labels = [str(w) for w in _list(figures.get("workloads"))] or [str(k) for k in reasons]
    watched = [(label, "; ".join(str(r) for r in _list(reasons.get(label)))) for label in labels]
    per_workload = []
    for item in _list(verdict.get("figures")):
        item = _dict(item)
        before, after = _dict(item.get("baseline")), _dict(item.get("after"))
        per_workload.append(
            {
                "workload": _label(item.get("workload")),
                "state": str(item.get("state") or ""),
                "signals": [
                    (title, signal(name, before.get(name)), signal(name, after.get(name)))
                    for name, title in SIGNALS
                ],
            }
        )
    fired = []
    for rule in _list(verdict.get("fired")):
        rule = _dict(rule)
        fired.append(
            {
                "rule": str(rule.get("rule") or ""),
                "workload": _label(rule.get("workload")) or "the Application",
                "baseline": rule.get("baseline"),
                "observed": rule.get("observed"),
                "threshold": str(rule.get("threshold") or ""),
                "message": str(rule.get("message") or ""),
            }
        )
    return DeployDetail(
        row=deploy_row(row, now),
        commits=[str(c) for c in _list(figures.get("commits"))],
        watched=watched,
        note=str(watch.get("note") or ""),
        health=str(verdict.get("health") or ""),
        fired=fired,
        notes=[str(n) for n in _list(verdict.get("notes"))],
        figures=per_workload,
        others=[str(o) for o in _list(watch.get("others"))],
    )
