"""bench/notification.py runs on a tiny load, so that it cannot rot between measurements."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_a_tiny_run_prints_every_step_hot_and_after_a_pause() -> None:
    command = [sys.executable, "bench/notification.py", "--count", "10", "--pause-ms", "0.5"]
    run = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    out = run.stdout
    assert re.search(r"step +hot +after 0\.5 ms", out), out
    for step in ("redact_group", "parse_json", "validate", "clip_group", "remediation_input_for", "whole"):
        assert re.search(rf"^{step} +\d+\.\d{{3}} +\d+\.\d{{3}}$", out, re.M), (step, out)
