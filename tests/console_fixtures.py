"""A seeded store and a fake Temporal client for the console's tests (tests/gateway/test_console*)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio.api.common.v1 import ActivityType
from temporalio.api.failure.v1 import Failure
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionResponse, GetSystemInfoResponse
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from domain.analysis.plan import Diagnosis, Evidence, Plan, SetResources
from domain.incident.model import ResourceRef
from domain.kube.observation import (
    ContainerSpec,
    ContainerState,
    EventItem,
    GitOpsFile,
    LogExcerpt,
    MetricSeries,
    Observation,
    PodState,
    Workload,
)
from domain.policy.approval import Approval, DecisionInput
from domain.policy.decision import PolicyDecision
from domain.steps.remediation import WorkflowStatus
from store.db import make_engine, session_factory, transaction
from store.models import utcnow
from store.repositories import ApprovalRepository, AuditRepository, IncidentRepository

PENDING = "incident-alert-aaaaaaaaaaaaaaaaaaaa.1a2b3c4d"
RESOLVED = "incident-alert-bbbbbbbbbbbbbbbbbbbb.5e6f7a8b"
DENIED = "incident-alert-cccccccccccccccccccc.9c0d1e2f"
PLAN_HASH = "f00dfeedc0ffee00"
SCRIPT = '<script>alert("pwned")</script>'
APPROVERS = ["group:sre", "user:carol"]

CART = ResourceRef(namespace="shop", kind="Deployment", name="cart", container="cart")
POD_ID = "pod/shop/cart-7d9f8b6c5-x2k4p"
EVENT_ID = "event/shop/cart-7d9f8b6c5-x2k4p.17a0"
LOG_ID = "log-previous/shop/cart-7d9f8b6c5-x2k4p/cart"
WORKLOAD_ID = "workload/shop/Deployment/cart"
METRIC_ID = "metric/memory_usage_ratio/shop/cart"
GITOPS_ID = "gitops/apps/cart/deployment.yaml"


def observation() -> Observation:
    return Observation(
        incident_id=PENDING,
        workloads=[
            Workload(
                id=WORKLOAD_ID,
                ref=CART.without_container(),
                generation=3,
                observed_generation=3,
                revision=3,
                replicas=2,
                ready_replicas=1,
                containers=[
                    ContainerSpec(
                        name="cart",
                        image="registry.example/shop/cart:1.14.2",
                        requests={"cpu": "100m", "memory": "96Mi"},
                        limits={"cpu": "500m", "memory": "128Mi"},
                    )
                ],
            )
        ],
        pods=[
            PodState(
                id=POD_ID,
                name="cart-7d9f8b6c5-x2k4p",
                namespace="shop",
                owner="cart-7d9f8b6c5",
                phase="Running",
                containers=[
                    ContainerState(
                        name="cart",
                        state="waiting",
                        state_reason="CrashLoopBackOff",
                        restart_count=4,
                        last_state_reason="OOMKilled",
                        last_exit_code=137,
                    )
                ],
            )
        ],
        events=[
            EventItem(
                id=EVENT_ID,
                namespace="shop",
                object_kind="Pod",
                object_name="cart-7d9f8b6c5-x2k4p",
                reason="BackOff",
                type="Warning",
                message=f"Back-off restarting failed container {SCRIPT}",
                count=7,
            )
        ],
        logs=[LogExcerpt(id=LOG_ID, pod="cart-7d9f8b6c5-x2k4p", container="cart", previous=True, text="OOM")],
        metrics=[
            MetricSeries(
                id=METRIC_ID,
                name="memory_usage_ratio",
                query="max(container_memory_working_set_bytes) / max(limits)",
                samples=[(1.0, 0.5), (61.0, 0.8), (121.0, 0.99)],
            )
        ],
        gitops_files=[GitOpsFile(id=GITOPS_ID, path="apps/cart/deployment.yaml", content="kind: Deployment")],
        notes=["no Argo CD Application manages it"],
    )


def diagnosis() -> Diagnosis:
    return Diagnosis(
        root_cause="oom",
        summary="cart is OOMKilled: its memory limit is too low",
        explanation="The previous container was OOMKilled (exit 137) 4 times.",
        confidence=0.9,
        evidence=[
            Evidence(item_id=POD_ID, note="last state OOMKilled, exit 137"),
            Evidence(item_id=EVENT_ID, note="back-off restarting"),
            Evidence(item_id=LOG_ID, note="the previous container's log"),
            Evidence(item_id=METRIC_ID, note="memory at its limit"),
        ],
        plan=Plan(
            actions=[SetResources(target=CART, limits={"memory": "256Mi"})],
            expected_impact="cart stops being OOMKilled",
            rollback="restore the snapshot",
        ),
    )


def policy(approvers: list[str] | None = None) -> PolicyDecision:
    return PolicyDecision(
        allowed=True,
        risk="medium",
        approvals_required=1,
        reasons=["set_resources is medium risk"],
        approvers=approvers if approvers is not None else APPROVERS,
    )


def alert_group() -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": '{}:{alertname="KubeContainerOOMKilled"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "remediator",
        "groupLabels": {"alertname": "KubeContainerOOMKilled"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "KubeContainerOOMKilled", "namespace": "shop", "pod": "cart-x"},
                "annotations": {"description": f"cart was OOMKilled {SCRIPT}", "summary": "OOMKilled"},
                "startsAt": "2026-11-23T18:55:09Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.example:9090/graph",
                "fingerprint": "7c1e9a0d5b3f2e11",
            }
        ],
    }


DENIED_REASON = "policy denied the plan: shop/Deployment/checkout is in a protected namespace"


def seed(url: str, approvers: list[str] | None = None) -> None:
    """Three incidents: PENDING (newest, awaiting approval in shop, medium), RESOLVED (payments,
    low, approved by alice) and DENIED (oldest, needs_review in shop, high)."""
    now = utcnow()
    engine = make_engine(url)
    try:
        with transaction(session_factory(engine)) as session:
            incidents, audit = IncidentRepository(session), AuditRepository(session)
            d = diagnosis()
            incidents.upsert(
                PENDING,
                created_at=now - timedelta(minutes=5),
                title=f"KubeContainerOOMKilled {SCRIPT}",
                status="awaiting_approval",
                risk="medium",
                root_cause="oom",
                namespace="shop",
                target="shop/Deployment/cart",
                plan_hash=PLAN_HASH,
                summary=d.summary,
                alert_group=alert_group(),
                diagnosis=d,
                plan=d.plan,
                policy_decision=policy(approvers),
                observation=observation(),
            )
            steps = [
                ("received", "completed", None),
                ("observing", "completed", 1200),
                ("analyzing", "completed", 35),
                ("validating", "completed", 80),
                ("awaiting_approval", "started", None),
            ]
            for seq, (step, status, took) in enumerate(steps, start=1):
                audit.record(
                    PENDING,
                    seq,
                    step,
                    status,
                    plan_hash=PLAN_HASH,
                    duration_ms=took,
                    occurred_at=now - timedelta(minutes=5) + timedelta(seconds=seq),
                )

            incidents.upsert(
                RESOLVED,
                created_at=now - timedelta(hours=3),
                title="KubePodCrashLooping",
                status="resolved",
                outcome="resolved",
                risk="low",
                root_cause="saturation",
                namespace="payments",
                target="payments/Deployment/ledger",
                plan_hash="1111222233334444",
                closed_at=now - timedelta(hours=2),
                reason="verification passed",
            )
            audit.record(RESOLVED, 1, "received", "completed", occurred_at=now - timedelta(hours=3))
            audit.record(
                RESOLVED,
                2,
                "decision",
                "approve",
                actor="alice",
                occurred_at=now - timedelta(hours=2, minutes=30),
            )
            audit.record(
                RESOLVED,
                3,
                "closed",
                "resolved",
                occurred_at=now - timedelta(hours=2),
                detail={"reason": "verification passed"},
            )
            ApprovalRepository(session).record(
                RESOLVED,
                "alice",
                "approve",
                "1111222233334444",
                reason="looks right",
                via="update",
                decided_at=now - timedelta(hours=2, minutes=30),
            )

            incidents.upsert(
                DENIED,
                created_at=now - timedelta(days=2),
                title="KubeDeploymentReplicasMismatch",
                status="needs_review",
                outcome="needs_review",
                risk="high",
                root_cause="bad_release",
                namespace="shop",
                target="shop/Deployment/checkout",
                closed_at=now - timedelta(days=2),
                reason=DENIED_REASON,
            )
            audit.record(DENIED, 1, "closed", "needs_review", occurred_at=now - timedelta(days=2))
    finally:
        engine.dispose()


@dataclass
class FakeTemporal:
    """Stands in for the gateway's Temporal client: the `status` query and the `decide` update of
    one waiting incident. `refuse` makes the update's validator refuse with that reason."""

    incident_id: str = PENDING
    plan_hash: str = PLAN_HASH
    refuse: str | None = None
    # The last failure of an activity the workflow is retrying (None: nothing is retried).
    retrying: str | None = None
    workflow_ids: list[str] = field(default_factory=list)
    decisions: list[DecisionInput] = field(default_factory=list)
    # After a decision the `status` query shows it and, after `settles_after` more queries at
    # awaiting_approval, the step `moves_to` (None: the query goes on showing no decision).
    moves_to: str | None = None
    settles_after: int = 0
    queries_after_decision: int = 0

    def status(self, approvals: list[Approval] | None = None) -> WorkflowStatus:
        return WorkflowStatus(
            incident_id=self.incident_id,
            step="awaiting_approval",
            plan_hash=self.plan_hash,
            approvals=approvals or [],
            approvals_required=1,
        )

    def queried(self) -> WorkflowStatus:
        if self.moves_to is None or not self.decisions or self.refuse is not None:
            return self.status()
        self.queries_after_decision += 1
        approvals = [approval_of(d, self.plan_hash) for d in self.decisions]
        status = self.status(approvals)
        if self.queries_after_decision > self.settles_after:
            return status.model_copy(update={"step": self.moves_to})
        return status

    def get_workflow_handle(self, workflow_id: str) -> FakeHandle:
        self.workflow_ids.append(workflow_id)
        return FakeHandle(self)

    @property
    def workflow_service(self) -> FakeTemporal:
        # The gateway asks the server itself first (`gateway.temporal_calls.reach`).
        return self

    async def get_system_info(self, request: Any, **_: Any) -> GetSystemInfoResponse:
        return GetSystemInfoResponse(server_version="fake")

    async def factory(self) -> Any:
        return self


@dataclass
class FakeHandle:
    temporal: FakeTemporal

    async def query(self, query: Any, **_: Any) -> WorkflowStatus:
        return self.temporal.queried()

    async def describe(self) -> Described:
        return Described(
            self.temporal.incident_id.rsplit(".", 1)[1] + "-0000-4000-8000-000000000000",
            self.temporal.retrying,
        )

    async def execute_update(self, update: Any, decision: DecisionInput, **_: Any) -> WorkflowStatus:
        self.temporal.decisions.append(decision)
        if self.temporal.refuse is not None:
            raise WorkflowUpdateFailedError(ApplicationError(self.temporal.refuse, type="ValueError"))
        return self.temporal.status([approval_of(decision, self.temporal.plan_hash)])


def approval_of(decision: DecisionInput, plan_hash: str) -> Approval:
    return Approval(
        approver=decision.approver,
        decision=decision.decision,
        reason=decision.reason,
        plan_hash=plan_hash,
        via="update",
        channel=decision.channel,
    )


class Described:
    """What Temporal's DescribeWorkflowExecution answers (its own response message) for a run
    whose observe step is being retried after `failure`, or with nothing pending."""

    def __init__(
        self, run_id: str, failure: str | None, activity: str = "observe_incident", attempt: int = 4
    ) -> None:
        self.run_id = run_id
        pending = []
        if failure is not None:
            pending.append(
                PendingActivityInfo(
                    activity_type=ActivityType(name=activity),
                    attempt=attempt,
                    last_failure=Failure(message=failure),
                )
            )
        self.raw_description = DescribeWorkflowExecutionResponse(pending_activities=pending)


async def console_login(http: Any, next_url: str = "/console/", **fields: str) -> Any:
    """Log in through the console's form (an httpx.AsyncClient keeps the cookies); the response
    of the POST, not followed."""
    from tests.console_html import Page

    form = await http.get("/console/login", params={"next": next_url})
    assert form.status_code == 200, form.text
    page = Page(form.text)
    body = {
        "csrf": page.value("csrf"),
        "next": page.value("next"),
        "username": "",
        "password": "",
        "token": "",
    }
    return await http.post("/console/login", data={**body, **fields})
