"""PostgreSQL restarted in the middle of a burst: a private cluster from the machine's
PostgreSQL binaries (initdb and pg_ctl run as the `postgres` user), the production shape
on it. While the database is down the API answers 503 problem+json, never 500; afterwards
every process resumes by itself, and no acknowledged write is lost.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bootstrap.runtime import Runtime
from bootstrap.settings import Settings
from tests.faults.harness import (
    SECRET,
    Api,
    Clinic,
    Ledger,
    Proc,
    burst,
    eventually_consistent,
    fault_env,
    free_port,
    report,
    rounds,
    started_workout,
)
from tests.support.services import redis_url, require

PG_BIN = Path("/usr/lib/postgresql/15/bin")
NEW = {"exercises": [{"exerciseId": "squat", "name": "Squat", "prescribed": {"sets": 3}}]}


@dataclass
class Cluster:
    data: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def ctl(self, *args: str) -> None:
        as_postgres(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data / "db"),
            "-l",
            str(self.data / "server.log"),
            "-o",
            f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1",
            "-w",
            *args,
        )


def as_postgres(*command: str) -> None:
    subprocess.run(
        ["runuser", "-u", "postgres", "--", *command],
        check=True,
        capture_output=True,
        timeout=120,
    )


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    present = (PG_BIN / "initdb").exists() and shutil.which("runuser") is not None
    require(present, f"no PostgreSQL binaries in {PG_BIN} (or no runuser)")
    data = Path(tempfile.mkdtemp(prefix="careloop-pg-", dir="/tmp"))
    shutil.chown(data, "postgres", "postgres")
    cluster = Cluster(data, free_port())
    as_postgres(str(PG_BIN / "initdb"), "-D", str(data / "db"), "-A", "trust", "-U", "postgres")
    cluster.ctl("start")
    try:
        yield cluster
    finally:
        try:
            cluster.ctl("stop", "-m", "immediate")
        finally:
            shutil.rmtree(data, ignore_errors=True)


def test_a_database_restart_mid_burst_answers_503_and_loses_nothing(
    cluster: Cluster, tmp_path: Path
) -> None:
    broker = redis_url()
    env = fault_env(CARELOOP_DATABASE_URL=cluster.url, CARELOOP_REDIS_URL=broker)
    init = Proc(["db", "init"], env, tmp_path / "init.log")
    init.start()
    assert init.process is not None and init.process.wait(timeout=60) == 0, init.tail()
    port = free_port()
    api = Api(port)
    procs = [
        Proc(["serve", "--port", str(port)], env, tmp_path / "server.log"),
        Proc(["projections", "run"], env, tmp_path / "projections.log"),
        Proc(["worker"], env, tmp_path / "worker.log"),
    ]
    for proc in procs:
        proc.start()
    settings = Settings(database_url=cluster.url, redis_url=broker, jwt_secret=SECRET)
    started = time.monotonic()
    try:
        api.wait_healthy(procs[0])
        clinic = Clinic.create(api)
        ledger = Ledger()
        patient = next(iter(clinic.patients.values()))
        probe = started_workout(api, patient)
        down: Counter[int] = Counter()
        for _ in range(rounds(1)):
            restarted = threading.Event()

            def restart(restarted: threading.Event = restarted) -> None:
                time.sleep(0.1)  # let part of the burst commit first
                cluster.ctl("stop", "-m", "fast")
                # While it is down, reads and writes are refused cleanly.
                for _ in range(2):
                    for method, path in (
                        ("GET", f"/v1/workouts/{probe}"),
                        ("POST", "/v1/workouts"),
                    ):
                        response = api.client.request(method, path, headers=patient, json=NEW)
                        down[response.status_code] += 1
                        if response.status_code == 503:
                            assert response.headers["content-type"] == "application/problem+json"
                    time.sleep(0.2)
                cluster.ctl("start")
                restarted.set()

            burst(api, clinic, ledger, 8, 4, during=restart)
            assert restarted.is_set()
        # Resumed by itself: a burst after the restart is acknowledged in full.
        refused = sum(ledger.errors.values())
        burst(api, clinic, ledger, 8, 4)
        assert sum(ledger.errors.values()) == refused, ledger.errors
        findings = eventually_consistent(lambda: Runtime(settings), clinic, ledger, timeout=90)
    finally:
        for proc in procs:
            proc.stop()
        api.close()
    assert 500 not in down and set(down) == {503}, down
    assert findings.problems == [], (findings.problems[:20], procs[2].tail(), procs[1].tail())
    assert all(proc.process is not None and proc.kills == 0 for proc in procs)
    assert set(ledger.errors) <= {"finalize 503", "note 503"}, ledger.errors
    report(tmp_path, "PostgreSQL restart", rounds(1), ledger, findings, started)
