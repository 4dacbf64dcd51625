"""A PostgreSQL server that hangs is as unreachable as one that refuses: the attempt ends in time."""

from __future__ import annotations

import socket
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

import store.db
from store.db import make_engine


def test_a_postgres_that_never_answers_fails_the_connection_within_the_connect_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(store.db, "POSTGRES_CONNECT_TIMEOUT_SECONDS", 1)
    # A listener that accepts connections and never says a word.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        engine = make_engine(f"postgresql://medic@127.0.0.1:{port}/medic")
        started = time.monotonic()
        with pytest.raises(OperationalError, match="timeout"), engine.connect() as connection:
            connection.execute(text("select 1"))
        assert time.monotonic() - started < 5
        engine.dispose()
