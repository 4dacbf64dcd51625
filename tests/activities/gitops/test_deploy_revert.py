"""The revert of a degraded deploy, prepared and opened against a real GitOps repository (a bare
repository, the Argo CD and GitHub loopback fakes): the deploy's commits undone three-way on the
branch as it is now, or refused with the reason."""

from __future__ import annotations

from activities.gitops.change import GitOpsChangeActivities
from activities.gitops.pull_requests import PullRequestActivities
from domain.analysis.plan import Diagnosis, Plan, RevertDeploy
from domain.gitops.pull_requests import branch_for
from domain.gitops.repositories import default_repositories
from domain.steps.gitops import PrepareChangeInput
from tests.activities.gitops.test_gitops_activities import (
    APP,
    TARGET,
    VALUES,
    World,
    commit_on_main,
    git,
    github,
    github_host,
    run,
    show,
    world,
)

__all__ = ["github", "world"]  # fixtures

TAG = 'tag: "2.8.1"'


def deploy(world: World, *edits: tuple[str, str]) -> tuple[str, str]:
    """Commits on main, one per (old, new) replacement in the values file: (before, after)."""
    before = git(world.remote, "rev-parse", "main")
    for old, new in edits:
        text = show(world.remote, "main", VALUES)
        assert old in text
        commit_on_main(world.remote, world.tmp, VALUES, text.replace(old, new), f"set {new}")
    return before, git(world.remote, "rev-parse", "main")


def revert_plan(before: str, after: str) -> Plan:
    return Plan(
        actions=[
            RevertDeploy(
                target=TARGET.without_container(),
                application=APP,
                revision=after,
                previous_revision=before,
            )
        ]
    )


def test_a_one_commit_deploy_is_reverted_on_the_branch_as_it_is_now(world: World) -> None:
    before, after = deploy(world, (TAG, 'tag: "2.9.0"'))
    change = world.prepare(revert_plan(before, after))
    assert change.refused == []
    assert (change.kind, change.reverts_base, change.reverts_head) == ("revert", before, after)
    assert change.base == "main" and change.base_commit == after
    (diff,) = change.files
    assert '-  tag: "2.9.0"' in diff.diff and '+  tag: "2.8.1"' in diff.diff


def test_a_two_commit_deploy_is_reverted_whole_and_later_changes_elsewhere_are_kept(world: World) -> None:
    before, after = deploy(world, (TAG, 'tag: "2.9.0"'), ("cpu: 250m", "cpu: 300m"))
    # someone changes another part of the same file after the deploy
    text = show(world.remote, "main", VALUES)
    later = commit_on_main(
        world.remote, world.tmp, VALUES, text.replace("replicaCount: 2", "replicaCount: 4"), "x"
    )
    change = world.prepare(revert_plan(before, after))
    assert change.refused == [] and change.base_commit == later
    (diff,) = change.files
    assert '+  tag: "2.8.1"' in diff.diff and "+    cpu: 250m" in diff.diff
    assert "replicaCount" not in diff.diff


def test_a_commit_of_the_range_that_changed_another_applications_file_is_left_as_it_is(
    world: World,
) -> None:
    """Argo CD records no deploy for an Application whose manifests a commit did not change, so a
    deploy's range may hold commits to other Applications' files: only what this one reads is
    reverted."""
    before = git(world.remote, "rev-parse", "main")
    manifest = "applications/payments-ledger.yaml"
    other = show(world.remote, "main", manifest)
    commit_on_main(world.remote, world.tmp, manifest, other + "# another team's change\n", "other app")
    _, after = deploy(world, (TAG, 'tag: "2.9.0"'))
    change = world.prepare(revert_plan(before, after))
    assert change.refused == []
    assert [f.path for f in change.files] == [VALUES]
    opened = run(world.activities().open_pull_request, world.open_input(change, revert_plan(before, after)))
    assert show(world.remote, opened.branch, manifest) == other + "# another team's change\n"


def test_a_deploy_that_changed_no_file_the_application_reads_is_refused(world: World) -> None:
    before = git(world.remote, "rev-parse", "main")
    manifest = "applications/payments-ledger.yaml"
    after = commit_on_main(
        world.remote, world.tmp, manifest, show(world.remote, "main", manifest) + "# x\n", "other app"
    )
    (reason,) = world.prepare(revert_plan(before, after)).refused
    assert "changes no file the Application reads" in reason


def test_a_line_the_deploy_changed_and_that_changed_again_is_refused(world: World) -> None:
    before, after = deploy(world, (TAG, 'tag: "2.9.0"'))
    text = show(world.remote, "main", VALUES)
    commit_on_main(world.remote, world.tmp, VALUES, text.replace('tag: "2.9.0"', 'tag: "2.9.1"'), "hotfix")
    (reason,) = world.prepare(revert_plan(before, after)).refused
    assert VALUES in reason and "changed again since the deploy" in reason


def test_what_cannot_be_reverted_is_refused_with_the_reason(world: World) -> None:
    before, after = deploy(world, (TAG, 'tag: "2.9.0"'))
    unknown = "f" * 40
    (reason,) = world.prepare(revert_plan(unknown, after)).refused
    assert "previous revision ffffffffffff" in reason and "another repository" in reason
    (reason,) = world.prepare(revert_plan(after, unknown)).refused
    assert "revision ffffffffffff" in reason and "another repository" in reason
    (reason,) = world.prepare(revert_plan(after, after)).refused
    assert "changes no file" in reason
    # a commit that is not on the deployed branch
    work = world.tmp / "side"
    import subprocess

    subprocess.run(["git", "clone", "-q", str(world.remote), str(work)], check=True, capture_output=True)
    (work / VALUES).write_text("side: true\n")
    ident = ["-c", "user.name=a", "-c", "user.email=a@example.invalid"]
    subprocess.run(["git", "-C", str(work), *ident, "commit", "-qam", "side"], check=True)
    subprocess.run(["git", "-C", str(work), "push", "-q", "origin", "HEAD:refs/heads/side"], check=True)
    side = git(world.remote, "rev-parse", "side")
    (reason,) = world.prepare(revert_plan(after, side)).refused
    assert "not on the branch it deploys" in reason
    # a deploy that deleted a file the Application reads (its values file)
    subprocess.run(["git", "-C", str(work), "fetch", "-q"], check=True)
    subprocess.run(["git", "-C", str(work), "reset", "-q", "--hard", "origin/main"], check=True)
    (work / VALUES).unlink()
    subprocess.run(["git", "-C", str(work), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(work), *ident, "commit", "-qm", "delete"], check=True)
    subprocess.run(["git", "-C", str(work), "push", "-q", "origin", "main"], check=True, capture_output=True)
    deleted = git(world.remote, "rev-parse", "main")
    (reason,) = world.prepare(revert_plan(after, deleted)).refused
    assert f"{VALUES} (deleted)" in reason


def test_the_revert_is_opened_on_github_once_and_its_diff_undoes_the_deploy(
    world: World, github: object
) -> None:
    original = show(world.remote, "main", VALUES)
    before, after = deploy(world, (TAG, 'tag: "2.9.0"'))
    plan = revert_plan(before, after)
    change = world.prepare(plan)
    host = github_host(world, github)  # type: ignore[arg-type]
    activities = PullRequestActivities(world.repo, host, console_url="http://console.example")
    diagnosis = Diagnosis(
        root_cause="bad_release",
        summary="deploy abc1234 of app payments-ledger made p99 2.4× worse (480 ms vs 200 ms)",
        plan=plan,
        analyzer="deploy-watch",
    )
    opened = world.open_input(
        change,
        plan,
        diagnosis=diagnosis,
        commits=[f"{after[:7]} set tag 2.9.0"],
        fired=["shop/Deployment/ledger: p99 480 ms vs 200 ms before (2.4×; rule: ≥1.5×)"],
    )
    pr = run(activities.open_pull_request, opened)
    assert run(activities.open_pull_request, opened) == pr
    assert pr.kind == "revert" and pr.branch == branch_for(world.incident_id, "revert")
    assert pr.title == f"Revert deploy {after[:7]} of {APP}"
    pull = github.pulls[pr.number]  # type: ignore[attr-defined]
    assert list(github.pulls) == [pr.number]  # type: ignore[attr-defined]
    for text in ("p99 480 ms vs 200 ms before", f"{after[:7]} set tag 2.9.0", before, world.incident_id):
        assert text in pull.body
    assert show(world.remote, pr.branch, VALUES) == original
    host.close()


def test_the_revert_of_a_deploy_from_a_repository_medic_may_not_write_is_refused(world: World) -> None:
    # medic knows its repository only by its path: the Application's values repository
    # (https://git.example/platform/gitops.git) is not one medic may write.
    before, after = deploy(world, (TAG, 'tag: "2.9.0"'))
    change = GitOpsChangeActivities(
        world.repo, world.client, repositories=default_repositories(str(world.remote))
    )
    plan = revert_plan(before, after)
    input = PrepareChangeInput(
        incident_id=world.incident_id,
        plan=plan,
        plan_hash=plan.plan_hash(),
        applications=[world.application()],
    )
    prepared = run(change.prepare_gitops_change, input)
    assert prepared.files == [] and prepared.refused == [
        f"Application {APP} deploys from https://git.example/platform/gitops.git, which medic may not "
        "write; add it to MEDIC_GITOPS_REPOSITORIES_FILE"
    ]
