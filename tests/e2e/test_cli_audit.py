"""`careloop audit verify` as an operator runs it, a real subprocess against a store the
real API populated: per chain its entries and head, the first broken entry or position
on a break, exit status 1 then, and the throughput."""

from __future__ import annotations

import re
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.app import Api, make_api
from tests.support.processes import careloop_env, run_careloop
from workers.audit import AuditFollower


def populate(api: Api) -> list[str]:
    tenants = []
    for name in ("North", "South"):
        tenant = api.tenant(f"{name} Clinic")
        _, headers = api.doctor(tenant)
        api.invite(headers)
        api.ok("GET", f"/v1/tenants/{tenant}/staff", api.admin)
        tenants.append(tenant)
    api.ok("GET", "/v1/tenants", api.admin)  # the platform's own chain
    return tenants


def chain(api: Api) -> None:
    runtime = api.runtime
    follower = AuditFollower(runtime.log, runtime.audit, runtime.clock.now, grace_seconds=0)
    try:
        follower.chain_once()
    finally:
        follower.close()


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[tuple[Api, dict[str, str]]]:
    with make_api("sqlite", tmp_path) as api:
        yield api, careloop_env(tmp_path / "data")


def verify(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = run_careloop("audit", "verify", *args, env=env)
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


def audit_db(api: Api) -> sqlite3.Connection:
    conn = sqlite3.connect(api.runtime.settings.data_dir / "audit.sqlite3", isolation_level=None)
    conn.execute("DROP TRIGGER audit_entries_no_update")
    return conn


def test_an_untouched_trail_verifies_every_chain_with_its_count_and_head(
    embedded: tuple[Api, dict[str, str]],
) -> None:
    api, env = embedded
    tenants = populate(api)
    result = verify(env)
    assert result.returncode == 0, result.stdout + result.stderr
    audit = api.runtime.audit
    for tenant in [*tenants, ""]:
        head = audit.head(tenant)
        assert head is not None
        name = tenant or "platform"
        line = f"tenant {name}: {head[0]} entries, head {head[1]}: verified"
        assert line in result.stdout.splitlines()
    assert re.search(r"verified \d+ entries in [\d.]+ s \([\d,]+ entries/s\)", result.stderr)


def test_a_changed_entry_is_named_with_its_action_actor_and_time_and_exits_1(
    embedded: tuple[Api, dict[str, str]],
) -> None:
    api, env = embedded
    tenant, _ = populate(api)
    [second] = [e for e in api.runtime.audit.all_entries(tenant) if e.seq == 2]
    audit_db(api).execute(
        "UPDATE audit_entries SET status = 200 WHERE tenant = ? AND seq = 2", (tenant,)
    )
    result = verify(env)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(line.startswith(f"tenant {tenant}:") and "BROKEN at seq 2" in line for line in lines)
    assert (
        f"  seq 2: action {second.action}, actor {second.actor_id} ({second.role}), "
        f"recordedAt {second.recorded_at.isoformat()}"
    ) in lines
    # The other chains are still reported as they are.
    assert sum(line.endswith(": verified") for line in lines) == 2


def test_one_tenant_or_the_platform_alone_is_verified_with_tenant(
    embedded: tuple[Api, dict[str, str]],
) -> None:
    api, env = embedded
    tenant, other = populate(api)
    result = verify(env, "--tenant", tenant)
    assert result.returncode == 0
    assert result.stdout.startswith(f"tenant {tenant}: ")
    assert other not in result.stdout and "platform" not in result.stdout
    platform = verify(env, "--tenant", "platform")
    assert platform.returncode == 0
    assert platform.stdout.startswith("tenant platform: ")


def test_the_event_chain_verifies_and_counts_what_is_not_chained_yet(
    embedded: tuple[Api, dict[str, str]],
) -> None:
    api, env = embedded
    populate(api)
    chain(api)
    chained = api.runtime.log.head()
    api.tenant("Late Clinic")  # written after the follower's pass
    result = verify(env, "--events")
    assert result.returncode == 0, result.stdout + result.stderr
    unchained = api.runtime.log.head() - chained
    assert f"event chain: {chained} events chained (head position {chained}, " in result.stdout
    assert f"; {unchained} not yet" in result.stdout
    assert "event chain: verified" in result.stdout
    assert re.search(r"verified \d+ events in [\d.]+ s \([\d,]+ events/s\)", result.stderr)


def test_changed_events_name_the_first_broken_position_and_list_twenty(
    embedded: tuple[Api, dict[str, str]],
) -> None:
    api, env = embedded
    for n in range(30):
        api.tenant(f"Clinic {n}")
    chain(api)
    events = sqlite3.connect(api.runtime.settings.data_dir / "events.sqlite3", isolation_level=None)
    changed = list(range(3, 28))  # 25 events
    for position in changed:
        events.execute("UPDATE stored_events SET topic = topic || ' ' WHERE rowid = ?", (position,))
    result = verify(env, "--events")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert "event chain: BROKEN at position 3; 25 broken positions" in lines
    listed = [line for line in lines if line.startswith("  position ")]
    assert listed == [f"  position {p}: changed" for p in changed[:20]]
    assert "  ... and 5 more" in lines


def test_tenant_with_events_is_refused_in_one_line(
    embedded: tuple[Api, dict[str, str]],
) -> None:
    _, env = embedded
    result = verify(env, "--events", "--tenant", "platform")
    assert result.returncode == 2
    assert result.stderr.startswith("careloop: ") and len(result.stderr.splitlines()) == 1


def test_on_postgresql_a_changed_event_and_a_changed_entry_exit_1(tmp_path: Path) -> None:
    import psycopg

    with make_api("postgresql", tmp_path) as api:
        tenant, _ = populate(api)
        chain(api)
        settings = api.runtime.settings
        assert settings.database_url
        env = careloop_env(
            tmp_path / "data",
            CARELOOP_DATABASE_URL=settings.database_url,
            CARELOOP_DATABASE_SCHEMA=settings.database_schema,
        )
        assert verify(env).returncode == 0
        assert verify(env, "--events").returncode == 0
        with psycopg.connect(
            settings.database_url,
            autocommit=True,
            options=f"-c search_path={settings.database_schema}",
        ) as conn:
            conn.execute(
                "UPDATE careloop_events SET topic = topic || ' ' WHERE notification_id = 4"
            )
            conn.execute("DROP TRIGGER audit_entries_append_only ON audit_entries")
            conn.execute(
                "UPDATE audit_entries SET role = 'auditor' WHERE tenant = %s AND seq = 3", (tenant,)
            )
        events = verify(env, "--events")
        assert events.returncode == 1
        assert "event chain: BROKEN at position 4; 1 broken positions" in events.stdout
        entries = verify(env, "--tenant", tenant)
        assert entries.returncode == 1
        assert "BROKEN at seq 3" in entries.stdout
