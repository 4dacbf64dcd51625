"""The demo's change review, as a terminal shows its comment: the summary and the first object's
diff (cut), without the marker and the HTML that folds diffs on a forge."""

from __future__ import annotations

from typing import Any

from cli.demo import terminal_comment
from domain.review.changes import change_set
from domain.review.render import MARKER, render_markdown
from domain.review.review import review


def deployment(name: str, replicas: int, tag: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "payments"},
        "spec": {
            "replicas": replicas,
            "template": {"spec": {"containers": [{"name": name, "image": f"registry.example/{name}:{tag}"}]}},
        },
    }


def test_the_summary_and_the_first_diff_cut_without_markup() -> None:
    before = [deployment("ledger", 2, "2.8.1"), deployment("audit", 1, "1.0")]
    after = [deployment("ledger", 6, "2.9.0"), deployment("audit", 3, "1.1")]
    parts = render_markdown(review(change_set(before, after, "payments-ledger")))

    shown = terminal_comment(parts, diff_lines=6)

    text = "\n".join(shown)
    assert shown[0].startswith("## medic review: risk") and "**Cost:**" in text
    assert MARKER not in text and "<details>" not in text and "```" not in text
    # Objects come sorted: audit's diff first, six of its lines, then what was left out.
    assert "Deployment payments/audit (modified, application payments-ledger)" in shown
    title = shown.index("Deployment payments/audit (modified, application payments-ledger)")
    assert shown[title + 1] == "--- a/Deployment/payments/audit" and len(shown) == title + 9
    assert shown[-2].endswith("more diff lines") and shown[-1] == "… and 1 more object diff(s)"
    assert "" in shown and all(a or b for a, b in zip(shown, shown[1:], strict=False))
