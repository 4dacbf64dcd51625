"""The GitHub fake's wire format, checked with a plain HTTP client (PyGithub's view is tested in
tests/integrations/test_github_pull_requests.py)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sandbox.gitops import seed_bare_repo
from tests.fakes.github_api import SandboxGitHub

TOKEN = "ghp_" + "t" * 36


def git(remote: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(remote), *args], capture_output=True, check=True, text=True
    ).stdout.strip()


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    """A bare repository with `medic/inc-1` one commit ahead of main, as a client's push leaves it."""
    path = tmp_path / "gitops.git"
    base = seed_bare_repo(path, {"a.yaml": "a: 1\n"})
    blob = subprocess.run(
        ["git", "--git-dir", str(path), "hash-object", "-w", "--stdin"],
        input="a: 2\n",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    tree = subprocess.run(
        ["git", "--git-dir", str(path), "mktree"],
        input=f"100644 blob {blob}\ta.yaml\n",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    identity = {
        "GIT_AUTHOR_NAME": "a",
        "GIT_AUTHOR_EMAIL": "a@a",
        "GIT_COMMITTER_NAME": "a",
        "GIT_COMMITTER_EMAIL": "a@a",
    }
    commit = subprocess.run(
        ["git", "--git-dir", str(path), "commit-tree", tree, "-p", base, "-m", "fix"],
        capture_output=True,
        text=True,
        check=True,
        env=identity,
    ).stdout.strip()
    git(path, "update-ref", "refs/heads/medic/inc-1", commit)
    return path


@pytest.fixture
def client(remote: Path) -> Iterator[tuple[SandboxGitHub, httpx.Client]]:
    with (
        SandboxGitHub(remote, token=TOKEN) as fake,
        httpx.Client(base_url=fake.url, headers={"Authorization": f"token {TOKEN}"}) as http,
    ):
        yield fake, http


def test_requests_without_a_good_token_get_githubs_401(client: tuple[SandboxGitHub, httpx.Client]) -> None:
    fake, _ = client
    answer = httpx.get(f"{fake.url}/repos/acme/gitops", headers={"Authorization": "token nope"})
    assert answer.status_code == 401
    assert answer.json() == {
        "message": "Bad credentials",
        "documentation_url": "https://docs.github.com/rest",
        "status": "401",
    }


def test_a_second_open_pr_for_a_branch_is_422_with_githubs_error(
    client: tuple[SandboxGitHub, httpx.Client],
) -> None:
    fake, http = client
    body = {"title": "t", "head": "acme:medic/inc-1", "base": "main", "body": "b"}
    created = http.post("/repos/acme/gitops/pulls", json=body)
    assert created.status_code == 201
    pull = created.json()
    assert pull["number"] == 1 and pull["head"]["label"] == "acme:medic/inc-1" and pull["merged"] is False
    assert pull["url"] == f"{fake.url}/repos/acme/gitops/pulls/1"
    again = http.post("/repos/acme/gitops/pulls", json=body)
    assert again.status_code == 422
    assert again.json()["errors"] == [
        {
            "resource": "PullRequest",
            "code": "custom",
            "message": "A pull request already exists for acme:medic/inc-1.",
        }
    ]
    listed = http.get("/repos/acme/gitops/pulls", params={"state": "all", "head": "acme:medic/inc-1"}).json()
    assert [p["number"] for p in listed] == [1] and "merged" not in listed[0], "lists hold the simple shape"
    assert http.get("/repos/acme/gitops/pulls", params={"head": "other:medic/inc-1"}).json() == []


def test_merge_status_endpoint_and_real_merge(
    client: tuple[SandboxGitHub, httpx.Client], remote: Path
) -> None:
    _, http = client
    http.post("/repos/acme/gitops/pulls", json={"title": "t", "head": "medic/inc-1", "base": "main"})
    assert http.get("/repos/acme/gitops/pulls/1/merge").status_code == 404
    merged = http.put("/repos/acme/gitops/pulls/1/merge", json={"merge_method": "merge"})
    assert merged.status_code == 200 and merged.json()["merged"] is True
    assert merged.json()["sha"] == git(remote, "rev-parse", "main")
    assert http.get("/repos/acme/gitops/pulls/1/merge").status_code == 204
    assert http.put("/repos/acme/gitops/pulls/1/merge", json={}).status_code == 405
    assert http.get("/repos/acme/gitops/issues/1").json()["pull_request"]["merged_at"]


def test_a_persons_pr_lists_its_files_in_pages_with_githubs_link_header(
    client: tuple[SandboxGitHub, httpx.Client], remote: Path
) -> None:
    fake, http = client
    files: dict[str, str | None] = {f"apps/f{i:02}.yaml": f"n: {i}\n" for i in range(5)}
    files["a.yaml"] = None
    number = fake.open_pull_request_as("dave", "feature/five", files, title="five files")
    pull = http.get(f"/repos/acme/gitops/pulls/{number}").json()
    assert pull["user"]["login"] == "dave" and pull["head"]["sha"] == git(remote, "rev-parse", "feature/five")

    first = http.get(f"/repos/acme/gitops/pulls/{number}/files", params={"per_page": 4})
    assert first.status_code == 200 and len(first.json()) == 4
    assert first.links["next"]["url"].endswith("per_page=4&page=2")
    assert first.links["last"]["url"].endswith("page=2")
    second = http.get(first.links["next"]["url"])
    assert "next" not in second.links
    listed = {f["filename"]: f for f in first.json() + second.json()}
    assert listed["a.yaml"]["status"] == "removed" and listed["a.yaml"]["deletions"] == 1
    assert listed["apps/f00.yaml"]["status"] == "added" and listed["apps/f00.yaml"]["additions"] == 1
    assert len(listed) == 6


def test_a_renamed_file_carries_its_previous_name(client: tuple[SandboxGitHub, httpx.Client]) -> None:
    fake, http = client
    number = fake.open_pull_request_as("dave", "feature/move", {"a.yaml": None, "b/a.yaml": "a: 1\n"})
    (moved,) = http.get(f"/repos/acme/gitops/pulls/{number}/files").json()
    assert moved["status"] == "renamed"
    assert (moved["filename"], moved["previous_filename"]) == ("b/a.yaml", "a.yaml")


def test_comments_are_edited_and_deleted_by_id_and_githubs_body_limit_holds(
    client: tuple[SandboxGitHub, httpx.Client],
) -> None:
    fake, http = client
    number = fake.open_pull_request_as("dave", "feature/c", {"c.yaml": "c: 1\n"})
    created = http.post(f"/repos/acme/gitops/issues/{number}/comments", json={"body": "one"}).json()
    url = f"/repos/acme/gitops/issues/comments/{created['id']}"
    assert created["url"].endswith(url) and created["user"]["login"] == "medic-bot"

    edited = http.patch(url, json={"body": "two"})
    assert edited.status_code == 200 and edited.json()["body"] == "two"
    too_long = http.patch(url, json={"body": "x" * 65537})
    assert too_long.status_code == 422
    assert too_long.json()["errors"][0]["message"] == "Body is too long (maximum is 65536 characters)"
    assert (
        http.post(f"/repos/acme/gitops/issues/{number}/comments", json={"body": "y" * 65537}).status_code
        == 422
    )
    assert http.patch(url, json={"body": "x" * 65536}).status_code == 200

    assert http.delete(url).status_code == 204
    assert http.get(url).status_code == 404 and http.delete(url).status_code == 404
    assert fake.comments(number) == []


def test_statuses_are_set_on_commits_and_listed_newest_first(
    client: tuple[SandboxGitHub, httpx.Client], remote: Path
) -> None:
    fake, http = client
    sha = git(remote, "rev-parse", "medic/inc-1")
    body = {"state": "pending", "description": "reviewing", "context": "medic/review"}
    created = http.post(f"/repos/acme/gitops/statuses/{sha}", json=body)
    assert created.status_code == 201 and created.json()["creator"]["login"] == "medic-bot"
    http.post(
        f"/repos/acme/gitops/statuses/{sha}", json={**body, "state": "success", "target_url": "http://x"}
    )

    listed = http.get(f"/repos/acme/gitops/commits/{sha}/statuses").json()
    assert [s["state"] for s in listed] == ["success", "pending"] == [s["state"] for s in fake.statuses(sha)]
    assert http.get("/repos/acme/gitops/commits/main/statuses").status_code == 200
    assert (
        http.post(f"/repos/acme/gitops/statuses/{sha}", json={**body, "state": "neutral"}).status_code == 422
    )
    long = http.post(f"/repos/acme/gitops/statuses/{sha}", json={**body, "description": "d" * 141})
    assert long.status_code == 422 and "140" in long.json()["errors"][0]["message"]
    assert http.post(f"/repos/acme/gitops/statuses/{'0' * 40}", json=body).status_code == 422


def test_user_is_the_tokens_own(client: tuple[SandboxGitHub, httpx.Client]) -> None:
    _, http = client
    assert http.get("/user").json()["login"] == "medic-bot"
