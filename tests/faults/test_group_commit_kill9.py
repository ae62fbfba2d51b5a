"""Group commit under `kill -9` (docs/decisions/0031-group-commit.md): a process with 32
writer threads appending through the event log's group-committing recorder is killed with
SIGKILL in the middle of its groups, round after round, on one schema. Each writer owns a
few aggregates and appends units of 1-6 events to them; each event names its unit and the
unit's size; a unit is printed to stdout (`ACK ...`) only after `insert_events` returned.

Afterwards, in the stored events: every aggregate's versions are contiguous from 1, every
stored unit is whole (as many events as its size), and every acknowledged unit is stored.
A unit committed whose acknowledgement the kill swallowed is allowed (its caller never
heard back); a partial unit, a hole, or a lost acknowledged unit is not.

Run as a module, this file is the writer process: `python -m tests.faults.
test_group_commit_kill9 <database url> <schema>`.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

WRITERS = 32
AGGREGATES_PER_WRITER = 3
SECRET = "careloop-group-commit-kill9-secret-of-32-bytes"
ROOT = Path(__file__).resolve().parents[2]


def writer_process(url: str, schema: str) -> None:
    """Append forever from WRITERS threads; print each unit once it is committed."""
    from eventsourcing.persistence import StoredEvent

    from bootstrap.runtime import postgres_env
    from bootstrap.settings import Settings
    from domain.shared.eventlog import EventLog
    from domain.shared.group_commit import GroupCommitProcessRecorder

    settings = Settings(database_url=url, database_schema=schema, jwt_secret=SECRET)
    log = EventLog(env=postgres_env(settings, create_tables=False))
    recorder = log.recorder
    assert isinstance(recorder, GroupCommitProcessRecorder)
    recorder.datastore.pool.open()
    recorder.datastore.pool.resize(4, WRITERS + 4)
    # Each round's writers start aggregates of their own.
    versions: dict[uuid.UUID, int] = {}
    out = threading.Lock()

    def write(n: int) -> None:
        rng = random.Random()
        mine = [uuid.uuid4() for _ in range(AGGREGATES_PER_WRITER)]
        while True:
            aggregate = rng.choice(mine)
            start = versions.get(aggregate, 0)
            size = rng.randint(1, 6)
            unit = uuid.uuid4().hex
            state = json.dumps({"unit": unit, "size": size}).encode()
            events = [StoredEvent(aggregate, start + k, "t", state) for k in range(1, size + 1)]
            recorder.insert_events(events)
            versions[aggregate] = start + size
            with out:
                sys.stdout.write(f"ACK {unit} {aggregate} {start + size}\n")
                sys.stdout.flush()

    for n in range(WRITERS):
        threading.Thread(target=write, args=(n,), daemon=True).start()
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    threading.Event().wait()


def test_a_kill_9_mid_group_leaves_no_partial_unit_and_loses_no_acknowledged_one(
    tmp_path: Path,
) -> None:
    import psycopg
    from psycopg import sql

    from bootstrap.runtime import create_schema, postgres_env
    from bootstrap.settings import Settings
    from domain.shared.eventlog import EventLog
    from tests.faults.harness import rounds
    from tests.support.services import drop_schema, new_schema_name, postgres_url

    url = postgres_url()
    schema = new_schema_name()
    settings = Settings(database_url=url, database_schema=schema, jwt_secret=SECRET)
    create_schema(settings)
    EventLog(env=postgres_env(settings, create_tables=True)).close()
    acknowledged: dict[str, tuple[str, int]] = {}
    kills = rounds(3)
    started = time.monotonic()
    try:
        for _ in range(kills):
            acked_lines = run_and_kill(url, schema, tmp_path, after_acks=random.randint(300, 1500))
            for line in acked_lines:
                _, unit, aggregate, version = line.split()
                acknowledged[unit] = (aggregate, int(version))

        with psycopg.connect(url) as conn:
            rows = conn.execute(
                sql.SQL(
                    "SELECT originator_id, originator_version, state FROM {} "
                    "ORDER BY originator_id, originator_version"
                ).format(sql.Identifier(schema, "careloop_events"))
            ).fetchall()
    finally:
        drop_schema(url, schema)

    versions: dict[str, list[int]] = defaultdict(list)
    unit_events: Counter[str] = Counter()
    unit_size: dict[str, int] = {}
    for originator, version, state in rows:
        versions[str(originator)].append(version)
        body = json.loads(bytes(state))
        unit_events[body["unit"]] += 1
        unit_size[body["unit"]] = body["size"]
    holes = [a for a, vs in versions.items() if vs != list(range(1, len(vs) + 1))]
    partial = [u for u, n in unit_events.items() if n != unit_size[u]]
    lost = [u for u in acknowledged if u not in unit_events]
    wrong = [u for u, (a, v) in acknowledged.items() if v > len(versions.get(a, []))]
    unacknowledged = len(set(unit_events) - set(acknowledged))
    print(
        f"\ngroup commit kill -9: {kills} kills, {len(acknowledged)} acknowledged units, "
        f"{len(unit_events)} stored ({unacknowledged} committed but unacknowledged), "
        f"{len(rows)} events, {time.monotonic() - started:.1f} s"
    )
    assert len(acknowledged) >= kills * 300
    assert holes == [], "every aggregate's versions are contiguous"
    assert partial == [], "every stored unit is whole"
    assert lost == [] and wrong == [], "every acknowledged unit is stored"


def run_and_kill(url: str, schema: str, tmp_path: Path, after_acks: int) -> list[str]:
    """Start the writer process, SIGKILL it once `after_acks` units were acknowledged,
    and return every complete ACK line it printed."""
    log = (tmp_path / "writer.err").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.faults.test_group_commit_kill9", url, schema],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=log,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("CARELOOP_")},
    )
    log.close()
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60
    try:
        for raw in process.stdout:
            line = raw.decode()
            if line.startswith("ACK ") and line.endswith("\n"):
                lines.append(line)
            if len(lines) >= after_acks or time.monotonic() > deadline:
                break
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        # What the pipe still holds was printed before the kill: acknowledged too.
        rest = process.stdout.read()
        process.wait(timeout=30)
    tail = rest.decode(errors="replace").split("\n")
    lines += [line + "\n" for line in tail[:-1] if line.startswith("ACK ")]
    if len(lines) < after_acks:
        raise AssertionError((tmp_path / "writer.err").read_text()[-4000:])
    return [line for line in lines if line.count(" ") == 3]


if __name__ == "__main__":
    writer_process(sys.argv[1], sys.argv[2])
