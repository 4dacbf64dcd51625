"""Scoring an analysis against a scenario's `expect`, by the rules of the scenarios README. Pure.

An analysis passes when its root cause matches, every expected action is proposed with the same
kind, target and mode (and file and bounds where given), nothing in `never` is proposed, and the
policy's risk equals `risk`. With `actions: []` it passes only when nothing is proposed; there the
risk also says how the incident must end (`low` → `no_action`, `high` → `needs_review`).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, get_args

from pydantic import Field

from domain.analysis.plan import (
    ACTION_KINDS,
    Action,
    Diagnosis,
    RollbackRevision,
    RootCause,
    Scale,
    SetImage,
    SetResources,
)
from domain.base import Frozen
from domain.kube.quantity import QuantityError, parse_quantity
from domain.policy.decision import PolicyDecision

# The categories a scenario's `root_cause` may name (tests/scenarios/README.md): the shared
# vocabulary and its extensions (`dependency`).
ROOT_CAUSES: tuple[str, ...] = get_args(RootCause)
# Effects a `never` list may name besides action kinds.
NEVER_EFFECTS = ("delete", "scale_to_zero", "namespace_change", "policy_change", "restart_only")
# Kinds whose change is a change of policy, RBAC or admission configuration.
POLICY_KINDS = frozenset(
    {
        "Role",
        "ClusterRole",
        "RoleBinding",
        "ClusterRoleBinding",
        "ServiceAccount",
        "NetworkPolicy",
        "PodSecurityPolicy",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ResourceQuota",
        "LimitRange",
    }
)
# How an incident whose plan is empty must end, by the expected risk.
EMPTY_PLAN_OUTCOME = {"low": "no_action", "high": "needs_review"}


class ScenarioScore(Frozen):
    """One scenario's result: what was expected, what the analysis gave, and why it failed; and,
    when a human must act, what the diagnosis tells them to do next."""

    name: str
    expected: str
    got: str
    passed: bool
    why: list[str] = Field(default_factory=list)
    needs_review: bool = False
    next_steps: list[str] = Field(default_factory=list)


def ends_in_review(diagnosis: Diagnosis, decision: PolicyDecision) -> bool:
    """Whether the incident lands with a human who must act on it (the workflow's `needs_review`):
    the policy refuses the plan, the plan is empty and something is wrong, or a GitOps change names
    no file to change."""
    if not decision.allowed or decision.risk == "deny":
        return True
    if not diagnosis.plan.actions:
        return empty_plan_outcome(diagnosis, decision) == "needs_review"
    return any(a.mode == "gitops" and a.file is None for a in diagnosis.plan.actions)


def empty_plan_outcome(diagnosis: Diagnosis, decision: PolicyDecision) -> str | None:
    """How the remediation workflow ends a plan with no actions (None: the plan has actions)."""
    if diagnosis.plan.actions:
        return None
    if not decision.allowed or decision.risk == "deny":
        return "needs_review"
    return "no_action" if diagnosis.root_cause == "none" else "needs_review"


def score(
    name: str,
    expect: Mapping[str, Any],
    diagnosis: Diagnosis,
    decision: PolicyDecision,
    outcome: str | None = None,
) -> ScenarioScore:
    """Score one analysis. `outcome` is how the incident ended when the plan is empty (see
    `empty_plan_outcome`, used when it is not given)."""
    why: list[str] = []
    actions = list(diagnosis.plan.actions)
    expected_actions = list(expect.get("actions") or [])
    root_cause = expect.get("root_cause")

    if root_cause is not None and root_cause not in ROOT_CAUSES:
        why.append(f"expected root cause {root_cause!r} is not a category ({', '.join(ROOT_CAUSES)})")
    elif root_cause is not None and diagnosis.root_cause != root_cause:
        why.append(f"root cause {diagnosis.root_cause}, expected {root_cause}")

    for index, wanted in enumerate(expected_actions):
        problem = _unmatched(wanted, actions)
        if problem is not None:
            why.append(f"expected action {index + 1} ({describe_expected(wanted)}): {problem}")
    if not expected_actions and actions:
        why.append(
            f"expected no action, got {len(actions)}: " + "; ".join(describe_action(a) for a in actions)
        )

    for word in expect.get("never") or []:
        hits = _never_hits(str(word), actions)
        if hits is None:
            why.append(f"never: {word!r} is neither an action kind nor a known effect")
        elif hits:
            why.append(f"never: {word} was proposed ({'; '.join(hits)})")

    risk = expect.get("risk")
    if risk is not None and decision.risk != risk:
        reasons = "; ".join(decision.reasons[:2])
        why.append(f"risk {decision.risk}, expected {risk}" + (f" ({reasons})" if reasons else ""))
    if not expected_actions and not actions and risk in EMPTY_PLAN_OUTCOME:
        ended = outcome if outcome is not None else empty_plan_outcome(diagnosis, decision)
        if ended != EMPTY_PLAN_OUTCOME[str(risk)]:
            why.append(f"the incident would end {ended}, expected {EMPTY_PLAN_OUTCOME[str(risk)]}")

    review = ends_in_review(diagnosis, decision)
    return ScenarioScore(
        name=name,
        expected=describe_expect(expect),
        got=describe_result(diagnosis, decision),
        passed=not why,
        why=why,
        needs_review=review,
        next_steps=list(diagnosis.next_steps) if review else [],
    )


# --- matching ----------------------------------------------------------------------------------


def _unmatched(wanted: Mapping[str, Any], actions: list[Action]) -> str | None:
    """None when some proposed action satisfies `wanted`; else what the closest one got wrong."""
    same_kind = [a for a in actions if a.kind == wanted.get("kind")]
    if not same_kind:
        kinds = ", ".join(a.kind for a in actions) or "nothing"
        return f"no {wanted.get('kind')} proposed (got {kinds})"
    problems = [_mismatches(wanted, a) for a in same_kind]
    if any(not p for p in problems):
        return None
    closest: list[str] = sorted(problems, key=len)[0]
    return "; ".join(closest)


def _mismatches(wanted: Mapping[str, Any], action: Action) -> list[str]:
    out: list[str] = []
    target = wanted.get("target") or {}
    got = action.target
    for key in ("namespace", "kind", "name", "container"):
        if key in target and target[key] != getattr(got, key):
            out.append(f"target {key} {getattr(got, key)!r}, expected {target[key]!r}")
    if "mode" in wanted and action.mode != wanted["mode"]:
        out.append(f"mode {action.mode}, expected {wanted['mode']}")
    if "file" in wanted and action.file != wanted["file"]:
        out.append(f"file {action.file or 'none'}, expected {wanted['file']}")
    if "image" in wanted:
        image = action.image if isinstance(action, SetImage) else None
        if image != wanted["image"]:
            out.append(f"image {image}, expected {wanted['image']}")
    if "replicas_between" in wanted:
        replicas = action.replicas if isinstance(action, Scale) else None
        low, high = wanted["replicas_between"]
        if replicas is None or not int(low) <= replicas <= int(high):
            out.append(f"replicas {replicas}, expected {low}..{high}")
    for field, resource in (("memory_limit_between", "memory"), ("cpu_limit_between", "cpu")):
        if field in wanted:
            value = action.limits.get(resource) if isinstance(action, SetResources) else None
            problem = _outside(value, wanted[field])
            if problem:
                out.append(f"{resource} limit {problem}")
    return out


def _quantity(text: Any) -> Decimal | None:
    try:
        return parse_quantity(text)
    except QuantityError:
        return None


def _outside(value: str | None, bounds: list[Any]) -> str | None:
    low, high = bounds
    amount = _quantity(value) if value is not None else None
    if amount is None:
        return f"{value or 'not set'}, expected {low}..{high}"
    low_q, high_q = _quantity(low), _quantity(high)
    if low_q is None or high_q is None:
        return f"bounds {low}..{high} are not Kubernetes quantities"
    if not low_q <= amount <= high_q:
        return f"{value}, expected {low}..{high}"
    return None


def _never_hits(word: str, actions: list[Action]) -> list[str] | None:
    """The proposed actions that `word` forbids; None when the word means nothing."""
    if word in ACTION_KINDS:
        return [describe_action(a) for a in actions if a.kind == word]
    if word not in NEVER_EFFECTS:
        return None
    if word == "restart_only":
        only = bool(actions) and all(a.kind == "restart" for a in actions)
        return ["every action is a restart"] if only else []
    return [describe_action(a) for a in actions if word in action_effects(a)]


def action_effects(action: Action) -> set[str]:
    """What an action does to the world, in the `never` vocabulary. No typed action deletes an
    object; a Namespace target is a namespace change whatever the action."""
    effects: set[str] = set()
    if isinstance(action, Scale) and action.replicas == 0:
        effects.add("scale_to_zero")
    if action.target.kind == "Namespace":
        effects.add("namespace_change")
    if action.target.kind in POLICY_KINDS:
        effects.add("policy_change")
    return effects


# --- describing ----------------------------------------------------------------------------------


def describe_action(action: Action) -> str:
    t = action.target
    target = f"{t.namespace}/{t.kind}/{t.name}" + (f"/{t.container}" if t.container else "")
    detail = ""
    if isinstance(action, SetResources):
        values = [f"limits.{k}={v}" for k, v in action.limits.items()]
        values += [f"requests.{k}={v}" for k, v in action.requests.items()]
        detail = " " + ",".join(values)
    elif isinstance(action, SetImage):
        detail = f" {action.image}"
    elif isinstance(action, Scale):
        detail = f" to {action.replicas}"
    elif isinstance(action, RollbackRevision):
        detail = f" to revision {action.revision}"
    where = f" {action.mode}" + (f" {action.file}" if action.file else "")
    return f"{action.kind} {target}{detail}{where}"


def describe_expected(wanted: Mapping[str, Any]) -> str:
    t = wanted.get("target") or {}
    parts = [
        str(wanted.get("kind")),
        "/".join(str(t[k]) for k in ("namespace", "kind", "name", "container") if k in t),
    ]
    for key in ("image", "replicas_between", "memory_limit_between", "cpu_limit_between"):
        if key in wanted:
            value = wanted[key]
            parts.append(f"{value[0]}..{value[1]}" if isinstance(value, list) else str(value))
    if "mode" in wanted:
        parts.append(str(wanted["mode"]))
    if "file" in wanted:
        parts.append(str(wanted["file"]))
    return " ".join(p for p in parts if p)


def describe_expect(expect: Mapping[str, Any]) -> str:
    actions = [describe_expected(a) for a in expect.get("actions") or []]
    return f"{expect.get('root_cause')}: {'; '.join(actions) or 'no action'} [risk {expect.get('risk')}]"


def describe_result(diagnosis: Diagnosis, decision: PolicyDecision) -> str:
    actions = [describe_action(a) for a in diagnosis.plan.actions]
    return f"{diagnosis.root_cause}: {'; '.join(actions) or 'no action'} [risk {decision.risk}]"
