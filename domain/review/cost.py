"""The monthly cost of a change set, from CPU and memory requests × replicas and storage sizes.

Prices are list prices per unit-hour (CPU, memory) and per unit-month (storage); the default is
OpenCost's published default price list (GCP us-central1). Every estimate states its basis. A
DaemonSet runs one pod per node, and how many nodes is not in the manifests: it is noted, not
priced.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from domain.base import Frozen
from domain.kube.quantity import QuantityError, parse_quantity
from domain.review.changes import ChangeSet, ObjectChange, ObjectRef
from domain.review.findings import Finding
from domain.review.workloads import REPLICATED, containers, dig, replicas

DEFAULT_BASIS = "OpenCost default list prices (GCP us-central1)"
_GIB = Decimal(2**30)


class Prices(Frozen):
    cpu_core_hour_usd: float = 0.031611
    memory_gib_hour_usd: float = 0.004237
    # per GiB of claimed storage and month (OpenCost divides bytes by 1024³ before pricing)
    storage_gb_month_usd: float = 0.04
    hours_per_month: float = 730
    basis: str = DEFAULT_BASIS


class Footprint(Frozen):
    """What one object asks of the cluster: in cores, GiB of memory and GiB of storage."""

    cpu_cores: float = 0
    memory_gib: float = 0
    storage_gib: float = 0
    pods: int = 0


class ObjectCost(Frozen):
    ref: ObjectRef
    before: Footprint | None = None
    after: Footprint | None = None
    before_usd: float = 0
    after_usd: float = 0
    monthly_delta_usd: float = 0
    # why it is not priced, or what the price leaves out
    note: str = ""


class CostEstimate(Frozen):
    monthly_delta_usd: float = 0
    basis: str = DEFAULT_BASIS
    objects: list[ObjectCost] = []


def _quantity(value: Any) -> Decimal:
    if value is None:
        return Decimal(0)
    try:
        return parse_quantity(value)
    except QuantityError:
        return Decimal(0)


def _requests(container: Mapping[str, Any]) -> Mapping[str, Any]:
    # Kubernetes defaults a missing request to the limit.
    limits = dig(container, "resources", "limits") or {}
    requests = dig(container, "resources", "requests") or {}
    return {**limits, **requests}


def footprint(manifest: Mapping[str, Any] | None) -> Footprint | None:
    """What the object requests in all, or None when it is not something this prices."""
    if manifest is None:
        return None
    kind = manifest.get("kind")
    if kind == "PersistentVolumeClaim":
        size = _quantity(dig(manifest, "spec", "resources", "requests", "storage"))
        return Footprint(storage_gib=float(size / _GIB))
    if kind not in (*REPLICATED, "DaemonSet"):
        return None
    cpu = memory = Decimal(0)
    for _, container in containers(manifest, init=False):
        requests = _requests(container)
        cpu += _quantity(requests.get("cpu"))
        memory += _quantity(requests.get("memory"))
    storage = Decimal(0)
    if kind == "StatefulSet":
        for claim in dig(manifest, "spec", "volumeClaimTemplates") or []:
            storage += _quantity(dig(claim, "spec", "resources", "requests", "storage"))
    pods = 1 if kind == "DaemonSet" else replicas(manifest)
    return Footprint(
        cpu_cores=float(cpu * pods),
        memory_gib=float(memory * pods / _GIB),
        storage_gib=float(storage * pods / _GIB),
        pods=pods,
    )


def monthly_usd(used: Footprint | None, prices: Prices) -> float:
    if used is None:
        return 0.0
    hourly = used.cpu_cores * prices.cpu_core_hour_usd + used.memory_gib * prices.memory_gib_hour_usd
    return hourly * prices.hours_per_month + used.storage_gib * prices.storage_gb_month_usd


def object_cost(change: ObjectChange, prices: Prices) -> ObjectCost | None:
    before, after = footprint(change.before), footprint(change.after)
    if before is None and after is None:
        return None
    if change.ref.kind == "DaemonSet":
        return ObjectCost(
            ref=change.ref,
            before=before,
            after=after,
            note="per node: one pod on each node it schedules to; not priced",
        )
    before_usd, after_usd = monthly_usd(before, prices), monthly_usd(after, prices)
    return ObjectCost(
        ref=change.ref,
        before=before,
        after=after,
        before_usd=round(before_usd, 2),
        after_usd=round(after_usd, 2),
        monthly_delta_usd=round(after_usd - before_usd, 2),
    )


def estimate_cost(changes: ChangeSet, prices: Prices | None = None) -> CostEstimate:
    """The monthly change in list price of what the change set requests, object by object."""
    prices = prices or Prices()
    objects = [cost for change in changes.changed() if (cost := object_cost(change, prices)) is not None]
    return CostEstimate(
        monthly_delta_usd=round(sum(cost.monthly_delta_usd for cost in objects), 2),
        basis=prices.basis,
        objects=objects,
    )


def signed_usd(value: float) -> str:
    """`+$1,234.50` or `-$12.00`."""
    return f"{'+' if value >= 0 else '-'}${abs(value):,.2f}"


def _amounts(used: Footprint | None) -> tuple[str, str, str, str]:
    if used is None:
        return "0", "0", "0", "0"
    return (
        str(used.pods),
        f"{used.cpu_cores:g}",
        f"{used.memory_gib:g}",
        f"{used.storage_gib:g}",
    )


def cost_findings(estimate: CostEstimate) -> list[Finding]:
    """One informational finding per object whose cost changes (or that is noted, not priced),
    citing its price and what it requests, before → after. Whether a sum is too much is the
    policy's to say, not this."""
    findings = []
    for cost in estimate.objects:
        if not cost.monthly_delta_usd and not cost.note:
            continue
        old, new = _amounts(cost.before), _amounts(cost.after)
        parts = [
            f"{name} {a} → {b}"
            for name, a, b in zip(("pods", "cores", "GiB memory", "GiB storage"), old, new, strict=True)
            if a != b
        ]
        delta = signed_usd(cost.monthly_delta_usd)
        price = cost.note or f"${cost.before_usd:,.2f} → ${cost.after_usd:,.2f} per month ({delta})"
        field = (
            "spec.resources.requests.storage"
            if cost.ref.kind == "PersistentVolumeClaim"
            else "spec.template.spec.containers[*].resources.requests"
        )
        findings.append(
            Finding(
                category="cost",
                severity="info",
                object=cost.ref,
                field=field,
                message=f"{cost.ref.label()}: {price}" + (f"; {', '.join(parts)}" if parts else ""),
            )
        )
    return findings
