"""The analyst export on both backends: DuckDB reads the Parquet files and the DuckDB file
back, and finds every event up to the head with its metadata, every read-model row, an
erased patient's personal text null and another patient's redacted (or, when asked for,
opened); `--since` limits the events and never the read models."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from api.demo import load_demo
from bootstrap.runtime import Runtime
from domain.privacy.erasure import ErasureGround
from domain.shared.context import Actor, CommandContext, Role
from projections.export import ExportFormat, PersonalMode, Since, parse_since
from projections.export.personal import REDACTED
from projections.export.run import ExportSummary, export
from projections.export.sinks import DUCKDB_FILE


@dataclass
class Clinic:
    runtime: Runtime
    erased: uuid.UUID  # Sam Carter, erased
    kept: uuid.UUID  # Lena Novak, not erased
    tables: list[str]


def erase(runtime: Runtime, patient: uuid.UUID, admin: Actor) -> None:
    """As POST /v1/patients/{id}/erase: record the erasure, then destroy the key."""
    ctx = CommandContext(actor=admin, causation_id="test erasure")
    runtime.commands.run(
        ctx, lambda uow: runtime.privacy.erase(uow, patient, ErasureGround.CONSENT_WITHDRAWN)
    )
    runtime.privacy.destroy_key(patient)


@pytest.fixture
def clinic(runtime: Runtime) -> Clinic:
    demo = load_demo(runtime)
    hana = demo.user("Hana Okafor")
    admin = Actor(hana.user_id, Role.HOSPITAL_ADMIN, demo.tenant_id)
    sam, lena = demo.user("Sam Carter").user_id, demo.user("Lena Novak").user_id
    erase(runtime, sam, admin)
    runtime.catch_up()
    tables = [t for p in runtime.projections for t in p.tables]
    return Clinic(runtime, sam, lena, tables)


def export_clinic(
    clinic: Clinic,
    out: Path,
    fmt: ExportFormat,
    since: Since | None = None,
    mode: PersonalMode = PersonalMode.REDACT,
) -> ExportSummary:
    rt = clinic.runtime
    return export(rt.log, rt.store, clinic.tables, rt.sealer, out, fmt, since=since, mode=mode)


@pytest.fixture(params=list(ExportFormat))
def fmt(request: pytest.FixtureRequest) -> ExportFormat:
    return ExportFormat(request.param)


class Exported:
    """An export as an analyst opens it in DuckDB: the same SQL over either format."""

    def __init__(self, out: Path, fmt: ExportFormat) -> None:
        self.out = out
        self.fmt = fmt
        if fmt is ExportFormat.DUCKDB:
            self.db = duckdb.connect(str(out / DUCKDB_FILE), read_only=True)
        else:
            self.db = duckdb.connect()

    def table(self, name: str) -> str:
        if self.fmt is ExportFormat.DUCKDB:
            return f'"{name}"'
        path = self.out / f"{name}.parquet"
        assert path.exists(), f"{path} was not written"
        return f"read_parquet('{path}')"

    def one(self, sql: str, *params: Any) -> Any:
        row = self.db.execute(sql, list(params)).fetchone()
        assert row is not None
        return row[0] if len(row) == 1 else row

    def payloads(self, event_type: str, originator: uuid.UUID) -> list[dict[str, Any]]:
        rows = self.db.execute(
            f"SELECT payload FROM {self.table('events')} "
            "WHERE type = ? AND originator_id = ? ORDER BY position",
            [event_type, str(originator)],
        ).fetchall()
        return [json.loads(payload) for (payload,) in rows]

    def doc(self, table: str, key: uuid.UUID) -> dict[str, Any]:
        found = self.one(f"SELECT doc FROM {self.table(table)} WHERE id = ?", str(key))
        return dict(json.loads(found))


@pytest.fixture
def exported(clinic: Clinic, fmt: ExportFormat, tmp_path: Path) -> Iterator[Exported]:
    export_clinic(clinic, tmp_path / "out", fmt)
    opened = Exported(tmp_path / "out", fmt)
    yield opened
    opened.db.close()


def test_the_export_holds_every_event_of_the_log_up_to_the_head(
    clinic: Clinic, exported: Exported
) -> None:
    head = clinic.runtime.log.head()
    count, top, distinct = exported.one(
        f"SELECT count(*), max(position), count(DISTINCT position) FROM {exported.table('events')}"
    )
    assert (count, top, distinct) == (head, head, head)


def test_every_read_model_table_has_as_many_rows_as_the_store(
    clinic: Clinic, exported: Exported
) -> None:
    store = clinic.runtime.store
    assert clinic.tables
    for table in clinic.tables:
        exported_rows = exported.one(f"SELECT count(*) FROM {exported.table(table)}")
        assert exported_rows == len(store.list(table)), table


def test_each_event_carries_its_metadata_in_columns(exported: Exported) -> None:
    events = exported.table("events")
    missing = exported.one(
        f"SELECT count(*) FROM {events} WHERE originator_id IS NULL OR topic IS NULL "
        "OR type IS NULL OR timestamp IS NULL OR actor_id IS NULL OR role IS NULL "
        "OR correlation_id IS NULL OR recorded_at IS NULL OR payload IS NULL"
    )
    assert missing == 0
    assert exported.one(f"SELECT count(*) FROM {events} WHERE tenant_id IS NOT NULL") > 0
    assert exported.one(f"SELECT count(*) FROM {events} WHERE causation_id IS NOT NULL") > 0
    created = exported.one(
        f"SELECT type, role, correlation_id FROM {events} WHERE type = 'Tenant.Created'"
    )
    assert created == ("Tenant.Created", "platform_admin", "demo")
    # The payload is JSON text DuckDB's json functions read.
    name = exported.one(f"SELECT payload->>'$.name' FROM {events} WHERE type = 'Tenant.Created'")
    assert name == "Riverside Physio"


def test_an_erased_patients_personal_text_is_null_and_anothers_is_redacted(
    clinic: Clinic, exported: Exported
) -> None:
    erased = exported.payloads("Patient.Invited", clinic.erased)
    kept = exported.payloads("Patient.Invited", clinic.kept)
    assert [(p["first_name"], p["last_name"], p["email"]) for p in erased] == [(None,) * 3]
    assert [(p["first_name"], p["last_name"], p["email"]) for p in kept] == [(REDACTED,) * 3]
    # Numbers and non-personal fields are kept for the erased patient too.
    assert erased[0]["timezone"] == "Europe/London"

    erased_row = exported.doc("patient_directory", clinic.erased)
    kept_row = exported.doc("patient_directory", clinic.kept)
    assert (erased_row["firstName"], erased_row["email"]) == (None, None)
    assert (kept_row["firstName"], kept_row["email"]) == (REDACTED, REDACTED)
    assert erased_row["timezone"] == "Europe/London"


def every_text(exported: Exported, tables: list[str]) -> str:
    """Every value of every table of an export, as one text to search."""
    found = []
    for table in ["events", *tables]:
        found += [
            str(row)
            for row in exported.db.execute(f"SELECT * FROM {exported.table(table)}").fetchall()
        ]
    return "\n".join(found)


def test_a_redacted_export_holds_no_patients_email_and_a_revealing_one_only_the_kept_ones(
    clinic: Clinic, fmt: ExportFormat, tmp_path: Path
) -> None:
    # The demo's emails are `<first name>@patients.example`, and only in personal fields.
    export_clinic(clinic, tmp_path / "redacted", fmt)
    redacted = every_text(Exported(tmp_path / "redacted", fmt), clinic.tables)
    assert "@patients.example" not in redacted
    export_clinic(clinic, tmp_path / "revealed", fmt, mode=PersonalMode.REVEAL)
    revealed = every_text(Exported(tmp_path / "revealed", fmt), clinic.tables)
    assert "lena@patients.example" in revealed
    assert "sam@patients.example" not in revealed


def test_revealing_opens_a_kept_patients_text_and_an_erased_one_stays_null(
    clinic: Clinic, fmt: ExportFormat, tmp_path: Path
) -> None:
    export_clinic(clinic, tmp_path / "out", fmt, mode=PersonalMode.REVEAL)
    exported = Exported(tmp_path / "out", fmt)
    [kept] = exported.payloads("Patient.Invited", clinic.kept)
    [erased] = exported.payloads("Patient.Invited", clinic.erased)
    assert (kept["first_name"], kept["last_name"]) == ("Lena", "Novak")
    assert (erased["first_name"], erased["last_name"]) == (None, None)
    kept_row = exported.doc("patient_directory", clinic.kept)
    erased_row = exported.doc("patient_directory", clinic.erased)
    assert (kept_row["firstName"], kept_row["lastName"]) == ("Lena", "Novak")
    assert erased_row["firstName"] is None


def test_since_a_position_exports_only_the_later_events_and_every_read_model_row(
    clinic: Clinic, fmt: ExportFormat, tmp_path: Path
) -> None:
    head = clinic.runtime.log.head()
    after = head - 10
    summary = export_clinic(clinic, tmp_path / "out", fmt, since=parse_since(str(after)))
    exported = Exported(tmp_path / "out", fmt)
    events = exported.table("events")
    assert summary.events == 10
    assert exported.one(f"SELECT count(*), min(position), max(position) FROM {events}") == (
        10,
        after + 1,
        head,
    )
    for table in clinic.tables:
        assert exported.one(f"SELECT count(*) FROM {exported.table(table)}") == len(
            clinic.runtime.store.list(table)
        )


def test_since_a_date_time_exports_the_events_stamped_from_then_on(
    clinic: Clinic, tmp_path: Path
) -> None:
    log = clinic.runtime.log
    stamps = [log.decode(n).timestamp for n in log.read(0, 10_000)]  # type: ignore[attr-defined]
    middle = sorted(stamps)[len(stamps) // 2]
    expected = sum(1 for s in stamps if s >= middle)
    summary = export_clinic(
        clinic, tmp_path / "out", ExportFormat.PARQUET, since=parse_since(middle.isoformat())
    )
    exported = Exported(tmp_path / "out", ExportFormat.PARQUET)
    assert 0 < summary.events == expected < len(stamps)
    earliest = exported.one(f"SELECT min(timestamp) FROM {exported.table('events')}")
    assert earliest >= middle


def test_since_reads_an_integer_as_a_position_and_a_date_as_midnight_utc() -> None:
    assert parse_since("120") == Since(position=120)
    assert parse_since("2026-11-01") == Since(at=datetime(2026, 11, 1, tzinfo=UTC))
    assert parse_since(None) == Since()
    with pytest.raises(ValueError, match="log position"):
        parse_since("last tuesday")


def test_an_export_into_the_same_directory_replaces_the_previous_one(
    clinic: Clinic, fmt: ExportFormat, tmp_path: Path
) -> None:
    export_clinic(clinic, tmp_path / "out", fmt, since=parse_since("5"))
    export_clinic(clinic, tmp_path / "out", fmt)
    exported = Exported(tmp_path / "out", fmt)
    head = clinic.runtime.log.head()
    assert exported.one(f"SELECT count(*) FROM {exported.table('events')}") == head
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.endswith(".partial")]


def test_a_log_written_in_many_small_batches_exports_every_event_once_in_order(
    clinic: Clinic, fmt: ExportFormat, tmp_path: Path
) -> None:
    rt = clinic.runtime
    export(
        rt.log, rt.store, clinic.tables, rt.sealer, tmp_path / "small", fmt, page=7, batch_rows=25
    )
    export_clinic(clinic, tmp_path / "whole", fmt)
    small, whole = Exported(tmp_path / "small", fmt), Exported(tmp_path / "whole", fmt)
    columns = "position, originator_id, originator_version, type, actor_id, payload"
    query = f"SELECT {columns} FROM {{}} ORDER BY rowid"
    if fmt is ExportFormat.PARQUET:
        query = f"SELECT {columns} FROM {{}}"  # a Parquet file's rows in the order written
    in_small = small.db.execute(query.format(small.table("events"))).fetchall()
    in_whole = whole.db.execute(query.format(whole.table("events"))).fetchall()
    assert in_small == in_whole
    assert [row[0] for row in in_small] == [n.id for n in rt.log.read(0, 100_000)]
