"""An intent: a person's (or a pipeline's, or an assistant's) request for one change, as words and
as the typed change medic read from them.

The words are untrusted text: `request_problem` bounds them and refuses control characters before
anything else reads them, and they are stored redacted (`domain.redaction`). They are never
executed as anything but the typed change (`IntentChange`), whose target names a workload that
observe resolves against the cluster.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from domain.base import Frozen

# Where a request came from. The requester's name is what that channel proves: the console and
# the API carry the gateway's authenticated user; the CLI and stdio assistants self-assert it.
IntentChannel = Literal["cli", "api", "console", "mcp"]
INTENT_CHANNELS: tuple[str, ...] = ("cli", "api", "console", "mcp")
IntentKind = Literal[
    "set_image", "scale", "set_resources", "rollback_revision", "restart", "sync_application"
]
# How the words were read: the structured form (`scale shop/checkout 6`), the free-text grammar, or
# the configured model when the grammar could not read them (`IntentChange.read_by` names it).
IntentForm = Literal["structured", "free_text", "model"]
WORKLOAD_KINDS: tuple[str, ...] = ("Deployment", "StatefulSet", "DaemonSet")

# The longest request read; longer text is refused, not clipped (a clipped request is another one).
MAX_REQUEST_LENGTH = 500
MAX_REQUEST_ID_LENGTH = 100


class IntentTarget(Frozen):
    """A workload as the request names it: its name, and its namespace when the request gives one
    (observe looks for it in every namespace otherwise). For `sync_application`: the Argo CD
    Application's name."""

    name: str
    namespace: str | None = None
    # Deployment, StatefulSet or DaemonSet when the request says which (a model's reading may).
    kind: str | None = None

    def label(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


class IntentChange(Frozen):
    """The one change a request asks for, typed, before its target is resolved.

    set_image: `image` (a whole reference) or `image_tag` (a tag or digest put on the container's
    current image); scale: `replicas`; set_resources: `requests` and `limits` (Kubernetes
    quantities); rollback_revision: `revision`, or None for the revision before the current one;
    restart and sync_application: nothing more. `container` narrows the change to one container
    (default: the workload's only or first container)."""

    kind: IntentKind
    target: IntentTarget
    container: str | None = None
    image: str | None = None
    image_tag: str | None = None
    replicas: int | None = None
    requests: dict[str, str] = Field(default_factory=dict)
    limits: dict[str, str] = Field(default_factory=dict)
    revision: int | None = None
    form: IntentForm = "structured"
    # Who read the words when the grammar could not: `model:<analyzer>/<model>`; "" for the grammar.
    read_by: str = ""

    def describe(self) -> str:
        """The change in one line, as a person would say it."""
        where = self.target.label()
        container = f" (container {self.container})" if self.container else ""
        if self.kind == "scale":
            return f"scale {where} to {self.replicas} replicas"
        if self.kind == "set_image":
            return f"set the image of {where}{container} to {self.image or ':' + (self.image_tag or '')}"
        if self.kind == "set_resources":
            parts = [f"requests.{k}={v}" for k, v in sorted(self.requests.items())]
            parts += [f"limits.{k}={v}" for k, v in sorted(self.limits.items())]
            return f"set {', '.join(parts)} on {where}{container}"
        if self.kind == "rollback_revision":
            to = f"revision {self.revision}" if self.revision else "its previous revision"
            return f"roll {where} back to {to}"
        if self.kind == "restart":
            return f"restart {where}"
        return f"sync Argo CD application {self.target.name}"


class IntentRequest(Frozen):
    """A request for a change: who asked, through what, in which words, and what medic read.

    `words` are kept redacted; `request_id` is the client's idempotency key (the same requester and
    id start one incident, however often they are sent)."""

    requester: str = Field(min_length=1, max_length=200)
    channel: IntentChannel = "cli"
    words: str = Field(default="", max_length=MAX_REQUEST_LENGTH)
    created_at: datetime | None = None
    request_id: str = Field(default="", max_length=MAX_REQUEST_ID_LENGTH)
    change: IntentChange | None = None
