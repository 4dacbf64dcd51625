"""A review as a pull-request comment (Markdown) and as JSON. Pure.

A comment starts with a hidden marker, so the one comment per pull request can be found and
updated in place. A review longer than the host's limit (GitHub: 65,536 characters) is split
into numbered parts, each with the marker and "part i of n"; a diff too long for one part
continues in the next, saying so. Nothing is cut silently.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from domain.review.changes import ObjectChange
from domain.review.cost import signed_usd
from domain.review.policy_input import object_ref
from domain.review.review import Review
from domain.review.verdict import ReviewVerdict

MARKER = "<!-- medic-review -->"
GITHUB_COMMENT_LIMIT = 65_536
NO_APPLICATION = "(no application)"
# Room for the marker, the part line and a continuation note around a part's blocks.
_PART_OVERHEAD = 300
_SEVERITY_ORDER = {"high": 0, "warning": 1, "info": 2}
NARRATIVE_HEADING = "### Narrative (model-written, advisory: the verdict above is the policy's)"


def _fence(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _policy_lines(verdict: ReviewVerdict) -> list[str]:
    lines = [f"**Policy:** {verdict.decision}"]
    lines += [f"- denied: {line}" for line in verdict.denials]
    lines += [f"- warning: {line}" for line in verdict.warnings]
    return lines


# Changed files named in the comment when no application renders them; the JSON has them all.
_UNREVIEWED_SHOWN = 20


def _unreviewed_lines(files: list[str]) -> list[str]:
    if not files:
        return []
    shown = ", ".join(f"`{f}`" for f in files[:_UNREVIEWED_SHOWN])
    more = f" and {len(files) - _UNREVIEWED_SHOWN} more" if len(files) > _UNREVIEWED_SHOWN else ""
    return [
        "",
        f"**Not reviewed:** {len(files)} changed file(s) that no application renders: {shown}{more}",
    ]


def _narrative_lines(review: Review) -> list[str]:
    """The model's narrative under a heading that says whose it is, or one line saying why a
    configured model gave none; nothing without a model. It comes after the verdict, which it
    never changes."""
    if review.narrative:
        return ["", NARRATIVE_HEADING, "", *[f"> {line}" for line in review.narrative.splitlines()]]
    if review.narrative_unavailable:
        return ["", f"narrative unavailable: {review.narrative_unavailable}"]
    return []


def _summary(review: Review) -> str:
    verdict = review.verdict
    head = f"## medic review: risk **{review.risk}**"
    lines = [head + (f", policy **{verdict.decision}**" if verdict is not None else ""), ""]
    reasons = [f"- {reason}" for reason in review.reasons]
    if verdict is not None:
        # The policy's lines lead the reasons (`with_verdict`); they are shown once, under it.
        cited = {*verdict.denials, *verdict.warnings}
        reasons = [f"- {reason}" for reason in review.reasons if reason not in cited]
        lines += _policy_lines(verdict) + ([""] if reasons else [])
    lines += reasons
    lines += _unreviewed_lines(review.unreviewed_files)
    lines += _narrative_lines(review)
    lines += ["", f"**Rollback:** {review.rollback}", ""]
    lines += ["**Recommended rollout:**", *[f"- {line}" for line in review.rollout], ""]
    cost = review.cost
    lines.append(f"**Cost:** {signed_usd(cost.monthly_delta_usd)} per month ({cost.basis})")
    priced = [c for c in cost.objects if c.monthly_delta_usd or c.note]
    if priced:
        lines += ["", "| object | before | after | change | note |", "|---|---|---|---|---|"]
        for c in priced:
            lines.append(
                f"| {c.ref.label()} | ${c.before_usd:,.2f} | ${c.after_usd:,.2f} | "
                f"{signed_usd(c.monthly_delta_usd)} | {c.note} |"
            )
    lines.append("")
    findings = sorted(review.findings, key=lambda f: _SEVERITY_ORDER[f.severity])
    lines.append(f"### Findings ({len(findings)})")
    lines += [f"- **{f.severity}** {f.category} `{f.field or '-'}`: {f.message}" for f in findings] or [
        "- none"
    ]
    lines += ["", f"### Changed objects ({len(review.changes.changed())})", ""]
    return "\n".join(lines)


def _object_blocks(change: ObjectChange, budget: int) -> list[str]:
    """The object's diff as one block, or as several saying which lines each holds."""
    title = f"{change.ref.label()} ({change.change}"
    title += f", application {change.application})" if change.application else ")"
    fence = _fence(change.diff)
    whole = f"<details><summary>{title}</summary>\n\n{fence}diff\n{change.diff}{fence}\n</details>\n"
    if len(whole) <= budget:
        return [whole]
    room = budget - len(title) - 200

    def pieces() -> Iterator[str]:
        for line in change.diff.splitlines(keepends=True):
            # A single line longer than a part is itself cut, and says so.
            cut = [line[i : i + room - 40] for i in range(0, len(line), room - 40)] or [line]
            yield from (piece + " [line continues]\n" for piece in cut[:-1])
            yield cut[-1]

    chunks = _pack(pieces(), room)
    blocks = []
    first = 1
    for i, chunk in enumerate(chunks, 1):
        last = first + len(chunk) - 1
        body = "".join(chunk)
        note = f"diff lines {first}–{last}, piece {i} of {len(chunks)}"
        blocks.append(
            f"<details><summary>{title}: {note}</summary>\n\n{fence}diff\n{body}{fence}\n</details>\n"
        )
        first = last + 1
    return blocks


def render_markdown(review: Review, limit: int = GITHUB_COMMENT_LIMIT) -> list[str]:
    """The comment, as one part when it fits in `limit` characters, else as numbered parts that
    each fit; every part starts with MARKER."""
    budget = limit - _PART_OVERHEAD
    if budget < 1000:
        raise ValueError(f"a comment limit of {limit} characters leaves no room for a review")
    blocks = _summary_blocks(_summary(review), budget)
    for change in review.changes.changed():
        blocks += _object_blocks(change, budget)
    parts = _pack(blocks, budget)
    if len(parts) == 1:
        return [f"{MARKER}\n" + "".join(parts[0])]
    total = len(parts)
    out = []
    for i, part in enumerate(parts, 1):
        head = f"{MARKER}\n**medic review — part {i} of {total}**\n\n"
        tail = f"\n_continued in part {i + 1} of {total}_\n" if i < total else ""
        out.append(head + "".join(part) + tail)
    return out


def _pack(pieces: Iterable[str], budget: int) -> list[list[str]]:
    """The pieces in order, in groups of at most `budget` characters (a piece longer than that
    alone in its group)."""
    groups: list[list[str]] = [[]]
    size = 0
    for piece in pieces:
        if size + len(piece) > budget and groups[-1]:
            groups.append([])
            size = 0
        groups[-1].append(piece)
        size += len(piece)
    return groups


def _summary_blocks(summary: str, budget: int) -> list[str]:
    # A summary longer than a part (thousands of findings) goes out line by line.
    if len(summary) <= budget:
        return [summary]
    return [line + "\n" for line in summary.splitlines()]


def to_json(review: Review) -> dict[str, Any]:
    """The review as JSON: `applications`, `risk`, `reasons`, `findings`, `cost`, `rollout`,
    `rollback`, `narrative` and `narrative_unavailable` (model-written, advisory; empty without a
    model) and `policy` (the policy's `decision`, `risk`, `warnings`, `denials` and `reasons`;
    None before the policy is asked). Objects whose application is not known are listed under
    NO_APPLICATION. A finding's `object` is its kind, namespace and name, and its `ref`
    (`Kind/namespace/name`) as the policy's lines and the diffs name it."""
    applications: dict[str, list[dict[str, Any]]] = {}
    for change in review.changes.changed():
        applications.setdefault(change.application or NO_APPLICATION, []).append(
            {
                "apiVersion": change.ref.api_version,
                "kind": change.ref.kind,
                "namespace": change.ref.namespace,
                "name": change.ref.name,
                "change": change.change,
                "diff": change.diff,
            }
        )
    return {
        "applications": [{"name": name, "objects": objects} for name, objects in applications.items()],
        "risk": review.risk,
        "reasons": review.reasons,
        "findings": [
            {
                "category": f.category,
                "severity": f.severity,
                "object": {
                    "kind": f.object.kind,
                    "namespace": f.object.namespace,
                    "name": f.object.name,
                    "ref": object_ref(f.object),
                },
                "field": f.field,
                "message": f.message,
            }
            for f in review.findings
        ],
        "cost": {
            "monthly_delta_usd": review.cost.monthly_delta_usd,
            "basis": review.cost.basis,
            "objects": [
                {
                    "kind": c.ref.kind,
                    "namespace": c.ref.namespace,
                    "name": c.ref.name,
                    "before_usd": c.before_usd,
                    "after_usd": c.after_usd,
                    "monthly_delta_usd": c.monthly_delta_usd,
                    "note": c.note,
                }
                for c in review.cost.objects
            ],
        },
        "rollout": review.rollout,
        "rollback": review.rollback,
        "unreviewed_files": review.unreviewed_files,
        "narrative": review.narrative,
        "narrative_unavailable": review.narrative_unavailable,
        "policy": review.verdict.model_dump(mode="json") if review.verdict is not None else None,
    }
