"""`careloop serve --workers N`: several API processes on PostgreSQL, refused on the
embedded default (docs/decisions/0035-http-throughput.md)."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.services import drop_schema, new_schema_name, postgres_url

ROOT = Path(__file__).resolve().parents[2]
SECRET = "careloop-test-secret-of-at-least-32-bytes"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _children(pid: int) -> list[int]:
    """uvicorn's worker processes: the children of `pid` that are not multiprocessing's
    resource tracker."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            ppid = int((entry / "stat").read_text().rsplit(") ", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and b"resource_tracker" not in cmdline:
            found.append(int(entry.name))
    return found


def _sockets_to(pid: int, port: int, state: str = "01") -> int:
    """TCP sockets on local `port` that process `pid` holds open, in `state` (01:
    established connections, 0A: listening)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    held = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port, inode = int(fields[1].split(":")[1], 16), fields[9]
        if local_port == port and fields[3] == state and inode in inodes:
            held += 1
    return held


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARELOOP_") or k == "CI"}
    return {**env, "CARELOOP_JWT_SECRET": SECRET, "PYTHONUNBUFFERED": "1", **extra}


@pytest.fixture
def postgres_env() -> Iterator[dict[str, str]]:
    url = postgres_url()
    schema = new_schema_name()
    env = _env(CARELOOP_DATABASE_URL=url, CARELOOP_DATABASE_SCHEMA=schema)
    subprocess.run(
        [sys.executable, "-m", "api.cli", "db", "init"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    try:
        yield env
    finally:
        drop_schema(url, schema)


def _get(port: int, path: str, conn: http.client.HTTPConnection | None = None) -> int:
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    return response.status


def _wait_until_serving(server: subprocess.Popen[bytes], port: int, workers: int) -> None:
    deadline = time.monotonic() + 180  # each worker imports everything; slow on 2 busy cores
    while time.monotonic() < deadline:
        assert server.poll() is None, "careloop serve exited"
        try:
            children = _children(server.pid)
            listening = [pid for pid in children if _sockets_to(pid, port, "0A")]
            if len(listening) == workers and _get(port, "/health") == 200:
                return
        except OSError:
            pass
        time.sleep(0.25)
    raise AssertionError("careloop serve did not answer in time")


def test_serve_with_two_workers_answers_from_two_processes_and_stops_cleanly(
    postgres_env: dict[str, str],
) -> None:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--workers", "2"],
        cwd=ROOT,
        env=postgres_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_until_serving(server, port, workers=2)
        workers = _children(server.pid)
        # Connections opened together are accepted by whichever process wakes first;
        # each is kept open after its answer, so /proc shows which process took it.
        connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(32)]
        statuses: list[int] = []
        threads = [
            threading.Thread(target=lambda c=c: statuses.append(_get(port, "/health", c)))
            for c in connections
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert statuses == [200] * 32
        held = {pid: _sockets_to(pid, port) for pid in workers}
        for conn in connections:
            conn.close()
        assert sum(held.values()) == 32
        assert all(held.values()), f"one process served every connection: {held}"

        # A head over the limit is still the problem+json 431 in a worker process.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/health", headers={"X-Big": "a" * 70_000})
        response = conn.getresponse()
        assert response.status == 431
        assert response.getheader("content-type") == "application/problem+json"
        conn.close()
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=60)
    assert server.returncode == 0, stderr.decode()
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]
    log = stderr.decode()
    assert log.count("Application shutdown complete.") == 2, log


def test_the_workers_stop_when_their_supervisor_is_killed_alone(
    postgres_env: dict[str, str],
) -> None:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--workers", "2"],
        cwd=ROOT,
        env=postgres_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_until_serving(server, port, workers=2)
        workers = _children(server.pid)
    finally:
        server.kill()  # SIGKILL of the supervisor only, not of its process group
        server.wait()
    deadline = time.monotonic() + 30
    while [pid for pid in workers if _alive(pid)] and time.monotonic() < deadline:
        time.sleep(0.2)
    orphans = [pid for pid in workers if _alive(pid)]
    for pid in orphans:
        os.kill(pid, signal.SIGKILL)
    assert not orphans, "worker processes outlived their supervisor"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_the_embedded_default_refuses_more_than_one_worker_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "api.cli", "serve", "--workers", "2"],
        cwd=ROOT,
        env=_env(CARELOOP_DATA_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "careloop: --workers above 1 needs CARELOOP_DATABASE_URL: the embedded default runs "
        "its projections and workers inside its one API process"
    ]
    assert not any(tmp_path.iterdir()), "nothing was started"


def test_the_worker_count_setting_is_refused_on_the_embedded_default_too(
    tmp_path: Path,
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "api.cli", "serve"],
        cwd=ROOT,
        env=_env(CARELOOP_DATA_DIR=str(tmp_path), CARELOOP_API_WORKERS="3"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "needs CARELOOP_DATABASE_URL" in result.stderr
