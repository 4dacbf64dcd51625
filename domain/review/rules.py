"""The deterministic rules of a change review: downtime, rollback and security findings, deletions
that stop a service, and the rollout they recommend. Pure; each rule reads one object's redacted
change (and, for images' registries and disruption budgets, the change set around it) and cites
the field it found.

Security rules report what a change introduces: a privileged container that was privileged
before is not this change's doing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from domain.kube.images import split_image
from domain.redaction.text import PLACEHOLDER_RE, secret_kind_for_key
from domain.review.changes import ChangeSet, ObjectChange
from domain.review.findings import Finding, Severity, old_new, shown
from domain.review.workloads import by_name, containers, dig, pod_spec, replicas

_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
# Smaller is stricter for each of these.
_PROBE_LIMITS = ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "failureThreshold")
_HOOKS = ("helm.sh/hook", "argocd.argoproj.io/hook")
_DANGEROUS_CAPABILITIES = ("ALL", "SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE", "SYS_MODULE")
_SECRET_READS = ("*", "get", "list", "watch")


def _finding(change: ObjectChange, category: Any, severity: Severity, field: str, message: str) -> Finding:
    return Finding(
        category=category,
        severity=severity,
        object=change.ref,
        field=field,
        message=f"{change.ref.label()}: {message}",
    )


def _template_changed(change: ObjectChange) -> bool:
    return change.before is not None and dig(change.before, "spec", "template") != dig(
        change.after, "spec", "template"
    )


def _percent_or_int(value: Any, total: int, *, round_up: bool) -> int:
    """An IntOrString of a rollout or a budget as a pod count, rounded as Kubernetes rounds it."""
    try:
        if isinstance(value, str) and value.endswith("%"):
            share = int(value[:-1]) * total
            return -(-share // 100) if round_up else share // 100
        return int(value) if value is not None else 0
    except ValueError:
        # The API server refuses such a manifest; it is not this review's to judge.
        return 0


# --- downtime -------------------------------------------------------------------------------


def _rollout_downtime(change: ObjectChange) -> Iterator[Finding]:
    after, kind = change.after, change.ref.kind
    if after is None or change.before is None or kind not in ("Deployment", "StatefulSet"):
        return
    count = replicas(after)
    # This change rolls the pods now; otherwise it only sets up the next rollout.
    severity: Severity = "high" if _template_changed(change) else "warning"
    when = "this rollout" if severity == "high" else "the next rollout"
    if kind == "StatefulSet":
        if count == 1 and dig(after, "spec", "updateStrategy", "type") != "OnDelete":
            yield _finding(
                change,
                "downtime",
                severity,
                "spec.replicas",
                f"1 replica: {when} deletes the only pod before its replacement starts",
            )
        return
    strategy = dig(after, "spec", "strategy", "type") or "RollingUpdate"
    if strategy == "Recreate":
        old = dig(change.before, "spec", "strategy", "type") or "RollingUpdate"
        yield _finding(
            change,
            "downtime",
            severity,
            "spec.strategy.type",
            f"strategy {old_new(old, strategy)} with {count} replica(s): {when} stops every pod "
            "before any new one starts",
        )
        return
    unavailable = dig(after, "spec", "strategy", "rollingUpdate", "maxUnavailable")
    allowed = _percent_or_int(unavailable if unavailable is not None else "25%", count, round_up=False)
    if count > 0 and allowed >= count:
        old = dig(change.before, "spec", "strategy", "rollingUpdate", "maxUnavailable")
        yield _finding(
            change,
            "downtime",
            severity,
            "spec.strategy.rollingUpdate.maxUnavailable",
            f"maxUnavailable {old_new(old, unavailable)} with {count} replica(s) lets {when} "
            "take every pod down at once",
        )


def _immutable_fields(change: ObjectChange) -> Iterator[Finding]:
    before, after, kind = change.before, change.after, change.ref.kind
    if before is None or after is None:
        return
    replace = "immutable: the object must be deleted and recreated (Argo CD: Replace=true), a gap in service"
    if kind in ("Deployment", "StatefulSet", "DaemonSet"):
        old, new = dig(before, "spec", "selector"), dig(after, "spec", "selector")
        if old != new:
            yield _finding(
                change, "downtime", "high", "spec.selector", f"selector {old_new(old, new)} is {replace}"
            )
    if kind == "StatefulSet":
        old, new = dig(before, "spec", "volumeClaimTemplates"), dig(after, "spec", "volumeClaimTemplates")
        if old != new:
            yield _finding(
                change,
                "downtime",
                "high",
                "spec.volumeClaimTemplates",
                f"volumeClaimTemplates change is {replace}",
            )
    if kind == "Service":
        old, new = dig(before, "spec", "clusterIP"), dig(after, "spec", "clusterIP")
        if old and new and old != new:
            yield _finding(
                change, "downtime", "high", "spec.clusterIP", f"clusterIP {old_new(old, new)} is {replace}"
            )
        old_type = dig(before, "spec", "type") or "ClusterIP"
        new_type = dig(after, "spec", "type") or "ClusterIP"
        if old_type != new_type and "ExternalName" in (old_type, new_type):
            yield _finding(
                change, "downtime", "high", "spec.type", f"type {old_new(old_type, new_type)} is {replace}"
            )
    if kind == "Job" and _template_changed(change):
        yield _finding(
            change,
            "downtime",
            "warning",
            "spec.template",
            "a Job's pod template is immutable: the Job must be deleted and run again",
        )


def _matches(selector: Any, labels: Any) -> bool:
    wanted = dig(selector, "matchLabels")
    if not isinstance(wanted, Mapping) or not wanted or not isinstance(labels, Mapping):
        return False
    return all(labels.get(key) == value for key, value in wanted.items())


def _disruption_budget(change: ObjectChange, changes: ChangeSet) -> Iterator[Finding]:
    after = change.after
    if after is None or change.ref.kind != "PodDisruptionBudget":
        return
    selector = dig(after, "spec", "selector")
    for other in changes.objects:
        workload = other.after
        if other.ref.namespace != change.ref.namespace or other.ref.kind not in ("Deployment", "StatefulSet"):
            continue
        if not _matches(selector, dig(workload, "spec", "template", "metadata", "labels")):
            continue
        count = replicas(workload)
        min_available = dig(after, "spec", "minAvailable")
        max_unavailable = dig(after, "spec", "maxUnavailable")
        if min_available is not None and _percent_or_int(min_available, count, round_up=True) >= count:
            field, value = "spec.minAvailable", min_available
        elif max_unavailable is not None and _percent_or_int(max_unavailable, count, round_up=True) == 0:
            field, value = "spec.maxUnavailable", max_unavailable
        else:
            continue
        old = dig(change.before, *field.split("."))
        yield _finding(
            change,
            "downtime",
            "warning",
            field,
            f"{field.rsplit('.', 1)[1]} {old_new(old, value)} with {other.ref.label()} at {count} "
            "replica(s) allows no eviction: node drains and upgrades block",
        )


def _probes(change: ObjectChange) -> Iterator[Finding]:
    if change.before is None or change.after is None:
        return
    old_containers = by_name(containers(change.before, init=False))
    for path, container in containers(change.after, init=False):
        old = old_containers.get(path)
        if old is None:
            continue
        for probe in _PROBES:
            before, after = old.get(probe), container.get(probe)
            if before == after or after is None:
                continue
            if before is None:
                yield _finding(
                    change,
                    "downtime",
                    "warning",
                    f"{path}.{probe}",
                    f"{probe} added: pods failing it restart or leave service",
                )
                continue
            for limit in _PROBE_LIMITS:
                old_value, new_value = before.get(limit), after.get(limit)
                if isinstance(old_value, int) and isinstance(new_value, int) and new_value < old_value:
                    yield _finding(
                        change,
                        "downtime",
                        "warning",
                        f"{path}.{probe}.{limit}",
                        f"{probe} {limit} tightened {old_new(old_value, new_value)}",
                    )


# --- rollback -------------------------------------------------------------------------------


def _storage(manifest: Any) -> Any:
    return dig(manifest, "spec", "resources", "requests", "storage")


def _rollback(change: ObjectChange) -> Iterator[Finding]:
    kind = change.ref.kind
    if kind == "PersistentVolumeClaim" and change.before is not None and change.after is not None:
        old, new = _storage(change.before), _storage(change.after)
        if old != new:
            yield _finding(
                change,
                "rollback",
                "warning",
                "spec.resources.requests.storage",
                f"storage {old_new(old, new)}: a claim can grow, never shrink; reverting the commit "
                "does not give the space back",
            )
    if change.after is None and kind in ("PersistentVolumeClaim", "CustomResourceDefinition"):
        lost = (
            "its volume (by the reclaim policy)"
            if kind == "PersistentVolumeClaim"
            else "every resource of it"
        )
        yield _finding(
            change,
            "rollback",
            "high",
            "",
            f"deleted; this deletes {lost}, which a revert does not bring back",
        )
    if (
        kind == "StatefulSet"
        and change.before is not None
        and change.after is not None
        and dig(change.before, "spec", "volumeClaimTemplates")
        != dig(change.after, "spec", "volumeClaimTemplates")
    ):
        yield _finding(
            change,
            "rollback",
            "high",
            "spec.volumeClaimTemplates",
            "volume claim templates changed: existing claims keep the old shape, "
            "a revert does not restore them",
        )
    if change.after is not None and _is_migration(change.after):
        yield _finding(
            change,
            "rollback",
            "warning",
            "metadata.name",
            "looks like a data migration (a Job or hook): reverting the commit does not undo what it ran",
        )


def _is_migration(manifest: Mapping[str, Any]) -> bool:
    annotations = dig(manifest, "metadata", "annotations") or {}
    is_hook = any(key in annotations for key in _HOOKS)
    if manifest.get("kind") not in ("Job", "CronJob") and not is_hook:
        return False
    words = [str(dig(manifest, "metadata", "name") or "")]
    for _, container in containers(manifest):
        words += [str(part) for part in (container.get("command") or []) + (container.get("args") or [])]
    return any("migrat" in word.lower() for word in words)


# --- security -------------------------------------------------------------------------------


def _flag(manifest: Any, *path: str) -> Any:
    return dig(manifest, *path) if manifest is not None else None


def _pod_security(change: ObjectChange) -> Iterator[Finding]:
    found = pod_spec(change.after)
    if found is None:
        return
    base, spec = found
    old_spec = (pod_spec(change.before) or ("", {}))[1]
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field) is True and old_spec.get(field) is not True:
            yield _finding(
                change, "security", "high", f"{base}.{field}", f"{field} {old_new(old_spec.get(field), True)}"
            )
    old_volumes = {v.get("name"): v for v in old_spec.get("volumes") or []}
    for volume in spec.get("volumes") or []:
        path = dig(volume, "hostPath", "path")
        if path is not None and dig(old_volumes.get(volume.get("name")), "hostPath", "path") != path:
            yield _finding(
                change,
                "security",
                "high",
                f"{base}.volumes[{volume.get('name')}].hostPath",
                f"hostPath volume {shown(path)} mounts the node's filesystem",
            )
    yield from _run_as(change, base, spec, old_spec, "securityContext")


def _run_as(
    change: ObjectChange, path: str, spec: Mapping[str, Any], old_spec: Mapping[str, Any], field: str
) -> Iterator[Finding]:
    user, old_user = dig(spec, field, "runAsUser"), dig(old_spec, field, "runAsUser")
    if user == 0 and old_user != 0:
        yield _finding(
            change, "security", "high", f"{path}.{field}.runAsUser", f"runAsUser {old_new(old_user, 0)}: root"
        )
    non_root, old_non_root = dig(spec, field, "runAsNonRoot"), dig(old_spec, field, "runAsNonRoot")
    if old_non_root is True and non_root is not True:
        yield _finding(
            change,
            "security",
            "warning",
            f"{path}.{field}.runAsNonRoot",
            f"runAsNonRoot {old_new(old_non_root, non_root)}: the image may run as root",
        )
    elif non_root is False and old_non_root is not False:
        yield _finding(
            change,
            "security",
            "warning",
            f"{path}.{field}.runAsNonRoot",
            "runAsNonRoot false: the image may run as root",
        )


def _untagged(image: str) -> str | None:
    ref = split_image(image)
    if ref.digest:
        return None
    if not ref.tag:
        return "untagged (pulls latest)"
    return "tag latest" if ref.tag == "latest" else None


def _container_security(change: ObjectChange, known_registries: set[str]) -> Iterator[Finding]:
    old_containers = by_name(containers(change.before))
    for path, container in containers(change.after):
        old = old_containers.get(path, {})
        image, old_image = str(container.get("image") or ""), old.get("image")
        if image and image != old_image:
            tag = _untagged(image)
            if tag is not None:
                yield _finding(
                    change,
                    "security",
                    "warning",
                    f"{path}.image",
                    f"image {old_new(old_image, image)}: {tag}",
                )
            registry = split_image(image).registry
            if known_registries and registry not in known_registries:
                yield _finding(
                    change,
                    "security",
                    "warning",
                    f"{path}.image",
                    f"image {old_new(old_image, image)} comes from {registry}, a registry none of the "
                    "changed objects used before",
                )
        if (
            dig(container, "securityContext", "privileged") is True
            and dig(old, "securityContext", "privileged") is not True
        ):
            yield _finding(
                change, "security", "high", f"{path}.securityContext.privileged", "privileged container"
            )
        added = dig(container, "securityContext", "capabilities", "add") or []
        old_added = dig(old, "securityContext", "capabilities", "add") or []
        new_caps = [cap for cap in added if cap not in old_added]
        if new_caps:
            severity: Severity = (
                "high" if any(cap in _DANGEROUS_CAPABILITIES for cap in new_caps) else "warning"
            )
            yield _finding(
                change,
                "security",
                severity,
                f"{path}.securityContext.capabilities.add",
                f"capabilities added: {', '.join(map(str, new_caps))}",
            )
        yield from _run_as(change, path, container, old, "securityContext")
        yield from _plain_secret_env(change, path, container, old)


def _plain_secret_env(
    change: ObjectChange, path: str, container: Mapping[str, Any], old: Mapping[str, Any]
) -> Iterator[Finding]:
    old_env = {e.get("name"): e for e in old.get("env") or [] if isinstance(e, Mapping)}
    for entry in container.get("env") or []:
        name, value = entry.get("name"), entry.get("value")
        if not isinstance(name, str) or not isinstance(value, str) or not value:
            continue
        # The value is already redacted: a placeholder means it held a secret.
        if secret_kind_for_key(name) is None and not PLACEHOLDER_RE.search(value):
            continue
        if old_env.get(name) == entry:
            continue
        yield _finding(
            change,
            "security",
            "high",
            f"{path}.env[{name}]",
            f"env {name} holds a secret-looking value in plain text (not shown); use valueFrom.secretKeyRef",
        )


def _rules_of(manifest: Any) -> list[Mapping[str, Any]]:
    return [rule for rule in dig(manifest, "rules") or [] if isinstance(rule, Mapping)]


def _rbac(change: ObjectChange) -> Iterator[Finding]:
    kind = change.ref.kind
    if change.after is None:
        return
    if kind in ("Role", "ClusterRole"):
        old_rules = _rules_of(change.before)
        for index, rule in enumerate(_rules_of(change.after)):
            if rule in old_rules:
                continue
            verbs, resources = list(rule.get("verbs") or []), list(rule.get("resources") or [])
            widened = []
            if "*" in verbs:
                widened.append("every verb (*)")
            if "*" in resources:
                widened.append("every resource (*)")
            if "secrets" in resources and any(verb in _SECRET_READS for verb in verbs):
                widened.append("reading Secrets")
            if widened:
                yield _finding(
                    change,
                    "security",
                    "high",
                    f"rules[{index}]",
                    f"RBAC widened: grants {', '.join(widened)} (verbs {verbs}, resources {resources})",
                )
    if kind in ("ClusterRoleBinding", "RoleBinding"):
        role, old_role = dig(change.after, "roleRef", "name"), dig(change.before, "roleRef", "name")
        if role == "cluster-admin" and old_role != "cluster-admin":
            yield _finding(
                change,
                "security",
                "high",
                "roleRef.name",
                f"binds cluster-admin (roleRef {old_new(old_role, role)}) to {_subjects(change.after)}",
            )


def _subjects(manifest: Mapping[str, Any]) -> str:
    names = [
        f"{s.get('kind')} {s.get('name')}" for s in manifest.get("subjects") or [] if isinstance(s, Mapping)
    ]
    return ", ".join(names) or "(no subjects)"


# --- other risk ------------------------------------------------------------------------------

# What stops serving when it is deleted.
_SERVING = ("Deployment", "StatefulSet", "DaemonSet", "Service", "Ingress", "HTTPRoute")


def _deletions(change: ObjectChange) -> Iterator[Finding]:
    if change.after is not None:
        return
    if change.ref.kind == "Namespace":
        yield _finding(change, "risk", "high", "", "deleted; this deletes every object in the namespace")
    elif change.ref.kind in _SERVING:
        yield _finding(change, "risk", "warning", "", "deleted; what it serves stops when Argo CD prunes it")


# --- all of them ----------------------------------------------------------------------------


def registries_before(changes: ChangeSet) -> set[str]:
    return {
        split_image(str(container.get("image"))).registry
        for change in changes.objects
        for _, container in containers(change.before)
        if container.get("image")
    }


def find(changes: ChangeSet) -> list[Finding]:
    """Every finding of the change set, object by object in its order, most severe first within
    an object."""
    known = registries_before(changes)
    findings: list[Finding] = []
    for change in changes.changed():
        found = [
            *_rollout_downtime(change),
            *_immutable_fields(change),
            *_disruption_budget(change, changes),
            *_probes(change),
            *_rollback(change),
            *_pod_security(change),
            *_container_security(change, known),
            *_rbac(change),
            *_deletions(change),
        ]
        order = {"high": 0, "warning": 1, "info": 2}
        findings += sorted(found, key=lambda f: order[f.severity])
    return findings


def recommend_rollout(changes: ChangeSet, findings: list[Finding]) -> list[str]:
    """The rollout this change set should get, one line each."""
    lines: list[str] = []
    fields = {(f.object, f.field) for f in findings if f.category == "downtime"}
    for change in changes.changed():
        label = change.ref.label()
        if (change.ref, "spec.strategy.type") in fields or (change.ref, "spec.replicas") in fields:
            lines.append(
                f"{label}: raise replicas to 2 and use RollingUpdate (maxUnavailable 0) before this change"
            )
        elif (change.ref, "spec.strategy.rollingUpdate.maxUnavailable") in fields:
            lines.append(f"{label}: set maxUnavailable below the replica count (or 0 with maxSurge 1) first")
        if (change.ref, "spec.selector") in fields:
            lines.append(
                f"{label}: create the workload under a new name beside the old one, move traffic, "
                "then delete the old"
            )
        if (
            change.before is not None
            and change.after is not None
            and change.ref.kind in ("Deployment", "StatefulSet")
        ):
            old, new = replicas(change.before), replicas(change.after)
            if new >= 2 * old and new - old >= 4:
                middle = old + (new - old) // 2
                lines.append(
                    f"{label}: scale in steps ({old} → {middle} → {new}), watching capacity and error rates "
                    "between them"
                )
    if any(f.category == "rollback" and f.severity != "info" for f in findings):
        lines.append("snapshot or back up the data the irreversible changes touch before merging")
    return lines or ["sync as usual and watch the application's health"]
