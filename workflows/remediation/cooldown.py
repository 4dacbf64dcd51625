"""The cooldown: an incident stays open after its outcome, so that what its source sends next
lands in it instead of opening another.

Alertmanager repeats a firing notification every repeat_interval; while the incident is open
those repeats land here (and change nothing) — so a rejection, an expiry or a fix waiting for the
alert to clear holds. A notification after the cooldown opens a new incident. A drift incident
likewise absorbs the scans that still find its drift, auditing each.

An alert incident that ended `failed` (a step gave up: a fault, not a decision) has nothing to
hold: it closes at once, and the group's next firing notification starts a new run that tries
again.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from workflows.remediation.patches import PATCH_FAILED_SKIPS_COOLDOWN
from workflows.remediation.state import RunState
from workflows.remediation.steps import Steps


class Cooldown:
    def __init__(self, state: RunState, steps: Steps) -> None:
        self._state = state
        self._steps = steps

    def skip_for_failure(self) -> bool:
        """Whether the incident, just closed, skips its cooldown because it failed: decided once,
        at the close (an alert or intent incident that would otherwise wait)."""
        state = self._state
        if state.outcome != "failed" or state.incident.source == "drift":
            return False
        if state.input.cooldown_seconds <= 0 or state.alert_resolved:
            return False
        state.skips_cooldown = workflow.patched(PATCH_FAILED_SKIPS_COOLDOWN)
        return state.skips_cooldown

    async def wait(self) -> None:
        """Until the alert resolves or the cooldown ends (a drift incident: until the cooldown ends);
        not at all for a failed incident that skips it."""
        state = self._state
        cooldown = state.input.cooldown_seconds
        if state.incident.source == "drift":
            await self._wait_drift(cooldown)
            return
        if cooldown <= 0 or state.alert_resolved or state.skips_cooldown:
            return
        try:
            await workflow.wait_condition(lambda: state.alert_resolved, timeout=timedelta(seconds=cooldown))
        except TimeoutError:
            return

    async def _wait_drift(self, cooldown: int) -> None:
        """A resolved drift closes at once: the sync removed it, and drift found after that is new."""
        state = self._state
        await self.flush_drift_updates()
        if cooldown <= 0 or state.outcome == "resolved":
            return
        deadline = workflow.now() + timedelta(seconds=cooldown)
        while True:
            left = deadline - workflow.now()
            if left <= timedelta(0):
                return
            try:
                await workflow.wait_condition(lambda: bool(state.drift_updates), timeout=left)
            except TimeoutError:
                return
            await self.flush_drift_updates()

    async def flush_drift_updates(self) -> None:
        """Audit each drift a later scan found, in the order the scans signalled it."""
        updates = self._state.drift_updates
        while updates:
            drift = updates.pop(0)
            await self._steps.audit(
                "drift_observed",
                "completed",
                detail={
                    "application": drift.application,
                    "revision": drift.revision,
                    "resources": [
                        {
                            "resource": r.key,
                            "fields": [f.path for f in r.fields],
                            "live_missing": r.live_missing,
                        }
                        for r in drift.resources
                    ],
                },
            )
