"""The worker's and gateway's logs are JSON lines carrying the incident, with secrets redacted."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import logging
import uuid

from temporalio import activity
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Worker

from cli.logs import JsonFormatter
from integrations.temporal.client import CORE_LOGGER, default_runtime
from tests.conftest import venv_binary
from tests.domain import redaction_corpus as c


def capture() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(f"test-json-{uuid.uuid4()}")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger, stream


def test_activity_log_line_names_its_incident_and_hides_secrets() -> None:
    logger, stream = capture()
    adapter = activity.LoggerAdapter(logger, None)

    def activity_that_logs() -> None:
        adapter.warning("retrying with token=%s", c.VAULT.secret, extra={"target": "shop/Deployment/cart"})

    environment = ActivityEnvironment()
    environment.info = dataclasses.replace(
        environment.info, workflow_id="incident-alert-abc", activity_type="execute_plan"
    )
    environment.run(activity_that_logs)

    line = json.loads(stream.getvalue())
    assert line["incident"] == "incident-alert-abc"
    assert line["activity_type"] == "execute_plan"
    assert line["level"] == "warning" and line["target"] == "shop/Deployment/cart"
    assert c.VAULT.secret not in stream.getvalue() and "[REDACTED:" in line["msg"]


def test_plain_log_line_is_one_json_object_with_its_exception() -> None:
    logger, stream = capture()
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("gateway failed")
    line = json.loads(stream.getvalue())
    assert line["msg"] == "gateway failed" and "ValueError: boom" in line["exception"]
    assert "incident" not in line


async def test_the_sdk_cores_warnings_are_json_lines_of_the_temporalio_core_logger() -> None:
    """The runtime every medic client uses forwards the core's warnings to Python logging (the
    core would otherwise print them as coloured text); the time-skipping server advertises none of
    the capabilities a worker with activities checks, so starting one draws a core warning."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    core = logging.getLogger(CORE_LOGGER)
    core.addHandler(handler)
    env = await WorkflowEnvironment.start_time_skipping(
        runtime=default_runtime(), test_server_existing_path=venv_binary("temporal-test-server")
    )
    try:
        async with Worker(env.client, task_queue=f"logs-{uuid.uuid4()}", activities=[_noop]):
            for _ in range(50):
                if stream.getvalue():
                    break
                await asyncio.sleep(0.1)
    finally:
        core.removeHandler(handler)
        await env.shutdown()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines, "no core log line was forwarded"
    assert all(line["logger"] == CORE_LOGGER for line in lines)
    assert any(line["level"] == "warning" and "sdk_core" in line["msg"] for line in lines), lines


@activity.defn
async def _noop() -> None:
    return None
