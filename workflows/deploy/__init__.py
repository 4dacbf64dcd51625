"""DeploymentWatchWorkflow: every deploy Argo CD syncs, judged by its workloads' signals;
DeployPollWorkflow: the fallback that finds in Argo CD's sync histories the deploys a lost
notification did not tell of."""

from workflows.deploy.poll import DeployPollWorkflow
from workflows.deploy.workflow import DeploymentWatchWorkflow

__all__ = ["DeployPollWorkflow", "DeploymentWatchWorkflow"]
