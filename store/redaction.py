"""The store's last line against secrets: text and JSON columns that can hold what was read from
the cluster are redacted again just before they are written.

Every writer redacts at its source (`activities/redaction.py`, `domain.redaction`); this guard is
the boundary that holds when one forgets. It redacts and logs rather than refusing the write.
Refusing would turn a redaction miss into a failed step that fails again on every retry (the
same input, the same refusal) and loses the audit trail of the incident; redacting keeps the
record and the secret out alike, and the warning, which names the table and column but never
the value, says which writer to fix. Redaction is idempotent, so text already redacted passes
unchanged and costs one scan.

Snapshot content is exempt: it is sealed (`integrations/sealing.py`), and a restore needs the
exact spec.
"""

from __future__ import annotations

import logging
from typing import Any

from domain.redaction.text import redact_json

log = logging.getLogger(__name__)


def redacted_for_store(table: str, column: str, value: Any) -> Any:
    """`value` (text, or a JSON-like value) with secrets redacted; a warning names `table.column`
    when redaction changed it, that is when its writer let a secret through."""
    if value is None or isinstance(value, bool | int | float):
        return value
    redacted = redact_json(value)
    if redacted != value:
        log.warning(
            "the store redacted %s.%s before writing it: its writer let a secret-looking value through",
            table,
            column,
        )
    return redacted
