"""Process-wide logging for medic's long-running processes: one JSON object per line.

Records logged through Temporal's workflow and activity loggers carry their workflow id in
`extra` (`temporal_workflow` / `temporal_activity`); it is lifted into `incident` — the alert
group's workflow id — so every line about an incident can be found with one filter.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from domain.redaction.text import redact_text

# LogRecord attributes that are the record's own, not `extra` the caller added.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            # Log text can quote alert or cluster text: secrets never reach the logs either.
            "msg": redact_text(record.getMessage()),
        }
        temporal = getattr(record, "temporal_activity", None) or getattr(record, "temporal_workflow", None)
        if isinstance(temporal, dict):
            if temporal.get("workflow_id"):
                line["incident"] = temporal["workflow_id"]
            for key in ("workflow_type", "activity_type", "attempt", "run_id"):
                if key in temporal:
                    line[key] = temporal[key]
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("temporal_") and key not in line:
                line[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        if record.exc_info:
            line["exception"] = redact_text(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)


def configure(fmt: str = "json", level: int = logging.INFO) -> None:
    """`json` (the default for the worker and the gateway) or `text` (for a terminal)."""
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
