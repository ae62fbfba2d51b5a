"""What an export is asked for: the format, which events (`--since`) and what personal
text becomes. Free of pyarrow and duckdb, so the command line can name these without
loading either until an export runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum


class ExportFormat(StrEnum):
    PARQUET = "parquet"
    DUCKDB = "duckdb"


class PersonalMode(StrEnum):
    """A patient's personal text in an export: `[redacted]` (the default) or the text
    itself; null once the patient is erased, either way."""

    REDACT = "redact"
    REVEAL = "reveal"


@dataclass(frozen=True)
class Since:
    """Which events to export: those after log position `position`, and, when `at` is
    set, only those whose timestamp is at or after it."""

    position: int = 0
    at: datetime | None = None


def parse_since(text: str | None) -> Since:
    """`--since`: a log position (an integer: the events after it, e.g. the last
    position of the previous export), or an ISO date or date-time (the events stamped at
    or after it; UTC when it names no zone)."""
    if text is None or not text.strip():
        return Since()
    text = text.strip()
    if text.isdigit():
        return Since(position=int(text))
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"--since takes a log position (an integer) or an ISO date or date-time, not {text!r}"
        ) from None
    return Since(at=at if at.tzinfo else at.replace(tzinfo=UTC))
