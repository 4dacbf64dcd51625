"""The worker process: registers the remediation and drift scan workflows and every activity on one
task queue."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.analyze import AnalyzeActivities, ReviewActivities
from activities.approve import ApproveActivities
from activities.deploy.poll import DeployPollActivities
from activities.deploy.watch import DeployWatchActivities
from activities.direct.dry_run import DryRunActivities
from activities.direct.execute import ExecuteActivities
from activities.direct.rollback import RollbackActivities
from activities.direct.snapshot import SnapshotActivities
from activities.direct.verify import VerifyActivities
from activities.drift.defaults import DriftDefaultsActivities
from activities.drift.report import DriftReportActivities
from activities.drift.scan import DriftActivities
from activities.gitops.argocd import ApplicationSyncActivities
from activities.gitops.change import GitOpsChangeActivities
from activities.gitops.pull_requests import PullRequestActivities
from activities.memory import MemoryActivities
from activities.notify import NotifyActivities
from activities.observe import ObserveActivities
from activities.record import RecordActivities
from activities.review.steps import ChangeReviewActivities
from activities.sync import ArgoSyncActivities
from activities.validate import ValidateActivities
from domain.analysis.offline import Analyzer
from domain.drift.diff import drift_config_from_yaml
from domain.drift.model import DriftConfig
from domain.gitops.repositories import (
    REPOSITORIES_FILE_VARIABLE,
    GitOpsRepositories,
    default_repositories,
    repositories_from_yaml,
)
from domain.kube.ownership import Tracking
from domain.review.cost import DEFAULT_BASIS, Prices
from domain.settings import Settings
from health.checks import blocking_failures
from health.readiness import PROBE_TIMEOUT, Readiness, store_probe, temporal_probe
from health.server import HealthAddressError, serve_health
from integrations.argocd import ArgoClient
from integrations.git import GitRepo
from integrations.gitlab_merge_requests import gitlab_remote_url
from integrations.gitops_clones import GitOpsClones
from integrations.kubernetes import KubeClient
from integrations.llm import SecondOpinion
from integrations.llm.narrative import Narrator
from integrations.opencost import OpenCostClient, OpenCostInvalid
from integrations.prometheus import PrometheusClient
from integrations.pull_requests import (
    PullRequestHost,
    check_local_remote,
    github_remote_url,
    gitops_clone,
    pull_request_host_for_repository,
    pull_request_host_from_settings,
    repository_clone,
    settings_host_kind,
)
from integrations.sealing import GENERATE_KEY_COMMAND, KEYS_VARIABLE, SealingError, SnapshotSealer
from integrations.temporal.client import (
    SearchAttributeError,
    TemporalConfigError,
    build_runtime,
    connect,
    ensure_search_attributes,
    tls_config,
)
from policies import drift_disposition
from store.db import make_engine, session_factory
from store.pull_requests import StorePullRequestRecords
from store.reviews import StoreReviewRecords
from workers.admission import RunAdmission, admission_tuner
from workers.idle import IdleRuns, evict_idle_runs
from workers.memory import release_freed_memory
from workflows.deploy import DeploymentWatchWorkflow, DeployPollWorkflow
from workflows.drift import DriftScanWorkflow
from workflows.remediation import RemediationWorkflow
from workflows.review import ChangeReviewWorkflow
from workflows.search import DEV_SERVER_FLAGS

log = logging.getLogger("medic.worker")

WORKFLOWS = [
    RemediationWorkflow,
    DriftScanWorkflow,
    ChangeReviewWorkflow,
    DeploymentWatchWorkflow,
    DeployPollWorkflow,
]
# Modules the workflow sandbox shares between runs instead of importing them again for each run
# (which costs a waiting incident about a megabyte and each new run the time of the imports).
# They are deterministic and hold no state between runs: the domain model, and the workflows'
# helper modules (steps, state, options, stubs), which read time, randomness and identifiers only
# through `temporalio.workflow`. The workflow definitions themselves, `workflows.remediation.workflow`
# and `workflows.drift.workflow` with their packages, stay sandboxed and are imported per run.
PASSTHROUGH_MODULES = (
    "domain",
    "workflows.runner",
    "workflows.search",
    "workflows.drift.stubs",
    "workflows.review.stubs",
    "workflows.deploy.stubs",
    *(
        f"workflows.remediation.{name}"
        for name in (
            "analysis",
            "approval",
            "converge",
            "cooldown",
            "direct",
            "gitops",
            "memory",
            "merge",
            "notifications",
            "observe_mode",
            "options",
            "patches",
            "record",
            "snapshots",
            "state",
            "steps",
            "stubs",
            "sync",
            "toolkit",
            "verify",
        )
    ),
)
# The names of the tasks `start_housekeeping` runs beside a worker.
RELEASE_MEMORY_TASK = "medic-release-memory"
EVICT_IDLE_RUNS_TASK = "medic-evict-idle-runs"
# Blocking clients (kubernetes, SQLAlchemy) run on this many threads.
ACTIVITY_THREADS = 16
# Each start-up check (Temporal, the database) may take this long; they run at once.
STARTUP_CHECK_SECONDS = 5.0


def _analyzer(settings: Settings) -> Analyzer | None:
    """The configured model analyzer, or None for the offline rules (the default)."""
    if settings.analyzer == "offline":
        return None
    from integrations.llm import make_analyzer

    # Model settings (API key, model, base URL) are read here, at the process edge.
    return make_analyzer(settings.analyzer, env=os.environ)


def _reviewer(settings: Settings) -> SecondOpinion | None:
    """The configured second-opinion reviewer (MEDIC_REVIEWER), or None (the default: no review)."""
    if not settings.reviewer:
        return None
    from integrations.llm import make_analyzer

    # Same model settings as the analyzers, read here, at the process edge.
    return SecondOpinion(make_analyzer(settings.reviewer, env=os.environ))


def _narrator(settings: Settings) -> Narrator | None:
    """The change review's narrator: the model the analyzer is configured with (MEDIC_ANALYZER),
    or None with the offline rules (the default: reviews carry no narrative)."""
    if settings.analyzer == "offline":
        return None
    from integrations.llm import make_analyzer

    # Same model settings as the analyzers, read here, at the process edge.
    return Narrator(make_analyzer(settings.analyzer, env=os.environ))


class WorkerConfigError(Exception):
    """The worker cannot start with this configuration; the message says what to set."""


def snapshot_sealer(settings: Settings) -> SnapshotSealer:
    """The sealer snapshots are encrypted with; a worker refuses to start without keys.

    The embedded stack (`medic dev`, `medic demo`) fills `snapshot_keys` from <home>/snapshot.key.
    """
    if not settings.snapshot_keys.strip():
        raise WorkerConfigError(
            f"set {KEYS_VARIABLE}: snapshots hold objects' specs exactly as they were (literal env "
            f"values included) and are encrypted at rest with it; generate one with `{GENERATE_KEY_COMMAND}`"
        )
    try:
        return SnapshotSealer.from_value(settings.snapshot_keys)
    except SealingError as err:
        raise WorkerConfigError(str(err)) from err


def metrics_runtime(settings: Settings) -> Runtime | None:
    """A Temporal runtime whose SDK metrics (`temporal_*`: polls, task latencies, activity and
    workflow failures, slots) are served in Prometheus format on `worker_metrics_address`.

    None when the address is empty (the process's default runtime, no endpoint). Either one
    forwards the SDK core's warnings to Python logging. The incident metrics
    computed from the store are the gateway's `/metrics`, not served here, so that each series has
    one source however many workers run.
    """
    address = settings.worker_metrics_address.strip()
    if not address:
        return None
    try:
        return build_runtime(address)
    except ValueError as err:  # the exporter could not listen
        raise WorkerConfigError(
            f"cannot serve worker metrics on {address} (MEDIC_WORKER_METRICS_ADDRESS): {err}; "
            "set another host:port, or an empty value to turn them off"
        ) from err


def drift_config(settings: Settings) -> DriftConfig:
    """The drift configuration (MEDIC_DRIFT_CONFIG); none: no schedules, built-in normalisation only."""
    if not settings.drift_config:
        return DriftConfig()
    try:
        with open(settings.drift_config, encoding="utf-8") as file:
            return drift_config_from_yaml(file.read())
    except OSError as err:
        raise WorkerConfigError(
            f"cannot read the drift configuration {settings.drift_config}: {err}"
        ) from err
    except ValueError as err:
        raise WorkerConfigError(f"the drift configuration {settings.drift_config} is invalid: {err}") from err


def gitops_repo(settings: Settings) -> GitRepo | None:
    """The clone of the GitOps repository that observe reads and pull requests are pushed from."""
    try:
        return gitops_clone(settings)
    except ValueError as err:  # both hosts, a GitLab project without a URL, an unusable GitHub App key
        raise WorkerConfigError(str(err)) from err


def check_pull_request_settings(settings: Settings) -> None:
    """Refuse settings that name no pull request host medic may use — a real GitOps remote without
    GitHub or GitLab (the local host would push to its base branch unreviewed), both hosts at
    once — as a `WorkerConfigError` naming the fix, before anything connects."""
    try:
        repo = gitops_clone(settings)
        if repo is not None and settings_host_kind(settings) == "local":
            check_local_remote(repo.remote_url)
    except ValueError as err:
        raise WorkerConfigError(str(err)) from err


def pr_host(
    settings: Settings, repo: GitRepo | None, sessions: sessionmaker[Session]
) -> PullRequestHost | None:
    """The configured pull request host (GitHub, GitLab, else the local one over `repo` when that
    is a local bare repository), or None without a GitOps repository."""
    if repo is None:
        return None
    try:
        return pull_request_host_from_settings(
            settings, StorePullRequestRecords(sessions), repo=repo, reviews=StoreReviewRecords(sessions)
        )
    except ValueError as err:
        raise WorkerConfigError(str(err)) from err


def gitops_repositories(settings: Settings) -> GitOpsRepositories:
    """The repositories medic may write: the GitOps repository (MEDIC_GITOPS_REPO, its aliases and,
    with GitHub or GitLab, the repository's clone URL), then those MEDIC_GITOPS_REPOSITORIES_FILE lists."""
    github_url = (
        github_remote_url(settings.github_repository, settings.github_api_url)
        if settings.github_repository
        else ""
    )
    gitlab_url = (
        gitlab_remote_url(settings.gitlab_project, settings.gitlab_url) if settings.gitlab_project else ""
    )
    defaults = default_repositories(
        settings.gitops_repo_url or gitlab_url,
        (*settings.gitops_repo_aliases, gitlab_url),
        github_url,
        settings.github_repository,
        settings.github_api_url,
    )
    path = settings.gitops_repositories_file
    if not path:
        return defaults
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except OSError as err:
        raise WorkerConfigError(
            f"cannot read {REPOSITORIES_FILE_VARIABLE} {path}: {err.strerror or err}"
        ) from err
    try:
        return repositories_from_yaml(text, defaults)
    except ValueError as err:
        raise WorkerConfigError(str(err)) from err


def argocd_tracking(settings: Settings) -> Tracking:
    """How the configured Argo CD marks what it manages (MEDIC_ARGOCD_TRACKING, _INSTANCE_LABEL)."""
    return Tracking(method=settings.argocd_tracking, instance_label=settings.argocd_instance_label)


def gitops_clones(
    settings: Settings,
    repositories: GitOpsRepositories,
    repo: GitRepo | None,
    host: PullRequestHost | None,
    sessions: sessionmaker[Session],
) -> GitOpsClones:
    """A clone and a pull request host per repository medic may write: `repo` and `host` for the
    configured one, and for each further one of MEDIC_GITOPS_REPOSITORIES_FILE its own (cloned
    when a change first needs it). A repository whose host cannot be built stops the worker."""
    records = StorePullRequestRecords(sessions)
    reviews = StoreReviewRecords(sessions)
    clones = GitOpsClones(
        repositories,
        repo,
        host,
        workdir=settings.resolved_gitops_workdir,
        clone=lambda entry, workdir: repository_clone(entry, settings, workdir),
        make_host=lambda entry, clone: pull_request_host_for_repository(
            entry, clone, settings, records, reviews=reviews
        ),
    )
    if repo is None:
        return clones
    for entry in repositories.repositories[1:]:
        try:
            clones.host(entry.url)
        except ValueError as err:
            raise WorkerConfigError(f"{REPOSITORIES_FILE_VARIABLE}: {err}") from err
    return clones


def review_repo_urls(settings: Settings) -> tuple[str, ...]:
    """The URLs Argo CD Applications may name the GitOps repository by: every name of the
    configured repository in `gitops_repositories` (the remote, its aliases, with GitHub or GitLab
    the repository's clone URL, and the names MEDIC_GITOPS_REPOSITORIES_FILE gives it)."""
    primary = gitops_repositories(settings).primary()
    return tuple(n for n in primary.names() if n) if primary is not None else ()


def review_prices(settings: Settings) -> Callable[[], Prices | None]:
    """The prices a review uses: an OpenCost endpoint's when MEDIC_OPENCOST_URL is set (read for
    every review: they change), else None, OpenCost's default list prices. An OpenCost that cannot
    be reached is retried (`OpenCostUnavailable` is temporary); one that answers without prices
    gives the default list prices, with the reason in the basis every review states."""
    if not settings.opencost_url:
        return lambda: None
    client = OpenCostClient(settings.opencost_url)

    def prices() -> Prices | None:
        try:
            return client.prices()
        except OpenCostInvalid as err:
            return Prices(basis=f"{DEFAULT_BASIS}, because {err}")

    return prices


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandbox every worker runs the workflows in (tests build theirs with it too): the SDK's
    default restrictions, with `PASSTHROUGH_MODULES` shared between runs."""
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
    )


def idle_runs(worker: Worker) -> IdleRuns:
    """The runner `build_worker` gave `worker`, which knows how long each run has been idle."""
    runner = worker.config().get("workflow_runner")
    assert isinstance(runner, IdleRuns), runner
    return runner


def start_housekeeping(worker: Worker, settings: Settings) -> list[asyncio.Task[None]]:
    """What runs beside a worker built by `build_worker`, wherever it runs (`medic worker`,
    `medic dev`, the demo): freed memory given back to the system, and runs that wait for a person
    evicted from the cache after `worker_idle_eviction_seconds`. `stop_housekeeping` ends them."""
    return [
        asyncio.create_task(release_freed_memory(), name=RELEASE_MEMORY_TASK),
        asyncio.create_task(
            evict_idle_runs(worker, idle_runs(worker), settings.worker_idle_eviction_seconds),
            name=EVICT_IDLE_RUNS_TASK,
        ),
    ]


async def stop_housekeeping(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel the tasks `start_housekeeping` started and wait for them to end."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def build_worker(
    client: Client,
    settings: Settings,
    executor: ThreadPoolExecutor,
    kube: KubeClient | None = None,
    *,
    graceful_shutdown: timedelta = timedelta(0),
) -> Worker:
    """The worker; on shutdown, running activities get `graceful_shutdown` to finish before they
    are cancelled (and retried by Temporal, on another worker)."""
    runs = IdleRuns(workflow_runner())
    admission = RunAdmission(settings.worker_runs_in_flight, runs.in_flight)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        workflow_runner=runs,
        activities=activities_for(settings, kube),
        activity_executor=executor,
        tuner=admission_tuner(admission, ACTIVITY_THREADS),
        max_cached_workflows=settings.worker_workflow_cache,
        graceful_shutdown_timeout=graceful_shutdown,
    )


def activities_for(settings: Settings, kube: KubeClient | None = None) -> list[Callable[..., Any]]:
    """Every activity the workflows call, bound to the clients `settings` configure."""
    sealer = snapshot_sealer(settings)  # first: a missing key refuses before anything connects
    sessions = session_factory(make_engine(settings.resolved_database_url))
    kube = kube or KubeClient.from_settings(settings.kube_api_url, settings.kubeconfig)
    record = RecordActivities(sessions)
    approve = ApproveActivities(sessions)
    memory = MemoryActivities(sessions)
    repo = gitops_repo(settings)
    repositories = gitops_repositories(settings)
    pull_requests_host = pr_host(settings, repo, sessions)
    clones = gitops_clones(settings, repositories, repo, pull_requests_host, sessions)
    # One Argo CD client (thread-safe) for observe, the GitOps path and the drift scans.
    argocd = (
        ArgoClient(
            settings.argocd_url,
            settings.argocd_token,
            tracking=argocd_tracking(settings),
            cluster_name=settings.cluster_name,
            cluster_server=settings.cluster_server,
        )
        if settings.argocd_url
        else None
    )
    prometheus = PrometheusClient(settings.prometheus_url) if settings.prometheus_url else None
    observe = ObserveActivities(
        kube, argocd, prometheus, clones if repo is not None else None, sessions=sessions
    )
    deploy_watch = DeployWatchActivities(
        argocd, prometheus, repo, sessions, policy_dir=settings.policy_dir or None, settings=settings
    )
    deploy_poll = DeployPollActivities(argocd, watch_on=settings.deploy_watch, cluster=settings.cluster_name)
    change = GitOpsChangeActivities(
        repo, argocd, repo_urls=review_repo_urls(settings), repositories=repositories, clones=clones
    )
    pull_requests = PullRequestActivities(
        repo, pull_requests_host, console_url=settings.console_url, clones=clones
    )
    applications = ApplicationSyncActivities(argocd, repo, clones=clones)
    drift_settings = drift_config(settings)
    policy_dir = settings.policy_dir or None
    drift = DriftActivities(
        argocd,
        kube,
        repo,
        drift_settings,
        disposition=lambda found: drift_disposition(found, policy_dir),
    )
    drift_defaults = DriftDefaultsActivities(settings, drift_settings)
    drift_report = DriftReportActivities(sessions)
    argo_sync = ArgoSyncActivities(argocd)
    analyze = AnalyzeActivities(_analyzer(settings))
    review = ReviewActivities(_reviewer(settings))
    validate = ValidateActivities(
        settings.policy_dir or None, settings.protected_namespaces, repositories=repositories
    )
    dry_run = DryRunActivities(kube, sessions)
    snapshot = SnapshotActivities(kube, sessions, sealer)
    execute = ExecuteActivities(kube, sessions)
    verify = VerifyActivities(kube)
    rollback = RollbackActivities(kube, sessions, sealer)
    change_review = ChangeReviewActivities(
        repo,
        pull_requests_host,
        argocd,
        sessions,
        repo_urls=review_repo_urls(settings),
        policy_dir=policy_dir,
        protected_namespaces=settings.protected_namespaces,
        prices=review_prices(settings),
        console_url=settings.console_url,
        narrator=_narrator(settings),
    )
    try:
        notify = NotifyActivities.from_settings(settings)
    except ValueError as err:
        raise WorkerConfigError(str(err)) from err
    return [
        record.record_incident,
        record.record_audit,
        approve.record_approval,
        memory.recall_similar_incidents,
        memory.remember_incident,
        observe.observe_incident,
        analyze.analyze_incident,
        review.review_diagnosis,
        validate.validate_plan,
        dry_run.dry_run_plan,
        snapshot.snapshot_resources,
        execute.execute_plan,
        verify.check_rollout,
        rollback.restore_snapshots,
        change.prepare_gitops_change,
        change.prepare_gitops_revert,
        pull_requests.open_pull_request,
        pull_requests.get_pull_request,
        pull_requests.merge_pull_request,
        pull_requests.close_pull_request,
        applications.sync_applications,
        applications.check_applications,
        notify.send_notification,
        argo_sync.dry_run_sync,
        argo_sync.sync_resources,
        argo_sync.check_sync,
        drift_defaults.get_drift_defaults,
        drift.list_drift_applications,
        drift.scan_drift_page,
        drift.scan_unmanaged_manifests,
        drift_report.record_drift_findings,
        drift_report.finish_drift_scan,
        change_review.find_affected_applications,
        change_review.review_change,
        change_review.publish_review,
        deploy_watch.plan_deploy_watch,
        deploy_watch.sample_deploy_signals,
        deploy_watch.finish_deploy_watch,
        deploy_poll.list_recent_deploys,
    ]


class StartupRefused(Exception):
    """A dependency the worker cannot work without failed its start-up check; one line each."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


async def run_worker(settings: Settings, *, startup_timeout: float = STARTUP_CHECK_SECONDS) -> None:
    """Check, connect, poll until SIGTERM / SIGINT (then finish what runs and stop polling).

    Before anything connects: the snapshot keys, the Temporal TLS settings and the pull request
    host settings (`check_pull_request_settings`) must be usable, then
    Temporal (with its namespace) and the database (migrated to this code's head) must answer —
    else `StartupRefused`, one line per failing dependency. While it runs, `/healthz` and
    `/readyz` are served on `worker_health_address`."""
    snapshot_sealer(settings)  # refuse before connecting to Temporal
    tls_config(settings)  # TemporalConfigError names the setting
    check_pull_request_settings(settings)
    failures = await blocking_failures(settings, timeout=startup_timeout)
    if failures:
        raise StartupRefused([check.line() for check in failures])
    client = await connect(settings, metrics_runtime(settings))
    if settings.search_attributes:
        await ensure_search_attributes(client, settings.temporal_namespace, DEV_SERVER_FLAGS)
    stopping = asyncio.Event()

    async def the_client() -> Client:
        return client

    def polling() -> str | None:
        if stopping.is_set():
            return "the worker is stopping: it no longer polls its task queue"
        if not worker.is_running:
            return "the worker is not polling its task queue yet"
        return None

    readiness = Readiness(
        {
            "temporal": temporal_probe(settings, the_client, PROBE_TIMEOUT),
            "store": store_probe(settings, PROBE_TIMEOUT),
        },
        states={"worker": polling},
    )
    shutdowns: list[asyncio.Task[None]] = []  # held: the loop keeps only weak references to tasks
    with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
        worker = build_worker(
            client,
            settings,
            executor,
            graceful_shutdown=timedelta(seconds=settings.worker_graceful_shutdown_seconds),
        )
        try:
            async with serve_health(settings.worker_health_address, readiness) as health_url:
                with _stop_on_signals(lambda: _begin_shutdown(worker, stopping, shutdowns)):
                    log.info(
                        "worker polling task queue %s at %s", settings.task_queue, settings.temporal_address
                    )
                    if settings.worker_metrics_address:
                        log.info("worker metrics on http://%s/metrics", settings.worker_metrics_address)
                    if health_url:
                        log.info("worker health on %s/healthz and %s/readyz", health_url, health_url)
                    housekeeping = start_housekeeping(worker, settings)
                    try:
                        await worker.run()
                    finally:
                        await stop_housekeeping(housekeeping)
        finally:
            stopping.set()


def _begin_shutdown(worker: Worker, stopping: asyncio.Event, tasks: list[asyncio.Task[None]]) -> None:
    """Not ready from now on; the worker stops polling and gives the activities it runs
    `worker_graceful_shutdown_seconds` to finish."""
    if stopping.is_set():
        return
    stopping.set()
    log.info("worker stopping: no new tasks; finishing the running ones")
    tasks.append(asyncio.get_running_loop().create_task(worker.shutdown(), name="medic-worker-shutdown"))


@contextlib.contextmanager
def _stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    """SIGTERM and SIGINT call `stop` while the block runs (where signals can be handled: the main
    thread's loop); other threads' loops run without."""
    loop = asyncio.get_running_loop()
    installed = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(signum, stop)
        except (NotImplementedError, RuntimeError, ValueError):
            continue
        installed.append(signum)
    try:
        yield
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


def main(settings: Settings) -> None:
    try:
        asyncio.run(run_worker(settings))
    except StartupRefused as err:
        raise SystemExit("\n".join(f"medic worker: {line}" for line in err.lines)) from None
    except (WorkerConfigError, SearchAttributeError, TemporalConfigError, HealthAddressError) as err:
        raise SystemExit(f"medic worker: {err}") from None
