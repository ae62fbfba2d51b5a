"""History benchmark: as-of reads of a long stream, cold and warm.

Builds one aggregate with N events (10,000 by default) on SQLite, and on PostgreSQL when
a URL is given, then times an as-of read (domain/shared/history.py, what
`GET /v1/streams/{id}?asOf=` runs) cold (a fresh cache) and warm (the same read again, and
a read at another time of the same stream), beside the bare library's
`repository.get(id, version=N)`, which replays from the first event every time.

    .venv/bin/python -m bench.history                      # SQLite, 10,000 events
    .venv/bin/python -m bench.history --events 200         # smoke run
    .venv/bin/python bench/history.py --database-url postgresql://postgres@host/db

A PostgreSQL run works in its own fresh schema (`bench_<random>`) and drops it at the end.
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
from contextlib import contextmanager
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


def measure(backend: str, log: EventLog, events: int) -> None:
    aggregate_id, middle = build(log, events)
    version = events // 2 + 1
    reference = timed(lambda: log.repository.get(aggregate_id, version=version), 3)
    history = History(log.positioned_events)
    cold = timed(lambda: history.as_of(aggregate_id, middle))
    warm = timed(lambda: history.as_of(aggregate_id, middle), 20)
    other = middle + timedelta(seconds=events // 4)
    first_other = timed(lambda: history.as_of(aggregate_id, other))
    warm_other = timed(lambda: history.as_of(aggregate_id, other), 20)
    assert history.as_of(aggregate_id, middle).version == version
    print(f"{backend}: one aggregate of {events} events, as of its event {version}")
    rows = [
        (f"library repository.get(id, version={version})", reference),
        ("as-of, cold (fresh cache)", cold),
        ("as-of, warm (median of 20)", warm),
        ("as-of another time, first read", first_other),
        ("as-of another time, warm (median of 20)", warm_other),
    ]
    for label, ms in rows:
        print(f"  {label:<46}: {ms:9.2f} ms")


@contextmanager
def sqlite_log() -> Iterator[EventLog]:
    with tempfile.TemporaryDirectory(prefix="bench-history-") as directory:
        log = EventLog(
            env={
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(Path(directory) / "events.sqlite3"),
            }
        )
        try:
            yield log
        finally:
            log.close()


@contextmanager
def postgres_log(url: str) -> Iterator[EventLog]:
    import psycopg
    from psycopg import sql

    schema = f"bench_{secrets.token_hex(4)}"
    settings = Settings(database_url=url, database_schema=schema)
    create_schema(settings)
    log = EventLog(env=postgres_env(settings, True))
    try:
        yield log
    finally:
        log.close()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--database-url", help="also measure on this PostgreSQL database")
    args = parser.parse_args(argv)
    with sqlite_log() as log:
        measure("SQLite", log, args.events)
    if args.database_url:
        with postgres_log(args.database_url) as log:
            measure("PostgreSQL", log, args.events)


if __name__ == "__main__":
    main()
