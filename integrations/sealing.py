"""Snapshots encrypted at rest: Fernet (AES-128-CBC + HMAC-SHA256) with key rotation.

A snapshot holds an object's spec exactly as it was, literal `env` values included, because an
exact restore needs them; so what the store keeps is a sealed token, never the spec in plaintext.

Keys come as a comma-separated list, newest first: the first key seals, every key opens. To
rotate, put a new key in front and keep the old ones until the snapshots they sealed are no longer
needed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from integrations.errors import PermanentError

SEALED_MARKER = "fernet"
KEYS_VARIABLE = "MEDIC_SNAPSHOT_KEYS"
GENERATE_KEY_COMMAND = (
    'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
)


class SealingError(PermanentError):
    """A key cannot be parsed, or a sealed snapshot cannot be opened with the configured keys:
    permanent, until someone changes the keys."""


def generate_key() -> str:
    return Fernet.generate_key().decode()


def load_keys(value: str) -> list[bytes]:
    """Fernet keys from a comma-separated list (newest first); whitespace and empty items are ignored."""
    keys: list[bytes] = []
    for position, item in enumerate((part.strip() for part in value.split(",")), start=1):
        if not item:
            continue
        try:
            Fernet(item.encode())
        except (ValueError, TypeError) as err:
            raise SealingError(
                f"{KEYS_VARIABLE}: key {position} is not a Fernet key (32 url-safe base64-encoded "
                f"bytes); generate one with `{GENERATE_KEY_COMMAND}`"
            ) from err
        keys.append(item.encode())
    if not keys:
        raise SealingError(f"{KEYS_VARIABLE} holds no key; generate one with `{GENERATE_KEY_COMMAND}`")
    return keys


def ensure_secret_file(path: str | os.PathLike[str], generate: Callable[[], str]) -> str:
    """The secret kept in `path`, creating the file (mode 0600) from `generate()` when it is
    missing; the stripped content. Safe when several processes start at once."""
    file = Path(path)
    if not file.exists():
        file.parent.mkdir(parents=True, exist_ok=True)
        # Written whole under a temporary name, then linked into place: a concurrent reader
        # never sees a partial secret, and when two processes race the first link wins.
        temporary = file.with_name(f".{file.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(generate() + "\n")
            os.link(temporary, file)
        except FileExistsError:
            pass  # another process created it first: use theirs
        finally:
            temporary.unlink(missing_ok=True)
    return file.read_text().strip()


def ensure_key_file(path: str | os.PathLike[str]) -> str:
    """The key kept in `path`, creating the file (mode 0600) with a new key when it is missing."""
    value = ensure_secret_file(path, generate_key)
    load_keys(value)  # refuse a damaged file here rather than at the first snapshot
    return value


class SnapshotSealer:
    """Seals snapshot content for the store and opens it again for a restore."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise SealingError("a snapshot sealer needs at least one key")
        try:
            self._fernet = MultiFernet([Fernet(key) for key in keys])
        except (ValueError, TypeError) as err:
            raise SealingError(f"not a Fernet key: {err}") from err

    @classmethod
    def from_value(cls, value: str) -> SnapshotSealer:
        """From the comma-separated form of MEDIC_SNAPSHOT_KEYS."""
        return cls(load_keys(value))

    def seal(self, content: dict[str, Any]) -> dict[str, Any]:
        plaintext = json.dumps(content, sort_keys=True, separators=(",", ":")).encode()
        return {"sealed": SEALED_MARKER, "token": self._fernet.encrypt(plaintext).decode()}

    def open(self, stored: dict[str, Any]) -> dict[str, Any]:
        """The content `seal` was given; a legacy plaintext snapshot (no marker) is returned as it is."""
        if not is_sealed(stored):
            return stored
        if stored.get("sealed") != SEALED_MARKER or not isinstance(stored.get("token"), str):
            raise SealingError(f"unknown snapshot sealing {stored.get('sealed')!r}")
        try:
            plaintext = self._fernet.decrypt(stored["token"].encode())
        except InvalidToken as err:
            raise SealingError(
                "the snapshot cannot be opened with any configured key (wrong key, a key removed "
                f"from {KEYS_VARIABLE} too early, or damaged content)"
            ) from err
        content = json.loads(plaintext)
        if not isinstance(content, dict):  # pragma: no cover - seal only takes dicts
            raise SealingError("a sealed snapshot does not hold an object")
        return content

    def rotate(self, stored: dict[str, Any]) -> dict[str, Any]:
        """The same content sealed again under the newest key (plaintext gets sealed)."""
        if not is_sealed(stored):
            return self.seal(stored)
        self.open(stored)  # a clear error for a token no key opens
        return {"sealed": SEALED_MARKER, "token": self._fernet.rotate(stored["token"].encode()).decode()}


def is_sealed(stored: Any) -> bool:
    """Whether stored snapshot content is sealed; plaintext content (from before sealing) has no marker."""
    return isinstance(stored, dict) and "sealed" in stored
