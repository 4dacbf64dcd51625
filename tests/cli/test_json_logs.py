"""The worker's and gateway's logs are JSON lines carrying the incident, with secrets redacted."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import uuid

from temporalio import activity
from temporalio.testing import ActivityEnvironment

from cli.logs import JsonFormatter
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
