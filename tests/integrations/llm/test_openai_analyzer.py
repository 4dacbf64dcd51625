"""The OpenAI-compatible analyzer (vLLM, Ollama, llama.cpp) against a loopback Chat Completions fake."""

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
from integrations.llm.errors import InvalidModelOutput, ModelRefused, ModelUnavailable
from integrations.llm.openai_analyzer import OpenAIAnalyzer
from tests.integrations.llm.conftest import CLIENT_TIMEOUT
from tests.integrations.llm.payloads import (
    HOSTILE,
    INVALID,
    chat_completion,
    chat_content,
    chat_tool_call,
    oom_diagnosis,
    openai_error,
)

COMPLETIONS = "/v1/chat/completions"


def _assert_oom_plan(analyzer: OpenAIAnalyzer, case: tuple[Incident, Observation]) -> None:
    diagnosis = analyzer.analyze(*case)
    assert diagnosis.analyzer == "openai" and diagnosis.root_cause == "oom"
    (action,) = diagnosis.plan.actions
    assert isinstance(action, SetResources) and action.limits == {"memory": "512Mi"}
    assert action.target.key == "payments/Deployment/ledger" and action.mode == "gitops"


def test_function_call_becomes_a_typed_diagnosis(
    httpserver: HTTPServer, openai_analyzer: OpenAIAnalyzer, oom_case: tuple[Incident, Observation]
) -> None:
    httpserver.expect_oneshot_request(COMPLETIONS, method="POST").respond_with_json(
        chat_tool_call(oom_diagnosis())
    )

    _assert_oom_plan(openai_analyzer, oom_case)

    request, _ = httpserver.log[-1]
    body: dict[str, Any] = json.loads(request.get_data())
    assert request.headers["Authorization"] == "Bearer local-key"
    assert body["model"] == "qwen-test" and body["temperature"] == 0
    assert body["tool_choice"] == {"type": "function", "function": {"name": "submit_diagnosis"}}
    (tool,) = body["tools"]
    assert tool["type"] == "function" and tool["function"]["parameters"]["type"] == "object"
    assert "$ref" not in json.dumps(tool), "the schema is inlined for self-hosted constrained decoders"
    assert [m["role"] for m in body["messages"]] == ["system", "user"]


@pytest.mark.parametrize(
    "content",
    [
        json.dumps(oom_diagnosis()),
        "```json\n" + json.dumps(oom_diagnosis(), indent=2) + "\n```",
        json.dumps({"name": "submit_diagnosis", "arguments": oom_diagnosis()}),
        "Here is my diagnosis:\n" + json.dumps(oom_diagnosis()) + "\nLet me know if you need more.",
    ],
    ids=["bare-json", "fenced-json", "call-written-as-content", "json-in-prose"],
)
def test_json_content_instead_of_a_tool_call_is_accepted(
    httpserver: HTTPServer,
    openai_analyzer: OpenAIAnalyzer,
    oom_case: tuple[Incident, Observation],
    content: str,
) -> None:
    httpserver.expect_oneshot_request(COMPLETIONS, method="POST").respond_with_json(chat_content(content))

    _assert_oom_plan(openai_analyzer, oom_case)


@pytest.mark.parametrize(
    "response",
    [
        chat_content("The ledger pod is running out of memory. I suggest raising the limit."),
        chat_tool_call('{"root_cause": "oom", "summary": "trunc'),
        chat_tool_call(oom_diagnosis(), name="exec"),
        chat_completion({"content": None}, finish_reason="stop"),
        {"object": "chat.completion", "choices": []},
    ],
    ids=["prose", "malformed-arguments", "other-function", "empty-message", "no-choices"],
)
def test_answer_without_a_usable_tool_call_is_invalid_output(
    httpserver: HTTPServer,
    openai_analyzer: OpenAIAnalyzer,
    oom_case: tuple[Incident, Observation],
    response: dict[str, Any],
) -> None:
    httpserver.expect_oneshot_request(COMPLETIONS, method="POST").respond_with_json(response)

    with pytest.raises(InvalidModelOutput):
        openai_analyzer.analyze(*oom_case)


def test_response_body_that_is_not_json_is_invalid_output(
    httpserver: HTTPServer, openai_analyzer: OpenAIAnalyzer, oom_case: tuple[Incident, Observation]
) -> None:
    httpserver.expect_oneshot_request(COMPLETIONS, method="POST").respond_with_data(
        '{"choices": [{"message": ', content_type="application/json"
    )

    with pytest.raises(InvalidModelOutput, match="not valid JSON"):
        openai_analyzer.analyze(*oom_case)


def test_answer_cut_off_at_max_tokens_is_invalid_output(
    httpserver: HTTPServer, openai_analyzer: OpenAIAnalyzer, oom_case: tuple[Incident, Observation]
) -> None:
    response = chat_tool_call(oom_diagnosis())
    response["choices"][0]["finish_reason"] = "length"
    httpserver.expect_oneshot_request(COMPLETIONS, method="POST").respond_with_json(response)

    with pytest.raises(InvalidModelOutput, match="max_tokens"):
        openai_analyzer.analyze(*oom_case)


@pytest.mark.parametrize("case", sorted(INVALID))
def test_answer_that_does_not_validate_is_invalid_output(
    httpserver: HTTPServer,
    openai_analyzer: OpenAIAnalyzer,
    oom_case: tuple[Incident, Observation],
    case: str,
) -> None:
    httpserver.expect_oneshot_request(COMPLETIONS, method="POST").respond_with_json(
        chat_tool_call(INVALID[case])
    )

    with pytest.raises(InvalidModelOutput):
        openai_analyzer.analyze(*oom_case)


@pytest.mark.parametrize("case", sorted(HOSTILE))
@pytest.mark.parametrize("as_content", [False, True], ids=["tool-call", "json-content"])
def test_hostile_answer_never_becomes_an_action(
    httpserver: HTTPServer,
    openai_analyzer: OpenAIAnalyzer,
    oom_case: tuple[Incident, Observation],
    case: str,
    as_content: bool,
) -> None:
    response = chat_content(json.dumps(HOSTILE[case])) if as_content else chat_tool_call(HOSTILE[case])
    httpserver.expect_oneshot_request(COMPLETIONS, method="POST").respond_with_json(response)

    with pytest.raises(InvalidModelOutput):
        openai_analyzer.analyze(*oom_case)


@pytest.mark.parametrize(
    ("status", "headers", "expected_delay"),
    [
        (429, {"Retry-After": "4"}, 4.0),
        (503, {"retry-after-ms": "250"}, 0.25),
        (502, {}, None),
    ],
    ids=["429", "503-retry-after-ms", "502"],
)
def test_rate_limit_and_server_errors_are_unavailable_with_the_servers_delay(
    httpserver: HTTPServer,
    openai_analyzer: OpenAIAnalyzer,
    oom_case: tuple[Incident, Observation],
    status: int,
    headers: dict[str, str],
    expected_delay: float | None,
) -> None:
    httpserver.expect_oneshot_request(COMPLETIONS, method="POST").respond_with_json(
        openai_error("rate_limit_exceeded" if status == 429 else "server_error", "busy"),
        status=status,
        headers=headers,
    )

    with pytest.raises(ModelUnavailable) as caught:
        openai_analyzer.analyze(*oom_case)

    assert caught.value.retry_after == expected_delay and caught.value.status == status
    assert len(httpserver.log) == 1


def test_slow_answer_beyond_the_client_timeout_is_unavailable(
    httpserver: HTTPServer, openai_analyzer: OpenAIAnalyzer, oom_case: tuple[Incident, Observation]
) -> None:
    release = threading.Event()

    def slow(request: Request) -> Response:
        release.wait(CLIENT_TIMEOUT * 5)
        return Response(json.dumps(chat_tool_call(oom_diagnosis())), content_type="application/json")

    httpserver.expect_oneshot_request(COMPLETIONS, method="POST").respond_with_handler(slow)
    try:
        with pytest.raises(ModelUnavailable, match="timed out"):
            openai_analyzer.analyze(*oom_case)
    finally:
        release.set()


def test_unreachable_server_is_unavailable(oom_case: tuple[Incident, Observation]) -> None:
    server = HTTPServer(host="127.0.0.1")
    server.start()
    url = server.url_for("/v1")
    server.stop()
    analyzer = OpenAIAnalyzer.from_settings(url, "qwen-test", timeout=CLIENT_TIMEOUT)
    try:
        with pytest.raises(ModelUnavailable, match=r"at http://127\.0\.0\.1:\d+ refused the connection"):
            analyzer.analyze(*oom_case)
    finally:
        analyzer.close()


@pytest.mark.parametrize("status", [401, 403, 404, 400])
def test_auth_and_request_errors_are_refused_not_retried(
    httpserver: HTTPServer,
    openai_analyzer: OpenAIAnalyzer,
    oom_case: tuple[Incident, Observation],
    status: int,
) -> None:
    httpserver.expect_oneshot_request(COMPLETIONS, method="POST").respond_with_json(
        openai_error("invalid_request_error", "Incorrect API key provided"), status=status
    )

    with pytest.raises(ModelRefused) as caught:
        openai_analyzer.analyze(*oom_case)

    assert caught.value.status == status
