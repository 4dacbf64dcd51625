"""Claude as an analyzer: one Messages API call with one forced tool, validated or thrown away.

The client is built with `max_retries=0`: Temporal retries the activity, so every attempt is
visible in the workflow history and a 429/529 waits for the server's `retry-after`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import anthropic
from anthropic.types import Message

from domain.analysis.plan import Diagnosis
from domain.incident.model import Incident
from domain.kube.observation import Observation
from integrations.errors import unreachable
from integrations.llm.errors import InvalidModelOutput, LLMError, ModelUnavailable, classify_status
from integrations.llm.output import DIAGNOSIS_TOOL, ToolSpec, decode_json_object, to_diagnosis
from integrations.llm.prompt import PastIncident, render_prompt

DEFAULT_BASE_URL = "https://api.anthropic.com"
DEFAULT_MAX_TOKENS = 2048
DEFAULT_TIMEOUT = 60.0


def _error_type(body: object) -> str | None:
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping) and isinstance(error.get("type"), str):
            return str(error["type"])
    return None


def _error_message(body: object) -> str:
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):
            return str(error.get("message") or "")
    return ""


def _classify(exc: anthropic.AnthropicError) -> LLMError:
    if isinstance(exc, anthropic.APITimeoutError):
        return ModelUnavailable("anthropic did not answer in time (the request timed out)")
    if isinstance(exc, anthropic.APIConnectionError):
        url = exc.request.url
        where = f"{url.scheme}://{url.netloc.decode()}"
        return ModelUnavailable(unreachable("anthropic", exc, where))
    if isinstance(exc, anthropic.APIResponseValidationError):
        return InvalidModelOutput(
            f"anthropic: the response does not have the Messages API shape ({exc.message})"
        )
    if isinstance(exc, anthropic.APIStatusError):
        # `type` / `api_message` are parsed by newer SDKs only; the body has them in any version.
        error_type = getattr(exc, "type", None) or _error_type(exc.body)
        message = getattr(exc, "api_message", None) or _error_message(exc.body)
        return classify_status("anthropic", exc.status_code, exc.response.headers, error_type, message)
    # Anything else the SDK raises (e.g. a credentials problem) is a configuration error.
    return classify_status("anthropic", 0, {}, None, str(exc) or type(exc).__name__)


def tool_input(message: object, tool_name: str) -> dict[str, Any]:
    """The input of the one `tool_name` call in a Messages API response, or InvalidModelOutput."""
    if not isinstance(message, Message):
        raise InvalidModelOutput("anthropic: the response is not a Messages API message")
    calls = [block for block in message.content if getattr(block, "type", None) == "tool_use"]
    if not calls:
        if message.stop_reason == "max_tokens":
            raise InvalidModelOutput("anthropic: the answer was cut off at max_tokens before any tool call")
        if message.stop_reason == "refusal":
            raise InvalidModelOutput("anthropic: the model declined to answer (stop_reason refusal)")
        raise InvalidModelOutput(f"anthropic: no {tool_name} tool call in the answer (text only)")
    call = calls[0]
    name = getattr(call, "name", None)
    if name != tool_name:
        raise InvalidModelOutput(f"anthropic: the model called {str(name)[:60]!r}, not {tool_name}")
    value = getattr(call, "input", None)
    if isinstance(value, str):  # not the API's shape, but a proxy or fake may send the JSON text
        value = decode_json_object(value)
    if not isinstance(value, dict):
        raise InvalidModelOutput(f"anthropic: the {tool_name} input is not a JSON object")
    if message.stop_reason == "max_tokens":
        raise InvalidModelOutput("anthropic: the tool call was cut off at max_tokens")
    return value


class AnthropicAnalyzer:
    """An `Analyzer` backed by Claude. Raises only the errors of `integrations.llm.errors`."""

    name = "anthropic"

    def __init__(
        self,
        client: anthropic.Anthropic,
        model: str,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        *,
        redact: Callable[[str], str] | None = None,
    ) -> None:
        self._client = client
        self._model = model
        self._max_tokens = max_tokens
        self._redact = redact

    @classmethod
    def from_settings(
        cls,
        api_key: str,
        model: str,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        redact: Callable[[str], str] | None = None,
    ) -> AnthropicAnalyzer:
        """An analyzer with its own client: no SDK retries (Temporal owns them), a fixed timeout, and
        the public API unless `base_url` says otherwise (a gateway, a loopback fake)."""
        client = anthropic.Anthropic(
            api_key=api_key, base_url=base_url or DEFAULT_BASE_URL, max_retries=0, timeout=timeout
        )
        return cls(client, model, max_tokens, redact=redact)

    def close(self) -> None:
        self._client.close()

    @property
    def model(self) -> str:
        return self._model

    def check_access(self) -> bool:
        """Whether the key is accepted and the model exists, by the cheapest authenticated call
        (GET /v1/models/{model}: no tokens spent). True: the model is there; a 404 is False; any
        other failure raises the errors of `integrations.llm.errors` (a refused key: ModelRefused)."""
        try:
            self._client.models.retrieve(self._model)
        except anthropic.NotFoundError:
            return False
        except anthropic.AnthropicError as exc:
            raise _classify(exc) from exc
        return True

    def call_tool(self, system: str, user: str, tool: ToolSpec) -> dict[str, Any]:
        """One Messages API call forced to `tool`; its input as a JSON object."""
        try:
            message = self._client.messages.create(
                model=self._model,
                max_tokens=self._max_tokens,
                system=system,
                messages=[{"role": "user", "content": user}],
                tools=[
                    {"name": tool.name, "description": tool.description, "input_schema": tool.input_schema}
                ],
                tool_choice={"type": "tool", "name": tool.name},
            )
        except anthropic.AnthropicError as exc:
            raise _classify(exc) from exc
        except json.JSONDecodeError as exc:  # the SDK parses a JSON content type eagerly
            raise InvalidModelOutput(f"anthropic: the response body is not valid JSON ({exc.msg})") from exc
        return tool_input(message, tool.name)

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
