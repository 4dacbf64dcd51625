"""Deploy watch: every Argo CD deploy judged by its workloads' signals before and after. Pure.

`model` holds what a watch is about and what it decides with: the deploy (an Application synced
to a new revision, one watch per Application and revision), a changed workload's signals over a
window, the rules and their thresholds (defaults here, per Application in policy data), and the
verdict with every rule that fired and the figures it fired on. `rules` is the decision itself:
the baseline window against the window after the sync, deterministic and explained in one line per
rule.
"""
