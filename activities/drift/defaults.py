"""`get_drift_defaults`: the worker's configuration a drift scan needs, read where it lives.

A scan's input holds only its scope (a schedule's arguments are fixed when it is applied); the
settings that shape the incidents it opens, and the drift configuration, are the worker's.
"""

from __future__ import annotations

from temporalio import activity

from domain.drift.model import DriftConfig, DriftScope
from domain.incident.model import Incident
from domain.settings import Settings
from domain.steps.drift import DriftDefaults
from domain.steps.remediation import remediation_input_for


class DriftDefaultsActivities:
    def __init__(self, settings: Settings, config: DriftConfig) -> None:
        self._settings = settings
        self._config = config

    @activity.defn(name="get_drift_defaults")
    def get_drift_defaults(self, scope: DriftScope) -> DriftDefaults:
        placeholder = Incident(id=f"drift-{scope.slug}", source="drift")
        remediation = remediation_input_for(self._settings, placeholder)
        return DriftDefaults(
            remediation=remediation,
            page_size=self._config.page_size,
            raw_manifests=self._config.raw_manifests,
            notify=remediation.notify,
        )
