"""bench/review.py runs end to end on one Application and one pull request, so that it cannot rot
between measurements."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from bench import review
from cli.devserver import DevServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def no_medic_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("MEDIC_HOME", "TEMPORAL_ADDRESS", "DATABASE_URL", "MEDIC_ARGOCD_URL", "MEDIC_GITOPS_REPO"):
        monkeypatch.delenv(name, raising=False)
    yield


def test_a_tiny_run_reviews_the_pull_request_beside_the_rendering_alone(
    no_medic_settings: None, dev_server: DevServer, capsys: pytest.CaptureFixture[str]
) -> None:
    (row,) = review.main(["--apps", "1", "--repeats", "1", "--warmup", "0", "--temporal", dev_server.address])

    out = capsys.readouterr().out
    assert row.problems == []
    assert row.objects_changed == 1 and row.decision == "allow"
    assert row.monthly_delta_usd == pytest.approx(review.expected_cost(1), rel=0.01)
    assert 0 < row.render[0] < row.review[0] < 30
    assert set(row.activities) == {"find_affected_applications", "review_change", "publish_review"}
    assert 0 < row.activities["review_change"][0] < row.review[0]
    assert re.search(
        r"^ +1 +1 +allow +\d+\.\d{3} +\d+\.\d{3} +\d+\.\d{3} +\d+\.\d{3} +\d+\.\d\d +\d+\.\d$", out, re.M
    ), out
    assert re.search(r"^ +1 +\d+\.\d{3} +\d+\.\d{3} +\d+\.\d{3} +-?\d+\.\d{3}$", out, re.M), out
