"""A stand-in for the gateway's Temporal client on the Alertmanager path: takes signal-with-start and
signals as the server would, refusing a payload over Temporal's size limit as the server does."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode

# Temporal's default limit on one payload (limit.blobSize.error).
BLOB_LIMIT_BYTES = 2 * 1024 * 1024


def encoded_size(*values: Any) -> int:
    payloads = pydantic_data_converter.payload_converter.to_payloads(list(values))
    return sum(p.ByteSize() for p in payloads)


@dataclass
class FakeHandle:
    temporal: FakeAlertTemporal
    workflow_id: str
    result_run_id: str = "run-1"

    async def signal(self, signal: Any, arg: Any, **_: Any) -> None:
        self.temporal.check(arg)
        if self.workflow_id not in self.temporal.started:
            raise RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b"")
        self.temporal.signals += 1


@dataclass
class FakeAlertTemporal:
    started: set[str] = field(default_factory=set)
    signals: int = 0
    largest: int = 0

    def check(self, *values: Any) -> None:
        for value in values:
            size = encoded_size(value)
            self.largest = max(self.largest, size)
            if size > BLOB_LIMIT_BYTES:
                raise RPCError("Blob data size exceeds limit.", RPCStatusCode.INVALID_ARGUMENT, b"")

    async def start_workflow(
        self, workflow: Any, arg: Any, *, id: str, start_signal_args: list[Any], **_: Any
    ) -> Any:
        self.check(arg, *start_signal_args)
        self.started.add(id)
        self.signals += 1
        return FakeHandle(self, id)

    def get_workflow_handle(self, workflow_id: str) -> FakeHandle:
        return FakeHandle(self, workflow_id)

    async def factory(self) -> Any:
        return self
