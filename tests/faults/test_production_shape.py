"""The production shape under faults: the API, the projection runner and the worker as
separate processes on PostgreSQL and Redis. In the middle of bursts of finalizes and note
saves: `kill -9` of the worker, `kill -9` of the projection runner, or a FLUSHALL of
Redis. Afterwards the same invariants as on the embedded default hold.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

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
    read_models_skipped,
    report,
    rounds,
)
from tests.support.services import drop_schema, new_schema_name, postgres_url, redis_url

FINALIZES = 8
NOTES = 4


@dataclass
class Deployment:
    api: Api
    server: Proc
    projections: Proc
    worker: Proc
    settings: Settings

    def runtime(self) -> Runtime:
        return Runtime(self.settings)

    @property
    def procs(self) -> list[Proc]:
        return [self.server, self.projections, self.worker]


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    url, broker = postgres_url(), redis_url()
    schema = new_schema_name()
    env = fault_env(
        CARELOOP_DATABASE_URL=url, CARELOOP_DATABASE_SCHEMA=schema, CARELOOP_REDIS_URL=broker
    )
    port = free_port()
    init = Proc(["db", "init"], env, tmp_path / "init.log")
    init.start()
    assert init.process is not None and init.process.wait(timeout=60) == 0, init.tail()
    deployment = Deployment(
        api=Api(port),
        server=Proc(["serve", "--port", str(port)], env, tmp_path / "server.log"),
        projections=Proc(["projections", "run"], env, tmp_path / "projections.log"),
        worker=Proc(["worker"], env, tmp_path / "worker.log"),
        settings=Settings(
            database_url=url, database_schema=schema, redis_url=broker, jwt_secret=SECRET
        ),
    )
    for proc in deployment.procs:
        proc.start()
    deployment.api.wait_healthy(deployment.server)
    try:
        yield deployment
    finally:
        for proc in deployment.procs:
            proc.stop()
        deployment.api.close()
        drop_schema(url, schema)


def kill_and_restart(proc: Proc) -> Callable[[], None]:
    def fault() -> None:
        proc.kill9()
        proc.start()

    return fault


def flush_redis(url: str) -> Callable[[], None]:
    return lambda: redis.Redis.from_url(url).flushall()


@pytest.mark.parametrize("fault", ["kill -9 worker", "kill -9 projections", "FLUSHALL"])
def test_faults_mid_burst_lose_and_repeat_nothing(
    deployment: Deployment, fault: str, tmp_path: Path
) -> None:
    action = {
        "kill -9 worker": kill_and_restart(deployment.worker),
        "kill -9 projections": kill_and_restart(deployment.projections),
        "FLUSHALL": flush_redis(deployment.settings.redis_url or ""),
    }[fault]
    api = deployment.api
    clinic = Clinic.create(api)
    ledger = Ledger()
    started = time.monotonic()
    faults = 0
    for _ in range(rounds(4)):
        burst(api, clinic, ledger, FINALIZES, NOTES, during=action)
        faults += 1
    findings = eventually_consistent(deployment.runtime, clinic, ledger)
    assert findings.problems == [], (
        findings.problems[:20],
        deployment.worker.tail(),
        deployment.projections.tail(),
    )
    runtime = deployment.runtime()
    try:
        deadline = time.monotonic() + 30
        while any(s.lag for s in runtime.projection_status()) and time.monotonic() < deadline:
            time.sleep(0.1)
        skipped = read_models_skipped(runtime, tmp_path)
    finally:
        runtime.close()
    assert skipped == []
    assert ledger.errors == {}, ledger.errors
    report(tmp_path, fault, faults, ledger, findings, started)
