"""medic's Temporal data converter: pydantic models as JSON payloads, with one decoder per model for
the whole process.

The SDK gives every workflow run a payload converter of its own (a new instance of the converter
class per run), and the SDK's pydantic converter keeps the `TypeAdapter`s it builds on that
instance. So each run built its own adapter for every model it decoded — its input, the alert
group, the observation, the diagnosis, the policy decision, the recalled incidents — and held them
for as long as it stayed in the worker's cache: six adapters of a few tens of kilobytes and a few
milliseconds each, per run, the largest part of what a waiting incident cost the worker. The models
are the same classes in every run (the domain passes through the workflow sandbox), so one adapter
per model serves every run. The payloads are the same bytes as the SDK's pydantic converter's.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import TypeAdapter
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
)

# Enough for every model medic sends through Temporal many times over; the least recently used goes.
MAX_TYPE_ADAPTERS = 1024


@functools.lru_cache(maxsize=MAX_TYPE_ADAPTERS)
def type_adapter(hint: Any) -> TypeAdapter[Any]:
    """The process's adapter for `hint` (hashable), built on its first use."""
    return TypeAdapter(hint)


class SharedJSONPayloadConverter(PydanticJSONPlainPayloadConverter):
    """The SDK's pydantic JSON converter, decoding through `type_adapter`."""

    def __init__(self) -> None:
        super().__init__(max_cached_type_adapters=0)  # its own cache stays unused

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        hint = Any if type_hint is None else type_hint
        try:
            adapter = type_adapter(hint)
        except TypeError:
            try:
                hash(hint)
            except TypeError:  # an unhashable hint: the SDK builds an adapter for this call
                return super().from_payload(payload, type_hint)
            raise  # building the adapter failed
        return adapter.validate_json(payload.data)


class MedicPayloadConverter(CompositePayloadConverter):
    """The SDK's default converters, with JSON through `SharedJSONPayloadConverter`."""

    def __init__(self) -> None:
        shared = SharedJSONPayloadConverter()
        super().__init__(
            *(
                shared if isinstance(converter, JSONPlainPayloadConverter) else converter
                for converter in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )


DATA_CONVERTER = DataConverter(payload_converter_class=MedicPayloadConverter)
