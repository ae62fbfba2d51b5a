"""Tampering with a populated store, as someone with rights on the database would: the
append-only triggers dropped, then single bytes flipped in stored rows, a row deleted,
two rows' contents swapped, a row inserted. Both chains (the audit entries' and the event
log's) must fail verification at the right place for every single change.

The store is populated by driving the real API, chained by the real follower, and
changed with plain SQL on both backends (PostgreSQL in a schema of its own). Each change
is undone after it is checked, and the store verifies again at the end.
"""

from __future__ import annotations

import random
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from bootstrap.runtime import Runtime
from domain.audit.chain_store import Integrity, integrity_of
from domain.audit.events_chain import Damage, EventsVerification, verify_events
from domain.audit.store import COLUMNS
from tests.conftest import BACKENDS
from tests.support.app import Api, make_api
from workers.audit import AuditFollower

# Besides every byte of one row: a random sample over all rows.
RANDOM_FLIPS = 120
AUDIT_COLUMNS = [c.strip() for c in COLUMNS.split(",")]
# Columns a byte can be flipped in without touching the primary key (tenant, seq)'s seq.
AUDIT_FLIPPABLE = [c for c in AUDIT_COLUMNS if c != "seq"]
EVENT_FIELDS = ["originator_id", "originator_version", "topic", "state"]
CHAIN_FIELDS = ["event_hash", "chain_hash"]


def flip_text(text: str, index: int) -> str:
    return text[:index] + chr(ord(text[index]) ^ 0x01) + text[index + 1 :]


def flip_bytes(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


class Database:
    """Plain SQL on the store's tables, as an attacker with database rights has it."""

    def __init__(self, runtime: Runtime, backend: str) -> None:
        self.backend = backend
        if backend == "sqlite":
            data = runtime.settings.data_dir
            self.events: Any = sqlite3.connect(data / "events.sqlite3", isolation_level=None)
            self.audit: Any = sqlite3.connect(data / "audit.sqlite3", isolation_level=None)
            self.table, self.position = "stored_events", "rowid"
        else:
            import psycopg

            assert runtime.settings.database_url
            conn = psycopg.connect(
                runtime.settings.database_url,
                autocommit=True,
                options=f"-c search_path={runtime.settings.database_schema}",
            )
            self.events = self.audit = conn
            self.table, self.position = "careloop_events", "notification_id"

    def run(self, conn: Any, statement: str, params: tuple[Any, ...] = ()) -> list[Any]:
        if self.backend != "sqlite":
            statement = statement.replace("?", "%s")
        cursor = conn.execute(statement, params)
        return list(cursor.fetchall()) if cursor.description else []

    def drop_triggers(self) -> None:
        if self.backend == "sqlite":
            for trigger in ("audit_entries_no_update", "audit_entries_no_delete"):
                self.run(self.audit, f"DROP TRIGGER {trigger}")
            for trigger in ("event_chain_no_update", "event_chain_no_delete"):
                self.run(self.audit, f"DROP TRIGGER {trigger}")
        else:
            self.run(self.audit, "DROP TRIGGER audit_entries_append_only ON audit_entries")
            self.run(self.audit, "DROP TRIGGER event_chain_append_only ON event_chain")

    def close(self) -> None:
        self.events.close()
        if self.audit is not self.events:
            self.audit.close()

    # -- the event log ------------------------------------------------------------------

    def positions(self) -> list[int]:
        rows = self.run(self.events, f"SELECT {self.position} FROM {self.table} ORDER BY 1")
        return [int(r[0]) for r in rows]

    def event(self, position: int) -> tuple[Any, ...]:
        [row] = self.run(
            self.events,
            f"SELECT originator_id, originator_version, topic, state FROM {self.table} "
            f"WHERE {self.position} = ?",
            (position,),
        )
        return (row[0], row[1], row[2], bytes(row[3]))

    def set_event(self, position: int, values: tuple[Any, ...]) -> None:
        self.run(
            self.events,
            f"UPDATE {self.table} SET originator_id = ?, originator_version = ?, topic = ?, "
            f"state = ? WHERE {self.position} = ?",
            (*values, position),
        )

    def delete_event(self, position: int) -> None:
        self.run(self.events, f"DELETE FROM {self.table} WHERE {self.position} = ?", (position,))

    def insert_event(self, position: int, values: tuple[Any, ...]) -> None:
        self.run(
            self.events,
            f"INSERT INTO {self.table} ({self.position}, originator_id, originator_version, "
            "topic, state) VALUES (?, ?, ?, ?, ?)",
            (position, *values),
        )

    def new_originator(self) -> Any:
        fresh = uuid.uuid4()
        return fresh.hex if self.backend == "sqlite" else fresh

    def flip_originator(self, value: Any, index: int) -> Any:
        if self.backend == "sqlite":  # stored as hex text
            return flip_text(str(value), index % len(str(value)))
        return uuid.UUID(bytes=flip_bytes(value.bytes, index % 16))  # a uuid's 16 bytes

    # -- the audit entries --------------------------------------------------------------

    def entry_keys(self) -> list[tuple[str, int]]:
        rows = self.run(self.audit, "SELECT tenant, seq FROM audit_entries ORDER BY tenant, seq")
        return [(str(r[0]), int(r[1])) for r in rows]

    def entry(self, tenant: str, seq: int) -> tuple[Any, ...]:
        [row] = self.run(
            self.audit,
            f"SELECT {COLUMNS} FROM audit_entries WHERE tenant = ? AND seq = ?",
            (tenant, seq),
        )
        return tuple(row)

    def set_entry_column(self, tenant: str, seq: int, column: str, value: Any) -> None:
        self.run(
            self.audit,
            f"UPDATE audit_entries SET {column} = ? WHERE tenant = ? AND seq = ?",
            (value, tenant, seq),
        )

    def set_entry(self, tenant: str, seq: int, values: tuple[Any, ...]) -> None:
        """Every column but the key (tenant, seq) from `values`."""
        columns = AUDIT_COLUMNS[2:]
        assignments = ", ".join(f"{c} = ?" for c in columns)
        self.run(
            self.audit,
            f"UPDATE audit_entries SET {assignments} WHERE tenant = ? AND seq = ?",
            (*values[2:], tenant, seq),
        )

    def delete_entry(self, tenant: str, seq: int) -> None:
        self.run(
            self.audit, "DELETE FROM audit_entries WHERE tenant = ? AND seq = ?", (tenant, seq)
        )

    def insert_entry(self, values: tuple[Any, ...]) -> None:
        marks = ", ".join("?" * len(values))
        self.run(self.audit, f"INSERT INTO audit_entries ({COLUMNS}) VALUES ({marks})", values)

    # -- the event chain ----------------------------------------------------------------

    def chain_row(self, position: int) -> tuple[Any, ...]:
        [row] = self.run(
            self.audit,
            "SELECT position, event_hash, chain_hash FROM event_chain WHERE position = ?",
            (position,),
        )
        return tuple(row)

    def set_chain_column(self, position: int, column: str, value: str) -> None:
        self.run(
            self.audit, f"UPDATE event_chain SET {column} = ? WHERE position = ?", (value, position)
        )

    def delete_chain_row(self, position: int) -> None:
        self.run(self.audit, "DELETE FROM event_chain WHERE position = ?", (position,))

    def insert_chain_row(self, values: tuple[Any, ...]) -> None:
        self.run(
            self.audit,
            "INSERT INTO event_chain (position, event_hash, chain_hash) VALUES (?, ?, ?)",
            values,
        )


def populate(api: Api) -> None:
    """Tenants, staff, patients, and reads: commands and reads of several tenants."""
    for name in ("North", "South", "East", "West"):
        tenant = api.tenant(f"{name} Clinic")
        api.flag(tenant, "feedbackNotifications")
        for first in ("Maya", "Hana"):
            doctor, headers = api.doctor(tenant, first=first)
            api.invite(headers, first=f"Sam{first}")
            api.ok("GET", f"/v1/staff/{doctor}", api.admin)
        api.ok("GET", f"/v1/tenants/{tenant}/staff", api.admin)


@dataclass
class Store:
    runtime: Runtime
    db: Database
    integrity: Integrity
    gap: int  # a position the log skipped (as a rolled-back insert leaves one)
    failures: list[str] = field(default_factory=list)

    def events(self) -> EventsVerification:
        i = self.integrity
        return verify_events(i.key, i.events.all_rows(), i.chain.all_rows())

    def audit_first_broken(self, tenant: str) -> int | None:
        return self.integrity.entries.verify(tenant).first_broken_seq

    def audit_verifies(self) -> bool:
        return all(
            self.integrity.entries.verify(t).verified for t in self.integrity.entries.tenants()
        )

    def head_seq(self, tenant: str) -> int:
        head = self.integrity.entries.head(tenant)
        assert head is not None
        return head[0]


@pytest.fixture(scope="module", params=BACKENDS)
def populated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    """One populated, chained store per backend for every test here: each test undoes
    its change, and `store` checks that it did."""
    backend = str(request.param)
    with make_api(backend, tmp_path_factory.mktemp(backend)) as api:
        populate(api)
        runtime = api.runtime
        db = Database(runtime, backend)
        # A gap in the log below the head, before it is chained: a position an inserted
        # event can take.
        positions = db.positions()
        gap = positions[len(positions) // 2]
        db.delete_event(gap)
        follower = AuditFollower(runtime.log, runtime.audit, runtime.clock.now, grace_seconds=0)
        try:
            assert follower.chain_once() == len(positions) - 1
        finally:
            follower.close()
        integrity = integrity_of(runtime.log, runtime.audit)  # (re)creates the triggers
        db.drop_triggers()
        try:
            yield Store(runtime, db, integrity, gap)
        finally:
            integrity.close()
            db.close()


@pytest.fixture
def store(populated: Store) -> Iterator[Store]:
    populated.failures.clear()
    yield populated
    # The test undid its change: the store is untouched again.
    assert populated.audit_verifies()
    assert populated.events().verified


def check(store: Store, what: str, ok: bool) -> bool:
    if not ok:
        store.failures.append(what)
    return ok


# -- the audit entries ----------------------------------------------------------------------


def test_an_untouched_store_verifies(store: Store) -> None:
    assert store.audit_verifies()
    result = store.events()
    assert result.verified and result.unchained == 0
    assert result.chained == len(store.db.positions())


def audit_flips(db: Database, rng: random.Random) -> list[tuple[str, int, str, int]]:
    """(tenant, seq, column, index): every byte of every column of one entry in the middle
    of a chain, then a random sample over every entry."""
    keys = db.entry_keys()
    assert len(keys) >= 30
    tenant, seq = keys[len(keys) // 2]
    entry = db.entry(tenant, seq)
    flips = [
        (tenant, seq, column, index)
        for column in AUDIT_FLIPPABLE
        for index in range(_width(entry[AUDIT_COLUMNS.index(column)]))
    ]
    for _ in range(RANDOM_FLIPS):
        tenant, seq = rng.choice(keys)
        entry = db.entry(tenant, seq)
        column = rng.choice(
            [c for c in AUDIT_FLIPPABLE if entry[AUDIT_COLUMNS.index(c)] is not None]
        )
        flips.append(
            (tenant, seq, column, rng.randrange(_width(entry[AUDIT_COLUMNS.index(column)])))
        )
    return flips


def _width(value: Any) -> int:
    """How many single-byte changes a stored value has: its characters; one for a number
    (its lowest bit); none for a NULL."""
    if value is None:
        return 0
    return 1 if isinstance(value, int) else len(str(value))


def test_every_single_byte_flipped_in_an_audit_entry_is_detected_where_it_was(
    store: Store,
) -> None:
    db = store.db
    flips = audit_flips(db, random.Random(2026))
    detected = 0
    for tenant, seq, column, index in flips:
        value = db.entry(tenant, seq)[AUDIT_COLUMNS.index(column)]
        changed = value ^ 0x01 if isinstance(value, int) else flip_text(str(value), index)
        db.set_entry_column(tenant, seq, column, changed)
        try:
            if column == "tenant":
                # The entry left its chain: the chain breaks where it is missed.
                expected = seq if seq == store.head_seq(tenant) else seq + 1
            else:
                expected = seq
            found = store.audit_first_broken(tenant)
            what = f"{column} of ({tenant}, {seq}): {value!r} -> {changed!r}: {found}"
            detected += check(store, what, found == expected)
        finally:
            db.set_entry_column(changed if column == "tenant" else tenant, seq, column, value)
    assert store.failures == []
    assert detected == len(flips) >= 200


def test_an_entry_moved_to_another_tenant_breaks_that_chain_too(store: Store) -> None:
    tenant, seq = store.db.entry_keys()[0]
    moved = flip_text(tenant, 0)
    store.db.set_entry_column(tenant, seq, "tenant", moved)
    try:
        assert moved in store.integrity.entries.tenants()
        assert store.audit_first_broken(moved) == seq
    finally:
        store.db.set_entry_column(moved, seq, "tenant", tenant)


def test_a_deleted_entry_breaks_its_chain_at_the_next_one(store: Store) -> None:
    tenant, seq = store.db.entry_keys()[1]
    assert seq < store.head_seq(tenant)
    deleted = store.db.entry(tenant, seq)
    store.db.delete_entry(tenant, seq)
    try:
        assert store.audit_first_broken(tenant) == seq + 1
    finally:
        store.db.insert_entry(deleted)


def test_a_deleted_newest_entry_is_caught_by_the_head(store: Store) -> None:
    tenant, _ = store.db.entry_keys()[0]
    head = store.head_seq(tenant)
    deleted = store.db.entry(tenant, head)
    store.db.delete_entry(tenant, head)
    try:
        assert store.audit_first_broken(tenant) == head
    finally:
        store.db.insert_entry(deleted)


def test_two_entries_swapped_break_their_chain_at_the_earlier(store: Store) -> None:
    tenant = store.db.entry_keys()[0][0]
    first, second = store.db.entry(tenant, 2), store.db.entry(tenant, 4)
    store.db.set_entry(tenant, 2, second)
    store.db.set_entry(tenant, 4, first)
    try:
        assert store.audit_first_broken(tenant) == 2
    finally:
        store.db.set_entry(tenant, 2, first)
        store.db.set_entry(tenant, 4, second)


def test_an_inserted_entry_breaks_its_chain_where_it_stands(store: Store) -> None:
    tenant = store.db.entry_keys()[0][0]
    head = store.head_seq(tenant)
    forged = list(store.db.entry(tenant, head))
    forged[1] = head + 1
    forged[AUDIT_COLUMNS.index("actor_id")] = str(uuid.uuid4())
    store.db.insert_entry(tuple(forged))
    try:
        assert store.audit_first_broken(tenant) == head + 1
    finally:
        store.db.delete_entry(tenant, head + 1)


# -- the event log ----------------------------------------------------------------------------


def event_flips(db: Database, rng: random.Random) -> list[tuple[int, str, int]]:
    """(position, field, index): every byte of one event in the middle of the log and of
    its chain row, then a random sample over every event and chain row."""
    positions = db.positions()
    assert len(positions) >= 30
    position = positions[len(positions) // 3]
    flips = [
        (position, f, i) for f in EVENT_FIELDS + CHAIN_FIELDS for i in range(_size(db, position, f))
    ]
    for n in range(RANDOM_FLIPS):
        position = rng.choice(positions)
        part = rng.choice(CHAIN_FIELDS if n % 3 == 2 else EVENT_FIELDS)
        flips.append((position, part, rng.randrange(_size(db, position, part))))
    return flips


def _size(db: Database, position: int, part: str) -> int:
    if part in CHAIN_FIELDS:
        return len(db.chain_row(position)[1 + CHAIN_FIELDS.index(part)])
    value = db.event(position)[EVENT_FIELDS.index(part)]
    if part == "originator_id":
        return len(value) if isinstance(value, str) else 16  # hex text, or a uuid's bytes
    return 1 if isinstance(value, int) else len(value)


def test_every_single_byte_flipped_in_the_log_or_its_chain_is_detected_where_it_was(
    store: Store,
) -> None:
    db = store.db
    flips = event_flips(db, random.Random(2027))
    detected = 0
    for position, part, index in flips:
        undo: Callable[[], None]
        expected: list[tuple[int, Damage]] | None
        if part in CHAIN_FIELDS:
            value = db.chain_row(position)[1 + CHAIN_FIELDS.index(part)]
            db.set_chain_column(position, part, flip_text(value, index))

            def undo(position: int = position, part: str = part, value: str = value) -> None:
                db.set_chain_column(position, part, value)

            expected = None  # the chain row and the next no longer link: the first suffices
        else:
            original = db.event(position)
            changed = list(original)
            at = EVENT_FIELDS.index(part)
            if part == "originator_id":
                changed[at] = db.flip_originator(original[at], index)
            elif part == "originator_version":
                changed[at] = original[at] ^ 0x100  # a byte of its own: no key collides
            elif part == "topic":
                changed[at] = flip_text(original[at], index)
            else:
                changed[at] = flip_bytes(original[at], index)
            db.set_event(position, tuple(changed))

            def undo(position: int = position, original: tuple[Any, ...] = original) -> None:
                db.set_event(position, original)

            expected = [(position, Damage.CHANGED)]
        try:
            result = store.events()
            found = [(b.position, b.damage) for b in result.breaks]
            ok = result.first_broken_position == position and (
                expected is None or found == expected
            )
            detected += check(store, f"{part}[{index}] at {position}: {found}", ok)
        finally:
            undo()
    assert store.failures == []
    assert detected == len(flips) >= 200


def test_a_deleted_event_is_reported_removed(store: Store) -> None:
    position = store.db.positions()[5]
    deleted = store.db.event(position)
    store.db.delete_event(position)
    try:
        result = store.events()
        assert [(b.position, b.damage) for b in result.breaks] == [(position, Damage.REMOVED)]
        assert result.first_broken_position == position
    finally:
        store.db.insert_event(position, deleted)


def test_two_swapped_events_are_both_reported_reordered(store: Store) -> None:
    db = store.db
    p, q = db.positions()[3], db.positions()[9]
    a, b = db.event(p), db.event(q)

    def put(at_p: tuple[Any, ...], at_q: tuple[Any, ...]) -> None:
        db.set_event(q, (db.new_originator(), *at_q[1:]))  # out of the unique key's way
        db.set_event(p, at_p)
        db.set_event(q, at_q)

    put(b, a)
    try:
        result = store.events()
        assert [(x.position, x.damage) for x in result.breaks] == [
            (p, Damage.REORDERED),
            (q, Damage.REORDERED),
        ]
        assert result.first_broken_position == p
    finally:
        put(a, b)


def test_an_event_inserted_below_the_chained_head_is_reported_inserted(store: Store) -> None:
    db = store.db
    template = db.event(db.positions()[0])
    db.insert_event(store.gap, (db.new_originator(), 1, template[2], template[3]))
    try:
        result = store.events()
        assert [(b.position, b.damage) for b in result.breaks] == [(store.gap, Damage.INSERTED)]
        assert result.unchained == 0
    finally:
        db.delete_event(store.gap)


def test_a_deleted_chain_row_is_reported_at_its_position(store: Store) -> None:
    position = store.db.positions()[7]
    deleted = store.db.chain_row(position)
    store.db.delete_chain_row(position)
    try:
        result = store.events()
        assert result.first_broken_position == position
        assert (position, Damage.INSERTED) in [(b.position, b.damage) for b in result.breaks]
        assert not result.chain_intact
    finally:
        store.db.insert_chain_row(deleted)


def test_a_forged_chain_row_in_the_gap_is_reported_there(store: Store) -> None:
    store.db.insert_chain_row((store.gap, "0" * 64, "1" * 64))
    try:
        result = store.events()
        assert result.first_broken_position == store.gap
        assert (store.gap, Damage.REMOVED) in [(b.position, b.damage) for b in result.breaks]
        assert not result.chain_intact
    finally:
        store.db.delete_chain_row(store.gap)
