"""domain.gitops.pull_request_body: what a medic PR says, redacted and within GitHub's limits."""

from __future__ import annotations

from domain.analysis.plan import Diagnosis, Evidence, Plan, Scale, SetResources
from domain.gitops.edit import FieldChange, FileChange, unified_diff
from domain.gitops.pull_request_body import (
    BODY_LIMIT,
    TITLE_LIMIT,
    action_summary,
    fix_pull_request_text,
    marker,
    parse_marker,
    revert_pull_request_text,
)
from domain.gitops.pull_requests import PullRequest, branch_for
from domain.incident.model import ResourceRef
from domain.policy.approval import Approval
from domain.policy.decision import PolicyDecision, Violation
from domain.review.plan_impact import PlanImpact

INCIDENT = "incident-alert-0123456789abcdef0123.1a2b3c4d"
LEDGER = ResourceRef(namespace="payments", kind="Deployment", name="ledger", container="ledger")
BEFORE = "replicaCount: 2\nresources:\n  limits:\n    cpu: '1'\n    memory: 256Mi   # raised in PR #412\n"
AFTER = "replicaCount: 2\nresources:\n  limits:\n    cpu: '1'\n    memory: 512Mi   # raised in PR #412\n"
GITHUB_TOKEN = "ghp_" + "Zq3" * 12


def change(path: str = "values/ledger-values.yaml", before: str = BEFORE, after: str = AFTER) -> FileChange:
    return FileChange(
        path=path,
        layout="helm-values",
        before=before,
        after=after,
        diff=unified_diff(path, before, after),
        description="ledger: memory limit 256Mi → 512Mi in values/ledger-values.yaml",
        fields=[
            FieldChange(
                action=0,
                kind="set_resources",
                file=path,
                yaml_path=("resources", "limits", "memory"),
                old="256Mi",
                new="512Mi",
                description="memory limit 256Mi → 512Mi",
            )
        ],
        method="line",
    )


def diagnosis(explanation: str = "The container hit its 256Mi limit under the nightly batch.") -> Diagnosis:
    return Diagnosis(
        root_cause="oom",
        summary="ledger is OOMKilled: memory limit 256Mi is too low",
        explanation=explanation,
        confidence=0.9,
        evidence=[
            Evidence(item_id="pod/payments/ledger-1", note="lastState OOMKilled, exit 137"),
            Evidence(item_id="metric/memory/payments/ledger", note="working set at 99% of the limit"),
        ],
        plan=Plan(
            actions=[SetResources(target=LEDGER, mode="gitops", limits={"memory": "512Mi"})],
            expected_impact="no more OOM kills",
            rollback="set the limit back to 256Mi",
        ),
    )


DECISION = PolicyDecision(
    allowed=True,
    risk="medium",
    approvals_required=1,
    reasons=["memory limit raised by 2x (at most 4x allowed)"],
    violations=[Violation(rule="limits.max_ratio", message="informational")],
    approvers=["group:sre"],
)


def test_the_fix_body_says_why_what_risk_and_how_to_undo_with_the_exact_diff() -> None:
    c = change()
    text = fix_pull_request_text(
        INCIDENT,
        diagnosis(),
        [c],
        decision=DECISION,
        approvals=[Approval(approver="alice", decision="approve", reason="looks right", via="console")],
        console_url="https://medic.example/",
    )
    body = text.body
    assert c.diff in body, "the diff appears byte for byte"
    assert f"```diff\n{c.diff}```" in body
    for expected in (
        "`oom`",
        "ledger is OOMKilled",
        "nightly batch",
        "`pod/payments/ledger-1`: lastState OOMKilled, exit 137",
        "**Risk:** `medium`",
        "approvals required: 1",
        "memory limit raised by 2x",
        "violation `limits.max_ratio`",
        "may approve: group:sre",
        "approve by **alice** via console: looks right",
        branch_for(INCIDENT, "revert"),
        "git revert -m 1",
        f"https://medic.example/console/incidents/{INCIDENT}",
    ):
        assert expected in body, expected
    assert body.rstrip().endswith(marker(INCIDENT, "fix"))
    assert parse_marker(body) == (INCIDENT, "fix")
    assert text.title == "medic: set limits memory=512Mi of payments/Deployment/ledger (ledger)"
    assert text.commit_message.splitlines()[0] == (
        f"medic: set limits memory=512Mi of payments/Deployment/ledger (ledger) ({INCIDENT})"
    )
    assert "Files: values/ledger-values.yaml" in text.commit_message
    assert fix_pull_request_text(INCIDENT, diagnosis(), [c], decision=DECISION) == fix_pull_request_text(
        INCIDENT, diagnosis(), [c], decision=DECISION
    ), "deterministic"


def test_a_planted_secret_never_appears_anywhere() -> None:
    leaky_before = BEFORE + "env:\n  GITHUB_TOKEN: old\n"
    leaky_after = AFTER + f"env:\n  GITHUB_TOKEN: {GITHUB_TOKEN}\n"
    text = fix_pull_request_text(
        INCIDENT,
        diagnosis(explanation=f"log said: export GITHUB_TOKEN={GITHUB_TOKEN} and password=hunter2hunter2"),
        [change(before=leaky_before, after=leaky_after)],
        decision=DECISION.model_copy(update={"reasons": [f"token {GITHUB_TOKEN} seen"]}),
    )
    for part in (text.title, text.body, text.commit_message):
        assert GITHUB_TOKEN not in part and "hunter2hunter2" not in part
    assert "[REDACTED:" in text.body


def test_a_huge_diff_is_cut_at_a_line_with_a_note_and_the_marker_survives() -> None:
    before = "".join(f"key{i}: value-{i}\n" for i in range(8000))
    after = "".join(f"key{i}: changed-{i}\n" for i in range(8000))
    text = fix_pull_request_text(
        INCIDENT, diagnosis(), [change(before=before, after=after)], decision=DECISION
    )
    assert len(text.body) <= BODY_LIMIT
    assert "diff truncated" in text.body and branch_for(INCIDENT) in text.body
    assert parse_marker(text.body) == (INCIDENT, "fix")
    assert text.body.count("```diff") == 1 and "```\n" in text.body.split("```diff", 1)[1]
    small = fix_pull_request_text(INCIDENT, diagnosis(), [change(before=before, after=after)], limit=4000)
    assert len(small.body) <= 4000 and parse_marker(small.body) == (INCIDENT, "fix")
    tiny = fix_pull_request_text(INCIDENT, diagnosis("x" * 5000), [change()], limit=1000)
    assert len(tiny.body) <= 1000 and parse_marker(tiny.body) == (INCIDENT, "fix")


def test_a_diff_holding_backticks_gets_a_longer_fence() -> None:
    c = change(before="a: 1\n", after="a: '```'\n")
    body = fix_pull_request_text(INCIDENT, diagnosis(), [c]).body
    assert f"````diff\n{c.diff}````" in body


def test_a_long_title_is_clipped() -> None:
    many = Plan(
        actions=[Scale(target=LEDGER.model_copy(update={"name": "x" * 300}), mode="gitops", replicas=3)]
    )
    text = fix_pull_request_text(INCIDENT, diagnosis().model_copy(update={"plan": many}), [])
    assert len(text.title) <= TITLE_LIMIT and text.title.endswith("…")
    assert "(no file changes)" in text.body


def test_action_summary_names_more_actions() -> None:
    plan = Plan(
        actions=[
            SetResources(target=LEDGER, mode="gitops", requests={"cpu": "250m"}),
            Scale(target=LEDGER, mode="gitops", replicas=3),
        ]
    )
    assert action_summary(plan) == "set requests cpu=250m of payments/Deployment/ledger (ledger) (+1 more)"
    assert action_summary(Plan()) == "GitOps change"


def test_the_revert_body_names_the_failed_verification_and_the_fix_pr() -> None:
    fix = PullRequest(
        host="local",
        number=7,
        url="local:///srv/gitops.git#7",
        incident_id=INCIDENT,
        branch=branch_for(INCIDENT),
        head_commit="a" * 40,
        status="merged",
        merge_commit="b" * 40,
        title="medic: set limits memory=512Mi of payments/Deployment/ledger",
    )
    back = change(before=AFTER, after=BEFORE)
    text = revert_pull_request_text(INCIDENT, fix, "ledger still restarting: 3 restarts in 5m", [back])
    assert text.title == "Revert: medic: set limits memory=512Mi of payments/Deployment/ledger"
    assert "ledger still restarting: 3 restarts in 5m" in text.body
    assert "#7" in text.body and fix.url in text.body and f"`{'b' * 40}`" in text.body
    assert back.diff in text.body
    assert f"git revert -m 1 {'b' * 40}" in text.body
    assert parse_marker(text.body) == (INCIDENT, "revert")
    assert text.commit_message.startswith(f"medic: revert #7 ({INCIDENT})\n")
    assert parse_marker("no marker here") is None
    # GitLab reads #7 as an issue: its merge request is !7
    on_gitlab = fix.model_copy(
        update={"host": "gitlab", "url": "https://gitlab.example/a/b/-/merge_requests/7"}
    )
    text = revert_pull_request_text(INCIDENT, on_gitlab, "still restarting", [back])
    assert f"Fix PR: !7 {on_gitlab.url}" in text.body and "after !7 was merged" in text.body
    assert "#7" not in text.body and text.commit_message.startswith(f"medic: revert !7 ({INCIDENT})\n")


def test_the_fix_body_has_a_short_impact_section_when_the_impact_is_known() -> None:
    impact = PlanImpact(
        monthly_delta_usd=3.09,
        summary="+$3.09/month (OpenCost default list prices (GCP us-central1)); downtime: none found",
        not_assessed=["action 2 (scale payments/Deployment/cart): its target was not observed"],
    )
    two = diagnosis().plan.model_copy(
        update={
            "actions": [
                *diagnosis().plan.actions,
                Scale(target=LEDGER.model_copy(update={"name": "cart"}), replicas=3),
            ]
        }
    )
    body = fix_pull_request_text(
        INCIDENT, diagnosis().model_copy(update={"plan": two}), [change()], decision=DECISION, impact=impact
    ).body
    section = body.split("## Impact\n\n", 1)[1].split("\n\n## ", 1)[0]
    assert section.splitlines() == [
        "+$3.09/month (OpenCost default list prices (GCP us-central1)); downtime: none found",
        "",
        "Not assessed: action 2 (scale payments/Deployment/cart): its target was not observed",
    ]
    assert body.index("## What") < body.index("## Impact") < body.index("## Diff")
    assert "## Impact" not in fix_pull_request_text(INCIDENT, diagnosis(), [change()], decision=DECISION).body
