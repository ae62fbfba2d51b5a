"""The audit store on both backends: a filtered page is exactly the matching entries,
newest first; a cursor walks them all once; a time range is exact even when the clock
went back, because a chain's recordedAt never decreases; and on SQLite every filter is
read through its own index."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from domain.audit.chain import verify
from domain.audit.entry import AuditEntry, Draft, Outcome
from domain.audit.sqlite_store import SQLiteAuditStore
from domain.audit.store import AuditFilter, AuditStore
from tests.support.app import make_runtime

TENANT, OTHER = "tenant-a", "tenant-b"
START = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


class SteppingClock:
    """Each reading a minute later, except every seventh, which is an hour earlier."""

    def __init__(self) -> None:
        self.at = START
        self.readings = itertools.count()

    def __call__(self) -> datetime:
        n = next(self.readings)
        self.at += timedelta(minutes=1) if n % 7 else -timedelta(hours=1)
        return self.at


@pytest.fixture
def store(backend: str, tmp_path: Path) -> Iterator[AuditStore]:
    with make_runtime(backend, tmp_path) as runtime:
        runtime.audit.now = SteppingClock()
        yield runtime.audit


def fill(store: AuditStore, count: int = 300) -> list[AuditEntry]:
    rng = random.Random(11)
    stored: list[AuditEntry] = []
    for i in range(0, count, 10):  # batches of ten, both tenants mixed, as a group commit
        drafts = [
            Draft(
                tenant=rng.choice((TENANT, TENANT, OTHER)),
                actor_id=f"actor-{rng.randrange(5)}",
                role="doctor",
                action=rng.choice(("workout.read", "note_saved", "patient.read")),
                subject_type="patient",
                subject_id=f"patient-{rng.randrange(12)}",
                outcome=rng.choice(list(Outcome)),
                status=200,
                correlation_id=None,
                request_id=f"request-{i + j}",
            )
            for j in range(10)
        ]
        stored += store.append(drafts)
    return [e for e in stored if e.tenant == TENANT]


def matching(entries: list[AuditEntry], f: AuditFilter) -> list[int]:
    return [
        e.seq
        for e in sorted(entries, key=lambda e: e.seq, reverse=True)
        if (f.actor_id is None or e.actor_id == f.actor_id)
        and (f.subject_id is None or e.subject_id == f.subject_id)
        and (f.action is None or e.action == f.action)
        and (f.outcome is None or e.outcome == f.outcome)
        and (f.since is None or e.recorded_at >= f.since)
        and (f.until is None or e.recorded_at < f.until)
    ]


FILTERS = [
    AuditFilter(),
    AuditFilter(actor_id="actor-3"),
    AuditFilter(subject_id="patient-7"),
    AuditFilter(action="note_saved"),
    AuditFilter(outcome="denied"),
    AuditFilter(actor_id="actor-1", action="patient.read"),
    AuditFilter(since=START + timedelta(minutes=40), until=START + timedelta(minutes=120)),
    AuditFilter(subject_id="patient-2", since=START + timedelta(minutes=90)),
    AuditFilter(until=START + timedelta(minutes=30)),
    AuditFilter(since=START + timedelta(days=30)),
]


def test_recorded_at_never_decreases_along_a_chain_though_the_clock_went_back(
    store: AuditStore,
) -> None:
    entries = fill(store)
    times = [e.recorded_at for e in entries]
    assert times == sorted(times)
    assert verify(store.key, store.all_entries(TENANT), store.head(TENANT)).verified


@pytest.mark.parametrize("f", FILTERS, ids=lambda f: repr(f)[12:60])
def test_a_filtered_page_is_exactly_the_matching_entries_newest_first(
    store: AuditStore, f: AuditFilter
) -> None:
    entries = fill(store)
    assert [e.seq for e in store.query(TENANT, f, 1000)] == matching(entries, f)


@pytest.mark.parametrize("f", FILTERS[:7], ids=lambda f: repr(f)[12:60])
def test_a_cursor_walks_every_matching_entry_once(store: AuditStore, f: AuditFilter) -> None:
    entries = fill(store)
    seen: list[int] = []
    cursor = None
    while True:
        page = store.query(TENANT, AuditFilter(**{**vars(f), "before_seq": cursor}), 7)
        seen += [e.seq for e in page]
        if len(page) < 7:
            break
        cursor = page[-1].seq
    assert seen == matching(entries, f)


@pytest.mark.parametrize(
    ("f", "index"),
    [
        (AuditFilter(subject_id="p"), "audit_by_subject"),
        (AuditFilter(actor_id="a", action="x"), "audit_by_actor_action"),
        (AuditFilter(actor_id="a", outcome="denied"), "audit_by_actor"),
        (AuditFilter(action="x"), "audit_by_action"),
        (AuditFilter(outcome="denied", before_seq=10), "audit_by_outcome"),
    ],
)
def test_on_sqlite_each_filter_reads_its_own_index(
    tmp_path: Path, f: AuditFilter, index: str
) -> None:
    store = SQLiteAuditStore(tmp_path / "audit.sqlite3", b"k" * 32, lambda: START)
    try:
        sql, params = store.statement(TENANT, f, store.seq_range(TENANT, f), 101)
        plan = " ".join(
            str(row[-1]) for row in store._conn().execute(f"EXPLAIN QUERY PLAN {sql}", params)
        )
        assert f"USING INDEX {index}" in plan or f"USING COVERING INDEX {index}" in plan, plan
        assert "TEMP B-TREE" not in plan, plan
    finally:
        store.close()
