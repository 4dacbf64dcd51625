"""The one error taxonomy of every integration: each failure is temporary or permanent.

An integration (Kubernetes, Argo CD, git, a pull request host, Prometheus, OpenCost, a
notification channel, a model provider, the ingest buffer's JetStream, the snapshot sealer, the
local manifest engines) raises only errors of its own family — `KubeError`, `ArgoError`,
`GitError`, `PullRequestError`, `PrometheusError`, `OpenCostError`, `NotifyError`, `LLMError`,
`JetStreamError`, `SealingError`, `RenderError` —
and every error it raises is also exactly one of two kinds:

- `TemporaryError` (`retryable` is True): the other side could not do it *now* — unreachable, a
  timeout, 5xx, a rate limit, a write that raced another (a stale resourceVersion, an Argo CD
  operation already running). Trying again later may well succeed. `retry_after` holds the delay
  the server asked for (Retry-After and the like), in seconds, or None when it did not say.
- `PermanentError` (`retryable` is False): trying the same thing again cannot change the answer —
  a refusal (401/403), something that does not exist, a request the other side rejects as
  invalid, a conflict a person has to look at, output that does not validate, a key that does not
  open a snapshot.

A family is declared as `class KubeError(IntegrationError)`, and each of its members as
`class KubeUnavailable(KubeError, TemporaryError)` or `class KubeNotFound(KubeError,
PermanentError)`: callers catch by family (`except KubeError`), by member (`except KubeNotFound`)
or by kind (`except TemporaryError`). A family base is never raised itself — only a member knows
whether it is worth retrying — so constructing one is a `TypeError`, as is a class that claims
both kinds. A family of one kind is that kind itself (`class SealingError(PermanentError)`).

Which member is which (temporary | permanent):

- `KubeError`: `KubeUnavailable`, `KubeConflict` (a stale read: the next attempt reads afresh) |
  `KubeNotFound`, `KubeInvalid`, `KubeForbidden`
- `ArgoError`: `ArgoUnavailable`, `ArgoOperationInProgress` | `ArgoNotFound`, `ArgoInvalid`,
  `ArgoForbidden`
- `GitError`: `GitUnavailable` | `GitRefNotFound`, `GitPermissionDenied`, `GitBranchConflict`,
  `GitMergeConflict`, `GitFailed` (any other failed command)
- `PullRequestError`: `PullRequestUnavailable` (rate limits with `retry_after`) |
  `PullRequestNotFound`, `PullRequestConflict`, `PullRequestForbidden`, `PullRequestFailed`
- `PrometheusError`: `PrometheusUnavailable` | `PrometheusInvalid`, `PrometheusForbidden`
- `OpenCostError`: `OpenCostUnavailable` | `OpenCostInvalid` (a 4xx, or no node prices published)
- `NotifyError`: `NotifyUnavailable`, `NotifyRateLimited` (with `retry_after`) | `NotifyRejected`
- `LLMError`: `ModelUnavailable` (with `retry_after`) | `InvalidModelOutput`, `ModelRefused`,
  `PromptTooLarge`
- `JetStreamError` (the gateway's ingest buffer): `JetStreamUnavailable` | `JetStreamRefused`
- `SealingError`: — | `SealingError`
- `RenderError` (kustomize and helm run locally): `RenderTimedOut` | `RenderEngineMissing`,
  `RenderFailed`

Nobody in `integrations/` retries: every client has its own retries off, and Temporal retries
the activity, so every attempt shows in the workflow's history. The activities turn an
integration error into Temporal's terms in one place, `activities.failures.activity_failure`
(and the `classified(what)` block around it): an `ApplicationError` whose `type` is the error's
class name, `non_retryable` when it is permanent, and `next_retry_delay` set to `retry_after`
when the server asked for a delay. Where an activity expects a particular error and makes it part
of its result instead (a dry run collecting what the API refused, a rollout check finding the
object gone), it catches that error itself before the translation. Failures that are not an
outside system's — bad input, a change that cannot be made, a policy that does not load
(`policies.PolicyError`, evaluated in-process) — are not integration errors: the activity that
finds them raises a non-retryable `ApplicationError` itself.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Self

__all__ = ["IntegrationError", "PermanentError", "TemporaryError", "unreachable"]


class IntegrationError(Exception):
    """A failure of an outside system, as an integration reports it; `message` says what happened
    (never a credential). Raised only as a member that is also a `TemporaryError` or a
    `PermanentError`; `retryable` tells which."""

    retryable: ClassVar[bool]

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        if not issubclass(cls, (TemporaryError, PermanentError)):
            raise TypeError(
                f"{cls.__name__} is a family of errors, not one: raise one of its members, "
                "each a TemporaryError or a PermanentError"
            )
        return super().__new__(cls, *args, **kwargs)

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TemporaryError(IntegrationError):
    """The outside system could not do it now; the same request may succeed later.
    `retry_after`: the delay the server asked for, in seconds (None: it did not say)."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(IntegrationError):
    """The outside system refused or failed in a way the same request cannot change."""

    retryable = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if issubclass(cls, TemporaryError):
            raise TypeError(f"{cls.__name__} cannot be both a TemporaryError and a PermanentError")


# What a failed connection's text says, whichever client library raised it, as a sentence says it.
_CONNECTION_PROBLEMS = (
    (re.compile(r"connection refused|\[errno 111\]|econnrefused", re.I), "refused the connection"),
    (
        re.compile(
            r"name or service not known|failed to resolve|nodename nor servname|getaddrinfo|"
            r"temporary failure in name resolution|no address associated",
            re.I,
        ),
        "could not be resolved (DNS)",
    ),
    (re.compile(r"certificate verify failed|\bssl\b|\btls\b|certificate", re.I), "failed the TLS handshake"),
    (re.compile(r"timed out|timeout", re.I), "did not answer in time"),
    (
        re.compile(r"network is unreachable|no route to host|\[errno 113\]|\[errno 101\]", re.I),
        "is not reachable on the network",
    ),
    (
        re.compile(r"connection reset|remote end closed|server disconnected|eof occurred|broken pipe", re.I),
        "dropped the connection",
    ),
)


def unreachable(what: str, exc: BaseException, url: str = "") -> str:
    """One line saying why `what` (at `url`) could not be talked to, from a connection failure of
    any client library: `the Kubernetes API at https://10.0.0.1:6443 refused the connection`.
    Looks through the exception's causes; an unrecognised failure is named by its first line."""
    texts: list[str] = []
    seen: BaseException | None = exc
    while seen is not None and len(texts) < 5:
        texts.append(f"{type(seen).__name__}: {seen}")
        seen = seen.__cause__ or seen.__context__
    text = " | ".join(texts)
    where = f"{what} at {url}" if url else what
    for pattern, problem in _CONNECTION_PROBLEMS:
        if pattern.search(text):
            return f"{where} {problem}"
    first = (str(exc).splitlines() or [type(exc).__name__])[0].strip() or type(exc).__name__
    return f"{where} could not be reached ({first[:160]})"
