"""Settings from the environment: a value a setting cannot take is one line naming its variable."""

from __future__ import annotations

import pytest

from domain.settings import SettingsError, settings_from_mapping


@pytest.mark.parametrize(
    ("env", "said"),
    [
        (
            {"MEDIC_APPROVAL_TIMEOUT_SECONDS": "abc"},
            "MEDIC_APPROVAL_TIMEOUT_SECONDS='abc': should be a valid integer",
        ),
        ({"MEDIC_SEARCH_ATTRIBUTES": "maybe"}, "MEDIC_SEARCH_ATTRIBUTES='maybe': should be a valid boolean"),
        (
            {"MEDIC_APPROVAL_REMINDERS": "3600,soon"},
            "MEDIC_APPROVAL_REMINDERS='3600,soon': should be a valid integer",
        ),
        ({"MEDIC_WEBHOOK_MAX_BODY_BYTES": "0"}, "MEDIC_WEBHOOK_MAX_BODY_BYTES='0': should be greater than 0"),
        ({"TEMPORAL_TLS": "perhaps"}, "TEMPORAL_TLS='perhaps': should be a valid boolean"),
    ],
)
def test_a_value_that_does_not_fit_names_its_variable_in_one_line(env: dict[str, str], said: str) -> None:
    with pytest.raises(SettingsError) as refused:
        settings_from_mapping(env)
    assert str(refused.value) == said


def test_several_bad_values_are_all_named_on_one_line() -> None:
    with pytest.raises(SettingsError) as refused:
        settings_from_mapping({"MEDIC_VERIFY_TIMEOUT_SECONDS": "5m", "MEDIC_PR_POLL_SECONDS": "x"})
    message = str(refused.value)
    assert "\n" not in message
    assert "MEDIC_VERIFY_TIMEOUT_SECONDS='5m'" in message and "MEDIC_PR_POLL_SECONDS='x'" in message


def test_the_worker_health_address_defaults_to_loopback_and_empty_turns_it_off() -> None:
    assert settings_from_mapping({}).worker_health_address == "127.0.0.1:8081"
    assert settings_from_mapping({"MEDIC_WORKER_HEALTH_ADDRESS": ""}).worker_health_address == ""
    assert settings_from_mapping({"MEDIC_WORKER_HEALTH_ADDRESS": " 0.0.0.0:8081 "}).worker_health_address == (
        "0.0.0.0:8081"
    )
