"""deploy/grafana/medic-dashboard.json is a loadable Grafana dashboard over medic's own metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.conftest import REPO

DASHBOARD = REPO / "deploy" / "grafana" / "medic-dashboard.json"
# What the gateway's /metrics exposes (tests/gateway/test_metrics.py asserts the families).
MEDIC_METRICS = {
    "medic_incidents_total",
    "medic_incidents_open",
    "medic_approvals_pending",
    "medic_approval_pending_age_seconds",
    "medic_time_to_decision_seconds_bucket",
    "medic_time_to_resolve_seconds_bucket",
    "medic_activity_failures_total",
    "medic_store_up",
    "medic_drift_applications",
    "medic_drift_oldest_seconds",
    "medic_drift_scan_duration_seconds",
    "medic_drift_resources_scanned",
    "medic_drift_last_scan_timestamp_seconds",
}


def load() -> dict[str, object]:
    return dict(json.loads(Path(DASHBOARD).read_text()))


def test_dashboard_has_the_shape_grafana_loads() -> None:
    dashboard = load()
    assert isinstance(dashboard["uid"], str) and dashboard["title"]
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["schemaVersion"] >= 30
    panels = dashboard["panels"]
    assert isinstance(panels, list) and panels
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for p in panels:
        grid = p["gridPos"]
        assert {"x", "y", "w", "h"} <= grid.keys() and grid["x"] >= 0 and grid["x"] + grid["w"] <= 24
        assert p["type"] in {"stat", "timeseries", "piechart", "table", "gauge", "bargraph"}
        assert p["targets"] and all(t["expr"] and t["refId"] for t in p["targets"])
        assert p["datasource"]["uid"] == "${datasource}"
    names = [v["name"] for v in dashboard["templating"]["list"]]  # type: ignore[index]
    assert "datasource" in names


def test_every_medic_metric_charted_is_one_the_gateway_exposes() -> None:
    exprs = " ".join(t["expr"] for p in load()["panels"] for t in p["targets"])  # type: ignore[attr-defined]
    charted = set(re.findall(r"\bmedic_[a-z_]+", exprs))
    assert charted <= MEDIC_METRICS, charted - MEDIC_METRICS
    assert {"medic_approvals_pending", "medic_time_to_resolve_seconds_bucket"} <= charted
