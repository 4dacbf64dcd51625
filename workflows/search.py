"""Custom search attributes and memo of remediation workflows: what operators filter on in the
Temporal Web UI and with `temporal workflow list --query "MedicRisk='high'"`.

Orchestration-side names only; registering them on a server is the worker's job at start-up.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

MEDIC_STATUS = SearchAttributeKey.for_keyword("MedicStatus")
MEDIC_RISK = SearchAttributeKey.for_keyword("MedicRisk")
MEDIC_NAMESPACE = SearchAttributeKey.for_keyword("MedicNamespace")
MEDIC_TARGET = SearchAttributeKey.for_keyword("MedicTarget")
MEDIC_ROOT_CAUSE = SearchAttributeKey.for_keyword("MedicRootCause")

ALL_KEYS = (MEDIC_STATUS, MEDIC_RISK, MEDIC_NAMESPACE, MEDIC_TARGET, MEDIC_ROOT_CAUSE)
# name → type, as `temporal server start-dev --search-attribute NAME=TYPE` wants them
DEV_SERVER_FLAGS = {key.name: "Keyword" for key in ALL_KEYS}
