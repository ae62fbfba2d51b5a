"""Uvicorn as CareLoop runs it: h11 with a bounded request head, and problem+json for the
requests that never reach the app (a head over the limit is 431, a broken one 400).

Uvicorn's h11 protocol answers both with a plain-text 400 and drops h11's own hint that a
head over `h11_max_incomplete_event_size` is a 431; this subclass keeps the hint and
writes the same problem document the app writes (docs/decisions/0015)."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from api.errors import PROBLEM, problem_document

log = logging.getLogger(__name__)


class ProblemH11Protocol(H11Protocol):
    def send_400_response(self, msg: str) -> None:
        # Uvicorn calls this from inside `except h11.RemoteProtocolError`, so the error
        # it caught (and its status hint) is the one being handled right now.
        error = sys.exc_info()[1]
        if isinstance(error, h11.RemoteProtocolError) and error.error_status_hint == 431:
            status = 431
            limit = self.config.h11_max_incomplete_event_size
            detail = f"The request line and headers are larger than {limit} bytes."
            document = problem_document(status, detail, "request-header-fields-too-large")
        else:
            status = 400
            document = problem_document(status, "Invalid HTTP request.", "invalid-http")
        body = json.dumps(document).encode()
        headers = [
            (b"content-type", PROBLEM.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        for event in (
            h11.Response(status_code=status, headers=headers),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event))
        self.transport.close()


# What each of several worker processes imports and calls to build its own app.
APP_FACTORY = "api.main:app_from_settings"
STARTUP_FAILURE = 3  # uvicorn's exit status for a process that could not start serving
STOP_SECONDS = 30  # a worker's graceful shutdown, then it is killed


def run(
    app: Any, host: str, port: int, max_header_bytes: int, workers: int = 1, access_log: bool = True
) -> None:
    """Serve `app` in this process; with `workers` > 1, run that many worker processes
    that each build their app with APP_FACTORY (`app` is then not used)."""
    if workers > 1:
        serve_processes(workers, host, port, max_header_bytes, access_log)
        return
    uvicorn.run(app, **_options(host, port, max_header_bytes, access_log))


def _options(host: str, port: int, max_header_bytes: int, access_log: bool) -> dict[str, Any]:
    return {
        "host": host,
        "port": port,
        "http": ProblemH11Protocol,
        "h11_max_incomplete_event_size": max_header_bytes,
        "access_log": access_log,
    }


def _reuse_port_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not the default 0: asyncio sets TCP_NODELAY on the connections a
    # socket accepts only when its protocol says TCP. Without it, Nagle's algorithm held
    # each answer's second segment until the client's delayed ACK: 44 ms per request.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _serve_one(host: str, port: int, max_header_bytes: int, access_log: bool, parent: int) -> None:
    """One worker process: its own listening socket on the shared port and its own app
    (and Runtime) from APP_FACTORY; SIGTERM shuts it down gracefully, and so does the
    supervisor's death (a `kill -9` of it alone must not leave orphans serving)."""
    threading.Thread(target=_stop_with, args=(parent,), daemon=True).start()
    config = uvicorn.Config(
        APP_FACTORY, factory=True, **_options(host, port, max_header_bytes, access_log)
    )
    uvicorn.Server(config).run(sockets=[_reuse_port_socket(host, port)])


def _stop_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)


def serve_processes(
    workers: int, host: str, port: int, max_header_bytes: int, access_log: bool
) -> None:
    """Run `workers` API processes on one port until SIGTERM or SIGINT, then stop them
    gracefully. Each listens on a socket of its own with SO_REUSEPORT, so the kernel
    spreads new connections evenly over them. uvicorn's own `--workers` shares one
    socket instead, and asyncio accepts every waiting connection in one go: 32
    keep-alive clients that connect at once all land in whichever process woke first.
    A worker that dies is replaced; one that cannot start stops them all."""
    # Bound (not listening) here too: a port in use fails now, in one place.
    with _reuse_port_socket(host, port):
        context = multiprocessing.get_context("spawn")
        args = (host, port, max_header_bytes, access_log, os.getpid())
        stopping = threading.Event()

        def stop(*_: object) -> None:
            stopping.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, stop)
        processes = [context.Process(target=_serve_one, args=args) for _ in range(workers)]
        for process in processes:
            process.start()
        log.info("API on http://%s:%d: %d worker processes", host, port, workers)
        status = 0
        while not stopping.wait(0.5):
            for n, process in enumerate(processes):
                if process.is_alive():
                    continue
                if process.exitcode == STARTUP_FAILURE:
                    log.error("worker process %d could not start; stopping", process.pid)
                    status = STARTUP_FAILURE
                    stopping.set()
                    break
                log.warning(
                    "worker process %d exited (%s); replacing it", process.pid, process.exitcode
                )
                processes[n] = context.Process(target=_serve_one, args=args)
                processes[n].start()
        for process in processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        for process in processes:
            process.join(STOP_SECONDS)
            if process.is_alive():
                process.kill()
                process.join()
    if status:
        raise SystemExit(status)
