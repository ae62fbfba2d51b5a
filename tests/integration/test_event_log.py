"""The one event log on both backends: metadata on every event, time from the injected
clock, gap-free positions, atomic commands, and optimistic concurrency under threads."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pytest
from eventsourcing.persistence import RecordConflictError
from eventsourcing.utils import get_topic

from bootstrap.runtime import Runtime
from domain.careteam.connection import Connection, connection_id
from domain.people.application import FlagSet, TenantCreated
from domain.people.patient import Patient
from domain.people.staff import StaffType
from domain.people.tenant import Tenant
from domain.shared.clock import FakeClock
from domain.shared.commands import CommandOutcome, Rendered
from domain.shared.context import SYSTEM_ACTOR, Actor, CommandContext, Role
from domain.shared.errors import DomainError, IdempotencyKeyReusedError
from domain.shared.eventlog import METADATA_KEYS, EventLog, metadata_of
from domain.shared.idempotency import IdempotencyRecord
from domain.shared.unit_of_work import UnitOfWork
from projections.platform.runner import ProjectionRunner
from tests.support.app import make_runtime
from tests.support.ledger import Ledger, applied_counts

T = TypeVar("T")

# Far from any wall clock this suite will ever run under.
T0 = datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)
ADMIN = Actor(uuid.UUID("00000000-0000-4000-a000-0000000000aa"), Role.PLATFORM_ADMIN, None)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def rt(backend: str, tmp_path: Path, clock: FakeClock) -> Iterator[Runtime]:
    with make_runtime(backend, tmp_path, clock=clock) as runtime:
        yield runtime


def admin_ctx(**kw: Any) -> CommandContext:
    return CommandContext(ADMIN, **kw)


def create_tenant(rt: Runtime, ctx: CommandContext | None = None) -> uuid.UUID:
    outcome = rt.commands.run(
        ctx or admin_ctx(), lambda uow: rt.people.create_tenant(uow, "Riverside")
    )
    assert outcome.result is not None
    return outcome.result.id


def approved_doctor(rt: Runtime, tenant: uuid.UUID) -> uuid.UUID:
    registered = rt.commands.run(
        admin_ctx(),
        lambda uow: rt.people.register_staff(
            uow, tenant, StaffType.DOCTOR, "Maya", "Lind", "maya@riverside.example"
        ),
    ).result
    assert registered is not None
    doctor = registered.id
    rt.commands.run(admin_ctx(), lambda uow: rt.people.approve_staff(uow, doctor))
    return doctor


def all_events(rt: Runtime) -> list[tuple[int, Any]]:
    return [(n.id, rt.log.decode(n)) for n in rt.log.read(0, 10_000)]


def in_threads(count: int, work: Callable[[int], T]) -> list[T | BaseException]:
    """Run `work(i)` in `count` threads released together; results or raised errors."""
    barrier = threading.Barrier(count)
    results: list[T | BaseException] = [RuntimeError("did not finish")] * count

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except BaseException as e:
            results[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


# -- metadata ----------------------------------------------------------------------------


def test_every_stored_event_carries_who_why_for_whom_and_when(rt: Runtime) -> None:
    tenant = create_tenant(rt, admin_ctx(correlation_id="corr-setup", causation_id="req-1"))
    doctor = approved_doctor(rt, tenant)
    invite_ctx = CommandContext(
        Actor(doctor, Role.DOCTOR, tenant),
        correlation_id="corr-invite",
        causation_id="req-2",
        idempotency_key="invite-1",
        request_fingerprint="fp",
    )
    invited = rt.commands.run(
        invite_ctx,
        lambda uow: rt.people.invite_patient(
            uow, "Sam", "Carter", "sam@patients.example", "Europe/Oslo", []
        ),
    ).result
    assert invited is not None
    patient = invited.patient_id

    events = all_events(rt)
    assert events, "the commands wrote events"
    for _, event in events:
        assert tuple(metadata_of(event)) == METADATA_KEYS, event
        assert metadata_of(event)["recordedAt"] == T0.isoformat()

    by_originator = {e.originator_id: metadata_of(e) for _, e in events}
    assert by_originator[tenant] == {
        "actorId": str(ADMIN.user_id),
        "role": "platform_admin",
        "tenantId": str(tenant),  # a platform admin acts for the tenant it touches
        "correlationId": "corr-setup",
        "causationId": "req-1",
        "recordedAt": T0.isoformat(),
    }
    expected_invite = {
        "actorId": str(doctor),
        "role": "doctor",
        "tenantId": str(tenant),
        "correlationId": "corr-invite",
        "causationId": "req-2",
        "recordedAt": T0.isoformat(),
    }
    for originator in (patient, connection_id(patient, doctor)):
        assert by_originator[originator] == expected_invite
    records = [e for _, e in events if isinstance(e, IdempotencyRecord.Recorded)]
    assert [metadata_of(r) for r in records] == [expected_invite]


def test_metadata_survives_reading_an_aggregates_stream_and_replay_ignores_it(
    rt: Runtime,
) -> None:
    tenant = create_tenant(rt, admin_ctx(correlation_id="corr-1", causation_id="req-1"))
    doctor = approved_doctor(rt, tenant)
    invited = rt.commands.run(
        CommandContext(Actor(doctor, Role.DOCTOR, tenant), correlation_id="corr-2"),
        lambda uow: rt.people.invite_patient(
            uow, "Sam", "Carter", "sam@patients.example", "Europe/Oslo", []
        ),
    ).result
    assert invited is not None
    patient_id = invited.patient_id

    [invited] = rt.log.stream(patient_id)
    assert isinstance(invited, Patient.Invited)
    assert metadata_of(invited)["correlationId"] == "corr-2"
    assert metadata_of(invited)["causationId"] is None
    assert metadata_of(invited)["actorId"] == str(doctor)

    [created] = rt.log.stream(tenant)
    assert metadata_of(created)["correlationId"] == "corr-1"

    patient: Patient = rt.log.repository.get(patient_id)
    assert (patient.tenant_id, patient.invited_by, patient.name.text) == (
        tenant,
        doctor,
        "Sam Carter",
    )
    assert not hasattr(patient, "metadata")
    tenant_agg: Tenant = rt.log.repository.get(tenant)
    assert tenant_agg.name == "Riverside"


def test_recorded_at_and_event_time_come_from_the_injected_clock(
    rt: Runtime, clock: FakeClock
) -> None:
    tenant = create_tenant(rt)
    later = clock.advance(90)
    rt.commands.run(
        admin_ctx(),
        lambda uow: rt.people.set_flag(uow, tenant, "feedbackNotifications", True),
    )

    created, changed = rt.log.stream(tenant)
    assert isinstance(created, Tenant.Created)
    assert isinstance(changed, Tenant.FeatureFlagChanged)
    assert (created.timestamp, metadata_of(created)["recordedAt"]) == (T0, T0.isoformat())
    assert (changed.timestamp, metadata_of(changed)["recordedAt"]) == (later, later.isoformat())
    assert later.year == 2001  # not the wall clock


# -- positions and atomicity ---------------------------------------------------------------


def test_positions_are_gap_free_and_increase_with_each_command(rt: Runtime) -> None:
    assert rt.log.head() == 0
    outcomes: list[CommandOutcome] = []
    tenant = create_tenant(rt)
    for flag in ("feedbackNotifications", "therapistPatientAssignment"):
        set_flag = partial(rt.people.set_flag, tenant_id=tenant, flag_name=flag, enabled=True)
        outcomes.append(rt.commands.run(admin_ctx(), set_flag))
    approved_doctor(rt, tenant)

    positions = [n.id for n in rt.log.read(0, 1000)]
    assert positions == list(range(1, len(positions) + 1))
    assert len(positions) == 5
    assert [o.position for o in outcomes] == [2, 3]
    assert rt.log.head() == 5
    assert [n.id for n in rt.log.read(2, 2)] == [3, 4]
    assert [n.id for n in rt.log.read(0, 100, stop=3)] == [1, 2, 3]


def test_a_command_that_raises_writes_nothing(rt: Runtime) -> None:
    tenant = create_tenant(rt)
    head = rt.log.head()

    def half_done(uow: UnitOfWork) -> dict[str, Any]:
        rt.people.create_tenant(uow, "Never")
        rt.people.set_flag(uow, tenant, "feedbackNotifications", True)
        rt.people.register_staff(uow, tenant, StaffType.DOCTOR, "No", "Body", "n@b.example")
        raise DomainError("changed my mind")

    with pytest.raises(DomainError):
        rt.commands.run(admin_ctx(), half_done)

    assert rt.log.head() == head
    assert rt.log.read(head, 100) == []
    assert not rt.log.repository.get(tenant).flags["feedbackNotifications"]


def test_a_command_that_changes_nothing_writes_nothing_and_reports_the_head(rt: Runtime) -> None:
    tenant = create_tenant(rt)
    outcome = rt.commands.run(
        admin_ctx(), lambda uow: rt.people.set_flag(uow, tenant, "feedbackNotifications", False)
    )
    assert rt.log.head() == 1
    assert outcome.position == 1


# -- concurrency ---------------------------------------------------------------------------


def test_two_processes_creating_the_same_aggregate_at_once_only_one_wins(
    rt: Runtime, clock: FakeClock
) -> None:
    tenant = create_tenant(rt)
    patient, doctor = uuid.uuid4(), uuid.uuid4()
    other_process = EventLog(env=dict(rt.log.env))
    logs = [rt.log, other_process]
    try:

        def assign(i: int) -> int | None:
            connection = Connection.assign(tenant, patient, doctor, doctor, clock.now())
            ctx = CommandContext(Actor(doctor, Role.DOCTOR, tenant), correlation_id=f"c{i}")
            return logs[i].record([connection], ctx, clock.now())

        results = in_threads(2, assign)
    finally:
        other_process.close()

    conflicts = [r for r in results if isinstance(r, RecordConflictError)]
    winners = [r for r in results if isinstance(r, int)]
    assert (len(winners), len(conflicts)) == (1, 1), results
    [assigned] = rt.log.stream(connection_id(patient, doctor))
    assert metadata_of(assigned)["correlationId"] in ("c0", "c1")
    assert rt.log.head() == winners[0] == 2


def test_concurrent_requests_with_one_idempotency_key_write_once_and_replay_the_rest(
    rt: Runtime,
) -> None:
    # Every request passes the replay check and builds its tenant before any commits, so
    # five of them lose the race at commit time rather than finding the first's record.
    all_built = threading.Barrier(6)

    def create(uow: UnitOfWork) -> TenantCreated:
        created = rt.people.create_tenant(uow, "Riverside")
        all_built.wait(timeout=10)
        return created

    def request(_: int) -> CommandOutcome[TenantCreated]:
        ctx = admin_ctx(idempotency_key="create-riverside", request_fingerprint="sha:abc")
        return rt.commands.run(ctx, create, render=lambda r: Rendered(201, {"id": str(r.id)}))

    results = in_threads(6, request)

    outcomes = [r for r in results if isinstance(r, CommandOutcome)]
    assert len(outcomes) == 6, results
    assert sorted(o.replayed for o in outcomes) == [False] + [True] * 5
    [first] = [o.result for o in outcomes if o.result is not None]
    assert {o.replay.body["id"] for o in outcomes if o.replay} == {str(first.id)}
    assert {o.replay.status_code for o in outcomes if o.replay} == {201}
    topics = [n.topic for n in rt.log.read(0, 1000)]
    assert topics.count(get_topic(Tenant.Created)) == 1
    assert topics.count(get_topic(IdempotencyRecord.Recorded)) == 1


def test_an_idempotency_key_reused_with_another_request_is_rejected_and_writes_nothing(
    rt: Runtime,
) -> None:
    first = admin_ctx(idempotency_key="k", request_fingerprint="one")
    rt.commands.run(first, lambda uow: rt.people.create_tenant(uow, "Riverside"))
    head = rt.log.head()
    with pytest.raises(IdempotencyKeyReusedError):
        rt.commands.run(
            admin_ctx(idempotency_key="k", request_fingerprint="two"),
            lambda uow: rt.people.create_tenant(uow, "Lakeside"),
        )
    assert rt.log.head() == head


def test_concurrent_commands_on_one_aggregate_are_retried_on_fresh_state(rt: Runtime) -> None:
    tenant = create_tenant(rt)
    flags = ["feedbackNotifications", "therapistPatientAssignment", "allActivePatientsDashboard"]

    # Every first attempt loads the tenant at version 1 before any saves: two must retry.
    all_loaded = threading.Barrier(len(flags))
    attempts: list[int] = []

    def turn_on(i: int) -> CommandOutcome:
        def handler(uow: UnitOfWork) -> FlagSet:
            flag_set = rt.people.set_flag(uow, tenant, flags[i], True)
            attempts.append(i)
            if attempts.count(i) == 1:
                all_loaded.wait(timeout=10)
            return flag_set

        return rt.commands.run(admin_ctx(), handler)

    results = in_threads(len(flags), turn_on)

    assert all(isinstance(r, CommandOutcome) for r in results), results
    assert len(attempts) >= len(flags) + 2
    stored: Tenant = rt.log.repository.get(tenant)
    assert all(stored.flags[f] for f in flags)
    assert stored.version == 1 + len(flags)
    positions = [n.id for n in rt.log.read(0, 1000)]
    assert len(positions) == 1 + len(flags)


def test_a_rejected_write_never_fills_in_below_a_later_one_and_runners_step_over_it(
    rt: Runtime, clock: FakeClock
) -> None:
    """The log is gap-free in that no position is ever committed below one a reader has
    already seen; the numbers need not be contiguous. On PostgreSQL a write the store
    rejects has still drawn a position from the sequence, so the numbers can skip (here
    1, 3); the hole is permanent, and a runner tracking positions (not counting events)
    steps over it."""
    tenant, doctor = uuid.uuid4(), uuid.uuid4()
    ctx = CommandContext(SYSTEM_ACTOR)

    def assign(patient: uuid.UUID) -> int | None:
        connection = Connection.assign(tenant, patient, doctor, doctor, clock.now())
        return rt.log.record([connection], ctx, clock.now())

    patient = uuid.uuid4()
    first = assign(patient)
    with pytest.raises(RecordConflictError):
        assign(patient)
    later = assign(uuid.uuid4())

    assert first is not None and later is not None
    positions = [n.id for n in rt.log.read(0, 100)]
    assert positions == [first, later]
    assert later > first
    assert later - first in (1, 2)  # 1 on SQLite; 2 on PostgreSQL (the rejected draw)

    ledger = ProjectionRunner(Ledger(), rt.log, rt.store, batch_size=1)
    ledger.catch_up()
    assert applied_counts(rt.store) == {first: 1, later: 1}
    assert rt.store.position(Ledger.name) == rt.log.head() == later


def test_many_aggregates_read_at_once_equal_each_read_alone(rt: Runtime) -> None:
    tenant = create_tenant(rt)
    doctor = approved_doctor(rt, tenant)
    never = uuid.uuid4()
    found = rt.log.find_many([tenant, doctor, never, doctor])
    assert set(found) == {tenant, doctor}
    for aggregate_id, aggregate in found.items():
        alone = rt.log.find(aggregate_id)
        assert type(aggregate) is type(alone)
        assert vars(aggregate) == vars(alone)


def test_a_position_is_found_for_an_aggregates_creation(rt: Runtime) -> None:
    tenant = create_tenant(rt)
    [(position, created)] = [(n.id, n) for n in rt.log.read(0, 100) if n.originator_id == tenant]
    assert rt.log.position_of(tenant) == position == created.id
    assert rt.log.position_of(uuid.uuid4()) is None
