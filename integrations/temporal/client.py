"""Connecting to Temporal with medic's data converter (pydantic models as payloads)."""

from __future__ import annotations

from collections.abc import Iterable

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode

from domain.settings import Settings


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """A client with medic's data converter; `runtime` carries SDK telemetry (the worker's metrics)."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
        runtime=runtime,
    )


class SearchAttributeError(RuntimeError):
    pass


async def ensure_search_attributes(client: Client, namespace: str, names: Iterable[str]) -> None:
    """Register medic's custom search attributes (Keyword) on the namespace; idempotent.

    A server that refuses (Temporal Cloud, missing permission) raises SearchAttributeError with
    what to do instead: workflows would otherwise fail every task that upserts them.
    """
    wanted = {name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for name in names}
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        missing = {name: kind for name, kind in wanted.items() if name not in listed.custom_attributes}
        if missing:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
            )
    except RPCError as err:
        if err.status == RPCStatusCode.ALREADY_EXISTS:
            return
        flags = " ".join(f"--name {name} --type Keyword" for name in wanted)
        raise SearchAttributeError(
            f"cannot register search attributes {sorted(wanted)} on namespace {namespace}: {err.message}. "
            f"Register them once (`temporal operator search-attribute create {flags}`) "
            "or set MEDIC_SEARCH_ATTRIBUTES=0."
        ) from err
