"""The one-line reasons an operator reads first: why an incident ended as it did, why a step is
failing, why the model could not be used. Pure.

A reason is one line of at most `MAX_REASON` characters, whatever it was made from: an
exception's text can run over many lines (a traceback, a server's HTML error page) or be replaced
by Temporal's "Failure exceeds size limit." when it is too large to keep, and neither may reach a
notification, the console's header or `medic incidents show` as it is.
"""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = [
    "MAX_REASON",
    "MODEL_UNUSABLE_WINDOW",
    "TOO_LARGE",
    "model_unusable_reason",
    "one_line",
    "reason_line",
    "step_failure_reason",
    "step_label",
]

# Characters of a reason: what a Slack header line, a terminal line and the console's banner show.
MAX_REASON = 200

# How long after an analysis that found the model unusable the console's banner and the
# `medic_model_unusable` gauge keep saying so (unless a later analysis used the model).
MODEL_UNUSABLE_WINDOW = timedelta(hours=1)

# What Temporal keeps of a failure whose encoded size is over its limit.
TOO_LARGE = "Failure exceeds size limit."

# A workflow step (`domain.steps.remediation.Step`) as a sentence names it.
_STEP_LABELS = {
    "received": "recording the incident",
    "observing": "observe",
    "recalling": "recall",
    "analyzing": "analyze",
    "reviewing": "review",
    "validating": "validate",
    "awaiting_approval": "approval",
    "dry_run": "dry-run",
    "snapshot": "snapshot",
    "executing": "execute",
    "preparing_change": "the GitOps file change",
    "opening_pull_request": "opening the pull request",
    "merging": "merge",
    "awaiting_merge": "the merge wait",
    "syncing": "the Argo CD sync",
    "verifying": "verify",
    "reverting": "revert",
    "rolling_back": "rollback",
}

_SPACE = re.compile(r"\s+")

# Temporal's own words for an activity that ran out of time, as an operator reads them.
_TIMEOUTS = (
    ("starttoclose timeout", "every attempt ran out of time without an answer (see the worker's log)"),
    ("heartbeat timeout", "the worker stopped reporting progress (it died or hung)"),
    ("scheduletostart timeout", "no worker picked the step up in time (is a worker polling?)"),
    ("scheduletoclose timeout", "the step ran out of its overall time"),
)


def one_line(text: str, limit: int = MAX_REASON) -> str:
    """`text` on one line (every run of whitespace, newlines included, becomes one space), cut to
    at most `limit` characters with an ellipsis. Empty text stays empty."""
    line = _SPACE.sub(" ", text).strip()
    if len(line) <= limit:
        return line
    return line[: max(limit - 1, 0)].rstrip() + "…"


def reason_line(text: str, limit: int = MAX_REASON) -> str:
    """An incident's reason as one line of at most `limit` characters. Reasons read `<what went
    wrong>; <what medic did about it>` (`verify failed: …; snapshot restored`): when one is too
    long, the first part is cut and the last clause kept whole, as long as it takes at most half
    the line."""
    line = one_line(text, 10 * limit)
    if len(line) <= limit:
        return line
    head, sep, tail = line.rpartition("; ")
    if sep and head and len(tail) <= limit // 2:
        return one_line(head, limit - len(tail) - len(sep)) + sep + tail
    return one_line(line, limit)


def step_label(step: str) -> str:
    """How a sentence names a workflow step (`observing` → `observe`); an unknown step as it is."""
    return _STEP_LABELS.get(step, step.replace("_", " "))


def _without_prefix(message: str, label: str) -> str:
    # Activities often start their message with what they were doing (`observe: ...`): said once.
    for prefix in (f"{label}: ", f"{label} failed: "):
        if message.lower().startswith(prefix.lower()):
            return message[len(prefix) :]
    return message


def step_failure_reason(step: str, message: str, *, attempts: int | None = None) -> str:
    """Why a step failed for good, in one line: `observe failed: <what the dependency did>`,
    with how many attempts were made when it gave up after its retries."""
    label = step_label(step)
    text = one_line(message, 10 * MAX_REASON)
    if not text:
        text = "no reason was given"
    elif text == TOO_LARGE:
        text = "its error was too large to keep (Temporal's size limit); the worker's log has it"
    else:
        for said, meaning in _TIMEOUTS:
            if text.lower().endswith(said):
                text = meaning
                break
    text = _without_prefix(text, label)
    tail = f" (gave up after {attempts} attempts)" if attempts and attempts > 1 else ""
    head = f"{label} failed: "
    return head + one_line(text, MAX_REASON - len(head) - len(tail)) + tail


def model_unusable_reason(message: str) -> str:
    """Why the model was not used and what decided instead, in one line: `model unusable: <why>;
    diagnosed by the offline rules`."""
    head, tail = "model unusable: ", "; diagnosed by the offline rules"
    why = one_line(message, 10 * MAX_REASON) or "no reason was given"
    if why == TOO_LARGE:
        why = "its error was too large to keep; the worker's log has it"
    return head + one_line(why, MAX_REASON - len(head) - len(tail)) + tail
