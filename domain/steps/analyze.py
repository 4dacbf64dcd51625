"""Analyze and review: the analysis of an incident, and a second opinion on its plan."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from domain.analysis.plan import Diagnosis
from domain.base import Frozen
from domain.incident.memory import SimilarIncident
from domain.incident.model import Incident
from domain.kube.observation import Observation

# The least risk a second-opinion review may set: it can raise the policy's risk, never lower it.
RiskFloor = Literal["medium", "high"]


class AnalyzeInput(Frozen):
    incident: Incident
    observation: Observation
    # Past incidents most like this one, with their outcomes (a rolled-back fix is flagged).
    similar: list[SimilarIncident] = Field(default_factory=list)
    # "" uses the worker's configured analyzer; "offline" forces the rule-based one (the fallback).
    analyzer: str = ""


class ReviewInput(Frozen):
    """What the second-opinion reviewer is shown: the incident, what was seen, what is proposed."""

    incident: Incident
    observation: Observation
    diagnosis: Diagnosis


class ReviewResult(Frozen):
    """The diagnosis after review — the one proposed, or on a veto the same with no actions — and
    the least risk the policy must give it (None: the policy's own risk stands)."""

    diagnosis: Diagnosis
    min_risk: RiskFloor | None = None
    vetoed: bool = False
    reason: str = ""
    reviewer: str = ""
