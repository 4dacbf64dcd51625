"""The Dockerfile's image: git, an unprivileged user, declared writable directories, a health
check; and medic run the way the image runs it, on a read-only filesystem but for those."""

from __future__ import annotations

import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import cli
from tests.conftest import in_ci

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
HEALTHCHECK = REPO / "deploy" / "docker" / "healthcheck.py"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the final stage, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    parsed = [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]
    last_from = max(i for i, (op, _) in enumerate(parsed) if op == "FROM")
    return parsed[last_from:]


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for op, args in instructions():
        if op == "ENV":
            env.update(dict(re.findall(r"(\w+)=(\S+)", args)))
    return env


def test_the_image_runs_as_an_unprivileged_user_with_git_and_a_health_check() -> None:
    final = instructions()
    ops = dict(final)
    assert re.match(r"python:3\.11-slim\b", ops["FROM"])
    (user,) = [args for op, args in final if op == "USER"]
    assert user.split(":")[0] not in ("root", "0")
    installs = " ".join(args for op, args in final if op == "RUN")
    assert re.search(r"apt-get install -y --no-install-recommends [^&]*\bgit\b", installs)
    assert "rm -rf /var/lib/apt/lists/*" in installs
    assert "HEALTHCHECK" in ops and "/opt/medic/healthcheck.py" in ops["HEALTHCHECK"]
    assert ops["ENTRYPOINT"] == '["medic"]'
    # No pip cache anywhere in the build.
    assert all(
        "--no-cache-dir" in args for op, args in instructions_all() if op == "RUN" and "pip install" in args
    )


def instructions_all() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_every_directory_medic_writes_is_a_declared_volume() -> None:
    env = image_env()
    (volume,) = [args for op, args in instructions() if op == "VOLUME"]
    volumes = set(re.findall(r'"([^"]+)"', volume))
    assert "/tmp" in volumes
    for path in (env["MEDIC_HOME"], env["HOME"], env["MEDIC_GITOPS_WORKDIR"]):
        assert any(path == v or path.startswith(v + "/") for v in volumes), path
    (workdir,) = [args for op, args in instructions() if op == "WORKDIR"]
    assert workdir in volumes, "the working directory must be writable too"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"


def test_the_build_context_keeps_every_package_the_wheel_ships() -> None:
    import fnmatch
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = [p.rstrip("*") for p in config["tool"]["setuptools"]["packages"]["find"]["include"]]
    ignored = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines() if line.strip()]
    needed = [*packages, "pyproject.toml", "README.md", "LICENSE"]
    dropped = [p for p in needed if any(fnmatch.fnmatch(p, pattern) for pattern in ignored)]
    assert not dropped, f".dockerignore leaves out {dropped}"
    build = [args for op, args in instructions_all() if op == "COPY" and "--from" not in args]
    assert "." in build[0].split()[0], "the build stage copies the context"
    assert "tests" in ignored and ".venv" in ignored and ".git" in ignored


# --- the health check --------------------------------------------------------------------------


@pytest.fixture
def health_server() -> Iterator[tuple[int, list[int]]]:
    status = [200]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            code = status[0] if self.path == "/healthz" else 404
            self.send_response(code)
            self.end_headers()
            self.wfile.write(b'{"status":"ok"}')

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], status
    finally:
        server.shutdown()
        server.server_close()


def healthcheck(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK)],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_the_health_check_passes_on_a_healthy_worker_or_gateway(health_server) -> None:
    port, _ = health_server
    assert (
        healthcheck({"MEDIC_WORKER_HEALTH_ADDRESS": f"0.0.0.0:{port}", "MEDIC_GATEWAY_PORT": "1"}).returncode
        == 0
    )
    assert healthcheck({"MEDIC_WORKER_HEALTH_ADDRESS": "", "MEDIC_GATEWAY_PORT": str(port)}).returncode == 0


def test_the_health_check_fails_in_one_line_naming_what_it_asked(health_server) -> None:
    port, status = health_server
    status[0] = 503
    result = healthcheck({"MEDIC_WORKER_HEALTH_ADDRESS": f"127.0.0.1:{port}", "MEDIC_GATEWAY_PORT": "1"})
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("unhealthy: ") and f"127.0.0.1:{port}/healthz" in line


# --- medic on a read-only filesystem -------------------------------------------------------------


def _read_only_runner() -> list[str]:
    """A private mount namespace in which the given directories are remounted read-only."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("needs util-linux's unshare") if not in_ci() else pytest.fail("unshare is missing")
    prefix = [unshare, "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        prefix[1:1] = ["--user", "--map-root-user"]
    probe = subprocess.run([*prefix, "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        message = f"cannot make a mount namespace here: {probe.stderr.strip()}"
        pytest.skip(message) if not in_ci() else pytest.fail(message)
    return prefix


SCRIPT = """
set -eu
count=$1; shift
i=0
while [ "$i" -lt "$count" ]; do
    mount --bind "$1" "$1"
    mount -o remount,bind,ro "$1"
    shift; i=$((i + 1))
done
cd "$WORKDIR"
exec "$@"
"""


def test_medic_writes_only_to_the_declared_directories(tmp_path: Path) -> None:
    prefix = _read_only_runner()
    env_image = image_env()
    workdir, home = tmp_path / "workdir", tmp_path / "home"
    medic_home, gitops, scratch = tmp_path / "var-lib-medic", tmp_path / "var-cache-medic", tmp_path / "tmp"
    for d in (workdir, home, medic_home, gitops, scratch):
        d.mkdir()
    remote = tmp_path / "gitops.git"
    seed = tmp_path / "seed"
    subprocess.run(["git", "init", "-q", "-b", "main", str(seed)], check=True)
    (seed / "app.yaml").write_text("replicas: 2\n")
    git = ["git", "-C", str(seed), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "seed"], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(seed), str(remote)], check=True)
    remote.chmod(0o755)

    # Read-only: the working directory, HOME, the checkout, the installed code and the interpreter.
    code = Path(cli.__file__).resolve().parents[1]
    read_only = [workdir, home, REPO, code, Path(sys.prefix), remote]
    env = {
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "WORKDIR": str(workdir),
        "HOME": str(home),
        "TMPDIR": str(scratch),
        "PYTHONDONTWRITEBYTECODE": env_image["PYTHONDONTWRITEBYTECODE"],
        "MEDIC_HOME": str(medic_home),
        "MEDIC_GITOPS_WORKDIR": str(gitops / "gitops"),
        "MEDIC_GITOPS_REPO": str(remote),
        "MEDIC_LOG_FORMAT": "text",
    }
    medic = str(Path(sys.executable).parent / "medic")
    clone = (
        "import os; from domain.settings import settings_from_mapping; from integrations.git import GitRepo; "
        "s = settings_from_mapping(os.environ); "
        "print(GitRepo(s.gitops_repo_url, s.resolved_gitops_workdir).sync())"
    )
    outputs = []
    for command in ([medic, "db", "upgrade"], [sys.executable, "-c", clone]):
        result = subprocess.run(
            [*prefix, "sh", "-c", SCRIPT, "sh", str(len(read_only)), *map(str, read_only), *command],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        outputs.append(result.stdout)

    assert (medic_home / "medic.db").exists()
    head = subprocess.run(
        ["git", "-C", str(seed), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout
    assert outputs[1].strip() == head.strip()
    assert (gitops / "gitops" / ".git").is_dir()
    assert not list(workdir.iterdir()) and not list(home.iterdir())


def test_the_read_only_mounts_really_refuse_writes(tmp_path: Path) -> None:
    prefix = _read_only_runner()
    result = subprocess.run(
        [*prefix, "sh", "-c", SCRIPT, "sh", "1", str(tmp_path), "touch", str(tmp_path / "x")],
        env={"PATH": os.environ["PATH"], "WORKDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0 and "Read-only file system" in result.stderr
