"""The projection runner on both backends: each event applied exactly once, across a crash
mid-batch, across runners racing on one projection, and across a rebuild from position 0."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bootstrap.runtime import Runtime
from domain.careteam.connection import Connection
from domain.people.patient import Patient
from domain.people.staff import Staff, StaffType
from domain.people.tenant import Tenant
from domain.privacy.personal import sealed_json
from domain.shared.context import Actor, CommandContext, Role
from projections.directory.evolve import evolve_patient, evolve_staff
from projections.directory.projection import PATIENTS, STAFF, DirectoryProjection
from projections.platform.projection import Batch
from projections.platform.runner import ProjectionRunner, wait_for_position
from projections.platform.store import Doc, ReadStore, SQLiteReadStore, TrackingConflictError
from projections.tenants.evolve import evolve
from projections.tenants.projection import TABLE as TENANTS
from projections.tenants.projection import TenantProjection
from tests.support.app import make_runtime
from tests.support.ledger import CrashingLedger, Ledger, SimulatedCrashError, applied_counts

R = TypeVar("R")
ADMIN = Actor(uuid.UUID("00000000-0000-4000-a000-0000000000aa"), Role.PLATFORM_ADMIN, None)
STAFF_EVENTS = (Staff.Registered, Staff.Approved, Staff.Deactivated)
CONNECTION_EVENTS = (Connection.Assigned, Connection.Archived, Connection.Reactivated)


# -- given: a small clinic's worth of history ---------------------------------------------


def admin(rt: Runtime, call: Callable[[Any], R]) -> R:
    result = rt.commands.run(CommandContext(ADMIN), call).result
    assert result is not None
    return result


def staff(rt: Runtime, tenant: uuid.UUID, kind: StaffType, approve: bool = True) -> uuid.UUID:
    staff_id = admin(
        rt,
        lambda uow: rt.people.register_staff(
            uow, tenant, kind, "Maya", "Lind", f"{uuid.uuid4().hex[:6]}@clinic.example"
        ),
    ).id
    if approve and kind is StaffType.DOCTOR:
        admin(rt, lambda uow: rt.people.approve_staff(uow, staff_id))
    return staff_id


def seed_clinic(rt: Runtime) -> None:
    """One tenant: a flag, two doctors, an admin, a deactivated doctor, two patients."""
    tenant = admin(rt, lambda uow: rt.people.create_tenant(uow, "Riverside")).id
    admin(rt, lambda uow: rt.people.set_flag(uow, tenant, "feedbackNotifications", True))
    first, second = staff(rt, tenant, StaffType.DOCTOR), staff(rt, tenant, StaffType.DOCTOR)
    staff(rt, tenant, StaffType.HOSPITAL_ADMIN)
    leaver = staff(rt, tenant, StaffType.DOCTOR)
    admin(rt, lambda uow: rt.people.deactivate_staff(uow, leaver))
    doctor = CommandContext(Actor(first, Role.DOCTOR, tenant))
    for name in ("Sam", "Kim"):
        email = f"{name.lower()}@patients.example"
        rt.commands.run(
            doctor,
            partial(
                rt.people.invite_patient,
                first_name=name,
                last_name="Carter",
                email=email,
                timezone="Europe/Oslo",
                additional_therapist_ids=[second],
            ),
        )


def seed(rt: Runtime, clinics: int = 2) -> int:
    for _ in range(clinics):
        seed_clinic(rt)
    return rt.log.head()


# -- then: the rows a fold from scratch gives ----------------------------------------------


def fold_from_scratch(rt: Runtime) -> dict[str, dict[str, Doc]]:
    """Every read-model table, folded in memory from the whole log with the pure evolves,
    as stored: a patient's personal text as its event's ciphertext."""
    tables: dict[str, dict[str, Doc]] = {TENANTS: {}, STAFF: {}, PATIENTS: {}}

    def fold(table: str, key: Any, evolve_fn: Callable[[Doc | None, Any], Doc | None]) -> None:
        row = evolve_fn(tables[table].get(str(key)), event)
        if row is not None:
            tables[table][str(key)] = row

    for notification in rt.log.read(0, 100_000):
        event = rt.log.decode(notification)
        if isinstance(event, Tenant.Created | Tenant.FeatureFlagChanged):
            fold(TENANTS, event.originator_id, evolve)
        elif isinstance(event, STAFF_EVENTS):
            fold(STAFF, event.originator_id, evolve_staff)
        elif isinstance(event, Patient.Invited):
            fold(PATIENTS, event.originator_id, evolve_patient)
        elif isinstance(event, CONNECTION_EVENTS):
            fold(PATIENTS, event.patient_id, evolve_patient)
    stored_form: dict[str, dict[str, Doc]] = json.loads(json.dumps(tables, default=sealed_json))
    return stored_form


def stored(store: ReadStore, *tables: str) -> dict[str, dict[str, Doc]]:
    return {table: {row["id"]: row for row in store.list(table)} for table in tables}


def runner(rt: Runtime, projection: Any, batch_size: int = 500) -> ProjectionRunner:
    return ProjectionRunner(projection, rt.log, rt.store, batch_size=batch_size)


# -- crash mid-batch ----------------------------------------------------------------------


class CrashingDirectory(DirectoryProjection):
    def __init__(self, crash_on: int) -> None:
        self.crash_on = crash_on
        self.applied = 0

    def apply(self, batch: Batch, event: Any, position: int) -> None:
        self.applied += 1
        if self.applied == self.crash_on:
            raise SimulatedCrashError(f"crashed at {position}")
        super().apply(batch, event, position)


def test_a_crash_mid_batch_rolls_the_batch_back_and_a_new_runner_resumes_exactly(
    runtime: Runtime,
) -> None:
    seed(runtime)
    crashing = runner(runtime, CrashingDirectory(crash_on=9), batch_size=6)
    crashing.run_batch()  # six events folded and committed
    committed_position = runtime.store.position("directory")
    committed_rows = stored(runtime.store, STAFF, PATIENTS)
    assert committed_position > 0
    assert committed_rows[STAFF]

    with pytest.raises(SimulatedCrashError):
        crashing.run_batch()  # dies on the third event of the second batch

    assert runtime.store.position("directory") == committed_position
    assert stored(runtime.store, STAFF, PATIENTS) == committed_rows

    restarted = runner(runtime, DirectoryProjection(), batch_size=6)
    restarted.catch_up()
    assert runtime.store.position("directory") == runtime.log.head()
    expected = fold_from_scratch(runtime)
    assert stored(runtime.store, STAFF, PATIENTS) == {
        STAFF: expected[STAFF],
        PATIENTS: expected[PATIENTS],
    }
    assert any(p["therapistIds"] for p in expected[PATIENTS].values())


def test_every_position_is_applied_exactly_once_across_a_crash(runtime: Runtime) -> None:
    head = seed(runtime, clinics=1)
    crashing = runner(runtime, CrashingLedger(crash_on=7), batch_size=5)
    crashing.run_batch()
    with pytest.raises(SimulatedCrashError):
        crashing.run_batch()
    assert sorted(applied_counts(runtime.store)) == [1, 2, 3, 4, 5]
    assert runtime.store.position("ledger") == 5

    runner(runtime, Ledger(), batch_size=5).catch_up()

    assert applied_counts(runtime.store) == {p: 1 for p in range(1, head + 1)}


# -- batches ------------------------------------------------------------------------------


class Recording(Ledger):
    def __init__(self) -> None:
        self.seen: list[int] = []

    def apply(self, batch: Batch, event: Any, position: int) -> None:
        self.seen.append(position)
        super().apply(batch, event, position)


def test_each_batch_folds_at_most_batch_size_events(runtime: Runtime) -> None:
    head = seed(runtime, clinics=1)
    assert head > 9
    recording = Recording()
    ledger = runner(runtime, recording, batch_size=4)

    sizes = []
    positions = []
    while runtime.store.position("ledger") < head:
        before = len(recording.seen)
        ledger.run_batch()
        sizes.append(len(recording.seen) - before)
        positions.append(runtime.store.position("ledger"))

    assert all(0 < size <= 4 for size in sizes)
    assert sizes[:-1] == [4] * (len(sizes) - 1)
    assert positions == [*range(4, head, 4), head]
    assert recording.seen == list(range(1, head + 1))
    assert ledger.run_batch() == 0


def test_a_short_page_of_its_own_topics_moves_a_projection_to_the_head(runtime: Runtime) -> None:
    head = seed(runtime, clinics=2)  # two Tenant.Created and two flag changes among many
    tenants = runner(runtime, TenantProjection(), batch_size=3)

    moved = tenants.run_batch()
    first_stop = runtime.store.position("tenants")
    tenant_positions = [n.id for n in runtime.log.read(0, 1000, topics=TenantProjection().topics())]
    assert first_stop == tenant_positions[2]  # a full page stops at its last event
    assert moved == first_stop

    tenants.run_batch()  # one tenant event left: a short page, so nothing else lies ahead
    assert runtime.store.position("tenants") == head
    assert stored(runtime.store, TENANTS)[TENANTS] == fold_from_scratch(runtime)[TENANTS]


# -- racing runners -----------------------------------------------------------------------


def test_a_runner_that_was_overtaken_mid_batch_rolls_back_instead_of_applying_twice(
    runtime: Runtime,
) -> None:
    head = seed(runtime, clinics=1)
    rival = runner(runtime, Ledger(), batch_size=5)

    class OvertakenLedger(Ledger):
        def apply(self, batch: Batch, event: Any, position: int) -> None:
            if position == 1:
                rival.run_batch()  # another runner commits while this one is folding
            super().apply(batch, event, position)

    slow = runner(runtime, OvertakenLedger(), batch_size=5)
    with pytest.raises(TrackingConflictError):
        slow.run_batch()
    assert runtime.store.position("ledger") == 5
    assert applied_counts(runtime.store) == {p: 1 for p in range(1, 6)}

    runner(runtime, Ledger(), batch_size=5).catch_up()
    assert applied_counts(runtime.store) == {p: 1 for p in range(1, head + 1)}


def test_runners_racing_in_threads_never_apply_an_event_twice(runtime: Runtime) -> None:
    head = seed(runtime, clinics=2)
    runners = [runner(runtime, Ledger(), batch_size=3) for _ in range(3)]
    conflicts = [0] * len(runners)
    start = threading.Barrier(len(runners))

    def race(i: int) -> None:
        start.wait(timeout=10)
        while runtime.store.position("ledger") < head:
            try:
                runners[i].run_batch(head)
            except TrackingConflictError:
                conflicts[i] += 1

    threads = [threading.Thread(target=race, args=(i,)) for i in range(len(runners))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert not any(t.is_alive() for t in threads)
    assert applied_counts(runtime.store) == {p: 1 for p in range(1, head + 1)}


# -- rebuilding ---------------------------------------------------------------------------


def test_a_rebuild_from_position_zero_gives_the_rows_the_live_runner_built(
    runtime: Runtime,
) -> None:
    live = [runtime.runners["tenants"], runtime.runners["directory"]]
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=r.run_forever, args=(runtime.hub.subscribe(), stop, 0.05), daemon=True
        )
        for r in live
    ]
    for t in threads:
        t.start()
    try:
        head = seed(runtime, clinics=2)
        for r in live:
            assert wait_for_position(runtime.store, r.name, head, timeout=10)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=5)
    tables = (TENANTS, STAFF, PATIENTS)
    built_live = stored(runtime.store, *tables)
    assert built_live == fold_from_scratch(runtime)

    for r in live:
        runtime.store.reset(r.name, r.projection.tables)
    assert stored(runtime.store, *tables) == {t: {} for t in tables}
    runtime.catch_up()

    assert stored(runtime.store, *tables) == built_live
    assert [r.status().lag for r in live] == [0, 0]


# -- waiting for a position ---------------------------------------------------------------


def test_waiting_for_a_position_times_out_false_then_returns_true_once_caught_up(
    runtime: Runtime,
) -> None:
    head = seed(runtime, clinics=1)
    tenants = runtime.runners["tenants"]

    began = time.monotonic()
    assert wait_for_position(runtime.store, "tenants", head, timeout=0.2) is False
    assert time.monotonic() - began >= 0.2

    later = threading.Timer(0.1, tenants.catch_up)
    later.start()
    try:
        assert wait_for_position(runtime.store, "tenants", head, timeout=10) is True
    finally:
        later.join()
    assert wait_for_position(runtime.store, "tenants", head, timeout=0) is True
    assert wait_for_position(runtime.store, "tenants", head + 1, timeout=0) is False


# -- surviving errors ---------------------------------------------------------------------


class FlakyElection(SQLiteReadStore):
    """A store whose first election fails, as PostgresReadStore.elect does when it cannot
    connect (the database restarting, a failover, a full connection table)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.elections = 0

    def elect(self, name: str) -> AbstractContextManager[bool]:
        self.elections += 1
        if self.elections == 1:
            raise ConnectionError("could not connect to the database")
        return super().elect(name)


def test_a_runner_survives_an_election_that_fails_and_keeps_following(tmp_path: Path) -> None:
    with make_runtime("sqlite", tmp_path) as rt:
        store = FlakyElection(tmp_path / "flaky.sqlite3")
        follower = ProjectionRunner(Ledger(), rt.log, store)
        stop = threading.Event()
        thread = threading.Thread(
            target=follower.run_forever, args=(rt.hub.subscribe(), stop, 0.05), daemon=True
        )
        thread.start()
        try:
            head = seed(rt, clinics=1)
            assert wait_for_position(store, Ledger.name, head, timeout=2)
        finally:
            stop.set()
            thread.join(timeout=5)
            store.close()
