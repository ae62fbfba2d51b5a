"""Store benchmark: command throughput and projection catch-up on PostgreSQL.

Run from the repository root (docs/performance.md explains every figure):

    .venv/bin/python -m bench.store             # full run, a few minutes
    .venv/bin/python -m bench.store --quick     # smoke run, under a minute
    .venv/bin/python -m bench.store --quick --commands-only --seconds 0.3   # ~15 s smoke
    .venv/bin/python -m bench.store --catch-up-only              # P2 alone, both backends
    .venv/bin/python bench/store.py --database-url postgresql://postgres@host/db

Every run works in its own fresh schema (`bench_<random>`) and drops it at the end.

Issue 14's append targets are reported from the same run as their references: P1,
commands/s through the application layer at 32 writers, >= 2.5x bare eventsourcing; P1a,
the same at 1 writer, >= 1.2x bare. CareLoop runs with group commit (the default,
docs/decisions/0031-group-commit.md) and, as a reference, with it off.

P2, projection catch-up from 0 over `--events` (100,000) events, >= 50,000 events/s and
>= 0.35x the bulk-load floor of the same run, is reported for two real read models (the
directory, and the workout session viewer with its sealed notes) on PostgreSQL (floor:
COPY) and SQLite (floor: executemany in one transaction); see "projection catch-up (P2)"
below and docs/decisions/0034-catch-up-speed.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as `python bench/store.py`, the repository root is not on sys.path yet.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import itertools
import json
import os
import platform
import secrets
import sqlite3
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from importlib.metadata import version
from typing import Any

import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    UUIDAsHex,
)
from eventsourcing.utils import get_topic
from psycopg import sql
from rich.console import Console
from rich.table import Table

from bootstrap.runtime import create_schema, postgres_env
from bootstrap.settings import Settings
from domain.people.application import People
from domain.people.flags import DEFAULT_FLAGS
from domain.people.patient import Patient
from domain.people.staff import Staff, StaffType
from domain.people.tenant import Tenant
from domain.privacy.keys import KeyStore, PostgresKeyStore, SQLiteKeyStore
from domain.privacy.personal import PersonalText, PersonalTextTranscoding, Sealer, sealed_json
from domain.shared.clock import RandomIds, SystemClock
from domain.shared.commands import CommandBus
from domain.shared.context import Actor, CommandContext, Role
from domain.shared.eventlog import EventLog, build_metadata
from domain.shared.unit_of_work import UnitOfWork
from domain.workouts.workout import Workout
from projections.directory.projection import DirectoryProjection
from projections.platform.projection import Projection
from projections.platform.runner import CATCH_UP_BATCH_SIZE, ProjectionRunner
from projections.platform.store import FoldStore, PostgresReadStore, SQLiteReadStore
from projections.platform.wakeup import WakeHub
from projections.workouts.projection import WorkoutSessionProjection

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
MAX_WRITERS = 32
# Issue 14: CareLoop commands/s over bare eventsourcing's, per number of writers.
COMMAND_TARGETS: dict[int, tuple[str, float]] = {MAX_WRITERS: ("P1", 2.5), 1: ("P1a", 1.2)}
# Issue 14, P2: catch-up from 0 over the log, events/s, and its share of the bulk-load floor.
CATCH_UP_TARGET = 50_000.0
CATCH_UP_FLOOR_SHARE = 0.35
APPEND_BATCH = 500
FLOOR_BATCH = 500

Op = Callable[[], None]
WriterFactory = Callable[[int], AbstractContextManager[Op]]
Samples = dict[str, list[float]]


@dataclass(frozen=True)
class Config:
    database_url: str
    schema: str
    quick: bool
    slices: int  # one-writer figures: interleaved slices per system
    slice_seconds: float
    slice_warmup: float
    rounds: int  # many-writer figures and catch-up: rounds per system
    seconds: float
    warmup: float
    events: int
    commands_only: bool = False
    catch_up_only: bool = False

    @property
    def settings(self) -> Settings:
        return Settings(database_url=self.database_url, database_schema=self.schema)

    def careloop_settings(self, group_commit: bool) -> Settings:
        return Settings(
            database_url=self.database_url, database_schema=self.schema, group_commit=group_commit
        )


@dataclass(frozen=True)
class Row:
    measure: str
    figure: float
    unit: str
    target: str = ""
    reference: str = ""
    verdict: str = ""


# -- the command path -------------------------------------------------------------------


class BareTenant(Aggregate):
    """CareLoop's Tenant without CareLoop: same fields, library defaults for id and time."""

    @event("Created")
    def __init__(self, name: str) -> None:
        self.name = name
        self.flags: dict[str, bool] = dict(DEFAULT_FLAGS)


class BareApp(Application[uuid.UUID]):
    """A plain eventsourcing application; its table is `barebench_events`."""

    name = "BareBench"


ADMIN = Actor(user_id=uuid.uuid4(), role=Role.PLATFORM_ADMIN, tenant_id=None)


def command_env(settings: Settings) -> dict[str, str]:
    """The runtime's configuration, pool included; both applications get the same one.
    Should the runtime's pool ever hold fewer than MAX_WRITERS connections, it is grown
    here so that no writer waits for a connection instead of for the database."""
    env = postgres_env(settings, create_tables=True)
    size = int(env.get("POSTGRES_POOL_SIZE", "5"))
    overflow = int(env.get("POSTGRES_MAX_OVERFLOW", "10"))
    env["POSTGRES_MAX_OVERFLOW"] = str(max(overflow, MAX_WRITERS - size))
    return env


@contextmanager
def careloop_writer(bus: CommandBus, people: People, index: int) -> Iterator[Op]:
    names = itertools.count()

    def op() -> None:
        ctx = CommandContext(actor=ADMIN, causation_id=f"bench-writer-{index}")
        handler = partial(people.create_tenant, name=f"Clinic {index}-{next(names)}")
        bus.run(ctx, handler)

    yield op


@contextmanager
def careloop_system(settings: Settings) -> Iterator[WriterFactory]:
    """The API's write path: CommandBus -> UnitOfWork -> People -> EventLog.record."""
    log = EventLog(env=command_env(settings))
    log.add_listener(WakeHub().poke)  # as the Runtime does
    bus = CommandBus(log, SystemClock(), RandomIds())
    try:
        yield partial(careloop_writer, bus, People())
    finally:
        log.close()


@contextmanager
def bare_writer(app: BareApp, index: int) -> Iterator[Op]:
    names = itertools.count()

    def op() -> None:
        app.save(BareTenant(name=f"Clinic {index}-{next(names)}"))

    yield op


@contextmanager
def bare_system(settings: Settings) -> Iterator[WriterFactory]:
    app = BareApp(env=command_env(settings))
    try:
        yield partial(bare_writer, app)
    finally:
        app.close()


def events_table_ddl(schema: str, table: str) -> list[sql.Composed]:
    """The library's stored-events table, without the library."""
    ident = sql.Identifier(schema, table)
    return [
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (originator_id uuid NOT NULL, "
            "originator_version bigint NOT NULL, topic text, state bytea, "
            "notification_id bigserial, PRIMARY KEY (originator_id, originator_version))"
        ).format(ident),
        sql.SQL("CREATE UNIQUE INDEX IF NOT EXISTS {} ON {} (notification_id)").format(
            sql.Identifier(f"{table}_nid"), ident
        ),
    ]


def insert_event_sql(schema: str, table: str) -> sql.Composed:
    return sql.SQL(
        "INSERT INTO {} (originator_id, originator_version, topic, state) "
        "VALUES (%s, %s, %s, %s) RETURNING notification_id"
    ).format(sql.Identifier(schema, table))


def tenant_created_state() -> tuple[str, bytes]:
    """Topic and stored bytes of one CareLoop Tenant.Created, metadata included."""
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    now = datetime.now(UTC)
    tenant = Tenant(id=uuid.uuid4(), name="Clinic 0-0", timestamp=now)
    created = tenant.pending_events[0]
    object.__setattr__(created, "metadata", build_metadata(CommandContext(ADMIN), None, now))
    mapper: Mapper[uuid.UUID] = Mapper(transcoder)
    return get_topic(type(created)), mapper.to_stored_event(created).state


@contextmanager
def raw_writer(url: str, insert: sql.Composed, topic: str, state: bytes, _: int) -> Iterator[Op]:
    """One INSERT per autocommit transaction on a connection of the writer's own."""
    with connect(url) as conn:

        def op() -> None:
            conn.execute(insert, (uuid.uuid4(), 1, topic, state), prepare=True).fetchone()

        yield op


@contextmanager
def locked_writer(
    url: str, schema: str, table: str, topic: str, state: bytes, _: int
) -> Iterator[Op]:
    """The library's append, hand-written: lock, NOTIFY and INSERT in one pipelined
    transaction, so the only cost left is PostgreSQL's."""
    lock = sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(sql.Identifier(schema, table))
    notify = sql.SQL("NOTIFY {}").format(sql.Identifier(table))
    insert = insert_event_sql(schema, table)
    with connect(url) as conn:

        def op() -> None:
            with conn.pipeline() as pipeline, conn.transaction(), conn.cursor() as cur:
                cur.execute("SET LOCAL lock_timeout = '0s'", prepare=True)
                cur.execute(lock, prepare=True)
                cur.execute(notify)
                cur.execute(insert, (uuid.uuid4(), 1, topic, state), prepare=True)
                pipeline.sync()
                cur.fetchone()

        yield op


@contextmanager
def raw_system(cfg: Config, table: str, locked: bool) -> Iterator[WriterFactory]:
    with connect(cfg.database_url) as conn:
        for statement in events_table_ddl(cfg.schema, table):
            conn.execute(statement)
    topic, state = tenant_created_state()
    if locked:
        yield partial(locked_writer, cfg.database_url, cfg.schema, table, topic, state)
    else:
        insert = insert_event_sql(cfg.schema, table)
        yield partial(raw_writer, cfg.database_url, insert, topic, state)


def measure(factory: WriterFactory, writers: int, warmup: float, seconds: float) -> float:
    """Operations per second of `writers` threads, each looping on its own writer,
    counted over `seconds` after every writer is set up and `warmup` seconds of load."""
    counts = [0] * writers
    stop = threading.Event()
    ready = threading.Barrier(writers + 1)
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            with factory(index) as op:
                ready.wait()
                while not stop.is_set():
                    op()
                    counts[index] += 1
        except BaseException as e:
            errors.append(e)
            stop.set()
            ready.abort()

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(writers)]
    for thread in threads:
        thread.start()
    try:
        with suppress(threading.BrokenBarrierError):
            ready.wait()
        stop.wait(warmup)
        done, started = sum(counts), time.perf_counter()
        stop.wait(seconds)
        done, elapsed = sum(counts) - done, time.perf_counter() - started
    finally:  # also on Ctrl-C: no writer may outlive the measurement
        stop.set()
        ready.abort()
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    return done / elapsed


def connect(url: str, attempts: int = 20) -> psycopg.Connection[Any]:
    """An autocommit connection, waiting out a server that is briefly full."""
    for _ in range(attempts - 1):
        try:
            return psycopg.connect(url, autocommit=True)
        except psycopg.OperationalError as e:
            if "too many clients" not in str(e):
                raise
            time.sleep(0.5)
    return psycopg.connect(url, autocommit=True)


def free_connections(url: str) -> int:
    try:
        conn = connect(url, attempts=1)
    except psycopg.OperationalError:
        return 0
    with conn:
        row = conn.execute(
            "SELECT current_setting('max_connections')::int"
            " - current_setting('superuser_reserved_connections')::int"
            " - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')"
        ).fetchone()
    return int(row[0]) if row else 0


def wait_for_connections(url: str, needed: int, console: Console, timeout: float = 300) -> None:
    """The server is shared: wait until it has room for `needed` more connections."""
    deadline = time.monotonic() + timeout
    free = free_connections(url)
    if free < needed:
        console.log(f"waiting for {needed} free connections (the server has {free})")
    while free < needed and time.monotonic() < deadline:
        time.sleep(2)
        free = free_connections(url)
    if free < needed:
        console.log(f"[bold red]only {free} free connections; some writers may wait for one")


SYSTEMS: dict[str, str] = {
    "careloop": "CareLoop: CommandBus + People.create_tenant, with metadata, group commit",
    "serial": "CareLoop, group commit off: the library's recorder",
    "bare": "bare eventsourcing: Application.save(Aggregate)",
    "raw": "floor: raw psycopg, 1 INSERT per transaction",
    "locked": "reference: raw psycopg, library lock + NOTIFY + INSERT",
}


def open_system(key: str, cfg: Config) -> AbstractContextManager[WriterFactory]:
    if key in ("careloop", "serial"):
        return careloop_system(cfg.careloop_settings(group_commit=key == "careloop"))
    if key == "bare":
        return bare_system(cfg.settings)
    return raw_system(cfg, f"{key}_events", locked=key == "locked")


def rotated(keys: Sequence[str], by: int) -> list[str]:
    """`keys` starting at a different one each round, so no system always goes first."""
    by %= len(keys)
    return [*keys[by:], *keys[:by]]


def bench_commands(cfg: Config, console: Console) -> Samples:
    """Every system at 1 and at MAX_WRITERS writers, interleaved so that drift in the
    machine's state (fsync latency, checkpoints, table size) touches all of them alike."""
    samples: Samples = {}
    keys = list(SYSTEMS)
    # One writer: every system open at once, short slices in rotating order.
    with ExitStack() as stack:
        factories = {key: stack.enter_context(open_system(key, cfg)) for key in keys}
        for n in range(cfg.slices):
            for key in rotated(keys, n):
                rate = measure(factories[key], 1, cfg.slice_warmup, cfg.slice_seconds)
                samples.setdefault(f"{key}@1", []).append(rate)
            console.log(f"1 writer, slice {n + 1}: " + cmd_summary(samples, 1, n))
    # Many writers: one system open at a time, since each holds MAX_WRITERS connections.
    for n in range(cfg.rounds):
        for key in rotated(keys, n):
            wait_for_connections(cfg.database_url, MAX_WRITERS + 4, console)
            with open_system(key, cfg) as factory:
                rate = measure(factory, MAX_WRITERS, cfg.warmup, cfg.seconds)
            samples.setdefault(f"{key}@{MAX_WRITERS}", []).append(rate)
        console.log(
            f"{MAX_WRITERS} writers, round {n + 1}: " + cmd_summary(samples, MAX_WRITERS, n)
        )
    return samples


def cmd_summary(samples: Samples, writers: int, n: int) -> str:
    return ", ".join(f"{key} {samples[f'{key}@{writers}'][n]:,.0f}/s" for key in SYSTEMS)


# -- projection catch-up (P2) ----------------------------------------------------------
#
# One log per backend of `cfg.events` events, as CareLoop's commands write them (the same
# aggregates, sealed personal text, metadata; saved through `EventLog.record`, APPEND_BATCH
# events a unit, without the commands' checks): STAFF_SHARE Staff registrations, as many
# patient invitations (first name, last name and email sealed with the patient's key),
# the rest workouts of 4 events (started, an exercise recorded, finalized, a therapist's
# note sealed with the patient's key). P2 is measured on two real read models:
# - the directory (`DirectoryProjection`): staff rows, and patient rows holding sealed
#   text; it folds the registrations and invitations;
# - the session viewer (`WorkoutSessionProjection`): workouts with their sealed notes,
#   and the doctors' names; it folds the registrations and every workout event.
# Each catch-up runs from 0 into new, empty tables; its rate is the log's events over its
# time (the "from 0 over 100,000 events"), the events it folds beside it. The
# floor is a bulk load of as many rows shaped like read-model rows (PostgreSQL: COPY, one
# transaction; SQLite: executemany, one transaction), in the same run.

STAFF_SHARE = 0.2
WORKOUT_EVENTS = 4
SEED_MASTER = bytes(range(32))  # the bench's own master key: a throwaway key store


@dataclass
class CatchUpLog:
    backend: str  # "postgresql" or "sqlite"
    log: EventLog
    store: FoldStore
    keys: KeyStore
    floor: Callable[[list[tuple[str, str | None, str]]], dict[str, float]]
    drop: Callable[[Projection], None]


def register_many(
    people: People, tenant_id: uuid.UUID, start: int, count: int, uow: UnitOfWork
) -> dict[str, Any]:
    for k in range(start, start + count):
        people.register_staff(
            uow,
            tenant_id,
            StaffType.DOCTOR if k % 3 == 0 else StaffType.HOSPITAL_ADMIN,
            f"First{k}",
            f"Last{k}",
            f"staff{k}@clinic.example",
        )
    return {"registered": count}


def seed_staff(bus: CommandBus, count: int) -> float:
    """One tenant, then `count` Staff registrations, APPEND_BATCH per command, through
    the commands (bench/rebuild.py's log). Returns events appended per second."""
    people = People()
    ctx = CommandContext(actor=ADMIN, causation_id="bench-seed")
    started = time.perf_counter()
    outcome = bus.run(ctx, partial(people.create_tenant, name="Catch-up clinic"))
    assert outcome.result is not None
    tenant_id = outcome.result.id
    for start in range(0, count, APPEND_BATCH):
        size = min(APPEND_BATCH, count - start)
        bus.run(ctx, partial(register_many, people, tenant_id, start, size))
    return (count + 1) / (time.perf_counter() - started)


def seed_mixed(log: EventLog, count: int) -> float:
    """`count` events (see above), APPEND_BATCH per unit. Returns events appended per second."""
    ctx = CommandContext(actor=ADMIN, causation_id="bench-seed")
    tenant, now = uuid.uuid4(), datetime.now(UTC)
    staff = int(count * STAFF_SHARE)
    patients = staff
    workouts = (count - staff - patients) // WORKOUT_EVENTS
    doctors: list[uuid.UUID] = []
    patient_ids: list[uuid.UUID] = []
    pending: list[Any] = []
    written = 0
    started = time.perf_counter()

    def flush(force: bool = False) -> None:
        nonlocal written
        size = sum(len(a.pending_events) for a in pending)
        if pending and (force or size >= APPEND_BATCH):
            log.record(pending, ctx, now)
            written += size
            pending.clear()

    for k in range(staff):
        doctor = Staff(
            id=uuid.uuid4(),
            tenant_id=tenant,
            staff_type=StaffType.DOCTOR.value,
            first_name=f"First{k}",
            last_name=f"Last{k}",
            email=f"staff{k}@clinic.example",
            timestamp=now,
        )
        doctors.append(doctor.id)
        pending.append(doctor)
        flush()
    for k in range(patients):
        pid = uuid.uuid4()
        patient_ids.append(pid)
        pending.append(
            Patient(
                id=pid,
                tenant_id=tenant,
                first_name=PersonalText(pid, f"Pat{k}"),
                last_name=PersonalText(pid, f"Ient{k}"),
                email=PersonalText(pid, f"patient{k}@mail.example"),
                timezone="Europe/Berlin",
                invited_by=doctors[k % len(doctors)],
                timestamp=now,
            )
        )
        flush()
    for k in range(workouts):
        pid = patient_ids[k % len(patient_ids)]
        workout = Workout.start(
            uuid.uuid4(),
            tenant,
            pid,
            [{"exerciseId": "squat", "name": "Squat", "prescribed": {"sets": 3}}],
            now,
        )
        workout.record("squat", {"sets": 3}, 4 + k % 6, 5, None, now)
        workout.finalize(now)
        workout.save_note("squat", doctors[k % len(doctors)], f"Good form, keep it up {k}", now)
        pending.append(workout)
        flush()
    flush(force=True)
    return written / (time.perf_counter() - started)


def read_log(log: EventLog, head: int, topics: Sequence[str], decode: bool) -> float:
    """Events per second of paging through the whole log (and decoding every event)."""
    started, after = time.perf_counter(), 0
    while after < head:
        page = log.read(after, APPEND_BATCH, stop=head, topics=topics)
        if not page:
            break
        if decode:
            for notification in page:
                log.decode(notification)
        after = page[-1].id
    return head / (time.perf_counter() - started)


def floor_table(conn: psycopg.Connection[Any], schema: str, table: str) -> sql.Identifier:
    """A table shaped like a read-model table (PostgresReadStore.create), emptied."""
    ident = sql.Identifier(schema, table)
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} "
            "(id text PRIMARY KEY, tenant_id text, doc jsonb NOT NULL)"
        ).format(ident)
    )
    conn.execute(
        sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (tenant_id)").format(
            sql.Identifier(f"{table}_tenant"), ident
        )
    )
    conn.execute(sql.SQL("TRUNCATE {}").format(ident))
    return ident


def insert_executemany(
    conn: psycopg.Connection[Any], table: sql.Identifier, rows: list[Any]
) -> None:
    insert = sql.SQL("INSERT INTO {} (id, tenant_id, doc) VALUES (%s, %s, %s::jsonb)").format(table)
    for start in range(0, len(rows), FLOOR_BATCH):
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(insert, rows[start : start + FLOOR_BATCH])


def insert_copy(conn: psycopg.Connection[Any], table: sql.Identifier, rows: list[Any]) -> None:
    statement = sql.SQL("COPY {} (id, tenant_id, doc) FROM STDIN").format(table)
    with conn.transaction(), conn.cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def time_floor(
    conn: psycopg.Connection[Any],
    schema: str,
    table: str,
    rows: list[Any],
    write: Callable[[psycopg.Connection[Any], sql.Identifier, list[Any]], None],
) -> float:
    """Rows per second of `write` into an empty table, after a warm-up on 1,000 rows."""
    ident = floor_table(conn, schema, table)
    write(conn, ident, rows[:1000])
    conn.execute(sql.SQL("TRUNCATE {}").format(ident))
    started = time.perf_counter()
    write(conn, ident, rows)
    return len(rows) / (time.perf_counter() - started)


def postgres_floor(cfg: Config, rows: list[tuple[str, str | None, str]]) -> dict[str, float]:
    with connect(cfg.database_url) as conn:
        return {
            key: time_floor(conn, cfg.schema, f"floor_{key}", rows, write)
            for key, write in (("executemany", insert_executemany), ("copy", insert_copy))
        }


def sqlite_floor(path: Path, rows: list[tuple[str, str | None, str]]) -> dict[str, float]:
    """SQLite's bulk load: executemany in one transaction, into a table like a read
    model's (SQLiteReadStore), after a warm-up on 1,000 rows."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS floor (id TEXT PRIMARY KEY, tenant_id TEXT, doc TEXT)"
        )
        conn.execute("CREATE INDEX IF NOT EXISTS floor_tenant ON floor (tenant_id)")
        insert = "INSERT INTO floor (id, tenant_id, doc) VALUES (?, ?, ?)"
        for warm_up in (True, False):
            conn.execute("DELETE FROM floor")
            part = rows[:1000] if warm_up else rows
            started = time.perf_counter()
            conn.execute("BEGIN")
            conn.executemany(insert, part)
            conn.execute("COMMIT")
            rate = len(part) / (time.perf_counter() - started)
        return {"copy": rate}
    finally:
        conn.close()


def floor_rows(store: FoldStore, tables: Sequence[str], count: int) -> list[Any]:
    """`count` rows as the catch-ups wrote them (their tables' documents, as stored),
    repeated under new ids when there are fewer."""
    docs: list[tuple[str, str | None, str]] = []
    for table in tables:
        for doc in store.list(table, None):
            text = json.dumps(doc, separators=(",", ":"), default=sealed_json)
            docs.append((str(doc.get("id", len(docs))), doc.get("tenantId"), text))
    if not docs:
        raise RuntimeError("no rows to load for the floor")
    return [
        (f"{docs[k % len(docs)][0]}-{k}", docs[k % len(docs)][1], docs[k % len(docs)][2])
        for k in range(count)
    ]


@contextmanager
def catch_up_log(cfg: Config, backend: str) -> Iterator[CatchUpLog]:
    """An event log, a read store and a key store on `backend`, wired as the runtime
    wires them (bootstrap/runtime.py): personal text sealed with per-patient keys."""
    with ExitStack() as stack:
        if backend == "postgresql":
            log = EventLog(env=postgres_env(cfg.settings, create_tables=True))
            # The command figures appended tenants to this log: start it again from 1.
            with connect(cfg.database_url) as conn:
                conn.execute(
                    sql.SQL("TRUNCATE {} RESTART IDENTITY").format(
                        sql.Identifier(cfg.schema, "careloop_events")
                    )
                )
            pg_store = PostgresReadStore(cfg.database_url, cfg.schema)
            keys: KeyStore = PostgresKeyStore(
                cfg.database_url, cfg.schema, SEED_MASTER, create_tables=True
            )
            store: FoldStore = pg_store

            def drop(projection: Projection) -> None:
                with connect(cfg.database_url) as conn:
                    for table in (*projection.tables, f"{projection.name}_tracking"):
                        conn.execute(
                            sql.SQL("DROP TABLE IF EXISTS {}").format(
                                sql.Identifier(cfg.schema, table)
                            )
                        )

            floor: Callable[[list[Any]], dict[str, float]] = partial(postgres_floor, cfg)
            closers = [pg_store.close, keys.close, log.close]
        else:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
            log = EventLog(
                env={
                    "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                    "SQLITE_DBNAME": str(root / "events.sqlite3"),
                    "SQLITE_LOCK_TIMEOUT": "10",
                }
            )
            sqlite_store = SQLiteReadStore(root / "readmodels.sqlite3")
            keys = SQLiteKeyStore(root / "keys.sqlite3", SEED_MASTER)
            store = sqlite_store

            def drop(projection: Projection) -> None:
                conn = sqlite3.connect(root / "readmodels.sqlite3", isolation_level=None)
                try:
                    for table in (*projection.tables, f"{projection.name}_tracking"):
                        conn.execute(f'DROP TABLE IF EXISTS "{table}"')
                finally:
                    conn.close()

            floor = partial(sqlite_floor, root / "floor.sqlite3")
            closers = [sqlite_store.close, keys.close, log.close]
        keys.check_master()
        transcoder = log.mapper.transcoder
        assert isinstance(transcoder, JSONTranscoder)
        transcoder.register(PersonalTextTranscoding(Sealer(keys)))
        try:
            yield CatchUpLog(backend, log, store, keys, floor, drop)
        finally:
            for close in closers:
                with suppress(Exception):
                    close()


CATCH_UP_PROJECTIONS: dict[str, Callable[[], Projection]] = {
    "directory": DirectoryProjection,
    "workout_session": WorkoutSessionProjection,
}


def time_catch_up(bench: CatchUpLog, make: Callable[[], Projection], head: int) -> float:
    """Events per second of one catch-up from position 0 into new, empty tables."""
    projection = make()
    bench.drop(projection)
    ProjectionRunner(projection, bench.log, bench.store).run_batch(head=min(head, 2_000))
    bench.drop(projection)  # warmed up: start again from nothing
    runner = ProjectionRunner(projection, bench.log, bench.store, CATCH_UP_BATCH_SIZE)
    try:
        started = time.perf_counter()
        runner.catch_up()
        rate = head / (time.perf_counter() - started)
    finally:
        runner.close()
    if runner.status().position != head:
        raise RuntimeError(f"catch-up incomplete: {runner.status()}")
    return rate


def folded(log: EventLog, head: int, topics: Sequence[str]) -> int:
    count, after = 0, 0
    while after < head:
        page = log.read(after, 10_000, stop=head, topics=topics)
        if not page:
            break
        count += len(page)
        after = page[-1].id
    return count


def bench_catch_up(cfg: Config, console: Console) -> Samples:
    samples: Samples = {}
    for backend in ("postgresql", "sqlite"):
        with catch_up_log(cfg, backend) as bench:
            samples[f"{backend}:append"] = [seed_mixed(bench.log, cfg.events)]
            head = bench.log.head()
            samples[f"{backend}:events"] = [float(head)]
            console.log(
                f"{backend}: seeded {head:,} events at "
                f"{samples[f'{backend}:append'][0]:,.0f} events/s"
            )
            if backend == "postgresql":
                checkpoint(cfg)
            topics = sorted({t for make in CATCH_UP_PROJECTIONS.values() for t in make().topics()})
            # The first scan after a bulk insert also writes every page (hint bits): untimed.
            read_log(bench.log, head, topics, decode=False)
            for name, make in CATCH_UP_PROJECTIONS.items():
                samples[f"{backend}:{name}:folded"] = [
                    float(folded(bench.log, head, make().topics()))
                ]
            tables = [t for make in CATCH_UP_PROJECTIONS.values() for t in make().tables]
            for n in range(cfg.rounds):
                samples.setdefault(f"{backend}:read", []).append(
                    read_log(bench.log, head, topics, decode=False)
                )
                samples.setdefault(f"{backend}:decode", []).append(
                    read_log(bench.log, head, topics, decode=True)
                )
                for name, make in CATCH_UP_PROJECTIONS.items():
                    samples.setdefault(f"{backend}:{name}", []).append(
                        time_catch_up(bench, make, head)
                    )
                rows = floor_rows(bench.store, tables, head)
                for key, rate in bench.floor(rows).items():
                    samples.setdefault(f"{backend}:{key}", []).append(rate)
                console.log(
                    f"{backend} round {n + 1}: "
                    + ", ".join(
                        f"{k} {samples[f'{backend}:{k}'][n]:,.0f}/s"
                        for k in ("read", "decode", *CATCH_UP_PROJECTIONS, "copy")
                    )
                )
    return samples


def checkpoint(cfg: Config) -> None:
    """Flush dirty pages now, so that no timed checkpoint lands in a measurement."""
    with (
        connect(cfg.database_url) as conn,
        suppress(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("CHECKPOINT")


# -- report -----------------------------------------------------------------------------


def fmt(value: float) -> str:
    return f"{value:,.3f}" if value < 10 else f"{value:,.0f}"


def median(samples: Samples, key: str) -> float:
    return statistics.median(samples[key])


def command_rows(samples: Samples) -> list[Row]:
    rows: list[Row] = []
    for w in (MAX_WRITERS, 1):
        name, target = COMMAND_TARGETS[w]
        med = {key: median(samples, f"{key}@{w}") for key in SYSTEMS}
        ratio = med["careloop"] / med["bare"]
        paired = [
            c / b for c, b in zip(samples[f"careloop@{w}"], samples[f"bare@{w}"], strict=True)
        ]
        verdict = "PASS" if ratio >= target else "MISS"
        suffix = f", {w} writer" + ("s" if w > 1 else "")
        rows += [
            Row(
                f"{name}: " + SYSTEMS["careloop"] + suffix,
                med["careloop"],
                "commands/s",
                f">= {target:g} x bare",
                f"bare {fmt(med['bare'])}, raw {fmt(med['raw'])}",
                f"{verdict} ({ratio:.3f}x)",
            ),
            Row(
                SYSTEMS["serial"] + suffix,
                med["serial"],
                "commands/s",
                "",
                f"reference ({med['serial'] / med['bare']:.3f}x bare)",
            ),
            Row(SYSTEMS["bare"] + suffix, med["bare"], "commands/s", "", "reference"),
            Row(SYSTEMS["raw"] + suffix, med["raw"], "rows/s", "", "floor"),
            Row(SYSTEMS["locked"] + suffix, med["locked"], "rows/s", "", "reference"),
            Row(
                f"{name}: ratio CareLoop / bare" + suffix,
                ratio,
                "x",
                f">= {target:g}",
                f"per {'slice' if w == 1 else 'round'}: {min(paired):.3f}-{max(paired):.3f}",
                verdict,
            ),
            Row(
                "ratio CareLoop / raw psycopg" + suffix,
                med["careloop"] / med["raw"],
                "x",
                "",
                "info",
                "info",
            ),
        ]
    return rows


def catch_up_rows(samples: Samples) -> list[Row]:
    rows: list[Row] = []
    for backend in ("postgresql", "sqlite"):
        if f"{backend}:copy" not in samples:
            continue
        floor = median(samples, f"{backend}:copy")
        floor_name = "COPY" if backend == "postgresql" else "executemany in 1 transaction"
        n = f"{median(samples, f'{backend}:events'):,.0f} events"
        rows += [
            Row(
                f"{backend}: seeding, {APPEND_BATCH} events per unit",
                median(samples, f"{backend}:append"),
                "events/s",
                "",
                "reference",
            ),
            Row(
                f"{backend}: log read, pages of {APPEND_BATCH}, over {n}",
                median(samples, f"{backend}:read"),
                "events/s",
                "",
                "reference",
            ),
            Row(
                f"{backend}: log read + decode, over {n}",
                median(samples, f"{backend}:decode"),
                "events/s",
                "",
                "reference",
            ),
        ]
        for name in CATCH_UP_PROJECTIONS:
            rate = median(samples, f"{backend}:{name}")
            ratio = rate / floor
            ok = rate >= CATCH_UP_TARGET and ratio >= CATCH_UP_FLOOR_SHARE
            folded = median(samples, f"{backend}:{name}:folded")
            rows += [
                Row(
                    f"P2 {backend}: catch-up from 0, {name} (folds {folded:,.0f}), over {n}",
                    rate,
                    "events/s",
                    f">= {CATCH_UP_TARGET:,.0f} and >= {CATCH_UP_FLOOR_SHARE:g} x floor",
                    f"{floor_name} {fmt(floor)} rows/s; {ratio:.3f}x",
                    f"{'PASS' if ok else 'MISS'} ({ratio:.3f}x floor)",
                )
            ]
        rows.append(Row(f"{backend}: floor, {floor_name}", floor, "rows/s", "", "floor"))
        if f"{backend}:executemany" in samples:
            rows.append(
                Row(
                    f"{backend}: floor, executemany, {FLOOR_BATCH} rows per transaction",
                    median(samples, f"{backend}:executemany"),
                    "rows/s",
                    "",
                    "floor",
                )
            )
    return rows


def render(rows: Sequence[Row], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column, justify in (
        ("measure", "left"),
        ("figure", "right"),
        ("unit", "left"),
        ("target", "left"),
        ("floor/reference", "left"),
        ("verdict", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        style = "bold red" if r.verdict.startswith("MISS") else None
        table.add_row(
            r.measure, fmt(r.figure), r.unit, r.target, r.reference, r.verdict, style=style
        )
    return table


def machine(cfg: Config) -> str:
    with connect(cfg.database_url) as conn:
        settings: dict[str, str] = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN "
                "('server_version', 'synchronous_commit', 'shared_buffers', 'wal_sync_method')"
            ).fetchall()
        )
    return (
        f"nproc {os.cpu_count()} | PostgreSQL {settings['server_version']} "
        f"(synchronous_commit={settings['synchronous_commit']}, "
        f"wal_sync_method={settings['wal_sync_method']}, "
        f"shared_buffers={int(settings['shared_buffers']) * 8 // 1024} MB) | "
        f"Python {platform.python_version()} | eventsourcing {version('eventsourcing')} | "
        f"psycopg {psycopg.__version__}"
    )


def cpu_busy(seconds: float = 1.0) -> float | None:
    """Share of the machine's CPU time that was busy over `seconds` (Linux only)."""

    def sample() -> tuple[int, int]:
        fields = [int(f) for f in Path("/proc/stat").read_text().split("\n")[0].split()[1:9]]
        return sum(fields), fields[3] + fields[4]  # total, idle + iowait

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except OSError:
        return None
    total = total1 - total0
    return 1 - (idle1 - idle0) / total if total else None


def load_report(label: str) -> str:
    busy = cpu_busy()
    load = os.getloadavg()
    busy_text = "n/a" if busy is None else f"{busy:.0%}"
    return (
        f"{label}: load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}, "
        f"CPU busy over 1 s {busy_text}"
    )


# -- main -------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> Config:
    parser = argparse.ArgumentParser(prog="bench.store", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts, for smoke runs")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("CARELOOP_BENCH_DATABASE_URL", DEFAULT_URL),
        help=f"PostgreSQL URL (default {DEFAULT_URL} or $CARELOOP_BENCH_DATABASE_URL)",
    )
    parser.add_argument("--events", type=int, help="events to store for the catch-up")
    parser.add_argument(
        "--commands-only", action="store_true", help="only the command figures (P1, P1a)"
    )
    parser.add_argument(
        "--seconds",
        type=float,
        help="length of every measurement slice and round (warm-ups scale with it)",
    )
    parser.add_argument(
        "--catch-up-only", action="store_true", help="only the catch-up figures (P2)"
    )
    args = parser.parse_args(argv)
    quick: bool = args.quick
    seconds: float | None = args.seconds
    return Config(
        database_url=args.database_url,
        schema=f"bench_{secrets.token_hex(4)}",
        quick=quick,
        slices=2 if quick else 10,
        slice_seconds=seconds or 1.0,
        slice_warmup=(seconds or 1.0) * 0.3,
        rounds=1 if quick else 3,
        seconds=seconds or (2.0 if quick else 4.0),
        warmup=(seconds or 2.0) * 0.25 if quick else (seconds or 4.0) * 0.375,
        events=args.events or (2_000 if quick else 100_000),
        commands_only=args.commands_only,
        catch_up_only=args.catch_up_only,
    )


def drop_schema(cfg: Config) -> None:
    with connect(cfg.database_url, attempts=600) as conn:  # up to five minutes
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(cfg.schema)))


def main(argv: Sequence[str] | None = None) -> int:
    cfg = parse_args(argv)
    console = Console(width=max(Console().width, 150))  # a wide table, even in a pipe
    console.print(f"[bold]CareLoop store benchmark[/] ({'quick' if cfg.quick else 'full'} run)")
    console.print(machine(cfg))
    console.print(
        f"schema {cfg.schema} | 1 writer: {cfg.slices} interleaved slices of "
        f"{cfg.slice_seconds:g} s per system | {MAX_WRITERS} writers: {cfg.rounds} round(s) of "
        f"{cfg.seconds:g} s after {cfg.warmup:g} s warm-up | "
        + (
            "catch-up skipped"
            if cfg.commands_only
            else f"catch-up over {cfg.events:,} events, {cfg.rounds} round(s)"
        )
    )
    console.print(load_report("before"))
    create_schema(cfg.settings)
    try:
        checkpoint(cfg)
        samples = {} if cfg.catch_up_only else bench_commands(cfg, console)
        if not cfg.commands_only:
            samples.update(bench_catch_up(cfg, console))
    finally:
        drop_schema(cfg)
    console.print(load_report("after"))
    rows = [] if cfg.catch_up_only else command_rows(samples)
    if not cfg.commands_only:
        rows += catch_up_rows(samples)
    console.print(render(rows, "Figures: medians of the slices and rounds above"))
    missed = [r.measure for r in rows if r.verdict.startswith("MISS")]
    verdict = "[bold red]MISSED: " + "; ".join(missed) if missed else "[bold green]all targets met"
    console.print(verdict)
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
