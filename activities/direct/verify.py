"""Verify: one look at the rollout of each target (the workflow polls it on a timer)."""

from __future__ import annotations

from temporalio import activity

from activities.direct.kube_change import selector
from activities.failures import classified
from domain.kube.rollout import rollout_check
from domain.steps.change import CheckRolloutInput, RolloutCheck, Verification
from integrations.kubernetes import KubeClient, KubeNotFound


class VerifyActivities:
    def __init__(self, kube: KubeClient) -> None:
        self._kube = kube

    @activity.defn(name="check_rollout")
    def check_rollout(self, input: CheckRolloutInput) -> Verification:
        checks: list[RolloutCheck] = []
        for ref in input.targets:
            with classified(f"cannot check the rollout of {ref.key}"):
                try:
                    live = self._kube.read_object(ref)
                    pods = self._kube.list_pods(ref.namespace, selector(live))
                except KubeNotFound:
                    checks.append(
                        RolloutCheck(resource=ref, done=False, healthy=False, reason="object is gone")
                    )
                    continue
            baseline = input.baseline_restarts.get(ref.key, -1)
            checks.append(rollout_check(ref, live, pods, baseline))
        return Verification(
            ok=all(c.healthy for c in checks),
            finished=all(c.done for c in checks),
            checks=checks,
            reason="; ".join(f"{c.resource.key}: {c.reason}" for c in checks if c.reason),
        )
