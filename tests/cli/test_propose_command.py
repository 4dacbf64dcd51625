"""`medic propose`: words it cannot read are refused before Temporal is reached; an answer prints
the change, the plan, the risk and who must approve."""

from __future__ import annotations

from typer.testing import CliRunner

from cli.main import app
from cli.propose import answer_lines


def test_unreadable_words_are_refused_with_exit_2() -> None:
    # A Temporal address nothing listens on: the refusal comes first, from the words alone.
    result = CliRunner().invoke(
        app, ["propose", "make", "it", "faster", "--as", "carol"], env={"TEMPORAL_ADDRESS": "127.0.0.1:9"}
    )
    assert result.exit_code == 2
    assert "refused: could not read 'make it faster' as a change; try:" in result.output


def test_the_answer_names_the_plan_the_risk_and_who_must_approve() -> None:
    lines = answer_lines(
        {
            "incident_id": "intent-0123456789abcdef.1a2b3c4d",
            "started": True,
            "requester": "carol",
            "change": "scale payments/ledger to 4 replicas",
            "plan": {
                "actions": [
                    {
                        "kind": "scale",
                        "mode": "gitops",
                        "file": "values/ledger-values.yaml",
                        "target": {"kind": "Deployment", "namespace": "payments", "name": "ledger"},
                    }
                ]
            },
            "risk": "low",
            "approvals_required": 1,
            "approvers": ["group:sre"],
            "pull_requests": [{"url": "https://git.example/pr/7", "status": "open"}],
            "link": "http://127.0.0.1:8000/console/incidents/intent-0123456789abcdef.1a2b3c4d",
        }
    )
    assert lines == [
        "incident intent-0123456789abcdef.1a2b3c4d",
        "requested by carol: scale payments/ledger to 4 replicas",
        "plan: scale on Deployment payments/ledger, through Git (values/ledger-values.yaml)",
        "risk: low; approvals needed: 1 from group:sre (the requester cannot approve)",
        "pull request: https://git.example/pr/7 (open)",
        "console: http://127.0.0.1:8000/console/incidents/intent-0123456789abcdef.1a2b3c4d",
    ]
