"""Snapshot sealing: round trip, key rotation, a wrong key, legacy plaintext rows, key files."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from integrations.sealing import (
    SEALED_MARKER,
    SealingError,
    SnapshotSealer,
    ensure_key_file,
    is_sealed,
    load_keys,
)

SECRET = "hunter2-correct-horse-battery"
CONTENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "cart", "namespace": "shop", "labels": {"app": "cart"}, "annotations": {}},
    "spec": {
        "replicas": 2,
        "template": {
            "spec": {
                "containers": [
                    {"name": "cart", "env": [{"name": "DB_PASSWORD", "value": SECRET}], "ports": [8080]}
                ]
            }
        },
    },
}


def key() -> bytes:
    return Fernet.generate_key()


def test_seal_hides_the_content_and_open_returns_it_exactly() -> None:
    sealer = SnapshotSealer([key()])
    sealed = sealer.seal(CONTENT)
    assert sealed["sealed"] == SEALED_MARKER and set(sealed) == {"sealed", "token"}
    assert SECRET not in json.dumps(sealed)
    assert "cart" not in sealed["token"]
    assert is_sealed(sealed) and not is_sealed(CONTENT)
    assert sealer.open(sealed) == CONTENT
    assert sealer.seal(CONTENT)["token"] != sealed["token"], "every seal has its own IV"


def test_the_first_key_seals_and_every_key_opens() -> None:
    old, new = key(), key()
    sealed_with_old = SnapshotSealer([old]).seal(CONTENT)

    rotated = SnapshotSealer([new, old])
    assert rotated.open(sealed_with_old) == CONTENT
    sealed_with_new = rotated.seal(CONTENT)
    assert SnapshotSealer([new]).open(sealed_with_new) == CONTENT
    with pytest.raises(SealingError):
        SnapshotSealer([old]).open(sealed_with_new)

    resealed = rotated.rotate(sealed_with_old)
    assert SnapshotSealer([new]).open(resealed) == CONTENT


def test_a_wrong_key_is_a_clear_error() -> None:
    sealed = SnapshotSealer([key()]).seal(CONTENT)
    with pytest.raises(SealingError, match="cannot be opened with any configured key"):
        SnapshotSealer([key(), key()]).open(sealed)
    tampered = {**sealed, "token": sealed["token"][:-4] + "AAAA"}
    with pytest.raises(SealingError):
        SnapshotSealer([key()]).open(tampered)
    with pytest.raises(SealingError, match="unknown snapshot sealing"):
        SnapshotSealer([key()]).open({"sealed": "rot13", "token": "x"})


def test_legacy_plaintext_snapshots_open_as_they_are() -> None:
    sealer = SnapshotSealer([key()])
    assert sealer.open(CONTENT) == CONTENT
    assert sealer.open(CONTENT) is CONTENT
    assert sealer.open(sealer.rotate(CONTENT)) == CONTENT, "rotate seals a plaintext row"


def test_load_keys_parses_a_comma_separated_list_newest_first() -> None:
    first, second = key(), key()
    assert load_keys(f" {first.decode()} , {second.decode()},") == [first, second]
    sealer = SnapshotSealer.from_value(f"{first.decode()},{second.decode()}")
    assert SnapshotSealer([first]).open(sealer.seal(CONTENT)) == CONTENT


@pytest.mark.parametrize("value", ["", " , ", "not-a-key", "A" * 43 + "=,short"])
def test_load_keys_refuses_what_is_not_a_fernet_key(value: str) -> None:
    with pytest.raises(SealingError, match="MEDIC_SNAPSHOT_KEYS"):
        load_keys(value)


def test_a_sealer_needs_a_key() -> None:
    with pytest.raises(SealingError):
        SnapshotSealer([])
    with pytest.raises(SealingError):
        SnapshotSealer([b"short"])


def test_ensure_key_file_creates_a_private_key_once(tmp_path: Path) -> None:
    path = tmp_path / "home" / "snapshot.key"
    value = ensure_key_file(path)
    assert load_keys(value) == [value.encode()]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_key_file(path) == value, "an existing key is kept"
    assert [p.name for p in path.parent.iterdir()] == ["snapshot.key"], "no temporary file is left"
    sealed = SnapshotSealer.from_value(value).seal(CONTENT)
    assert SnapshotSealer.from_value(ensure_key_file(path)).open(sealed) == CONTENT


def test_ensure_key_file_refuses_a_damaged_file(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.key"
    path.write_text("garbage\n")
    with pytest.raises(SealingError):
        ensure_key_file(path)
