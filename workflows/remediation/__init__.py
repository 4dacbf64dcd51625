"""The remediation workflow, split by concern (see `workflow.py` for the loop at a glance)."""

from workflows.remediation.workflow import RemediationWorkflow

__all__ = ["RemediationWorkflow"]
