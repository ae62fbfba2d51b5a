"""Issue 14, P6: does CareLoop slow down as the log grows from 100,000 to 10,000,000
events? Append latency and the fold rate, at both sizes, in one run on PostgreSQL.

    .venv/bin/python -m bench.growth [--events 10000000] [--window 100000]

1. A fresh schema; `window` staff registrations through the command path (100k events).
   Measured at this size: the latency of single-event commands at 1 writer (p50/p99 over
   3 blocks of 2,000, each after 50 warm-up and a CHECKPOINT; each block's p99 shown),
   and the directory read model folding the newest `window` events (all of them here)
   into its empty tables: the work a rebuild does per page.
2. The log grown to `events`: copies of a real stored `Staff.Registered` (new originator
   ids, same state) COPY'd into the events table, and the read model's rows for them
   COPY'd into its table with its tracking row moved past them, as if folded. Then
   `window` more registrations through the command path.
3. Measured again: append latency, and the fold of the newest `window` events, now read
   at the end of a 10M-row log and written into a table of 9.9M rows.

Verdict: within 10% of the 100k figures (P6). A full rebuild at 10M is not timed (8+
minutes at the catch-up rate); the per-page fold at the end of the log is what would
differ. Needs a quiet machine and ~15 GB of disk.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import statistics
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

import psycopg
from psycopg import sql
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bootstrap.runtime import Runtime
from bootstrap.settings import Settings
from domain.people.application import People
from domain.people.staff import StaffType
from domain.shared.context import Actor, CommandContext, Role
from domain.shared.unit_of_work import UnitOfWork
from projections.directory.projection import STAFF

console = Console()
COPY_CHUNK = 200_000
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
ADMIN = Actor(user_id=uuid.uuid4(), role=Role.PLATFORM_ADMIN, tenant_id=None)


def register_many(
    people: People, tenant_id: uuid.UUID, start: int, count: int, uow: UnitOfWork
) -> None:
    for k in range(start, start + count):
        people.register_staff(
            uow, tenant_id, StaffType.DOCTOR, f"First{k}", f"Last{k}", f"s{k}@clinic.example"
        )


def seed_staff(rt: Runtime, count: int) -> uuid.UUID:
    """A tenant, then `count` staff registrations, 500 per command."""
    people = People()
    ctx = CommandContext(actor=ADMIN, causation_id="bench-growth")
    tenant = rt.commands.run(ctx, partial(people.create_tenant, name="Growth clinic")).result
    assert tenant is not None
    for start in range(0, count, 500):
        rt.commands.run(
            ctx, partial(register_many, people, tenant.id, start, min(500, count - start))
        )
    return uuid.UUID(str(tenant.id))


def append_latencies(rt: Runtime, tenant: uuid.UUID, count: int, offset: int) -> list[float]:
    """Seconds of `count` single-registration commands at 1 writer, after 50 warm-up."""
    people = People()
    ctx = CommandContext(actor=ADMIN, causation_id="bench-growth")
    seconds = []
    for k in range(count + 50):
        started = time.perf_counter()
        rt.commands.run(ctx, partial(register_many, people, tenant, offset + k, 1))
        if k >= 50:
            seconds.append(time.perf_counter() - started)
    return seconds


def append_blocks(
    rt: Runtime, url: str, tenant: uuid.UUID, count: int, blocks: int, offset: int
) -> dict[str, Any]:
    """`blocks` blocks of `count` appends, each after a CHECKPOINT (so that neither size
    measures the flush of what was just written): pooled p50/p99 and each block's p99."""
    pooled: list[float] = []
    block_p99 = []
    for b in range(blocks):
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
        seconds = append_latencies(rt, tenant, count, offset + b * (count + 50))
        block_p99.append(summary(seconds)["p99"])
        pooled += seconds
    return {**summary(pooled), "blocks": block_p99, "samples": len(pooled)}


def fold_newest(rt: Runtime, window: int) -> dict[str, float]:
    """Events/s of the directory folding the newest `window` events of the log, and the
    seconds its page reads (reader thread) and its commits (committer thread) took in
    all: which of the two grows with the log and the table."""
    runner = rt.runners["directory"]
    head = rt.log.head()
    assert rt.store.position("directory") == head - window, "the window is not unfolded"
    spent = {"read": 0.0, "commit": 0.0}

    def timed(name: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any) -> Any:
            started = time.perf_counter()
            try:
                return call(*args)
            finally:
                spent[name] += time.perf_counter() - started

        return run

    read, commit = runner._read, runner.store.commit
    runner._read = timed("read", read)  # type: ignore[method-assign]
    runner.store.commit = timed("commit", commit)  # type: ignore[method-assign]
    try:
        started = time.perf_counter()
        runner.catch_up()
        elapsed = time.perf_counter() - started
    finally:
        del runner._read, runner.store.commit  # the class's methods again
    return {"rate": window / elapsed, "seconds": elapsed, **spent}


def grow(rt: Runtime, url: str, schema: str, events: int, window: int) -> None:
    """COPY copies of a stored registration until the log holds `events - window`, with
    the read model's rows for them, as if folded."""
    target = events - window
    with psycopg.connect(url, autocommit=True) as conn:
        table = sql.Identifier(schema, "careloop_events")
        topic, state = conn.execute(
            sql.SQL("SELECT topic, state FROM {} WHERE topic LIKE %s LIMIT 1").format(table),
            ("%Staff.Registered%",),
        ).fetchone() or (None, None)
        assert topic is not None
        rows = sql.Identifier(schema, STAFF)
        tenant, doc = conn.execute(
            sql.SQL("SELECT tenant_id, doc::text FROM {} LIMIT 1").format(rows)
        ).fetchone() or (None, None)
        template_id = conn.execute(sql.SQL("SELECT id FROM {} LIMIT 1").format(rows)).fetchone()
        assert template_id is not None
        have = rt.log.head()
        with Progress(console=console) as progress:
            task = progress.add_task("growing the log", total=target - have)
            while have < target:
                n = min(COPY_CHUNK, target - have)
                ids = [uuid.uuid4() for _ in range(n)]
                with conn.transaction():
                    with conn.cursor().copy(
                        sql.SQL(
                            "COPY {} (originator_id, originator_version, topic, state) FROM STDIN"
                        ).format(table)
                    ) as copy:
                        for originator in ids:
                            copy.write_row((originator, 1, topic, state))
                    with conn.cursor().copy(
                        sql.SQL("COPY {} (id, tenant_id, doc) FROM STDIN").format(rows)
                    ) as copy:
                        for originator in ids:
                            copy.write_row(
                                (
                                    str(originator),
                                    tenant,
                                    doc.replace(template_id[0], str(originator)),
                                )
                            )
                have += n
                progress.update(task, advance=n)
        conn.execute(
            sql.SQL("UPDATE {} SET position = %s").format(
                sql.Identifier(schema, "directory_tracking")
            ),
            (rt.log.head(),),
        )
        conn.execute(sql.SQL("VACUUM ANALYZE {}").format(table))
        conn.execute(sql.SQL("VACUUM ANALYZE {}").format(rows))
        conn.execute("CHECKPOINT")


def fold_figures(fold: dict[str, float]) -> dict[str, Any]:
    return {"fold": fold["rate"], "fold_parts": fold}


def summary(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "p50": statistics.median(ordered) * 1000,
        "p99": ordered[int(len(ordered) * 0.99) - 1] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--window", type=int, default=100_000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--appends", type=int, default=2000, help="appends per block")
    parser.add_argument("--blocks", type=int, default=3, help="blocks of appends per size")
    args = parser.parse_args()
    schema = f"bench_growth_{uuid.uuid4().hex[:8]}"
    settings = Settings(database_url=args.database_url, database_schema=schema)
    rt = Runtime(settings, create_tables=True)
    results: dict[str, dict[str, Any]] = {}
    try:
        tenant = seed_staff(rt, args.window - 1)  # a tenant and window-1 staff
        head = rt.log.head()
        rt.store.reset("directory", rt.runners["directory"].projection.tables)
        results["small"] = {"events": head, **fold_figures(fold_newest(rt, head))}
        results["small"]["append"] = append_blocks(
            rt, args.database_url, tenant, args.appends, args.blocks, 10_000_000
        )
        rt.runners["directory"].catch_up()
        console.log(f"at {head:,} events: {results['small']}")

        grow(rt, args.database_url, schema, args.events, args.window)
        bus_start = rt.log.head()
        seed_more(rt, tenant, args.window)
        assert rt.log.head() - bus_start == args.window
        results["large"] = {
            "events": rt.log.head(),
            **fold_figures(fold_newest(rt, args.window)),
        }
        results["large"]["append"] = append_blocks(
            rt, args.database_url, tenant, args.appends, args.blocks, 30_000_000
        )
        console.log(f"at {rt.log.head():,} events: {results['large']}")
    finally:
        rt.close()
        with psycopg.connect(args.database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    report(results)


def seed_more(rt: Runtime, tenant: uuid.UUID, count: int) -> None:
    people = People()
    ctx = CommandContext(actor=ADMIN, causation_id="bench-growth")
    for start in range(0, count, 500):
        rt.commands.run(
            ctx, partial(register_many, people, tenant, 20_000_000 + start, min(500, count - start))
        )


def report(results: dict[str, dict[str, Any]]) -> None:
    small, large = results["small"], results["large"]
    table = Table(title="P6: growth of the log (PostgreSQL)")
    for column in (
        "figure",
        f"{small['events']:,} events",
        f"{large['events']:,} events",
        "change",
        "target",
        "verdict",
    ):
        table.add_column(column, justify="right")
    rows = [
        ("append p50 (ms)", small["append"]["p50"], large["append"]["p50"], False),
        ("append p99 (ms)", small["append"]["p99"], large["append"]["p99"], False),
        ("fold of the newest window (events/s)", small["fold"], large["fold"], True),
    ]
    for name, a, b, higher_is_better in rows:
        change = (b - a) / a
        worse = -change if higher_is_better else change
        table.add_row(
            name,
            f"{a:,.1f}",
            f"{b:,.1f}",
            f"{change:+.1%}",
            "within 10%",
            "met" if worse <= 0.10 else "MISS",
        )
    console.print(table)
    for size in (small, large):
        parts = size["fold_parts"]
        console.print(
            f"fold at {size['events']:,} events: {parts['seconds']:.2f} s, of which page reads "
            f"{parts['read']:.2f} s (reader thread) and commits {parts['commit']:.2f} s "
            "(committer thread), overlapping the decode and fold"
        )
        blocks = " / ".join(f"{p99:.1f}" for p99 in size["append"]["blocks"])
        console.print(
            f"append p99 per block at {size['events']:,} events: {blocks} ms "
            f"({size['append']['samples']:,} appends, each block after a CHECKPOINT)"
        )


if __name__ == "__main__":
    main()
