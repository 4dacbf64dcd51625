"""How an integration's failure becomes an activity's failure: the one place for the
retryable/final split.

Every integration raises errors that are either a `TemporaryError` or a `PermanentError` (see
`integrations.errors`). `activity_failure` turns one into the `ApplicationError` Temporal acts on:
its `type` is the error's class name (what a workflow matches on), a permanent error is
`non_retryable` — retrying cannot change a refusal, a missing object or bad input — and a
temporary one is retried by the activity's retry policy, after the server's `retry_after` when it
asked for a delay. `classified(what)` does the same for any integration error raised in its block.

An integration error that escapes an activity untranslated is still retried by Temporal (any
exception but a non-retryable `ApplicationError` is), typed by its class name but without the
server's delay: wrong for a permanent one, which would be retried in vain. Activities therefore
translate every integration error they do not turn into a result themselves.

Failures that are not an outside system's (bad input, a change that cannot be made, a policy that
does not load) are raised as non-retryable `ApplicationError`s where they are found; any other
exception is a bug and propagates as it is.

The store is the one dependency that is not an integration: `@store_failures` (on every activity
that reads or writes it) turns a SQLAlchemy error into a short, typed `ApplicationError` too.
SQLAlchemy's own message carries the statement and its parameters (a whole observation, a
diagnosis), which is what made Temporal replace the failure with "Failure exceeds size limit".
A store that cannot be reached (refused, timed out, a read-only or missing SQLite file) is
`StoreUnavailable`: retried, and (`workflows/remediation/steps.py`) never the end of an incident.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import exc as sa
from temporalio.exceptions import ApplicationError

from domain.incident.reason import one_line
from integrations.errors import IntegrationError, TemporaryError, unreachable

__all__ = [
    "MAX_FAILURE_MESSAGE",
    "STORE_UNAVAILABLE",
    "activity_failure",
    "classified",
    "store_failure",
    "store_failures",
]

F = TypeVar("F", bound=Callable[..., Any])

# An activity's failure message is read in the audit trail, the console and the incident's
# reason: one line, and short enough that Temporal never replaces it for its size.
MAX_FAILURE_MESSAGE = 500


def activity_failure(err: IntegrationError, what: str = "") -> ApplicationError:
    """The `ApplicationError` for `err`: typed by its class name, final unless it is temporary,
    with `next_retry_delay` when the server asked for a delay (of more than zero seconds).

    `what` (what the activity was doing) goes in front of the error's message; without it the
    message is the error's own. Either way it is one line of at most `MAX_FAILURE_MESSAGE`
    characters (a server's multi-line answer or a traceback in the error text is folded)."""
    delay = err.retry_after if isinstance(err, TemporaryError) else None
    return ApplicationError(
        one_line(f"{what}: {err.message}" if what else err.message, MAX_FAILURE_MESSAGE),
        type=type(err).__name__,
        non_retryable=not err.retryable,
        next_retry_delay=timedelta(seconds=delay) if delay else None,
    )


@contextlib.contextmanager
def classified(what: str = "") -> Iterator[None]:
    """Any integration error raised in the block leaves it as its `activity_failure(err, what)`,
    chained to the error; every other exception passes through unchanged."""
    try:
        yield
    except IntegrationError as err:
        raise activity_failure(err, what) from err


# The failure type of a store that cannot be reached; the remediation workflow waits it out.
STORE_UNAVAILABLE = "StoreUnavailable"
# Errors that say the database cannot be talked to now, rather than that a statement is wrong:
# connection refused or lost, a pool exhausted, a locked / read-only / missing SQLite file.
_UNAVAILABLE = (sa.OperationalError, sa.InterfaceError, sa.DisconnectionError, sa.TimeoutError)


def store_failure(err: sa.SQLAlchemyError) -> ApplicationError:
    """The `ApplicationError` for a store error: one line of at most `MAX_FAILURE_MESSAGE`
    characters naming the database's own complaint, never the statement or its parameters.
    Retryable either way: an unreachable store is `StoreUnavailable`; anything else (a bug, a
    constraint) keeps its class name as its type and stays loud in the history."""
    cause = err.orig if isinstance(err, sa.DBAPIError) and err.orig is not None else None
    if isinstance(err, _UNAVAILABLE):
        message, error_type = unreachable("the store", cause or err), STORE_UNAVAILABLE
    else:
        text = str(cause) if cause is not None else (str(err).splitlines() or [""])[0]
        message, error_type = f"the store: {type(cause or err).__name__}: {text}", type(err).__name__
    return ApplicationError(one_line(message, MAX_FAILURE_MESSAGE), type=error_type)


def store_failures(fn: F) -> F:
    """`fn` (an activity) with every SQLAlchemy error it raises turned into `store_failure(err)`,
    chained to the error (the worker's log keeps the whole of it). Goes under `@activity.defn`;
    keeps `fn`'s name, signature and annotations, which Temporal reads."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except sa.SQLAlchemyError as err:
            raise store_failure(err) from err

    return cast(F, run)
