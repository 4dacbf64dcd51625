"""validate: the Rego policy decides whether the plan may run, its risk and its approvals."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.gitops.repositories import GitOpsRepositories
from domain.policy.input import diagnosis_policy_input
from domain.review.plan_impact import plan_impact
from domain.steps.validate import ValidateInput, ValidateResult
from policies import PolicyError, evaluate


class ValidateActivities:
    """`repositories`: those medic may write (`domain.gitops.repositories`); the policy refuses any
    change to what an Application deploying from another repository manages. None (tests of other
    rules) leaves that check out."""

    def __init__(
        self,
        policy_dir: str | None = None,
        protected_namespaces: tuple[str, ...] = (),
        repositories: GitOpsRepositories | None = None,
    ) -> None:
        self._policy_dir = policy_dir or None
        self._protected = protected_namespaces
        self._repositories = repositories

    @activity.defn(name="validate_plan")
    def validate_plan(self, input: ValidateInput) -> ValidateResult:
        # The plan, its root cause, the analyzer that made it, flags on its free text, and its
        # impact: what it costs a month and the downtime and rollback findings of its change.
        impact = plan_impact(input.diagnosis.plan, input.observation)
        document = diagnosis_policy_input(
            input.incident,
            input.observation,
            input.diagnosis,
            min_risk=input.min_risk,
            impact=impact,
            repositories=self._repositories,
        )
        try:
            decision = evaluate(
                document,
                policy_dir=self._policy_dir,
                extra_protected_namespaces=(*self._protected, *input.protected_namespaces),
            )
        except PolicyError as err:
            # A broken policy is a configuration error: retrying will not mend it.
            raise ApplicationError(str(err), type="PolicyError", non_retryable=True) from err
        return ValidateResult(**dict(decision), impact=impact)
