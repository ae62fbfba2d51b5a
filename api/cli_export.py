"""`careloop export`: the event log and every read model, for analysts, as Parquet files
or one DuckDB database (docs/decisions/0029-analyst-export.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from projections.export import ExportFormat, PersonalMode, parse_since

if TYPE_CHECKING:
    from projections.export.run import ExportSummary


class _Rate(ProgressColumn):
    """Items per second: rich's recent estimate while it has one, else the average."""

    def render(self, task: Task) -> Text:
        unit = task.fields.get("unit", "")
        speed = task.speed
        if not speed and task.elapsed:
            speed = task.completed / task.elapsed
        shown = f"{speed:,.0f} {unit}/s" if speed else f"- {unit}/s"
        return Text(shown, style="progress.data.speed")


class _Bar:
    """Events done against the head, with rate and ETA, then the read-model tables, on
    stderr."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("[progress.description]{task.description:<11}"),
            BarColumn(),
            MofNCompleteColumn(),
            _Rate(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.task = self.progress.add_task("events", total=None, start=False, unit="events")
        self.tables = self.progress.add_task("read models", total=None, start=False, unit="tables")
        self.start = 0

    def __enter__(self) -> _Bar:
        self.progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.progress.stop()

    def events_started(self, start: int, head: int) -> None:
        self.start = start
        self.progress.update(self.task, total=max(head - start, 0), completed=0)
        self.progress.start_task(self.task)

    def events_read(self, position: int) -> None:
        self.progress.update(self.task, completed=position - self.start)

    def tables_started(self, count: int) -> None:
        # Stopped tasks keep their rate: the elapsed time ends where they did.
        self.progress.stop_task(self.task)
        self.progress.update(self.tables, total=count, completed=0)
        self.progress.start_task(self.tables)

    def table_done(self, table: str, rows: int) -> None:
        self.progress.update(self.tables, advance=1)
        if self.progress.tasks[self.tables].finished:
            self.progress.stop_task(self.tables)


def export(
    fmt: Annotated[
        ExportFormat, typer.Option("--format", case_sensitive=False, help="Output format")
    ],
    out: Annotated[Path, typer.Option("--out", help="Directory to write into (created)")],
    since: Annotated[
        str | None,
        typer.Option(
            help="Only events after this log position (an integer, e.g. the last position "
            "of a previous export), or stamped at or after this ISO date or date-time "
            "(UTC unless it names a zone). Read models are always whole."
        ),
    ] = None,
    personal: Annotated[
        PersonalMode,
        typer.Option(
            case_sensitive=False,
            help="A patient's personal text: 'redact' (the default) writes a fixed placeholder "
            "in its place, 'reveal' the text itself. An erased patient's is null either way.",
        ),
    ] = PersonalMode.REDACT,
) -> None:
    """Export the event log (one row per event, its metadata as columns, its payload as
    JSON text) and every read model's tables, for DuckDB or pandas: Parquet files
    (events.parquet and one per table) or one careloop.duckdb."""
    from api.cli import _friendly, _require_database, _runtime
    from bootstrap.settings import get_settings
    from projections.export.run import export as run_export

    try:
        chosen = parse_since(since)
    except ValueError as e:
        print(f"careloop: {e}", file=sys.stderr)
        raise typer.Exit(2) from None
    _require_database(get_settings())
    err = Console(stderr=True)
    with _friendly():
        runtime = _runtime(create_tables=None)
        try:
            tables = [t for p in runtime.projections for t in p.tables]
            with _Bar(err) as bar:
                summary = run_export(
                    runtime.log,
                    runtime.store,
                    tables,
                    runtime.sealer,
                    out,
                    fmt,
                    since=chosen,
                    mode=personal,
                    progress=bar,
                )
        finally:
            runtime.close()
    _report(summary, out)


def _report(summary: ExportSummary, out: Path) -> None:
    rows = sum(summary.tables.values())
    print(
        f"exported {summary.events:,} events (up to position {summary.head}) in "
        f"{summary.event_seconds:.1f} s, {summary.events_per_second:,.0f} events/s"
    )
    print(f"exported {len(summary.tables)} read-model tables, {rows:,} rows")
    if len(summary.files) == 1:
        print(f"wrote {summary.files[0].name} to {out}")
    else:
        print(f"wrote {len(summary.files)} Parquet files to {out}")
