"""Observe: what the observe step is asked about."""

from __future__ import annotations

from domain.base import Frozen
from domain.incident.model import Incident


class ObserveInput(Frozen):
    incident: Incident
    # Whether the activity also keeps the observation in the store (for the console). Runs that
    # record it themselves, with the store's unbounded retries, say False: a store outage then
    # cannot use up observe's own retries (see workflows/remediation/patches.py).
    keep: bool = True
