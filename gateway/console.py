"""The operators' console (server-rendered pages under /console) and its JSON API (/api).

Pages read the incident store; decisions go to the incident's workflow through the `decide`
update (`integrations.temporal.incidents.decide_incident`), always in the name of the authenticated caller,
never of a form field. The change reviews medic wrote on GitOps pull requests (`/console/reviews`,
where each review's commit status links) and the deploy watches (`/console/deploys`: each Argo CD
deploy, the workloads watched, their signals before and after, the verdict) are read-only, for
every logged-in user. Every route
requires authentication (gateway/auth.py); every console
POST carries a CSRF token; the API accepts only credentials sent with the request (Bearer, Basic
or a trusted proxy's headers), so it needs none.

The store is reached with a blocking driver, on a thread, with an engine made on first use (so
the gateway starts without its database); Temporal through the gateway's own client.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, urlencode

import jinja2
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowQueryFailedError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from domain.incident.reason import MODEL_UNUSABLE_WINDOW, one_line
from domain.policy.approval import DecisionInput, identity_key
from domain.settings import Settings
from domain.steps.remediation import WorkflowStatus
from gateway import deploy_views, views
from gateway.auth import (
    LOGIN_COOKIE,
    LOGIN_FAILED,
    NOT_CONFIGURED,
    SESSION_COOKIE,
    SESSION_SECONDS,
    Authenticator,
    AuthError,
    Principal,
    SessionsUnavailable,
)
from gateway.temporal_calls import RETRY_AFTER_SECONDS, UNAVAILABLE, TemporalUnreachable, reach
from integrations.temporal.client import TemporalConfigError
from integrations.temporal.incidents import (
    IncidentNotCurrent,
    decide_incident,
    incident_status,
    retrying_step,
    workflow_id_of,
)
from store.console_sessions import ConsoleSessionRepository
from store.db import make_engine, session_factory, transaction
from store.deployments import STATES as DEPLOY_STATES
from store.deployments import DeploymentRepository
from store.repositories import ApprovalRepository, AuditRepository, IncidentRepository
from store.reviews import ChangeReviewRepository, report_of

log = logging.getLogger("medic.gateway.console")

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"

ClientFactory = Callable[[], Awaitable[Client]]

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
AUDIT_LIMIT = 200
MAX_AUDIT_LIMIT = 2000
# How long the incident page waits for Temporal to say what an open incident is retrying.
RETRYING_LOOKUP_SECONDS = 2.0
MAX_FORM_BYTES = 64 * 1024
# After a decision that completes the approval round, how long the console waits for the workflow
# to leave awaiting_approval (it first records the decisions and the audit event, a few activity
# calls), so the page it redirects to shows the step the incident went on to; then it shows
# whatever the workflow says, and refreshes itself while the step is one nobody waits on.
DECISION_SETTLE_SECONDS = 3.0
DECISION_SETTLE_POLL_SECONDS = 0.1
# Steps a human is waiting on, or that end the incident: the page does not refresh itself there.
_RESTING_STEPS = frozenset({"awaiting_approval", "awaiting_merge", "closed"})
REFRESH_SECONDS = 5
REVIEW_LIMIT = 50
MAX_REVIEW_LIMIT = 500
# Pages are about one operator's session: never cached, never framed, no script, no third party.
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}


class ConsoleRefused(Exception):
    """A console page refused: rendered as an error page with this status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class LoginRequired(Exception):
    """No credentials on a console page: the browser goes to the login page, and back after."""

    def __init__(self, next_url: str, clear_session: bool) -> None:
        super().__init__(next_url)
        self.next_url = next_url
        self.clear_session = clear_session


class ApiRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class DecideBody(BaseModel):
    """`POST /api/incidents/{id}/decide`. The approver is the authenticated caller."""

    model_config = ConfigDict(extra="forbid")

    decision: str
    reason: str = ""
    plan_hash: str | None = None


@dataclass(frozen=True)
class DecisionOutcome:
    status_code: int
    ok: bool
    message: str
    status: WorkflowStatus | None = None


def _first_line(err: Exception) -> str:
    # SQLAlchemy appends the statement and a documentation link on further lines.
    return (str(err).splitlines() or [type(err).__name__])[0]


class ConsoleStore:
    """The store as the console reads it; the engine is made on first use."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._factory: sessionmaker[Session] | None = None
        self._lock = threading.Lock()

    def _sessions(self) -> sessionmaker[Session]:
        with self._lock:
            if self._factory is None:
                self._factory = session_factory(make_engine(self._settings.resolved_database_url))
            return self._factory

    def sessions(self) -> sessionmaker[Session]:
        """The store's sessions, for a reader beside the console's (the MCP tools' drift report)."""
        return self._sessions()

    def session_generation(self, name: str) -> int:
        try:
            with transaction(self._sessions()) as session:
                return ConsoleSessionRepository(session).generation(name)
        except SQLAlchemyError as err:
            raise SessionsUnavailable(
                f"sessions cannot be checked: the store failed: {_first_line(err)}"
            ) from err

    def end_sessions(self, name: str) -> int:
        try:
            with transaction(self._sessions()) as session:
                return ConsoleSessionRepository(session).advance(name)
        except SQLAlchemyError as err:
            raise SessionsUnavailable(
                f"sessions cannot be ended: the store failed: {_first_line(err)}"
            ) from err

    def incidents(
        self, *, status: str | None, namespace: str | None, risk: str | None, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        with transaction(self._sessions()) as session:
            rows = IncidentRepository(session).list(
                status=status, namespace=namespace, risk=risk, limit=limit, offset=offset
            )
            return [views.incident_row(i, now) for i in rows]

    def incident(self, incident_id: str) -> views.IncidentDetail | None:
        with transaction(self._sessions()) as session:
            incident = IncidentRepository(session).get(incident_id)
            if incident is None:
                return None
            approvals = ApprovalRepository(session).list(incident_id)
            audit = AuditRepository(session).list(incident_id=incident_id, limit=MAX_AUDIT_LIMIT)
            return views.incident_detail(incident, approvals, audit)

    def model_banner(self) -> views.ModelBanner | None:
        """The model-unusable banner, or None; a store that cannot be read shows none (the page
        itself says the store failed)."""
        since = datetime.now(UTC) - MODEL_UNUSABLE_WINDOW
        try:
            with transaction(self._sessions()) as session:
                return views.model_banner(IncidentRepository(session).model_unusable_since(since))
        except SQLAlchemyError:
            return None

    def audit(
        self,
        *,
        incident_id: str | None,
        step: str | None,
        status: str | None,
        actor: str | None,
        newest_first: bool,
        limit: int,
    ) -> list[dict[str, Any]]:
        with transaction(self._sessions()) as session:
            events = AuditRepository(session).list(
                incident_id=incident_id,
                step=step,
                status=status,
                actor=actor,
                newest_first=newest_first,
                limit=limit,
            )
            return [views.audit_row(e) for e in events]

    def reviews(
        self, *, repository: str | None, decision: str | None, state: str | None, limit: int
    ) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        with transaction(self._sessions()) as session:
            rows = ChangeReviewRepository(session).list(
                repository=repository, state=state, decision=decision, limit=limit
            )
            return [views.review_row(r, now) for r in rows]

    def review(self, key: str) -> views.ReviewDetail | None:
        with transaction(self._sessions()) as session:
            row = ChangeReviewRepository(session).get(key)
            return views.review_detail(row, report_of(row)) if row is not None else None

    def deploys(self, *, application: str | None, state: str | None, limit: int) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        with transaction(self._sessions()) as session:
            rows = DeploymentRepository(session).list(application=application, state=state, limit=limit)
            return [deploy_views.deploy_row(r, now) for r in rows]

    def deploy(self, watch_id: str) -> deploy_views.DeployDetail | None:
        with transaction(self._sessions()) as session:
            row = DeploymentRepository(session).get(watch_id)
            return deploy_views.deploy_detail(row) if row is not None else None


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        ts=views.timestamp,
        age=views.age,
        duration=views.duration,
        anchor=views.anchor,
        compact=views.compact,
        sparkline=views.sparkline,
        money=views.money,
        usd=views.usd,
        code_spans=views.code_spans,
    )
    return env


def _optional(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _bounded(value: str | None, default: int, maximum: int) -> int:
    try:
        number = int(value) if value else default
    except ValueError:
        number = default
    return max(1, min(number, maximum))


def _safe_next(value: str | None) -> str:
    """Where to go after logging in: a console page of this gateway, nothing else."""
    if value and value.startswith("/console") and not value.startswith(("//", "/\\")) and "\\" not in value:
        return value
    return "/console/"


async def _form(request: Request) -> dict[str, str]:
    """An `application/x-www-form-urlencoded` body (what the console's forms send), first values."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise ConsoleRefused(415, "forms are sent as application/x-www-form-urlencoded")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise ConsoleRefused(413, "the form is too large")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=50)
    except (UnicodeDecodeError, ValueError) as err:
        raise ConsoleRefused(400, f"the form cannot be read: {err}") from None
    return {key: values[0] for key, values in fields.items()}


def decision_message(
    incident_id: str, decision: str, approver: str, plan_hash: str, approved: int, required: int, step: str
) -> str:
    return (
        f"{decision} recorded for {incident_id} (plan {plan_hash}) by {approver}; "
        f"{approved}/{required} approvals; step: {step}"
    )


async def run_decision(
    get_client: ClientFactory, incident_id: str, decision: DecisionInput, reach_seconds: float = 1.0
) -> DecisionOutcome:
    """The `decide` update for the console and the API, its answer as a status code and a message.

    Temporal must answer within `reach_seconds` (503 otherwise, at once, instead of after the
    client's own retries); the workflow's answer to the update then takes what it takes."""
    try:
        client = await reach(get_client, reach_seconds)
    except TemporalUnreachable as err:
        log.warning("console decision on %s not passed on: %s", incident_id, err.reason)
        return DecisionOutcome(503, False, err.reason)
    try:
        status = await decide_incident(client, incident_id, decision)
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        reason = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
        return DecisionOutcome(409, False, f"refused: {reason}")
    except IncidentNotCurrent as err:
        return DecisionOutcome(409, False, f"refused: {err}")
    except WorkflowQueryFailedError as err:
        return DecisionOutcome(502, False, f"the workflow could not answer: {err}")
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return DecisionOutcome(
                409, False, f"refused: the workflow of {incident_id} is not running ({err.message})"
            )
        if err.status in UNAVAILABLE:
            return DecisionOutcome(503, False, f"Temporal is unavailable: {err.message}")
        return DecisionOutcome(502, False, f"Temporal refused the call: {err.message}")
    status = await _settled(client, incident_id, status)
    approved = sum(1 for a in status.approvals if a.decision == "approve" and a.plan_hash == status.plan_hash)
    message = decision_message(
        incident_id,
        decision.decision,
        decision.approver,
        status.plan_hash,
        approved,
        status.approvals_required,
        status.step,
    )
    log.info("console decision: %s", message)
    return DecisionOutcome(200, True, message, status)


def _round_decided(status: WorkflowStatus) -> bool:
    """Whether the workflow has all it needs to leave awaiting_approval: a rejection, or the
    approvals its policy requires, on the plan it waits on."""
    current = [a for a in status.approvals if a.plan_hash == status.plan_hash]
    approved = sum(1 for a in current if a.decision == "approve")
    return any(a.decision == "reject" for a in current) or approved >= max(status.approvals_required, 1)


async def _settled(client: Client, incident_id: str, status: WorkflowStatus) -> WorkflowStatus:
    """The workflow's status once it has moved on from the approval the decision completed,
    asked with the `status` query for at most `DECISION_SETTLE_SECONDS`; the status as it is then
    (still awaiting, or the update's own answer when the query fails) otherwise. A decision that
    leaves the round open returns at once: the workflow keeps waiting, rightly."""
    if status.step != "awaiting_approval" or not _round_decided(status):
        return status
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DECISION_SETTLE_SECONDS
    while loop.time() < deadline:
        try:
            now = await incident_status(client, incident_id)
        except (IncidentNotCurrent, WorkflowQueryFailedError, RPCError):
            return status
        if now.step != "awaiting_approval":
            return now
        if not _round_decided(now):
            return status  # the query does not show the round complete: nothing to wait for
        status = now
        await asyncio.sleep(DECISION_SETTLE_POLL_SECONDS)
    return status


def _authenticator(request: Request) -> Authenticator:
    auth: Authenticator = request.app.state.console_auth
    return auth


async def console_principal(request: Request) -> Principal:
    """The caller of a console page; no credentials send the browser to the login page."""
    auth = _authenticator(request)
    if not auth.configured:
        raise ConsoleRefused(401, NOT_CONFIGURED)
    try:
        principal = await asyncio.to_thread(auth.authenticate, request)
    except AuthError:
        raise ConsoleRefused(401, LOGIN_FAILED) from None
    except SessionsUnavailable as err:
        raise ConsoleRefused(503, str(err)) from None
    if principal is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target, clear_session=SESSION_COOKIE in request.cookies)
    return principal


async def api_principal(request: Request) -> Principal:
    """The caller of an API route; no or bad credentials are a 401."""
    auth = _authenticator(request)
    if not auth.configured:
        raise ApiRefused(401, NOT_CONFIGURED)
    try:
        principal = await asyncio.to_thread(auth.authenticate, request)
    except AuthError:
        raise ApiRefused(401, "invalid credentials") from None
    except SessionsUnavailable as err:
        raise ApiRefused(503, str(err)) from None
    if principal is None:
        raise ApiRefused(
            401, "authentication required: Authorization: Bearer <MEDIC_CONSOLE_TOKEN>, or Basic"
        )
    return principal


ConsoleUser = Annotated[Principal, Depends(console_principal)]
ApiUser = Annotated[Principal, Depends(api_principal)]


def install_console(app: FastAPI, settings: Settings, get_client: ClientFactory) -> None:
    """Add the console pages, the JSON API, their static files and error handling to `app`."""
    store = ConsoleStore(settings)
    reach_seconds = settings.webhook_temporal_timeout_seconds
    # Session generations live in the store, so a logout on one replica ends the session on all.
    auth = app.state.console_auth = Authenticator(settings, store)
    env = _templates()
    temporal_ui = settings.temporal_ui_url.rstrip("/")

    def temporal_link(incident_id: str) -> str:
        namespace = settings.temporal_namespace
        return f"{temporal_ui}/namespaces/{namespace}/workflows/{workflow_id_of(incident_id)}"

    def render(
        template: str,
        status_code: int = 200,
        principal: Principal | None = None,
        model_banner: views.ModelBanner | None = None,
        **context: Any,
    ) -> HTMLResponse:
        page = env.get_template(template).render(
            principal=principal,
            csrf=auth.csrf_token(principal) if principal else "",
            model_banner=model_banner,
            **context,
        )
        return HTMLResponse(page, status_code=status_code, headers=_PAGE_HEADERS)

    def set_cookie(
        response: Response, request: Request, name: str, value: str, max_age: int, path: str
    ) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path=path,
            httponly=True,
            samesite="lax",
            secure=auth.secure_request(request),
        )

    # ---- authentication -------------------------------------------------------------------------

    async def console_refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ConsoleRefused)
        return render("error.html", exc.status, None, title="Refused", message=exc.message)

    async def login_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        response = RedirectResponse("/console/login?" + urlencode({"next": exc.next_url}), status_code=303)
        if exc.clear_session:
            response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def api_refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiRefused)
        headers = {"Cache-Control": "no-store"}
        if exc.status == 401:
            challenges = []
            if auth.token_enabled or not auth.configured:
                challenges.append('Bearer realm="medic"')
            if auth.basic_enabled:
                challenges.append('Basic realm="medic"')
            headers["WWW-Authenticate"] = ", ".join(challenges)
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=headers)

    app.add_exception_handler(ConsoleRefused, console_refused)
    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(ApiRefused, api_refused)

    console = APIRouter(prefix="/console")
    api = APIRouter(prefix="/api")

    # ---- login ----------------------------------------------------------------------------------

    def login_page(request: Request, status_code: int, next_url: str, error: str = "") -> Response:
        nonce = secrets.token_hex(16)
        response = render(
            "login.html",
            status_code,
            None,
            title="Log in",
            next_url=next_url,
            login_csrf=auth.login_csrf(nonce),
            error=error,
            token_enabled=auth.token_enabled,
            basic_enabled=auth.basic_enabled,
        )
        set_cookie(response, request, LOGIN_COOKIE, nonce, 3600, "/console/login")
        return response

    async def logged_in(request: Request, principal: Principal, next_url: str) -> Response:
        try:
            cookie = await asyncio.to_thread(auth.issue_session, principal)
        except SessionsUnavailable as err:
            raise ConsoleRefused(503, str(err)) from None
        response = RedirectResponse(next_url, status_code=303)
        set_cookie(response, request, SESSION_COOKIE, cookie, SESSION_SECONDS, "/")
        response.delete_cookie(LOGIN_COOKIE, path="/console/login")
        log.info("console login: %s (%s)", principal.name, principal.via)
        return response

    @console.get("", include_in_schema=False)
    async def console_root() -> Response:
        return RedirectResponse("/console/", status_code=307)

    @console.get("/login", response_class=HTMLResponse)
    async def login_form(request: Request, next: str | None = None, token: str | None = None) -> Response:
        if not auth.configured:
            raise ConsoleRefused(401, NOT_CONFIGURED)
        next_url = _safe_next(next)
        if token is not None:
            # One-click login from a link the embedded stack prints; only on loopback.
            if not auth.one_click_allowed(request):
                return login_page(request, 403, next_url, "a token in the URL is accepted on loopback only")
            principal = auth.check_token(token)
            if principal is None:
                return login_page(request, 401, next_url, LOGIN_FAILED)
            return await logged_in(request, principal, next_url)
        return login_page(request, 200, next_url)

    @console.post("/login", response_class=HTMLResponse)
    async def login_submit(request: Request) -> Response:
        if not auth.configured:
            raise ConsoleRefused(401, NOT_CONFIGURED)
        form = await _form(request)
        next_url = _safe_next(form.get("next"))
        if not auth.check_login_csrf(request.cookies.get(LOGIN_COOKIE, ""), form.get("csrf", "")):
            return login_page(request, 403, next_url, "the login form expired or was not ours; try again")
        token = form.get("token", "").strip()
        principal: Principal | None
        if token:
            principal = auth.check_token(token)
        else:
            principal = await asyncio.to_thread(
                auth.check_password, form.get("username", "").strip(), form.get("password", "")
            )
        if principal is None:
            return login_page(request, 401, next_url, LOGIN_FAILED)
        return await logged_in(request, principal, next_url)

    @console.post("/logout")
    async def logout(request: Request, principal: ConsoleUser) -> Response:
        form = await _form(request)
        if not auth.check_csrf(principal, form.get("csrf", "")):
            raise ConsoleRefused(403, "the form's CSRF token is missing or wrong; you are still logged in")
        try:
            await asyncio.to_thread(auth.end_sessions, principal)
        except SessionsUnavailable as err:
            raise ConsoleRefused(503, f"{err}; you are still logged in") from None
        log.info("console logout: %s; every session of theirs is ended", principal.name)
        response = RedirectResponse("/console/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # ---- pages ----------------------------------------------------------------------------------

    @console.get("/", response_class=HTMLResponse)
    async def incidents_page(
        request: Request,
        principal: ConsoleUser,
        status: str | None = None,
        namespace: str | None = None,
        risk: str | None = None,
        limit: str | None = None,
        page: str | None = None,
    ) -> Response:
        size = _bounded(limit, PAGE_SIZE, MAX_PAGE_SIZE)
        number = _bounded(page, 1, 1_000_000)
        filters = {"status": _optional(status), "namespace": _optional(namespace), "risk": _optional(risk)}
        rows = await asyncio.to_thread(store.incidents, **filters, limit=size + 1, offset=(number - 1) * size)

        def link(to_page: int) -> str:
            query = {k: v for k, v in filters.items() if v} | {"limit": str(size), "page": str(to_page)}
            return "/console/?" + urlencode(query)

        return render(
            "incidents.html",
            principal=principal,
            model_banner=await asyncio.to_thread(store.model_banner),
            title="Incidents",
            incidents=rows[:size],
            filters=filters,
            statuses=views.STATUSES,
            risks=views.RISKS,
            limit=size,
            page=number,
            newer=link(number - 1) if number > 1 else "",
            older=link(number + 1) if len(rows) > size else "",
        )

    async def retrying_of(incident_id: str) -> str | None:
        """What the open incident's workflow is retrying and why, in one line (None: nothing);
        a Temporal that cannot tell in time is said in the line instead of failing the page."""
        try:
            async with asyncio.timeout(RETRYING_LOOKUP_SECONDS):
                return await retrying_step(await get_client(), incident_id)
        except TimeoutError:
            return f"unknown: Temporal did not answer within {RETRYING_LOOKUP_SECONDS:g} s"
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return None
            return one_line(f"unknown: Temporal failed the call: {err.message}")
        except (OSError, RuntimeError, TemporalConfigError) as err:
            return one_line(f"unknown: cannot reach Temporal: {err}")

    async def incident_response(
        incident_id: str,
        principal: Principal,
        status_code: int = 200,
        result: DecisionOutcome | None = None,
        decided: str | None = None,
    ) -> Response:
        stored = await asyncio.to_thread(store.incident, incident_id)
        if stored is None:
            raise ConsoleRefused(404, f"no incident {incident_id} in the store")
        # An open incident is shown at the step its workflow is at (the store follows a few
        # activity calls behind), and may be stuck retrying a step (a dead dependency): Temporal
        # knows both (not asked when it just could not be reached: the page says so already).
        unreachable = result is not None and result.status_code == 503
        live: WorkflowStatus | None = None
        retrying: str | None = None
        if stored.row["outcome"] is None and not unreachable:
            live, retrying = await asyncio.gather(live_status_of(incident_id), retrying_of(incident_id))
        detail = stored.with_live(live)
        if decided is not None:
            result = decided_result(detail, principal, decided)
        refusal = detail.refusal_for(principal.name, principal.groups)
        if result is not None and result.ok:
            refusal = f"{principal.name} has already decided on this plan"
        transitional = detail.row["outcome"] is None and detail.row["status"] not in _RESTING_STEPS
        return render(
            "incident.html",
            status_code,
            principal,
            await asyncio.to_thread(store.model_banner),
            retrying=retrying,
            title=f"Incident {incident_id}",
            incident=detail,
            refusal=refusal,
            result=result,
            refresh=REFRESH_SECONDS if live is not None and transitional else None,
            temporal_link=temporal_link(incident_id),
        )

    async def live_status_of(incident_id: str) -> WorkflowStatus | None:
        """The open incident's workflow status (the `status` query); None when Temporal cannot
        tell in time or the incident is not its workflow's open run (the store's view stands)."""
        try:
            async with asyncio.timeout(RETRYING_LOOKUP_SECONDS):
                return await incident_status(await get_client(), incident_id)
        except (TimeoutError, IncidentNotCurrent, WorkflowQueryFailedError, RPCError):
            return None
        except (OSError, RuntimeError, TemporalConfigError):
            return None

    def decided_result(
        detail: views.IncidentDetail, principal: Principal, decided: str
    ) -> DecisionOutcome | None:
        """What the decision the browser was sent back from (`?decided=`) did, as the workflow or
        the store records it; nothing when neither records one of this user's on the plan."""
        plan_hash = detail.row["plan_hash"]
        key = identity_key(principal.name)
        mine = [
            a
            for a in detail.approvals
            if identity_key(a["approver"]) == key and a["plan_hash"] == plan_hash and a["decision"] == decided
        ]
        if not mine:
            return None
        message = decision_message(
            detail.row["id"],
            decided,
            principal.name,
            plan_hash or "",
            len(detail.approvals_given),
            detail.approvals_required,
            detail.row["status"],
        )
        return DecisionOutcome(200, True, message)

    @console.get("/incidents/{incident_id}", response_class=HTMLResponse)
    async def incident_page(incident_id: str, principal: ConsoleUser, decided: str | None = None) -> Response:
        if decided not in ("approve", "reject"):
            return await incident_response(incident_id, principal)
        return await incident_response(incident_id, principal, decided=decided)

    @console.post("/incidents/{incident_id}/decide", response_class=HTMLResponse)
    async def incident_decide(incident_id: str, request: Request, principal: ConsoleUser) -> Response:
        form = await _form(request)
        if not auth.check_csrf(principal, form.get("csrf", "")):
            raise ConsoleRefused(403, "the form's CSRF token is missing or wrong; nothing was decided")
        choice = form.get("decision", "")
        if choice not in ("approve", "reject"):
            outcome = DecisionOutcome(400, False, "refused: the decision must be approve or reject")
            return await incident_response(incident_id, principal, 400, outcome)
        try:
            # Whoever is logged in decides; an `approver` field in the form is ignored.
            decision = DecisionInput(
                approver=principal.name,
                groups=list(principal.groups),
                reason=form.get("reason", ""),
                plan_hash=_optional(form.get("plan_hash")),
                decision=choice,  # checked just above
                channel="console",
            )
        except ValidationError as err:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
            outcome = DecisionOutcome(400, False, f"refused: {problems}")
            return await incident_response(incident_id, principal, 400, outcome)
        outcome = await run_decision(get_client, incident_id, decision, reach_seconds)
        if outcome.ok:
            # Post/redirect/get: the page shows the step the workflow went on to, and a reload
            # does not send the decision again.
            target = f"/console/incidents/{quote(incident_id, safe='')}?" + urlencode({"decided": choice})
            return RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})
        page = await incident_response(incident_id, principal, outcome.status_code, outcome)
        if outcome.status_code == 503:
            page.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return page

    @console.get("/request", response_class=HTMLResponse)
    async def request_page(principal: ConsoleUser) -> Response:
        return render_request(principal)

    def render_request(
        principal: Principal, status_code: int = 200, error: str = "", words: str = "", request_id: str = ""
    ) -> HTMLResponse:
        from domain.intent.model import MAX_REQUEST_LENGTH

        return render(
            "request.html",
            status_code,
            principal=principal,
            title="Request a change",
            error=error,
            words=words,
            request_id=request_id,
            max_length=MAX_REQUEST_LENGTH,
        )

    @console.post("/request", response_class=HTMLResponse)
    async def request_change(request: Request, principal: ConsoleUser) -> Response:
        # gateway.intents builds on this module (its API errors): imported where it is used.
        from domain.intent.parse import IntentRefused
        from gateway.intents import propose_reaching

        form = await _form(request)
        if not auth.check_csrf(principal, form.get("csrf", "")):
            raise ConsoleRefused(403, "the form's CSRF token is missing or wrong; nothing was requested")
        words, request_id = form.get("request", ""), form.get("request_id", "").strip()
        try:
            # The requester is whoever is logged in; a `requester` field in the form is ignored.
            answer = await propose_reaching(
                get_client,
                settings,
                requester=principal.name,
                words=words,
                channel="console",
                request_id=request_id,
            )
        except (IntentRefused, ValueError) as err:
            return render_request(principal, 422, f"refused: {err}", words, request_id)
        except TemporalUnreachable as err:
            page = render_request(principal, 503, err.reason, words, request_id)
            page.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return page
        except RPCError as err:
            return render_request(
                principal, 502, f"Temporal refused the request: {err.message}", words, request_id
            )
        # Post/redirect/get: the incident's page shows the plan, its risk and who must approve.
        target = f"/console/incidents/{quote(str(answer['incident_id']), safe='')}"
        return RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})

    @console.get("/audit", response_class=HTMLResponse)
    async def audit_page(
        principal: ConsoleUser,
        incident: str | None = None,
        step: str | None = None,
        status: str | None = None,
        actor: str | None = None,
        order: str | None = None,
        limit: str | None = None,
    ) -> Response:
        size = _bounded(limit, AUDIT_LIMIT, MAX_AUDIT_LIMIT)
        filters = {
            "incident_id": _optional(incident),
            "step": _optional(step),
            "status": _optional(status),
            "actor": _optional(actor),
        }
        newest_first = order != "incident"
        events = await asyncio.to_thread(store.audit, **filters, newest_first=newest_first, limit=size)
        return render(
            "audit.html",
            principal=principal,
            model_banner=await asyncio.to_thread(store.model_banner),
            title="Audit trail",
            events=events,
            filters=filters,
            order="newest" if newest_first else "incident",
            statuses=views.AUDIT_STATUSES,
            limit=size,
        )

    @console.get("/reviews", response_class=HTMLResponse)
    async def reviews_page(
        principal: ConsoleUser,
        repository: str | None = None,
        decision: str | None = None,
        state: str | None = None,
        limit: str | None = None,
    ) -> Response:
        size = _bounded(limit, REVIEW_LIMIT, MAX_REVIEW_LIMIT)
        filters = {
            "repository": _optional(repository),
            "decision": _optional(decision),
            "state": _optional(state),
        }
        rows = await asyncio.to_thread(store.reviews, **filters, limit=size)
        return render(
            "reviews.html",
            principal=principal,
            model_banner=await asyncio.to_thread(store.model_banner),
            title="Change reviews",
            reviews=rows,
            filters=filters,
            decisions=views.REVIEW_DECISIONS,
            states=views.REVIEW_STATES,
            limit=size,
        )

    # `path`: a review's key holds "/" (the workflow id) and "@"; quoted or not, it arrives whole.
    @console.get("/reviews/{key:path}", response_class=HTMLResponse)
    async def review_page(key: str, principal: ConsoleUser) -> Response:
        detail = await asyncio.to_thread(store.review, key)
        if detail is None:
            raise ConsoleRefused(404, f"no change review {key} in the store")
        row = detail.row
        return render(
            "review.html",
            principal=principal,
            model_banner=await asyncio.to_thread(store.model_banner),
            title=f"Review {row['repository']} {row['change']}",
            review=detail,
        )

    @console.get("/deploys", response_class=HTMLResponse)
    async def deploys_page(
        principal: ConsoleUser,
        application: str | None = None,
        state: str | None = None,
        limit: str | None = None,
    ) -> Response:
        size = _bounded(limit, REVIEW_LIMIT, MAX_REVIEW_LIMIT)
        filters = {"application": _optional(application), "state": _optional(state)}
        rows = await asyncio.to_thread(store.deploys, **filters, limit=size)
        return render(
            "deploys.html",
            principal=principal,
            model_banner=await asyncio.to_thread(store.model_banner),
            title="Deploys",
            deploys=rows,
            filters=filters,
            states=sorted(DEPLOY_STATES),
            limit=size,
        )

    # `path`: a watch id holds "/" (`deploy/<ns>/<app>/<rev12>`); quoted or not, it arrives whole.
    @console.get("/deploys/{watch_id:path}", response_class=HTMLResponse)
    async def deploy_page(watch_id: str, principal: ConsoleUser) -> Response:
        detail = await asyncio.to_thread(store.deploy, watch_id)
        if detail is None:
            raise ConsoleRefused(404, f"no deploy watch {watch_id} in the store")
        row = detail.row
        return render(
            "deploy.html",
            principal=principal,
            model_banner=await asyncio.to_thread(store.model_banner),
            title=f"Deploy {row['application']} {row['revision_short']}",
            deploy=detail,
        )

    # ---- JSON API ---------------------------------------------------------------------------------

    def api_json(body: Any, status_code: int = 200) -> JSONResponse:
        return JSONResponse(_jsonable(body), status_code=status_code, headers={"Cache-Control": "no-store"})

    @api.get("/incidents")
    async def api_incidents(
        principal: ApiUser,
        status: str | None = None,
        namespace: str | None = None,
        risk: str | None = None,
        limit: str | None = None,
        page: str | None = None,
    ) -> JSONResponse:
        size = _bounded(limit, PAGE_SIZE, MAX_PAGE_SIZE)
        number = _bounded(page, 1, 1_000_000)
        rows = await asyncio.to_thread(
            store.incidents,
            status=_optional(status),
            namespace=_optional(namespace),
            risk=_optional(risk),
            limit=size,
            offset=(number - 1) * size,
        )
        return api_json({"incidents": rows, "page": number, "limit": size})

    @api.get("/incidents/{incident_id}")
    async def api_incident(incident_id: str, principal: ApiUser) -> JSONResponse:
        detail = await asyncio.to_thread(store.incident, incident_id)
        if detail is None:
            raise ApiRefused(404, f"no incident {incident_id} in the store")
        body = detail.as_json()
        body["workflow_id"] = workflow_id_of(incident_id)
        body["temporal_ui"] = temporal_link(incident_id)
        return api_json(body)

    @api.get("/reviews")
    async def api_reviews(
        principal: ApiUser,
        repository: str | None = None,
        decision: str | None = None,
        state: str | None = None,
        limit: str | None = None,
    ) -> JSONResponse:
        size = _bounded(limit, REVIEW_LIMIT, MAX_REVIEW_LIMIT)
        rows = await asyncio.to_thread(
            store.reviews,
            repository=_optional(repository),
            decision=_optional(decision),
            state=_optional(state),
            limit=size,
        )
        return api_json({"reviews": rows, "limit": size})

    @api.get("/reviews/{key:path}")
    async def api_review(key: str, principal: ApiUser) -> JSONResponse:
        detail = await asyncio.to_thread(store.review, key)
        if detail is None:
            raise ApiRefused(404, f"no change review {key} in the store")
        return api_json(detail.as_json())

    @api.post("/incidents/{incident_id}/decide")
    async def api_decide(incident_id: str, request: Request, principal: ApiUser) -> JSONResponse:
        if principal.via == "session":
            # A browser sends the cookie by itself, so a cookie alone cannot authorise a change
            # here (these routes take no CSRF token).
            raise ApiRefused(
                403, "a session cookie cannot POST to /api: send Authorization (Bearer or Basic) instead"
            )
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise ApiRefused(415, "send the decision as application/json")
        try:
            body = DecideBody.model_validate_json(await request.body())
            decision = DecisionInput(
                approver=principal.name,
                groups=list(principal.groups),
                reason=body.reason,
                plan_hash=_optional(body.plan_hash),
                decision=body.decision,  # validated by DecisionInput
                channel="api",
            )
        except ValidationError as err:
            details = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in err.errors(include_input=False)]
            return api_json({"error": "invalid decision", "details": details}, 422)
        outcome = await run_decision(get_client, incident_id, decision, reach_seconds)
        answer: dict[str, Any] = {"ok": outcome.ok, "message": outcome.message}
        if outcome.status is not None:
            answer["status"] = outcome.status.model_dump(mode="json")
        if not outcome.ok:
            answer["error"] = outcome.message
        response = api_json(answer, outcome.status_code)
        if outcome.status_code == 503:
            response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    app.include_router(console)
    app.include_router(api)
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value
