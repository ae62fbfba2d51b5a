"""The log tail (decision 0036) on both backends: runners following the log share one head
read per poke and one read of the new events, and still apply every position exactly once
and fold exactly the rows a fold from scratch gives."""

from __future__ import annotations

import time

from bootstrap.runtime import Runtime
from projections.directory.projection import PATIENTS, STAFF, DirectoryProjection
from projections.platform.runner import ProjectionRunner
from projections.platform.tail import LogTail
from projections.tenants.projection import TABLE as TENANTS
from projections.tenants.projection import TenantProjection
from tests.integration.test_projection_runner import (
    admin,
    fold_from_scratch,
    seed,
    seed_clinic,
    stored,
)
from tests.support.ledger import Ledger, applied_counts


def following(rt: Runtime, tail: LogTail) -> list[ProjectionRunner]:
    runners = [
        ProjectionRunner(projection, rt.log, rt.store)
        for projection in (DirectoryProjection(), TenantProjection(), Ledger())
    ]
    for runner in runners:
        runner.follow(tail)
    return runners


def test_runners_woken_by_one_poke_read_the_head_and_the_new_events_once(
    runtime: Runtime,
) -> None:
    tail = LogTail(runtime.log)
    runners = following(runtime, tail)
    head = seed(runtime)
    tail.poke()
    for runner in runners:
        runner.catch_up()
    assert (tail.head_reads, tail.reads) == (1, 1)

    seed_clinic(runtime)
    tail.poke()
    for runner in runners:
        runner.catch_up()
    assert (tail.head_reads, tail.reads) == (2, 2)
    assert runtime.log.head() > head
    assert stored(runtime.store, TENANTS, STAFF, PATIENTS) == fold_from_scratch(runtime)
    assert applied_counts(runtime.store) == {n.id: 1 for n in runtime.log.read(0, 10_000)}


def test_a_runner_behind_the_window_reads_its_own_pages_and_folds_the_same_rows(
    runtime: Runtime,
) -> None:
    tail = LogTail(runtime.log, keep=5)
    first, *_ = following(runtime, tail)
    seed(runtime)
    tail.poke()
    first.catch_up()  # more than 5 positions from 0 to the head: its own pages
    assert tail.reads == 0
    admin(runtime, lambda uow: runtime.people.create_tenant(uow, "Lakeside"))
    tail.poke()
    first.catch_up()  # one new event: the window opens where the runner stood
    assert tail.reads == 1

    late = ProjectionRunner(Ledger(), runtime.log, runtime.store)
    late.follow(tail)
    late.catch_up()  # far behind the window: its own pages again
    assert tail.reads == 1
    assert stored(runtime.store, STAFF, PATIENTS) == {
        table: rows
        for table, rows in fold_from_scratch(runtime).items()
        if table in (STAFF, PATIENTS)
    }
    assert applied_counts(runtime.store) == {n.id: 1 for n in runtime.log.read(0, 10_000)}


def every_row_settles_at(rt: Runtime, head: int, within: float = 30) -> bool:
    """Whether every read model's tracking row reaches `head` within `within` seconds
    (and no further)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and any(
        rt.store.position(name) < head for name in rt.runners
    ):
        time.sleep(0.05)
    return all(rt.store.position(name) == head for name in rt.runners)


def test_runners_following_in_threads_apply_every_position_once_as_a_writer_goes_on(
    runtime: Runtime,
) -> None:
    runtime.start_projections()
    seed(runtime, clinics=1)
    for _ in range(8):
        seed_clinic(runtime)
    head = runtime.log.head()
    assert every_row_settles_at(runtime, head)
    assert stored(runtime.store, TENANTS, STAFF, PATIENTS) == fold_from_scratch(runtime)
    # A dozen runners woken by each commit: the head was read far fewer times than once
    # per runner per commit.
    assert runtime.tail.head_reads < len(runtime.runners) * head / 2


def tenants_caught_up(rt: Runtime) -> tuple[LogTail, ProjectionRunner]:
    """A tail followed by the tenants read model alone, caught up over a seeded log."""
    tail = LogTail(rt.log)
    tenants = ProjectionRunner(TenantProjection(), rt.log, rt.store)
    tenants.follow(tail)
    seed(rt)
    tail.poke()
    tenants.catch_up()
    return tail, tenants


def test_events_that_no_runner_folds_are_neither_read_nor_decoded(runtime: Runtime) -> None:
    tail, tenants = tenants_caught_up(runtime)
    log = runtime.log.read(0, 10_000)
    folded = [n for n in log if n.topic in tenants.topics]
    assert 0 < tail.decoded == len(folded) < len(log)
    assert stored(runtime.store, TENANTS) == {TENANTS: fold_from_scratch(runtime)[TENANTS]}


def test_a_runner_of_new_topics_empties_the_window_and_misses_nothing(runtime: Runtime) -> None:
    tail, tenants = tenants_caught_up(runtime)  # the window holds tenant events only

    directory = ProjectionRunner(DirectoryProjection(), runtime.log, runtime.store)
    directory.follow(tail)  # staff and patient topics too: the window starts again
    seed_clinic(runtime)
    tail.poke()
    tenants.catch_up()
    directory.catch_up()
    assert stored(runtime.store, TENANTS, STAFF, PATIENTS) == fold_from_scratch(runtime)
