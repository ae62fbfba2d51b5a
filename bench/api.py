"""API benchmark (issue 8): read latency alone and beside 200 concurrent `?minPosition=`
waits, and the server's memory during eight unauthenticated 200 MB POSTs; and P5 of issue
14: a conversation's messages at a fixed rate.

    .venv/bin/python -m bench.api [--database-url postgresql://...] [--requests 2000]
    .venv/bin/python -m bench.api --only p5 [--p5-rate 300] [--p5-seconds 60]

P5: `GET /v1/conversations/{id}/messages` (a page of 50, mostly after a message id spread
over the conversation) in an open loop at a fixed rate, on a conversation of 2,000
messages, against `careloop serve` embedded (SQLite, its projections and workers in the
process) and on PostgreSQL (`careloop serve` beside `careloop projections run`). Requests
leave on a fixed timetable whatever the answers do, and each latency runs from the time
its request was due, not from when it was sent, so a server that falls behind shows its
queue (no coordinated omission). The reference is the same GET one at a time (closed
loop): the service time without queueing.

The processes are production's: `careloop serve` (API only) and, while the clinic is
seeded, `careloop projections run`, on a schema of their own (removed at the end). The
projection runner is then stopped, so every read model stays behind the log: a wait for
the head lasts its full timeout (5 s) and answers 503, and the waiters ask again at once,
holding 200 waits open for the whole measurement. The reference is the same GET measured
alone in the same run.
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import asyncio
import contextlib
import http.client
import os
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import psycopg
from psycopg import sql
from rich.console import Console
from rich.table import Table

from api.auth import mint_token
from domain.shared.context import Role

SECRET = "careloop-bench-secret-of-at-least-32-bytes"
CARELOOP = str(Path(sys.executable).with_name("careloop"))
MiB = 1024 * 1024
FLOOD = 200 * MiB
WAITERS = 200
P99_FACTOR_TARGET = 2.0
MEMORY_TARGET_MIB = 50.0
P5_MESSAGES = 2_000
P5_PAGE = 50
P5_RATE = 300.0
P5_P99_TARGET_MS = 25.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bearer(role: Role, user: uuid.UUID, tenant: uuid.UUID | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(SECRET, user, role, tenant, 3600)}"}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


@contextmanager
def process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [CARELOOP, *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def wait_healthy(base: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the server did not become healthy")


def doctor_and_patient(
    c: httpx.Client, clinic: str
) -> tuple[dict[str, str], dict[str, str], dict[str, Any]]:
    """A tenant, an approved doctor and a patient they invited: (doctor headers, patient
    headers, the invitation's answer)."""
    admin = bearer(Role.PLATFORM_ADMIN, uuid.uuid4())
    tenant = c.post("/v1/tenants", headers=admin, json={"name": clinic}).json()["id"]
    staff = {
        "type": "DOCTOR",
        "firstName": "Maya",
        "lastName": "Lind",
        "email": f"maya.{uuid.uuid4().hex[:6]}@clinic.example",
    }
    doctor = c.post(f"/v1/tenants/{tenant}/staff", headers=admin, json=staff).json()["id"]
    c.post(f"/v1/staff/{doctor}/approve", headers=admin)
    doctor_h = bearer(Role.DOCTOR, uuid.UUID(doctor), uuid.UUID(tenant))
    invite = {
        "firstName": "Sam",
        "lastName": "Carter",
        "email": f"sam.{uuid.uuid4().hex[:6]}@patients.example",
    }
    invited: dict[str, Any] = c.post("/v1/patients/invite", headers=doctor_h, json=invite).json()
    patient_h = bearer(Role.PATIENT, uuid.UUID(invited["patientId"]), uuid.UUID(tenant))
    return doctor_h, patient_h, invited


def seed(base: str) -> tuple[dict[str, str], str, int]:
    """A tenant, a patient and one workout; returns (patient headers, workout id, head)."""
    with httpx.Client(base_url=base, timeout=30) as c:
        _, patient_h, _ = doctor_and_patient(c, "Bench")
        body = {"exercises": [{"exerciseId": "squat", "name": "Squat", "prescribed": {"sets": 3}}]}
        started = c.post("/v1/workouts", headers=patient_h, json=body).json()
        return patient_h, started["workoutId"], started["position"]


async def timed_gets(base: str, path: str, headers: dict[str, str], count: int) -> list[float]:
    timings = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        for _ in range(count):
            started = time.perf_counter()
            response = await client.get(path, headers=headers)
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.text
    return timings


async def beside_waits(
    base: str, path: str, headers: dict[str, str], count: int, wait_path: str
) -> tuple[list[float], int, int]:
    """The same GETs while WAITERS callers each keep one `minPosition` wait open."""
    stop = asyncio.Event()
    answered = {"503": 0, "other": 0}
    limits = httpx.Limits(max_connections=WAITERS + 10)

    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as waiters:

        async def waiter() -> None:
            caller = bearer(Role.PLATFORM_ADMIN, uuid.uuid4())
            while not stop.is_set():
                response = await waiters.get(wait_path, headers=caller)
                answered["503" if response.status_code == 503 else "other"] += 1

        tasks = [asyncio.create_task(waiter()) for _ in range(WAITERS)]
        await asyncio.sleep(1.0)  # every wait is open
        timings = await timed_gets(base, path, headers, count)
        stop.set()
        await asyncio.gather(*tasks)
    return timings, answered["503"], answered["other"]


def flood(port: int) -> None:
    headers = (
        "POST /v1/tenants HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {FLOOD}\r\n\r\n"
    ).encode()
    chunk = b"x" * 65536
    with socket.create_connection(("127.0.0.1", port)) as sock:

        def send() -> None:
            sent = 0
            try:
                sock.sendall(headers)
                while sent < FLOOD:
                    sock.sendall(chunk)
                    sent += len(chunk)
            except OSError:
                pass

        sender = threading.Thread(target=send)
        sender.start()
        try:
            while sock.recv(65536):
                pass
        except OSError:
            pass
        sender.join(timeout=120)


def memory_under_floods(pid: int, port: int) -> tuple[float, float]:
    """(idle MiB, peak MiB) of the server while eight 200 MB unauthenticated POSTs run."""
    idle = rss_kib(pid)
    peak = idle
    threads = [threading.Thread(target=flood, args=(port,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        peak = max(peak, rss_kib(pid))
        time.sleep(0.005)
    return idle / 1024, peak / 1024


# -- P5: a conversation's messages at a fixed rate ------------------------------------------


def seed_conversation(base: str, messages: int) -> tuple[dict[str, str], str, list[str]]:
    """A doctor and a patient, their direct conversation and `messages` chat messages in
    it; returns (patient headers, conversation id, message ids oldest first)."""
    with httpx.Client(base_url=base, timeout=30) as c:
        doctor_h, patient_h, invited = doctor_and_patient(c, "Bench P5")
        [conversation] = c.get(
            f"/v1/conversations?minPosition={invited['position']}", headers=patient_h
        ).json()
    conversation_id = conversation["id"]
    path = f"/v1/conversations/{conversation_id}/messages"

    async def post_all() -> int:
        last = 0
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:

            async def poster(start: int) -> None:
                nonlocal last
                for i in range(start, messages, 8):
                    sender = patient_h if i % 2 else doctor_h
                    response = await client.post(path, headers=sender, json={"text": f"m{i}"})
                    assert response.status_code == 201, response.text
                    last = max(last, response.json()["position"])

            await asyncio.gather(*(poster(start) for start in range(8)))
        return last

    head = asyncio.run(post_all())
    ids: list[str] = []
    with httpx.Client(base_url=base, timeout=30) as c:
        query = f"?minPosition={head}&limit=200"
        while True:
            page = c.get(path + query, headers=patient_h)
            assert page.status_code == 200, page.text
            ids.extend(m["id"] for m in page.json())
            if len(page.json()) < 200:
                break
            query = f"?limit=200&after={ids[-1]}"
    assert len(ids) == messages, (len(ids), messages)
    return patient_h, conversation_id, ids


def p5_paths(conversation_id: str, ids: list[str]) -> list[str]:
    """Pages of 50: one in ten the first page, the others after a message spread over the
    conversation (always a full page)."""
    path = f"/v1/conversations/{conversation_id}/messages?limit={P5_PAGE}"
    paths = []
    for i in range(997):  # a prime: the rotation visits the whole conversation
        if i % 10 == 0:
            paths.append(path)
        else:
            paths.append(f"{path}&after={ids[(i * 7919) % (len(ids) - P5_PAGE)]}")
    return paths


def closed_loop(base: str, paths: list[str], headers: dict[str, str]) -> list[float]:
    """The GETs one at a time: each one's service time, with no queue."""
    timings = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for path in paths:
            started = time.perf_counter()
            response = client.get(path, headers=headers)
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.text
    return timings


# Threads of the P5 load generator: at 300 requests/s, each sends every 40th request.
SENDERS = 12


def open_loop(
    base: str, paths: list[str], headers: dict[str, str], rate: float, seconds: float
) -> tuple[list[float], int, float, float]:
    """GETs sent on a fixed timetable (`rate` per second for `seconds`), each timed from
    the moment it was due. Returns (latencies in ms, failed requests, the rate achieved,
    the worst lateness of a send in ms: the load generator's own delay).

    The timetable is dealt round-robin to SENDERS threads, each with one keep-alive
    connection (http.client: little client CPU per request; an asyncio httpx client
    spends more CPU than the server once hundreds of requests are in flight). A sender
    whose previous answer is late sends its next request late, and that request's
    latency still counts from when it was due: queueing shows, it is not omitted."""
    count = max(1, round(rate * seconds))
    parts = urlsplit(base)
    latencies: list[float] = []
    failures = [0]
    worst = [0.0]
    lock = threading.Lock()
    start = time.perf_counter() + 0.1

    def sender(first: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
        mine: list[float] = []
        failed, late = 0, 0.0
        for i in range(first, count, SENDERS):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            late = max(late, (time.perf_counter() - due) * 1000)
            try:
                conn.request("GET", paths[i % len(paths)], headers=headers)
                response = conn.getresponse()
                body = response.read()
                ok = response.status == 200 and len(body) > 2
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port)
                ok = False
            if ok:
                mine.append((time.perf_counter() - due) * 1000)
            else:
                failed += 1
        conn.close()
        with lock:
            latencies.extend(mine)
            failures[0] += failed
            worst[0] = max(worst[0], late)

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    return latencies, failures[0], count / elapsed, worst[0]


def connections_per_process(port: int) -> list[int]:
    """How many established connections to `port` each server process holds, most first
    (Linux /proc): with several API processes, the kernel's SO_REUSEPORT hash decides
    which process serves each keep-alive connection, and a run's tail follows that split."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                if local_port == port and fields[3] == "01":  # ESTABLISHED, server side
                    inodes.add(fields[9])
    counts: dict[str, int] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    link = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if link.startswith("socket:[") and link[8:-1] in inodes:
                        counts[pid] = counts.get(pid, 0) + 1
    return sorted(counts.values(), reverse=True)


def p5_backend(
    backend: str,
    database_url: str,
    messages: int,
    rate: float,
    seconds: float,
    console: Console,
    api_workers: int | None = None,
) -> dict[str, Any]:
    """P5 on one backend, with its own server (and, on PostgreSQL, its own schema and
    projection runner); the figures of `p5_row`."""
    logs = Path(tempfile.mkdtemp(prefix=f"careloop-bench-p5-{backend}-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARELOOP_")}
    env.update(CARELOOP_JWT_SECRET=SECRET)
    schema = None
    if backend == "embedded":
        env.update(CARELOOP_DATA_DIR=str(logs / "data"))
    else:
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        env.update(CARELOOP_DATABASE_URL=database_url, CARELOOP_DATABASE_SCHEMA=schema)
        if api_workers is not None:
            env.update(CARELOOP_API_WORKERS=str(api_workers))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    try:
        if schema is not None:
            subprocess.run([CARELOOP, "db", "init"], env=env, check=True, capture_output=True)
        with contextlib.ExitStack() as stack:
            stack.enter_context(process(["serve", "--port", str(port)], env, logs / "serve.log"))
            wait_healthy(base)
            if schema is not None:
                stack.enter_context(process(["projections", "run"], env, logs / "projections.log"))
            started = time.monotonic()
            headers, conversation_id, ids = seed_conversation(base, messages)
            console.log(
                f"P5 {backend}: {len(ids):,} messages posted and listed in "
                f"{time.monotonic() - started:.1f} s"
            )
            paths = p5_paths(conversation_id, ids)
            alone = closed_loop(base, paths[:300], headers)  # also a warm-up
            open_loop(base, paths, headers, rate, min(2.0, seconds))  # warm-up
            split: list[int] = []
            # Read once the senders are connected (they connect at the start of the loop).
            counting = threading.Timer(1.0, lambda: split.extend(connections_per_process(port)))
            counting.start()
            latencies, failed, achieved, worst_send = open_loop(base, paths, headers, rate, seconds)
            counting.join()
    finally:
        if schema is not None:
            with psycopg.connect(database_url, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
                )
    figures = {
        "p50": percentile(latencies, 50) if latencies else float("inf"),
        "p99": percentile(latencies, 99) if latencies else float("inf"),
        "max": max(latencies, default=float("inf")),
        "requests": float(len(latencies) + failed),
        "failed": float(failed),
        "achieved": achieved,
        "worst_send": worst_send,
        "alone_p50": percentile(alone, 50),
        "alone_p99": percentile(alone, 99),
        "split": split,
    }
    console.log(
        f"P5 {backend}: p50 {figures['p50']:.1f} ms p99 {figures['p99']:.1f} ms "
        f"max {figures['max']:.1f} ms, {failed} failed, {achieved:.0f} req/s achieved; "
        f"{SENDERS} connections per API process: {'/'.join(map(str, split))}"
    )
    return figures


def p5_row(table: Table, backend: str, messages: int, rate: float, f: dict[str, Any]) -> None:
    met = f["p99"] <= P5_P99_TARGET_MS and f["failed"] == 0
    where = "embedded (SQLite)" if backend == "embedded" else "PostgreSQL"
    table.add_row(
        f"P5 GET /v1/conversations/{{id}}/messages, {messages:,} messages, "
        f"{rate:g} req/s open loop, {where}: p50 / p99",
        f"{f['p50']:.1f} / {f['p99']:.1f} ms",
        f"p99 <= {P5_P99_TARGET_MS:g} ms",
        ("met" if met else "MISSED")
        + (f" ({f['failed']:.0f} of {f['requests']:,.0f} failed)" if f["failed"] else ""),
        f"one at a time: p50 {f['alone_p50']:.1f} / p99 {f['alone_p99']:.1f} ms; "
        f"{f['requests']:,.0f} requests at {f['achieved']:.0f}/s, max {f['max']:.0f} ms, "
        f"sends up to {f['worst_send']:.1f} ms late; connections per API process "
        f"{'/'.join(map(str, f['split']))}",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument(
        "--only", choices=("all", "waits", "p5"), default="all", help="which measures to run"
    )
    parser.add_argument("--p5-rate", type=float, default=P5_RATE, help="P5 requests per second")
    parser.add_argument("--p5-seconds", type=float, default=60.0, help="P5 measured seconds")
    parser.add_argument(
        "--p5-backends", default="embedded,postgresql", help="P5 backends, comma-separated"
    )
    parser.add_argument(
        "--p5-messages", type=int, default=P5_MESSAGES, help="messages in the conversation"
    )
    parser.add_argument(
        "--p5-api-workers",
        type=int,
        default=None,
        help="CARELOOP_API_WORKERS for the PostgreSQL server (unset: serve's default)",
    )
    args = parser.parse_args(argv)
    console = Console(width=max(Console().width, 150))  # a wide table, even in a pipe
    table = Table(title="CareLoop API benchmark", title_justify="left")
    for column in ("measure", "figure", "target", "verdict", "reference"):
        table.add_column(column)
    if args.only in ("all", "waits"):
        waits_and_memory(args, console, table)
    if args.only in ("all", "p5"):
        for backend in args.p5_backends.split(","):
            if backend not in ("embedded", "postgresql"):
                parser.error(f"unknown P5 backend {backend!r}")
            figures = p5_backend(
                backend,
                args.database_url,
                args.p5_messages,
                args.p5_rate,
                args.p5_seconds,
                console,
                args.p5_api_workers,
            )
            p5_row(table, backend, args.p5_messages, args.p5_rate, figures)
    console.print(table)
    return 0


def waits_and_memory(args: argparse.Namespace, console: Console, table: Table) -> None:
    """Issue 8's measures: a GET alone and beside 200 waits, memory under floods."""
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    logs = Path(tempfile.mkdtemp(prefix="careloop-bench-api-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARELOOP_")}
    env.update(
        CARELOOP_DATABASE_URL=args.database_url,
        CARELOOP_DATABASE_SCHEMA=schema,
        CARELOOP_JWT_SECRET=SECRET,
        CARELOOP_MIN_POSITION_WAITS_PER_CALLER="8",
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    try:
        subprocess.run([CARELOOP, "db", "init"], env=env, check=True, capture_output=True)
        with process(["serve", "--port", str(port)], env, logs / "serve.log") as server:
            wait_healthy(base)
            with process(["projections", "run"], env, logs / "projections.log"):
                patient_h, workout, position = seed(base)
                deadline = time.monotonic() + 30
                while (
                    httpx.get(
                        f"{base}/v1/workouts/{workout}?minPosition={position}",
                        headers=patient_h,
                        timeout=30,
                    ).status_code
                    != 200
                ):
                    assert time.monotonic() < deadline, "read models did not catch up"
            # The runner is stopped: one more write puts every read model behind the head.
            admin = bearer(Role.PLATFORM_ADMIN, uuid.uuid4())
            head = httpx.post(
                f"{base}/v1/tenants", headers=admin, json={"name": "Later"}, timeout=30
            ).json()["position"]
            path = f"/v1/workouts/{workout}"
            asyncio.run(timed_gets(base, path, patient_h, 100))  # warm-up
            alone = asyncio.run(timed_gets(base, path, patient_h, args.requests))
            console.log(
                f"alone: p50 {percentile(alone, 50):.1f} ms p99 {percentile(alone, 99):.1f} ms"
            )
            beside, timed_out, other = asyncio.run(
                beside_waits(
                    base, path, patient_h, args.requests, f"/v1/tenants?minPosition={head}"
                )
            )
            console.log(
                f"beside {WAITERS} waits: p50 {percentile(beside, 50):.1f} ms "
                f"p99 {percentile(beside, 99):.1f} ms; waits: {timed_out} 503, {other} other"
            )
            idle, peak = memory_under_floods(server.pid, port)
    finally:
        with psycopg.connect(args.database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    ratio = percentile(beside, 99) / percentile(alone, 99)
    table.add_row(
        f"GET /v1/workouts/{{id}} alone, p50 / p99 ({args.requests:,} requests)",
        f"{percentile(alone, 50):.1f} / {percentile(alone, 99):.1f} ms",
        "—",
        "—",
        f"mean {statistics.mean(alone):.1f} ms",
    )
    table.add_row(
        f"the same beside {WAITERS} concurrent minPosition waits, p50 / p99",
        f"{percentile(beside, 50):.1f} / {percentile(beside, 99):.1f} ms",
        f"p99 <= {P99_FACTOR_TARGET:g}x alone",
        ("met" if ratio <= P99_FACTOR_TARGET else "MISSED") + f" ({ratio:.2f}x)",
        f"{timed_out:,} waits held their full 5 s and answered 503; {other} otherwise",
    )
    table.add_row(
        "server RSS during eight unauthenticated 200 MB POSTs, peak - idle",
        f"{peak - idle:.1f} MiB",
        f"<= {MEMORY_TARGET_MIB:g} MiB",
        "met" if peak - idle <= MEMORY_TARGET_MIB else "MISSED",
        f"idle {idle:.0f} MiB, peak {peak:.0f} MiB",
    )


if __name__ == "__main__":
    raise SystemExit(main())
