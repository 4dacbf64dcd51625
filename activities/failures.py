"""How the integrations' failures become activity failures: one place for the retryable/final split.

Each integration raises a small closed set of errors; a transient one (the host unavailable, a rate
limit, a timeout) is retried by Temporal — after the host's Retry-After where it sent one — and any
other is final (`non_retryable`): retrying cannot change a refusal, a missing object or bad input.
`classified(what)` turns any of them, raised in its block, into the `ApplicationError` whose type
is the error's class name and whose message starts with `what`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta

from temporalio.exceptions import ApplicationError

from integrations.argocd import ArgoError, ArgoUnavailable
from integrations.git import GitError, GitUnavailable
from integrations.kubernetes import KubeError, KubeUnavailable
from integrations.pull_requests import PullRequestError

__all__ = ["argo_failure", "classified", "git_failure", "kube_failure", "pr_failure"]


def _failure(what: str, err: ArgoError | GitError | KubeError, *, retryable: bool) -> ApplicationError:
    return ApplicationError(f"{what}: {err.message}", type=type(err).__name__, non_retryable=not retryable)


def argo_failure(err: ArgoError, what: str) -> ApplicationError:
    return _failure(what, err, retryable=isinstance(err, ArgoUnavailable))


def git_failure(err: GitError, what: str) -> ApplicationError:
    return _failure(what, err, retryable=isinstance(err, GitUnavailable))


def kube_failure(err: KubeError, what: str) -> ApplicationError:
    return _failure(what, err, retryable=isinstance(err, KubeUnavailable))


def pr_failure(err: PullRequestError, what: str) -> ApplicationError:
    delay = timedelta(seconds=err.retry_after) if err.retryable and err.retry_after else None
    return ApplicationError(
        f"{what}: {err.message}",
        type=type(err).__name__,
        non_retryable=not err.retryable,
        next_retry_delay=delay,
    )


@contextlib.contextmanager
def classified(what: str) -> Iterator[None]:
    try:
        yield
    except ArgoError as err:
        raise argo_failure(err, what) from err
    except GitError as err:
        raise git_failure(err, what) from err
    except KubeError as err:
        raise kube_failure(err, what) from err
    except PullRequestError as err:
        raise pr_failure(err, what) from err
