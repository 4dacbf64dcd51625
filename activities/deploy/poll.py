"""The deploy poll's activity: the recent deploys in Argo CD's sync histories.

- `list_recent_deploys`: every Application Argo CD lists (all the app namespaces it serves to
  medic's token, as the drift scan lists them), each one's latest sync-history entry that finished
  in the poll's window (`domain.deploy.poll.recent_deploys`), one page of them. Only the events
  cross Temporal, never the Applications. With the deploy watch off (MEDIC_DEPLOY_WATCH=false)
  nothing is listed and the result says so.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.failures import classified
from activities.heartbeat import heartbeats
from domain.deploy.poll import DeployPollPage, RecentDeploys, recent_deploys
from integrations.argocd import ArgoClient

__all__ = ["DeployPollActivities"]


class DeployPollActivities:
    def __init__(self, argocd: ArgoClient | None, *, watch_on: bool = True, cluster: str = "") -> None:
        self._argocd = argocd
        self._watch_on = watch_on
        self._cluster = cluster  # this medic's cluster name, which its watch ids carry

    @activity.defn(name="list_recent_deploys")
    @heartbeats
    def list_recent_deploys(self, page: DeployPollPage) -> RecentDeploys:
        """The page of deploys since `page.since`. Argo CD's list is not paged: each page lists the
        Applications again (one request) and the order of `recent_deploys` keeps pages apart; a
        deploy that lands between two pages is seen by the next poll."""
        if not self._watch_on:
            return RecentDeploys(watch_off=True)
        if self._argocd is None:
            raise ApplicationError(
                "no Argo CD is configured (ARGOCD_URL): the deploy poll reads its sync histories",
                type="NotConfigured",
                non_retryable=True,
            )
        with classified("listing the Argo CD Applications"):
            applications = self._argocd.list_applications()
            # another cluster's deploys are its medic's to watch (README "Clusters")
            applications = [a for a in applications if self._argocd.placement(a).where != "elsewhere"]
        events = recent_deploys(applications, page.since, delivery=page.delivery, cluster=self._cluster)
        end = page.offset + page.limit
        return RecentDeploys(
            events=events[page.offset : end],
            next_offset=end if end < len(events) else None,
            applications=len(applications),
        )
