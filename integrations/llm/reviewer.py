"""A second opinion on a proposed plan: another model call that may only veto or raise the risk.

The reviewer never adds, changes or removes single actions, and never lowers risk. That is not
left to the prompt: `parse_verdict` keeps only `veto`, `raise_risk_to` (medium | high) and `reason`
from whatever the model sends, and `apply_review` builds its result from the original diagnosis
alone — the same plan, or no plan at all — with a risk floor that can only go up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.analysis.plan import Diagnosis, Plan
from domain.base import Frozen
from domain.incident.model import Incident
from domain.kube.observation import Observation
from integrations.llm.errors import InvalidModelOutput
from integrations.llm.output import REVIEW_TOOL_NAME, ToolModel, ToolSpec, inline_schema
from integrations.llm.prompt import render_review_prompt

RiskFloor = Literal["medium", "high"]
_RISK_ORDER: dict[str, int] = {"medium": 1, "high": 2}
VETO_PREFIX = "Vetoed by the second-opinion review"
MAX_REASON = 1000


class ReviewVerdict(Frozen):
    """What the reviewer concluded. Anything else it may have said is not kept."""

    model_config = ConfigDict(extra="ignore")

    veto: bool = False
    raise_risk_to: RiskFloor | None = None
    reason: str = ""


class _ReviewAnswer(BaseModel):
    """Submit your review: veto the plan, raise its risk, or neither. Nothing else can be changed."""

    model_config = ConfigDict(extra="forbid")

    veto: bool = Field(description="true drops the whole plan; a human reviews the incident")
    raise_risk_to: Literal["medium", "high"] | None = Field(
        description="medium: one approval; high: two approvers; null: leave the policy's risk"
    )
    reason: str = Field(max_length=MAX_REASON, description="why, in a sentence or two, citing item ids")


REVIEW_TOOL = ToolSpec(
    name=REVIEW_TOOL_NAME,
    description="Submit your review of the proposed plan. This is the only way to answer.",
    input_schema=inline_schema(_ReviewAnswer.model_json_schema()),
)


def parse_verdict(raw: Mapping[str, Any]) -> ReviewVerdict:
    """The verdict from the reviewer's tool input. Only `veto`, a `raise_risk_to` of medium or high,
    and `reason` are read; a lower risk, actions or any other field are ignored.

    Raises InvalidModelOutput when `veto` is missing or not a boolean: a review that cannot be read
    is not silently taken as approval.
    """
    veto = raw.get("veto")
    if not isinstance(veto, bool):
        raise InvalidModelOutput("review: `veto` must be true or false")
    risk = raw.get("raise_risk_to")
    reason = raw.get("reason")
    return ReviewVerdict(
        veto=veto,
        raise_risk_to=risk if risk in _RISK_ORDER else None,
        reason=reason[:MAX_REASON] if isinstance(reason, str) else "",
    )


def _higher(a: str | None, b: str | None) -> RiskFloor | None:
    ranked = [r for r in (a, b) if r in _RISK_ORDER]
    if not ranked:
        return None
    top = max(ranked, key=lambda r: _RISK_ORDER[r])
    return "high" if top == "high" else "medium"


def apply_review(
    diagnosis: Diagnosis, verdict: ReviewVerdict, floor: RiskFloor | None = None
) -> tuple[Diagnosis, RiskFloor | None]:
    """The diagnosis after review, and the minimum risk the policy's risk must be raised to.

    Only two diagnoses can come out: the one given, unchanged, or — on a veto of a non-empty plan —
    the same diagnosis with no actions, its summary and explanation saying why, and a `high` floor
    (a vetoed incident goes to a human, it is not "nothing to do"). The floor is the highest of
    `floor` and the verdict's `raise_risk_to` (medium | high only): it never goes down.
    """
    raised = verdict.raise_risk_to if verdict.raise_risk_to in _RISK_ORDER else None
    new_floor = _higher(floor, raised)
    if verdict.veto is not True or not diagnosis.plan.actions:
        return diagnosis, new_floor
    reason = (verdict.reason or "no reason given")[:MAX_REASON]
    dropped = ", ".join(f"{a.kind} {a.target.key}" for a in diagnosis.plan.actions)
    explanation = f"{diagnosis.explanation}\n\n{VETO_PREFIX} dropped: {dropped}. Reason: {reason}"
    vetoed = Diagnosis.model_validate(
        {
            **diagnosis.model_dump(),
            "summary": f"{VETO_PREFIX}: {reason} (proposed: {diagnosis.summary})",
            "explanation": explanation.strip(),
            "plan": Plan(actions=[], expected_impact="", rollback="").model_dump(),
            # the human who picks it up decides on the dropped plan first (from typed fields only)
            "next_steps": [
                f"Weigh the review's reason (in the explanation) against the evidence for the dropped "
                f"plan ({dropped}); if the change is right, make it through the owning team's process.",
                *diagnosis.next_steps,
            ],
        }
    )
    return vetoed, "high"


class SecondOpinion:
    """Asks another model (any `ToolModel`: an `AnthropicAnalyzer` or `OpenAIAnalyzer`) to review."""

    def __init__(self, model: ToolModel, *, redact: Callable[[str], str] | None = None) -> None:
        self._model = model
        self._redact = redact

    @property
    def name(self) -> str:
        return f"review:{self._model.name}"

    def review(self, incident: Incident, observation: Observation, diagnosis: Diagnosis) -> ReviewVerdict:
        """The reviewer's verdict on `diagnosis`. A plan without actions is not sent: there is nothing
        to veto. Raises the errors of `integrations.llm.errors`, like the analyzers."""
        if not diagnosis.plan.actions:
            return ReviewVerdict(reason="no actions to review")
        prompt = render_review_prompt(incident, observation, diagnosis, redact=self._redact)
        return parse_verdict(self._model.call_tool(prompt.system, prompt.user, REVIEW_TOOL))
