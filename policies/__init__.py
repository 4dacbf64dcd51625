"""The Rego policy that decides whether a plan may run, its risk and its approvals.

`evaluate` asks `data.medic.remediation.decision` of every `*.rego` file in a policy directory,
with that directory's `data.json` as data, and returns a validated `PolicyDecision`. The same
files work with OPA and conftest (`opa eval -d policies/ -i input.json data.medic.remediation`).
`drift_disposition` asks `data.medic.drift.decision` of the same files which plan a drifted
Argo CD Application gets (sync, adopt or report). `evaluate_review` asks
`data.medic.review.decision` the verdict on a GitOps change before it merges (allow, warn or deny).

A policy directory holds `data.json` and, usually, the `*.rego` files; a directory with only
`data.json` (say, a ConfigMap carrying an estate's data) is evaluated with the shipped rules of
this package. A directory whose rules declare no `package medic.review` (written before the review
policy existed) gets the shipped review.rego beside its own files, so every change review has a
verdict from the directory's data; rules of its own for that package replace the shipped ones. The
data's `modes` and `review` section are checked when it is loaded: a mode that is not observe,
propose or auto, a namespace key that can never match a namespace, or a review threshold or
category that cannot be, is refused there, in one line. So is the `deploy_watch` section, the
deploy watch's rules: defaults, and overrides per Argo CD Application that `deploy_watch_rules`
looks up, read by no Rego rule — but for an Application's `auto_approve_revert` (true or false),
which lets the remediation policy run the revert of its degraded deploys without approval.

Evaluation runs in-process with regopy (rego-cpp). The rules and data are compiled once into a
bundle per policy version, query and set of extra protected namespaces (`Interpreter.build`), and
each call queries that bundle (`query_bundle`, well under a few milliseconds), under one
process-wide lock: rego-cpp makes no promise about concurrent use, so serialising the queries costs
nothing that matters on an activity thread pool. An edited policy directory is re-read and compiled
again on the next call.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from policies.load_order import LOADED_LATE  # before regopy: it asks what was loaded first

# isort: split
import regopy
from pydantic import ValidationError
from regopy.rego_shared import LogLevel

from domain.deploy.model import WatchRules
from domain.drift.model import AppDrift, Disposition
from domain.policy.decision import MODES, PolicyDecision
from domain.review.findings import Category
from domain.review.verdict import ReviewVerdict

__all__ = [
    "POLICY_DIR",
    "DECISION_QUERY",
    "DATA_FILE",
    "DRIFT_QUERY",
    "REVIEW_QUERY",
    "PolicyError",
    "drift_disposition",
    "evaluate",
    "evaluate_review",
    "load_policy_data",
    "check_modes",
    "check_review",
    "check_deploy_watch",
    "deploy_watch_rules",
]

POLICY_DIR = Path(__file__).resolve().parent
DECISION_QUERY = "data.medic.remediation.decision"
DRIFT_QUERY = "data.medic.drift.decision"
REVIEW_QUERY = "data.medic.review.decision"
REVIEW_RULES = "review.rego"
# The finding categories data `review.deny_categories` may name.
_CATEGORIES: tuple[str, ...] = get_args(Category)
# A module that declares the review package, whatever its file is called.
_REVIEW_PACKAGE = re.compile(r"^\s*package\s+medic\.review(?![.\w])", re.MULTILINE)
_DISPOSITIONS: tuple[Disposition, ...] = ("sync", "adopt", "report")
DATA_FILE = "data.json"

_LOCK = threading.Lock()
log = logging.getLogger("medic.policies")
if LOADED_LATE:
    log.warning(
        "rego-cpp was loaded after libstdc++: every policy decision leaks about 100 KB of memory; "
        "import regopy before temporalio (medic's own entry points do; see policies/load_order.py)"
    )
_ERROR_MESSAGE = re.compile(r"\(errormsg \d+:([^\n]*)\)")
_ERROR_FILE = re.compile(r"\(error \d+:([^|\s]+)")
# A namespace name (RFC 1123 label), or a glob pattern over such names with `*` and `?`.
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_NAMESPACE_PATTERN = re.compile(r"[-a-z0-9*?]+")
# An Argo CD Application as deploy_watch.applications names it: `<app namespace>/<name>` or `<name>`.
_APPLICATION_KEY = re.compile(r"(?:[a-z0-9]([-a-z0-9]*[a-z0-9])?/)?[a-z0-9]([-a-z0-9.]*[a-z0-9])?")
_APPLICATION_KEY_MAX = 63 + 1 + 253  # a namespace, '/', an Application's name
_WATCH_KEYS: tuple[str, ...] = tuple(WatchRules.model_fields)
# An Application's entry may also let the revert of its degraded deploys run without approval
# (policies/remediation.rego reads it).
_AUTO_APPROVE_REVERT = "auto_approve_revert"
_WATCH_WHOLE = frozenset(name for name, f in WatchRules.model_fields.items() if f.annotation is int)


class PolicyError(Exception):
    """The policy could not be loaded or evaluated, or returned something that is not a decision."""


@dataclass(frozen=True, eq=False)  # compared by identity: one object per loaded policy version
class _Policy:
    modules: tuple[tuple[str, str], ...]  # (file name, source)
    data: dict[str, Any]


_Key = tuple[Path, tuple[tuple[str, int, int], ...]]
# Keyed by directory and the (name, mtime, size) of its files, so an edited policy is re-read.
_cache: dict[_Key, _Policy] = {}


@dataclass(frozen=True)
class _Compiled:
    runner: regopy.Interpreter  # holds each call's input; used under _LOCK only
    bundle: regopy.Bundle


# Compiled bundles by policy, query and extra protected namespaces; a new policy version
# replaces the old one's bundles (`_load`), and the number kept is bounded.
_compiled: dict[tuple[_Policy, str, tuple[str, ...]], _Compiled] = {}
_MAX_COMPILED = 64


def evaluate(
    policy_input: dict[str, Any],
    *,
    policy_dir: str | Path | None = None,
    extra_protected_namespaces: Iterable[str] = (),
) -> PolicyDecision:
    """Evaluate the policy on `policy_input` (see `domain.policy.input.build_policy_input`).

    `extra_protected_namespaces` are added to the data's protected namespaces for this call only
    (as `data.medic.runtime.extra_protected_namespaces`). The decision's
    `approval_timeout_seconds` comes from the data's `medic.config.approval_timeout_seconds`.

    Raises PolicyError when the files cannot be read or compiled, evaluation fails, or the result
    is not a valid, coherent decision.
    """
    policy = _load(Path(policy_dir) if policy_dir is not None else POLICY_DIR)
    extra = tuple(sorted(set(extra_protected_namespaces)))
    try:
        input_json = json.dumps(policy_input)
    except (TypeError, ValueError) as err:
        raise PolicyError(f"policy input is not JSON-serialisable: {err}") from err

    result = _run(policy, extra, input_json, DECISION_QUERY, "policy input")
    return _decision(result, _approval_timeout(policy.data), policy_input)


def drift_disposition(drift: AppDrift, policy_dir: str | Path | None = None) -> tuple[Disposition, str]:
    """Which plan an Application's drift gets, and why: `data.medic.drift.decision` (see
    policies/drift.rego) on the drift's resources and fields, with the data's `drift_rules` and
    `drift_default_action`. The drift's own `disposition` and `reason` are not shown to the policy.

    The reason names the rules that decided ("policy drift_rules[0] syncs /spec/replicas of
    payments/Deployment/ledger"). Safe to call from many threads. Raises PolicyError when the files
    cannot be read or compiled, evaluation fails, or the result is not a disposition and a reason.
    """
    policy = _load(Path(policy_dir) if policy_dir is not None else POLICY_DIR)
    input_json = json.dumps(drift.model_dump(mode="json", exclude={"disposition", "reason"}))
    result = _run(policy, (), input_json, DRIFT_QUERY, "drift policy input")
    if not isinstance(result, dict):
        raise PolicyError(f"drift decision must be an object, not {type(result).__name__}: {result!r}")
    disposition, reason = result.get("disposition"), result.get("reason")
    if disposition not in _DISPOSITIONS or not isinstance(reason, str) or not reason:
        raise PolicyError(f"drift decision needs a disposition (sync|adopt|report) and a reason: {result!r}")
    return disposition, reason


def evaluate_review(
    review_input: dict[str, Any],
    policy_dir: str | Path | None = None,
    *,
    extra_protected_namespaces: Iterable[str] = (),
) -> ReviewVerdict:
    """The review policy's verdict (`data.medic.review.decision`, policies/review.rego) on
    `review_input` (see `domain.review.policy_input.review_policy_input`).

    `extra_protected_namespaces` are added to the data's protected namespaces for this call only,
    as for `evaluate`. Safe to call from many threads. Raises PolicyError when the files cannot be
    read or compiled, evaluation fails, or the result is not a valid, coherent verdict (deny
    exactly when there is a denial, with high risk; warn exactly when there are warnings and no
    denial).
    """
    policy = _load(Path(policy_dir) if policy_dir is not None else POLICY_DIR)
    extra = tuple(sorted(set(extra_protected_namespaces)))
    try:
        input_json = json.dumps(review_input)
    except (TypeError, ValueError) as err:
        raise PolicyError(f"review policy input is not JSON-serialisable: {err}") from err
    result = _run(policy, extra, input_json, REVIEW_QUERY, "review policy input")
    return _verdict(result)


def load_policy_data(policy_dir: str | Path | None = None) -> dict[str, Any]:
    """The policy's data document (`data.json`), as loaded; a copy the caller may keep."""
    return copy.deepcopy(_load(Path(policy_dir) if policy_dir is not None else POLICY_DIR).data)


# --- loading ---------------------------------------------------------------------------------


def _load(directory: Path) -> _Policy:
    directory = directory.resolve()
    if not directory.is_dir():
        raise PolicyError(f"policy directory {directory} does not exist")
    files = sorted(directory.glob("*.rego")) + [directory / DATA_FILE]
    try:
        signature = tuple((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in files)
    except OSError as err:
        raise PolicyError(f"cannot read policy files in {directory}: {err}") from err
    key = (directory, signature)
    with _LOCK:
        cached = _cache.get(key)
    if cached is not None:
        return cached

    rules = [f for f in files if f.suffix == ".rego"]
    if not rules and directory != POLICY_DIR:
        # Data alone: the shipped rules decide on it.
        rules = sorted(POLICY_DIR.glob("*.rego"))
    modules = tuple((f.name, f.read_text(encoding="utf-8")) for f in rules)
    if not modules:
        raise PolicyError(f"no *.rego files in policy directory {directory}")
    if not any(_REVIEW_PACKAGE.search(source) for _, source in modules):
        # Rules written before the review policy: the shipped one reviews changes on their data.
        # (Named apart, so that a file of theirs called review.rego cannot clash with it.)
        shipped = POLICY_DIR / REVIEW_RULES
        modules += ((f"shipped/{REVIEW_RULES}", shipped.read_text(encoding="utf-8")),)
    data_path = directory / DATA_FILE
    try:
        data = json.loads(data_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise PolicyError(f"cannot load policy data {data_path}: {err}") from err
    if not isinstance(data, dict):
        raise PolicyError(f"policy data {data_path} must be a JSON object")
    policy = _Policy(modules=modules, data=data)
    # Refuse a bad timeout or mode at load time, not at the first decision.
    _approval_timeout(data)
    check_modes(data, data_path)
    check_review(data, data_path)
    check_deploy_watch(data, data_path)
    with _LOCK:
        _interpreter(policy, data)  # compile once now, so a broken file fails here, clearly
        _cache.clear()  # one live version per directory is plenty; old keys are stale versions
        _compiled.clear()  # and so are the bundles compiled from older versions
        _cache[key] = policy
    return policy


def _interpreter(policy: _Policy, data: dict[str, Any]) -> regopy.Interpreter:
    interpreter = regopy.Interpreter()
    # Without this, rego-cpp prints every compile error to the process's stdout as well.
    interpreter.log_level = LogLevel.NONE
    for name, source in policy.modules:
        try:
            interpreter.add_module(name, source)
        except regopy.RegoError as err:
            raise PolicyError(f"policy module {name} does not compile: {_rego_message(err)}") from err
    try:
        interpreter.add_data(data)
    except regopy.RegoError as err:
        raise PolicyError(f"policy data was refused: {_rego_message(err)}") from err
    return interpreter


def _compile(policy: _Policy, query: str, extra: tuple[str, ...]) -> _Compiled:
    """The bundle for `query` on the policy with `extra` protected namespaces; call under _LOCK."""
    key = (policy, query, extra)
    compiled = _compiled.get(key)
    if compiled is not None:
        return compiled
    builder = _interpreter(policy, _with_runtime(policy.data, extra))
    try:
        bundle = builder.build(query)
    except regopy.RegoError as err:
        raise PolicyError(f"policy does not compile: {_rego_message(err)}") from err
    runner = regopy.Interpreter()
    runner.log_level = LogLevel.NONE
    if len(_compiled) >= _MAX_COMPILED:
        _compiled.clear()
    compiled = _compiled[key] = _Compiled(runner=runner, bundle=bundle)
    return compiled


def _run(policy: _Policy, extra: tuple[str, ...], input_json: str, query: str, what: str) -> Any:
    """One query of the policy's compiled bundle, under the lock (rego-cpp interpreters are not
    shared)."""
    with _LOCK:
        compiled = _compile(policy, query, extra)
        try:
            compiled.runner.set_input_term(input_json)
        except regopy.RegoError as err:
            raise PolicyError(f"{what} was refused: {_rego_message(err)}") from err
        return _query(compiled, query, lambda: _explain(policy, extra, input_json, query))


def _with_runtime(data: dict[str, Any], extra_protected: Iterable[str]) -> dict[str, Any]:
    # rego-cpp does not deep-merge a second data document into an existing top-level key, so
    # the per-call overlay is merged here, in one document.
    merged = copy.deepcopy(data)
    medic = merged.setdefault("medic", {})
    if not isinstance(medic, dict):
        raise PolicyError("policy data key 'medic' must be an object")
    runtime = medic.setdefault("runtime", {})
    existing = runtime.get("extra_protected_namespaces", [])
    runtime["extra_protected_namespaces"] = sorted({*existing, *extra_protected})
    return merged


def _approval_timeout(data: dict[str, Any]) -> int | None:
    value = _config_value(data, "approval_timeout_seconds")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise PolicyError(f"approval_timeout_seconds must be a positive integer, not {value!r}")
    return value


def check_modes(data: dict[str, Any], source: str | Path = DATA_FILE) -> None:
    """Raise PolicyError, naming `source` and the key, when the data's `medic.config.modes` is not
    {"default": MODE, "namespaces": {NAMESPACE_OR_PATTERN: MODE}} with MODE one of observe,
    propose or auto. Absent modes are fine: the policy then proposes everywhere."""
    modes = _config_value(data, "modes")
    if modes is None:
        return
    where = f"policy data {source}: medic.config.modes"
    if not isinstance(modes, dict):
        raise PolicyError(f"{where} must be an object with a default and namespaces, not {modes!r}")
    unknown = sorted(set(modes) - {"default", "namespaces"})
    if unknown:
        raise PolicyError(f"{where} has unknown key(s) {', '.join(unknown)}; it takes default and namespaces")
    expected = " or ".join(MODES)
    default = modes.get("default", "propose")
    if default not in MODES:
        raise PolicyError(f"{where}.default is {default!r}; it must be {expected}")
    namespaces = modes.get("namespaces", {})
    if not isinstance(namespaces, dict):
        raise PolicyError(f"{where}.namespaces must be an object of namespace → mode, not {namespaces!r}")
    for key, mode in namespaces.items():
        if mode not in MODES:
            raise PolicyError(f"{where}.namespaces[{key!r}] is {mode!r}; it must be {expected}")
        pattern = "*" in key or "?" in key
        if not (_NAMESPACE_PATTERN if pattern else _NAMESPACE).fullmatch(key) or len(key) > 63:
            raise PolicyError(
                f"{where}.namespaces has the key {key!r}, which is neither a namespace name nor a "
                "pattern of one (lower-case letters, digits, '-', with '*' and '?' as wildcards)"
            )


def check_review(data: dict[str, Any], source: str | Path = DATA_FILE) -> None:
    """Raise PolicyError, naming `source` and the key, when the data's `medic.config.review` is not
    {"cost_warn_monthly_usd": USD | null, "cost_deny_monthly_usd": USD | null, "deny_categories":
    [CATEGORY]} with USD a number not below zero and CATEGORY a finding's category. Absent keys are
    fine: the policy then warns above $100 a month and denies on neither cost nor category."""
    review = _config_value(data, "review")
    if review is None:
        return
    where = f"policy data {source}: medic.config.review"
    if not isinstance(review, dict):
        raise PolicyError(f"{where} must be an object, not {review!r}")
    keys = ("cost_warn_monthly_usd", "cost_deny_monthly_usd", "deny_categories")
    unknown = sorted(set(review) - set(keys))
    if unknown:
        raise PolicyError(f"{where} has unknown key(s) {', '.join(unknown)}; it takes {', '.join(keys)}")
    for key in keys[:2]:
        value = review.get(key)
        if value is not None and (
            not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0
        ):
            raise PolicyError(
                f"{where}.{key} is {value!r}; it must be a number of dollars (0 or more) or null"
            )
    categories = review.get("deny_categories", [])
    if not isinstance(categories, list) or any(c not in _CATEGORIES for c in categories):
        raise PolicyError(
            f"{where}.deny_categories is {categories!r}; it must be a list of {', '.join(_CATEGORIES)}"
        )


def deploy_watch_rules(
    application: str, app_namespace: str, policy_dir: str | Path | None = None
) -> WatchRules:
    """The rules a deploy of the Argo CD Application `application` (in `app_namespace`) is watched
    by: the data's `medic.config.deploy_watch.defaults` over `WatchRules`' own defaults, then the
    override under `applications["<name>"]`, then the one under `applications["<app namespace>/<name>"]`,
    each key of a later one replacing the earlier's. No section, or no override, is fine.

    Raises PolicyError when the data cannot be loaded or its section is refused (`check_deploy_watch`).
    """
    data = _load(Path(policy_dir) if policy_dir is not None else POLICY_DIR).data
    section = _config_value(data, "deploy_watch")
    if not isinstance(section, dict):
        return WatchRules()
    try:
        return WatchRules.model_validate(_watch_layers(section, application, app_namespace))
    except ValidationError as err:  # unreachable after check_deploy_watch; said plainly all the same
        raise PolicyError(
            f"deploy watch rules of {app_namespace}/{application}: {_first_error(err)}"
        ) from err


def check_deploy_watch(data: dict[str, Any], source: str | Path = DATA_FILE) -> None:
    """Raise PolicyError, naming `source` and the key, when the data's `medic.config.deploy_watch`
    is not {"defaults": RULES, "applications": {"<app namespace>/<name>" | "<name>": RULES}} with
    RULES an object of `WatchRules` fields, each a number not below zero (window lengths and counts
    whole), and every Application's rules as `deploy_watch_rules` merges them valid (windows above
    zero, sampled within the analysis window). Absent keys are fine: `WatchRules`' defaults hold."""
    section = _config_value(data, "deploy_watch")
    if section is None:
        return
    where = f"policy data {source}: medic.config.deploy_watch"
    if not isinstance(section, dict):
        raise PolicyError(f"{where} must be an object with defaults and applications, not {section!r}")
    unknown = sorted(set(section) - {"defaults", "applications"})
    if unknown:
        raise PolicyError(
            f"{where} has unknown key(s) {', '.join(unknown)}; it takes defaults and applications"
        )
    _check_watch_values(section.get("defaults", {}), f"{where}.defaults")
    applications = section.get("applications", {})
    if not isinstance(applications, dict):
        raise PolicyError(
            f"{where}.applications must be an object of Application → rules, not {applications!r}"
        )
    for key, rules in applications.items():
        if not _APPLICATION_KEY.fullmatch(key) or len(key) > _APPLICATION_KEY_MAX:
            raise PolicyError(
                f"{where}.applications has the key {key!r}, which is neither <app namespace>/<name> nor "
                "<name> of an Argo CD Application (lower-case letters, digits, '-', '.')"
            )
        _check_watch_values(rules, f"{where}.applications[{key!r}]", application=True)
    for key in ["", *applications]:
        namespace, _, name = key.rpartition("/")
        try:
            WatchRules.model_validate(_watch_layers(section, name, namespace))
        except ValidationError as err:
            at = f"{where}.applications[{key!r}]" if key else f"{where}.defaults"
            raise PolicyError(f"{at}: {_first_error(err)}") from err


def _config_value(data: dict[str, Any], key: str) -> Any:
    """`medic.config.<key>` of policy data, or None where any level is missing or not an object."""
    medic = data.get("medic")
    config = medic.get("config") if isinstance(medic, dict) else None
    return config.get(key) if isinstance(config, dict) else None


def _watch_layers(section: dict[str, Any], application: str, app_namespace: str) -> dict[str, Any]:
    applications = section.get("applications", {})
    layers = {
        **section.get("defaults", {}),
        **applications.get(application, {}),
        **(applications.get(f"{app_namespace}/{application}", {}) if app_namespace else {}),
    }
    # read by the remediation policy (the revert of a degraded deploy), not a watch rule
    layers.pop(_AUTO_APPROVE_REVERT, None)
    return layers


def _check_watch_values(rules: Any, where: str, *, application: bool = False) -> None:
    if not isinstance(rules, dict):
        raise PolicyError(f"{where} must be an object of rule settings, not {rules!r}")
    keys = (*_WATCH_KEYS, _AUTO_APPROVE_REVERT) if application else _WATCH_KEYS
    unknown = sorted(set(rules) - set(keys))
    if unknown:
        raise PolicyError(f"{where} has unknown key(s) {', '.join(unknown)}; it takes {', '.join(keys)}")
    for key, value in rules.items():
        if key == _AUTO_APPROVE_REVERT:
            if not isinstance(value, bool):
                raise PolicyError(f"{where}.{key} is {value!r}; it must be true or false")
            continue
        whole = key in _WATCH_WHOLE
        number = isinstance(value, int if whole else (int, float)) and not isinstance(value, bool)
        if not number or value < 0 or value != value:
            kind = "a whole number" if whole else "a number"
            raise PolicyError(f"{where}.{key} is {value!r}; it must be {kind}, 0 or more")


def _first_error(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else first["msg"]


# --- evaluating ------------------------------------------------------------------------------


def _query(compiled: _Compiled, query: str, explain: Callable[[], str]) -> Any:
    try:
        output = compiled.runner.query_bundle(compiled.bundle)
    except regopy.RegoError as err:
        raise PolicyError(f"policy evaluation failed: {_rego_message(err)}") from err
    except ValueError as err:
        # regopy 1.5 hands an evaluation error back as output it then fails to decode as JSON;
        # the error's text is read from the same query on an interpreter of its own.
        raise PolicyError(f"policy evaluation failed: {explain() or f'unreadable output ({err})'}") from err
    if not output.ok():
        raise PolicyError(f"policy evaluation failed: {_output_node_error(output)}")
    if len(output) == 0 or not output[0].expressions:
        raise PolicyError(f"policy returned no decision: {query} is undefined")
    return output[0].expressions[0]


def _deploy_revert(policy_input: dict[str, Any]) -> bool:
    """Whether the input is a deploy's incident whose plan only reverts it: the one plan above
    low risk that may run unattended (deploy_watch.applications' auto_approve_revert)."""
    actions = policy_input.get("actions")
    incident = policy_input.get("incident")
    return (
        isinstance(incident, dict)
        and incident.get("source") == "deploy"
        and isinstance(actions, list)
        and bool(actions)
        and all(isinstance(a, dict) and a.get("kind") == "revert_deploy" for a in actions)
    )


def _decision(
    result: Any, approval_timeout_seconds: int | None, policy_input: dict[str, Any] | None = None
) -> PolicyDecision:
    if not isinstance(result, dict):
        raise PolicyError(f"policy decision must be an object, not {type(result).__name__}: {result!r}")
    try:
        decision = PolicyDecision.model_validate(
            {**result, "approval_timeout_seconds": approval_timeout_seconds}
        )
    except ValidationError as err:
        raise PolicyError(f"policy decision does not validate: {err}") from err
    if decision.allowed == (decision.risk == "deny"):
        raise PolicyError(
            f"policy decision is incoherent: allowed={decision.allowed} with risk {decision.risk!r}"
        )
    if decision.auto_execute and decision.risk != "low" and not _deploy_revert(policy_input or {}):
        raise PolicyError(f"policy decision is incoherent: auto_execute with risk {decision.risk!r}")
    if decision.auto_execute and decision.mode not in (None, "auto"):
        raise PolicyError(f"policy decision is incoherent: auto_execute in {decision.mode} mode")
    return decision


def _verdict(result: Any) -> ReviewVerdict:
    if not isinstance(result, dict):
        raise PolicyError(f"review verdict must be an object, not {type(result).__name__}: {result!r}")
    try:
        verdict = ReviewVerdict.model_validate(result)
    except ValidationError as err:
        raise PolicyError(f"review verdict does not validate: {err}") from err
    expected = "deny" if verdict.denials else "warn" if verdict.warnings else "allow"
    if verdict.decision != expected:
        raise PolicyError(
            f"review verdict is incoherent: {verdict.decision} with {len(verdict.denials)} denial(s) "
            f"and {len(verdict.warnings)} warning(s)"
        )
    if verdict.denials and verdict.risk != "high":
        raise PolicyError(f"review verdict is incoherent: a denial with risk {verdict.risk!r}")
    return verdict


# --- error text ------------------------------------------------------------------------------


def _rego_message(err: Exception) -> str:
    """The readable part of a rego-cpp error (its text is an s-expression), with the raw text."""
    text = str(err)
    messages = _ERROR_MESSAGE.findall(text)
    files = sorted(set(_ERROR_FILE.findall(text)))
    if not messages:
        return text.strip()
    where = f" (in {', '.join(files)})" if files else ""
    return "; ".join(dict.fromkeys(m.strip() for m in messages)) + where


def _output_node_error(output: Any) -> str:
    try:
        node = output.node()
        return _rego_message(Exception("\n".join(node.at(i).json() for i in range(len(node)))))
    except Exception:  # the error text is best effort; the failure itself is already certain
        return str(output)


def _explain(policy: _Policy, extra: tuple[str, ...], input_json: str, query: str) -> str:
    """The error text of `query` on a fresh interpreter (empty if unreadable); under _LOCK."""
    try:
        from regopy.rego_shared import rego_free_output, rego_output_string, rego_query

        interpreter = _interpreter(policy, _with_runtime(policy.data, extra))
        interpreter.set_input_term(input_json)
        impl = rego_query(interpreter._impl, query)
        try:
            return _rego_message(Exception(rego_output_string(impl)))
        finally:
            rego_free_output(impl)
    except Exception:  # best effort, as above
        return ""
