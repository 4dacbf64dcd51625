"""Kubernetes resource quantities ("256Mi", "1", "250m") as exact numbers."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "P": Decimal(10**15),
    "E": Decimal(10**18),
}


class QuantityError(ValueError):
    pass


def parse_quantity(text: str | int | float) -> Decimal:
    """The quantity's value in base units (bytes for memory, cores for CPU)."""
    raw = str(text).strip()
    if not raw:
        raise QuantityError("empty quantity")
    try:
        for suffix, factor in _BINARY.items():
            if raw.endswith(suffix):
                return Decimal(raw[: -len(suffix)]) * factor
        if raw[-1] in _DECIMAL:
            return Decimal(raw[:-1]) * _DECIMAL[raw[-1]]
        return Decimal(raw)
    except InvalidOperation as exc:
        raise QuantityError(f"not a Kubernetes quantity: {raw!r}") from exc


def format_memory(value: Decimal | int) -> str:
    """Bytes as the largest whole binary unit (Mi at least), rounded up."""
    amount = Decimal(value)
    mib = -(-amount // _BINARY["Mi"])
    if mib % 1024 == 0 and mib > 0:
        return f"{int(mib // 1024)}Gi"
    return f"{int(mib)}Mi"
