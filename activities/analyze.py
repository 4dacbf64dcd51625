"""analyze: Observation in, Diagnosis out, through an injected analyzer."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.offline_analyzer import Analyzer, OfflineAnalyzer
from domain.plan import Diagnosis
from domain.steps import AnalyzeInput


class AnalyzeActivities:
    def __init__(self, analyzer: Analyzer | None = None) -> None:
        self._analyzer = analyzer or OfflineAnalyzer()

    @activity.defn(name="analyze_incident")
    def analyze_incident(self, input: AnalyzeInput) -> Diagnosis:
        diagnosis = self._analyzer.analyze(input.incident, input.observation)
        known = input.observation.item_ids()
        # An analyzer may only act on, and cite, what was observed.
        for action in diagnosis.plan.actions:
            if input.observation.workload(action.target) is None:
                raise ApplicationError(
                    f"analyzer {self._analyzer.name} proposed {action.kind} on {action.target.key}, "
                    "which is not in the observation",
                    type="InvalidDiagnosis",
                    non_retryable=True,
                )
        unknown = [e.item_id for e in diagnosis.evidence if e.item_id not in known]
        if unknown:
            raise ApplicationError(
                f"analyzer {self._analyzer.name} cited evidence that was not observed: {unknown}",
                type="InvalidDiagnosis",
                non_retryable=True,
            )
        return diagnosis
