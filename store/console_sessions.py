"""Console session generations (`ConsoleSessionRepository`): the store's side of ending sessions.

A user's generation starts at 0 (no row) and goes up by one at each logout; a session cookie is
valid only while the generation it was issued in is still the user's. Kept in the store so that
every gateway replica sees a logout at once. Like `store.repositories`, the repository wraps the
caller's session and never commits.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import ConsoleSessionGeneration, utcnow
from store.repositories import _insert


class ConsoleSessionRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def generation(self, user_name: str) -> int:
        """The user's current generation; 0 for a user who never logged out."""
        value = self.session.scalar(
            select(ConsoleSessionGeneration.generation).where(ConsoleSessionGeneration.user_name == user_name)
        )
        return int(value or 0)

    def advance(self, user_name: str, *, at: datetime | None = None) -> int:
        """Move the user's generation on by one (atomically, also when two replicas race) and
        return the new one: every session issued before is ended."""
        when = at or utcnow()
        table = ConsoleSessionGeneration.__table__
        stmt = _insert(self.session, ConsoleSessionGeneration).values(
            user_name=user_name, generation=1, updated_at=when
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[ConsoleSessionGeneration.user_name],
            set_={"generation": table.c.generation + 1, "updated_at": when},
        ).returning(ConsoleSessionGeneration.generation)
        return int(self.session.execute(stmt).scalar_one())
