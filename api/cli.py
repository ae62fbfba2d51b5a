"""The `careloop` command line."""

from __future__ import annotations

import logging
import signal
import threading
import uuid
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from api.auth import mint_token
from bootstrap.settings import DEV_JWT_SECRET, get_settings
from domain.shared.context import Role

app = typer.Typer(help="CareLoop: the feedback loops of a telerehab clinic.", no_args_is_help=True)
db_app = typer.Typer(help="Database administration (PostgreSQL).", no_args_is_help=True)
projections_app = typer.Typer(help="Read-model projections.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(projections_app, name="projections")
console = Console()


def _runtime(create_tables: bool | None = None):  # type: ignore[no-untyped-def]
    from bootstrap.runtime import Runtime

    return Runtime(get_settings(), create_tables=create_tables)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind")] = 8000,
    demo: Annotated[bool, typer.Option(help="Load the demo clinic first if empty")] = False,
) -> None:
    """Serve the API. Embedded default: everything in this one process on SQLite. With
    CARELOOP_DATABASE_URL and CARELOOP_REDIS_URL set: the API only."""
    import uvicorn

    from api.main import create_app

    logging.basicConfig(level=logging.INFO)
    settings = get_settings()
    if not settings.is_embedded and settings.jwt_secret == DEV_JWT_SECRET:
        console.print("[yellow]warning:[/] CARELOOP_JWT_SECRET is the development default")
    runtime = _runtime()
    if demo:
        from api.demo import load_demo, print_demo

        print_demo(console, load_demo(runtime))
    where = settings.data_dir if settings.is_embedded else "PostgreSQL"
    console.print(f"CareLoop on {runtime.backend} ({where}) at http://{host}:{port}/docs")
    try:
        uvicorn.run(create_app(runtime, run_workers=settings.is_embedded), host=host, port=port)
    finally:
        runtime.close()


@app.command()
def worker(
    threads: Annotated[int | None, typer.Option(help="Dramatiq worker threads")] = None,
) -> None:
    """Run a worker: the outbox dispatcher, the timers' sweep, and Dramatiq workers
    (process managers, timers, deliveries) on Redis. Run as many as you like."""
    from bootstrap.runtime import Runtime
    from workers.broker import broker
    from workers.host import WorkerHost

    logging.basicConfig(level=logging.INFO)
    settings = get_settings()
    if settings.is_embedded or not settings.redis_url:
        console.print(
            "[red]careloop worker needs CARELOOP_DATABASE_URL and CARELOOP_REDIS_URL;[/] "
            "the embedded default runs its workers inside `careloop serve`."
        )
        raise typer.Exit(2)
    runtime = Runtime(settings)
    host = WorkerHost(runtime, broker, threads)
    host.start()
    console.print(f"worker running with {host.threads} threads on {settings.redis_url}")
    try:
        _wait_for_a_signal()
    finally:
        host.stop()
        runtime.close()


@projections_app.command("run")
def projections_run() -> None:
    """Run every projection, following the log until interrupted."""
    logging.basicConfig(level=logging.INFO)
    runtime = _runtime()
    runtime.start_projections()
    console.print(f"following the log for: {', '.join(runtime.runners)}")
    try:
        _wait_for_a_signal()
    finally:
        runtime.close()


def _wait_for_a_signal() -> None:
    """Block until SIGTERM or Ctrl-C, so the caller can shut down cleanly."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass


@projections_app.command("status")
def projections_status() -> None:
    """Each read model's position, the head, and the lag."""
    runtime = _runtime()
    try:
        table = Table("read model", "position", "head", "lag")
        for status in runtime.follower_status():
            table.add_row(
                status.name, str(status.position), str(status.head_position), str(status.lag)
            )
        console.print(table)
    finally:
        runtime.close()


@app.command()
def token(
    user: Annotated[uuid.UUID, typer.Option(help="User id (the `sub` claim)")],
    role: Annotated[Role, typer.Option(help="Role")],
    tenant: Annotated[uuid.UUID | None, typer.Option(help="Tenant id")] = None,
    ttl: Annotated[int | None, typer.Option(help="Lifetime in seconds")] = None,
) -> None:
    """Mint a development JWT."""
    settings = get_settings()
    if role is Role.SYSTEM:
        raise typer.BadParameter("the system role cannot log in", param_hint="--role")
    if (tenant is None) != (role is Role.PLATFORM_ADMIN):
        raise typer.BadParameter("every role but platform_admin needs --tenant")
    print(mint_token(settings.jwt_secret, user, role, tenant, ttl or settings.jwt_ttl_seconds))


@app.command()
def demo() -> None:
    """Load the demo clinic and print a token for each demo user."""
    from api.demo import load_demo, print_demo

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
    runtime = _runtime(create_tables=True)
    runtime.close()
    console.print(f"schema '{settings.database_schema}' is ready")


if __name__ == "__main__":
    app()
