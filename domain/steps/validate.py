"""Validate: what the policy is asked to decide on."""

from __future__ import annotations

from pydantic import Field

from domain.analysis.plan import Diagnosis
from domain.base import Frozen
from domain.incident.model import Incident
from domain.kube.observation import Observation
from domain.policy.decision import PolicyDecision
from domain.review.plan_impact import PlanImpact
from domain.steps.analyze import RiskFloor


class ValidateInput(Frozen):
    incident: Incident
    observation: Observation
    diagnosis: Diagnosis
    protected_namespaces: list[str] = Field(default_factory=list)
    # A second-opinion review's risk floor: the policy's risk is the higher of its own and this.
    min_risk: RiskFloor | None = None


class ValidateResult(PolicyDecision):
    """The policy's decision, and the plan's impact it was made with (cost delta, downtime and
    rollback findings: `domain.review.plan_impact`). None in results recorded before impacts."""

    impact: PlanImpact | None = None
