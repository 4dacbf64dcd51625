"""`heartbeating()` heartbeats while one blocking call runs, and stops when the block ends."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from temporalio import activity
from temporalio.testing import ActivityEnvironment

from activities.heartbeat import heartbeating, heartbeats


def test_a_blocked_activity_heartbeats_from_the_helper_thread_and_stops_after() -> None:
    env = ActivityEnvironment()
    beats: list[tuple[Any, ...]] = []
    third = threading.Event()

    def on_heartbeat(*details: Any) -> None:
        beats.append(details)
        if len(beats) >= 3:
            third.set()

    env.on_heartbeat = on_heartbeat

    @activity.defn(name="blocked")
    def blocked() -> bool:
        # One call that never heartbeats itself: only the helper's thread can wake it.
        with heartbeating(0.05):
            return third.wait(timeout=10)

    assert env.run(blocked) is True
    after = len(beats)
    assert after >= 3
    done = threading.Event()
    done.wait(0.3)
    assert len(beats) == after  # the helper thread ended with the block


def test_heartbeats_keeps_the_activity_signature_temporal_reads() -> None:
    @heartbeats
    def step(count: int) -> str:
        return str(count)

    assert step.__name__ == "step" and step.__annotations__ == {"count": "int", "return": "str"}


def test_a_non_positive_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="must be positive"), heartbeating(0):
        pass
