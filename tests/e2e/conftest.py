"""The embedded stack on the session's dev server, as the end-to-end tests use it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio

from cli.devserver import DevServer, free_port
from cli.embedded import Stack, embedded_stack
from domain.settings import Settings


@pytest_asyncio.fixture
async def make_stack(dev_server: DevServer, tmp_path: Path) -> AsyncIterator[Any]:
    stacks: list[Any] = []

    async def make(scenario: Path, **overrides: Any) -> Stack:
        settings = Settings(
            home=str(tmp_path / f".medic-{len(stacks)}"),
            temporal_address=dev_server.address,
            task_queue=f"e2e-{uuid.uuid4()}",
            webhook_token="e2e-token",
            verify_interval_seconds=1,
            verify_timeout_seconds=60,
            incident_cooldown_seconds=0,  # the workflow closes with its outcome, so result() returns
        ).model_copy(update=overrides)
        context = embedded_stack(settings, scenario, gateway_port=free_port(), ui_port=None)
        stack = await context.__aenter__()
        stacks.append(context)
        return stack

    yield make
    for context in reversed(stacks):
        await context.__aexit__(None, None, None)
