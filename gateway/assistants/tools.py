"""The tools medic offers an assistant, registered per transport.

`register_read_tools` adds the reads (every transport); `register_decide` adds `decide`, only where
the caller's identity is verified (HTTP behind the console's authentication): over stdio the
identity is the local user's word, which cannot approve anything, so the tool is not offered
there at all. Each tool has a typed input (its JSON schema), a bounded answer, and annotations
that say truthfully what it does: the reads are read-only; `decide` is not, and is destructive (an
approval lets a change run, a rejection ends the incident).

`register_propose` adds `propose_change` (every transport): a change request in plain words or the
structured form, started as the caller's (`gateway.intents.propose`, as `POST /api/intents` and
`medic propose` do); the policy and the humans decide on it like any other, and the requester
can never approve it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field, ValidationError
from sqlalchemy.exc import SQLAlchemyError
from temporalio.service import RPCError

from domain.policy.approval import DecisionInput
from gateway.assistants.reads import AssistantReads, NotFound
from gateway.auth import Principal
from gateway.console import DecisionOutcome
from gateway.temporal_calls import TemporalUnreachable
from integrations.temporal.incidents import incident_id_problem

READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
# An approval lets a change to the cluster or the GitOps repository go ahead; a rejection ends the
# incident. Deciding twice is refused (the same approver, or a round already decided).
DECIDES = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False
)
# A change request starts an incident; where the policy lets its plan run unattended (a low-risk
# plan in `auto` mode), the change follows without a human, so it may change the estate. The same
# request id starts nothing new.
PROPOSES = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
)

# Who is calling, from the request the tool runs in; raises ToolError when nobody verified is.
Identify = Callable[[Context], Principal]
# The requester of a change request made in the call (the verified user over HTTP, the local user
# on their own word over stdio, as `medic propose` takes it).
Requester = Callable[[Context], str]
# Start a change request (requester, words, request id) and answer as `POST /api/intents` does
# (`gateway.intents.propose`, bound to a client); raises IntentRefused or ValueError (one line).
Propose = Callable[[str, str, str], Awaitable[dict[str, Any]]]
# The `decide` update as the console makes it (`gateway.console.run_decision`, bound to a client).
Decide = Callable[[str, DecisionInput], Awaitable[DecisionOutcome]]

IncidentId = Annotated[
    str, Field(description="The incident's id (as list_incidents shows it).", max_length=200)
]


def _optional(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


async def _read(call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return await asyncio.to_thread(call)
    except NotFound as err:
        raise ToolError(str(err)) from None
    except SQLAlchemyError as err:
        # SQLAlchemy appends the statement and a documentation link on further lines.
        raise ToolError(
            f"the store cannot be read: {(str(err).splitlines() or [type(err).__name__])[0]}"
        ) from None


def register_read_tools(server: MCPServer, reads: AssistantReads) -> None:
    """The read-only tools: incidents, the audit trail, the drift report, change reviews."""

    @server.tool(title="List incidents", annotations=READ_ONLY)
    async def list_incidents(
        status: Annotated[
            str | None,
            Field(description="Only incidents in this status (e.g. awaiting_approval, resolved, failed)."),
        ] = None,
        namespace: Annotated[str | None, Field(description="Only incidents in this namespace.")] = None,
        limit: Annotated[int, Field(ge=1, le=200, description="At most this many, newest first.")] = 20,
    ) -> dict[str, Any]:
        """Incidents medic has opened, newest first: id, title, status, outcome, risk, target, the
        one-line reason of a failed one, and the hash of the plan waiting for a decision."""
        return await _read(
            lambda: reads.incidents(status=_optional(status), namespace=_optional(namespace), limit=limit)
        )

    @server.tool(title="Get an incident", annotations=READ_ONLY)
    async def get_incident(incident_id: IncidentId) -> dict[str, Any]:
        """One incident whole: the diagnosis and its evidence, the plan and its diff, the policy's
        decision (risk, approvals required, who may approve), the approvals so far, its pull
        requests and the newest events of its timeline. Secrets are redacted."""
        return await _read(lambda: reads.incident(incident_id))

    @server.tool(title="Audit trail", annotations=READ_ONLY)
    async def get_audit_trail(
        incident_id: Annotated[str | None, Field(description="Only this incident's events.")] = None,
        step: Annotated[str | None, Field(description="Only this step (e.g. approve, execute).")] = None,
        status: Annotated[str | None, Field(description="Only events with this status.")] = None,
        actor: Annotated[str | None, Field(description="Only events by this actor.")] = None,
        limit: Annotated[int, Field(ge=1, le=500, description="At most this many events.")] = 100,
    ) -> dict[str, Any]:
        """The audit trail, newest first: every step medic took, who did it, its status and detail."""
        return await _read(
            lambda: reads.audit(
                incident_id=_optional(incident_id),
                step=_optional(step),
                status=_optional(status),
                actor=_optional(actor),
                limit=limit,
            )
        )

    @server.tool(title="Drift report", annotations=READ_ONLY)
    async def get_drift_report(
        scan_id: Annotated[str | None, Field(description="This scan's report (finished or running).")] = None,
        scope: Annotated[
            str | None,
            Field(description="The latest finished scan of this scope (all, project:NAME, namespace:NAME)."),
        ] = None,
        limit: Annotated[int, Field(ge=1, le=500, description="At most this many drifted resources.")] = 100,
    ) -> dict[str, Any]:
        """The latest finished drift scan (or the one named): what differs between the cluster and
        Git, field by field, per Argo CD Application."""
        return await _read(
            lambda: reads.drift_report(scan_id=_optional(scan_id), scope=_optional(scope), limit=limit)
        )

    @server.tool(title="Change review of a pull request", annotations=READ_ONLY)
    async def get_change_review(
        key: Annotated[
            str | None, Field(description="The review's key (as the console's review page shows it).")
        ] = None,
        repository: Annotated[
            str | None, Field(description="The GitOps repository, e.g. acme/gitops.")
        ] = None,
        number: Annotated[
            int | None, Field(ge=1, description="The pull request's number in that repository.")
        ] = None,
    ) -> dict[str, Any]:
        """medic's review of a GitOps pull request before it merges (the newest head reviewed):
        the Applications and objects it changes, risk, downtime, rollback and security findings,
        the cost delta and the policy's verdict. By key, or by repository and number."""
        return await _read(
            lambda: reads.review(key=_optional(key), repository=_optional(repository), number=number)
        )


def register_decide(server: MCPServer, identify: Identify, decide: Decide) -> None:
    """`decide`: approve or reject the plan an incident waits on, as the verified caller."""

    @server.tool(name="decide", title="Approve or reject a plan", annotations=DECIDES)
    async def decide_incident(
        ctx: Context,
        incident_id: IncidentId,
        decision: Annotated[Literal["approve", "reject"], Field(description="approve or reject.")],
        plan_hash: Annotated[
            str,
            Field(
                min_length=1,
                max_length=200,
                description="The hash of the plan decided on (get_incident's plan_hash): a plan that "
                "changed since is refused.",
            ),
        ],
        reason: Annotated[str, Field(max_length=2000, description="Why, recorded with the decision.")] = "",
    ) -> dict[str, Any]:
        """Approve or reject the plan an incident is waiting on, in the name of the authenticated
        user, under the same rules as the console: the policy's approvers only, never one's own
        request, each person once, and only the plan whose hash is given."""
        principal = identify(ctx)
        problem = incident_id_problem(incident_id)
        if problem is not None:
            raise ToolError(f"not an incident id: {problem}")
        try:
            # Its own channel, so the audit tells an assistant's decision from a REST call's; the
            # gateway's login proves the identity as it does for the API.
            request = DecisionInput(
                approver=principal.name,
                groups=list(principal.groups),
                reason=reason,
                plan_hash=plan_hash.strip(),
                decision=decision,
                channel="mcp",
            )
        except ValidationError as err:
            raise ToolError(f"invalid decision: {err.errors(include_input=False)[0]['msg']}") from None
        outcome = await decide(incident_id, request)
        if not outcome.ok or outcome.status is None:
            raise ToolError(outcome.message)
        status = outcome.status
        return {
            "message": outcome.message,
            "step": status.step,
            "plan_hash": status.plan_hash,
            "approvals_required": status.approvals_required,
            "approvals": [a.model_dump(mode="json") for a in status.approvals],
        }


def register_propose(server: MCPServer, requester: Requester, propose: Propose) -> None:
    """`propose_change`: a change request, as the caller, through the policy and the humans."""

    @server.tool(name="propose_change", title="Request a change", annotations=PROPOSES)
    async def propose_change(
        ctx: Context,
        request: Annotated[
            str,
            Field(
                min_length=1,
                max_length=500,
                description='The change in plain words ("scale checkout in shop to 6 replicas", "give '
                'cart 1Gi of memory") or the structured form ("set-image shop/checkout '
                'checkout=ghcr.io/acme/checkout:1.14.0", "scale shop/checkout 6", "rollback '
                'shop/ledger", "restart shop/cart", "sync-app NAME").',
            ),
        ],
        request_id: Annotated[
            str,
            Field(max_length=100, description="Your id for this request: the same id starts nothing new."),
        ] = "",
    ) -> dict[str, Any]:
        """Ask medic for a change. It becomes an incident: the policy decides its risk and who must
        approve (never you, the requester), and the change is made — directly or by a pull request
        — only once they have. The answer names the incident, its plan, risk and approvals."""
        who = requester(ctx)
        try:
            return await propose(who, request, request_id.strip())
        except ValueError as err:  # IntentRefused is one too: the words, a bound, the request id
            raise ToolError(f"refused: {err}") from None
        except TemporalUnreachable as err:
            raise ToolError(err.reason) from None
        except RPCError as err:
            raise ToolError(f"Temporal did not take the request: {err.message}") from None
