"""A change review from two renderings of each affected Application: the change set, the
deterministic review, the policy's verdict, and what is kept of it.

Shared by the `review_change` activity and `medic review` (which runs without Temporal): both
render — through Argo CD's manifests API at the two revisions, or locally with a real engine —
and hand the renderings here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from domain.review.applications import (
    LOCAL_REPOSITORY,
    affected_applications,
    local_applications,
    unreviewed_files,
)
from domain.review.changes import ChangeSet, change_set
from domain.review.cost import Prices
from domain.review.policy_input import review_policy_input
from domain.review.render import render_markdown, to_json
from domain.review.review import Review, review, with_verdict
from domain.steps.review import AffectedApplication
from integrations.argocd import ArgoClient
from integrations.git import GitRefNotFound, run_git
from integrations.render import checkout_at, render_repository
from policies import evaluate_review


@dataclass
class Rendering:
    """One Application rendered at the base and at the head of a change."""

    application: str
    before: list[dict[str, Any]] = field(default_factory=list)
    after: list[dict[str, Any]] = field(default_factory=list)


def at_revision(app: AffectedApplication, revision: str) -> dict[str, Any]:
    """`ArgoClient.application_manifests`'s arguments for `app` rendered with this repository's
    sources at `revision`: one revision, or one per source position of a multi-source app."""
    scope: dict[str, Any] = {"app_namespace": app.namespace or None, "project": app.project or None}
    if app.source_positions:
        positions = tuple(app.source_positions)
        return {**scope, "revisions": (revision,) * len(positions), "source_positions": positions}
    return {**scope, "revision": revision}


def argo_rendering(argocd: ArgoClient, app: AffectedApplication, base: str, head: str) -> Rendering:
    """`app` rendered by Argo CD's repo server with this repository's sources at `base` and at
    `head`."""
    before = argocd.application_manifests(app.name, **at_revision(app, base))
    after = argocd.application_manifests(app.name, **at_revision(app, head))
    return Rendering(app.name, before, after)


def review_renderings(
    renderings: Iterable[Rendering],
    *,
    prices: Prices | None = None,
    policy_dir: str | Path | None = None,
    extra_protected_namespaces: Sequence[str] = (),
    unreviewed: Sequence[str] = (),
) -> Review:
    """The review of every rendering's changes together, with the policy's verdict on them
    (`PolicyError` when the policy cannot give one)."""
    objects = []
    for rendering in renderings:
        objects += change_set(rendering.before, rendering.after, rendering.application).objects
    found = review(ChangeSet(objects=objects), prices).model_copy(
        update={"unreviewed_files": list(unreviewed)}
    )
    verdict = evaluate_review(
        review_policy_input(found), policy_dir, extra_protected_namespaces=tuple(extra_protected_namespaces)
    )
    return with_verdict(found, verdict)


def report(found: Review, *, limit: int | None = None) -> dict[str, Any]:
    """What is kept of a review: its JSON (`to_json`) and its comment, in parts."""
    parts = render_markdown(found) if limit is None else render_markdown(found, limit)
    return {**to_json(found), "comment": parts}


def summary_line(found: Review) -> str:
    """One line: the verdict, what changed and what it costs."""
    changed = found.changes.changed()
    verdict = found.verdict.decision if found.verdict else "allow"
    apps = sorted({c.application or "" for c in changed} - {""})
    cost = found.cost.monthly_delta_usd
    money = f"{'+' if cost >= 0 else '-'}${abs(cost):,.2f}/month"
    return (
        f"risk {found.risk}, policy {verdict}: {len(changed)} object(s) changed"
        f" in {len(apps)} application(s), {money}"
    )


def local_renderings(repository: Path, base: str, head: str) -> tuple[list[Rendering], list[str]]:
    """Every application of `integrations.render.render_repository` rendered at `base` and `head`
    of the Git repository at `repository`, keeping those whose rendering differs; and the changed
    files no application renders (a values file of a chart from a Helm repository, say)."""
    changed = run_git(["-C", str(repository), "diff", "--name-only", base, head], error=GitRefNotFound)
    files = [f for f in changed.decode().splitlines() if f]
    with checkout_at(repository, base) as before_dir:
        before = render_repository(before_dir)
    with checkout_at(repository, head) as after_dir:
        after = render_repository(after_dir)

        def read(path: str) -> str | None:
            file = after_dir / path
            return file.read_text(errors="replace") if file.is_file() else None

        apps = local_applications(sorted(before.keys() | after.keys()))
        unreviewed = unreviewed_files(files, affected_applications(apps, files, (LOCAL_REPOSITORY,), read))
    out = []
    for name in sorted(before.keys() | after.keys()):
        old, new = before.get(name, []), after.get(name, [])
        if old != new:
            out.append(Rendering(name, old, new))
    return out, unreviewed
