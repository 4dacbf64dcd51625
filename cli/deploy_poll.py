"""The deploy poll's Temporal Schedule, which `medic schedules apply` keeps beside the drift scans'.

`medic-deploy-poll` starts `DeployPollWorkflow` (by name) every MEDIC_DEPLOY_POLL_SECONDS on
medic's task queue, with the lookback MEDIC_DEPLOY_POLL_LOOKBACK_SECONDS; overlap SKIP (a poll
still running when the next is due makes the next one needless). Applied like a drift schedule:
created when missing, updated only where it differs. Its id is outside the drift prefix, so
`--prune` never deletes it; with the deploy watch off it is left alone. A cluster's medic (README
"Clusters") has its own: `medic-<cluster>.deploy-poll`, starting `<cluster>.deploy-poll`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from cli.schedules import MEMO_KEY, Applied, _describe, duration_text
from domain.deploy.poll import DeployPollInput
from domain.kube.clusters import cluster_slug
from domain.settings import Settings

if TYPE_CHECKING:
    from temporalio.client import Client, Schedule

DEPLOY_POLL_SCHEDULE_ID = "medic-deploy-poll"
DEPLOY_POLL_WORKFLOW = "DeployPollWorkflow"
# The polls' workflow id; Temporal appends each run's scheduled time to it.
DEPLOY_POLL_WORKFLOW_ID = "deploy-poll"
NOTE = "managed by medic (`medic schedules apply` from MEDIC_DEPLOY_POLL_*; edits made elsewhere are undone)"


def poll_schedule_id(cluster: str = "") -> str:
    """The deploy poll's schedule id: `medic-deploy-poll`, or `medic-<cluster>.deploy-poll`."""
    slug = cluster_slug(cluster)
    return f"medic-{slug}.deploy-poll" if slug else DEPLOY_POLL_SCHEDULE_ID


def poll_workflow_id(cluster: str = "") -> str:
    """The polls' workflow id (Temporal appends each run's scheduled time to it)."""
    slug = cluster_slug(cluster)
    return f"{slug}.{DEPLOY_POLL_WORKFLOW_ID}" if slug else DEPLOY_POLL_WORKFLOW_ID


def poll_timing(settings: Settings) -> str:
    return (
        f"every {duration_text(settings.deploy_poll_seconds)}, "
        f"lookback {duration_text(settings.deploy_poll_lookback_seconds)}, overlap skip"
    )


def desired_poll_schedule(settings: Settings) -> Schedule:
    from temporalio.client import (
        Schedule,
        ScheduleActionStartWorkflow,
        ScheduleIntervalSpec,
        ScheduleOverlapPolicy,
        SchedulePolicy,
        ScheduleSpec,
        ScheduleState,
    )

    return Schedule(
        action=ScheduleActionStartWorkflow(
            DEPLOY_POLL_WORKFLOW,
            DeployPollInput(lookback_seconds=settings.deploy_poll_lookback_seconds),
            id=poll_workflow_id(settings.cluster_name),
            task_queue=settings.task_queue,
        ),
        spec=ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=timedelta(seconds=settings.deploy_poll_seconds))]
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        state=ScheduleState(note=NOTE),
    )


async def _shape(client: Client, schedule: Schedule) -> dict[str, Any]:
    """The fields medic sets, as comparable values (an input that is not medic's is None)."""
    action: Any = schedule.action
    lookback: int | None = None
    args = list(getattr(action, "args", []))
    if len(args) == 1:
        try:
            decoded = args[0]
            if not isinstance(decoded, DeployPollInput):
                (decoded,) = await client.data_converter.decode(args, [DeployPollInput])
            lookback = decoded.lookback_seconds if isinstance(decoded, DeployPollInput) else None
        except Exception:  # someone else's payload: a difference, not a crash
            lookback = None
    return {
        "workflow": getattr(action, "workflow", ""),
        "id": getattr(action, "id", ""),
        "task_queue": getattr(action, "task_queue", ""),
        "lookback": lookback,
        "every": sorted(i.every for i in schedule.spec.intervals),
        "cron": sorted(schedule.spec.cron_expressions) + [str(c) for c in schedule.spec.calendars],
        "overlap": schedule.policy.overlap,
        "paused": schedule.state.paused,
        "note": schedule.state.note or "",
    }


async def apply_deploy_poll(client: Client, settings: Settings, *, dry_run: bool = False) -> Applied:
    """Create the deploy poll's schedule, or update it where it differs; `dry_run` only says which."""
    from temporalio.client import ScheduleUpdate, ScheduleUpdateInput

    schedule_id = poll_schedule_id(settings.cluster_name)
    applied = Applied(schedule_id, "unchanged", "deploys", poll_timing(settings), dry_run=dry_run)
    desired = desired_poll_schedule(settings)
    described = await _describe(client, schedule_id)
    if described is None:
        applied.outcome = "created"
        if not dry_run:
            await client.create_schedule(
                schedule_id,
                desired,
                memo={MEMO_KEY: {"managed_by": "medic schedules apply", "kind": "deploy-poll"}},
            )
        return applied
    wanted = await _shape(client, desired)
    have = await _shape(client, described.schedule)
    applied.changes = sorted(key for key in wanted if wanted[key] != have[key])
    if not applied.changes:
        return applied
    applied.outcome = "updated"
    if not dry_run:

        async def replace(update: ScheduleUpdateInput) -> ScheduleUpdate | None:
            return ScheduleUpdate(schedule=desired_poll_schedule(settings))

        await client.get_schedule_handle(schedule_id).update(replace)
    return applied
