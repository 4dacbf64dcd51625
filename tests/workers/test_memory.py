"""A worker bounds the workflow runs it keeps in memory and gives what evicted runs held back to
the system."""

from __future__ import annotations

import asyncio
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from temporalio.testing import WorkflowEnvironment

from domain.settings import Settings, settings_from_mapping
from store.migrate import upgrade
from workers.main import ACTIVITY_THREADS, build_worker
from workers.memory import glibc_trim, release_freed_memory


def test_a_worker_keeps_a_thousand_runs_and_lets_go_of_a_run_idle_for_a_minute() -> None:
    assert Settings().worker_workflow_cache == 1000
    assert Settings().worker_idle_eviction_seconds == 60
    assert settings_from_mapping({"MEDIC_WORKER_WORKFLOW_CACHE": "0"}).worker_workflow_cache == 0


async def test_the_worker_caches_as_many_runs_as_configured(
    time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    database_url = f"sqlite:///{tmp_path / 'medic.db'}"
    upgrade(database_url)
    settings = Settings(
        home=str(tmp_path),
        database_url=database_url,
        task_queue=f"cache-{uuid.uuid4()}",
        snapshot_keys=Fernet.generate_key().decode(),
        kube_api_url="http://127.0.0.1:9",
        worker_workflow_cache=7,
    )
    with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
        worker = build_worker(time_skipping_env.client, settings, executor)
        assert worker.config()["max_cached_workflows"] == 7


async def test_freed_memory_is_given_back_on_a_thread_every_interval_until_cancelled() -> None:
    calls: list[int] = []
    loop_thread = threading.get_ident()

    def trim() -> int:
        calls.append(threading.get_ident())
        return 1

    releasing = asyncio.create_task(release_freed_memory(0.01, trim))
    while len(calls) < 3:
        await asyncio.sleep(0.01)
    releasing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await releasing
    settled = len(calls)
    await asyncio.sleep(0.05)
    assert len(calls) == settled
    assert loop_thread not in calls


def test_the_c_library_here_can_give_memory_back() -> None:
    trim = glibc_trim()  # every machine medic runs on here uses glibc; its image does too
    assert trim is not None
    assert trim() in (0, 1)
