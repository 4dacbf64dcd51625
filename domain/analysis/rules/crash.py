"""Crash loops, bare Pods, tightened probes and CPU throttling: rules of the offline analyzer.

The offline analyzer (`domain.analysis.offline`) calls these at fixed points of its order:

    bare Pods            when the alert names Pods that no controller owns (nothing to patch)
    crash cause          after OOM, before the release rule: why a container keeps stopping
    probe rollout        after the release rule: a new revision tightened a probe that now fails
    CPU throttling       before saturation: a per-pod CPU limit that is too low

Trust is the analyzer's: termination messages, event messages and logs are untrusted text. They
pick the category (a `no such host` line is a DNS failure) and are quoted as evidence — clipped,
on one line — but no action parameter comes from them. A revision to return to comes from the
workload's revisions, a CPU limit from its spec, and a crash cause alone proposes nothing: the
ConfigMap key, the binary, the certificate or the downstream it names is someone's decision, so
the diagnosis says what failed, quotes where it says so, and lists the next steps for a human.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from domain.analysis import offline as base
from domain.analysis.plan import Diagnosis, Evidence, RollbackRevision, RootCause, SetResources
from domain.incident.model import Incident
from domain.kube.observation import (
    ArgoApplication,
    ContainerState,
    EventItem,
    GitOpsFile,
    LogExcerpt,
    MetricSeries,
    Observation,
    PodState,
    Workload,
)

if TYPE_CHECKING:
    from domain.analysis.offline import OfflineAnalyzer

__all__ = ["CrashRules", "Finding", "find_cause"]

QUOTE_CHARS = 220  # characters of a log line or message quoted in an explanation
LOG_LINES_SCANNED = 80  # the tail of each log: a crash says why at its end
# CPU throttling: the share of CFS periods throttled that CPUThrottlingHigh fires at, and how a
# too-low limit is raised (doubled, never past the policy's max_resource_factor of 4).
THROTTLED = 0.25
CPU_GROWTH = Decimal(2)
CPU_MAX_GROWTH = Decimal(4)
THROTTLING_ALERTS = ("cputhrottlinghigh", "cputhrottling")

_CRASH_STATES = {"CrashLoopBackOff", "Error", "RunContainerError", "StartError", "ContainerCannotRun"}
_PROBE_FAILED = re.compile(r"^(Liveness|Readiness|Startup) probe failed", re.IGNORECASE)
_PROBE_KILL = re.compile(r"failed (liveness|startup) probe", re.IGNORECASE)


@dataclass(frozen=True)
class Cause:
    key: str
    root_cause: RootCause
    title: str  # "a command or binary that does not exist"
    why_no_fix: str  # why nothing typed is proposed
    check: str  # what a human checks or changes (display text)


@dataclass(frozen=True)
class Finding:
    """One cause, the text that shows it and where that text was read."""

    cause: Cause
    pod: PodState
    container: str
    init: bool
    quote: str
    source: str  # "the previous log", "the last termination message", "event Failed", "exit code 127"
    item_id: str


_COMMAND = Cause(
    "command",
    "config_error",
    "the container's command or binary does not exist in the image",
    "The image does not hold the program the pod spec (command/args) or its entrypoint names; "
    "restarting runs the same command again.",
    "compare the container's command and args with what the image ships (the entrypoint, the path "
    "of the binary); fix whichever is wrong",
)
_SHELL = Cause(
    "shell",
    "config_error",
    "the container's shell script has a syntax error (the shell stops at the line it names)",
    "The script the container runs is broken; only its owner can say what it should read, and a "
    "restart runs the same script again.",
    "read the script (the command/args, or the ConfigMap it is mounted from) at the line the shell "
    "names, and fix it",
)
_CONFIG = Cause(
    "config",
    "config_error",
    "a required environment variable or configuration key is missing",
    "The value the program requires is not in its environment or configuration; which value is right "
    "is the owner's decision, and a restart reads the same configuration again.",
    "restore the variable or key the program names: check the container's env/envFrom and the "
    "ConfigMaps and Secrets they reference",
)
_PERMISSION = Cause(
    "permission",
    "config_error",
    "the container may not write or execute a path (permission denied or a read-only file system)",
    "The file system or the security context refuses the access; changing runAsUser, fsGroup, "
    "readOnlyRootFilesystem or a volume mount is a security decision for a human.",
    "check the pod's securityContext (runAsUser, fsGroup, readOnlyRootFilesystem) and the volume "
    "mounted at the path the error names (an emptyDir for a path that must be writable)",
)
_CREDENTIALS = Cause(
    "credentials",
    "config_error",
    "a service the container logs in to rejects its credentials",
    "The user or password the container presents (usually from a Secret) is wrong, rotated or revoked; "
    "the right value is the owner's, and a restart presents the same credentials again.",
    "check the Secret the credentials come from against the service's current user and password "
    "(a rotation that updated one side only)",
)
_TLS = Cause(
    "tls",
    "dependency",
    "a TLS certificate is expired or not trusted",
    "A certificate is renewed or a CA bundle is trusted by whoever owns it (cert-manager, the "
    "downstream's team); nothing in the workload's spec fixes it.",
    "check the certificate the error names: its validity dates and issuer (the Secret holding it, "
    "cert-manager's Certificate status), and the CA bundle the client trusts",
)
_DNS = Cause(
    "dns",
    "dependency",
    "a host name the container needs does not resolve",
    "The name is wrong or its Service is gone; which one is the owner's call, and a restart resolves "
    "the same name again.",
    "check the host name the error names: does that Service exist in that namespace (a typo, a "
    "renamed or deleted Service), and does cluster DNS answer",
)
_REFUSED = Cause(
    "refused",
    "dependency",
    "a dependency the container needs refuses or does not answer connections",
    "The downstream is down, not ready or not listening where the container expects it; restarting "
    "this workload does not bring it up.",
    "check the downstream the error names: its pods and ready endpoints, and the port the container "
    "connects to",
)
_EXIT = Cause(
    "exit",
    "config_error",
    "the container runtime could not start the container's process",
    "The runtime refused to start the process as specified; restarting repeats the same start.",
    "read the runtime's message in the pod's events and the container's command, args and image",
)

_I = re.IGNORECASE
# In priority order: the most specific first (a missing binary, then a broken script, ...).
_PATTERNS: tuple[tuple[Cause, re.Pattern[str]], ...] = (
    (
        _SHELL,
        re.compile(
            r"syntax error(: unexpected| near unexpected token)|\bsh: (line )?\d+: .*syntax error"
            r"|unexpected EOF while looking for matching|bad substitution|unterminated quoted string",
            _I,
        ),
    ),
    (
        _COMMAND,
        re.compile(
            r"executable file not found in \$PATH|exec: \"[^\"]*\": (stat [^:]*: )?no such file or directory"
            r"|\bexec [^:\s]+: no such file or directory|exec format error|: command not found"
            # a shell that does not find the command it is told to run (dash: `sh: 1: exec: x: not
            # found`, busybox: `sh: x: not found`); exit code 127
            r"|\bsh: (line )?(\d+: )?(exec: )?[^:\s]+: not found"
            r"|\bno such file or directory: unknown|Error: Cannot find module '"
            r"|can't open file '[^']+': \[Errno 2\] No such file or directory",
            _I,
        ),
    ),
    (
        _CONFIG,
        re.compile(
            r"\b(env(ironment)?( variable)?|config(uration)? (key|value|option|setting|variable)|variable"
            r"|setting|option)\b[^\n]{0,80}?\b(is not set|not set|is missing|missing|is required|required"
            r"|undefined|is not defined|not defined|must be (set|provided|specified|defined)|is empty)\b"
            r"|\bmissing (required )?(env(ironment)?( variable)?|config(uration)?|variable|key|setting|value)"
            r"|\brequired (env(ironment)? variable|config(uration)? (key|value)|key|setting|variable)"
            r"|\bKeyError: '[A-Za-z_][A-Za-z0-9_]*'|couldn't find key \S+ in (ConfigMap|Secret)"
            r"|\bno such key\b|\bkey \S+ (not found|is missing)|Could not resolve placeholder '"
            r"|\bSet the \S+ environment variable|(?-i:\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b) (is not set|must be set"
            r"|is required|is missing|is undefined|not set)"
            r"|config\S*\.(ya?ml|json|toml|ini|conf|properties|env)\b[^\n]{0,60}?(no such file or directory"
            r"|not found|does not exist)"
            r"|\bconfig(uration)? file\b[^\n]{0,80}?(no such file|not found|does not exist)",
            _I,
        ),
    ),
    (
        _PERMISSION,
        re.compile(
            r"permission denied(?! for )|\bEACCES\b|read-only file system|\bEROFS\b|operation not permitted"
            r"|\bEPERM\b|AccessDeniedException: /",
            _I,
        ),
    ),
    (
        _CREDENTIALS,
        re.compile(
            r"password authentication failed|Access denied for user|SASL authentication failed"
            r"|\bWRONGPASS\b|NOAUTH Authentication required|Login failed for user"
            r"|invalid username or password"
            r"|authentication failed for user",
            _I,
        ),
    ),
    (
        _TLS,
        re.compile(
            r"x509: |certificate has expired|certificate is not yet valid|certificate signed by unknown"
            r"|certificate verify failed|CERT_HAS_EXPIRED|unable to get local issuer certificate"
            r"|self[- ]signed certificate|tls: failed to verify certificate|SSLCertVerificationError"
            r"|PKIX path building failed|certificate is valid for",
            _I,
        ),
    ),
    (
        _DNS,
        re.compile(
            r"no such host|Name or service not known|Temporary failure in name resolution|\bENOTFOUND\b"
            r"|\bEAI_AGAIN\b|could not translate host name|Could not resolve host|UnknownHostException"
            r"|nodename nor servname provided|getaddrinfo failed|server misbehaving|can't resolve '"
            r"|server can't find \S+: NXDOMAIN|\bbad address '",
            _I,
        ),
    ),
    (
        _REFUSED,
        re.compile(
            r"connection refused|\bECONNREFUSED\b|could not connect to server|No connection could be made"
            r"|no route to host|\bEHOSTUNREACH\b|connect: connection timed out|\bETIMEDOUT\b",
            _I,
        ),
    ),
)
# Exit codes that say what failed when no text does (a shell's conventions).
_COMPLETED = Cause(
    "completed",
    "config_error",
    "the container's main process exits at once with success, and the pod restarts it forever",
    "A workload's containers must keep running; a command that finishes (a one-off task, a shell that "
    "returns, a daemon that forks into the background) belongs in a Job or needs a foreground flag.",
    "check the container's command and args: does the program stay in the foreground, or is this a "
    "one-off task that belongs in a Job",
)
_EXIT_CAUSES: dict[int, tuple[Cause, str]] = {
    0: (_COMPLETED, "exit code 0 (Completed) each time it starts"),
    127: (_COMMAND, "exit code 127: the shell did not find the command"),
    126: (_PERMISSION, "exit code 126: the command was found but could not be executed"),
    128: (_EXIT, "exit code 128: the runtime could not start the process"),
}
# Hosts the DNS and connection errors name, for the next steps (a name, never a parameter).
_HOST = re.compile(
    r"(?:lookup|dial tcp|connect to|resolve host:?|host name|getaddrinfo ENOTFOUND|ECONNREFUSED"
    r"|server can't find|can't resolve|bad address)\s+"
    r"[\"']?([a-z0-9](?:[a-z0-9.-]{0,200}[a-z0-9])?(?::\d{1,5})?)",
    _I,
)


_IP_ADDRESS = re.compile(r"^\d{1,3}(\.\d{1,3}){3}(:\d{1,5})?$")


# --- reading what a container left behind -------------------------------------------------------


def _clip(text: str, limit: int = QUOTE_CHARS) -> str:
    """One line, no control characters or backticks, at most `limit` characters."""
    line = " ".join(text.split()).replace("`", "'")
    line = "".join(ch for ch in line if ch.isprintable())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def container_crashing(c: ContainerState) -> bool:
    """A container that keeps stopping with an error (not OOM: that rule comes first)."""
    if c.state_reason in _CRASH_STATES:
        return True
    if c.state == "terminated" and c.state_exit_code not in (None, 0):
        return True
    return c.restart_count > 0 and not c.ready and c.last_exit_code not in (None, 0)


def _init_failing(c: ContainerState) -> bool:
    return container_crashing(c) or (c.state == "waiting" and c.restart_count > 0)


def pod_crashing(pod: PodState) -> bool:
    return any(container_crashing(c) for c in pod.containers) or any(
        _init_failing(c) for c in pod.init_containers
    )


def stuck_in_init(pod: PodState) -> ContainerState | None:
    """The init container a Pending pod is still running (one that waits for something, like the
    `until nslookup ...; do sleep 2; done` loops): its log may say what it waits for."""
    if pod.phase != "Pending":
        return None
    for c in pod.init_containers:
        if c.state == "terminated" and c.state_exit_code == 0:
            continue
        return c if c.state == "running" else None
    return None


def _failing_containers(pod: PodState) -> list[tuple[ContainerState, bool]]:
    """The pod's crashing containers: the first failing init container (it holds the rest back),
    or the one it is stuck in, else the regular ones."""
    for c in pod.init_containers:
        if _init_failing(c):
            return [(c, True)]
    stuck = stuck_in_init(pod)
    if stuck is not None:
        return [(stuck, True)]
    return [(c, False) for c in pod.containers if container_crashing(c)]


def _probe_events(events: Sequence[EventItem]) -> list[EventItem]:
    return [
        e
        for e in events
        if (e.reason == "Unhealthy" and _PROBE_FAILED.search(e.message))
        or (e.reason == "Killing" and _PROBE_KILL.search(e.message))
    ]


def _texts(
    observation: Observation, pod: PodState, c: ContainerState
) -> list[tuple[str, str, str]]:  # (text, source, item id), most telling first
    texts: list[tuple[str, str, str]] = []
    if c.last_state_message:
        texts.append((c.last_state_message, "the last termination message", pod.id))
    if c.state_message and c.state_reason != "CrashLoopBackOff":
        texts.append((c.state_message, f"the {c.state_reason or c.state} message", pod.id))
    logs: list[LogExcerpt] = sorted(
        (log for log in observation.logs if log.pod == pod.name and log.container == c.name),
        key=lambda log: not log.previous,
    )
    for log in logs:
        lines = [line for line in log.text.splitlines() if line.strip()][-LOG_LINES_SCANNED:]
        where = "the previous log" if log.previous else "the log"
        # newest line first: the last thing a crashing program says is usually why
        texts += [(line, where, log.id) for line in reversed(lines)]
    # The kubelet's warnings about this pod (a runtime's start error), not its probe results: a
    # probe's "connection refused" is the probe's, not a dependency's. A message that quotes a
    # container name must quote this one.
    for e in observation.events:
        if (
            e.object_kind == "Pod"
            and e.object_name == pod.name
            and e.namespace == pod.namespace
            and e.type == "Warning"
            and e.reason not in ("Unhealthy", "BackOff", "Killing")
            and (c.name in e.message or '"' not in e.message)
        ):
            texts.append((e.message, f"event {e.reason}", e.id))
    return texts


def find_cause(observation: Observation, pods: Sequence[PodState]) -> Finding | None:
    """The most specific cause any failing container of `pods` shows, with its evidence."""
    candidates = [(p, c, init) for p in pods for c, init in _failing_containers(p)]
    if not candidates:
        return None
    texts = {(p.id, c.name): _texts(observation, p, c) for p, c, _ in candidates}
    for cause, pattern in _PATTERNS:
        for p, c, init in candidates:
            for text, source, item_id in texts[(p.id, c.name)]:
                match = pattern.search(text)
                if match is None:
                    continue
                return Finding(cause, p, c.name, init, _around(text, match), source, item_id)
    for p, c, init in candidates:
        code = c.last_exit_code if c.last_exit_code is not None else c.state_exit_code
        if code == 0 and not (c.state_reason == "CrashLoopBackOff" and c.last_state_reason == "Completed"):
            continue
        if code in _EXIT_CAUSES:
            cause, said = _EXIT_CAUSES[code]
            return Finding(cause, p, c.name, init, said, f"exit code {code}", p.id)
    return None


def _around(text: str, match: re.Match[str]) -> str:
    """The matched line, clipped around the match when it is long."""
    if len(text) <= QUOTE_CHARS:
        return _clip(text)
    start = max(0, match.start() - QUOTE_CHARS // 4)
    return _clip(("…" if start else "") + text[start:], QUOTE_CHARS)


def _host(quote: str) -> str | None:
    match = _HOST.search(quote)
    return match.group(1) if match else None


def _where(f: Finding) -> str:
    kind = "init container" if f.init else "container"
    return f"{kind} {f.container} of pod {f.pod.name}"


def _next_steps(f: Finding, namespace: str, owner: str, refs: Sequence[str] = ()) -> list[str]:
    previous = " --previous" if _restarted(f) else ""
    steps = [
        f"Read the container's log: kubectl -n {namespace} logs {f.pod.name} -c {f.container}{previous}",
        f"{f.cause.check[0].upper()}{f.cause.check[1:]}.",
    ]
    if f.cause.key in ("config", "completed", "permission", "credentials") and refs:
        kind, _, obj = refs[0].split(" (", 1)[0].partition(" ")
        # describe lists a Secret's keys without printing its values
        show = f"describe secret {obj}" if kind == "Secret" else f"get configmap {obj} -o yaml"
        steps.append(
            f"{f.container} reads {'; '.join(refs)}: check that the key the error names is there and "
            f"current, e.g. kubectl -n {namespace} {show}"
        )
    if f.cause.key == "permission" and _exit_code(f) == 126:
        steps.insert(
            2,
            "Exit code 126: the file exists but may not be executed. A script in a ConfigMap or Secret "
            "volume is mounted without the executable bit unless the volume's defaultMode (or the item's "
            "mode) grants it, e.g. 0755; a volume mounted noexec refuses it too — or run it through the "
            "shell (sh <script>).",
        )
    mounted = [r for r in refs if r.startswith("ConfigMap ") and "(mounted at " in r]
    if f.cause.key == "shell" and mounted:
        obj = mounted[0].split(" (", 1)[0].partition(" ")[2]
        steps.append(
            f"{f.container} mounts {'; '.join(mounted)}: a script run from there is read from the ConfigMap "
            f"(a change to it creates no new revision to roll back to), e.g. kubectl -n {namespace} get "
            f"configmap {obj} -o yaml"
        )
    if f.cause.key in ("config", "command", "shell", "permission", "exit", "completed", "credentials"):
        steps.append(f"See the spec the pod runs with: kubectl -n {namespace} get {owner} -o yaml")
    if f.cause.key in ("dns", "refused"):
        host = _host(f.quote)
        if host and _IP_ADDRESS.match(host):
            # An address, not a name: a Service's cluster IP, a pod, or a host outside the cluster.
            steps.append(
                f"Find what should answer at {host}: a Service's cluster IP or a pod (kubectl get "
                "services,pods -A -o wide lists their addresses), else a host outside the cluster (a "
                "database VM, a managed service) whose owner checks that it runs and listens on that port"
            )
        else:
            subject = f"{host}" if host else "the downstream"
            steps.append(
                f"Check that {subject} exists and has ready endpoints: "
                f"kubectl -n {namespace} get services,endpoints (or in the downstream's namespace)"
            )
    if f.cause.key == "tls":
        steps.append(
            f"List the certificates near it: kubectl -n {namespace} get certificates,secrets "
            "(cert-manager's Certificate status says when it was last renewed)"
        )
    describe = f"Describe the pod's events: kubectl -n {namespace} describe pod {f.pod.name}"
    if "log" not in f.source:
        # The runtime's or the kubelet's word: the process may never have written a log line.
        return [describe, *steps[1:], steps[0]]
    return [*steps, describe]


def _container_of(f: Finding) -> ContainerState | None:
    return next(
        (c for c in (f.pod.init_containers if f.init else f.pod.containers) if c.name == f.container), None
    )


def _exit_code(f: Finding) -> int | None:
    """The last exit code of the finding's container (its current one when it is terminated)."""
    c = _container_of(f)
    if c is None:
        return None
    return c.last_exit_code if c.last_exit_code is not None else c.state_exit_code


def _restarted(f: Finding) -> bool:
    c = _container_of(f)
    return c is not None and c.restart_count > 0


def _quote_sentence(f: Finding) -> str:
    if f.source.startswith("exit code"):
        return f"The {_where(f)} ended with {f.quote}."
    return f'{f.source[0].upper()}{f.source[1:]} of the {_where(f)} says: "{f.quote}".'


def _pod_application(
    observation: Observation, pod: PodState
) -> tuple[str, ArgoApplication | None, GitOpsFile | None]:
    """The Argo CD application that syncs a bare Pod ("" if none): by the observed Applications'
    resources, else by the Pod's own tracking id; and the GitOps manifest that defines the Pod."""
    observed = next((a for a in observation.argocd if a.manages("Pod", pod.namespace, pod.name)), None)
    # the tracking id's first part is the application's name (`<app namespace>_<name>` outside argocd)
    name = observed.name if observed else pod.tracking.split(":", 1)[0].rpartition("_")[2]
    if not name:
        return "", None, None
    for file in observation.gitops_files:
        if file.application not in ("", name) or file.role == "application":
            continue
        if any(
            d.get("kind") == "Pod" and (d.get("metadata") or {}).get("name") == pod.name
            for d in base._documents(file)
        ):
            return name, observed, file
    return name, observed, None


# --- the rules ------------------------------------------------------------------------------------


class CrashRules:
    """The rules, bound to the analyzer whose helpers (diagnosis, release rule) they reuse."""

    def __init__(self, analyzer: OfflineAnalyzer) -> None:
        self.analyzer = analyzer

    def _diagnosis(
        self,
        root_cause: RootCause,
        summary: str,
        *,
        explanation: str,
        confidence: float,
        evidence: list[Evidence],
        next_steps: list[str],
    ) -> Diagnosis:
        found = self.analyzer._diagnosis(
            root_cause, summary, explanation=explanation, confidence=confidence, evidence=evidence
        )
        return found.model_copy(update={"next_steps": next_steps})

    # --- a crash whose cause is in the termination or the logs --------------------------------------

    def crash(self, workload: Workload, observation: Observation) -> Diagnosis | None:
        pods = base._pods_of(observation, workload)
        failing = [p for p in pods if pod_crashing(p) or stuck_in_init(p) is not None]
        if not failing:
            return None
        finding = find_cause(observation, failing)
        if finding is None:
            return None
        # A probe that kills the containers is the probe rule's (a tightened probe), not the logs'.
        if _probe_events(base._events_of(observation, failing)) and self._probe_changed(
            workload, observation
        ):
            return None
        release = self.analyzer._release(workload, observation)
        if release is not None:
            if release.root_cause != "bad_release":
                return None
            return self._with_cause(release, finding, workload)
        return self._cause_diagnosis(workload, observation, finding, failing)

    def _with_cause(self, release: Diagnosis, f: Finding, workload: Workload) -> Diagnosis:
        """The release rule's fix, with what the crashing container says as its evidence."""
        return release.model_copy(
            update={
                "explanation": f"{release.explanation} {_quote_sentence(f)} The new revision brought "
                f"this in: {f.cause.title}.",
                "evidence": [
                    *release.evidence,
                    *(
                        [Evidence(item_id=f.item_id, note=f"{f.source}: {f.cause.title}")]
                        if f.item_id not in {e.item_id for e in release.evidence}
                        else []
                    ),
                ],
                "next_steps": [
                    *release.next_steps,
                    *_next_steps(f, workload.ref.namespace, _owner_arg(workload))[:2],
                ],
            }
        )

    def _cause_diagnosis(
        self, workload: Workload, observation: Observation, f: Finding, failing: list[PodState]
    ) -> Diagnosis:
        ref = workload.ref
        revisions = base._revisions_of(observation, workload)
        newest = revisions[0] if revisions else None
        changed = (
            f" Revision {newest.revision} changed "
            f"{', '.join(base._grouped_subjects([base._change_subject(c) for c in newest.changes]))}"
            f"; if that brought the failure in and revision {newest.previous_revision} ran well, rolling "
            "back is the quick fix — no earlier healthy revision was observed, so none is proposed."
            if newest is not None and newest.changes and f.cause.root_cause != "dependency"
            else ""
        )
        ready = f"{workload.ready_replicas}/{workload.replicas} replicas ready"
        explanation = (
            f"{_quote_sentence(f)} That means {f.cause.title}. {f.cause.why_no_fix} "
            f"{len(failing)} pod(s) of {ref.kind} {ref.name} cannot run ({ready}).{changed}"
        )
        spec = next((c for c in workload.containers if c.name == f.container and not f.init), None)
        steps = _next_steps(f, ref.namespace, _owner_arg(workload), spec.config_refs if spec else ())
        if base._mode(observation, workload) == "gitops":
            app = base._application(observation, workload)
            steps.append(
                f"Argo CD{f' (application {app.name})' if app else ''} manages {ref.name}: make the "
                "change in the GitOps repository, not in the cluster"
            )
        evidence = [Evidence(item_id=p.id, note="crash-looping") for p in failing[: base.MAX_POD_EVIDENCE]]
        evidence.append(Evidence(item_id=f.item_id, note=f"{f.source}: {f.cause.title}"))
        evidence.append(Evidence(item_id=workload.id, note=ready))
        return self._diagnosis(
            f.cause.root_cause,
            f"{ref.kind} {ref.name}: the {_where(f)} fails — {f.cause.title}; a human must act.",
            explanation=explanation,
            confidence=0.7,
            evidence=evidence,
            next_steps=steps,
        )

    # --- a rollout that tightened a probe -------------------------------------------------------------

    def _probe_changed(self, workload: Workload, observation: Observation) -> bool:
        revisions = base._revisions_of(observation, workload)
        return bool(revisions) and any(
            "probe" in base._change_subject(c).lower() for c in revisions[0].changes
        )

    def probe_rollout(self, workload: Workload, observation: Observation) -> Diagnosis | None:
        """The newest revision changed only probes, and its pods fail exactly those probes.

        The release rule covers this while the previous revision's pods still serve; this one also
        covers a rollout that completed (a liveness probe passes readiness, then kills the pods)."""
        revisions = base._revisions_of(observation, workload)
        if len(revisions) < 2 or not revisions[0].changes:
            return None
        newest = revisions[0]
        previous = next((r for r in revisions if r.revision == newest.previous_revision), revisions[1])
        subjects = [base._change_subject(c) for c in newest.changes]
        probes = [s for s in subjects if "probe" in s.lower()]
        if not probes or len(probes) != len(subjects):
            return None  # more than probes changed: the release rule's call
        new_pods = [p for p in base._pods_of(observation, workload) if p.owner == newest.name]
        failing = [
            p for p in new_pods if base._pod_failing(p) or any(c.restart_count > 0 for c in p.containers)
        ]
        events = _probe_events(base._events_of(observation, failing))
        changed_kinds = {
            k for k in ("liveness", "readiness", "startup") if any(k in s.lower() for s in probes)
        }
        failed_kinds = {
            k for e in events for k in ("liveness", "readiness", "startup") if k in e.message.lower()[:40]
        }
        if not failing or not (changed_kinds & failed_kinds):
            return None
        mode, file, mode_note = base._mode_and_file(observation, workload, "template")
        ref = workload.ref
        changed = ", ".join(base._grouped_subjects(probes))
        evidence = [
            Evidence(item_id=newest.id, note=f"revision {newest.revision} changed {changed}"),
            Evidence(item_id=previous.id, note=f"revision {previous.revision}: the probes before the change"),
        ]
        evidence += [Evidence(item_id=p.id, note="fails its probe") for p in failing[: base.MAX_POD_EVIDENCE]]
        evidence += [Evidence(item_id=e.id, note=e.reason) for e in events[:5]]
        evidence += base._gitops_evidence(observation, workload, file)
        quote = _clip(events[0].message, 160)
        steps = [
            f"Compare the probes of the two revisions: kubectl -n {ref.namespace} rollout history "
            f"{_owner_arg(workload)} --revision={newest.revision}",
            "Decide with the owning team whether the application or the probe (path, port, timeoutSeconds, "
            "failureThreshold, initialDelaySeconds) should change before rolling forward again",
        ]
        if mode == "gitops" and file is None:
            steps.insert(
                0,
                "Restore the previous probe values in the GitOps repository by hand: no single "
                "file could be chosen with confidence",
            )
        return self.analyzer._diagnosis(
            "probe_failure",
            f"Revision {newest.revision} of {ref.name} changed {changed} and its pods now fail "
            f"that probe; roll back to revision {previous.revision}.",
            explanation=(
                f"The template diff of revision {newest.revision} against {previous.revision} changes "
                f"only {base._changes_quoted(newest.changes)}, "
                f'and the kubelet reports "{quote}" on {len(failing)} new pod(s). Restoring revision '
                f"{previous.revision}'s template puts back the probe values the workload ran with before. "
                f"{mode_note}."
            ),
            confidence=0.75,
            evidence=evidence,
            actions=[
                RollbackRevision(
                    target=base._target(workload), mode=mode, file=file, revision=previous.revision
                )
            ],
            impact=f"the pods run revision {previous.revision}'s probes again and stop failing them",
            rollback=f"roll forward to revision {newest.revision}'s template from the snapshot",
        ).model_copy(update={"next_steps": steps})

    # --- CPU throttling under a CPU limit --------------------------------------------------------------

    def throttling(
        self, workload: Workload, observation: Observation, incident: Incident
    ) -> Diagnosis | None:
        """Throttled while the average use is below the limit: the per-pod limit is too low for the
        pod's bursts, so more replicas would not help — raise the limit. At the limit on average,
        the pods are short of capacity as a whole: that is saturation's (scale out)."""
        pods = base._pods_of(observation, workload)
        if not pods or any(pod_crashing(p) for p in pods):
            return None
        alerted = _throttling_alerted(incident, workload)
        container = self._throttled_container(workload, observation, incident)
        if container is None:
            return None
        name, throttle_id, throttled, usage_id, usage = container
        if not (throttled is not None and throttled >= THROTTLED) and not (alerted and throttled is None):
            return None
        if usage is not None and usage >= base.SATURATION_CPU_RATIO:
            return None
        ref = workload.ref
        spec = next(c for c in workload.containers if c.name == name)
        evidence = [
            Evidence(item_id=workload.id, note=f"container {name}: CPU limit {spec.limits.get('cpu')}")
        ]
        if throttle_id:
            evidence.append(Evidence(item_id=throttle_id, note=f"{throttled:.0%} of CFS periods throttled"))
        if usage_id:
            evidence.append(Evidence(item_id=usage_id, note=f"CPU use {usage:.0%} of the limit"))
        evidence += [Evidence(item_id=p.id, note="pod running") for p in pods[: base.MAX_POD_EVIDENCE]]
        measured = (
            f"{throttled:.0%} of its CFS periods are throttled"
            if throttled is not None
            else "CPUThrottlingHigh fires for it (more than 25% of its CFS periods throttled)"
        )
        use = (
            f" while its average CPU use is {usage:.0%} of the limit"
            if usage is not None
            else " (no CPU-use series was observed)"
        )
        why = (
            "Throttled while the average use is below the limit means the pod's bursts hit the CFS quota "
            "within each 100ms period: more replicas would spread the traffic but not the bursts, so the "
            "per-pod limit is raised rather than the replica count."
            if usage is not None
            else "Without a CPU-use series nothing shows the pods short of capacity as a whole (which "
            "would call for more replicas, sized by that use); the throttling itself is the CPU limit's "
            "doing, so the per-pod limit is raised."
        )
        limit = base._quantity(spec.limits.get("cpu"))
        if limit is None or limit <= 0:
            return None
        raised = _format_cpu(min(limit * CPU_GROWTH, limit * CPU_MAX_GROWTH))
        mode, file, mode_note = base._mode_and_file(observation, workload, "resources", name)
        evidence += base._gitops_evidence(observation, workload, file)
        current = spec.limits["cpu"]
        return self.analyzer._diagnosis(
            "saturation",
            f"{ref.name}/{name} is CPU-throttled under its {current} limit; raise the CPU limit to {raised}.",
            explanation=(
                f"Container {name} is throttled: {measured}{use}. {why} The limit comes from the "
                f"spec and is doubled (at most 4x, requests unchanged). {mode_note}."
            ),
            confidence=0.7 if throttled is not None else 0.6,
            evidence=evidence,
            actions=[
                SetResources(
                    target=base._target(workload, name), mode=mode, file=file, limits={"cpu": raised}
                )
            ],
            impact=f"{name} is throttled less; latency from CPU stalls recedes",
            rollback=f"restore the CPU limit to {current} from the snapshot",
        ).model_copy(
            update={
                "next_steps": [
                    f"Watch the throttling after the change: the container_cpu_cfs_throttled_periods_total "
                    f"of {ref.namespace}/{name}",
                    f"See the pods' CPU use: kubectl -n {ref.namespace} top pods --containers",
                ]
            }
        )

    def _throttled_container(
        self, workload: Workload, observation: Observation, incident: Incident
    ) -> tuple[str, str, float | None, str, float | None] | None:
        """(container, throttling series id, throttled now, usage series id, usage now) of the most
        throttled container with a CPU limit."""
        named = {
            t.container for t in incident.targets if t.container and t.namespace == workload.ref.namespace
        }
        best: tuple[str, str, float | None, str, float | None] | None = None
        for spec in workload.containers:
            if "cpu" not in spec.limits or (named and spec.name not in named):
                continue
            throttle = _container_series(observation, "cpu_throttling", workload, spec.name)
            usage = _container_series(observation, "cpu_usage_ratio", workload, spec.name)
            t_values, u_values = base._values(throttle), base._values(usage)
            entry = (
                spec.name,
                throttle.id if throttle and t_values else "",
                t_values[-1] if t_values else None,
                usage.id if usage and u_values else "",
                u_values[-1] if u_values else None,
            )
            if best is None or (entry[2] or 0.0) > (best[2] or 0.0):
                best = entry
        return best

    # --- bare Pods ----------------------------------------------------------------------------------

    def bare_pods(self, incident: Incident, observation: Observation) -> Diagnosis | None:
        """Pods no controller owns: explain, never act (there is nothing to patch; a human recreates
        the Pod from its manifest with the fix)."""
        bare = [p for p in observation.pods if not p.owner and not p.owner_kind]
        if observation.workloads or not bare:
            return None
        # A bare Pod that ran to completion (restartPolicy Never, exit 0) is done, not failing.
        failing = [
            p for p in bare if p.phase != "Succeeded" and (not base._pod_healthy(p) or pod_crashing(p))
        ]
        namespace = bare[0].namespace
        if not failing:
            return self._bare_healthy(incident, observation, bare)
        pod = failing[0]
        events = [e for e in observation.events if e.object_kind == "Pod" and e.object_name == pod.name]
        evidence = [Evidence(item_id=p.id, note="bare Pod (no controller), failing") for p in failing[:5]]
        app, observed, file = _pod_application(observation, pod)
        if not app:
            recreate = (
                f"Pod {pod.name} has no controller (no ownerReferences): nothing recreates it and medic "
                "has no workload to patch, so a human must recreate it with the fix"
            )
            headline = "a human must recreate it (nothing to patch)"
            steps_tail = [
                f"Save its manifest, fix it and recreate it: kubectl -n {namespace} get pod {pod.name} "
                "-o yaml",
                "Consider running it under a Deployment, StatefulSet or Job so that a fix can be rolled out",
            ]
        else:
            where = f" ({file.path})" if file is not None else ""
            recreate = (
                f"Pod {pod.name} has no controller (no ownerReferences), and Argo CD application {app} "
                f"syncs it from Git{where}: medic has no workload to patch, and a Pod changed or recreated "
                "by hand would be reverted by the next sync, so the fix belongs in that manifest. A Pod's "
                "spec cannot change in place: the corrected manifest takes effect when Argo CD replaces "
                "the Pod"
            )
            headline = f"fix its manifest in Git (Argo CD application {app}); nothing to patch"
            steps_tail = [
                f"Fix the Pod's manifest in Git{f', {file.path}' if file is not None else ''} (Argo CD "
                f"application {app} tracks it), not the live Pod: `argocd app diff {app}` shows what the "
                "next sync changes",
                "A Pod's spec is immutable, so the sync must replace the Pod (the Replace=true or Force sync "
                "option, or the Pod removed so that the sync creates it anew); a one-off task is better "
                "written as a Job, which Argo CD can recreate",
            ]
            if observed is not None:
                evidence.append(
                    Evidence(item_id=observed.id, note=f"Argo CD application {app} tracks the Pod")
                )
            if file is not None:
                evidence.append(Evidence(item_id=file.id, note="the manifest that defines the Pod"))
        cause = self._bare_cause(observation, pod, failing, events)
        root_cause, what, said, item, steps = cause
        if item:
            evidence.append(Evidence(item_id=item, note=what))
        return self._diagnosis(
            root_cause,
            f"Bare Pod {namespace}/{pod.name} fails — {what}; {headline}.",
            explanation=f"{said} {recreate}.",
            confidence=0.7 if root_cause != "unknown" else 0.3,
            evidence=evidence,
            next_steps=steps + steps_tail,
        )

    def _bare_cause(
        self, observation: Observation, pod: PodState, failing: list[PodState], events: list[EventItem]
    ) -> tuple[RootCause, str, str, str, list[str]]:
        """(category, what fails, the sentence that cites it, evidence id, next steps)."""
        ns = pod.namespace
        describe = f"Describe the pod: kubectl -n {ns} describe pod {pod.name}"
        scheduling = [e for e in events if e.reason == "FailedScheduling"]
        if pod.phase == "Pending" and not pod.node and scheduling:
            quote = _clip(scheduling[0].message)
            return (
                "unschedulable",
                "no node can take it",
                f'The scheduler says: "{quote}".',
                scheduling[0].id,
                [
                    describe,
                    "Check node capacity, taints and labels (kubectl get nodes -o wide) and "
                    "compare them with the pod's requests, tolerations and nodeSelector/affinity",
                ],
            )
        for c in pod.containers:
            if c.state_reason in base._PULL_REASONS:
                quote = _clip(c.state_message or c.state_reason)
                return (
                    "image_pull",
                    f"the image of container {c.name} cannot be pulled",
                    f'Container {c.name} is {c.state_reason}: "{quote}".',
                    pod.id,
                    [describe, "Check the image name and tag, and the pod's imagePullSecrets"],
                )
            if c.state_reason in base._CONFIG_REASONS:
                quote = _clip(c.state_message or c.state_reason)
                return (
                    "config_error",
                    f"container {c.name} cannot be created from its configuration",
                    f'Container {c.name} is {c.state_reason}: "{quote}".',
                    pod.id,
                    [
                        describe,
                        "Check the ConfigMaps and Secrets it references: "
                        f"kubectl -n {ns} get configmaps,secrets",
                    ],
                )
            if "OOMKilled" in (c.last_state_reason, c.state_reason):
                return (
                    "oom",
                    f"container {c.name} is OOMKilled",
                    f"Container {c.name}'s last termination is OOMKilled (exit code {c.last_exit_code}).",
                    pod.id,
                    [describe, "Raise the container's memory limit in the manifest you recreate it from"],
                )
        finding = find_cause(observation, failing)
        if finding is not None:
            return (
                finding.cause.root_cause,
                finding.cause.title,
                f"{_quote_sentence(finding)} That means {finding.cause.title}.",
                finding.item_id,
                [s for s in _next_steps(finding, ns, f"pod {pod.name}") if not s.startswith("See the spec")],
            )
        probes = _probe_events(events)
        if probes:
            quote = _clip(probes[0].message)
            return (
                "probe_failure",
                "its probe fails",
                f'The kubelet reports "{quote}".',
                probes[0].id,
                [describe, "Check the probe's path, port and timeouts against what the container serves"],
            )
        crashing = next((c for c in pod.containers if container_crashing(c)), None)
        detail = (
            f"Container {crashing.name} keeps stopping (last exit code {crashing.last_exit_code}) and "
            "neither its termination message, its logs nor its events say why."
            if crashing is not None
            else f"The pod is {pod.phase or 'not ready'} and no rule explains why."
        )
        return (
            "unknown",
            "no rule explains why",
            detail,
            "",
            [f"Read its logs: kubectl -n {ns} logs {pod.name} --all-containers --previous", describe],
        )

    def _bare_healthy(self, incident: Incident, observation: Observation, bare: list[PodState]) -> Diagnosis:
        names = ", ".join(p.name for p in bare[:3])
        if any(a.lower() in THROTTLING_ALERTS for a in base._alert_names(incident)):
            ns = bare[0].namespace
            return self._diagnosis(
                "saturation",
                f"Bare Pod(s) {names} are CPU-throttled; a human must raise the limit by recreating them.",
                explanation=(
                    f"CPUThrottlingHigh fires for {ns}/{names}, which no controller owns: its CPU limit is "
                    "too low for its bursts, but a Pod's resources cannot be patched (nothing owns it to "
                    "roll the change out), so a human must recreate it with a higher CPU limit."
                ),
                confidence=0.6,
                evidence=[Evidence(item_id=p.id, note="bare Pod (no controller), running") for p in bare[:5]],
                next_steps=[
                    f"See its CPU use: kubectl -n {ns} top pod {bare[0].name} --containers",
                    f"Recreate it with a higher CPU limit: kubectl -n {ns} get pod {bare[0].name} -o yaml, "
                    "raise resources.limits.cpu, and replace the Pod",
                ],
            )
        return self.analyzer._diagnosis(
            "none",
            f"Bare Pod(s) {names} are running and ready; the alert no longer reflects a fault.",
            explanation=(
                "Every named Pod is ready and no container is waiting or crashing. Nothing is changed."
            ),
            confidence=0.6,
            evidence=[Evidence(item_id=p.id, note="ready") for p in bare[:5]],
        )


# --- helpers ----------------------------------------------------------------------------------------


def _owner_arg(workload: Workload) -> str:
    return f"{workload.ref.kind.lower()}/{workload.ref.name}"


def _throttling_alerted(incident: Incident, workload: Workload) -> bool:
    ref = workload.ref

    def about(labels: dict[str, str]) -> bool:
        pod = labels.get("pod", "")
        named = labels.get(ref.kind.lower(), "")
        return (pod.startswith(f"{ref.name}-") or named == ref.name) if (pod or named) else True

    return any(
        a.labels.get("alertname", "").lower() in THROTTLING_ALERTS
        and a.labels.get("namespace", "") == ref.namespace
        and about(a.labels)
        for a in incident.alerts
    )


def _container_series(
    observation: Observation, name: str, workload: Workload, container: str
) -> MetricSeries | None:
    """The container's series: `metric/<name>/<ns>/<workload>/<container>` when the workload has
    several containers, else the workload's own."""
    base_id = f"metric/{name}/{workload.ref.namespace}/{workload.ref.name}"
    for m in observation.metrics:
        if m.name == name and m.samples and m.id in (f"{base_id}/{container}", base_id):
            return m
    return None


def _format_cpu(cores: Decimal) -> str:
    millis = int((cores * 1000).to_integral_value())
    return f"{millis // 1000}" if millis % 1000 == 0 else f"{millis}m"
