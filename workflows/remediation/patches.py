"""Patch markers: each marks the histories recorded after a change of commands, so that older
histories keep replaying. A marker is asked only where its path is taken; removing one, or asking
it elsewhere, breaks the replay of every history recorded before it."""

from __future__ import annotations

# Carries out GitOps plans through a pull request. Asked only when a plan has a GitOps action, so
# that a history recorded before (which sent it to needs_review) replays.
PATCH_GITOPS_MODE = "gitops-mode"
# Carries out a `sync_application` plan: drift brought back to Git by an Argo CD sync of exactly
# the drifted resources. Asked only for such plans (a history recorded before refused it at the
# dry-run).
PATCH_ARGO_SYNC = "argo-sync"
# Recalls similar incidents before the analysis and remembers each outcome.
PATCH_INCIDENT_MEMORY = "incident-memory"
# Asks for a second-opinion review (only when the input turns it on).
PATCH_SECOND_OPINION = "second-opinion"
# Sends notifications (only when the input turns them on).
PATCH_NOTIFICATIONS = "notifications"
# Four-eyes that one person cannot fake: approver names compared in one normal form, a signal's
# groups ignored, and approvals through a self-asserted channel not counted where the policy says
# so. Asked by a signalled decision only when today's rules and the earlier ones disagree on it
# (the `decide` validator needs none: its verdict is not in the history).
PATCH_FOUR_EYES = "four-eyes"
# Notifies that the model could not be used (a refused key, an exhausted quota, an outage) and
# the offline rules diagnosed instead. Asked only on that fallback, with notifications on.
PATCH_MODEL_UNUSABLE = "model-unusable"

# Observe mode: a plan the policy puts in `observe` ends after its decision, with the change it
# would make audited and nothing changed. Asked only when the decision's mode is observe (a
# decision made before modes has none).
PATCH_OBSERVE_MODE = "observe-mode"
# The workflow keeps observe's observation in the store itself (`record_incident`, retried without
# bound) instead of observe doing it inside its limited retries: a store outage no longer fails
# observe. Asked at every observe.
PATCH_OBSERVATION_RECORDED = "observation-recorded"
# A step whose activity gave up because the store could not be reached (`StoreUnavailable`, after
# all its attempts) runs again instead of ending the incident `failed`: a store outage of any
# length holds the incident, never fails it. Asked only after such a failure.
PATCH_STORE_OUTAGE = "store-outage-waits"
# An incident that ended `failed` closes at once instead of staying open through its cooldown, so
# the group's next firing notification starts a new run. Asked only for a failed alert incident
# that would otherwise wait.
PATCH_FAILED_SKIPS_COOLDOWN = "failed-skips-cooldown"
