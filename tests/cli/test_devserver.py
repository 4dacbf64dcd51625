"""The embedded dev server is ready when `start()` returns: its frontend answers, not just its port."""

from __future__ import annotations

import asyncio
import time

import pytest
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client

from cli.devserver import DevServer, DevServerError, free_port, wait_for_frontend

# What the SDK raises while a dev server that listens already is still starting its frontend.
NOT_READY = 'Failed client connect: Status { code: Unavailable, message: "Frontend is not healthy yet" }'


class Frontend:
    """Answers with the errors given, in order, then serves."""

    def __init__(self, *errors: str) -> None:
        self.errors = list(errors)
        self.asked: list[str] = []

    async def __call__(self, address: str) -> None:
        self.asked.append(address)
        if self.errors:
            raise RuntimeError(self.errors.pop(0))


def test_a_frontend_that_is_not_ready_yet_is_asked_again_until_it_serves() -> None:
    frontend = Frontend(NOT_READY, NOT_READY)
    wait_for_frontend("127.0.0.1:7233", time.monotonic() + 10, frontend)
    assert frontend.asked == ["127.0.0.1:7233"] * 3


def test_past_the_deadline_the_not_ready_answer_is_the_error() -> None:
    with pytest.raises(DevServerError, match="frontend was not ready: .*not healthy yet"):
        wait_for_frontend("127.0.0.1:7233", time.monotonic(), Frontend(NOT_READY))


def test_any_other_failure_is_raised_at_once() -> None:
    frontend = Frontend("connection refused", NOT_READY)
    with pytest.raises(DevServerError, match="failed its first call: connection refused"):
        wait_for_frontend("127.0.0.1:7233", time.monotonic() + 10, frontend)
    assert len(frontend.asked) == 1


async def test_it_can_wait_from_inside_a_running_event_loop() -> None:
    # The embedded stack starts its server from a coroutine (through a thread); a test fixture may too.
    wait_for_frontend("127.0.0.1:7233", time.monotonic() + 10, Frontend(NOT_READY))
    assert asyncio.get_running_loop().is_running()


async def test_a_started_dev_server_answers_its_first_client_at_once() -> None:
    with DevServer(port=free_port(), ui_port=None) as server:
        client = await Client.connect(server.address)
        info = await client.workflow_service.get_system_info(GetSystemInfoRequest())
        assert info.server_version
