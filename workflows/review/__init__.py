"""ChangeReviewWorkflow: the review of every head pushed to one GitOps pull request."""

from workflows.review.workflow import ChangeReviewWorkflow

__all__ = ["ChangeReviewWorkflow"]
