"""GitHub App authentication with the real PyGithub (JWT signed with the app's key, installation
token minted and re-minted) against the loopback GitHub fake, and git over https with the same
installation token against a smart-HTTP git server in front of the fake's bare repository."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from domain.settings import SettingsError, settings_from_mapping
from integrations.git import GitRepo
from integrations.github_app import GitHubAppAuth, check_private_key
from integrations.pull_requests import (
    GitHubPullRequestHost,
    PullRequestForbidden,
    git_token,
    github_auth_from_settings,
    pull_request_host_from_settings,
)
from sandbox.gitops import seed_bare_repo
from tests.fakes.github_api import SandboxGitHub
from tests.integrations.git_http import GitHTTPServer
from tests.integrations.test_github_pull_requests import FILES, git, spec_for

APP_ID = "123456"


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture(scope="module")
def app_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    path = tmp_path / "srv" / "acme" / "gitops.git"
    seed_bare_repo(path, FILES)
    return path


@pytest.fixture
def github(remote: Path, app_key: rsa.RSAPrivateKey) -> Iterator[SandboxGitHub]:
    public = app_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with SandboxGitHub(remote, app_id=APP_ID, app_public_key=public.decode(), prefix="/api/v3") as fake:
        yield fake


@pytest.fixture
def git_server(remote: Path, github: SandboxGitHub) -> Iterator[GitHTTPServer]:
    # GitHub's git side: only a live installation token gets in.
    with GitHTTPServer(remote.parent.parent, github.installation_token_valid) as server:
        yield server


def app_auth(
    github: SandboxGitHub, key: rsa.RSAPrivateKey, installation_id: int | None = None
) -> GitHubAppAuth:
    return GitHubAppAuth(
        APP_ID, _pem(key), github.full_name, github.api_url, installation_id=installation_id, timeout=10
    )


def make_host(
    github: SandboxGitHub, server: GitHTTPServer, auth: GitHubAppAuth, workdir: Path
) -> GitHubPullRequestHost:
    repo = GitRepo(f"{server.url}/acme/gitops.git", workdir, token=git_token(auth), timeout=30)
    return GitHubPullRequestHost(
        repo,
        github.full_name,
        auth,
        github.api_url,
        seconds_between_requests=None,
        seconds_between_writes=None,
        timeout=10,
    )


def test_an_app_opens_merges_and_comments_with_one_installation_token(
    github: SandboxGitHub, git_server: GitHTTPServer, app_key: rsa.RSAPrivateKey, remote: Path, tmp_path: Path
) -> None:
    auth = app_auth(github, app_key)
    host = make_host(github, git_server, auth, tmp_path / "work")
    spec = spec_for(remote)
    pr = host.open_pull_request(spec)
    assert (pr.number, pr.status) == (1, "open")
    assert pr.head_commit == git(remote, "rev-parse", f"refs/heads/{spec.branch}"), "pushed over https"
    host.comment(pr.number, "verification passed")
    merged = host.merge_pull_request(pr.number, merged_by="alice")
    assert merged.status == "merged" and merged.merge_commit
    host.close()
    # The installation was looked up from the repository, and one token served the API and git.
    assert auth.installation_id == github.installation_id
    assert github.count("GET", "/repos/acme/gitops/installation") == 1
    assert len(github.minted) == 1
    api_tokens = {t for t in github.used_tokens if t.startswith("ghs_")}
    assert api_tokens == set(github.minted)
    assert all(a.startswith("Basic ") for a in git_server.authorizations if a)


def test_a_token_near_its_expiry_is_replaced_before_it_is_sent(
    github: SandboxGitHub, git_server: GitHTTPServer, app_key: rsa.RSAPrivateKey, remote: Path, tmp_path: Path
) -> None:
    # Tokens that expire 15 s after they are minted: within PyGithub's margin, so each is
    # replaced before its next use rather than sent near (or past) its expiry.
    github.token_lifetime = timedelta(seconds=15)
    auth = app_auth(github, app_key, installation_id=github.installation_id)
    host = make_host(github, git_server, auth, tmp_path / "work")
    first = auth.token
    github.advance(16)
    assert not github.installation_token_valid(first)
    expired = requests.get(
        f"{github.api_url}/repos/acme/gitops/pulls", headers={"Authorization": f"token {first}"}, timeout=10
    )
    assert expired.status_code == 401 and expired.json()["message"] == "Bad credentials"
    # Both the API and git get a fresh token: the PR is pushed and opened after the first expired.
    pr = host.open_pull_request(spec_for(remote))
    assert pr.status == "open"
    assert len(github.minted) >= 2 and github.minted[0] == first
    sent = [t for t in github.used_tokens if t.startswith("ghs_")]
    assert first not in sent[1:], "the expired token was never sent by the host"
    assert github.count("GET", "/repos/acme/gitops/installation") == 0, "the configured id is used"
    host.close()


def test_a_long_lived_token_is_reused_until_it_nears_expiry(
    github: SandboxGitHub, app_key: rsa.RSAPrivateKey
) -> None:
    auth = app_auth(github, app_key)
    tokens = {auth.token for _ in range(3)}
    assert tokens == set(github.minted) and len(tokens) == 1


def test_a_key_that_is_not_the_apps_is_refused_in_one_line(
    github: SandboxGitHub, git_server: GitHTTPServer, remote: Path, tmp_path: Path
) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    host = make_host(
        github, git_server, app_auth(github, other, installation_id=github.installation_id), tmp_path
    )
    with pytest.raises(PullRequestForbidden) as caught:
        host.get_pull_request(1)
    message = str(caught.value)
    assert "\n" not in message and not caught.value.retryable
    assert f"GitHub refused GitHub App {APP_ID}: A JSON web token could not be decoded" in message
    assert "MEDIC_GITHUB_APP_ID" in message
    assert not github.minted
    host.close()


@pytest.mark.parametrize(
    "pem, reason",
    [
        ("not a key", "is not a PEM private key (no -----BEGIN line)"),
        ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "is not a usable PEM private key"),
    ],
)
def test_a_malformed_key_is_refused_before_any_request(pem: str, reason: str) -> None:
    with pytest.raises(ValueError) as caught:
        check_private_key(pem, "MEDIC_GITHUB_APP_PRIVATE_KEY_FILE")
    assert str(caught.value).startswith(f"MEDIC_GITHUB_APP_PRIVATE_KEY_FILE {reason}")
    assert "\n" not in str(caught.value)


def test_an_ec_key_is_refused() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with pytest.raises(ValueError, match="is not an RSA key"):
        check_private_key(pem)


def test_an_app_not_installed_on_the_repository_is_refused(
    github: SandboxGitHub, app_key: rsa.RSAPrivateKey
) -> None:
    auth = GitHubAppAuth(APP_ID, _pem(app_key), "acme/other", github.api_url, timeout=10)
    with pytest.raises(PullRequestForbidden, match="GitHub App 123456 is not installed on acme/other"):
        _ = auth.token


def test_settings_choose_the_app_and_refuse_it_beside_a_token(
    github: SandboxGitHub, app_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    key_file = tmp_path / "app.pem"
    key_file.write_text(_pem(app_key))
    env = {
        "MEDIC_HOME": str(tmp_path),
        "GITHUB_REPOSITORY": github.full_name,
        "GITHUB_API_URL": github.api_url,
        "MEDIC_GITHUB_APP_ID": APP_ID,
        "MEDIC_GITHUB_APP_PRIVATE_KEY_FILE": str(key_file),
    }
    settings = settings_from_mapping(env)
    auth = github_auth_from_settings(settings)
    assert isinstance(auth, GitHubAppAuth) and github_auth_from_settings(settings) is auth, "one per config"
    host = pull_request_host_from_settings(settings)
    assert isinstance(host, GitHubPullRequestHost)
    # The clone on GitHub's host gets the app's token function; the token is minted when git asks.
    assert callable(host.repo._token) and host.repo._token() == auth.token
    host.close()

    with pytest.raises(SettingsError, match="GITHUB_TOKEN and MEDIC_GITHUB_APP_ID are both set"):
        settings_from_mapping({**env, "GITHUB_TOKEN": "ghp_x"})
    missing = settings_from_mapping({**env, "MEDIC_GITHUB_APP_PRIVATE_KEY_FILE": str(tmp_path / "nope.pem")})
    with pytest.raises(ValueError) as caught:
        github_auth_from_settings(missing)
    assert str(caught.value) == (
        f"MEDIC_GITHUB_APP_PRIVATE_KEY_FILE {tmp_path / 'nope.pem'} cannot be read: No such file or directory"
    )
    bad = settings_from_mapping(
        {k: v for k, v in env.items() if k != "MEDIC_GITHUB_APP_PRIVATE_KEY_FILE"}
        | {"MEDIC_GITHUB_APP_PRIVATE_KEY": "ghp_not_a_key"}
    )
    with pytest.raises(ValueError, match=r"^MEDIC_GITHUB_APP_PRIVATE_KEY is not a PEM private key"):
        github_auth_from_settings(bad)
