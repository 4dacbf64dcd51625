"""The drift scan workflow (see `workflow.py`)."""

from workflows.drift.workflow import DriftScanWorkflow, drift_incident

__all__ = ["DriftScanWorkflow", "drift_incident"]
