"""Export benchmark: events per second of `careloop export` (issue 13, "Export rate"), on
each backend and in each format.

A fresh log per backend holds the demo clinic plus `--events` intakes, each an event
with three sealed personal fields (`bench.privacy.Intake`: names and a ~200-character
note, 500 per command, spread over `--patients` patients), so every exported event pays
what a real one does: decoding, opening its personal text and rendering it as JSON. The
read models are caught up first. Then each format is exported `--repeats` times into a
fresh directory with the default personal mode (redact), and once with `reveal`; the
figure is the events written divided by the time to write them (`ExportSummary`), the
median of the repeats, with the whole export's time (read models included) and the
output's size beside it.

Run from the repository root (never in CI; it loads the machine):

    .venv/bin/python -m bench.export                      # SQLite, 100,000 events
    .venv/bin/python -m bench.export --quick              # smoke run: 300 events
    .venv/bin/python bench/export.py --database-url postgresql://postgres@127.0.0.1/test

With `--database-url`, PostgreSQL is measured after SQLite, in its own fresh schema
(`bench_<random>`), dropped at the end.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as `python bench/export.py`, the repository root is not on sys.path yet.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import os
import platform
import secrets
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from importlib.metadata import version

import psycopg
from psycopg import sql
from rich.console import Console
from rich.table import Table

from api.demo import load_demo
from bench.privacy import typed_intake
from bootstrap.runtime import Runtime
from bootstrap.settings import Settings
from domain.shared.context import Actor, CommandContext, Role
from domain.shared.unit_of_work import UnitOfWork
from projections.export import ExportFormat, PersonalMode
from projections.export.run import ExportSummary, export

PER_COMMAND = 500
SECRET = secrets.token_urlsafe(48)
ADMIN = Actor(user_id=uuid.uuid4(), role=Role.PLATFORM_ADMIN, tenant_id=None)


@dataclass
class Result:
    backend: str
    fmt: ExportFormat
    mode: PersonalMode
    rates: list[float]
    seconds: list[float]
    events: int
    rows: int
    size: int


@contextmanager
def runtime_on(backend: str, database_url: str | None, scratch: Path) -> Iterator[Runtime]:
    if backend == "sqlite":
        runtime = Runtime(Settings(data_dir=scratch / "data", jwt_secret=SECRET))
        try:
            yield runtime
        finally:
            runtime.close()
        return
    assert database_url
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    settings = Settings(database_url=database_url, database_schema=schema, jwt_secret=SECRET)
    runtime = Runtime(settings, create_tables=True)
    try:
        yield runtime
    finally:
        runtime.close()
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def record_intakes(
    patients: list[uuid.UUID], tenant: uuid.UUID, start: int, count: int, uow: UnitOfWork
) -> int:
    for k in range(start, start + count):
        uow.add(typed_intake(uow, tenant, patients[k % len(patients)], k))
    return count


def seed(runtime: Runtime, events: int, patients: int, console: Console) -> None:
    started = time.perf_counter()
    load_demo(runtime)
    tenant = uuid.uuid4()
    people = [uuid.uuid4() for _ in range(patients)]
    ctx = CommandContext(actor=ADMIN, causation_id="bench-export-seed")
    for start in range(0, events, PER_COMMAND):
        size = min(PER_COMMAND, events - start)
        runtime.commands.run(ctx, partial(record_intakes, people, tenant, start, size))
    runtime.catch_up()
    console.print(
        f"[dim]{runtime.backend}: seeded {runtime.log.head():,} events in "
        f"{time.perf_counter() - started:.1f} s[/dim]"
    )


def measure(
    runtime: Runtime, fmt: ExportFormat, mode: PersonalMode, repeats: int, scratch: Path
) -> Result:
    tables = [t for p in runtime.projections for t in p.tables]
    summaries: list[ExportSummary] = []
    size = 0
    for n in range(repeats):
        out = scratch / f"out-{fmt}-{mode}-{n}"
        summaries.append(
            export(runtime.log, runtime.store, tables, runtime.sealer, out, fmt, mode=mode)
        )
        size = sum(p.stat().st_size for p in out.iterdir())
        shutil.rmtree(out)
    last = summaries[-1]
    return Result(
        runtime.backend,
        fmt,
        mode,
        [s.events_per_second for s in summaries],
        [s.seconds for s in summaries],
        last.events,
        sum(last.tables.values()),
        size,
    )


def report(console: Console, results: list[Result], args: argparse.Namespace) -> None:
    table = Table(
        "backend",
        "format",
        "personal",
        "events",
        "events/s (median)",
        "min-max",
        "whole export, s",
        "read-model rows",
        "size, MB",
        title="careloop export",
    )
    for r in results:
        table.add_row(
            r.backend,
            r.fmt.value,
            r.mode.value,
            f"{r.events:,}",
            f"{statistics.median(r.rates):,.0f}",
            f"{min(r.rates):,.0f}-{max(r.rates):,.0f}",
            f"{statistics.median(r.seconds):.2f}",
            f"{r.rows:,}",
            f"{r.size / 1e6:.1f}",
        )
    console.print(table)
    console.print(
        f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"pyarrow {version('pyarrow')}, duckdb {version('duckdb')}; "
        f"{args.events:,} intakes (3 sealed fields each) over {args.patients} patients, "
        f"{args.repeats} repeats"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--patients", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--database-url", default=None, help="also measure PostgreSQL")
    parser.add_argument("--quick", action="store_true", help="300 events, 1 repeat")
    args = parser.parse_args()
    if args.quick:
        args.events, args.patients, args.repeats = 300, 20, 1
    console = Console()
    if not console.is_terminal:
        console = Console(width=130)  # the table stays readable in a file or a pipe
    backends = ["sqlite"] + (["postgresql"] if args.database_url else [])
    results: list[Result] = []
    for backend in backends:
        with (
            tempfile.TemporaryDirectory(prefix="bench-export-") as tmp,
            runtime_on(backend, args.database_url, Path(tmp)) as runtime,
        ):
            seed(runtime, args.events, args.patients, console)
            for fmt in ExportFormat:
                results.append(measure(runtime, fmt, PersonalMode.REDACT, args.repeats, Path(tmp)))
            for fmt in ExportFormat:
                results.append(measure(runtime, fmt, PersonalMode.REVEAL, 1, Path(tmp)))
    report(console, results, args)


if __name__ == "__main__":
    main()
