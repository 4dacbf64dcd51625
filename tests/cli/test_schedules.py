"""`medic schedules apply | list`: the pure comparison, and the commands on the real Temporal dev server.

The dev-server tests use a scope of their own (`namespace:t-<hex>`, so the schedule
`medic-drift-namespace-t-<hex>`) and a task queue no worker polls; every schedule a test made is
deleted when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import (
    Client,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    ScheduleRange,
)
from typer.testing import CliRunner

import cli.main
import cli.schedules
from cli.deploy_poll import DEPLOY_POLL_SCHEDULE_ID, poll_schedule_id
from cli.devserver import DevServer, temporal_binary
from cli.schedules import (
    CalendarKey,
    ConfigError,
    apply_schedule,
    calendar_key,
    calendar_text,
    cron_calendar,
    described_shape,
    desired_schedule,
    desired_shape,
    duration_text,
    load_drift_config,
    schedule_changes,
    schedule_id_of,
    scope_of_schedule_id,
    spec_timing,
)
from domain.drift.model import DriftScanInput, DriftScope, ScheduleSpec
from integrations.temporal.converter import DATA_CONVERTER

runner = CliRunner()
QUEUE = "medic-remediation-test"


def spec(**fields: Any) -> ScheduleSpec:
    return ScheduleSpec.model_validate({"scope": "namespace:shop", "cron": "0 */6 * * *", **fields})


def as_server_has_it(schedule: Any) -> Any:
    """What describing the schedule returns: Temporal turns cron expressions into calendars."""
    schedule.spec.calendars = [_server_calendar(c) for c in schedule.spec.cron_expressions]
    schedule.spec.cron_expressions = []
    return schedule


def _server_calendar(expression: str) -> ScheduleCalendarSpec:
    key = cron_calendar(expression)

    def ranges(values: tuple[int, ...]) -> tuple[ScheduleRange, ...]:
        return tuple(ScheduleRange(v) for v in values)

    return ScheduleCalendarSpec(
        second=ranges(key.second),
        minute=ranges(key.minute),
        hour=ranges(key.hour),
        day_of_month=ranges(key.day_of_month),
        month=ranges(key.month),
        year=ranges(key.year),
        day_of_week=ranges(key.day_of_week),
    )


# ---- cron expressions as calendars ---------------------------------------------------------------


def test_cron_matches_the_calendar_temporal_translates_it_to() -> None:
    # As the dev server describes `*/15 9-17 * * MON-FRI` (ranges with steps, not value lists).
    described = ScheduleCalendarSpec(
        second=(ScheduleRange(0),),
        minute=(ScheduleRange(0, 59, 15),),
        hour=(ScheduleRange(9, 17),),
        day_of_month=(ScheduleRange(1, 31),),
        month=(ScheduleRange(1, 12),),
        day_of_week=(ScheduleRange(1, 5),),
    )
    assert cron_calendar("*/15 9-17 * * MON-FRI") == calendar_key(described)
    assert cron_calendar("*/15 9-17 * * 1-5") == calendar_key(described)


def test_cron_names_lists_steps_and_sunday_as_seven() -> None:
    key = cron_calendar("5 4 1,15 jan,JUL 7")
    assert (key.minute, key.hour, key.day_of_month, key.month, key.day_of_week) == (
        (5,),
        (4,),
        (1, 15),
        (1, 7),
        (0,),
    )
    assert cron_calendar("0 3/8 * * *").hour == (3, 11, 19)
    assert cron_calendar("0 0 * * 5-7").day_of_week == (0, 5, 6)


@pytest.mark.parametrize("expression", ["0 25 * * *", "0 0 L * *", "*/0 * * * *", "0 0 * *", "0 0 32 * *"])
def test_cron_that_cannot_be_translated_is_refused(expression: str) -> None:
    with pytest.raises(ValueError):
        cron_calendar(expression)


def test_calendar_text_reads_like_cron() -> None:
    for expression in ("0 */6 * * *", "*/15 9-17 * * 1-5", "30 2 1,15 * *", "0 3 * * 0"):
        assert calendar_text(cron_calendar(expression)) == expression
    with_second = CalendarKey(
        (30,), (0,), (3,), tuple(range(1, 32)), tuple(range(1, 13)), (2027,), tuple(range(7))
    )
    assert calendar_text(with_second) == "0 3 * * * (second 30) (year 2027)"


# ---- the desired schedule and the comparison -------------------------------------------------


def test_desired_schedule_starts_the_scan_workflow_by_name_with_the_scope() -> None:
    wanted = spec(
        jitter_seconds=300, overlap="buffer_one", catchup_window_seconds=900, paused=True, note="nightly"
    )
    schedule = desired_schedule(wanted, QUEUE)
    action: Any = schedule.action
    assert (action.workflow, action.id, action.task_queue) == (
        "DriftScanWorkflow",
        "drift-scan-namespace-shop",
        QUEUE,
    )
    assert list(action.args) == [DriftScanInput(scope=DriftScope(kind="namespace", name="shop"))]
    assert list(schedule.spec.cron_expressions) == ["0 */6 * * *"] and not schedule.spec.intervals
    assert schedule.spec.jitter == timedelta(minutes=5)
    assert schedule.policy.overlap == ScheduleOverlapPolicy.BUFFER_ONE
    assert schedule.policy.catchup_window == timedelta(minutes=15)
    assert schedule.state.paused and "managed by medic" in (schedule.state.note or "")
    assert (schedule.state.note or "").endswith(": nightly")


def test_an_interval_schedule_has_no_cron_and_no_jitter_by_default() -> None:
    schedule = desired_schedule(spec(cron=[], every_seconds=900), QUEUE)
    assert list(schedule.spec.intervals) == [ScheduleIntervalSpec(every=timedelta(minutes=15))]
    assert not schedule.spec.cron_expressions and schedule.spec.jitter is None
    assert schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
    assert schedule.policy.catchup_window == timedelta(minutes=10)


@pytest.mark.parametrize(
    "configured",
    [
        spec(),
        spec(cron=["0 3 * * SUN", "30 12 1 * *"], jitter_seconds=60),
        spec(cron=[], every_seconds=3600, overlap="allow_all", paused=True),
    ],
)
def test_a_described_schedule_like_the_desired_one_has_no_changes(configured: ScheduleSpec) -> None:
    described = as_server_has_it(desired_schedule(configured, QUEUE))
    shape = described_shape(described, DriftScanInput(scope=configured.scope))
    assert schedule_changes(shape, desired_shape(configured, QUEUE)) == []


def test_each_field_medic_sets_is_compared() -> None:
    described = described_shape(
        as_server_has_it(desired_schedule(spec(), QUEUE)),
        DriftScanInput(scope=DriftScope.parse("namespace:shop")),
    )
    assert schedule_changes(described, desired_shape(spec(cron="0 */4 * * *"), QUEUE)) == ["timing"]
    assert schedule_changes(described, desired_shape(spec(cron=[], every_seconds=21600), QUEUE)) == ["timing"]
    assert schedule_changes(described, desired_shape(spec(paused=True), QUEUE)) == ["paused"]
    assert schedule_changes(described, desired_shape(spec(jitter_seconds=30), QUEUE)) == ["jitter"]
    assert schedule_changes(described, desired_shape(spec(overlap="buffer_all"), QUEUE)) == ["overlap"]
    assert schedule_changes(described, desired_shape(spec(catchup_window_seconds=60), QUEUE)) == [
        "catch-up window"
    ]
    assert schedule_changes(described, desired_shape(spec(note="x"), QUEUE)) == ["note"]
    assert schedule_changes(described, desired_shape(spec(), "other-queue")) == ["task queue"]


def test_a_foreign_input_and_hand_made_settings_are_changes() -> None:
    schedule = as_server_has_it(desired_schedule(spec(), QUEUE))
    schedule.spec.time_zone_name = "Europe/Berlin"
    schedule.policy.catchup_window = None
    changes = schedule_changes(described_shape(schedule, None), desired_shape(spec(), QUEUE))
    assert changes == ["input", "catch-up window", "time zone"]


def test_a_cron_medic_cannot_translate_is_always_updated() -> None:
    configured = spec(cron="0 0 L * *")
    described = desired_schedule(configured, QUEUE)  # as an older server describes it: the cron kept
    assert schedule_changes(
        described_shape(described, DriftScanInput(scope=configured.scope)), desired_shape(configured, QUEUE)
    ) == ["timing"]


def test_ids_and_texts() -> None:
    assert scope_of_schedule_id("medic-drift-namespace-shop-eu") == "namespace:shop-eu"
    assert scope_of_schedule_id("medic-drift-project-payments") == "project:payments"
    assert scope_of_schedule_id("medic-drift-all") == "all"
    assert [duration_text(s) for s in (0, 45, 60, 5400, 90061)] == ["0s", "45s", "1m", "1h30m", "1d1h"]
    assert spec_timing(spec(jitter_seconds=300)) == "cron 0 */6 * * *, jitter 5m, overlap skip, catch-up 10m"
    assert spec_timing(spec(cron=[], every_seconds=900, paused=True)).startswith("every 15m,")
    assert spec_timing(spec(cron=[], every_seconds=900, paused=True)).endswith(", paused")


# ---- the configuration and error messages ------------------------------------------------------


def test_no_configuration_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a drift configuration and with the deploy watch off there is nothing to apply."""
    monkeypatch.delenv("MEDIC_DRIFT_CONFIG", raising=False)
    monkeypatch.setenv("MEDIC_DEPLOY_WATCH", "false")
    with pytest.raises(ConfigError, match="set MEDIC_DRIFT_CONFIG or pass --config"):
        load_drift_config(None)
    result = runner.invoke(cli.main.app, ["schedules", "apply"])
    assert result.exit_code == 2
    assert "no drift configuration: set MEDIC_DRIFT_CONFIG or pass --config" in result.stderr


def test_a_missing_or_invalid_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = runner.invoke(cli.main.app, ["schedules", "apply", "--config", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2 and "nope.yaml" in missing.stderr
    bad = tmp_path / "drift.yaml"
    bad.write_text("schedules:\n  - scope: all\n    cron: '0 * * *'\n")
    monkeypatch.setenv("MEDIC_DRIFT_CONFIG", str(bad))
    invalid = runner.invoke(cli.main.app, ["schedules", "apply"])
    assert invalid.exit_code == 2
    assert f"invalid drift configuration {bad}" in invalid.stderr and "5-field" in invalid.stderr


def test_the_example_configuration_is_valid() -> None:
    path = Path(__file__).resolve().parents[2] / "deploy" / "drift.yaml"
    _, config = load_drift_config(path)
    assert [s.schedule_id for s in config.schedules] == ["medic-drift-all", "medic-drift-namespace-payments"]
    assert config.ignore_differences and config.ignore_paths


def test_an_unreachable_temporal_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cli.devserver import free_port

    config = tmp_path / "drift.yaml"
    config.write_text("schedules:\n  - scope: all\n    cron: '0 3 * * *'\n")
    monkeypatch.setenv("TEMPORAL_ADDRESS", f"127.0.0.1:{free_port()}")
    monkeypatch.setattr(cli.main, "_exit_now", _raise_exit)
    result = runner.invoke(cli.main.app, ["schedules", "apply", "--config", str(config)])
    assert result.exit_code == 1 and "cannot reach Temporal at 127.0.0.1:" in result.stderr


# ---- on the real Temporal dev server -------------------------------------------------------------


def _raise_exit(code: int) -> None:
    raise SystemExit(code)


@dataclass
class Temporal:
    server: DevServer
    config: Path
    scope: str
    queue: str
    made: set[str] = field(default_factory=set)

    @property
    def schedule_id(self) -> str:
        return ScheduleSpec(scope=DriftScope.parse(self.scope), cron=["0 3 * * *"]).schedule_id

    def write(self, schedules: list[dict[str, Any]]) -> None:
        self.config.write_text(json.dumps({"schedules": schedules}))  # JSON is YAML
        self.made.update(ScheduleSpec.model_validate(s).schedule_id for s in schedules)

    def medic(self, *args: str) -> Any:
        result = runner.invoke(cli.main.app, list(args))
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        return result

    def cli_schedule_ids(self) -> list[str]:
        """Schedule ids as the `temporal` CLI lists them."""
        listed = subprocess.run(
            [temporal_binary(), "schedule", "list", "--address", self.server.address, "--output", "json"],
            capture_output=True,
            check=True,
            text=True,
            timeout=60,
        )
        return [entry["scheduleId"] for entry in json.loads(listed.stdout or "[]")]

    def wait_listed(self, wanted: dict[str, int], timeout: float = 20.0) -> list[str]:
        """Poll the `temporal` CLI's list (eventually consistent) until each id is listed that often."""
        deadline = time.monotonic() + timeout
        while True:
            ids = self.cli_schedule_ids()
            if all(ids.count(i) == n for i, n in wanted.items()):
                return ids
            assert time.monotonic() < deadline, f"listed {ids}, wanted {wanted}"
            time.sleep(0.2)

    def run(self, coroutine: Any) -> Any:
        return asyncio.run(coroutine)

    async def client(self) -> Client:
        return await Client.connect(self.server.address, data_converter=DATA_CONVERTER)

    async def describe(self, schedule_id: str) -> Any:
        return await (await self.client()).get_schedule_handle(schedule_id).describe()


async def _delete(address: str, ids: set[str]) -> None:
    client = await Client.connect(address, data_converter=DATA_CONVERTER)
    for schedule_id in ids:
        with contextlib.suppress(Exception):  # already deleted by the test
            await client.get_schedule_handle(schedule_id).delete()


@pytest.fixture
def temporal(dev_server: DevServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Temporal]:
    hexa = uuid.uuid4().hex[:10]
    env = Temporal(dev_server, tmp_path / "drift.yaml", f"namespace:t-{hexa}", f"drift-test-{hexa}")
    monkeypatch.setenv("TEMPORAL_ADDRESS", dev_server.address)
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "default")
    monkeypatch.setenv("MEDIC_TASK_QUEUE", env.queue)
    monkeypatch.setenv("MEDIC_DRIFT_CONFIG", str(env.config))
    monkeypatch.setattr(cli.main, "_exit_now", _raise_exit)
    yield env
    asyncio.run(_delete(dev_server.address, env.made | {DEPLOY_POLL_SCHEDULE_ID}))


def _line(output: str, schedule_id: str) -> str:
    (line,) = [line for line in output.splitlines() if line.startswith(schedule_id + " ")]
    return line


def test_apply_twice_leaves_one_schedule_per_scope_and_reports_unchanged(temporal: Temporal) -> None:
    other = f"project:p-{temporal.queue[-10:]}"
    temporal.write(
        [
            {
                "scope": temporal.scope,
                "cron": ["0 3 * * SUN", "*/15 9-17 * * MON-FRI"],
                "jitter_seconds": 120,
            },
            {"scope": other, "every_seconds": 3600, "overlap": "buffer_one"},
        ]
    )
    other_id = ScheduleSpec(scope=DriftScope.parse(other), every_seconds=3600).schedule_id
    first = temporal.medic("schedules", "apply")
    assert first.exit_code == 0, first.output
    line = _line(first.stdout, temporal.schedule_id)
    assert (
        " created " in line
        and temporal.scope in line
        and "cron 0 3 * * SUN | cron */15 9-17 * * MON-FRI" in line
    )
    assert " created " in _line(first.stdout, other_id) and "every 1h" in _line(first.stdout, other_id)

    second = temporal.medic("schedules", "apply")
    assert second.exit_code == 0, second.output
    assert " unchanged " in _line(second.stdout, temporal.schedule_id)
    assert " unchanged " in _line(second.stdout, other_id)
    temporal.wait_listed({temporal.schedule_id: 1, other_id: 1})

    described = temporal.run(temporal.describe(temporal.schedule_id))
    action = described.schedule.action
    assert (action.workflow, action.id, action.task_queue) == (
        "DriftScanWorkflow",
        f"drift-scan-{DriftScope.parse(temporal.scope).slug}",
        temporal.queue,
    )
    assert described.schedule.spec.jitter == timedelta(minutes=2)
    assert described.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
    assert described.schedule.policy.catchup_window == timedelta(minutes=10)
    assert "managed by medic" in (described.schedule.state.note or "")
    memo = temporal.run(described.memo())
    assert memo["medic"]["scope"] == temporal.scope


def test_a_changed_cron_updates_and_paused_pauses(temporal: Temporal) -> None:
    temporal.write([{"scope": temporal.scope, "cron": "0 3 * * *"}])
    assert " created " in _line(temporal.medic("schedules", "apply").stdout, temporal.schedule_id)
    temporal.write([{"scope": temporal.scope, "cron": "30 4 * * *", "paused": True}])
    dry = temporal.medic("schedules", "apply", "--dry-run")
    assert " would update " in _line(dry.stdout, temporal.schedule_id)
    assert temporal.run(temporal.describe(temporal.schedule_id)).schedule.state.paused is False

    updated = temporal.medic("schedules", "apply")
    line = _line(updated.stdout, temporal.schedule_id)
    assert " updated " in line and "(changed: timing, paused)" in line and "cron 30 4 * * *" in line
    described = temporal.run(temporal.describe(temporal.schedule_id))
    assert described.schedule.state.paused is True
    assert calendar_text(calendar_key(described.schedule.spec.calendars[0])) == "30 4 * * *"
    assert " unchanged " in _line(temporal.medic("schedules", "apply").stdout, temporal.schedule_id)
    temporal.wait_listed({temporal.schedule_id: 1})


def test_a_schedule_left_out_is_kept_unless_pruned(temporal: Temporal) -> None:
    gone = f"namespace:gone-{temporal.queue[-10:]}"
    gone_id = ScheduleSpec(scope=DriftScope.parse(gone), cron=["0 3 * * *"]).schedule_id
    temporal.write([{"scope": temporal.scope, "cron": "0 3 * * *"}, {"scope": gone, "cron": "0 5 * * *"}])
    assert temporal.medic("schedules", "apply").exit_code == 0
    temporal.wait_listed({temporal.schedule_id: 1, gone_id: 1})

    temporal.write([{"scope": temporal.scope, "cron": "0 3 * * *"}])
    kept = temporal.medic("schedules", "apply")
    assert " kept " in _line(kept.stdout, gone_id)
    assert "not in the configuration (kept; --prune deletes)" in _line(kept.stdout, gone_id)
    dry = temporal.medic("schedules", "apply", "--prune", "--dry-run")
    assert " would delete " in _line(dry.stdout, gone_id)
    temporal.wait_listed({gone_id: 1})

    pruned = temporal.medic("schedules", "apply", "--prune")
    assert pruned.exit_code == 0, pruned.output
    assert " deleted " in _line(pruned.stdout, gone_id) and gone in _line(pruned.stdout, gone_id)
    assert " unchanged " in _line(pruned.stdout, temporal.schedule_id)
    temporal.wait_listed({temporal.schedule_id: 1, gone_id: 0})


def test_a_dry_run_creates_nothing(temporal: Temporal) -> None:
    temporal.write([{"scope": temporal.scope, "cron": "0 3 * * *"}])
    dry = temporal.medic("schedules", "apply", "--dry-run")
    assert " would create " in _line(dry.stdout, temporal.schedule_id)
    with pytest.raises(Exception, match="not found"):
        temporal.run(temporal.describe(temporal.schedule_id))


def test_a_concurrent_create_falls_back_to_an_update(
    temporal: Temporal, monkeypatch: pytest.MonkeyPatch
) -> None:
    temporal.write([{"scope": temporal.scope, "cron": "0 3 * * *"}])
    assert temporal.medic("schedules", "apply").exit_code == 0
    real_describe = cli.schedules._describe
    calls: list[str] = []

    async def describe_missing_first(client: Client, schedule_id: str) -> Any:
        calls.append(schedule_id)
        # The first look finds nothing, as if another apply created it right after.
        return None if len(calls) == 1 else await real_describe(client, schedule_id)

    monkeypatch.setattr(cli.schedules, "_describe", describe_missing_first)
    changed = ScheduleSpec(scope=DriftScope.parse(temporal.scope), cron=["0 6 * * *"])

    async def go() -> Any:
        return await apply_schedule(await temporal.client(), changed, temporal.queue)

    applied = temporal.run(go())
    assert (applied.outcome, applied.changes) == ("updated", ["timing"])
    assert len(calls) == 2
    described = temporal.run(temporal.describe(temporal.schedule_id))
    assert calendar_text(calendar_key(described.schedule.spec.calendars[0])) == "0 6 * * *"


def test_list_shows_scope_timing_next_and_recent_runs(temporal: Temporal) -> None:
    temporal.write([{"scope": temporal.scope, "cron": "0 3 * * *", "jitter_seconds": 60}])
    assert temporal.medic("schedules", "apply").exit_code == 0

    async def trigger() -> None:
        client = await temporal.client()
        await client.get_schedule_handle(temporal.schedule_id).trigger()
        deadline = time.monotonic() + 20
        while not (await client.get_schedule_handle(temporal.schedule_id).describe()).info.recent_actions:
            assert time.monotonic() < deadline, "the triggered scan never started"
            await asyncio.sleep(0.1)

    temporal.run(trigger())
    temporal.wait_listed({temporal.schedule_id: 1})
    listed = temporal.medic("schedules", "list", "--json")
    assert listed.exit_code == 0, listed.output
    (row,) = [r for r in json.loads(listed.stdout) if r["id"] == temporal.schedule_id]
    assert row["scope"] == temporal.scope and row["paused"] is False
    assert row["timing"] == "cron 0 3 * * *, jitter 1m, overlap skip, catch-up 10m"
    assert row["task_queue"] == temporal.queue and len(row["next_runs"]) == 3
    (run,) = row["recent_runs"]
    assert run["workflow_id"].startswith(f"drift-scan-{DriftScope.parse(temporal.scope).slug}-")
    assert run["status"] == "running"  # no worker polls the test's queue
    text = temporal.medic("schedules", "list")
    assert f"{temporal.schedule_id}" in text.stdout and "ran:  " in text.stdout

    async def terminate() -> None:
        await (await temporal.client()).get_workflow_handle(run["workflow_id"]).terminate("test done")

    temporal.run(terminate())


def test_apply_keeps_the_deploy_poll_schedule_beside_the_drift_scans(
    temporal: Temporal, monkeypatch: pytest.MonkeyPatch
) -> None:
    temporal.write([{"scope": temporal.scope, "every_seconds": 3600}])
    monkeypatch.setenv("MEDIC_DEPLOY_POLL_SECONDS", "120")
    first = temporal.medic("schedules", "apply")
    assert first.exit_code == 0, first.output
    line = _line(first.stdout, DEPLOY_POLL_SCHEDULE_ID)
    assert " created " in line and "every 2m, lookback 15m, overlap skip" in line
    assert " unchanged " in _line(temporal.medic("schedules", "apply").stdout, DEPLOY_POLL_SCHEDULE_ID)
    described = temporal.run(temporal.describe(DEPLOY_POLL_SCHEDULE_ID))
    action = described.schedule.action
    assert (action.workflow, action.task_queue) == ("DeployPollWorkflow", temporal.queue)
    assert [i.every for i in described.schedule.spec.intervals] == [timedelta(minutes=2)]
    assert described.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP

    monkeypatch.setenv("MEDIC_DEPLOY_POLL_LOOKBACK_SECONDS", "600")
    changed = _line(temporal.medic("schedules", "apply").stdout, DEPLOY_POLL_SCHEDULE_ID)
    assert " updated " in changed and "lookback" in changed


def test_without_a_drift_configuration_apply_keeps_only_the_deploy_poll(
    temporal: Temporal, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MEDIC_DRIFT_CONFIG", raising=False)
    applied = temporal.medic("schedules", "apply")
    assert applied.exit_code == 0, applied.output
    assert "only the deploy poll is applied" in applied.stderr
    assert " created " in _line(applied.stdout, DEPLOY_POLL_SCHEDULE_ID)
    assert [line for line in applied.stdout.splitlines() if line.strip()] == [
        _line(applied.stdout, DEPLOY_POLL_SCHEDULE_ID)
    ]


def test_a_deploy_poll_looking_back_less_than_its_interval_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MEDIC_DEPLOY_POLL_SECONDS", "900")
    monkeypatch.setenv("MEDIC_DEPLOY_POLL_LOOKBACK_SECONDS", "600")
    result = runner.invoke(cli.main.app, ["schedules", "apply"])
    assert result.exit_code == 2
    assert (
        "MEDIC_DEPLOY_POLL_LOOKBACK_SECONDS=600 is shorter than MEDIC_DEPLOY_POLL_SECONDS=900"
        in result.stderr
    )


def test_two_clusters_medics_keep_their_own_schedules_in_one_namespace(
    temporal: Temporal, monkeypatch: pytest.MonkeyPatch
) -> None:
    # README "Clusters": the same configuration applied (and pruned) by each cluster's medic
    hexa = temporal.queue[-10:]
    spec = ScheduleSpec(scope=DriftScope.parse(temporal.scope), cron=["0 3 * * *"])
    temporal.write([{"scope": temporal.scope, "cron": "0 3 * * *"}])
    monkeypatch.delenv("MEDIC_TASK_QUEUE")  # each cluster's medic: its own default queue
    ids = {}
    for cluster in (f"east-{hexa}", f"west-{hexa}"):
        monkeypatch.setenv("MEDIC_CLUSTER_NAME", cluster)
        ids[cluster] = (schedule_id_of(spec, cluster), poll_schedule_id(cluster))
        temporal.made.update(ids[cluster])
        applied = temporal.medic("schedules", "apply", "--prune")
        assert applied.exit_code == 0, applied.output
        assert " created " in _line(applied.stdout, ids[cluster][0])
        assert " created " in _line(applied.stdout, ids[cluster][1])
        assert "deleted" not in applied.stdout, "the other cluster's schedules are not this medic's"
    east, west = ids[f"east-{hexa}"][0], ids[f"west-{hexa}"][0]
    assert (east, west) == (
        f"medic-east-{hexa}.drift-{spec.scope.slug}",
        f"medic-west-{hexa}.drift-{spec.scope.slug}",
    )
    temporal.wait_listed({east: 1, west: 1, temporal.schedule_id: 0})
    for cluster, (drift_id, poll_id) in ids.items():
        scan = temporal.run(temporal.describe(drift_id)).schedule.action
        poll = temporal.run(temporal.describe(poll_id)).schedule.action
        assert (scan.id, scan.task_queue) == (
            f"{cluster}.drift-scan-{spec.scope.slug}",
            f"medic-remediation-{cluster}",
        )
        assert (poll.id, poll.task_queue) == (f"{cluster}.deploy-poll", f"medic-remediation-{cluster}")
