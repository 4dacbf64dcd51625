"""Meta alerts: alerts that fire by design (`Watchdog`, `InfoInhibitor`, ...) are not incidents.

Whatever analyzer is configured, an incident whose alerts are all meta alerts ends `no_action`:
root cause `none`, no actions, and the reason said (see `domain.incident.alert_kinds`).
"""

from __future__ import annotations

from domain.analysis.plan import Diagnosis, Plan
from domain.incident.alert_kinds import meta_alerts_only
from domain.incident.model import Incident

ANALYZER = "offline"


def meta_alert_diagnosis(incident: Incident) -> Diagnosis | None:
    """`none` with the reason when every alert of the incident fires by design; else None."""
    found = meta_alerts_only(incident.alerts)
    if found is None:
        return None
    reasons = list(dict.fromkeys(reason for _, reason in found))
    names = sorted({a.labels.get("alertname", "") for a, _ in found})
    where = sorted({a.labels.get("namespace", "") for a, _ in found} - {""})
    scope = f" (namespace {', '.join(where)})" if where else ""
    return Diagnosis(
        root_cause="none",
        summary=reasons[0],
        explanation=(
            f"{', '.join(names)}{scope} fires by design and names no workload; medic changes nothing. "
            + " ".join(reasons[1:])
        ).strip(),
        next_steps=[
            "Route this alert away from medic: a Watchdog belongs to a dead man's switch receiver "
            "(its silence is the alarm), and an InfoInhibitor to a null receiver that only inhibits.",
        ],
        confidence=0.95,
        plan=Plan(expected_impact="nothing changes", rollback="nothing to roll back"),
        analyzer=ANALYZER,
    )


__all__ = ["meta_alert_diagnosis"]
