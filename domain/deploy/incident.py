"""The incident of a deploy its watch judged degraded, and its diagnosis and plan. Pure.

A degraded deploy opens an incident (source `deploy`) that carries the `DeployRegression`: which
Application went from which revision to which, the commits that brought it, and the verdict with
every rule that fired and its figures. Its diagnosis is the verdict itself, read by no analyzer
and no model (root cause `bad_release`, analyzer `deploy-watch`), and its plan is one
`revert_deploy`: a pull request against the GitOps repository that reverts
`previous_revision`..`revision` on the Application's branch (`activities.gitops.change`).

No plan is made, and the summary says why, when the deploy was the Application's first (there is
no earlier revision to go back to) or when none of the degraded workloads was observed (the
analyze step and the policy act only on observed targets).
"""

from __future__ import annotations

from domain.analysis.plan import Diagnosis, Evidence, Plan, RevertDeploy
from domain.deploy.model import DeployRegression, FiredRule, WorkloadRef
from domain.incident.model import WORKLOAD_KINDS, Incident, ResourceRef
from domain.kube.observation import Observation

__all__ = ["ANALYZER", "deploy_diagnosis", "deploy_incident"]

ANALYZER = "deploy-watch"
# A revision as titles and summaries show it (git's short form).
_SHORT = 7
# How many commits the explanation lists.
_MAX_COMMITS = 20


def deploy_incident(workflow_id: str, regression: DeployRegression) -> Incident:
    """The incident of a degraded deploy: source `deploy`, a title naming the deploy and what its
    worst rule saw, and the degraded workloads (namespaced Deployments, StatefulSets and
    DaemonSets) as targets."""
    worst = regression.verdict.fired[0] if regression.verdict.fired else None
    what = _short(worst) if worst is not None else regression.verdict.state
    return Incident(
        id=workflow_id,
        source="deploy",
        title=f"Deploy {regression.revision[:_SHORT]} of {regression.application} degraded: {what}",
        targets=_targets(regression),
        deploy=regression,
    )


def deploy_diagnosis(incident: Incident, observation: Observation) -> Diagnosis:
    """The diagnosis of a degraded deploy: root cause `bad_release`, the verdict's one line as its
    summary, every fired rule and the commits in its explanation, and a plan that reverts the
    deploy's commits on the first degraded workload observed — or no plan, and why. The same
    incident and observation always give the same plan. Raises ValueError when the incident
    carries no deploy."""
    regression = incident.deploy
    if regression is None:
        raise ValueError(f"incident {incident.id} carries no deploy to revert")
    app = regression.application
    revision = regression.revision[:_SHORT]
    summary = regression.verdict.summary or f"deploy {revision} of {app} is degraded"
    target = next((t for t in _targets(regression) if observation.workload(t) is not None), None)
    if not regression.previous_revision:
        plan, refusal = (
            Plan(),
            (
                f"{app} had no earlier revision than {revision} (its first deploy): there is nothing to "
                "revert to, so a human must act"
            ),
        )
    elif target is None:
        plan, refusal = (
            Plan(),
            (
                f"none of the workloads the deploy degraded ({_labels(regression.workloads)}) was observed, "
                "so medic cannot revert it: a human must act"
            ),
        )
    else:
        plan, refusal = _revert_plan(regression, target), None
    if refusal is not None:
        summary = f"{summary}; not reverted: {refusal}"
    return Diagnosis(
        root_cause="bad_release",
        summary=summary,
        explanation=_explanation(regression, refusal),
        # measured against the deploy's own baseline, by rules: not an inference
        confidence=0.9,
        evidence=_evidence(regression, observation),
        plan=plan,
        analyzer=ANALYZER,
        next_steps=_next_steps(regression) if refusal is not None else [],
    )


def _revert_plan(regression: DeployRegression, target: ResourceRef) -> Plan:
    app = regression.application
    span = f"{regression.previous_revision[:_SHORT]}..{regression.revision[:_SHORT]}"
    count = len(regression.commits)
    commits = f"the {count} commit(s) of {span}" if count else f"the commits of {span}"
    return Plan(
        actions=[
            RevertDeploy(
                target=target,
                application=app,
                app_namespace=regression.app_namespace,
                revision=regression.revision,
                previous_revision=regression.previous_revision,
            )
        ],
        expected_impact=(
            f"a pull request against the GitOps repository reverts {commits}; once it is merged, "
            f"Argo CD syncs {app} back to what it ran before the deploy, and the rules that fired "
            "are checked again"
        ),
        rollback=(
            "revert the revert's pull request: Git declares the deploy's changes again, and Argo CD "
            "applies them"
        ),
    )


def _targets(regression: DeployRegression) -> list[ResourceRef]:
    """The degraded workloads medic observes (a pod template, a namespace), each once, in order:
    those a rule fired on, then the rest of the deploy's workloads."""
    refs: dict[str, ResourceRef] = {}
    fired = [r.workload for r in regression.verdict.fired if r.workload is not None]
    for workload in [*fired, *regression.workloads]:
        if workload.kind in WORKLOAD_KINDS and workload.namespace:
            ref = _ref(workload)
            refs.setdefault(ref.key, ref)
    return list(refs.values())


def _ref(workload: WorkloadRef) -> ResourceRef:
    return ResourceRef(namespace=workload.namespace, kind=workload.kind, name=workload.name)


def _explanation(regression: DeployRegression, refusal: str | None) -> str:
    app = regression.application
    before = regression.previous_revision[:_SHORT] or "(no earlier revision)"
    lines = [
        f"Argo CD application {app} (namespace {regression.app_namespace}, project {regression.project}) "
        f"was synced from {before} to {regression.revision[:_SHORT]}, and its deploy watch judged it "
        "degraded:",
        *(f"- {_rule_line(rule)}" for rule in regression.verdict.fired),
    ]
    lines += [f"Note: {note}" for note in regression.verdict.notes]
    if regression.commits:
        lines.append("Commits of the deploy (newest first):")
        lines += [f"- {c}" for c in regression.commits[:_MAX_COMMITS]]
        if len(regression.commits) > _MAX_COMMITS:
            lines.append(f"- ... and {len(regression.commits) - _MAX_COMMITS} more")
    if refusal is None:
        lines.append("Plan: revert these commits by a pull request against the GitOps repository.")
    else:
        lines.append(f"Not reverted: {refusal}.")
    return "\n".join(lines)


def _rule_line(rule: FiredRule) -> str:
    where = f"{rule.workload.label}: " if rule.workload is not None else ""
    return f"{where}{rule.message}"


def _short(rule: FiredRule) -> str:
    """What a rule saw, in a few words for a title: "p99 2.4× worse"."""
    was, now = rule.baseline or 0.0, rule.observed or 0.0
    if rule.rule == "p99_latency":
        return f"p99 {now / was:.1f}× worse" if was > 0 else f"p99 {now:.0f} ms"
    if rule.rule == "error_ratio":
        return f"error ratio {now / was:.1f}× worse" if was > 0 else f"error ratio {now * 100:.2f}%"
    if rule.rule == "crash_loop":
        return "crash loop"
    if rule.rule == "oom_kill":
        return "OOM kills"
    if rule.rule == "readiness":
        return f"ready pods down to {now * 100:.0f}%"
    return "Argo CD health Degraded"


def _evidence(regression: DeployRegression, observation: Observation) -> list[Evidence]:
    """The observed items the verdict is about: each degraded workload, and the Application."""
    evidence: dict[str, Evidence] = {}
    for ref in _targets(regression):
        workload = observation.workload(ref)
        if workload is None:
            continue
        rules = [r.message for r in regression.verdict.fired if r.workload and _ref(r.workload) == ref]
        note = "; ".join(rules) or "changed by the deploy"
        evidence.setdefault(workload.id, Evidence(item_id=workload.id, note=_clip(note)))
    named = [a for a in observation.argocd if a.name == regression.application]
    exact = [a for a in named if a.namespace == regression.app_namespace]
    app = next(iter(exact or named), None)
    if app is not None:
        state = ", ".join(s for s in (app.sync_status, app.health_status) if s) or "state unknown"
        at = f" at {app.revision[:_SHORT]}" if app.revision else ""
        evidence.setdefault(
            app.id, Evidence(item_id=app.id, note=f"Argo CD application {app.name}{at}: {state}")
        )
    return list(evidence.values())


def _next_steps(regression: DeployRegression) -> list[str]:
    app = regression.application
    steps = [f"See what the deploy changed and when: `argocd app history {app}` and `argocd app diff {app}`."]
    first = next(iter(_targets(regression)), None)
    if first is not None:
        steps.append(
            f"See the degraded workload: `kubectl -n {first.namespace} describe {first.kind.lower()} "
            f"{first.name}`."
        )
    steps.append(
        "Revert the deploy's commits in the GitOps repository by a pull request, or fix forward, "
        "once you know which change caused it."
    )
    return steps


def _labels(workloads: list[WorkloadRef]) -> str:
    return ", ".join(w.label for w in workloads) or "none named"


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
