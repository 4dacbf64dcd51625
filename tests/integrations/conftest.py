"""Fixtures of the integration tests: the store's databases (SQLite, and PostgreSQL when it is
reachable), migrated, for the local pull request host, whose records live in the store."""

from __future__ import annotations

from tests.store.conftest import db_url, engine, migrated_url, postgres_url, sqlite_url

__all__ = ["db_url", "engine", "migrated_url", "postgres_url", "sqlite_url"]
