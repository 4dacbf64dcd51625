# medic remediation policy: the model proposes, this policy disposes.
#
# Input: the document built by domain/policy/input.py (one entry per planned action, with its
# kind, mode, target, effects, and current and proposed values in base units: memory in bytes,
# cpu in cores; the diagnosis' root cause and the analyzer that made the plan; flags raised on the
# diagnosis' free text). Data: data.medic.config (policies/data.json) and, optionally,
# data.medic.runtime.extra_protected_namespaces (added at evaluation time).
#
# The single result is `decision`. Any violation denies the whole plan; otherwise the risk is the
# highest risk of any action, raised to input.review.min_risk when a second-opinion review set
# one (a floor: it never lowers the risk), and that risk sets the approvals required.
package medic.remediation

import rego.v1

cfg := data.medic.config

actions := object.get(input, "actions", [])

risk_rank := {"low": 0, "medium": 1, "high": 2}

risk_names := ["low", "medium", "high"]

# kube-system is protected whatever the data says: it is a floor, not a setting.
protected_namespaces := ({"kube-system"} | {ns | some ns in cfg.protected_namespaces}) | {ns |
	some ns in data.medic.runtime.extra_protected_namespaces
}

high_risk_namespaces := {ns | some ns in cfg.high_risk_namespaces}

# A second-opinion review's risk floor; absent or null: no floor. Any other value than a known
# risk leaves review_rank undefined, so no allowing decision can be made from it (fail closed).
review_min_risk := object.get(input, ["review", "min_risk"], null)

review_rank := 0 if review_min_risk == null

review_rank := risk_rank[review_min_risk] if review_min_risk != null

# ---------------------------------------------------------------------------------------------
# Helpers

action_label(i, a) := sprintf("action %d (%s on %s/%s/%s)", [
	i, object.get(a, "kind", "?"), object.get(a, ["target", "namespace"], "?"),
	object.get(a, ["target", "kind"], "?"), object.get(a, ["target", "name"], "?"),
])

action_effects(a) := {e | some e in object.get(a, "effects", [])} | namespace_effect(a)

# A set literal, not a comprehension with a constant head: rego-cpp 1.5 quotes such strings
# when they are later formatted with sprintf.
namespace_effect(a) := {"namespace_change"} if {
	object.get(a, ["target", "kind"], "") == "Namespace"
} else := set()

# Human units for messages: memory in MiB, cpu in cores.
show_quantity("memory", v) := sprintf("%vMi", [v / 1048576]) if is_number(v)

show_quantity(name, v) := sprintf("%v", [v]) if {
	name != "memory"
	is_number(v)
}

show_quantity(_, v) := "none" if not is_number(v)

# Every proposed resource value of a set_resources action: section (limits|requests), name, value.
proposed_resources contains [i, section, name, value] if {
	some i, a in actions
	a.kind == "set_resources"
	some section in ["limits", "requests"]
	some name, value in object.get(a, ["proposed", section], {})
}

current_resource(i, section, name) := object.get(actions[i], ["current", section, name], null)

# ---------------------------------------------------------------------------------------------
# Violations: any one of them denies the plan.

violations contains v if {
	some i, a in actions
	not a.kind in cfg.allowed_kinds
	v := violation("kind_not_allowed", sprintf("%s: action kind \"%s\" is not allowed", [action_label(i, a), a.kind]), i)
}

violations contains v if {
	some i, a in actions
	not object.get(a, "mode", "") in cfg.allowed_modes
	v := violation("mode_not_allowed", sprintf("%s: mode \"%s\" is not allowed", [action_label(i, a), object.get(a, "mode", "")]), i)
}

violations contains v if {
	some i, a in actions
	some effect in action_effects(a)
	effect in cfg.forbidden_effects
	v := violation("forbidden_effect", sprintf("%s: effect \"%s\" is forbidden", [action_label(i, a), effect]), i)
}

violations contains v if {
	some i, a in actions
	ns := object.get(a, ["target", "namespace"], "")
	ns in protected_namespaces
	v := violation("protected_namespace", sprintf("%s: namespace \"%s\" is protected", [action_label(i, a), ns]), i)
}

violations contains v if {
	some i, a in actions
	object.get(a, "found", false) != true
	v := violation("target_not_found", sprintf("%s: the target was not found in the observation", [action_label(i, a)]), i)
}

violations contains v if {
	some i, a in actions
	a.kind in {"set_resources", "set_image"}
	object.get(a, "found", false) == true
	object.get(a, "container_found", false) != true
	msg := sprintf("%s: container \"%v\" was not found in the target", [action_label(i, a), object.get(a, ["target", "container"], null)])
	v := violation("container_not_found", msg, i)
}

violations contains v if {
	some i, a in actions
	object.get(a, "mode", "") == "direct"
	object.get(a, "gitops_managed", false) == true
	not a.kind in cfg.gitops_exempt_kinds
	msg := sprintf("%s: the target is managed by Argo CD; change it through the GitOps repository", [action_label(i, a)])
	v := violation("gitops_required", msg, i)
}

# An Application deploying from a repository medic may not write is never edited, and what it
# manages is never patched directly (only a sync, which changes nothing, may name it).
violations contains v if {
	some i, a in actions
	not a.kind in cfg.gitops_exempt_kinds
	some app in object.get(a, "unwritable_applications", [])
	msg := sprintf(
		"%s: Application %s deploys from %s, which medic may not write; add it to MEDIC_GITOPS_REPOSITORIES_FILE",
		[action_label(i, a), app.application, app.named],
	)
	v := violation("repository_not_writable", msg, i)
}

# Ownership fails closed: observe could not establish which Argo CD Application manages the target
# (its tracking names an Application that lists it nowhere or cannot be read, or Argo CD could not
# be asked while the target carries its tracking metadata). A direct change could fight Argo CD, so
# the plan waits for a human, with observe's reason.
violations contains v if {
	some i, a in actions
	object.get(a, "mode", "") == "direct"
	object.get(a, "ownership", "") == "uncertain"
	msg := sprintf("%s: Argo CD owner uncertain: %s", [action_label(i, a), object.get(a, "ownership_reason", "")])
	v := violation("ownership_uncertain", msg, i)
}

# --- scale bounds

violations contains v if {
	some i, a in actions
	a.kind == "scale"
	object.get(a, ["proposed", "replicas"], 0) <= 0
	v := violation("scale_to_zero", sprintf("%s: scaling to zero replicas is not allowed", [action_label(i, a)]), i)
}

violations contains v if {
	some i, a in actions
	a.kind == "scale"
	proposed := a.proposed.replicas
	proposed > cfg.bounds.max_replicas
	msg := sprintf("%s: %d replicas is more than the maximum of %d", [action_label(i, a), proposed, cfg.bounds.max_replicas])
	v := violation("replicas_above_max", msg, i)
}

violations contains v if {
	some i, a in actions
	a.kind == "scale"
	proposed := a.proposed.replicas
	current := object.get(a, ["current", "replicas"], 0)
	current > 0
	proposed > current * cfg.bounds.max_replica_factor
	msg := sprintf("%s: %d replicas is more than %dx the current %d", [
		action_label(i, a), proposed, cfg.bounds.max_replica_factor, current,
	])
	v := violation("replicas_factor", msg, i)
}

# Repeated fixes must not ratchet (2 → 6 → 18 → 50): the factor also holds against a baseline that
# an earlier direct fix cannot have moved. The baseline is the value Git declares for the target
# (input: action.baseline, read from the GitOps files observe collected, for replicas and for a
# container's resources), because a change behind Argo CD's back never changes Git. Choices, with
# the data observe has: an unmanaged target has no declared value (observe drops
# last-applied-configuration), and old ReplicaSets are scaled to zero, so their replica counts say
# nothing; there the current value is the only bound, and a workload medic changed before for
# another incident (changed_by_medic: its medic.io/incident annotation) is raised to at least
# medium risk below, so each further step of a ratchet waits for a human. Recalled incidents are
# not part of this input.
violations contains v if {
	some i, a in actions
	a.kind == "scale"
	proposed := a.proposed.replicas
	baseline := object.get(a, ["baseline", "replicas"], 0)
	positive(baseline)
	proposed > baseline * cfg.bounds.max_replica_factor
	msg := sprintf("%s: %d replicas is more than %dx the baseline %d (%s)", [
		action_label(i, a), proposed, cfg.bounds.max_replica_factor, baseline,
		object.get(a, ["baseline", "source"], "baseline"),
	])
	v := violation("replicas_factor_baseline", msg, i)
}

violations contains v if {
	some i, a in actions
	a.kind == "scale"
	object.get(a, "found", false) == true
	object.get(a, ["current", "replicas"], 0) <= 0
	object.get(a, ["proposed", "replicas"], 0) > 0
	msg := sprintf("%s: the target runs no replicas now, so there is no baseline to scale from", [action_label(i, a)])
	v := violation("no_baseline", msg, i)
}

# --- resource bounds

violations contains v if {
	some entry in proposed_resources
	[i, section, name, _] := entry
	not name in cfg.bounds.bounded_resources
	msg := sprintf("%s: changing %s.%s is not allowed", [action_label(i, actions[i]), section, name])
	v := violation("resource_not_allowed", msg, i)
}

violations contains v if {
	some entry in proposed_resources
	[i, section, name, value] := entry
	not is_number(value)
	msg := sprintf("%s: %s.%s is not a valid quantity", [action_label(i, actions[i]), section, name])
	v := violation("invalid_quantity", msg, i)
}

violations contains v if {
	some entry in proposed_resources
	[i, section, name, value] := entry
	is_number(value)
	value <= 0
	msg := sprintf("%s: %s.%s must not be zero", [action_label(i, actions[i]), section, name])
	v := violation("resource_zero", msg, i)
}

violations contains v if {
	some entry in proposed_resources
	[i, section, name, value] := entry
	is_number(value)
	current := current_resource(i, section, name)
	not positive(current)
	msg := sprintf("%s: %s.%s has no current value, so there is no baseline to bound the change", [
		action_label(i, actions[i]), section, name,
	])
	v := violation("no_baseline", msg, i)
}

violations contains v if {
	some entry in proposed_resources
	[i, section, name, value] := entry
	is_number(value)
	current := current_resource(i, section, name)
	positive(current)
	value > current * cfg.bounds.max_resource_factor
	msg := sprintf("%s: %s.%s %s is more than %dx the current %s", [
		action_label(i, actions[i]), section, name, show_quantity(name, value),
		cfg.bounds.max_resource_factor, show_quantity(name, current),
	])
	v := violation("resource_factor", msg, i)
}

# As for replicas: the factor also holds against what Git declares for the container's resources
# (action.baseline.limits / .requests), so repeated raises cannot compound past it.
violations contains v if {
	some entry in proposed_resources
	[i, section, name, value] := entry
	is_number(value)
	baseline := object.get(actions[i], ["baseline", section, name], null)
	positive(baseline)
	value > baseline * cfg.bounds.max_resource_factor
	msg := sprintf("%s: %s.%s %s is more than %dx the baseline %s (%s)", [
		action_label(i, actions[i]), section, name, show_quantity(name, value),
		cfg.bounds.max_resource_factor, show_quantity(name, baseline),
		object.get(actions[i], ["baseline", "source"], "baseline"),
	])
	v := violation("resource_factor_baseline", msg, i)
}

# A floor per resource (data: bounds.min_resources, base units): a limit of "1" (one byte) or
# "1m" cpu is not a fix, it is a way to break the workload.
violations contains v if {
	some entry in proposed_resources
	[i, section, name, value] := entry
	positive(value)
	floor := object.get(cfg.bounds, ["min_resources", name], 0)
	value < floor
	msg := sprintf("%s: %s.%s %s is below the floor of %s", [
		action_label(i, actions[i]), section, name, show_quantity(name, value), show_quantity(name, floor),
	])
	v := violation("resource_below_floor", msg, i)
}

# A limit never goes below the request (the proposed one, or else the current one).
violations contains v if {
	some entry in proposed_resources
	[i, "limits", name, value] := entry
	positive(value)
	request := effective_request(i, name)
	positive(request)
	value < request
	msg := sprintf("%s: limits.%s %s is below the request %s", [
		action_label(i, actions[i]), name, show_quantity(name, value), show_quantity(name, request),
	])
	v := violation("limit_below_request", msg, i)
}

effective_request(i, name) := r if {
	r := actions[i].proposed.requests[name]
	is_number(r)
} else := current_resource(i, "requests", name)

# --- images come only from repositories the workload already uses, or that data allows

violations contains v if {
	some i, a in actions
	a.kind == "set_image"
	repository := object.get(a, ["proposed", "image_repository"], "")
	not repository_allowed(a, repository)
	msg := sprintf("%s: image repository \"%s\" was never used by this container and is not allowed by policy", [
		action_label(i, a), repository,
	])
	v := violation("image_repository_unknown", msg, i)
}

repository_allowed(a, repository) if {
	repository != ""
	repository in object.get(a, "known_image_repositories", [])
}

# data: image_repositories, each an exact repository or a prefix ending in "/".
repository_allowed(_, repository) if {
	repository != ""
	some allowed in object.get(cfg, "image_repositories", [])
	allowed == repository
}

repository_allowed(_, repository) if {
	repository != ""
	some allowed in object.get(cfg, "image_repositories", [])
	endswith(allowed, "/")
	startswith(repository, allowed)
}

# --- a sync names the Application that manages the target, and no other

violations contains v if {
	some i, a in actions
	a.kind == "sync_application"
	application := object.get(a, ["proposed", "application"], "")
	not application in object.get(a, "managing_applications", [])
	msg := sprintf("%s: application \"%s\" does not manage the target", [action_label(i, a), application])
	v := violation("application_not_managing", msg, i)
}

# --- rollback

violations contains v if {
	some i, a in actions
	a.kind == "rollback_revision"
	object.get(a, "revision_known", false) != true
	msg := sprintf("%s: revision %v is not a known revision of the target", [action_label(i, a), object.get(a, ["proposed", "revision"], null)])
	v := violation("unknown_revision", msg, i)
}

# --- a deploy's revert: only the incident of that deploy (source deploy) reverts it, and only on
# the Application it is about (domain.deploy.incident plans it; no analyzer may propose it).

deploy_application := object.get(input, ["incident", "deploy", "application"], "")

deploy_app_namespace := object.get(input, ["incident", "deploy", "app_namespace"], "")

revert_of_the_deploy(a) if {
	object.get(input, ["incident", "source"], "") == "deploy"
	deploy_application != ""
	object.get(a, ["proposed", "application"], "") == deploy_application
	object.get(a, ["proposed", "app_namespace"], "") == deploy_app_namespace
}

violations contains v if {
	some i, a in actions
	a.kind == "revert_deploy"
	not revert_of_the_deploy(a)
	msg := sprintf("%s: a deploy is reverted only by the incident of that deploy, on its Application", [action_label(i, a)])
	v := violation("revert_not_of_the_deploy", msg, i)
}

# --- second-opinion review

violations contains v if {
	review_min_risk != null
	not review_min_risk in object.keys(risk_rank)
	msg := sprintf("the second-opinion review's risk floor \"%v\" is not low, medium or high", [review_min_risk])
	v := violation("invalid_review_floor", msg, null)
}

violation(rule, message, i) := {"rule": rule, "message": message, "action_index": i}

positive(x) if {
	is_number(x)
	x > 0
}

# ---------------------------------------------------------------------------------------------
# Risk: each factor raises an action's risk to at least its level, with a reason.

risk_factors contains f if {
	some i, a in actions
	not set_image_to_known(a)
	level := cfg.kind_risk[a.kind]
	f := {"index": i, "risk": level, "reason": sprintf("%s: %s is %s risk", [action_label(i, a), a.kind, level])}
}

risk_factors contains f if {
	some i, a in actions
	set_image_to_known(a)
	level := cfg.known_image_risk
	reason := sprintf("%s: returning to an image an earlier revision ran is %s risk", [action_label(i, a), level])
	f := {"index": i, "risk": level, "reason": reason}
}

risk_factors contains f if {
	some i, a in actions
	a.kind == "scale"
	a.proposed.replicas < object.get(a, ["current", "replicas"], 0)
	level := cfg.scale_down_risk
	f := {"index": i, "risk": level, "reason": sprintf("%s: scaling down is %s risk", [action_label(i, a), level])}
}

risk_factors contains f if {
	some i, a in actions
	ns := object.get(a, ["target", "namespace"], "")
	ns in high_risk_namespaces
	f := {"index": i, "risk": "high", "reason": sprintf("%s: namespace \"%s\" is high risk", [action_label(i, a), ns])}
}

# A drift fix has no alert behind it, and it overwrites what Git or the cluster holds: a human
# looks at every one, whatever its actions' own risk (a floor, not a setting).
risk_factors contains f if {
	object.get(input, ["incident", "source"], "") == "drift"
	some i, a in actions
	reason := sprintf("%s: a fix of drift is at least medium risk, so a human reviews it", [action_label(i, a)])
	f := {"index": i, "risk": "medium", "reason": reason}
}

# A revert of a deploy changes what an Application runs back to an earlier revision: at least
# medium risk (a floor, not a setting), so a human reviews it unless the Application's entry in
# deploy_watch.applications sets auto_approve_revert (below).
risk_factors contains f if {
	some i, a in actions
	a.kind == "revert_deploy"
	reason := sprintf("%s: the revert of a deploy is at least medium risk", [action_label(i, a)])
	f := {"index": i, "risk": "medium", "reason": reason}
}

# Free text is display text and never read for actions; but a diagnosis whose text reads as a
# command to run (a model repeating what was injected into a log) is at least medium risk, so a
# human reads it before anything runs (a floor, not a setting).
risk_factors contains f if {
	some field in command_text_in
	count(actions) > 0
	reason := sprintf("the diagnosis' %s reads as a command to run: at least medium risk, so a human reviews it", [field])
	f := {"index": -1, "risk": "medium", "reason": reason}
}

# medic already changed this workload for another incident: its current value is its own last
# step, not a baseline, so a further scale or resize is at least medium risk (see the scale bounds).
risk_factors contains f if {
	some i, a in actions
	a.kind in {"scale", "set_resources"}
	object.get(a, "changed_by_medic", false) == true
	reason := sprintf("%s: medic changed this workload for an earlier incident, so a human reviews a repeated change", [action_label(i, a)])
	f := {"index": i, "risk": "medium", "reason": reason}
}

# A plan that adds more than data.medic.config.review.cost_warn_monthly_usd (default 100) a month
# at list prices (input.impact, the plan's change review) is at least medium risk: someone who
# sees the figure approves it.
cost_warn_monthly_usd := object.get(cfg, ["review", "cost_warn_monthly_usd"], 100)

plan_monthly_delta_usd := object.get(input, ["impact", "monthly_delta_usd"], 0)

risk_factors contains f if {
	count(actions) > 0
	plan_monthly_delta_usd > cost_warn_monthly_usd
	reason := sprintf("the plan adds $%.2f a month at list prices, above the review threshold of $%v: at least medium risk, so a human reviews it", [plan_monthly_delta_usd, cost_warn_monthly_usd])
	f := {"index": -1, "risk": "medium", "reason": reason}
}

command_text_in := object.get(input, ["flags", "command_text_in"], [])

set_image_to_known(a) if {
	a.kind == "set_image"
	object.get(a, "image_known", false) == true
}

plan_risk := risk_names[max({risk_rank[f.risk] | some f in risk_factors})]

# The risk the decision carries: the plan's own, or the review's floor when that is higher.
final_risk := risk_names[max({risk_rank[plan_risk], review_rank})]

review_reasons := [sprintf("the second-opinion review raised the risk from %s to %s", [plan_risk, final_risk])] if {
	review_rank > risk_rank[plan_risk]
} else := []

default auto_execute_allowed := false

auto_execute_allowed if {
	count(actions) > 0
	final_risk == "low"
	every a in actions {
		a.kind in cfg.auto_execute_kinds
	}
	count(auto_execute_refusals) == 0
}

# The revert of a degraded deploy runs without approval when its Application's entry in
# data.medic.config.deploy_watch.applications ("<app namespace>/<name>" over "<name>") sets
# auto_approve_revert: true — only a plan of revert_deploy actions of that deploy's own incident,
# made by the deploy watch, in auto mode, at medium risk (a high-risk namespace or a review floor
# of high keeps the human), with no free text that reads as a command.
deploy_watch_applications := object.get(cfg, ["deploy_watch", "applications"], {})

revert_auto_approval := object.get(
	deploy_watch_applications, [concat("/", [deploy_app_namespace, deploy_application]), "auto_approve_revert"],
	object.get(deploy_watch_applications, [deploy_application, "auto_approve_revert"], false),
)

default revert_auto_approved := false

revert_auto_approved if {
	count(actions) > 0
	every a in actions {
		a.kind == "revert_deploy"
		revert_of_the_deploy(a)
	}
	revert_auto_approval == true
	plan_analyzer == "deploy-watch"
	plan_mode == "auto"
	final_risk == "medium"
	count(command_text_in) == 0
}

auto_execute_allowed if revert_auto_approved

# Why a plan that is otherwise low risk still waits for a human. Only plans of the deterministic
# analyzers in data (auto_execute_analyzers; shipped: the offline rules) may run unattended: a
# model can be steered by text injected into what it reads. A plan with no fault behind it (root
# cause none) never runs unattended, nor one whose free text reads as a command.
auto_execute_refusals contains msg if {
	not plan_analyzer in object.get(cfg, "auto_execute_analyzers", [])
	msg := sprintf("the plan comes from analyzer %s, whose plans never run without approval", [shown_analyzer])
}

plan_analyzer := object.get(input, ["diagnosis", "analyzer"], "")

# (rego-cpp 1.5 mangles an empty string formatted with sprintf: it is named instead)
shown_analyzer := "(unnamed)" if plan_analyzer == "" else := plan_analyzer

auto_execute_refusals contains msg if {
	plan_mode != "auto"
	msg := sprintf("%s is in %s mode (policy data: modes), where no plan runs without approval", [mode_subject, plan_mode])
}

auto_execute_refusals contains "a plan under root cause none never runs without approval" if {
	root_cause == "none"
}

auto_execute_refusals contains "the diagnosis' text reads as a command, so the plan never runs without approval" if {
	count(command_text_in) > 0
}

refusal_reasons := sort([r | some r in auto_execute_refusals]) if {
	count(actions) > 0
	final_risk == "low"
} else := sort([r | some r in revert_auto_refusals])

# Why an Application's auto_approve_revert did not let the revert of its deploy run unattended.
revert_auto_refusals contains msg if {
	revert_auto_approval == true
	plan_mode != "auto"
	msg := sprintf("%s sets auto_approve_revert, which applies only in auto mode: %s is in %s mode", [deploy_application, mode_subject, plan_mode])
}

revert_auto_refusals contains msg if {
	revert_auto_approval == true
	final_risk != "medium"
	msg := sprintf("%s sets auto_approve_revert, which applies up to medium risk: the revert is %s risk", [deploy_application, final_risk])
}

# ---------------------------------------------------------------------------------------------
# Modes per namespace (data.medic.config.modes):
#   {"default": "propose", "namespaces": {"shop": "auto", "team-*": "observe"}}
# observe: diagnose and show the change a fix would make, change nothing; propose: every plan and
# pull request waits for a human; auto: a low-risk plan may run unattended (the rules below).
# A key is a namespace name or a glob pattern (`*`, `?`). An exact name wins; else the most
# careful mode of the patterns that match; else the default. No modes in data: propose. A plan
# over several namespaces takes the most careful of their modes. A mode that is not one of the
# three resolves nothing, so no decision but the fail-closed default can be made from it.

mode_rank := {"observe": 0, "propose": 1, "auto": 2}

mode_names := ["observe", "propose", "auto"]

modes_cfg := object.get(cfg, "modes", {})

default_mode := object.get(modes_cfg, "default", "propose")

namespace_modes := object.get(modes_cfg, "namespaces", {})

is_mode_pattern(key) if contains(key, "*")

is_mode_pattern(key) if contains(key, "?")

# The ranks of the modes of the patterns that match `ns`.
# (one-variable `some`: rego-cpp 1.5 refuses `some key, value in` inside a comprehension)
pattern_ranks(ns) := {r |
	some key in object.keys(namespace_modes)
	is_mode_pattern(key)
	glob.match(key, [], ns)
	r := mode_rank[namespace_modes[key]]
}

namespace_mode(ns) := m if {
	m := namespace_modes[ns]
} else := m if {
	ranks := pattern_ranks(ns)
	count(ranks) > 0
	m := mode_names[min(ranks)]
} else := default_mode

# The namespaces the plan changes; with no actions, those the incident is about.
action_namespaces := {object.get(a, ["target", "namespace"], "") | some a in actions}

mode_namespaces := action_namespaces if {
	count(action_namespaces) > 0
} else := {ns | some ns in object.get(input, ["incident", "namespaces"], [])}

plan_mode := default_mode if count(mode_namespaces) == 0

plan_mode := mode_names[min({mode_rank[namespace_mode(ns)] | some ns in mode_namespaces})] if {
	count(mode_namespaces) > 0
	every ns in mode_namespaces {
		namespace_mode(ns) in mode_names
	}
}

# Which namespaces put the plan in its mode, for messages: "namespace shop", "namespaces a, b".
moded_namespaces := sort([ns |
	some ns in mode_namespaces
	namespace_mode(ns) == plan_mode
])

mode_subject := sprintf("namespace %s", [moded_namespaces[0]]) if {
	count(moded_namespaces) == 1
} else := sprintf("namespaces %s", [concat(", ", moded_namespaces)]) if {
	count(moded_namespaces) > 1
} else := "this plan"

mode_reasons := [sprintf("%s is in observe mode: medic shows the change it would make and makes none", [mode_subject])] if {
	plan_mode == "observe"
} else := []

# ---------------------------------------------------------------------------------------------
# The decision

# Fail closed: input or data the rules below do not cover (say, an allowed kind with no risk).
default decision := {
	"allowed": false,
	"risk": "deny",
	"approvals_required": 0,
	"auto_execute": false,
	"violations": [{"rule": "undecided", "message": "the policy could not decide on this input", "action_index": null}],
	"reasons": ["denied: the policy could not decide on this input"],
}

root_cause := object.get(input, ["diagnosis", "root_cause"], "none")

decision := {
	"allowed": true,
	"risk": risk_names[review_rank],
	"approvals_required": 0,
	"auto_execute": false,
	"violations": [],
	"reasons": ["nothing to do: the plan has no actions"],
	"mode": plan_mode,
} if {
	count(actions) == 0
	root_cause == "none"
}

# A fault with no automatic fix: nothing runs, and a human must act.
decision := {
	"allowed": true,
	"risk": "high",
	"approvals_required": 0,
	"auto_execute": false,
	"violations": [],
	"reasons": [sprintf("no automatic fix for root cause %s: a human must act", [root_cause])],
	"mode": plan_mode,
} if {
	count(actions) == 0
	root_cause != "none"
	review_rank >= 0 # a floor that is not a known risk decides nothing
}

decision := {
	"allowed": false,
	"risk": "deny",
	"approvals_required": 0,
	"auto_execute": false,
	"violations": violations,
	"reasons": array.concat(
		[sprintf("denied: %d violation(s) of policy", [count(violations)])],
		[key[1] | some key in sort([[v.action_index, v.message] | some v in violations])],
	),
	"mode": plan_mode,
} if {
	count(actions) > 0
	count(violations) > 0
}

decision := {
	"allowed": true,
	"risk": final_risk,
	"approvals_required": required_approvals,
	"auto_execute": auto_execute_allowed,
	"violations": [],
	"reasons": array.concat(
		array.concat(array.concat(array.concat(factor_reasons, review_reasons), refusal_reasons), [approval_reason]),
		mode_reasons,
	),
	"mode": plan_mode,
	"approvers": approvers,
	"verified_channels": verified_channels,
	"self_asserted_counts": self_asserted_counts,
} if {
	count(actions) > 0
	count(violations) == 0
}

# In plan order: by action index, then by text.
factor_reasons := [key[1] | some key in sort([[f.index, f.reason] | some f in risk_factors])]

required_approvals := 0 if auto_execute_allowed

required_approvals := cfg.approvals_by_risk[final_risk] if not auto_execute_allowed

approval_reason := sprintf("%s risk, every action kind may auto-execute: no approval needed", [final_risk]) if {
	auto_execute_allowed
	not revert_auto_approved
}

approval_reason := sprintf("%s risk: the revert of a degraded deploy of %s, whose policy data sets auto_approve_revert: no approval needed", [final_risk, deploy_application]) if {
	revert_auto_approved
}

approval_reason := sprintf("%s risk: %d approval(s) required", [final_risk, required_approvals]) if {
	not auto_execute_allowed
}

# ---------------------------------------------------------------------------------------------
# Who may approve: the principals ("user:NAME", "group:NAME", or "*" for anyone) of every rule in
# data.medic.config.approvers that covers every action's namespace and the plan's final risk.
# Each rule: {"principals": [...], "namespaces": ["shop", "*"], "max_risk": "low|medium|high"}.
# No rule covers the plan: nobody may approve it from any channel (the plan then expires).

# Data without approver rules gets the shipped data's: the group sre, never anyone.
approver_rules := object.get(cfg, "approvers", [{"principals": ["group:sre"], "namespaces": ["*"], "max_risk": "high"}])

rule_covers_namespace(rule, ns) if "*" in rule.namespaces

rule_covers_namespace(rule, ns) if ns in rule.namespaces

rule_covers_plan(rule) if {
	risk_rank[final_risk] <= risk_rank[rule.max_risk]
	every a in actions {
		rule_covers_namespace(rule, object.get(a, ["target", "namespace"], ""))
	}
}

approvers := sort([p |
	some p in {p |
		some rule in approver_rules
		rule_covers_plan(rule)
		some p in rule.principals
	}
])

# ---------------------------------------------------------------------------------------------
# Through which channels approvals count. A channel is verified when it carries an identity the
# gateway authenticated (data.medic.config.verified_channels, by default the console, the API and MCP);
# a signal and `medic approve --as` are self-asserted. A plan that needs two or more approvals
# counts only verified ones, so a self-asserted name never supplies the second approver of a
# four-eyes plan; a plan that needs one accepts any channel.

verified_channels := sort([c | some c in object.get(cfg, "verified_channels", ["console", "api", "mcp"])])

default self_asserted_counts := false

self_asserted_counts if required_approvals < 2
