"""Every activity a workflow calls is one the worker registers, with the same input and result
types: the stubs in `workflows/` are the workflows' side of that contract, checked here against
the real registrations (`workers.main.activities_for`)."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity

from domain.settings import Settings
from integrations.sealing import generate_key
from workers.main import WORKFLOWS, activities_for
from workflows.deploy import stubs as deploy_stubs
from workflows.drift import stubs as drift_stubs
from workflows.remediation import stubs as remediation_stubs
from workflows.review import stubs as review_stubs
from workflows.runner import Stub, stubs_of

STUBS = [
    *stubs_of(remediation_stubs),
    *stubs_of(drift_stubs),
    *stubs_of(review_stubs),
    *stubs_of(deploy_stubs),
]


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("worker")
    settings = Settings(
        home=str(home),
        database_url=f"sqlite:///{home / 'medic.db'}",
        kube_api_url="http://127.0.0.1:9",
        snapshot_keys=generate_key(),
    )
    registrations: dict[str, Any] = {}
    for fn in activities_for(settings):
        defn = activity._Definition.must_from_callable(fn)
        assert defn.name not in registrations, f"{defn.name} is registered twice"
        registrations[defn.name] = fn
    return registrations


def _types(fn: Any) -> tuple[Any, Any]:
    hints = typing.get_type_hints(fn)
    returns = hints.pop("return")
    (argument,) = hints.values()
    return argument, type(None) if returns is None else returns


@pytest.mark.parametrize("stub", STUBS, ids=[s.name for s in STUBS])
def test_every_stub_names_a_registered_activity_with_its_types(
    stub: Stub[Any, Any], registered: dict[str, Any]
) -> None:
    assert stub.name in registered, f"the worker registers no activity {stub.name!r}"
    argument, returns = _types(registered[stub.name])
    assert (argument, returns) == (stub.input, stub.result), (
        f"{stub.name}: the activity takes {argument} and returns {returns}"
    )


def test_every_registered_activity_is_called_through_a_stub(registered: dict[str, Any]) -> None:
    assert sorted(registered) == sorted({s.name for s in STUBS})


def test_the_worker_registers_every_workflow() -> None:
    assert {w.__name__ for w in WORKFLOWS} == {
        "RemediationWorkflow",
        "DriftScanWorkflow",
        "ChangeReviewWorkflow",
        "DeploymentWatchWorkflow",
        "DeployPollWorkflow",
    }


def test_only_the_runner_schedules_activities() -> None:
    """One way to call an activity: nothing in workflows/ but the runner schedules one itself."""
    workflows = Path(__file__).resolve().parents[2] / "workflows"
    callers = sorted(
        str(path.relative_to(workflows))
        for path in workflows.rglob("*.py")
        if any(
            word in path.read_text()
            for word in ("execute_activity(", "start_activity(", "execute_local_activity(")
        )
    )
    assert callers == ["runner.py"]
