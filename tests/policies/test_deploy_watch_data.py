"""The deploy watch's rules in policy data: shipped defaults, per-Application overrides, and bad
data refused when the policy is loaded, in one line naming the key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from domain.deploy.model import WatchRules
from policies import POLICY_DIR, PolicyError, check_deploy_watch, deploy_watch_rules, load_policy_data


def with_watch(tmp_path: Path, section: Any) -> Path:
    """A policy directory of data alone (the shipped rules decide) with this deploy_watch section."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    data = json.loads((POLICY_DIR / "data.json").read_text())
    data["medic"]["config"]["deploy_watch"] = section
    (tmp_path / "data.json").write_text(json.dumps(data))
    return tmp_path


def test_the_shipped_data_holds_the_rules_defaults() -> None:
    section = load_policy_data()["medic"]["config"]["deploy_watch"]
    assert section == {"defaults": WatchRules().model_dump(), "applications": {}}
    assert deploy_watch_rules("shop-cart", "argocd") == WatchRules()


def test_data_without_the_section_gets_the_models_defaults(tmp_path: Path) -> None:
    data = json.loads((POLICY_DIR / "data.json").read_text())
    del data["medic"]["config"]["deploy_watch"]
    (tmp_path / "data.json").write_text(json.dumps(data))
    assert deploy_watch_rules("shop-cart", "argocd", tmp_path) == WatchRules()


def test_overrides_by_name_then_by_namespace_and_name_win_key_by_key(tmp_path: Path) -> None:
    directory = with_watch(
        tmp_path,
        {
            "defaults": {"analysis_window_seconds": 900, "p99_factor": 2},
            "applications": {
                "shop-cart": {"p99_factor": 1.2, "min_request_rate": 1},
                "team-a/shop-cart": {"min_request_rate": 5},
            },
        },
    )
    in_team_a = deploy_watch_rules("shop-cart", "team-a", directory)
    assert (in_team_a.analysis_window_seconds, in_team_a.p99_factor, in_team_a.min_request_rate) == (
        900,
        1.2,
        5,
    )
    elsewhere = deploy_watch_rules("shop-cart", "argocd", directory)
    assert (elsewhere.p99_factor, elsewhere.min_request_rate) == (1.2, 1)
    other = deploy_watch_rules("billing", "team-a", directory)
    assert (other.analysis_window_seconds, other.p99_factor, other.min_request_rate) == (900, 2, 0.1)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ([], r"medic\.config\.deploy_watch must be an object"),
        ({"default": {}}, r"deploy_watch has unknown key\(s\) default; it takes defaults and applications"),
        ({"defaults": {"window": 60}}, r"deploy_watch\.defaults has unknown key\(s\) window; it takes "),
        (
            {"defaults": {"p99_factor": -1}},
            r"deploy_watch\.defaults\.p99_factor is -1; it must be a number, 0 or more",
        ),
        ({"defaults": {"p99_factor": "2"}}, r"p99_factor is '2'; it must be a number"),
        ({"defaults": {"error_ratio_min": True}}, r"error_ratio_min is True"),
        (
            {"defaults": {"analysis_window_seconds": 600.5}},
            r"analysis_window_seconds is 600\.5; it must be a whole number, 0 or more",
        ),
        (
            {"defaults": {"analysis_window_seconds": 0}},
            r"deploy_watch\.defaults: analysis_window_seconds: .*greater than 0",
        ),
        (
            {"defaults": {"error_ratio_min": 2}},
            r"deploy_watch\.defaults: error_ratio_min: .*less than or equal to 1",
        ),
        ({"applications": []}, r"deploy_watch\.applications must be an object"),
        ({"applications": {"Shop Cart": {}}}, r"applications has the key 'Shop Cart', which is neither"),
        ({"applications": {"a/b/c": {}}}, r"applications has the key 'a/b/c'"),
        ({"applications": {"cart": {"oom_kills": -2}}}, r"applications\['cart'\]\.oom_kills is -2"),
        ({"applications": {"cart": {"typo": 1}}}, r"applications\['cart'\] has unknown key\(s\) typo"),
        (
            {
                "defaults": {"analysis_window_seconds": 120},
                "applications": {"argocd/cart": {"sample_interval_seconds": 300}},
            },
            r"applications\['argocd/cart'\]: .*sample_interval_seconds \(300\) is longer than "
            r"analysis_window_seconds \(120\)",
        ),
    ],
)
def test_bad_deploy_watch_data_is_refused_when_loaded_in_one_line(
    tmp_path: Path, section: Any, message: str
) -> None:
    directory = with_watch(tmp_path, section)
    with pytest.raises(PolicyError, match=message) as raised:
        deploy_watch_rules("cart", "argocd", directory)
    assert "\n" not in str(raised.value)
    assert str(directory / "data.json") in str(raised.value)


def test_bad_deploy_watch_data_stops_every_policy_use(tmp_path: Path) -> None:
    directory = with_watch(tmp_path, {"defaults": {"p99_factor": -1}})
    with pytest.raises(PolicyError, match="p99_factor"):
        load_policy_data(directory)


def test_check_deploy_watch_accepts_absent_and_empty_sections() -> None:
    check_deploy_watch({})
    check_deploy_watch({"medic": {"config": {}}})
    check_deploy_watch({"medic": {"config": {"deploy_watch": {}}}})
