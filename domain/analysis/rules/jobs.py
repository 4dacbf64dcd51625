"""Failed and stuck Jobs: why the Job controller gave up (`BackoffLimitExceeded`,
`DeadlineExceeded`), read from the Job's conditions and events, and what its pods say — their
terminations (reason, exit code) and the last lines of their logs.

A Job is never patched: its pod template is immutable, and a failed Job is not retried. The
diagnosis names the cause, the CronJob that created the Job when there is one, and the next steps
(fix the cause in the template's owner, then run the Job again).

The log classifier below is small and local to Jobs: it only picks a category and the line to
quote. Logs are untrusted text; nothing in a plan ever comes from them (a Job's plan is empty).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from domain.analysis.plan import Diagnosis, Evidence, Plan, RootCause
from domain.analysis.rules import scheduling
from domain.kube.observation import ContainerState, EventItem, JobState, LogExcerpt, Observation, PodState

MAX_QUOTE = 220
MAX_POD_EVIDENCE = 4
FAILED_REASONS = ("BackoffLimitExceeded", "DeadlineExceeded", "PodFailurePolicy", "MaxFailedIndexesExceeded")
_PULL_REASONS = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName"}
_CONFIG_REASONS = {"CreateContainerConfigError", "CreateContainerError"}


@dataclass(frozen=True)
class Cause:
    """What a failed pod's logs or termination say: a category, a plain-words label, the line
    (or termination) that says it, and where it was found."""

    root_cause: RootCause
    label: str
    quote: str
    item_id: str
    step: str


# (pattern, category, label, next step) — first match wins, most specific first.
_PATTERN_TEXTS: tuple[tuple[str, RootCause, str, str], ...] = (
    (
        r"x509: certificate has expired|certificate verify failed|certificate_verify_failed|"
        r"x509: certificate signed by unknown authority|tls: failed to verify certificate",
        "dependency",
        "a TLS certificate of a service it calls is expired or not trusted",
        "renew or trust the certificate of the service the Job calls (or the CA bundle it mounts)",
    ),
    (
        r"no such host|name or service not known|temporary failure in name resolution|"
        r"could not translate host name|getaddrinfo (?:enotfound|eai_again)|nodename nor servname",
        "dependency",
        "a host name it connects to does not resolve (DNS)",
        "check the host name in the Job's configuration and that the Service or DNS record exists",
    ),
    (
        r"connection refused|econnrefused|connect: connection refused|could not connect to server|"
        r"failed to connect to|connection reset by peer",
        "dependency",
        "a service it connects to refuses the connection",
        "check that the service the Job connects to is up and reachable from its namespace "
        "(its pods, Service endpoints, NetworkPolicies)",
    ),
    (
        r"i/o timeout|context deadline exceeded|connection timed out|timed out connecting|"
        r"timeout expired",
        "dependency",
        "a service it calls does not answer in time",
        "check the service the Job calls and the network path to it (NetworkPolicies, egress)",
    ),
    (
        r"password authentication failed|access denied for user|authentication failed|"
        r"invalid credentials|401 unauthorized|403 forbidden",
        "config_error",
        "the credentials it uses are refused",
        "check the Secret the Job reads its credentials from",
    ),
    (
        r"keyerror: '([a-z0-9_]+)'|environment variable \S+ (?:is )?(?:not set|missing|required|unset)|"
        r"missing required (?:env(?:ironment)? var\w*|config\w*)|"
        r"\b(?-i:[A-Z][A-Z0-9_]{2,}) (?:is not set|must be set|is required)|"
        r"required (?:key|setting|variable) \S+ (?:is )?(?:missing|not set)",
        "config_error",
        "a setting it needs (an environment variable or configuration key) is missing",
        "set the missing variable or key in the Job's template (env, ConfigMap, Secret)",
    ),
    (
        r"exec format error|executable file not found|command not found|no such file or directory",
        "config_error",
        "its command or a file it needs does not exist in the container",
        "fix the command / args or the mounted file in the Job's template, or the image",
    ),
    (
        r"permission denied|read-only file system|operation not permitted",
        "config_error",
        "it is not allowed to write or run something (permissions, read-only filesystem)",
        "check the securityContext and the volume it writes to",
    ),
    (
        r"out of memory|memoryerror|java\.lang\.outofmemoryerror|cannot allocate memory",
        "oom",
        "it runs out of memory",
        "raise the memory limit in the Job's template, or process less per run",
    ),
)
_LOG_PATTERNS: tuple[tuple[re.Pattern[str], RootCause, str, str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), category, label, step)
    for pattern, category, label, step in _PATTERN_TEXTS
)
_ERROR_LINE = re.compile(r"\b(error|exception|fatal|panic|traceback|failed)\b", re.IGNORECASE)


def _clip(text: str, limit: int = MAX_QUOTE) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


_SIGNALS = {
    137: "SIGKILL: killed",
    143: "SIGTERM: stopped",
    139: "SIGSEGV: crashed",
    126: "not executable",
    127: "command not found",
}


def _exit_meaning(code: int) -> str:
    return f"{code} ({_SIGNALS[code]})" if code in _SIGNALS else str(code)


def _terminations(pod: PodState) -> list[ContainerState]:
    return [c for c in pod.containers if c.state == "terminated" or c.last_state_reason]


def _exit_code(c: ContainerState) -> int | None:
    return c.state_exit_code if c.state_exit_code is not None else c.last_exit_code


def _from_termination(pod: PodState) -> Cause | None:
    for c in pod.containers:
        reason = c.state_reason or c.last_state_reason
        code = _exit_code(c)
        where = f"container {c.name} of {pod.name}"
        if reason == "OOMKilled" or c.last_state_reason == "OOMKilled":
            return Cause(
                "oom",
                "it is OOMKilled (it exceeds its memory limit)",
                f"{where}: OOMKilled",
                pod.id,
                "raise the memory limit in the Job's template, or process less per run",
            )
        if c.state_reason in _PULL_REASONS:
            return Cause(
                "image_pull",
                "its image cannot be pulled",
                f"{where}: {c.state_reason} {_clip(c.state_message, 160)}",
                pod.id,
                "fix the image reference or the pull credentials in the Job's template",
            )
        if c.state_reason in _CONFIG_REASONS:
            return Cause(
                "config_error",
                "its container cannot be created from its configuration",
                f"{where}: {c.state_reason} {_clip(c.state_message, 160)}",
                pod.id,
                "create the ConfigMap / Secret or key the Job's template references",
            )
        if code in (126, 127) or reason in ("StartError", "ContainerCannotRun"):
            return Cause(
                "config_error",
                "its command cannot be run (not found or not executable)",
                f"{where}: {reason or 'terminated'}, exit code {code} {_clip(c.state_message, 160)}".strip(),
                pod.id,
                "fix the command / args in the Job's template, or the image",
            )
    return None


# The name of a missing setting, to say which one (display text only).
_SETTING_NAME = re.compile(
    r"KeyError: '([A-Za-z0-9_]+)'|variable ([A-Z][A-Z0-9_]+)|"
    r"\b([A-Z][A-Z0-9_]{2,}) (?:is not set|must be set|is required)"
)


def _from_logs(logs: Sequence[LogExcerpt]) -> Cause | None:
    for pattern, category, label, step in _LOG_PATTERNS:
        for log in logs:
            for line in reversed(log.text.splitlines()):
                if pattern.search(line):
                    named = _SETTING_NAME.search(line) if category == "config_error" else None
                    if named is not None:
                        name = next(g for g in named.groups() if g)
                        step = f"{step}: {name} is the one the log names"
                    return Cause(category, label, _clip(line), log.id, step)
    return None


def _last_error_line(logs: Sequence[LogExcerpt]) -> tuple[str, str] | None:
    for log in logs:
        lines = [line for line in log.text.splitlines() if line.strip()]
        for line in reversed(lines):
            if _ERROR_LINE.search(line):
                return _clip(line), log.id
        if lines:
            return _clip(lines[-1]), log.id
    return None


def _failed_condition(job: JobState, events: Sequence[EventItem]) -> tuple[str, str] | None:
    """(reason, message) of the Job's failure: its Failed condition, else its controller's event."""
    for condition in job.conditions:
        if condition.type == "Failed" and condition.status == "True":
            return condition.reason or "Failed", condition.message
    for event in events:
        if event.reason in FAILED_REASONS:
            return event.reason, event.message
    return None


def _tracked_by(job: JobState) -> str:
    return job.tracking.split(":", 1)[0] if job.tracking else ""


def _subject(job: JobState) -> scheduling.Subject:
    return scheduling.Subject(
        kind="Job",
        namespace=job.namespace,
        name=job.name,
        item_id=job.id,
        containers=tuple(job.containers),
        managed_by=_tracked_by(job),
        cronjob=job.cronjob,
    )


def _rerun_steps(job: JobState, downstream: bool) -> list[str]:
    ns = job.namespace
    steps = [
        f"`kubectl describe job {job.name} -n {ns}` and `kubectl logs job/{job.name} -n {ns}` show the "
        "failure and the last pod's log."
    ]
    app = _tracked_by(job)
    if downstream:
        again = (
            f"a manual Job created from the jobTemplate of CronJob {ns}/{job.cronjob}, or wait for its "
            "next schedule"
            if job.cronjob
            else f"delete Job {job.name} and apply it anew (a failed Job is not retried)"
        )
        steps.append(
            f"The Job itself needs no change: once the service it calls is back, run it again: {again}."
        )
        return steps
    if job.cronjob:
        where = f"CronJob {job.cronjob}'s jobTemplate"
        if app:
            where += f" in Git (Argo CD application {app} manages the CronJob)"
        steps.append(
            f"Fix the cause in {where}; the next scheduled run uses it. To run it now, create a manual Job "
            f"from the jobTemplate of CronJob {ns}/{job.cronjob}."
        )
    elif app:
        steps.append(
            f"Fix the cause in the Job's manifest in Git (Argo CD application {app} manages it); a Job's pod "
            f"template is immutable, so let Argo CD replace it (sync with Replace, or delete the failed Job "
            f"and sync) to run it again."
        )
    else:
        steps.append(
            f"Fix the cause in the Job's manifest, then run it again: a Job's pod template is immutable "
            f"and a failed Job is not retried, so delete Job {job.name} and apply it anew."
        )
    return steps


def diagnose_job(job: JobState, observation: Observation, analyzer: str) -> Diagnosis | None:
    pods = [p for p in observation.pods if p.namespace == job.namespace and p.owner == job.name]
    subject = _subject(job)
    pending = scheduling.diagnose_pending(subject, pods, observation, analyzer)
    job_events = [
        e
        for e in observation.events
        if e.namespace == job.namespace
        and (
            (e.object_kind == "Job" and e.object_name == job.name)
            or (e.object_kind == "CronJob" and job.cronjob and e.object_name == job.cronjob)
        )
    ]
    failed = _failed_condition(job, job_events)
    if failed is None and pending is not None:
        # A Job's pod template cannot be changed in place: the fix is a new Job.
        immutable = (
            f"A Job's pod template is immutable: after the fix, delete Job {job.name} (its pending pod goes "
            "with it) and create it again"
            + (f" from CronJob {job.cronjob}" if job.cronjob else "")
            + (f" — let Argo CD ({_tracked_by(job)}) re-create it from Git." if _tracked_by(job) else ".")
        )
        return pending.model_copy(update={"next_steps": [*pending.next_steps, immutable]})
    failed_pods = [
        p
        for p in pods
        if p.phase == "Failed"
        or any(
            (_exit_code(c) or 0) != 0 or c.state_reason in _PULL_REASONS | _CONFIG_REASONS
            for c in p.containers
        )
    ]
    if failed is None and not failed_pods:
        return pending
    names = {p.name for p in failed_pods} or {p.name for p in pods}
    logs = sorted((log for log in observation.logs if log.pod in names), key=lambda log: not log.previous)
    cause = next((c for p in failed_pods if (c := _from_termination(p)) is not None), None) or _from_logs(
        logs
    )

    owner = f" (created by CronJob {job.cronjob})" if job.cronjob else ""
    reason, message = failed if failed is not None else ("", "")
    sentences: list[str] = []
    evidence = [
        Evidence(
            item_id=job.id, note=f"{reason or 'failing'}: {job.failed} failed, {job.succeeded} succeeded"
        )
    ]
    evidence += [
        Evidence(item_id=e.id, note=f"{e.reason}: {_clip(e.message, 120)}")
        for e in job_events
        if e.type == "Warning"
    ][:3]
    if reason == "DeadlineExceeded":
        limit = f" ({job.active_deadline_seconds}s)" if job.active_deadline_seconds else ""
        sentences.append(
            f"Job {job.name}{owner} ran longer than its activeDeadlineSeconds{limit}; the Job controller "
            f'stopped it: {reason} "{_clip(message)}".'
        )
    elif reason:
        limit = f" of {job.backoff_limit}" if job.backoff_limit is not None else ""
        sentences.append(
            f'Job {job.name}{owner} failed: {reason} "{_clip(message)}" — {job.failed} pod(s) failed, '
            f"reaching its backoffLimit{limit}."
        )
    else:
        sentences.append(f"Job {job.name}{owner} has not completed: {len(failed_pods)} pod(s) failed so far.")
    codes = sorted({code for p in failed_pods for c in p.containers if (code := _exit_code(c)) is not None})
    if codes:
        sentences.append(f"Its pods exited with code {', '.join(_exit_meaning(c) for c in codes)}.")
    evidence += [Evidence(item_id=p.id, note="failed pod") for p in failed_pods[:MAX_POD_EVIDENCE]]
    steps: list[str] = []
    if cause is not None:
        sentences.append(f'The cause: {cause.label} — "{cause.quote}".')
        evidence.append(Evidence(item_id=cause.item_id, note=cause.label))
        steps.append(f"Fix the cause: {cause.step}.")
        root_cause: RootCause = cause.root_cause
        headline = cause.label
    else:
        line = _last_error_line(logs)
        if line is not None:
            sentences.append(f'The last error its pods logged: "{line[0]}"; no known cause matches it.')
            evidence.append(Evidence(item_id=line[1], note="the last error logged"))
        elif reason == "DeadlineExceeded":
            sentences.append("Its pods logged nothing that explains the delay.")
        else:
            sentences.append("No log or termination of its pods was observed that says why.")
        steps.append("Read the failed pods' logs and fix what they report before running the Job again.")
        root_cause = "unknown"
        headline = (
            "the deadline passed" if reason == "DeadlineExceeded" else "the pods' logs name no known cause"
        )
    if pending is not None:
        sentences.append(pending.explanation)
        steps += pending.next_steps
        evidence += pending.evidence
    sentences.append(
        "A Job is not patched: its template is immutable and a failed Job is not retried, so a human "
        "fixes the cause and runs it again."
    )
    steps += _rerun_steps(job, downstream=root_cause == "dependency")
    seen: set[str] = set()
    unique = []
    for item in evidence:
        if item.item_id not in seen:
            seen.add(item.item_id)
            unique.append(item)
    what = f"CronJob {job.cronjob}'s Job {job.name}" if job.cronjob else f"Job {job.name}"
    verdict = reason or "has failing pods"
    return Diagnosis(
        root_cause=root_cause,
        summary=f"{what} {'failed (' + verdict + ')' if reason else verdict}: {headline}; no automatic fix.",
        explanation=" ".join(sentences),
        next_steps=list(dict.fromkeys(steps)),
        confidence=0.75 if cause is not None else 0.5,
        evidence=unique,
        plan=Plan(),
        analyzer=analyzer,
    )


def _still_running(job: JobState, observation: Observation, analyzer: str) -> Diagnosis | None:
    """A Job whose pods run without failing (KubeJobNotCompleted): nothing says why it is slow."""
    done = any(c.type in ("Complete", "SuccessCriteriaMet") and c.status == "True" for c in job.conditions)
    pods = [p for p in observation.pods if p.namespace == job.namespace and p.owner == job.name]
    running = [p for p in pods if p.phase == "Running"]
    if done or not running:
        return None
    ns = job.namespace
    deadline = (
        f"it has an activeDeadlineSeconds of {job.active_deadline_seconds}s"
        if job.active_deadline_seconds
        else "it sets no activeDeadlineSeconds, so nothing stops it"
    )
    line = _last_error_line(
        sorted(
            (log for log in observation.logs if log.pod in {p.name for p in running}),
            key=lambda log: log.previous,
        )
    )
    said = f' Its last log line: "{line[0]}".' if line is not None else ""
    evidence = [Evidence(item_id=job.id, note=f"{job.active} active, {job.succeeded} succeeded")]
    evidence += [Evidence(item_id=p.id, note="running") for p in running[:MAX_POD_EVIDENCE]]
    if line is not None:
        evidence.append(Evidence(item_id=line[1], note="the last line logged"))
    return Diagnosis(
        root_cause="unknown",
        summary=f"Job {job.name} is still running ({len(running)} pod(s)) and has not completed; "
        "nothing observed says why.",
        explanation=f"Job {job.name} has {job.active} active pod(s), none failed; {deadline}.{said} A slow "
        "or hung run is not something to patch: a human decides whether to wait or stop it.",
        next_steps=[
            f"`kubectl logs job/{job.name} -n {ns} --tail=50` shows whether it still makes progress.",
            f"If it hangs, delete Job {job.name} and run it again; set activeDeadlineSeconds so a hung "
            "run ends on its own.",
        ],
        confidence=0.3,
        evidence=evidence,
        plan=Plan(),
        analyzer=analyzer,
    )


def diagnose_jobs(observation: Observation, analyzer: str) -> Diagnosis | None:
    """The first observed Job that failed, is failing or waits for the scheduler, diagnosed; else
    the first one still running without failing, as unknown."""
    for job in observation.jobs:
        found = diagnose_job(job, observation, analyzer)
        if found is not None:
            return found
    for job in observation.jobs:
        found = _still_running(job, observation, analyzer)
        if found is not None:
            return found
    return None


__all__ = ["Cause", "diagnose_job", "diagnose_jobs"]
