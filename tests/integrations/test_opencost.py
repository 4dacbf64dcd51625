"""OpenCostClient against a loopback OpenCost serving `/metrics` in the Prometheus text format:
the cluster's prices as medians over its nodes, a change set priced with them, and its failures."""

from __future__ import annotations

import math
import socket
from collections.abc import Iterator

import pytest

from domain.review.changes import change_set
from domain.review.cost import Prices, estimate_cost
from integrations.errors import PermanentError, TemporaryError
from integrations.opencost import OpenCostClient, OpenCostInvalid, OpenCostUnavailable, prices_from_metrics
from tests.domain.review_manifests import Manifest, changed, container, deployment, pvc
from tests.fakes.opencost import MIXED_NODES, Node, SandboxOpenCost

# The medians of tests.fakes.opencost's five nodes and three volumes, by hand.
CPU_MEDIAN = 0.021811  # of 0.006543, 0.021811, 0.021811, 0.031611, 0.03398
RAM_MEDIAN = 0.002923  # of 0.000877, 0.002923, 0.002923, 0.004237, 0.00455
STORAGE_MEDIAN = 0.10  # per GiB-month: of 0.10, 0.10, 0.17 (per GiB-hour × 730)
HOURS = 730


@pytest.fixture
def opencost() -> Iterator[SandboxOpenCost]:
    with SandboxOpenCost() as server:
        yield server


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prices_of(url: str, timeout: float = 2.0) -> Prices:
    with OpenCostClient(url, timeout=timeout) as client:
        return client.prices()


def test_prices_are_the_medians_over_nodes_and_volumes(opencost: SandboxOpenCost) -> None:
    prices = prices_of(opencost.url)
    assert prices.cpu_core_hour_usd == pytest.approx(CPU_MEDIAN)
    assert prices.memory_gib_hour_usd == pytest.approx(RAM_MEDIAN)
    assert prices.storage_gb_month_usd == pytest.approx(STORAGE_MEDIAN)
    assert prices.hours_per_month == HOURS
    where = opencost.url.removeprefix("http://")
    assert prices.basis == f"OpenCost at {where} (median of 5 nodes; storage: median of 3 volumes)"
    assert opencost.requests == ["/metrics"]


def test_a_change_set_priced_from_opencost_matches_a_hand_computation(opencost: SandboxOpenCost) -> None:
    before = [deployment(replicas=3, cpu="250m", memory="512Mi"), pvc(storage="10Gi")]

    def edit(d: Manifest) -> None:
        d["spec"]["replicas"] = 6
        container(d)["resources"] = {
            "requests": {"cpu": "500m", "memory": "1Gi"},
            "limits": {"memory": "1Gi"},
        }

    after = [changed(before[0], edit), pvc(storage="50Gi")]
    cost = estimate_cost(change_set(before, after), prices_of(opencost.url))
    deployment_delta = (
        6 * (0.5 * CPU_MEDIAN + 1 * RAM_MEDIAN) - 3 * (0.25 * CPU_MEDIAN + 0.5 * RAM_MEDIAN)
    ) * HOURS
    claim_delta = (50 - 10) * STORAGE_MEDIAN
    # (6 × $0.0138285 − 3 × $0.00691425) an hour × 730 = $45.43, and 40 GiB × $0.10 = $4.00
    assert cost.monthly_delta_usd == pytest.approx(deployment_delta + claim_delta, abs=0.01)
    assert cost.monthly_delta_usd == pytest.approx(49.43, abs=0.01)
    assert cost.basis.startswith("OpenCost at 127.0.0.1:")


def test_without_a_volume_price_storage_is_the_default_list_price() -> None:
    with SandboxOpenCost(volumes=()) as server:
        prices = prices_of(server.url)
    assert prices.storage_gb_month_usd == Prices().storage_gb_month_usd
    assert prices.basis.endswith("(median of 5 nodes; storage at the default list price)")


def test_a_url_ending_in_metrics_is_the_same_opencost(opencost: SandboxOpenCost) -> None:
    assert prices_of(f"{opencost.url}/metrics/").cpu_core_hour_usd == pytest.approx(CPU_MEDIAN)


def test_a_node_without_a_finite_price_is_left_out() -> None:
    nodes = (*MIXED_NODES[:2], Node("gke-shop-gpu-1", "a2-highgpu-1g", math.nan, math.nan))
    with SandboxOpenCost(nodes) as server:
        prices = prices_of(server.url)
    assert prices.cpu_core_hour_usd == pytest.approx(0.021811)
    assert "(median of 2 nodes;" in prices.basis


def test_an_unreachable_opencost_is_a_temporary_error_of_one_line() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(OpenCostUnavailable) as caught:
        prices_of(url)
    assert isinstance(caught.value, TemporaryError) and caught.value.retryable
    assert caught.value.message == f"OpenCost at {url} refused the connection"
    assert "\n" not in str(caught.value)


def test_a_server_error_is_temporary_and_the_next_attempt_succeeds(opencost: SandboxOpenCost) -> None:
    opencost.fail_next(503)
    with pytest.raises(OpenCostUnavailable) as caught:
        prices_of(opencost.url)
    assert caught.value.status == 503
    assert (
        caught.value.message == f"OpenCost at {opencost.url} answered /metrics with HTTP 503: injected fault"
    )
    assert prices_of(opencost.url).cpu_core_hour_usd == pytest.approx(CPU_MEDIAN)


def test_no_answer_in_time_is_temporary(opencost: SandboxOpenCost) -> None:
    opencost.delay = 1.0
    with pytest.raises(OpenCostUnavailable, match="did not answer in time"):
        prices_of(opencost.url, timeout=0.2)


@pytest.mark.parametrize(
    ("omit", "named"),
    [
        (("node_ram_hourly_cost",), "publishes no node_ram_hourly_cost (is the URL"),
        (
            ("node_cpu_hourly_cost", "node_ram_hourly_cost"),
            "publishes no node_cpu_hourly_cost and no node_ram_hourly_cost (",
        ),
    ],
)
def test_a_missing_node_price_is_a_permanent_error_naming_it(omit: tuple[str, ...], named: str) -> None:
    with SandboxOpenCost(omit=omit) as server, pytest.raises(OpenCostInvalid) as caught:
        prices_of(server.url)
    assert isinstance(caught.value, PermanentError) and not caught.value.retryable
    assert named in caught.value.message
    assert "\n" not in caught.value.message


def test_a_wrong_path_is_permanent(opencost: SandboxOpenCost) -> None:
    with pytest.raises(OpenCostInvalid) as caught:
        prices_of(f"{opencost.url}/model")
    assert caught.value.status == 404
    assert caught.value.message.endswith("answered /metrics with HTTP 404: 404 page not found")


def test_text_that_is_not_the_exposition_format_is_permanent() -> None:
    with pytest.raises(OpenCostInvalid, match="do not parse"):
        prices_from_metrics('node_cpu_hourly_cost{node="a"} not-a-number\n', "opencost:9003")
    with pytest.raises(OpenCostInvalid, match="publishes no node_cpu_hourly_cost"):
        prices_from_metrics("<!doctype html><html><body>OpenCost</body></html>\n", "opencost:9090")
