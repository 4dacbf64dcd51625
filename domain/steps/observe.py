"""Observe: what the observe step is asked about."""

from __future__ import annotations

from domain.base import Frozen
from domain.incident.model import Incident


class ObserveInput(Frozen):
    incident: Incident
