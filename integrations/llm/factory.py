"""Building a model-backed analyzer from configuration values.

`make_analyzer(name, env)` reads the variables below from the mapping it is given (the CLI passes
`os.environ`; with no mapping it reads `os.environ` itself, for callers at the edge such as
`medic eval`). Nothing else in this package reads the environment.

    anthropic  ANTHROPIC_API_KEY (required), MEDIC_ANTHROPIC_MODEL, ANTHROPIC_BASE_URL
    openai     MEDIC_OPENAI_BASE_URL and MEDIC_OPENAI_MODEL (required), MEDIC_OPENAI_API_KEY
    both       MEDIC_LLM_TIMEOUT_SECONDS (60), MEDIC_LLM_MAX_TOKENS (2048)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from integrations.llm.errors import ModelRefused

if TYPE_CHECKING:  # each SDK is imported when its analyzer is built, not with this package
    from integrations.llm.anthropic_analyzer import AnthropicAnalyzer
    from integrations.llm.openai_analyzer import OpenAIAnalyzer

DEFAULT_ANTHROPIC_MODEL = "claude-sonnet-4-6"
MODEL_ANALYZERS = ("anthropic", "openai")


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError as exc:
        raise ModelRefused(f"{name}={text!r} is not a number") from exc
    if value <= 0:
        raise ModelRefused(f"{name} must be positive, got {text!r}")
    return value


def _required(env: Mapping[str, str], name: str, analyzer: str) -> str:
    value = env.get(name, "")
    if not value:
        raise ModelRefused(f"the {analyzer} analyzer needs {name}")
    return value


def make_analyzer(name: str, env: Mapping[str, str] | None = None) -> AnthropicAnalyzer | OpenAIAnalyzer:
    """The `anthropic` or `openai` analyzer configured from `env`.

    Raises ModelRefused (a configuration error) for an unknown name or a missing variable.
    """
    env = os.environ if env is None else env
    timeout = _number(env, "MEDIC_LLM_TIMEOUT_SECONDS", 60.0)
    max_tokens = int(_number(env, "MEDIC_LLM_MAX_TOKENS", 2048))
    if name == "anthropic":
        from integrations.llm.anthropic_analyzer import AnthropicAnalyzer

        return AnthropicAnalyzer.from_settings(
            api_key=_required(env, "ANTHROPIC_API_KEY", name),
            model=env.get("MEDIC_ANTHROPIC_MODEL") or DEFAULT_ANTHROPIC_MODEL,
            base_url=env.get("ANTHROPIC_BASE_URL") or None,
            timeout=timeout,
            max_tokens=max_tokens,
        )
    if name == "openai":
        from integrations.llm.openai_analyzer import OpenAIAnalyzer

        return OpenAIAnalyzer.from_settings(
            base_url=_required(env, "MEDIC_OPENAI_BASE_URL", name),
            model=_required(env, "MEDIC_OPENAI_MODEL", name),
            api_key=env.get("MEDIC_OPENAI_API_KEY") or None,
            timeout=timeout,
            max_tokens=max_tokens,
        )
    raise ModelRefused(f"unknown model analyzer {name!r}: choose one of {', '.join(MODEL_ANALYZERS)}")
