"""`careloop export` from the command line: it runs against the embedded data directory,
prints what it wrote and how fast, and exits 0; a bad `--format` or `--since` is refused
in one clear line with a non-zero status.

The command is registered in `api/cli.py` as `app.command("export")(export)`; these
tests wrap the same function in a Typer app of their own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import typer
from typer.testing import CliRunner

from api.cli_export import export
from api.demo import load_demo
from bootstrap.runtime import Runtime
from bootstrap.settings import Settings, get_settings
from tests.support.app import SECRET


@pytest.fixture
def careloop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[typer.Typer]:
    """`careloop export` on an embedded data directory holding the demo clinic."""
    data = tmp_path / "data"
    runtime = Runtime(Settings(data_dir=data, jwt_secret=SECRET))
    try:
        load_demo(runtime)
        runtime.catch_up()
    finally:
        runtime.close()
    for name in ("CARELOOP_DATABASE_URL", "CARELOOP_DATABASE_SCHEMA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CARELOOP_DATA_DIR", str(data))
    monkeypatch.setenv("CARELOOP_JWT_SECRET", SECRET)
    get_settings.cache_clear()
    app = typer.Typer()
    app.command("export")(export)
    app.command("noop", hidden=True)(lambda: None)  # a group, so `export` is a subcommand
    yield app
    get_settings.cache_clear()


def head_of(data: Path) -> int:
    runtime = Runtime(Settings(data_dir=data, jwt_secret=SECRET))
    try:
        return runtime.log.head()
    finally:
        runtime.close()


def test_exporting_to_duckdb_prints_the_counts_and_exits_0(
    careloop: typer.Typer, tmp_path: Path
) -> None:
    out = tmp_path / f"export-{uuid.uuid4().hex[:6]}"
    result = CliRunner().invoke(careloop, ["export", "--format", "duckdb", "--out", str(out)])
    assert result.exit_code == 0, result.output
    head = head_of(tmp_path / "data")
    assert f"exported {head:,} events (up to position {head})" in result.output
    assert "events/s" in result.output
    assert "read-model tables" in result.output
    with duckdb.connect(str(out / "careloop.duckdb"), read_only=True) as db:
        assert db.execute("SELECT count(*) FROM events").fetchone() == (head,)


def test_exporting_to_parquet_since_a_position_writes_only_the_later_events(
    careloop: typer.Typer, tmp_path: Path
) -> None:
    out = tmp_path / "parquet"
    args = ["export", "--format", "parquet", "--out", str(out), "--since", "100"]
    result = CliRunner().invoke(careloop, args)
    assert result.exit_code == 0, result.output
    head = head_of(tmp_path / "data")
    assert f"exported {head - 100:,} events" in result.output
    with duckdb.connect() as db:
        events = db.execute(
            f"SELECT min(position), count(*) FROM read_parquet('{out}/events.parquet')"
        ).fetchall()
    assert events == [(101, head - 100)]
    assert (out / "patient_directory.parquet").exists()


def test_an_unknown_format_is_refused_with_the_formats_there_are(
    careloop: typer.Typer, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        careloop, ["export", "--format", "csv", "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 2
    said = " ".join(result.output.replace("│", " ").split())  # unwrapped from Typer's box
    assert "Invalid value for '--format'" in said
    assert "'csv' is not one of 'parquet', 'duckdb'" in said
    assert not (tmp_path / "out").exists()


def test_a_since_that_is_neither_a_position_nor_a_date_is_refused(
    careloop: typer.Typer, tmp_path: Path
) -> None:
    args = ["export", "--format", "parquet", "--out", str(tmp_path / "out"), "--since", "soon"]
    result = CliRunner().invoke(careloop, args)
    assert result.exit_code == 2
    assert "--since takes a log position (an integer) or an ISO date" in result.output
    assert not (tmp_path / "out").exists()
