"""The analyst export: the event log and every read model as Parquet files or one DuckDB
database (docs/decisions/0029-analyst-export.md).

- `events.py`: one row per event, its metadata as columns and its payload as JSON text;
- `read_models.py`: every table of every read model, streamed from the store read-only;
- `personal.py`: what a patient's personal text becomes (redacted by default, null once
  erased, opened only when asked);
- `sinks.py`: Parquet (one file per table) and DuckDB (one file of tables);
- `run.py`: reads the log in pages up to the head seen at the start and writes record
  batches, never the whole log in memory.
"""

from projections.export.personal import REDACTED, PersonalMode
from projections.export.run import ExportFormat, ExportProgress, ExportSummary, export, parse_since
from projections.export.sinks import DUCKDB_FILE, EVENTS_TABLE

__all__ = [
    "DUCKDB_FILE",
    "EVENTS_TABLE",
    "REDACTED",
    "ExportFormat",
    "ExportProgress",
    "ExportSummary",
    "PersonalMode",
    "export",
    "parse_since",
]
