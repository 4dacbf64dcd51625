"""The policy is compiled once per version of its files and reused; an edited directory is
compiled again on the next call."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import policies
from policies import POLICY_DIR, evaluate
from tests.policies.test_policy import raw_action

RESTART = {"actions": [raw_action()]}


def copy_policy(tmp_path: Path) -> Path:
    directory = tmp_path / "policy"
    directory.mkdir()
    for path in [*POLICY_DIR.glob("*.rego"), POLICY_DIR / "data.json"]:
        shutil.copy(path, directory / path.name)
    return directory


def touch_later(path: Path) -> None:
    """Move the file's mtime forward, so that an edit within the clock's resolution still shows."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_repeated_evaluations_share_one_compiled_policy(tmp_path: Path) -> None:
    directory = copy_policy(tmp_path)
    first = evaluate(RESTART, policy_dir=directory)
    compiled = dict(policies._compiled)
    for _ in range(5):
        assert evaluate(RESTART, policy_dir=directory) == first
    assert policies._compiled == compiled
    assert len(compiled) == 1
    # Other extra protected namespaces are another bundle, and change the decision.
    denied = evaluate(RESTART, policy_dir=directory, extra_protected_namespaces=["shop"])
    assert not denied.allowed
    assert len(policies._compiled) == 2
    assert evaluate(RESTART, policy_dir=directory) == first


def test_edited_data_is_picked_up(tmp_path: Path) -> None:
    directory = copy_policy(tmp_path)
    assert evaluate(RESTART, policy_dir=directory).allowed
    data_path = directory / "data.json"
    data = json.loads(data_path.read_text())
    data["medic"]["config"]["protected_namespaces"].append("shop")
    data_path.write_text(json.dumps(data))
    touch_later(data_path)
    decision = evaluate(RESTART, policy_dir=directory)
    assert not decision.allowed
    assert "protected_namespace" in {v.rule for v in decision.violations}


def test_edited_rules_are_picked_up(tmp_path: Path) -> None:
    directory = copy_policy(tmp_path)
    assert evaluate(RESTART, policy_dir=directory).allowed
    rules = directory / "remediation.rego"
    source = rules.read_text()
    # A rule that denies every restart, added to the shipped ones.
    marker = "import rego.v1\n"
    assert marker in source
    deny_all = (
        'violations contains {"rule": "no_restarts", "message": "restarts are off"} if {\n'
        '\tsome action in input.actions\n\taction.kind == "restart"\n}\n'
    )
    rules.write_text(source.replace(marker, marker + "\n" + deny_all, 1))
    touch_later(rules)
    decision = evaluate(RESTART, policy_dir=directory)
    assert not decision.allowed
    assert "no_restarts" in {v.rule for v in decision.violations}
