"""Language-model analyzers: Claude and OpenAI-compatible servers behind the `Analyzer` interface.

The model proposes; nothing it says is trusted. Its answer is one forced tool call validated into a
typed `Diagnosis` (or thrown away), and the cluster text it reads is fenced as untrusted data.

The analyzers' SDKs (the Anthropic SDK alone is about 80 MB in memory) are imported when an
analyzer is built or its class is first named (`integrations.llm.AnthropicAnalyzer`), not with this
package: a worker on the offline analyzer never loads them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from integrations.llm.errors import (
    InvalidModelOutput,
    LLMError,
    ModelRefused,
    ModelUnavailable,
    PromptTooLarge,
)
from integrations.llm.factory import make_analyzer
from integrations.llm.prompt import PROMPT_BUDGET_BYTES, RenderedPrompt, render_prompt
from integrations.llm.reviewer import ReviewVerdict, SecondOpinion, apply_review

if TYPE_CHECKING:
    from integrations.llm.anthropic_analyzer import AnthropicAnalyzer
    from integrations.llm.openai_analyzer import OpenAIAnalyzer

# Public names whose modules import an SDK, and those modules.
_LAZY = {
    "AnthropicAnalyzer": "integrations.llm.anthropic_analyzer",
    "OpenAIAnalyzer": "integrations.llm.openai_analyzer",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "PROMPT_BUDGET_BYTES",
    "AnthropicAnalyzer",
    "InvalidModelOutput",
    "LLMError",
    "ModelRefused",
    "ModelUnavailable",
    "OpenAIAnalyzer",
    "PromptTooLarge",
    "RenderedPrompt",
    "ReviewVerdict",
    "SecondOpinion",
    "apply_review",
    "make_analyzer",
    "render_prompt",
]
