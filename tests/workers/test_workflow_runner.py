"""The sandbox the worker runs workflows in shares the helper modules between runs, and only those."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest
from temporalio import workflow

from workers.main import PASSTHROUGH_MODULES, WORKFLOWS, workflow_runner

ROOT = Path(__file__).resolve().parents[2]
DEFINITIONS = {
    "workflows.remediation.workflow",
    "workflows.drift.workflow",
    "workflows.review.workflow",
    "workflows.deploy.workflow",
    "workflows.deploy.poll",
}


def test_every_remediation_helper_is_shared_and_no_definition_is() -> None:
    helpers = {
        f"workflows.remediation.{path.stem}"
        for path in (ROOT / "workflows" / "remediation").glob("*.py")
        if path.stem != "__init__"
    } - DEFINITIONS
    shared = set(PASSTHROUGH_MODULES)
    assert helpers <= shared, sorted(helpers - shared)
    assert not DEFINITIONS & shared
    for defn in WORKFLOWS:
        assert defn.__module__ in DEFINITIONS
        assert not any(defn.__module__.startswith(f"{name}.") for name in shared)


@pytest.mark.parametrize("name", [name for name in PASSTHROUGH_MODULES if name.startswith("workflows.")])
def test_a_shared_helper_defines_no_workflow(name: str) -> None:
    module = importlib.import_module(name)
    for _, value in inspect.getmembers(module, inspect.isclass):
        if value.__module__ == name:
            assert workflow._Definition.from_class(value) is None, f"{name}.{value.__name__} is a workflow"


async def test_the_sandbox_loads_every_workflow_with_the_shared_modules() -> None:
    runner = workflow_runner()
    for defn in WORKFLOWS:
        runner.prepare_workflow(workflow._Definition.must_from_class(defn))
