"""The worker and the gateway refuse to start, in one line per failing dependency, when Temporal or
the database does not answer; a setting the settings cannot take is one line too. A worker that
starts serves /healthz and /readyz, and stops gracefully on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from cli.devserver import free_port
from cli.embedded import Stack
from cli.main import app
from gateway.server import startup_refusal
from tests.health.conftest import environment
from workers.main import EVICT_IDLE_RUNS_TASK, RELEASE_MEMORY_TASK
from workers.main import main as worker_main

REPO = Path(__file__).resolve().parents[2]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_worker_refuses_a_broken_database_in_one_line(stack: Stack) -> None:
    port = closed_port()
    env = environment(stack.settings, DATABASE_URL=f"postgresql://medic:s3cret@127.0.0.1:{port}/medic")
    done = subprocess.run(
        [sys.executable, "-m", "cli", "worker"], env=env, cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"medic worker: database at postgresql://medic:***@127.0.0.1:{port}/medic: connection refused "
        "— check DATABASE_URL"
    ], done.stderr


def test_the_worker_refuses_an_unreachable_temporal_in_one_line(stack: Stack) -> None:
    port = closed_port()
    settings = stack.settings.model_copy(update={"temporal_address": f"127.0.0.1:{port}"})
    with pytest.raises(SystemExit) as refused:
        worker_main(settings)
    message = str(refused.value.code)
    assert message.splitlines() == [message]
    assert message.startswith(
        f"medic worker: Temporal at 127.0.0.1:{port}: "
        "cannot connect: connection refused — check TEMPORAL_ADDRESS"
    )


def test_the_worker_refuses_a_database_behind_its_migrations(stack: Stack, tmp_path: Path) -> None:
    (tmp_path / "old.db").touch()
    settings = stack.settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'old.db'}"})
    with pytest.raises(SystemExit) as refused:
        worker_main(settings)
    assert str(refused.value.code).endswith(
        "no migrations applied (an empty or new database) — run `medic db upgrade`"
    )


async def test_the_gateway_refuses_what_the_worker_refuses(stack: Stack) -> None:
    # From inside a running event loop, as uvicorn calls `gateway.server:app`.
    assert startup_refusal(stack.settings) is None
    port = closed_port()
    broken = stack.settings.model_copy(
        update={"database_url": f"postgresql://medic:pw@127.0.0.1:{port}/medic"}
    )
    assert startup_refusal(broken) == (
        f"medic gateway: database at postgresql://medic:***@127.0.0.1:{port}/medic: connection refused "
        "— check DATABASE_URL"
    )


@pytest.mark.parametrize("command", [["worker"], ["gateway"], ["doctor"], ["incidents", "list"]])
def test_a_setting_that_does_not_parse_is_one_line_naming_it(command: list[str]) -> None:
    result = CliRunner().invoke(app, command, env={"MEDIC_APPROVAL_TIMEOUT_SECONDS": "abc"})
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "medic: MEDIC_APPROVAL_TIMEOUT_SECONDS='abc': should be a valid integer"
    ], result.output


def test_a_started_worker_is_ready_and_stops_gracefully_on_sigterm(stack: Stack) -> None:
    address = f"127.0.0.1:{free_port()}"
    env = environment(stack.settings, MEDIC_WORKER_HEALTH_ADDRESS=address, MEDIC_TASK_QUEUE="health-sigterm")
    process = subprocess.Popen(
        [sys.executable, "-m", "cli", "worker"],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        ready = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                alive = httpx.get(f"http://{address}/healthz", timeout=1)
                ready = httpx.get(f"http://{address}/readyz", timeout=3)
            except httpx.TransportError:
                time.sleep(0.1)
                continue
            assert alive.json() == {"status": "ok"}
            if ready.status_code == 200:
                break
            time.sleep(0.1)
        assert ready is not None and ready.status_code == 200, (ready and ready.text, process.poll())
        assert ready.json() == {"status": "ready"}
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr and "worker stopping" in stderr


async def test_the_embedded_worker_lets_idle_runs_go_and_gives_memory_back(stack: Stack) -> None:
    # `medic dev` and the demo run the same housekeeping beside their worker as `medic worker`.
    running = {task.get_name() for task in asyncio.all_tasks() if not task.done()}
    assert {RELEASE_MEMORY_TASK, EVICT_IDLE_RUNS_TASK} <= running, running
