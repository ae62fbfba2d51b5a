"""Lazy tracking (decision 0037) on both backends: a runner following the log writes its
tracking row only when the new events concern its read model, or once things are quiet;
until then it knows, and says, how far its read model is current. Nothing is applied
twice or skipped, and every read-your-writes check sees the read model as current."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import pytest

from bootstrap.runtime import Runtime
from domain.people.staff import StaffType
from projections.platform.runner import ProjectionRunner
from projections.platform.store import TrackingConflictError
from projections.platform.tail import LogTail
from projections.tenants.projection import TABLE as TENANTS
from tests.integration.test_log_tail import every_row_settles_at, tenants_caught_up
from tests.integration.test_projection_runner import (
    admin,
    fold_from_scratch,
    seed_clinic,
    staff,
    stored,
)


def a_tenant(rt: Runtime) -> uuid.UUID:
    return uuid.UUID(str(rt.store.list(TENANTS)[0]["id"]))


def staff_hired(rt: Runtime, count: int = 2) -> int:
    """Events of the directory alone (none the tenants read model folds); the new head."""
    tenant = a_tenant(rt)
    for _ in range(count):
        staff(rt, tenant, StaffType.DOCTOR)
    return rt.log.head()


def caught_up(rt: Runtime) -> tuple[LogTail, ProjectionRunner, int]:
    tail, tenants = tenants_caught_up(rt)
    return tail, tenants, rt.store.position(tenants.name)


def test_events_that_do_not_concern_a_read_model_leave_its_row_and_move_what_it_knows(
    runtime: Runtime,
) -> None:
    tail, tenants, at = caught_up(runtime)
    head = staff_hired(runtime)
    tail.poke()
    assert tenants.catch_up(lazy=True) == 0
    assert runtime.store.position(tenants.name) == at < head
    assert tenants.current() == head
    assert tenants.status().lag == 0


def test_flushing_writes_down_how_far_the_read_model_is_current(runtime: Runtime) -> None:
    tail, tenants, at = caught_up(runtime)
    head = staff_hired(runtime)
    tail.poke()
    tenants.catch_up(lazy=True)
    assert tenants.flush() == head - at
    assert runtime.store.position(tenants.name) == head
    assert tenants.flush() == 0  # nothing more to write down


def test_an_event_of_its_own_after_a_quiet_stretch_is_folded_in_one_commit_from_the_row(
    runtime: Runtime,
) -> None:
    tail, tenants, _ = caught_up(runtime)
    staff_hired(runtime)
    tail.poke()
    tenants.catch_up(lazy=True)
    admin(runtime, lambda uow: runtime.people.create_tenant(uow, "Lakeside"))
    head = runtime.log.head()
    tail.poke()
    assert tenants.catch_up(lazy=True) > 0
    assert runtime.store.position(tenants.name) == tenants.current() == head
    assert stored(runtime.store, TENANTS) == {TENANTS: fold_from_scratch(runtime)[TENANTS]}


def test_a_quiet_stretch_longer_than_the_span_is_written_down_at_once(runtime: Runtime) -> None:
    tail, tenants, _ = caught_up(runtime)
    tenants.quiet_flush_span = 1
    head = staff_hired(runtime)
    tail.poke()
    assert tenants.catch_up(lazy=True) > 0
    assert runtime.store.position(tenants.name) == head


def test_a_catch_up_that_is_not_lazy_always_writes_its_row(runtime: Runtime) -> None:
    tail, tenants, _ = caught_up(runtime)
    head = staff_hired(runtime)
    tail.poke()
    assert tenants.catch_up() > 0
    assert runtime.store.position(tenants.name) == head


def test_a_flush_after_the_row_was_moved_elsewhere_is_refused_and_forgotten(
    runtime: Runtime,
) -> None:
    tail, tenants, at = caught_up(runtime)
    head = staff_hired(runtime)
    tail.poke()
    tenants.catch_up(lazy=True)
    other = ProjectionRunner(tenants.projection, runtime.log, runtime.store)
    other.catch_up()  # another runner (say, a swapped-in rebuild) moved the row
    with pytest.raises(TrackingConflictError):
        tenants.flush()
    assert tenants.current() == runtime.store.position(tenants.name) == head > at


def test_the_runtime_sees_a_read_model_current_up_to_its_first_unprocessed_event(
    runtime: Runtime,
) -> None:
    _, tenants, at = caught_up(runtime)
    staff_hired(runtime)
    admin(runtime, lambda uow: runtime.people.create_tenant(uow, "Lakeside"))
    own = runtime.log.head()
    head = staff_hired(runtime)
    assert runtime.store.position(tenants.name) == at
    assert runtime.current(tenants.name, head) == own - 1
    assert runtime.reached(tenants.name, own - 1)
    assert not runtime.reached(tenants.name, own)


def counting_commits(rt: Runtime) -> Counter[str]:
    commits: Counter[str] = Counter()
    commit = rt.store.commit

    def counted(name: str, *args: Any) -> None:
        commit(name, *args)
        commits[name] += 1

    rt.store.commit = counted  # type: ignore[method-assign]
    return commits


def test_runners_following_live_write_rows_only_when_concerned_then_settle_at_the_head(
    runtime: Runtime,
) -> None:
    for r in runtime.runners.values():
        r.quiet_flush_seconds = 1.0  # no flush between the commands of the burst
    seed_clinic(runtime)
    runtime.start_projections()
    commits = counting_commits(runtime)
    for _ in range(4):
        seed_clinic(runtime)
    assert every_row_settles_at(runtime, runtime.log.head())
    assert stored(runtime.store, TENANTS) == {TENANTS: fold_from_scratch(runtime)[TENANTS]}
    # Two of each clinic's nine commands concern the tenants read model; the directory's,
    # nearly all of them.
    assert commits["tenants"] < commits["directory"] / 2
