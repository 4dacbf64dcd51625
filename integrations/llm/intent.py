"""A change request's words read by the configured model, when the grammar cannot read them.

`IntentReader.read` asks the model for ONE typed change through a forced tool call whose schema is
derived from the diagnosis's typed actions (`integrations.llm.output`): the same kinds
(`MODEL_ACTION_KINDS`, which are the request kinds), the same name, image and quantity formats,
the same strictness (no unknown field anywhere). What differs is what a request names: a target as
its words name it (a name, and a namespace, kind and container only where the words say them);
no mode or file (the plan chooses them from what observe finds); one change, or none and why not.

The words are untrusted text: redacted, neutralised and fenced as data in the prompt, and the model
is told to ignore instructions in them. Its answer is thrown away unless it is exactly one allowed
change: a second change, a delete, a Namespace, an unknown field or kind is `InvalidModelOutput`
with a one-line reason. A valid change is then held to the grammar's own bounds
(`domain.intent.parse.within_bounds`), and its target is resolved later by observe exactly as the
grammar's (an unknown or ambiguous name is refused there). The change records who read it
(`read_by`, `model:<analyzer>/<model>`), so the approvers see that a model, not the grammar, read
the words.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from pydantic import Field, ValidationError, field_validator

from domain.intent.model import WORKLOAD_KINDS, IntentChange, IntentKind, IntentTarget
from domain.intent.parse import IntentBounds, IntentRefused, within_bounds
from domain.redaction.text import redact_text
from integrations.llm.errors import InvalidModelOutput
from integrations.llm.output import (
    DNS_LABEL,
    DNS_SUBDOMAIN,
    IMAGE_PATTERN,
    MODEL_ACTION_KINDS,
    StrictModel,
    ToolModel,
    ToolSpec,
    checked_quantities,
    inline_schema,
    validation_reason,
)
from integrations.llm.prompt import PROMPTS_DIR, fence, neutralise

__all__ = ["INTENT_TOOL", "INTENT_TOOL_NAME", "IntentReader", "intent_change", "render_intent_prompt"]

INTENT_TOOL_NAME = "submit_change"
# The request kinds are the diagnosis's action kinds, no more and no fewer.
INTENT_KINDS: tuple[str, ...] = MODEL_ACTION_KINDS
MAX_CANNOT_CHARS = 200
CHANGE_FIELDS: dict[str, str] = {
    "set_image": "`image`, the full image reference the request gives (registry/repository:tag).",
    "scale": "`replicas`, the number of replicas the request asks for.",
    "set_resources": (
        '`requests` and/or `limits`, maps of `cpu` | `memory` to a Kubernetes quantity ("2Gi", '
        '"500m"); a memory amount the request gives without saying which is a limit.'
    ),
    "rollback_revision": "`revision` when the request names one; null for the previous revision.",
    "restart": "no fields; a rolling restart of the workload.",
    "sync_application": "`application`, the Argo CD application the request names.",
}
_ENV = Environment(
    loader=FileSystemLoader(str(PROMPTS_DIR)),
    undefined=StrictUndefined,
    autoescape=False,  # plain-text prompts; the request is neutralised before it is fenced
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


class RequestTarget(StrictModel):
    """The workload the request names, as it names it."""

    name: str = Field(pattern=DNS_SUBDOMAIN)
    namespace: str | None = Field(default=None, pattern=DNS_LABEL)
    kind: Literal["Deployment", "StatefulSet", "DaemonSet"] | None = None
    container: str | None = Field(default=None, pattern=DNS_LABEL)


class _RequestChange(StrictModel):
    target: RequestTarget


class RequestSetImage(_RequestChange):
    kind: Literal["set_image"]
    image: str = Field(pattern=IMAGE_PATTERN, max_length=255)


class RequestScale(_RequestChange):
    kind: Literal["scale"]
    replicas: int = Field(ge=0, le=1000)


class RequestSetResources(_RequestChange):
    kind: Literal["set_resources"]
    requests: dict[str, str] = Field(default_factory=dict)
    limits: dict[str, str] = Field(default_factory=dict)

    @field_validator("requests", "limits")
    @classmethod
    def _check_quantities(cls, value: dict[str, str]) -> dict[str, str]:
        return checked_quantities(value)


class RequestRollbackRevision(_RequestChange):
    kind: Literal["rollback_revision"]
    revision: int | None = Field(default=None, ge=1)


class RequestRestart(_RequestChange):
    kind: Literal["restart"]


class RequestSyncApplication(StrictModel):
    kind: Literal["sync_application"]
    application: str = Field(pattern=DNS_SUBDOMAIN)


RequestChange = Annotated[
    RequestSetImage
    | RequestScale
    | RequestSetResources
    | RequestRollbackRevision
    | RequestRestart
    | RequestSyncApplication,
    Field(discriminator="kind"),
]


class RequestReading(StrictModel):
    """Submit the one change the request asks for, or null and why it cannot be read as one."""

    change: RequestChange | None = Field(
        default=None, description="the one change the request asks for; null when it is not one"
    )
    cannot: str | None = Field(
        default=None,
        max_length=500,
        description="when change is null: one short sentence saying why the request cannot be read",
    )


INTENT_TOOL = ToolSpec(
    name=INTENT_TOOL_NAME,
    description=(
        "Submit the one typed change the request asks for, or null and the reason it cannot be read "
        "as one. This is the only way to answer."
    ),
    input_schema=inline_schema(RequestReading.model_json_schema()),
)


def render_intent_prompt(words: str, redact: Callable[[str], str] | None = None) -> tuple[str, str]:
    """The system and user prompt: trusted instructions, and the words redacted and fenced as data."""
    clean = (redact or redact_text)(" ".join(words.split()))
    system = _ENV.get_template("intent_system.md.j2").render(
        tool_name=INTENT_TOOL_NAME, change_kinds={k: CHANGE_FIELDS[k] for k in INTENT_KINDS}
    )
    request = fence("change_request", neutralise(clean).replace("\n", "\\n"))
    user = _ENV.get_template("intent_user.md.j2").render(tool_name=INTENT_TOOL_NAME, request=request)
    return system, user


def _one_change(raw: Mapping[str, Any]) -> None:
    """Clear reasons for the answers that try to be more than one allowed change."""
    for key in ("changes", "actions"):
        value = raw.get(key)
        if isinstance(value, list) and len(value) > 1:
            raise InvalidModelOutput(
                f"the model read {len(value)} changes; a request is read as one change or refused"
            )
    change = raw.get("change")
    if isinstance(change, list):
        if len(change) > 1:
            raise InvalidModelOutput(
                f"the model read {len(change)} changes; a request is read as one change or refused"
            )
        raise InvalidModelOutput("the model's change is a list, not one change")
    if isinstance(change, Mapping):
        kind = change.get("kind")
        if kind not in INTENT_KINDS:
            raise InvalidModelOutput(
                f"the model proposed {str(kind)[:40]!r}, which is not a change a request may ask for "
                f"({', '.join(INTENT_KINDS)})"
            )
        target = change.get("target")
        target_kind = target.get("kind") if isinstance(target, Mapping) else None
        if target_kind is not None and target_kind not in WORKLOAD_KINDS:
            raise InvalidModelOutput(
                f"the model's change targets a {str(target_kind)[:40]}; a request changes a "
                "Deployment, StatefulSet or DaemonSet only"
            )


def _one_line(text: str, limit: int = MAX_CANNOT_CHARS) -> str:
    line = " ".join(redact_text(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def intent_change(raw: Mapping[str, Any], bounds: IntentBounds | None, read_by: str) -> IntentChange:
    """The model's tool input as the request's one change, within `bounds`.

    Raises InvalidModelOutput (not exactly one allowed change) or IntentRefused (the model could
    not read it, or a value is out of bounds), each with a one-line reason."""
    _one_change(raw)
    try:
        reading = RequestReading.model_validate(raw)
    except ValidationError as exc:
        raise InvalidModelOutput(f"the model's reading does not validate: {validation_reason(exc)}") from exc
    found = reading.change
    if found is None:
        why = _one_line(reading.cannot or "") or "it gave no reason"
        raise IntentRefused(f"the model ({read_by}) could not read the request as one change: {why}")
    if reading.cannot:
        raise InvalidModelOutput("the model both read a change and said it cannot; neither is used")
    kind: IntentKind = found.kind
    if isinstance(found, RequestSyncApplication):
        change = IntentChange(kind=kind, target=IntentTarget(name=found.application))
    else:
        t = found.target
        fields: dict[str, Any] = {
            "kind": kind,
            "target": IntentTarget(name=t.name, namespace=t.namespace, kind=t.kind),
            "container": t.container,
        }
        if isinstance(found, RequestSetImage):
            fields["image"] = found.image
        elif isinstance(found, RequestScale):
            fields["replicas"] = found.replicas
        elif isinstance(found, RequestSetResources):
            fields["requests"], fields["limits"] = dict(found.requests), dict(found.limits)
        elif isinstance(found, RequestRollbackRevision):
            fields["revision"] = found.revision
        change = IntentChange(**fields)
    change = change.model_copy(update={"form": "model", "read_by": read_by})
    return within_bounds(change, bounds)


class IntentReader:
    """Reads a request's words through a `ToolModel` (the configured analyzer's client). Blocking:
    call it from a thread. Raises the errors of `integrations.llm.errors` and IntentRefused."""

    def __init__(self, model: ToolModel, *, redact: Callable[[str], str] | None = None) -> None:
        self._model = model
        self._redact = redact

    @property
    def name(self) -> str:
        """`model:<analyzer>/<model>`, as the change records it."""
        model = getattr(self._model, "model", "")
        return f"model:{self._model.name}/{model}" if model else f"model:{self._model.name}"

    def read(self, words: str, bounds: IntentBounds | None = None) -> IntentChange:
        system, user = render_intent_prompt(words, self._redact)
        raw = self._model.call_tool(system, user, INTENT_TOOL)
        return intent_change(raw, bounds, self.name)

    def close(self) -> None:
        close = getattr(self._model, "close", None)
        if callable(close):
            close()
