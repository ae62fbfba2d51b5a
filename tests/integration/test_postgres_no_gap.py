"""A tailing projection on PostgreSQL misses nothing while many writers append at once.

Positions come from a sequence, so two transactions can take positions 41 and 42 and
commit in the opposite order. A reader that has already seen 42 and tracked it would then
skip 41 forever. The library's recorder prevents that by taking an EXCLUSIVE lock on the
events table for every insert, so commits happen in position order. This is why
`POSTGRES_ENABLE_DB_FUNCTIONS` stays off: in eventsourcing 9.5.6 that mode inserts through
a database function that skips the lock (a tailing reader missed 32-127 of ~30k events
under 4 writers) and that is named per schema rather than per table. The test below is the
guard: several writer threads, a runner tailing in small batches woken by LISTEN/NOTIFY,
and at the end every written position applied exactly once.

Group commit (docs/decisions/0031-group-commit.md) gathers many writers' units into one
transaction that takes the lock once. The second test is its guard at scale: 32 writer
threads append 100,000 events through the event log's own recorder (small stored events,
straight to the recorder, so the run stays short) while a reader tails the log page by
page; every position in the table must have been read exactly once, and none passed over.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import strtobool

from bootstrap.runtime import Runtime
from domain.people.flags import Flag
from domain.shared.context import Actor, CommandContext, Role
from domain.shared.group_commit import GroupCommitProcessRecorder
from projections.platform.runner import ProjectionRunner, wait_for_position
from projections.tenants.projection import TABLE as TENANTS
from tests.support.app import make_runtime
from tests.support.ledger import Ledger, applied_counts, ledger_rows

WRITERS = 6
TENANTS_PER_WRITER = 25
FLAG_CHANGES_PER_TENANT = 2
BATCH_SIZE = 5

ADMIN = Actor(uuid.UUID("00000000-0000-4000-a000-0000000000aa"), Role.PLATFORM_ADMIN, None)


@pytest.fixture
def pg_runtime(tmp_path: Path) -> Iterator[Runtime]:
    with make_runtime("postgresql", tmp_path, projection_batch_size=BATCH_SIZE) as runtime:
        yield runtime


def test_the_event_log_keeps_the_table_lock_on(pg_runtime: Runtime) -> None:
    assert strtobool(pg_runtime.log.env.get("POSTGRES_ENABLE_DB_FUNCTIONS", "n")) is False
    recorder = pg_runtime.log.recorder
    assert isinstance(recorder, PostgresApplicationRecorder)
    assert recorder.datastore.enable_db_functions is False


def test_a_tailing_runner_applies_every_position_written_by_concurrent_writers_once(
    pg_runtime: Runtime,
) -> None:
    rt = pg_runtime
    rt.runners[Ledger.name] = ProjectionRunner(Ledger(), rt.log, rt.store, batch_size=BATCH_SIZE)
    rt.start_projections()  # the listener plus one tailing thread per runner

    written: list[set[uuid.UUID]] = [set() for _ in range(WRITERS)]
    errors: list[BaseException] = []
    start = threading.Barrier(WRITERS)
    flags = list(Flag)

    def write(i: int) -> None:
        try:
            start.wait(timeout=10)
            for n in range(TENANTS_PER_WRITER):
                ctx = CommandContext(ADMIN, correlation_id=f"writer-{i}-{n}")
                create = partial(rt.people.create_tenant, name=f"T{i}-{n}")
                created = rt.commands.run(ctx, create).result
                assert created is not None
                tenant = created.id
                written[i].add(tenant)
                for flag in flags[:FLAG_CHANGES_PER_TENANT]:
                    set_flag = partial(
                        rt.people.set_flag, tenant_id=tenant, flag_name=flag.value, enabled=True
                    )
                    rt.commands.run(ctx, set_flag)
        except BaseException as e:
            errors.append(e)

    writing = threading.Event()
    tracked_while_writing: list[int] = []

    def watch() -> None:
        while writing.is_set():
            tracked_while_writing.append(rt.store.position(Ledger.name))
            time.sleep(0.01)

    writers = [threading.Thread(target=write, args=(i,)) for i in range(WRITERS)]
    writing.set()
    watcher = threading.Thread(target=watch)
    watcher.start()
    for t in writers:
        t.start()
    for t in writers:
        t.join(timeout=60)
    writing.clear()
    watcher.join()
    assert errors == []

    head = rt.log.head()
    expected_events = WRITERS * TENANTS_PER_WRITER * (1 + FLAG_CHANGES_PER_TENANT)
    assert head == expected_events
    assert wait_for_position(rt.store, Ledger.name, head, timeout=20)
    assert wait_for_position(rt.store, "tenants", head, timeout=20)

    # The runner really was tailing: it tracked positions part-way through the writes.
    assert any(0 < p < head for p in tracked_while_writing)

    logged = {n.id: n.originator_id for n in rt.log.read(0, expected_events + 1)}
    assert sorted(logged) == list(range(1, head + 1))  # no writer rolled back: no holes

    applied = applied_counts(rt.store)
    assert set(applied) == set(logged), "the ledger saw exactly the positions in the log"
    assert set(applied.values()) == {1}, "and applied each of them once"

    all_written = set().union(*written)
    assert len(all_written) == WRITERS * TENANTS_PER_WRITER
    seen = {uuid.UUID(row["originator"]) for row in ledger_rows(rt.store)}
    assert seen == all_written
    tenant_rows = rt.store.list(TENANTS)
    assert {uuid.UUID(row["id"]) for row in tenant_rows} == all_written
    on = [f.value for f in flags[:FLAG_CHANGES_PER_TENANT]]
    assert all(all(row["flags"][f] for f in on) for row in tenant_rows)


GROUP_WRITERS = 32
GROUP_EVENTS = 100_000
PAGE = 500


def test_a_tailing_reader_passes_over_no_position_while_32_writers_group_commit_100k_events(
    pg_runtime: Runtime,
) -> None:
    recorder = pg_runtime.log.recorder
    assert isinstance(recorder, GroupCommitProcessRecorder)
    recorder.datastore.pool.open()
    recorder.datastore.pool.resize(4, GROUP_WRITERS + 4)
    per_writer = GROUP_EVENTS // GROUP_WRITERS
    errors: list[BaseException] = []
    acknowledged: list[list[int]] = [[] for _ in range(GROUP_WRITERS)]
    start = threading.Barrier(GROUP_WRITERS + 1)
    writing = threading.Event()
    writing.set()

    def write(i: int) -> None:
        rng = random.Random(i)
        try:
            start.wait(timeout=30)
            written = 0
            while written < per_writer:
                # Units of 1-8 events of one new aggregate: what a command saves.
                size = min(rng.randint(1, 8), per_writer - written)
                originator = uuid.uuid4()
                unit = [StoredEvent(originator, v, "t", b"{}") for v in range(1, size + 1)]
                ids = recorder.insert_events(unit)
                assert ids is not None and len(ids) == size
                acknowledged[i].extend(ids)
                written += size
        except BaseException as e:
            errors.append(e)

    read: list[int] = []
    read_while_writing = 0

    def tail() -> None:
        nonlocal read_while_writing
        last = 0
        start.wait(timeout=30)
        while True:
            still_writing = writing.is_set()
            page = recorder.select_notifications(last, PAGE, inclusive_of_start=False)
            read.extend(n.id for n in page)
            if page:
                last = page[-1].id
                if still_writing:
                    read_while_writing += len(page)
            elif not still_writing:
                return  # a whole empty page after the last writer returned: caught up
            else:
                time.sleep(0.001)

    started = time.monotonic()
    reader = threading.Thread(target=tail)
    writers = [threading.Thread(target=write, args=(i,)) for i in range(GROUP_WRITERS)]
    reader.start()
    for t in writers:
        t.start()
    for t in writers:
        t.join(timeout=120)
    writing.clear()
    reader.join(timeout=60)
    elapsed = time.monotonic() - started
    assert errors == []
    assert not reader.is_alive()

    stored = [n.id for n in recorder.select_notifications(0, GROUP_EVENTS + 1)]
    assert len(stored) == GROUP_EVENTS
    acked = sorted(i for ids in acknowledged for i in ids)
    assert acked == stored, "each writer got back exactly the positions of its own events"
    assert len(read) == len(set(read)), "no position read twice"
    assert read == stored, "the tailing reader read every stored position, in order"
    assert read_while_writing > 0, "the reader was tailing, not reading after the fact"
    # It really grouped: far fewer transactions than units.
    assert recorder.groups_committed < recorder.units_committed / 2
    print(
        f"\n{GROUP_EVENTS} events, {GROUP_WRITERS} writers: {elapsed:.1f} s, "
        f"{recorder.units_committed} units in {recorder.groups_committed} groups"
    )
