"""One export: the events up to the head seen at the start, then every read-model table."""

from __future__ import annotations

import time
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from domain.privacy.personal import Sealer
from domain.shared.eventlog import EventLog
from projections.export.events import EVENTS_SCHEMA, EventRows
from projections.export.options import ExportFormat, PersonalMode, Since
from projections.export.personal import RowOpener
from projections.export.read_models import ROWS_SCHEMA, opened_batch, rows_of
from projections.export.sinks import EVENTS_TABLE, DuckDBSink, ParquetSink, Sink
from projections.platform.store import ReadStore

# Notifications read per query (pages of 500+ read ~6x faster than the library's 10) and
# rows per record batch (a Parquet row group each: big enough to compress well, small
# enough that memory stays flat however long the log).
PAGE = 1000
BATCH_ROWS = 20_000


class ExportProgress(Protocol):
    """Told how the export goes (the command line shows it as a progress bar)."""

    def events_started(self, start: int, head: int) -> None: ...

    def events_read(self, position: int) -> None: ...

    def tables_started(self, count: int) -> None: ...

    def table_done(self, table: str, rows: int) -> None: ...


class _Silent:
    def events_started(self, start: int, head: int) -> None:
        return None

    def events_read(self, position: int) -> None:
        return None

    def tables_started(self, count: int) -> None:
        return None

    def table_done(self, table: str, rows: int) -> None:
        return None


@dataclass
class ExportSummary:
    events: int = 0
    head: int = 0
    event_seconds: float = 0.0
    tables: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    files: list[Path] = field(default_factory=list)

    @property
    def events_per_second(self) -> float:
        return self.events / self.event_seconds if self.event_seconds > 0 else 0.0


def export(
    log: EventLog,
    store: ReadStore,
    tables: Iterable[str],
    sealer: Sealer,
    out: Path,
    fmt: ExportFormat,
    since: Since | None = None,
    mode: PersonalMode = PersonalMode.REDACT,
    progress: ExportProgress | None = None,
    page: int = PAGE,
    batch_rows: int = BATCH_ROWS,
) -> ExportSummary:
    """Write the events (up to the head at the start, filtered by `since`) and every row
    of `tables` (whole: they are current state) to `out`. Personal text is shown as
    `mode` says, and is null once its patient is erased, in events and rows alike."""
    tables = list(tables)
    if EVENTS_TABLE in tables:
        raise ValueError(f"a read-model table named {EVENTS_TABLE!r} would hide the events")
    progress = progress or _Silent()
    sink: Sink = ParquetSink(out) if fmt is ExportFormat.PARQUET else DuckDBSink(out)
    summary = ExportSummary()
    started = time.perf_counter()
    complete = False
    try:
        summary.events, summary.head = _events(
            log, sink, since or Since(), mode, progress, page, batch_rows
        )
        summary.event_seconds = time.perf_counter() - started
        opener = RowOpener(sealer, mode)
        progress.tables_started(len(tables))
        for table in tables:
            summary.tables[table] = _table(store, table, sink, opener, batch_rows)
            progress.table_done(table, summary.tables[table])
        complete = True
    finally:
        sink.close(complete)
    summary.seconds = time.perf_counter() - started
    summary.files = sink.written()
    return summary


def _events(
    log: EventLog,
    sink: Sink,
    since: Since,
    mode: PersonalMode,
    progress: ExportProgress,
    page: int,
    batch_rows: int,
) -> tuple[int, int]:
    head = log.head()
    position = since.position
    progress.events_started(position, head)
    sink.begin(EVENTS_TABLE, EVENTS_SCHEMA)
    rows = EventRows(mode)
    count = 0
    # One batch is written (Parquet encoding and compression, or DuckDB's insert: native
    # code that releases the GIL) while the next is read and decoded; at most one batch
    # waits, so memory stays at two batches.
    with ThreadPoolExecutor(1, thread_name_prefix="export-writer") as writer:
        writing: Future[None] | None = None
        while position < head:
            notifications = log.read(position, page, stop=head)
            if not notifications:
                break
            for notification in notifications:
                event = log.decode(notification)
                if since.at is None or _at_or_after(getattr(event, "timestamp", None), since.at):
                    rows.add(notification.id, notification.topic, event)
            position = notifications[-1].id
            if len(rows) >= batch_rows:
                count += len(rows)
                batch = rows.batch()
                if writing is not None:
                    writing.result()
                writing = writer.submit(sink.write, batch)
            progress.events_read(position)
        if writing is not None:
            writing.result()
    if len(rows):
        count += len(rows)
        sink.write(rows.batch())
    sink.end()
    return count, head


def _at_or_after(timestamp: object, at: datetime) -> bool:
    if not isinstance(timestamp, datetime):
        return False
    if timestamp.tzinfo is None:
        timestamp = timestamp.replace(tzinfo=UTC)
    return timestamp >= at


def _table(store: ReadStore, table: str, sink: Sink, opener: RowOpener, page: int) -> int:
    sink.begin(table, ROWS_SCHEMA)
    count = 0
    for rows in rows_of(store, table, page):
        sink.write(opened_batch(rows, opener))
        count += len(rows)
    sink.end()
    return count
