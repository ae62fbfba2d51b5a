"""The audit trail under `kill -9`: a real `careloop serve` on SQLite is killed in the
middle of a burst of concurrent reads and commands, each with its own correlation id, and
restarted on the same data directory, round after round. Afterwards, in the stored trail:
every request that got an answer has exactly one entry, with the status it was answered
with (an entry is stored before its response is sent); no request has two; and every
tenant's chain still verifies.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from domain.audit.chain import verify
from tests.faults.harness import (
    Api,
    Clinic,
    Proc,
    embedded_runtime,
    fault_env,
    free_port,
    publish,
    rounds,
)

REQUESTS = 40


def request(api: Api, clinic: Clinic, answered: dict[str, int], lock: threading.Lock) -> None:
    """One read or command of a random patient, remembered if it was answered."""
    correlation = f"audit-kill9-{uuid.uuid4()}"
    patient, headers = random.choice(list(clinic.patients.items()))
    doctor = random.choice(list(clinic.doctors.values()))
    method, path, who, body = random.choice(
        [
            ("GET", f"/v1/patients/{patient}", doctor, None),
            ("GET", "/v1/me/notifications", headers, None),
            ("GET", f"/v1/tenants/{clinic.tenant}/patients", doctor, None),
            ("POST", "/v1/workouts", headers, {"exercises": [{"exerciseId": "e1", "name": "E"}]}),
        ]
    )
    try:
        response = api.client.request(
            method, path, headers={**who, "X-Correlation-ID": correlation}, json=body, timeout=10
        )
    except httpx.HTTPError:
        return  # no answer: the request may or may not have an entry, never two
    with lock:
        answered[correlation] = response.status_code


def test_every_answered_request_has_exactly_one_entry_across_kill_9(tmp_path: Path) -> None:
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
    answered: dict[str, int] = {}
    lock = threading.Lock()
    started = time.monotonic()
    kills = rounds(5)
    try:
        for _ in range(kills):
            with ThreadPoolExecutor(max_workers=8) as pool:
                jobs = [pool.submit(request, api, clinic, answered, lock) for _ in range(REQUESTS)]
                time.sleep(random.uniform(0.05, 0.3))  # mid-burst
                server.kill9()
                for job in jobs:
                    job.result()
            server.start()
            api.wait_healthy(server)
    finally:
        server.stop()
        api.close()

    runtime = embedded_runtime(data)
    try:
        audit = runtime.audit
        entries = [e for tenant in audit.tenants() for e in audit.all_entries(tenant)]
        per_request = Counter(e.correlation_id for e in entries)
        status = {e.correlation_id: e.status for e in entries}
        for tenant in audit.tenants():
            assert verify(audit.key, audit.all_entries(tenant), audit.head(tenant)).verified
    finally:
        runtime.close()
    ours = {c: n for c, n in per_request.items() if c and c.startswith("audit-kill9-")}
    duplicated = [c for c, n in ours.items() if n > 1]
    lost = [c for c in answered if c not in ours]
    wrong = [c for c, code in answered.items() if c in status and status[c] != code]
    publish(
        {
            "fault": "audit kill -9",
            "kills": kills,
            "answered_requests": len(answered),
            "entries_of_burst_requests": len(ours),
            "duplicates": len(duplicated),
            "lost": len(lost),
            "seconds": round(time.monotonic() - started, 1),
        }
    )
    assert answered, "the bursts were answered at all"
    assert duplicated == [] and lost == [] and wrong == [], (duplicated, lost, wrong)
