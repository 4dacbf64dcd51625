"""Language-model analyzers: Claude and OpenAI-compatible servers behind the `Analyzer` interface.

The model proposes; nothing it says is trusted. Its answer is one forced tool call validated into a
typed `Diagnosis` (or thrown away), and the cluster text it reads is fenced as untrusted data.
"""

from integrations.llm.anthropic_analyzer import AnthropicAnalyzer
from integrations.llm.errors import (
    InvalidModelOutput,
    LLMError,
    ModelRefused,
    ModelUnavailable,
    PromptTooLarge,
)
from integrations.llm.factory import make_analyzer
from integrations.llm.openai_analyzer import OpenAIAnalyzer
from integrations.llm.prompt import PROMPT_BUDGET_BYTES, RenderedPrompt, render_prompt
from integrations.llm.reviewer import ReviewVerdict, SecondOpinion, apply_review

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
