"""Starting a change request's incident: the one path every entry takes (the CLI's `medic
propose`, the gateway's `POST /api/intents`, and later the console's form and the MCP server).

`start_intent` reads the words (`domain.intent.parse`: a refusal is raised before anything
starts), and starts a `RemediationWorkflow` of source `intent` whose id is `intent-<hash>`: of the
requester and the client's request id when one is given (so the same request sent twice starts
one incident), else of a fresh UUID. `wait_for_plan` polls the incident's `status` query until its
plan is decided on (awaiting approval, executing, ...) or it has ended, so that an entry can answer
with the plan, its risk and the approvals it needs, or with the refusal (an unknown or ambiguous
target ends `needs_review`, with the candidates).

Words the grammar cannot read (`IntentUnreadable`: not a bound, not a bad target, not a structured
form's usage) are read by the configured model (`MEDIC_ANALYZER` anthropic or openai) through
`integrations.llm.intent.IntentReader`, here, before the incident starts: every entry already waits
for the plan, the refusal must reach the requester as a refusal (not as an incident that ends
needs_review), and the words are read once, by one model, so the incident carries a change from
its first event like the grammar's. The blocking client runs in a thread under `MODEL_READ_SECONDS`
(the client's own timeout bounds it too). A model that is unavailable, answers what is not exactly
one allowed change, refuses or cannot read the words: the request is refused with that reason in
one line, never guessed, and nothing starts. Without a model configured, the grammar's refusal
stands as it is.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from domain.intent.model import IntentChange, IntentChannel, IntentRequest
from domain.intent.parse import IntentBounds, IntentRefused, IntentUnreadable, parse_intent
from domain.intent.plan import intent_incident
from domain.kube.clusters import cluster_slug
from domain.policy.approval import identity_key
from domain.settings import Settings
from domain.steps.remediation import WorkflowStatus, remediation_input_for
from integrations.llm.errors import LLMError
from integrations.llm.factory import MODEL_ANALYZERS
from integrations.llm.intent import IntentReader
from integrations.temporal.incidents import STATUS_QUERY

__all__ = [
    "IntentStarted",
    "check_words",
    "intent_workflow_id",
    "model_reads_intents",
    "read_words",
    "start_intent",
    "wait_for_plan",
]

REMEDIATION_WORKFLOW = "RemediationWorkflow"
# Steps before the plan is decided on and, for GitOps, its file change computed: the entry keeps
# waiting while the incident is in one.
_BEFORE_DECISION = frozenset(
    {"received", "observing", "recalling", "analyzing", "reviewing", "validating", "preparing_change"}
)
# The longest a request waits for the model's reading before it is refused.
MODEL_READ_SECONDS = 30.0


@dataclass(frozen=True)
class IntentStarted:
    workflow_id: str
    request: IntentRequest
    # False: the request id had started this incident before; nothing new was started.
    started: bool


def intent_workflow_id(requester: str, request_id: str = "", cluster: str = "") -> str:
    """`intent-<16 hex>`: of the requester and their request id, or of a fresh UUID without one; a
    cluster's medic's (README "Clusters") `intent-<cluster>-<16 hex>`."""
    seed = f"{identity_key(requester)}\n{request_id}" if request_id else uuid.uuid4().hex
    slug = cluster_slug(cluster)
    return f"intent-{slug + '-' if slug else ''}{hashlib.sha256(seed.encode()).hexdigest()[:16]}"


def model_reads_intents(settings: Settings) -> bool:
    """Whether words the grammar cannot read go to a model: one is configured (MEDIC_ANALYZER)."""
    return settings.analyzer in MODEL_ANALYZERS


def check_words(words: str, bounds: IntentBounds | None, settings: Settings) -> None:
    """Refuse, before anything is reached, words that will be refused whatever happens next: all
    the grammar's refusals, but the "could not read" one when a model will read them."""
    try:
        parse_intent(words, bounds)
    except IntentUnreadable:
        if not model_reads_intents(settings):
            raise


def _model_reader(settings: Settings) -> IntentReader:
    from integrations.llm.factory import make_analyzer

    # The analyzers' model settings, read here, at the process edge (as the worker does).
    return IntentReader(make_analyzer(settings.analyzer, env=os.environ))


async def read_words(
    words: str,
    settings: Settings,
    bounds: IntentBounds | None = None,
    *,
    reader: IntentReader | None = None,
    timeout: float = MODEL_READ_SECONDS,
) -> IntentChange:
    """The one change `words` ask for: the grammar's reading, else (words it cannot read, and a
    model configured, or `reader` given) the model's. Raises `IntentRefused` (one line)."""
    try:
        return parse_intent(words, bounds)
    except IntentUnreadable as unread:
        if reader is None and not model_reads_intents(settings):
            raise
        grammar = unread
    owned = reader is None
    try:
        if reader is None:
            reader = await asyncio.to_thread(_model_reader, settings)
        read = reader.read
        return await asyncio.wait_for(asyncio.to_thread(read, words, bounds), timeout)
    except TimeoutError:
        raise IntentRefused(
            f"the grammar could not read the request, and the model did not read it within {timeout:g}s"
        ) from None
    except LLMError as failed:
        who = reader.name if reader is not None else f"model:{settings.analyzer}"
        reason = " ".join(str(failed).split())[:300]
        raise IntentRefused(
            f"the grammar could not read the request, and the model ({who}) failed to: {reason}"
        ) from grammar
    finally:
        if owned and reader is not None:
            reader.close()


async def start_intent(
    client: Client,
    settings: Settings,
    *,
    requester: str,
    words: str,
    channel: IntentChannel,
    request_id: str = "",
    bounds: IntentBounds | None = None,
    reader: IntentReader | None = None,
) -> IntentStarted:
    """Read `words` as a change and start its incident on the settings' task queue.

    Raises `IntentRefused` (one line) for words that cannot be read or ask for a value out of
    `bounds` (or that the model, when one reads them, cannot read as one allowed change), and
    ValueError for a requester or request id that cannot be used; RPC errors propagate. Idempotent
    on (`requester`, `request_id`). `reader`: the model that reads what the grammar cannot
    (default: the configured analyzer's, when one is)."""
    if not requester.strip() or len(requester) > 200 or any(ord(c) < 0x20 for c in requester):
        raise ValueError("the requester must be a name of 1 to 200 printable characters")
    if len(request_id) > 100 or any(not (c.isalnum() or c in "-_.:") for c in request_id):
        raise ValueError("a request id has at most 100 letters, digits, '-', '_', '.' or ':'")
    change = await read_words(words, settings, bounds, reader=reader)
    request = IntentRequest(
        requester=requester.strip(),
        channel=channel,
        words=words,
        created_at=datetime.now(UTC),
        request_id=request_id,
        change=change,
    )
    workflow_id = intent_workflow_id(requester, request_id, settings.cluster_name)
    incident = intent_incident(workflow_id, request)
    try:
        await client.start_workflow(
            REMEDIATION_WORKFLOW,
            remediation_input_for(settings, incident),
            id=workflow_id,
            task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        return IntentStarted(workflow_id=workflow_id, request=request, started=False)
    return IntentStarted(workflow_id=workflow_id, request=request, started=True)


async def wait_for_plan(
    client: Client, workflow_id: str, *, timeout: float = 10.0, interval: float = 0.2
) -> WorkflowStatus | None:
    """The incident's status once the policy has decided on its plan and any GitOps file change is
    computed (or it has ended), polled
    until `timeout` seconds have passed; None when it had not by then (or the workflow has not
    answered its first query yet)."""
    handle = client.get_workflow_handle(workflow_id)
    deadline = time.monotonic() + timeout
    status: WorkflowStatus | None = None
    while True:
        try:
            status = await handle.query(STATUS_QUERY, result_type=WorkflowStatus)
        except (RPCError, WorkflowQueryFailedError):
            status = None
        if status is not None and (status.outcome is not None or status.step not in _BEFORE_DECISION):
            return status
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(interval)
