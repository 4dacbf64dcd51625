"""validate: the Rego policy decides whether the plan may run, its risk and its approvals."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.policy.decision import PolicyDecision
from domain.policy.input import diagnosis_policy_input
from domain.steps.validate import ValidateInput
from policies import PolicyError, evaluate


class ValidateActivities:
    def __init__(self, policy_dir: str | None = None, protected_namespaces: tuple[str, ...] = ()) -> None:
        self._policy_dir = policy_dir or None
        self._protected = protected_namespaces

    @activity.defn(name="validate_plan")
    def validate_plan(self, input: ValidateInput) -> PolicyDecision:
        # The plan, its root cause, the analyzer that made it and flags on its free text.
        document = diagnosis_policy_input(
            input.incident, input.observation, input.diagnosis, min_risk=input.min_risk
        )
        try:
            return evaluate(
                document,
                policy_dir=self._policy_dir,
                extra_protected_namespaces=(*self._protected, *input.protected_namespaces),
            )
        except PolicyError as err:
            # A broken policy is a configuration error: retrying will not mend it.
            raise ApplicationError(str(err), type="PolicyError", non_retryable=True) from err
