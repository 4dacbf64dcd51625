"""The closed set of failures a model call can end in, each temporary or permanent (see
`integrations.errors`).

Every provider maps its own exceptions onto these, so callers classify once:

- `ModelUnavailable`: temporary (rate limit, overload, 5xx, connection, timeout). Retry later,
  after `retry_after` seconds when the server said so.
- `InvalidModelOutput`: the model answered, but not with something we accept (no tool call,
  malformed JSON, a field that does not validate, an unknown action kind, a command). Retrying the
  same prompt is not expected to help: non-retryable.
- `ModelRefused`: the provider refuses the request as configured (bad key, no permission, unknown
  model, a request it cannot accept). A configuration error: non-retryable.
- `PromptTooLarge`: even the most compact rendering of the observation exceeds the context budget.
  Non-retryable; the offline analyzer can still decide.
"""

from __future__ import annotations

from collections.abc import Mapping

from integrations.errors import IntegrationError, PermanentError, TemporaryError
from integrations.retry_after import retry_after_seconds


class LLMError(IntegrationError):
    """Base of every error an integration in this package raises."""


class ModelUnavailable(LLMError, TemporaryError):
    """The model could not answer now. `retry_after`: the server's requested delay, in seconds."""

    def __init__(self, reason: str, retry_after: float | None = None, status: int = 0) -> None:
        super().__init__(
            reason if retry_after is None else f"{reason} (retry after {retry_after:g}s)",
            retry_after=retry_after,
        )
        self.reason = reason
        self.status = status


class InvalidModelOutput(LLMError, PermanentError):
    """The model's answer was thrown away; `reason` says why (never echoes large model output)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ModelRefused(LLMError, PermanentError):
    """The provider refused the request as configured (401/403, unknown model, bad request)."""

    def __init__(self, reason: str, status: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class PromptTooLarge(LLMError, PermanentError):
    """The observation does not fit the context budget even with every trim applied."""

    def __init__(self, size_bytes: int, budget_bytes: int) -> None:
        super().__init__(f"prompt is {size_bytes} bytes after every trim; the budget is {budget_bytes}")
        self.size_bytes = size_bytes
        self.budget_bytes = budget_bytes


# --- classification helpers shared by the providers -------------------------------------------------

# Error types providers put in a JSON error body that mean "try again later" whatever the status.
_TEMPORARY_TYPES = frozenset({"overloaded_error", "rate_limit_error", "api_error", "timeout_error"})
# Statuses the providers' own SDKs would retry; here Temporal retries them instead.
_TEMPORARY_STATUSES = frozenset({408, 409, 425, 429})


def classify_status(
    provider: str, status: int, headers: Mapping[str, str], error_type: str | None, message: str
) -> LLMError:
    """The error for an HTTP error answer: temporary (429, 529, 5xx, overload) or a refusal, its
    message one line that says what the provider did (`anthropic refused the API key (HTTP 401:
    invalid x-api-key)`)."""
    answer = f"HTTP {status}" if status else "no HTTP answer"
    if error_type:
        answer += f" {error_type}"
    if message:
        answer += f": {' '.join(message.split())[:160]}"
    if status == 429 or error_type == "rate_limit_error":
        what = f"{provider} rate limit or quota exhausted"
    elif status >= 500 or error_type in ("overloaded_error", "api_error"):
        what = f"{provider} is unavailable"
    elif status == 401:
        what = f"{provider} refused the API key"
    elif status == 403:
        what = f"{provider} refused the request: the API key lacks permission"
    elif status == 0:
        what = f"{provider} could not be called"
    else:
        what = f"{provider} refused the request"
    detail = f"{what} ({answer})"
    if status >= 500 or status in _TEMPORARY_STATUSES or error_type in _TEMPORARY_TYPES:
        return ModelUnavailable(detail, retry_after_seconds(headers), status)
    return ModelRefused(detail, status)
