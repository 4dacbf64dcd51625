"""The second opinion may only veto or raise risk: never add actions, change them, or lower risk."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from domain.analysis.plan import Diagnosis, Evidence, Plan, Restart, SetResources
from domain.incident.model import Incident, ResourceRef
from domain.kube.observation import Observation
from integrations.llm.anthropic_analyzer import AnthropicAnalyzer
from integrations.llm.errors import InvalidModelOutput
from integrations.llm.openai_analyzer import OpenAIAnalyzer
from integrations.llm.reviewer import VETO_PREFIX, ReviewVerdict, SecondOpinion, apply_review, parse_verdict
from tests.integrations.llm.payloads import anthropic_tool_use, chat_tool_call

LEDGER = ResourceRef(namespace="payments", kind="Deployment", name="ledger", container="ledger")


def _diagnosis(actions: list[Any] | None = None) -> Diagnosis:
    return Diagnosis(
        root_cause="oom",
        summary="ledger is OOMKilled; raise its memory limit.",
        explanation="OOMKilled at 256Mi.",
        confidence=0.8,
        evidence=[Evidence(item_id="pod/payments/ledger-5c6b7d8f9-b7xkq", note="OOMKilled")],
        plan=Plan(
            actions=[
                SetResources(
                    target=LEDGER, mode="gitops", file="values/ledger-values.yaml", limits={"memory": "512Mi"}
                )
            ]
            if actions is None
            else actions,
            expected_impact="no more OOMKills",
            rollback="restore 256Mi",
        ),
        analyzer="anthropic",
    )


def test_veto_drops_every_action_keeps_the_reasoning_and_sends_it_to_a_human() -> None:
    diagnosis = _diagnosis()

    reviewed, floor = apply_review(
        diagnosis, ReviewVerdict(veto=True, reason="the limit would exceed the node")
    )

    assert reviewed.plan.actions == [] and floor == "high"
    assert reviewed.summary.startswith(VETO_PREFIX) and "the limit would exceed the node" in reviewed.summary
    # the human is told what to decide on, and the analyzer's own next steps follow
    assert "set_resources payments/Deployment/ledger" in reviewed.next_steps[0]
    assert (
        "the limit would exceed the node" not in reviewed.next_steps[0]
    )  # model text stays in the explanation
    assert "set_resources payments/Deployment/ledger" in reviewed.explanation
    assert (reviewed.root_cause, reviewed.evidence, reviewed.analyzer) == (
        diagnosis.root_cause,
        diagnosis.evidence,
        diagnosis.analyzer,
    )


def test_raise_risk_keeps_the_plan_exactly() -> None:
    diagnosis = _diagnosis()

    reviewed, floor = apply_review(diagnosis, ReviewVerdict(raise_risk_to="medium", reason="JVM heap"))

    assert reviewed == diagnosis and reviewed.plan.plan_hash() == diagnosis.plan.plan_hash()
    assert floor == "medium"


@pytest.mark.parametrize(
    ("floor", "raised", "expected"),
    [(None, None, None), (None, "medium", "medium"), ("medium", "high", "high"), ("high", "medium", "high")],
)
def test_risk_floor_only_goes_up(floor: Any, raised: Any, expected: Any) -> None:
    _, new_floor = apply_review(_diagnosis(), ReviewVerdict(raise_risk_to=raised), floor)

    assert new_floor == expected


def test_verdict_forged_past_validation_cannot_lower_risk_or_veto_by_truthiness() -> None:
    # Built without validation, as a buggy caller or a future parser might: apply_review must not trust it.
    values: dict[str, Any] = {"veto": "yes", "raise_risk_to": "low", "reason": "lower it"}
    forged = ReviewVerdict.model_construct(**values)

    reviewed, floor = apply_review(_diagnosis(), forged, "medium")

    assert reviewed == _diagnosis() and floor == "medium"


def test_veto_of_an_empty_plan_changes_nothing() -> None:
    diagnosis = _diagnosis(actions=[])

    assert apply_review(diagnosis, ReviewVerdict(veto=True, reason="x")) == (diagnosis, None)


def test_reviewer_answer_that_adds_actions_or_lowers_risk_is_ignored() -> None:
    raw = {
        "veto": False,
        "raise_risk_to": "low",
        "reason": "looks fine, also restart everything",
        "actions": [{"kind": "restart", "target": LEDGER.model_dump()}],
        "risk": "low",
        "plan": {"actions": []},
    }

    verdict = parse_verdict(raw)
    reviewed, floor = apply_review(_diagnosis(), verdict)

    assert verdict == ReviewVerdict(
        veto=False, raise_risk_to=None, reason="looks fine, also restart everything"
    )
    assert reviewed == _diagnosis() and floor is None


@pytest.mark.parametrize("raw", [{}, {"veto": "false"}, {"veto": 0}, {"veto": None}])
def test_unreadable_veto_is_invalid_output_not_approval(raw: dict[str, Any]) -> None:
    with pytest.raises(InvalidModelOutput):
        parse_verdict(raw)


def test_second_opinion_through_anthropic_can_veto(
    httpserver: HTTPServer, anthropic_analyzer: AnthropicAnalyzer, oom_case: tuple[Incident, Observation]
) -> None:
    httpserver.expect_oneshot_request("/v1/messages", method="POST").respond_with_json(
        anthropic_tool_use(
            {"veto": True, "raise_risk_to": None, "reason": "evidence shows a leak, not a limit"},
            name="submit_review",
        )
    )

    verdict = SecondOpinion(anthropic_analyzer).review(*oom_case, _diagnosis())
    reviewed, floor = apply_review(_diagnosis(), verdict)

    assert verdict.veto and reviewed.plan.actions == [] and floor == "high"
    body = json.loads(httpserver.log[-1][0].get_data())
    assert body["tool_choice"] == {"type": "tool", "name": "submit_review"}
    assert 'kind="proposed_diagnosis"' in body["messages"][0]["content"]


def test_second_opinion_through_openai_cannot_add_actions(
    httpserver: HTTPServer, openai_analyzer: OpenAIAnalyzer, oom_case: tuple[Incident, Observation]
) -> None:
    hostile = {
        "veto": False,
        "raise_risk_to": "low",
        "reason": "add a restart and delete the namespace",
        "actions": [
            Restart(target=LEDGER).model_dump(mode="json"),
            {"kind": "delete", "target": {"namespace": "payments", "kind": "Namespace", "name": "payments"}},
        ],
    }
    httpserver.expect_oneshot_request("/v1/chat/completions", method="POST").respond_with_json(
        chat_tool_call(hostile, name="submit_review")
    )

    verdict = SecondOpinion(openai_analyzer).review(*oom_case, _diagnosis())
    reviewed, floor = apply_review(_diagnosis(), verdict)

    assert reviewed == _diagnosis() and [a.kind for a in reviewed.plan.actions] == ["set_resources"]
    assert floor is None


def test_plan_without_actions_is_not_sent_for_review(
    httpserver: HTTPServer, anthropic_analyzer: AnthropicAnalyzer, oom_case: tuple[Incident, Observation]
) -> None:
    verdict = SecondOpinion(anthropic_analyzer).review(*oom_case, _diagnosis(actions=[]))

    assert verdict == ReviewVerdict(reason="no actions to review") and httpserver.log == []
