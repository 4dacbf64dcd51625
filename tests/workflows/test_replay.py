"""Recorded histories replay against today's workflow code: a non-deterministic change fails here.

Record new ones with `MEDIC_RECORD_HISTORIES=1 ./run test tests/e2e` (the whole loop) and
`MEDIC_RECORD_HISTORIES=1 ./run test tests/workflows/test_record_histories.py` (each path a patch
marker guards, on the time-skipping server), and commit them.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, WorkflowReplayResult
from temporalio.workflow import NondeterminismError

from integrations.temporal.converter import DATA_CONVERTER
from tests.conftest import HISTORIES as HISTORIES_DIR
from workers.main import workflow_runner
from workflows.deploy import DeploymentWatchWorkflow, DeployPollWorkflow
from workflows.drift import DriftScanWorkflow
from workflows.remediation import RemediationWorkflow
from workflows.remediation.patches import PATCH_FOUR_EYES
from workflows.review import ChangeReviewWorkflow

HISTORIES = sorted(HISTORIES_DIR.glob("*.json"))


def test_histories_are_recorded() -> None:
    assert len(HISTORIES) >= 6, "tests/histories/ lost its recorded histories"


async def replay(history: WorkflowHistory) -> WorkflowReplayResult:
    replayer = Replayer(
        workflows=[
            RemediationWorkflow,
            DriftScanWorkflow,
            ChangeReviewWorkflow,
            DeploymentWatchWorkflow,
            DeployPollWorkflow,
        ],
        workflow_runner=workflow_runner(),
        data_converter=DATA_CONVERTER,
    )
    return await replayer.replay_workflow(history, raise_on_replay_failure=False)


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    result = await replay(history)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


async def test_a_reordered_command_fails_replay() -> None:
    """Snapshot scheduled before the dry-run instead of after it — what a careless move of code
    between modules could do — is caught: the recorded order no longer matches the code's."""
    path = HISTORIES_DIR / "remediation-resolved.json"
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    assert (await replay(history)).replay_failure is None
    scheduled = [
        e.activity_task_scheduled_event_attributes
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    (dry_run,) = [a for a in scheduled if a.activity_type.name == "dry_run_plan"]
    (snapshot,) = [a for a in scheduled if a.activity_type.name == "snapshot_resources"]
    dry_run.activity_type.name, snapshot.activity_type.name = "snapshot_resources", "dry_run_plan"

    result = await replay(history)

    assert isinstance(result.replay_failure, NondeterminismError), result.replay_failure
    assert "scheduled event 'snapshot_resources' does not match" in str(result.replay_failure)


async def test_the_four_eyes_marker_is_what_refuses_a_recorded_signal() -> None:
    """The four-eyes history refused a signal ("Alice" after the console's "alice") that the rules
    before the marker counted. Replayed as if it had no marker, the earlier rules count the signal
    and record it, which the history did not: the marker is what decides, so histories recorded
    before it replay under the rules they were recorded with."""
    path = HISTORIES_DIR / "remediation-four-eyes.json"
    document = json.loads(path.read_text())
    assert (await replay(WorkflowHistory.from_json(path.stem, document))).replay_failure is None
    # "No marker": a deprecated marker of another name (the core refuses a marker nobody asks for
    # unless it is deprecated, and dropping the event would renumber the history).
    renamed = 0
    for event in document["events"]:
        details = event.get("markerRecordedEventAttributes", {}).get("details", {})
        for payload in details.get("patch-data", {}).get("payloads", []):
            data = json.loads(base64.b64decode(payload["data"]))
            if data["id"] == PATCH_FOUR_EYES:
                data.update(id="not-four-eyes", deprecated=True)
                payload["data"] = base64.b64encode(json.dumps(data).encode()).decode()
                renamed += 1
    assert renamed == 1

    result = await replay(WorkflowHistory.from_json(path.stem, document))

    assert isinstance(result.replay_failure, NondeterminismError), result.replay_failure
    assert "record_approval" in str(result.replay_failure), "the refused signal was counted"
