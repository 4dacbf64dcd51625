"""Analysis: the diagnosis of the incident (a model, or the offline rules when the model cannot
answer) and an optional second opinion, which may only veto the plan or raise its risk."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.remediation.memory import Memory
from workflows.remediation.notifications import Notifier
from workflows.remediation.options import MODEL_NOT_USABLE, MODEL_OUTPUT_REJECTED, MODEL_UNUSABLE
from workflows.remediation.patches import PATCH_INCIDENT_MEMORY, PATCH_MODEL_UNUSABLE, PATCH_SECOND_OPINION
from workflows.remediation.state import Ending, RunState
from workflows.remediation.steps import StepFailed, Steps
from workflows.remediation.stubs import ANALYZE_INCIDENT, REVIEW_DIAGNOSIS
from workflows.runner import execute, failure_of

with workflow.unsafe.imports_passed_through():
    from domain.analysis.plan import Diagnosis
    from domain.incident.memory import RecallResult
    from domain.incident.reason import model_unusable_reason
    from domain.kube.observation import Observation
    from domain.steps.analyze import AnalyzeInput, ReviewInput, ReviewResult, RiskFloor


@dataclass(frozen=True)
class Diagnosed:
    """The diagnosis to validate, with what a second opinion added: a risk floor, or a veto."""

    diagnosis: Diagnosis
    min_risk: RiskFloor | None = None
    veto: str | None = None


class Analysis:
    def __init__(self, state: RunState, steps: Steps, memory: Memory, notifier: Notifier) -> None:
        self._state = state
        self._steps = steps
        self._memory = memory
        self._notifier = notifier

    async def diagnose(self, observation: Observation) -> Diagnosed | Ending:
        """Recall, analyze (falling back to the offline rules when the model cannot answer) and,
        when the input asks for it, review. Analysis output that must not be acted on ends the
        incident as `needs_review`."""
        state = self._state
        recall = RecallResult()
        if workflow.patched(PATCH_INCIDENT_MEMORY):
            recall = await self._memory.recall(observation)
        analyze_input = AnalyzeInput(incident=state.incident, observation=observation, similar=recall.similar)
        try:
            diagnosis = await self._analyze(analyze_input)
        except StepFailed as failed:
            if failed.error_type in MODEL_OUTPUT_REJECTED:
                return "needs_review", f"the analysis was rejected: {failed}"
            if failed.error_type not in MODEL_NOT_USABLE:
                raise
            # The model cannot answer (after its retries): the offline rules decide. A model that
            # cannot be used at all is said so, not hidden behind the fallback.
            unusable = None
            if failed.error_type in MODEL_UNUSABLE:
                after = f" after {failed.attempts} attempts" if failed.attempts else ""
                unusable = state.model_unusable = model_unusable_reason(f"{failed}{after}")
            diagnosis = await self._analyze(
                analyze_input.model_copy(update={"analyzer": "offline"}), model_unusable=unusable
            )
            if unusable is not None and state.notifying and workflow.patched(PATCH_MODEL_UNUSABLE):
                self._notifier.notify("model_unusable", reason=unusable, summary=diagnosis.summary)
        self._adopt(diagnosis)
        diagnosed = Diagnosed(diagnosis)
        if state.input.second_opinion and diagnosis.plan.actions and workflow.patched(PATCH_SECOND_OPINION):
            review = await self._review(observation, diagnosis)
            if review is not None:
                veto = None
                if not review.diagnosis.plan.actions:
                    veto = review.reason or "no reason given"
                    diagnosis = review.diagnosis
                diagnosed = Diagnosed(diagnosis, min_risk=review.min_risk, veto=veto)
        self._adopt(diagnosed.diagnosis)
        return diagnosed

    def _adopt(self, diagnosis: Diagnosis) -> None:
        self._state.diagnosis = diagnosis
        self._state.plan_hash = diagnosis.plan.plan_hash()

    async def _analyze(self, input: AnalyzeInput, model_unusable: str | None = None) -> Diagnosis:
        return await self._steps.run(
            "analyzing",
            ANALYZE_INCIDENT,
            input,
            summary=lambda d: {
                "root_cause": d.root_cause,
                "summary": d.summary,
                "actions": [a.kind for a in d.plan.actions],
                "analyzer": d.analyzer,
                **({"model_unusable": model_unusable} if model_unusable else {}),
            },
        )

    async def _review(self, observation: Observation, diagnosis: Diagnosis) -> ReviewResult | None:
        """A second opinion on the plan: it may veto it or raise its risk, nothing else.

        A review can only make things safer, so its absence never blocks: a reviewer that is not
        configured, unavailable after its retries, refused or invalid is audited as failed and the
        policy decides alone. So is a review that returns a plan other than the one proposed or
        none (a review may drop the plan, never change it).
        """
        state, steps = self._state, self._steps
        state.step = "reviewing"
        started = workflow.now()
        without = "continued without a review: the policy's own risk stands"
        try:
            review = await execute(
                REVIEW_DIAGNOSIS,
                ReviewInput(incident=state.incident, observation=observation, diagnosis=diagnosis),
            )
        except ActivityError as err:
            message, error_type = failure_of(err)
            await steps.audit(
                "reviewing",
                "failed",
                duration=workflow.now() - started,
                detail={"error": message, "type": error_type, "then": without},
            )
            return None
        reviewed = review.diagnosis.plan
        if reviewed.actions and reviewed.plan_hash() != diagnosis.plan.plan_hash():
            await steps.audit(
                "reviewing",
                "failed",
                duration=workflow.now() - started,
                detail={"error": "the review changed the plan, which a review may not do", "then": without},
            )
            return None
        if reviewed.actions:
            # Not vetoed: the proposed diagnosis stands as it was; only the risk floor is taken.
            review = review.model_copy(update={"diagnosis": diagnosis})
        await steps.audit(
            "reviewing",
            "completed",
            duration=workflow.now() - started,
            detail={
                "reviewer": review.reviewer,
                "vetoed": not reviewed.actions,
                "min_risk": review.min_risk,
                "reason": review.reason,
            },
        )
        return review
