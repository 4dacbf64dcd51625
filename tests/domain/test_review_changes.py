"""A change set: objects paired across two renderings, redacted, diffed as sorted YAML."""

from __future__ import annotations

from domain.review.changes import SECRET_CHANGED, SECRET_VALUE, change_set, object_change
from tests.domain.review_manifests import changed, container, deployment, secret, service


def test_objects_are_paired_by_group_kind_namespace_and_name() -> None:
    old_api = changed(deployment(), lambda d: d.update(apiVersion="apps/v1beta2"))
    changes = change_set(
        [old_api, service("legacy")],
        [changed(deployment(), lambda d: d["spec"].update(replicas=5)), service("storefront")],
    )
    assert sorted((o.ref.label(), o.change) for o in changes.objects) == [
        ("Deployment shop/checkout", "modified"),
        ("Service shop/legacy", "deleted"),
        ("Service shop/storefront", "added"),
    ]


def test_equal_objects_stay_as_context_but_are_not_changed() -> None:
    changes = change_set([service()], [service()])
    assert [o.change for o in changes.objects] == ["unchanged"]
    assert changes.changed() == []
    assert changes.objects[0].diff == ""


def test_diff_is_unified_over_sorted_yaml() -> None:
    before = deployment()
    change = object_change(before, changed(before, lambda d: d["spec"].update(replicas=5)))
    assert change.diff.startswith("--- a/Deployment/shop/checkout\n+++ b/Deployment/shop/checkout\n")
    assert "-  replicas: 3\n+  replicas: 5\n" in change.diff
    added = object_change(None, service())
    assert added.diff.startswith("--- /dev/null\n+++ b/Service/shop/checkout\n")
    assert "+apiVersion: v1\n" in added.diff


def test_server_written_fields_do_not_show_as_changes() -> None:
    live = changed(
        service(),
        lambda s: (
            s["metadata"].update(uid="6c3b", resourceVersion="81234", managedFields=[{"manager": "argocd"}]),
            s.update(status={"loadBalancer": {}}),
        ),
    )
    assert object_change(live, service()).change == "unchanged"


def test_secret_values_never_enter_the_change() -> None:
    value = "s3cr3t-Pa55word-2026"
    before = changed(
        secret(value=value),
        lambda s: s["metadata"].update(
            annotations={
                "kubectl.kubernetes.io/last-applied-configuration": f'{{"data":{{"password":"{value}"}}}}'
            }
        ),
    )
    change = object_change(before, secret(value="n3w-Pa55word-2027"))
    dumped = change.model_dump_json()
    assert value not in dumped and "n3w-Pa55word-2027" not in dumped
    assert change.after is not None
    # The changed keys say so, and nothing of their values.
    assert change.change == "modified"
    assert change.after["data"] == {"username": SECRET_VALUE, "password": SECRET_CHANGED}
    assert change.after["stringData"] == {"url": SECRET_CHANGED}
    assert "+  password: '[REDACTED:secret_data_changed]'" in change.diff


def test_token_env_value_is_redacted_and_its_name_kept() -> None:
    token = "ghp_16C7e42F292c6912E7710c838347Ae178B4a"
    before = deployment()
    after = changed(
        before, lambda d: container(d)["env"].append({"name": "PAYMENTS_API_TOKEN", "value": "tok-8f2Kq"})
    )
    after = changed(after, lambda d: container(d)["env"].append({"name": "GITHUB_TOKEN", "value": token}))
    change = object_change(before, after)
    assert token not in change.diff and "tok-8f2Kq" not in change.diff
    assert "name: GITHUB_TOKEN" in change.diff and "[REDACTED:" in change.diff
    assert change.after is not None
    assert container(change.after)["env"][0] == {"name": "LOG_LEVEL", "value": "info"}  # ordinary values kept


def test_rotated_token_shows_as_changed_without_either_value() -> None:
    old_token, new_token = "tok-8f2Kq-2025-a1b2c3", "tok-Zz91x-2026-d4e5f6"
    before = changed(
        deployment(), lambda d: container(d)["env"].append({"name": "PAYMENTS_API_TOKEN", "value": old_token})
    )
    after = changed(before, lambda d: container(d)["env"][-1].update(value=new_token))
    change = object_change(before, after)
    assert change.change == "modified"
    removed, added = (
        "-          value: '[REDACTED:token]'\n",
        "+          value: '[REDACTED:token] (changed)'\n",
    )
    assert removed + added in change.diff
    assert old_token not in change.diff and new_token not in change.diff
    same = object_change(before, changed(before, lambda d: d["spec"].update(replicas=4)))
    assert "(changed)" not in same.diff
