"""Issue 13's figures: the blue/green rebuild rate beside the projection catch-up and the
COPY floor of the same run, and a tight-loop HTTP reader's latency around the switch.

    .venv/bin/python -m bench.rebuild [--events 100000] [--rounds 3]

On PostgreSQL (a fresh schema of --database-url, dropped afterwards) and on SQLite (a
temporary directory). Per round, interleaved: the directory read model caught up from 0
in place (the live runner's path), the same read model rebuilt beside the live one and
swapped in, and (PostgreSQL) COPY of the same rows into an empty table of the same shape.
Then a reader thread GETs a tenant's staff list in a tight loop against `careloop serve`
(the API alone, as in production) while the rebuild runs and swaps; latencies are split
into before, during the rebuild, and overlapping the swap's transaction.

Run it on a quiet machine: nothing else on the cores.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import os
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
from psycopg import sql
from rich.console import Console
from rich.table import Table

from api.auth import mint_token
from bench.store import DEFAULT_URL, insert_copy, seed_staff, time_floor
from bootstrap.runtime import Runtime
from bootstrap.settings import Settings
from domain.shared.context import Role
from projections.directory.projection import STAFF

SECRET = "careloop-bench-secret-of-at-least-32-bytes!"
PLATFORM = uuid.UUID("00000000-0000-4000-a000-0000000000aa")
NEVER = threading.Event()
console = Console()


def settings_for(backend: str, url: str, schema: str, data_dir: Path) -> Settings:
    if backend == "sqlite":
        return Settings(data_dir=data_dir, jwt_secret=SECRET)
    return Settings(database_url=url, database_schema=schema, jwt_secret=SECRET)


def catch_up_rate(rt: Runtime) -> float:
    runner = rt.runners["directory"]
    rt.store.reset("directory", runner.projection.tables)
    started = time.perf_counter()
    runner.catch_up()
    return rt.log.head() / (time.perf_counter() - started)


def rebuild_rate(rt: Runtime) -> float:
    rt.rebuilds.start("directory")
    started = time.perf_counter()
    assert rt.rebuilds.drive("directory", NEVER) == "done"
    return rt.log.head() / (time.perf_counter() - started)


def copy_rate(url: str, schema: str) -> float:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            sql.SQL("SELECT id, tenant_id, doc::text FROM {}").format(sql.Identifier(schema, STAFF))
        ).fetchall()
        return time_floor(conn, schema, "floor_copy", rows, insert_copy)


@dataclass
class Reads:
    samples: list[tuple[float, float]] = field(default_factory=list)  # (start, seconds)
    errors: int = 0


@contextmanager
def served_in_process(rt: Runtime) -> Iterator[str]:
    """The embedded shape: the API, the live runners and the rebuild supervisor in this
    one process (as `careloop serve` on SQLite)."""
    import uvicorn

    from api.main import create_app

    port = 19000 + os.getpid() % 1000
    server = uvicorn.Server(
        uvicorn.Config(create_app(rt, run_workers=True), port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(base)
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _wait_for(base: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("careloop serve did not start")
        time.sleep(0.2)


@contextmanager
def served(settings: Settings, backend: str, data_dir: Path) -> Iterator[str]:
    """The production shape: `careloop serve` (the API alone) in a process of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARELOOP_")}
    env["CARELOOP_JWT_SECRET"] = SECRET
    if backend == "sqlite":
        env["CARELOOP_DATA_DIR"] = str(data_dir)
    else:
        assert settings.database_url
        env["CARELOOP_DATABASE_URL"] = settings.database_url
        env["CARELOOP_DATABASE_SCHEMA"] = settings.database_schema
    port = 18000 + os.getpid() % 1000
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("careloop")), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(base)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def switch_latencies(rt: Runtime, backend: str, data_dir: Path, tenant: str) -> dict[str, Any]:
    """A tight-loop reader's latencies before, during a rebuild, and across its swap."""
    token = mint_token(SECRET, PLATFORM, Role.PLATFORM_ADMIN, None, 3600)
    swap_window: list[float] = []
    original_swap = rt.store.swap

    def timed_swap(*args: Any, **kwargs: Any) -> int:
        swap_window.append(time.perf_counter())
        try:
            return original_swap(*args, **kwargs)
        finally:
            swap_window.append(time.perf_counter())

    rt.store.swap = timed_swap  # type: ignore[method-assign]
    reads = Reads()
    stop = threading.Event()
    marks: dict[str, float] = {}
    server = (
        served(rt.settings, backend, data_dir) if backend == "postgresql" else served_in_process(rt)
    )
    with server as base:

        def read() -> None:
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as c:
                while not stop.is_set():
                    started = time.perf_counter()
                    response = c.get(f"/v1/tenants/{tenant}/staff")
                    elapsed = time.perf_counter() - started
                    if response.status_code != 200:
                        reads.errors += 1
                    reads.samples.append((started, elapsed))

        reader = threading.Thread(target=read)
        reader.start()
        time.sleep(2.0)
        marks["rebuild"] = time.perf_counter()
        if backend == "postgresql":
            rebuild_rate(rt)  # driven here; the API process only answers
        else:
            rt.rebuilds.start("directory")  # driven by the in-process supervisor
            while (p := rt.rebuilds.progress("directory")) is None or p.status != "done":
                time.sleep(0.01)
        marks["done"] = time.perf_counter()
        time.sleep(1.0)
        stop.set()
        reader.join()
    rt.store.swap = original_swap  # type: ignore[method-assign]
    swap_start, swap_end = swap_window[0], swap_window[1]

    phases: dict[str, Callable[[float, float], bool]] = {
        "before": lambda t, s: t < marks["rebuild"],
        "rebuilding": lambda t, s: marks["rebuild"] <= t and t + s < swap_start,
        "switch": lambda t, s: t < swap_end and t + s > swap_start,
        "after": lambda t, s: t > marks["done"],
    }
    return {
        **{k: [s for t, s in reads.samples if pick(t, s)] for k, pick in phases.items()},
        "swap_ms": [(swap_end - swap_start) * 1000],
        "errors": reads.errors,
    }


def stats(seconds: list[float]) -> dict[str, float]:
    picked = sorted(seconds)
    if not picked:
        return {"n": 0}
    p99 = picked[min(len(picked) - 1, int(len(picked) * 0.99))]
    return {
        "n": len(picked),
        "p50": statistics.median(picked) * 1000,
        "p99": p99 * 1000,
        "max": picked[-1] * 1000,
    }


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    schema = f"bench_rebuild_{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        settings = settings_for(backend, args.database_url, schema, data_dir)
        rt = Runtime(settings, create_tables=True)
        try:
            seed_staff(rt.commands, args.events)
            tenant = seed_small_tenant(rt)
            rt.catch_up()
            console.log(f"{backend}: {rt.log.head():,} events")
            figures: dict[str, list[float]] = {"catch_up": [], "rebuild": [], "copy": []}
            for n in range(args.rounds):
                figures["catch_up"].append(catch_up_rate(rt))
                figures["rebuild"].append(rebuild_rate(rt))
                if backend == "postgresql":
                    figures["copy"].append(copy_rate(args.database_url, schema))
                console.log(
                    f"{backend} round {n + 1}: "
                    + ", ".join(f"{k} {v[-1]:,.0f}/s" for k, v in figures.items() if v)
                )
            # Each round's switch has few reads in it: pool the rounds.
            switch: dict[str, Any] = {"errors": 0}
            for _ in range(args.rounds):
                one = switch_latencies(rt, backend, data_dir, tenant)
                for key, value in one.items():
                    if key == "errors":
                        switch["errors"] += value
                    else:
                        switch.setdefault(key, []).extend(value)
        finally:
            rt.close()
            if backend == "postgresql":
                with psycopg.connect(args.database_url, autocommit=True) as conn:
                    conn.execute(
                        sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
                    )
    return {"figures": figures, "switch": switch, "events": args.events}


def seed_small_tenant(rt: Runtime) -> str:
    """A second clinic of 20 staff: the list the reader GETs."""
    from domain.people.application import People
    from domain.people.staff import StaffType
    from domain.shared.context import Actor, CommandContext

    people = People()
    ctx = CommandContext(actor=Actor(PLATFORM, Role.PLATFORM_ADMIN, None))
    tenant = rt.commands.run(ctx, lambda u: people.create_tenant(u, "Read clinic")).result
    assert tenant is not None

    def staff(uow: Any) -> None:
        for k in range(20):
            people.register_staff(
                uow, tenant.id, StaffType.DOCTOR, f"R{k}", "Reader", f"r{k}@read.example"
            )

    rt.commands.run(ctx, staff)
    return str(tenant.id)


def report(results: dict[str, dict[str, Any]]) -> None:
    table = Table(title="Rebuild rate (events/s, median of rounds) beside catch-up and COPY")
    for column in ("backend", "catch-up", "rebuild", "rebuild/catch-up", "COPY", "rebuild/COPY"):
        table.add_column(column, justify="right")
    for backend, result in results.items():
        f = result["figures"]
        catch_up, rebuild = statistics.median(f["catch_up"]), statistics.median(f["rebuild"])
        copy = statistics.median(f["copy"]) if f["copy"] else None
        table.add_row(
            backend,
            f"{catch_up:,.0f}",
            f"{rebuild:,.0f}",
            f"{rebuild / catch_up:.2f}x",
            f"{copy:,.0f}" if copy else "-",
            f"{rebuild / copy:.2f}x" if copy else "-",
        )
    console.print(table)
    for backend, result in results.items():
        rounds = {k: [round(x) for x in v] for k, v in result["figures"].items() if v}
        console.print(f"{backend} rounds: {rounds}")
    switch = Table(title="Tight-loop reader (GET a clinic's staff), latency in ms")
    for column in ("backend", "phase", "n", "p50", "p99", "max"):
        switch.add_column(column, justify="right")
    for backend, result in results.items():
        s = result["switch"]
        for phase in ("before", "rebuilding", "switch", "after"):
            row = stats(s[phase])
            cells = [f"{row[k]:.1f}" for k in ("p50", "p99", "max")] if row["n"] else ["-"] * 3
            switch.add_row(backend, phase, str(row["n"]), *cells)
        swaps = ", ".join(f"{ms:.1f}" for ms in s["swap_ms"])
        console.print(f"{backend}: swap transactions {swaps} ms; non-200 answers: {s['errors']}")
    console.print(switch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--backend", choices=["postgresql", "sqlite", "both"], default="both")
    args = parser.parse_args()
    backends = ["postgresql", "sqlite"] if args.backend == "both" else [args.backend]
    results = {b: run_backend(b, args) for b in backends}
    report(results)


if __name__ == "__main__":
    main()
