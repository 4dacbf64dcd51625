"""medic on embedded defaults: Temporal dev server, SQLite, worker, gateway and a sandbox cluster.

Every part is replaced by configuration alone: TEMPORAL_ADDRESS for a real Temporal,
DATABASE_URL for PostgreSQL, MEDIC_KUBE_API_URL or KUBECONFIG for a real cluster.

On the sandbox cluster, and only there, the policy runs in `auto` mode with open approvers (the
shipped rules and data otherwise), so that the demo shows the whole loop; MEDIC_POLICY_DIR
chooses a policy instead. With a real cluster the shipped policy applies: `propose`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, cast
from urllib.parse import urlencode, urlsplit

import uvicorn
from temporalio.client import Client

from cli.devserver import DevServer, DevServerError, port_open, stale_server
from domain.settings import Settings
from gateway.app import create_app
from integrations.prometheus import signal_queries
from integrations.sealing import ensure_key_file, ensure_secret_file
from integrations.temporal.client import connect, ensure_search_attributes
from policies import DATA_FILE, PolicyError, load_policy_data
from sandbox.argocd_api import SandboxArgoCD
from sandbox.argocd_sync import DeployClock
from sandbox.cluster import SandboxCluster
from sandbox.gitops import seed_bare_repo
from sandbox.prometheus_api import SandboxPrometheus
from sandbox.server import SandboxServer
from store.migrate import upgrade
from workers.main import ACTIVITY_THREADS, build_worker, start_housekeeping, stop_housekeeping
from workflows.search import DEV_SERVER_FLAGS

log = logging.getLogger("medic.dev")

DEFAULT_SCENARIO = Path(__file__).resolve().parents[1] / "sandbox" / "scenarios" / "demo-oom.yaml"
# Only for the embedded stack on loopback; a real gateway refuses webhooks until a token is set.
DEV_WEBHOOK_TOKEN = "medic-dev-token"
# Without MEDIC_SNAPSHOT_KEYS the embedded stack seals snapshots with a key of its own, kept here
# (mode 0600) so that snapshots taken before a restart can still be restored.
SNAPSHOT_KEY_FILE = "snapshot.key"
# Without any console authentication configured, the embedded stack's console takes a token of
# its own, kept here (mode 0600) so that it stays the same across restarts.
CONSOLE_TOKEN_FILE = "console.token"
# The sandbox's policy data (written at every start, from the shipped data): <home>/policy/data.json
SANDBOX_POLICY_DIR = "policy"


@dataclass
class Stack:
    settings: Settings
    client: Client
    gateway_url: str
    cluster: SandboxCluster | None
    scenario: Path | None
    temporal_started: bool
    # The console's static token ("" when the console authenticates otherwise), and the file it
    # was kept in when the embedded stack made it.
    console_token: str = ""
    console_token_file: str = ""
    # The sandbox Argo CD, when the stack runs one (tests reach its notifier through it).
    argocd: SandboxArgoCD | None = None


def cluster_configured(settings: Settings) -> bool:
    """Whether a real cluster was chosen explicitly (MEDIC_KUBE_API_URL or KUBECONFIG).

    A ~/.kube/config that merely exists is not a choice: the embedded stack, with its well-known
    dev token, must never start changing whatever cluster a laptop happens to point at.
    """
    return bool(settings.kube_api_url or settings.kubeconfig)


def console_auth_configured(settings: Settings) -> bool:
    return bool(settings.console_token or settings.console_users_file or settings.console_trusted_proxies)


def ensure_console_token(path: str | os.PathLike[str]) -> str:
    """The token kept in `path`, creating the file (mode 0600) with a new token when it is missing."""
    token = ensure_secret_file(path, lambda: secrets.token_urlsafe(32))
    if not token:
        raise RuntimeError(f"{path} is empty: delete it to have a new console token made")
    return token


def open_policy(directory: str | os.PathLike[str], mode: str = "auto") -> Path:
    """A policy directory holding only data: the shipped data, with every namespace in `mode` and
    anyone allowed to approve. For the sandbox and tests; the shipped default is `propose` with
    the group sre as approvers. Returns the directory."""
    data = load_policy_data()
    config = data["medic"]["config"]
    config["modes"] = {"default": mode, "namespaces": {}}
    config["approvers"] = [{"principals": ["*"], "namespaces": ["*"], "max_risk": "high"}]
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    (path / DATA_FILE).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def _temporal_port(settings: Settings) -> int | None:
    """The port to start a dev server on, when the address is a loopback one; else None."""
    host, _, port = settings.temporal_address.rpartition(":")
    if host in ("127.0.0.1", "localhost") and port.isdigit():
        return int(port)
    return None


def git_source_urls(applications: list[dict[str, Any]]) -> tuple[str, ...]:
    """The repository URLs of the Applications' Git sources (not Helm repositories' charts)."""
    urls = set()
    for app in applications:
        spec = app.get("spec") or {}
        for source in spec.get("sources") or [spec.get("source") or {}]:
            if source.get("repoURL") and not source.get("chart"):
                urls.add(str(source["repoURL"]))
    return tuple(sorted(urls))


def _sandbox_context(
    base: Settings,
    cluster: SandboxCluster,
    home: Path,
    resources: contextlib.ExitStack,
    *,
    gateway_port: int = 8000,
    started: dict[str, object] | None = None,
) -> dict[str, object]:
    """Argo CD and Prometheus fakes serving the scenario's applications and metric series, and
    `<home>/gitops.git` seeded with its GitOps files — each only where nothing real is configured.

    With the seeded repository, the sandbox Argo CD follows it: a merged pull request is synced to
    the sandbox cluster as Argo CD would sync it, on medic's refresh or sync request. (It does not
    poll on its own: every request advances the sandbox cluster, and a timer would make the
    simulation's pace depend on the wall clock.) Each sync to a new revision is posted to the
    gateway's `/webhooks/argocd`, as Argo CD Notifications would, and marks the changed workloads
    on a clock the sandbox Prometheus reads: the scenario's `deploy_signals` are its "before"
    values until a workload's sync and its "after" values since.
    """
    scenario = cluster.scenario
    updates: dict[str, object] = {}
    remote: Path | None = None
    if not base.gitops_repo_url:
        remote = home / "gitops.git"
        seed_bare_repo(remote, scenario.gitops, message=f"seed: scenario {scenario.name}")
        updates["gitops_repo_url"] = str(remote)
        if not base.gitops_repo_aliases:
            # The sandbox Argo CD serves the scenario's Git sources from this remote.
            updates["gitops_repo_aliases"] = git_source_urls(scenario.argocd)
    clock = DeployClock()
    if not base.argocd_url:
        token = secrets.token_hex(16)
        notify_token = base.argocd_webhook_token or secrets.token_hex(16)
        argocd = resources.enter_context(
            SandboxArgoCD(
                scenario.argocd,
                token=token,
                cluster=cluster,
                repo=remote,
                notify_url=f"http://127.0.0.1:{gateway_port}/webhooks/argocd",
                notify_token=notify_token,
                deploy_clock=clock,
                argocd_version=scenario.argocd_version,
            )
        )
        updates.update(argocd_url=argocd.url, argocd_token=token, argocd_webhook_token=notify_token)
        if started is not None:
            started["argocd"] = argocd
    if not base.prometheus_url:
        prometheus = resources.enter_context(
            SandboxPrometheus(
                scenario.metrics,
                deploy_signals=scenario.deploy_signals,
                signal_queries=signal_queries,
                clock=clock,
            )
        )
        updates["prometheus_url"] = prometheus.url
    return updates


@contextlib.asynccontextmanager
async def embedded_stack(
    base: Settings,
    scenario: Path | None,
    *,
    gateway_port: int = 8000,
    ui_port: int | None = 8233,
    force_sandbox: bool = False,
) -> AsyncIterator[Stack]:
    home = Path(base.home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    use_sandbox = force_sandbox or scenario is not None or not cluster_configured(base)
    scenario = (scenario or DEFAULT_SCENARIO) if use_sandbox else None

    with contextlib.ExitStack() as resources:
        cluster: SandboxCluster | None = None
        sandboxes: dict[str, object] = {}
        updates: dict[str, object] = {
            "home": str(home),
            "webhook_token": base.webhook_token or DEV_WEBHOOK_TOKEN,
            "snapshot_keys": base.snapshot_keys or ensure_key_file(home / SNAPSHOT_KEY_FILE),
        }
        console_token_file = ""
        if not console_auth_configured(base):
            console_token_file = str(home / CONSOLE_TOKEN_FILE)
            updates["console_token"] = ensure_console_token(console_token_file)
        if scenario is not None:
            cluster = SandboxCluster.from_file(scenario)
            sandbox = resources.enter_context(SandboxServer(cluster))
            updates["kube_api_url"] = sandbox.url
            updates.update(
                _sandbox_context(base, cluster, home, resources, gateway_port=gateway_port, started=sandboxes)
            )
            if not base.policy_dir:
                updates["policy_dir"] = str(open_policy(home / SANDBOX_POLICY_DIR))
        settings = base.model_copy(update=updates)

        upgrade(settings.resolved_database_url)

        temporal_started = False
        port = _temporal_port(settings)
        orphan = stale_server(home) if port is not None else None
        if orphan is not None:
            raise DevServerError(
                f"a Temporal dev server started by an earlier medic run (pid {orphan}) is still running:"
                f" stop it with `kill {orphan}` and start again"
            )
        if port is not None and port_open("127.0.0.1", port):
            log.warning(
                "using the Temporal server already listening on 127.0.0.1:%d (not started by medic)", port
            )
        if port is not None and not port_open("127.0.0.1", port):
            server = DevServer(
                port=port, ui_port=ui_port, db_file=home / "temporal.db", log_file=home / "temporal.log"
            )
            await asyncio.to_thread(server.start)
            resources.callback(server.stop)
            temporal_started = True
        client = await connect(settings)
        if settings.search_attributes:
            await ensure_search_attributes(client, settings.temporal_namespace, DEV_SERVER_FLAGS)

        executor = resources.enter_context(ThreadPoolExecutor(max_workers=ACTIVITY_THREADS))
        worker = build_worker(client, settings, executor)
        worker_task = asyncio.create_task(worker.run(), name="medic-worker")
        housekeeping = start_housekeeping(worker, settings)

        # proxy_headers=False: the console judges trusted proxies and loopback by the TCP peer.
        config = uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=gateway_port,
            log_level="warning",
            proxy_headers=False,
        )
        gateway = uvicorn.Server(config)
        gateway_task = asyncio.create_task(gateway.serve(), name="medic-gateway")
        try:
            while not gateway.started:
                if gateway_task.done():
                    gateway_task.result()
                    raise RuntimeError(f"the gateway could not listen on 127.0.0.1:{gateway_port}")
                await asyncio.sleep(0.05)
            yield Stack(
                settings=settings,
                client=client,
                gateway_url=f"http://127.0.0.1:{gateway_port}",
                cluster=cluster,
                scenario=scenario,
                temporal_started=temporal_started,
                console_token=settings.console_token,
                console_token_file=console_token_file,
                argocd=cast(SandboxArgoCD | None, sandboxes.get("argocd")),
            )
        finally:
            gateway.should_exit = True
            with contextlib.suppress(Exception):
                await gateway_task
            await worker.shutdown()
            with contextlib.suppress(Exception):
                await worker_task
            await stop_housekeeping(housekeeping)


def describe(stack: Stack) -> list[str]:
    s = stack.settings
    ui = f"  (Web UI {s.temporal_ui_url})" if stack.temporal_started else ""
    cluster = (
        f"sandbox seeded from {stack.scenario.name} at {s.kube_api_url}"
        if stack.scenario
        else (s.kube_api_url or s.kubeconfig or "kubeconfig / in-cluster")
    )
    return [
        f"  Temporal   {s.temporal_address}{ui}"
        + (" — dev server started" if stack.temporal_started else ""),
        f"  store      {s.resolved_database_url.split('@')[-1]}",
        f"  cluster    {cluster}",
        f"  gateway    {stack.gateway_url}  (POST /alerts/alertmanager, bearer token required)",
        *console_lines(stack),
        "  analyzer   offline rules",
        f"  policy     {policy_line(stack)}",
    ]


def policy_line(stack: Stack) -> str:
    """Which policy decides, and in which mode it runs by default."""
    where = stack.settings.policy_dir or "shipped"
    try:
        config = load_policy_data(stack.settings.policy_dir or None)["medic"]["config"]
        mode = config.get("modes", {}).get("default", "propose")
    except (KeyError, TypeError, AttributeError, PolicyError) as err:
        return f"{where} (unreadable: {err})"
    return f"{where} — default mode {mode}"


def console_lines(stack: Stack) -> list[str]:
    """Where the console is and how to log in to it."""
    s = stack.settings
    url = f"{stack.gateway_url}/console/"
    if stack.console_token_file:
        # The token goes into the URL for a one-click login, which the gateway accepts from
        # loopback only; the same token typed on the login page works from anywhere.
        link = f"{stack.gateway_url}/console/login?" + urlencode({"token": stack.console_token})
        return [
            f"  console    {url}  (log in with the token in {stack.console_token_file})",
            f"             one click, from this machine: {link}",
        ]
    ways = []
    if s.console_token:
        ways.append("MEDIC_CONSOLE_TOKEN")
    if s.console_users_file:
        ways.append(f"a user of {s.console_users_file}")
    if s.console_trusted_proxies:
        ways.append("the authenticating proxy")
    return [f"  console    {url}  (log in with {' or '.join(ways)})"]


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM handled as SIGINT is (by asyncio.run: the main task is cancelled), so that either
    one unwinds the stack and its `finally` blocks stop every process it started. Python's default
    for SIGTERM ends the process on the spot, leaving the Temporal dev server running."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        signal.raise_signal(signal.SIGINT)

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def ui_port(settings: Settings) -> int | None:
    """The port for the dev server's Web UI: MEDIC_TEMPORAL_UI_URL's, when that is on loopback."""
    url = urlsplit(settings.temporal_ui_url)
    if url.hostname in ("127.0.0.1", "localhost") and url.port:
        return url.port
    return 8233


def deploy_lines(stack: Stack) -> list[str]:
    """How to deploy on the sandbox: push to the seeded GitOps remote, then refresh the Application
    on the sandbox Argo CD as its poll would (its automated sync runs at the next request: a second
    GET). Nothing without a sandbox Argo CD following a seeded remote."""
    s = stack.settings
    if stack.argocd is None or stack.scenario is None or not (Path(s.gitops_repo_url) / "HEAD").exists():
        return []
    names = [str(app.get("metadata", {}).get("name")) for app in stack.argocd.applications]
    if not names:
        return []
    url = f"{s.argocd_url}/api/v1/applications/{names[0]}?refresh=normal"
    return [
        f"\nDeploy: push a commit to main of {s.gitops_repo_url}, then have the sandbox Argo CD look,",
        f"as its poll would (Applications: {', '.join(names)}); the second request runs the sync:",
        f"  curl -H 'Authorization: Bearer {s.argocd_token}' '{url}'  # twice",
    ]


def run_dev(base: Settings, scenario: Path | None, *, gateway_port: int = 8000) -> None:
    async def main() -> None:
        async with embedded_stack(base, scenario, gateway_port=gateway_port, ui_port=ui_port(base)) as stack:
            print("medic is running on embedded defaults:")
            for line in describe(stack):
                print(line)
            token = stack.settings.webhook_token
            print(f"\nSend an alert:  curl -H 'Authorization: Bearer {token}' \\")
            print("                  -H 'Content-Type: application/json' \\")
            print(f"                  --data @payload.json {stack.gateway_url}/alerts/alertmanager")
            for line in deploy_lines(stack):
                print(line)
            print("Stop with Ctrl-C.", flush=True)
            await asyncio.Event().wait()

    with terminate_as_interrupt(), contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
