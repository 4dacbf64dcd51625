"""ARCHITECTURE.md stays true: every path it names exists, and every package of the loop is named."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEXT = (REPO / "ARCHITECTURE.md").read_text()
# `workflows/remediation/gitops.py`, `activities/direct/`, `../shared/scenarios/`: a code span
# holding a path (a slash in it, no spaces).
PATHS = sorted({m for m in re.findall(r"`([A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]*)+)`", TEXT)})


def test_architecture_names_paths() -> None:
    assert len(PATHS) > 50


def test_every_path_architecture_names_exists() -> None:
    missing = [p for p in PATHS if not (REPO / p).exists()]
    assert not missing, f"ARCHITECTURE.md names paths that do not exist: {missing}"


def test_every_package_of_the_loop_is_named() -> None:
    named = {p.rstrip("/") for p in PATHS}
    packages = [
        str(d.relative_to(REPO))
        for top in ("workflows", "activities", "domain")
        for d in sorted((REPO / top).iterdir())
        if d.is_dir() and (d / "__init__.py").exists()
    ]
    unnamed = [p for p in packages if p not in named and not any(n.startswith(p + "/") for n in named)]
    assert not unnamed, f"ARCHITECTURE.md does not name these packages: {unnamed}"


def test_every_step_table_row_names_an_activity_module_that_defines_its_activities() -> None:
    rows = [line for line in TEXT.splitlines() if line.startswith("| ") and "activities/" in line]
    assert rows
    for row in rows:
        for names, module in re.findall(r"((?:`[a-z_]+`(?:, )?)+) in `(activities/[a-z_/]+\.py)`", row):
            source = (REPO / module).read_text()
            for name in re.findall(r"`([a-z_]+)`", names):
                assert f'@activity.defn(name="{name}")' in source, f"{module} does not define {name}"
