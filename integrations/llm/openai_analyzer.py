"""A self-hosted model as an analyzer, through an OpenAI-compatible Chat Completions endpoint.

vLLM, Ollama, llama.cpp's server and most gateways speak `POST {base_url}/chat/completions` with
function calling. The call forces the one tool; when a server ignores `tool_choice` and answers
with JSON in the message content instead (bare, fenced, or as `{"name": ..., "arguments": ...}`),
that JSON is used. Plain httpx, no retries (Temporal owns them), one timeout for the whole call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from domain.analysis.plan import Diagnosis
from domain.incident.model import Incident
from domain.kube.observation import Observation
from integrations.errors import unreachable
from integrations.llm.errors import InvalidModelOutput, ModelUnavailable, classify_status
from integrations.llm.output import DIAGNOSIS_TOOL, ToolSpec, decode_json_object, to_diagnosis
from integrations.llm.prompt import PastIncident, render_prompt

DEFAULT_MAX_TOKENS = 2048
DEFAULT_TIMEOUT = 60.0


def _error_fields(response: httpx.Response) -> tuple[str | None, str]:
    try:
        body = response.json()
    except ValueError:
        return None, response.text[:200]
    error = body.get("error") if isinstance(body, Mapping) else None
    if isinstance(error, Mapping):
        kind = error.get("type") or error.get("code")
        return (str(kind) if kind else None), str(error.get("message") or "")
    if isinstance(error, str):
        return None, error
    return None, ""


def _unwrap_call(value: dict[str, Any], tool_name: str) -> dict[str, Any]:
    """`{"name": tool, "arguments": {...}}` (a tool call written as content) → the arguments."""
    if value.get("name") == tool_name:
        for key in ("arguments", "parameters", "input"):
            inner = value.get(key)
            if isinstance(inner, str):
                return decode_json_object(inner)
            if isinstance(inner, dict):
                return inner
    return value


def completion_tool_input(body: object, tool_name: str) -> dict[str, Any]:
    """The `tool_name` arguments from a Chat Completions response body, or InvalidModelOutput."""
    if not isinstance(body, Mapping):
        raise InvalidModelOutput("openai: the response is not a JSON object")
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise InvalidModelOutput("openai: the response has no choices")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, Mapping):
        raise InvalidModelOutput("openai: the first choice has no message")
    cut_off = choice.get("finish_reason") == "length"
    calls = message.get("tool_calls") or []
    if isinstance(calls, list) and calls:
        function = calls[0].get("function") if isinstance(calls[0], Mapping) else None
        if not isinstance(function, Mapping):
            raise InvalidModelOutput("openai: the tool call has no function")
        if function.get("name") != tool_name:
            raise InvalidModelOutput(
                f"openai: the model called {str(function.get('name'))[:60]!r}, not {tool_name}"
            )
        arguments = function.get("arguments")
        if isinstance(arguments, dict):
            value = arguments
        elif isinstance(arguments, str):
            value = decode_json_object(arguments)
        else:
            raise InvalidModelOutput(f"openai: the {tool_name} arguments are not a JSON object")
        if cut_off:
            raise InvalidModelOutput("openai: the tool call was cut off at max_tokens")
        return value
    content = message.get("content")
    if isinstance(content, str) and content.strip():
        try:
            return _unwrap_call(decode_json_object(content), tool_name)
        except InvalidModelOutput as exc:
            why = "cut off at max_tokens" if cut_off else "no tool call, and the content is not JSON"
            raise InvalidModelOutput(f"openai: {why} ({exc.reason})") from exc
    raise InvalidModelOutput(f"openai: no {tool_name} tool call and no content in the answer")


class OpenAIAnalyzer:
    """An `Analyzer` behind any OpenAI-compatible server. Raises only `integrations.llm.errors`."""

    name = "openai"

    def __init__(
        self,
        client: httpx.Client,
        model: str,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        *,
        redact: Callable[[str], str] | None = None,
    ) -> None:
        """`client`: an httpx client whose `base_url` is the API root (e.g. `http://vllm:8000/v1`)."""
        self._client = client
        self._model = model
        self._max_tokens = max_tokens
        self._redact = redact

    @classmethod
    def from_settings(
        cls,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        redact: Callable[[str], str] | None = None,
    ) -> OpenAIAnalyzer:
        """`base_url` is the API root including `/v1`; `api_key` is sent as a bearer token if set."""
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        client = httpx.Client(base_url=base_url.rstrip("/") + "/", headers=headers, timeout=timeout)
        return cls(client, model, max_tokens, redact=redact)

    def close(self) -> None:
        self._client.close()

    @property
    def model(self) -> str:
        return self._model

    def check_access(self) -> bool:
        """Whether the server accepts the key and lists the model, by the cheapest authenticated
        call (GET {base_url}/models: no tokens spent). False: the model is not listed (some servers
        list only what is loaded); a failure raises `integrations.llm.errors` (a refused key:
        ModelRefused)."""
        try:
            response = self._client.get("models")
        except httpx.TimeoutException as exc:
            raise ModelUnavailable("openai: the request timed out") from exc
        except httpx.TransportError as exc:
            raise ModelUnavailable(f"openai: connection failed ({type(exc).__name__})") from exc
        if response.status_code >= 400:
            error_type, message = _error_fields(response)
            raise classify_status("openai", response.status_code, response.headers, error_type, message)
        try:
            listed = response.json().get("data") or []
        except (ValueError, AttributeError) as exc:
            raise InvalidModelOutput("openai: the model list is not the API's JSON") from exc
        return any(isinstance(m, Mapping) and m.get("id") == self._model for m in listed)

    def call_tool(self, system: str, user: str, tool: ToolSpec) -> dict[str, Any]:
        """One Chat Completions call forced to `tool`; its arguments as a JSON object."""
        request = {
            "model": self._model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": tool.input_schema,
                    },
                }
            ],
            "tool_choice": {"type": "function", "function": {"name": tool.name}},
            "max_tokens": self._max_tokens,
            "temperature": 0,
        }
        try:
            response = self._client.post("chat/completions", json=request)
        except httpx.TimeoutException as exc:
            raise ModelUnavailable("openai did not answer in time (the request timed out)") from exc
        except httpx.TransportError as exc:
            url = self._client.base_url
            where = f"{url.scheme}://{url.netloc.decode()}"
            raise ModelUnavailable(unreachable("openai", exc, where)) from exc
        if response.status_code >= 400:
            error_type, message = _error_fields(response)
            raise classify_status("openai", response.status_code, response.headers, error_type, message)
        try:
            body = response.json()
        except ValueError as exc:
            raise InvalidModelOutput("openai: the response body is not valid JSON") from exc
        return completion_tool_input(body, tool.name)

    def analyze(
        self, incident: Incident, observation: Observation, similar: Sequence[PastIncident] = ()
    ) -> Diagnosis:
        """The model's diagnosis, validated and checked against the observation.

        `similar`: recalled past incidents (`domain.incident.memory.SimilarIncident`s or mappings), shown with
        their outcomes. Raises ModelUnavailable (retry), InvalidModelOutput or ModelRefused (do not),
        PromptTooLarge (do not).
        """
        prompt = render_prompt(incident, observation, similar, redact=self._redact)
        raw = self.call_tool(prompt.system, prompt.user, DIAGNOSIS_TOOL)
        return to_diagnosis(raw, observation, self.name)
