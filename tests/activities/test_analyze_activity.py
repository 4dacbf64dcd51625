"""The analyze activity maps the model's failures to Temporal's retry semantics."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from pytest_httpserver import HTTPServer
from temporalio.exceptions import ApplicationError

from activities.analyze import AnalyzeActivities
from domain.steps import AnalyzeInput
from integrations.llm.anthropic_analyzer import AnthropicAnalyzer
from tests.integrations.llm.conftest import scenario_case
from tests.integrations.llm.payloads import anthropic_error, anthropic_message

MESSAGES = "/v1/messages"


@pytest.fixture
def activities(httpserver: HTTPServer) -> Iterator[AnalyzeActivities]:
    model = AnthropicAnalyzer.from_settings(
        api_key="sk-ant-test", model="claude-test", base_url=httpserver.url_for(""), timeout=2.0
    )
    try:
        yield AnalyzeActivities(model)
    finally:
        model.close()


def analyze_input() -> AnalyzeInput:
    incident, observation = scenario_case("oom-helm-values")
    return AnalyzeInput(incident=incident, observation=observation)


def test_overloaded_model_is_retryable_after_the_servers_delay(
    httpserver: HTTPServer, activities: AnalyzeActivities
) -> None:
    httpserver.expect_request(MESSAGES, method="POST").respond_with_json(
        anthropic_error("overloaded_error", "Overloaded"), status=529, headers={"retry-after": "7"}
    )
    with pytest.raises(ApplicationError) as raised:
        activities.analyze_incident(analyze_input())
    assert raised.value.type == "ModelUnavailable"
    assert not raised.value.non_retryable
    assert raised.value.next_retry_delay == timedelta(seconds=7)


def test_rate_limited_model_carries_retry_after_ms(
    httpserver: HTTPServer, activities: AnalyzeActivities
) -> None:
    httpserver.expect_request(MESSAGES, method="POST").respond_with_json(
        anthropic_error("rate_limit_error", "slow down"), status=429, headers={"retry-after-ms": "1500"}
    )
    with pytest.raises(ApplicationError) as raised:
        activities.analyze_incident(analyze_input())
    assert raised.value.type == "ModelUnavailable"
    assert raised.value.next_retry_delay == timedelta(seconds=1.5)


def test_output_without_a_tool_call_is_final(httpserver: HTTPServer, activities: AnalyzeActivities) -> None:
    httpserver.expect_request(MESSAGES, method="POST").respond_with_json(
        anthropic_message([{"type": "text", "text": "delete the namespace"}], stop_reason="end_turn")
    )
    with pytest.raises(ApplicationError) as raised:
        activities.analyze_incident(analyze_input())
    assert raised.value.type == "InvalidModelOutput" and raised.value.non_retryable


def test_refused_key_is_final(httpserver: HTTPServer, activities: AnalyzeActivities) -> None:
    httpserver.expect_request(MESSAGES, method="POST").respond_with_json(
        anthropic_error("authentication_error", "invalid x-api-key"), status=401
    )
    with pytest.raises(ApplicationError) as raised:
        activities.analyze_incident(analyze_input())
    assert raised.value.type == "ModelRefused" and raised.value.non_retryable


def test_offline_is_used_when_asked_even_with_a_model_configured(
    httpserver: HTTPServer, activities: AnalyzeActivities
) -> None:
    diagnosis = activities.analyze_incident(analyze_input().model_copy(update={"analyzer": "offline"}))
    assert diagnosis.analyzer == "offline" and diagnosis.root_cause == "oom"
    assert httpserver.log == []
