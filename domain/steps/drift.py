"""What a drift scan takes from the worker's configuration."""

from __future__ import annotations

from domain.base import Frozen
from domain.steps.remediation import RemediationInput


class DriftDefaults(Frozen):
    """What a drift scan takes from the worker's configuration (`get_drift_defaults`): the input
    of the incidents it opens (with a placeholder incident), its page size, whether it compares
    raw manifests too, and whether reports are notified."""

    remediation: RemediationInput
    page_size: int = 25
    raw_manifests: bool = False
    notify: bool = False
    # The scan continues as new past this many history events (or when the server suggests it).
    history_events_limit: int = 5_000
