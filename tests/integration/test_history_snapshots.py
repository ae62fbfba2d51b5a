"""Snapshots for the history reads on both backends (SQLite file, PostgreSQL schema): the
table is created beside the events (what `careloop db init` runs), commands write
snapshots after they commit (with or without a follower's tracking row), a cold read
replays at most an interval of events, and without the table commands still commit and
reads replay from the first event (docs/decisions/0027-history-snapshots.md)."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from eventsourcing.domain import event
from eventsourcing.persistence import Tracking

from bootstrap.runtime import Runtime
from domain.shared.aggregate import CareLoopAggregate
from domain.shared.context import SYSTEM_ACTOR, CommandContext
from domain.shared.history import History

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
INTERVAL = 10


class Tally(CareLoopAggregate):
    @event("Opened")
    def __init__(self, tenant_id: uuid.UUID | None, timestamp: datetime) -> None:
        self.tenant_id = tenant_id
        self.total = 0
        self.seen: dict[int, tuple[int, str]] = {}

    @event("Counted")
    def count(self, n: int, timestamp: datetime) -> None:
        self.total += n
        self.seen[n] = (n, f"n{n}")


def at(n: int) -> datetime:
    return T0 + timedelta(seconds=n)


class Counting:
    """The log's event source, counting the events it hands out."""

    def __init__(self, runtime: Runtime) -> None:
        self.log = runtime.log
        self.events = 0

    def __call__(
        self, aggregate_id: uuid.UUID, after: int, until: int | None = None
    ) -> Sequence[tuple[int, Any]]:
        found = self.log.positioned_events(aggregate_id, after, until)
        self.events += len(found)
        return found


def grow(runtime: Runtime, tally: Tally, first: int, last: int, per_command: int = 1) -> None:
    """Counts `first..last` into the tally, `per_command` events per recorded command; every
    other command also records a follower's position, as a reaction does."""
    ctx = CommandContext(SYSTEM_ACTOR)
    for n in range(first, last + 1):
        tally.count(n, timestamp=at(n))
        if n % per_command == 0 or n == last:
            tracking = Tracking("test-follower", n) if n % 2 else None
            runtime.log.record([tally], ctx, at(n), tracking)


@pytest.fixture
def log_with_interval(runtime: Runtime) -> Runtime:
    runtime.log.snapshot_interval = INTERVAL
    return runtime


def test_the_snapshot_table_is_created_beside_the_events(runtime: Runtime) -> None:
    if runtime.backend == "sqlite":
        with sqlite3.connect(runtime.settings.data_dir / "events.sqlite3") as conn:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert {"stored_events", "stored_snapshots"} <= tables
        return
    import psycopg

    assert runtime.settings.database_url
    with psycopg.connect(runtime.settings.database_url) as conn:
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (runtime.settings.database_schema,),
            )
        }
    assert {"careloop_events", "careloop_snapshots"} <= tables


def test_commands_snapshot_each_interval_and_a_cold_read_replays_at_most_one(
    log_with_interval: Runtime,
) -> None:
    runtime = log_with_interval
    tally = Tally(None, timestamp=T0)
    grow(runtime, tally, 1, 24)
    grow(runtime, tally, 25, 64, per_command=7)  # commands of 7 events cross multiples
    log = runtime.log
    versions = [s.originator_version for s in log.state_snapshots.get(tally.id)]
    assert versions == [10, 20, 30, 40, 50, 60]
    plain = History(log.positioned_events, snapshots=None)
    for version in range(1, 66):
        source = Counting(runtime)
        cold = History(source, snapshots=log.nearest_snapshot)
        state = cold.at_version(tally.id, version)
        assert state == plain.at_version(tally.id, version)
        assert state.state == {
            "tenantId": None,
            "total": sum(range(version)),
            "seen": {str(n): [n, f"n{n}"] for n in range(1, version)},
        }
        # The current state (snapshot 60 + 5) and this version (its snapshot + the rest).
        assert source.events <= 5 + (version % INTERVAL), version
        assert cold.as_of(tally.id, at(version - 1)) == state


def test_without_the_snapshot_table_commands_commit_and_reads_replay(
    log_with_interval: Runtime,
) -> None:
    runtime = log_with_interval
    tally = Tally(None, timestamp=T0)
    grow(runtime, tally, 1, 12)
    if runtime.backend == "sqlite":
        with sqlite3.connect(runtime.settings.data_dir / "events.sqlite3") as conn:
            conn.execute("DROP TABLE stored_snapshots")
    else:
        import psycopg

        assert runtime.settings.database_url
        with psycopg.connect(runtime.settings.database_url, autocommit=True) as conn:
            conn.execute(f'DROP TABLE "{runtime.settings.database_schema}".careloop_snapshots')
    grow(runtime, tally, 13, 25)  # reaches 20: its snapshot fails, the commands do not
    found = runtime.log.find(tally.id)
    assert found is not None and found.version == 26
    history = History(runtime.log.positioned_events)
    assert history.at_version(tally.id, 21).state["total"] == sum(range(21))
    assert history.current(tally.id).version == 26
