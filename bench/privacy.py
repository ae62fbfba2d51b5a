"""Privacy benchmark: what sealing a patient's personal text costs (issue 12): the command
path and the projection catch-up with encryption on and off, in one run.

CareLoop has no switch that turns encryption off (and must never have one), so this script
measures a stand-in aggregate of its own, `Intake`, whose creation event carries three
personal fields (first name, last name, a ~200-character note) and two plain ones (a pain
score, a time), in four variants on the same backend, measured interleaved:

- plain:   the three fields are `str`: CareLoop without privacy, the reference;
- typed:   the fields are `PersonalText`, sealed by an identity "cipher" defined here (the
           text's UTF-8 bytes as they are): the typed value and its JSON shape alone;
- sealed:  the real `PersonalTextTranscoding(Sealer(key store))`: AES-256-GCM, one data
           key per patient (`--patients`, 1,000) in the real key store (SQLiteKeyStore,
           PostgresKeyStore), unwrapped keys cached for `--key-cache-seconds` (default:
           the runtime's CARELOOP_KEY_CACHE_SECONDS, 2 s);
- cache 0: the same events and key store with `cache_seconds=0`: every value sealed or
           opened reads and unwraps its key, the worst case.

Each variant has its own real `EventLog` (SQLite: its own file in a temp dir; PostgreSQL:
its own tables in one fresh schema `bench_<random>`, dropped at the end), its transcoding
registered as `bootstrap/runtime.py` registers it. The figures, each beside its reference
with the overhead in percent of the reference's time per item and in microseconds:

1. Command path: commands per second through CareLoop's `CommandBus` (one new Intake
   per command), one writer in `--slices` interleaved slices, and on PostgreSQL also 8
   concurrent writers; beside plain, the bare library reference: the same event saved by
   a plain `eventsourcing` Application.
2. Seeding: events per second of `--events` Intakes per log, 500 per command.
3. Projection catch-up: events per second of a projection (`Projection`,
   `ProjectionRunner`, the real read store) that copies the three fields into a row, from
   position 0 over those events; a sealed row holds the event's ciphertext (`sealed_json`).
4. Answering: microseconds per row of `get_many` of 100 random rows and of `list` of one
   tenant's 100 rows, through `RevealingStore` (which opens every sealed value) and
   through the store itself.
5. Parts: sealing and opening one note, a key lookup cached and not, a new patient's key
   (`ensure_key`, timed as the 1,000 keys are made).

Rates also show this process's CPU time per item (`time.process_time`; on SQLite it
includes the database's work, on PostgreSQL only the client's): sealing is client work,
and CPU time does not wait on fsync, so it shows the cost where the wall-clock rate of a
single writer is mostly disk latency. Sealed figures show the key cache's hit rate: the
share of values whose key was not read from the key store. The writers cycle through the
patients, so a patient comes back every `patients / rate` seconds; when that is longer
than the cache, a command's first value misses and its other two hit (67%).

There is no numeric target: the verdict is "no target; reported".

Run from the repository root:

    .venv/bin/python -m bench.privacy                  # SQLite, a few minutes
    .venv/bin/python -m bench.privacy --quick          # smoke run, under a minute
    .venv/bin/python bench/privacy.py --database-url postgresql://postgres@127.0.0.1/test
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as `python bench/privacy.py`, the repository root is not on sys.path yet.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import itertools
import os
import platform
import random
import secrets
import sqlite3
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence, Sized
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from importlib.metadata import version
from typing import Any

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import JSONTranscoder
from psycopg import sql
from rich.console import Console
from rich.table import Table

from bench.store import Op, WriterFactory, connect, load_report, measure, rotated
from bootstrap.runtime import create_schema, postgres_env
from bootstrap.settings import Settings
from domain.privacy.cipher import KEY_BYTES
from domain.privacy.keys import PostgresKeyStore, SQLiteKeyStore
from domain.privacy.personal import PersonalText, PersonalTextTranscoding, Sealer
from domain.shared.aggregate import CareLoopAggregate
from domain.shared.clock import RandomIds, SystemClock
from domain.shared.commands import CommandBus
from domain.shared.context import Actor, CommandContext, Role
from domain.shared.eventlog import EventLog
from domain.shared.unit_of_work import UnitOfWork
from projections.platform.projection import Batch, Projection
from projections.platform.revealing import RevealingStore
from projections.platform.runner import ProjectionRunner
from projections.platform.store import Doc, PostgresReadStore, ReadStore, SQLiteReadStore
from projections.platform.wakeup import WakeHub

FIELDS = 3  # personal values per event: every figure below seals or opens this many
APPEND_BATCH = 500  # Intakes per seeding command
ROWS = 100  # rows per answer; also the rows of one tenant
MANY_WRITERS = 8  # PostgreSQL only
FIRST_NAMES = ("Samantha", "Omar", "Jun", "Ines", "Kwame", "Leila", "Piotr", "Ana")
LAST_NAMES = ("Carter", "Haddad", "Tanaka", "Moreau", "Mensah", "Rahimi", "Nowak", "Silva")
NOTE = (
    "Knee still stiff in the morning, better after the warm-up. Stopped the lunges at set "
    "two because of a sharp pain on the inside of the knee; the bridges and the bike were "
    "fine. Slept badly on Tuesday."
)
ADMIN = Actor(user_id=uuid.uuid4(), role=Role.PLATFORM_ADMIN, tenant_id=None)
DEFAULT_CACHE_SECONDS = float(Settings.model_fields["key_cache_seconds"].default)

Samples = dict[str, list[float]]


def note(k: int) -> str:
    return f"#{k:07d} {NOTE}"  # ~200 characters, each one different


# -- the stand-in aggregates -----------------------------------------------------------


class PlainIntake(CareLoopAggregate):
    """A patient's intake with its personal fields as `str`: CareLoop without privacy."""

    class Recorded(CareLoopAggregate.Created):
        tenant_id: uuid.UUID
        patient_id: uuid.UUID
        first_name: str
        last_name: str
        note: str
        pain: int
        taken_at: datetime

    @event(Recorded)
    def __init__(
        self,
        id: uuid.UUID,
        tenant_id: uuid.UUID,
        patient_id: uuid.UUID,
        first_name: str,
        last_name: str,
        note: str,
        pain: int,
        taken_at: datetime,
        timestamp: datetime,
    ) -> None:
        self.tenant_id: uuid.UUID | None = tenant_id
        self.patient_id = patient_id
        self.first_name = first_name
        self.last_name = last_name
        self.note = note
        self.pain = pain
        self.taken_at = taken_at


class Intake(CareLoopAggregate):
    """The same intake with its personal fields as `PersonalText`, as CareLoop has them."""

    class Recorded(CareLoopAggregate.Created):
        tenant_id: uuid.UUID
        patient_id: uuid.UUID
        first_name: PersonalText
        last_name: PersonalText
        note: PersonalText
        pain: int
        taken_at: datetime

    @event(Recorded)
    def __init__(
        self,
        id: uuid.UUID,
        tenant_id: uuid.UUID,
        patient_id: uuid.UUID,
        first_name: PersonalText,
        last_name: PersonalText,
        note: PersonalText,
        pain: int,
        taken_at: datetime,
        timestamp: datetime,
    ) -> None:
        self.tenant_id: uuid.UUID | None = tenant_id
        self.patient_id = patient_id
        self.first_name = first_name
        self.last_name = last_name
        self.note = note
        self.pain = pain
        self.taken_at = taken_at


class BareIntake(Aggregate):
    """The plain intake without CareLoop: library defaults for id and time, no metadata."""

    @event("Recorded")
    def __init__(
        self,
        tenant_id: uuid.UUID,
        patient_id: uuid.UUID,
        first_name: str,
        last_name: str,
        note: str,
        pain: int,
        taken_at: datetime,
    ) -> None:
        self.tenant_id = tenant_id
        self.patient_id = patient_id
        self.first_name = first_name
        self.last_name = last_name
        self.note = note
        self.pain = pain
        self.taken_at = taken_at


MakeIntake = Callable[[UnitOfWork, uuid.UUID, uuid.UUID, int], CareLoopAggregate]


def plain_intake(uow: UnitOfWork, tenant_id: uuid.UUID, patient_id: uuid.UUID, k: int) -> Any:
    return PlainIntake(
        id=uow.new_id(),
        tenant_id=tenant_id,
        patient_id=patient_id,
        first_name=FIRST_NAMES[k % len(FIRST_NAMES)],
        last_name=LAST_NAMES[k % len(LAST_NAMES)],
        note=note(k),
        pain=k % 11,
        taken_at=uow.now,
        timestamp=uow.now,
    )


def typed_intake(uow: UnitOfWork, tenant_id: uuid.UUID, patient_id: uuid.UUID, k: int) -> Any:
    return Intake(
        id=uow.new_id(),
        tenant_id=tenant_id,
        patient_id=patient_id,
        first_name=PersonalText(patient_id, FIRST_NAMES[k % len(FIRST_NAMES)]),
        last_name=PersonalText(patient_id, LAST_NAMES[k % len(LAST_NAMES)]),
        note=PersonalText(patient_id, note(k)),
        pain=k % 11,
        taken_at=uow.now,
        timestamp=uow.now,
    )


class BareApp(Application[uuid.UUID]):
    """A plain eventsourcing application (PostgreSQL table `privacybare_events`)."""

    name = "PrivacyBare"


# The real EventLog, one per variant: each has its own transcoder (and its own table).
class PlainLog(EventLog):
    name = "PrivacyPlain"


class TypedLog(EventLog):
    name = "PrivacyTyped"


class SealedLog(EventLog):
    name = "PrivacySealed"


# -- the identity "cipher" and the counted key stores ----------------------------------


class IdentitySealer(Sealer):
    """Seals a value as its UTF-8 bytes, unchanged, and opens them again: what a
    `PersonalText` costs without a cipher and without a key store."""

    def __init__(self) -> None:  # no key store: nothing is looked up
        pass

    def sealed(self, value: PersonalText) -> bytes:
        if value.sealed is not None:
            return value.sealed
        if value.text is None:
            raise ValueError("an erased value has nothing to seal")
        return value.text.encode()

    def opened(self, subject: uuid.UUID, sealed: bytes) -> str | None:
        return sealed.decode()


class ReadCounter:
    """Counts a key store's reads of its table: its cache misses."""

    reads = 0
    _reads_lock = threading.Lock()

    def count_read(self) -> None:
        with self._reads_lock:
            self.reads += 1


class CountedSQLiteKeyStore(ReadCounter, SQLiteKeyStore):
    def _load(self, subject: uuid.UUID) -> tuple[bool, bytes | None]:
        self.count_read()
        return super()._load(subject)


class CountedPostgresKeyStore(ReadCounter, PostgresKeyStore):
    def _load(self, subject: uuid.UUID) -> tuple[bool, bytes | None]:
        self.count_read()
        return super()._load(subject)


CountedKeyStore = CountedSQLiteKeyStore | CountedPostgresKeyStore


# -- the projection --------------------------------------------------------------------


def intake_row(event: Any) -> Doc:
    """Pure: the row of one Recorded event; personal values are copied as they came (a
    `PersonalText` is stored as the event's own ciphertext by the read store)."""
    return {
        "id": str(event.originator_id),
        "patientId": str(event.patient_id),
        "firstName": event.first_name,
        "lastName": event.last_name,
        "note": event.note,
        "pain": event.pain,
        "takenAt": event.taken_at.isoformat(),
    }


class IntakeProjection(Projection):
    def apply(self, batch: Batch, event: Any, position: int) -> None:
        key = str(event.originator_id)
        batch.put(self.tables[0], key, str(event.tenant_id), intake_row(event))


class PlainIntakeProjection(IntakeProjection):
    name = "privacy_plain"
    tables = ("intake_plain",)
    handles = (PlainIntake.Recorded,)


class TypedIntakeProjection(IntakeProjection):
    name = "privacy_typed"
    tables = ("intake_typed",)
    handles = (Intake.Recorded,)


class SealedIntakeProjection(IntakeProjection):
    name = "privacy_sealed"
    tables = ("intake_sealed",)
    handles = (Intake.Recorded,)


# -- the variants and the backend ------------------------------------------------------


@dataclass
class Variant:
    key: str
    label: str
    log: EventLog
    make: MakeIntake
    projection: IntakeProjection
    sealer: Sealer  # what RevealingStore opens its rows with
    keys: CountedKeyStore | None  # the key store the log's transcoding reads, if any
    seeded: bool = True  # False: it reads another variant's events

    def __post_init__(self) -> None:
        self.bus = CommandBus(self.log, SystemClock(), RandomIds())


@dataclass
class Backend:
    """Where the logs, the read store and the key store live: SQLite or PostgreSQL."""

    name: str
    description: str
    env_for: Callable[[str], dict[str, str]]  # a log's env, by file name (SQLite)
    store: ReadStore
    keys: CountedKeyStore  # keys cached for `--key-cache-seconds`
    keys0: CountedKeyStore  # the same keys, cache_seconds=0
    drop_tables: Callable[[Sequence[str]], None]


@dataclass
class Bench:
    backend: Backend
    variants: dict[str, Variant]
    bare: BareApp
    patients: list[uuid.UUID]
    tenants: list[uuid.UUID]

    @property
    def store(self) -> ReadStore:
        return self.backend.store

    def tenant_of(self, k: int) -> uuid.UUID:
        return self.tenants[(k // ROWS) % len(self.tenants)]

    def patient_of(self, k: int) -> uuid.UUID:
        return self.patients[k % len(self.patients)]


@dataclass(frozen=True)
class Config:
    database_url: str | None
    schema: str
    quick: bool
    events: int
    patients: int
    cache_seconds: float
    slices: int
    slice_seconds: float
    slice_warmup: float
    rounds: int  # catch-up and 8-writer rounds
    seconds: float
    warmup: float
    answers: int  # answers per variant and query

    @property
    def settings(self) -> Settings:
        return Settings(database_url=self.database_url, database_schema=self.schema)


def postgres_backend(cfg: Config, master: bytes, stack: ExitStack) -> Backend:
    """A fresh schema, dropped at the end; each log's tables are named after it."""
    assert cfg.database_url
    url, schema = cfg.database_url, cfg.schema
    create_schema(cfg.settings)
    stack.callback(drop_schema, url, schema)
    env = postgres_env(cfg.settings, create_tables=True)

    def drop_tables(tables: Sequence[str]) -> None:
        with connect(url) as conn:
            for table in tables:
                ident = sql.Identifier(schema, table)
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(ident))

    with connect(url) as conn:
        row = conn.execute(
            "SELECT current_setting('server_version'), current_setting('synchronous_commit')"
        ).fetchone()
    assert row is not None
    return Backend(
        "PostgreSQL",
        f"PostgreSQL {row[0]} (synchronous_commit={row[1]}), schema {schema}",
        lambda name: env,
        PostgresReadStore(url, schema),
        CountedPostgresKeyStore(url, schema, master, cache_seconds=cfg.cache_seconds),
        CountedPostgresKeyStore(url, schema, master, cache_seconds=0),
        drop_tables,
    )


def sqlite_backend(cfg: Config, master: bytes, stack: ExitStack) -> Backend:
    """A temporary directory: one events file per log, as the embedded default has one,
    the read models in one file and the keys in another."""
    directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-privacy-")))
    readmodels, keys = directory / "readmodels.sqlite3", directory / "keys.sqlite3"

    def env_for(name: str) -> dict[str, str]:
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(directory / f"events-{name}.sqlite3"),
            "SQLITE_LOCK_TIMEOUT": "10",
        }

    def drop_tables(tables: Sequence[str]) -> None:
        with closing(sqlite3.connect(readmodels, isolation_level=None)) as conn:
            for table in tables:
                conn.execute(f"DROP TABLE IF EXISTS {table}")

    return Backend(
        "SQLite",
        f"SQLite {sqlite3.sqlite_version}, in {directory}",
        env_for,
        SQLiteReadStore(readmodels),
        CountedSQLiteKeyStore(keys, master, cache_seconds=cfg.cache_seconds),
        CountedSQLiteKeyStore(keys, master, cache_seconds=0),
        drop_tables,
    )


def drop_schema(url: str, schema: str) -> None:
    with connect(url, attempts=600) as conn:  # up to five minutes
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@contextmanager
def open_bench(cfg: Config) -> Iterator[Bench]:
    with ExitStack() as stack:
        master = os.urandom(KEY_BYTES)
        opened = postgres_backend if cfg.database_url else sqlite_backend
        backend = opened(cfg, master, stack)
        for closeable in (backend.store, backend.keys, backend.keys0):
            stack.callback(closeable.close)
        backend.keys.check_master()
        sealer, sealer0, identity = Sealer(backend.keys), Sealer(backend.keys0), IdentitySealer()

        def log(cls: type[EventLog], name: str, sealer: Sealer | None) -> EventLog:
            """The real EventLog, with personal text sealed as the runtime registers it."""
            log = cls(env=backend.env_for(name))
            stack.callback(log.close)
            if sealer is not None:
                transcoder = log.mapper.transcoder
                assert isinstance(transcoder, JSONTranscoder)
                transcoder.register(PersonalTextTranscoding(sealer))
            log.add_listener(WakeHub().poke)  # as the Runtime does
            return log

        cache = f"{cfg.cache_seconds:g} s"
        variants = [
            Variant(
                "plain",
                "plain: str fields, no PersonalText",
                log(PlainLog, "plain", None),
                plain_intake,
                PlainIntakeProjection(),
                sealer,
                None,
            ),
            Variant(
                "typed",
                "typed: PersonalText, identity cipher",
                log(TypedLog, "typed", identity),
                typed_intake,
                TypedIntakeProjection(),
                identity,
                None,
            ),
            Variant(
                "sealed",
                f"sealed: AES-GCM, key cache {cache}",
                log(SealedLog, "sealed", sealer),
                typed_intake,
                SealedIntakeProjection(),
                sealer,
                backend.keys,
            ),
            Variant(
                "cache0",
                "sealed: AES-GCM, key cache 0 s",
                log(SealedLog, "sealed", sealer0),  # the events of `sealed`, read again
                typed_intake,
                SealedIntakeProjection(),
                sealer0,
                backend.keys0,
                seeded=False,
            ),
        ]
        bare = BareApp(env=backend.env_for("bare"))
        stack.callback(bare.close)
        yield Bench(
            backend,
            {v.key: v for v in variants},
            bare,
            patients=[uuid.uuid4() for _ in range(cfg.patients)],
            tenants=[uuid.uuid4() for _ in range(max(1, cfg.events // ROWS))],
        )


# -- the parts -------------------------------------------------------------------------


def per_call(call: Callable[[int], object], n: int) -> float:
    """Microseconds per call of `call(0..n-1)`."""
    started = time.perf_counter()
    for k in range(n):
        call(k)
    return (time.perf_counter() - started) / n * 1e6


def bench_parts(bench: Bench) -> Samples:
    """The patients' keys made (timed: what a new patient's first seal adds), then
    sealing, opening and key lookups one at a time, interleaved in three rounds."""
    patients, keys, keys0 = bench.patients, bench.backend.keys, bench.backend.keys0
    samples: Samples = {
        "new_key": [per_call(lambda k: keys.ensure_key(patients[k]), len(patients))]
    }
    sealer, identity = Sealer(keys), IdentitySealer()
    values = [PersonalText(patients[k % len(patients)], note(k)) for k in range(2000)]
    sealed = [sealer.sealed(v) for v in values]
    raw = [identity.sealed(v) for v in values]
    parts: dict[str, tuple[Callable[[int], object], int]] = {
        "seal": (lambda k: sealer.sealed(values[k]), len(values)),
        "seal_identity": (lambda k: identity.sealed(values[k]), len(values)),
        "open": (lambda k: sealer.opened(values[k].subject, sealed[k]), len(values)),
        "open_identity": (lambda k: identity.opened(values[k].subject, raw[k]), len(values)),
        "key_cached": (lambda k: keys.key_for(patients[k]), len(patients)),
        "key_uncached": (lambda k: keys0.key_for(patients[k]), len(patients)),
    }
    for _ in range(3):
        for patient in patients:  # every key in the cache, however long making them took
            keys.key_for(patient)
        for key, (call, count) in parts.items():
            samples.setdefault(key, []).append(per_call(call, count))
    return samples


# -- projection catch-up and answering -------------------------------------------------


def record_intakes(bench: Bench, make: MakeIntake, start: int, count: int, uow: UnitOfWork) -> int:
    for k in range(start, start + count):
        uow.add(make(uow, bench.tenant_of(k), bench.patient_of(k), k))
    return count


def seed(bench: Bench, events: int) -> Samples:
    """`events` Intakes per log through the CommandBus, APPEND_BATCH per command, the
    logs in turn (rotating) command by command; events per second of each, and this
    process's CPU time per event."""
    ctx = CommandContext(actor=ADMIN, causation_id="bench-seed")
    keys = [key for key, v in bench.variants.items() if v.seeded]
    seconds, cpu = dict.fromkeys(keys, 0.0), dict.fromkeys(keys, 0.0)
    for n, start in enumerate(range(0, events, APPEND_BATCH)):
        size = min(APPEND_BATCH, events - start)
        for key in rotated(keys, n):
            variant = bench.variants[key]
            started, cpu_started = time.perf_counter(), time.process_time()
            variant.bus.run(ctx, partial(record_intakes, bench, variant.make, start, size))
            seconds[key] += time.perf_counter() - started
            cpu[key] += time.process_time() - cpu_started
    samples = {f"seed:{key}": [events / s] for key, s in seconds.items()}
    return samples | {f"cpu:seed:{key}": [c / events * 1e6] for key, c in cpu.items()}


def drop_read_model(bench: Bench, projection: Projection) -> None:
    bench.backend.drop_tables([*projection.tables, f"{projection.name}_tracking"])


def time_catch_up(bench: Bench, variant: Variant, samples: Samples) -> float:
    """Events per second of one catch-up from position 0 into new, empty tables."""
    drop_read_model(bench, variant.projection)
    runner = ProjectionRunner(variant.projection, variant.log, bench.store)
    head = variant.log.head()
    reads = variant.keys.reads if variant.keys else 0
    started, cpu = time.perf_counter(), time.process_time()
    runner.catch_up()
    rate = head / (time.perf_counter() - started)
    cpu = time.process_time() - cpu
    samples.setdefault(f"cpu:catch_up:{variant.key}", []).append(cpu / head * 1e6)
    if variant.keys:
        samples.setdefault(f"reads:catch_up:{variant.key}", []).append(variant.keys.reads - reads)
        samples.setdefault(f"values:catch_up:{variant.key}", []).append(FIELDS * head)
    if bench.store.position(variant.projection.name) != head:
        raise RuntimeError(f"{variant.key}: catch-up stopped short of {head}")
    return rate


def bench_catch_up(bench: Bench, cfg: Config, console: Console) -> Samples:
    """Each log seeded with `cfg.events` events, then each projection caught up from 0, the
    variants in rotating order round by round."""
    samples = seed(bench, cfg.events)
    seeded = [k for k, v in bench.variants.items() if v.seeded]
    console.log(
        f"seeded {cfg.events:,} events per log: "
        + ", ".join(f"{k} {samples[f'seed:{k}'][0]:,.0f}/s" for k in seeded)
    )
    for variant in bench.variants.values():  # warm-up: a first batch, then from nothing again
        drop_read_model(bench, variant.projection)
        ProjectionRunner(variant.projection, variant.log, bench.store).run_batch(
            head=min(variant.log.head(), 1000)
        )
    keys = list(bench.variants)
    for n in range(cfg.rounds):
        for key in rotated(keys, n):
            rate = time_catch_up(bench, bench.variants[key], samples)
            samples.setdefault(f"catch_up:{key}", []).append(rate)
        console.log(
            f"catch-up round {n + 1}: "
            + ", ".join(f"{k} {samples[f'catch_up:{k}'][n]:,.0f}/s" for k in keys)
        )
    return samples


ANSWERS: dict[str, tuple[str, bool]] = {  # key -> (variant, opened by RevealingStore)
    "plain_store": ("plain", False),
    "plain_open": ("plain", True),
    "typed_open": ("typed", True),
    "sealed_store": ("sealed", False),
    "sealed_open": ("sealed", True),
    "cache0_open": ("cache0", True),
}


def bench_answers(bench: Bench, cfg: Config, console: Console) -> Samples:
    """Microseconds per row of `get_many` of 100 random rows and of `list` of one tenant's
    100 rows, every reader in turn (rotating) for each answer."""
    samples: Samples = {}
    rng = random.Random(12)
    ids: dict[str, list[str]] = {}
    readers: dict[str, ReadStore] = {}
    for key, (variant_key, opened) in ANSWERS.items():
        variant = bench.variants[variant_key]
        table = variant.projection.tables[0]
        if variant_key not in ids:
            ids[variant_key] = [d["id"] for d in bench.store.list(table)]
            if len(ids[variant_key]) != cfg.events:
                raise RuntimeError(f"{variant_key}: {len(ids[variant_key])} rows")
        readers[key] = RevealingStore(bench.store, variant.sealer) if opened else bench.store
        row = readers[key].list(table, str(bench.tenants[0]))[0]
        # Stored sealed, answered opened: a text where it should be, and only there.
        if isinstance(row["note"], str) != (opened or variant_key == "plain"):
            raise RuntimeError(f"{key}: the note is a {type(row['note']).__name__}")

    def timed(read: Callable[[], Sized]) -> float:
        started = time.perf_counter()
        found = len(read())
        elapsed = time.perf_counter() - started
        if found != ROWS:
            raise RuntimeError(f"{found} rows, not {ROWS}")
        return elapsed / ROWS * 1e6

    keys = list(ANSWERS)
    for n in range(cfg.answers):
        tenant = str(bench.tenants[n % len(bench.tenants)])
        for key in rotated(keys, n):
            variant_key, _ = ANSWERS[key]
            variant = bench.variants[variant_key]
            table = variant.projection.tables[0]
            chosen = rng.sample(ids[variant_key], ROWS)
            reader = readers[key]
            reads = variant.keys.reads if variant.keys else 0
            samples.setdefault(f"get_many:{key}", []).append(
                timed(partial(reader.get_many, table, chosen))
            )
            samples.setdefault(f"list:{key}", []).append(timed(partial(reader.list, table, tenant)))
            if variant.keys and key.endswith("_open"):
                samples.setdefault(f"reads:answer:{key}", []).append(variant.keys.reads - reads)
                samples.setdefault(f"values:answer:{key}", []).append(2 * ROWS * FIELDS)
    console.log(
        f"answers: {cfg.answers} of each; get_many µs/row "
        + ", ".join(f"{k} {median(samples, f'get_many:{k}'):.1f}" for k in keys)
    )
    return samples


# -- the command path ------------------------------------------------------------------


COMMAND_KEYS = ("bare", "plain", "typed", "sealed", "cache0")


@dataclass
class Done:
    """The commands of one measurement, added up as each writer stops."""

    commands: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, n: int) -> None:
        with self.lock:
            self.commands += n


@contextmanager
def careloop_writer(bench: Bench, variant: Variant, done: Done, index: int) -> Iterator[Op]:
    """One new Intake per command; the writers spread over the patients."""
    ctx = CommandContext(actor=ADMIN, causation_id=f"bench-writer-{index}")
    tickets = itertools.count(index * 7919)
    n = 0

    def op() -> None:
        nonlocal n
        variant.bus.run(ctx, partial(record_intakes, bench, variant.make, next(tickets), 1))
        n += 1

    try:
        yield op
    finally:
        done.add(n)


@contextmanager
def bare_writer(bench: Bench, done: Done, index: int) -> Iterator[Op]:
    tickets = itertools.count(index * 7919)
    n = 0

    def op() -> None:
        nonlocal n
        k = next(tickets)
        bench.bare.save(
            BareIntake(
                tenant_id=bench.tenant_of(k),
                patient_id=bench.patient_of(k),
                first_name=FIRST_NAMES[k % len(FIRST_NAMES)],
                last_name=LAST_NAMES[k % len(LAST_NAMES)],
                note=note(k),
                pain=k % 11,
                taken_at=datetime.now(UTC),
            )
        )
        n += 1

    try:
        yield op
    finally:
        done.add(n)


def writer_factory(bench: Bench, key: str, done: Done) -> WriterFactory:
    if key == "bare":
        return partial(bare_writer, bench, done)
    return partial(careloop_writer, bench, bench.variants[key], done)


def command_slice(
    bench: Bench, key: str, writers: int, warmup: float, seconds: float, samples: Samples
) -> None:
    """One measurement of one system, with its key-store reads per value sealed."""
    done = Done()
    keys = bench.variants[key].keys if key != "bare" else None
    reads, cpu = keys.reads if keys else 0, time.process_time()
    rate = measure(writer_factory(bench, key, done), writers, warmup, seconds)
    cpu = time.process_time() - cpu
    samples.setdefault(f"cmd:{key}@{writers}", []).append(rate)
    samples.setdefault(f"cpu:cmd:{key}@{writers}", []).append(cpu / done.commands * 1e6)
    if keys:
        samples.setdefault(f"reads:cmd:{key}@{writers}", []).append(keys.reads - reads)
        samples.setdefault(f"values:cmd:{key}@{writers}", []).append(FIELDS * done.commands)


def bench_commands(bench: Bench, cfg: Config, console: Console) -> Samples:
    """Every system in short slices, in rotating order, so that drift in the machine's
    state (fsync latency, checkpoints, table size) touches all of them alike."""
    samples: Samples = {}
    keys = list(COMMAND_KEYS)
    for n in range(cfg.slices):
        for key in rotated(keys, n):
            command_slice(bench, key, 1, cfg.slice_warmup, cfg.slice_seconds, samples)
        console.log(f"1 writer, slice {n + 1}: " + cmd_summary(samples, keys, 1, n))
    if bench.backend.name == "PostgreSQL":
        for n in range(cfg.rounds):
            for key in rotated(keys, n):
                command_slice(bench, key, MANY_WRITERS, cfg.warmup, cfg.seconds, samples)
            console.log(
                f"{MANY_WRITERS} writers, round {n + 1}: "
                + cmd_summary(samples, keys, MANY_WRITERS, n)
            )
    return samples


def cmd_summary(samples: Samples, keys: Sequence[str], writers: int, n: int) -> str:
    return ", ".join(f"{key} {samples[f'cmd:{key}@{writers}'][n]:,.0f}/s" for key in keys)


# -- report ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    measure: str
    figure: float
    reference: str = ""
    overhead: str = ""
    cpu: str = ""  # this process's CPU time per item, and its overhead
    cpu_overhead: str = ""
    note: str = ""


Section = tuple[str, list[Row]]


def fmt(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def median(samples: Samples, key: str) -> float:
    return statistics.median(samples[key])


def notes(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def hit_rate(samples: Samples, key: str) -> str:
    """Share of the values sealed or opened whose key came from the cache."""
    values = sum(samples.get(f"values:{key}", []))
    if not values:
        return ""
    return f"key cache hits {1 - sum(samples[f'reads:{key}']) / values:.0%}"


def spread(samples: Samples, key: str, reference: str, per: str) -> str:
    """The overhead measurement by measurement (each pair taken back to back)."""
    pairs = [r / v - 1 for v, r in zip(samples[key], samples[reference], strict=True)]
    if len(pairs) < 2:
        return ""
    return f"per {per} {min(pairs) * 100:+.0f}..{max(pairs) * 100:+.0f}%"


def rate_row(samples: Samples, label: str, key: str, note: str) -> Row:
    """A reference rate, with its CPU time per item."""
    cpu = f"cpu:{key}"
    return Row(label, median(samples, key), cpu=fmt(median(samples, cpu)), note=note)


def against_rate(
    samples: Samples, label: str, key: str, name: str, reference: str, per: str, note: str = ""
) -> Row:
    """A rate beside its reference's; the overhead is the extra time per item, in percent
    of the reference's and in microseconds; the same for this process's CPU time."""
    rate, ref = median(samples, key), median(samples, reference)
    cpu, cpu_ref = median(samples, f"cpu:{key}"), median(samples, f"cpu:{reference}")
    return Row(
        label,
        rate,
        f"{name} {fmt(ref)}",
        f"{(ref / rate - 1) * 100:+.1f}% ({(1 / rate - 1 / ref) * 1e6:+,.1f} µs/{per})",
        fmt(cpu),
        f"{(cpu / cpu_ref - 1) * 100:+.1f}% ({cpu - cpu_ref:+,.1f} µs)",
        note,
    )


def against_time(
    label: str, micros: float, name: str, reference: float, note: str = "", percent: bool = True
) -> Row:
    overhead = f"{micros - reference:+,.2f} µs"
    if percent:
        overhead = f"{(micros / reference - 1) * 100:+.1f}% ({overhead})"
    return Row(label, micros, f"{name} {fmt(reference)}", overhead, note=note)


def command_section(samples: Samples, labels: dict[str, str], writers: int) -> Section:
    at = f"@{writers}"
    rows = [
        rate_row(samples, "bare eventsourcing: Application.save", f"cmd:bare{at}", "reference"),
        against_rate(
            samples,
            labels["plain"],
            f"cmd:plain{at}",
            "bare",
            f"cmd:bare{at}",
            "command",
            "CareLoop's own cost; the reference below",
        ),
    ]
    for key in COMMAND_KEYS[2:]:
        measured = f"cmd:{key}{at}"
        note = notes(
            spread(samples, measured, f"cmd:plain{at}", "slice"), hit_rate(samples, measured)
        )
        rows.append(
            against_rate(samples, labels[key], measured, "plain", f"cmd:plain{at}", "cmd", note)
        )
    title = f"Command path, {writers} writer{'s' if writers > 1 else ''}: commands/s"
    return f"{title} (one new Intake each, through CareLoop's CommandBus)", rows


def catch_up_sections(samples: Samples, labels: dict[str, str], events: int) -> list[Section]:
    seeding = [rate_row(samples, labels["plain"], "seed:plain", "reference")]
    for key in ("typed", "sealed"):
        seeding.append(
            against_rate(samples, labels[key], f"seed:{key}", "plain", "seed:plain", "event")
        )
    catch_up = [rate_row(samples, labels["plain"], "catch_up:plain", "reference")]
    for key in ("typed", "sealed", "cache0"):
        measured = f"catch_up:{key}"
        note = notes(
            spread(samples, measured, "catch_up:plain", "round"), hit_rate(samples, measured)
        )
        catch_up.append(
            against_rate(samples, labels[key], measured, "plain", "catch_up:plain", "event", note)
        )
    return [
        (f"Seeding: events/s, {APPEND_BATCH} Intakes per command, interleaved", seeding),
        (f"Projection catch-up from position 0 over {events:,} events: events/s", catch_up),
    ]


ANSWER_LABELS = {
    "plain_store": "plain rows, the store",
    "plain_open": "plain rows, RevealingStore (nothing to open)",
    "typed_open": "typed rows, RevealingStore (identity cipher)",
    "sealed_store": "sealed rows, the store (not opened)",
    "sealed_open": "sealed rows, RevealingStore, key cache {cache}",
    "cache0_open": "sealed rows, RevealingStore, key cache 0 s",
}


def answer_sections(samples: Samples, cache: str) -> list[Section]:
    sections: list[Section] = []
    for query, what in (("get_many", f"get_many of {ROWS} rows"), ("list", f"list of {ROWS}")):
        reference = median(samples, f"{query}:plain_store")
        rows = [Row(ANSWER_LABELS["plain_store"], reference, note="reference")]
        for key, label in list(ANSWER_LABELS.items())[1:]:
            micros = median(samples, f"{query}:{key}")
            note = hit_rate(samples, f"answer:{key}")
            rows.append(against_time(label.format(cache=cache), micros, "plain", reference, note))
        sections.append((f"Answering, {what}: µs per row", rows))
    return sections


def parts_section(samples: Samples, patients: int) -> Section:
    cached, uncached = median(samples, "key_cached"), median(samples, "key_uncached")
    seal, seal_id = median(samples, "seal"), median(samples, "seal_identity")
    opened, open_id = median(samples, "open"), median(samples, "open_identity")
    new_key, new_note = median(samples, "new_key"), f"mean over {patients:,} patients, one run"
    return (
        "Parts: µs per value",
        [
            against_time("seal one note, AES-GCM", seal, "identity", seal_id, percent=False),
            against_time("open one note, AES-GCM", opened, "identity", open_id, percent=False),
            Row("key lookup, cached", cached, note="reference"),
            against_time(
                "key lookup, cache 0 (read + unwrap)", uncached, "cached", cached, "", False
            ),
            against_time("a new patient's key", new_key, "cache 0", uncached, new_note, False),
        ],
    )


def render(section: Section) -> Table:
    title, rows = section
    table = Table(title=title, title_justify="left")
    columns = ["measure", "figure", "reference", "overhead"]
    with_cpu = any(r.cpu for r in rows)
    if with_cpu:
        columns += ["CPU µs/item", "CPU overhead"]
    for column in [*columns, "note"]:
        table.add_column(column, justify="right" if column in ("figure", "CPU µs/item") else "left")
    for r in rows:
        cells = [r.measure, fmt(r.figure), r.reference, r.overhead]
        if with_cpu:
            cells += [r.cpu, r.cpu_overhead]
        table.add_row(*cells, r.note)
    return table


# -- main ------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> Config:
    parser = argparse.ArgumentParser(prog="bench.privacy", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts, for smoke runs")
    parser.add_argument(
        "--database-url", help="measure on this PostgreSQL database (default: SQLite)"
    )
    parser.add_argument("--events", type=int, help="events per variant for the catch-up")
    parser.add_argument("--patients", type=int, default=1_000, help="patients, one key each")
    parser.add_argument(
        "--key-cache-seconds",
        type=float,
        default=DEFAULT_CACHE_SECONDS,
        help=f"the key store's cache (default {DEFAULT_CACHE_SECONDS:g}, the runtime's)",
    )
    parser.add_argument("--slices", type=int, help="interleaved one-writer slices per system")
    args = parser.parse_args(argv)
    quick: bool = args.quick
    events = args.events or (3_000 if quick else 20_000)
    return Config(
        database_url=args.database_url,
        schema=f"bench_{secrets.token_hex(4)}",
        quick=quick,
        events=max(ROWS, events - events % ROWS),  # whole tenants of ROWS rows
        patients=args.patients,
        cache_seconds=args.key_cache_seconds,
        slices=args.slices or (3 if quick else 5),
        slice_seconds=0.7 if quick else 2.0,
        slice_warmup=0.3 if quick else 0.5,
        rounds=1 if quick else 3,
        seconds=1.5 if quick else 3.0,
        warmup=0.5 if quick else 1.0,
        answers=20 if quick else 200,
    )


def main(argv: Sequence[str] | None = None) -> int:
    cfg = parse_args(argv)
    console = Console(width=max(Console().width, 150))  # wide tables, even in a pipe
    with open_bench(cfg) as bench:
        backend = bench.backend.name
        many = f" | {MANY_WRITERS} writers: {cfg.rounds} round(s) of {cfg.seconds:g} s"
        console.print(
            f"[bold]CareLoop privacy benchmark[/] ({'quick' if cfg.quick else 'full'} run)\n"
            f"{bench.backend.description} | nproc {os.cpu_count()} | "
            f"Python {platform.python_version()} | eventsourcing {version('eventsourcing')} | "
            f"cryptography {version('cryptography')}\n"
            f"{cfg.patients:,} patients, one key each; key cache {cfg.cache_seconds:g} s "
            f"(CARELOOP_KEY_CACHE_SECONDS, default {DEFAULT_CACHE_SECONDS:g}) and 0 s\n"
            f"1 writer: {cfg.slices} interleaved slices of {cfg.slice_seconds:g} s per system"
            f"{many if backend == 'PostgreSQL' else ''} | catch-up over {cfg.events:,} events, "
            f"{cfg.rounds} round(s) | answers: {cfg.answers} per reader and query"
        )
        console.print(load_report("before"))
        samples = bench_parts(bench)
        console.log(f"{cfg.patients:,} keys made, {median(samples, 'new_key'):,.0f} µs each")
        samples.update(bench_catch_up(bench, cfg, console))
        samples.update(bench_answers(bench, cfg, console))
        samples.update(bench_commands(bench, cfg, console))
        console.print(load_report("after"))
    writers = [1, MANY_WRITERS] if backend == "PostgreSQL" else [1]
    labels = {key: v.label for key, v in bench.variants.items()}
    sections = [command_section(samples, labels, w) for w in writers]
    sections += catch_up_sections(samples, labels, cfg.events)
    sections += answer_sections(samples, f"{cfg.cache_seconds:g} s")
    sections.append(parts_section(samples, cfg.patients))
    console.print(f"Figures on {backend}: medians; overhead = extra time per item")
    for section in sections:
        console.print(render(section))
    console.print("verdict: no target; reported")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
