"""The one-line reasons: whatever text they are made from, one line an operator can read first."""

from __future__ import annotations

import pytest

from domain.incident.reason import (
    MAX_REASON,
    TOO_LARGE,
    model_unusable_reason,
    one_line,
    reason_line,
    step_failure_reason,
    step_label,
)

TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/app/activities/observe.py", line 660, in observe_incident\n'
    "    observation = build_observation(\n"
    + "    ...\n" * 80
    + "urllib3.exceptions.NewConnectionError: boom"
)


def test_one_line_folds_every_run_of_whitespace_and_strips() -> None:
    assert one_line("  the API\n\trefused   the\r\nconnection \n") == "the API refused the connection"


def test_one_line_cuts_long_text_with_an_ellipsis_within_the_limit() -> None:
    line = one_line("x" * 1000)
    assert len(line) == MAX_REASON and line.endswith("…")
    assert one_line("a" * 10, limit=5) == "aaaa…"
    assert one_line("") == ""


def test_a_long_reason_keeps_what_medic_did_about_it() -> None:
    why = "verify failed: not healthy within 300s: " + "pods crashing, " * 30
    line = reason_line(f"{why}; reverted by pull request #2")
    assert len(line) == MAX_REASON and line.endswith("…; reverted by pull request #2")
    assert line.startswith("verify failed: not healthy within 300s: pods crashing")
    # A last clause too long to keep whole is cut like the rest.
    long_tail = reason_line("a; " + "b" * 300)
    assert len(long_tail) == MAX_REASON and long_tail.endswith("…")
    assert reason_line("short; fine") == "short; fine"


def test_a_dead_dependency_reads_as_the_step_what_it_did_and_the_attempts() -> None:
    reason = step_failure_reason(
        "observing",
        "observe: the Kubernetes API at https://10.0.0.1:6443 refused the connection",
        attempts=10,
    )
    assert reason == (
        "observe failed: the Kubernetes API at https://10.0.0.1:6443 refused the connection "
        "(gave up after 10 attempts)"
    )


def test_a_final_refusal_says_no_attempt_count() -> None:
    assert step_failure_reason("executing", "deployments is forbidden", attempts=1) == (
        "execute failed: deployments is forbidden"
    )
    assert step_failure_reason("snapshot", "cannot snapshot x: forbidden") == (
        "snapshot failed: cannot snapshot x: forbidden"
    )


def test_a_traceback_becomes_one_bounded_line_that_keeps_its_attempts() -> None:
    reason = step_failure_reason("verifying", TRACEBACK, attempts=5)
    assert "\n" not in reason and len(reason) <= MAX_REASON
    assert reason.startswith("verify failed: Traceback (most recent call last): File")
    assert reason.endswith("… (gave up after 5 attempts)")


def test_temporals_size_limit_message_is_explained() -> None:
    reason = step_failure_reason("observing", TOO_LARGE, attempts=10)
    assert reason.startswith("observe failed: its error was too large to keep")
    assert "worker's log" in reason and TOO_LARGE not in reason


def test_temporals_timeouts_are_said_as_an_operator_reads_them() -> None:
    assert step_failure_reason("observing", "activity StartToClose timeout", attempts=10) == (
        "observe failed: every attempt ran out of time without an answer (see the worker's log) "
        "(gave up after 10 attempts)"
    )
    assert step_failure_reason("executing", "activity Heartbeat timeout") == (
        "execute failed: the worker stopped reporting progress (it died or hung)"
    )


def test_an_empty_message_still_says_which_step() -> None:
    assert step_failure_reason("dry_run", "  ") == "dry-run failed: no reason was given"


@pytest.mark.parametrize(
    ("step", "label"),
    [
        ("observing", "observe"),
        ("opening_pull_request", "opening the pull request"),
        ("odd_step", "odd step"),
    ],
)
def test_steps_are_named_as_a_sentence_names_them(step: str, label: str) -> None:
    assert step_label(step) == label


def test_a_model_that_cannot_be_used_says_why_and_what_decided_instead() -> None:
    why = "anthropic refused the API key (HTTP 401 authentication_error: invalid x-api-key)"
    assert model_unusable_reason(why) == (
        "model unusable: anthropic refused the API key (HTTP 401 authentication_error: invalid x-api-key); "
        "diagnosed by the offline rules"
    )
    long = model_unusable_reason("anthropic is unavailable\n" + "overloaded " * 100)
    assert len(long) <= MAX_REASON and "\n" not in long
    assert long.endswith("…; diagnosed by the offline rules")
