"""Request bodies a webhook may trust to parse: bounded in size before they are read, and JSON that is
strict UTF-8, nested no deeper than a bound and free of lone surrogates.

Every refusal is a `BodyRefused` with the HTTP status to answer and the reason in one line, so a
sender never sees a 500 for a body it made, and never retries one forever.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from itertools import accumulate
from typing import Any

# Alertmanager's payload is four levels deep (object → alerts → alert → labels); nothing it sends
# comes near this, and the parser's recursion stays far from Python's limit.
MAX_DEPTH = 32

# A JSON string literal, so that brackets inside strings are not counted as nesting.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NESTING = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}
_BRACKETS = bytes(_NESTING)
_REASON_CHARS = 200


class BodyRefused(Exception):
    """The body cannot be taken; `status` is the HTTP answer and `reason` says why in one line."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = one_line(reason)


def one_line(text: str, limit: int = _REASON_CHARS) -> str:
    """`text` on one line, at most `limit` characters, safe to encode (no lone surrogates)."""
    flat = " ".join(text.split())
    flat = flat.encode("utf-8", "backslashreplace").decode("utf-8")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


async def read_limited(content_length: str | None, chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """The whole body, or `BodyRefused(413)` as soon as it is known to exceed `limit` bytes: from the
    Content-Length header before anything is read, or while counting a chunked body (the rest is
    never read)."""
    too_big = f"body exceeds the limit of {limit} bytes (MEDIC_WEBHOOK_MAX_BODY_BYTES)"
    if content_length is not None:
        if not content_length.strip().isdigit():
            raise BodyRefused(400, f"Content-Length is not a number: {content_length!r}")
        if int(content_length) > limit:
            raise BodyRefused(413, f"{too_big}: Content-Length is {int(content_length)}")
    received = bytearray()
    async for chunk in chunks:
        received += chunk
        if len(received) > limit:
            raise BodyRefused(413, too_big)
    return bytes(received)


def nesting_depth(raw: bytes) -> int:
    """How deep arrays and objects nest in `raw`, brackets inside string literals not counted.

    Linear and without recursion, so it runs before the parser does. For a body that is not JSON
    the count may be off, but never below the depth the parser would reach before its error."""
    brackets = _STRING.sub(b"", raw).translate(None, delete=bytes(set(range(256)) - set(_BRACKETS)))
    return max(accumulate(map(_NESTING.__getitem__, brackets)), default=0)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


# The escape of a surrogate (U+D800 to U+DFFF); also found after an escaped backslash, where the
# walk then finds none.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _lone_surrogate(value: Any, path: str) -> str | None:
    """The path of the first string (key or value) in `value` that holds a lone surrogate."""
    if isinstance(value, str):
        return None if value.isascii() or _encodes(value) else path
    if isinstance(value, dict):
        for key, item in value.items():
            if not key.isascii() and not _encodes(key):
                return f"{path} (a key)"
            found = _lone_surrogate(item, f"{path}.{one_line(key, 40)}")
            if found:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = _lone_surrogate(item, f"{path}[{i}]")
            if found:
                return found
    return None


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_json(raw: bytes, max_depth: int = MAX_DEPTH) -> Any:
    """`raw` parsed as strict JSON, or `BodyRefused(400)` saying why: not UTF-8 (other encodings, raw
    surrogate bytes), nested deeper than `max_depth`, not JSON (NaN and Infinity included, integers
    too long to convert), or a string escaping a lone surrogate (`"\\ud800"`)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BodyRefused(400, f"body is not UTF-8: {err.reason} at byte {err.start}") from err
    # Nesting needs an opening bracket per level: a body with few of them needs no count.
    if raw.count(b"[") + raw.count(b"{") > max_depth:
        depth = nesting_depth(raw)
        if depth > max_depth:
            reason = f"body is not JSON this webhook takes: nested {depth} deep (at most {max_depth})"
            raise BodyRefused(400, reason)
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as err:
        raise BodyRefused(400, f"body is not JSON: {err}") from err
    # Strict UTF-8 holds no surrogate: one can only come from an escape, and most bodies have none.
    if _SURROGATE_ESCAPE.search(raw):
        where = _lone_surrogate(value, "body")
        if where:
            raise BodyRefused(400, f"body is not valid Unicode: a lone surrogate in {where}")
    return value
