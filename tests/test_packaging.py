"""The product wheel ships medic's packages whole and nothing that only the tests or benchmarks use."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_wheel_ships_the_packages_and_no_test_only_module(tmp_path: Path) -> None:
    # Built from a copy: setuptools never empties a checkout's build/ directory, so a stale one would
    # put deleted modules back into the wheel, and building in place writes build/ into the checkout.
    source = tmp_path / "src"
    shutil.copytree(
        REPO,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", ".medic", "build", "artifacts", "*.egg-info", "__pycache__", ".*_cache"
        ),
    )
    out = tmp_path / "wheel"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--quiet", "-w", str(out)],
        check=True,
        timeout=240,
    )
    (wheel,) = out.glob("medic-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())

    assert "sandbox/github_api.py" not in names
    assert "sandbox/estate.py" not in names
    assert not [n for n in names if n.startswith("tests/")]

    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = [p.rstrip("*") for p in config["tool"]["setuptools"]["packages"]["find"]["include"]]
    sources = {
        path.relative_to(REPO).as_posix()
        for package in packages
        for path in (REPO / package).rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert sources and not sources - names
