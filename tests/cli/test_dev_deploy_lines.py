"""`medic dev` on a sandbox whose Argo CD follows the seeded GitOps remote says how to deploy:
push to main, then the refresh of an Application its poll would make, with the sandbox's token."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from cli.embedded import Stack, deploy_lines
from domain.settings import Settings


def stack(tmp_path: Path, *, applications: list[str], seeded: bool = True) -> Stack:
    remote = tmp_path / "gitops.git"
    remote.mkdir(parents=True)
    if seeded:
        (remote / "HEAD").write_text("ref: refs/heads/main\n")
    settings = Settings(
        home=str(tmp_path),
        gitops_repo_url=str(remote),
        argocd_url="http://127.0.0.1:4321",
        argocd_token="t0k",
    )
    argocd = SimpleNamespace(applications=[{"metadata": {"name": name}} for name in applications])
    return Stack(
        settings=settings,
        client=cast(Any, None),
        gateway_url="http://127.0.0.1:8000",
        cluster=None,
        scenario=tmp_path / "deploy-watch.yaml",
        temporal_started=False,
        argocd=cast(Any, argocd),
    )


def test_the_refresh_of_the_first_application_is_printed_with_the_sandbox_token(tmp_path: Path) -> None:
    lines = deploy_lines(stack(tmp_path, applications=["store-web", "store-checkout"]))
    text = "\n".join(lines)
    assert f"push a commit to main of {tmp_path / 'gitops.git'}" in text
    assert "(Applications: store-web, store-checkout)" in text
    assert (
        "curl -H 'Authorization: Bearer t0k' "
        "'http://127.0.0.1:4321/api/v1/applications/store-web?refresh=normal'  # twice"
    ) in text


def test_nothing_is_said_without_a_seeded_remote_or_an_application(tmp_path: Path) -> None:
    assert deploy_lines(stack(tmp_path / "a", applications=["store-web"], seeded=False)) == []
    assert deploy_lines(stack(tmp_path / "b", applications=[])) == []
