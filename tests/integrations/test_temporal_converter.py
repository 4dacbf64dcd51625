"""medic's data converter: the SDK's pydantic payloads, decoded through one adapter per model for
the whole process (the SDK makes a converter per workflow run; the adapters used to go with it)."""

from __future__ import annotations

from typing import Annotated, Any

from temporalio.contrib.pydantic import pydantic_data_converter

from domain.incident.alerts import AlertGroup
from integrations.temporal.converter import DATA_CONVERTER, MedicPayloadConverter, type_adapter
from tests.conftest import alertmanager_fixture


def test_payloads_are_the_sdk_pydantic_converters_bytes_both_ways() -> None:
    group = AlertGroup.model_validate(alertmanager_fixture("oomkilled-firing.json"))
    ours = DATA_CONVERTER.payload_converter.to_payloads([group, {"a": 1}, None, b"raw"])
    sdk = pydantic_data_converter.payload_converter.to_payloads([group, {"a": 1}, None, b"raw"])
    assert ours == sdk
    assert DATA_CONVERTER.payload_converter.from_payloads(sdk, [AlertGroup, dict, type(None), bytes]) == [
        group,
        {"a": 1},
        None,
        b"raw",
    ]


def test_converters_made_for_different_runs_share_one_adapter_per_model() -> None:
    group = AlertGroup.model_validate(alertmanager_fixture("oomkilled-firing.json"))
    (payload,) = MedicPayloadConverter().to_payloads([group])
    type_adapter.cache_clear()
    for _ in range(5):  # what the SDK does: a new converter for every run
        assert MedicPayloadConverter().from_payloads([payload], [AlertGroup]) == [group]
    info = type_adapter.cache_info()
    assert (info.currsize, info.misses, info.hits) == (1, 1, 4)


def test_an_unhashable_type_hint_is_still_decoded() -> None:
    hint: Any = Annotated[list[int], {"unhashable": []}]
    (payload,) = MedicPayloadConverter().to_payloads([[1, 2]])
    assert MedicPayloadConverter().from_payloads([payload], [hint]) == [[1, 2]]
