"""A short narrative of a change review, written by the configured model from the review alone.

The narrative is advisory text shown under the verdict; nothing reads it back. Risk, the policy's
decision and the findings are settled before the model is asked, and `Narrator.narrated` returns
the same review with only `narrative` (or `narrative_unavailable`) set, so nothing the model says
can change them.

The model is given the review's verdict, findings, cost, rollout and rollback as structured input:
never the manifests or diffs, which may hold what redaction missed. Every text that came from the
change (object names, finding and policy messages, notes) is redacted and fenced as untrusted data,
neutralised exactly as in the diagnosis prompt; only the decision, the risk, counts and amounts are
trusted text.

Its answer is one forced tool call. The text is redacted again, made one paragraph, kept from doing
anything in a pull-request comment (no HTML or the comment's marker, no mentions, no links or
headings) and cut to `MAX_WORDS` words and `MAX_CHARS` characters. A model that fails, times out
or answers junk gives no narrative and a one-line reason; the review goes out either way.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from pydantic import BaseModel, ConfigDict, Field

from domain.redaction.text import redact_text
from domain.review.cost import signed_usd
from domain.review.findings import Finding
from domain.review.policy_input import object_ref
from domain.review.review import Review
from integrations.llm.errors import (
    InvalidModelOutput,
    LLMError,
    ModelRefused,
    ModelUnavailable,
    PromptTooLarge,
)
from integrations.llm.output import ToolModel, ToolSpec, inline_schema
from integrations.llm.prompt import PROMPTS_DIR, RenderedPrompt, fence, neutralise

NARRATIVE_TOOL_NAME = "submit_narrative"
MAX_WORDS = 120
MAX_CHARS = 1000
# What the model may send before the text is even looked at (it is cut to MAX_CHARS after).
MAX_ANSWER_CHARS = 4000
# The prompt is far smaller than the diagnosis's: a review's findings are one line each.
NARRATIVE_BUDGET_BYTES = 16_000
MAX_UNAVAILABLE = 200
# Per line of untrusted text (a finding, a policy line, a rollout step, a cost note).
_LINE_CHARS = 300
# How many findings are shown, step by step, until the prompt fits its budget (highest first).
_FINDING_STEPS = (60, 30, 15, 5, 0)
_MAX_POLICY_LINES = 20
_MAX_ROLLOUT_LINES = 10
_MAX_COST_OBJECTS = 10
_SEVERITY_ORDER = {"high": 0, "warning": 1, "info": 2}
# Plain-text prompts beside the diagnosis's; untrusted text is neutralised by `_block`.
_ENV = Environment(
    loader=FileSystemLoader(str(PROMPTS_DIR)),
    undefined=StrictUndefined,
    autoescape=False,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


class _NarrativeAnswer(BaseModel):
    """Submit the narrative of the review. This is the only way to answer."""

    model_config = ConfigDict(extra="forbid")

    narrative: str = Field(
        max_length=MAX_ANSWER_CHARS,
        description=f"at most {MAX_WORDS} words of plain prose, one paragraph, from the review only",
    )


NARRATIVE_TOOL = ToolSpec(
    name=NARRATIVE_TOOL_NAME,
    description="Submit the short narrative of the change review. This is the only way to answer.",
    input_schema=inline_schema(_NarrativeAnswer.model_json_schema()),
)


# --- the prompt ---------------------------------------------------------------------------------


def _line(redact: Callable[[str], str], text: str) -> str:
    """One untrusted line: redacted, cut, neutralised, its line breaks shown as `\\n`."""
    clean = redact(text)
    if len(clean) > _LINE_CHARS:
        clean = clean[:_LINE_CHARS] + f"…[+{len(clean) - _LINE_CHARS} chars]"
    return neutralise(clean).replace("\n", "\\n")


def _block(kind: str, lines: Iterable[str], redact: Callable[[str], str]) -> str:
    body = "\n".join(f"- {_line(redact, line)}" for line in lines) or "- (none)"
    return fence(kind, body)


def _finding(f: Finding) -> str:
    return f"{f.severity} {f.category} {object_ref(f.object)} field={f.field or '-'}: {f.message}"


def _cost_lines(found: Review) -> list[str]:
    lines = [f"basis: {found.cost.basis}"]
    priced = [c for c in found.cost.objects if c.monthly_delta_usd or c.note]
    for c in priced[:_MAX_COST_OBJECTS]:
        lines.append(
            f"{c.ref.label()}: ${c.before_usd:,.2f} -> ${c.after_usd:,.2f} "
            f"({signed_usd(c.monthly_delta_usd)}/month){f'; {c.note}' if c.note else ''}"
        )
    if len(priced) > _MAX_COST_OBJECTS:
        lines.append(f"{len(priced) - _MAX_COST_OBJECTS} more priced object(s) not shown")
    return lines


def render_narrative_prompt(
    found: Review,
    *,
    redact: Callable[[str], str] | None = None,
    budget_bytes: int = NARRATIVE_BUDGET_BYTES,
) -> RenderedPrompt:
    """The narrative prompt for `found` (a review with the policy's verdict, or without one: then
    the decision reads `allow`, as the review's outcome does), within `budget_bytes` (system + user,
    UTF-8). Findings are shown highest first; when they do not all fit, the lowest are left out
    and the prompt says how many are shown. `redact` (default `redact_text`) is applied to every
    untrusted value. Raises `PromptTooLarge` only if even no findings do not fit."""
    clean = redact or redact_text
    verdict = found.verdict
    findings = sorted(found.findings, key=lambda f: _SEVERITY_ORDER[f.severity])
    policy = [*verdict.denials, *verdict.warnings] if verdict is not None else []
    common = {
        "tool_name": NARRATIVE_TOOL_NAME,
        "objects_changed": len(found.changes.changed()),
        "decision": verdict.decision if verdict is not None else "allow",
        "risk": found.risk,
        "monthly_delta": signed_usd(found.cost.monthly_delta_usd),
        "findings_total": len(findings),
        "policy": _block("policy_lines", policy[:_MAX_POLICY_LINES], clean),
        "cost": _block("cost", _cost_lines(found), clean),
        "rollout": _block("rollout", found.rollout[:_MAX_ROLLOUT_LINES], clean),
        "rollback": _block("rollback", [found.rollback], clean),
    }
    system = _ENV.get_template("narrative_system.md.j2").render(
        tool_name=NARRATIVE_TOOL_NAME, max_words=MAX_WORDS
    )
    size = 0
    for keep in _FINDING_STEPS:
        shown = findings[:keep]
        trimmed = (
            f"only the {len(shown)} highest of the {len(findings)} findings are shown"
            if len(shown) < len(findings)
            else ""
        )
        user = _ENV.get_template("narrative_user.md.j2").render(
            **common, trimmed=trimmed, findings=_block("findings", map(_finding, shown), clean)
        )
        size = len(system.encode()) + len(user.encode())
        if size <= budget_bytes:
            return RenderedPrompt(
                system=system, user=user, size_bytes=size, trimmed=(trimmed,) if trimmed else ()
            )
    raise PromptTooLarge(size, budget_bytes)


# --- the answer ---------------------------------------------------------------------------------

# An @-mention would notify whoever it names; shown in a code span it does not.
_MENTION = re.compile(r"(?<![\w`])@([A-Za-z0-9][\w-]*(?:/[\w.-]+)?)")
# A paragraph starting with one of these would render as a heading, list, quote or table.
_BLOCK_START = re.compile(r"^([#>*+|=-]|\d+[.)])")
_PARTIAL_ENTITY = re.compile(r"&[#\w]*$")


def _cut(text: str) -> str:
    words = text.split(" ")
    if len(words) > MAX_WORDS:
        text = " ".join(words[:MAX_WORDS]).rstrip() + " …"
    if len(text) > MAX_CHARS:
        text = _PARTIAL_ENTITY.sub("", text[: MAX_CHARS - 2]).rstrip() + " …"
    return text


def parse_narrative(raw: Mapping[str, Any], *, redact: Callable[[str], str] | None = None) -> str:
    """The narrative from the model's tool input, safe to show in a pull-request comment: redacted,
    one paragraph, HTML escaped (so no tag and no comment marker), mentions in code spans, no link
    syntax, no block syntax at its start, at most `MAX_WORDS` words and `MAX_CHARS` characters.

    Raises InvalidModelOutput when `narrative` is missing, not text, or empty.
    """
    value = raw.get("narrative")
    if not isinstance(value, str) or not value.strip():
        raise InvalidModelOutput("narrative: `narrative` must be non-empty text")
    text = " ".join((redact or redact_text)(value[:MAX_ANSWER_CHARS]).split())
    if not text:
        raise InvalidModelOutput("narrative: nothing is left once redacted")
    text = html.escape(text, quote=False)
    text = text.replace("](", "] (")
    text = _MENTION.sub(r"`@\1`", text)
    text = _BLOCK_START.sub(r"\\\1", text)
    return _cut(text)


def unavailable_reason(err: LLMError, redact: Callable[[str], str] | None = None) -> str:
    """Why a configured model gave no narrative, in one short line (redacted: a provider's error
    message may echo what it was sent)."""
    if isinstance(err, PromptTooLarge):
        why = "the review is too large to narrate"
    elif isinstance(err, InvalidModelOutput):
        why = f"the model's answer was not usable ({err.reason})"
    elif isinstance(err, ModelRefused):
        why = f"the model refused the request ({err.reason})"
    elif isinstance(err, ModelUnavailable):
        why = err.reason
    else:
        why = str(err)
    line = " ".join((redact or redact_text)(why).split())
    return line if len(line) <= MAX_UNAVAILABLE else line[: MAX_UNAVAILABLE - 1].rstrip() + "…"


class Narrator:
    """Asks a model (any `ToolModel`: an `AnthropicAnalyzer` or `OpenAIAnalyzer`) for the narrative
    of a change review."""

    def __init__(self, model: ToolModel, *, redact: Callable[[str], str] | None = None) -> None:
        self._model = model
        self._redact = redact

    @property
    def name(self) -> str:
        return f"narrative:{self._model.name}"

    def narrate(self, found: Review) -> str:
        """The narrative of `found`, ready to show. Raises the errors of `integrations.llm.errors`."""
        prompt = render_narrative_prompt(found, redact=self._redact)
        raw = self._model.call_tool(prompt.system, prompt.user, NARRATIVE_TOOL)
        return parse_narrative(raw, redact=self._redact)

    def narrated(self, found: Review) -> Review:
        """`found` with its narrative, or, when the model fails, times out or answers junk, with
        `narrative_unavailable` saying why. Never raises a model's error, and changes nothing else
        of the review: risk, verdict and findings are the same objects."""
        try:
            text = self.narrate(found)
        except LLMError as err:
            return found.model_copy(
                update={"narrative": "", "narrative_unavailable": unavailable_reason(err, self._redact)}
            )
        return found.model_copy(update={"narrative": text, "narrative_unavailable": ""})


__all__ = [
    "MAX_CHARS",
    "MAX_WORDS",
    "NARRATIVE_TOOL",
    "NARRATIVE_TOOL_NAME",
    "Narrator",
    "parse_narrative",
    "render_narrative_prompt",
    "unavailable_reason",
]
