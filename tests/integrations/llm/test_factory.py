"""Analyzers built from configuration values: the SDK's retries are off, and gaps are named."""

from __future__ import annotations

import pytest

from integrations.llm import make_analyzer
from integrations.llm.anthropic_analyzer import AnthropicAnalyzer
from integrations.llm.errors import ModelRefused
from integrations.llm.openai_analyzer import OpenAIAnalyzer


def test_anthropic_analyzer_has_client_retries_off_and_the_configured_timeout() -> None:
    analyzer = make_analyzer(
        "anthropic",
        {
            "ANTHROPIC_API_KEY": "sk-ant-x",
            "MEDIC_ANTHROPIC_MODEL": "claude-x",
            "MEDIC_LLM_TIMEOUT_SECONDS": "12",
        },
    )
    try:
        assert isinstance(analyzer, AnthropicAnalyzer) and analyzer.name == "anthropic"
        assert analyzer._client.max_retries == 0 and analyzer._client.timeout == 12.0
        assert analyzer._model == "claude-x"
    finally:
        analyzer.close()


def test_openai_analyzer_posts_under_the_configured_api_root() -> None:
    analyzer = make_analyzer(
        "openai", {"MEDIC_OPENAI_BASE_URL": "http://127.0.0.1:8000/v1", "MEDIC_OPENAI_MODEL": "qwen"}
    )
    try:
        assert isinstance(analyzer, OpenAIAnalyzer) and analyzer.name == "openai"
        assert str(analyzer._client.base_url) == "http://127.0.0.1:8000/v1/"
        assert "authorization" not in analyzer._client.headers
    finally:
        analyzer.close()


@pytest.mark.parametrize(
    ("name", "env", "missing"),
    [
        ("anthropic", {}, "ANTHROPIC_API_KEY"),
        ("openai", {"MEDIC_OPENAI_MODEL": "qwen"}, "MEDIC_OPENAI_BASE_URL"),
        (
            "anthropic",
            {"ANTHROPIC_API_KEY": "k", "MEDIC_LLM_TIMEOUT_SECONDS": "soon"},
            "MEDIC_LLM_TIMEOUT_SECONDS",
        ),
        ("gpt", {}, "unknown model analyzer"),
    ],
)
def test_missing_or_bad_configuration_is_refused_with_its_name(
    name: str, env: dict[str, str], missing: str
) -> None:
    with pytest.raises(ModelRefused, match=missing):
        make_analyzer(name, env)
