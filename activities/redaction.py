"""The redaction boundary of the cluster-read path.

`@redacts_result` goes under `@activity.defn` on every activity that reads the cluster; whatever
the activity returns passes through `domain.redaction.objects.redact_step_result` before it leaves
the worker, so the workflow history (and all that is built from it: the store, prompts, PRs,
notifications, the console) never holds a secret the activity's own code forgot to redact.
Activities of every step may use it: like `failures.py`, it belongs to no step.

Snapshots are the one exception and do not use it: they are sealed, since a restore needs the
exact spec.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar, cast

from pydantic import BaseModel

from domain.redaction.objects import redact_step_result

F = TypeVar("F", bound=Callable[..., Any])


def redacts_result(fn: F) -> F:
    """`fn` with its result redacted by `redact_step_result` (sync or async activities alike).
    The wrapper keeps `fn`'s name, signature and annotations, which Temporal reads."""
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def run_async(*args: Any, **kwargs: Any) -> BaseModel:
            return redact_step_result(await fn(*args, **kwargs))

        return cast(F, run_async)

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> BaseModel:
        return redact_step_result(fn(*args, **kwargs))

    return cast(F, run)


def redacts_at_boundary(fn: Callable[..., Any]) -> bool:
    """Whether `fn` (an activity method) has its result redacted by `redacts_result`."""
    # `functools.wraps` copies the name and module; the code object is the wrapper's own.
    code = getattr(fn, "__code__", None)
    return code is not None and code.co_qualname.startswith(f"{redacts_result.__name__}.<locals>.")
