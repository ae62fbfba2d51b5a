"""Feedback-loop benchmark: finalize throughput over HTTP, command to card, timer lateness.

Run from the repository root (docs/performance.md, "Feedback loop", explains every figure):

    .venv/bin/python -m bench.feedback             # full run, about ten minutes
    .venv/bin/python -m bench.feedback --quick     # smoke run, about two minutes
    .venv/bin/python -m bench.feedback --api-workers 1   # `careloop serve --workers 1`
    .venv/bin/python bench/feedback.py --database-url postgresql://... --redis-url redis://...

The processes are production's: the API is `careloop serve` in a subprocess, the worker
(process managers, deadline scheduler, Dramatiq workers on Redis) is a second
subprocess (this file with --worker-host), the projection runner a third (`careloop
projections run`), and this process plays the clients. Every run
works in its own schema (`bench_<random>`) and Dramatiq namespace (`careloop-bench-<random>`)
and removes both at the end.

1. Finalize throughput: workouts started and recorded over HTTP, then finalized by 32
   clients, with the worker stopped (the API alone) and again with it following the log
   (issue 14's P1b, >= 1,000/s, with `careloop serve`'s API processes: its default or
   --api-workers); beside it the same command through the CommandBus in this process,
   and bench/store.py's bare eventsourcing create+save at 32 writers, measured in this run.
2. Command to card: flagged workouts finalized one at a time; from each answer until its
   PATIENT_FEEDBACK_SUMMARY card is in the conversations read model (polled every ~1 ms).
   Then P3 (issue 14, p99 <= 50 ms): calm workouts finalized one at a time, from the
   commit (its NOTIFY, as a LISTENing connection here receives it) until the
   workout_session read model's tracking row passes the command's position; beside it
   the answer -> `GET /v1/workouts/{id}?minPosition=` time a client sees.
3. Timer lateness: one coalescing window per finalized workout (a note by the patient's
   doctor, saved through the domain layer), all open before the first falls due; each
   note gets the window length that puts its deadline on an even schedule (10,000 windows
   of the default 300 s close at 33.3/s in a steady state). Lateness is the Closed event's
   `recordedAt` minus its deadline (the deadline fires, the window elapses, the note-card
   process manager posts the card and closes it: all of it is in the figure).
   Then a burst of windows due at one instant shows the worker's capacity.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as `python bench/feedback.py`, the repository root is not on sys.path yet.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import http.client
import itertools
import json
import math
import os
import platform
import secrets
import select
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from importlib.metadata import version
from typing import IO, Any
from urllib.parse import urlsplit

import psycopg
import redis
from eventsourcing.utils import get_topic
from psycopg import sql
from rich.console import Console
from rich.table import Table

from api.auth import mint_token
from bench.store import MAX_WRITERS, bare_system, measure
from bootstrap.runtime import Runtime
from bootstrap.settings import DEFAULT_API_WORKERS, Settings
from domain.shared.context import Actor, CommandContext, Role
from domain.shared.eventlog import metadata_of
from domain.shared.unit_of_work import UnitOfWork
from domain.workouts.application import Workouts
from domain.workouts.feedback import summary_card_id
from domain.workouts.window import FeedbackWindow
from projections.conversations.projection import MESSAGES
from projections.platform.store import PostgresReadStore

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
SECRET = "careloop-bench-secret-of-at-least-32-bytes"
CLIENTS = MAX_WRITERS  # 32, as bench/store.py's many-writer figure
LATENESS_TARGET_MS = 1000.0
BURST_TARGET = 500.0  # windows closed per second, all due at one instant (issue 7)
CARD_TARGET_MS = 100.0  # command -> card visible, p99 (issue 7)
FINALIZE_TARGET = 1000.0  # P1b: finalize/s over HTTP, worker following (issue 14)
VISIBLE_TARGET_MS = 50.0  # P3: command commit -> its read model shows it, p99 (issue 14)
VISIBLE_MODEL = "workout_session"  # what GET /v1/workouts/{id}?minPosition= reads
QUIET_SECONDS = 0.2  # no commit for this long before each P3 sample
POLL_SECONDS = 0.001  # the card poll: one read-store lookup every ~1.3 ms
CARD_GAP_SECONDS = 0.05  # between two card samples, so each starts on a quiet loop
NOTE_WRITERS = 4  # threads saving the timer benchmark's notes
NOTE_BATCH = 50  # notes per command
NOTE_RATE_ESTIMATE = 200.0  # notes saved per second, to place the first deadline
WINDOW_MARGIN_SECONDS = 10.0  # and a margin after the last note is expected
MIN_WINDOW_SECONDS = 2.0  # a note saved late still gets a window this long
DEFAULT_WINDOW = Settings.model_fields["feedback_window_seconds"].default
# 10,000 windows open at once, each open for the default window, close at this rate.
STEADY_DUE_RATE = 10_000 / DEFAULT_WINDOW
QUEUES = ("deadlines",)  # the one actor's queue (workers/actors.py)
PLATFORM_ADMIN = uuid.UUID("00000000-0000-4000-a000-0000000000be")

SQUAT: dict[str, Any] = {
    "exerciseId": "squat",
    "name": "Squat",
    "prescribed": {"sets": 3, "reps": 10, "painTarget": 3},
}
PLANK: dict[str, Any] = {"exerciseId": "plank", "name": "Plank", "prescribed": {"sets": 2}}
CALM: dict[str, Any] = {"actual": {"sets": 3, "reps": 10}, "pain": 2, "exertion": 4}
HARD: dict[str, dict[str, Any]] = {
    "squat": {"actual": {"sets": 3, "reps": 8}, "pain": 8, "exertion": 6},
    "plank": {
        "actual": {"sets": 2, "durationSeconds": 25},
        "pain": 2,
        "exertion": 9,
        "patientNotes": "Wobbly on the left side",
    },
}


@dataclass(frozen=True)
class Config:
    database_url: str
    redis_url: str
    schema: str
    namespace: str
    quick: bool
    doctors: int
    patients: int  # spread over the doctors; every workout belongs to one of them
    finalizes: int  # workouts finalized per throughput run (three runs)
    cards: int  # command -> card samples
    windows: int  # coalescing windows open at once
    timer_spread: float  # seconds over which the windows' deadlines fall due
    burst: int  # windows due at one instant, for the worker's capacity
    sweep_interval: float
    bare_rounds: int
    bare_seconds: float
    bare_warmup: float
    api_workers: int | None = None  # `careloop serve --workers`; None: its default
    p3_samples: int = 200  # command commit -> read model samples (P3)

    @property
    def settings(self) -> Settings:
        return Settings(
            database_url=self.database_url,
            database_schema=self.schema,
            redis_url=self.redis_url,
            jwt_secret=SECRET,
        )


@dataclass(frozen=True)
class Row:
    measure: str
    figure: float
    unit: str
    target: str = ""
    reference: str = ""
    missed: bool = False


# -- small helpers ------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, q in [0, 100]."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def fmt(value: float) -> str:
    return f"{value:,.2f}" if value < 10 else f"{value:,.0f}"


def headers(role: Role, user: uuid.UUID, tenant: uuid.UUID | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(SECRET, user, role, tenant, 24 * 3600)}"}


def wall(value: str) -> float:
    """An event's `recordedAt` as seconds since the epoch, comparable with time.time()."""
    return datetime.fromisoformat(value).timestamp()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# -- CPU accounting (Linux /proc; "not measured" elsewhere) ----------------------------------

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
SERVICES = {"postgres": "PostgreSQL", "redis-server": "Redis"}


def _processes() -> dict[int, tuple[str, float]]:
    """Every process: pid -> (command name, CPU seconds used so far)."""
    found = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        name, rest = stat.split(" (", 1)[1].rsplit(") ", 1)
        fields = rest.split()
        found[int(entry.name)] = (name, (int(fields[11]) + int(fields[12])) / TICK)
    return found


def _busy_seconds() -> float:
    """CPU seconds the whole machine has been busy, all cores together."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / TICK  # less idle and iowait


@dataclass(frozen=True)
class CpuSnapshot:
    at: float
    busy: float
    processes: dict[int, tuple[str, float]]
    ours: dict[int, str]  # pid -> role, for this benchmark's own processes


def children(pid: int) -> list[int]:
    """The live child processes of `pid` that run Python code of ours (uvicorn's workers;
    not multiprocessing's resource tracker)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(") ", 1)[1].split()[1]) == pid and b"resource_tracker" not in cmdline:
            found.append(int(entry.name))
    return sorted(found)


def listens(pid: int, port: int) -> bool:
    """Process `pid` holds a TCP socket listening on `port` (Linux /proc)."""
    try:
        inodes = {
            os.readlink(fd)[8:-1]
            for fd in Path(f"/proc/{pid}/fd").iterdir()
            if os.readlink(fd).startswith("socket:[")
        }
        table = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return False
    for line in table:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "0A" and fields[9] in inodes:
            return True
    return False


def cpu_snapshot(pids: dict[str, int]) -> CpuSnapshot | None:
    try:
        busy, processes = _busy_seconds(), _processes()
    except OSError:
        return None
    return CpuSnapshot(time.monotonic(), busy, processes, {p: n for n, p in pids.items()})


def cpu_report(before: CpuSnapshot | None, after: CpuSnapshot | None) -> str:
    """The cores each part kept busy between two snapshots: this benchmark's processes,
    PostgreSQL's and Redis's, and anything else on the machine (other load skews figures)."""
    if before is None or after is None or after.at <= before.at:
        return "CPU: not measured"
    elapsed = after.at - before.at
    used: dict[str, float] = {}
    for pid, (name, seconds) in after.processes.items():
        start = before.processes.get(pid, (name, 0.0))[1]
        role = after.ours.get(pid) or SERVICES.get(name, "other")
        used[role] = used.get(role, 0.0) + (seconds - start) / elapsed
    roles = [*after.ours.values(), *SERVICES.values(), "other"]
    busy = (after.busy - before.busy) / elapsed
    # Processes that exited meanwhile and interrupt time are nobody's.
    used["unattributed"] = max(0.0, busy - sum(used.values()))
    return f"CPU in cores (of {os.cpu_count()}): busy {busy:.2f} = " + ", ".join(
        f"{role} {used.get(role, 0.0):.2f}" for role in [*roles, "unattributed"]
    )


def other_load(seconds: float = 2.0) -> float:
    """Cores busy with anything at all, before this benchmark starts anything."""
    before = cpu_snapshot({})
    time.sleep(seconds)
    after = cpu_snapshot({})
    if before is None or after is None:
        return 0.0
    return (after.busy - before.busy) / (after.at - before.at)


# -- the processes -------------------------------------------------------------------------


class Services:
    """`careloop serve` and the worker host, each a subprocess of this one."""

    def __init__(self, cfg: Config, logs: Path) -> None:
        self.cfg = cfg
        self.logs = logs
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.server: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.projections: subprocess.Popen[bytes] | None = None
        self._log_files: list[IO[bytes]] = []

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "CARELOOP_DATABASE_URL": self.cfg.database_url,
            "CARELOOP_DATABASE_SCHEMA": self.cfg.schema,
            "CARELOOP_REDIS_URL": self.cfg.redis_url,
            "CARELOOP_JWT_SECRET": SECRET,
            "CARELOOP_SWEEP_INTERVAL_SECONDS": str(self.cfg.sweep_interval),
            "PYTHONUNBUFFERED": "1",
        }

    def _log(self, name: str) -> IO[bytes]:
        handle = (self.logs / f"{name}.log").open("ab")
        self._log_files.append(handle)
        return handle

    def db_init(self) -> None:
        subprocess.run(
            [sys.executable, "-m", "api.cli", "db", "init"],
            cwd=ROOT,
            env=self.env(),
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def start_server(self) -> int:
        workers = [] if self.cfg.api_workers is None else ["--workers", str(self.cfg.api_workers)]
        self.server = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--port", str(self.port), *workers],
            cwd=ROOT,
            env=self.env(),
            stdout=subprocess.DEVNULL,  # uvicorn's access log, one line per request
            stderr=self._log("server"),
        )
        deadline = time.monotonic() + 120  # several processes start slowly on 2 cores
        while True:
            if self.server.poll() is not None:
                raise RuntimeError(f"the API server exited; see {self.logs}/server.log")
            with suppress(OSError), Http(self.base_url, timeout=5) as client:
                if client.request("GET", "/health", {})[0] == 200 and self._all_listening():
                    return self.server.pid
            if time.monotonic() > deadline:
                raise RuntimeError(f"the API server did not start; see {self.logs}")
            time.sleep(0.2)

    def start_worker(self) -> int:
        """The worker host and, beside it, the projection runner: production's two
        follower processes (`careloop worker`, `careloop projections run`)."""
        self.projections = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "projections", "run"],
            cwd=ROOT,
            env=self.env(),
            stdout=subprocess.DEVNULL,
            stderr=self._log("projections"),
        )
        self.worker = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker-host", self.cfg.namespace],
            cwd=ROOT,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=self._log("worker"),
        )
        assert self.worker.stdout is not None
        ready, _, _ = select.select([self.worker.stdout], [], [], 60)
        if not ready or self.worker.stdout.readline().strip() != b"ready":
            raise RuntimeError(f"the worker did not start; see {self.logs}/worker.log")
        return self.worker.pid

    @staticmethod
    def _stop(process: subprocess.Popen[bytes] | None) -> None:
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def stop_worker(self) -> None:
        self._stop(self.worker)
        self._stop(self.projections)
        self.worker = self.projections = None

    def close(self) -> None:
        self.stop_worker()
        self._stop(self.server)
        self.server = None
        for handle in self._log_files:
            handle.close()

    def expected_api_processes(self) -> int:
        if self.cfg.api_workers is not None:
            return self.cfg.api_workers
        return int(os.environ.get("CARELOOP_API_WORKERS") or DEFAULT_API_WORKERS)

    def _all_listening(self) -> bool:
        """Every worker process listens: each has a socket of its own (SO_REUSEPORT), and
        one still starting would leave the first to take every client's connection."""
        expected = self.expected_api_processes()
        if expected == 1:
            return True
        listening = [p for p in self.api_processes() if listens(p, self.port)]
        return len(listening) == expected

    def api_processes(self) -> list[int]:
        """The processes that serve requests: `careloop serve` itself, or with several
        workers the processes its supervisor spawned."""
        if self.server is None:
            return []
        return children(self.server.pid) or [self.server.pid]

    def pids(self) -> dict[str, int]:
        pids = {"clients": os.getpid()}
        if self.server is not None:
            pids["API server"] = self.server.pid
            for n, pid in enumerate(children(self.server.pid)):
                pids[f"API worker {n + 1}"] = pid
        if self.worker is not None:
            pids["worker"] = self.worker.pid
        if self.projections is not None:
            pids["projections"] = self.projections.pid
        return pids


def run_worker_host(namespace: str) -> int:
    """The worker subprocess: what `careloop worker` runs, on a Dramatiq namespace of its
    own (the projections run beside it, in `careloop projections run`)."""
    from dramatiq.brokers.redis import RedisBroker

    from workers.host import WorkerHost

    parent = os.getppid()
    settings = Settings()
    runtime = Runtime(settings, create_tables=False)
    broker = RedisBroker(url=settings.redis_url, namespace=namespace)
    host = WorkerHost(runtime, broker)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    host.start()
    print("ready", flush=True)
    try:
        while not stop.wait(1.0) and os.getppid() == parent:
            pass  # until told to stop, or orphaned
    finally:
        host.stop()
        runtime.close()
        broker.close()
    return 0


# -- driving the API -----------------------------------------------------------------------


class Http:
    """One keep-alive HTTP/1.1 connection with JSON bodies. The standard library's client
    costs ~0.15 ms of CPU per request where httpx costs ~1.2 ms: on 2 cores, httpx clients
    would take a third of the machine from the server and PostgreSQL they measure."""

    def __init__(self, base_url: str, timeout: float = 60) -> None:
        parts = urlsplit(base_url)
        self.host, self.port, self.timeout = parts.hostname or "127.0.0.1", parts.port, timeout
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def __enter__(self) -> Http:
        return self

    def __exit__(self, *_: object) -> None:
        self.conn.close()

    def request(
        self, method: str, path: str, headers: dict[str, str], body: Any = None
    ) -> tuple[int, Any]:
        payload = b"" if body is None else json.dumps(body).encode()
        sent = {**headers, "Content-Type": "application/json"}
        try:
            self.conn.request(method, path, body=payload, headers=sent)
            response = self.conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # The server closed an idle keep-alive connection: once more on a new one.
            self.conn.close()
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self.conn.request(method, path, body=payload, headers=sent)
            response = self.conn.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else None


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    headers: dict[str, str]
    json: Any = None


@dataclass(frozen=True)
class Timed:
    started: float
    ended: float
    body: Any


def drive(base_url: str, calls: Sequence[Call], clients: int = CLIENTS) -> list[Timed]:
    """Send `calls` from `clients` threads, each with its own keep-alive connection and
    taking the next call as soon as its last one is answered."""
    results: list[Timed | None] = [None] * len(calls)
    cursor = itertools.count()
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with Http(base_url) as client:
                while not errors:
                    with lock:
                        index = next(cursor)
                    if index >= len(calls):
                        return
                    call = calls[index]
                    started = time.perf_counter()
                    status, body = client.request(call.method, call.path, call.headers, call.json)
                    ended = time.perf_counter()
                    if status >= 300:
                        raise RuntimeError(f"{call.method} {call.path}: {status} {body}")
                    results[index] = Timed(started, ended, body)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(min(clients, len(calls)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return [r for r in results if r is not None]


def steady_rate(timings: Sequence[Timed]) -> float:
    """Completions per second between the 10th and the 90th percentile of completion
    times: connection set-up and the ragged end stay out of the figure."""
    ends = sorted(t.ended for t in timings)
    lo, hi = len(ends) // 10, len(ends) - len(ends) // 10 - 1
    return (hi - lo) / (ends[hi] - ends[lo])


def latency_ms(timings: Sequence[Timed], q: float) -> float:
    return percentile([(t.ended - t.started) * 1000 for t in timings], q)


@dataclass(frozen=True)
class WorkoutRef:
    id: uuid.UUID
    patient: uuid.UUID
    doctor: uuid.UUID


@dataclass
class Clinic:
    tenant: uuid.UUID
    doctor_of: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)  # patient -> doctor

    def patient_headers(self, patient: uuid.UUID) -> dict[str, str]:
        return headers(Role.PATIENT, patient, self.tenant)

    def patient_ctx(self, patient: uuid.UUID) -> CommandContext:
        actor = Actor(user_id=patient, role=Role.PATIENT, tenant_id=self.tenant)
        return CommandContext(actor=actor, causation_id="bench")


def set_up_clinic(cfg: Config, base_url: str) -> Clinic:
    """A tenant with feedbackNotifications on, approved doctors, and patients each
    invited by one doctor, all over HTTP."""
    admin = headers(Role.PLATFORM_ADMIN, PLATFORM_ADMIN, None)
    [created] = drive(base_url, [Call("POST", "/v1/tenants", admin, {"name": "Bench clinic"})])
    tenant = uuid.UUID(created.body["id"])
    flag = f"/v1/tenants/{tenant}/feature-flags/feedbackNotifications"
    drive(base_url, [Call("PUT", flag, admin, {"enabled": True})])
    staff = drive(
        base_url,
        [
            Call(
                "POST",
                f"/v1/tenants/{tenant}/staff",
                admin,
                {
                    "type": "DOCTOR",
                    "firstName": f"Doctor{d}",
                    "lastName": "Bench",
                    "email": f"doctor{d}@bench.example",
                },
            )
            for d in range(cfg.doctors)
        ],
    )
    doctors = [uuid.UUID(s.body["id"]) for s in staff]
    drive(base_url, [Call("POST", f"/v1/staff/{d}/approve", admin) for d in doctors])
    inviters = [doctors[p % len(doctors)] for p in range(cfg.patients)]
    invited = drive(
        base_url,
        [
            Call(
                "POST",
                "/v1/patients/invite",
                headers(Role.DOCTOR, inviter, tenant),
                {
                    "firstName": f"Patient{p}",
                    "lastName": "Bench",
                    "email": f"patient{p}@bench.example",
                },
            )
            for p, inviter in enumerate(inviters)
        ],
    )
    clinic = Clinic(tenant)
    for inviter, timed in zip(inviters, invited, strict=True):
        clinic.doctor_of[uuid.UUID(timed.body["patientId"])] = inviter
    return clinic


def start_workouts(
    base_url: str, clinic: Clinic, count: int, hard: bool
) -> tuple[list[WorkoutRef], list[Timed], list[Timed]]:
    """`count` workouts over HTTP, started and recorded (not finalized), round-robin over
    the patients; hard ones have flagged exercises. Returns the timings of both phases."""
    patients = list(clinic.doctor_of)
    owners = [patients[i % len(patients)] for i in range(count)]
    exercises = [SQUAT, PLANK] if hard else [SQUAT]
    started = drive(
        base_url,
        [
            Call("POST", "/v1/workouts", clinic.patient_headers(p), {"exercises": exercises})
            for p in owners
        ],
    )
    refs = [
        WorkoutRef(uuid.UUID(t.body["workoutId"]), p, clinic.doctor_of[p])
        for p, t in zip(owners, started, strict=True)
    ]
    records = HARD if hard else {"squat": CALM}
    recorded = drive(
        base_url,
        [
            Call(
                "PUT",
                f"/v1/workouts/{w.id}/exercises/{exercise}",
                clinic.patient_headers(w.patient),
                body,
            )
            for w in refs
            for exercise, body in records.items()
        ],
    )
    return refs, started, recorded


def finalize_calls(clinic: Clinic, workouts: Sequence[WorkoutRef]) -> list[Call]:
    return [
        Call("POST", f"/v1/workouts/{w.id}/finalize", clinic.patient_headers(w.patient))
        for w in workouts
    ]


# -- the domain layer, for bulk set-up and the in-process reference -------------------------


def bulk_workouts(
    runtime: Runtime, clinic: Clinic, count: int, finalize: bool, per_command: int = 100
) -> list[WorkoutRef]:
    """`count` calm workouts through the domain layer, `per_command` per command, each
    started and recorded, and finalized if asked."""
    patients = list(clinic.doctor_of)
    refs: list[WorkoutRef] = []

    def many(patient: uuid.UUID, n: int, uow: UnitOfWork) -> dict[str, Any]:
        for _ in range(n):
            workout = runtime.workouts.start(uow, [SQUAT], None, None).workout_id
            runtime.workouts.record(uow, workout, "squat", CALM["actual"], 2, 4, None)
            if finalize:
                runtime.workouts.finalize(uow, workout)
            refs.append(WorkoutRef(workout, patient, clinic.doctor_of[patient]))
        return {}

    for batch, start in enumerate(range(0, count, per_command)):
        patient = patients[batch % len(patients)]
        n = min(per_command, count - start)
        runtime.commands.run(clinic.patient_ctx(patient), partial(many, patient, n))
    return refs


def finalize_in_process(
    runtime: Runtime, clinic: Clinic, workouts: Sequence[WorkoutRef]
) -> list[Timed]:
    """The finalize command without HTTP: CommandBus.run from CLIENTS threads."""
    results: list[Timed | None] = [None] * len(workouts)
    cursor = itertools.count()
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            while not errors:
                with lock:
                    index = next(cursor)
                if index >= len(workouts):
                    return
                w = workouts[index]
                started = time.perf_counter()
                runtime.commands.run(
                    clinic.patient_ctx(w.patient),
                    partial(runtime.workouts.finalize, workout_id=w.id),
                )
                results[index] = Timed(started, time.perf_counter(), None)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return [r for r in results if r is not None]


# -- waiting for the loop --------------------------------------------------------------------


class Loop:
    """What this process reads of the running system: the log, the read store, Redis."""

    def __init__(self, cfg: Config, runtime: Runtime) -> None:
        self.cfg = cfg
        self.runtime = runtime
        self.redis = redis.Redis.from_url(cfg.redis_url)

    def pending_messages(self) -> int:
        """Messages enqueued or delayed and not yet acknowledged, over every queue."""
        ns = self.cfg.namespace
        return sum(
            int(self.redis.hlen(f"{ns}:{q}.msgs")) + int(self.redis.hlen(f"{ns}:{q}.DQ.msgs"))
            for q in QUEUES
        )

    def dead_letters(self) -> int:
        """Messages Dramatiq gave up on after their retries."""
        ns = self.cfg.namespace
        return sum(int(self.redis.hlen(f"{ns}:{q}.XQ.msgs")) for q in QUEUES)

    def behind(self) -> list[str]:
        """Read models and process managers not at the head."""
        return [s.name for s in self.runtime.follower_status() if s.lag]

    def wait_idle(self, timeout: float, what: str) -> float:
        """Until every projection and the dispatcher are at the head, no message is
        pending, and the head stayed put; returns the seconds waited."""
        started = time.monotonic()
        quiet = 0
        while quiet < 3:
            head = self.runtime.log.head()
            idle = not self.behind() and not self.pending_messages()
            quiet = quiet + 1 if idle and self.runtime.log.head() == head else 0
            if time.monotonic() - started > timeout:
                raise RuntimeError(
                    f"{what}: not idle after {timeout:.0f} s (behind: {self.behind()}, "
                    f"{self.pending_messages()} messages pending)"
                )
            time.sleep(0.2)
        return time.monotonic() - started

    def wait_position(self, name: str, position: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.runtime.store.position(name) < position:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not reach position {position}")
            time.sleep(0.1)

    def maintenance(self) -> tuple[int, int]:
        """(checkpoints, autovacuum and autoanalyze runs on this schema) so far."""
        store = self.runtime.store
        assert isinstance(store, PostgresReadStore)
        with store.pool.connection() as conn:
            conn.execute("SELECT pg_stat_clear_snapshot()")
            checkpoints = conn.execute(
                "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter"
            ).fetchone()
            vacuums = conn.execute(
                "SELECT coalesce(sum(autovacuum_count + autoanalyze_count), 0) "
                "FROM pg_stat_user_tables WHERE schemaname = %s",
                (self.cfg.schema,),
            ).fetchone()
        return int(checkpoints[0]) if checkpoints else 0, int(vacuums[0]) if vacuums else 0

    def activity(self) -> tuple[int, int]:
        """(commits to the event log, writes of tracking rows) so far: PostgreSQL's
        statistics, which lag by up to a second."""
        store = self.runtime.store
        assert isinstance(store, PostgresReadStore)
        with store.pool.connection() as conn:
            conn.execute("SELECT pg_stat_clear_snapshot()")
            rows = conn.execute(
                "SELECT relname, n_tup_ins, n_tup_upd FROM pg_stat_user_tables "
                "WHERE schemaname = %s",
                (self.cfg.schema,),
            ).fetchall()
        tracking = sum(int(upd) for name, _, upd in rows if str(name).endswith("_tracking"))
        events = sum(int(ins) for name, ins, _ in rows if name == "careloop_events")
        return events, tracking

    def sessions(self) -> int:
        """PostgreSQL sessions ever opened to this database (by anyone)."""
        store = self.runtime.store
        assert isinstance(store, PostgresReadStore)
        with store.pool.connection() as conn:
            conn.execute("SELECT pg_stat_clear_snapshot()")
            row = conn.execute(
                "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
            ).fetchone()
        return int(row[0]) if row else 0

    def open_windows(self, opened: int, after: int) -> int:
        """Windows of the `opened` since position `after` not closed yet: a count of the
        Closed events in the log (an index-free count, not the documents)."""
        store = self.runtime.store
        assert isinstance(store, PostgresReadStore)
        query = sql.SQL("SELECT count(*) FROM {} WHERE topic = %s AND notification_id > %s").format(
            sql.Identifier(self.cfg.schema, "careloop_events")
        )
        with store.pool.connection() as conn:
            row = conn.execute(query, (get_topic(FeedbackWindow.Closed), after)).fetchone()
        return opened - (int(row[0]) if row else 0)

    def delete_keys(self) -> int:
        keys = list(self.redis.scan_iter(match=f"{self.cfg.namespace}:*", count=1000))
        for start in range(0, len(keys), 500):
            self.redis.delete(*keys[start : start + 500])
        return len(keys)

    def close(self) -> None:
        self.redis.close()


# -- 1. finalize throughput ------------------------------------------------------------------


@dataclass
class Throughput:
    bare: list[float] = field(default_factory=list)
    alone: list[Timed] = field(default_factory=list)
    in_process: list[Timed] = field(default_factory=list)
    with_worker: list[Timed] = field(default_factory=list)
    started: list[Timed] = field(default_factory=list)
    recorded: list[Timed] = field(default_factory=list)
    cpu_alone: str = ""
    cpu_in_process: str = ""
    cpu_with_worker: str = ""
    drain_seconds: float = 0.0
    api_processes: int = 1


def bench_bare(cfg: Config, console: Console) -> list[float]:
    """bench/store.py's bare eventsourcing figure: Application.save of one new aggregate,
    MAX_WRITERS threads, its own measure() and rounds, on this run's schema."""
    rates = []
    for n in range(cfg.bare_rounds):
        with bare_system(Settings(database_url=cfg.database_url, database_schema=cfg.schema)) as f:
            rates.append(measure(f, MAX_WRITERS, cfg.bare_warmup, cfg.bare_seconds))
        console.log(
            f"bare eventsourcing create+save, {MAX_WRITERS} writers, round {n + 1}: "
            f"{rates[-1]:,.0f}/s"
        )
    return rates


def timed_run(
    services: Services, loop: Loop, run: Callable[[], list[Timed]]
) -> tuple[list[Timed], str]:
    """`run`'s timings, and where the CPU went meanwhile."""
    sessions = loop.sessions()
    before = cpu_snapshot(services.pids())
    timings = run()
    cpu = cpu_report(before, cpu_snapshot(services.pids()))
    time.sleep(1.0)  # PostgreSQL's statistics catch up
    opened = loop.sessions() - sessions
    return timings, f"{cpu}; {opened / len(timings):.2f} new PostgreSQL sessions per command"


# -- 2. command -> card ----------------------------------------------------------------------


@dataclass(frozen=True)
class CardSample:
    workout: uuid.UUID
    request_ms: float  # finalize request, sent to answered
    visible_ms: float  # answered to card in the read model
    answered_at: float  # wall clock
    visible_at: float  # wall clock


def bench_cards(
    base_url: str, runtime: Runtime, clinic: Clinic, workouts: Sequence[WorkoutRef]
) -> list[CardSample]:
    """Finalize flagged workouts one at a time; after each answer, poll the conversations
    read model for the workout's summary card."""
    samples = []
    with Http(base_url, timeout=30) as client:
        for w in workouts:
            time.sleep(CARD_GAP_SECONDS)
            key = str(summary_card_id(w.id))
            path, auth = f"/v1/workouts/{w.id}/finalize", clinic.patient_headers(w.patient)
            sent = time.perf_counter()
            status, body = client.request("POST", path, auth)
            answered, answered_at = time.perf_counter(), time.time()
            if status != 200:
                raise RuntimeError(f"finalize: {status} {body}")
            while runtime.store.get(MESSAGES, key) is None:
                if time.perf_counter() - answered > 30:
                    raise RuntimeError(f"no summary card for workout {w.id} after 30 s")
                time.sleep(POLL_SECONDS)
            visible, visible_at = time.perf_counter(), time.time()
            samples.append(
                CardSample(
                    w.id,
                    (answered - sent) * 1000,
                    (visible - answered) * 1000,
                    answered_at,
                    visible_at,
                )
            )
    return samples


def card_breakdown(runtime: Runtime, samples: Sequence[CardSample]) -> dict[str, list[float]]:
    """From the log's `recordedAt`: how long the process manager took to commit the card
    after the answer, and the conversations projection to show it after that commit."""
    committed, projected = [], []
    for s in samples:
        posted = runtime.log.stream(summary_card_id(s.workout))[0]
        at = wall(metadata_of(posted)["recordedAt"])
        committed.append((at - s.answered_at) * 1000)
        projected.append((s.visible_at - at) * 1000)
    return {"committed": committed, "projected": projected}


# -- 2b. command commit -> read model (P3) ----------------------------------------------------


@dataclass(frozen=True)
class VisibleSample:
    commit_to_visible_ms: float  # the commit's NOTIFY received -> tracking row at its position
    answer_to_visible_ms: float  # the client's answer -> the same (0 when already there)
    answer_to_get_ms: float  # the answer -> GET /v1/workouts/{id}?minPosition= answered


class CommitClock:
    """When commits happen: a LISTEN on the event log's channel, as the projection runner
    has, timestamping every NOTIFY (PostgreSQL sends them at COMMIT) with perf_counter."""

    def __init__(self, database_url: str, channel: str) -> None:
        self.conn = psycopg.connect(database_url, autocommit=True)
        self.conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        self.times: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            for _ in self.conn.notifies(timeout=0.2):
                self.times.append(time.perf_counter())

    def quiet(self, seconds: float, timeout: float = 10.0) -> None:
        """Until no commit for `seconds` (the reactions to the last sample are done), so
        that the next commit this clock sees is the next sample's own."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            last = self.times[-1] if self.times else 0.0
            if time.perf_counter() - last >= seconds:
                return
            time.sleep(0.005)

    def first_after(self, instant: float, timeout: float = 5.0) -> float:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            found = [t for t in self.times[-64:] if t >= instant]
            if found:
                return found[0]
            time.sleep(0.0002)
        raise RuntimeError("no NOTIFY for a committed command")

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=2)
        self.conn.close()


def bench_visible(
    cfg: Config, base_url: str, runtime: Runtime, clinic: Clinic, workouts: Sequence[WorkoutRef]
) -> list[VisibleSample]:
    """P3: finalize one workout at a time over HTTP; from its commit (the NOTIFY) until the
    workout read model's tracking row passes the command's position (polled every ~0.5
    ms), and then once more through the API: GET ...?minPosition= from the answer."""
    samples = []
    clock = CommitClock(cfg.database_url, runtime.event_channel)
    try:
        with Http(base_url, timeout=30) as client:
            for w in workouts:
                # Each finalize sets off the worker's summary card: let it commit first.
                clock.quiet(QUIET_SECONDS)
                auth = clinic.patient_headers(w.patient)
                sent = time.perf_counter()
                status, body = client.request("POST", f"/v1/workouts/{w.id}/finalize", auth)
                answered = time.perf_counter()
                if status != 200:
                    raise RuntimeError(f"finalize: {status} {body}")
                position = int(body["position"])
                while runtime.store.position(VISIBLE_MODEL) < position:
                    if time.perf_counter() - answered > 30:
                        raise RuntimeError(f"{VISIBLE_MODEL} did not reach {position} in 30 s")
                    time.sleep(0.0005)
                visible = time.perf_counter()
                committed = clock.first_after(sent)
                path = f"/v1/workouts/{w.id}?minPosition={position}"
                status, body = client.request("GET", path, auth)
                if status != 200:
                    raise RuntimeError(f"GET {path}: {status} {body}")
                got = time.perf_counter()
                samples.append(
                    VisibleSample(
                        (visible - committed) * 1000,
                        max(0.0, visible - answered) * 1000,
                        (got - visible) * 1000 + max(0.0, visible - answered) * 1000,
                    )
                )
    finally:
        clock.close()
    return samples


# -- 3. timer lateness ------------------------------------------------------------------------


@dataclass
class Timers:
    windows: int
    lateness_ms: list[float] = field(default_factory=list)
    fired_by: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    unclosed: int = 0
    peak_open: int = 0
    created_rate: float = 0.0  # notes saved per second
    due_rate: float = 0.0  # deadlines per second, as scheduled
    fire_rate: float = 0.0  # windows closed per second, first deadline to last close
    scan_ms: float = 0.0  # one DeadlineView.due(): the scheduler's look at what is due
    cpu: str = ""


def doctor_batches(workouts: Sequence[WorkoutRef], size: int) -> list[list[WorkoutRef]]:
    """The workouts in batches of one doctor each (a command acts for one doctor), the
    doctors taking turns, so that consecutive batches interleave the whole clinic."""
    by_doctor: dict[uuid.UUID, list[WorkoutRef]] = {}
    for w in workouts:
        by_doctor.setdefault(w.doctor, []).append(w)
    queues = [[ws[i : i + size] for i in range(0, len(ws), size)] for ws in by_doctor.values()]
    return [b for round_ in itertools.zip_longest(*queues) for b in round_ if b]


def open_windows_due(
    runtime: Runtime, clinic: Clinic, batches: Sequence[Sequence[WorkoutRef]], due: list[float]
) -> tuple[list[float], float]:
    """Save one note per workout, by its patient's doctor, so that the window it opens
    closes at `due[i]` (wall clock) for the i-th workout of the batches in order: each note
    gets the window length `due[i] - now` (Workouts(window_seconds), as the setting would
    give). NOTE_WRITERS threads, one command per batch. Returns each window's opening time
    and the notes saved per second."""
    cursor = itertools.count()
    lock = threading.Lock()
    errors: list[BaseException] = []
    offsets = list(itertools.accumulate((len(b) for b in batches), initial=0))
    opened: list[float] = [0.0] * offsets[-1]

    def notes(index: int, uow: UnitOfWork) -> dict[str, Any]:
        now = uow.now.timestamp()
        for k, w in enumerate(batches[index]):
            seconds = max(MIN_WINDOW_SECONDS, due[offsets[index] + k] - now)
            Workouts(seconds).save_note(uow, w.id, "squat", "Keep the knee over the toes.")
        return {}

    def work() -> None:
        try:
            while not errors:
                with lock:
                    index = next(cursor)
                if index >= len(batches):
                    return
                actor = Actor(batches[index][0].doctor, Role.DOCTOR, clinic.tenant)
                ctx = CommandContext(actor=actor, causation_id="bench")
                runtime.commands.run(ctx, partial(notes, index))
                at = time.time()
                for k in range(len(batches[index])):
                    opened[offsets[index] + k] = at
        except BaseException as e:
            errors.append(e)

    started = time.perf_counter()
    threads = [threading.Thread(target=work, daemon=True) for _ in range(NOTE_WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return opened, len(opened) / (time.perf_counter() - started)


def closed_windows(runtime: Runtime, after: int, event: type[Any] | None = None) -> list[Any]:
    """Every FeedbackWindow.Closed (or `event`) event after position `after`."""
    topics = [get_topic(event or FeedbackWindow.Closed)]
    events, position, head = [], after, runtime.log.head()
    while position < head:
        page = runtime.log.read(position, 500, stop=head, topics=topics)
        if not page:
            break
        events += [runtime.log.decode(n) for n in page]
        position = page[-1].id
    return events


def peak_open(opened: Sequence[float], closed: Sequence[float]) -> int:
    """The most windows open at one moment, from their opening and closing times."""
    moments = sorted([(t, 1) for t in opened] + [(t, -1) for t in closed])
    return max(itertools.accumulate(delta for _, delta in moments), default=0)


def time_scan(runtime: Runtime) -> float:
    """Milliseconds of one DeadlineView.due(): what the scheduler reads on each look (an
    index range of the due rows only)."""
    samples = []
    for _ in range(3):
        started = time.perf_counter()
        runtime.views.deadlines.due(runtime.clock.now())
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def bench_windows(
    console: Console,
    services: Services,
    loop: Loop,
    clinic: Clinic,
    workouts: Sequence[WorkoutRef],
    spread: float,
) -> Timers:
    """Open one window per workout, all before the first deadline, with deadlines evenly
    over `spread` seconds (0: all at one instant); with the worker firing them, wait for
    every window to close and read each one's lateness from its Closed event."""
    runtime = loop.runtime
    result = Timers(len(workouts))
    batches = doctor_batches(workouts, NOTE_BATCH)
    n = len(workouts)
    first = time.time() + n / NOTE_RATE_ESTIMATE + WINDOW_MARGIN_SECONDS
    due = [first + spread * i / n for i in range(n)]
    result.due_rate = n / spread if spread else float("inf")
    after = runtime.log.head()
    console.log(
        f"opening {n:,} windows, due "
        + (f"at {result.due_rate:,.1f}/s over {spread:g} s" if spread else "at one instant")
        + f", the first in {first - time.time():.0f} s"
    )
    opened, result.created_rate = open_windows_due(runtime, clinic, batches, due)
    loop.wait_position("deadlines", runtime.log.head(), 120)
    result.scan_ms = time_scan(runtime)
    console.log(
        f"{loop.open_windows(n, after):,} windows open (notes saved at "
        f"{result.created_rate:,.0f}/s; one due-deadline query {result.scan_ms:,.1f} ms); "
        "first deadline in "
        f"{max(0.0, first - time.time()):.0f} s"
    )
    time.sleep(max(0.0, first - time.time()))
    before = cpu_snapshot(services.pids())
    activity, maintenance = loop.activity(), loop.maintenance()
    give_up = time.time() + spread + 120
    while (remaining := loop.open_windows(n, after)) and time.time() < give_up:
        time.sleep(0.5)
    result.cpu = cpu_report(before, cpu_snapshot(services.pids()))
    time.sleep(1.0)  # PostgreSQL's statistics catch up
    events, tracking = (b - a for a, b in zip(activity, loop.activity(), strict=True))
    checkpoints, vacuums = (b - a for a, b in zip(maintenance, loop.maintenance(), strict=True))
    result.cpu += (
        f"; per window closed: {events / max(1, n):.1f} events appended, "
        f"{tracking / max(1, n):.1f} tracking-row writes; meanwhile {checkpoints} "
        f"checkpoint(s), {vacuums} autovacuum/autoanalyze run(s) on this schema"
    )
    result.unclosed = remaining
    closed = closed_windows(runtime, after)
    closed_at = []
    for event in closed:
        meta = metadata_of(event)
        at = wall(meta["recordedAt"])
        result.lateness_ms.append((at - event.deadline.timestamp()) * 1000)
        result.fired_by[str(meta["causationId"]).split(":")[0]] += 1
        result.outcomes[event.outcome] += 1
        closed_at.append(at)
    result.peak_open = peak_open(opened, closed_at)
    # Where the lateness comes from: the deadline firing (Elapsed), then the card.
    elapsed_at = {
        e.originator_id: wall(metadata_of(e)["recordedAt"])
        for e in closed_windows(runtime, after, FeedbackWindow.Elapsed)
    }
    firing = [
        (elapsed_at[e.originator_id] - e.deadline.timestamp()) * 1000
        for e in closed
        if e.originator_id in elapsed_at
    ]
    carding = [
        (wall(metadata_of(e)["recordedAt"]) - elapsed_at[e.originator_id]) * 1000
        for e in closed
        if e.originator_id in elapsed_at
    ]
    if firing:
        console.log(
            f"deadline -> Elapsed p50 {percentile(firing, 50):,.0f} ms p99 "
            f"{percentile(firing, 99):,.0f} ms; Elapsed -> card p50 "
            f"{percentile(carding, 50):,.0f} ms p99 {percentile(carding, 99):,.0f} ms"
        )
    if closed:
        span = max(closed_at) - min(e.deadline.timestamp() for e in closed)
        result.fire_rate = len(closed) / span if span > 0 else 0.0
    console.log(
        f"{len(closed):,} windows closed: lateness p50 {percentile(result.lateness_ms, 50):,.0f} "
        f"ms, p99 {percentile(result.lateness_ms, 99):,.0f} ms; {result.cpu}"
        if closed
        else "no window closed"
    )
    if spread and closed:
        console.log(worst_stretch(closed, result.lateness_ms))
    return result


def worst_stretch(closed: Sequence[Any], lateness_ms: Sequence[float], seconds: int = 10) -> str:
    """Where the late windows were: the `seconds`-long stretch of deadlines with the
    highest p99 lateness, and how many windows were over LATENESS_TARGET_MS."""
    first = min(e.deadline.timestamp() for e in closed)
    stretches: dict[int, list[float]] = {}
    for event, late in zip(closed, lateness_ms, strict=True):
        stretches.setdefault(int((event.deadline.timestamp() - first) // seconds), []).append(late)
    worst = max(stretches, key=lambda k: percentile(stretches[k], 99))
    over = sum(1 for late in lateness_ms if late > LATENESS_TARGET_MS)
    return (
        f"{over:,} windows later than {LATENESS_TARGET_MS:,.0f} ms; the worst {seconds} s of "
        f"deadlines (+{worst * seconds} s): p50 {percentile(stretches[worst], 50):,.0f} ms, "
        f"p99 {percentile(stretches[worst], 99):,.0f} ms; p99 of each {seconds} s: "
        + " ".join(f"{percentile(stretches[k], 99):.0f}" for k in sorted(stretches))
    )


# -- the run ---------------------------------------------------------------------------------


@dataclass
class Results:
    throughput: Throughput
    cards: list[CardSample]
    visible: list[VisibleSample]
    breakdown: dict[str, list[float]]
    timers: Timers
    burst: Timers


def run(cfg: Config, console: Console, logs: Path) -> Results:
    services = Services(cfg, logs)
    with ExitStack() as stack:
        stack.callback(services.close)
        services.db_init()
        tp = Throughput()
        tp.bare = bench_bare(cfg, console)

        runtime = Runtime(cfg.settings, create_tables=False)
        stack.callback(runtime.close)
        loop = Loop(cfg, runtime)
        stack.callback(loop.close)
        stack.callback(lambda: console.log(f"deleted {loop.delete_keys()} Redis keys"))
        stack.callback(services.stop_worker)  # before the keys go

        services.start_server()
        tp.api_processes = len(services.api_processes())
        services.start_worker()
        clinic = set_up_clinic(cfg, services.base_url)
        loop.wait_idle(120, "set-up")
        console.log(f"clinic over HTTP: {cfg.doctors} doctors, {len(clinic.doctor_of)} patients")

        # 1. Finalize throughput. With the worker stopped (the API alone): start and record
        # the workouts over HTTP, finalize them over HTTP, and finalize others through the
        # CommandBus in this process (no HTTP). Then with the worker process following.
        services.stop_worker()
        url = services.base_url
        alone, tp.started, tp.recorded = start_workouts(url, clinic, cfg.finalizes, hard=False)
        console.log(
            f"workouts over HTTP, {CLIENTS} clients, API alone: start "
            f"{steady_rate(tp.started):,.0f}/s, record {steady_rate(tp.recorded):,.0f}/s"
        )
        hard, _, _ = start_workouts(url, clinic, cfg.cards, hard=True)
        following = bulk_workouts(runtime, clinic, cfg.finalizes, finalize=False)
        in_process = bulk_workouts(runtime, clinic, cfg.finalizes, finalize=False)
        unfinished = bulk_workouts(runtime, clinic, cfg.p3_samples, finalize=False)
        calls = finalize_calls(clinic, alone)
        tp.alone, tp.cpu_alone = timed_run(services, loop, lambda: drive(url, calls))
        console.log(
            f"finalize over HTTP, API alone: {steady_rate(tp.alone):,.0f}/s; {tp.cpu_alone}"
        )
        tp.in_process, tp.cpu_in_process = timed_run(
            services, loop, lambda: finalize_in_process(runtime, clinic, in_process)
        )
        console.log(
            f"finalize in process (CommandBus): {steady_rate(tp.in_process):,.0f}/s; "
            f"{tp.cpu_in_process}"
        )
        services.start_worker()
        tp.drain_seconds = loop.wait_idle(600, "summaries of the finalized workouts")
        console.log(
            f"worker restarted; drained {2 * cfg.finalizes:,} summaries in {tp.drain_seconds:.1f} s"
        )
        calls = finalize_calls(clinic, following)
        tp.with_worker, tp.cpu_with_worker = timed_run(services, loop, lambda: drive(url, calls))
        console.log(
            f"finalize over HTTP, worker following: {steady_rate(tp.with_worker):,.0f}/s; "
            f"{tp.cpu_with_worker}"
        )
        loop.wait_idle(600, "summaries of the finalized workouts")

        # 2. Command -> card, one flagged workout at a time.
        cards = bench_cards(services.base_url, runtime, clinic, hard)
        breakdown = card_breakdown(runtime, cards)
        console.log(
            f"command -> card over {len(cards)} workouts: p50 "
            f"{percentile([c.visible_ms for c in cards], 50):.1f} ms"
        )
        loop.wait_idle(120, "card pushes")

        # 2b. Command commit -> read model (P3), one workout at a time, worker following.
        visible = bench_visible(cfg, services.base_url, runtime, clinic, unfinished)
        console.log(
            f"command commit -> {VISIBLE_MODEL} over {len(visible)} workouts: p50 "
            f"{percentile([v.commit_to_visible_ms for v in visible], 50):.1f} ms, p99 "
            f"{percentile([v.commit_to_visible_ms for v in visible], 99):.1f} ms"
        )

        # 3. Timer lateness: one window per finalized workout, every one open before the
        # first falls due; then a burst due at one instant, for the worker's capacity.
        finalized = [*alone, *following, *in_process]
        needed = cfg.windows + cfg.burst
        if len(finalized) < needed:
            finalized += bulk_workouts(runtime, clinic, needed - len(finalized), True)
            loop.wait_idle(600, "summaries of the extra workouts")
        steady = finalized[: cfg.windows]
        timers = bench_windows(console, services, loop, clinic, steady, cfg.timer_spread)
        loop.wait_idle(300, "note cards and pushes")
        burst = finalized[cfg.windows : needed]
        bursted = bench_windows(console, services, loop, clinic, burst, 0.0)
        if dead := loop.dead_letters():
            console.log(f"[bold red]{dead} messages were dead-lettered[/]")
    return Results(tp, cards, visible, breakdown, timers, bursted)


# -- report ----------------------------------------------------------------------------------


def rows_of(cfg: Config, r: Results) -> list[Row]:
    tp = r.throughput
    bare = statistics.median(tp.bare)
    alone = steady_rate(tp.alone)
    following = steady_rate(tp.with_worker)
    card_ms = [c.visible_ms for c in r.cards]
    visible_ms = [v.commit_to_visible_ms for v in r.visible]
    visible_p99 = percentile(visible_ms, 99)
    t, b = r.timers, r.burst
    missed_burst = b.fire_rate < BURST_TARGET or b.unclosed > 0
    late = t.lateness_ms
    late_p99 = percentile(late, 99) if late else float("inf")
    missed_timer = late_p99 > LATENESS_TARGET_MS or t.unclosed > 0
    c = f"{CLIENTS} clients"
    rows = [
        Row(
            f"finalize-workout over HTTP, {c}, API alone",
            alone,
            "commands/s",
            "",
            f"bare eventsourcing {fmt(bare)}/s ({alone / bare:.2f}x)",
        ),
        Row(
            f"  latency p50 / p99 at {c}",
            latency_ms(tp.alone, 50),
            "ms",
            "",
            f"p99 {latency_ms(tp.alone, 99):,.0f} ms",
        ),
        Row(
            f"P1b finalize-workout over HTTP, {c}, {tp.api_processes} API process"
            + ("es" if tp.api_processes > 1 else "")
            + ", worker following",
            following,
            "commands/s",
            f">= {FINALIZE_TARGET:,.0f}" + (" MISSED" if following < FINALIZE_TARGET else " met"),
            f"bare eventsourcing {fmt(bare)}/s ({following / bare:.2f}x); in process "
            f"{fmt(steady_rate(tp.in_process))}/s; p99 {latency_ms(tp.with_worker, 99):,.0f} ms",
            following < FINALIZE_TARGET,
        ),
        Row(
            f"finalize-workout in process (CommandBus, no HTTP), {CLIENTS} threads",
            steady_rate(tp.in_process),
            "commands/s",
            "",
            "reference",
        ),
        Row(
            f"bare eventsourcing create+save, {MAX_WRITERS} writers (bench/store.py)",
            bare,
            "commands/s",
            "",
            "reference",
        ),
        Row(
            f"start-workout / record-exercise over HTTP, {c}, API alone",
            steady_rate(tp.started),
            "commands/s",
            "",
            f"record {fmt(steady_rate(tp.recorded))}/s",
        ),
        Row(
            f"P3 command commit -> {VISIBLE_MODEL} read model shows it, p99",
            visible_p99,
            "ms",
            f"<= {VISIBLE_TARGET_MS:,.0f} ms"
            + (" MISSED" if visible_p99 > VISIBLE_TARGET_MS else " met"),
            f"p50 {percentile(visible_ms, 50):,.1f} ms, max {max(visible_ms):,.0f} ms; "
            f"{len(visible_ms)} workouts, one at a time, worker following",
            visible_p99 > VISIBLE_TARGET_MS,
        ),
        Row(
            "  answer -> GET /v1/workouts/{id}?minPosition= answered, p99",
            percentile([v.answer_to_get_ms for v in r.visible], 99),
            "ms",
            "",
            "answer -> tracking row p99 "
            f"{percentile([v.answer_to_visible_ms for v in r.visible], 99):,.1f} ms",
        ),
        Row(
            "command -> summary card visible in the read model, p50",
            percentile(card_ms, 50),
            "ms",
            "",
            f"{len(card_ms)} workouts, one at a time",
        ),
        Row(
            "command -> summary card visible in the read model, p99",
            percentile(card_ms, 99),
            "ms",
            f"<= {CARD_TARGET_MS:,.0f} ms"
            + (" MISSED" if percentile(card_ms, 99) > CARD_TARGET_MS else " met"),
            f"max {max(card_ms):,.0f} ms",
            percentile(card_ms, 99) > CARD_TARGET_MS,
        ),
        Row(
            "  of which process manager (answer -> card committed), p50",
            percentile(r.breakdown["committed"], 50),
            "ms",
            "",
            f"p99 {percentile(r.breakdown['committed'], 99):,.0f} ms",
        ),
        Row(
            "  of which projection (card committed -> visible), p50",
            percentile(r.breakdown["projected"], 50),
            "ms",
            "",
            f"p99 {percentile(r.breakdown['projected'], 99):,.0f} ms",
        ),
        Row(
            f"timer lateness p50, {t.windows:,} open windows",
            percentile(late, 50) if late else float("nan"),
            "ms",
            "",
            f"due at {t.due_rate:,.1f}/s over {cfg.timer_spread:,.0f} s",
        ),
        Row(
            f"timer lateness p99, {t.windows:,} open windows",
            late_p99,
            "ms",
            f"<= {LATENESS_TARGET_MS:,.0f} ms" + (" MISSED" if missed_timer else " met"),
            f"max {max(late):,.0f} ms" if late else "no window closed",
            missed_timer,
        ),
        Row(
            "  windows closed by the note-card process manager",
            t.fired_by["event"],
            "windows",
            "",
            f"peak open {t.peak_open:,}; "
            + ", ".join(f"{k} {v:,}" for k, v in sorted(t.outcomes.items()))
            + (f"; {t.unclosed:,} NOT CLOSED" if t.unclosed else ""),
            t.unclosed > 0,
        ),
        Row(
            f"  one due-deadline query (DeadlineView.due) beside {t.windows:,} open windows",
            t.scan_ms,
            "ms",
            "",
            f"resent after {cfg.sweep_interval:g} s if still due",
        ),
        Row(
            f"burst: {b.windows:,} windows due at one instant, closed per second",
            b.fire_rate,
            "windows/s",
            f">= {BURST_TARGET:,.0f}" + (" MISSED" if missed_burst else " met"),
            f"lateness p50 {percentile(b.lateness_ms, 50):,.0f} ms, "
            f"max {max(b.lateness_ms):,.0f} ms"
            + (f"; {b.unclosed:,} NOT CLOSED" if b.unclosed else "")
            if b.lateness_ms
            else "no window closed",
            missed_burst,
        ),
    ]
    return rows


def render(rows: Sequence[Row], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column, justify in (
        ("measure", "left"),
        ("figure", "right"),
        ("unit", "left"),
        ("target", "left"),
        ("reference/floor", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        style = "bold red" if r.missed else None
        table.add_row(r.measure, fmt(r.figure), r.unit, r.target, r.reference, style=style)
    return table


# -- main ------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> Config | str:
    parser = argparse.ArgumentParser(prog="bench.feedback", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts, for smoke runs")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("CARELOOP_BENCH_DATABASE_URL", DEFAULT_DATABASE_URL),
        help=f"PostgreSQL URL (default {DEFAULT_DATABASE_URL} or $CARELOOP_BENCH_DATABASE_URL)",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("CARELOOP_BENCH_REDIS_URL", DEFAULT_REDIS_URL),
        help=f"Redis URL (default {DEFAULT_REDIS_URL} or $CARELOOP_BENCH_REDIS_URL)",
    )
    parser.add_argument("--windows", type=int, help="open windows (10,000; quick 1,000)")
    parser.add_argument(
        "--due-rate",
        type=float,
        help=f"windows falling due per second (default {STEADY_DUE_RATE:.1f}: 10,000 open "
        f"windows of the default {DEFAULT_WINDOW:g} s, in a steady state)",
    )
    parser.add_argument("--burst", type=int, help="windows due at one instant (1,000; quick 200)")
    parser.add_argument(
        "--api-workers",
        type=int,
        help="API processes (`careloop serve --workers`; default: its own default)",
    )
    parser.add_argument("--worker-host", metavar="NAMESPACE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker_host:
        return str(args.worker_host)
    quick: bool = args.quick
    windows: int = args.windows or (1_000 if quick else 10_000)
    due_rate: float = args.due_rate or STEADY_DUE_RATE
    token = secrets.token_hex(4)
    return Config(
        database_url=args.database_url,
        redis_url=args.redis_url,
        schema=f"bench_{token}",
        namespace=f"careloop-bench-{token}",
        quick=quick,
        doctors=4 if quick else 16,
        patients=32 if quick else 256,
        finalizes=400 if quick else 3_000,
        cards=30 if quick else 200,
        windows=windows,
        timer_spread=windows / due_rate,
        burst=args.burst or (200 if quick else 1_000),
        sweep_interval=Settings.model_fields["sweep_interval_seconds"].default,
        bare_rounds=1 if quick else 3,
        bare_seconds=2.0 if quick else 4.0,
        bare_warmup=0.5 if quick else 1.5,
        api_workers=args.api_workers,
        p3_samples=50 if quick else 300,
    )


def machine(cfg: Config) -> str:
    """bench/store.py's machine line, plus Redis and Dramatiq."""
    with psycopg.connect(cfg.database_url, autocommit=True) as conn:
        pg: dict[str, str] = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN "
                "('server_version', 'synchronous_commit', 'shared_buffers')"
            ).fetchall()
        )
    client = redis.Redis.from_url(cfg.redis_url)
    try:
        redis_version = str(client.info("server")["redis_version"])
    finally:
        client.close()
    try:
        revision = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        revision = "unknown"
    return (
        f"code {revision} | nproc {os.cpu_count()} | PostgreSQL {pg['server_version']} "
        f"(synchronous_commit={pg['synchronous_commit']}, "
        f"shared_buffers={int(pg['shared_buffers']) * 8 // 1024} MB) | Redis {redis_version} | "
        f"Python {platform.python_version()} | eventsourcing {version('eventsourcing')} | "
        f"Dramatiq {version('dramatiq')} | "
        f"uvicorn {version('uvicorn')}"
    )


def drop_schema(cfg: Config) -> None:
    with psycopg.connect(cfg.database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(cfg.schema)))


@contextmanager
def fresh_schema(cfg: Config) -> Iterator[None]:
    try:
        yield
    finally:
        drop_schema(cfg)


def main(argv: Sequence[str] | None = None) -> int:
    parsed = parse_args(argv)
    if isinstance(parsed, str):
        return run_worker_host(parsed)
    cfg = parsed
    console = Console(width=max(Console().width, 150))  # a wide table, even in a pipe
    console.print(
        f"[bold]CareLoop feedback-loop benchmark[/] ({'quick' if cfg.quick else 'full'} run)"
    )
    console.print(machine(cfg))
    if (load := other_load()) > 0.2:
        console.print(f"[yellow]{load:.2f} cores busy before the run: figures will be low[/]")
    console.print(
        f"schema {cfg.schema} | Dramatiq namespace {cfg.namespace} | {CLIENTS} clients | "
        f"{cfg.doctors} doctors, {cfg.patients} patients | {cfg.finalizes:,} finalizes per "
        f"throughput run | {cfg.cards} cards | {cfg.windows:,} windows due over "
        f"{cfg.timer_spread:,.0f} s, then {cfg.burst:,} at once | sweep every "
        f"{cfg.sweep_interval:g} s"
    )
    logs = Path(tempfile.mkdtemp(prefix="careloop-bench-"))
    try:
        with fresh_schema(cfg):
            results = run(cfg, console, logs)
    except BaseException:
        console.print(f"[bold red]failed;[/] the server's and the worker's logs are in {logs}")
        raise
    shutil.rmtree(logs, ignore_errors=True)
    rows = rows_of(cfg, results)
    console.print(render(rows, "Figures"))
    missed = [r.measure for r in rows if r.missed]
    verdict = "[bold red]MISSED: " + "; ".join(missed) if missed else "[bold green]all targets met"
    console.print(verdict)
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
