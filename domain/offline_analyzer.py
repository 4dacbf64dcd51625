"""The offline, rule-based analyzer: deterministic, no network, always available.

An analyzer takes an `Observation` and returns a `Diagnosis` whose plan holds typed actions only.
This one covers the failure modes that can be read straight off pod states; the richer analysis
(revisions, metrics, the model) plugs in behind the same signature.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from domain.incident import Incident, ResourceRef
from domain.observation import ContainerSpec, Observation, PodState, Workload
from domain.plan import Diagnosis, Evidence, Mode, Plan, SetResources
from domain.quantity import QuantityError, format_memory, parse_quantity

# An OOM-killed container gets its memory limit doubled, but never beyond 4x (the policy's bound)
# nor below the last limit plus 64Mi.
OOM_GROWTH = Decimal(2)
OOM_MAX_GROWTH = Decimal(4)
OOM_MIN_STEP = Decimal(64 * 2**20)
# Objects Argo CD manages carry this annotation; they are changed through Git, never directly.
ARGOCD_TRACKING = "argocd.argoproj.io/tracking-id"


class Analyzer(Protocol):
    name: str

    def analyze(self, incident: Incident, observation: Observation) -> Diagnosis: ...


def _pods_of(observation: Observation, workload: Workload) -> list[PodState]:
    revisions = {r.name for r in observation.revisions}
    prefix = f"{workload.ref.name}-"
    return [
        p
        for p in observation.pods
        if p.namespace == workload.ref.namespace and (p.owner in revisions or p.name.startswith(prefix))
    ]


def _oom_containers(pods: list[PodState]) -> dict[str, list[PodState]]:
    found: dict[str, list[PodState]] = {}
    for pod in pods:
        for c in pod.containers:
            if c.last_state_reason == "OOMKilled" or c.state_reason == "OOMKilled":
                found.setdefault(c.name, []).append(pod)
    return found


def _raised_memory_limit(container: ContainerSpec) -> str | None:
    current_text = container.limits.get("memory")
    if current_text is None:
        return None
    try:
        current = parse_quantity(current_text)
    except QuantityError:
        return None
    proposed = max(current * OOM_GROWTH, current + OOM_MIN_STEP)
    proposed = min(proposed, current * OOM_MAX_GROWTH)
    return format_memory(proposed)


def _mode(workload: Workload) -> Mode:
    return "gitops" if ARGOCD_TRACKING in workload.annotations else "direct"


class OfflineAnalyzer:
    name = "offline"

    def analyze(self, incident: Incident, observation: Observation) -> Diagnosis:
        for workload in observation.workloads:
            diagnosis = self._oom(workload, observation)
            if diagnosis is not None:
                return diagnosis
        if incident.group is not None and incident.group.status == "resolved":
            return Diagnosis(
                root_cause="none",
                summary="The alert has resolved; nothing to fix.",
                confidence=0.8,
                analyzer=self.name,
            )
        if not observation.workloads:
            notes = "; ".join(observation.notes) or "no target could be resolved from the alert's labels"
            return Diagnosis(
                root_cause="unknown",
                summary=f"The alert's targets were not found in the cluster; a human must look ({notes}).",
                confidence=0.1,
                analyzer=self.name,
            )
        unhealthy = [w for w in observation.workloads if w.ready_replicas < w.replicas]
        if not unhealthy:
            return Diagnosis(
                root_cause="none",
                summary="The targets are healthy now; the alert no longer reflects a fault.",
                explanation="Every observed workload has all its replicas ready.",
                confidence=0.6,
                evidence=[Evidence(item_id=w.id, note="all replicas ready") for w in observation.workloads],
                analyzer=self.name,
            )
        return Diagnosis(
            root_cause="unknown",
            summary="The workload is unhealthy but no rule explains why; a human must look.",
            confidence=0.2,
            evidence=[Evidence(item_id=w.id, note="replicas not ready") for w in unhealthy],
            analyzer=self.name,
        )

    def _oom(self, workload: Workload, observation: Observation) -> Diagnosis | None:
        killed = _oom_containers(_pods_of(observation, workload))
        for container in workload.containers:
            pods = killed.get(container.name)
            if not pods:
                continue
            limit = _raised_memory_limit(container)
            if limit is None:
                continue
            target = ResourceRef(
                namespace=workload.ref.namespace,
                kind=workload.ref.kind,
                name=workload.ref.name,
                container=container.name,
            )
            current = container.limits["memory"]
            evidence = [
                Evidence(item_id=p.id, note=f"container {container.name} was OOMKilled") for p in pods
            ]
            evidence.append(Evidence(item_id=workload.id, note=f"memory limit is {current}"))
            evidence += [
                Evidence(item_id=e.id, note=e.reason)
                for e in observation.events
                if "OOM" in e.reason or "out of memory" in e.message.lower()
            ]
            return Diagnosis(
                root_cause="oom",
                summary=(
                    f"{workload.ref.name}/{container.name} is killed for exceeding its memory limit "
                    f"({current}); raise it to {limit}."
                ),
                explanation=(
                    f"{len(pods)} pod(s) show OOMKilled as the container's last termination. The limit "
                    f"is raised by a bounded factor; requests are left unchanged."
                ),
                confidence=0.85,
                evidence=evidence,
                plan=Plan(
                    actions=[SetResources(target=target, mode=_mode(workload), limits={"memory": limit})],
                    expected_impact=f"{container.name} stops being OOMKilled; pods become ready.",
                    rollback=f"restore the memory limit to {current} from the snapshot",
                ),
                analyzer=self.name,
            )
        return None
