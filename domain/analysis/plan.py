"""Diagnoses and plans: typed actions only, never a free-form command."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from domain.base import Frozen
from domain.incident.model import ResourceRef

RootCause = Literal[
    "oom",
    "bad_release",
    "image_pull",
    "config_error",
    "saturation",
    "unschedulable",
    "probe_failure",
    "dependency",
    "drift",
    "none",
    "unknown",
]
Mode = Literal["direct", "gitops"]
ACTION_KINDS: tuple[str, ...] = (
    "set_resources",
    "set_image",
    "scale",
    "restart",
    "rollback_revision",
    "sync_application",
)
# Kinds medic plans itself and no analyzer may propose (a model's output is read with
# `ACTION_KINDS` only): the revert of a deploy its watch judged degraded.
SYSTEM_ACTION_KINDS: tuple[str, ...] = ("revert_deploy",)


# Free text (summary, explanation, evidence notes, expected impact, rollback) is display text: it is
# never parsed for actions. Text that reads as a command to run by hand is still a warning sign (a
# model repeating what was injected into a log), so it is found here and shown to the policy. Narrow
# on purpose: "revert the Helm values change" is fine, "helm rollback ledger 3" is not.
_COMMAND_TEXT = re.compile(
    r"(?i)\bkubectl\s+\S|\boc\s+(delete|apply|patch|scale|rollout|exec|adm)\b"
    r"|\bhelm\s+(install|upgrade|uninstall|delete|del|rollback)\b|\bargocd\s+(app|proj|repo|cluster)\b"
    r"|\b(ba|z)?sh\s+-c\b|\|\s*(sudo\s+)?(ba|z)?sh\b|\bcurl\s+\S|\bwget\s+\S|\brm\s+-[a-z]*[rf]|\$\("
    r"|\bdelete\s+(-\S+\s+)*(deploy(ment)?s?|pods?|po|namespaces?|ns|secrets?|pvcs?|pvs?|replicasets?|rs"
    r"|statefulsets?|sts|daemonsets?|ds|services?|svc|configmaps?|cm|crds?|all|nodes?|--all)\b"
)


def reads_as_command(text: str) -> bool:
    """Whether `text` contains something shaped like a shell or kubectl command."""
    return bool(_COMMAND_TEXT.search(text))


# A next step may show a human the read-only command that shows the problem: kubectl get / describe /
# logs / top / events / explain / rollout history|status / auth can-i, or argocd app get / diff /
# history / manifests / resources — in backticks, or bare up to the end of its clause. Nothing that
# chains, pipes or substitutes fits, and a span that holds another command is not read-only.
_READ_ONLY_VERB = (
    r"(?:kubectl(?:\s+(?:-n|--namespace|--context)[=\s][a-z0-9][a-z0-9.-]*)*\s+"
    r"(?:get|describe|logs|top|events|explain|rollout\s+(?:history|status)|auth\s+can-i)"
    r"|argocd\s+app\s+(?:get|diff|history|manifests|resources))\b"
)
_READ_ONLY_COMMAND = re.compile(
    rf"`(?P<quoted>{_READ_ONLY_VERB}(?P<quoted_args>[^`;&|$<>\\\n]*))`"
    rf"|(?P<bare>\b{_READ_ONLY_VERB}(?P<bare_args>[^`;&|$<>\\\n,()]*))"
)


def _read_only(match: re.Match[str]) -> str:
    args = match.group("quoted_args") if match.group("quoted") is not None else match.group("bare_args")
    if reads_as_command(args or ""):
        return match.group(0)  # another command rides along: leave it to be flagged
    return "`…`"


def without_read_only_commands(text: str) -> str:
    """`text` with the read-only commands a next step may show taken out; what remains is checked
    like any other free text (`reads_as_command`)."""
    return _READ_ONLY_COMMAND.sub(_read_only, text)


class _ActionBase(Frozen):
    model_config = ConfigDict(extra="forbid")

    target: ResourceRef
    mode: Mode = "direct"
    # gitops: the file in the GitOps repository that defines the target
    file: str | None = None


class SetResources(_ActionBase):
    kind: Literal["set_resources"] = "set_resources"
    requests: dict[str, str] = Field(default_factory=dict)
    limits: dict[str, str] = Field(default_factory=dict)


class SetImage(_ActionBase):
    kind: Literal["set_image"] = "set_image"
    image: str


class Scale(_ActionBase):
    kind: Literal["scale"] = "scale"
    replicas: int = Field(ge=0)


class Restart(_ActionBase):
    kind: Literal["restart"] = "restart"


class RollbackRevision(_ActionBase):
    kind: Literal["rollback_revision"] = "rollback_revision"
    revision: int = Field(ge=1)


class SyncApplication(_ActionBase):
    kind: Literal["sync_application"] = "sync_application"
    application: str


class RevertDeploy(_ActionBase):
    """Revert, by a pull request against the GitOps repository, the commits an Argo CD deploy
    brought (`previous_revision`..`revision`) on Application `application`. Only a deploy watch's
    incident plans it (`domain.deploy`); no analyzer may propose it (`SYSTEM_ACTION_KINDS`)."""

    kind: Literal["revert_deploy"] = "revert_deploy"
    mode: Mode = "gitops"
    application: str = Field(min_length=1)
    app_namespace: str = ""
    revision: str = Field(min_length=1)
    previous_revision: str = Field(min_length=1)


Action = Annotated[
    SetResources | SetImage | Scale | Restart | RollbackRevision | SyncApplication | RevertDeploy,
    Field(discriminator="kind"),
]


class Plan(Frozen):
    actions: list[Action] = Field(default_factory=list)
    expected_impact: str = ""
    rollback: str = ""

    def plan_hash(self) -> str:
        """A short digest of exactly what would be done; approvals are bound to it."""
        canonical = json.dumps(
            [a.model_dump(mode="json") for a in self.actions], sort_keys=True, separators=(",", ":")
        )
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class Evidence(Frozen):
    item_id: str
    note: str


class Diagnosis(Frozen):
    root_cause: RootCause
    summary: str
    explanation: str = ""
    # What a human should do next when no typed fix is safe (or to confirm one): what to check,
    # which object to change, the command that shows it. Display text, never parsed for actions.
    next_steps: list[str] = Field(default_factory=list)
    confidence: float = Field(default=0.5, ge=0.0, le=1.0)
    evidence: list[Evidence] = Field(default_factory=list)
    plan: Plan = Field(default_factory=Plan)
    analyzer: str = "offline"


def next_steps_of(diagnosis: object) -> list[str]:
    """A diagnosis' next steps, from the model or from its stored JSON (an incident row's
    `diagnosis`). A record made before diagnoses carried next steps, or no diagnosis at all, has
    none: [] rather than an error. Blank and non-text entries are dropped."""
    if isinstance(diagnosis, Diagnosis):
        steps: object = diagnosis.next_steps
    elif isinstance(diagnosis, dict):
        steps = diagnosis.get("next_steps")
    else:
        return []
    if not isinstance(steps, list):
        return []
    return [" ".join(s.split()) for s in steps if isinstance(s, str) and s.strip()]
