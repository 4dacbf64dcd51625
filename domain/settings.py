"""medic's configuration: one model, read from a mapping (the environment) at the edges.

Nothing here reads the environment itself; callers pass `os.environ`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError

from domain.base import Frozen

DEFAULT_HOME = ".medic"
TASK_QUEUE = "medic-remediation"


class Settings(Frozen):
    home: str = DEFAULT_HOME
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_ui_url: str = "http://127.0.0.1:8233"
    # A secured Temporal (the SDK's environment names): TLS on, the server's CA (empty: the
    # system's roots), a client certificate and key for mutual TLS, the name the server's
    # certificate carries when it differs from the address's host, and an API key (Temporal
    # Cloud; TLS is on with one). Paths are read when medic connects.
    temporal_tls: bool = False
    temporal_tls_server_ca_cert_path: str = ""
    temporal_tls_client_cert_path: str = ""
    temporal_tls_client_key_path: str = ""
    temporal_tls_server_name: str = ""
    temporal_api_key: str = ""
    task_queue: str = TASK_QUEUE
    database_url: str = ""
    # Empty: the kubeconfig / in-cluster config the official client finds.
    kube_api_url: str = ""
    kubeconfig: str = ""
    webhook_token: str = ""
    # Alertmanager's webhook: bodies over this size are refused (413) before they are read, and
    # Temporal gets this long to take a notification before the answer is 503 (Alertmanager retries).
    webhook_max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    webhook_temporal_timeout_seconds: float = Field(default=1.0, gt=0)
    # Durable ingest (gateway/buffer.py): a notification Temporal cannot take within that budget is
    # kept here and delivered, in arrival order per alert group, once Temporal answers again.
    # store: a table of the store (PostgreSQL, or the embedded SQLite) | nats: a NATS JetStream
    # stream | off: answer 503 and leave the retry to Alertmanager.
    ingest_buffer: Literal["store", "nats", "off"] = "store"
    # How often an idle buffer is looked at, and the longest wait between delivery attempts while
    # Temporal stays unreachable (the wait doubles from the first up to this).
    ingest_poll_seconds: float = Field(default=1.0, gt=0)
    ingest_backoff_max_seconds: float = Field(default=30.0, gt=0)
    # JetStream: the server, the stream (created when missing: work-queue retention, file storage,
    # new messages refused when full), the subject prefix (one subject per alert group below it),
    # the durable consumer every gateway replica shares, and how long an unacknowledged delivery
    # is held before another replica may take it.
    nats_url: str = "nats://127.0.0.1:4222"
    nats_stream: str = "MEDIC_INGEST"
    nats_subject: str = "medic.ingest"
    nats_consumer: str = "medic-gateway"
    nats_ack_wait_seconds: float = Field(default=30.0, gt=0)
    nats_max_bytes: int = Field(default=1024 * 1024 * 1024, gt=0)
    # console: who may use the operators' console and its JSON API (gateway/auth.py). A static
    # token (its identity: user and groups), a users file of PBKDF2 hashes, and proxies whose
    # identity headers are trusted; none configured refuses every request. The secret signs
    # session cookies (unset: a random key per process).
    console_token: str = Field(default="", repr=False)
    console_token_user: str = "admin"
    console_token_groups: tuple[str, ...] = ()
    console_users_file: str = ""
    console_trusted_proxies: tuple[str, ...] = ()
    console_user_header: str = "X-Forwarded-User"
    console_groups_header: str = "X-Forwarded-Groups"
    console_secret: str = Field(default="", repr=False)
    # Publish MedicStatus/MedicRisk/... search attributes (registered by the worker at start-up).
    search_attributes: bool = True
    # offline (rules, no network) | anthropic (Claude) | openai (an OpenAI-compatible server)
    analyzer: str = "offline"
    # A second-opinion reviewer of plans with actions, which may only veto or raise the risk:
    # "" (none, the default) | anthropic | openai. Its model settings are the analyzers'.
    reviewer: str = ""
    approval_timeout_seconds: int = 4 * 3600
    # An incident stays open this long after its outcome (or until its alert resolves), so that
    # Alertmanager's repeats of the same group do not open a new one.
    incident_cooldown_seconds: int = 4 * 3600
    verify_timeout_seconds: int = 300
    verify_interval_seconds: int = 5
    policy_dir: str = ""
    protected_namespaces: tuple[str, ...] = ()
    # Optional context sources for observe; empty: not consulted.
    argocd_url: str = ""
    argocd_token: str = ""
    # How that Argo CD marks what it manages (argocd-cm `application.resourceTrackingMethod`:
    # `annotation`, 3.x's default; `label`, 2.x's; or `annotation+label`, which medic also takes
    # as "read the tracking-id annotation, else the label" for an estate of both), and its
    # instance label (argocd-cm `application.instanceLabelKey`).
    argocd_tracking: Literal["annotation", "label", "annotation+label"] = "annotation+label"
    argocd_instance_label: str = Field(default="app.kubernetes.io/instance", min_length=1)
    prometheus_url: str = ""
    # OpenCost's API (its /metrics, port 9003) a change review prices CPU, memory and storage
    # from; empty: OpenCost's default list prices.
    opencost_url: str = ""
    # The Argo CD cluster medic runs on (README "Clusters"): its name and API server URL as Argo
    # CD's cluster list has them. One of them is enough (the other is looked up in Argo CD's
    # clusters API); neither: Argo CD's `in-cluster`, https://kubernetes.default.svc. Only
    # Applications whose destination is this cluster are taken as owners of its workloads. A name
    # also scopes the alert groups' workflow ids and the default task queue, so that medics of
    # several clusters can share one Temporal namespace.
    cluster_name: str = ""
    cluster_server: str = ""
    # The alert label that names an alert's cluster, and other values of it that mean this
    # cluster: with a name or aliases set, the gateway takes only alerts whose label is one of
    # them (or that carry none).
    cluster_label: str = "cluster"
    cluster_aliases: tuple[str, ...] = ()
    # The GitOps repository Argo CD syncs from (any URL or path `git clone` takes), and where
    # medic keeps its clone (default: <home>/gitops-work).
    gitops_repo_url: str = ""
    gitops_workdir: str = ""
    # Other URLs Argo CD Applications name the GitOps repository by (a mirror, the ssh form, the
    # sandbox's scenario URL), comma-separated: a change review counts their sources as this
    # repository's.
    gitops_repo_aliases: tuple[str, ...] = ()
    # A YAML file listing more repositories medic may write (url as Argo CD names it, aliases, the
    # clone URL, the pull request host; README "GitOps repositories"). An Application whose source
    # is in none of them, nor the repository above, is never edited.
    gitops_repositories_file: str = ""
    # Fernet keys, comma-separated, newest first, that snapshots are encrypted with at rest.
    # Required by a worker; the embedded stack keeps one in <home>/snapshot.key when unset.
    snapshot_keys: str = Field(default="", repr=False)
    # host:port where a worker serves the Temporal SDK's metrics (Prometheus, /metrics); empty: off.
    worker_metrics_address: str = "127.0.0.1:9464"
    # host:port where a worker serves /healthz (alive) and /readyz (polling, Temporal and the store
    # reachable); empty: off.
    worker_health_address: str = "127.0.0.1:8081"
    # How many workflow runs a worker keeps in memory at most (Temporal's sticky cache), and after
    # how long without work a run leaves it (0: only when the cache is full). An evicted run is
    # replayed from its history when it next has work (an approval, a timer): memory for a little
    # CPU. A cache of 0 keeps none: every workflow task replays its history.
    worker_workflow_cache: int = Field(default=1000, ge=0)
    worker_idle_eviction_seconds: float = Field(default=60.0, ge=0)
    # At most this many runs wait for an activity at once before the worker takes new runs (and
    # runs out of its cache) into their steps; 0: no limit (workers/admission.py).
    worker_runs_in_flight: int = Field(default=40, ge=0)
    # On SIGTERM a worker stops polling and gives the activities it runs this long to finish before
    # it cancels them (they are then retried elsewhere). Keep it below the Pod's termination grace
    # period; the chart derives it from that.
    worker_graceful_shutdown_seconds: float = Field(default=20.0, ge=0)
    # notifications: a Slack incoming webhook and a generic JSON webhook (either turns them on);
    # the console's public base URL for links; reminders, in seconds before an approval deadline.
    slack_webhook_url: str = Field(default="", repr=False)
    notify_webhook_url: str = Field(default="", repr=False)
    notify_webhook_secret: str = Field(default="", repr=False)
    # Slack interactivity (README "Approve from Slack"): the app's signing secret turns on the
    # Approve / Reject buttons and the gateway's POST /slack/interactions, which maps Slack user
    # ids to medic users and groups through the users file (YAML or JSON).
    slack_signing_secret: str = Field(default="", repr=False)
    slack_users_file: str = ""
    console_url: str = "http://127.0.0.1:8000"
    approval_reminders_seconds: tuple[int, ...] = (3600, 900)
    # pull requests: GitHub when both a token and `owner/name` are set (GitHub Enterprise through
    # the API URL, e.g. https://ghe.example/api/v3), else a branch in the local bare repository
    # with a record in the store — only when MEDIC_GITOPS_REPO is a local bare repository (a path
    # or file:// URL): a real remote needs a real PR host. The webhook secret checks GitHub's
    # signature on PR events.
    github_token: str = Field(default="", repr=False)
    github_repository: str = ""
    github_api_url: str = "https://api.github.com"
    github_webhook_secret: str = Field(default="", repr=False)
    # A GitHub App instead of the token (README "GitHub App"): its id and private key (PEM, or a
    # file holding it) sign the JWT that mints an installation token, refreshed before it expires;
    # the installation is the one on GITHUB_REPOSITORY unless its id is given.
    github_app_id: str = ""
    github_app_private_key: str = Field(default="", repr=False)
    github_app_private_key_file: str = ""
    github_app_installation_id: int | None = Field(default=None, gt=0)
    # GitLab merge requests instead (gitlab.com or a self-managed GitLab at its base URL): a token
    # with the `api` scope (a project access token, Developer or above) and the project's path
    # (group/repo) or numeric id. The webhook token is the secret GitLab sends as X-Gitlab-Token.
    # Configuring both GitHub and GitLab is refused.
    gitlab_token: str = Field(default="", repr=False)
    gitlab_project: str = ""
    gitlab_url: str = "https://gitlab.com"
    gitlab_webhook_token: str = Field(default="", repr=False)
    pr_author_name: str = "medic"
    pr_author_email: str = "medic@localhost"
    # GitOps mode: while a pull request waits for its merge, the host is polled this often
    # (the GitHub webhook or `medic pr merge` end the wait at once); the wait lasts this long
    # (0: as long as the approval wait). A revert PR needs the fix's approvals again unless off.
    pr_poll_seconds: int = 30
    pr_merge_timeout_seconds: int = 0
    revert_needs_approval: bool = True
    # Change review: every pull request a person opens or pushes to on the GitOps repository is
    # reviewed (rendered diff, risk, cost) when the GitHub webhook tells of it; off: none is.
    review_pull_requests: bool = True
    # Deploy watch: Argo CD Notifications posts each successful sync to POST /webhooks/argocd with
    # this bearer token (unset: every delivery is refused), and each starts a
    # `DeploymentWatchWorkflow` of the (Application, revision); off: deliveries are taken and ignored.
    argocd_webhook_token: str = Field(default="", repr=False)
    deploy_watch: bool = True
    # The fallback poll of Argo CD's sync histories (`medic schedules apply`): how often it runs,
    # and how far back it looks for deploys (a bit more than the interval, so none falls between).
    deploy_poll_seconds: int = Field(default=300, gt=0)
    deploy_poll_lookback_seconds: int = Field(default=900, gt=0)
    # drift: the YAML file of schedules, ignore_differences and the raw-manifest path (README "Drift");
    # empty: no schedules, nothing ignored beyond the built-in normalisation.
    drift_config: str = ""

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{Path(self.home).resolve() / 'medic.db'}"

    @property
    def resolved_gitops_workdir(self) -> str:
        return self.gitops_workdir or str(Path(self.home).resolve() / "gitops-work")


def cluster_task_queue(cluster: str) -> str:
    """The default task queue of the medic of a named cluster: `medic-remediation-<cluster>`, the
    name cut to what a task queue may carry."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", cluster.strip()).strip("-")[:100]
    return f"{TASK_QUEUE}-{slug}" if slug else TASK_QUEUE


class SettingsError(ValueError):
    """A variable whose value the settings cannot take; the message is one line naming it."""


def settings_from_mapping(env: Mapping[str, str]) -> Settings:
    """Settings from MEDIC_* / well-known variables; anything unset keeps its embedded default.

    A value that does not fit its setting (`MEDIC_APPROVAL_TIMEOUT_SECONDS=abc`) raises
    `SettingsError`, one line naming the variable and what it should be."""
    # field -> the variable its value came from, to name it in an error
    source: dict[str, str] = {}

    def pick(*names: str) -> str | None:
        for name in names:
            value = env.get(name)
            if value:
                return value
        return None

    def named(field: str, *names: str) -> str | None:
        for name in names:
            if env.get(name):
                source[field] = name
                return env[name]
        return None

    values: dict[str, object] = {}
    mapping = {
        "home": ("MEDIC_HOME",),
        "temporal_address": ("TEMPORAL_ADDRESS", "MEDIC_TEMPORAL_ADDRESS"),
        "temporal_namespace": ("TEMPORAL_NAMESPACE",),
        "temporal_tls": ("TEMPORAL_TLS",),
        "temporal_tls_server_ca_cert_path": ("TEMPORAL_TLS_SERVER_CA_CERT_PATH",),
        "temporal_tls_client_cert_path": ("TEMPORAL_TLS_CLIENT_CERT_PATH",),
        "temporal_tls_client_key_path": ("TEMPORAL_TLS_CLIENT_KEY_PATH",),
        "temporal_tls_server_name": ("TEMPORAL_TLS_SERVER_NAME",),
        "temporal_api_key": ("TEMPORAL_API_KEY",),
        "temporal_ui_url": ("MEDIC_TEMPORAL_UI_URL",),
        "task_queue": ("MEDIC_TASK_QUEUE",),
        "database_url": ("DATABASE_URL",),
        "kube_api_url": ("MEDIC_KUBE_API_URL",),
        "kubeconfig": ("KUBECONFIG",),
        "webhook_token": ("MEDIC_WEBHOOK_TOKEN",),
        "webhook_max_body_bytes": ("MEDIC_WEBHOOK_MAX_BODY_BYTES",),
        "webhook_temporal_timeout_seconds": ("MEDIC_WEBHOOK_TEMPORAL_TIMEOUT_SECONDS",),
        "ingest_buffer": ("MEDIC_INGEST_BUFFER",),
        "ingest_poll_seconds": ("MEDIC_INGEST_POLL_SECONDS",),
        "ingest_backoff_max_seconds": ("MEDIC_INGEST_BACKOFF_MAX_SECONDS",),
        "nats_url": ("MEDIC_NATS_URL",),
        "nats_stream": ("MEDIC_NATS_STREAM",),
        "nats_subject": ("MEDIC_NATS_SUBJECT",),
        "nats_consumer": ("MEDIC_NATS_CONSUMER",),
        "nats_ack_wait_seconds": ("MEDIC_NATS_ACK_WAIT_SECONDS",),
        "nats_max_bytes": ("MEDIC_NATS_MAX_BYTES",),
        # console
        "console_token": ("MEDIC_CONSOLE_TOKEN",),
        "console_token_user": ("MEDIC_CONSOLE_TOKEN_USER",),
        "console_users_file": ("MEDIC_CONSOLE_USERS_FILE",),
        "console_user_header": ("MEDIC_CONSOLE_USER_HEADER",),
        "console_groups_header": ("MEDIC_CONSOLE_GROUPS_HEADER",),
        "console_secret": ("MEDIC_CONSOLE_SECRET",),
        "analyzer": ("MEDIC_ANALYZER",),
        "search_attributes": ("MEDIC_SEARCH_ATTRIBUTES",),
        "reviewer": ("MEDIC_REVIEWER",),
        "approval_timeout_seconds": ("MEDIC_APPROVAL_TIMEOUT_SECONDS",),
        "incident_cooldown_seconds": ("MEDIC_INCIDENT_COOLDOWN_SECONDS",),
        "verify_timeout_seconds": ("MEDIC_VERIFY_TIMEOUT_SECONDS",),
        "verify_interval_seconds": ("MEDIC_VERIFY_INTERVAL_SECONDS",),
        "worker_workflow_cache": ("MEDIC_WORKER_WORKFLOW_CACHE",),
        "worker_idle_eviction_seconds": ("MEDIC_WORKER_IDLE_EVICTION_SECONDS",),
        "worker_runs_in_flight": ("MEDIC_WORKER_RUNS_IN_FLIGHT",),
        "worker_graceful_shutdown_seconds": ("MEDIC_WORKER_GRACEFUL_SHUTDOWN_SECONDS",),
        "policy_dir": ("MEDIC_POLICY_DIR",),
        "argocd_url": ("ARGOCD_URL",),
        "argocd_token": ("ARGOCD_TOKEN",),
        "argocd_tracking": ("MEDIC_ARGOCD_TRACKING",),
        "argocd_instance_label": ("MEDIC_ARGOCD_INSTANCE_LABEL",),
        "prometheus_url": ("PROMETHEUS_URL",),
        "opencost_url": ("MEDIC_OPENCOST_URL",),
        "cluster_name": ("MEDIC_CLUSTER_NAME",),
        "cluster_server": ("MEDIC_CLUSTER_SERVER",),
        "cluster_label": ("MEDIC_CLUSTER_LABEL",),
        "gitops_repo_url": ("MEDIC_GITOPS_REPO",),
        "gitops_workdir": ("MEDIC_GITOPS_WORKDIR",),
        "snapshot_keys": ("MEDIC_SNAPSHOT_KEYS",),
        # pull requests
        "github_token": ("GITHUB_TOKEN",),
        "github_repository": ("GITHUB_REPOSITORY",),
        "github_api_url": ("GITHUB_API_URL",),
        "github_webhook_secret": ("MEDIC_GITHUB_WEBHOOK_SECRET",),
        "github_app_id": ("MEDIC_GITHUB_APP_ID",),
        "github_app_private_key": ("MEDIC_GITHUB_APP_PRIVATE_KEY",),
        "github_app_private_key_file": ("MEDIC_GITHUB_APP_PRIVATE_KEY_FILE",),
        "github_app_installation_id": ("MEDIC_GITHUB_APP_INSTALLATION_ID",),
        "gitops_repositories_file": ("MEDIC_GITOPS_REPOSITORIES_FILE",),
        "gitlab_token": ("MEDIC_GITLAB_TOKEN", "GITLAB_TOKEN"),
        "gitlab_project": ("MEDIC_GITLAB_PROJECT",),
        "gitlab_url": ("MEDIC_GITLAB_URL",),
        "gitlab_webhook_token": ("MEDIC_GITLAB_WEBHOOK_TOKEN",),
        "pr_author_name": ("MEDIC_PR_AUTHOR_NAME",),
        "pr_author_email": ("MEDIC_PR_AUTHOR_EMAIL",),
        # GitOps mode
        "pr_poll_seconds": ("MEDIC_PR_POLL_SECONDS",),
        "pr_merge_timeout_seconds": ("MEDIC_PR_MERGE_TIMEOUT_SECONDS",),
        "revert_needs_approval": ("MEDIC_REVERT_NEEDS_APPROVAL",),
        "review_pull_requests": ("MEDIC_REVIEW_PULL_REQUESTS",),
        # deploy watch
        "argocd_webhook_token": ("MEDIC_ARGOCD_WEBHOOK_TOKEN",),
        "deploy_watch": ("MEDIC_DEPLOY_WATCH",),
        "deploy_poll_seconds": ("MEDIC_DEPLOY_POLL_SECONDS",),
        "deploy_poll_lookback_seconds": ("MEDIC_DEPLOY_POLL_LOOKBACK_SECONDS",),
        "drift_config": ("MEDIC_DRIFT_CONFIG",),
    }
    for field, names in mapping.items():
        value = named(field, *names)
        if value is not None:
            values[field] = value
    # Set but empty is meaningful here: it turns the worker's metrics (health) endpoint off.
    for field, name in (
        ("worker_metrics_address", "MEDIC_WORKER_METRICS_ADDRESS"),
        ("worker_health_address", "MEDIC_WORKER_HEALTH_ADDRESS"),
    ):
        if name in env:
            values[field] = env[name].strip()
            source[field] = name
    # notifications
    for field, name in (
        ("slack_webhook_url", "MEDIC_SLACK_WEBHOOK_URL"),
        ("notify_webhook_url", "MEDIC_NOTIFY_WEBHOOK_URL"),
        ("notify_webhook_secret", "MEDIC_NOTIFY_WEBHOOK_SECRET"),
        ("slack_signing_secret", "MEDIC_SLACK_SIGNING_SECRET"),
        ("slack_users_file", "MEDIC_SLACK_USERS_FILE"),
        ("console_url", "MEDIC_CONSOLE_URL"),
    ):
        if pick(name):
            values[field] = env[name].strip()
            source[field] = name
    # Set but empty turns the reminders off.
    if "MEDIC_APPROVAL_REMINDERS" in env:
        values["approval_reminders_seconds"] = tuple(
            n.strip() for n in env["MEDIC_APPROVAL_REMINDERS"].split(",") if n.strip()
        )
        source["approval_reminders_seconds"] = "MEDIC_APPROVAL_REMINDERS"
    # console: comma-separated lists
    for field, name in (
        ("console_token_groups", "MEDIC_CONSOLE_TOKEN_GROUPS"),
        ("console_trusted_proxies", "MEDIC_CONSOLE_TRUSTED_PROXIES"),
    ):
        listed = named(field, name)
        if listed:
            values[field] = tuple(n.strip() for n in listed.split(",") if n.strip())
    aliases = named("gitops_repo_aliases", "MEDIC_GITOPS_REPO_ALIASES")
    if aliases:
        values["gitops_repo_aliases"] = tuple(n.strip() for n in aliases.split(",") if n.strip())
    cluster_aliases = named("cluster_aliases", "MEDIC_CLUSTER_ALIASES")
    if cluster_aliases:
        values["cluster_aliases"] = tuple(n.strip() for n in cluster_aliases.split(",") if n.strip())
    cluster = str(values.get("cluster_name") or "").strip()
    if cluster and "task_queue" not in values:
        # one medic per cluster: its own queue unless one is named
        values["task_queue"] = cluster_task_queue(cluster)
    protected = named("protected_namespaces", "MEDIC_PROTECTED_NAMESPACES")
    if protected:
        values["protected_namespaces"] = tuple(n.strip() for n in protected.split(",") if n.strip())
    try:
        settings = Settings.model_validate(values)
    except ValidationError as err:
        raise SettingsError(_one_line(err, source, env)) from None
    if settings.github_token and settings.github_app_id:
        raise SettingsError(
            "GITHUB_TOKEN and MEDIC_GITHUB_APP_ID are both set: medic authenticates to GitHub with "
            "one of them; unset GITHUB_TOKEN to use the GitHub App"
        )
    if settings.github_app_private_key and settings.github_app_private_key_file:
        raise SettingsError(
            "MEDIC_GITHUB_APP_PRIVATE_KEY and MEDIC_GITHUB_APP_PRIVATE_KEY_FILE are both set: "
            "give the key once"
        )
    return settings


def _one_line(err: ValidationError, source: Mapping[str, str], env: Mapping[str, str]) -> str:
    """`NAME='value': what it should be` for each refused variable, joined into one line."""
    problems = []
    for error in err.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        name = source.get(field, field)
        given = env.get(name, error.get("input"))
        # pydantic's "Input should be a valid integer, unable to parse ..." → "should be a valid integer"
        message = str(error["msg"]).split(",")[0].removeprefix("Input ")
        problems.append(f"{name}={given!r}: {message}")
    return "; ".join(problems)
