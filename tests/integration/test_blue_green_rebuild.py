"""Blue/green rebuilds on both backends: a rebuild refolds a read model into new tables
and swaps them in equal to a fresh fold; the live read model keeps following meanwhile;
a stopped rebuild resumes where it was; a what-if rebuild into a scratch copy counts what
a changed threshold would have done, and leaves the live read model untouched."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from bootstrap.runtime import Runtime
from domain.people.application import People
from domain.people.staff import StaffType
from domain.shared.context import Actor, CommandContext, Role
from projections.directory.projection import STAFF
from projections.platform.projection import UnknownParameterError
from projections.platform.rebuild import (
    RebuildRunningError,
    ScratchNameError,
    UnknownProjectionError,
)
from projections.platform.runner import ProjectionRunner
from projections.platform.store import TrackingConflictError
from projections.workouts.projection import SESSIONS
from tests.support.app import make_runtime
from tests.support.feedback import Clinic
from tests.support.ledger import Ledger, ledger_rows

ADMIN = Actor(uuid.UUID("00000000-0000-4000-a000-0000000000aa"), Role.PLATFORM_ADMIN, None)
NEVER = threading.Event()


def register_staff(rt: Runtime, tenant: uuid.UUID, first: int, count: int) -> None:
    people = People()

    def many(uow: Any) -> None:
        for k in range(first, first + count):
            people.register_staff(
                uow, tenant, StaffType.DOCTOR, f"First{k}", f"Last{k}", f"s{k}@c.example"
            )

    rt.commands.run(CommandContext(actor=ADMIN), many)


def a_clinic_with_staff(rt: Runtime, count: int) -> uuid.UUID:
    people = People()
    outcome = rt.commands.run(
        CommandContext(actor=ADMIN), partial(people.create_tenant, name="Rebuild clinic")
    )
    tenant = outcome.result.id
    for first in range(0, count, 200):
        register_staff(rt, tenant, first, min(200, count - first))
    return uuid.UUID(str(tenant))


def rows(rt: Runtime, table: str) -> dict[str, Any]:
    return {doc["id"]: doc for doc in rt.store.list(table)}


def tables_of(rt: Runtime) -> set[str]:
    if rt.settings.is_embedded:
        conn = rt.store._conn()  # type: ignore[attr-defined]
        found = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    else:
        with rt.store.pool.connection() as conn:  # type: ignore[attr-defined]
            found = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (rt.settings.database_schema,),
            ).fetchall()
    return {name for (name,) in found}


@pytest.fixture
def rt(backend: str, tmp_path: Path) -> Iterator[Runtime]:
    with make_runtime(backend, tmp_path) as runtime:
        yield runtime


def test_a_rebuild_swaps_in_new_tables_equal_to_a_fresh_fold(rt: Runtime) -> None:
    a_clinic_with_staff(rt, 600)
    rt.catch_up()
    before = rows(rt, STAFF)

    rt.rebuilds.start("directory")
    assert rt.rebuilds.drive("directory", NEVER) == "done"

    assert rows(rt, STAFF) == before
    assert rt.store.position("directory") == rt.log.head()
    assert not [t for t in tables_of(rt) if "__build_" in t], "no build table is left behind"
    progress = rt.rebuilds.progress("directory")
    assert progress is not None and progress.status == "done"
    assert progress.position == rt.log.head()


def test_the_live_read_model_follows_the_log_while_a_rebuild_runs_and_after_it(
    rt: Runtime,
) -> None:
    tenant = a_clinic_with_staff(rt, 400)
    rt.catch_up()
    rt.rebuilds.start("directory")
    positions: list[int] = []

    def meanwhile(position: int, head: int) -> None:
        # Each page of the rebuild: new staff arrive, and the live read model takes them.
        if len(positions) < 3:
            register_staff(rt, tenant, 10_000 + len(positions) * 10, 10)
            rt.runners["directory"].catch_up()
            positions.append(rt.store.position("directory"))

    rt.rebuilds.page_size = 100
    assert rt.rebuilds.drive("directory", NEVER, meanwhile) == "done"
    register_staff(rt, tenant, 20_000, 5)
    rt.catch_up()

    assert positions == sorted(positions) and len(positions) == 3
    assert len(rows(rt, STAFF)) == 400 + 30 + 5
    fresh = _fresh_fold(rt, "directory", STAFF)
    assert rows(rt, STAFF) == fresh


def _fresh_fold(rt: Runtime, name: str, table: str) -> dict[str, Any]:
    """The read model folded from scratch, in a what-if copy under default parameters."""
    rt.rebuilds.start(name, into="fresh")
    assert rt.rebuilds.drive("fresh", NEVER) == "done"
    return {doc["id"]: doc for doc in rt.store.list(f"{table}__fresh")}


def test_a_stopped_rebuild_resumes_where_it_was_rather_than_start_over(rt: Runtime) -> None:
    a_clinic_with_staff(rt, 3000)
    rt.catch_up()
    before = rows(rt, STAFF)
    rt.rebuilds.start("directory")
    rt.rebuilds.page_size = 500
    stop = threading.Event()

    def stop_after_the_first_page(position: int, head: int) -> None:
        if position > 0:
            stop.set()

    assert rt.rebuilds.drive("directory", stop, stop_after_the_first_page) == "stopped"
    stopped = rt.rebuilds.progress("directory")
    assert stopped is not None and stopped.status == "rebuilding"
    assert 0 < stopped.position < rt.log.head()

    assert rt.rebuilds.drive("directory", NEVER) == "done"
    record = rt.rebuilds.record("directory")
    assert record is not None and record["resumed_position"] == stopped.position
    assert rows(rt, STAFF) == before


def test_a_second_rebuild_of_the_same_read_model_is_refused_while_one_runs(
    rt: Runtime,
) -> None:
    rt.rebuilds.start("directory")
    with pytest.raises(RebuildRunningError):
        rt.rebuilds.start("directory")
    rt.rebuilds.drive("directory", NEVER)
    rt.rebuilds.start("directory")  # once it is done, another may start


def test_unknown_names_parameters_and_unfit_scratch_names_are_refused(rt: Runtime) -> None:
    with pytest.raises(UnknownProjectionError):
        rt.rebuilds.start("no_such_model")
    with pytest.raises(UnknownParameterError, match="high_pain"):
        rt.rebuilds.start("workout_session", into="what_if", params={"pain": "6"})
    with pytest.raises(ScratchNameError):
        rt.rebuilds.start("workout_session", into="directory")
    with pytest.raises(ScratchNameError):
        rt.rebuilds.start("workout_session", into="Robert'); DROP TABLE")


@pytest.fixture
def clinic(backend: str, tmp_path: Path) -> Iterator[Clinic]:
    c = Clinic(tmp_path, backend=backend)
    try:
        yield c
    finally:
        c.close()


def summary_cards(clinic: Clinic) -> int:
    return sum(
        1
        for doc in clinic.rt.store.list("conversation_message")
        if doc.get("type") == "PATIENT_FEEDBACK_SUMMARY"
    )


def test_a_what_if_rebuild_with_a_lower_pain_threshold_counts_the_extra_cards(
    clinic: Clinic,
) -> None:
    # Five finalized workouts whose worst pain is 5, 6, 6, 7 and 8: the spec's threshold
    # (7) posts two summary cards; at 6 there would have been two more.
    for pain in (5, 6, 6, 7, 8):
        workout = clinic.workout([{"id": "squat", "pain": pain, "exertion": 3}])
        clinic.finalize(workout)
    clinic.react()
    clinic.react()
    assert summary_cards(clinic) == 2
    live_before = rows(clinic.rt, SESSIONS)

    clinic.rt.rebuilds.start("workout_session", into="pain6", params={"high_pain": "6"})
    assert clinic.rt.rebuilds.drive("pain6", NEVER) == "done"
    figures = {
        f: (live, what_if)
        for f, _, live, what_if in clinic.rt.rebuilds.compare("workout_session", "pain6")
    }

    assert figures["flagged_workouts"] == (2, 4)
    assert figures["flagged_workouts"][0] == summary_cards(clinic)
    assert figures["rows of workout_session"] == (5, 5)
    assert rows(clinic.rt, SESSIONS) == live_before, "the live read model is untouched"
    record = clinic.rt.rebuilds.record("pain6")
    assert record is not None and record["params"] == {"high_pain": 6}


def test_a_what_if_comparison_counts_only_the_rows_of_its_time_window(clinic: Clinic) -> None:
    clinic.finalize(clinic.workout([{"id": "squat", "pain": 6}]))
    clinic.rt.catch_up()
    clinic.rt.rebuilds.start("workout_session", into="pain6", params={"high_pain": "6"})
    clinic.rt.rebuilds.drive("pain6", NEVER)
    now = clinic.clock.now().date()

    def flagged(since: str | None, until: str | None) -> tuple[int, int]:
        found = clinic.rt.rebuilds.compare("workout_session", "pain6", since, until)
        return next((live, w) for f, _, live, w in found if f == "flagged_workouts")

    assert flagged(None, None) == (0, 1)
    assert flagged(str(now), None) == (0, 1)
    assert flagged(None, str(now)) == (0, 0)


def test_every_position_is_applied_exactly_once_across_swaps_under_a_live_runner(
    rt: Runtime,
) -> None:
    # A read model that counts how often each position reaches it, followed live by its
    # runner in a thread while a writer appends and three rebuilds of it swap in.
    ledger = Ledger()
    rt.runners[ledger.name] = ProjectionRunner(ledger, rt.log, rt.store, batch_size=7)
    rt.rebuilds.projections[ledger.name] = ledger
    rt.rebuilds.page_size = 50
    tenant = a_clinic_with_staff(rt, 300)
    stop, wake = threading.Event(), threading.Event()
    live = threading.Thread(
        target=rt.runners[ledger.name].run_forever, args=(wake, stop, 0.01), daemon=True
    )
    live.start()

    def write() -> None:
        k = 50_000
        while not stop.is_set():
            register_staff(rt, tenant, k, 3)
            wake.set()
            k += 3
            stop.wait(0.005)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        for _ in range(3):
            rt.rebuilds.start(ledger.name)
            assert rt.rebuilds.drive(ledger.name, NEVER) == "done"
    finally:
        stop.set()
        writer.join(timeout=30)
        live.join(timeout=30)
    rt.runners[ledger.name].catch_up()

    applied = {row["position"]: row["applied"] for row in ledger_rows(rt.store)}
    head = rt.log.head()
    assert sorted(applied) == list(range(1, head + 1)), "no position skipped"
    assert set(applied.values()) == {1}, "no position applied twice"


class PausingLedger(Ledger):
    """The live runner's ledger, which can be held in the middle of folding a batch."""

    def __init__(self) -> None:
        self.folding, self.release = threading.Event(), threading.Event()
        self.armed = False

    def apply(self, batch: Any, event: Any, position: int) -> None:
        if self.armed:
            self.armed = False
            self.folding.set()
            self.release.wait(30)
        super().apply(batch, event, position)


def test_a_live_batch_in_flight_at_the_swap_is_rolled_back_and_applied_once(
    rt: Runtime,
) -> None:
    live = PausingLedger()
    runner = ProjectionRunner(live, rt.log, rt.store, batch_size=50)
    rt.rebuilds.projections[live.name] = Ledger()
    tenant = a_clinic_with_staff(rt, 100)
    runner.catch_up()
    register_staff(rt, tenant, 1_000, 20)  # a batch for the live runner to fold

    live.armed = True
    outcome: list[BaseException | int] = []

    def fold_live() -> None:
        try:
            outcome.append(runner.catch_up())
        except BaseException as e:
            outcome.append(e)

    in_flight = threading.Thread(target=fold_live)
    in_flight.start()
    assert live.folding.wait(30), "the live runner is mid-batch"
    rt.rebuilds.start(live.name)
    assert rt.rebuilds.drive(live.name, NEVER) == "done"  # swaps while that batch is out
    live.release.set()
    in_flight.join(30)

    assert isinstance(outcome[0], TrackingConflictError), "its commit found the swap"
    assert runner.catch_up() == 0, "the swapped-in tables had that batch already"
    applied = {row["position"]: row["applied"] for row in ledger_rows(rt.store)}
    assert sorted(applied) == list(range(1, rt.log.head() + 1))
    assert set(applied.values()) == {1}


def test_a_what_if_copy_folds_with_its_own_parameters_even_after_the_live_one_folded(
    rt: Runtime,
) -> None:
    live = rt.rebuilds.projection("workout_session")
    assert live.rule.high_pain == 7  # derived (and cached) before the copy is made
    what_if = live.with_params({"high_pain": "6"})
    assert (what_if.rule.high_pain, live.rule.high_pain) == (6, 7)
