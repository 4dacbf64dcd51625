"""What a model may answer, and how an answer becomes a `Diagnosis` or is thrown away.

The model fills in one tool call whose input schema is `ModelDiagnosis`: a reduced, strict mirror
of `domain.analysis.plan.Diagnosis`. Strict means: no unknown fields anywhere (a `command` field is refused,
not ignored), action kinds from `ACTION_KINDS` only, targets that are workloads (never a Namespace
or anything else), names, images, files and quantities that match their formats, so nothing shaped
like a shell command fits in a field that is ever acted on. A valid answer is then checked against
the observation (targets, containers, files, revisions and evidence must have been observed) and
validated into the domain model. Anything else raises `InvalidModelOutput`.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Protocol

from pydantic import ConfigDict, Field, ValidationError, field_validator

from domain.analysis.plan import ACTION_KINDS, Diagnosis, RootCause, reads_as_command
from domain.base import Frozen
from domain.kube.observation import Observation
from domain.kube.quantity import QuantityError, parse_quantity
from integrations.llm.errors import InvalidModelOutput

DIAGNOSIS_TOOL_NAME = "submit_diagnosis"
REVIEW_TOOL_NAME = "submit_review"
MAX_ACTIONS = 5
MAX_EVIDENCE = 30
MAX_NEXT_STEPS = 6
MAX_NEXT_STEP_CHARS = 400

DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
# registry[:port]/path/name[:tag][@sha256:digest] — no spaces, quotes or shell metacharacters fit.
IMAGE_PATTERN = (
    r"^[a-z0-9]+([._-]+[a-z0-9]+)*(:[0-9]{1,5})?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*"
    r"(:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?(@sha256:[a-f0-9]{64})?$"
)
# A relative path inside the GitOps repository.
_REPO_PATH = r"^[A-Za-z0-9_][A-Za-z0-9_./-]{0,254}$"
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
_RESOURCE_NAMES = ("cpu", "memory", "ephemeral-storage")


class StrictModel(Frozen):
    model_config = ConfigDict(extra="forbid")


class ModelTarget(StrictModel):
    """The workload an action changes, optionally narrowed to one of its containers."""

    namespace: str = Field(pattern=DNS_LABEL)
    kind: Literal["Deployment", "StatefulSet", "DaemonSet"]
    name: str = Field(pattern=DNS_SUBDOMAIN)
    container: str | None = Field(default=None, pattern=DNS_LABEL)


class _ModelAction(StrictModel):
    target: ModelTarget
    mode: Literal["direct", "gitops"] = Field(
        description="gitops when the workload is managed by Argo CD (change the file, open a PR)"
    )
    file: str | None = Field(
        default=None, pattern=_REPO_PATH, description="gitops: the GitOps file that defines the target"
    )

    @field_validator("file")
    @classmethod
    def _no_parent(cls, value: str | None) -> str | None:
        if value is not None and ".." in value.split("/"):
            raise ValueError("a GitOps file path must stay inside the repository")
        return value


def checked_quantities(value: dict[str, str]) -> dict[str, str]:
    for resource, quantity in value.items():
        if resource not in _RESOURCE_NAMES:
            raise ValueError(f"resource {resource!r} is not one of {', '.join(_RESOURCE_NAMES)}")
        if not _QUANTITY.match(quantity):
            raise ValueError(f"{resource}: {quantity!r} is not a Kubernetes quantity")
        try:
            if parse_quantity(quantity) <= 0:
                raise ValueError(f"{resource}: {quantity!r} must be positive")
        except QuantityError as exc:
            raise ValueError(str(exc)) from exc
    return value


class ModelSetResources(_ModelAction):
    kind: Literal["set_resources"]
    requests: dict[str, str] = Field(default_factory=dict)
    limits: dict[str, str] = Field(default_factory=dict)

    @field_validator("requests", "limits")
    @classmethod
    def _check_quantities(cls, value: dict[str, str]) -> dict[str, str]:
        return checked_quantities(value)


class ModelSetImage(_ModelAction):
    kind: Literal["set_image"]
    image: str = Field(pattern=IMAGE_PATTERN, max_length=255)


class ModelScale(_ModelAction):
    kind: Literal["scale"]
    replicas: int = Field(ge=0, le=1000)


class ModelRestart(_ModelAction):
    kind: Literal["restart"]


class ModelRollbackRevision(_ModelAction):
    kind: Literal["rollback_revision"]
    revision: int = Field(ge=1)


class ModelSyncApplication(_ModelAction):
    kind: Literal["sync_application"]
    application: str = Field(pattern=DNS_SUBDOMAIN)


ModelAction = Annotated[
    ModelSetResources
    | ModelSetImage
    | ModelScale
    | ModelRestart
    | ModelRollbackRevision
    | ModelSyncApplication,
    Field(discriminator="kind"),
]
MODEL_ACTION_KINDS: tuple[str, ...] = (
    "set_resources",
    "set_image",
    "scale",
    "restart",
    "rollback_revision",
    "sync_application",
)


class ModelEvidence(StrictModel):
    item_id: str = Field(max_length=300, description="the id of an observed item, exactly as given")
    note: str = Field(max_length=500)


class ModelDiagnosis(StrictModel):
    """Submit the diagnosis: root cause, explanation, evidence and a plan of typed actions."""

    root_cause: RootCause
    summary: str = Field(min_length=1, max_length=600)
    explanation: str = Field(default="", max_length=4000)
    confidence: float = Field(ge=0.0, le=1.0)
    evidence: list[ModelEvidence] = Field(default_factory=list, max_length=MAX_EVIDENCE)
    actions: list[ModelAction] = Field(
        default_factory=list,
        max_length=MAX_ACTIONS,
        description="typed actions only; empty when nothing should be changed automatically",
    )
    expected_impact: str = Field(default="", max_length=600)
    rollback: str = Field(default="", max_length=600)
    next_steps: list[Annotated[str, Field(min_length=1, max_length=MAX_NEXT_STEP_CHARS)]] = Field(
        default_factory=list,
        max_length=MAX_NEXT_STEPS,
        description=(
            "what a human should do next, above all when no typed action is safe: what to check, which "
            "object to change, and the read-only command that shows it (kubectl get/describe/logs, "
            "argocd app get/diff) in backticks, with the real namespace and names"
        ),
    )


@dataclass(frozen=True)
class ToolSpec:
    """One tool the model must call: its name, what it is for, and the JSON schema of its input."""

    name: str
    description: str
    input_schema: dict[str, Any]


class ToolModel(Protocol):
    """A chat model that answers one prompt with one forced tool call (the providers here)."""

    name: str

    def call_tool(self, system: str, user: str, tool: ToolSpec) -> dict[str, Any]:
        """The tool input the model produced, as a JSON object; raises the errors of this package."""
        ...


def inline_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with every `$ref` to `$defs` replaced by the definition itself.

    Self-hosted servers' constrained decoders (vLLM, llama.cpp) handle `$ref` unevenly; an inlined
    schema works everywhere. Pydantic's `discriminator` mapping points at `$defs`, so it is dropped
    (each branch still pins `kind` with a `const`).
    """
    defs = schema.get("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, list):
            return [resolve(v) for v in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            merged = {**copy.deepcopy(defs[name]), **{k: v for k, v in node.items() if k != "$ref"}}
            return resolve(merged)
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in ("$defs", "discriminator", "title"):
                continue  # titles only cost tokens
            if key == "properties":  # a map of names: its keys are never schema keywords
                out[key] = {name: resolve(sub) for name, sub in value.items()}
            else:
                out[key] = resolve(value)
        return out

    result: dict[str, Any] = resolve(schema)
    return result


DIAGNOSIS_TOOL = ToolSpec(
    name=DIAGNOSIS_TOOL_NAME,
    description=(
        "Submit your diagnosis of the incident: root cause, explanation, evidence citing observed item "
        "ids, and a plan of typed actions (possibly empty). This is the only way to answer."
    ),
    input_schema=inline_schema(ModelDiagnosis.model_json_schema()),
)


def decode_json_object(text: str) -> dict[str, Any]:
    """A JSON object from model text: bare, in a ```json fence, or the one object in some prose.
    Raises InvalidModelOutput. (Whatever is found is still validated strictly.)"""
    stripped = text.strip()
    fenced = re.search(r"```(?:json)?\s*(.*?)\s*```", stripped, flags=re.DOTALL)
    if fenced:
        stripped = fenced.group(1)
    elif not stripped.startswith("{") and "{" in stripped:
        stripped = stripped[stripped.index("{") : stripped.rfind("}") + 1]
    try:
        value = json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise InvalidModelOutput(f"the answer is not valid JSON ({exc.msg} at char {exc.pos})") from exc
    if not isinstance(value, dict):
        raise InvalidModelOutput(f"the answer is JSON {type(value).__name__}, not an object")
    return value


def validation_reason(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error["loc"])
        parts.append(f"{where}: {error['msg']}")
    more = f" (+{exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
    return "; ".join(parts) + more


def parse_model_diagnosis(raw: Mapping[str, Any]) -> ModelDiagnosis:
    """The tool input validated into `ModelDiagnosis`, or InvalidModelOutput saying why not."""
    actions = raw.get("actions", [])
    if isinstance(actions, list):
        for index, action in enumerate(actions):
            kind = action.get("kind") if isinstance(action, Mapping) else None
            if kind not in ACTION_KINDS:
                raise InvalidModelOutput(f"actions.{index}: unknown action kind {str(kind)[:60]!r}")
    try:
        return ModelDiagnosis.model_validate(raw)
    except ValidationError as exc:
        raise InvalidModelOutput(f"the diagnosis does not validate: {validation_reason(exc)}") from exc


def _check_against(parsed: ModelDiagnosis, observation: Observation) -> None:
    # Plan text is shown to the humans who approve; it must not read as a command to run by hand
    # (the summary and explanation are flagged to the policy instead: see domain.policy.input).
    for text in (parsed.expected_impact, parsed.rollback):
        if reads_as_command(text):
            raise InvalidModelOutput("plan text reads as a command to run; medic runs typed actions only")
    files = {f.path for f in observation.gitops_files}
    applications = {a.name for a in observation.argocd}
    for index, action in enumerate(parsed.actions):
        where = f"actions.{index} ({action.kind})"
        target = action.target
        ref_key = f"{target.namespace}/{target.kind}/{target.name}"
        workload = next((w for w in observation.workloads if w.ref.key == ref_key), None)
        if workload is None:
            raise InvalidModelOutput(f"{where} targets {ref_key}, which is not in the observation")
        if target.container is not None and target.container not in {c.name for c in workload.containers}:
            raise InvalidModelOutput(f"{where} names container {target.container!r}, not in {ref_key}")
        if action.mode == "gitops" and action.file is None:
            raise InvalidModelOutput(f"{where} is a gitops change without the file that defines the target")
        if action.file is not None and files and action.file not in files:
            raise InvalidModelOutput(f"{where} changes {action.file!r}, which is not an observed GitOps file")
        if (
            isinstance(action, ModelSyncApplication)
            and applications
            and action.application not in applications
        ):
            raise InvalidModelOutput(f"{where} syncs {action.application!r}, not an observed application")
        if isinstance(action, ModelRollbackRevision):
            known = {r.revision for r in observation.revisions}
            if known and action.revision not in known:
                raise InvalidModelOutput(f"{where} rolls back to revision {action.revision}, never observed")
    known_ids = observation.item_ids()
    unknown = [e.item_id for e in parsed.evidence if e.item_id not in known_ids]
    if unknown:
        raise InvalidModelOutput(f"evidence cites items that were not observed: {unknown[:5]}")


def to_diagnosis(raw: Mapping[str, Any], observation: Observation, analyzer: str) -> Diagnosis:
    """The model's tool input as a domain `Diagnosis`, checked against what was observed.

    Raises InvalidModelOutput for anything that is not exactly a valid diagnosis of this observation.
    """
    parsed = parse_model_diagnosis(raw)
    _check_against(parsed, observation)
    plan = {
        "actions": [a.model_dump(mode="json", exclude_none=True) for a in parsed.actions],
        "expected_impact": parsed.expected_impact,
        "rollback": parsed.rollback,
    }
    try:
        return Diagnosis.model_validate(
            {
                "root_cause": parsed.root_cause,
                "summary": parsed.summary,
                "explanation": parsed.explanation,
                "confidence": parsed.confidence,
                "evidence": [e.model_dump() for e in parsed.evidence],
                # display text: one that reads as a command that changes something is flagged to the
                # policy with the other free text (domain.policy.input), never run
                "next_steps": [" ".join(step.split()) for step in parsed.next_steps],
                "plan": plan,
                "analyzer": analyzer,
            }
        )
    except ValidationError as exc:  # the reduced model drifted from the domain model
        raise InvalidModelOutput(
            f"the diagnosis does not fit the domain model: {validation_reason(exc)}"
        ) from exc


__all__ = [
    "DIAGNOSIS_TOOL",
    "DIAGNOSIS_TOOL_NAME",
    "DNS_LABEL",
    "DNS_SUBDOMAIN",
    "IMAGE_PATTERN",
    "REVIEW_TOOL_NAME",
    "MODEL_ACTION_KINDS",
    "ModelDiagnosis",
    "ToolModel",
    "StrictModel",
    "ToolSpec",
    "checked_quantities",
    "decode_json_object",
    "inline_schema",
    "parse_model_diagnosis",
    "to_diagnosis",
    "validation_reason",
]
