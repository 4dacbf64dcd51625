"""Each path a patch marker guards, driven on the time-skipping server and kept as a history.

Every test checks its outcome, its key audit steps and the patch markers its history carries. With
MEDIC_RECORD_HISTORIES=1 it also saves the history as tests/histories/remediation-<path>.json, which
tests/workflows/test_replay.py replays against today's workflow code:

    MEDIC_RECORD_HISTORIES=1 ./run test tests/workflows/test_record_histories.py

Each run gets a workflow id of its own that names its path (`incident-history-<path>`, for drift
incidents `drift.argocd.cart-history-<path>`), so that a recorded history says which path it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowHistory
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from domain.analysis.plan import Plan, Scale
from domain.policy.approval import DecisionInput
from domain.policy.decision import PolicyDecision
from domain.steps.change import DryRunResult, PlanInput, SnapshotResult
from domain.steps.remediation import RemediationResult
from integrations.llm.reviewer import ReviewVerdict
from tests.conftest import keep_history, wait_for_step
from tests.workflows import test_drift_workflow as drift
from tests.workflows import test_four_eyes as four_eyes
from tests.workflows import test_gitops_workflow as gitops
from tests.workflows import test_notifications as notifications
from tests.workflows import test_reasons as reasons
from tests.workflows import test_second_opinion as second_opinion
from tests.workflows.fakes import Activity, replaced
from tests.workflows.test_failed_run import FlakyObserve
from tests.workflows.test_remediation_workflow import (
    TARGET,
    Fakes,
    Harness,
    alert_group,
    policy,
    run_with_worker,
)
from workflows.remediation import RemediationWorkflow
from workflows.remediation.options import SNAPSHOT, STORE_UNAVAILABLE
from workflows.remediation.patches import (
    PATCH_ARGO_SYNC,
    PATCH_FAILED_SKIPS_COOLDOWN,
    PATCH_FOUR_EYES,
    PATCH_GITOPS_MODE,
    PATCH_INCIDENT_MEMORY,
    PATCH_MODEL_UNUSABLE,
    PATCH_NOTIFICATIONS,
    PATCH_OBSERVATION_RECORDED,
    PATCH_OBSERVE_MODE,
    PATCH_SECOND_OPINION,
    PATCH_STORE_OUTAGE,
)

PATCHES = (
    PATCH_GITOPS_MODE,
    PATCH_ARGO_SYNC,
    PATCH_INCIDENT_MEMORY,
    PATCH_SECOND_OPINION,
    PATCH_NOTIFICATIONS,
    PATCH_FOUR_EYES,
    PATCH_MODEL_UNUSABLE,
    PATCH_OBSERVE_MODE,
    PATCH_STORE_OUTAGE,
    PATCH_FAILED_SKIPS_COOLDOWN,
)


@pytest.fixture(autouse=True)
def _auto_policy(auto_policy_dir: Path) -> None:
    # The second-opinion paths run the real policy, in auto mode with open approvers.
    second_opinion.AUTO_POLICY["dir"] = auto_policy_dir


def named(h: Harness | gitops.Harness, path: str) -> None:
    """Give the harness's next run the workflow id of its path."""
    h.workflow_id = f"incident-history-{path}"


async def kept(handle: WorkflowHandle[Any, Any], path: str) -> WorkflowHistory:
    return await keep_history(handle, f"remediation-{path}")


def patches(history: WorkflowHistory) -> set[str]:
    markers = notifications.patch_markers(history)
    return {p for p in PATCHES if any(p.encode() in m for m in markers)}


def event_types(history: WorkflowHistory) -> list[int]:
    return [e.event_type for e in history.events]


def steps(audit: list[Any]) -> list[tuple[str, str]]:
    return [(e.step, e.status) for e in audit]


# ---- direct mode --------------------------------------------------------------------------------


async def test_a_rejection_in_direct_mode_is_recorded(time_skipping_env: WorkflowEnvironment) -> None:
    fakes = Fakes()

    async def scenario(h: Harness) -> tuple[RemediationResult, WorkflowHistory]:
        named(h, "rejected")
        handle = await h.start()
        await wait_for_step(handle, "awaiting_approval")
        await handle.signal(RemediationWorkflow.reject, DecisionInput(approver="bob", reason="not now"))
        return await handle.result(), await kept(handle, "rejected")

    result, history = await run_with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "rejected" and "rejected by bob: not now" in result.reason
    assert "dry_run" not in fakes.calls and "execute" not in fakes.calls
    assert ("decision", "reject") in steps(fakes.audit)
    assert steps(fakes.audit)[-1] == ("closed", "rejected")
    assert patches(history) == {PATCH_INCIDENT_MEMORY}


async def test_an_approval_that_expires_in_direct_mode_is_recorded(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = Fakes()

    async def scenario(h: Harness) -> tuple[RemediationResult, WorkflowHistory]:
        named(h, "expired")
        handle = await h.start(approval_timeout_seconds=3600)
        return await handle.result(), await kept(handle, "expired")

    result, history = await run_with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "expired" and "no decision within 3600s" in result.reason
    assert "execute" not in fakes.calls
    assert ("awaiting_approval", "expired") in steps(fakes.audit)
    assert steps(fakes.audit)[-1] == ("closed", "expired")
    assert patches(history) == {PATCH_INCIDENT_MEMORY}


async def test_an_alert_resolved_during_the_approval_wait_is_recorded(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = Fakes()

    async def scenario(h: Harness) -> tuple[RemediationResult, WorkflowHistory]:
        named(h, "alert-resolved")
        handle = await h.start()
        await wait_for_step(handle, "awaiting_approval")
        await handle.signal(RemediationWorkflow.alert_notification, alert_group("resolved"))
        return await handle.result(), await kept(handle, "alert-resolved")

    result, history = await run_with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "no_action" and "alert resolved" in result.reason
    assert "execute" not in fakes.calls
    assert ("awaiting_approval", "cancelled") in steps(fakes.audit)
    assert steps(fakes.audit)[-1] == ("closed", "no_action")
    assert patches(history) == {PATCH_INCIDENT_MEMORY}


async def test_a_low_risk_plan_executed_without_approval_is_recorded(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = Fakes(decision=policy("low", approvals=0, auto=True))

    async def scenario(h: Harness) -> tuple[RemediationResult, WorkflowHistory]:
        named(h, "auto-executed")
        handle = await h.start()
        return await handle.result(), await kept(handle, "auto-executed")

    result, history = await run_with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "resolved" and result.approvals == []
    assert ("awaiting_approval", "skipped") in steps(fakes.audit)
    assert steps(fakes.audit)[-1] == ("closed", "resolved")
    assert patches(history) == {PATCH_INCIDENT_MEMORY}


# ---- notifications -------------------------------------------------------------------------------


async def test_a_self_asserted_second_approval_refused_on_a_four_eyes_plan_is_recorded(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = four_eyes.fakes_for(four_eyes.FOUR_EYES)

    async def scenario(h: Harness) -> tuple[RemediationResult, WorkflowHistory]:
        named(h, "four-eyes")
        handle = await h.start(approval_timeout_seconds=3600)
        waiting = await wait_for_step(handle, "awaiting_approval")
        alice = DecisionInput(approver="alice", plan_hash=waiting.plan_hash, channel="console")
        await handle.execute_update(RemediationWorkflow.decide, alice)
        # Counted before the marker (another spelling, a claimed group); refused after it.
        await handle.signal(RemediationWorkflow.approve, DecisionInput(approver="Alice", groups=["sre"]))
        await four_eyes.refused_signal(handle)
        await handle.execute_update(RemediationWorkflow.decide, DecisionInput(approver="bob", channel="api"))
        return await handle.result(), await kept(handle, "four-eyes")

    result, history = await run_with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "resolved", result.reason
    assert [(a.approver, a.channel) for a in result.approvals] == [("alice", "console"), ("bob", "api")]
    assert [e.actor for e in fakes.audit if e.step == "decision"] == ["alice", "bob"]
    assert patches(history) == {PATCH_INCIDENT_MEMORY, PATCH_FOUR_EYES}


async def test_notifications_of_the_wait_its_reminders_the_decisions_and_the_outcome_are_recorded(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = Fakes(decision=policy("high", approvals=2))
    sent = notifications.Sent()

    async def scenario(h: Harness) -> tuple[RemediationResult, WorkflowHistory]:
        named(h, "notifications")
        handle = await h.start(notify=True, approval_reminders_seconds=[3600, 900])
        await wait_for_step(handle, "awaiting_approval")
        await notifications.until(lambda: len(sent.notifications) == 1, "the awaiting-approval notification")
        await h.env.sleep(timedelta(hours=3, minutes=50))  # past both reminders
        await notifications.until(lambda: len(sent.notifications) == 3, "two reminders")
        await handle.signal(RemediationWorkflow.approve, DecisionInput(approver="alice", reason="ok"))
        await notifications.until(lambda: len(sent.notifications) == 4, "the first decision")
        await handle.signal(RemediationWorkflow.approve, DecisionInput(approver="bob", reason="ok too"))
        return await handle.result(), await kept(handle, "notifications")

    result, history = await notifications.run(time_skipping_env, fakes, sent.activity(), scenario)
    assert result.outcome == "resolved"
    assert [a.approver for a in result.approvals] == ["alice", "bob"]
    assert sent.events() == [
        "awaiting_approval",
        "approval_reminder",
        "approval_reminder",
        "decision",
        "decision",
        "outcome",
    ]
    assert [e for e in steps(fakes.audit) if e[0] == "decision"] == [("decision", "approve")] * 2
    assert steps(fakes.audit)[-1] == ("closed", "resolved")
    assert patches(history) == {PATCH_INCIDENT_MEMORY, PATCH_NOTIFICATIONS}


async def test_notifications_given_up_on_after_the_final_wait_are_recorded(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = Fakes()
    sent = notifications.Sent(ApplicationError("Slack is down", type="NotifyUnavailable"))

    async def scenario(h: Harness) -> tuple[RemediationResult, WorkflowHistory]:
        named(h, "notifications-undelivered")
        handle = await h.start(notify=True)
        await wait_for_step(handle, "awaiting_approval")
        await notifications.until(lambda: len(sent.attempts) >= 1, "a first attempt")
        await handle.signal(RemediationWorkflow.approve, DecisionInput(approver="alice"))
        return await handle.result(), await kept(handle, "notifications-undelivered")

    result, history = await notifications.run(time_skipping_env, fakes, sent.activity(), scenario)
    assert result.outcome == "resolved"
    assert sent.notifications == []
    assert {n.event for n in sent.attempts} == {"awaiting_approval", "decision", "outcome"}
    assert steps(fakes.audit)[-1] == ("closed", "resolved")
    # The drain gave up on them: each one still being sent was cancelled before the workflow closed.
    cancelled = event_types(history).count(EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED)
    assert cancelled == 3
    assert patches(history) == {PATCH_INCIDENT_MEMORY, PATCH_NOTIFICATIONS}


async def test_a_model_refusing_its_key_reported_and_the_offline_rules_deciding_is_recorded(
    time_skipping_env: WorkflowEnvironment, httpserver: HTTPServer
) -> None:
    fakes = Fakes()
    reasons.refuse_the_key(httpserver)
    sent = notifications.Sent()
    result, history = await reasons.run_with_model(
        time_skipping_env, httpserver, fakes, sent, history="model-unusable"
    )
    assert fakes.incident["model_unusable"] == reasons.REFUSED_KEY
    assert sent.events()[0] == "model_unusable" and sent.events()[-1] == "outcome"
    assert steps(fakes.audit)[-1] == ("closed", result.outcome)
    # The offline rules' plan changes Helm values (a GitOps plan); these fakes find no file for it.
    assert (result.outcome, fakes.incident["reason"]) == ("needs_review", result.reason)
    assert patches(history) == {
        PATCH_INCIDENT_MEMORY,
        PATCH_NOTIFICATIONS,
        PATCH_GITOPS_MODE,
        PATCH_MODEL_UNUSABLE,
    }


# ---- second opinion ------------------------------------------------------------------------------


async def test_a_second_opinion_veto_is_recorded(time_skipping_env: WorkflowEnvironment) -> None:
    fakes = Fakes()
    review = second_opinion.Review(ReviewVerdict(veto=True, reason="a leak, not a limit"))

    async def scenario(h: Harness) -> tuple[RemediationResult, WorkflowHistory]:
        named(h, "second-opinion-veto")
        handle = await h.start(second_opinion=True)
        return await handle.result(), await kept(handle, "second-opinion-veto")

    result, history = await second_opinion.run(time_skipping_env, fakes, review.activity(), scenario)
    assert result.outcome == "needs_review"
    assert result.reason == "the second-opinion review vetoed the plan: a leak, not a limit"
    assert "dry_run" not in fakes.calls and "execute" not in fakes.calls
    reviewing = next(e for e in fakes.audit if e.step == "reviewing")
    assert reviewing.status == "completed" and reviewing.detail["vetoed"] is True
    assert not any(step == "awaiting_approval" for step, _ in steps(fakes.audit))
    assert steps(fakes.audit)[-1] == ("closed", "needs_review")
    assert patches(history) == {PATCH_INCIDENT_MEMORY, PATCH_SECOND_OPINION}


async def test_a_second_opinion_that_raises_the_risk_floor_is_recorded(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = Fakes()
    review = second_opinion.Review(ReviewVerdict(raise_risk_to="high", reason="wants two eyes"))

    async def scenario(h: Harness) -> tuple[RemediationResult, Any, WorkflowHistory]:
        named(h, "second-opinion-raised-risk")
        handle = await h.start(second_opinion=True)
        waiting = await wait_for_step(handle, "awaiting_approval")
        # Two approvals count only through verified channels (the console, the API), not signals.
        alice = DecisionInput(approver="alice", reason="ok", channel="console")
        await handle.execute_update(RemediationWorkflow.decide, alice)
        await handle.execute_update(RemediationWorkflow.decide, DecisionInput(approver="bob", channel="api"))
        return await handle.result(), waiting, await kept(handle, "second-opinion-raised-risk")

    result, waiting, history = await second_opinion.run(time_skipping_env, fakes, review.activity(), scenario)
    assert waiting.policy.risk == "high" and waiting.approvals_required == 2
    assert result.outcome == "resolved"
    assert [a.approver for a in result.approvals] == ["alice", "bob"]
    reviewing = next(e for e in fakes.audit if e.step == "reviewing")
    assert reviewing.status == "completed" and reviewing.detail["min_risk"] == "high"
    assert ("verifying", "passed") in steps(fakes.audit)
    assert patches(history) == {PATCH_INCIDENT_MEMORY, PATCH_SECOND_OPINION}


async def test_a_second_opinion_that_fails_is_recorded(time_skipping_env: WorkflowEnvironment) -> None:
    fakes = Fakes()
    review = second_opinion.Review(
        error=ApplicationError("no tool call", type="InvalidModelOutput", non_retryable=True)
    )

    async def scenario(h: Harness) -> tuple[RemediationResult, Any, WorkflowHistory]:
        named(h, "second-opinion-failed")
        handle = await h.start(second_opinion=True)
        waiting = await wait_for_step(handle, "awaiting_approval")
        await handle.signal(RemediationWorkflow.approve, DecisionInput(approver="alice", reason="ok"))
        return await handle.result(), waiting, await kept(handle, "second-opinion-failed")

    result, waiting, history = await second_opinion.run(time_skipping_env, fakes, review.activity(), scenario)
    assert waiting.policy.risk == "medium" and waiting.approvals_required == 1
    assert result.outcome == "resolved"
    assert [e.status for e in fakes.audit if e.step == "reviewing"] == ["failed"]
    assert steps(fakes.audit)[-1] == ("closed", "resolved")
    assert patches(history) == {PATCH_INCIDENT_MEMORY, PATCH_SECOND_OPINION}


# ---- observe mode ------------------------------------------------------------------------------

OBSERVING = PolicyDecision(allowed=True, risk="low", approvals_required=1, mode="observe")


async def test_an_observed_direct_plan_is_recorded(time_skipping_env: WorkflowEnvironment) -> None:
    fakes = Fakes(
        decision=OBSERVING,
        plan=Plan(actions=[Scale(target=TARGET.without_container(), replicas=4)]),
    )

    async def scenario(h: Harness) -> tuple[RemediationResult, WorkflowHistory]:
        named(h, "observed")
        handle = await h.start()
        return await handle.result(), await kept(handle, "observed")

    result, history = await run_with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "observed", result.reason
    assert "would change payments/Deployment/ledger: replicas 2 → 4" in result.reason
    assert fakes.calls == ["observe", "recall", "analyze", "validate"]
    assert steps(fakes.audit)[-2:] == [("would_change", "info"), ("closed", "observed")]
    assert patches(history) == {PATCH_INCIDENT_MEMORY, PATCH_OBSERVE_MODE}


async def test_an_observed_gitops_plan_is_recorded(time_skipping_env: WorkflowEnvironment) -> None:
    fakes = gitops.Fakes(decision=OBSERVING)

    async def scenario(h: gitops.Harness) -> tuple[RemediationResult, WorkflowHistory]:
        named(h, "gitops-observed")
        handle = await h.start()
        return await handle.result(), await kept(handle, "gitops-observed")

    result, history = await gitops.run_with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "observed", result.reason
    assert "through a pull request changing values/ledger-values.yaml" in result.reason
    assert fakes.calls == ["prepare"] and fakes.prs == {}
    assert ("preparing_change", "completed") in fakes.steps()
    assert patches(history) == {PATCH_INCIDENT_MEMORY, PATCH_OBSERVE_MODE}


# ---- GitOps mode ---------------------------------------------------------------------------------


async def test_a_gitops_fix_that_fails_verification_and_an_approved_revert_are_recorded(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = gitops.Fakes(healthy=False)

    async def scenario(h: gitops.Harness) -> tuple[Any, RemediationResult, WorkflowHistory]:
        named(h, "gitops-revert-approved")
        handle = await h.start()  # revert_needs_approval is on by default
        fix = await gitops.approve(handle, "alice")
        await wait_for_step(handle, "awaiting_merge")
        fakes.merge(1)
        await gitops.pr_event(handle, 1, "merged")
        revert = await wait_for_step(handle, "awaiting_approval")
        assert revert.approval_round == "revert" and revert.plan_hash != fix.plan_hash
        await handle.execute_update(
            RemediationWorkflow.decide, DecisionInput(approver="alice", plan_hash=revert.plan_hash)
        )
        await wait_for_step(handle, "awaiting_merge")
        fakes.merge(2)
        await gitops.pr_event(handle, 2, "merged")
        return revert, await handle.result(), await kept(handle, "gitops-revert-approved")

    revert, result, history = await gitops.run_with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "rolled_back", result.reason
    assert "verification failed" in result.reason and "reverted by pull request #2" in result.reason
    assert [a.plan_hash for a in result.approvals] == [result.plan_hash, revert.plan_hash]
    assert fakes.prs[2].kind == "revert"
    done = fakes.steps()
    assert done.index(("verifying", "failed")) < done.index(("reverting", "completed"))
    assert done.count(("awaiting_approval", "completed")) == 2
    assert ("verifying_rollback", "passed") in done and done[-1] == ("closed", "rolled_back")
    assert patches(history) == {PATCH_INCIDENT_MEMORY, PATCH_GITOPS_MODE}


async def test_a_gitops_fix_merged_by_medic_without_approval_is_recorded(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = gitops.Fakes(decision=gitops.policy("low", approvals=0, auto=True))

    async def scenario(h: gitops.Harness) -> tuple[RemediationResult, WorkflowHistory]:
        named(h, "gitops-auto-merged")
        handle = await h.start()
        return await handle.result(), await kept(handle, "gitops-auto-merged")

    result, history = await gitops.run_with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "resolved", result.reason
    assert fakes.prs[1].merged_by == "medic"
    done = fakes.steps()
    assert ("awaiting_approval", "skipped") in done and ("merging", "completed") in done
    assert ("awaiting_merge", "started") not in done and done[-1] == ("closed", "resolved")
    assert patches(history) == {PATCH_INCIDENT_MEMORY, PATCH_GITOPS_MODE}


async def test_a_gitops_pull_request_not_merged_in_time_is_recorded(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = gitops.Fakes()

    async def scenario(h: gitops.Harness) -> tuple[RemediationResult, WorkflowHistory]:
        named(h, "gitops-merge-expired")
        handle = await h.start(pr_poll_seconds=60, pr_merge_timeout_seconds=300)
        await gitops.approve(handle)
        return await handle.result(), await kept(handle, "gitops-merge-expired")

    result, history = await gitops.run_with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "expired"
    assert "#1 was not merged within 300s" in result.reason
    assert fakes.prs[1].status == "closed" and fakes.prs[1].closed_by == "medic"
    assert "sync" not in fakes.calls
    assert ("awaiting_merge", "expired") in fakes.steps() and fakes.steps()[-1] == ("closed", "expired")
    assert patches(history) == {PATCH_INCIDENT_MEMORY, PATCH_GITOPS_MODE}


# ---- Argo CD sync (drift) ------------------------------------------------------------------------


async def test_a_drift_sync_that_does_not_complete_is_recorded(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = drift.SyncFakes(progress=["waiting", "failed"])
    result, handle = await drift.run_incident(
        time_skipping_env, fakes, workflow_id="drift.argocd.cart-history-drift-sync-failed"
    )
    history = await kept(handle, "drift-sync-failed")
    assert result.outcome == "rolled_back"
    assert "the sync did not complete" in result.reason
    assert fakes.calls[:3] == ["dry_run_sync", "snapshot", "sync"] and "restore" in fakes.calls
    done = drift.steps(fakes)
    assert done.index(("syncing", "failed")) < done.index(("rolling_back", "completed"))
    assert ("verifying_rollback", "passed") in done and ("closed", "rolled_back") in done
    assert patches(history) == {PATCH_INCIDENT_MEMORY, PATCH_ARGO_SYNC}


async def test_drift_gone_before_the_sync_is_recorded(time_skipping_env: WorkflowEnvironment) -> None:
    fakes = drift.SyncFakes(dry_run=DryRunResult(ok=False, nothing_to_do=True))
    result, handle = await drift.run_incident(
        time_skipping_env, fakes, workflow_id="drift.argocd.cart-history-drift-gone"
    )
    history = await kept(handle, "drift-gone")
    assert result.outcome == "no_action"
    assert "match Git again" in result.reason
    assert fakes.calls == ["dry_run_sync"]
    assert ("dry_run", "completed") in drift.steps(fakes) and ("closed", "no_action") in drift.steps(fakes)
    assert patches(history) == {PATCH_INCIDENT_MEMORY, PATCH_ARGO_SYNC}


# ---- outages and failures -------------------------------------------------------------------------


@dataclass
class ReplacedFakes(Fakes):
    """The shared fakes with some activities of the test's own in place of theirs."""

    own: list[Activity] = field(default_factory=list)

    def activities(self) -> list[Activity]:
        return replaced(super().activities(), *self.own)


def observation_recorded(history: WorkflowHistory) -> bool:
    return any(PATCH_OBSERVATION_RECORDED.encode() in m for m in notifications.patch_markers(history))


async def test_a_step_that_waits_out_a_store_outage_is_recorded(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """The snapshot gives up on an unreachable store after all its attempts; the workflow runs it
    again instead of failing the incident."""
    budget = SNAPSHOT.retry.maximum_attempts
    attempts: list[int] = []

    @activity.defn(name="snapshot_resources")
    async def snapshot_resources(input: PlanInput) -> SnapshotResult:
        attempts.append(activity.info().attempt)
        if len(attempts) <= budget:
            raise ApplicationError("the store refused the connection", type=STORE_UNAVAILABLE)
        return SnapshotResult(resources=[TARGET.without_container()])

    fakes = ReplacedFakes(decision=policy("low", approvals=0, auto=True), own=[snapshot_resources])

    async def scenario(h: Harness) -> tuple[RemediationResult, WorkflowHistory]:
        named(h, "store-outage-waited")
        handle = await h.start()
        return await handle.result(), await kept(handle, "store-outage-waited")

    result, history = await run_with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "resolved", result.reason
    assert attempts == [*range(1, budget + 1), 1]
    assert ("snapshot", "failed") not in steps(fakes.audit)
    assert steps(fakes.audit)[-1] == ("closed", "resolved")
    assert patches(history) == {PATCH_INCIDENT_MEMORY, PATCH_STORE_OUTAGE}
    assert observation_recorded(history)
    assert fakes.incident["observation"]["incident_id"] == result.incident_id


async def test_a_failed_incident_that_skips_its_cooldown_is_recorded(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    observe = FlakyObserve()
    fakes = ReplacedFakes(own=[observe.activity()])

    async def scenario(h: Harness) -> tuple[RemediationResult, WorkflowHistory]:
        named(h, "failed-frees-group")
        handle = await h.start(cooldown_seconds=4 * 3600)
        result = await handle.result()
        described = await handle.describe()
        assert described.close_time is not None and described.start_time is not None
        assert described.close_time - described.start_time < timedelta(minutes=5)
        return result, await kept(handle, "failed-frees-group")

    result, history = await run_with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "failed"
    assert steps(fakes.audit)[-1] == ("closed", "failed")
    assert patches(history) == {PATCH_INCIDENT_MEMORY, PATCH_FAILED_SKIPS_COOLDOWN}
    assert observation_recorded(history)
