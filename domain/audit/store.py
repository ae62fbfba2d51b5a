"""Where audit entries are kept: append-only tables, SQLite in the data directory on the
embedded default, PostgreSQL in production (docs/decisions/0026).

`append` chains a batch of drafts onto their tenants' chains in one transaction (a group
commit): each tenant's head row (last seq and hash) is locked, the entries are inserted,
the head moves. Triggers refuse every UPDATE and DELETE of an entry, so the application
can only ever append; the chain (domain/audit/chain.py) catches whoever bypasses them.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import groupby
from typing import Any

from domain.audit.chain import entry_bytes, link
from domain.audit.entry import AuditEntry, Draft

COLUMNS = (
    "tenant, seq, recorded_at, actor_id, role, action, subject_type, subject_id, outcome, "
    "status, correlation_id, request_id, position, hash"
)
# The probe a command's pre-flight writes and rolls back: proof the store takes writes.
PROBE_TENANT = "(probe)"  # no tenant id looks like this; the insert is rolled back
VERIFY_CHUNK = 5000


@dataclass(frozen=True)
class AuditFilter:
    actor_id: str | None = None
    subject_id: str | None = None
    action: str | None = None
    outcome: str | None = None
    since: datetime | None = None  # recordedAt >= since
    until: datetime | None = None  # recordedAt < until
    before_seq: int | None = None  # the cursor: entries older than this one


def timestamp(at: datetime) -> str:
    """The one text form of `recordedAt` (fixed width, UTC, microseconds), so that the
    stored text sorts by time and the chain hashes what is stored."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def parse_timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text)


def chained(
    key: bytes, drafts: Sequence[Draft], head: tuple[int, str], at: datetime
) -> list[AuditEntry]:
    """The entries `drafts` (of one tenant) become after `head`: the pure half of append."""
    seq, previous = head
    entries = []
    recorded_at = parse_timestamp(timestamp(at))
    for draft in drafts:
        seq += 1
        entry = AuditEntry(
            tenant=draft.tenant,
            seq=seq,
            recorded_at=recorded_at,
            actor_id=draft.actor_id,
            role=draft.role,
            action=draft.action,
            subject_type=draft.subject_type,
            subject_id=draft.subject_id,
            outcome=draft.outcome.value,
            status=draft.status,
            correlation_id=draft.correlation_id,
            request_id=draft.request_id,
            position=draft.position,
            hash="",
        )
        previous = link(key, previous, entry_bytes(entry))
        entries.append(dataclasses.replace(entry, hash=previous))
    return entries


def row_of(entry: AuditEntry) -> tuple[Any, ...]:
    return (
        entry.tenant,
        entry.seq,
        timestamp(entry.recorded_at),
        entry.actor_id,
        entry.role,
        entry.action,
        entry.subject_type,
        entry.subject_id,
        entry.outcome,
        entry.status,
        entry.correlation_id,
        entry.request_id,
        entry.position,
        entry.hash,
    )


def entry_of(row: Sequence[Any]) -> AuditEntry:
    recorded = row[2]
    recorded_at = recorded if isinstance(recorded, datetime) else parse_timestamp(recorded)
    return AuditEntry(
        tenant=row[0],
        seq=int(row[1]),
        recorded_at=recorded_at.astimezone(UTC),
        actor_id=row[3],
        role=row[4],
        action=row[5],
        subject_type=row[6],
        subject_id=row[7],
        outcome=row[8],
        status=int(row[9]),
        correlation_id=row[10],
        request_id=row[11],
        position=None if row[12] is None else int(row[12]),
        hash=row[13],
    )


# The index a filter is served by, most selective first (SQLite, which has no statistics
# unless someone runs ANALYZE, would otherwise scan the tenant's whole chain).
FILTER_INDEXES = (
    ("subject_id", "audit_by_subject"),
    ("actor_id", "audit_by_actor"),
    ("action", "audit_by_action"),
    ("outcome", "audit_by_outcome"),
)


def index_for(f: AuditFilter) -> str | None:
    if f.actor_id is not None and f.action is not None and f.subject_id is None:
        return "audit_by_actor_action"  # who did what: a rare pair is a short range
    for column, index in FILTER_INDEXES:
        if getattr(f, column) is not None:
            return index
    return None


@dataclass(frozen=True)
class SeqRange:
    """A time range as a seq range: `recordedAt` never decreases along a chain (append
    makes it so), so the entries of [since, until) are those of [low, high)."""

    low: int | None = None
    high: int | None = None
    empty: bool = False


def where(tenant: str, f: AuditFilter, seqs: SeqRange, mark: str) -> tuple[str, list[Any]]:
    clauses = ["tenant = " + mark]
    params: list[Any] = [tenant]
    for column, value in (
        ("actor_id", f.actor_id),
        ("subject_id", f.subject_id),
        ("action", f.action),
        ("outcome", f.outcome),
    ):
        if value is not None:
            clauses.append(f"{column} = {mark}")
            params.append(value)
    if seqs.low is not None:
        clauses.append(f"seq >= {mark}")
        params.append(seqs.low)
    if seqs.high is not None:
        clauses.append(f"seq < {mark}")
        params.append(seqs.high)
    if f.before_seq is not None:
        clauses.append(f"seq < {mark}")
        params.append(f.before_seq)
    return " AND ".join(clauses), params


class AuditStore(ABC):
    def __init__(self, key: bytes, now: Callable[[], datetime]) -> None:
        self.key = key
        self.now = now

    def chain(
        self, drafts: Sequence[Draft], head: tuple[int, str], previous_at: str | None
    ) -> list[AuditEntry]:
        """The entries of `drafts` after `head`, recorded now, or at the previous entry's
        time if the clock went back: a chain's `recordedAt` never decreases."""
        now = self.now()
        if previous_at is not None and timestamp(now) < previous_at:
            now = parse_timestamp(previous_at)
        return chained(self.key, drafts, head, now)

    def query(self, tenant: str, f: AuditFilter, limit: int) -> list[AuditEntry]:
        """Entries of `tenant` matching `f`, newest first: an index range read."""
        seqs = self.seq_range(tenant, f)
        if seqs.empty:
            return []
        return self.select(tenant, f, seqs, limit)

    def seq_range(self, tenant: str, f: AuditFilter) -> SeqRange:
        """`f`'s time range as a seq range: two index lookups."""
        if f.since is None and f.until is None:
            return SeqRange()
        low = self.first_seq_at(tenant, f.since) if f.since is not None else None
        high = self.first_seq_at(tenant, f.until) if f.until is not None else None
        if f.since is not None and low is None:
            return SeqRange(empty=True)  # nothing recorded at or after `since`
        return SeqRange(low, high)

    @abstractmethod
    def first_seq_at(self, tenant: str, at: datetime) -> int | None:
        """The seq of the tenant's first entry recorded at or after `at`."""

    @abstractmethod
    def statement(
        self, tenant: str, f: AuditFilter, seqs: SeqRange, limit: int
    ) -> tuple[str, list[Any]]:
        """The SQL (and its parameters) of the entries matching `f` within `seqs`, newest
        first: what `select` runs, and what a benchmark asks the plan of."""

    @abstractmethod
    def select(self, tenant: str, f: AuditFilter, seqs: SeqRange, limit: int) -> list[AuditEntry]:
        """Entries matching `f` within `seqs`, newest first."""

    @abstractmethod
    def append(self, drafts: Sequence[Draft], probe: bool = False) -> list[AuditEntry]:
        """Chain and store `drafts` in one transaction, in the order given per tenant,
        and return their entries in the order of `drafts`;
        with `probe`, also prove the store takes writes (an insert rolled back). Raises
        whatever the database raises, and then nothing was stored."""

    @abstractmethod
    def entries(
        self, tenant: str, after_seq: int = 0, limit: int = VERIFY_CHUNK
    ) -> list[AuditEntry]:
        """Entries of `tenant` in stored order (by seq), after `after_seq`."""

    @abstractmethod
    def head(self, tenant: str) -> tuple[int, str] | None:
        """The store's record of the tenant's newest entry: (seq, hash)."""

    @abstractmethod
    def tenants(self) -> list[str]:
        """Every tenant with a chain (PLATFORM, "", included)."""

    @abstractmethod
    def has_request(self, request_id: str) -> bool:
        """An entry of this request is stored."""

    @abstractmethod
    def close(self) -> None: ...

    def all_entries(self, tenant: str) -> Iterator[AuditEntry]:
        after = 0
        while True:
            chunk = self.entries(tenant, after)
            yield from chunk
            if len(chunk) < VERIFY_CHUNK:
                return
            after = chunk[-1].seq


def by_tenant(drafts: Sequence[Draft]) -> list[tuple[str, list[int], list[Draft]]]:
    """Drafts grouped by tenant, with their indexes in `drafts`: tenants in a fixed order
    (so concurrent writers lock heads in one order and never deadlock), each tenant's
    drafts in arrival order."""
    ordered = sorted(range(len(drafts)), key=lambda i: (drafts[i].tenant, i))
    groups = []
    for tenant, indexes in groupby(ordered, key=lambda i: drafts[i].tenant):
        chosen = list(indexes)
        groups.append((tenant, chosen, [drafts[i] for i in chosen]))
    return groups
