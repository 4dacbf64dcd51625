"""The integration error taxonomy: every error an integration raises is temporary or permanent."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator

import pytest

import integrations
from integrations.argocd import ArgoError, ArgoOperationInProgress, ArgoUnavailable
from integrations.errors import IntegrationError, PermanentError, TemporaryError, unreachable
from integrations.git import GitBranchConflict, GitError, GitFailed, GitUnavailable
from integrations.jetstream import JetStreamError
from integrations.kubernetes import KubeConflict, KubeError, KubeNotFound, KubeUnavailable
from integrations.llm.errors import LLMError, ModelUnavailable, PromptTooLarge
from integrations.notify import NotifyError, NotifyRateLimited
from integrations.opencost import OpenCostError
from integrations.prometheus import PrometheusError
from integrations.pull_requests import (
    PullRequestConflict,
    PullRequestError,
    PullRequestFailed,
    PullRequestUnavailable,
)
from integrations.render import RenderError
from integrations.sealing import SealingError

FAMILIES = {
    ArgoError,
    GitError,
    JetStreamError,
    KubeError,
    LLMError,
    NotifyError,
    OpenCostError,
    PrometheusError,
    PullRequestError,
    RenderError,
}


def _every_module() -> None:
    for module in pkgutil.walk_packages(integrations.__path__, f"{integrations.__name__}."):
        importlib.import_module(module.name)


def _subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _integration_errors() -> list[type[IntegrationError]]:
    _every_module()
    kinds = {TemporaryError, PermanentError}
    found = {
        c
        for c in _subclasses(IntegrationError)
        if c not in kinds and c.__module__.startswith("integrations.")
    }
    return sorted(found, key=lambda c: (c.__module__, c.__name__))


def test_every_integration_error_is_exactly_one_of_temporary_or_permanent() -> None:
    errors = _integration_errors()
    members = [c for c in errors if c not in FAMILIES]
    assert len(members) >= 30  # the walk found the integrations' errors
    for cls in members:
        kinds = [kind for kind in (TemporaryError, PermanentError) if issubclass(cls, kind)]
        assert len(kinds) == 1, f"{cls.__name__} is {kinds or 'neither'}"
        assert cls.retryable is (kinds[0] is TemporaryError), cls.__name__
    for family in FAMILIES:
        assert family in errors
        assert not issubclass(family, (TemporaryError, PermanentError)), family.__name__


def test_each_integration_keeps_its_own_family() -> None:
    for cls in _integration_errors():
        families = [family for family in FAMILIES if issubclass(cls, family)]
        assert len(families) <= 1, f"{cls.__name__} is in {families}"
        assert families or cls is SealingError, f"{cls.__name__} belongs to no family"


@pytest.mark.parametrize("family", sorted(FAMILIES, key=lambda f: f.__name__))
def test_a_family_base_cannot_be_raised(family: type[IntegrationError]) -> None:
    with pytest.raises(TypeError, match="family of errors"):
        family("which kind is this?")


def test_a_class_cannot_be_both_temporary_and_permanent() -> None:
    with pytest.raises(TypeError, match="both"):

        class Confused(KubeError, TemporaryError, PermanentError):
            pass


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        # Retried before this taxonomy, retried still.
        (KubeUnavailable("connection refused"), True),
        (KubeConflict("the object has been modified", 409), True),
        (ArgoUnavailable("bad gateway", 502), True),
        (ArgoOperationInProgress("another operation is already in progress", 400), True),
        (GitUnavailable("could not read from remote"), True),
        (PullRequestUnavailable("GitHub answered 502"), True),
        (NotifyRateLimited("slack answered HTTP 429", 30), True),
        (ModelUnavailable("overloaded", 7, 529), True),
        # Final before, final still.
        (KubeNotFound('deployments.apps "nope" not found', 404), False),
        (GitBranchConflict("branch exists", branch="medic/x", found="abc"), False),
        (GitFailed("cannot run git"), False),
        (PullRequestConflict("closed without merging"), False),
        (PullRequestFailed("GitHub answered 400"), False),
        (PromptTooLarge(10_000, 100), False),
        (SealingError("not a Fernet key"), False),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_what_was_retried_is_retried_and_what_was_final_is_final(
    error: IntegrationError, retryable: bool
) -> None:
    assert error.retryable is retryable
    assert isinstance(error, TemporaryError if retryable else PermanentError)


def test_errors_keep_their_attributes_and_messages() -> None:
    kube = KubeNotFound("gone", 404)
    assert (kube.message, kube.status, str(kube)) == ("gone", 404, "gone")
    model = ModelUnavailable("overloaded", 7, 529)
    assert (model.reason, model.retry_after, model.status) == ("overloaded", 7, 529)
    assert model.message == str(model) == "overloaded (retry after 7s)"
    limited = NotifyRateLimited("slack answered HTTP 429", 30)
    assert (limited.retry_after, limited.status, limited.message) == (
        30,
        429,
        "slack answered HTTP 429 (retry after 30s)",
    )
    pr = PullRequestUnavailable("rate limited", retry_after=12.5)
    assert (pr.message, pr.retry_after, pr.retryable) == ("rate limited", 12.5, True)
    assert PullRequestConflict("merge conflict").retry_after is None
    git = GitBranchConflict("moved", branch="medic/x", found="abc")
    assert (git.message, git.branch, git.found, git.command, git.stderr) == (
        "moved",
        "medic/x",
        "abc",
        [],
        "",
    )
    assert KubeUnavailable("timeout").retry_after is None


def test_callers_catch_by_family_member_or_kind() -> None:
    with pytest.raises(KubeError):
        raise KubeConflict("stale", 409)
    with pytest.raises(TemporaryError):
        raise KubeConflict("stale", 409)
    with pytest.raises(GitError):
        raise GitFailed("not a clone")
    with pytest.raises(PermanentError):
        raise PullRequestFailed("GitHub answered 400")


# --- what a failed connection says -------------------------------------------------------------------


def _raised(exc: BaseException, cause: BaseException | None = None) -> BaseException:
    try:
        try:
            if cause is not None:
                raise cause
            raise exc
        except BaseException as inner:
            if inner is exc:
                raise
            raise exc from inner
    except BaseException as outer:
        return outer


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (ConnectionRefusedError(111, "Connection refused"), "refused the connection"),
        (OSError("[Errno -2] Name or service not known"), "could not be resolved (DNS)"),
        (TimeoutError("timed out"), "did not answer in time"),
        (OSError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"), "failed the TLS handshake"),
        (OSError("[Errno 113] No route to host"), "is not reachable on the network"),
    ],
)
def test_a_connection_failure_is_one_line_naming_the_dependency_and_what_it_did(
    error: BaseException, said: str
) -> None:
    wrapped = _raised(RuntimeError("Connection error."), error)
    assert unreachable("the Kubernetes API", wrapped, "https://10.0.0.1:6443") == (
        f"the Kubernetes API at https://10.0.0.1:6443 {said}"
    )


def test_an_unknown_connection_failure_is_named_by_its_first_line() -> None:
    assert unreachable("Argo CD", ValueError("odd\nsecond line")) == "Argo CD could not be reached (odd)"
