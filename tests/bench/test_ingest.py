"""bench/ingest.py runs end to end on a tiny load, so that it cannot rot between measurements."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def test_a_tiny_run_prints_both_ratios_their_verdicts_and_the_floor() -> None:
    command = [sys.executable, "bench/ingest.py", "--alerts", "6", "--concurrency", "3"]
    command += ["--latency-alerts", "3", "--runs", "1"]
    run = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-2000:]
    out = run.stdout
    # Against the Temporal the embedded stack runs: the dev server with its history in a file.
    assert re.search(r"Temporal dev server 127\.0\.0\.1:\d+ \(history in a SQLite file\)", out), out
    assert re.search(r"round 1  c=3 +webhook +6 alerts", out), out
    assert re.search(r"round 1  c=1 +client +3 alerts", out), out
    # The bare forwarder takes its turn at concurrency 1 only.
    assert re.search(r"round 1  c=1 +floor +3 alerts", out), out
    assert not re.search(r"round 1  c=3 +floor", out), out
    assert re.search(r"HTTP floor: GET /healthz p50 \d+\.\d+ ms", out), out
    assert re.search(r"throughput ratio at concurrency 3: \d+\.\d+ \(target ≥ 0\.9: (met|NOT met)\)", out), (
        out
    )
    assert re.search(r"p50 ratio at concurrency 1: \d+\.\d+ \(target ≤ 1\.25: (met|NOT met)\)", out), out
    assert re.search(
        r"floor: a bare forwarder making the same call \(bench/forwarder\.py\), p50 ratio \d+\.\d+; "
        r"the gateway's own work beyond it: -?\d+\.\d+ ms at p50",
        out,
    ), out
