"""Audit benchmark (issue 11): what auditing adds to a read, `GET /v1/audit` over a million
entries, and the rate of `careloop audit verify`.

    .venv/bin/python -m bench.audit                  # SQLite (embedded), 1,000,000 entries
    .venv/bin/python -m bench.audit --database-url postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python -m bench.audit --quick          # smoke run: 20,000 entries, 200 requests

One backend per run: SQLite in a temporary data directory (`careloop serve` with
CARELOOP_DATA_DIR), or PostgreSQL with --database-url, in a fresh schema `bench_<random>`
dropped at the end. Run it on a quiet machine: every figure is a latency or a rate. Each
figure is printed beside its reference, measured in the same run:

1. Read latency, auditing on vs off. Production's process, `careloop serve`, is started
   alternately with CARELOOP_AUDIT_READS=false and =true (off, on, off, on; --quick: off,
   on) on one clinic seeded over HTTP. A doctor reads a finalized workout
   (`GET /v1/workouts/{id}`) --requests times one request after another, then --requests
   times from 16 concurrent clients, where the group commit gathers entries. Figure: p50
   and p99 with auditing on (all runs pooled); reference: the same with it off, and each
   run's p99 to show the spread; target: p99 added <= 5 ms. Entries per group commit are
   read from the store afterwards (one commit's entries share their recordedAt).
2. `GET /v1/audit` over --entries entries. One tenant's chain is filled directly: drafts
   (50 actors, 2,000 subjects, 40 actions, 4 outcomes, recordedAt over 30 days, growing
   with seq) chained by the store's own `chained` in group-commit-sized batches, inserted
   with executemany (SQLite) or COPY (PostgreSQL), beside a second tenant with a tenth as
   many. Fill rate beside the bare insert of the same rows into an unindexed table. Then
   an auditor of the tenant lists entries through a `careloop serve` with auditing on
   (production: the listing itself is audited), 200 requests per filter (actorId,
   subjectId, action, outcome, one day's from/to, a rare actorId + action, no filter, a
   deep cursor), each followed by the same query on the store directly
   (`AuditStore.query`, what the route calls), so the HTTP share shows. Each filter's
   query plan is printed once. Target: p99 <= 50 ms.
3. Verification. `verify(key, store.all_entries(t), store.head(t))` over the filled chain
   (what `GET /v1/audit/verify` runs), entries/s, beside where the time goes: the raw read
   of the same rows, their reading as entries, their canonical encoding and the bare
   HMAC-SHA256 over the same bytes; and `careloop audit verify --tenant` end to end (a
   subprocess, start-up included) when the CLI has it.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as `python bench/audit.py`, the repository root is not on sys.path yet.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import asyncio
import hashlib
import hmac
import os
import random
import re
import secrets
import shutil
import sqlite3
import subprocess
import tempfile
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

import httpx
import psycopg
from psycopg import sql
from rich.console import Console
from rich.table import Table

from api.audit.actions import ACTIONS, Action
from bench.api import CARELOOP, SECRET, bearer, free_port, percentile, process, wait_healthy
from bootstrap.settings import Settings
from domain.audit.chain import GENESIS, entry_bytes, verify
from domain.audit.entry import Draft, Outcome
from domain.audit.postgres_store import PostgresAuditStore
from domain.audit.sqlite_store import SQLiteAuditStore
from domain.audit.store import (
    COLUMNS,
    VERIFY_CHUNK,
    AuditFilter,
    AuditStore,
    chained,
    row_of,
)
from domain.shared.context import Role

AUDIT_KEY = "careloop-bench-audit-key-of-at-least-32-bytes"
CLIENTS = 16
ADDED_P99_TARGET_MS = 5.0
LISTING_P99_TARGET_MS = 50.0
PAGE = 100  # GET /v1/audit's default limit
ACTORS, SUBJECTS, ACTION_KINDS, DAYS = 50, 2_000, 40, 30
GROUP = 50  # entries per `chained` call: one group commit, one recordedAt
FILL_CHUNK = 50_000  # entries per insert transaction
SAMPLE = 100_000  # entries the canonical-encoding and HMAC rates are taken over
BARE = "bench_bare_entries"
OUTCOMES = list(Outcome)
OUTCOME_WEIGHTS = {Outcome.SUCCESS: 90, Outcome.DENIED: 5, Outcome.REJECTED: 4, Outcome.FAILED: 1}
STATUS = {Outcome.SUCCESS: 200, Outcome.DENIED: 404, Outcome.REJECTED: 422, Outcome.FAILED: 503}
ROLES = ("doctor", "doctor", "doctor", "patient", "hospital_admin", "px_admin")


@dataclass(frozen=True)
class Config:
    quick: bool
    entries: int
    requests: int
    listings: int  # GET /v1/audit requests per filter
    database_url: str | None


@dataclass(frozen=True)
class Row:
    measure: str
    figure: str
    target: str
    verdict: str
    reference: str


def verdict(met: bool, detail: str) -> str:
    return ("met" if met else "MISSED") + f" ({detail})"


def ms(values: Sequence[float]) -> str:
    """p50 / p99 of `values` (milliseconds)."""
    return f"{percentile(list(values), 50):.1f} / {percentile(list(values), 99):.1f} ms"


def per_second(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f}/s" if seconds > 0 else "n/a"


# -- where the run keeps its data ---------------------------------------------------------


class Backend(ABC):
    """One run's database: the servers' environment, the audit store opened directly (as
    `runtime.audit` is) and a raw connection for the fill, the plans and the batch counts."""

    name: str
    mark: str  # the driver's parameter placeholder
    insert_method: str
    # `careloop serve` runs no projections: seeding needs `careloop projections run`.
    api_only = False

    def __init__(self) -> None:
        self.key = Settings(jwt_secret=SECRET, audit_key=AUDIT_KEY).audit_key_bytes()

    def env(self, audit_reads: bool = True) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CARELOOP_")}
        env.update(
            CARELOOP_JWT_SECRET=SECRET,
            CARELOOP_AUDIT_KEY=AUDIT_KEY,
            CARELOOP_AUDIT_READS="true" if audit_reads else "false",
            **self.location(),
        )
        return env

    @abstractmethod
    def location(self) -> dict[str, str]: ...

    @abstractmethod
    def prepare(self) -> AuditStore:
        """Create the tables; return the audit store, opened directly."""

    @abstractmethod
    def execute(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    @abstractmethod
    def insert(self, table: str, rows: Sequence[tuple[Any, ...]]) -> None:
        """`rows` into `table` in one transaction, the backend's fastest ordinary way."""

    @abstractmethod
    def plan(self, statement: str, params: Sequence[Any]) -> list[str]: ...

    def analyze(self) -> None:
        return None

    @abstractmethod
    def close(self) -> None: ...


class SQLiteBackend(Backend):
    name = "SQLite"
    mark = "?"
    insert_method = "executemany"

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.data_dir = directory / "data"
        self._conn: sqlite3.Connection | None = None

    def location(self) -> dict[str, str]:
        return {"CARELOOP_DATA_DIR": str(self.data_dir)}

    def prepare(self) -> AuditStore:
        self.data_dir.mkdir(parents=True)
        # The servers create the rest of the data directory on their start.
        return SQLiteAuditStore(
            self.data_dir / "audit.sqlite3", self.key, lambda: datetime.now(UTC)
        )

    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            # As the store opens its own (domain/audit/sqlite_store.py).
            self._conn = sqlite3.connect(self.data_dir / "audit.sqlite3", isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA busy_timeout=10000")
            self._conn.execute("PRAGMA synchronous=FULL")
        return self._conn

    def execute(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.conn().execute(statement, tuple(params))]

    def insert(self, table: str, rows: Sequence[tuple[Any, ...]]) -> None:
        conn = self.conn()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(f"INSERT INTO {table} ({COLUMNS}) VALUES ({', '.join('?' * 14)})", rows)
        conn.execute("COMMIT")

    def plan(self, statement: str, params: Sequence[Any]) -> list[str]:
        return [str(r[3]) for r in self.execute("EXPLAIN QUERY PLAN " + statement, params)]

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


class PostgresBackend(Backend):
    name = "PostgreSQL"
    mark = "%s"
    insert_method = "COPY"
    api_only = True

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.schema = f"bench_{secrets.token_hex(5)}"
        self._conn: psycopg.Connection[Any] | None = None

    def location(self) -> dict[str, str]:
        return {"CARELOOP_DATABASE_URL": self.url, "CARELOOP_DATABASE_SCHEMA": self.schema}

    def prepare(self) -> AuditStore:
        subprocess.run([CARELOOP, "db", "init"], env=self.env(), check=True, capture_output=True)
        return PostgresAuditStore(
            self.url, self.schema, self.key, lambda: datetime.now(UTC), create_tables=False
        )

    def conn(self) -> psycopg.Connection[Any]:
        if self._conn is None:
            self._conn = psycopg.connect(
                self.url, autocommit=True, options=f"-c search_path={self.schema}"
            )
        return self._conn

    def execute(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.conn().cursor() as cur:
            cur.execute(statement, tuple(params))
            return list(cur.fetchall()) if cur.description else []

    def insert(self, table: str, rows: Sequence[tuple[Any, ...]]) -> None:
        conn = self.conn()
        statement = f"COPY {table} ({COLUMNS}) FROM STDIN"
        with conn.transaction(), conn.cursor() as cur, cur.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)

    def plan(self, statement: str, params: Sequence[Any]) -> list[str]:
        rows = self.execute("EXPLAIN (ANALYZE, COSTS OFF) " + statement, params)
        return [str(r[0]) for r in rows]

    def analyze(self) -> None:
        # What autovacuum does within a minute of a bulk load: the planner sees the data.
        self.execute("ANALYZE audit_entries")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema))
            )


# -- 2. the fill ----------------------------------------------------------------------------


@dataclass
class Population:
    """Who and what one tenant's filled entries are: its chain grows as it is filled."""

    tenant: str
    count: int
    actors: list[tuple[str, str]]  # (id, role)
    subjects: list[str]
    actions: list[Action]  # most frequent first; the last is the rarest
    cum_weights: list[float]
    seq: int = 0
    hash: str = GENESIS
    position: int = 0


def population(rng: random.Random, count: int) -> Population:
    def an_id() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    # Reads first: they are most of a clinic's requests. Frequencies follow Zipf (1/k).
    kinds = list({a.name: a for a in ACTIONS.values()}.values())
    kinds.sort(key=lambda a: not a.name.endswith(".read"))
    actions = kinds[:: max(1, len(kinds) // ACTION_KINDS)][:ACTION_KINDS]
    weights = [1 / (k + 1) for k in range(len(actions))]
    cum = [sum(weights[: k + 1]) for k in range(len(weights))]
    return Population(
        tenant=an_id(),
        count=count,
        actors=[(an_id(), ROLES[a % len(ROLES)]) for a in range(ACTORS)],
        subjects=[an_id() for _ in range(SUBJECTS)],
        actions=actions,
        cum_weights=cum,
    )


def drafts(rng: random.Random, pop: Population, n: int) -> list[Draft]:
    out = []
    for (actor, role), action, subject, outcome in zip(
        rng.choices(pop.actors, k=n),
        rng.choices(pop.actions, cum_weights=pop.cum_weights, k=n),
        rng.choices(pop.subjects, k=n),
        rng.choices(OUTCOMES, weights=[OUTCOME_WEIGHTS[o] for o in OUTCOMES], k=n),
        strict=True,
    ):
        request = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        position = None
        if outcome is Outcome.SUCCESS and not action.name.endswith(".read"):
            pop.position += 1
            position = pop.position
        out.append(
            Draft(
                tenant=pop.tenant,
                actor_id=actor,
                role=role,
                action=action.name,
                subject_type=action.subject_type,
                subject_id=subject,
                outcome=outcome,
                status=STATUS[outcome],
                correlation_id=request,
                request_id=request,
                position=position,
            )
        )
    return out


@dataclass
class Fill:
    entries: int = 0
    chaining: float = 0.0  # `chained` and `row_of`
    inserting: float = 0.0  # into audit_entries
    bare: float = 0.0  # the same rows into an unindexed table


def fill(backend: Backend, pops: Sequence[Population], start: datetime, end: datetime) -> Fill:
    """Every population's entries, chained and inserted FILL_CHUNK at a time (the tenants
    interleaved, as they arrive), each tenant's recordedAt growing from `start` to `end`;
    then the heads, as `append` leaves them."""
    backend.execute(f"CREATE TABLE {BARE} AS SELECT {COLUMNS} FROM audit_entries WHERE 1 = 0")
    rng = random.Random(11)
    stats = Fill()
    steps = max(1, -(-max(p.count for p in pops) // FILL_CHUNK))
    for step in range(steps):
        rows: list[tuple[Any, ...]] = []
        for pop in pops:
            low, high = pop.count * step // steps, pop.count * (step + 1) // steps
            batch = drafts(rng, pop, high - low)
            started = time.perf_counter()
            for i in range(0, len(batch), GROUP):
                at = start + (end - start) * ((low + i) / pop.count)
                entries = chained(backend.key, batch[i : i + GROUP], (pop.seq, pop.hash), at)
                pop.seq, pop.hash = entries[-1].seq, entries[-1].hash
                rows.extend(row_of(e) for e in entries)
            stats.chaining += time.perf_counter() - started
        started = time.perf_counter()
        backend.insert("audit_entries", rows)
        stats.inserting += time.perf_counter() - started
        started = time.perf_counter()
        backend.insert(BARE, rows)
        stats.bare += time.perf_counter() - started
        stats.entries += len(rows)
    m = backend.mark
    for pop in pops:
        backend.execute(
            f"INSERT INTO audit_heads (tenant, seq, hash) VALUES ({m}, {m}, {m}) "
            "ON CONFLICT (tenant) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
            (pop.tenant, pop.seq, pop.hash),
        )
    backend.execute(f"DROP TABLE {BARE}")
    backend.analyze()
    return stats


def fill_rows(stats: Fill, backend: Backend, pops: Sequence[Population]) -> list[Row]:
    main, other = pops
    return [
        Row(
            f"fill: {main.count:,} + {other.count:,} entries chained and inserted "
            f"({backend.insert_method})",
            per_second(stats.entries, stats.chaining + stats.inserting),
            "—",
            "—",
            f"chaining alone {per_second(stats.entries, stats.chaining)}; "
            f"insert alone {per_second(stats.entries, stats.inserting)}; the same rows into "
            f"an unindexed table {per_second(stats.entries, stats.bare)}",
        )
    ]


# -- 3. verification ----------------------------------------------------------------------


def verification(backend: Backend, store: AuditStore, pop: Population) -> list[Row]:
    """`verify` over the tenant's chain, beside each of its steps alone."""
    m = backend.mark
    statement = (
        f"SELECT {COLUMNS} FROM audit_entries WHERE tenant = {m} AND seq > {m} "
        f"ORDER BY seq LIMIT {m}"
    )  # the store's `entries`, without turning rows into entries
    started = time.perf_counter()
    raw, after = 0, 0
    while True:
        chunk = backend.execute(statement, (pop.tenant, after, VERIFY_CHUNK))
        raw += len(chunk)
        if len(chunk) < VERIFY_CHUNK:
            break
        after = int(chunk[-1][1])
    raw_s = time.perf_counter() - started

    started = time.perf_counter()
    read = sum(1 for _ in store.all_entries(pop.tenant))
    read_s = time.perf_counter() - started

    started = time.perf_counter()
    result = verify(store.key, store.all_entries(pop.tenant), store.head(pop.tenant))
    verify_s = time.perf_counter() - started
    assert result.verified and result.entries == pop.count, result
    assert raw == read == pop.count, (raw, read, pop.count)

    sample = list(islice(store.all_entries(pop.tenant), SAMPLE))
    started = time.perf_counter()
    encoded = [entry_bytes(e) for e in sample]
    encode_s = time.perf_counter() - started
    previous = [GENESIS, *(e.hash for e in sample[:-1])]
    messages = [p.encode() + b"\n" + b for p, b in zip(previous, encoded, strict=True)]
    key = store.key
    started = time.perf_counter()
    for message in messages:
        hmac.new(key, message, hashlib.sha256).hexdigest()
    hmac_s = time.perf_counter() - started
    assert hmac.new(key, messages[-1], hashlib.sha256).hexdigest() == sample[-1].hash

    rows = [
        Row(
            f"verify(key, store.all_entries, store.head), {pop.count:,} entries",
            per_second(pop.count, verify_s),
            "—",
            "—",
            f"{verify_s:.2f} s. Alone: raw read of the rows {per_second(raw, raw_s)}; read as "
            f"entries {per_second(read, read_s)}; canonical encoding "
            f"{per_second(len(sample), encode_s)}; bare HMAC-SHA256 "
            f"{per_second(len(messages), hmac_s)} (last two over {len(sample):,})",
        )
    ]
    cli = cli_verify(backend, pop)
    if cli is not None:
        rows.append(cli)
    return rows


def cli_has_audit_verify() -> bool:
    from api import cli

    audit_app = getattr(cli, "audit_app", None)
    commands = getattr(audit_app, "registered_commands", [])
    return any(getattr(c, "name", None) == "verify" for c in commands)


def cli_verify(backend: Backend, pop: Population) -> Row | None:
    """`careloop audit verify --tenant` as an operator runs it, start-up included."""
    if not cli_has_audit_verify():
        return None
    started = time.perf_counter()
    done = subprocess.run(
        [CARELOOP, "audit", "verify", "--tenant", pop.tenant],
        env=backend.env(),
        capture_output=True,
        text=True,
        timeout=3600,
    )
    wall = time.perf_counter() - started
    verified = done.returncode == 0 and f"{pop.count} entries" in done.stdout
    own = re.search(r"\(([\d,]+) entries/s\)", done.stderr)
    return Row(
        f"careloop audit verify --tenant, end to end, {pop.count:,} entries",
        per_second(pop.count, wall),
        "—",
        "—" if verified else f"exit {done.returncode}: {(done.stdout or done.stderr)[:80]!r}",
        f"{wall:.2f} s wall, start-up included; its own report "
        f"{own.group(1) + '/s' if own else 'n/a'} (verifies rows as stored)",
    )


# -- 1. read latency, auditing on vs off -----------------------------------------------


@dataclass(frozen=True)
class Clinic:
    tenant: str
    doctor: dict[str, str]
    workout: str


def ok(response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 400:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path}: "
            f"{response.status_code} {response.text[:300]}"
        )
    body: dict[str, Any] = response.json()
    return body


def seed(base: str, backend: Backend, logs: Path) -> Clinic:
    """Over HTTP: a tenant, an approved doctor, a patient the doctor invited (and so is
    connected to) and one recorded, finalized workout; returns once the doctor reads it."""
    admin = bearer(Role.PLATFORM_ADMIN, uuid.uuid4())
    with ExitStack() as stack, httpx.Client(base_url=base, timeout=30) as c:
        if backend.api_only:
            stack.enter_context(
                process(["projections", "run"], backend.env(), logs / "projections.log")
            )
        tenant = ok(c.post("/v1/tenants", headers=admin, json={"name": "Bench"}))["id"]
        staff = {
            "type": "DOCTOR",
            "firstName": "Maya",
            "lastName": "Lind",
            "email": f"maya.{uuid.uuid4().hex[:6]}@clinic.example",
        }
        doctor = ok(c.post(f"/v1/tenants/{tenant}/staff", headers=admin, json=staff))["id"]
        ok(c.post(f"/v1/staff/{doctor}/approve", headers=admin))
        doctor_h = bearer(Role.DOCTOR, uuid.UUID(doctor), uuid.UUID(tenant))
        invite = {
            "firstName": "Sam",
            "lastName": "Carter",
            "email": f"sam.{uuid.uuid4().hex[:6]}@patients.example",
        }
        patient = ok(c.post("/v1/patients/invite", headers=doctor_h, json=invite))["patientId"]
        patient_h = bearer(Role.PATIENT, uuid.UUID(patient), uuid.UUID(tenant))
        body = {"exercises": [{"exerciseId": "squat", "name": "Squat", "prescribed": {"sets": 3}}]}
        workout = ok(c.post("/v1/workouts", headers=patient_h, json=body))["workoutId"]
        result = {"actual": {"sets": 3, "reps": 10}, "pain": 2, "exertion": 4}
        ok(c.put(f"/v1/workouts/{workout}/exercises/squat", headers=patient_h, json=result))
        position = ok(c.post(f"/v1/workouts/{workout}/finalize", headers=patient_h))["position"]
        deadline = time.monotonic() + 60
        path = f"/v1/workouts/{workout}?minPosition={position}"
        while c.get(path, headers=doctor_h).status_code != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("the read models did not catch up with the seed")
    return Clinic(tenant, doctor_h, workout)


async def sequential(base: str, path: str, headers: dict[str, str], count: int) -> list[float]:
    timings = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        for _ in range(count):
            started = time.perf_counter()
            response = await client.get(path, headers=headers)
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.text
    return timings


async def concurrent(
    base: str, path: str, headers: dict[str, str], count: int, clients: int = CLIENTS
) -> list[float]:
    """`count` GETs from `clients` concurrent clients (one keep-alive connection each)."""
    timings: list[float] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:

        async def one(n: int) -> None:
            for _ in range(n):
                started = time.perf_counter()
                response = await client.get(path, headers=headers)
                timings.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.text

        await asyncio.gather(
            *(one(count // clients + (i < count % clients)) for i in range(clients))
        )
    return timings


@dataclass
class Run:
    audit_reads: bool
    sequential: list[float]
    concurrent: list[float]
    # (entries, group commits) of the run's reads, counted in the store
    sequential_batches: tuple[int, int] = (0, 0)
    concurrent_batches: tuple[int, int] = (0, 0)

    @property
    def mode(self) -> str:
        return "on" if self.audit_reads else "off"


def head_seq(backend: Backend, tenant: str) -> int:
    m = backend.mark
    rows = backend.execute(
        f"SELECT coalesce(max(seq), 0) FROM audit_entries WHERE tenant = {m}", (tenant,)
    )
    return int(rows[0][0])


def batches(backend: Backend, tenant: str, after: int, upto: int) -> tuple[int, int]:
    """(entries, group commits) of the tenant's chain in `after < seq <= upto`: one
    commit's entries share their recordedAt (`chained` stamps a batch once)."""
    m = backend.mark
    rows = backend.execute(
        f"SELECT count(*), count(DISTINCT recorded_at) FROM audit_entries "
        f"WHERE tenant = {m} AND seq > {m} AND seq <= {m}",
        (tenant, after, upto),
    )
    return int(rows[0][0]), int(rows[0][1])


def measure_reads(
    base: str, backend: Backend, clinic: Clinic, audit_reads: bool, cfg: Config
) -> Run:
    path = f"/v1/workouts/{clinic.workout}"
    asyncio.run(sequential(base, path, clinic.doctor, 50))  # warm-up
    asyncio.run(concurrent(base, path, clinic.doctor, CLIENTS * 4))
    before = head_seq(backend, clinic.tenant)
    one = asyncio.run(sequential(base, path, clinic.doctor, cfg.requests))
    middle = head_seq(backend, clinic.tenant)
    many = asyncio.run(concurrent(base, path, clinic.doctor, cfg.requests))
    end = head_seq(backend, clinic.tenant)
    run = Run(audit_reads, one, many)
    if audit_reads:
        run.sequential_batches = batches(backend, clinic.tenant, before, middle)
        run.concurrent_batches = batches(backend, clinic.tenant, middle, end)
        # Every read of the run got its entry (the counts include nothing else).
        assert run.sequential_batches[0] == cfg.requests, run.sequential_batches
        assert run.concurrent_batches[0] == cfg.requests, run.concurrent_batches
    return run


def per_batch(counts: tuple[int, int]) -> str:
    entries, commits = counts
    return f"{entries / commits:.1f}" if commits else "n/a"


def read_rows(runs: Sequence[Run], cfg: Config) -> list[Row]:
    rows = []
    for label, pick, batches in (
        ("1 client", lambda r: r.sequential, lambda r: r.sequential_batches),
        (f"{CLIENTS} clients", lambda r: r.concurrent, lambda r: r.concurrent_batches),
    ):
        on = [t for r in runs if r.audit_reads for t in pick(r)]
        off = [t for r in runs if not r.audit_reads for t in pick(r)]
        added = percentile(on, 99) - percentile(off, 99)
        spread = ", ".join(f"{r.mode} {percentile(pick(r), 99):.1f}" for r in runs)
        entries = sum(batches(r)[0] for r in runs)
        commits = sum(batches(r)[1] for r in runs)
        rows.append(
            Row(
                f"GET /v1/workouts/{{id}}, {label}, auditing on: p50 / p99",
                ms(on),
                f"p99 added <= {ADDED_P99_TARGET_MS:g} ms",
                verdict(added <= ADDED_P99_TARGET_MS, f"{added:+.1f} ms"),
                f"off: {ms(off)}; each run's p99 in order: {spread} ms; "
                f"entries per group commit {per_batch((entries, commits))}",
            )
        )
    return rows


# -- 2. GET /v1/audit -------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[int], AuditFilter]  # the i-th request's filter


def cases(pop: Population, start: datetime) -> list[Case]:
    rarest = pop.actions[-1].name
    deep = max(1, pop.count // 10)

    def actor(i: int) -> str:
        return pop.actors[i % len(pop.actors)][0]

    def day(i: int) -> AuditFilter:
        since = start + timedelta(days=i % DAYS)
        return AuditFilter(since=since, until=since + timedelta(days=1))

    return [
        Case("no filter", lambda i: AuditFilter()),
        Case("actorId", lambda i: AuditFilter(actor_id=actor(i))),
        Case(
            "subjectId",
            lambda i: AuditFilter(subject_id=pop.subjects[i * 7919 % len(pop.subjects)]),
        ),
        Case("action", lambda i: AuditFilter(action=pop.actions[i % len(pop.actions)].name)),
        Case("outcome", lambda i: AuditFilter(outcome=OUTCOMES[i % len(OUTCOMES)].value)),
        Case("from/to: one day", day),
        Case(
            f"actorId + action {rarest} (rare)",
            lambda i: AuditFilter(actor_id=actor(i), action=rarest),
        ),
        Case(
            "deep page: cursor",
            lambda i: AuditFilter(before_seq=deep + i * 7919 % (pop.count - deep + 1)),
        ),
    ]


def query_params(f: AuditFilter) -> dict[str, str]:
    """The filter as GET /v1/audit's query."""
    params = {}
    for name, value in (
        ("actorId", f.actor_id),
        ("subjectId", f.subject_id),
        ("action", f.action),
        ("outcome", f.outcome),
        ("from", f.since.isoformat() if f.since else None),
        ("to", f.until.isoformat() if f.until else None),
        ("cursor", str(f.before_seq) if f.before_seq is not None else None),
    ):
        if value is not None:
            params[name] = value
    return params


def statement(store: AuditStore, tenant: str, f: AuditFilter) -> tuple[str, list[Any]]:
    """The SQL `AuditStore.query` runs (domain/audit/*_store.py), for its plan."""
    return store.statement(tenant, f, store.seq_range(tenant, f), PAGE + 1)


@dataclass
class Listing:
    case: Case
    http: list[float] = field(default_factory=list)
    direct: list[float] = field(default_factory=list)
    shown: int = 0  # entries on the pages, in all


async def listings(
    base: str, store: AuditStore, pop: Population, case: Case, count: int
) -> Listing:
    """Request i over HTTP, then the same query on the store: both see the same cache."""
    auditor = bearer(Role.AUDITOR, uuid.uuid4(), uuid.UUID(pop.tenant))
    found = Listing(case)
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        for i in range(count):
            f = case.make(i)
            started = time.perf_counter()
            response = await client.get("/v1/audit", params=query_params(f), headers=auditor)
            found.http.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.text
            found.shown += len(response.json()["items"])
            started = time.perf_counter()
            store.query(pop.tenant, f, PAGE + 1)
            found.direct.append((time.perf_counter() - started) * 1000)
    return found


def audit_listing(
    base: str,
    backend: Backend,
    store: AuditStore,
    pop: Population,
    start: datetime,
    cfg: Config,
    console: Console,
) -> list[Row]:
    asyncio.run(listings(base, store, pop, cases(pop, start)[0], 20))  # warm-up
    rows = []
    for case in cases(pop, start):
        text, params = statement(store, pop.tenant, case.make(0))
        console.print(f"[bold]plan[/], {case.name}: {query_params(case.make(0))}")
        for line in backend.plan(text, params):
            console.print(f"    {line}", highlight=False)
        found = asyncio.run(listings(base, store, pop, case, cfg.listings))
        p99 = percentile(found.http, 99)
        rows.append(
            Row(
                f"GET /v1/audit, {case.name}: p50 / p99",
                ms(found.http),
                f"p99 <= {LISTING_P99_TARGET_MS:g} ms",
                verdict(p99 <= LISTING_P99_TARGET_MS, f"{p99:.1f} ms"),
                f"store.query alone {ms(found.direct)}; "
                f"{found.shown / cfg.listings:.0f} entries per page",
            )
        )
    return rows


# -- the run ----------------------------------------------------------------------------


@contextmanager
def serving(backend: Backend, audit_reads: bool, log: Path) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with process(["serve", "--port", str(port)], backend.env(audit_reads), log):
        wait_healthy(base)
        yield base


def run(backend: Backend, cfg: Config, logs: Path, console: Console) -> list[Row]:
    """The fill and the verification first, with no server running; then the servers in
    turn, auditing off and on: the first seeds the clinic, the first with auditing on also
    answers the listings (after its reads are measured)."""
    store = backend.prepare()
    try:
        end = datetime.now(UTC) - timedelta(minutes=1)  # before every entry a server adds
        start = end - timedelta(days=DAYS)
        rng = random.Random(2026)
        pops = [population(rng, cfg.entries), population(rng, max(1, cfg.entries // 10))]
        console.log(f"filling {sum(p.count for p in pops):,} entries")
        filled = fill(backend, pops, start, end)
        rows = fill_rows(filled, backend, pops)
        console.log("verifying the chain")
        rows += verification(backend, store, pops[0])

        modes = [False, True] * (1 if cfg.quick else 2)
        clinic: Clinic | None = None
        runs: list[Run] = []
        listing_rows: list[Row] = []
        for n, audit_reads in enumerate(modes, 1):
            mode = "on" if audit_reads else "off"
            with serving(backend, audit_reads, logs / f"serve-{n}-{mode}.log") as base:
                if clinic is None:
                    clinic = seed(base, backend, logs)
                done = measure_reads(base, backend, clinic, audit_reads, cfg)
                runs.append(done)
                console.log(
                    f"run {n}, auditing {mode}: 1 client {ms(done.sequential)}, "
                    f"{CLIENTS} clients {ms(done.concurrent)}"
                    + (
                        f"; entries per group commit {per_batch(done.sequential_batches)} "
                        f"and {per_batch(done.concurrent_batches)}"
                        if audit_reads
                        else ""
                    )
                )
                if audit_reads and not listing_rows:
                    listing_rows = audit_listing(base, backend, store, pops[0], start, cfg, console)
        return read_rows(runs, cfg) + listing_rows + rows
    finally:
        store.close()


def render(rows: Sequence[Row], title: str, caption: str) -> Table:
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    for column, justify in (
        ("measure", "left"),
        ("figure", "right"),
        ("target", "left"),
        ("verdict", "left"),
        ("reference", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        style = "bold red" if r.verdict.startswith("MISSED") else None
        table.add_row(r.measure, r.figure, r.target, r.verdict, r.reference, style=style)
    return table


def parse_args(argv: Sequence[str] | None) -> Config:
    parser = argparse.ArgumentParser(prog="bench.audit", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", help="run on this PostgreSQL database (default: embedded SQLite)"
    )
    parser.add_argument("--entries", type=int, help="entries of the filled tenant (1,000,000)")
    parser.add_argument(
        "--requests", type=int, help="GET /v1/workouts/{id} per run and client mode (2,000)"
    )
    parser.add_argument("--quick", action="store_true", help="small counts, for smoke runs")
    args = parser.parse_args(argv)
    quick: bool = args.quick
    return Config(
        quick=quick,
        entries=args.entries or (20_000 if quick else 1_000_000),
        requests=args.requests or (200 if quick else 2_000),
        listings=50 if quick else 200,
        database_url=args.database_url,
    )


def main(argv: Sequence[str] | None = None) -> int:
    cfg = parse_args(argv)
    console = Console(width=max(Console().width, 150))  # a wide table, even in a pipe
    directory = Path(tempfile.mkdtemp(prefix="careloop-bench-audit-"))
    backend: Backend = (
        PostgresBackend(cfg.database_url) if cfg.database_url else SQLiteBackend(directory)
    )
    load = os.getloadavg()
    console.print(
        f"[bold]CareLoop audit benchmark[/] ({'quick' if cfg.quick else 'full'} run) on "
        f"{backend.name}: {cfg.entries:,} entries, {cfg.requests:,} reads per run | nproc "
        f"{os.cpu_count()} | load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}"
    )
    try:
        rows = run(backend, cfg, directory, console)
    except BaseException:
        console.print(f"[bold red]failed[/]: the servers' logs are kept in {directory}")
        raise
    finally:
        backend.close()
    load = os.getloadavg()
    console.print(f"load average after: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}")
    shutil.rmtree(directory, ignore_errors=True)
    modes = "off, on" if cfg.quick else "off, on, off, on"
    caption = (
        f"GET /v1/workouts/{{id}}: a doctor's read of a finalized workout, {cfg.requests:,} "
        f"requests per run and client mode, runs ({modes}) pooled per mode. GET /v1/audit: "
        f"an auditor, {cfg.listings} requests per filter, {PAGE} entries per page, over "
        f"{cfg.entries:,} entries of the tenant (+ {max(1, cfg.entries // 10):,} of another); "
        "its HTTP figure includes storing the request's own audit entry."
    )
    console.print(render(rows, f"Audit figures on {backend.name}", caption))
    missed = [r.measure for r in rows if r.verdict.startswith("MISSED")]
    if missed:
        console.print("[bold red]MISSED: " + "; ".join(missed))
    else:
        console.print("[bold green]all targets met")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
