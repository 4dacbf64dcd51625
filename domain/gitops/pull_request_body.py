"""The words of a medic pull request: title, Markdown body and commit message. Pure.

A fix PR's body says why (the diagnosis: root cause, summary, explanation, the evidence), what
(the exact diff of every file, as `domain.gitops.edit` computed it, in ```diff fences), how
risky and who decided (the policy's risk, reasons, violations, approvals required, the approvers
so far), and how to undo it (the revert PR medic opens when verification fails, and
`git revert -m 1 <merge commit>` by hand). A revert PR names the failed verification and the fix
PR it reverts. Both end with a hidden marker, `<!-- medic:incident=<id> kind=<kind> -->`, that
tells a webhook which incident a PR belongs to (`parse_marker`).

What the caller can rely on:

- Secrets never appear (design rule 6): every piece of text, the diffs included, goes through
  `domain.redaction`, and the finished body is redacted once more. Text without secrets is kept
  byte for byte, so a diff reads exactly as it will be committed.
- The body fits GitHub's limit (`BODY_LIMIT` characters): long free text is clipped first, then
  diffs are cut at a line boundary with a note that the branch holds the full change; the
  marker always survives. The title fits `TITLE_LIMIT`.
- The same input gives the same text (no clock, no randomness), so a retried activity opens
  the same PR with the same commit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import quote

from domain.analysis.plan import Action, Diagnosis, Plan, RevertDeploy
from domain.base import Frozen
from domain.gitops.edit import FileChange
from domain.gitops.pull_requests import PullRequest, PullRequestKind, branch_for
from domain.policy.approval import Approval
from domain.policy.decision import PolicyDecision
from domain.redaction.text import redact_text
from domain.review.plan_impact import PlanImpact

# The trailer of every commit medic makes, naming its incident: a deploy of such commits is medic's own.
INCIDENT_TRAILER = "Medic-Incident"

# GitHub refuses a PR body longer than this many characters, and a title longer than 256.
BODY_LIMIT = 65_536
TITLE_LIMIT = 256
# Free text is clipped to these lengths before any diff is cut.
_EXPLANATION_LIMIT = 8_000
_NOTE_LIMIT = 600
_MARKER = re.compile(r"<!-- medic:incident=(?P<incident>[^\s>]+) kind=(?P<kind>fix|revert) -->")
_BACKTICKS = re.compile(r"`+")


class PullRequestText(Frozen):
    """What a PR says: `title`, Markdown `body` and the branch commit's `commit_message`."""

    title: str
    body: str
    commit_message: str


def marker(incident_id: str, kind: PullRequestKind = "fix") -> str:
    """The hidden line that ties a PR body to its incident."""
    return f"<!-- medic:incident={incident_id} kind={kind} -->"


def parse_marker(body: str) -> tuple[str, PullRequestKind] | None:
    """The incident id and kind a PR body's marker names; None when it has none."""
    found = _MARKER.search(body or "")
    if found is None:
        return None
    kind: PullRequestKind = "revert" if found.group("kind") == "revert" else "fix"
    return found.group("incident"), kind


def describe_action(action: Action) -> str:
    """One line saying what an action changes, e.g. `raise limits memory=512Mi of shop/Deployment/cart`."""
    target = f"{action.target.namespace}/{action.target.kind}/{action.target.name}"
    if action.target.container:
        target += f" ({action.target.container})"
    if action.kind == "set_resources":
        parts = [f"limits {_pairs(action.limits)}"] if action.limits else []
        parts += [f"requests {_pairs(action.requests)}"] if action.requests else []
        return f"set {', '.join(parts) or 'resources'} of {target}"
    if action.kind == "set_image":
        return f"set image of {target} to {action.image}"
    if action.kind == "scale":
        return f"scale {target} to {action.replicas} replicas"
    if action.kind == "restart":
        return f"restart {target}"
    if action.kind == "rollback_revision":
        return f"roll {target} back to revision {action.revision}"
    return f"sync Argo CD application {action.application}"


def action_summary(plan: Plan, changes: Sequence[FileChange] = ()) -> str:
    """What the change does, in one line: the plan's actions that the files change."""
    indexes = sorted({i for change in changes for i in change.actions})
    actions = [plan.actions[i] for i in indexes if i < len(plan.actions)] or list(plan.actions)
    described = [describe_action(a) for a in actions]
    if not described:
        described = [change.description for change in changes if change.description]
    if not described:
        return "GitOps change"
    return described[0] if len(described) == 1 else f"{described[0]} (+{len(described) - 1} more)"


def fix_pull_request_text(
    incident_id: str,
    diagnosis: Diagnosis,
    changes: Sequence[FileChange],
    *,
    decision: PolicyDecision | None = None,
    impact: PlanImpact | None = None,
    approvals: Sequence[Approval] = (),
    console_url: str = "",
    limit: int = BODY_LIMIT,
) -> PullRequestText:
    """Title, body and commit message of the PR that makes `changes` for `incident_id`. With
    `impact` (the plan's change review), an Impact section says its monthly cost delta and
    downtime, in one line, and what it could not assess."""
    summary = _clean(action_summary(diagnosis.plan, changes))
    title = _clip_line(f"medic: {summary}", TITLE_LIMIT)
    head: list[str] = [
        "## Why",
        "",
        f"**Root cause:** `{diagnosis.root_cause}` (confidence {diagnosis.confidence:.0%}, "
        f"analyzer `{_clean(diagnosis.analyzer)}`)",
        "",
        _clip(_clean(diagnosis.summary), _NOTE_LIMIT * 2),
    ]
    if diagnosis.explanation:
        head += ["", _clip(_clean(diagnosis.explanation), _EXPLANATION_LIMIT)]
    if diagnosis.evidence:
        head += ["", "### Evidence", ""]
        head += [f"- `{_clean(e.item_id)}`: {_clip(_clean(e.note), _NOTE_LIMIT)}" for e in diagnosis.evidence]
    head += ["", "## What", ""]
    head += [f"- {_clean(describe_action(a))}" for a in diagnosis.plan.actions] or ["- (no actions)"]
    if diagnosis.plan.expected_impact:
        head += ["", f"**Expected impact:** {_clip(_clean(diagnosis.plan.expected_impact), _NOTE_LIMIT)}"]
    if impact is not None:
        head += ["", "## Impact", "", _clip(_clean(impact.summary), _NOTE_LIMIT * 2)]
        if impact.not_assessed and len(impact.not_assessed) < len(diagnosis.plan.actions):
            head += ["", f"Not assessed: {_clip(_clean('; '.join(impact.not_assessed)), _NOTE_LIMIT)}"]

    tail: list[str] = ["## Risk and decision", ""]
    if decision is not None:
        tail.append(
            f"- **Risk:** `{decision.risk}` · allowed: {'yes' if decision.allowed else 'no'} · "
            f"approvals required: {decision.approvals_required} · "
            f"auto-execute: {'yes' if decision.auto_execute else 'no'}"
        )
        tail += [f"- {_clip(_clean(reason), _NOTE_LIMIT)}" for reason in decision.reasons]
        tail += [
            f"- violation `{_clean(v.rule)}`: {_clip(_clean(v.message), _NOTE_LIMIT)}"
            for v in decision.violations
        ]
        if decision.approvers:
            tail.append(f"- may approve: {', '.join(_clean(a) for a in decision.approvers)}")
    else:
        tail.append("- no policy decision recorded")
    if approvals:
        tail += ["", "**Decisions:**", ""]
        for a in approvals:
            reason = f": {_clip(_clean(a.reason), _NOTE_LIMIT)}" if a.reason else ""
            tail.append(f"- {a.decision} by **{_clean(a.approver)}** via {_clean(a.via)}{reason}")
    tail += [
        "",
        "## Rollback",
        "",
        f"If verification fails after this PR is merged, medic opens a revert PR from "
        f"`{branch_for(incident_id, 'revert')}` that restores these files as they were.",
    ]
    if diagnosis.plan.rollback:
        tail += ["", f"The plan's rollback: {_clip(_clean(diagnosis.plan.rollback), _NOTE_LIMIT)}"]
    tail += [
        "",
        "By hand: `git revert -m 1 <merge commit of this PR>` on the base branch.",
        "",
        *_footer(incident_id, console_url),
    ]
    body = _assemble(head, changes, tail, marker(incident_id, "fix"), incident_id, limit)

    files = ", ".join(_clean(c.path) for c in changes) or "(none)"
    commit = [
        f"medic: {summary} ({incident_id})",
        "",
        f"Root cause: {diagnosis.root_cause}: {_clip(_clean(diagnosis.summary), 500)}",
        f"Files: {files}",
    ]
    if decision is not None:
        commit.append(f"Risk: {decision.risk}")
    commit += ["", f"{INCIDENT_TRAILER}: {incident_id}"]
    return PullRequestText(title=title, body=body, commit_message=redact_text("\n".join(commit)) + "\n")


def revert_pull_request_text(
    incident_id: str,
    fix: PullRequest,
    reason: str,
    changes: Sequence[FileChange],
    *,
    console_url: str = "",
    limit: int = BODY_LIMIT,
) -> PullRequestText:
    """Title, body and commit message of the PR that reverts `fix` because verification failed."""
    fix_title = _clean(fix.title) or f"medic fix for {incident_id}"
    title = _clip_line(f"Revert: {fix_title}", TITLE_LIMIT)
    why = _clip(_clean(reason), _EXPLANATION_LIMIT) or "verification failed"
    merge = f"`{fix.merge_commit}`" if fix.merge_commit else "(not merged)"
    # GitLab reads `#n` as an issue: its merge requests are `!n`.
    ref = f"!{fix.number}" if fix.host == "gitlab" else f"#{fix.number}"
    head = [
        "## Why",
        "",
        f"Verification failed after {ref} was merged: {why}",
        "",
        "## What this reverts",
        "",
        f"- Fix PR: {ref} {_clean(fix.url)}".rstrip(),
        f"- Branch: `{_clean(fix.branch)}`",
        f"- Merge commit: {merge}",
        "",
        "The files below go back to what they were before the fix.",
    ]
    tail = [
        "## By hand",
        "",
        f"`git revert -m 1 {fix.merge_commit or '<merge commit>'}` on `{_clean(fix.base)}` does the same.",
        "",
        *_footer(incident_id, console_url),
    ]
    body = _assemble(head, changes, tail, marker(incident_id, "revert"), incident_id, limit)
    commit = [
        f"medic: revert {ref} ({incident_id})",
        "",
        f"Verification failed: {_clip(_clean(reason), 500) or 'no reason given'}",
        f"Reverts: {fix.merge_commit or fix.head_commit}",
        "",
        f"{INCIDENT_TRAILER}: {incident_id}",
    ]
    return PullRequestText(title=title, body=body, commit_message=redact_text("\n".join(commit)) + "\n")


def deploy_revert_pull_request_text(
    incident_id: str,
    action: RevertDeploy,
    diagnosis: Diagnosis | None,
    changes: Sequence[FileChange],
    *,
    commits: Sequence[str] = (),
    fired: Sequence[str] = (),
    console_url: str = "",
    limit: int = BODY_LIMIT,
) -> PullRequestText:
    """Title, body and commit message of the PR that reverts a deploy its watch judged degraded:
    the deploy (Application, revisions), why (the verdict's line and every rule that fired, with
    its figures), the commits it reverts, and the diff."""
    revision, previous = action.revision[:7], action.previous_revision[:7]
    app = _clean(action.application)
    title = _clip_line(f"Revert deploy {revision} of {app}", TITLE_LIMIT)
    why = _clip(_clean(diagnosis.summary), _EXPLANATION_LIMIT) if diagnosis else ""
    head = [
        "## Why",
        "",
        f"The deploy watch judged deploy `{revision}` of Argo CD application `{app}` degraded"
        + (f": {why}" if why else "."),
    ]
    if fired:
        head += ["", "Rules that fired:", "", *(f"- {_clip(_clean(r), _NOTE_LIMIT)}" for r in fired)]
    head += [
        "",
        "## What this reverts",
        "",
        f"- Application: `{app}` (namespace `{_clean(action.app_namespace) or 'argocd'}`)",
        f"- Deploy: `{previous}`..`{revision}` ({action.previous_revision}..{action.revision})",
    ]
    if commits:
        head += ["- Commits:", *(f"  - {_clip(_clean(c), _NOTE_LIMIT)}" for c in commits)]
    head += ["", "The files below go back to what they were before the deploy; later changes are kept."]
    tail = [
        "## By hand",
        "",
        f"`git revert --no-commit {action.previous_revision}..{action.revision}` does the same.",
        "",
        *_footer(incident_id, console_url),
    ]
    body = _assemble(head, changes, tail, marker(incident_id, "revert"), incident_id, limit)
    commit = [
        f"medic: revert deploy {revision} of {app} ({incident_id})",
        "",
        f"The deploy watch judged it degraded: {_clip(why, 500) or 'see the incident'}",
        f"Reverts: {action.previous_revision}..{action.revision}",
        "",
        f"{INCIDENT_TRAILER}: {incident_id}",
    ]
    return PullRequestText(title=title, body=body, commit_message=redact_text("\n".join(commit)) + "\n")


# --- assembling ----------------------------------------------------------------------------------


def _pairs(values: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(values.items()))


def _clean(text: str) -> str:
    return redact_text(text or "").strip()


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 40)].rstrip() + f" … ({len(text) - limit + 40} characters more)"


def _clip_line(text: str, limit: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def _footer(incident_id: str, console_url: str) -> list[str]:
    lines = [f"Incident: `{incident_id}`"]
    if console_url:
        lines[0] += f" · [console]({console_url.rstrip('/')}/console/incidents/{quote(incident_id, safe='')})"
    lines.append("Opened by medic.")
    return lines


def _fence(diff: str) -> str:
    longest = max((len(m) for m in _BACKTICKS.findall(diff)), default=0)
    return "`" * max(3, longest + 1)


def _diff_block(change: FileChange, diff: str, note: str) -> list[str]:
    fence = _fence(diff)
    text = diff if diff.endswith("\n") or not diff else diff + "\n"
    lines = [
        f"### `{_clean(change.path)}`",
        "",
        _clean(change.description),
        "",
        f"{fence}diff",
        f"{text}{fence}",
    ]
    if note:
        lines += ["", note]
    return lines


def _render(head: list[str], blocks: list[list[str]], tail: list[str], mark: str) -> str:
    parts = [*head, "", "## Diff", ""]
    for block in blocks:
        parts += [*block, ""]
    if not blocks:
        parts += ["(no file changes)", ""]
    parts += [*tail, "", mark]
    return "\n".join(parts) + "\n"


def _cut(diff: str, budget: int) -> tuple[str, int]:
    """The leading whole lines of `diff` that fit `budget` characters, and how many lines were left."""
    lines = diff.splitlines(keepends=True)
    kept: list[str] = []
    used = 0
    for line in lines:
        if used + len(line) > budget:
            break
        kept.append(line)
        used += len(line)
    return "".join(kept), len(lines) - len(kept)


def _assemble(
    head: list[str], changes: Sequence[FileChange], tail: list[str], mark: str, incident_id: str, limit: int
) -> str:
    diffs = [redact_text(c.diff) for c in changes]
    blocks = [_diff_block(c, d, "") for c, d in zip(changes, diffs, strict=True)]
    body = redact_text(_render(head, blocks, tail, mark))
    if len(body) <= limit:
        return body

    # Too long: the diffs share what the rest leaves, in order, each cut at a line boundary.
    branch = branch_for(incident_id)

    def note(left: int) -> str:
        return f"_… diff truncated: {left} more lines; the full change is on branch `{branch}`._"

    widest = note(10**9)
    empty = redact_text(_render(head, [_diff_block(c, "", widest) for c in changes], tail, mark))
    budget = max(0, limit - len(empty))
    blocks = []
    for change, diff in zip(changes, diffs, strict=True):
        kept, left = _cut(diff, budget)
        budget -= len(kept)
        blocks.append(_diff_block(change, kept, note(left) if left else ""))
    body = redact_text(_render(head, blocks, tail, mark))
    if len(body) <= limit:
        return body
    # The text around the diffs alone is too long (a tiny `limit`): cut it, keep the marker.
    cut_note = "\n\n_… truncated to fit the pull request size limit._\n"
    room = max(0, limit - len(mark) - len(cut_note) - 1)
    return body[:room] + cut_note + mark + "\n"
