"""The `careloop` command line."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from api.auth import TOKEN_ROLES, mint_token
from api.cli_export import export
from api.cli_keys import keys_app
from api.cli_projections import compare, rebuild
from bootstrap.settings import MIN_JWT_SECRET_BYTES, Settings, get_settings
from domain.shared.context import Role

if TYPE_CHECKING:
    from domain.audit.chain_store import Integrity

app = typer.Typer(help="CareLoop: the feedback loops of a telerehab clinic.", no_args_is_help=True)
db_app = typer.Typer(help="Database administration (PostgreSQL).", no_args_is_help=True)
projections_app = typer.Typer(help="Read-model projections.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(projections_app, name="projections")
projections_app.command("rebuild")(rebuild)
projections_app.command("compare")(compare)
app.command("export")(export)
audit_app = typer.Typer(
    help="The audit trail and the event log's hash chain.", no_args_is_help=True
)
app.add_typer(audit_app, name="audit")
app.add_typer(keys_app, name="keys")
console = Console()


def _runtime(create_tables: bool | None = None):  # type: ignore[no-untyped-def]
    from bootstrap.runtime import Runtime

    return Runtime(get_settings(), create_tables=create_tables)


# -- refusing to start, in one line -----------------------------------------------------


def _refuse(message: str) -> NoReturn:
    """One line on stderr and exit status 2: what is wrong and how to fix it."""
    print(f"careloop: {message}", file=sys.stderr)
    raise typer.Exit(2)


def _require_strong_secret(settings: Settings) -> None:
    """A shared deployment never runs on the development secret or on a short one."""
    if settings.is_embedded:
        return
    reason = settings.weak_jwt_secret
    if reason is not None:
        _refuse(
            f"{reason}; with CARELOOP_DATABASE_URL set, set it to a random value of at least "
            f"{MIN_JWT_SECRET_BYTES} bytes, e.g. "
            "`python3 -c 'import secrets; print(secrets.token_urlsafe(48))'`"
        )


def _where(url: str) -> str:
    """host:port of a URL, without its credentials."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or ''}".rstrip(":")


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0].rstrip(".")


def _require_database(settings: Settings, tables: bool = True) -> None:
    """PostgreSQL answers and, with `tables`, `careloop db init` has run on the schema."""
    if settings.is_embedded:
        return
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    from domain.shared.eventlog import EventLog

    assert settings.database_url
    params = conninfo_to_dict(settings.database_url)
    where = f"{params.get('host', 'localhost')}:{params.get('port', 5432)}"
    table = f"{EventLog.name.lower()}_events"
    try:
        with psycopg.connect(settings.database_url, connect_timeout=5) as conn:
            found = conn.execute(
                "SELECT to_regclass(format('%%I.%%I', %s::text, %s::text))",
                (settings.database_schema, table),
            ).fetchone()
    except psycopg.Error as e:
        _refuse(
            f"cannot connect to PostgreSQL at {where} ({_first_line(e)}): "
            "check CARELOOP_DATABASE_URL and that the server is running"
        )
    if tables and (found is None or found[0] is None):
        _refuse(
            f"the schema '{settings.database_schema}' has no CareLoop tables: "
            "run `careloop db init` first"
        )


def _require_redis(settings: Settings) -> None:
    import redis

    assert settings.redis_url
    try:
        redis.Redis.from_url(settings.redis_url, socket_connect_timeout=5).ping()
    except redis.RedisError as e:
        _refuse(
            f"cannot connect to Redis at {_where(settings.redis_url)} ({_first_line(e)}): "
            "check CARELOOP_REDIS_URL and that the server is running"
        )


@contextmanager
def _friendly() -> Iterator[None]:
    """The database or Redis going away after the checks above still ends in one line."""
    import psycopg
    import redis

    from domain.privacy.cipher import WrongMasterKeyError

    try:
        yield
    except (psycopg.errors.InvalidSchemaName, psycopg.errors.UndefinedTable) as e:
        _refuse(f"{_first_line(e)}: run `careloop db init` first")
    except psycopg.OperationalError as e:
        _refuse(f"PostgreSQL: {_first_line(e)}: check CARELOOP_DATABASE_URL")
    except redis.ConnectionError as e:
        _refuse(f"Redis: {_first_line(e)}: check CARELOOP_REDIS_URL")
    except WrongMasterKeyError as e:
        _refuse(f"{e}; refusing to start")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind")] = 8000,
    demo: Annotated[bool, typer.Option(help="Load the demo clinic first if empty")] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="API processes sharing the port (PostgreSQL only; default "
            "CARELOOP_API_WORKERS, else 2 on PostgreSQL and 1 embedded)",
        ),
    ] = None,
) -> None:
    """Serve the API. Embedded default: everything in this one process on SQLite. With
    CARELOOP_DATABASE_URL and CARELOOP_REDIS_URL set: the API only, in several processes."""
    logging.basicConfig(level=logging.INFO)
    settings = get_settings()
    processes = _api_workers(settings, workers)
    _require_strong_secret(settings)
    _require_database(settings)
    from api import server
    from api.heap import freeze_startup_heap
    from api.main import create_app

    with _friendly():
        runtime = _runtime()
        try:
            if demo:
                from api.demo import load_demo, print_demo

                print_demo(console, load_demo(runtime))
            where = settings.data_dir if settings.is_embedded else "PostgreSQL"
            console.print(
                f"CareLoop on {runtime.backend} ({where}) at http://{host}:{port}/docs"
                + (f", {processes} API processes" if processes > 1 else "")
            )
            if processes == 1:
                app = create_app(runtime, run_workers=settings.is_embedded)
                freeze_startup_heap()
                server.run(app, host, port, settings.max_header_bytes, 1, settings.access_log)
                return
        finally:
            runtime.close()
        # Each worker process builds its own runtime (api.main:app_from_settings).
        server.run(None, host, port, settings.max_header_bytes, processes, settings.access_log)


def _api_workers(settings: Settings, workers: int | None) -> int:
    """The API processes to run: the option, else the setting, else the default; more
    than one only on PostgreSQL, where every process is the API alone."""
    from bootstrap.settings import DEFAULT_API_WORKERS

    asked = workers if workers is not None else settings.api_workers
    if settings.is_embedded:
        if asked is not None and asked > 1:
            _refuse(
                "--workers above 1 needs CARELOOP_DATABASE_URL: the embedded default runs "
                "its projections and workers inside its one API process"
            )
        return 1
    return asked if asked is not None else DEFAULT_API_WORKERS


@app.command()
def worker(
    threads: Annotated[int | None, typer.Option(help="Dramatiq worker threads")] = None,
) -> None:
    """Run a worker: the process managers, the deadline scheduler (each elected: one
    process at a time) and Dramatiq workers that fire deadlines and deliver the outbox,
    on Redis. Run as many as you like."""
    logging.basicConfig(level=logging.INFO)
    settings = get_settings()
    if settings.is_embedded or not settings.redis_url:
        _refuse(
            "`careloop worker` needs CARELOOP_DATABASE_URL and CARELOOP_REDIS_URL; "
            "the embedded default runs its workers inside `careloop serve`"
        )
    _require_strong_secret(settings)
    _require_database(settings)
    _require_redis(settings)
    from bootstrap.runtime import Runtime
    from workers.broker import make_broker
    from workers.host import WorkerHost

    with _friendly():
        runtime = Runtime(settings)
        try:
            host = WorkerHost(runtime, make_broker(settings), threads)
            host.start()
            console.print(f"worker running with {host.threads} threads on {settings.redis_url}")
            try:
                _wait_for_a_signal()
            finally:
                host.stop()
        finally:
            runtime.close()


@projections_app.command("run")
def projections_run() -> None:
    """Run every projection, following the log until interrupted."""
    logging.basicConfig(level=logging.INFO)
    settings = get_settings()
    _require_strong_secret(settings)
    _require_database(settings)
    with _friendly():
        runtime = _runtime()
        try:
            runtime.start_projections()
            console.print(f"following the log for: {', '.join(runtime.runners)}")
            _wait_for_a_signal()
        finally:
            runtime.close()


def _wait_for_a_signal() -> None:
    """Block until SIGTERM or SIGINT (Ctrl-C), so the caller can shut down cleanly.

    Both are handled here: a process started in the background by a non-interactive
    shell inherits SIGINT as ignored, and Python then raises no KeyboardInterrupt, so a
    SIGINT from a supervisor (or a test harness) would go unheard until its SIGKILL."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass


@projections_app.command("status")
def projections_status() -> None:
    """Each read model's position, the head, the lag, and any rebuild's progress."""
    _require_database(get_settings())
    with _friendly():
        runtime = _runtime()
        try:
            table = Table("read model", "position", "head", "lag", "status")
            rebuilding = runtime.rebuilds.running()
            for status in runtime.follower_status():
                progress = rebuilding.get(status.name)
                state = "live"
                if progress is not None:
                    state = (
                        f"rebuilding: {progress.position}/{progress.head_position}, "
                        f"{progress.events_per_second:,.0f} events/s"
                    )
                table.add_row(
                    status.name,
                    str(status.position),
                    str(status.head_position),
                    str(status.lag),
                    state,
                )
            console.print(table)
        finally:
            runtime.close()


class LoginRole(StrEnum):
    """The roles a token can carry: every role but the internal `system` one."""

    PATIENT = Role.PATIENT.value
    DOCTOR = Role.DOCTOR.value
    HOSPITAL_ADMIN = Role.HOSPITAL_ADMIN.value
    PX_ADMIN = Role.PX_ADMIN.value
    AUDITOR = Role.AUDITOR.value
    PLATFORM_ADMIN = Role.PLATFORM_ADMIN.value


assert {Role(r) for r in LoginRole} == TOKEN_ROLES, "LoginRole must list exactly TOKEN_ROLES"


@app.command()
def token(
    user: Annotated[uuid.UUID, typer.Option(help="User id (the `sub` claim)")],
    role: Annotated[LoginRole, typer.Option(help="Role")],
    tenant: Annotated[uuid.UUID | None, typer.Option(help="Tenant id")] = None,
    ttl: Annotated[int | None, typer.Option(help="Lifetime in seconds")] = None,
) -> None:
    """Mint a development JWT."""
    settings = get_settings()
    if (tenant is None) != (role is LoginRole.PLATFORM_ADMIN):
        raise typer.BadParameter("every role but platform_admin needs --tenant")
    print(
        mint_token(settings.jwt_secret, user, Role(role), tenant, ttl or settings.jwt_ttl_seconds)
    )


@app.command()
def demo() -> None:
    """Load the demo clinic and print a token for each demo user."""
    from api.demo import load_demo, print_demo

    _require_database(get_settings())
    with _friendly():
        runtime = _runtime()
        try:
            print_demo(console, load_demo(runtime))
        finally:
            runtime.close()


@db_app.command("init")
def db_init() -> None:
    """Create the schema, the event table and the read-model tables. Idempotent."""
    settings = get_settings()
    if settings.is_embedded:
        console.print("embedded SQLite creates its tables on start; nothing to do")
        return
    _require_database(settings, tables=False)
    with _friendly():
        _runtime(create_tables=True).close()
    console.print(f"schema '{settings.database_schema}' is ready")


# -- audit ------------------------------------------------------------------------------

MAX_BREAK_LINES = 20


@audit_app.command("verify")
def audit_verify(
    tenant: Annotated[
        str | None,
        typer.Option(help="Verify this tenant's chain only ('platform' for the platform's)"),
    ] = None,
    events: Annotated[
        bool, typer.Option("--events", help="Verify the event log's chain instead")
    ] = False,
) -> None:
    """Recompute the audit trail's keyed hash chains (every tenant's, or one), or with
    --events the event log's chain, and exit with status 1 on any break."""
    settings = get_settings()
    if events and tenant is not None:
        _refuse("--tenant names an audit chain; --events verifies the event log's chain")
    _require_database(settings)
    from domain.audit.chain_store import integrity_of

    with _friendly():
        runtime = _runtime()
        integrity = integrity_of(runtime.log, runtime.audit, create_table=False)
        try:
            broken = _verify_events(integrity) if events else _verify_audit(integrity, tenant)
        finally:
            integrity.close()
            runtime.close()
    if broken:
        raise typer.Exit(1)


def _verify_audit(integrity: Integrity, tenant: str | None) -> bool:
    import time

    from domain.audit.entry import PLATFORM

    if tenant is None:
        tenants = integrity.entries.tenants()
    else:
        tenants = [PLATFORM if tenant in ("", "platform") else tenant]
    started = time.perf_counter()
    count = 0
    broken = False
    for chain in tenants:
        result = integrity.entries.verify(chain)
        count += result.entries
        name = chain or "platform"
        head = result.head_hash or "-"
        if result.verified:
            print(f"tenant {name}: {result.entries} entries, head {head}: verified")
            continue
        broken = True
        seq = result.first_broken_seq
        print(f"tenant {name}: {result.entries} entries, head {head}: BROKEN at seq {seq}")
        found = integrity.entries.entry(chain, seq) if seq is not None else None
        if found is None:
            recorded = integrity.entries.head(chain)
            print(f"  seq {seq}: missing (the store's head records seq {recorded and recorded[0]})")
        else:
            print(
                f"  seq {seq}: action {found.column('action')}, actor {found.column('actor_id')} "
                f"({found.column('role')}), recordedAt {found.column('recorded_at')}"
            )
    if not tenants:
        print("no audit entries")
    _throughput(count, "entries", time.perf_counter() - started)
    return broken


def _verify_events(integrity: Integrity) -> bool:
    import time

    from domain.audit.events_chain import verify_events

    started = time.perf_counter()
    result = verify_events(integrity.key, integrity.events.all_rows(), integrity.chain.all_rows())
    head = (
        f"head position {result.head_position}, hash {result.head_hash}"
        if result.head_position is not None
        else "no chain yet"
    )
    print(f"event chain: {result.chained} events chained ({head}); {result.unchained} not yet")
    if result.verified:
        print("event chain: verified")
    else:
        positions = result.broken_positions
        print(
            f"event chain: BROKEN at position {result.first_broken_position}; "
            f"{len(positions)} broken positions"
            + ("" if result.chain_intact else "; the chain table itself was changed")
        )
        for b in result.breaks[:MAX_BREAK_LINES]:
            print(f"  position {b.position}: {b.damage.value}")
        if len(result.breaks) > MAX_BREAK_LINES:
            print(f"  ... and {len(result.breaks) - MAX_BREAK_LINES} more")
    _throughput(result.chained + result.unchained, "events", time.perf_counter() - started)
    return not result.verified


def _throughput(count: int, what: str, seconds: float) -> None:
    rate = count / seconds if seconds > 0 else 0.0
    print(f"verified {count} {what} in {seconds:.2f} s ({rate:,.0f} {what}/s)", file=sys.stderr)


if __name__ == "__main__":
    app()
