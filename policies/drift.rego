# medic drift policy: which plan an Argo CD Application's drift gets.
#
# Input: the Application's drift as a scan found it (domain.drift.AppDrift as JSON): application,
# app_namespace, project, destination_namespace, and resources[] — group, kind, namespace, name,
# fields[] ({path, desired, live}, path a JSON pointer) and live_missing (Git declares the resource,
# the cluster does not have it; it counts as one field with the path "").
#
# Data: data.medic.config.drift_rules, an ordered list of rules
#     {"namespaces": ["shop", "pay*"], "kinds": ["Deployment"], "fields": ["/spec/replicas"], "action": "sync"}
# and data.medic.config.drift_default_action (absent: "report"). A rule's namespaces and kinds are
# globs (`*`, `?`, `[...]`, `{a,b}`) over the resource's own namespace ("" for cluster-scoped
# objects) and kind; a list that is absent matches anything. A field pattern is a glob over the
# JSON pointer, segment by segment (`*` is one segment, `**` any number), and it also covers every
# field below what it matches: "/spec/template" and "/spec/template/*" both cover
# "/spec/template/spec/containers/0/image". "*" (or "**") alone covers every field, the missing
# resource included; "" covers the missing resource only.
#
# Each drifted field gets the action of the FIRST rule that matches it, else the default action.
# The Application's disposition is that action when every field agrees, and "report" when they
# disagree, when an action is not one of sync | adopt | report, or when the action is adopt and a
# field has no typed Git edit (domain/drift_plan.py makes the same cut). The single result is
# `decision`: {disposition, reason, fields: [{resource, path, action, rule, adoptable}]}.
package medic.drift

import rego.v1

cfg := data.medic.config

drift_rules := object.get(cfg, "drift_rules", [])

default_action := object.get(cfg, "drift_default_action", "report")

valid_actions := {"sync", "adopt", "report"}

verbs := {"sync": "syncs", "adopt": "adopts", "report": "reports"}

# How many fields a reason names before it says "and N more".
max_named := 6

# ---------------------------------------------------------------------------------------------
# Matching

# rego-cpp answers undefined, not false, for a glob that does not match: only matches are used.
glob_any(patterns, text) if {
	some pattern in patterns
	glob.match(pattern, null, text)
}

field_matches(pattern, _) if pattern in {"*", "**"}

field_matches(pattern, path) if pattern == path

field_matches(pattern, path) if {
	pattern != ""
	path != ""
	glob.match(pattern, ["/"], path)
}

field_matches(pattern, path) if {
	pattern != ""
	path != ""
	glob.match(concat("", [trim_right(pattern, "/"), "/**"]), ["/"], path)
}

rule_matches(rule, r, path) if {
	glob_any(object.get(rule, "namespaces", ["*"]), object.get(r, "namespace", ""))
	glob_any(object.get(rule, "kinds", ["*"]), object.get(r, "kind", ""))
	some pattern in object.get(rule, "fields", ["*"])
	field_matches(pattern, path)
}

# Written `rule := drift_rules[i]`: rego-cpp 1.5 does not parse `some i, rule in` inside a
# comprehension, and does not enumerate `i` when `drift_rules[i]` is a function's argument.
matching_rules(r, path) := {i |
	rule := drift_rules[i]
	rule_matches(rule, r, path)
}

# concat, not sprintf, for every text: rego-cpp 1.5 quotes a constant string (an object.get
# default, a literal) that sprintf formats with %s or %v.
resource_key(r) := concat("/", [object.get(r, "namespace", ""), object.get(r, "kind", ""), object.get(r, "name", "")])

# ---------------------------------------------------------------------------------------------
# Adoptable: a field a typed Git edit can set to its live value (see domain/drift_plan.py).

scalable_kinds := {"Deployment", "StatefulSet"}

template_kinds := {"Deployment", "StatefulSet", "DaemonSet"}

resource_sections := {"limits", "requests"}

adoptable_field(kind, "/spec/replicas", live) if {
	kind in scalable_kinds
	is_number(live)
}

adoptable_field(kind, path, live) if {
	kind in template_kinds
	live != null
	parts := split(path, "/")
	count(parts) >= 7
	array.slice(parts, 0, 5) == ["", "spec", "template", "spec", "containers"]
	parts[5] != ""
	container_field(array.slice(parts, 6, count(parts)))
}

container_field(rest) if rest == ["image"]

container_field(rest) if rest == ["resources"]

container_field(rest) if {
	count(rest) in {2, 3}
	rest[0] == "resources"
	rest[1] in resource_sections
}

default adoptable(_, _, _) := false

adoptable(kind, path, live) if adoptable_field(kind, path, live)

# ---------------------------------------------------------------------------------------------
# Every drifted field, in the order of the input, with the action that applies to it.

# [resource, path, live] per drifted field: a missing resource first, then its fields.
resource_items(r) := array.concat(missing_items(r), [[r, object.get(f, "path", ""), object.get(f, "live", null)] |
	some f in object.get(r, "fields", [])
])

missing_items(r) := [[r, "", null]] if object.get(r, "live_missing", false) == true

missing_items(r) := [] if object.get(r, "live_missing", false) != true

drift_items := [item |
	some r in object.get(input, "resources", [])
	some item in resource_items(r)
]

# [rule index, action]: the first matching rule's, else [null, the default action].
applied(r, path) := [i, object.get(drift_rules[i], "action", "")] if {
	matched := matching_rules(r, path)
	count(matched) > 0
	i := min(matched)
}

applied(r, path) := [null, default_action] if count(matching_rules(r, path)) == 0

field_entry(r, path, live) := {
	"resource": resource_key(r),
	"path": path,
	"action": action,
	"rule": rule,
	"adoptable": adoptable(object.get(r, "kind", ""), path, live),
} if {
	[rule, action] := applied(r, path)
}

drift_fields := [e |
	some item in drift_items
	e := field_entry(item[0], item[1], item[2])
]

actions_used := {e.action | some e in drift_fields}

invalid_fields := [e |
	some e in drift_fields
	not e.action in valid_actions
]

unadoptable_fields := [e |
	some e in drift_fields
	e.adoptable != true
]

# ---------------------------------------------------------------------------------------------
# Reasons

what(e) := concat("", ["the missing resource ", e.resource]) if e.path == ""

what(e) := concat(" of ", [e.path, e.resource]) if e.path != ""

verb(action) := verbs[action]

verb(action) := concat("", ["has the unknown action ", json.marshal(action), " for"]) if not action in valid_actions

bounded(items) := items if count(items) <= max_named

bounded(items) := array.concat(array.slice(items, 0, max_named), [concat("", ["and ", format_int(count(items) - max_named, 10), " more"])]) if {
	count(items) > max_named
}

# One phrase per (rule, action), rules in their order and the default last:
# "drift_rules[0] syncs /spec/replicas of shop/Deployment/web, /spec/replicas of shop/Deployment/api".
groups := {[e.rule, e.action] | some e in drift_fields}

group_rank(g) := g[0] if g[0] != null

group_rank(g) := count(drift_rules) if g[0] == null

group_whats(g) := concat(", ", bounded([what(e) |
	some e in drift_fields
	[e.rule, e.action] == g
]))

group_phrase(g) := concat("", ["drift_rules[", format_int(g[0], 10), "] ", verb(g[1]), " ", group_whats(g)]) if g[0] != null

group_phrase(g) := concat("", ["drift_default_action ", verb(g[1]), " ", group_whats(g), " (no drift rule matches)"]) if {
	g[0] == null
}

ordered_groups := [key[1] | some key in sort([[group_rank(g), g] | some g in groups])]

policy_reason := concat("", ["policy ", concat("; ", [group_phrase(g) | some g in ordered_groups])])

# ---------------------------------------------------------------------------------------------
# The decision

# Fail closed: input or data the rules below do not cover leave the drift to a human.
default decision := {
	"disposition": "report",
	"reason": "the drift policy could not decide on this input, so the drift is only reported",
	"fields": [],
}

decision := {
	"disposition": "report",
	"reason": "no drifted field: nothing to do",
	"fields": [],
} if count(drift_fields) == 0

decision := {
	"disposition": "report",
	"reason": concat("", [
		"the policy data names an action that is not sync, adopt or report, so the drift is only reported: ",
		policy_reason,
	]),
	"fields": drift_fields,
} if count(invalid_fields) > 0

decision := {
	"disposition": "report",
	"reason": concat("", [
		"the drift rules disagree (", concat(" vs ", sort([a | some a in actions_used])),
		"), so the drift is only reported: ", policy_reason,
	]),
	"fields": drift_fields,
} if {
	count(invalid_fields) == 0
	count(actions_used) > 1
}

decision := {
	"disposition": action,
	"reason": policy_reason,
	"fields": drift_fields,
} if {
	count(invalid_fields) == 0
	count(actions_used) == 1
	some action in actions_used
	action != "adopt"
}

decision := {
	"disposition": "adopt",
	"reason": policy_reason,
	"fields": drift_fields,
} if {
	count(invalid_fields) == 0
	actions_used == {"adopt"}
	count(unadoptable_fields) == 0
}

decision := {
	"disposition": "report",
	"reason": concat("", [
		"adopting writes every live value into Git through a typed edit, and ",
		concat(", ", bounded([what(e) | some e in unadoptable_fields])),
		" has none, so the drift is only reported: ", policy_reason,
	]),
	"fields": drift_fields,
} if {
	count(invalid_fields) == 0
	actions_used == {"adopt"}
	count(unadoptable_fields) > 0
}
