"""Request limits against a real `careloop serve` (uvicorn) on a loopback port: what a
client actually gets on the wire, and what the server's memory does meanwhile."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from domain.shared.context import Role
from tests.support.app import auth
from tests.support.processes import Server, careloop_server

MiB = 1024 * 1024
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with careloop_server(tmp_path_factory.mktemp("limits")) as s:
        yield s


@pytest.fixture
def admin() -> dict[str, str]:
    return auth(Role.PLATFORM_ADMIN)


def problem_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["type"].startswith("urn:careloop:problem:")
    assert body["title"] and body["detail"]
    return body


# -- 413 ------------------------------------------------------------------------------


def test_a_declared_body_over_one_mebibyte_is_413_problem(
    server: Server, admin: dict[str, str]
) -> None:
    response = httpx.post(
        f"{server.base_url}/v1/tenants",
        headers={**admin, "Content-Type": "application/json"},
        content=b" " * (MiB + 1),
    )
    assert problem_of(response, 413)["limit"] == MiB


def test_a_chunked_body_is_cut_off_at_the_limit_with_413(
    server: Server, admin: dict[str, str]
) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: httpx sends it chunked
        for _ in range(40):
            yield b" " * 65536

    response = httpx.post(
        f"{server.base_url}/v1/tenants",
        headers={**admin, "Content-Type": "application/json"},
        content=chunks(),
    )
    problem_of(response, 413)


def test_a_body_just_under_the_limit_is_read_and_validated(
    server: Server, admin: dict[str, str]
) -> None:
    body = json.dumps({"name": "Riverside"}).encode()
    padded = body[:-1] + b" " * (MiB - len(body)) + b"}"
    response = httpx.post(
        f"{server.base_url}/v1/tenants",
        headers={**admin, "Content-Type": "application/json"},
        content=padded,
    )
    assert response.status_code == 201, response.text


# -- 431 ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [70_000, 200_000, 1_000_000])
def test_a_header_over_64_kib_is_431_problem(server: Server, size: int) -> None:
    response = httpx.get(f"{server.base_url}/health", headers={"X-Padding": "a" * size})
    problem_of(response, 431)


def test_an_authorization_header_of_100_kb_is_431_not_a_reset(server: Server) -> None:
    response = httpx.post(
        f"{server.base_url}/v1/tenants",
        headers={"Authorization": "Bearer " + "a" * 100_000},
        json={"name": "Riverside"},
    )
    problem_of(response, 431)


def test_headers_under_the_limit_are_served(server: Server) -> None:
    response = httpx.get(f"{server.base_url}/health", headers={"X-Padding": "a" * 30_000})
    assert response.status_code == 200


# -- 401 before the body ----------------------------------------------------------------

FLOOD = 200 * MiB


def _flood(port: int, headers: bytes, chunked: bool, results: list[tuple[int, bytes]]) -> None:
    """POST a 200 MB body as fast as the server takes it; record (bytes sent, answer)."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(30)
    sent = 0
    chunk = b"x" * 65536
    if chunked:
        chunk = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
    answer = b""

    def send() -> None:
        nonlocal sent
        try:
            sock.sendall(headers)
            while sent < FLOOD:
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass  # the server answered and closed: what this test wants

    sender = threading.Thread(target=send)
    sender.start()
    try:
        while data := sock.recv(65536):
            answer += data
    except OSError:
        pass
    sender.join(timeout=60)
    sock.close()
    results.append((sent, answer))


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_eight_unauthenticated_200_mb_posts_get_401_unread_and_memory_stays_flat(
    server: Server, framing: str
) -> None:
    chunked = framing == "chunked"
    length = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {FLOOD}"
    headers = (
        "POST /v1/tenants HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\n{length}\r\n\r\n"
    ).encode()
    idle = server.rss_kib()
    peak = idle
    results: list[tuple[int, bytes]] = []
    floods = [
        threading.Thread(target=_flood, args=(server.port, headers, chunked, results))
        for _ in range(8)
    ]
    for flood in floods:
        flood.start()
    while any(flood.is_alive() for flood in floods):
        peak = max(peak, server.rss_kib())
        time.sleep(0.01)
    assert len(results) == 8
    for sent, answer in results:
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 401"), answer[:200]
        assert b"content-type: application/problem+json" in head.lower()
        assert json.loads(body)["detail"] == "A bearer token is required."
        # What the kernel's socket buffers took, not the body: the server never read it.
        assert sent < 32 * MiB, sent
    assert peak - idle < 50 * 1024, f"RSS grew by {(peak - idle) // 1024} MiB"


def test_a_wrong_token_with_a_large_body_is_401_before_the_body(server: Server) -> None:
    response = httpx.post(
        f"{server.base_url}/v1/tenants",
        headers={"Authorization": "Bearer not-a-token", "Content-Type": "application/json"},
        content=b" " * (5 * MiB),
    )
    assert problem_of(response, 401)["detail"] == "The token is not valid."


def test_a_server_log_has_no_traceback_after_all_this(server: Server) -> None:
    log = Path(server.log).read_text()
    assert "Traceback" not in log, log[-3000:]
