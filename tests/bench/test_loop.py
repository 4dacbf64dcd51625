"""bench/loop.py: its history arithmetic, and one tiny run of the whole benchmark so it cannot rot."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

from bench import loop

T0 = 1_700_000_000.0


def _at(seconds: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromMicroseconds(int((T0 + seconds) * 1e6))
    return stamp


class _History:
    """A workflow history of activities, each scheduled, started and completed at given times."""

    def __init__(self) -> None:
        self.events: list[HistoryEvent] = []

    def _next(self, kind: EventType.ValueType, at: float) -> HistoryEvent:
        event = HistoryEvent(event_id=len(self.events) + 1, event_type=kind, event_time=_at(at))
        self.events.append(event)
        return event

    def activity(self, name: str, started: float, completed: float, **input: Any) -> None:
        scheduled = self._next(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, started)
        attrs = scheduled.activity_task_scheduled_event_attributes
        attrs.activity_type.name = name
        attrs.input.payloads.append(Payload(data=json.dumps(input).encode()))
        begun = self._next(EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED, started)
        begun.activity_task_started_event_attributes.scheduled_event_id = scheduled.event_id
        done = self._next(EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, completed)
        done.activity_task_completed_event_attributes.scheduled_event_id = scheduled.event_id


def _incident_history() -> _History:
    history = _History()
    history.activity("record_incident", 0.10, 0.15, status="received")
    history.activity("observe_incident", 0.20, 0.50)
    history.activity("validate_plan", 0.60, 0.70)
    history.activity("record_incident", 0.80, 0.90, status="awaiting_approval")
    history.activity("record_approval", 2.10, 2.20)
    history.activity("execute_plan", 2.30, 2.50)
    history.activity("check_rollout", 2.60, 2.70)
    history.activity("record_audit", 7.60, 7.80, step="verifying", status="passed")
    return history


def test_spans_come_from_the_history_with_the_time_inside_activities() -> None:
    incident = loop.Incident(namespace="shop-00000", alert={}, posted_at=T0, approved_at=T0 + 2.0)

    spans, missing = loop.spans_of(_incident_history().events, incident)

    assert missing == []
    (p3,), (p4,) = spans.p3, spans.p4
    assert p3.seconds == pytest.approx(0.90)
    assert p3.in_activities == pytest.approx(0.05 + 0.30 + 0.10 + 0.10)
    assert p4.seconds == pytest.approx(0.50)
    assert p4.in_activities == pytest.approx(0.10 + 0.20)
    assert spans.verify == [pytest.approx(7.80 - 2.50)]


def test_overlapping_activities_count_once_and_only_inside_the_span() -> None:
    history = _History()
    history.activity("a", 0.0, 1.0)
    history.activity("b", 0.5, 1.5)  # overlaps a
    history.activity("c", 2.5, 4.0)  # runs past the span's end

    inside = loop._inside(loop._activities(history.events), T0 + 0.25, T0 + 3.0)

    assert inside == pytest.approx(1.25 + 0.5)


def test_an_incident_without_a_plan_or_a_change_is_reported_missing() -> None:
    history = _History()
    history.activity("record_incident", 0.1, 0.2, status="received")
    incident = loop.Incident(namespace="shop-00003", alert={}, posted_at=T0, approved_at=T0 + 1)

    spans, missing = loop.spans_of(history.events, incident)

    assert spans.p3 == [] and spans.p4 == []
    assert missing == ["no plan awaiting approval in the history", "no change applied in the history"]


def test_the_fit_is_exact_on_a_line_and_says_how_well_it_fits_otherwise() -> None:
    line = loop.fit([100, 1_000, 5_000], [10 + 0.5 * n for n in (100, 1_000, 5_000)])
    assert line["intercept"] == pytest.approx(10) and line["slope"] == pytest.approx(0.5)
    assert line["r2"] == pytest.approx(1.0)
    assert loop.fit([1, 2, 3], [1, 5, 2])["r2"] < 0.5


@pytest.fixture
def no_medic_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("MEDIC_HOME", "TEMPORAL_ADDRESS", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    yield


@pytest.mark.e2e
def test_a_tiny_run_measures_every_figure(
    no_medic_settings: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code = loop.main(
        [
            "--sizes",
            "2",
            "--runs",
            "1",
            "--latency-incidents",
            "1",
            "--warmup",
            "0",
            "--idle-seconds",
            "0.5",
            "--settle-seconds",
            "0.2",
            "--verify-interval",
            "1",
            "--json",
        ]
    )

    figures = json.loads(capsys.readouterr().out)
    assert code == 0, figures["problems"]
    latency = figures["latency"]["figures"]
    assert 0 < latency["p3_p50"] < 30 and 0 < latency["p4_p50"] < 30
    assert 0 < latency["p3_activity_share"] < 1 and 0 < latency["p4_activity_share"] < 1
    assert latency["verify_p50"] >= 1  # at least one verify interval
    (size,) = figures["capacity"]
    assert size["incidents"] == 2 and size["problems"] == []
    assert size["rss_mb"] > 50 and size["start_rss_mb"] > 50 and size["idle_cpu_percent"] >= 0
    assert size["to_waiting_seconds"] > 0 and size["to_resolved_seconds"] > 0
    assert size["history_bytes"] > 1_000 and size["history_events"] > 20
