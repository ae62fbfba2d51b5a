"""The audit follower on both backends: it chains every event of the log, and derives
the audit entry of a request whose command committed but whose entry was not stored."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bootstrap.runtime import Runtime
from domain.audit.chain_store import integrity_of
from domain.audit.entry import PLATFORM, AuditEntry, Draft, Outcome
from domain.audit.events_chain import verify_events
from domain.audit.store import AuditStore
from domain.shared.clock import FakeClock
from domain.shared.context import Actor, CommandContext, Role
from domain.shared.eventlog import metadata_of
from domain.shared.unit_of_work import UnitOfWork
from tests.support.app import make_api, make_runtime
from tests.support.audit import refusing
from workers.audit import AuditFollower, subject_type

ADMIN = Actor(uuid.UUID("00000000-0000-4000-a000-0000000000aa"), Role.PLATFORM_ADMIN, None)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def runtime(backend: str, tmp_path: Path, clock: FakeClock) -> Iterator[Runtime]:
    with make_runtime(backend, tmp_path, clock=clock) as rt:
        yield rt


def follower(runtime: Runtime, grace: float = 0.0, chunk_size: int = 500) -> AuditFollower:
    return AuditFollower(
        runtime.log, runtime.audit, runtime.clock.now, grace_seconds=grace, chunk_size=chunk_size
    )


def by_request(
    request_id: str, action: str = "tenant_created", status: int = 201
) -> CommandContext:
    return CommandContext(
        actor=ADMIN,
        correlation_id=f"corr-{request_id}",
        causation_id=f"request:{request_id}",
        action=action,
        action_status=status,
    )


def create_tenants(runtime: Runtime, ctx: CommandContext, count: int = 1) -> list[uuid.UUID]:
    """One command (one commit) creating `count` tenants: `count` events of one request."""

    def handle(uow: UnitOfWork) -> list[uuid.UUID]:
        return [runtime.people.create_tenant(uow, f"Clinic {i}").id for i in range(count)]

    result = runtime.commands.run(ctx, handle).result
    assert result is not None
    return result


def entries_of(audit: AuditStore, request_id: str) -> list[AuditEntry]:
    found = []
    for tenant in audit.tenants():
        found += [e for e in audit.all_entries(tenant) if e.request_id == request_id]
    return found


def assert_both_chains_verify(runtime: Runtime) -> None:
    integrity = integrity_of(runtime.log, runtime.audit)
    try:
        events = verify_events(
            integrity.key, integrity.events.all_rows(), integrity.chain.all_rows()
        )
        assert events.verified, events.breaks
        assert events.chained == runtime.log.head() and events.unchained == 0
        for tenant in integrity.entries.tenants():
            assert integrity.entries.verify(tenant).verified, tenant
    finally:
        integrity.close()


def test_the_follower_chains_every_event_once(runtime: Runtime) -> None:
    create_tenants(runtime, CommandContext(actor=ADMIN), 3)
    f = follower(runtime, chunk_size=2)
    try:
        assert f.chain_once() == 3
        create_tenants(runtime, CommandContext(actor=ADMIN), 2)
        assert f.chain_once() == 2
        assert f.chain_once() == 0
    finally:
        f.close()
    assert_both_chains_verify(runtime)


def test_a_committed_request_without_an_entry_gets_exactly_one_derived_entry(
    runtime: Runtime,
) -> None:
    first, second = create_tenants(runtime, by_request("r-1"), 2)
    f = follower(runtime)
    try:
        assert f.run_once().derived == 1
        assert f.run_once().derived == 0  # and never a second
    finally:
        f.close()
    [entry] = entries_of(runtime.audit, "r-1")
    event = runtime.log.decode(runtime.log.read(0, 1)[0])
    assert entry.tenant == (metadata_of(event).get("tenantId") or PLATFORM) == str(first)
    assert (entry.actor_id, entry.role) == (str(ADMIN.user_id), "platform_admin")
    assert (entry.action, entry.outcome, entry.status) == ("tenant_created", "success", 201)
    assert (entry.subject_type, entry.subject_id) == ("tenant", str(first))
    assert entry.correlation_id == "corr-r-1"
    assert entry.position == runtime.log.head()  # the request's last event, as the API notes
    assert second != first
    assert_both_chains_verify(runtime)


def test_a_request_whose_entry_is_stored_gets_no_derived_one(runtime: Runtime) -> None:
    runtime.audit.append(
        [
            Draft(
                tenant=PLATFORM,
                actor_id=str(ADMIN.user_id),
                role="platform_admin",
                action="tenant_created",
                subject_type="tenant",
                subject_id=None,
                outcome=Outcome.SUCCESS,
                status=201,
                correlation_id=None,
                request_id="r-2",
            )
        ]
    )
    create_tenants(runtime, by_request("r-2"))
    f = follower(runtime)
    try:
        assert f.run_once().derived == 0
    finally:
        f.close()
    assert len(entries_of(runtime.audit, "r-2")) == 1


def test_no_entry_is_derived_within_the_grace_period(runtime: Runtime, clock: FakeClock) -> None:
    create_tenants(runtime, by_request("r-3"))
    f = follower(runtime, grace=60)
    try:
        assert f.run_once().derived == 0
        clock.advance(59)
        assert f.run_once().derived == 0
        clock.advance(2)
        assert f.run_once().derived == 1
    finally:
        f.close()
    assert len(entries_of(runtime.audit, "r-3")) == 1


def test_a_request_newer_than_the_grace_period_does_not_hold_back_older_ones(
    runtime: Runtime, clock: FakeClock
) -> None:
    create_tenants(runtime, by_request("old"))
    clock.advance(30)
    create_tenants(runtime, by_request("new"))
    clock.advance(31)
    f = follower(runtime, grace=60)
    try:
        assert f.run_once().derived == 1
        clock.advance(30)
        assert f.run_once().derived == 1
    finally:
        f.close()
    assert [len(entries_of(runtime.audit, r)) for r in ("old", "new")] == [1, 1]


def test_events_no_request_wrote_get_no_entry(runtime: Runtime) -> None:
    create_tenants(runtime, CommandContext(actor=ADMIN, causation_id="event:7"), 2)
    create_tenants(runtime, CommandContext(actor=ADMIN, causation_id="request:r-4"))  # no action
    f = follower(runtime)
    try:
        assert f.run_once().derived == 0
    finally:
        f.close()


def test_a_request_cut_by_a_page_gets_one_entry_covering_all_its_events(
    runtime: Runtime,
) -> None:
    create_tenants(runtime, by_request("r-5"))  # position 1
    create_tenants(runtime, by_request("r-6"), 3)  # positions 2, 3, 4: pages of 3 cut it
    f = follower(runtime, chunk_size=3)
    try:
        assert f.run_once().derived == 2
        assert f.run_once().derived == 0
    finally:
        f.close()
    [entry] = entries_of(runtime.audit, "r-6")
    assert entry.position == 4
    assert len(entries_of(runtime.audit, "r-5")) == 1
    assert_both_chains_verify(runtime)


def test_an_aggregate_is_named_in_snake_case_from_the_event_topic() -> None:
    assert subject_type("domain.plans.plan:TreatmentPlan.Published") == "treatment_plan"
    assert subject_type("domain.people.tenant:Tenant.Created") == "tenant"


# -- through the API --------------------------------------------------------------------


def test_a_command_whose_entry_the_store_refused_gets_it_from_the_follower(
    backend: str, tmp_path: Path
) -> None:
    with make_api(backend, tmp_path) as api:
        runtime = api.runtime
        with refusing(api, "NEW.action = 'tenant_created'"):  # probes still pass
            tenant = api.tenant("Harbour Clinic")  # 201: its events are written
        assert runtime.audit.tenants() == []  # the request left no entry
        f = follower(runtime)
        try:
            assert f.run_once().derived == 1
        finally:
            f.close()
        [entry] = runtime.audit.entries(tenant)
        assert (entry.action, entry.status, entry.outcome) == ("tenant_created", 201, "success")
        assert (entry.subject_type, entry.subject_id) == ("tenant", tenant)
        assert entry.position == runtime.log.head()
        assert_both_chains_verify(runtime)


def test_the_worker_host_runs_the_follower_and_keeps_the_chain_at_the_head(
    backend: str, tmp_path: Path
) -> None:
    with make_api(backend, tmp_path, process_managers=True) as api:
        for name in ("A", "B", "C"):
            api.tenant(name)
        integrity = integrity_of(api.runtime.log, api.runtime.audit, create_table=False)
        try:
            deadline = time.monotonic() + 15
            while True:
                head = integrity.chain.head()
                if head is not None and head.position == api.runtime.log.head():
                    break
                assert time.monotonic() < deadline, "the follower did not chain the log"
                time.sleep(0.05)
        finally:
            integrity.close()
        assert_both_chains_verify(api.runtime)
