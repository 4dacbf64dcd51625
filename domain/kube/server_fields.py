"""What the API server and controllers write into an object, never whoever declares it: left out
wherever a declared manifest is compared with another one or with the live object (drift, change
review)."""

from __future__ import annotations

SERVER_METADATA = (
    "managedFields",
    "resourceVersion",
    "uid",
    "generation",
    "creationTimestamp",
    "selfLink",
    "ownerReferences",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)
# kubectl's copy of the object as last applied (for a Secret it holds the data).
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
