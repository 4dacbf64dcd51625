"""The static checks (lint, format, layers, types) as background processes.

They take half a minute of CPU (mypy most of it) and read no test's state, so a session that
collects `tests/test_code_quality.py` starts them as soon as collection ends (`tests/conftest.py`),
niced, beside the tests that wait on servers and timers; the test then only waits for each result.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

CHECKS: dict[str, list[str]] = {
    "ruff-check": ["ruff", "check", "."],
    "ruff-format": ["ruff", "format", "--check", "."],
    "import-layers": ["lint-imports"],
    "mypy": ["mypy"],
}
TIMEOUT_SECONDS = 300

_started: dict[str, subprocess.Popen[str]] = {}


def start() -> None:
    """Start every check not yet started (a second call starts nothing)."""
    for name, command in CHECKS.items():
        if name not in _started:
            _started[name] = subprocess.Popen(
                # niced: the tests come first
                ["nice", "-n", "10", str(BIN / command[0]), *command[1:]],
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )


def result(name: str) -> tuple[int, str]:
    """The check's exit code and output, started now if it was not yet."""
    start()
    process = _started[name]
    output, _ = process.communicate(timeout=TIMEOUT_SECONDS)
    return process.returncode, output


def stop() -> None:
    """Kill checks still running (a session that ended before it read them)."""
    for process in _started.values():
        if process.poll() is None:
            process.kill()
            process.wait()
