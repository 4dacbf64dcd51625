"""Execute: each action's patch applied through the Kubernetes API, heartbeating between objects;
a retry finds an action already applied (by its incident and plan-hash tag) and does nothing."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.direct.kube_change import patch, record_action, revisions
from activities.failures import activity_failure, store_failures
from domain.kube.patches import PatchError, is_applied
from domain.steps.change import AppliedChange, ExecutionResult, PlanInput
from integrations.errors import IntegrationError
from integrations.kubernetes import KubeClient
from store.db import transaction


class ExecuteActivities:
    def __init__(self, kube: KubeClient, sessions: sessionmaker[Session]) -> None:
        self._kube = kube
        self._sessions = sessions

    @activity.defn(name="execute_plan")
    @store_failures
    def execute_plan(self, input: PlanInput) -> ExecutionResult:
        changes: list[AppliedChange] = []
        for index, action in enumerate(input.plan.actions):
            activity.heartbeat(index)
            ref = action.target.without_container()
            try:
                live = self._kube.read_object(ref)
                found = revisions(self._kube, ref, live, action)
                if is_applied(action, live, input.incident_id, input.plan_hash, found):
                    changed, result = False, live
                else:
                    result = patch(self._kube, input, action, live, found, dry_run=False)
                    changed = True
            except PatchError as err:
                raise ApplicationError(
                    f"{action.kind} {ref.key}: {err}", type="PatchError", non_retryable=True
                ) from err
            except IntegrationError as err:
                raise activity_failure(err, f"{action.kind} {ref.key}") from err
            generation = int(result.get("metadata", {}).get("generation", 0))
            detail = "applied" if changed else "already applied (retry)"
            changes.append(
                AppliedChange(
                    action_index=index, resource=ref, changed=changed, generation=generation, detail=detail
                )
            )
            with transaction(self._sessions) as session:
                record_action(
                    session,
                    input,
                    index,
                    action,
                    "execute",
                    "applied",
                    {
                        "generation": generation,
                        "changed_by_this_attempt": changed,
                        "attempt": activity.info().attempt,
                    },
                )
        return ExecutionResult(changes=changes)
