"""The embedded stack (sandbox cluster, Argo CD, Prometheus, a bare GitOps remote, SQLite, the
session's Temporal dev server) that the dependency checks run against, and the environment that
configures a `medic` subprocess for it."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from cli.devserver import DevServer, free_port
from cli.embedded import DEFAULT_SCENARIO, Stack, embedded_stack
from domain.settings import Settings

# The GitOps demo: Argo CD has Applications there to read (the default scenario has none, which
# the Argo CD check reports as a warning).
SCENARIO = DEFAULT_SCENARIO.with_name("demo-gitops.yaml")

# Variables of medic's own settings: a subprocess gets only the ones a test gives it.
_OURS = (
    "MEDIC_",
    "TEMPORAL_",
    "DATABASE_URL",
    "KUBECONFIG",
    "ARGOCD_",
    "PROMETHEUS_URL",
    "GITHUB_",
    "ANTHROPIC_",
)


def environment(settings: Settings, **extra: str) -> dict[str, str]:
    """The process environment that configures `medic` as `settings` (the fields the embedded stack
    fills), plus `extra`; none of the caller's own medic variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}
    env.update(
        {
            "MEDIC_HOME": settings.home,
            "TEMPORAL_ADDRESS": settings.temporal_address,
            "MEDIC_TASK_QUEUE": settings.task_queue,
            "DATABASE_URL": settings.resolved_database_url,
            "MEDIC_KUBE_API_URL": settings.kube_api_url,
            "ARGOCD_URL": settings.argocd_url,
            "ARGOCD_TOKEN": settings.argocd_token,
            "PROMETHEUS_URL": settings.prometheus_url,
            "MEDIC_GITOPS_REPO": settings.gitops_repo_url,
            "MEDIC_SNAPSHOT_KEYS": settings.snapshot_keys,
            "MEDIC_WORKER_METRICS_ADDRESS": "",
            "MEDIC_WORKER_HEALTH_ADDRESS": "",
        }
    )
    env.update(extra)
    return env


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(dev_server: DevServer, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """One embedded stack for the module: its checks only read."""
    settings = Settings(
        home=str(tmp_path_factory.mktemp("medic-home")),
        temporal_address=dev_server.address,
        task_queue=f"health-{uuid.uuid4()}",
        worker_metrics_address="",
        worker_health_address="",
    )
    async with embedded_stack(settings, SCENARIO, gateway_port=free_port(), ui_port=None) as running:
        yield running
