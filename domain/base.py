"""The one base of medic's payloads: a frozen pydantic model.

Every workflow, activity, signal, update and query payload derives from `Frozen`. Payloads cross
Temporal as plain JSON (the pydantic data converter), so a model's field names and shape are its
contract with recorded histories: new fields get defaults, and none is renamed.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    """An immutable model; subclasses add to its configuration (pydantic merges it)."""

    model_config = ConfigDict(frozen=True)
