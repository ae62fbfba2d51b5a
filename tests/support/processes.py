"""CareLoop as a real process: the `careloop` command run as a subprocess, and a served API on
a free loopback port, for tests of what only a real server or a real exit status shows."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.app import SECRET

CARELOOP = str(Path(sys.executable).with_name("careloop"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def careloop_env(data_dir: Path, **overrides: str) -> dict[str, str]:
    """The environment of this test run without any CARELOOP_ setting, on the embedded
    default in `data_dir`, plus `overrides`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARELOOP_")}
    env.update(CARELOOP_DATA_DIR=str(data_dir), CARELOOP_JWT_SECRET=SECRET)
    env.update(overrides)
    return env


def run_careloop(
    *args: str, env: Mapping[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CARELOOP, *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_kib(self) -> int:
        """The server's resident memory now (VmRSS in /proc)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS line")


def _answers(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/health")
        return conn.getresponse().status == 200
    except OSError:
        return False


@contextmanager
def careloop_server(
    tmp_path: Path, *args: str, env: Mapping[str, str] | None = None, startup: float = 90
) -> Iterator[Server]:
    """`careloop serve` on a free port, up once /health answers 200; stopped afterwards."""
    port = free_port()
    log = tmp_path / f"serve-{port}.log"
    environment = dict(env) if env is not None else careloop_env(tmp_path / "data")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [CARELOOP, "serve", "--port", str(port), *args],
            env=environment,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = Server(process, port, log)
    try:
        deadline = time.monotonic() + startup
        while not _answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"careloop serve did not start:\n{log.read_text()}")
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
