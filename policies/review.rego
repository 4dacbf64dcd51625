# medic review policy: the verdict on a GitOps change before it merges.
#
# Input: the document built by domain/review/policy_input.py. objects[]: one per changed object,
# with ref ("Kind/namespace/name", or "Kind/name" cluster-scoped), api_version, kind, namespace,
# name, application and change (added | deleted | modified); a workload also has workload.replicas
# {before, after}, workload.containers[] ({name, path, init, image {before, after}, registry,
# repository, requests {cpu, memory: {before, after}} in cores and bytes, privileged}) and its
# host_network, host_pid and host_ipc flags. findings[]: {category, severity (info | warning |
# high), object (a ref as above), field, message}. cost: {monthly_delta_usd, basis}. namespaces:
# those the change touches.
#
# Data: data.medic.config, as the remediation policy reads it (protected_namespaces, with
# kube-system always protected, high_risk_namespaces, image_repositories), and its `review`
# section: cost_warn_monthly_usd (absent: 100; null: no warning), cost_deny_monthly_usd (absent
# or null: no denial) and deny_categories (finding categories whose warning or high findings deny);
# and data.medic.runtime.extra_protected_namespaces (added at evaluation time).
#
# The single result is `decision`: {decision, risk, warnings, denials, reasons}. Any denial denies
# the change ("deny"); else any warning warns ("warn"); else "allow". The risk is high with a
# denial or a high finding; else medium with a warning (the policy's or a finding's) or a touched
# high-risk namespace; else low. reasons say why the risk is what it is. Every denial and warning
# is one line that names the object and the field.
package medic.review

import rego.v1

cfg := data.medic.config

review_cfg := object.get(cfg, "review", {})

risk_rank := {"low": 0, "medium": 1, "high": 2}

risk_names := ["low", "medium", "high"]

severities := {"info", "warning", "high"}

changes := {"added", "deleted", "modified"}

# kube-system is protected whatever the data says: it is a floor, not a setting.
protected_namespaces := ({"kube-system"} | {ns | some ns in cfg.protected_namespaces}) | {ns |
	some ns in data.medic.runtime.extra_protected_namespaces
}

high_risk_namespaces := {ns | some ns in object.get(cfg, "high_risk_namespaces", [])}

# data: image_repositories, each an exact repository or a prefix ending in "/" (as the remediation
# policy reads them). Empty: images are not restricted here (the remediation policy then allows
# only repositories a container already used; a review has no such history to go by).
image_repositories := object.get(cfg, "image_repositories", [])

# Absent: the shipped threshold; null: no warning for cost.
cost_warn := object.get(review_cfg, "cost_warn_monthly_usd", 100)

cost_deny := object.get(review_cfg, "cost_deny_monthly_usd", null)

deny_categories := object.get(review_cfg, "deny_categories", [])

# The input's parts, empty where they are missing or of the wrong type (which `malformed` reports).
objects := input.objects if is_array(input.objects) else := []

findings := input.findings if is_array(input.findings) else := []

touched := input.namespaces if is_array(input.namespaces) else := []

monthly_delta := object.get(input, ["cost", "monthly_delta_usd"], null)

# ---------------------------------------------------------------------------------------------
# Malformed input or data: nothing is decided from it but a denial (fail closed).

malformed contains "input.objects is not a list" if not is_array(input.objects)

malformed contains "input.findings is not a list" if not is_array(input.findings)

malformed contains "input.namespaces is not a list" if not is_array(input.namespaces)

malformed contains "input.cost.monthly_delta_usd is not a number" if not is_number(monthly_delta)

malformed contains msg if {
	some i, o in objects
	not well_formed_object(o)
	msg := sprintf("input.objects[%d] is not an object with a ref, kind, namespace, name and change", [i])
}

malformed contains msg if {
	some i, f in findings
	not well_formed_finding(f)
	msg := sprintf("input.findings[%d] is not a finding with a category, severity, object, field and message", [i])
}

malformed contains msg if {
	some i, ns in touched
	not is_string(ns)
	msg := sprintf("input.namespaces[%d] is not a string", [i])
}

malformed contains "data review.cost_warn_monthly_usd is neither a number nor null" if {
	not threshold(cost_warn)
}

malformed contains "data review.cost_deny_monthly_usd is neither a number nor null" if {
	not threshold(cost_deny)
}

malformed contains "data review.deny_categories is not a list" if not is_array(deny_categories)

well_formed_object(o) if {
	is_string(o.ref)
	o.ref != ""
	is_string(o.kind)
	is_string(o.namespace)
	is_string(o.name)
	o.change in changes
	is_array(object.get(o, ["workload", "containers"], []))
}

well_formed_finding(f) if {
	is_string(f.category)
	f.severity in severities
	is_string(f.object)
	is_string(f.field)
	is_string(f.message)
}

threshold(x) if x == null

threshold(x) if is_number(x)

# ---------------------------------------------------------------------------------------------
# Denials

denials contains msg if {
	some o in objects
	o.namespace in protected_namespaces
	msg := sprintf("%s metadata.namespace: namespace \"%s\" is protected (protected_namespaces)", [o.ref, o.namespace])
}

denials contains msg if {
	some o in objects
	o.kind == "Namespace"
	o.name in protected_namespaces
	msg := sprintf("%s metadata.name: namespace \"%s\" is protected (protected_namespaces)", [o.ref, o.name])
}

# An image the change brings in (a new container, or a new image of one) comes from an allowed
# repository, when data lists them; an image the object already ran is not this change's doing.
denials contains msg if {
	count(image_repositories) > 0
	some o in objects
	some c in object.get(o, ["workload", "containers"], [])
	image := object.get(c, ["image", "after"], null)
	is_string(image)
	image != object.get(c, ["image", "before"], null)
	not repository_allowed(c)
	msg := sprintf("%s %s.image: image %s (registry %s) is not from an allowed repository (image_repositories)", [
		o.ref, c.path, image, c.registry,
	])
}

repository_allowed(c) if {
	some allowed in image_repositories
	allowed == c.repository
}

repository_allowed(c) if {
	some allowed in image_repositories
	endswith(allowed, "/")
	startswith(c.repository, allowed)
}

# A registry named as a prefix ("docker.io/") also covers the images whose reference names no
# registry ("nginx:1.27"), which are pulled from it.
repository_allowed(c) if {
	some allowed in image_repositories
	allowed == concat("", [c.registry, "/"])
}

cost_denied if {
	is_number(cost_deny)
	monthly_delta > cost_deny
}

denials contains msg if {
	cost_denied
	msg := sprintf("the change's cost.monthly_delta_usd: +$%.2f per month is above the limit of $%.2f (review.cost_deny_monthly_usd)", [
		monthly_delta, cost_deny,
	])
}

# A finding of a category the data denies, at warning or above. Informational findings are
# context (every priced object has one of category cost): a cost is denied by its threshold.
denials contains msg if {
	some f in findings
	f.category in deny_categories
	f.severity in {"warning", "high"}
	msg := sprintf("%s (category %s is denied by review.deny_categories)", [finding_line(f), f.category])
}

# "MESSAGE (field F)"; a finding's message starts with the object it is about. A finding about a
# whole object (no field) is its message alone.
finding_line(f) := sprintf("%s (field %s)", [f.message, f.field]) if {
	f.field != ""
} else := f.message

# ---------------------------------------------------------------------------------------------
# Warnings

warnings contains msg if {
	some f in findings
	f.severity == "high"
	not f.category in deny_categories
	msg := sprintf("%s (high %s finding)", [finding_line(f), f.category])
}

warnings contains msg if {
	is_number(cost_warn)
	monthly_delta > cost_warn
	not cost_denied
	msg := sprintf("the change's cost.monthly_delta_usd: +$%.2f per month is above $%.2f (review.cost_warn_monthly_usd)", [
		monthly_delta, cost_warn,
	])
}

# ---------------------------------------------------------------------------------------------
# Risk: each factor raises the change's risk to at least its level, with a reason.

risk_factors contains f if {
	count(denials) > 0
	f := {"risk": "high", "reason": sprintf("risk high: %d denial(s)", [count(denials)])}
}

high_findings := [f | some f in findings; f.severity == "high"]

warning_findings := [f | some f in findings; f.severity == "warning"]

risk_factors contains f if {
	count(high_findings) > 0
	f := {"risk": "high", "reason": sprintf("risk high: %d high finding(s)", [count(high_findings)])}
}

risk_factors contains f if {
	count(warning_findings) > 0
	f := {"risk": "medium", "reason": sprintf("risk medium: %d warning finding(s)", [count(warning_findings)])}
}

risk_factors contains f if {
	count(warnings) > 0
	f := {"risk": "medium", "reason": sprintf("risk medium: %d policy warning(s)", [count(warnings)])}
}

risk_factors contains f if {
	some ns in touched
	ns in high_risk_namespaces
	reason := sprintf("risk medium: the change touches namespace \"%s\", which is high risk (high_risk_namespaces)", [ns])
	f := {"risk": "medium", "reason": reason}
}

final_risk := risk_names[max({0} | {risk_rank[f.risk] | some f in risk_factors})]

risk_reasons := sort([f.reason | some f in risk_factors; f.risk == final_risk]) if {
	count(risk_factors) > 0
} else := ["risk low: no denial, warning or high-risk namespace"]

# ---------------------------------------------------------------------------------------------
# The decision

# Fail closed: input or data the rules below do not cover.
default decision := {
	"decision": "deny",
	"risk": "high",
	"warnings": [],
	"denials": ["the review policy could not decide on this input"],
	"reasons": ["risk high: the review policy could not decide on this input"],
}

decision := {
	"decision": "deny",
	"risk": "high",
	"warnings": [],
	"denials": [sprintf("malformed review input or data: %s", [m]) | some m in sort([m | some m in malformed])],
	"reasons": ["risk high: the review policy could not read its input or data"],
} if {
	count(malformed) > 0
}

decision := {
	"decision": verdict,
	"risk": final_risk,
	"warnings": sort([w | some w in warnings]),
	"denials": sort([d | some d in denials]),
	"reasons": risk_reasons,
} if {
	count(malformed) == 0
}

verdict := "deny" if {
	count(denials) > 0
} else := "warn" if {
	count(warnings) > 0
} else := "allow"
