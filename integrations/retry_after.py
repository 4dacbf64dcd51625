"""How long a server asked us to wait before trying again, from its response headers.

Shared by every HTTP integration whose errors Temporal retries: the delay becomes the activity
error's `next_retry_delay`.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Mapping


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """The delay the server asked for: `retry-after-ms`, else `retry-after` (seconds or an HTTP date).

    None when absent, unparseable or negative. `headers` lookups should be case-insensitive (httpx
    headers are).
    """
    milliseconds = headers.get("retry-after-ms")
    if milliseconds:
        try:
            value = float(milliseconds) / 1000
            if value >= 0 and math.isfinite(value):
                return value
        except ValueError:
            pass
    text = headers.get("retry-after")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        value = when.timestamp() - (time.time() if now is None else now)
        return max(value, 0.0)
    return value if value >= 0 and math.isfinite(value) else None
