"""A remediation plan's impact: its monthly cost delta and downtime findings from the change
review of the workloads it changes, and the actions it cannot assess named, not guessed."""

from __future__ import annotations

from domain.analysis.plan import (
    Plan,
    Restart,
    RollbackRevision,
    Scale,
    SetImage,
    SetResources,
    SyncApplication,
)
from domain.analysis.plan_diff import proposed_workload
from domain.incident.model import ResourceRef
from domain.kube.observation import ContainerSpec, Observation, Revision, Workload
from domain.kube.patches import RESTARTED_AT_ANNOTATION, restart_stamp
from domain.review.cost import DEFAULT_BASIS, Prices
from domain.review.plan_impact import plan_impact, workload_manifest

# One core-hour costs $0.10 and a month has 100 hours: a core a month is $10.00; memory is free.
PRICES = Prices(cpu_core_hour_usd=0.1, memory_gib_hour_usd=0, hours_per_month=100, basis="test prices")


def ref(name: str = "checkout", container: str | None = None) -> ResourceRef:
    return ResourceRef(namespace="shop", kind="Deployment", name=name, container=container)


def workload(
    *, replicas: int = 2, strategy: str = "RollingUpdate", max_unavailable: str = "", cpu: str = "500m"
) -> Workload:
    return Workload(
        id="workload/shop/Deployment/checkout",
        ref=ref(),
        replicas=replicas,
        revision=3,
        strategy=strategy,
        max_unavailable=max_unavailable,
        containers=[
            ContainerSpec(
                name="checkout",
                image="registry.example/shop/checkout:1.4.0",
                requests={"cpu": cpu, "memory": "256Mi"},
                limits={"memory": "256Mi"},
            )
        ],
    )


def seen(*workloads: Workload, revisions: tuple[Revision, ...] = ()) -> Observation:
    return Observation(
        incident_id="inc-1", workloads=list(workloads) or [workload()], revisions=list(revisions)
    )


def test_raised_requests_cost_their_delta_and_roll_without_downtime() -> None:
    plan = Plan(actions=[SetResources(target=ref(container="checkout"), requests={"cpu": "1"})])
    impact = plan_impact(plan, seen(), PRICES)
    # 2 replicas × 0.5 more cores × $10.00
    assert impact.monthly_delta_usd == 10.0
    assert impact.basis == "test prices"
    assert impact.downtime == [] and impact.rollback == [] and impact.not_assessed == []
    assert impact.summary == "+$10.00/month (test prices); downtime: none found"


def test_default_prices_state_their_basis() -> None:
    plan = Plan(actions=[Scale(target=ref(), replicas=3)])
    impact = plan_impact(plan, seen())
    assert impact.basis == DEFAULT_BASIS and impact.monthly_delta_usd > 0
    assert impact.summary.startswith(f"+${impact.monthly_delta_usd:.2f}/month ({DEFAULT_BASIS});")


def test_restart_of_a_single_recreate_replica_is_downtime() -> None:
    plan = Plan(actions=[Restart(target=ref())])
    impact = plan_impact(plan, seen(workload(replicas=1, strategy="Recreate")), PRICES)
    assert impact.monthly_delta_usd == 0
    [finding] = impact.downtime
    assert (finding.severity, finding.field) == ("high", "spec.strategy.type")
    assert "1 replica(s): this rollout stops every pod" in finding.message
    assert impact.summary == f"+$0.00/month (test prices); downtime: {finding.message}"


def test_scaling_down_to_what_max_unavailable_allows_is_downtime_on_the_next_rollout() -> None:
    plan = Plan(actions=[Scale(target=ref(), replicas=1)])
    impact = plan_impact(plan, seen(workload(max_unavailable="1")), PRICES)
    assert impact.monthly_delta_usd == -5.0
    [finding] = impact.downtime
    assert finding.field == "spec.strategy.rollingUpdate.maxUnavailable"
    assert "the next rollout take every pod down" in finding.message
    assert impact.summary.startswith("-$5.00/month (test prices); downtime: Deployment shop/checkout: ")


def test_actions_on_one_workload_add_up() -> None:
    plan = Plan(
        actions=[
            Scale(target=ref(), replicas=4),
            SetResources(target=ref(container="checkout"), requests={"cpu": "1"}),
        ]
    )
    # 2 × 0.5 cores → 4 × 1 core: 3 more cores
    assert plan_impact(plan, seen(), PRICES).monthly_delta_usd == 30.0


def test_rollback_to_an_observed_revision_is_assessed() -> None:
    old = Revision(
        id="revision/shop/checkout-1",
        name="checkout-1",
        revision=1,
        containers=[
            ContainerSpec(
                name="checkout", image="registry.example/shop/checkout:1.3.0", requests={"cpu": "1"}
            )
        ],
    )
    plan = Plan(actions=[RollbackRevision(target=ref(), revision=1)])
    impact = plan_impact(plan, seen(workload(), revisions=(old,)), PRICES)
    assert impact.not_assessed == [] and impact.monthly_delta_usd == 10.0


def test_what_was_not_observed_is_listed_not_guessed() -> None:
    plan = Plan(
        actions=[
            Scale(target=ref("cart"), replicas=5),
            SyncApplication(target=ref(), application="shop"),
            SetImage(target=ref(container="sidecar"), image="registry.example/shop/sidecar:2"),
            RollbackRevision(target=ref(), revision=9),
        ]
    )
    impact = plan_impact(plan, seen(), PRICES)
    assert impact.monthly_delta_usd == 0 and impact.downtime == []
    assert impact.not_assessed == [
        "action 1 (scale shop/Deployment/cart): its target was not observed",
        "action 2 (sync_application shop/Deployment/checkout): an Argo CD sync applies what Git holds, "
        "which the plan does not say",
        "action 3 (set_image shop/Deployment/checkout:sidecar): container sidecar was not observed",
        "action 4 (rollback_revision shop/Deployment/checkout): revision 9 was not observed",
    ]
    assert impact.summary.startswith("not assessed: action 1 (scale shop/Deployment/cart)")


def test_partly_assessed_plan_says_how_much_was_left_out() -> None:
    plan = Plan(actions=[Scale(target=ref(), replicas=3), Scale(target=ref("cart"), replicas=5)])
    impact = plan_impact(plan, seen(), PRICES)
    assert impact.monthly_delta_usd == 5.0
    assert impact.summary == "+$5.00/month (test prices); downtime: none found; 1 of 2 action(s) not assessed"


def test_an_unobserved_rollout_strategy_is_said_not_assumed_silently() -> None:
    impact = plan_impact(Plan(actions=[Restart(target=ref())]), seen(workload(strategy="")), PRICES)
    assert impact.notes == [
        "shop/Deployment/checkout: rollout strategy not observed; judged as the default RollingUpdate"
    ]
    assert impact.summary.endswith("downtime: none found (rollout strategy not observed)")


def test_no_actions_and_the_same_input_give_the_same_answer() -> None:
    assert plan_impact(Plan(), seen()).summary == "no actions"
    plan = Plan(actions=[Restart(target=ref())])
    observation = seen(workload(replicas=1, strategy="Recreate"))
    assert plan_impact(plan, observation) == plan_impact(plan, observation)


def test_manifest_and_proposed_workload_carry_what_the_rules_read() -> None:
    observed = workload(max_unavailable="25%")
    manifest = workload_manifest(observed, {RESTARTED_AT_ANNOTATION: restart_stamp("inc-1")})
    assert manifest["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%"},
    }
    assert manifest["spec"]["template"]["metadata"]["annotations"] == {
        RESTARTED_AT_ANNOTATION: restart_stamp("inc-1")
    }
    assert workload_manifest(workload(max_unavailable="1"))["spec"]["strategy"]["rollingUpdate"] == {
        "maxUnavailable": 1
    }
    action = SetResources(target=ref(container="checkout"), limits={"memory": "512Mi"})
    changed = proposed_workload(action, observed, seen(observed))
    assert changed is not None
    assert changed.containers[0].limits == {"memory": "512Mi"}
    assert changed.containers[0].requests == {"cpu": "500m", "memory": "256Mi"}
    assert proposed_workload(action, None, seen()) is None
