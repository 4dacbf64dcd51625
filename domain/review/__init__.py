"""Change review: the deterministic analysis of a GitOps change before it merges. Pure.

`changes` pairs the objects of two renderings and diffs them (redacted), `rules` finds what the
change risks (downtime, rollback, security) and the rollout it needs, `cost` prices it, `review`
puts these together with an overall risk, and `render` writes it as a pull-request comment or JSON.
"""
