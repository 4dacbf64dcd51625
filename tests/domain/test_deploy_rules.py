"""The deploy watch's decision: each rule at, just below and just above its threshold; the traffic
floor; missing data; health; several workloads; early decisions at a sample; the watch's id."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from domain.deploy.model import DeployEvent, Signals, Verdict, WatchRules, WorkloadRef, deploy_watch_id
from domain.deploy.rules import judge, judge_sample

CART = WorkloadRef(namespace="shop", kind="Deployment", name="cart")
WEB = WorkloadRef(namespace="shop", kind="Deployment", name="web")
RULES = WatchRules()
QUIET: dict[str, float] = {
    "request_rate": 5.0,
    "error_ratio": 0.001,
    "p99_ms": 200.0,
    "restarts": 0.0,
    "ready_ratio": 1.0,
    "oom_kills": 0.0,
}
DEPLOY = DeployEvent(
    application="shop-cart",
    app_namespace="argocd",
    project="shop",
    revision="abc1234def5678901234",
    previous_revision="0123456789",
    synced_at=datetime(2026, 12, 4, 12, 0, tzinfo=UTC),
    source="notification",
    delivery="d-1",
)


def signals(**changes: Any) -> Signals:
    return Signals.model_validate({**QUIET, **changes})


def one(
    before: Signals | None = None,
    after: Signals | None = None,
    *,
    rules: WatchRules = RULES,
    new: bool = False,
    **kw: Any,
) -> Verdict:
    """The verdict on CART alone; `new`: it had no baseline (the deploy created it)."""
    return judge({} if new else {CART: before or signals()}, {CART: after or signals()}, rules, **kw)


def fired(verdict: Verdict) -> list[str]:
    return [f.rule for f in verdict.fired]


def test_a_deploy_that_changes_nothing_is_healthy() -> None:
    verdict = one(deploy=DEPLOY)
    assert (verdict.state, verdict.fired, verdict.notes) == ("healthy", [], [])
    assert (
        verdict.summary
        == "deploy abc1234 of shop-cart is healthy: no rule fired on 1 workload in the 10 min after the sync"
    )
    assert verdict.figures[0].baseline == signals() and verdict.figures[0].state == "healthy"


# --- error ratio: ≥3× the baseline AND ≥1% -----------------------------------------------------


@pytest.mark.parametrize(
    ("was", "now", "fires"),
    [
        (0.004, 0.012, True),  # exactly 3× and above 1%
        (0.004, 0.0119, False),  # just below 3×
        (0.004, 0.0121, True),
        (0.001, 0.01, True),  # exactly 1% and above 3×
        (0.001, 0.0099, False),  # just below 1%
        (0.001, 0.0101, True),
        (0.02, 0.05, False),  # above 1% but only 2.5×
        (0.0, 0.01, True),  # from nothing: only the absolute threshold counts
    ],
)
def test_error_ratio_fires_at_three_times_and_one_percent(was: float, now: float, fires: bool) -> None:
    verdict = one(signals(error_ratio=was), signals(error_ratio=now))
    assert fired(verdict) == (["error_ratio"] if fires else [])
    assert verdict.state == ("degraded" if fires else "healthy")


def test_an_error_ratio_rule_explains_itself_in_one_line() -> None:
    verdict = one(signals(error_ratio=0.001), signals(error_ratio=0.021), deploy=DEPLOY)
    (rule,) = verdict.fired
    assert rule.message == "error ratio 2.10% vs 0.10% before (21.0×; rule: ≥3× and ≥1.00%)"
    assert (rule.baseline, rule.observed, rule.threshold, rule.workload) == (
        0.001,
        0.021,
        "≥3× and ≥1.00%",
        CART,
    )
    assert verdict.summary == "deploy abc1234 of shop-cart made the error ratio 21.0× worse (2.10% vs 0.10%)"


def test_an_error_ratio_from_zero_says_so_without_a_factor() -> None:
    verdict = one(signals(error_ratio=0.0), signals(error_ratio=0.05))
    assert verdict.fired[0].message == "error ratio 5.00% vs 0.00% before (rule: ≥3× and ≥1.00%)"
    assert verdict.summary == "the deploy raised the error ratio to 5.00% from 0.00%"


# --- p99: ≥1.5× the baseline AND ≥100 ms slower ------------------------------------------------


@pytest.mark.parametrize(
    ("was", "now", "fires"),
    [
        (300.0, 450.0, True),  # exactly 1.5× and +150 ms
        (300.0, 449.0, False),
        (300.0, 451.0, True),
        (100.0, 200.0, True),  # exactly +100 ms and 2×
        (100.0, 199.0, False),
        (100.0, 201.0, True),
        (20.0, 90.0, False),  # 4.5× but only +70 ms
        (1000.0, 1400.0, False),  # +400 ms but only 1.4×
    ],
)
def test_p99_fires_at_one_and_a_half_times_and_100_ms_slower(was: float, now: float, fires: bool) -> None:
    assert fired(one(signals(p99_ms=was), signals(p99_ms=now))) == (["p99_latency"] if fires else [])


def test_a_p99_rule_explains_itself_and_leads_the_summary() -> None:
    verdict = one(signals(p99_ms=200.0), signals(p99_ms=480.0), deploy=DEPLOY)
    assert verdict.fired[0].message == "p99 480 ms vs 200 ms before (2.4×, +280 ms; rule: ≥1.5× and ≥+100 ms)"
    assert verdict.summary == "deploy abc1234 of shop-cart made p99 2.4× worse (480 ms vs 200 ms)"


# --- the traffic floor -------------------------------------------------------------------------


@pytest.mark.parametrize(("rate", "judged"), [(0.1, True), (0.099, False), (0.11, True), (0.0, False)])
def test_error_and_latency_are_judged_only_at_or_above_the_traffic_floor(rate: float, judged: bool) -> None:
    bad = signals(request_rate=rate, error_ratio=0.5, p99_ms=5000.0)
    verdict = one(signals(), bad)
    assert fired(verdict) == (["error_ratio", "p99_latency"] if judged else [])
    if not judged:
        assert verdict.state == "healthy"  # restarts, OOM kills and readiness were still judged
        assert verdict.notes[0].startswith(
            "too little traffic to judge error ratio / latency of shop/Deployment/cart"
        )
        assert "too little traffic" in verdict.summary


def test_the_floor_is_on_the_window_after_the_sync_not_the_baseline() -> None:
    assert fired(one(signals(request_rate=0.0), signals(error_ratio=0.5))) == ["error_ratio"]


def test_no_request_rate_leaves_error_and_latency_unjudged() -> None:
    verdict = one(signals(), signals(request_rate=None, error_ratio=0.5))
    assert fired(verdict) == []
    assert verdict.notes == ["no request rate for shop/Deployment/cart: error ratio / latency not judged"]


def test_the_floor_comes_from_the_rules() -> None:
    rules = WatchRules(min_request_rate=10.0)
    assert fired(one(signals(), signals(error_ratio=0.5), rules=rules)) == []


# --- crash loop and OOM kills ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("was", "now", "fires"), [(0, 2, True), (0, 1, False), (0, 3, True), (4, 5, False), (4, 6, True)]
)
def test_a_crash_loop_is_two_more_restarts_than_before(was: float, now: float, fires: bool) -> None:
    verdict = one(signals(restarts=was), signals(restarts=now))
    assert fired(verdict) == (["crash_loop"] if fires else [])


@pytest.mark.parametrize(
    ("was", "now", "fires"), [(0, 1, True), (0, 0, False), (0, 2, True), (1, 1, False), (1, 2, True)]
)
def test_any_new_oom_kill_fires(was: float, now: float, fires: bool) -> None:
    assert fired(one(signals(oom_kills=was), signals(oom_kills=now))) == (["oom_kill"] if fires else [])


def test_a_crash_loop_says_its_counts_and_names_the_workload() -> None:
    verdict = one(signals(restarts=0), signals(restarts=5), deploy=DEPLOY)
    assert verdict.fired[0].message == (
        "5 container restarts after the sync vs 0 in the 10 min before (rule: at least 2 more restarts)"
    )
    assert (
        verdict.summary
        == "deploy abc1234 of shop-cart put cart in a crash loop (5 restarts after the sync, 0 before)"
    )


def test_a_new_workload_counts_its_restarts_and_oom_kills_from_zero() -> None:
    verdict = one(None, signals(restarts=3, oom_kills=1, error_ratio=0.5), new=True)
    assert fired(verdict) == ["crash_loop", "oom_kill"]  # the error ratio has nothing to compare with
    assert "no data to judge error ratio, p99 latency, readiness of shop/Deployment/cart" in verdict.notes


# --- readiness ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("was", "now", "fires"), [(1.0, 0.75, True), (1.0, 0.76, False), (1.0, 0.74, True), (0.5, 0.5, False)]
)
def test_readiness_fires_at_25_points_lower(was: float, now: float, fires: bool) -> None:
    verdict = one(signals(ready_ratio=was), signals(ready_ratio=now))
    assert fired(verdict) == (["readiness"] if fires else [])
    if fires:
        assert verdict.fired[0].message.startswith(f"ready ratio {now * 100:.0f}% vs 100% before (")


# --- health ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("health", "fires"), [("Degraded", True), ("Healthy", False), ("Progressing", False), ("Missing", False)]
)
def test_only_degraded_health_fires(health: str, fires: bool) -> None:
    verdict = one(health=health, deploy=DEPLOY)
    assert fired(verdict) == (["health_degraded"] if fires else [])
    assert verdict.health == health
    if fires:
        assert verdict.fired[0].workload is None
        assert verdict.summary == "deploy abc1234 of shop-cart left the Application Degraded in Argo CD"


def test_degraded_health_fires_without_any_signal() -> None:
    verdict = judge({}, {}, RULES, "Degraded")
    assert (verdict.state, fired(verdict)) == ("degraded", ["health_degraded"])


# --- missing data ------------------------------------------------------------------------------


def test_no_data_at_all_is_inconclusive_with_the_reason() -> None:
    verdict = judge({CART: Signals()}, {CART: Signals()}, RULES, deploy=DEPLOY)
    assert verdict.state == "inconclusive"
    assert (
        verdict.summary
        == "deploy abc1234 of shop-cart is inconclusive: no signals for shop/Deployment/cart after the sync"
    )
    assert verdict.figures[0].state == "inconclusive"


def test_no_workloads_is_inconclusive() -> None:
    verdict = judge({}, {}, RULES)
    assert (verdict.state, verdict.notes) == ("inconclusive", ["no changed workloads to judge"])


def test_a_rule_missing_data_on_one_side_does_not_fire_but_others_judge() -> None:
    verdict = one(signals(error_ratio=None), signals(error_ratio=0.9))
    assert verdict.state == "healthy"
    assert verdict.notes == ["no data to judge error ratio of shop/Deployment/cart"]


def test_too_little_traffic_and_no_counters_is_inconclusive() -> None:
    only_traffic = Signals(request_rate=0.01, error_ratio=0.5, p99_ms=900.0)
    verdict = judge({CART: only_traffic}, {CART: only_traffic}, RULES)
    assert verdict.state == "inconclusive"
    assert "too little traffic to judge error ratio / latency" in verdict.summary


def test_nan_is_no_data_and_out_of_range_values_are_refused() -> None:
    assert Signals(error_ratio=float("nan")).error_ratio is None
    with pytest.raises(ValidationError):
        Signals(error_ratio=1.5)
    with pytest.raises(ValidationError):
        Signals(p99_ms=-1.0)
    with pytest.raises(ValidationError):
        Signals(p99_ms=float("inf"))


# --- several workloads -------------------------------------------------------------------------


def test_the_worst_rule_leads_and_every_fired_rule_is_listed() -> None:
    baseline = {CART: signals(), WEB: signals()}
    after = {
        CART: signals(error_ratio=0.02, p99_ms=480.0),  # 20×, 2.4×
        WEB: signals(error_ratio=0.05, restarts=4),  # 50×, a crash loop
    }
    verdict = judge(baseline, after, RULES, deploy=DEPLOY)
    assert [(f.rule, f.workload.name if f.workload else "") for f in verdict.fired] == [
        ("crash_loop", "web"),
        ("error_ratio", "web"),
        ("error_ratio", "cart"),
        ("p99_latency", "cart"),
    ]
    assert verdict.summary.startswith("deploy abc1234 of shop-cart put web in a crash loop")
    assert verdict.summary.endswith("(and 3 more rules fired)")
    assert [(f.workload.name, f.state) for f in verdict.figures] == [
        ("cart", "degraded"),
        ("web", "degraded"),
    ]


def test_one_degraded_workload_makes_the_deploy_degraded_and_the_summary_names_it() -> None:
    verdict = judge({CART: signals(), WEB: signals()}, {CART: signals(), WEB: signals(p99_ms=600.0)}, RULES)
    assert verdict.state == "degraded"
    assert verdict.summary == "the deploy made p99 of web 3.0× worse (600 ms vs 200 ms)"
    assert [f.state for f in verdict.figures] == ["healthy", "degraded"]


def test_a_workload_without_data_beside_a_judged_one_is_a_note_on_a_healthy_verdict() -> None:
    verdict = judge({CART: signals()}, {CART: signals(), WEB: Signals()}, RULES)
    assert verdict.state == "healthy"
    assert verdict.notes == ["no signals for shop/Deployment/web after the sync"]


def test_the_verdict_does_not_depend_on_the_order_of_workloads() -> None:
    after = {WEB: signals(error_ratio=0.05), CART: signals(error_ratio=0.05)}
    first = judge({CART: signals(), WEB: signals()}, after, RULES)
    second = judge({WEB: signals(), CART: signals()}, dict(reversed(after.items())), RULES)
    assert first == second
    assert [f.workload.name for f in first.fired if f.workload] == ["cart", "web"]


# --- early decisions ---------------------------------------------------------------------------


def test_a_sample_decides_early_on_a_crash_loop_an_oom_kill_or_degraded_health() -> None:
    baseline = {CART: signals()}
    assert judge_sample(baseline, {CART: signals()}, RULES) is None
    crash = judge_sample(baseline, {CART: signals(restarts=2)}, RULES)
    assert crash is not None and fired(crash) == ["crash_loop"]
    oom = judge_sample(baseline, {CART: signals(oom_kills=1)}, RULES)
    assert oom is not None and fired(oom) == ["oom_kill"]
    degraded = judge_sample(baseline, {CART: signals()}, RULES, "Degraded")
    assert degraded is not None and degraded.state == "degraded"


def test_a_sample_leaves_error_latency_and_readiness_to_the_window() -> None:
    bad = signals(error_ratio=0.5, p99_ms=5000.0, ready_ratio=0.0)
    assert judge_sample({CART: signals()}, {CART: bad}, RULES) is None
    assert fired(judge({CART: signals()}, {CART: bad}, RULES)) == ["error_ratio", "p99_latency", "readiness"]


# --- the rules and the watch's id --------------------------------------------------------------


def test_the_rules_default_to_the_issues_numbers() -> None:
    assert RULES.model_dump() == {
        "analysis_window_seconds": 600,
        "baseline_window_seconds": 600,
        "sample_interval_seconds": 60,
        "min_request_rate": 0.1,
        "error_ratio_factor": 3.0,
        "error_ratio_min": 0.01,
        "p99_factor": 1.5,
        "p99_increase_ms": 100.0,
        "crash_loop_restarts": 2,
        "oom_kills": 1,
        "ready_ratio_drop": 0.25,
    }


def test_rules_refuse_a_sample_interval_longer_than_the_window() -> None:
    with pytest.raises(ValidationError, match="sample_interval_seconds"):
        WatchRules(analysis_window_seconds=60, sample_interval_seconds=120)


def test_one_watch_per_application_and_revision() -> None:
    assert (
        deploy_watch_id("argocd", "shop-cart", "abc1234def5678901234")
        == "deploy/argocd/shop-cart/abc1234def56"
    )
    polled = DEPLOY.model_copy(update={"source": "poll", "delivery": "poll-7"})
    assert polled.watch_id == DEPLOY.watch_id == "deploy/argocd/shop-cart/abc1234def56"
