"""The analyst export: the event log and every read model as Parquet files or one DuckDB
database (docs/decisions/0029-analyst-export.md).

- `events.py`: one row per event, its metadata as columns and its payload as JSON text;
- `read_models.py`: every table of every read model, streamed from the store read-only;
- `personal.py`: what a patient's personal text becomes (redacted by default, null once
  erased, opened only when asked);
- `sinks.py`: Parquet (one file per table) and DuckDB (one file of tables);
- `options.py`: the format, `--since` and the personal-text mode;
- `run.py`: reads the log in pages up to the head seen at the start and writes record
  batches, never the whole log in memory.
"""

# Only the options here: importing them must not load pyarrow or duckdb (the command
# line imports this package at every start). The export itself is `run.export`.
from projections.export.options import ExportFormat, PersonalMode, Since, parse_since

__all__ = ["ExportFormat", "PersonalMode", "Since", "parse_since"]
