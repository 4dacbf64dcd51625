"""A GitHub App's installation token, as PyGithub mints it, for the REST API and for git.

GitHub Apps authenticate in two steps (PyGithub does both): a JWT signed with the app's private
key (RS256; `iss` the app id, valid for at most ten minutes) asks `POST
/app/installations/{id}/access_tokens` for an installation token, which then authenticates API
calls (`Authorization: token ...`) and git over https (`x-access-token:<token>`). An installation
token lasts an hour; PyGithub's `AppInstallationAuth` mints a new one when the one it holds is
about to expire, so every caller asking `GitHubAppAuth.token` gets one that is still valid —
the PR host's API calls (it is their `Auth`) and `GitRepo`'s git commands (it is their token
function) alike. The installation is looked up from the repository (`GET
/repos/{owner}/{repo}/installation`) unless its id is configured.

Nothing is asked of GitHub before the first token is needed; a private key that is not a PEM RSA
key is refused at once, in one line. GitHub's refusals become `PullRequestForbidden`, outages
`PullRequestUnavailable`.
"""

from __future__ import annotations

import threading
from typing import Any

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from github import Auth, GithubException, GithubIntegration

from integrations.pull_requests import (
    GITHUB_TIMEOUT_SECONDS,
    PullRequestForbidden,
    PullRequestUnavailable,
)

__all__ = ["GitHubAppAuth", "check_private_key"]


def check_private_key(pem: str, variable: str = "MEDIC_GITHUB_APP_PRIVATE_KEY") -> None:
    """Raise ValueError, one line naming `variable`, unless `pem` is an unencrypted PEM RSA private
    key (what GitHub gives an app)."""
    if "-----BEGIN" not in pem:
        raise ValueError(f"{variable} is not a PEM private key (no -----BEGIN line)")
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ValueError(f"{variable} is not a usable PEM private key: {reason}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{variable} is not an RSA key: GitHub Apps sign with RS256")


def _message(err: GithubException) -> str:
    data = err.data if isinstance(err.data, dict) else {}
    return str(data.get("message") or err.message or err.status)


class GitHubAppAuth(Auth.Auth):
    """The installation token of GitHub App `app_id` on `github_repository` (owner/name), from the
    GitHub whose API is `base_url`. `token` is valid when returned (re-minted near expiry); it is
    thread-safe and asks GitHub nothing until first read."""

    def __init__(
        self,
        app_id: str,
        private_key: str,
        github_repository: str,
        base_url: str,
        *,
        installation_id: int | None = None,
        timeout: int = GITHUB_TIMEOUT_SECONDS,
        key_variable: str = "MEDIC_GITHUB_APP_PRIVATE_KEY",
    ) -> None:
        if not str(app_id).strip():
            raise ValueError("MEDIC_GITHUB_APP_ID is empty")
        check_private_key(private_key, key_variable)
        owner, _, name = github_repository.partition("/")
        if not owner or not name or "/" in name:
            raise ValueError(f"GITHUB_REPOSITORY must be owner/name, not {github_repository!r}")
        self.app_id = str(app_id).strip()
        self.github_repository = github_repository
        self._owner, self._name = owner, name
        self._app = Auth.AppAuth(self.app_id, private_key)
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._installation_id = installation_id
        self._installation: Auth.AppInstallationAuth | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"GitHubAppAuth(app {self.app_id} on {self.github_repository})"

    @property
    def token_type(self) -> str:
        return "token"

    @property
    def token(self) -> str:
        with self._lock:
            return self._call(lambda: self._installation_auth().token)

    @property
    def installation_id(self) -> int | None:
        """The installation's id: configured, or once looked up."""
        return self._installation_id

    def _installation_auth(self) -> Auth.AppInstallationAuth:
        if self._installation is None:
            # retry=None: Temporal retries the activity, visibly; no pacing for two requests.
            integration = GithubIntegration(
                auth=self._app,
                base_url=self._base_url,
                timeout=self._timeout,
                retry=None,
                seconds_between_requests=None,
                seconds_between_writes=None,
            )
            if self._installation_id is None:
                try:
                    found = integration.get_repo_installation(self._owner, self._name)
                except GithubException as err:
                    if err.status == 404:
                        raise PullRequestForbidden(
                            f"GitHub App {self.app_id} is not installed on {self.github_repository}: "
                            "install it on the repository (or set MEDIC_GITHUB_APP_INSTALLATION_ID)"
                        ) from err
                    raise
                self._installation_id = int(found.id)
            self._installation = self._app.get_installation_auth(
                self._installation_id, requester=integration.requester
            )
        return self._installation

    def _call(self, call: Any) -> str:
        try:
            return str(call())
        except GithubException as err:
            status, message = err.status, _message(err)
            if status in (401, 403):
                raise PullRequestForbidden(
                    f"GitHub refused GitHub App {self.app_id}: {message} "
                    "(check MEDIC_GITHUB_APP_ID and the app's private key)"
                ) from err
            if status == 404:
                raise PullRequestForbidden(
                    f"GitHub App {self.app_id} has no installation {self._installation_id}: {message}"
                ) from err
            if status == 429 or status >= 500:
                raise PullRequestUnavailable(
                    f"minting an installation token of GitHub App {self.app_id}: GitHub answered {status}"
                ) from err
            raise PullRequestForbidden(
                f"minting an installation token of GitHub App {self.app_id}: "
                f"GitHub answered {status}: {message}"
            ) from err
        except requests.RequestException as err:
            raise PullRequestUnavailable(
                f"minting an installation token of GitHub App {self.app_id}: GitHub unreachable: "
                f"{type(err).__name__}"
            ) from err
