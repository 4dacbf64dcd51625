"""A notification fitted to what a workflow's history can carry (issue 12, finding 4): clipped with
accounting, never refused by Temporal."""

from __future__ import annotations

from typing import Any

import pytest

from domain.incident.alerts import (
    GROUP_BUDGET_BYTES,
    MAX_ALERTS,
    MAX_ENTRIES,
    MAX_KEY_CHARS,
    MAX_VALUE_CHARS,
    AlertGroup,
    Clipping,
    clip_group,
    clipped_values,
    fit_group,
)


def group(alerts: int, entries: int = 2, value: str = "v", key_chars: int = 8) -> AlertGroup:
    mapping = {f"{i:0{key_chars}d}": value for i in range(entries)}
    alert: dict[str, Any] = {
        "status": "firing",
        "labels": mapping,
        "annotations": mapping,
        "startsAt": "2026-11-23T18:55:28Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": "b58c4386f2be6d41",
    }
    return AlertGroup.model_validate(
        {
            "version": "4",
            "groupKey": '{}:{alertname="X"}',
            "status": "firing",
            "receiver": "r",
            "truncatedAlerts": 3,
            "groupLabels": mapping,
            "commonLabels": mapping,
            "commonAnnotations": mapping,
            "alerts": [dict(alert, fingerprint=f"{i:016x}") for i in range(alerts)],
        }
    )


def test_a_long_value_keeps_its_head_and_says_how_long_it_was() -> None:
    clipped = clip_group(group(1, entries=1, value="a" * 10_000))
    value = clipped.group.alerts[0].annotations["00000000"]
    assert value.startswith("a" * MAX_VALUE_CHARS)
    assert value.endswith(" …[clipped by medic: 10000 chars in all]")
    assert clipped_values(clipped.group) == 5  # the same value in five mappings


def test_clipping_again_keeps_the_original_length() -> None:
    once = clip_group(group(1, entries=1, value="a" * 10_000), value_chars=8000).group
    twice = clip_group(once).group
    assert twice.alerts[0].labels["00000000"].endswith("…[clipped by medic: 10000 chars in all]")


def test_alerts_beyond_the_bound_are_dropped_and_counted_in_truncated_alerts() -> None:
    clipped = clip_group(group(MAX_ALERTS + 7))
    assert len(clipped.group.alerts) == MAX_ALERTS
    assert clipped.alerts_dropped == 7
    assert clipped.group.truncatedAlerts == 3 + 7


def test_mappings_keep_their_first_entries() -> None:
    clipped = clip_group(group(1, entries=MAX_ENTRIES + 10))
    assert len(clipped.group.alerts[0].labels) == MAX_ENTRIES
    assert clipped.entries_dropped == 10 * 5


def test_the_worst_group_clip_group_lets_through_is_fitted_to_the_budget() -> None:
    worst = clip_group(group(MAX_ALERTS, entries=MAX_ENTRIES, value="é" * 9000, key_chars=300)).group
    fitted = fit_group(worst)
    assert len(fitted.group.model_dump_json().encode()) <= GROUP_BUDGET_BYTES
    assert len(fitted.group.alerts) >= 1
    assert fitted.group.truncatedAlerts == 3 + MAX_ALERTS - len(fitted.group.alerts)


def test_a_group_within_the_budget_is_unchanged() -> None:
    small = group(5)
    assert fit_group(small).group == small
    assert clip_group(small).group == small


@pytest.mark.parametrize(
    "over",
    [
        {"groupKey": "k" * (MAX_VALUE_CHARS + 1)},
        {"receiver": "r" * (MAX_VALUE_CHARS + 1)},
        {"externalURL": "u" * (MAX_VALUE_CHARS + 1)},
        {"groupLabels": {"k" * (MAX_KEY_CHARS + 1): "v"}},
        {"commonLabels": {"k": "v" * (MAX_VALUE_CHARS + 1)}},
        {"commonAnnotations": {f"k{i}": "v" for i in range(MAX_ENTRIES + 1)}},
        {"alert": {"generatorURL": "g" * (MAX_VALUE_CHARS + 1)}},
        {"alert": {"fingerprint": "f" * (MAX_KEY_CHARS + 1)}},
        {"alert": {"labels": {"k" * (MAX_KEY_CHARS + 1): "v"}}},
        {"alert": {"annotations": {"k": "v" * (MAX_VALUE_CHARS + 1)}}},
    ],
    ids=lambda over: "-".join(f"{k}.{str(next(iter(v)))[:12]}" for k, v in over.items()),
)
def test_a_group_one_past_any_bound_is_clipped_and_one_within_them_all_is_kept_as_it_is(
    over: dict[str, Any],
) -> None:
    within = group(2)
    assert clip_group(within) == Clipping(within)
    alert_update = over.pop("alert", {})
    alerts = [within.alerts[0].model_copy(update=alert_update), within.alerts[1]]
    past = within.model_copy(update={**over, "alerts": alerts})
    clipped = clip_group(past)
    assert clipped.group != past
    assert clipped.values_clipped + clipped.entries_dropped >= 1


@pytest.mark.parametrize("spare", [-1, 0, 1, 2])
def test_a_group_near_the_budget_is_fitted_as_the_alert_by_alert_count_says(spare: int) -> None:
    """A group measured once as fitting comes back as it is; at the edge, the alert-by-alert count
    (one separator per alert) decides, as it always did."""
    fitting = group(3)
    size = len(fitting.model_dump_json().encode())
    fitted = fit_group(fitting, budget_bytes=size + spare)
    if spare >= 1:
        assert fitted == Clipping(fitting)
    else:  # the count is one byte over: the last alert goes
        assert fitted.alerts_dropped == 1
        assert [a.fingerprint for a in fitted.group.alerts] == [a.fingerprint for a in fitting.alerts[:2]]
        assert fitted.group.truncatedAlerts == fitting.truncatedAlerts + 1
