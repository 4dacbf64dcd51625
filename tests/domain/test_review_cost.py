"""The monthly cost of a change set, priced from list prices and always stating its basis."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.kube.quantity import parse_quantity
from domain.review.changes import change_set
from domain.review.cost import DEFAULT_BASIS, Prices, cost_findings, estimate_cost
from tests.domain.review_manifests import Manifest, changed, container, deployment, pvc, statefulset

CPU_HOUR = 0.031611
MEMORY_GIB_HOUR = 0.004237
STORAGE_GIB_MONTH = 0.04
HOURS = 730


def test_replicas_and_memory_raise_matches_a_hand_computation_from_list_prices() -> None:
    before = deployment(replicas=3, cpu="250m", memory="512Mi")

    def edit(d: Manifest) -> None:
        d["spec"]["replicas"] = 12
        container(d)["resources"] = {
            "requests": {"cpu": "250m", "memory": "2Gi"},
            "limits": {"memory": "2Gi"},
        }

    cost = estimate_cost(change_set([before], [changed(before, edit)]))
    by_hand_before = 3 * (0.25 * CPU_HOUR + 0.5 * MEMORY_GIB_HOUR) * HOURS
    by_hand_after = 12 * (0.25 * CPU_HOUR + 2 * MEMORY_GIB_HOUR) * HOURS
    assert cost.monthly_delta_usd == pytest.approx(by_hand_after - by_hand_before, rel=0.01)
    assert cost.basis == DEFAULT_BASIS == "OpenCost default list prices (GCP us-central1)"
    [only] = cost.objects
    assert only.before_usd == pytest.approx(by_hand_before, rel=0.01)
    assert only.after_usd == pytest.approx(by_hand_after, rel=0.01)


def test_supplied_prices_and_basis_are_used() -> None:
    prices = Prices(
        cpu_core_hour_usd=0.05, memory_gib_hour_usd=0.01, basis="OpenCost at opencost.example:9003"
    )
    cost = estimate_cost(change_set([], [deployment(replicas=2, cpu="1", memory="1Gi")]), prices)
    assert cost.monthly_delta_usd == pytest.approx(2 * (0.05 + 0.01) * HOURS, rel=0.001)
    assert cost.basis == "OpenCost at opencost.example:9003"


def test_limits_stand_for_missing_requests_and_init_containers_are_not_counted() -> None:
    def edit(d: Manifest) -> None:
        container(d)["resources"] = {"limits": {"cpu": "2", "memory": "1Gi"}}
        d["spec"]["template"]["spec"]["initContainers"] = [
            {"name": "wait", "image": "busybox:1.36", "resources": {"requests": {"cpu": "4"}}}
        ]

    cost = estimate_cost(change_set([], [changed(deployment(replicas=1), edit)]))
    assert cost.monthly_delta_usd == pytest.approx((2 * CPU_HOUR + MEMORY_GIB_HOUR) * HOURS, rel=0.001)


def test_claims_and_statefulset_templates_are_priced_as_storage() -> None:
    grown = estimate_cost(change_set([pvc(storage="10Gi")], [pvc(storage="50Gi")]))
    assert grown.monthly_delta_usd == pytest.approx(40 * STORAGE_GIB_MONTH, rel=0.001)
    database = estimate_cost(change_set([], [statefulset(replicas=3)]))
    compute = 3 * (0.5 * CPU_HOUR + 1 * MEMORY_GIB_HOUR) * HOURS
    assert database.monthly_delta_usd == pytest.approx(compute + 3 * 20 * STORAGE_GIB_MONTH, rel=0.001)


def test_daemonset_is_noted_per_node_not_priced() -> None:
    daemon = changed(deployment(name="node-agent"), lambda d: d.update(kind="DaemonSet"))
    del daemon["spec"]["replicas"], daemon["spec"]["strategy"]
    cost = estimate_cost(change_set([], [daemon]))
    assert cost.monthly_delta_usd == 0
    assert "per node" in cost.objects[0].note


def test_objects_without_resources_cost_nothing() -> None:
    before = deployment()
    cost = estimate_cost(
        change_set([before], [changed(before, lambda d: container(d).update(image="x/y:2"))])
    )
    assert cost.monthly_delta_usd == 0


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("250m", Decimal("0.25")),
        ("2", Decimal(2)),
        ("1.5", Decimal("1.5")),
        ("512Mi", Decimal(512 * 2**20)),
        ("2Gi", Decimal(2 * 2**30)),
        ("1Ti", Decimal(2**40)),
        ("64Ki", Decimal(64 * 1024)),
        ("1k", Decimal(1000)),
        ("129M", Decimal(129 * 10**6)),
        ("1G", Decimal(10**9)),
        ("1T", Decimal(10**12)),
        ("1e3", Decimal(1000)),
        ("12E6", Decimal(12 * 10**6)),
    ],
)
def test_kubernetes_quantities_parse_exactly(text: str, value: Decimal) -> None:
    assert parse_quantity(text) == value


def test_cost_finding_cites_price_and_requests_before_and_after() -> None:
    before = deployment(replicas=3, cpu="250m", memory="512Mi")

    def edit(d: Manifest) -> None:
        d["spec"]["replicas"] = 12
        container(d)["resources"]["requests"]["memory"] = "2Gi"

    [finding] = cost_findings(estimate_cost(change_set([before], [changed(before, edit)])))
    assert (finding.category, finding.severity) == ("cost", "info")
    assert finding.message.startswith("Deployment shop/checkout: $21.95 → $143.46 per month (+$121.51)")
    assert "pods 3 → 12, cores 0.75 → 3, GiB memory 1.5 → 24" in finding.message


def test_no_cost_finding_when_requests_do_not_change() -> None:
    before = deployment()
    after = changed(before, lambda d: container(d).update(image="registry.example.com/shop/checkout:1.15.0"))
    assert cost_findings(estimate_cost(change_set([before], [after]))) == []
