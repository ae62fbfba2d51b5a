"""The long-running commands stop cleanly on SIGINT and SIGTERM, also when they were
started with SIGINT ignored (as a non-interactive shell starts a background job): the
follower processes used to hear only SIGTERM then, and a supervisor's SIGINT waited for
its SIGKILL."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import CARELOOP, careloop_env, run_careloop
from tests.support.services import drop_schema, new_schema_name, postgres_url


@pytest.fixture
def database(tmp_path: Path) -> Iterator[dict[str, str]]:
    url, schema = postgres_url(), new_schema_name()
    env = careloop_env(
        tmp_path / "data", CARELOOP_DATABASE_URL=url, CARELOOP_DATABASE_SCHEMA=schema
    )
    assert run_careloop("db", "init", env=env).returncode == 0
    yield env
    drop_schema(url, schema)


def _ignoring_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("sent", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_projections_run_started_with_sigint_ignored_stops_on_a_signal(
    database: dict[str, str], tmp_path: Path, sent: signal.Signals
) -> None:
    with (tmp_path / "projections.log").open("wb") as log:
        process = subprocess.Popen(
            [CARELOOP, "projections", "run"],
            env=database,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_ignoring_sigint,
        )
        try:
            deadline = time.monotonic() + 60
            while b"following the log" not in (tmp_path / "projections.log").read_bytes():
                assert process.poll() is None, (tmp_path / "projections.log").read_text()
                assert time.monotonic() < deadline, "projections run did not start"
                time.sleep(0.1)
            process.send_signal(sent)
            assert process.wait(timeout=15) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
