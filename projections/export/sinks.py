"""Where record batches go: a directory of Parquet files (one per table) or one DuckDB
database file. Each is written under a temporary name and renamed when complete, so an
interrupted export never leaves a file that looks whole."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

EVENTS_TABLE = "events"
DUCKDB_FILE = "careloop.duckdb"
PARTIAL = ".partial"


class Sink(ABC):
    """Tables written one after another: `begin`, any number of `write`, `end`."""

    @abstractmethod
    def begin(self, table: str, schema: pa.Schema) -> None: ...

    @abstractmethod
    def write(self, batch: pa.RecordBatch) -> None: ...

    @abstractmethod
    def end(self) -> None: ...

    @abstractmethod
    def close(self, complete: bool) -> None:
        """Finish the export (`complete`) or discard what was written."""

    @abstractmethod
    def written(self) -> list[Path]: ...


class ParquetSink(Sink):
    def __init__(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.out = out
        self._writer: pq.ParquetWriter | None = None
        self._path: Path | None = None
        self._done: list[Path] = []

    def begin(self, table: str, schema: pa.Schema) -> None:
        self._path = self.out / f"{table}.parquet"
        partial = self._path.with_name(self._path.name + PARTIAL)
        self._writer = pq.ParquetWriter(partial, schema, compression="zstd")

    def write(self, batch: pa.RecordBatch) -> None:
        assert self._writer is not None
        self._writer.write_batch(batch)

    def end(self) -> None:
        assert self._writer is not None and self._path is not None
        self._writer.close()
        os.replace(self._path.with_name(self._path.name + PARTIAL), self._path)
        self._done.append(self._path)
        self._writer = self._path = None

    def close(self, complete: bool) -> None:
        if self._writer is not None:
            self._writer.close()
            assert self._path is not None
            self._path.with_name(self._path.name + PARTIAL).unlink(missing_ok=True)
            self._writer = None

    def written(self) -> list[Path]:
        return list(self._done)


class DuckDBSink(Sink):
    """One `careloop.duckdb`, built under a temporary name and renamed at the end; tables
    are filled from Arrow batches (DuckDB reads them without copying row by row)."""

    def __init__(self, out: Path) -> None:
        import duckdb

        out.mkdir(parents=True, exist_ok=True)
        self.path = out / DUCKDB_FILE
        self._partial = out / (DUCKDB_FILE + PARTIAL)
        self._discard(self._partial)
        self._conn = duckdb.connect(str(self._partial))
        self._table: str | None = None

    @staticmethod
    def _discard(path: Path) -> None:
        path.unlink(missing_ok=True)
        Path(f"{path}.wal").unlink(missing_ok=True)

    def begin(self, table: str, schema: pa.Schema) -> None:
        self._table = table
        self._conn.register("careloop_batch", schema.empty_table())
        self._conn.execute(f'CREATE TABLE "{table}" AS SELECT * FROM careloop_batch')
        self._conn.unregister("careloop_batch")

    def write(self, batch: pa.RecordBatch) -> None:
        assert self._table is not None
        self._conn.register("careloop_batch", pa.Table.from_batches([batch]))
        self._conn.execute(f'INSERT INTO "{self._table}" SELECT * FROM careloop_batch')
        self._conn.unregister("careloop_batch")

    def end(self) -> None:
        self._table = None

    def close(self, complete: bool) -> None:
        self._conn.close()
        if complete:
            self._discard(self.path)
            os.replace(self._partial, self.path)
        else:
            self._discard(self._partial)

    def written(self) -> list[Path]:
        return [self.path]
