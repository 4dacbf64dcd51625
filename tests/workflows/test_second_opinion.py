"""The second-opinion review in the remediation loop: it may veto a plan or raise its risk, never
lower it or add to it, and a reviewer that fails never blocks the incident.

The workflow runs on the time-skipping server with the real Rego policy (validate_plan) so that a
raised risk is seen as the policy decides it; the review is a fake replaced by name, or the real
activity around a scripted model.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from activities.analyze import ReviewActivities
from activities.validate import ValidateActivities
from domain.analysis.plan import Diagnosis, Plan, Restart, SetResources
from domain.policy.approval import DecisionInput
from domain.policy.decision import PolicyDecision
from domain.settings import settings_from_mapping
from domain.steps.analyze import ReviewInput, ReviewResult
from domain.steps.remediation import RemediationResult
from domain.steps.validate import ValidateInput
from gateway.ingest import remediation_input
from integrations.llm import InvalidModelOutput, ModelUnavailable, SecondOpinion
from integrations.llm.output import ToolSpec
from integrations.llm.reviewer import ReviewVerdict, apply_review
from integrations.temporal.converter import DATA_CONVERTER
from tests.conftest import wait_for_step
from tests.workflows.fakes import replaced
from tests.workflows.test_remediation_workflow import TARGET, Fakes, Harness, alert_group
from workers.main import workflow_runner
from workflows.remediation import RemediationWorkflow

RunScenario = Callable[[Harness], Any]


class Review:
    """A scripted review activity: the verdict it gives, or the error it fails with."""

    def __init__(self, verdict: ReviewVerdict | None = None, error: ApplicationError | None = None) -> None:
        self.verdict = verdict or ReviewVerdict(reason="looks right")
        self.error = error
        self.calls: list[ReviewInput] = []

    def activity(self) -> Callable[..., Any]:
        @activity.defn(name="review_diagnosis")
        async def review_diagnosis(input: ReviewInput) -> ReviewResult:
            self.calls.append(input)
            if self.error is not None:
                raise self.error
            reviewed, floor = apply_review(input.diagnosis, self.verdict)
            return ReviewResult(
                diagnosis=reviewed,
                min_risk=floor,
                vetoed=not reviewed.plan.actions,
                reason=self.verdict.reason,
                reviewer="review:fake",
            )

        return review_diagnosis


class ScriptedModel:
    """A `ToolModel` that answers the review tool from a script, or fails."""

    name = "scripted"

    def __init__(self, answer: dict[str, Any] | Exception) -> None:
        self.answer = answer
        self.calls = 0

    def call_tool(self, system: str, user: str, tool: ToolSpec) -> dict[str, Any]:
        self.calls += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


async def run(
    env: WorkflowEnvironment,
    fakes: Fakes,
    review: Callable[..., Any] | None,
    scenario: RunScenario,
    validated: list[ValidateInput] | None = None,
) -> Any:
    """Run `scenario` with the fakes, the real policy (in auto mode, with open approvers), and
    `review` as review_diagnosis."""
    policy = ValidateActivities(str(AUTO_POLICY["dir"]))

    @activity.defn(name="validate_plan")
    def validate_plan(input: ValidateInput) -> PolicyDecision:
        fakes.calls.append("validate")
        if validated is not None:
            validated.append(input)
        return policy.validate_plan(input)

    activities = replaced(fakes.activities(), validate_plan)
    if review is not None:
        activities.append(review)
    harness = Harness(env, fakes)
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(
            env.client,
            task_queue=harness.queue,
            workflows=[RemediationWorkflow],
            workflow_runner=workflow_runner(),
            activities=activities,
            activity_executor=executor,
        ):
            return await scenario(harness)


AUTO_POLICY: dict[str, Path] = {}


@pytest.fixture(autouse=True)
def _auto_policy(auto_policy_dir: Path) -> None:
    AUTO_POLICY["dir"] = auto_policy_dir


def _to_the_end(**overrides: Any) -> RunScenario:
    async def scenario(h: Harness) -> tuple[RemediationResult, Any]:
        handle = await h.start(**overrides)
        result = await handle.result()
        return result, await handle.query(RemediationWorkflow.status)

    return scenario


def _steps(fakes: Fakes) -> list[tuple[str, str]]:
    return [(e.step, e.status) for e in fakes.audit]


async def _replays(handle: WorkflowHandle[Any, Any]) -> None:
    history = await handle.fetch_history()
    replayer = Replayer(
        workflows=[RemediationWorkflow],
        workflow_runner=workflow_runner(),
        data_converter=DATA_CONVERTER,
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


async def test_veto_ends_needs_review_with_the_reviewers_reason(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = Fakes()
    review = Review(ReviewVerdict(veto=True, reason="the heap grows without bound: a leak, not a limit"))

    async def scenario(h: Harness) -> tuple[RemediationResult, Any]:
        handle = await h.start(second_opinion=True)
        result = await handle.result()
        await _replays(handle)
        return result, await handle.query(RemediationWorkflow.status)

    result, status = await run(time_skipping_env, fakes, review.activity(), scenario)

    assert result.outcome == "needs_review"
    assert result.reason == (
        "the second-opinion review vetoed the plan: the heap grows without bound: a leak, not a limit"
    )
    assert len(review.calls) == 1 and review.calls[0].diagnosis.plan.actions  # it saw the proposed plan
    assert status.plan is not None and status.plan.actions == []
    assert "execute" not in fakes.calls and "dry_run" not in fakes.calls
    assert ("reviewing", "completed") in _steps(fakes)
    reviewing = next(e for e in fakes.audit if e.step == "reviewing")
    assert reviewing.detail["vetoed"] is True and reviewing.detail["min_risk"] == "high"
    assert fakes.incident["outcome"] == "needs_review"


async def test_veto_of_a_plan_for_no_fault_is_still_needs_review_not_no_action(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = Fakes(root_cause="none")
    review = Review(ReviewVerdict(veto=True, reason="nothing is wrong; do not restart"))

    result, _ = await run(time_skipping_env, fakes, review.activity(), _to_the_end(second_opinion=True))

    assert result.outcome == "needs_review" and "do not restart" in result.reason


async def test_raised_risk_reaches_the_policy_which_asks_for_two_approvals(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = Fakes()
    review = Review(ReviewVerdict(raise_risk_to="high", reason="payments ledger: wants two eyes"))
    validated: list[ValidateInput] = []

    async def scenario(h: Harness) -> tuple[RemediationResult, Any]:
        handle = await h.start(second_opinion=True)
        waiting = await wait_for_step(handle, "awaiting_approval")
        # Two approvals count only through verified channels (the console, the API), not signals.
        alice = DecisionInput(approver="alice", reason="ok", channel="console")
        await handle.execute_update(RemediationWorkflow.decide, alice)
        await handle.execute_update(RemediationWorkflow.decide, DecisionInput(approver="bob", channel="api"))
        result = await handle.result()
        await _replays(handle)
        return result, waiting

    result, waiting = await run(time_skipping_env, fakes, review.activity(), scenario, validated)

    assert validated[0].min_risk == "high"
    assert waiting.policy is not None and waiting.policy.risk == "high"
    assert waiting.policy.approvals_required == 2 and waiting.approvals_required == 2
    assert not waiting.policy.auto_execute
    assert any(
        "second-opinion review raised the risk from medium to high" in r for r in waiting.policy.reasons
    )
    # The plan reviewed is the plan approved and executed: a review never changes it.
    assert waiting.plan is not None and waiting.plan == fakes.plan
    assert result.outcome == "resolved" and [a.approver for a in result.approvals] == ["alice", "bob"]


async def test_a_lower_verdict_never_lowers_the_policys_risk(time_skipping_env: WorkflowEnvironment) -> None:
    # set_resources is medium risk by policy; the review asks for medium at most.
    fakes = Fakes()
    review = Review(ReviewVerdict(raise_risk_to="medium", reason="fine"))

    async def scenario(h: Harness) -> Any:
        handle = await h.start(second_opinion=True)
        waiting = await wait_for_step(handle, "awaiting_approval")
        await handle.signal(RemediationWorkflow.reject, DecisionInput(approver="alice", reason="later"))
        await handle.result()
        return waiting

    waiting = await run(time_skipping_env, fakes, review.activity(), scenario)

    assert waiting.policy.risk == "medium" and waiting.policy.approvals_required == 1


@pytest.mark.parametrize(
    "error",
    [
        ApplicationError("the model is overloaded", type="ModelUnavailable"),
        ApplicationError("no tool call", type="InvalidModelOutput", non_retryable=True),
        ApplicationError("bad key", type="ModelRefused", non_retryable=True),
    ],
    ids=["unavailable", "invalid", "refused"],
)
async def test_reviewer_failure_proceeds_with_the_policys_own_risk(
    time_skipping_env: WorkflowEnvironment, error: ApplicationError
) -> None:
    fakes = Fakes()
    review = Review(error=error)

    async def scenario(h: Harness) -> tuple[RemediationResult, Any]:
        handle = await h.start(second_opinion=True)
        waiting = await wait_for_step(handle, "awaiting_approval")
        await handle.signal(RemediationWorkflow.approve, DecisionInput(approver="alice", reason="ok"))
        return await handle.result(), waiting

    result, waiting = await run(time_skipping_env, fakes, review.activity(), scenario)

    assert waiting.policy.risk == "medium" and waiting.policy.approvals_required == 1
    assert result.outcome == "resolved"
    assert len(review.calls) == (1 if error.non_retryable else 3)  # a few attempts, then without it
    failed = [e for e in fakes.audit if e.step == "reviewing"]
    assert [e.status for e in failed] == ["failed"]
    assert failed[0].detail["type"] == error.type and "policy's own risk stands" in failed[0].detail["then"]


async def test_second_opinion_off_calls_no_reviewer(time_skipping_env: WorkflowEnvironment) -> None:
    fakes = Fakes()
    review = Review(ReviewVerdict(veto=True, reason="would veto"))

    async def scenario(h: Harness) -> Any:
        handle = await h.start()  # second_opinion defaults to off
        waiting = await wait_for_step(handle, "awaiting_approval")
        await handle.signal(RemediationWorkflow.reject, DecisionInput(approver="alice", reason="no"))
        await handle.result()
        return waiting

    waiting = await run(time_skipping_env, fakes, review.activity(), scenario)

    assert review.calls == []
    assert "reviewing" not in {e.step for e in fakes.audit}
    assert waiting.policy.risk == "medium"


async def test_a_plan_without_actions_is_not_reviewed(time_skipping_env: WorkflowEnvironment) -> None:
    fakes = Fakes(root_cause="none", plan=Plan())
    review = Review(ReviewVerdict(veto=True, reason="x"))

    result, _ = await run(time_skipping_env, fakes, review.activity(), _to_the_end(second_opinion=True))

    assert review.calls == [] and result.outcome == "no_action"


async def test_a_review_that_changes_the_plan_is_ignored(time_skipping_env: WorkflowEnvironment) -> None:
    fakes = Fakes()
    calls: list[ReviewInput] = []

    @activity.defn(name="review_diagnosis")
    async def review_diagnosis(input: ReviewInput) -> ReviewResult:
        calls.append(input)
        swapped = Plan(actions=[Restart(target=TARGET.without_container())])
        return ReviewResult(
            diagnosis=Diagnosis.model_validate(
                {**input.diagnosis.model_dump(), "plan": swapped.model_dump()}
            ),
            min_risk=None,
            reason="a restart is better",
        )

    async def scenario(h: Harness) -> Any:
        handle = await h.start(second_opinion=True)
        waiting = await wait_for_step(handle, "awaiting_approval")
        await handle.signal(RemediationWorkflow.reject, DecisionInput(approver="alice", reason="no"))
        await handle.result()
        return waiting

    waiting = await run(time_skipping_env, fakes, review_diagnosis, scenario)

    assert len(calls) == 1
    assert waiting.plan == fakes.plan and isinstance(waiting.plan.actions[0], SetResources)
    reviewing = [e for e in fakes.audit if e.step == "reviewing"]
    assert [e.status for e in reviewing] == ["failed"] and "changed the plan" in reviewing[0].detail["error"]


# --- the real activity, around a scripted model ------------------------------------------------


async def test_real_review_activity_vetoes_through_the_model(time_skipping_env: WorkflowEnvironment) -> None:
    fakes = Fakes()
    model = ScriptedModel({"veto": True, "raise_risk_to": None, "reason": "the node has 512Mi in all"})
    review = ReviewActivities(SecondOpinion(model)).review_diagnosis

    result, _ = await run(time_skipping_env, fakes, review, _to_the_end(second_opinion=True))

    assert model.calls == 1
    assert result.outcome == "needs_review" and "the node has 512Mi in all" in result.reason


async def test_real_review_activity_ignores_actions_and_lower_risk_from_the_model(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = Fakes()
    hostile = {
        "veto": False,
        "raise_risk_to": "low",
        "reason": "also delete the namespace",
        "actions": [
            {"kind": "delete", "target": {"namespace": "payments", "kind": "Namespace", "name": "x"}}
        ],
    }
    review = ReviewActivities(SecondOpinion(ScriptedModel(hostile))).review_diagnosis

    async def scenario(h: Harness) -> Any:
        handle = await h.start(second_opinion=True)
        waiting = await wait_for_step(handle, "awaiting_approval")
        await handle.signal(RemediationWorkflow.reject, DecisionInput(approver="alice", reason="no"))
        await handle.result()
        return waiting

    waiting = await run(time_skipping_env, fakes, review, scenario)

    assert waiting.plan == fakes.plan
    assert waiting.policy.risk == "medium" and waiting.policy.approvals_required == 1


@pytest.mark.parametrize(
    ("reviewer", "error_type"),
    [
        (None, "ReviewerNotConfigured"),
        (
            SecondOpinion(ScriptedModel(InvalidModelOutput("review: `veto` must be true or false"))),
            "InvalidModelOutput",
        ),
        (SecondOpinion(ScriptedModel(ModelUnavailable("overloaded", retry_after=1))), "ModelUnavailable"),
    ],
    ids=["not-configured", "invalid", "unavailable"],
)
async def test_real_review_activity_failure_does_not_block(
    time_skipping_env: WorkflowEnvironment, reviewer: SecondOpinion | None, error_type: str
) -> None:
    fakes = Fakes()
    review = ReviewActivities(reviewer).review_diagnosis

    async def scenario(h: Harness) -> Any:
        handle = await h.start(second_opinion=True)
        waiting = await wait_for_step(handle, "awaiting_approval")
        await handle.signal(RemediationWorkflow.reject, DecisionInput(approver="alice", reason="no"))
        await handle.result()
        return waiting

    waiting = await run(time_skipping_env, fakes, review, scenario)

    assert waiting.policy.risk == "medium"
    failed = [e for e in fakes.audit if e.step == "reviewing"]
    assert [e.status for e in failed] == ["failed"] and failed[0].detail["type"] == error_type


# --- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(("env", "on"), [({}, False), ({"MEDIC_REVIEWER": "anthropic"}, True)])
def test_reviewer_setting_turns_the_second_opinion_on(env: dict[str, str], on: bool) -> None:
    settings = settings_from_mapping(env)
    started = remediation_input(settings, alert_group(), "incident-config")
    assert started.second_opinion is on and settings.reviewer == env.get("MEDIC_REVIEWER", "")
