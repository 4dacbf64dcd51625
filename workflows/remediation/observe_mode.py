"""Observe mode: what a fix would change, shown, and changed nowhere.

A plan in a namespace the policy data puts in `observe` ends here, right after the policy's
decision. For objects Argo CD manages, the GitOps file edit a pull request would make is computed
(`prepare_gitops_change` reads the repository: a clone or fetch, never a push); for every action,
the change to the object as a diff of what observe saw. Both are audited (`would_change`) and the
incident ends `observed` with one line naming what would have changed. Nothing is patched,
dry-run, pushed or opened, and no approval is asked for.
"""

from __future__ import annotations

from temporalio import workflow

from workflows.remediation.gitops import change_summary
from workflows.remediation.state import Ending, RunState
from workflows.remediation.steps import StepFailed, Steps
from workflows.remediation.stubs import PREPARE_GITOPS_CHANGE

with workflow.unsafe.imports_passed_through():
    from domain.analysis.plan import Diagnosis
    from domain.analysis.plan_diff import plan_diffs
    from domain.gitops.flow import owning_applications
    from domain.kube.observation import Observation
    from domain.steps.gitops import FileDiff, PrepareChangeInput

# The audit step that holds the would-be change: `objects` (per action: target, summary, diff)
# and, for objects Argo CD manages, `files` (per GitOps file: path, description, diff).
WOULD_CHANGE = "would_change"
_SHOWN = {"target", "mode", "file", "summary", "diff"}


class ObserveMode:
    def __init__(self, state: RunState, steps: Steps) -> None:
        self._state = state
        self._steps = steps

    async def report(self, observation: Observation, diagnosis: Diagnosis) -> Ending:
        """Audit the change the plan would make, and end `observed` with it in one line."""
        state, plan = self._state, diagnosis.plan
        objects = plan_diffs(plan, observation, state.incident.id)
        files: list[FileDiff] = []
        notes: list[str] = []
        if any(a.mode == "gitops" for a in plan.actions):
            files, notes = await self._git_change(observation, diagnosis)
        namespaces = sorted({a.target.namespace for a in plan.actions})
        await self._steps.audit(
            WOULD_CHANGE,
            "info",
            detail={
                "mode": "observe",
                "namespaces": namespaces,
                "objects": [d.model_dump(mode="json", include=_SHOWN) for d in objects],
                "files": [f.model_dump(mode="json") for f in files],
                "notes": notes,
            },
        )
        subject = ("namespace " if len(namespaces) == 1 else "namespaces ") + ", ".join(namespaces)
        what = "; ".join(f"{d.target}: {d.summary}" for d in objects)
        how = f" through a pull request changing {', '.join(f.path for f in files)}" if files else ""
        caveat = f" ({'; '.join(notes)})" if notes else ""
        return "observed", f"observe mode in {subject}: would change {what}{how}{caveat}; nothing was changed"

    async def _git_change(
        self, observation: Observation, diagnosis: Diagnosis
    ) -> tuple[list[FileDiff], list[str]]:
        """The GitOps file edit a pull request would make, and why there is none when there is not."""
        state, plan = self._state, diagnosis.plan
        applications, unowned = owning_applications(plan, observation)
        if unowned:
            return [], ["no GitOps change could be computed: " + "; ".join(unowned)]
        try:
            change = await self._steps.run(
                "preparing_change",
                PREPARE_GITOPS_CHANGE,
                PrepareChangeInput(
                    incident_id=state.incident.id,
                    plan=plan,
                    plan_hash=state.plan_hash,
                    applications=applications,
                ),
                summary=change_summary,
            )
        except StepFailed as failed:
            return [], [f"the GitOps change could not be computed: {failed}"]
        state.change = change
        notes: list[str] = []
        if change.refused:
            notes.append("no GitOps change can be made with confidence: " + "; ".join(change.refused))
        if change.unchanged:
            notes.append("the GitOps repository already holds " + "; ".join(change.unchanged))
        return list(change.files), notes
