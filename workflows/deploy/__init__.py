"""DeploymentWatchWorkflow: every deploy Argo CD syncs, judged by its workloads' signals."""

from workflows.deploy.workflow import DeploymentWatchWorkflow

__all__ = ["DeploymentWatchWorkflow"]
