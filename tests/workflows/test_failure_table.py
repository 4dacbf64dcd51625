"""The README's "Failure behaviour" table says what the code does: each row's timeouts, heartbeat,
attempts, backoff and time to give up are those of its options in
workflows/remediation/options.py, and its activities are exactly the stubs that use them."""

from __future__ import annotations

import re
from datetime import timedelta

from tests.conftest import REPO
from workflows.remediation import options, stubs
from workflows.runner import StepOptions, stubs_of

COLUMNS = [
    "step",
    "activities",
    "options",
    "per attempt",
    "heartbeat timeout",
    "attempts",
    "backoff up to",
    "gives up after",
    "what it survives",
]


def table() -> list[dict[str, str]]:
    text = (REPO / "README.md").read_text()
    section = text.split("\n## Failure behaviour\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header == COLUMNS
    return [
        dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True)) for line in lines[2:]
    ]


def seconds(value: timedelta | None) -> str:
    return "—" if value is None else f"{value.total_seconds():g} s"


def backoff_cap(step: StepOptions) -> timedelta:
    # Temporal's default cap is 100 times the first interval.
    retry = step.retry
    return retry.maximum_interval or retry.initial_interval * 100


def gives_up_after(step: StepOptions) -> str:
    """How long the step retries a dependency that fails at once: the sum of its backoffs."""
    retry = step.retry
    if step.schedule_to_close is not None:
        return seconds(step.schedule_to_close)
    if retry.maximum_attempts == 0:
        return "never"
    interval, total = retry.initial_interval, timedelta(0)
    for _ in range(retry.maximum_attempts - 1):
        total += min(interval, backoff_cap(step))
        interval *= retry.backoff_coefficient
    return seconds(total)


def test_each_row_has_the_numbers_of_its_options() -> None:
    rows = table()
    assert len(rows) >= 16
    for row in rows:
        step = getattr(options, row["options"].strip("`"))
        assert isinstance(step, StepOptions), row["step"]
        attempts = step.retry.maximum_attempts
        said = {k: row[k] for k in COLUMNS[3:8]}
        assert said == {
            "per attempt": seconds(step.timeout),
            "heartbeat timeout": seconds(step.heartbeat),
            "attempts": str(attempts) if attempts else "unbounded",
            "backoff up to": seconds(backoff_cap(step)),
            "gives up after": gives_up_after(step),
        }, row["step"]
        assert row["what it survives"], row["step"]


def test_each_row_names_exactly_the_activities_that_use_its_options() -> None:
    rows = table()
    named: list[str] = []
    for row in rows:
        step = getattr(options, row["options"].strip("`"))
        listed = re.findall(r"`([a-z_]+)`", row["activities"])
        assert sorted(listed) == sorted(s.name for s in stubs_of(stubs) if s.options is step), row["step"]
        named += listed
    # Every activity the remediation workflow calls is in the table, once.
    assert sorted(named) == sorted(s.name for s in stubs_of(stubs))
