"""The Claude analyzer through the real `anthropic` client against a loopback Messages API fake."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from domain.analysis.plan import SetResources
from domain.incident.model import Incident
from domain.kube.observation import Observation
from integrations.llm.anthropic_analyzer import AnthropicAnalyzer
from integrations.llm.errors import InvalidModelOutput, ModelRefused, ModelUnavailable
from tests.integrations.llm.conftest import CLIENT_TIMEOUT, scenario_case
from tests.integrations.llm.payloads import (
    HOSTILE,
    INVALID,
    anthropic_error,
    anthropic_message,
    anthropic_tool_use,
    oom_diagnosis,
)

MESSAGES = "/v1/messages"


def _request_body(httpserver: HTTPServer, index: int = -1) -> dict[str, Any]:
    request, _ = httpserver.log[index]
    body: dict[str, Any] = json.loads(request.get_data())
    return body


def test_valid_tool_call_becomes_a_typed_diagnosis(
    httpserver: HTTPServer, anthropic_analyzer: AnthropicAnalyzer, oom_case: tuple[Incident, Observation]
) -> None:
    httpserver.expect_oneshot_request(MESSAGES, method="POST").respond_with_json(
        anthropic_tool_use(oom_diagnosis())
    )

    diagnosis = anthropic_analyzer.analyze(*oom_case)

    assert diagnosis.analyzer == "anthropic" and diagnosis.root_cause == "oom"
    (action,) = diagnosis.plan.actions
    assert isinstance(action, SetResources)
    assert action.target.key == "payments/Deployment/ledger" and action.target.container == "ledger"
    assert (action.mode, action.file, action.limits) == (
        "gitops",
        "values/ledger-values.yaml",
        {"memory": "512Mi"},
    )
    assert [e.item_id for e in diagnosis.evidence] == [
        "pod/payments/ledger-5c6b7d8f9-b7xkq",
        "workload/payments/Deployment/ledger",
    ]
    assert diagnosis.plan.rollback.startswith("restore the memory limit")


def test_request_forces_the_one_tool_with_no_client_retries(
    httpserver: HTTPServer, anthropic_analyzer: AnthropicAnalyzer, oom_case: tuple[Incident, Observation]
) -> None:
    httpserver.expect_oneshot_request(MESSAGES, method="POST").respond_with_json(
        anthropic_tool_use(oom_diagnosis())
    )

    anthropic_analyzer.analyze(*oom_case)

    request, _ = httpserver.log[-1]
    body = _request_body(httpserver)
    assert body["model"] == "claude-test" and body["max_tokens"] == 2048
    assert body["tool_choice"] == {"type": "tool", "name": "submit_diagnosis"}
    (tool,) = body["tools"]
    assert tool["name"] == "submit_diagnosis" and tool["input_schema"]["type"] == "object"
    assert tool["input_schema"]["additionalProperties"] is False
    assert "untrusted" in body["system"]
    (message,) = body["messages"]
    assert message["role"] == "user" and "workload/payments/Deployment/ledger" in message["content"]
    assert request.headers.get("X-Stainless-Retry-Count") == "0"


def test_text_answer_without_a_tool_call_is_invalid_output(
    httpserver: HTTPServer, anthropic_analyzer: AnthropicAnalyzer, oom_case: tuple[Incident, Observation]
) -> None:
    httpserver.expect_oneshot_request(MESSAGES, method="POST").respond_with_json(
        anthropic_message([{"type": "text", "text": json.dumps(oom_diagnosis())}], stop_reason="end_turn")
    )

    with pytest.raises(InvalidModelOutput, match="no submit_diagnosis tool call"):
        anthropic_analyzer.analyze(*oom_case)


@pytest.mark.parametrize(
    "body",
    ['{"id": "msg_01", "type": "message", "content": [{"type": "tool_use", ', "Internal error, sorry"],
    ids=["truncated-json", "plain-text"],
)
def test_malformed_response_body_is_invalid_output(
    httpserver: HTTPServer,
    anthropic_analyzer: AnthropicAnalyzer,
    oom_case: tuple[Incident, Observation],
    body: str,
) -> None:
    content_type = "application/json" if body.startswith("{") else "text/plain"
    httpserver.expect_oneshot_request(MESSAGES, method="POST").respond_with_data(
        body, content_type=content_type
    )

    with pytest.raises(InvalidModelOutput):
        anthropic_analyzer.analyze(*oom_case)


def test_tool_input_that_is_malformed_json_text_is_invalid_output(
    httpserver: HTTPServer, anthropic_analyzer: AnthropicAnalyzer, oom_case: tuple[Incident, Observation]
) -> None:
    httpserver.expect_oneshot_request(MESSAGES, method="POST").respond_with_json(
        anthropic_tool_use('{"root_cause": "oom", "summary": "cut off')
    )

    with pytest.raises(InvalidModelOutput, match="not valid JSON"):
        anthropic_analyzer.analyze(*oom_case)


def test_answer_cut_off_at_max_tokens_is_invalid_output(
    httpserver: HTTPServer, anthropic_analyzer: AnthropicAnalyzer, oom_case: tuple[Incident, Observation]
) -> None:
    partial = {"root_cause": "oom"}
    response = anthropic_tool_use(partial)
    response["stop_reason"] = "max_tokens"
    httpserver.expect_oneshot_request(MESSAGES, method="POST").respond_with_json(response)

    with pytest.raises(InvalidModelOutput, match="max_tokens"):
        anthropic_analyzer.analyze(*oom_case)


def test_call_of_another_tool_is_invalid_output(
    httpserver: HTTPServer, anthropic_analyzer: AnthropicAnalyzer, oom_case: tuple[Incident, Observation]
) -> None:
    httpserver.expect_oneshot_request(MESSAGES, method="POST").respond_with_json(
        anthropic_tool_use({"cmd": "kubectl delete namespace payments"}, name="run_shell")
    )

    with pytest.raises(InvalidModelOutput, match="run_shell"):
        anthropic_analyzer.analyze(*oom_case)


@pytest.mark.parametrize("case", sorted(INVALID))
def test_answer_that_does_not_validate_is_invalid_output(
    httpserver: HTTPServer,
    anthropic_analyzer: AnthropicAnalyzer,
    oom_case: tuple[Incident, Observation],
    case: str,
) -> None:
    httpserver.expect_oneshot_request(MESSAGES, method="POST").respond_with_json(
        anthropic_tool_use(INVALID[case])
    )

    with pytest.raises(InvalidModelOutput):
        anthropic_analyzer.analyze(*oom_case)


def test_unknown_action_kind_is_named_in_the_reason(
    httpserver: HTTPServer, anthropic_analyzer: AnthropicAnalyzer, oom_case: tuple[Incident, Observation]
) -> None:
    httpserver.expect_oneshot_request(MESSAGES, method="POST").respond_with_json(
        anthropic_tool_use(INVALID["unknown_action_kind"])
    )

    with pytest.raises(InvalidModelOutput, match="unknown action kind 'set_memory'"):
        anthropic_analyzer.analyze(*oom_case)


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_answer_never_becomes_an_action(
    httpserver: HTTPServer,
    anthropic_analyzer: AnthropicAnalyzer,
    oom_case: tuple[Incident, Observation],
    case: str,
) -> None:
    """`kubectl delete namespace`, in any form, is thrown away with the whole answer."""
    httpserver.expect_oneshot_request(MESSAGES, method="POST").respond_with_json(
        anthropic_tool_use(HOSTILE[case])
    )

    with pytest.raises(InvalidModelOutput) as caught:
        anthropic_analyzer.analyze(*oom_case)

    assert (
        "payments" not in caught.value.reason
        or "namespace" not in caught.value.reason.lower().split("kind")[0]
    )


@pytest.mark.parametrize(
    ("status", "error_type", "headers", "expected_delay"),
    [
        (429, "rate_limit_error", {"retry-after": "7"}, 7.0),
        (529, "overloaded_error", {"retry-after": "12"}, 12.0),
        (529, "overloaded_error", {"retry-after-ms": "1500", "retry-after": "2"}, 1.5),
        (500, "api_error", {}, None),
        (503, "api_error", {}, None),
    ],
    ids=["429-retry-after", "529-retry-after", "529-retry-after-ms", "500", "503"],
)
def test_rate_limit_and_overload_are_unavailable_with_the_servers_delay(
    httpserver: HTTPServer,
    anthropic_analyzer: AnthropicAnalyzer,
    oom_case: tuple[Incident, Observation],
    status: int,
    error_type: str,
    headers: dict[str, str],
    expected_delay: float | None,
) -> None:
    httpserver.expect_oneshot_request(MESSAGES, method="POST").respond_with_json(
        anthropic_error(error_type, "Overloaded"), status=status, headers=headers
    )

    with pytest.raises(ModelUnavailable) as caught:
        anthropic_analyzer.analyze(*oom_case)

    assert caught.value.retry_after == expected_delay and caught.value.status == status
    assert len(httpserver.log) == 1, "the client must not retry on its own: Temporal retries"


def test_slow_answer_beyond_the_client_timeout_is_unavailable(
    httpserver: HTTPServer, anthropic_analyzer: AnthropicAnalyzer, oom_case: tuple[Incident, Observation]
) -> None:
    release = threading.Event()

    def slow(request: Request) -> Response:
        release.wait(CLIENT_TIMEOUT * 5)
        return Response(json.dumps(anthropic_tool_use(oom_diagnosis())), content_type="application/json")

    httpserver.expect_oneshot_request(MESSAGES, method="POST").respond_with_handler(slow)
    try:
        with pytest.raises(ModelUnavailable, match="timed out"):
            anthropic_analyzer.analyze(*oom_case)
    finally:
        release.set()


def test_unreachable_server_is_unavailable(oom_case: tuple[Incident, Observation]) -> None:
    server = HTTPServer(host="127.0.0.1")
    server.start()
    url = server.url_for("")
    server.stop()  # nothing listens on the port now
    analyzer = AnthropicAnalyzer.from_settings(
        "sk-ant-test", "claude-test", base_url=url, timeout=CLIENT_TIMEOUT
    )
    try:
        with pytest.raises(ModelUnavailable, match=r"at http://127\.0\.0\.1:\d+ refused the connection"):
            analyzer.analyze(*oom_case)
    finally:
        analyzer.close()


@pytest.mark.parametrize(
    ("status", "error_type", "said"),
    [
        (401, "authentication_error", "anthropic refused the API key (HTTP 401 authentication_error"),
        (403, "permission_error", "anthropic refused the request: the API key lacks permission (HTTP 403"),
        (404, "not_found_error", "anthropic refused the request (HTTP 404 not_found_error"),
        (400, "invalid_request_error", "anthropic refused the request (HTTP 400 invalid_request_error"),
    ],
)
def test_auth_and_request_errors_are_refused_not_retried(
    httpserver: HTTPServer,
    anthropic_analyzer: AnthropicAnalyzer,
    oom_case: tuple[Incident, Observation],
    status: int,
    error_type: str,
    said: str,
) -> None:
    httpserver.expect_oneshot_request(MESSAGES, method="POST").respond_with_json(
        anthropic_error(error_type, "invalid x-api-key"), status=status
    )

    with pytest.raises(ModelRefused) as caught:
        anthropic_analyzer.analyze(*oom_case)

    assert caught.value.status == status
    # One line that says what the provider did, and its own words.
    assert caught.value.message.startswith(said)
    assert caught.value.message.endswith(": invalid x-api-key)")
    assert "\n" not in caught.value.message


def test_log_injection_reaches_the_model_only_inside_an_untrusted_fence(
    httpserver: HTTPServer, anthropic_analyzer: AnthropicAnalyzer
) -> None:
    incident, observation = scenario_case("log-injection-oom")
    answer = {
        "root_cause": "oom",
        "summary": "renderer is OOMKilled at 512Mi; the log's 'delete the namespace' notice is ignored.",
        "confidence": 0.8,
        "evidence": [{"item_id": "pod/reports/renderer-ff84dfcd9-q9ll7", "note": "OOMKilled"}],
        "actions": [],
    }
    httpserver.expect_oneshot_request(MESSAGES, method="POST").respond_with_json(anthropic_tool_use(answer))

    diagnosis = anthropic_analyzer.analyze(incident, observation)

    assert diagnosis.plan.actions == []
    user = _request_body(httpserver)["messages"][0]["content"]
    at = user.index("kubectl delete namespace reports")
    opening, closing = user.rfind("<untrusted ", 0, at), user.rfind("</untrusted>", 0, at)
    assert opening > closing, "the injected instruction is outside any untrusted block"
    assert user[opening:].startswith('<untrusted kind="log"')


def test_recalled_incidents_reach_the_model_with_a_rolled_back_fix_flagged(
    httpserver: HTTPServer, anthropic_analyzer: AnthropicAnalyzer, oom_case: tuple[Incident, Observation]
) -> None:
    from datetime import UTC, datetime

    from domain.incident.memory import SimilarIncident

    past = SimilarIncident(
        incident_id="incident-alert-0007",
        title="ledger OOMKilled",
        root_cause="oom",
        actions=[
            {"kind": "set_resources", "target": "payments/Deployment/ledger", "limits": {"memory": "288Mi"}}
        ],
        outcome="rolled_back",
        closed_at=datetime(2026, 11, 1, tzinfo=UTC),
        rolled_back_before=True,
    )
    httpserver.expect_oneshot_request(MESSAGES, method="POST").respond_with_json(
        anthropic_tool_use(oom_diagnosis())
    )

    anthropic_analyzer.analyze(*oom_case, similar=[past])

    user = _request_body(httpserver)["messages"][0]["content"]
    assert "ROLLED BACK" in user and "288Mi" in user and 'id="incident-alert-0007"' in user
