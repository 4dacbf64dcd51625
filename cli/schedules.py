"""`medic schedules apply | list`: the Temporal Schedules that start drift scans.

The drift configuration (MEDIC_DRIFT_CONFIG) declares one schedule per scope; `apply` makes
Temporal hold exactly those: each `ScheduleSpec` becomes the Schedule `medic-drift-<scope slug>`,
whose action starts `DriftScanWorkflow` (by name) with `DriftScanInput(scope=...)` on medic's task
queue. Applying is idempotent: a schedule is updated only when what Temporal describes differs from
the desired one on the fields medic sets, and schedules of medic's prefix that the configuration no
longer has are kept (listed) unless `--prune` deletes them.

The comparison is pure (`desired_shape`, `described_shape`, `schedule_changes`): Temporal turns
cron expressions into calendar specs, so both sides are reduced to the set of matching values per
calendar field before they are compared.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, NoReturn

import typer

from cli.config import settings
from domain.drift.model import SCHEDULE_ID_PREFIX, DriftConfig, DriftScanInput, DriftScope, ScheduleSpec
from domain.kube.clusters import cluster_slug
from domain.settings import Settings

if TYPE_CHECKING:
    from temporalio.client import Client, Schedule, ScheduleDescription, ScheduleRange

DRIFT_SCAN_WORKFLOW = "DriftScanWorkflow"
MANAGED_NOTE = (
    "managed by medic (`medic schedules apply` from the drift configuration; edits made elsewhere are undone)"
)
MEMO_KEY = "medic"

schedules_app = typer.Typer(
    help="Temporal Schedules of drift scans, as the drift configuration declares them.", no_args_is_help=True
)


def exit_now(code: int) -> NoReturn:
    """End a command that used the Temporal client (see `cli.main._exit_now`)."""
    from cli import main

    main._exit_now(code)


# ---- the drift configuration -----------------------------------------------------------------


class ConfigError(Exception):
    """The drift configuration is missing, unreadable or invalid (exit code 2)."""


def load_drift_config(path: str | Path | None) -> tuple[Path, DriftConfig]:
    """The drift configuration at `path`, else at MEDIC_DRIFT_CONFIG; ConfigError says what is wrong."""
    from domain.drift.diff import drift_config_from_yaml

    chosen = str(path) if path else settings().drift_config
    if not chosen:
        raise ConfigError("no drift configuration: set MEDIC_DRIFT_CONFIG or pass --config")
    file = Path(chosen)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read the drift configuration {file}: {err.strerror or err}") from None
    try:
        return file, drift_config_from_yaml(text)
    except ValueError as err:  # pydantic's ValidationError is a ValueError too
        raise ConfigError(f"invalid drift configuration {file}: {err}") from None


# ---- ids, timing text ------------------------------------------------------------------------


def scan_workflow_id(scope: DriftScope, cluster: str = "") -> str:
    """The scheduled scans' workflow id; Temporal appends each run's scheduled time to it. A
    cluster's medic (README "Clusters") puts its cluster first: `<cluster>.drift-scan-<scope>`."""
    return f"{_cluster_part(cluster)}drift-scan-{scope.slug}"


def _cluster_part(cluster: str) -> str:
    # a slug has no dot: `east.` never begins the ids of cluster `east-1`
    slug = cluster_slug(cluster)
    return f"{slug}." if slug else ""


def schedule_prefix(cluster: str = "") -> str:
    """What the ids of the drift schedules of this medic begin with: `medic-drift-`, or a
    cluster's medic's `medic-<cluster>.drift-` (neither begins the other's)."""
    return f"medic-{_cluster_part(cluster)}{SCHEDULE_ID_PREFIX.removeprefix('medic-')}"


def schedule_id_of(spec: ScheduleSpec, cluster: str = "") -> str:
    """The Temporal Schedule id of `spec` for this medic (`spec.schedule_id` without a cluster)."""
    return f"{schedule_prefix(cluster)}{spec.scope.slug}"


def scope_of_schedule_id(schedule_id: str, cluster: str = "") -> str:
    """The scope label a medic schedule id names (`medic-drift-namespace-shop` → namespace:shop)."""
    slug = schedule_id.removeprefix(schedule_prefix(cluster))
    for kind in ("project", "namespace"):
        if slug.startswith(f"{kind}-"):
            return f"{kind}:{slug[len(kind) + 1 :]}"
    return slug


def duration_text(seconds: float) -> str:
    """`45s`, `15m`, `1h30m`, `2h`, `2d4h`: the largest unit and the next one, if not zero."""
    total = int(round(seconds))
    units = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
    for index, (unit, size) in enumerate(units):
        if total >= size or unit == "s":
            amount, rest = divmod(total, size)
            text = f"{amount}{unit}"
            if unit != "s":
                next_unit, next_size = units[index + 1]
                if rest // next_size:
                    text += f"{rest // next_size}{next_unit}"
            return text
    raise AssertionError("unreachable")


def spec_timing(spec: ScheduleSpec) -> str:
    """How a configured schedule runs: `cron 0 */6 * * *, jitter 5m` or `every 15m`."""
    text = (
        " | ".join(f"cron {c}" for c in spec.cron)
        if spec.cron
        else f"every {duration_text(spec.every_seconds)}"
    )
    if spec.jitter_seconds:
        text += f", jitter {duration_text(spec.jitter_seconds)}"
    text += f", overlap {spec.overlap}, catch-up {duration_text(spec.catchup_window_seconds)}"
    return text + (", paused" if spec.paused else "")


def schedule_note(spec: ScheduleSpec) -> str:
    return f"{MANAGED_NOTE}: {spec.note}" if spec.note else MANAGED_NOTE


# ---- calendars as sets of values ---------------------------------------------------------------

# The cron fields in order, with their bounds and the calendar field each becomes.
_CRON_FIELDS: tuple[tuple[str, int, int], ...] = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day_of_month", 1, 31),
    ("month", 1, 12),
    ("day_of_week", 0, 6),
)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], start=1
    )
}
_WEEKDAYS = {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}


@dataclass(frozen=True, order=True)
class CalendarKey:
    """The times one calendar spec matches, each field as the sorted values it allows.

    `year` empty means any year (Temporal's convention); the other fields are never empty.
    """

    second: tuple[int, ...]
    minute: tuple[int, ...]
    hour: tuple[int, ...]
    day_of_month: tuple[int, ...]
    month: tuple[int, ...]
    year: tuple[int, ...]
    day_of_week: tuple[int, ...]


def _cron_value(text: str, names: dict[str, int]) -> int:
    upper = text.upper()
    if upper in names:
        return names[upper]
    if not text.isdigit():
        raise ValueError(f"{text!r} is not a number")
    return int(text)


def _cron_field(text: str, low: int, high: int, names: dict[str, int], weekday: bool) -> tuple[int, ...]:
    top = 7 if weekday else high  # 7 is Sunday too
    values: set[int] = set()
    for part in text.split(","):
        base, slash, step_text = part.partition("/")
        step = int(step_text) if slash and step_text.isdigit() else (0 if slash else 1)
        if step < 1:
            raise ValueError(f"{part!r}: a step must be a positive number")
        if base in ("*", "?"):
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = _cron_value(first, names), _cron_value(last, names)
        else:
            start = _cron_value(base, names)
            end = top if slash else start
        if not low <= start <= end <= top:
            raise ValueError(f"{part!r} is out of range {low}-{high}")
        values.update(range(start, end + 1, step))
    return tuple(sorted({0 if weekday and v == 7 else v for v in values}))


def cron_calendar(expression: str) -> CalendarKey:
    """The times a 5-field cron expression matches (minute hour day-of-month month day-of-week,
    with `*`, `?`, lists, ranges, steps and JAN-DEC / SUN-SAT names), as Temporal's calendar
    translation has them: at second 0, in any year. ValueError for anything else."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"{expression!r} is not a 5-field cron expression")
    parsed = {
        name: _cron_field(text, low, high, _MONTHS if name == "month" else _WEEKDAYS, name == "day_of_week")
        for text, (name, low, high) in zip(fields, _CRON_FIELDS, strict=True)
    }
    return CalendarKey(second=(0,), year=(), **parsed)


def _range_values(ranges: Sequence[ScheduleRange]) -> tuple[int, ...]:
    values: set[int] = set()
    for r in ranges:
        values.update(range(r.start, max(r.start, r.end) + 1, max(r.step, 1)))
    return tuple(sorted(values))


def calendar_key(calendar: Any) -> CalendarKey:
    """The times a Temporal `ScheduleCalendarSpec` matches (see `CalendarKey`)."""
    return CalendarKey(
        second=_range_values(calendar.second),
        minute=_range_values(calendar.minute),
        hour=_range_values(calendar.hour),
        day_of_month=_range_values(calendar.day_of_month),
        month=_range_values(calendar.month),
        year=_range_values(calendar.year),
        day_of_week=_range_values(calendar.day_of_week),
    )


def _field_text(values: tuple[int, ...], low: int, high: int) -> str:
    if values == tuple(range(low, high + 1)):
        return "*"
    if len(values) > 2 and values[0] == low:
        step = values[1] - values[0]
        if values == tuple(range(low, high + 1, step)):
            return f"*/{step}"
    return _runs_text(values)


def _runs_text(values: tuple[int, ...]) -> str:
    """`1-5,7,9-10`."""
    if not values:
        return "-"
    runs: list[str] = []
    start = previous = values[0]
    for value in [*values[1:], None]:
        if value is not None and value == previous + 1:
            previous = value
            continue
        runs.append(str(start) if start == previous else f"{start}-{previous}")
        if value is not None:
            start = previous = value
    return ",".join(runs)


def calendar_text(key: CalendarKey) -> str:
    """A calendar as a cron-like line (`0 */6 * * *`); a second other than 0 or a year is added."""
    text = " ".join(_field_text(getattr(key, name), low, high) for name, low, high in _CRON_FIELDS)
    if key.second != (0,):
        text += f" (second {_field_text(key.second, 0, 59)})"
    if key.year:
        text += f" (year {_runs_text(key.year)})"
    return text


# ---- desired and described schedules -------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleShape:
    """The fields of a Schedule that medic sets, in a form two schedules can be compared in."""

    workflow: str
    workflow_id: str
    task_queue: str
    input: DriftScanInput | None  # None: not a DriftScanInput
    calendars: tuple[CalendarKey, ...]
    intervals: tuple[tuple[float, float], ...]  # (every, offset) in seconds
    jitter_seconds: float
    overlap: str
    catchup_window_seconds: float | None
    pause_on_failure: bool
    paused: bool
    note: str
    # What medic never sets (time zone, skipped times, start/end, timeouts, a retry policy,
    # limited actions): any of it set by hand is a difference.
    extras: tuple[str, ...] = ()
    # Cron expressions medic could not translate itself: a timing change, always.
    untranslated: tuple[str, ...] = ()


def desired_schedule(spec: ScheduleSpec, task_queue: str, cluster: str = "") -> Schedule:
    """The Temporal Schedule a configured `ScheduleSpec` stands for (id: `spec.schedule_id`)."""
    from temporalio.client import (
        Schedule,
        ScheduleActionStartWorkflow,
        ScheduleIntervalSpec,
        ScheduleOverlapPolicy,
        SchedulePolicy,
        ScheduleState,
    )
    from temporalio.client import ScheduleSpec as TemporalScheduleSpec

    return Schedule(
        action=ScheduleActionStartWorkflow(
            DRIFT_SCAN_WORKFLOW,
            DriftScanInput(scope=spec.scope),
            id=scan_workflow_id(spec.scope, cluster),
            task_queue=task_queue,
        ),
        spec=TemporalScheduleSpec(
            cron_expressions=list(spec.cron),
            intervals=[ScheduleIntervalSpec(every=timedelta(seconds=spec.every_seconds))]
            if spec.every_seconds
            else [],
            jitter=timedelta(seconds=spec.jitter_seconds) if spec.jitter_seconds else None,
        ),
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy[spec.overlap.upper()],
            catchup_window=timedelta(seconds=spec.catchup_window_seconds),
        ),
        state=ScheduleState(note=schedule_note(spec), paused=spec.paused),
    )


def schedule_memo(spec: ScheduleSpec) -> dict[str, Any]:
    """The schedule's memo (set when it is created): who manages it and what it scans."""
    return {
        MEMO_KEY: {"managed_by": "medic schedules apply", "kind": "drift-scan", "scope": spec.scope.label}
    }


def desired_shape(spec: ScheduleSpec, task_queue: str, cluster: str = "") -> ScheduleShape:
    calendars: list[CalendarKey] = []
    untranslated: list[str] = []
    for expression in spec.cron:
        try:
            calendars.append(cron_calendar(expression))
        except ValueError:
            untranslated.append(expression)
    return ScheduleShape(
        workflow=DRIFT_SCAN_WORKFLOW,
        workflow_id=scan_workflow_id(spec.scope, cluster),
        task_queue=task_queue,
        input=DriftScanInput(scope=spec.scope),
        calendars=tuple(sorted(calendars)),
        intervals=((float(spec.every_seconds), 0.0),) if spec.every_seconds else (),
        jitter_seconds=float(spec.jitter_seconds),
        overlap=spec.overlap,
        catchup_window_seconds=float(spec.catchup_window_seconds),
        pause_on_failure=False,
        paused=spec.paused,
        note=schedule_note(spec),
        untranslated=tuple(untranslated),
    )


def _seconds(value: timedelta | None) -> float:
    return value.total_seconds() if value else 0.0


def described_shape(schedule: Schedule, input: DriftScanInput | None) -> ScheduleShape:
    """The shape of a described Schedule; `input` is its action's argument decoded (None if it is
    not one DriftScanInput)."""
    action: Any = schedule.action
    spec = schedule.spec
    extras = [
        name
        for name, value in (
            ("time zone", spec.time_zone_name),
            ("skipped times", list(spec.skip)),
            ("start time", spec.start_at),
            ("end time", spec.end_at),
            ("execution timeout", getattr(action, "execution_timeout", None)),
            ("run timeout", getattr(action, "run_timeout", None)),
            ("retry policy", getattr(action, "retry_policy", None)),
            ("limited actions", schedule.state.limited_actions),
        )
        if value
    ]
    # A server that kept cron strings as they are (current ones turn them into calendars).
    calendars = [calendar_key(c) for c in spec.calendars]
    untranslated: list[str] = []
    for expression in spec.cron_expressions:
        try:
            calendars.append(cron_calendar(expression))
        except ValueError:
            untranslated.append(expression)
    return ScheduleShape(
        workflow=getattr(action, "workflow", ""),
        workflow_id=getattr(action, "id", ""),
        task_queue=getattr(action, "task_queue", ""),
        input=input,
        calendars=tuple(sorted(calendars)),
        intervals=tuple(sorted((_seconds(i.every), _seconds(i.offset)) for i in spec.intervals)),
        jitter_seconds=_seconds(spec.jitter),
        overlap=schedule.policy.overlap.name.lower(),
        catchup_window_seconds=(
            schedule.policy.catchup_window.total_seconds() if schedule.policy.catchup_window else None
        ),
        pause_on_failure=schedule.policy.pause_on_failure,
        paused=schedule.state.paused,
        note=schedule.state.note or "",
        extras=tuple(extras),
        untranslated=tuple(untranslated),
    )


_COMPARED: tuple[tuple[str, str], ...] = (
    ("workflow", "workflow"),
    ("workflow_id", "workflow id"),
    ("task_queue", "task queue"),
    ("input", "input"),
    ("calendars", "timing"),
    ("intervals", "timing"),
    ("jitter_seconds", "jitter"),
    ("overlap", "overlap"),
    ("catchup_window_seconds", "catch-up window"),
    ("pause_on_failure", "pause on failure"),
    ("paused", "paused"),
    ("note", "note"),
)


def schedule_changes(described: ScheduleShape, desired: ScheduleShape) -> list[str]:
    """What differs between a described schedule and the desired one, by name (empty: nothing).

    A cron expression medic cannot translate itself counts as a timing change every time: an
    update that changes nothing is harmless, a missed change is not.
    """
    changes: list[str] = []
    for attribute, name in _COMPARED:
        if getattr(described, attribute) != getattr(desired, attribute) and name not in changes:
            changes.append(name)
    if (desired.untranslated or described.untranslated) and "timing" not in changes:
        changes.append("timing")
    changes.extend(e for e in described.extras if e not in changes)
    return changes


def described_timing(schedule: Schedule) -> str:
    """How a described schedule runs, in the words of `spec_timing`."""
    spec = schedule.spec
    parts = [f"cron {calendar_text(calendar_key(c))}" for c in spec.calendars]
    parts += [f"cron {c}" for c in spec.cron_expressions]
    parts += [
        f"every {duration_text(_seconds(i.every))}"
        + (f"+{duration_text(_seconds(i.offset))}" if i.offset else "")
        for i in spec.intervals
    ]
    text = " | ".join(parts) or "never"
    if spec.jitter:
        text += f", jitter {duration_text(_seconds(spec.jitter))}"
    window = schedule.policy.catchup_window
    text += f", overlap {schedule.policy.overlap.name.lower()}"
    return text + (f", catch-up {duration_text(window.total_seconds())}" if window else "")


# ---- apply ---------------------------------------------------------------------------------------

Outcome = Literal["created", "updated", "unchanged", "deleted", "kept", "failed"]


@dataclass
class Applied:
    schedule_id: str
    outcome: Outcome
    scope: str
    timing: str
    changes: list[str] = field(default_factory=list)
    error: str = ""
    dry_run: bool = False

    def line(self) -> str:
        words = {"created": "create", "updated": "update", "deleted": "delete"}
        outcome = f"would {words[self.outcome]}" if self.dry_run and self.outcome in words else self.outcome
        text = f"{self.schedule_id:<40} {outcome:<15} {self.scope:<26} {self.timing}"
        if self.changes:
            text += f" (changed: {', '.join(self.changes)})"
        if self.error:
            text += f": {self.error}"
        return text


async def _decoded_input(client: Client, schedule: Schedule) -> DriftScanInput | None:
    args = list(getattr(schedule.action, "args", []))
    if len(args) != 1:
        return None
    try:
        if not isinstance(args[0], DriftScanInput):
            (decoded,) = await client.data_converter.decode(args, [DriftScanInput])
            return decoded if isinstance(decoded, DriftScanInput) else None
        return args[0]
    except Exception:  # someone else's payload: a difference, not a crash
        return None


def _not_found(err: BaseException) -> bool:
    from temporalio.service import RPCError, RPCStatusCode

    return isinstance(err, RPCError) and err.status == RPCStatusCode.NOT_FOUND


async def _describe(client: Client, schedule_id: str) -> ScheduleDescription | None:
    try:
        return await client.get_schedule_handle(schedule_id).describe()
    except Exception as err:
        if _not_found(err):
            return None
        raise


async def apply_schedule(
    client: Client, spec: ScheduleSpec, task_queue: str, dry_run: bool = False, *, cluster: str = ""
) -> Applied:
    """Create the schedule of `spec`, or update it where it differs; `dry_run` only says which.
    `cluster`: this medic's cluster name (README "Clusters"), which its schedule ids carry."""
    from temporalio.client import ScheduleAlreadyRunningError, ScheduleUpdate, ScheduleUpdateInput

    schedule_id = schedule_id_of(spec, cluster)
    applied = Applied(schedule_id, "unchanged", spec.scope.label, spec_timing(spec), dry_run=dry_run)
    desired = desired_schedule(spec, task_queue, cluster)
    described = await _describe(client, schedule_id)
    if described is None:
        if dry_run:
            applied.outcome = "created"
            return applied
        try:
            await client.create_schedule(schedule_id, desired, memo=schedule_memo(spec))
            applied.outcome = "created"
            return applied
        except ScheduleAlreadyRunningError:
            # Another apply created it in between: compare with what it made.
            described = await _describe(client, schedule_id)
            if described is None:
                raise
    wanted = desired_shape(spec, task_queue, cluster)
    applied.changes = schedule_changes(
        described_shape(described.schedule, await _decoded_input(client, described.schedule)), wanted
    )
    if not applied.changes:
        return applied
    applied.outcome = "updated"
    if dry_run:
        return applied

    async def replace(update: ScheduleUpdateInput) -> ScheduleUpdate | None:
        # Run again on a conflict with a concurrent update: compare with what is there now.
        current = update.description.schedule
        if not schedule_changes(described_shape(current, await _decoded_input(client, current)), wanted):
            return None
        return ScheduleUpdate(schedule=desired_schedule(spec, task_queue, cluster))

    await client.get_schedule_handle(schedule_id).update(replace)
    return applied


async def medic_schedule_ids(client: Client, cluster: str = "") -> list[str]:
    """The ids of the schedules medic's drift configuration manages (by prefix: this cluster's
    medic's only), sorted.

    Temporal's schedule list is eventually consistent: a schedule created or deleted a moment ago
    may be missing or still listed.
    """
    return sorted(
        [
            entry.id
            async for entry in await client.list_schedules()
            if entry.id.startswith(schedule_prefix(cluster))
        ]
    )


async def apply_config(
    client: Client,
    config: DriftConfig,
    task_queue: str,
    *,
    prune: bool = False,
    dry_run: bool = False,
    cluster: str = "",
) -> list[Applied]:
    """Make Temporal's drift schedules those of `config`: one line per schedule. With `cluster`
    (README "Clusters") the schedules are that cluster's medic's, and only those are pruned."""
    results: list[Applied] = []
    for spec in config.schedules:
        try:
            results.append(await apply_schedule(client, spec, task_queue, dry_run, cluster=cluster))
        except Exception as err:
            results.append(
                Applied(
                    schedule_id_of(spec, cluster),
                    "failed",
                    spec.scope.label,
                    spec_timing(spec),
                    error=_error_text(err),
                )
            )
    wanted = {schedule_id_of(spec, cluster) for spec in config.schedules}
    for schedule_id in await medic_schedule_ids(client, cluster):
        if schedule_id in wanted:
            continue
        scope = scope_of_schedule_id(schedule_id, cluster)
        if not prune:
            results.append(
                Applied(schedule_id, "kept", scope, "not in the configuration (kept; --prune deletes)")
            )
            continue
        if dry_run:
            results.append(Applied(schedule_id, "deleted", scope, "not in the configuration", dry_run=True))
            continue
        try:
            await client.get_schedule_handle(schedule_id).delete()
        except Exception as err:
            if _not_found(err):  # deleted meanwhile (the list lags behind)
                continue
            results.append(
                Applied(schedule_id, "failed", scope, "not in the configuration", error=_error_text(err))
            )
            continue
        results.append(Applied(schedule_id, "deleted", scope, "not in the configuration"))
    return results


def _error_text(err: BaseException) -> str:
    message = getattr(err, "message", "") or str(err)
    return f"{type(err).__name__}: {message}"


async def connect_or_fail(s: Settings) -> Client:
    """A client, or a clear message and exit code 1 when Temporal cannot be reached."""
    from integrations.temporal.client import connect

    try:
        return await connect(s)
    except Exception as err:
        typer.echo(f"cannot reach Temporal at {s.temporal_address}: {err}", err=True)
        exit_now(1)


ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="The drift configuration file (default: MEDIC_DRIFT_CONFIG).")
]


@schedules_app.command("apply")
def apply(
    config: ConfigOption = None,
    prune: Annotated[
        bool, typer.Option("--prune", help="Delete medic-drift-* schedules the configuration no longer has.")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would change.")] = False,
) -> None:
    """Create or update one Temporal Schedule per scope of the drift configuration, and the deploy
    poll's (idempotent)."""
    s = settings()
    if s.deploy_watch and s.deploy_poll_lookback_seconds < s.deploy_poll_seconds:
        typer.echo(
            f"MEDIC_DEPLOY_POLL_LOOKBACK_SECONDS={s.deploy_poll_lookback_seconds} is shorter than "
            f"MEDIC_DEPLOY_POLL_SECONDS={s.deploy_poll_seconds}: a deploy could fall between two polls",
            err=True,
        )
        raise typer.Exit(2)
    path: Path | None = None
    drift_config: DriftConfig | None = None
    if config is not None or s.drift_config or not s.deploy_watch:
        try:
            path, drift_config = load_drift_config(config)
        except ConfigError as err:
            typer.echo(str(err), err=True)
            raise typer.Exit(2) from None
    else:
        # No drift configuration at all: the deploy poll's schedule is still medic's to keep.
        typer.echo("no drift configuration (MEDIC_DRIFT_CONFIG): only the deploy poll is applied", err=True)

    async def go() -> list[Applied]:
        from cli.deploy_poll import apply_deploy_poll, poll_schedule_id, poll_timing

        client = await connect_or_fail(s)
        results = []
        if drift_config is not None:
            results = await apply_config(
                client, drift_config, s.task_queue, prune=prune, dry_run=dry_run, cluster=s.cluster_name
            )
        if s.deploy_watch:  # the deploy poll's schedule, beside the drift scans'
            try:
                results.append(await apply_deploy_poll(client, s, dry_run=dry_run))
            except Exception as err:
                timing, error = poll_timing(s), _error_text(err)
                schedule_id = poll_schedule_id(s.cluster_name)
                results.append(Applied(schedule_id, "failed", "deploys", timing, error=error))
        return results

    try:
        results = asyncio.run(go())
    except Exception as err:
        typer.echo(f"cannot apply the drift schedules: {_error_text(err)}", err=True)
        exit_now(1)
    if not results and path is not None:
        typer.echo(f"{path} declares no schedules and Temporal holds no medic-drift-* schedule")
    for result in results:
        typer.echo(result.line())
    exit_now(1 if any(r.outcome == "failed" for r in results) else 0)


# ---- list ----------------------------------------------------------------------------------------


def _iso(at: datetime | None) -> str | None:
    return at.replace(microsecond=0).isoformat().replace("+00:00", "Z") if at else None


async def _run_of(client: Client, workflow_id: str, run_id: str) -> dict[str, Any]:
    """A scheduled scan's status, and its result's totals once it completed.

    By workflow id alone: a scan that continued as new is described by its latest run, and the
    scheduled time in the id keeps it apart from the schedule's other scans.
    """
    from temporalio.client import WorkflowExecutionStatus

    from domain.drift.model import DriftScanResult

    run: dict[str, Any] = {"workflow_id": workflow_id, "run_id": run_id, "status": None, "result": None}
    try:
        handle = client.get_workflow_handle(workflow_id, result_type=DriftScanResult)
        described = await handle.describe()
        run["status"] = described.status.name.lower() if described.status else None
        if described.status == WorkflowExecutionStatus.COMPLETED:
            result = await handle.result()
            run["result"] = result.model_dump(mode="json", exclude={"incidents"}) | {
                "incidents": len(result.incidents)
            }
    except Exception as err:  # the run may be gone (retention): keep what the schedule says
        run["status"] = run["status"] or f"unknown ({type(err).__name__})"
    return run


async def describe_schedules(client: Client, recent: int = 3, cluster: str = "") -> list[dict[str, Any]]:
    """medic's drift schedules (this cluster's medic's) as rows: scope, timing, paused, next runs,
    the last `recent` runs."""
    rows: list[dict[str, Any]] = []
    for schedule_id in await medic_schedule_ids(client, cluster):
        described = await _describe(client, schedule_id)
        if described is None:  # deleted since it was listed
            continue
        schedule = described.schedule
        decoded = await _decoded_input(client, schedule)
        info = described.info
        runs = []
        for action in list(info.recent_actions)[-recent:][::-1]:
            execution: Any = action.action
            run = await _run_of(client, execution.workflow_id, execution.first_execution_run_id)
            runs.append(
                {"scheduled_at": _iso(action.scheduled_at), "started_at": _iso(action.started_at), **run}
            )
        rows.append(
            {
                "id": schedule_id,
                "scope": decoded.scope.label if decoded else scope_of_schedule_id(schedule_id, cluster),
                "workflow": getattr(schedule.action, "workflow", ""),
                "task_queue": getattr(schedule.action, "task_queue", ""),
                "timing": described_timing(schedule),
                "paused": schedule.state.paused,
                "note": schedule.state.note or "",
                "next_runs": [_iso(t) for t in list(info.next_action_times)[:3]],
                "recent_runs": runs,
                "actions": info.num_actions,
                "skipped_overlap": info.num_actions_skipped_overlap,
                "missed_catchup_window": info.num_actions_missed_catchup_window,
                "created_at": _iso(info.created_at),
                "updated_at": _iso(info.last_updated_at),
            }
        )
    return rows


def _run_text(run: dict[str, Any]) -> str:
    text = f"{run['workflow_id']} {run['status'] or ''}".rstrip()
    result = run.get("result")
    if result:
        text += (
            f" ({result['apps_scanned']} apps, {result['drifted_apps']} drifted, "
            f"{len(result['errors'])} errors)"
        )
    return text


def schedule_rows_text(rows: Iterable[dict[str, Any]]) -> list[str]:
    lines: list[str] = []
    for row in rows:
        state = "paused" if row["paused"] else "active"
        lines.append(f"{row['id']:<40} {state:<7} {row['scope']:<26} {row['timing']}")
        lines.append(f"    next: {', '.join(row['next_runs']) or '—'}")
        for run in row["recent_runs"]:
            lines.append(f"    ran:  {run['started_at']} {_run_text(run)}")
        if not row["recent_runs"]:
            lines.append("    ran:  not yet")
    return lines


@schedules_app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """medic's drift schedules in Temporal: scope, timing, paused, next runs, the last runs."""
    s = settings()

    async def go() -> list[dict[str, Any]]:
        return await describe_schedules(await connect_or_fail(s), cluster=s.cluster_name)

    try:
        rows = asyncio.run(go())
    except Exception as err:
        typer.echo(f"cannot list the drift schedules: {_error_text(err)}", err=True)
        exit_now(1)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
    elif not rows:
        typer.echo("no drift schedules (medic schedules apply creates them from the drift configuration)")
    else:
        typer.echo("\n".join(schedule_rows_text(rows)))
    exit_now(0)
