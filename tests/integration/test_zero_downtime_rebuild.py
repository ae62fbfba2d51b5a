"""Zero downtime, on PostgreSQL: a client reads a read model in a tight loop while that
read model is rebuilt from 100,000 events and swapped in, and new staff keep arriving.
Every answer is a 200 with complete rows, no answer ever lacks a row an earlier one had
(so the count never goes backwards), and the live read model kept taking the new staff
while the rebuild ran."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from api.main import create_app
from domain.shared.context import Role
from tests.integration.test_blue_green_rebuild import a_clinic_with_staff, register_staff
from tests.support.app import PLATFORM, auth, make_runtime

EVENTS = 100_000
ADMIN = auth(Role.PLATFORM_ADMIN, PLATFORM)


@dataclass
class Reads:
    statuses: list[int] = field(default_factory=list)
    answers: list[set[str]] = field(default_factory=list)
    incomplete: list[dict[str, Any]] = field(default_factory=list)
    during_rebuild: int = 0


def test_reads_in_a_tight_loop_during_a_rebuild_of_100k_events_always_get_everything(
    tmp_path: Path,
) -> None:
    with make_runtime("postgresql", tmp_path) as rt:
        a_clinic_with_staff(rt, EVENTS)
        watched = a_clinic_with_staff(rt, 20)
        app = create_app(rt, run_workers=True)
        with TestClient(app) as client:
            deadline = time.monotonic() + 300
            while rt.store.position("directory") < rt.log.head():
                assert time.monotonic() < deadline
                time.sleep(0.1)

            stop = threading.Event()
            reads = Reads()
            written: list[int] = []

            def read() -> None:
                while not stop.is_set():
                    response = client.get(f"/v1/tenants/{watched}/staff", headers=ADMIN)
                    reads.statuses.append(response.status_code)
                    if response.status_code != 200:
                        continue
                    rows = response.json()
                    reads.incomplete += [
                        r for r in rows if not (r["firstName"] and r["lastName"] and r["email"])
                    ]
                    reads.answers.append({r["id"] for r in rows})
                    progress = rt.rebuilds.progress("directory")
                    if progress is not None and progress.status == "rebuilding":
                        reads.during_rebuild += 1

            def write() -> None:
                k = 1_000_000
                while not stop.is_set():
                    register_staff(rt, watched, k, 1)
                    written.append(k)
                    k += 1
                    stop.wait(0.05)

            threads = [threading.Thread(target=read), threading.Thread(target=write)]
            for t in threads:
                t.start()
            try:
                started = client.post("/v1/admin/projections/directory/rebuild", headers=ADMIN)
                assert started.status_code == 202
                live_during: list[int] = []
                while True:
                    progress = rt.rebuilds.progress("directory")
                    assert progress is not None
                    if progress.status == "done":
                        break
                    live_during.append(rt.store.position("directory"))
                    assert time.monotonic() < deadline, "the rebuild never finished"
                    time.sleep(0.2)
                time.sleep(0.5)  # reads on the swapped-in tables
            finally:
                stop.set()
                for t in threads:
                    t.join(timeout=30)
            while rt.store.position("directory") < rt.log.head():
                time.sleep(0.05)
            final = client.get(f"/v1/tenants/{watched}/staff", headers=ADMIN).json()

    assert set(reads.statuses) == {200}
    assert not reads.incomplete
    assert reads.during_rebuild > 10, "reads ran while the rebuild did"
    for earlier, later in zip(reads.answers, reads.answers[1:], strict=False):
        assert earlier <= later, "an answer lacked a row an earlier answer had"
    assert len(live_during) > 1 and live_during[-1] > live_during[0], (
        "the live read model followed the log during the rebuild"
    )
    assert len(final) == 20 + len(written)
