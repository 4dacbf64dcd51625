"""analyze: Observation in, Diagnosis out, through an injected analyzer.

The model analyzers' errors become typed ApplicationErrors (`activities.failures`): an
unavailable model is retried by Temporal (with the server's retry-after as the next delay, so
every attempt shows in the history); invalid output, a refused request or an over-budget prompt
are final, and the workflow decides what follows (the offline analyzer, or a human) by their type.

A drift incident (source `drift`, with the scan's drift) is planned by `drift_diagnosis` from the
disposition the drift policy gave it, whatever analyzer is configured: the model is not consulted.
So is a degraded deploy (source `deploy`, with its regression) by `deploy_diagnosis`: its plan is
the revert of the deploy's commits; and a change request (source `intent`) by `intent_diagnosis`:
its plan is the change it asked for.
Nor is it for an incident whose alerts all fire by design (`Watchdog`, `InfoInhibitor`): it ends
with root cause `none` and the reason (`domain.analysis.rules.meta`).

review: a second model's opinion on a proposed plan (`ReviewActivities`, optional). It may only
veto the plan or raise the risk the policy must give it; its failures are typed the same way, and
the workflow goes on without a review when it fails.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.failures import classified
from domain.analysis.offline import Analyzer, OfflineAnalyzer
from domain.analysis.plan import Diagnosis
from domain.analysis.rules.meta import meta_alert_diagnosis
from domain.deploy.incident import ANALYZER as DEPLOY_ANALYZER
from domain.deploy.incident import deploy_diagnosis
from domain.drift.plan import ANALYZER as DRIFT_ANALYZER
from domain.drift.plan import drift_diagnosis
from domain.intent.plan import ANALYZER as INTENT_ANALYZER
from domain.intent.plan import intent_diagnosis
from domain.redaction.objects import redact_incident, redact_observation
from domain.redaction.text import redact_text
from domain.steps.analyze import AnalyzeInput, ReviewInput, ReviewResult
from integrations.llm import SecondOpinion, apply_review


class AnalyzeActivities:
    def __init__(self, analyzer: Analyzer | None = None) -> None:
        self._offline = OfflineAnalyzer()
        self._analyzer: Analyzer = analyzer or self._offline

    @activity.defn(name="analyze_incident")
    def analyze_incident(self, input: AnalyzeInput) -> Diagnosis:
        if input.incident.source == "drift" and input.incident.drift is not None:
            # The drift policy already chose the plan (sync, adopt or report): no analyzer, rules or
            # model, is consulted. Its values are shown redacted by drift_diagnosis itself.
            diagnosis = drift_diagnosis(input.incident, input.observation)
            _check(DRIFT_ANALYZER, diagnosis, input)
            return diagnosis
        if input.incident.source == "deploy" and input.incident.deploy is not None:
            # The deploy watch's verdict is the diagnosis, and the revert of its commits the plan.
            diagnosis = deploy_diagnosis(input.incident, input.observation)
            _check(DEPLOY_ANALYZER, diagnosis, input)
            return diagnosis
        if input.incident.source == "intent" and input.incident.intent is not None:
            # A change request's plan is the change it asked for, read from its words when it
            # came in: no analyzer reads the cluster for it, and no model is consulted.
            diagnosis = intent_diagnosis(input.incident, input.observation)
            _check(INTENT_ANALYZER, diagnosis, input)
            return diagnosis
        meta = meta_alert_diagnosis(input.incident)
        if meta is not None:
            # An alert that fires by design (Watchdog, InfoInhibitor) is not an incident, whichever
            # analyzer is configured: no model is asked about it.
            return meta
        analyzer = self._offline if input.analyzer == "offline" else self._analyzer
        # Nothing secret reaches an analyzer, whichever it is.
        incident = redact_incident(input.incident)
        observation = redact_observation(input.observation)
        # Typed by the model error's class (ModelUnavailable, InvalidModelOutput, ModelRefused,
        # PromptTooLarge), with its own message: the workflow chooses what follows by the type.
        with classified():
            diagnosis = analyzer.analyze(incident, observation, similar=input.similar)
        # The policy lets only some analyzers' plans run unattended: the name is the one that ran,
        # never what the diagnosis says of itself.
        diagnosis = diagnosis.model_copy(update={"analyzer": analyzer.name})
        _check(analyzer.name, diagnosis, input)
        return diagnosis


class ReviewActivities:
    """The second-opinion reviewer. Without one configured, `review_diagnosis` fails (final), and
    the workflow goes on without a review."""

    def __init__(self, reviewer: SecondOpinion | None = None) -> None:
        self._reviewer = reviewer

    @activity.defn(name="review_diagnosis")
    def review_diagnosis(self, input: ReviewInput) -> ReviewResult:
        if self._reviewer is None:
            raise ApplicationError(
                "no second-opinion reviewer is configured on this worker (MEDIC_REVIEWER)",
                type="ReviewerNotConfigured",
                non_retryable=True,
            )
        proposed = input.diagnosis
        # The reviewer sees what the analyzer saw: redacted, like everything sent to a model.
        shown = proposed.model_copy(
            update={
                "summary": redact_text(proposed.summary),
                "explanation": redact_text(proposed.explanation),
            }
        )
        with classified():
            verdict = self._reviewer.review(
                redact_incident(input.incident), redact_observation(input.observation), shown
            )
        # The reason is model text that is kept (audit, store): redacted like the rest.
        verdict = verdict.model_copy(update={"reason": redact_text(verdict.reason)})
        # Built from the proposed diagnosis alone: the same plan, or no plan, and a floor that only rises.
        reviewed, floor = apply_review(proposed, verdict)
        return ReviewResult(
            diagnosis=reviewed,
            min_risk=floor,
            vetoed=bool(proposed.plan.actions) and not reviewed.plan.actions,
            reason=verdict.reason,
            reviewer=self._reviewer.name,
        )


def _check(name: str, diagnosis: Diagnosis, input: AnalyzeInput) -> None:
    """An analyzer may only act on, and cite, what was observed."""
    for action in diagnosis.plan.actions:
        if input.observation.workload(action.target) is None:
            raise ApplicationError(
                f"analyzer {name} proposed {action.kind} on {action.target.key}, "
                "which is not in the observation",
                type="InvalidDiagnosis",
                non_retryable=True,
            )
    known = input.observation.item_ids()
    unknown = [e.item_id for e in diagnosis.evidence if e.item_id not in known]
    if unknown:
        raise ApplicationError(
            f"analyzer {name} cited evidence that was not observed: {unknown}",
            type="InvalidDiagnosis",
            non_retryable=True,
        )
