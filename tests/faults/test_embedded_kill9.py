"""The embedded default under `kill -9`: a real `careloop serve` on SQLite with its
workers in-process, killed at 0-200 ms after the last acknowledgement of a burst of
concurrent finalizes and note saves, and restarted on the same data directory, round after
round. Afterwards: every acknowledged finalize has exactly one summary card and one push
per therapist; every noted window closed into exactly one card revision per closing,
showing the notes; no read model skipped an event.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

from tests.faults.harness import (
    Api,
    Clinic,
    Ledger,
    Proc,
    embedded_runtime,
    eventually_consistent,
    fault_env,
    free_port,
    read_models_skipped,
    report,
    rounds,
)
from tests.faults.harness import burst as run_burst

FINALIZES = 8
NOTES = 4


def test_kill_9_mid_work_loses_and_repeats_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()
    server = Proc(
        ["serve", "--port", str(port)],
        fault_env(CARELOOP_DATA_DIR=str(data)),
        tmp_path / "server.log",
    )
    api = Api(port)
    server.start()
    api.wait_healthy(server)
    clinic = Clinic.create(api)
    ledger = Ledger()
    started = time.monotonic()
    try:
        for _ in range(rounds(20)):
            burst(api, clinic, ledger)
            time.sleep(random.uniform(0, 0.2))
            server.kill9()
            server.start()
            api.wait_healthy(server)
        findings = eventually_consistent(lambda: embedded_runtime(data), clinic, ledger)
    finally:
        server.stop()
        api.close()
    assert findings.problems == [], (findings.problems[:20], server.tail())
    runtime = embedded_runtime(data)
    try:
        skipped = read_models_skipped(runtime, tmp_path)
    finally:
        runtime.close()
    assert skipped == []
    assert ledger.errors == {}, ledger.errors
    assert server.kills >= rounds(20)
    report(tmp_path, "embedded kill -9", server.kills, ledger, findings, started)


def burst(api: Api, clinic: Clinic, ledger: Ledger) -> None:
    run_burst(api, clinic, ledger, FINALIZES, NOTES)
