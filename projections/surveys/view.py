"""Queries of the survey read models. Every list is one index range of a sorted table
(its key starts with the tenant id), read a page at a time; nothing reads a whole tenant
and filters or sorts it here, but the templates, of which a tenant has a few.

The ranges name no tenant_id column: the key prefix already holds every row of the range
to the tenant, and with an equality on tenant_id SQLite's planner prefers that index and
sorts the whole partition instead of reading the range (EXPLAIN QUERY PLAN)."""

from __future__ import annotations

from datetime import UTC, datetime

from projections.deadlines.evolve import sort_key
from projections.platform.store import Doc, ReadStore
from projections.surveys.evolve import (
    BY_NEGATIVE,
    BY_NEGATIVE_STATUS,
    BY_STATUS,
    KEY,
    public,
    summarize,
)
from projections.surveys.projection import (
    ANSWERED,
    FEEDBACK,
    LINKS,
    LISTING,
    NEEDS_ACTION,
    SURVEYS,
    TEMPLATES,
    SurveyProjection,
)

_END = "\uffff"
STATS_PAGE = 1000


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


class SurveyView:
    name = SurveyProjection.name

    def __init__(self, store: ReadStore) -> None:
        self.store = store

    def _get(self, table: str, key: str) -> Doc | None:
        row = self.store.get(table, key)
        return None if row is None else public(row)

    def _page(
        self, table: str, prefix: str, cursor: str | None, limit: int
    ) -> tuple[list[Doc], str | None]:
        """Up to `limit` rows whose key starts with `prefix`, after `cursor` (the key of
        the last row of the previous page; one of another listing starts over), and the
        next cursor, or None on the last page."""
        if limit < 1:
            raise ValueError("a page holds at least one row")
        after = cursor if cursor is not None and cursor.startswith(prefix) else prefix
        rows = self.store.page(table, None, after, prefix + _END, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return [public(r) for r in rows], (rows[-1][KEY] if more else None)

    # -- templates ----------------------------------------------------------------------

    def template(self, template_id: str) -> Doc | None:
        """Any tenant's template: the caller checks it is visible."""
        return self._get(TEMPLATES, template_id)

    def templates(self, tenant_id: str) -> list[Doc]:
        """The tenant's templates by name (a tenant has a few)."""
        rows = self.store.list(TEMPLATES, tenant_id)
        return sorted(rows, key=lambda t: (t["name"].casefold(), t["id"]))

    # -- surveys ------------------------------------------------------------------------

    def survey(self, survey_id: str) -> Doc | None:
        """Any tenant's survey: the caller checks it is visible."""
        return self._get(SURVEYS, survey_id)

    def surveys(
        self,
        tenant_id: str,
        negative: bool | None,
        status: str | None,
        cursor: str | None,
        limit: int,
    ) -> tuple[list[Doc], str | None]:
        """The tenant's surveys, newest sent first, optionally only those whose isNegative
        is `negative` (an unanswered survey is not negative) and/or whose status is
        `status`; a page and the next cursor."""
        if negative is None and status is None:
            return self._page(SURVEYS, f"{tenant_id}|", cursor, limit)
        flag = "y" if negative else "n"
        if status is None:
            prefix = f"{tenant_id}|{BY_NEGATIVE}|{flag}|"
        elif negative is None:
            prefix = f"{tenant_id}|{BY_STATUS}|{status}|"
        else:
            prefix = f"{tenant_id}|{BY_NEGATIVE_STATUS}|{flag}|{status}|"
        return self._page(LISTING, prefix, cursor, limit)

    def needs_action(
        self, tenant_id: str, cursor: str | None, limit: int
    ) -> tuple[list[Doc], str | None]:
        """Every negative survey whose loop is open and not waiting for the patient's
        satisfaction answer, oldest answer first; a page and the next cursor."""
        return self._page(NEEDS_ACTION, f"{tenant_id}|", cursor, limit)

    def stats(self, tenant_id: str, start: datetime | None, end: datetime | None) -> Doc:
        """Figures over the tenant's surveys answered in [start, end) (naive times are
        UTC): reads that range of the answered surveys' index, nothing else."""
        start = None if start is None else _utc(start)
        end = None if end is None else _utc(end)
        after = f"{tenant_id}|{sort_key(start)}" if start else f"{tenant_id}|"
        below = f"{tenant_id}|{sort_key(end)}" if end else f"{tenant_id}|{_END}"
        rows: list[Doc] = []
        while True:
            page = self.store.page(ANSWERED, None, after, below, STATS_PAGE)
            rows.extend(page)
            if len(page) < STATS_PAGE:
                break
            after = page[-1][KEY]
        return summarize(rows, start, end)

    # -- satisfaction checks and public forms -------------------------------------------

    def feedback(self, feedback_id: str) -> Doc | None:
        """Any tenant's feedback record, with its related survey card."""
        return self._get(FEEDBACK, feedback_id)

    def public_form(self, link_id: str) -> Doc | None:
        """A one-time link's form, by link id (derived from the token's hash). The caller
        compares the hash in constant time and decides 404 / 410."""
        return self._get(LINKS, link_id)
