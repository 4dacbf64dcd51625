"""Change review: the deterministic analysis of a GitOps change before it merges. Pure.

`changes` pairs the objects of two renderings and diffs them, redacted; `workloads` finds the
parts of a workload in its manifest; `rules` finds what the change risks (downtime, rollback,
security), each finding citing object and field, and the rollout it needs; `cost` prices what
the change requests.
"""
