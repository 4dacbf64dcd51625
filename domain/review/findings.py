"""A finding of the review: what a change does that a reviewer should weigh, citing the object
and the field."""

from __future__ import annotations

from typing import Any, Literal

from domain.base import Frozen
from domain.review.changes import ObjectRef

Category = Literal["downtime", "rollback", "security", "cost", "risk"]
Severity = Literal["info", "warning", "high"]


class Finding(Frozen):
    category: Category
    severity: Severity
    object: ObjectRef
    # dotted path of the field, `[name]` selecting a list item by its name
    field: str = ""
    # one line, citing old → new where there is an old value
    message: str


def shown(value: Any) -> str:
    """A value as a finding cites it: short, absent values as `(none)`."""
    if value is None:
        return "(none)"
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def old_new(before: Any, after: Any) -> str:
    return f"{shown(before)} → {shown(after)}"
