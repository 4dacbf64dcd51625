"""analyze: Observation in, Diagnosis out, through an injected analyzer.

The model analyzers' errors become typed ApplicationErrors: an unavailable model is retried by
Temporal (with the server's retry-after as the next delay, so every attempt shows in the
history); invalid output, a refused request or an over-budget prompt are final, and the workflow
decides what follows (the offline analyzer, or a human).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.offline_analyzer import Analyzer, OfflineAnalyzer
from domain.plan import Diagnosis
from domain.redact import redact_incident, redact_observation
from domain.steps import AnalyzeInput
from integrations.llm import InvalidModelOutput, ModelRefused, ModelUnavailable, PromptTooLarge


class AnalyzeActivities:
    def __init__(self, analyzer: Analyzer | None = None) -> None:
        self._offline = OfflineAnalyzer()
        self._analyzer: Analyzer = analyzer or self._offline

    @activity.defn(name="analyze_incident")
    def analyze_incident(self, input: AnalyzeInput) -> Diagnosis:
        analyzer = self._offline if input.analyzer == "offline" else self._analyzer
        # Nothing secret reaches an analyzer, whichever it is.
        incident = redact_incident(input.incident)
        observation = redact_observation(input.observation)
        try:
            diagnosis = analyzer.analyze(incident, observation, similar=input.similar)
        except ModelUnavailable as err:
            delay = timedelta(seconds=err.retry_after) if err.retry_after else None
            raise ApplicationError(str(err), type="ModelUnavailable", next_retry_delay=delay) from err
        except InvalidModelOutput as err:
            raise ApplicationError(str(err), type="InvalidModelOutput", non_retryable=True) from err
        except ModelRefused as err:
            raise ApplicationError(str(err), type="ModelRefused", non_retryable=True) from err
        except PromptTooLarge as err:
            raise ApplicationError(str(err), type="PromptTooLarge", non_retryable=True) from err
        _check(analyzer.name, diagnosis, input)
        return diagnosis


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
