"""Console session generations: a user starts at 0 and each logout moves them on by one."""

from __future__ import annotations

from sqlalchemy.orm import Session

from store.console_sessions import ConsoleSessionRepository


def test_a_user_who_never_logged_out_is_at_generation_zero(session: Session) -> None:
    assert ConsoleSessionRepository(session).generation("alice") == 0


def test_each_logout_moves_only_that_users_generation_on(session: Session) -> None:
    sessions = ConsoleSessionRepository(session)
    assert sessions.advance("alice") == 1
    assert sessions.advance("alice") == 2
    assert sessions.generation("alice") == 2
    assert sessions.generation("bob") == 0
