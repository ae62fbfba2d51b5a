"""Group commit on PostgreSQL (docs/decisions/0031-group-commit.md): units of work that
share one transaction keep their own atomicity and their own conflict check.

To make a group on purpose, a test holds the events table's lock from another connection:
the first writer's transaction waits on it inside PostgreSQL, the writers that arrive
meanwhile queue behind it, and when the lock is released they all go as the next group.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent, Tracking
from eventsourcing.postgres import PostgresProcessRecorder
from psycopg import sql

from bootstrap.runtime import Runtime
from domain.people.tenant import Tenant
from domain.shared.context import Actor, CommandContext, Role
from domain.shared.group_commit import GroupCommitProcessRecorder
from tests.support.app import make_runtime

ADMIN = Actor(uuid.UUID("00000000-0000-4000-a000-0000000000aa"), Role.PLATFORM_ADMIN, None)


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    with make_runtime("postgresql", tmp_path) as runtime:
        recorder = runtime.log.recorder
        recorder.datastore.pool.open()  # type: ignore[attr-defined]
        recorder.datastore.pool.resize(4, 16)  # type: ignore[attr-defined]
        yield runtime


def recorder_of(rt: Runtime) -> GroupCommitProcessRecorder:
    recorder = rt.log.recorder
    assert isinstance(recorder, GroupCommitProcessRecorder)
    return recorder


def event(originator: uuid.UUID, version: int) -> StoredEvent:
    return StoredEvent(originator, version, "t", b"{}")


class Outcome:
    def __init__(self) -> None:
        self.ids: Any = None
        self.error: BaseException | None = None


def grouped(rt: Runtime, calls: list[Callable[[], Any]]) -> list[Outcome]:
    """Run calls[0] alone (it waits on the held table lock), queue all the others behind
    it, then release the lock: calls[1:] are committed as one group."""
    recorder = recorder_of(rt)
    outcomes = [Outcome() for _ in calls]

    def run(i: int) -> None:
        try:
            outcomes[i].ids = calls[i]()
        except BaseException as e:
            outcomes[i].error = e

    table = sql.Identifier(recorder.datastore.schema, recorder.events_table_name)
    url = rt.settings.database_url
    assert url
    with psycopg.connect(url) as holder:
        holder.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(table))
        threads = [threading.Thread(target=run, args=(0,))]
        threads[0].start()
        wait_until(lambda: recorder._leading)
        for i in range(1, len(calls)):
            threads.append(threading.Thread(target=run, args=(i,)))
            threads[-1].start()
        wait_until(lambda: len(recorder._queue) == len(calls) - 1)
        holder.rollback()  # releases the lock
    for t in threads:
        t.join(timeout=30)
    return outcomes


def wait_until(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_one_conflicting_unit_in_a_group_fails_alone_and_its_neighbours_commit(
    rt: Runtime,
) -> None:
    recorder = recorder_of(rt)
    taken = uuid.uuid4()
    recorder.insert_events([event(taken, 1)])
    first, before, after, later = (uuid.uuid4() for _ in range(4))
    groups_before = recorder.groups_committed

    outcomes = grouped(
        rt,
        [
            lambda: recorder.insert_events([event(first, 1)]),
            lambda: recorder.insert_events([event(before, 1), event(before, 2)]),
            # Version 2 is free, version 1 is taken: the whole unit must fail.
            lambda: recorder.insert_events([event(taken, 2), event(taken, 1)]),
            lambda: recorder.insert_events([event(after, 1)]),
            lambda: recorder.insert_events([event(later, 1), event(later, 2)]),
        ],
    )

    assert isinstance(outcomes[2].error, IntegrityError), outcomes[2].error
    assert [o.error for i, o in enumerate(outcomes) if i != 2] == [None] * 4
    # The first unit alone, then the other three together: the culprit was in their group.
    assert recorder.groups_committed - groups_before == 2
    assert [len(o.ids) for i, o in enumerate(outcomes) if i != 2] == [1, 2, 1, 2]
    assert [e.originator_version for e in recorder.select_events(taken)] == [1]
    for originator, versions in ((before, [1, 2]), (after, [1]), (later, [1, 2])):
        assert [e.originator_version for e in recorder.select_events(originator)] == versions
    # Each caller got its own positions, in the order the group inserted them.
    ids = [i for k, o in enumerate(outcomes) if k not in (0, 2) for i in o.ids]
    assert ids == sorted(ids)
    stored = {n.id: n.originator_id for n in recorder.select_notifications(0, 100)}
    assert [stored[i] for i in outcomes[1].ids] == [before, before]


def test_of_two_units_in_one_group_writing_the_same_version_the_first_wins(
    rt: Runtime,
) -> None:
    recorder = recorder_of(rt)
    contested = uuid.uuid4()
    outcomes = grouped(
        rt,
        [
            lambda: recorder.insert_events([event(uuid.uuid4(), 1)]),
            lambda: recorder.insert_events([event(contested, 1)]),
            lambda: recorder.insert_events([event(contested, 1)]),
        ],
    )
    assert outcomes[1].error is None
    assert isinstance(outcomes[2].error, IntegrityError)
    assert len(recorder.select_events(contested)) == 1


def test_a_refused_tracking_position_fails_only_its_own_unit(rt: Runtime) -> None:
    recorder = recorder_of(rt)
    recorder.insert_events([], tracking=Tracking("follower", 10))
    ok_a, refused, ok_b = (uuid.uuid4() for _ in range(3))
    outcomes = grouped(
        rt,
        [
            lambda: recorder.insert_events([event(uuid.uuid4(), 1)]),
            lambda: recorder.insert_events([event(ok_a, 1)], tracking=Tracking("other", 1)),
            lambda: recorder.insert_events([event(refused, 1)], tracking=Tracking("follower", 9)),
            lambda: recorder.insert_events([event(ok_b, 1)], tracking=Tracking("follower", 11)),
        ],
    )
    assert isinstance(outcomes[2].error, IntegrityError)
    assert outcomes[1].error is None and outcomes[3].error is None
    assert recorder.select_events(refused) == []
    assert len(recorder.select_events(ok_a)) == len(recorder.select_events(ok_b)) == 1
    assert recorder.max_tracking_id("other") == 1
    assert recorder.max_tracking_id("follower") == 11


def test_concurrent_commands_each_get_their_own_position_and_listeners_hear_every_one(
    rt: Runtime,
) -> None:
    """Through the application layer: every command committed in a group returns the
    position of its own events, and the log's listeners are told of each commit."""
    heard: list[int] = []
    lock = threading.Lock()

    def listen(position: int) -> None:
        with lock:
            heard.append(position)

    rt.log.add_listener(listen)
    positions: dict[uuid.UUID, int] = {}
    errors: list[BaseException] = []

    def create(n: int) -> None:
        try:
            for k in range(10):
                ctx = CommandContext(ADMIN, correlation_id=f"group-{n}-{k}")
                outcome = rt.commands.run(ctx, partial(rt.people.create_tenant, name=f"T{n}-{k}"))
                assert outcome.result is not None
                with lock:
                    positions[outcome.result.id] = outcome.position
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=create, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    logged = {n.id: n.originator_id for n in rt.log.read(0, 1000)}
    assert {logged[p]: p for p in positions.values()} == positions
    assert sorted(heard) == sorted(positions.values())
    for tenant_id in positions:
        assert isinstance(rt.log.find(tenant_id), Tenant)


def test_the_setting_off_gives_the_librarys_own_recorder(tmp_path: Path) -> None:
    with make_runtime("postgresql", tmp_path, group_commit=False) as runtime:
        assert type(runtime.log.recorder) is PostgresProcessRecorder
    with make_runtime("postgresql", tmp_path) as runtime:
        assert type(runtime.log.recorder) is GroupCommitProcessRecorder


def test_groups_keep_working_after_many_conflicts_each_aborting_a_pipeline(
    rt: Runtime,
) -> None:
    # psycopg prepares a statement on its fifth execution; a PREPARE sent in a pipeline
    # that a conflict aborts is skipped by the server. Conflicts well past that count,
    # then plain inserts: each must succeed (it failed with "prepared statement ... does
    # not exist" before the pipelines stopped preparing).
    recorder = recorder_of(rt)
    taken = uuid.uuid4()
    recorder.insert_events([event(taken, 1)])
    for _ in range(12):
        fresh = uuid.uuid4()
        outcomes = grouped(
            rt,
            [
                lambda: recorder.insert_events([event(taken, 1)]),
                lambda fresh=fresh: recorder.insert_events([event(fresh, 1)]),
            ],
        )
        assert isinstance(outcomes[0].error, IntegrityError)
        assert outcomes[1].error is None
    for _ in range(12):
        assert recorder.insert_events([event(uuid.uuid4(), 1)])


def test_a_unit_too_long_for_one_values_statement_keeps_its_order_beside_short_ones(
    rt: Runtime,
) -> None:
    """Short units go as a multi-row VALUES, a long one (an import) as the library's
    composite array; in one group each still gets its own positions, in its own order."""
    recorder = recorder_of(rt)
    long_rows = recorder._statements.values_rows + 1
    short, long, taken = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    recorder.insert_events([event(taken, long_rows)])
    outcomes = grouped(
        rt,
        [
            lambda: recorder.insert_events([event(uuid.uuid4(), 1)]),
            lambda: recorder.insert_events([event(short, v) for v in (1, 2, 3)]),
            lambda: recorder.insert_events([event(long, v) for v in range(1, long_rows + 1)]),
            # Long, and its last version taken: the whole unit fails, alone.
            lambda: recorder.insert_events([event(taken, v) for v in range(1, long_rows + 1)]),
        ],
    )
    assert [o.error for o in outcomes[:3]] == [None, None, None]
    assert isinstance(outcomes[3].error, IntegrityError)
    assert [e.originator_version for e in recorder.select_events(taken)] == [long_rows]
    stored = {
        n.id: (n.originator_id, n.originator_version)
        for n in recorder.select_notifications(0, 1000)
    }
    assert [stored[i] for i in outcomes[1].ids] == [(short, v) for v in (1, 2, 3)]
    assert [stored[i] for i in outcomes[2].ids] == [(long, v) for v in range(1, long_rows + 1)]
    assert outcomes[2].ids == list(range(outcomes[2].ids[0], outcomes[2].ids[0] + long_rows))


def test_a_queue_longer_than_one_group_is_led_on_by_the_next_in_line(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When a group leaves units queued, its leader hands the lead to the first of them:
    every unit commits, in groups of at most `max_group_units`."""
    recorder = recorder_of(rt)
    monkeypatch.setattr(recorder, "max_group_units", 2)
    originators = [uuid.uuid4() for _ in range(7)]
    groups_before = recorder.groups_committed
    outcomes = grouped(rt, [lambda o=o: recorder.insert_events([event(o, 1)]) for o in originators])
    assert [o.error for o in outcomes] == [None] * 7
    # The first alone (it waited on the lock), then six queued: three groups of two.
    assert recorder.groups_committed - groups_before == 4
    assert recorder._leading is False and recorder._queue == []
    assert len({o.ids[0] for o in outcomes}) == 7


class Interrupted(BaseException):
    """What Ctrl-C raises in the main thread, without pytest's own SIGINT handling."""


def test_a_follower_interrupted_while_it_waits_leaves_the_queue_and_nobody_hangs(
    rt: Runtime,
) -> None:
    recorder = recorder_of(rt)
    first, withdrawn, later = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    table = sql.Identifier(recorder.datastore.schema, recorder.events_table_name)
    url = rt.settings.database_url
    assert url

    def interrupt(signum: int, frame: object) -> None:
        raise Interrupted

    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        with psycopg.connect(url) as holder:
            holder.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(table))
            leader = threading.Thread(target=recorder.insert_events, args=([event(first, 1)],))
            leader.start()
            wait_until(lambda: recorder._leading)  # the leader waits on the table lock
            main = threading.main_thread().ident
            assert main == threading.get_ident()
            timer = threading.Timer(0.3, signal.pthread_kill, (main, signal.SIGINT))
            timer.start()
            with pytest.raises(Interrupted):
                recorder.insert_events([event(withdrawn, 1)])  # a follower, in this thread
            assert recorder._queue == []
            holder.rollback()
        leader.join(timeout=10)
        assert not leader.is_alive()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert recorder.insert_events([event(later, 1)])  # leads at once: nobody holds the lead
    assert recorder._leading is False
    assert recorder.select_events(withdrawn) == []
    assert len(recorder.select_events(first)) == 1
