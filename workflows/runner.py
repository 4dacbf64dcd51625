"""The one way a workflow calls an activity: a typed stub, executed or started with its options.

A `Stub` names an activity and declares its input type, its result type and the timeouts and
retry policy it runs under. Workflows never import `activities/` (that would pull I/O clients into
the sandbox), so the name is the contract: `tests/workers/test_stubs.py` checks that every stub
matches an activity the worker registers, by name, input and result type.

`execute` and `start` are the only places in `workflows/` that schedule an activity, so every
call carries the same options for the same activity, and a type checker sees the input and the
result of each call.

They also set each activity's task-queue priority. A run's first activities (those scheduled by
its first workflow task) keep the default; every later one goes ahead of them (`IN_FLIGHT`). When a
burst of alerts arrives, the runs that have begun finish their steps before new ones begin theirs
(the queue would otherwise be first in, first out, so every run of the burst waits behind all the
others at every step, and all of them are in flight — and in the worker's memory — at once).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, TypeVar

from temporalio import workflow
from temporalio.common import Priority, RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

InputT = TypeVar("InputT")
ResultT = TypeVar("ResultT")


@dataclass(frozen=True)
class StepOptions:
    """How long one attempt may take, how it is retried, how often it must heartbeat, and (for
    an activity left to run on its own) how long all its attempts together may take."""

    timeout: timedelta
    retry: RetryPolicy
    heartbeat: timedelta | None = None
    schedule_to_close: timedelta | None = None


@dataclass(frozen=True)
class Stub(Generic[InputT, ResultT]):
    """An activity as a workflow sees it: its registered name, its input and result types, and
    the options every call of it runs under."""

    name: str
    input: type[InputT]
    result: type[ResultT]
    options: StepOptions


async def execute(stub: Stub[InputT, ResultT], arg: InputT) -> ResultT:
    """Run the activity and return its result; a final failure raises `ActivityError`."""
    result: ResultT = await workflow.execute_activity(
        stub.name, arg, result_type=stub.result, **_options(stub)
    )
    return result


def start(stub: Stub[InputT, ResultT], arg: InputT) -> workflow.ActivityHandle[ResultT]:
    """Start the activity and go on; the handle is awaited (or cancelled) later."""
    handle: workflow.ActivityHandle[ResultT] = workflow.start_activity(
        stub.name, arg, result_type=stub.result, **_options(stub)
    )
    return handle


# Temporal's priority keys run from 1 (first) to 5, 3 when unset; lower goes first.
IN_FLIGHT = Priority(priority_key=2)
# A run's first workflow task sees no more events than these: started, task scheduled, task started.
FIRST_TASK_EVENTS = 3


def _options(stub: Stub[Any, Any]) -> dict[str, Any]:
    options = stub.options
    begun = workflow.info().get_current_history_length() > FIRST_TASK_EVENTS
    return {
        "start_to_close_timeout": options.timeout,
        "schedule_to_close_timeout": options.schedule_to_close,
        "heartbeat_timeout": options.heartbeat,
        "retry_policy": options.retry,
        "priority": IN_FLIGHT if begun else Priority.default,
    }


def failure_of(err: BaseException) -> tuple[str, str | None]:
    """The message and `ApplicationError` type of an activity's final failure."""
    cause = err.cause if isinstance(err, ActivityError) else err
    if isinstance(cause, ApplicationError):
        return cause.message, cause.type
    return str(cause or err), None


def stubs_of(module: Any) -> list[Stub[Any, Any]]:
    """Every stub a module declares (for the check against the worker's registrations)."""
    return [value for value in vars(module).values() if isinstance(value, Stub)]
