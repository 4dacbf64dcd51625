"""Memory of past incidents: remember a closed incident, recall the ones most like a new one.

Like every repository, `MemoryRepository` wraps the caller's session and never commits.

Full-text search is the database's own: on PostgreSQL `to_tsvector('english', search_text)`
(GIN-indexed) matched with `websearch_to_tsquery` and ranked by `ts_rank`; on SQLite the FTS5
table `incident_memory_fts` (kept in sync by triggers) matched with `MATCH` and ranked by `bm25`.
Both are created by migration 2026_11_23_0002 and are not in `store.models`;
`autogenerate_include_name` hides them from autogenerate's model/database comparison.

Query text is untrusted (it comes from alerts and the cluster): it is reduced to plain words,
each quoted, joined by OR. No operator, column filter, prefix or phrase syntax of either engine
can get through.

Scoring (0..1, higher is closer), the sum of:

    0.20 × text rank       the engine's rank divided by the best rank of this recall
    0.20 × text coverage   share of the query's words found in the memory's text
    0.25   same workload   ("namespace/Kind/name")
    0.15   same alertname
    0.10   same root cause (only when the caller knows one)
    0.10   same namespace

A memory is a candidate when its text matches or it shares the workload, alertname or root
cause; a shared namespace only adds to the score of a candidate. The engines' ranks have
different scales, so the rank is made relative to the best match of the same query; coverage
keeps a lone weak match from looking perfect. Ties go to the most recently closed incident.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, or_, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from domain.incident.memory import IncidentMemory, SimilarIncident
from store.models import IncidentMemory as IncidentMemoryRow
from store.redaction import redacted_for_store

SQLITE_FTS_TABLE = "incident_memory_fts"
POSTGRES_SEARCH_INDEX = "ix_incident_memory_search_text_fts"
# Must be the expression the GIN index is built on, or PostgreSQL will not use the index.
_POSTGRES_TSVECTOR = "to_tsvector('english', search_text)"

TEXT_RANK_WEIGHT = 0.20
TEXT_COVERAGE_WEIGHT = 0.20
WORKLOAD_WEIGHT = 0.25
ALERTNAME_WEIGHT = 0.15
ROOT_CAUSE_WEIGHT = 0.10
NAMESPACE_WEIGHT = 0.10

# Words of a query that are searched; the first ones win (title and alert first, see recall_keys).
MAX_QUERY_TERMS = 32
MAX_TERM_CHARS = 64
# Candidates read from each source (text match, structured match) before scoring.
CANDIDATE_POOL = 50

# Letters and digits only: never quotes, operators, '*', ':', '^', parentheses or '-'.
_WORD = re.compile(r"[^\W_]+")
# Operators of websearch_to_tsquery (and English stop words, so searching for them finds nothing).
_WEBSEARCH_OPERATORS = frozenset({"or", "and", "not"})


def autogenerate_include_name(name: str | None, type_: str, parent_names: Mapping[Any, Any]) -> bool:
    """Alembic `include_name` hook: hide the dialect-specific search index from autogenerate.

    The FTS5 table and its shadow tables (`incident_memory_fts_data`, `_idx`, `_content`,
    `_docsize`, `_config`) on SQLite and the GIN expression index on PostgreSQL exist only in
    the migration, because neither can be described portably in `store.models`.
    """
    if name is None:
        return True
    if type_ == "table":
        return not (name == SQLITE_FTS_TABLE or name.startswith(f"{SQLITE_FTS_TABLE}_"))
    if type_ == "index":
        return name != POSTGRES_SEARCH_INDEX
    return True


def query_terms(query_text: str) -> list[str]:
    """The distinct lower-case words of `query_text`, in order, at most `MAX_QUERY_TERMS`."""
    terms: dict[str, None] = {}
    for word in _WORD.findall(query_text.lower()):
        # One letter says nothing; a very long "word" is noise PostgreSQL would not index anyway.
        if 1 < len(word) <= MAX_TERM_CHARS and word not in terms:
            terms[word] = None
            if len(terms) >= MAX_QUERY_TERMS:
                break
    return list(terms)


def fts5_query(terms: list[str]) -> str:
    """An FTS5 MATCH expression: any of the terms, each a quoted string (so never an operator)."""
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)


def websearch_query(terms: list[str]) -> str:
    """A `websearch_to_tsquery` input: any of the terms. That function never raises on its input."""
    return " or ".join(term for term in terms if term not in _WEBSEARCH_OPERATORS)


def search_text_of(memory: IncidentMemory) -> str:
    """The text full-text search reads for a memory."""
    parts = [
        memory.title,
        memory.alertname or "",
        memory.namespace or "",
        (memory.workload or "").replace("/", " "),
        (memory.root_cause or "").replace("_", " "),
        memory.summary,
        memory.reason,
        " ".join(memory.signals),
        " ".join(str(action.get("kind", "")).replace("_", " ") for action in memory.actions),
    ]
    return "\n".join(part for part in parts if part)


@dataclass(frozen=True)
class _Candidate:
    row: IncidentMemoryRow
    rank: float = 0.0


class MemoryRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name

    def remember(self, memory: IncidentMemory) -> IncidentMemoryRow:
        """Store the memory of a closed incident, replacing an earlier one of the same incident.

        Idempotent (one `INSERT .. ON CONFLICT DO UPDATE` keyed by incident_id). The incident row
        must exist: the foreign key refuses a memory of an unknown incident.
        """
        values: dict[str, Any] = {
            "incident_id": memory.incident_id,
            "title": redacted_for_store("incident_memory", "title", memory.title),
            "alertname": memory.alertname,
            "namespace": memory.namespace,
            "workload": memory.workload,
            "root_cause": redacted_for_store("incident_memory", "root_cause", memory.root_cause),
            "summary": redacted_for_store("incident_memory", "summary", memory.summary),
            "actions": redacted_for_store("incident_memory", "actions", [dict(a) for a in memory.actions]),
            "signals": redacted_for_store("incident_memory", "signals", list(memory.signals)),
            "outcome": memory.outcome,
            "reason": redacted_for_store("incident_memory", "reason", memory.reason),
            "search_text": redacted_for_store("incident_memory", "search_text", search_text_of(memory)),
            "closed_at": memory.closed_at,
        }
        dialect = self._dialect()
        if dialect == "postgresql":
            stmt: Any = postgresql.insert(IncidentMemoryRow)
        elif dialect == "sqlite":
            stmt = sqlite.insert(IncidentMemoryRow)
        else:
            raise NotImplementedError(f"the store supports PostgreSQL and SQLite, not {dialect}")
        stmt = stmt.values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[IncidentMemoryRow.incident_id],
            set_={key: stmt.excluded[key] for key in values if key != "incident_id"},
        )
        return self.session.scalars(
            stmt.returning(IncidentMemoryRow), execution_options={"populate_existing": True}
        ).one()

    def get(self, incident_id: str) -> IncidentMemoryRow | None:
        return self.session.get(IncidentMemoryRow, incident_id)

    def similar(
        self,
        query_text: str,
        *,
        alertname: str | None = None,
        namespace: str | None = None,
        workload: str | None = None,
        root_cause: str | None = None,
        exclude_incident_id: str | None = None,
        limit: int = 3,
    ) -> list[SimilarIncident]:
        """The `limit` past incidents most similar to the description, best first.

        `query_text` is free text (alert title, summaries, workload names, observed reasons);
        the keyword arguments boost memories that share them (see the module docstring for the
        scoring). `exclude_incident_id` leaves out the incident being analysed. Never raises on
        any query text.
        """
        if limit <= 0:
            return []
        terms = query_terms(query_text)
        candidates: dict[str, _Candidate] = {}

        ranks = self._text_ranks(terms, exclude_incident_id) if terms else {}
        if ranks:
            rows = self.session.scalars(
                select(IncidentMemoryRow).where(IncidentMemoryRow.incident_id.in_(list(ranks)))
            )
            for row in rows:
                candidates[row.incident_id] = _Candidate(row, ranks[row.incident_id])

        related: list[ColumnElement[bool]] = []
        if workload:
            related.append(IncidentMemoryRow.workload == workload)
        if alertname:
            related.append(IncidentMemoryRow.alertname == alertname)
        if root_cause:
            related.append(IncidentMemoryRow.root_cause == root_cause)
        if related:
            stmt = select(IncidentMemoryRow).where(or_(*related))
            if exclude_incident_id is not None:
                stmt = stmt.where(IncidentMemoryRow.incident_id != exclude_incident_id)
            stmt = stmt.order_by(IncidentMemoryRow.closed_at.desc()).limit(CANDIDATE_POOL)
            for row in self.session.scalars(stmt):
                candidates.setdefault(row.incident_id, _Candidate(row))

        best_rank = max((c.rank for c in candidates.values()), default=0.0)
        query_words = set(terms)
        scored: list[SimilarIncident] = []
        for candidate in candidates.values():
            row = candidate.row
            score = 0.0
            if candidate.rank > 0 and best_rank > 0:
                score += TEXT_RANK_WEIGHT * candidate.rank / best_rank
            if query_words:
                found = query_words & set(_WORD.findall(row.search_text.lower()))
                score += TEXT_COVERAGE_WEIGHT * len(found) / len(query_words)
            if workload and row.workload == workload:
                score += WORKLOAD_WEIGHT
            if alertname and row.alertname == alertname:
                score += ALERTNAME_WEIGHT
            if root_cause and row.root_cause == root_cause:
                score += ROOT_CAUSE_WEIGHT
            if namespace and row.namespace == namespace:
                score += NAMESPACE_WEIGHT
            scored.append(_similar(row, round(score, 4)))

        scored.sort(key=lambda s: (-s.score, -s.closed_at.timestamp(), s.incident_id))
        return scored[:limit]

    def _text_ranks(self, terms: list[str], exclude_incident_id: str | None) -> dict[str, float]:
        """incident_id → the engine's relevance (higher is better) for the best text matches."""
        params: dict[str, Any] = {"pool": CANDIDATE_POOL}
        exclude = ""
        if exclude_incident_id is not None:
            exclude = "AND incident_id <> :exclude"
            params["exclude"] = exclude_incident_id
        dialect = self._dialect()
        if dialect == "postgresql":
            query = websearch_query(terms)
            if not query:
                return {}
            params["query"] = query
            sql = text(
                f"SELECT incident_id, ts_rank({_POSTGRES_TSVECTOR}, query) AS rank "
                "FROM incident_memory, websearch_to_tsquery('english', :query) AS query "
                f"WHERE {_POSTGRES_TSVECTOR} @@ query {exclude} "
                "ORDER BY rank DESC, incident_id LIMIT :pool"
            )
        elif dialect == "sqlite":
            params["query"] = fts5_query(terms)
            # bm25() is lower-is-better and negative; flip it so that higher is better everywhere.
            sql = text(
                f"SELECT incident_id, -bm25({SQLITE_FTS_TABLE}) AS rank FROM {SQLITE_FTS_TABLE} "
                f"WHERE {SQLITE_FTS_TABLE} MATCH :query {exclude} "
                "ORDER BY rank DESC, incident_id LIMIT :pool"
            )
        else:
            raise NotImplementedError(f"the store supports PostgreSQL and SQLite, not {dialect}")
        return {incident_id: float(rank) for incident_id, rank in self.session.execute(sql, params)}


def _similar(row: IncidentMemoryRow, score: float) -> SimilarIncident:
    return SimilarIncident(
        incident_id=row.incident_id,
        title=row.title,
        alertname=row.alertname,
        namespace=row.namespace,
        workload=row.workload,
        root_cause=row.root_cause,
        summary=row.summary,
        actions=list(row.actions or []),
        outcome=row.outcome,
        reason=row.reason,
        closed_at=row.closed_at,
        signals=list(row.signals or []),
        score=score,
        rolled_back_before=row.outcome == "rolled_back",
    )
