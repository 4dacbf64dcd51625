"""Killing the worker in the middle of the execute step loses nothing and duplicates nothing; killed
during the GitOps push, the incident continues on a new worker within seconds (the step's heartbeat
timeout), not after the step's start-to-close timeout."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from temporalio.client import Client

from cli.devserver import DevServer
from cli.embedded import DEFAULT_SCENARIO, Stack, open_policy
from domain.incident.alerts import AlertGroup
from domain.incident.model import incident_from_group
from domain.policy.approval import DecisionInput
from domain.steps.remediation import RemediationInput, WorkflowStatus
from gateway.ingest import remediation_input
from sandbox.cluster import SandboxCluster
from sandbox.scenario import SHARED_SCENARIOS, load_scenario
from sandbox.server import SandboxServer
from store.db import make_engine, session_factory, transaction
from store.migrate import upgrade
from store.repositories import ActionRepository, AuditRepository
from tests.conftest import wait_for_step
from tests.e2e.test_gitops_loop import attempts
from workflows.remediation import RemediationWorkflow

pytestmark = pytest.mark.e2e


class WorkerProcess:
    """`medic worker` as its own process, so that it can be killed like a real one."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self._env = env
        self._log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self._log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cli", "worker"], env=self._env, stdout=out, stderr=subprocess.STDOUT
            )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:  # its activities' grace period is longer than this
                self.process.kill()
                self.process.wait(timeout=10)


@pytest.fixture
def cluster() -> Iterator[tuple[SandboxCluster, str]]:
    sandbox = SandboxCluster.from_file(DEFAULT_SCENARIO)
    with SandboxServer(sandbox) as server:
        yield sandbox, server.url


def medic_writes(cluster: SandboxCluster) -> list[str]:
    records = cluster.field_managers("apps/v1", "Deployment", "shop", "cart")
    return [r.resource_version for r in records if r.manager == "medic"]


async def test_killed_worker_mid_execute_applies_the_change_exactly_once(
    dev_server: DevServer, dev_client: Client, cluster: tuple[SandboxCluster, str], tmp_path: Path
) -> None:
    sandbox, url = cluster
    database_url = f"sqlite:///{tmp_path / 'medic.db'}"
    upgrade(database_url)
    queue = f"crash-{uuid.uuid4()}"
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": dev_server.address,
        "DATABASE_URL": database_url,
        "MEDIC_KUBE_API_URL": url,
        "MEDIC_TASK_QUEUE": queue,
        "MEDIC_SNAPSHOT_KEYS": Fernet.generate_key().decode(),  # a worker refuses to start without one
        # the sandbox's policy (auto mode, open approvers): the signal's approver counts
        "MEDIC_POLICY_DIR": str(open_policy(tmp_path / "policy")),
        # No metrics or health server: their default ports may be taken by another test's worker.
        "MEDIC_WORKER_METRICS_ADDRESS": "",
        "MEDIC_WORKER_HEALTH_ADDRESS": "",
    }
    generation_before = sandbox.peek("apps/v1", "Deployment", "shop", "cart")["metadata"]["generation"]  # type: ignore[index]

    group = AlertGroup.model_validate(load_scenario(DEFAULT_SCENARIO).alert)
    workflow_id = f"incident-crash-{uuid.uuid4().hex[:8]}"
    first = WorkerProcess(env, tmp_path / "worker-1.log")
    second = WorkerProcess(env, tmp_path / "worker-2.log")
    first.start()
    try:
        handle = await dev_client.start_workflow(
            RemediationWorkflow.run,
            RemediationInput(incident=incident_from_group(workflow_id, group), verify_interval_seconds=1),
            id=workflow_id,
            task_queue=queue,
        )
        await wait_for_step(handle, "awaiting_approval", timeout=60)
        # The next real write is applied by the API at once, but its answer is held back: the
        # worker dies while the patch is in flight, before the activity can complete.
        sandbox.set_write_delay(5)
        await handle.signal(RemediationWorkflow.approve, DecisionInput(approver="alice"))
        deadline = asyncio.get_running_loop().time() + 60
        while not medic_writes(sandbox):
            assert asyncio.get_running_loop().time() < deadline, "the execute step never wrote"
            await asyncio.sleep(0.02)
        first.kill()
        sandbox.set_write_delay(0)

        second.start()
        result = await asyncio.wait_for(handle.result(), 120)
    finally:
        first.stop()
        second.stop()

    assert result.outcome == "resolved", result.reason
    assert len(medic_writes(sandbox)) == 1
    live = sandbox.peek("apps/v1", "Deployment", "shop", "cart")
    assert live is not None
    assert live["metadata"]["generation"] == generation_before + 1
    sessions = session_factory(make_engine(database_url))
    with transaction(sessions) as session:
        (execute,) = [a for a in ActionRepository(session).list(result.incident_id) if a.phase == "execute"]
        steps = [(e.step, e.status) for e in AuditRepository(session).list(incident_id=result.incident_id)]
    # The retry on the second worker found the change in place and left it alone.
    assert execute.detail["attempt"] >= 2
    assert execute.detail["changed_by_this_attempt"] is False
    assert steps.count(("executing", "completed")) == 1
    assert steps[-1] == ("closed", "resolved")


# A pre-receive hook of the GitOps remote: while `block` exists, a push waits (saying so in
# `pushing`); a push whose wait ends because `block` was removed is refused, so the killed worker's
# orphaned `git push` never lands. Without `block`, pushes are taken at once.
PUSH_HOOK = """#!/bin/sh
cat >/dev/null
[ -e "$GIT_DIR/block" ] || exit 0
touch "$GIT_DIR/pushing"
while [ -e "$GIT_DIR/block" ]; do sleep 0.05; done
echo "refused: the pushing worker was killed" >&2
exit 1
"""


def worker_env(stack: Stack, queue: str, home: Path) -> dict[str, str]:
    """`medic worker`'s environment for this stack's sandbox, Argo CD, store and GitOps remote."""
    settings = stack.settings
    return {
        **os.environ,
        "MEDIC_HOME": str(home),
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "DATABASE_URL": settings.resolved_database_url,
        "MEDIC_KUBE_API_URL": settings.kube_api_url,
        "MEDIC_TASK_QUEUE": queue,
        "MEDIC_SNAPSHOT_KEYS": settings.snapshot_keys,
        "MEDIC_POLICY_DIR": settings.policy_dir,
        "ARGOCD_URL": settings.argocd_url,
        "ARGOCD_TOKEN": settings.argocd_token,
        "PROMETHEUS_URL": settings.prometheus_url,
        "MEDIC_GITOPS_REPO": settings.gitops_repo_url,
        # the URL the scenario's Applications name the repository by: medic may write it
        "MEDIC_GITOPS_REPO_ALIASES": ",".join(settings.gitops_repo_aliases),
        "MEDIC_WORKER_METRICS_ADDRESS": "",
        "MEDIC_WORKER_HEALTH_ADDRESS": "",
    }


async def test_killed_worker_mid_push_is_replaced_within_the_heartbeat_timeout(
    make_stack: Any, tmp_path: Path
) -> None:
    scenario = SHARED_SCENARIOS / "oom-helm-values.yaml"
    stack = await make_stack(scenario, pr_poll_seconds=2)
    remote = Path(stack.settings.gitops_repo_url)
    hook = remote / "hooks" / "pre-receive"
    hook.write_text(PUSH_HOOK)
    hook.chmod(0o755)
    (remote / "block").touch()

    # Workers of their own queue (the stack's in-process worker never sees this incident).
    queue = f"push-crash-{uuid.uuid4()}"
    env = worker_env(stack, queue, tmp_path / "worker-home")
    first = WorkerProcess(env, tmp_path / "worker-1.log")
    second = WorkerProcess(env, tmp_path / "worker-2.log")
    group = AlertGroup.model_validate(load_scenario(scenario).alert)
    workflow_id = f"incident-push-crash-{uuid.uuid4().hex[:8]}"
    first.start()
    try:
        handle = await stack.client.start_workflow(
            RemediationWorkflow.run,
            remediation_input(stack.settings, group, workflow_id),
            id=workflow_id,
            task_queue=queue,
        )
        waiting = await wait_for_step(handle, "awaiting_approval", timeout=60)
        await handle.execute_update(
            RemediationWorkflow.decide,
            DecisionInput(approver="alice", reason="diff reviewed", plan_hash=waiting.plan_hash),
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while not (remote / "pushing").exists():
            assert loop.time() < deadline, "the pull request's push never started"
            await asyncio.sleep(0.02)
        first.kill()
        (remote / "block").unlink()  # the orphaned push is refused; the next one is taken

        second.start()
        started = time.monotonic()
        deadline = loop.time() + 60
        while True:
            status: WorkflowStatus = await handle.query(RemediationWorkflow.status)
            if status.pull_requests:
                break
            assert status.outcome is None, f"ended {status.outcome}: {status.reason}"
            assert loop.time() < deadline, f"no pull request after the crash (step {status.step})"
            await asyncio.sleep(0.1)
        continued = time.monotonic() - started
        print(f"pull request opened {continued:.1f}s after the new worker started")
        await handle.terminate("the test has seen what it needed")
    finally:
        first.stop()
        second.stop()

    # The push was retried on the new worker within the heartbeat timeout, not the 300 s
    # start-to-close timeout, and made one branch with one commit.
    assert continued < 30, f"the incident continued only {continued:.1f}s after the new worker started"
    assert (await attempts(handle, "open_pull_request"))[-1] == 2
    (pr,) = status.pull_requests
    branches = subprocess.run(
        ["git", "--git-dir", str(remote), "for-each-ref", "--format=%(refname:short)", "refs/heads/medic/"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert branches == [pr.branch]
    seed = subprocess.run(
        ["git", "--git-dir", str(remote), "rev-parse", "main"], capture_output=True, text=True, check=True
    ).stdout.strip()
    count = subprocess.run(
        ["git", "--git-dir", str(remote), "rev-list", "--count", f"{seed}..{pr.branch}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert count == "1"
