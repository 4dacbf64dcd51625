"""`medic dev` stops every process it started on SIGTERM, and refuses a dev server an earlier run
was killed before it could stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli.devserver import PID_FILE, free_port, port_open

ROOT = Path(__file__).resolve().parents[2]
START = "from cli.main import app; app(prog_name='medic')"


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces: the fields after it are fixed.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def descendants(pid: int) -> set[int]:
    tree, found, todo = _children(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _dev(tmp_path: Path) -> tuple[subprocess.Popen[str], int, int]:
    temporal, ui, gateway = free_port(), free_port(), free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MEDIC_", "TEMPORAL_", "DATABASE_URL", "KUBECONFIG"))
    }
    env.update(
        MEDIC_HOME=str(tmp_path / "home"),
        TEMPORAL_ADDRESS=f"127.0.0.1:{temporal}",
        MEDIC_TEMPORAL_UI_URL=f"http://127.0.0.1:{ui}",
        PYTHONPATH=str(ROOT),
    )
    process = subprocess.Popen(
        [sys.executable, "-c", START, "dev", "--port", str(gateway)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return process, temporal, gateway


def _wait_up(process: subprocess.Popen[str], gateway: int) -> None:
    deadline = time.monotonic() + 90
    while not port_open("127.0.0.1", gateway):
        if process.poll() is not None:
            pytest.fail(f"medic dev exited with {process.returncode}: {process.stdout.read()}")  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "medic dev did not come up in 90 s"
        time.sleep(0.2)


@pytest.mark.e2e
def test_sigterm_stops_medic_dev_and_every_process_it_started(tmp_path: Path) -> None:
    process, temporal, gateway = _dev(tmp_path)
    try:
        _wait_up(process, gateway)
        started = descendants(process.pid)
        assert started, "medic dev started no dev server"
        assert (tmp_path / "home" / PID_FILE).exists()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
        deadline = time.monotonic() + 5
        while (left := {pid for pid in started if alive(pid)}) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not left, f"left running after SIGTERM: {left}"
        assert not port_open("127.0.0.1", temporal)
        assert not (tmp_path / "home" / PID_FILE).exists()
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


def test_a_dev_server_left_by_a_killed_run_is_refused_in_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    orphan = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "server", "start-dev"],
        start_new_session=True,
    )
    try:
        (home / PID_FILE).write_text(f"{orphan.pid}\n")
        process, _, _ = _dev(tmp_path)
        out, _ = process.communicate(timeout=60)
        assert process.returncode == 1
        refusal = [line for line in out.splitlines() if "still running" in line]
        assert refusal == [
            f"medic dev: a Temporal dev server started by an earlier medic run (pid {orphan.pid}) is still "
            f"running: stop it with `kill {orphan.pid}` and start again"
        ], out
    finally:
        orphan.kill()
        orphan.wait()
