"""The decision of a deploy watch: the window after a sync against the window before it.

`judge` decides on the whole analysis window: every workload the deploy changed is compared with
its own baseline by each rule of `WatchRules` (see its docstring), and the Application's Argo CD
health is checked. `judge_sample` decides early, at any sample inside the window, on the rules
that need no aggregate: Degraded health, a crash loop and an OOM kill. Restart and OOM counts only
grow during the window, so a sample that shows one would also show it at the window's end; the
error ratio, latency and readiness wait for the window's aggregate, where a moment's noise
averages out.

A rule judges only on data: when either side of its comparison has none, it does not fire and the
verdict's notes say what went unjudged (restart and OOM counts are the exception: no count before
the sync is taken as zero, since a workload the deploy created had none). Thresholds are "at
least": a value equal to its threshold fires. A verdict is degraded when any rule fired, healthy
when none did and at least one rule could judge a workload, and inconclusive when none could.
The result is deterministic: workloads are taken in sorted order and fired rules are listed worst
first (health, crash loop, OOM, error ratio, latency, readiness; then the larger change).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from domain.deploy.model import (
    DeployEvent,
    FiredRule,
    RuleName,
    Signals,
    Verdict,
    VerdictState,
    WatchRules,
    WorkloadFigures,
    WorkloadRef,
)

__all__ = ["DEGRADED_HEALTH", "judge", "judge_sample"]

DEGRADED_HEALTH = "Degraded"
# "At least" is meant in decimal: 3 × 0.004 is 0.012 to the reader, whatever the float says.
_ROUNDING = 1e-9
_SEVERITY: dict[RuleName, int] = {
    "health_degraded": 0,
    "crash_loop": 1,
    "oom_kill": 2,
    "error_ratio": 3,
    "p99_latency": 4,
    "readiness": 5,
}
# The revision as a deploy's one-line summary shows it (git's short form).
_SHORT_REVISION = 7


def judge(
    baseline: Mapping[WorkloadRef, Signals],
    after: Mapping[WorkloadRef, Signals],
    rules: WatchRules,
    health: str = "Healthy",
    *,
    deploy: DeployEvent | None = None,
) -> Verdict:
    """The verdict on a deploy at the end of its analysis window: `baseline` holds each changed
    workload's signals over the window before the sync, `after` over the window after it, and
    `health` is the Application's Argo CD health at the end. A workload in only one of the two is
    judged on what there is. `deploy`, when given, names the deploy in the summary."""
    return _judge(baseline, after, rules, health, deploy, window=True)


def judge_sample(
    baseline: Mapping[WorkloadRef, Signals],
    so_far: Mapping[WorkloadRef, Signals],
    rules: WatchRules,
    health: str = "Healthy",
    *,
    deploy: DeployEvent | None = None,
) -> Verdict | None:
    """A degraded verdict at a sample inside the analysis window, or None to keep watching.

    `so_far` holds each workload's signals from the sync to this sample; only Degraded health, a
    crash loop and an OOM kill are judged (the other rules wait for `judge` on the whole window).
    """
    verdict = _judge(baseline, so_far, rules, health, deploy, window=False)
    return verdict if verdict.state == "degraded" else None


# --- one workload ----------------------------------------------------------------------------


@dataclass
class _Outcome:
    fired: list[FiredRule] = field(default_factory=list)
    judged: int = 0  # rules that had the data to judge
    unjudged: list[str] = field(default_factory=list)  # rules that had not
    notes: list[str] = field(default_factory=list)

    @property
    def state(self) -> VerdictState:
        return "degraded" if self.fired else "healthy" if self.judged else "inconclusive"


def _workload(
    ref: WorkloadRef, before: Signals | None, after: Signals | None, rules: WatchRules, *, window: bool
) -> _Outcome:
    out = _Outcome()
    if after is None or after.empty:
        out.notes.append(f"no signals for {ref.label} after the sync")
        return out
    _crash_loop(out, ref, before, after, rules)
    _oom_kill(out, ref, before, after, rules)
    if window:
        if _enough_traffic(out, ref, after, rules):
            _error_ratio(out, ref, before, after, rules)
            _p99(out, ref, before, after, rules)
        _readiness(out, ref, before, after, rules)
    if out.unjudged:
        out.notes.append(f"no data to judge {', '.join(out.unjudged)} of {ref.label}")
    return out


def _crash_loop(
    out: _Outcome, ref: WorkloadRef, before: Signals | None, after: Signals, rules: WatchRules
) -> None:
    _increase(
        out,
        ref,
        before,
        after,
        rules,
        field="restarts",
        rule="crash_loop",
        least=rules.crash_loop_restarts,
        threshold=f"at least {rules.crash_loop_restarts} more restarts",
        what="container restarts",
        unjudged="restarts",
    )


def _oom_kill(
    out: _Outcome, ref: WorkloadRef, before: Signals | None, after: Signals, rules: WatchRules
) -> None:
    plural = "s" if rules.oom_kills != 1 else ""
    _increase(
        out,
        ref,
        before,
        after,
        rules,
        field="oom_kills",
        rule="oom_kill",
        least=rules.oom_kills,
        threshold=f"at least {rules.oom_kills} more OOM kill{plural}",
        what="OOM kills",
        unjudged="OOM kills",
    )


def _increase(
    out: _Outcome,
    ref: WorkloadRef,
    before: Signals | None,
    after: Signals,
    rules: WatchRules,
    *,
    field: str,
    rule: RuleName,
    least: float,
    threshold: str,
    what: str,
    unjudged: str,
) -> None:
    """A count that grew by at least `least` since the baseline (none before counts as zero)."""
    now: float | None = getattr(after, field)
    if now is None:
        out.unjudged.append(unjudged)
        return
    out.judged += 1
    earlier = getattr(before, field) if before is not None else None
    was = earlier if earlier is not None else 0.0
    if _at_least(now - was, least):
        out.fired.append(
            FiredRule(
                rule=rule,
                workload=ref,
                baseline=was,
                observed=now,
                threshold=threshold,
                message=(
                    f"{_count(now)} {what} after the sync vs {_count(was)} in the "
                    f"{_duration(rules.baseline_window_seconds)} before (rule: {threshold})"
                ),
            )
        )


def _enough_traffic(out: _Outcome, ref: WorkloadRef, after: Signals, rules: WatchRules) -> bool:
    if after.error_ratio is None and after.p99_ms is None:
        out.unjudged += ["error ratio", "p99 latency"]
        return False
    if after.request_rate is None:
        out.notes.append(f"no request rate for {ref.label}: error ratio / latency not judged")
        return False
    if not _at_least(after.request_rate, rules.min_request_rate):
        out.notes.append(
            f"too little traffic to judge error ratio / latency of {ref.label} "
            f"({after.request_rate:g} req/s; the floor is {rules.min_request_rate:g} req/s)"
        )
        return False
    return True


def _error_ratio(
    out: _Outcome, ref: WorkloadRef, before: Signals | None, after: Signals, rules: WatchRules
) -> None:
    was = before.error_ratio if before is not None else None
    now = after.error_ratio
    if was is None or now is None:
        out.unjudged.append("error ratio")
        return
    out.judged += 1
    if _at_least(now, rules.error_ratio_factor * was) and _at_least(now, rules.error_ratio_min):
        threshold = f"≥{rules.error_ratio_factor:g}× and ≥{_percent(rules.error_ratio_min)}"
        out.fired.append(
            FiredRule(
                rule="error_ratio",
                workload=ref,
                baseline=was,
                observed=now,
                threshold=threshold,
                message=(
                    f"error ratio {_percent(now)} vs {_percent(was)} before "
                    f"({_times(now, was)}rule: {threshold})"
                ),
            )
        )


def _p99(out: _Outcome, ref: WorkloadRef, before: Signals | None, after: Signals, rules: WatchRules) -> None:
    was = before.p99_ms if before is not None else None
    now = after.p99_ms
    if was is None or now is None:
        out.unjudged.append("p99 latency")
        return
    out.judged += 1
    if _at_least(now, rules.p99_factor * was) and _at_least(now - was, rules.p99_increase_ms):
        threshold = f"≥{rules.p99_factor:g}× and ≥+{_ms(rules.p99_increase_ms)}"
        out.fired.append(
            FiredRule(
                rule="p99_latency",
                workload=ref,
                baseline=was,
                observed=now,
                threshold=threshold,
                message=(
                    f"p99 {_ms(now)} vs {_ms(was)} before "
                    f"({_times(now, was, ',')}+{_ms(now - was)}; rule: {threshold})"
                ),
            )
        )


def _readiness(
    out: _Outcome, ref: WorkloadRef, before: Signals | None, after: Signals, rules: WatchRules
) -> None:
    was = before.ready_ratio if before is not None else None
    now = after.ready_ratio
    if was is None or now is None:
        out.unjudged.append("readiness")
        return
    out.judged += 1
    if _at_least(was - now, rules.ready_ratio_drop):
        threshold = f"at least {_points(rules.ready_ratio_drop)} points lower"
        out.fired.append(
            FiredRule(
                rule="readiness",
                workload=ref,
                baseline=was,
                observed=now,
                threshold=threshold,
                message=(
                    f"ready ratio {_percent(now, 0)} vs {_percent(was, 0)} before "
                    f"({_points(was - now)} points lower; rule: {threshold})"
                ),
            )
        )


# --- the verdict -----------------------------------------------------------------------------


def _judge(
    baseline: Mapping[WorkloadRef, Signals],
    after: Mapping[WorkloadRef, Signals],
    rules: WatchRules,
    health: str,
    deploy: DeployEvent | None,
    *,
    window: bool,
) -> Verdict:
    fired: list[FiredRule] = []
    notes: list[str] = []
    figures: list[WorkloadFigures] = []
    judged = 0
    workloads = sorted({*baseline, *after}, key=lambda r: (r.namespace, r.kind, r.name))
    for ref in workloads:
        before, now = baseline.get(ref), after.get(ref)
        outcome = _workload(ref, before, now, rules, window=window)
        fired += outcome.fired
        notes += outcome.notes
        judged += outcome.judged
        figures.append(WorkloadFigures(workload=ref, baseline=before, after=now, state=outcome.state))
    if health == DEGRADED_HEALTH:
        fired.append(
            FiredRule(
                rule="health_degraded",
                threshold="health Degraded",
                message="Argo CD reports the Application Degraded (rule: health Degraded)",
            )
        )
    if not workloads:
        notes.append("no changed workloads to judge")
    fired.sort(key=_worst_first)
    state: VerdictState = "degraded" if fired else "healthy" if judged else "inconclusive"
    subject = (
        f"deploy {deploy.revision[:_SHORT_REVISION]} of {deploy.application}" if deploy else "the deploy"
    )
    return Verdict(
        state=state,
        summary=_summary(subject, state, fired, notes, len(workloads), rules),
        fired=fired,
        notes=notes,
        health=health,
        figures=figures,
    )


def _worst_first(rule: FiredRule) -> tuple[int, float, str]:
    return (_SEVERITY[rule.rule], -_change(rule), rule.workload.label if rule.workload else "")


def _change(rule: FiredRule) -> float:
    """How much worse the observed value is, comparable within one rule."""
    was, now = rule.baseline or 0.0, rule.observed or 0.0
    if rule.rule in ("error_ratio", "p99_latency"):
        return now / was if was > 0 else math.inf
    if rule.rule == "readiness":
        return was - now
    return now - was


def _summary(
    subject: str,
    state: VerdictState,
    fired: list[FiredRule],
    notes: list[str],
    workloads: int,
    rules: WatchRules,
) -> str:
    if state == "inconclusive":
        return f"{subject} is inconclusive: {'; '.join(notes)}"
    if state == "healthy":
        counted = f"{workloads} workload{'s' if workloads != 1 else ''}"
        window = _duration(rules.analysis_window_seconds)
        line = f"{subject} is healthy: no rule fired on {counted} in the {window} after the sync"
        if notes:
            line += f"; {notes[0]}" + (f" (and {len(notes) - 1} more note(s))" if len(notes) > 1 else "")
        return line
    worst = fired[0]
    line = f"{subject} {_what_it_did(worst, named=workloads > 1)}"
    if len(fired) > 1:
        line += f" (and {len(fired) - 1} more rule{'s' if len(fired) > 2 else ''} fired)"
    return line


def _what_it_did(rule: FiredRule, *, named: bool) -> str:
    name = rule.workload.name if rule.workload else ""
    of = f" of {name}" if named else ""
    was, now = rule.baseline or 0.0, rule.observed or 0.0
    if rule.rule == "health_degraded":
        return "left the Application Degraded in Argo CD"
    if rule.rule == "crash_loop":
        return f"put {name} in a crash loop ({_count(now)} restarts after the sync, {_count(was)} before)"
    if rule.rule == "oom_kill":
        return f"got {name} OOM-killed ({_count(now)} OOM kills after the sync, {_count(was)} before)"
    if rule.rule == "error_ratio":
        if was > 0:
            return f"made the error ratio{of} {now / was:.1f}× worse ({_percent(now)} vs {_percent(was)})"
        return f"raised the error ratio{of} to {_percent(now)} from {_percent(was)}"
    if rule.rule == "p99_latency":
        if was > 0:
            return f"made p99{of} {now / was:.1f}× worse ({_ms(now)} vs {_ms(was)})"
        return f"raised p99{of} to {_ms(now)} from {_ms(was)}"
    return f"dropped the ready pods{of} to {_percent(now, 0)} from {_percent(was, 0)}"


# --- numbers ---------------------------------------------------------------------------------


def _at_least(value: float, threshold: float) -> bool:
    return value >= threshold - _ROUNDING * max(1.0, abs(threshold))


def _percent(ratio: float, decimals: int = 2) -> str:
    return f"{ratio * 100:.{decimals}f}%"


def _points(ratio: float) -> str:
    return f"{ratio * 100:g}"


def _ms(value: float) -> str:
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def _count(value: float) -> str:
    return f"{value:g}"


def _times(now: float, was: float, sep: str = ";") -> str:
    return f"{now / was:.1f}×{sep} " if was > 0 else ""


def _duration(seconds: int) -> str:
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"
