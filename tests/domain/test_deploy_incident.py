"""A degraded deploy's incident, diagnosis and plan: the verdict read as it is, and one revert."""

from __future__ import annotations

from domain.analysis.plan import RevertDeploy, reads_as_command, without_read_only_commands
from domain.deploy.incident import deploy_diagnosis, deploy_incident
from domain.deploy.model import DeployRegression, FiredRule, Verdict, WorkloadRef
from domain.incident.model import ResourceRef
from domain.kube.observation import ArgoApplication, Observation, Workload

CART = WorkloadRef(namespace="shop", kind="Deployment", name="shop-cart")
WORKER = WorkloadRef(namespace="shop", kind="StatefulSet", name="cart-worker")
ROLLOUT = WorkloadRef(namespace="shop", kind="Rollout", name="cart-canary")
REVISION = "abc1234def5678abc1234def5678abc1234def56"
PREVIOUS = "0011223344556677889900112233445566778899"


def p99(workload: WorkloadRef = CART) -> FiredRule:
    return FiredRule(
        rule="p99_latency",
        workload=workload,
        baseline=200.0,
        observed=480.0,
        threshold="≥1.5× and ≥100 ms slower",
        message="p99 480 ms vs 200 ms before (2.4×; rule: ≥1.5× and ≥100 ms slower)",
    )


def errors() -> FiredRule:
    return FiredRule(
        rule="error_ratio",
        workload=WORKER,
        baseline=0.001,
        observed=0.021,
        threshold="≥3× and ≥1.00%",
        message="error ratio 2.10% vs 0.10% before (21.0×; rule: ≥3× and ≥1.00%)",
    )


def regression(previous: str = PREVIOUS, fired: list[FiredRule] | None = None) -> DeployRegression:
    fired = [p99(), errors()] if fired is None else fired
    return DeployRegression(
        watch_id="deploy/argocd/shop-cart/abc1234def56",
        application="shop-cart",
        revision=REVISION,
        previous_revision=previous,
        commits=["abc1234 Raise the cart cache TTL", "9f8e7d6 Bump cart to 2.4"],
        verdict=Verdict(
            state="degraded",
            summary="deploy abc1234 of app shop-cart made p99 of shop-cart 2.4× worse (480 ms vs 200 ms)",
            fired=fired,
        ),
        workloads=[ROLLOUT, CART, WORKER, WorkloadRef(namespace="", kind="Deployment", name="nowhere")],
    )


def ref(workload: WorkloadRef) -> ResourceRef:
    return ResourceRef(namespace=workload.namespace, kind=workload.kind, name=workload.name)


def observed(*refs: WorkloadRef) -> Observation:
    return Observation(
        incident_id="deploy/argocd/shop-cart/abc1234def56",
        workloads=[Workload(id=f"workload/{r.label}", ref=ref(r)) for r in refs],
        argocd=[
            ArgoApplication(
                id="argocd/argocd/shop-cart",
                name="shop-cart",
                revision=REVISION,
                sync_status="Synced",
                health_status="Degraded",
            )
        ],
    )


def test_the_incident_names_the_deploy_and_targets_the_degraded_workloads() -> None:
    incident = deploy_incident("deploy/argocd/shop-cart/abc1234def56", regression())
    assert incident.source == "deploy"
    assert incident.title == "Deploy abc1234 of shop-cart degraded: p99 2.4× worse"
    # a Rollout has no pod template medic observes; a workload without a namespace is no target
    assert [t.key for t in incident.targets] == ["shop/Deployment/shop-cart", "shop/StatefulSet/cart-worker"]
    assert incident.deploy is not None and incident.deploy.revision == REVISION


def test_the_diagnosis_reverts_the_deploy_on_the_first_observed_degraded_workload() -> None:
    incident = deploy_incident("i1", regression())
    diagnosis = deploy_diagnosis(incident, observed(WORKER, CART))
    assert diagnosis.root_cause == "bad_release"
    assert diagnosis.analyzer == "deploy-watch"
    assert diagnosis.summary == regression().verdict.summary
    [action] = diagnosis.plan.actions
    assert isinstance(action, RevertDeploy)
    assert action.target.key == "shop/Deployment/shop-cart"
    assert (action.application, action.app_namespace) == ("shop-cart", "argocd")
    assert (action.revision, action.previous_revision) == (REVISION, PREVIOUS)
    assert action.mode == "gitops"
    commits = ["abc1234 Raise the cart cache TTL", "9f8e7d6 Bump cart to 2.4"]
    for line in (p99().message, errors().message, *commits):
        assert line in diagnosis.explanation
    assert {e.item_id for e in diagnosis.evidence} == {
        "workload/shop/Deployment/shop-cart",
        "workload/shop/StatefulSet/cart-worker",
        "argocd/argocd/shop-cart",
    }
    assert "revert" in diagnosis.plan.expected_impact and diagnosis.plan.rollback
    assert diagnosis.next_steps == []


def test_the_plan_targets_the_next_degraded_workload_when_the_first_was_not_observed() -> None:
    diagnosis = deploy_diagnosis(deploy_incident("i1", regression()), observed(WORKER))
    [action] = diagnosis.plan.actions
    assert action.target.key == "shop/StatefulSet/cart-worker"
    assert [e.item_id for e in diagnosis.evidence] == [
        "workload/shop/StatefulSet/cart-worker",
        "argocd/argocd/shop-cart",
    ]


def test_no_observed_workload_means_no_plan_and_says_why() -> None:
    diagnosis = deploy_diagnosis(deploy_incident("i1", regression()), observed())
    assert diagnosis.plan.actions == []
    assert "was observed" in diagnosis.summary and "shop/Deployment/shop-cart" in diagnosis.summary
    assert [e.item_id for e in diagnosis.evidence] == ["argocd/argocd/shop-cart"]


def test_a_first_deploy_has_nothing_to_revert_to() -> None:
    diagnosis = deploy_diagnosis(deploy_incident("i1", regression(previous="")), observed(CART))
    assert diagnosis.plan.actions == []
    assert diagnosis.root_cause == "bad_release"
    assert "no earlier revision" in diagnosis.summary
    assert diagnosis.next_steps
    for step in diagnosis.next_steps:
        assert not reads_as_command(without_read_only_commands(step)), step


def test_the_same_incident_and_observation_give_the_same_plan() -> None:
    incident = deploy_incident("i1", regression())
    first = deploy_diagnosis(incident, observed(CART, WORKER))
    again = deploy_diagnosis(incident, observed(CART, WORKER))
    assert first.plan.plan_hash() == again.plan.plan_hash()


def test_titles_follow_the_worst_rule() -> None:
    health = FiredRule(rule="health_degraded", threshold="Degraded", message="Argo CD reports Degraded")
    title = deploy_incident("i1", regression(fired=[health, p99()])).title
    assert title == "Deploy abc1234 of shop-cart degraded: Argo CD health Degraded"
    assert deploy_incident("i1", regression(fired=[errors()])).title.endswith("error ratio 21.0× worse")


def test_an_incident_without_a_deploy_is_refused() -> None:
    from domain.incident.model import Incident

    try:
        deploy_diagnosis(Incident(id="i1", source="deploy"), observed(CART))
    except ValueError as err:
        assert "carries no deploy" in str(err)
    else:
        raise AssertionError("expected a ValueError")
