"""Integration errors become the ApplicationErrors Temporal retries (or not) in one place."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import exc as sa
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.analyze import AnalyzeActivities
from activities.direct.verify import VerifyActivities
from activities.failures import (
    MAX_FAILURE_MESSAGE,
    STORE_UNAVAILABLE,
    activity_failure,
    classified,
    store_failure,
)
from activities.gitops.pull_requests import PullRequestActivities
from activities.record import RecordActivities
from cli.devserver import free_port
from domain.analysis.plan import Diagnosis
from domain.gitops.pull_requests import PullRequest
from domain.incident.memory import SimilarIncident
from domain.incident.model import Incident, ResourceRef
from domain.kube.observation import Observation
from domain.steps.analyze import AnalyzeInput
from domain.steps.change import CheckRolloutInput
from domain.steps.gitops import PullRequestInput
from domain.steps.record import IncidentUpdate
from integrations.kubernetes import KubeClient, KubeConflict, KubeForbidden, KubeNotFound, KubeUnavailable
from integrations.llm.errors import InvalidModelOutput, ModelUnavailable
from integrations.pull_requests import PullRequestConflict, PullRequestHost, PullRequestUnavailable
from store import migrate
from store.db import make_engine, session_factory
from workflows.remediation.options import STORE_UNAVAILABLE as WORKFLOW_STORE_UNAVAILABLE

LEDGER = ResourceRef(namespace="payments", kind="Deployment", name="ledger")


# --- the translation ------------------------------------------------------------------------------


def test_a_temporary_error_with_a_delay_is_retried_after_it() -> None:
    failure = activity_failure(PullRequestUnavailable("GitHub rate limit", retry_after=42), "reading PR #7")
    assert failure.type == "PullRequestUnavailable"
    assert not failure.non_retryable
    assert failure.next_retry_delay == timedelta(seconds=42)
    assert failure.message == "reading PR #7: GitHub rate limit"


def test_a_temporary_error_without_a_delay_is_retried_on_the_policys_schedule() -> None:
    failure = activity_failure(KubeUnavailable("connection refused"), "restore payments/Deployment/ledger")
    assert failure.type == "KubeUnavailable"
    assert not failure.non_retryable
    assert failure.next_retry_delay is None
    assert failure.message == "restore payments/Deployment/ledger: connection refused"


def test_a_zero_delay_is_left_to_the_retry_policy() -> None:
    assert activity_failure(ModelUnavailable("rate limited", 0.0)).next_retry_delay is None


def test_a_permanent_error_is_final() -> None:
    failure = activity_failure(KubeForbidden("deployments is forbidden", 403), "cannot snapshot x")
    assert failure.type == "KubeForbidden"
    assert failure.non_retryable
    assert failure.next_retry_delay is None
    assert failure.message == "cannot snapshot x: deployments is forbidden"


def test_without_what_the_message_is_the_errors_own() -> None:
    failure = activity_failure(ModelUnavailable("overloaded", 7))
    assert failure.message == "overloaded (retry after 7s)"
    assert failure.next_retry_delay == timedelta(seconds=7)


def test_the_message_is_one_bounded_line_whatever_the_error_said() -> None:
    page = "<html>\n<body>\n" + "bad gateway " * 200 + "\n</body></html>"
    failure = activity_failure(KubeUnavailable(page, 502), "observe")
    assert "\n" not in failure.message
    assert failure.message.startswith("observe: <html> <body> bad gateway")
    assert len(failure.message) == MAX_FAILURE_MESSAGE and failure.message.endswith("…")


def test_a_dead_kubernetes_api_is_named_with_its_address_and_what_it_did() -> None:
    client = KubeClient.from_settings("http://127.0.0.1:1")
    try:
        with pytest.raises(KubeUnavailable) as caught:
            client.read_object(LEDGER)
    finally:
        client.close()
    failure = activity_failure(caught.value, "observe")
    assert failure.message == "observe: the Kubernetes API at http://127.0.0.1:1 refused the connection"


def test_classified_turns_an_integration_error_into_its_failure_chained_to_it() -> None:
    conflict = PullRequestConflict("closed without merging")
    with pytest.raises(ApplicationError) as raised, classified("merging pull request #3"):
        raise conflict
    assert raised.value.type == "PullRequestConflict" and raised.value.non_retryable
    assert raised.value.message == "merging pull request #3: closed without merging"
    assert raised.value.__cause__ is conflict


def test_classified_lets_other_exceptions_through_unchanged() -> None:
    with pytest.raises(KeyError), classified("reading"):
        raise KeyError("a bug stays loud")


# --- in an activity -------------------------------------------------------------------------------


class _Kube:
    """Stands in for KubeClient: `read_object` fails with `error`."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def read_object(self, ref: ResourceRef) -> dict[str, Any]:
        raise self.error


def _check_rollout(error: Exception) -> Any:
    activities = VerifyActivities(cast(KubeClient, _Kube(error)))
    return ActivityEnvironment().run(
        activities.check_rollout, CheckRolloutInput(incident_id="incident-1", targets=[LEDGER])
    )


@pytest.mark.parametrize(
    ("error", "non_retryable"),
    [
        (KubeUnavailable("connection refused"), False),
        (KubeConflict("the object has been modified", 409), False),
        (KubeForbidden("deployments is forbidden", 403), True),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_a_raw_kube_error_in_an_activity_leaves_it_as_its_application_error(
    error: Exception, non_retryable: bool
) -> None:
    with pytest.raises(ApplicationError) as raised:
        _check_rollout(error)
    assert raised.value.type == type(error).__name__
    assert raised.value.non_retryable is non_retryable
    assert raised.value.message.startswith("cannot check the rollout of payments/Deployment/ledger: ")


def test_an_error_an_activity_expects_stays_part_of_its_result() -> None:
    verification = _check_rollout(KubeNotFound('deployments.apps "ledger" not found', 404))
    assert not verification.ok and verification.checks[0].reason == "object is gone"


class _Host:
    """Stands in for a PullRequestHost that is rate limited."""

    def get_pull_request(self, number: int) -> PullRequest:
        raise PullRequestUnavailable(f"reading PR #{number}: GitHub rate limit", retry_after=30)


def test_a_rate_limited_host_is_retried_after_its_delay() -> None:
    activities = PullRequestActivities(None, cast(PullRequestHost, _Host()))
    with pytest.raises(ApplicationError) as raised:
        ActivityEnvironment().run(
            activities.get_pull_request, PullRequestInput(incident_id="incident-1", number=7)
        )
    assert raised.value.type == "PullRequestUnavailable" and not raised.value.non_retryable
    assert raised.value.next_retry_delay == timedelta(seconds=30)


class _Model:
    """An analyzer whose model call fails with `error`."""

    name = "scripted"

    def __init__(self, error: Exception) -> None:
        self.error = error

    def analyze(
        self, incident: Incident, observation: Observation, similar: Sequence[SimilarIncident] = ()
    ) -> Diagnosis:
        raise self.error


@pytest.mark.parametrize(
    ("error", "non_retryable", "delay"),
    [
        (ModelUnavailable("overloaded", 7, 529), False, timedelta(seconds=7)),
        (InvalidModelOutput("no tool call"), True, None),
    ],
    ids=["ModelUnavailable", "InvalidModelOutput"],
)
def test_model_errors_keep_the_types_the_workflow_matches(
    error: Exception, non_retryable: bool, delay: timedelta | None
) -> None:
    incident = Incident(id="incident-1", targets=[LEDGER])
    activities = AnalyzeActivities(_Model(error))
    with pytest.raises(ApplicationError) as raised:
        ActivityEnvironment().run(
            activities.analyze_incident,
            AnalyzeInput(incident=incident, observation=Observation(incident_id="incident-1")),
        )
    assert raised.value.type == type(error).__name__
    assert raised.value.non_retryable is non_retryable
    assert raised.value.next_retry_delay == delay
    assert raised.value.message == str(error)


# --- the store ---------------------------------------------------------------------------------


def test_an_unreachable_store_is_a_short_retryable_store_unavailable(tmp_path: Path) -> None:
    # A real refusal: a PostgreSQL URL on a port nothing listens on, with a huge row to write.
    engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/medic")
    sessions = session_factory(engine)
    observation = Observation(incident_id="i-1", notes=["x" * 100_000])
    try:
        with pytest.raises(ApplicationError) as caught:
            ActivityEnvironment().run(
                RecordActivities(sessions).record_incident,
                IncidentUpdate(incident_id="i-1", observation=observation.model_dump(mode="json")),
            )
    finally:
        engine.dispose()
    failure = caught.value
    assert failure.type == STORE_UNAVAILABLE == WORKFLOW_STORE_UNAVAILABLE
    assert not failure.non_retryable
    assert failure.message.startswith("the store refused the connection")
    assert "\n" not in failure.message and len(failure.message) <= MAX_FAILURE_MESSAGE
    assert isinstance(failure.__cause__, sa.OperationalError)


def test_a_store_error_says_the_databases_complaint_never_the_statement_or_its_parameters() -> None:
    err = sa.IntegrityError(
        "INSERT INTO incident (id, observation) VALUES (%(id)s, %(observation)s)",
        {"id": "i-1", "observation": "secret-ish " * 100_000},
        Exception('duplicate key value violates unique constraint "incident_pkey"'),
    )
    failure = store_failure(err)
    assert failure.type == "IntegrityError" and not failure.non_retryable
    assert failure.message == (
        'the store: Exception: duplicate key value violates unique constraint "incident_pkey"'
    )


def test_a_read_only_sqlite_file_is_store_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "store" / "medic.db"
    migrate.upgrade(f"sqlite:///{path}")
    # Opened read-only, as the embedded store is when its directory becomes unwritable (file modes
    # alone would not stop a test running as root).
    engine = make_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    try:
        with pytest.raises(ApplicationError) as caught:
            ActivityEnvironment().run(
                RecordActivities(session_factory(engine)).record_incident, IncidentUpdate(incident_id="i-1")
            )
    finally:
        engine.dispose()
    assert caught.value.type == STORE_UNAVAILABLE
    assert caught.value.message == "the store could not be reached (attempt to write a readonly database)"
