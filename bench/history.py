"""History benchmark: as-of reads of a long stream, cold and warm, with and without
snapshots, and what snapshotting costs the write path.

Builds one aggregate with N events (10,000 by default) on SQLite, and on PostgreSQL when
a URL is given, then:

1. for each snapshot interval (`--intervals`, the log's default first), times a cold read
   (a fresh cache: what a fresh process or a cache miss pays) at the first, middle, worst
   (one below a multiple of the interval: the most events after a snapshot) and last
   version, from the snapshots and without them (replaying from the first event), and
   the snapshots' rows and bytes beside the events';
2. at the default interval, the reads docs/performance.md reports: the bare library's
   `repository.get(id, version=N)`, an as-of read (domain/shared/history.py, what
   `GET /v1/streams/{id}?asOf=` runs) cold and warm, and at another time;
3. the write path: commands (one event appended to an aggregate in hand, one save each)
   per second with snapshotting on and off, interleaved in blocks in the same run, and the
   median save that also took a snapshot.

    .venv/bin/python -m bench.history                      # SQLite, 10,000 events
    .venv/bin/python -m bench.history --events 2000 --commands 1000   # smoke run
    .venv/bin/python bench/history.py --database-url postgresql://postgres@host/db

A PostgreSQL run works in fresh schemas (`bench_<random>`) and drops them at the end.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as `python bench/history.py`, the repository root is not on sys.path yet.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import secrets
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from eventsourcing.domain import event

from bootstrap.runtime import create_schema, postgres_env
from bootstrap.settings import Settings
from domain.shared.aggregate import CareLoopAggregate
from domain.shared.eventlog import EventLog
from domain.shared.history import History

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class Tally(CareLoopAggregate):
    """A stand-in aggregate with a little state that every event changes."""

    @event("Opened")
    def __init__(self, tenant_id: uuid.UUID | None, timestamp: datetime) -> None:
        self.tenant_id = tenant_id
        self.total = 0
        self.last: dict[str, Any] = {}

    @event("Counted")
    def count(self, amount: int, note: str, timestamp: datetime) -> None:
        self.total += amount
        self.last = {"amount": amount, "note": note}


def build(log: EventLog, events: int) -> tuple[uuid.UUID, datetime]:
    """One Tally with `events` events, one a second, saved 500 at a time; and the time of
    its event in the middle."""
    tally = Tally(uuid.uuid4(), timestamp=T0)
    for n in range(1, events):
        tally.count(n % 7, f"n{n}", timestamp=T0 + timedelta(seconds=n))
        if n % 500 == 0:
            log.save(tally)
    log.save(tally)
    return tally.id, T0 + timedelta(seconds=events // 2)


def timed(read: Callable[[], object], repeat: int = 1) -> float:
    """The median of `repeat` reads, in milliseconds."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        read()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


OpenLog = Callable[[int], AbstractContextManager[EventLog]]


def stored(log: EventLog) -> tuple[tuple[int, int], tuple[int, int]]:
    """(rows, bytes of state) of the events table and of the snapshots table."""
    tables = [
        getattr(log.recorder, "events_table_name", "stored_events"),
        getattr(log.state_snapshots.recorder, "events_table_name", "stored_snapshots"),
    ]
    sizes = []
    for table in tables:
        if log.factory.__class__.__module__.endswith("sqlite"):
            with log.recorder.datastore.transaction(commit=False) as c:  # type: ignore[attr-defined]
                c.execute(f"SELECT count(*), coalesce(sum(length(state)), 0) FROM {table}")
                rows, size = c.fetchone()
        else:
            schema = log.recorder.datastore.schema  # type: ignore[attr-defined]
            query = (
                "SELECT count(*) AS n, coalesce(sum(octet_length(state)), 0) AS b "
                f'FROM "{schema}"."{table}"'
            )
            with log.recorder.datastore.get_connection() as conn, conn.cursor() as curs:  # type: ignore[attr-defined]
                curs.execute(query)
                found = curs.fetchone()
                rows, size = found["n"], found["b"]
        sizes.append((int(rows), int(size)))
    return sizes[0], sizes[1]


def cold(log: EventLog, aggregate_id: uuid.UUID, version: int, snapshots: bool) -> float:
    """A read at `version` by a fresh History (no cache), the median of 3."""

    def read() -> object:
        if snapshots:
            return History(log.positioned_events).at_version(aggregate_id, version)
        return History(log.positioned_events, snapshots=None).at_version(aggregate_id, version)

    return timed(read, 3)


def cold_reads(backend: str, open_log: OpenLog, events: int, intervals: list[int]) -> None:
    middle = events // 2 + 1
    print(f"{backend}: cold reads of one aggregate of {events} events (median of 3, ms)")
    print(
        f"  {'interval':>8} {'snapshots':>9} {'first':>8} {'middle':>8} {'worst':>8} "
        f"{'last':>8}   snapshot rows, bytes / event rows, bytes"
    )
    for interval in intervals:
        with open_log(interval) as log:
            aggregate_id, _ = build(log, events)
            worst = min(events, (middle // interval) * interval + interval - 1)
            versions = {"first": 1, "middle": middle, "worst": worst, "last": events}
            for snapshots in (True, False):
                ms = [cold(log, aggregate_id, v, snapshots) for v in versions.values()]
                (e_rows, e_bytes), (s_rows, s_bytes) = stored(log)
                sizes = f"{s_rows}, {s_bytes:,} / {e_rows}, {e_bytes:,}" if snapshots else ""
                cells = " ".join(f"{m:8.2f}" for m in ms)
                print(f"  {interval:>8} {'on' if snapshots else 'off':>9} {cells}   {sizes}")
            print(f"  {'':>8} {'':>9} versions: {versions}")


def measure(backend: str, log: EventLog, events: int) -> None:
    aggregate_id, middle = build(log, events)
    version = events // 2 + 1
    reference = timed(lambda: log.repository.get(aggregate_id, version=version), 3)
    history = History(log.positioned_events)
    cold_read = timed(lambda: history.as_of(aggregate_id, middle))
    warm = timed(lambda: history.as_of(aggregate_id, middle), 20)
    other = middle + timedelta(seconds=events // 4)
    first_other = timed(lambda: history.as_of(aggregate_id, other))
    warm_other = timed(lambda: history.as_of(aggregate_id, other), 20)
    assert history.as_of(aggregate_id, middle).version == version
    print(
        f"{backend}: one aggregate of {events} events, as of its event {version}, "
        f"snapshots every {log.snapshot_interval}"
    )
    rows = [
        (f"library repository.get(id, version={version})", reference),
        ("as-of, cold (fresh cache)", cold_read),
        ("as-of, warm (median of 20)", warm),
        ("as-of another time, first read", first_other),
        ("as-of another time, warm (median of 20)", warm_other),
    ]
    for label, ms in rows:
        print(f"  {label:<46}: {ms:9.2f} ms")


def write_cost(backend: str, log: EventLog, commands: int, interval: int) -> None:
    """Commands/s with snapshotting on and off, in blocks of 50 on two aggregates of one
    log, alternating which goes first (on-off, off-on, ...), so both see the same machine;
    and the median save that also took a snapshot (it replays up to `interval` events
    from the previous one)."""
    on, off = Tally(None, timestamp=T0), Tally(None, timestamp=T0)
    log.save(on, off)
    seconds = {True: 0.0, False: 0.0}
    snapshotting: list[float] = []
    for block in range(0, commands, 50):
        pair = ((True, on), (False, off))
        for snapshots, tally in pair if block % 100 == 0 else reversed(pair):
            log.snapshot_interval = interval if snapshots else 0
            for n in range(block, min(block + 50, commands)):
                tally.count(n % 7, f"n{n}", timestamp=T0 + timedelta(seconds=n + 1))
                start = time.perf_counter()
                log.save(tally)
                took = time.perf_counter() - start
                seconds[snapshots] += took
                if snapshots and tally.version % interval == 0:
                    snapshotting.append(took * 1000)
    log.snapshot_interval = interval
    print(f"{backend}: {commands} commands (one event, one save) each, snapshots every {interval}")
    print(f"  snapshotting on : {commands / seconds[True]:9.0f} commands/s")
    print(f"  snapshotting off: {commands / seconds[False]:9.0f} commands/s")
    if snapshotting:
        print(
            f"  a save that took a snapshot: {statistics.median(snapshotting):.2f} ms "
            f"(median of {len(snapshotting)})"
        )


@contextmanager
def sqlite_log(interval: int = EventLog.snapshot_interval) -> Iterator[EventLog]:
    with tempfile.TemporaryDirectory(prefix="bench-history-") as directory:
        log = EventLog(
            env={
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(Path(directory) / "events.sqlite3"),
                "SNAPSHOT_INTERVAL": str(interval),
            }
        )
        try:
            yield log
        finally:
            log.close()


def postgres_log(url: str) -> OpenLog:
    @contextmanager
    def open_log(interval: int = EventLog.snapshot_interval) -> Iterator[EventLog]:
        import psycopg
        from psycopg import sql

        schema = f"bench_{secrets.token_hex(4)}"
        settings = Settings(database_url=url, database_schema=schema)
        create_schema(settings)
        log = EventLog(env={**postgres_env(settings, True), "SNAPSHOT_INTERVAL": str(interval)})
        try:
            yield log
        finally:
            log.close()
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))

    return open_log


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--commands", type=int, default=4_000, help="of the write-path run")
    parser.add_argument(
        "--intervals",
        default="100,200,500",
        help="snapshot intervals to compare (the log's default is always measured)",
    )
    parser.add_argument("--database-url", help="also measure on this PostgreSQL database")
    args = parser.parse_args(argv)
    default = EventLog.snapshot_interval
    intervals = [default, *(int(i) for i in args.intervals.split(",") if int(i) != default)]
    backends: list[tuple[str, OpenLog]] = [("SQLite", sqlite_log)]
    if args.database_url:
        backends.append(("PostgreSQL", postgres_log(args.database_url)))
    for backend, open_log in backends:
        cold_reads(backend, open_log, args.events, intervals)
        with open_log(default) as log:
            measure(backend, log, args.events)
        with open_log(default) as log:
            write_cost(backend, log, args.commands, default)


if __name__ == "__main__":
    main()
