"""bench/deploy_watch.py runs end to end on three watches beside one, so that it cannot rot between
measurements."""

from __future__ import annotations

import re

import pytest

from bench import deploy_watch
from cli.devserver import DevServer

pytestmark = pytest.mark.e2e


def test_a_tiny_run_measures_the_worker_beside_the_baseline(
    dev_server: DevServer, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline, watched = deploy_watch.main(
        ["--watches", "3", "--baseline", "1", "--window", "2", "--sample", "1", "--runs", "1"]
        + ["--temporal", dev_server.address]
    )

    out = capsys.readouterr().out
    for (run,), watches in ((baseline, 1), (watched, 3)):
        assert run.watches == watches and run.problems == ()
        # every verdict comes at the end of the 2 s window, none before it
        assert 2 <= run.verdict_seconds < 30 and 0 < run.start_seconds < run.verdict_seconds
        assert run.cpu_seconds > 0 and 0 < run.idle_rss <= run.peak_rss and run.steady_rss <= run.peak_rss
    assert re.search(r"^median of 1 run +1 watch +3 watches$", out, re.M), out
    assert re.search(r"^worker RSS peak \(MB\) +\d+\.\d\d +\d+\.\d\d$", out, re.M), out
