"""The environment variables medic's settings are read from, derived from the code itself."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache

from domain.settings import Settings, settings_from_mapping

# Settings whose values are credentials (or carry one: a database URL holds its password).
SECRET_FIELDS = frozenset(
    {"database_url", "webhook_token", "argocd_token", "temporal_api_key"}
    | {name for name, field in Settings.model_fields.items() if field.repr is False}
)


# Fields whose default follows another variable: a cluster's name also names its task queue.
DERIVED = {"task_queue": "MEDIC_CLUSTER_NAME"}


class _Recording(Mapping[str, str]):
    """An empty environment that remembers every name it was asked for."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __getitem__(self, name: str) -> str:
        self.asked.append(name)
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        self.asked.append(str(name))
        return False

    def get(self, name: str, default: object = None) -> object:  # type: ignore[override]
        self.asked.append(name)
        return default

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


@cache
def settings_variables() -> dict[str, str]:
    """Every variable `settings_from_mapping` reads, with the Settings field it sets."""
    recording = _Recording()
    settings_from_mapping(recording)
    defaults = Settings()
    found: dict[str, str] = {}
    for name in dict.fromkeys(recording.asked):
        found[name] = _field_set_by(name, defaults)
    return found


def _field_set_by(name: str, defaults: Settings) -> str:
    # A number for most fields, a boolean for the switches, a choice (MEDIC_INGEST_BUFFER,
    # MEDIC_ARGOCD_TRACKING) for the rest.
    for value in ("7", "true", "false", "off", "label"):
        try:
            settings = settings_from_mapping({name: value})
        except ValueError:  # pydantic's ValidationError, or a one-line error wrapping it
            continue
        changed = [
            field for field, now in settings if now != getattr(defaults, field) and DERIVED.get(field) != name
        ]
        if changed:
            assert len(changed) == 1, f"{name} sets {changed}, not one field"
            return changed[0]
    raise AssertionError(f"{name} is read but sets no field")


def secret_variables() -> frozenset[str]:
    return frozenset(name for name, field in settings_variables().items() if field in SECRET_FIELDS)
