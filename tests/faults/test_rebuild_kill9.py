"""`careloop projections rebuild` killed with SIGKILL mid-rebuild, on both backends: run
again, it resumes from the position its build tables had committed (it does not start
over), and the read model it swaps in is identical to a fresh fold of the log."""

from __future__ import annotations

import random
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bootstrap.runtime import Runtime
from bootstrap.settings import Settings
from projections.directory.projection import PATIENTS, STAFF
from projections.platform.rebuild import BuildStore
from projections.platform.store import PostgresReadStore, RebuildableStore, SQLiteReadStore
from tests.faults.harness import CARELOOP, SECRET, fault_env, publish, rounds
from tests.integration.test_blue_green_rebuild import a_clinic_with_staff
from tests.support.services import drop_schema, new_schema_name, postgres_url

STAFF_EVENTS = 12_000
KILLS = rounds(2)


class Deployment:
    """A data directory or a PostgreSQL schema, and the environment of a `careloop`
    process that uses it."""

    def __init__(self, backend: str, tmp: Path) -> None:
        self.backend = backend
        self.schema = new_schema_name() if backend == "postgresql" else None
        if self.schema is None:
            self.settings = Settings(data_dir=tmp / "data", jwt_secret=SECRET)
            self.env = fault_env(CARELOOP_DATA_DIR=str(tmp / "data"))
        else:
            url = postgres_url()
            self.settings = Settings(
                database_url=url, database_schema=self.schema, jwt_secret=SECRET
            )
            self.env = fault_env(CARELOOP_DATABASE_URL=url, CARELOOP_DATABASE_SCHEMA=self.schema)

    def runtime(self) -> Runtime:
        return Runtime(self.settings, create_tables=True)

    def store(self) -> RebuildableStore:
        if self.schema is None:
            return SQLiteReadStore(self.settings.data_dir / "readmodels.sqlite3")
        return PostgresReadStore(postgres_url(), self.schema, max_size=2)

    def close(self) -> None:
        if self.schema is not None:
            drop_schema(postgres_url(), self.schema)


@pytest.fixture
def deployment(backend: str, tmp_path: Path) -> Iterator[Deployment]:
    d = Deployment(backend, tmp_path)
    try:
        yield d
    finally:
        d.close()


def table_rows(rt: Runtime) -> dict[str, dict[str, Any]]:
    return {t: {d["id"]: d for d in rt.store.list(t)} for t in (STAFF, PATIENTS)}


def test_a_rebuild_killed_mid_way_resumes_and_ends_identical_to_a_fresh_fold(
    deployment: Deployment, tmp_path: Path
) -> None:
    t0 = time.monotonic()
    rt = deployment.runtime()
    try:
        a_clinic_with_staff(rt, STAFF_EVENTS)
        rt.catch_up()
        live_before = table_rows(rt)
        head = rt.log.head()
        rt.rebuilds.start("directory")
    finally:
        rt.close()

    log = tmp_path / "rebuild.log"
    killed_at: list[int] = []
    store = deployment.store()
    for _ in range(KILLS):
        with log.open("ab") as out:
            process = subprocess.Popen(
                [CARELOOP, "projections", "rebuild", "directory"],
                env=deployment.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        position = _wait_for_progress(store, above=max(killed_at, default=0))
        # Somewhere within the next page or so: a page of 2,000 events takes ~50 ms on a
        # fast disk, and a longer pause let the rebuild finish before its kill.
        time.sleep(random.uniform(0, 0.04))
        process.kill()  # SIGKILL
        process.wait(timeout=30)
        killed_at.append(_build_position(store))
        assert killed_at[-1] >= position
    store.close()

    finished = subprocess.run(
        [CARELOOP, "projections", "rebuild", "directory"],
        env=deployment.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "resuming it" in finished.stdout

    rt = deployment.runtime()
    try:
        record = rt.rebuilds.record("directory")
        assert record is not None and record["status"] == "done"
        assert record["resumed_position"] == killed_at[-1], "it resumed, it did not start over"
        assert 0 < killed_at[-1] < head
        assert rt.store.position("directory") >= head
        rebuilt = table_rows(rt)
        assert rebuilt == live_before
        rt.rebuilds.start("directory", into="fresh")
        rt.rebuilds.drive("fresh", threading.Event())
        fresh = {t: {d["id"]: d for d in rt.store.list(f"{t}__fresh")} for t in (STAFF, PATIENTS)}
        assert rebuilt == fresh
    finally:
        rt.close()
    publish(
        {
            "fault": f"rebuild-kill9-{deployment.backend}",
            "kills": KILLS,
            "events": head,
            "killed_at_positions": killed_at,
            "rows_compared": sum(len(v) for v in rebuilt.values()),
            "differences": 0,
            "seconds": round(time.monotonic() - t0, 1),
        }
    )


def _build_position(store: RebuildableStore) -> int:
    """The position the running rebuild's build tables have committed."""
    record = next(r for r in store.rebuilds() if r["target"] == "directory")
    assert record["status"] == "rebuilding", "the rebuild finished before it was killed"
    return BuildStore(store, record["suffix"]).tracked("directory") or 0


def _wait_for_progress(store: RebuildableStore, above: int, timeout: float = 120) -> int:
    """Until the running rebuild's build tables have committed past `above`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        position = _build_position(store)
        if position > above:
            return position
        time.sleep(0.02)
    raise AssertionError(f"the rebuild never moved past {above}")
