"""Client-side operations on incidents' workflows: ids, the status query, the `decide` update."""

from __future__ import annotations

from typing import Any, cast

import pytest
from temporalio import workflow
from temporalio.client import Client

from domain.policy.approval import DecisionInput
from integrations.temporal.incidents import (
    DECIDE_UPDATE,
    STATUS_QUERY,
    IncidentNotCurrent,
    decide_incident,
    incident_status,
    workflow_id_of,
)
from tests.console_fixtures import PENDING, PLAN_HASH, FakeTemporal
from workflows.remediation import RemediationWorkflow


def test_the_query_and_update_named_are_the_workflows_own() -> None:
    definition = workflow._Definition.must_from_class(RemediationWorkflow)
    assert STATUS_QUERY in definition.queries
    assert DECIDE_UPDATE in definition.updates


@pytest.mark.parametrize(
    ("incident_id", "workflow_id"),
    [
        ("incident-alert-0123456789abcdef0123.1a2b3c4d", "incident-alert-0123456789abcdef0123"),
        ("incident-alert-0123456789abcdef0123", "incident-alert-0123456789abcdef0123"),
        ("drift.shop.cart.1a2b3c4d", "drift.shop.cart"),
        ("drift.shop.cart", "drift.shop.cart"),
    ],
)
def test_workflow_id_of_an_incident(incident_id: str, workflow_id: str) -> None:
    assert workflow_id_of(incident_id) == workflow_id


def client(fake: FakeTemporal) -> Client:
    return cast(Client, fake)


async def test_decide_binds_the_current_plan_when_none_is_given() -> None:
    fake = FakeTemporal()
    status = await decide_incident(client(fake), PENDING, DecisionInput(approver="alice", decision="reject"))
    assert [d.plan_hash for d in fake.decisions] == [PLAN_HASH]
    assert status.approvals[0].approver == "alice"
    assert fake.workflow_ids == ["incident-alert-aaaaaaaaaaaaaaaaaaaa"] * 2


async def test_decide_keeps_the_plan_the_operator_saw() -> None:
    fake = FakeTemporal()
    await decide_incident(client(fake), PENDING, DecisionInput(approver="alice", plan_hash="stale"))
    assert [d.plan_hash for d in fake.decisions] == ["stale"]


async def test_a_closed_run_is_refused_before_any_update() -> None:
    fake = FakeTemporal(incident_id="incident-alert-aaaaaaaaaaaaaaaaaaaa.ffffffff")
    with pytest.raises(IncidentNotCurrent) as raised:
        await decide_incident(client(fake), PENDING, DecisionInput(approver="alice"))
    assert raised.value.current_incident_id == "incident-alert-aaaaaaaaaaaaaaaaaaaa.ffffffff"
    assert str(raised.value) == (
        f"{PENDING} is closed; its alert group's incident now is incident-alert-aaaaaaaaaaaaaaaaaaaa.ffffffff"
    )
    assert fake.decisions == []


async def test_a_bare_workflow_id_means_its_current_incident() -> None:
    fake = FakeTemporal(incident_id="incident-alert-aaaaaaaaaaaaaaaaaaaa.ffffffff")
    status: Any = await incident_status(client(fake), "incident-alert-aaaaaaaaaaaaaaaaaaaa")
    assert status.incident_id == "incident-alert-aaaaaaaaaaaaaaaaaaaa.ffffffff"
