"""A stand-in for the gateway's Temporal client on the Alertmanager path: takes the signal-with-start
and signal requests `gateway.ingest.send` makes as the server would, refusing a payload over
Temporal's size limit as the server does."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.api.workflowservice.v1 import (
    SignalWithStartWorkflowExecutionRequest,
    SignalWithStartWorkflowExecutionResponse,
    SignalWorkflowExecutionRequest,
    SignalWorkflowExecutionResponse,
)
from temporalio.service import RPCError, RPCStatusCode

from integrations.temporal.converter import DATA_CONVERTER

# Temporal's default limit on one payload (limit.blobSize.error).
BLOB_LIMIT_BYTES = 2 * 1024 * 1024


def encoded_size(*values: Any) -> int:
    payloads = DATA_CONVERTER.payload_converter.to_payloads(list(values))
    return sum(p.ByteSize() for p in payloads)


@dataclass
class FakeWorkflowService:
    temporal: FakeAlertTemporal

    async def signal_with_start_workflow_execution(
        self, req: SignalWithStartWorkflowExecutionRequest, **_: Any
    ) -> SignalWithStartWorkflowExecutionResponse:
        self.temporal.check(*req.input.payloads, *req.signal_input.payloads)
        self.temporal.started.add(req.workflow_id)
        self.temporal.signals += 1
        return SignalWithStartWorkflowExecutionResponse(run_id="run-1", started=True)

    async def signal_workflow_execution(
        self, req: SignalWorkflowExecutionRequest, **_: Any
    ) -> SignalWorkflowExecutionResponse:
        self.temporal.check(*req.input.payloads)
        if req.workflow_execution.workflow_id not in self.temporal.started:
            raise RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b"")
        self.temporal.signals += 1
        return SignalWorkflowExecutionResponse()


@dataclass
class FakeAlertTemporal:
    started: set[str] = field(default_factory=set)
    signals: int = 0
    largest: int = 0
    namespace: str = "default"
    identity: str = "fake"
    data_converter: Any = DATA_CONVERTER

    @property
    def workflow_service(self) -> FakeWorkflowService:
        return FakeWorkflowService(self)

    def check(self, *payloads: Payload) -> None:
        for payload in payloads:
            size = payload.ByteSize()
            self.largest = max(self.largest, size)
            if size > BLOB_LIMIT_BYTES:
                raise RPCError("Blob data size exceeds limit.", RPCStatusCode.INVALID_ARGUMENT, b"")

    async def factory(self) -> Any:
        return self
