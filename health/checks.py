"""The checks of every dependency the settings configure, run concurrently, each within a timeout.

`run_checks(settings, env)` answers one `Check` per dependency, in a fixed order:

| name | what is checked |
|---|---|
| `configuration` | the worker's own settings: snapshot keys usable, the drift configuration valid |
| `temporal` | connect (TLS settings usable), the namespace exists, medic's search attributes are there |
| `database` | connect, and the migrations applied are this code's newest (Alembic head) |
| `kubernetes` | the API answers (`/version`); every verb medic uses is allowed (SelfSubjectAccessReview) |
| `argocd` | the token is accepted and Applications can be read |
| `prometheus` | a query is answered |
| `opencost` | its `/metrics` publishes node prices (what a change review is priced at) |
| `gitops` | the repository can be read (`git ls-remote`) and would take a push (`git push --dry-run`) |
| `pull_requests` | GitHub: the token is accepted and may push to the repository (`permissions.push`) |
| `model` | the analyzer's (and reviewer's) key is accepted and the model is there (the models endpoint) |
| `slack`, `notify_webhook` | a well-formed URL whose host resolves and accepts a connection; nothing posted |

An optional dependency that is not configured is `skipped` (and says so); one that cannot be used
is a `failure`; something that works but may not do all medic wants is a `warning`.
`BLOCKING` names the checks a worker and a gateway run before they start.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import os
import re
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from sqlalchemy import make_url
from sqlalchemy.exc import SQLAlchemyError
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.service import RPCError, RPCStatusCode

from domain.drift.diff import drift_config_from_yaml
from domain.settings import Settings
from integrations.argocd import ArgoClient, ArgoError, ArgoForbidden
from integrations.git import PUSH_PROBE_BRANCH, GitError, GitPermissionDenied, GitRepo
from integrations.gitlab_merge_requests import GitLabPullRequestHost
from integrations.jetstream import JetStreamError, JetStreamQueue
from integrations.kubernetes import REQUIRED_ACCESS, KubeClient, KubeError, KubeForbidden, KubeInvalid
from integrations.llm import LLMError, ModelRefused, make_analyzer
from integrations.opencost import OpenCostClient, OpenCostError
from integrations.prometheus import PrometheusClient, PrometheusError
from integrations.pull_requests import (
    PR_HOST_FIX,
    GitHubPullRequestHost,
    PullRequestError,
    PullRequestForbidden,
    PullRequestNotFound,
    check_local_remote,
    github_auth_from_settings,
    gitops_clone,
    settings_host_kind,
)
from integrations.sealing import GENERATE_KEY_COMMAND, KEYS_VARIABLE, SealingError, SnapshotSealer
from integrations.temporal.client import TemporalConfigError, connect, tls_config
from store import migrate
from store.db import make_engine, session_factory
from store.outbox import OutboxRepository
from workflows.search import DEV_SERVER_FLAGS

Status = Literal["ok", "warning", "failure", "skipped"]
DEFAULT_TIMEOUT = 5.0
# What a worker and a gateway cannot start without.
BLOCKING = ("temporal", "database")


@dataclass(frozen=True)
class Check:
    """One dependency's verdict. `detail` is one line of what was found; `fix` one sentence of what
    to do (empty when ok); `target` where it was looked for (credentials never shown)."""

    name: str
    title: str
    status: Status
    detail: str
    target: str = ""
    fix: str = ""
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return self.status == "failure"

    def line(self) -> str:
        """`Temporal at 127.0.0.1:7233: connection refused — check TEMPORAL_ADDRESS ...`"""
        where = f" at {self.target}" if self.target else ""
        text = f"{self.title}{where}: {self.detail}"
        return f"{text} — {self.fix}" if self.fix else text

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "seconds": round(self.seconds, 3)}


def _said(message: str) -> str:
    """An error's one line without the "<dependency> at <address>" it starts with (the check's
    line names both already): `refused the connection`."""
    text = one_line(message)
    named = re.match(r"^(?:the )?[A-Za-z][\w .-]*? at \S*[:/]\S* (?=\w)", text)
    return text[named.end() :] if named else text


class _Verdict(Exception):
    """Ends a check early with a status other than ok."""

    def __init__(self, status: Status, detail: str, fix: str = "") -> None:
        super().__init__(detail)
        self.status: Status = status
        self.detail = detail
        self.fix = fix


def _failure(detail: str, fix: str) -> _Verdict:
    return _Verdict("failure", detail, fix)


def _skipped(detail: str, fix: str = "") -> _Verdict:
    return _Verdict("skipped", detail, fix)


# Common causes, said plainly; anything else is the error's own first line.
_REASONS = (
    (re.compile(r"(?i)connection refused|ConnectionRefused"), "connection refused"),
    (
        re.compile(
            r"(?i)name or service not known|failed to lookup address|nodename nor servname|getaddrinfo"
        ),
        "the host name does not resolve",
    ),
    (re.compile(r"(?i)timed? ?out|deadline"), "no answer in time"),
    (re.compile(r"(?i)no route to host|network is unreachable"), "no route to the host"),
)


def one_line(err: object, limit: int = 300) -> str:
    """An error as one short line: the common network causes in plain words."""
    text = " ".join(str(err).split()) or type(err).__name__
    for pattern, plain in _REASONS:
        if pattern.search(text):
            return plain
    return text if len(text) <= limit else text[: limit - 1] + "…"


def redacted_url(url: str) -> str:
    """A database URL with its password hidden (`postgresql://medic:***@db:5432/medic`)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy reads: show nothing of it but the scheme
        return url.split("://", 1)[0] + "://…" if "://" in url else "(unreadable URL)"


def _origin(url: str) -> str:
    """scheme://host[:port] of a URL: its path and query may hold a secret (Slack's do)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")


# --- the checks ----------------------------------------------------------------------------------


def check_configuration(settings: Settings, env: Mapping[str, str], timeout: float) -> str:
    if not settings.snapshot_keys.strip():
        raise _failure(
            f"{KEYS_VARIABLE} is not set: a worker refuses to start without it",
            f"generate a key with `{GENERATE_KEY_COMMAND}` and set {KEYS_VARIABLE}",
        )
    try:
        SnapshotSealer.from_value(settings.snapshot_keys)
    except SealingError as err:
        raise _failure(str(err), f"set {KEYS_VARIABLE} to Fernet keys, comma-separated") from None
    if not settings.drift_config:
        return "snapshot keys usable"
    try:
        with open(settings.drift_config, encoding="utf-8") as file:
            drift_config_from_yaml(file.read())
    except OSError as err:
        raise _failure(
            f"cannot read the drift configuration {settings.drift_config}: {err.strerror or err}",
            "set MEDIC_DRIFT_CONFIG to a readable file, or leave it empty",
        ) from None
    except ValueError as err:
        raise _failure(
            f"the drift configuration {settings.drift_config} is invalid: {one_line(err)}",
            "fix the file (see the README's Drift section)",
        ) from None
    return "snapshot keys usable; drift configuration valid"


async def check_temporal(settings: Settings, env: Mapping[str, str], timeout: float) -> str:
    namespace = settings.temporal_namespace
    try:
        tls_config(settings)
    except TemporalConfigError as err:
        raise _failure(str(err), "fix the TLS setting it names") from None
    try:
        client = await asyncio.wait_for(connect(settings), timeout)
    except (RuntimeError, OSError) as err:
        raise _failure(
            f"cannot connect: {one_line(err)}",
            "check TEMPORAL_ADDRESS, and the TLS settings (TEMPORAL_TLS*) when the server wants TLS",
        ) from None
    rpc_timeout = timedelta(seconds=timeout)
    try:
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace), timeout=rpc_timeout
        )
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise _failure(
                f"reachable, but namespace {namespace} does not exist",
                f"create it (`temporal operator namespace create {namespace}`) or set TEMPORAL_NAMESPACE",
            ) from None
        raise _failure(
            f"cannot describe namespace {namespace}: {one_line(err.message)}",
            "check that medic's credentials may use the namespace",
        ) from None
    found = f"namespace {namespace} exists"
    if not settings.search_attributes:
        return f"{found}; search attributes off (MEDIC_SEARCH_ATTRIBUTES=0)"
    flags = " ".join(f"--name {name} --type Keyword" for name in DEV_SERVER_FLAGS)
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace), timeout=rpc_timeout
        )
    except RPCError as err:
        raise _Verdict(
            "warning",
            f"{found}; cannot list its search attributes: {one_line(err.message)}",
            f"register them once (`temporal operator search-attribute create {flags}`) "
            "or set MEDIC_SEARCH_ATTRIBUTES=0",
        ) from None
    missing = sorted(name for name in DEV_SERVER_FLAGS if name not in listed.custom_attributes)
    if missing:
        raise _Verdict(
            "warning",
            f"{found}; search attributes not registered yet: {', '.join(missing)}",
            "a worker registers them at start-up where it may; else run "
            f"`temporal operator search-attribute create {flags}` or set MEDIC_SEARCH_ATTRIBUTES=0",
        )
    return f"{found}; {len(DEV_SERVER_FLAGS)} search attributes registered"


def check_database(settings: Settings, env: Mapping[str, str], timeout: float) -> str:
    url = settings.resolved_database_url
    try:
        at = migrate.current(url, connect_timeout=timeout)
    except SQLAlchemyError as err:
        raise _failure(one_line(getattr(err, "orig", None) or err), "check DATABASE_URL") from None
    except ValueError as err:
        raise _failure(one_line(err), "check DATABASE_URL") from None
    head = migrate.head()
    if at is None:
        raise _failure("no migrations applied (an empty or new database)", "run `medic db upgrade`")
    if at != head:
        if not migrate.known(at):
            raise _failure(
                f"at migration {at}, which this medic does not know (a newer medic migrated it)",
                "run the medic version that migrated it, or a newer one",
            )
        raise _failure(f"at migration {at}; this medic needs {head}", "run `medic db upgrade`")
    return f"reachable; migrations current ({head})"


def _waiting(depth: int, oldest: Any) -> str:
    if not depth:
        return "nothing waiting"
    since = f" since {oldest:%Y-%m-%d %H:%M:%S} UTC" if oldest is not None else ""
    return f"{depth} notification(s) waiting for Temporal{since}"


async def check_ingest_buffer(settings: Settings, env: Mapping[str, str], timeout: float) -> str:
    """Where the gateway keeps a notification Temporal cannot take (README "Durable ingest")."""
    if settings.ingest_buffer == "off":
        raise _skipped(
            "off: a notification Temporal cannot take is answered 503 and left to Alertmanager's retries",
            "set MEDIC_INGEST_BUFFER=store (or nats) to keep it until Temporal is back",
        )
    if settings.ingest_buffer == "nats":
        queue = JetStreamQueue.from_settings(settings, timeout=timeout)
        try:
            state = await queue.state()
        except JetStreamError as err:
            raise _failure(
                _said(err.message),
                "check MEDIC_NATS_URL and that the server runs JetStream (nats-server -js)",
            ) from None
        finally:
            await queue.close()
        return f"JetStream stream {settings.nats_stream}: {_waiting(state.depth, state.oldest_at)}"

    def outbox() -> str:
        engine = make_engine(settings.resolved_database_url)
        try:
            with session_factory(engine)() as session:
                state = OutboxRepository(session).state()
        except SQLAlchemyError:
            # Unreachable or not migrated: the database check says which, and what to do.
            raise _skipped("the store's ingest_outbox cannot be read (see the database check)") from None
        finally:
            engine.dispose()
        return f"the store's ingest_outbox: {_waiting(state.depth, state.oldest_at)}"

    return await asyncio.to_thread(outbox)


def check_kubernetes(settings: Settings, env: Mapping[str, str], timeout: float) -> str:
    try:
        kube = KubeClient.from_settings(
            settings.kube_api_url, settings.kubeconfig, timeout=(timeout, timeout)
        )
    except KubeInvalid as err:
        raise _failure(
            one_line(err.message),
            "set MEDIC_KUBE_API_URL or KUBECONFIG, or run medic in a Pod with a service account "
            "(`medic dev` and `medic demo` use their sandbox cluster instead)",
        ) from None
    try:
        try:
            version = kube.server_version()
        except KubeForbidden as err:
            raise _failure(
                f"the API refused medic's credentials: {one_line(err.message)}",
                "check the token or certificate of the kubeconfig / service account",
            ) from None
        except KubeError as err:
            raise _failure(
                f"unreachable: {_said(err.message)}",
                "check MEDIC_KUBE_API_URL / KUBECONFIG and that the API server is up",
            ) from None
        denied = []
        for verb, group, resource in REQUIRED_ACCESS:
            try:
                allowed, _reason = kube.access_allowed(verb, group, resource)
            except KubeError as err:
                raise _Verdict(
                    "warning",
                    f"reachable ({version}); cannot ask what medic may do: {one_line(err.message)}",
                    "allow medic's identity to create selfsubjectaccessreviews (every user may by default)",
                ) from None
            if not allowed:
                denied.append(f"{verb} {resource}" + (f".{group}" if group else ""))
        if denied:
            raise _failure(
                f"reachable ({version}); not allowed: {', '.join(denied)}",
                "grant these verbs to medic's identity (deploy/rbac.yaml or the Helm chart's ClusterRole)",
            )
        return f"reachable ({version}); all {len(REQUIRED_ACCESS)} permissions medic uses are allowed"
    finally:
        kube.close()


def check_argocd(settings: Settings, env: Mapping[str, str], timeout: float) -> str:
    if not settings.argocd_url:
        raise _skipped(
            "not configured (optional: observe then reads no Applications, drift scans and GitOps "
            "syncs are off)",
            "set ARGOCD_URL and ARGOCD_TOKEN to use Argo CD",
        )
    with ArgoClient(
        settings.argocd_url,
        settings.argocd_token,
        timeout=timeout,
        cluster_name=settings.cluster_name,
        cluster_server=settings.cluster_server,
    ) as argo:
        try:
            apps = argo.list_applications()
        except ArgoForbidden as err:
            raise _failure(
                f"the token is refused (HTTP {err.status}: {one_line(err.message)})",
                "set ARGOCD_TOKEN to a valid token of an account allowed `applications, get`",
            ) from None
        except ArgoError as err:
            raise _failure(
                f"unreachable: {_said(err.message)}",
                "check ARGOCD_URL and that the Argo CD API server is up",
            ) from None
        cluster = _this_cluster(argo, settings)
    if not apps:
        raise _Verdict(
            "warning",
            "the token is accepted but sees no Applications",
            "grant the account `applications, get` on the projects medic should watch",
        )
    return f"token accepted; {len(apps)} Application{'' if len(apps) == 1 else 's'} readable; {cluster}"


def _this_cluster(argo: ArgoClient, settings: Settings) -> str:
    """Which Argo CD cluster this medic is (README "Clusters"), or a warning when the one configured
    cannot be found in Argo CD's cluster list, or that list cannot be read."""
    here, listed = argo.clusters()
    configured = settings.cluster_name or settings.cluster_server
    if listed is None:
        if configured:
            raise _Verdict(
                "warning",
                f"the token cannot read Argo CD's cluster list: only Applications naming cluster "
                f"{here.label()} exactly are taken as owners here, the others are uncertain",
                'grant the account `clusters, get` (README "Clusters")',
            )
        return f"this medic is cluster {here.label()} (Argo CD's cluster list is not readable)"
    if configured and not (here.name and here.server):
        raise _Verdict(
            "warning",
            f"MEDIC_CLUSTER_NAME / MEDIC_CLUSTER_SERVER ({configured}) is not a cluster Argo CD lists: "
            "Applications naming it otherwise are uncertain owners",
            "set the name or server `argocd cluster list` shows for this cluster",
        )
    return f"this medic is cluster {here.name} ({here.server})"


def check_prometheus(settings: Settings, env: Mapping[str, str], timeout: float) -> str:
    if not settings.prometheus_url:
        raise _skipped(
            "not configured (optional: observe then collects no metric series)",
            "set PROMETHEUS_URL to use it",
        )
    now = time.time()
    with PrometheusClient(settings.prometheus_url, timeout=timeout) as prometheus:
        try:
            prometheus.query_range_series("vector(1)", now - 60, now, 60)
        except PrometheusError as err:
            raise _failure(
                f"the query failed: {_said(err.message)}",
                "check PROMETHEUS_URL (the server's root, without /api/v1) and that Prometheus is up",
            ) from None
    return "answers queries"


def check_opencost(settings: Settings, env: Mapping[str, str], timeout: float) -> str:
    if not settings.opencost_url:
        raise _skipped(
            "not configured (optional: change reviews are priced at OpenCost's default list prices)",
            "set MEDIC_OPENCOST_URL to price them at the cluster's own",
        )
    with OpenCostClient(settings.opencost_url, timeout=timeout) as opencost:
        try:
            prices = opencost.prices()
        except OpenCostError as err:
            raise _failure(
                f"no prices: {_said(err.message)}",
                "check MEDIC_OPENCOST_URL (OpenCost's API root, port 9003) and that OpenCost is up",
            ) from None
    basis = prices.basis.partition(" (")[2].rstrip(")")
    return (
        f"${prices.cpu_core_hour_usd:g} per core-hour, ${prices.memory_gib_hour_usd:g} per GiB-hour, "
        f"${prices.storage_gb_month_usd:g} per GiB-month ({basis})"
    )


def _clone(settings: Settings) -> GitRepo | None:
    """`gitops_clone`, a setting it refuses as a failure naming the fix."""
    try:
        return gitops_clone(settings)
    except ValueError as err:
        raise _failure(one_line(err), "fix the pull request host settings it names") from None


def check_gitops(settings: Settings, env: Mapping[str, str], timeout: float) -> str:
    repo = _clone(settings)
    if repo is None:
        raise _skipped(
            "not configured (optional: GitOps mode is off, Argo CD-managed objects get no pull requests)",
            "set MEDIC_GITOPS_REPO (or GITHUB_REPOSITORY with GITHUB_TOKEN, or MEDIC_GITLAB_PROJECT "
            "with GITLAB_TOKEN) to turn it on",
        )
    repo.timeout = timeout
    try:
        head = repo.remote_head()
    except GitError as err:
        raise _failure(
            f"cannot read it: {one_line(err.message)}",
            "check MEDIC_GITOPS_REPO and that medic's credentials may read the repository",
        ) from None
    read = f"readable (HEAD at {head[:12]})" if head else "readable (empty)"
    try:
        repo.check_push()
    except GitPermissionDenied as err:
        raise _failure(
            f"{read}, but a push is refused (a dry run, nothing was pushed): {one_line(err.message)}",
            "give medic's identity write access to the repository (a token with contents: write, or "
            "a deploy key allowed to write)",
        ) from None
    except GitError as err:
        raise _failure(
            f"{read}, but the push check failed (a dry run, nothing was pushed): {one_line(err.message)}",
            "check that medic's credentials may push to the repository",
        ) from None
    return f"{read}; a push would be accepted (dry run of {PUSH_PROBE_BRANCH}, nothing pushed)"


def check_pull_requests(settings: Settings, env: Mapping[str, str], timeout: float) -> str:
    repo = _clone(settings)
    kind = settings_host_kind(settings)
    if kind == "local":
        if repo is None:
            raise _skipped("no GitOps repository, so no pull requests (optional)")
        try:
            check_local_remote(repo.remote_url)
        except ValueError as err:
            raise _failure(one_line(err), PR_HOST_FIX) from None
        return "local: branches in the GitOps repository, records in the store (checked above)"
    assert repo is not None  # GitHub or GitLab configured: its https clone at least
    if kind == "gitlab":
        return _check_gitlab(settings, repo, timeout)
    app = bool(settings.github_app_id)
    fix_credentials = (
        "check MEDIC_GITHUB_APP_ID, the app's private key and that the app is installed on the repository"
        if app
        else "set GITHUB_TOKEN to a valid token with access to the repository"
    )
    try:
        auth = github_auth_from_settings(settings)
    except ValueError as err:
        raise _failure(one_line(str(err)), fix_credentials) from None
    try:
        host = GitHubPullRequestHost(
            repo,
            settings.github_repository,
            auth,
            settings.github_api_url,
            timeout=max(1, math.ceil(timeout)),
            seconds_between_requests=None,
            seconds_between_writes=None,
        )
    except ValueError as err:
        raise _failure(str(err), "set GITHUB_REPOSITORY to owner/name") from None
    try:
        granted = host.permissions()
    except PullRequestNotFound:
        raise _failure(
            f"{settings.github_repository} is not visible to the token",
            "check GITHUB_REPOSITORY and that the token may access that repository",
        ) from None
    except PullRequestForbidden as err:
        raise _failure(one_line(err.message), fix_credentials) from None
    except PullRequestError as err:
        raise _failure(
            f"unreachable: {_said(err.message)}", "check GITHUB_API_URL and that GitHub is reachable"
        ) from None
    finally:
        host.close()
    if app:
        # An installation token's writes are the app's permissions on the installation; the GitOps
        # check's dry-run push has tried them.
        return (
            f"GitHub App {settings.github_app_id}: installation token minted; "
            f"{settings.github_repository} readable"
        )
    if not granted.get("push"):
        raise _failure(
            f"the token may read {settings.github_repository} but not push to it",
            "give the token contents: write and pull requests: write on the repository",
        )
    return f"token accepted; push allowed on {settings.github_repository}"


def _check_gitlab(settings: Settings, repo: GitRepo, timeout: float) -> str:
    project = settings.gitlab_project
    try:
        host = GitLabPullRequestHost(
            repo, project, settings.gitlab_token, settings.gitlab_url, timeout=max(1.0, timeout)
        )
    except ValueError as err:
        raise _failure(str(err), "set MEDIC_GITLAB_PROJECT to group/repo and MEDIC_GITLAB_URL") from None
    try:
        granted = host.permissions()
    except PullRequestNotFound:
        raise _failure(
            f"{project} is not visible to the token",
            "check MEDIC_GITLAB_PROJECT and that the token is a member of that project",
        ) from None
    except PullRequestForbidden as err:
        raise _failure(
            one_line(err.message), "set GITLAB_TOKEN to a valid token with the api scope on the project"
        ) from None
    except PullRequestError as err:
        raise _failure(
            f"unreachable: {_said(err.message)}", "check MEDIC_GITLAB_URL and that GitLab is reachable"
        ) from None
    finally:
        host.close()
    if not granted.get("push"):
        raise _failure(
            f"the token may read {project} but not push to it or merge",
            "give the token's user (the project access token) the Developer role or above",
        )
    return f"token accepted; push and merge allowed on {project}"


_KEY_VARIABLES = {"anthropic": "ANTHROPIC_API_KEY", "openai": "MEDIC_OPENAI_API_KEY"}


def check_model(settings: Settings, env: Mapping[str, str], timeout: float) -> str:
    providers = [name for name in (settings.analyzer, settings.reviewer) if name and name != "offline"]
    if not providers:
        raise _skipped("the offline rules analyze (no model configured: nothing to check)")
    found = []
    for provider in dict.fromkeys(providers):
        try:
            analyzer = make_analyzer(provider, env={**env, "MEDIC_LLM_TIMEOUT_SECONDS": f"{timeout:g}"})
        except ModelRefused as err:
            raise _failure(err.reason, "set it, or MEDIC_ANALYZER=offline") from None
        model = analyzer.model
        try:
            present = analyzer.check_access()
        except ModelRefused as err:
            if err.status in (401, 403):
                raise _failure(
                    f"model {model} ({provider}): the API key is refused ({one_line(err.reason)})",
                    f"set {_KEY_VARIABLES[provider]} to a valid key for this model",
                ) from None
            raise _failure(
                f"model {model} ({provider}): {one_line(err.reason)}", "check the model settings"
            ) from None
        except LLMError as err:
            raise _failure(
                f"model {model} ({provider}): cannot reach it: {one_line(err.message)}",
                "check the model's base URL and that the provider is up",
            ) from None
        finally:
            analyzer.close()
        if not present:
            variable = "MEDIC_ANTHROPIC_MODEL" if provider == "anthropic" else "MEDIC_OPENAI_MODEL"
            if provider == "anthropic":
                raise _failure(f"model {model} (anthropic) does not exist for this key", f"set {variable}")
            raise _Verdict(
                "warning",
                f"model {model} (openai): the key is accepted but the server does not list the model",
                f"check {variable} against the server's /models",
            )
        found.append(f"{model} ({provider})")
    return f"key accepted; model {', '.join(found)} available"


def _check_url(url: str, variable: str, timeout: float) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _failure("not an http(s) URL", f"set {variable} to the full https:// URL")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise _failure("the URL's port is not a number", f"fix {variable}") from None
    host = parts.hostname
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise _failure(f"host {host} does not resolve", f"check {variable} and the DNS") from None
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            if parts.scheme == "https":
                with ssl.create_default_context().wrap_socket(raw, server_hostname=host):
                    pass
    except ssl.SSLError as err:
        raise _failure(f"TLS handshake failed: {one_line(err)}", f"check {variable}") from None
    except OSError as err:
        raise _failure(
            f"cannot connect to {host}:{port}: {one_line(err)}",
            f"check {variable} and that this host may reach it",
        ) from None
    tls = " (TLS verified)" if parts.scheme == "https" else ""
    return f"host resolves and accepts connections{tls}; no message was posted"


def check_slack(settings: Settings, env: Mapping[str, str], timeout: float) -> str:
    if not settings.slack_webhook_url:
        raise _skipped("not configured (optional)", "set MEDIC_SLACK_WEBHOOK_URL to notify a Slack channel")
    return _check_url(settings.slack_webhook_url, "MEDIC_SLACK_WEBHOOK_URL", timeout)


def check_notify_webhook(settings: Settings, env: Mapping[str, str], timeout: float) -> str:
    if not settings.notify_webhook_url:
        raise _skipped("not configured (optional)", "set MEDIC_NOTIFY_WEBHOOK_URL to send JSON notifications")
    return _check_url(settings.notify_webhook_url, "MEDIC_NOTIFY_WEBHOOK_URL", timeout)


# --- running them --------------------------------------------------------------------------------

CheckFunction = Callable[[Settings, Mapping[str, str], float], "str | Awaitable[str]"]


@dataclass(frozen=True)
class _Spec:
    name: str
    title: str
    run: CheckFunction
    target: Callable[[Settings], str]


def _kube_target(s: Settings) -> str:
    return s.kube_api_url or s.kubeconfig or "in-cluster / ~/.kube/config"


def _gitops_target(s: Settings) -> str:
    try:
        repo = gitops_clone(s)
    except ValueError:  # the check says why
        return s.gitops_repo_url
    if repo is None:
        return ""
    parts = urlsplit(repo.remote_url)
    if parts.scheme and "@" in parts.netloc:  # user:token@host: show neither
        return parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]).geturl()
    return repo.remote_url


def _pull_requests_target(s: Settings) -> str:
    try:
        kind = settings_host_kind(s)
    except ValueError:  # both configured: the check says so
        return ""
    if kind == "github":
        return f"GitHub {s.github_repository} via {s.github_api_url}"
    if kind == "gitlab":
        return f"GitLab {s.gitlab_project} at {s.gitlab_url}"
    return ""


SPECS: tuple[_Spec, ...] = (
    _Spec("configuration", "worker configuration", check_configuration, lambda s: ""),
    _Spec("temporal", "Temporal", check_temporal, lambda s: s.temporal_address),
    _Spec("database", "database", check_database, lambda s: redacted_url(s.resolved_database_url)),
    _Spec("kubernetes", "Kubernetes API", check_kubernetes, _kube_target),
    _Spec(
        "ingest_buffer",
        "ingest buffer",
        check_ingest_buffer,
        lambda s: s.nats_url if s.ingest_buffer == "nats" else "",
    ),
    _Spec("argocd", "Argo CD", check_argocd, lambda s: s.argocd_url),
    _Spec("prometheus", "Prometheus", check_prometheus, lambda s: s.prometheus_url),
    _Spec("opencost", "OpenCost", check_opencost, lambda s: s.opencost_url),
    _Spec("gitops", "GitOps repository", check_gitops, _gitops_target),
    _Spec(
        "pull_requests",
        "pull request host",
        check_pull_requests,
        _pull_requests_target,
    ),
    _Spec("model", "model", check_model, lambda s: ""),
    _Spec(
        "slack", "Slack", check_slack, lambda s: _origin(s.slack_webhook_url) if s.slack_webhook_url else ""
    ),
    _Spec(
        "notify_webhook",
        "notification webhook",
        check_notify_webhook,
        lambda s: _origin(s.notify_webhook_url) if s.notify_webhook_url else "",
    ),
)
NAMES = tuple(spec.name for spec in SPECS)


async def _run_one(
    spec: _Spec, settings: Settings, env: Mapping[str, str], timeout: float, executor: ThreadPoolExecutor
) -> Check:
    started = time.monotonic()
    try:
        target = spec.target(settings)
    except Exception:  # a target that cannot be named must not stop the check itself
        target = ""

    def done(status: Status, detail: str, fix: str = "") -> Check:
        return Check(spec.name, spec.title, status, detail, target, fix, time.monotonic() - started)

    try:
        if inspect.iscoroutinefunction(spec.run):
            work: Awaitable[Any] = spec.run(settings, env, timeout)
        else:
            loop = asyncio.get_running_loop()
            work = loop.run_in_executor(executor, spec.run, settings, env, timeout)
        # The clients have `timeout` each; this bounds a check that hangs anyway, a little later so
        # that a client's own failure (which says more) comes first.
        detail = await asyncio.wait_for(work, timeout + 1.0)
    except _Verdict as verdict:
        return done(verdict.status, verdict.detail, verdict.fix)
    except TimeoutError:
        return done(
            "failure",
            f"no answer within {timeout + 1.0:g} s",
            f"check that the {spec.title} is up and reachable",
        )
    except Exception as err:  # a check that breaks says how, as a failure, not a traceback
        return done("failure", f"the check itself failed: {type(err).__name__}: {one_line(err)}")
    return done("ok", str(detail))


async def run_checks(
    settings: Settings,
    env: Mapping[str, str] | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    only: Sequence[str] = NAMES,
) -> list[Check]:
    """The checks named in `only` (default: all), concurrently, each bounded by `timeout` seconds;
    their verdicts in the order of `NAMES`. `env` is where the model settings are read (the
    process edge passes `os.environ`)."""
    env = os.environ if env is None else env
    unknown = sorted(set(only) - set(NAMES))
    if unknown:
        raise ValueError(f"no such check: {', '.join(unknown)} (known: {', '.join(NAMES)})")
    executor = ThreadPoolExecutor(max_workers=len(NAMES), thread_name_prefix="medic-check")
    try:
        return list(
            await asyncio.gather(
                *(_run_one(spec, settings, env, timeout, executor) for spec in SPECS if spec.name in only)
            )
        )
    finally:
        # A client stuck past its own timeout is left to end on its own, not waited for.
        executor.shutdown(wait=False, cancel_futures=True)


async def blocking_failures(settings: Settings, *, timeout: float = DEFAULT_TIMEOUT) -> list[Check]:
    """The failures among the checks a worker or a gateway cannot start without (`BLOCKING`)."""
    return [check for check in await run_checks(settings, {}, timeout=timeout, only=BLOCKING) if check.failed]


# --- output --------------------------------------------------------------------------------------

_LABELS: dict[Status, str] = {"ok": "ok", "warning": "WARNING", "failure": "FAILURE", "skipped": "skipped"}


def summary(checks: Sequence[Check]) -> dict[str, int]:
    return {status: sum(1 for c in checks if c.status == status) for status in _LABELS}


def render_text(checks: Sequence[Check]) -> str:
    """One line per check (`status  title  [target: ]detail`), the fix beneath what is not ok,
    and a last line that counts them."""
    width = max(len(c.title) for c in checks) if checks else 0
    lines = []
    for c in checks:
        where = f"{c.target}: " if c.target else ""
        lines.append(f"{_LABELS[c.status]:<8} {c.title:<{width}}  {where}{c.detail}")
        if c.fix and c.status != "ok":
            lines.append(f"{'':<8} {'':<{width}}  fix: {c.fix}")
    counts = summary(checks)
    verdict = "FAILED" if counts["failure"] else "passed"

    def count(n: int, word: str) -> str:
        return f"{n} {word}" + ("" if n == 1 else "s")

    lines.append(
        f"medic doctor {verdict}: {counts['ok']} ok, {count(counts['warning'], 'warning')}, "
        f"{count(counts['failure'], 'failure')}, {counts['skipped']} skipped"
    )
    return "\n".join(lines)


def render_json(checks: Sequence[Check]) -> dict[str, Any]:
    return {
        "ok": not any(c.failed for c in checks),
        "summary": summary(checks),
        "checks": [c.as_dict() for c in checks],
    }
